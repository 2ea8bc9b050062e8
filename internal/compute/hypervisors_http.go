package compute

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
)

// hypervisorsListQuery is the list and detail query schema of the call's version.
func hypervisorsListQuery(c *call) querySchema {
	switch {
	case c.at(53):
		return querySchema{strict: true, params: map[string]queryParam{
			"limit":                       {kind: qNonNegInt, single: true},
			"marker":                      {kind: qString, single: true},
			"hypervisor_hostname_pattern": {kind: qFQDN, single: true},
			"with_servers":                {kind: qBool, single: true},
		}}
	case c.at(33):
		return querySchema{params: map[string]queryParam{"limit": {kind: qNonNegInt}, "marker": {kind: qString}}}
	}
	return querySchema{params: map[string]queryParam{}}
}

// hypervisorShowQuery is the show query schema of the call's version.
func hypervisorShowQuery(c *call) querySchema {
	if c.at(53) {
		return querySchema{strict: true, params: map[string]queryParam{"with_servers": {kind: qBool, single: true}}}
	}
	return querySchema{params: map[string]queryParam{}}
}

// hypervisorView renders a node as os-hypervisors shows it at the call's version:
// detail adds the capacity (until 2.88), the service and (from 2.88) the uptime;
// servers is set when the request asked for them.
func (s *Service) hypervisorView(c *call, n *computeNode, sv *computeService, u *nodeUsage, detail bool, servers []map[string]any, withServers bool) map[string]any {
	var id, svcID any = n.ID, sv.ID
	if c.at(53) {
		id, svcID = n.UUID, sv.UUID
	}
	up := s.serviceUp(sv)
	out := map[string]any{
		"id":                  id,
		"hypervisor_hostname": n.HypervisorHostname,
		"state":               map[bool]string{true: "up", false: "down"}[up],
		"status":              map[bool]string{true: "disabled", false: "enabled"}[sv.Disabled],
	}
	if detail {
		out["hypervisor_type"] = n.HypervisorType
		out["hypervisor_version"] = n.HypervisorVersion
		out["host_ip"] = n.HostIP
		out["service"] = map[string]any{"id": svcID, "host": n.Host, "disabled_reason": sv.DisabledReason}
		if !c.at(88) {
			if u == nil {
				u = &nodeUsage{}
			}
			out["vcpus"] = n.VCPUs
			out["memory_mb"] = n.MemoryMB
			out["local_gb"] = n.LocalGB
			out["vcpus_used"] = u.VCPUsUsed
			out["memory_mb_used"] = u.MemoryMBUsed
			out["local_gb_used"] = u.LocalGBUsed()
			out["free_ram_mb"] = n.MemoryMB - u.MemoryMBUsed
			free := int64(float64(n.LocalGB) - u.localGB)
			out["free_disk_gb"] = free
			out["current_workload"] = u.Workload
			out["running_vms"] = u.RunningVMs
			out["disk_available_least"] = free
			if c.at(28) {
				info := map[string]any{}
				if err := json.Unmarshal([]byte(n.CPUInfo), &info); err != nil || info == nil {
					info = map[string]any{}
				}
				out["cpu_info"] = info
			} else {
				out["cpu_info"] = n.CPUInfo
			}
		} else {
			var uptime any
			if u := s.hostUptime(n); up && u != nil {
				uptime = *u
			}
			out["uptime"] = uptime
		}
	}
	if len(servers) > 0 {
		out["servers"] = servers
	} else if withServers && c.at(75) {
		out["servers"] = []map[string]any{}
	}
	return out
}

// listHypervisors is GET /os-hypervisors.
func (s *Service) listHypervisors(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.hypervisorList(w, r, c, false)
}

// listHypervisorsDetail is GET /os-hypervisors/detail.
func (s *Service) listHypervisorsDetail(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.hypervisorList(w, r, c, true)
}

