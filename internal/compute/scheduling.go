package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/gostack/gostack/internal/compute/scheduler"
	"github.com/gostack/gostack/internal/placement"
	"github.com/gostack/gostack/internal/store"
)

// This file turns an instance into a scheduling decision: the Placement request its
// flavor and image make, the candidates Placement returns, the host states the filters
// need (compute nodes, services, aggregates, zones, group members), and the claim of the
// first host that still has room, in one transaction with the instance's own writes.

// flavorResources returns the Placement resources and traits a flavor asks for, as
// Nova's ResourceRequest.from_request_spec: VCPU, MEMORY_MB and DISK_GB (root disk
// excluded for a server booted from a volume, swap rounded up to GiB) overridden by
// resources:* extra specs, and trait:* = required|forbidden from the flavor and image.
func flavorResources(f FlavorSnapshot, bootFromVolume bool, imageProps map[string]any) (res map[string]int64, required, forbidden []string) {
	disk := f.EphemeralGB + (f.Swap+1023)/1024
	if !bootFromVolume {
		disk += f.RootGB
	}
	res = map[string]int64{"VCPU": f.VCPUs, "MEMORY_MB": f.MemoryMB, "DISK_GB": disk}
	traits := map[string]string{}
	for k, v := range imageProps {
		if t, ok := strings.CutPrefix(k, "trait:"); ok {
			if s, ok := v.(string); ok {
				traits[t] = s
			}
		}
	}
	for k, v := range f.ExtraSpecs {
		if rc, ok := strings.CutPrefix(k, "resources:"); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
				res[rc] = n
			}
		}
		if t, ok := strings.CutPrefix(k, "trait:"); ok {
			traits[t] = v
		}
	}
	for t, v := range traits {
		switch v {
		case "required":
			required = append(required, t)
		case "forbidden":
			forbidden = append(forbidden, t)
		}
	}
	for rc, n := range res {
		if n == 0 {
			delete(res, rc)
		}
	}
	return res, required, forbidden
}

// groupInfo is the server group an instance is in.
type groupInfo struct {
	uuid, policy     string
	maxServerPerHost int
}

// instanceGroup returns the instance's server group, or nil.
func instanceGroup(ctx context.Context, q querier, inst *Instance) (*groupInfo, error) {
	var g groupInfo
	var rules string
	err := q.QueryRowContext(ctx, `SELECT g.uuid, g.policy, g.rules FROM compute_server_groups g
		JOIN compute_server_group_members m ON m.group_uuid = g.uuid WHERE m.instance_uuid = ?`, inst.UUID).Scan(&g.uuid, &g.policy, &rules)
	if store.IsNoRows(err) && inst.Request.Group != "" {
		err = q.QueryRowContext(ctx, `SELECT uuid, policy, rules FROM compute_server_groups WHERE uuid = ?`,
			inst.Request.Group).Scan(&g.uuid, &g.policy, &rules)
	}
	if store.IsNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r map[string]any
	if json.Unmarshal([]byte(rules), &r) == nil {
		switch v := r["max_server_per_host"].(type) {
		case float64:
			g.maxServerPerHost = int(v)
		case string:
			g.maxServerPerHost, _ = strconv.Atoi(v)
		}
	}
	return &g, nil
}

