package compute

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
)

// os-hosts, deprecated in favour of os-hypervisors and os-services and gone at 2.43:
// the list and show views only (the power actions and maintenance mode were only ever
// implemented by the XenServer driver).

// hostsQuery is os-hosts' list query schema.
var hostsQuery = querySchema{params: map[string]queryParam{"zone": {kind: qString}}}

// listHosts is GET /os-hosts: the hosts of enabled services with their zones, optionally
// of one zone.
func (s *Service) listHosts(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	if err := hostsQuery.validate(q); err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	services, err := s.zonedServices(r.Context())
	if err != nil {
		return err
	}
	zone, _ := queryLast(q, "zone")
	out := []map[string]any{}
	for _, z := range services {
		if z.svc.Disabled || apiServiceBinaries[z.svc.Binary] || (zone != "" && z.zone != zone) {
			continue
		}
		out = append(out, map[string]any{"host_name": z.svc.Host, "service": z.svc.Topic, "zone": z.zone})
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"hosts": out})
	return nil
}

// showHost is GET /os-hosts/{host_name}: the host's capacity, what is used now, what its
// instances' flavors add up to and the same per project.
func (s *Service) showHost(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	ctx := r.Context()
	host := r.PathValue("host_name")
	node, found, err := loadNodeWhere(ctx, s.db, `host = ? ORDER BY id LIMIT 1`, host)
	if err != nil {
		return err
	}
	if !found {
		return notFound("Compute host %s could not be found.", host)
	}
	usage, err := hypervisorUsage(ctx, s.db, []*computeNode{node})
	if err != nil {
		return err
	}
	u := usage[host]
	resource := func(project string, cpu, mem, disk int64) map[string]any {
		return map[string]any{"resource": map[string]any{"host": host, "project": project, "cpu": cpu, "memory_mb": mem, "disk_gb": disk}}
	}
	out := []map[string]any{
		resource("(total)", node.VCPUs, node.MemoryMB, node.LocalGB),
		resource("(used_now)", u.VCPUsUsed, u.MemoryMBUsed, u.LocalGBUsed()),
	}
	rows, err := s.db.QueryContext(ctx, `SELECT project_id, flavor FROM compute_instances WHERE host = ? AND deleted = FALSE
		ORDER BY created_at, uuid`, host)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		order          []string
		perProject     = map[string]*[3]int64{}
		cpu, mem, disk int64
	)
	for rows.Next() {
		var project, flavor string
		if err := rows.Scan(&project, &flavor); err != nil {
			return err
		}
		var f FlavorSnapshot
		if err := json.Unmarshal([]byte(flavor), &f); err != nil {
			continue
		}
		cpu, mem, disk = cpu+f.VCPUs, mem+f.MemoryMB, disk+f.RootGB+f.EphemeralGB
		p := perProject[project]
		if p == nil {
			p = &[3]int64{}
			perProject[project] = p
			order = append(order, project)
		}
		p[0], p[1], p[2] = p[0]+f.VCPUs, p[1]+f.MemoryMB, p[2]+f.RootGB+f.EphemeralGB
	}
	if err := rows.Err(); err != nil {
		return err
	}
	out = append(out, resource("(used_max)", cpu, mem, disk))
	for _, p := range order {
		v := perProject[p]
		out = append(out, resource(p, v[0], v[1], v[2]))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"host": out})
	return nil
}

// updateHost is PUT /os-hosts/{host_name} (until 2.42): after Nova's validation
// (status and/or maintenance_mode, each enable or disable), the host must exist; no
// gostack driver can switch a host off or into maintenance through this API (use
// os-services), so, like Nova's libvirt driver, it answers 501.
func (s *Service) updateHost(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	o, err := api.DecodeObject(r, "")
	if err != nil {
		return badRequest("Malformed request body")
	}
	if len(o) == 0 {
		return invalidInput("", o, "{} is not valid under any of the given schemas")
	}
	for k, v := range o {
		if k != "status" && k != "maintenance_mode" {
			return badRequest("Invalid input for field/attribute request body. Additional properties are not allowed ('%s' was unexpected)", k)
		}
		sv, ok := v.(string)
		if !ok || !slices.Contains([]string{"enable", "disable", "Enable", "Disable", "ENABLE", "DISABLE"}, sv) {
			return invalidInput(k, v, fmt.Sprintf("%s is not one of ['enable', 'disable', 'Enable', 'Disable', 'ENABLE', 'DISABLE']", reprValue(v)))
		}
	}
	if err := s.requireHost(r, r.PathValue("host_name")); err != nil {
		return err
	}
	return api.Errorf(http.StatusNotImplemented, "Virt driver does not implement host disabled status.")
}

// hostPowerAction is GET /os-hosts/{host_name}/reboot, shutdown and startup (until 2.42),
// which no gostack driver implements (Nova's libvirt driver does not either).
func (s *Service) hostPowerAction(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	if err := s.requireHost(r, r.PathValue("host_name")); err != nil {
		return err
	}
	return api.Errorf(http.StatusNotImplemented, "Virt driver does not implement host power management.")
}

// requireHost answers 404 unless host runs a compute node.
func (s *Service) requireHost(r *http.Request, host string) error {
	_, found, err := loadNodeWhere(r.Context(), s.db, `host = ? ORDER BY id LIMIT 1`, host)
	if err != nil {
		return err
	}
	if !found {
		return notFound("Compute host %s could not be found.", host)
	}
	return nil
}