// hypervisorList serves the list and detail views: paging from 2.33, and from 2.53 the
// hostname pattern and with_servers query parameters.
func (s *Service) hypervisorList(w http.ResponseWriter, r *http.Request, c *call, detail bool) error {
	q := r.URL.Query()
	if err := hypervisorsListQuery(c).validate(q); err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	ctx := r.Context()
	var (
		pattern     string
		hasPattern  bool
		withServers bool
		limit       int
		marker      string
		hasMarker   bool
		links       = c.at(33)
	)
	if c.at(53) {
		pattern, hasPattern = queryLast(q, "hypervisor_hostname_pattern")
		withServers = queryBool(q, "with_servers")
	}
	if links {
		var err error
		if limit, marker, hasMarker, err = s.limitAndMarker(q); err != nil {
			return err
		}
	}
	var nodes []*computeNode
	if hasPattern {
		if q.Has("limit") || marker != "" {
			return badRequest("Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.")
		}
		links = false
		var err error
		if nodes, err = nodesMatching(r, s, pattern); err != nil {
			return err
		}
	} else {
		var after int64
		if hasMarker {
			var (
				mn    *computeNode
				found bool
				err   error
			)
			if c.at(53) {
				mn, found, err = loadNodeWhere(ctx, s.db, `uuid = ?`, marker)
			} else if id, perr := strconv.ParseInt(marker, 10, 64); perr == nil {
				mn, found, err = loadNodeWhere(ctx, s.db, `id = ?`, id)
			}
			if err != nil {
				return err
			}
			if !found {
				return badRequest("marker [%s] not found", marker)
			}
			after = mn.ID
		}
		// Like Nova's compute_node_get_all, a zero limit is no limit.
		var err error
		if nodes, err = listNodes(ctx, s.db, after, limit); err != nil {
			return err
		}
	}
	out, err := s.hypervisorViews(r, c, nodes, detail, withServers)
	if err != nil {
		return err
	}
	body := map[string]any{"hypervisors": out}
	if links && len(out) > 0 {
		if l := s.collectionNext(r, len(out), idString(out[len(out)-1]["id"])); l != nil {
			body["hypervisors_links"] = l
		}
	}
	api.WriteJSON(w, http.StatusOK, body)
	return nil
}

// idString renders an id (integer or uuid) for a marker.
func idString(v any) string {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case string:
		return x
	}
	return ""
}

// nodesMatching returns the nodes whose hypervisor hostname matches a pattern, or
// Nova's 404 when none does.
func nodesMatching(r *http.Request, s *Service, pattern string) ([]*computeNode, error) {
	all, err := listNodes(r.Context(), s.db, 0, 0)
	if err != nil {
		return nil, err
	}
	var out []*computeNode
	for _, n := range all {
		if likeMatch(n.HypervisorHostname, pattern) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, notFound("No hypervisor matching '%s' could be found.", pattern)
	}
	return out, nil
}

// hypervisorViews renders nodes, skipping those whose host has no nova-compute service
// (a deleted service leaves its node behind in Nova).
func (s *Service) hypervisorViews(r *http.Request, c *call, nodes []*computeNode, detail, withServers bool) ([]map[string]any, error) {
	ctx := r.Context()
	out := []map[string]any{}
	if len(nodes) == 0 {
		return out, nil
	}
	var usage map[string]*nodeUsage
	if detail {
		var err error
		if usage, err = hypervisorUsage(ctx, s.db, nodes); err != nil {
			return nil, err
		}
	}
	for _, n := range nodes {
		sv, found, err := computeServiceOf(ctx, s.db, n.Host)
		if err != nil {
			return nil, err
		}
		if !found {
			continue
		}
		var servers []map[string]any
		if withServers {
			if servers, err = hostServers(ctx, s.db, n.Host); err != nil {
				return nil, err
			}
		}
		out = append(out, s.hypervisorView(c, n, sv, usage[n.Host], detail, servers, withServers))
	}
	return out, nil
}

// hypervisorByPathID loads the node a path id names: a uuid from 2.53 (400 otherwise),
// an integer before (404 otherwise); with its nova-compute service (404 without one).
func (s *Service) hypervisorByPathID(r *http.Request, c *call) (*computeNode, *computeService, error) {
	id := r.PathValue("id")
	missing := notFound("Hypervisor with ID '%s' could not be found.", id)
	ctx := r.Context()
	var (
		n     *computeNode
		found bool
		err   error
	)
	if c.at(53) {
		if !uuidLike(id) {
			return nil, nil, badRequest("Invalid uuid %s", id)
		}
		n, found, err = loadNodeWhere(ctx, s.db, `uuid = ?`, id)
	} else {
		nid, perr := strconv.ParseInt(id, 10, 64)
		if perr != nil {
			return nil, nil, missing
		}
		n, found, err = loadNodeWhere(ctx, s.db, `id = ?`, nid)
	}
	if err != nil {
		return nil, nil, err
	}
	if !found {
		return nil, nil, missing
	}
	sv, found, err := computeServiceOf(ctx, s.db, n.Host)
	if err != nil {
		return nil, nil, err
	}
	if !found {
		return nil, nil, missing
	}
	return n, sv, nil
}