// groupHosts returns the hosts of the group's other live members, one entry per member.
func groupHosts(ctx context.Context, q querier, g *groupInfo, self string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT i.host FROM compute_server_group_members m
		JOIN compute_instances i ON i.uuid = m.instance_uuid
		WHERE m.group_uuid = ? AND i.uuid <> ? AND i.deleted = ? AND i.host IS NOT NULL AND i.host <> ''`, g.uuid, self, false)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// instanceHosts returns the hosts of the given instances (those that have one).
func instanceHosts(ctx context.Context, q querier, uuids []string) ([]string, error) {
	var out []string
	for _, u := range uuids {
		var h *string
		err := q.QueryRowContext(ctx, `SELECT host FROM compute_instances WHERE uuid = ? AND deleted = ?`, u, false).Scan(&h)
		if store.IsNoRows(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if h != nil && *h != "" {
			out = append(out, *h)
		}
	}
	return out, nil
}

// nodeRow is a compute node as the scheduler needs it.
type nodeRow struct {
	uuid, host, hypervisorHostname, hypervisorType string
	hypervisorVersion, vcpus                       int64
	arch                                           string
}

// hostStates builds the scheduler's view of the hosts behind the candidates.
func (s *Service) hostStates(ctx context.Context, cands []placement.Candidate) ([]scheduler.HostState, error) {
	nodes, err := s.computeNodes(ctx)
	if err != nil {
		return nil, err
	}
	type svc struct{ enabled, up bool }
	services := map[string]svc{}
	rows, err := s.db.QueryContext(ctx, `SELECT host, disabled, forced_down, last_seen_up FROM compute_services
		WHERE service_binary = ?`, "nova-compute")
	if err != nil {
		return nil, err
	}
	cutoff := now().Add(-s.cfg.ServiceDownTime)
	for rows.Next() {
		var host string
		var disabled, forced bool
		var seen *string
		if err := rows.Scan(&host, &disabled, &forced, &seen); err != nil {
			rows.Close()
			return nil, err
		}
		up := !forced && seen != nil && !store.ParseTime(*seen).Before(cutoff)
		services[host] = svc{enabled: !disabled, up: up}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	aggs, err := s.hostAggregates(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]scheduler.HostState, 0, len(cands))
	for _, c := range cands {
		n := nodes[c.Provider]
		if n == nil {
			continue // a provider that is not a compute node (e.g. a sharing provider)
		}
		sv := services[n.host]
		zone := s.cfg.DefaultAvailabilityZone
		for _, a := range aggs[n.host] {
			if z := a.Metadata["availability_zone"]; z != "" {
				zone = z
			}
		}
		hv := strings.ToLower(n.hypervisorType)
		supported := []scheduler.SupportedInstance{{Arch: n.arch, HVType: hv, VMMode: "hvm"}}
		if hv == "qemu" {
			supported = append(supported, scheduler.SupportedInstance{Arch: n.arch, HVType: "kvm", VMMode: "hvm"})
		}
		free := func(rc string) (int64, int64) {
			sm := c.Summary[rc]
			return sm.Capacity - sm.Used, sm.Capacity
		}
		hs := scheduler.HostState{Host: n.host, Node: n.hypervisorHostname, UUID: n.uuid, Zone: zone, Aggregates: aggs[n.host],
			Enabled: sv.enabled, Up: sv.up, HypervisorType: n.hypervisorType, HypervisorVersion: n.hypervisorVersion,
			Capabilities: map[string]string{"cpu_info:arch": n.arch}, Supported: supported}
		hs.FreeVCPUs, hs.TotalVCPUs = free("VCPU")
		hs.FreeRAMMB, hs.TotalRAMMB = free("MEMORY_MB")
		hs.FreeDiskGB, hs.TotalDiskGB = free("DISK_GB")
		out = append(out, hs)
	}
	return out, nil
}

// nodeCache keeps the compute nodes between scheduling decisions: with a thousand
// hosts, reading them on every decision would be most of its cost. It is labelled with
// the nodes' count and newest update, which every registration changes.
type nodeCache struct {
	mu    sync.Mutex
	label string
	nodes map[string]*nodeRow
}

// computeNodes returns the compute nodes by uuid, reloading them when they changed.
func (s *Service) computeNodes(ctx context.Context) (map[string]*nodeRow, error) {
	var n int
	var newest string
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MAX(updated_at), '') FROM compute_nodes`).Scan(&n, &newest); err != nil {
		return nil, err
	}
	label := strconv.Itoa(n) + "/" + newest
	c := &s.rt.nodes
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodes != nil && c.label == label {
		return c.nodes, nil
	}
	nodes := map[string]*nodeRow{}
	rows, err := s.db.QueryContext(ctx, `SELECT uuid, host, hypervisor_hostname, hypervisor_type, hypervisor_version, vcpus,
		cpu_info FROM compute_nodes`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var n nodeRow
		var cpuInfo string
		if err := rows.Scan(&n.uuid, &n.host, &n.hypervisorHostname, &n.hypervisorType, &n.hypervisorVersion, &n.vcpus, &cpuInfo); err != nil {
			return nil, err
		}
		var ci struct {
			Arch string `json:"arch"`
		}
		_ = json.Unmarshal([]byte(cpuInfo), &ci)
		n.arch = ci.Arch
		nodes[n.uuid] = &n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	c.label, c.nodes = label, nodes
	return nodes, nil
}