// showHypervisor is GET /os-hypervisors/{id} (with_servers from 2.53).
func (s *Service) showHypervisor(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	if err := hypervisorShowQuery(c).validate(q); err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	n, sv, err := s.hypervisorByPathID(r, c)
	if err != nil {
		return err
	}
	withServers := c.at(53) && queryBool(q, "with_servers")
	var servers []map[string]any
	if withServers {
		if servers, err = hostServers(r.Context(), s.db, n.Host); err != nil {
			return err
		}
	}
	usage, err := hypervisorUsage(r.Context(), s.db, []*computeNode{n})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"hypervisor": s.hypervisorView(c, n, sv, usage[n.Host], true, servers, withServers)})
	return nil
}

// hypervisorUptime is GET /os-hypervisors/{id}/uptime (until 2.87).
func (s *Service) hypervisorUptime(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	n, sv, err := s.hypervisorByPathID(r, c)
	if err != nil {
		return err
	}
	if !s.serviceUp(sv) {
		return badRequest("Compute service of %s is unavailable at this time.", n.Host)
	}
	uptime := s.hostUptime(n)
	if uptime == nil {
		return api.Errorf(http.StatusNotImplemented, "The requested functionality is not supported.")
	}
	view := s.hypervisorView(c, n, sv, nil, false, nil, false)
	view["uptime"] = *uptime
	api.WriteJSON(w, http.StatusOK, map[string]any{"hypervisor": view})
	return nil
}

// searchHypervisors is GET /os-hypervisors/{pattern}/search (until 2.52).
func (s *Service) searchHypervisors(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.hypervisorSearch(w, r, c, false)
}

// hypervisorServers is GET /os-hypervisors/{pattern}/servers (until 2.52).
func (s *Service) hypervisorServers(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.hypervisorSearch(w, r, c, true)
}

// hypervisorSearch lists the nodes matching the path pattern, with their servers when
// asked.
func (s *Service) hypervisorSearch(w http.ResponseWriter, r *http.Request, c *call, withServers bool) error {
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	nodes, err := nodesMatching(r, s, r.PathValue("id"))
	if err != nil {
		return err
	}
	out, err := s.hypervisorViews(r, c, nodes, false, withServers)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"hypervisors": out})
	return nil
}

// hypervisorStatistics is GET /os-hypervisors/statistics (until 2.87): sums over the
// nodes of enabled nova-compute services.
func (s *Service) hypervisorStatistics(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	ctx := r.Context()
	all, err := listNodes(ctx, s.db, 0, 0)
	if err != nil {
		return err
	}
	var nodes []*computeNode
	for _, n := range all {
		sv, found, err := computeServiceOf(ctx, s.db, n.Host)
		if err != nil {
			return err
		}
		if found && !sv.Disabled {
			nodes = append(nodes, n)
		}
	}
	usage, err := hypervisorUsage(ctx, s.db, nodes)
	if err != nil {
		return err
	}
	var st struct{ vcpus, vcpusUsed, mem, memUsed, disk, diskUsed, freeRAM, freeDisk, workload, vms int64 }
	for _, n := range nodes {
		u := usage[n.Host]
		st.vcpus += n.VCPUs
		st.vcpusUsed += u.VCPUsUsed
		st.mem += n.MemoryMB
		st.memUsed += u.MemoryMBUsed
		st.disk += n.LocalGB
		st.diskUsed += u.LocalGBUsed()
		st.freeRAM += n.MemoryMB - u.MemoryMBUsed
		st.freeDisk += int64(float64(n.LocalGB) - u.localGB)
		st.workload += u.Workload
		st.vms += u.RunningVMs
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"hypervisor_statistics": map[string]any{
		"count":                len(nodes),
		"vcpus":                st.vcpus,
		"vcpus_used":           st.vcpusUsed,
		"memory_mb":            st.mem,
		"memory_mb_used":       st.memUsed,
		"local_gb":             st.disk,
		"local_gb_used":        st.diskUsed,
		"free_ram_mb":          st.freeRAM,
		"free_disk_gb":         st.freeDisk,
		"current_workload":     st.workload,
		"running_vms":          st.vms,
		"disk_available_least": st.freeDisk,
	}})
	return nil
}