// hostAggregates maps each host to the aggregates it is in, with their metadata.
func (s *Service) hostAggregates(ctx context.Context) (map[string][]scheduler.Aggregate, error) {
	meta := map[int64]map[string]string{}
	rows, err := s.db.QueryContext(ctx, `SELECT aggregate_id, key, value FROM compute_aggregate_metadata`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id int64
		var k, v string
		if err := rows.Scan(&id, &k, &v); err != nil {
			rows.Close()
			return nil, err
		}
		if meta[id] == nil {
			meta[id] = map[string]string{}
		}
		meta[id][k] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := map[string][]scheduler.Aggregate{}
	rows, err = s.db.QueryContext(ctx, `SELECT ah.host, a.id, a.name FROM compute_aggregate_hosts ah
		JOIN compute_aggregates a ON a.id = ah.aggregate_id ORDER BY a.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var host, name string
		var id int64
		if err := rows.Scan(&host, &id, &name); err != nil {
			return nil, err
		}
		md := meta[id]
		if md == nil {
			md = map[string]string{}
		}
		out[host] = append(out[host], scheduler.Aggregate{Name: name, Metadata: md})
	}
	return out, rows.Err()
}

// nodeUUID returns the compute node uuid of a host (its first node) or of a node name.
func (s *Service) nodeUUID(ctx context.Context, host, node string) (string, error) {
	var uuid string
	var err error
	if node != "" {
		err = s.db.QueryRowContext(ctx, `SELECT uuid FROM compute_nodes WHERE hypervisor_hostname = ?`, node).Scan(&uuid)
	} else {
		err = s.db.QueryRowContext(ctx, `SELECT uuid FROM compute_nodes WHERE host = ? ORDER BY id LIMIT 1`, host).Scan(&uuid)
	}
	if store.IsNoRows(err) {
		return "", nil
	}
	return uuid, err
}

// placeRequest is one scheduling decision to make.
type placeRequest struct {
	inst   *Instance
	flavor FlavorSnapshot
	// host and node force a destination ("" for any); ignore are hosts not to pick.
	host, node string
	ignore     []string
	zone       string
}

// hostChoice is a host picked and the allocation Placement offered there.
type hostChoice struct {
	sel  scheduler.Selection
	cand placement.Candidate
}

// errGroupPolicy is a claim refused because the group's policy no longer allows the
// host (a concurrent member took it).
var errGroupPolicy = errors.New("server group policy violated by a concurrent placement")

// errInstanceChanged is a claim abandoned because the instance's task state changed
// under it (a delete raced the build).
var errInstanceChanged = errors.New("instance changed during the operation")

// scheduleRounds bounds how many times a decision is made again after every host it
// picked was taken by concurrent claims.
const scheduleRounds = 4

// place schedules pr and claims the first host that fits. write is the caller's part of
// the claim transaction: it writes the allocations (choice.cand.Allocations) and the
// instance. A host whose claim conflicts (capacity taken concurrently, the group policy
// violated under the group's lock) is skipped for the next; when every selection is
// taken the decision is made again with fresh usage. It returns the choice, or a
// *scheduler.NoValidHost, or errInstanceChanged from write.
func (s *Service) place(ctx context.Context, pr placeRequest, write func(tx *store.Tx, ch hostChoice) error) (*hostChoice, error) {
	inst := pr.inst
	res, required, forbidden := flavorResources(pr.flavor, inst.ImageRef == "", inst.Request.ImageProperties)
	creq := placement.CandidateRequest{Resources: res, Required: required, Forbidden: forbidden}
	if pr.host != "" || pr.node != "" {
		uuid, err := s.nodeUUID(ctx, pr.host, pr.node)
		if err != nil {
			return nil, err
		}
		if uuid == "" {
			return nil, &scheduler.NoValidHost{Reason: "There are not enough hosts available.",
				Details: fmt.Sprintf("Requested host %s (node %s) is not a compute host.", pr.host, pr.node)}
		}
		creq.InTree = uuid
	}
	group, err := instanceGroup(ctx, s.db, inst)
	if err != nil {
		return nil, err
	}
	req := scheduler.Request{InstanceUUID: inst.UUID, ProjectID: inst.ProjectID, VCPUs: res["VCPU"], MemoryMB: res["MEMORY_MB"],
		DiskGB: res["DISK_GB"], ExtraSpecs: pr.flavor.ExtraSpecs, AvailabilityZone: pr.zone, Host: pr.host, Node: pr.node,
		ImageProperties: inst.Request.ImageProperties, IgnoreHosts: pr.ignore}
	if len(inst.Request.SameHost) > 0 {
		req.SameHostGiven = true
		if req.SameHostHosts, err = instanceHosts(ctx, s.db, inst.Request.SameHost); err != nil {
			return nil, err
		}
	}
	if req.DifferentHostHosts, err = instanceHosts(ctx, s.db, inst.Request.DifferentHost); err != nil {
		return nil, err
	}
	cfg := scheduler.Config{Weights: scheduler.DefaultWeights, MaxAlternates: s.maxAttempts() - 1}
	if s.cfg.SchedulerWeights != nil {
		cfg.Weights = *s.cfg.SchedulerWeights
	}
	for round := 0; round < scheduleRounds; round++ {
		if group != nil {
			req.GroupPolicy, req.MaxServerPerHost = group.policy, group.maxServerPerHost
			if req.GroupHosts, err = groupHosts(ctx, s.db, group, inst.UUID); err != nil {
				return nil, err
			}
		}
		cands, err := s.deps.Placement.AllocationCandidates(ctx, creq)
		if err != nil {
			// Placement refuses unknown traits and classes: no host can have them.
			return nil, &scheduler.NoValidHost{Reason: "There are not enough hosts available.", Details: err.Error()}
		}
		if len(cands) == 0 {
			return nil, &scheduler.NoValidHost{Reason: "There are not enough hosts available.",
				Details: "Placement found no allocation candidates for the request."}
		}
		states, err := s.hostStates(ctx, cands)
		if err != nil {
			return nil, err
		}
		sels, err := scheduler.Schedule(req, states, cfg)
		if err != nil {
			return nil, err
		}
		byUUID := make(map[string]placement.Candidate, len(cands))
		for _, c := range cands {
			byUUID[c.Provider] = c
		}
		for _, sel := range sels[0] {
			ch := hostChoice{sel: sel, cand: byUUID[sel.UUID]}
			if s.db.Engine() == store.SQLite {
				// SQLite has one writer; claims queued on a mutex wait microseconds,
				// claims queued on SQLite's busy handler sleep milliseconds.
				s.rt.claimMu.Lock()
			}
			err := s.db.InTx(ctx, func(tx *store.Tx) error {
				if group != nil && (group.policy == scheduler.Affinity || group.policy == scheduler.AntiAffinity) {
					// The group's row is its lock: concurrent placements of members
					// queue here and see each other's hosts.
					if _, err := tx.ExecContext(ctx, `UPDATE compute_server_groups SET name = name WHERE uuid = ?`, group.uuid); err != nil {
						return err
					}
					hosts, err := groupHosts(ctx, tx, group, inst.UUID)
					if err != nil {
						return err
					}
					if !scheduler.GroupAllows(group.policy, hosts, sel.Host, group.maxServerPerHost) {
						return errGroupPolicy
					}
				}
				return write(tx, ch)
			})
			if s.db.Engine() == store.SQLite {
				s.rt.claimMu.Unlock()
			}
			if err == nil {
				return &ch, nil
			}
			if errors.Is(err, placement.ErrAllocationConflict) || errors.Is(err, errGroupPolicy) {
				continue
			}
			return nil, err
		}
	}
	return nil, &scheduler.NoValidHost{Reason: "There are not enough hosts available.",
		Details: "Every host selected was claimed concurrently by other requests."}
}

// maxAttempts is [scheduler] max_attempts.
func (s *Service) maxAttempts() int {
	if s.cfg.MaxBuildAttempts > 0 {
		return s.cfg.MaxBuildAttempts
	}
	return 3
}

// serviceUp reports whether a host's nova-compute service reported recently.
func (s *Service) hostServiceUp(ctx context.Context, host string) (bool, error) {
	var seen *string
	var forced bool
	err := s.db.QueryRowContext(ctx, `SELECT last_seen_up, forced_down FROM compute_services WHERE host = ? AND service_binary = ?`,
		host, "nova-compute").Scan(&seen, &forced)
	if store.IsNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return !forced && seen != nil && now().Sub(store.ParseTime(*seen)) <= s.cfg.ServiceDownTime, nil
}
