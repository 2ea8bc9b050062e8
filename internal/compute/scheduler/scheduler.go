// Package scheduler is gostack's Nova filter scheduler as pure logic: given a request
// and the state of the hosts Placement found room on, it filters the hosts as Nova's
// filters do (ComputeFilter, AvailabilityZoneFilter, ComputeCapabilitiesFilter,
// AggregateInstanceExtraSpecsFilter, AggregateMultiTenancyIsolation,
// ServerGroupAntiAffinityFilter, ServerGroupAffinityFilter, SameHostFilter,
// DifferentHostFilter, ImagePropertiesFilter, the requested destination and the hosts
// to ignore), weighs them with Nova's RAM, CPU, disk and soft (anti-)affinity weighers
// and returns them best first: the chosen host and its alternates.
//
// It does no I/O. The conductor builds the host states from the database and
// Placement's candidates, claims the first host in Placement and falls back to the
// alternates when a concurrent claim took the room.
package scheduler

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Aggregate is a host aggregate a host is in.
type Aggregate struct {
	Name     string
	Metadata map[string]string
}

// SupportedInstance is one (architecture, hypervisor type, vm mode) a host can run, as
// Nova's supported_instances.
type SupportedInstance struct {
	Arch, HVType, VMMode string
}

// HostState is what the filters and weighers know about a compute host (one node).
type HostState struct {
	Host, Node string
	// UUID is the compute node's (and Placement provider's) uuid.
	UUID string
	// Zone is the host's availability zone.
	Zone       string
	Aggregates []Aggregate
	// Enabled is false for a disabled nova-compute service; Up is false when it has not
	// reported within the service down time or is forced down.
	Enabled, Up bool
	// HypervisorType and HypervisorVersion are the compute node's; Capabilities holds
	// further attributes ComputeCapabilitiesFilter may match ("cpu_info:arch", ...).
	HypervisorType    string
	HypervisorVersion int64
	Capabilities      map[string]string
	Supported         []SupportedInstance
	// Free and Total resources as Placement counts them (capacity with allocation
	// ratios, minus usage).
	FreeVCPUs, FreeRAMMB, FreeDiskGB    int64
	TotalVCPUs, TotalRAMMB, TotalDiskGB int64
	// NumInstances is how many instances the host runs.
	NumInstances int
}

// Group policies of server groups.
const (
	Affinity         = "affinity"
	AntiAffinity     = "anti-affinity"
	SoftAffinity     = "soft-affinity"
	SoftAntiAffinity = "soft-anti-affinity"
)

// Request is what is being placed.
type Request struct {
	// InstanceUUID identifies the request in NoValidHost details.
	InstanceUUID string
	ProjectID    string
	// VCPUs, MemoryMB and DiskGB are the flavor's resources.
	VCPUs, MemoryMB, DiskGB int64
	// ExtraSpecs are the flavor's extra specs.
	ExtraSpecs map[string]string
	// AvailabilityZone is the requested zone ("" for any).
	AvailabilityZone string
	// Host and Node are a requested destination ("" for any).
	Host, Node string
	// GroupPolicy is the server group's policy ("" when in no group); GroupHosts are the
	// hosts of the group's other members, one entry per member; MaxServerPerHost is the
	// anti-affinity rule max_server_per_host (0: 1).
	GroupPolicy      string
	GroupHosts       []string
	MaxServerPerHost int
	// SameHostHosts and DifferentHostHosts are the hosts of the instances named by the
	// same_host and different_host hints; SameHostGiven is true when same_host was given
	// (even if those instances have no host, which then matches nothing).
	SameHostHosts      []string
	SameHostGiven      bool
	DifferentHostHosts []string
	// ImageProperties are the image's properties (hw_architecture, img_hv_type,
	// hw_vm_mode, img_hv_requested_version).
	ImageProperties map[string]any
	// IgnoreHosts are hosts not to pick (a retry's failed hosts, a migration's source).
	IgnoreHosts []string
	// NumInstances is how many instances to place (0: 1).
	NumInstances int
}

// Weights are the weigher multipliers ([filter_scheduler] *_weight_multiplier); a
// positive RAM, CPU or disk multiplier spreads, a negative one stacks.
type Weights struct {
	RAM, CPU, Disk                 float64
	SoftAffinity, SoftAntiAffinity float64
}

// DefaultWeights are Nova's defaults (every multiplier 1.0).
var DefaultWeights = Weights{RAM: 1, CPU: 1, Disk: 1, SoftAffinity: 1, SoftAntiAffinity: 1}

// Config tunes the scheduler.
type Config struct {
	Weights Weights
	// MaxAlternates bounds the alternates returned with each choice ([scheduler]
	// max_attempts - 1; 0: 2).
	MaxAlternates int
}

// Selection is a host picked for an instance.
type Selection struct {
	Host, Node, UUID string
	// Zone is the host's availability zone (the instance's zone once placed there).
	Zone   string
	Weight float64
}

// NoValidHost is Nova's NoValidHost: no host passed the filters.
type NoValidHost struct {
	// Reason is the fault message's tail ("There are not enough hosts available.").
	Reason string
	// Details name the filter that removed the last hosts, as Nova logs it.
	Details string
}

// Error returns Nova's message.
func (e *NoValidHost) Error() string { return "No valid host was found. " + e.Reason }

// filter is one host filter.
type filter struct {
	name   string
	passes func(h *HostState, r *Request) bool
}

// filters are applied in this order (Nova's enabled_filters order, the cheapest first).
var filters = []filter{
	{"IgnoreHostsFilter", func(h *HostState, r *Request) bool { return !contains(r.IgnoreHosts, h.Host) }},
	{"RequestedDestinationFilter", func(h *HostState, r *Request) bool {
		return (r.Host == "" || r.Host == h.Host) && (r.Node == "" || r.Node == h.Node)
	}},
	{"ComputeFilter", func(h *HostState, r *Request) bool { return h.Enabled && h.Up }},
	{"AvailabilityZoneFilter", func(h *HostState, r *Request) bool {
		return r.AvailabilityZone == "" || r.AvailabilityZone == h.Zone
	}},
	{"ComputeCapabilitiesFilter", computeCapabilities},
	{"AggregateInstanceExtraSpecsFilter", aggregateExtraSpecs},
	{"AggregateMultiTenancyIsolation", multiTenancyIsolation},
	{"ImagePropertiesFilter", imageProperties},
	{"ServerGroupAntiAffinityFilter", func(h *HostState, r *Request) bool {
		if r.GroupPolicy != AntiAffinity {
			return true
		}
		limit := r.MaxServerPerHost
		if limit <= 0 {
			limit = 1
		}
		return count(r.GroupHosts, h.Host) < limit
	}},
	{"ServerGroupAffinityFilter", func(h *HostState, r *Request) bool {
		return r.GroupPolicy != Affinity || len(r.GroupHosts) == 0 || contains(r.GroupHosts, h.Host)
	}},
	{"SameHostFilter", func(h *HostState, r *Request) bool {
		return !r.SameHostGiven || contains(r.SameHostHosts, h.Host)
	}},
	{"DifferentHostFilter", func(h *HostState, r *Request) bool { return !contains(r.DifferentHostHosts, h.Host) }},
	{"ResourceFilter", func(h *HostState, r *Request) bool {
		return h.FreeVCPUs >= r.VCPUs && h.FreeRAMMB >= r.MemoryMB && h.FreeDiskGB >= r.DiskGB
	}},
}

// Filter returns the hosts that pass every filter, in input order; when none does, a
// NoValidHost whose details say which filter removed the last ones.
func Filter(req *Request, hosts []HostState) ([]HostState, error) {
	ptrs := make([]*HostState, len(hosts))
	for i := range hosts {
		ptrs[i] = &hosts[i]
	}
	passed, err := filterPtrs(req, ptrs)
	if err != nil {
		return nil, err
	}
	out := make([]HostState, len(passed))
	for i, h := range passed {
		out[i] = *h
	}
	return out, nil
}

// filterPtrs is Filter over pointers, filtering in place without copying host states.
func filterPtrs(req *Request, hosts []*HostState) ([]*HostState, error) {
	cur := append([]*HostState(nil), hosts...)
	results := make([]string, 0, len(filters))
	for _, f := range filters {
		start := len(cur)
		next := cur[:0]
		for _, h := range cur {
			if f.passes(h, req) {
				next = append(next, h)
			}
		}
		results = append(results, fmt.Sprintf("'%s: (start: %d, end: %d)'", f.name, start, len(next)))
		cur = next
		if len(cur) == 0 {
			return nil, &NoValidHost{Reason: "There are not enough hosts available.",
				Details: fmt.Sprintf("Filtering removed all hosts for the request with instance ID '%s'. Filter results: [%s]",
					req.InstanceUUID, strings.Join(results, ", "))}
		}
	}
	return cur, nil
}

// Schedule filters and weighs the hosts for each of the request's instances and returns,
// per instance, the chosen host followed by up to MaxAlternates alternates. Resources
// and group membership picked for one instance count for the next, as Nova's
// consume_from_request does.
func Schedule(req Request, hosts []HostState, cfg Config) ([][]Selection, error) {
	n := req.NumInstances
	if n <= 0 {
		n = 1
	}
	maxAlt := cfg.MaxAlternates
	if maxAlt <= 0 {
		maxAlt = 2
	}
	states := make([]HostState, len(hosts))
	copy(states, hosts)
	ptrs := make([]*HostState, len(states))
	for i := range states {
		ptrs[i] = &states[i]
	}
	out := make([][]Selection, 0, n)
	for range n {
		passed, err := filterPtrs(&req, ptrs)
		if err != nil {
			return nil, err
		}
		ranked := weigh(&req, passed, cfg.Weights)
		if len(ranked) > maxAlt+1 {
			ranked = ranked[:maxAlt+1]
		}
		out = append(out, ranked)
		chosen := ranked[0]
		for _, h := range ptrs {
			if h.UUID == chosen.UUID && h.Host == chosen.Host {
				h.FreeVCPUs -= req.VCPUs
				h.FreeRAMMB -= req.MemoryMB
				h.FreeDiskGB -= req.DiskGB
				h.NumInstances++
			}
		}
		if req.GroupPolicy != "" {
			req.GroupHosts = append(append([]string(nil), req.GroupHosts...), chosen.Host)
		}
	}
	return out, nil
}

// Weigh returns the hosts best first. Each weigher's raw values are normalized to
// [0, 1] over the hosts and multiplied by its multiplier, as Nova's weight handler does;
// equal weights keep the input order (Placement's provider order).
func Weigh(req *Request, hosts []HostState, w Weights) []Selection {
	ptrs := make([]*HostState, len(hosts))
	for i := range hosts {
		ptrs[i] = &hosts[i]
	}
	return weigh(req, ptrs, w)
}

// weigh is Weigh over pointers.
func weigh(req *Request, hosts []*HostState, w Weights) []Selection {
	weights := make([]float64, len(hosts))
	add := func(mult float64, raw func(h *HostState) float64) {
		if mult == 0 || len(hosts) == 0 {
			return
		}
		vals := make([]float64, len(hosts))
		lo, hi := 0.0, 0.0
		for i := range hosts {
			vals[i] = raw(hosts[i])
			if i == 0 || vals[i] < lo {
				lo = vals[i]
			}
			if i == 0 || vals[i] > hi {
				hi = vals[i]
			}
		}
		if hi == lo {
			return
		}
		for i := range vals {
			weights[i] += mult * (vals[i] - lo) / (hi - lo)
		}
	}
	add(w.RAM, func(h *HostState) float64 { return float64(h.FreeRAMMB) })
	add(w.CPU, func(h *HostState) float64 { return float64(h.FreeVCPUs) })
	add(w.Disk, func(h *HostState) float64 { return float64(h.FreeDiskGB) })
	if req.GroupPolicy == SoftAffinity {
		add(w.SoftAffinity, func(h *HostState) float64 { return float64(count(req.GroupHosts, h.Host)) })
	}
	if req.GroupPolicy == SoftAntiAffinity {
		add(w.SoftAntiAffinity, func(h *HostState) float64 { return -float64(count(req.GroupHosts, h.Host)) })
	}
	idx := make([]int, len(hosts))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return weights[idx[a]] > weights[idx[b]] })
	out := make([]Selection, len(hosts))
	for i, j := range idx {
		out[i] = Selection{Host: hosts[j].Host, Node: hosts[j].Node, UUID: hosts[j].UUID, Zone: hosts[j].Zone, Weight: weights[j]}
	}
	return out
}

// computeCapabilities is ComputeCapabilitiesFilter for extra specs scoped
// "capabilities:" (unscoped keys are left to no filter: gostack enables the aggregate
// filter too, and Nova documents scoping both). The key names a host attribute:
// hypervisor_type, hypervisor_version, hypervisor_hostname, host, vcpus, or a
// Capabilities entry ("cpu_info:arch").
func computeCapabilities(h *HostState, r *Request) bool {
	for key, req := range r.ExtraSpecs {
		attr, ok := strings.CutPrefix(key, "capabilities:")
		if !ok {
			continue
		}
		var val string
		var have bool
		switch attr {
		case "hypervisor_type":
			val, have = h.HypervisorType, true
		case "hypervisor_version":
			val, have = strconv.FormatInt(h.HypervisorVersion, 10), true
		case "hypervisor_hostname":
			val, have = h.Node, true
		case "host":
			val, have = h.Host, true
		case "vcpus":
			val, have = strconv.FormatInt(h.TotalVCPUs, 10), true
		default:
			val, have = h.Capabilities[attr]
		}
		if !have || !Match(val, req) {
			return false
		}
	}
	return true
}

// aggregateExtraSpecs is AggregateInstanceExtraSpecsFilter: every extra spec scoped
// "aggregate_instance_extra_specs:" must match a value of that key in the metadata of
// one of the host's aggregates.
func aggregateExtraSpecs(h *HostState, r *Request) bool {
	for key, req := range r.ExtraSpecs {
		k, ok := strings.CutPrefix(key, "aggregate_instance_extra_specs:")
		if !ok {
			continue
		}
		matched := false
		for _, a := range h.Aggregates {
			if v, ok := a.Metadata[k]; ok {
				for _, one := range strings.Split(v, ",") {
					if Match(strings.TrimSpace(one), req) {
						matched = true
					}
				}
			}
		}
		if !matched {
			return false
		}
	}
	return true
}

// multiTenancyIsolation is AggregateMultiTenancyIsolation: a host in aggregates with
// filter_tenant_id* metadata takes only instances of those projects.
func multiTenancyIsolation(h *HostState, r *Request) bool {
	var allowed []string
	for _, a := range h.Aggregates {
		for k, v := range a.Metadata {
			if strings.HasPrefix(k, "filter_tenant_id") {
				for _, p := range strings.Split(v, ",") {
					allowed = append(allowed, strings.TrimSpace(p))
				}
			}
		}
	}
	return len(allowed) == 0 || contains(allowed, r.ProjectID)
}

// imageProperties is ImagePropertiesFilter: the image's architecture, hypervisor type
// and vm mode must be among the host's supported instances, and its requested
// hypervisor version satisfied.
func imageProperties(h *HostState, r *Request) bool {
	prop := func(names ...string) string {
		for _, n := range names {
			if v, ok := r.ImageProperties[n]; ok {
				if s, ok := v.(string); ok && s != "" {
					return s
				}
			}
		}
		return ""
	}
	arch := canonicalArch(prop("hw_architecture", "architecture"))
	hv := canonicalHVType(prop("img_hv_type", "hypervisor_type"))
	mode := canonicalVMMode(prop("hw_vm_mode", "vm_mode"))
	if arch == "" && hv == "" && mode == "" {
		return true
	}
	want := prop("img_hv_requested_version")
	for _, s := range h.Supported {
		if (arch == "" || arch == canonicalArch(s.Arch)) && (hv == "" || hv == canonicalHVType(s.HVType)) &&
			(mode == "" || mode == canonicalVMMode(s.VMMode)) && versionSatisfied(h.HypervisorVersion, want) {
			return true
		}
	}
	return false
}

// canonicalArch is fields.Architecture.canonicalize.
func canonicalArch(a string) string {
	a = strings.ToLower(strings.TrimSpace(a))
	switch a {
	case "i386", "i486", "i586", "x86":
		return "i686"
	case "amd64", "x64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "ppc64el":
		return "ppc64le"
	}
	return a
}

// canonicalHVType is fields.HVType.canonicalize.
func canonicalHVType(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	if t == "xapi" {
		return "xen"
	}
	return t
}

// canonicalVMMode is fields.VMMode.canonicalize.
func canonicalVMMode(m string) string {
	m = strings.ToLower(strings.TrimSpace(m))
	switch m {
	case "pv":
		return "xen"
	case "hv", "baremetal":
		return "hvm"
	}
	return m
}

// versionSatisfied checks img_hv_requested_version (">=6.0", "==2.1.0", "<3", a
// comma-separated conjunction) against Nova's integer hypervisor version
// (major*1000000 + minor*1000 + patch). No requirement or no version passes.
func versionSatisfied(have int64, want string) bool {
	if want == "" || have == 0 {
		return true
	}
	hv := [3]int64{have / 1000000, have / 1000 % 1000, have % 1000}
	for _, part := range strings.Split(want, ",") {
		part = strings.TrimSpace(part)
		op := ""
		for _, o := range []string{">=", "<=", "==", "!=", ">", "<"} {
			if strings.HasPrefix(part, o) {
				op = o
				break
			}
		}
		if op == "" {
			op = "=="
		}
		var v [3]int64
		for i, f := range strings.SplitN(strings.TrimSpace(strings.TrimPrefix(part, op)), ".", 3) {
			n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil {
				return false
			}
			v[i] = n
		}
		c := 0
		for i := range 3 {
			if hv[i] != v[i] {
				if hv[i] < v[i] {
					c = -1
				} else {
					c = 1
				}
				break
			}
		}
		ok := map[string]bool{">=": c >= 0, "<=": c <= 0, "==": c == 0, "!=": c != 0, ">": c > 0, "<": c < 0}[op]
		if !ok {
			return false
		}
	}
	return true
}

// Match is Nova's extra_specs_ops.match: req may start with an operator (=, ==, !=,
// >=, <=, s==, s!=, s<, s<=, s>, s>=, <in>, <all-in>, <or>); without one the value
// must equal req.
func Match(value, req string) bool {
	words := strings.Fields(req)
	if len(words) == 0 {
		return value == req
	}
	op := words[0]
	rest := words[1:]
	num := func(f func(a, b float64) bool) bool {
		if len(rest) == 0 {
			return false
		}
		a, err1 := strconv.ParseFloat(value, 64)
		b, err2 := strconv.ParseFloat(rest[0], 64)
		return err1 == nil && err2 == nil && f(a, b)
	}
	str := func(f func(a, b string) bool) bool { return len(rest) > 0 && f(value, rest[0]) }
	switch op {
	case "=", ">=":
		return num(func(a, b float64) bool { return a >= b })
	case "==":
		return num(func(a, b float64) bool { return a == b })
	case "!=":
		return num(func(a, b float64) bool { return a != b })
	case "<=":
		return num(func(a, b float64) bool { return a <= b })
	case "s==":
		return str(func(a, b string) bool { return a == b })
	case "s!=":
		return str(func(a, b string) bool { return a != b })
	case "s<":
		return str(func(a, b string) bool { return a < b })
	case "s<=":
		return str(func(a, b string) bool { return a <= b })
	case "s>":
		return str(func(a, b string) bool { return a > b })
	case "s>=":
		return str(func(a, b string) bool { return a >= b })
	case "<in>":
		return len(rest) > 0 && strings.Contains(value, rest[0])
	case "<all-in>":
		if len(rest) == 0 {
			return false
		}
		for _, w := range rest {
			if !strings.Contains(value, w) {
				return false
			}
		}
		return true
	case "<or>":
		for i := 0; i < len(rest); i += 2 {
			if rest[i] == value {
				return true
			}
		}
		return false
	}
	return value == req
}

// contains reports whether list has s.
func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// count returns how many times s is in list.
func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// GroupAllows reports whether a hard group policy lets an instance go to host given the
// hosts of the group's other members: the check the conductor repeats under the group's
// lock when it claims, so that concurrent placements cannot break the policy.
func GroupAllows(policy string, memberHosts []string, host string, maxServerPerHost int) bool {
	r := &Request{GroupPolicy: policy, GroupHosts: memberHosts, MaxServerPerHost: maxServerPerHost}
	h := &HostState{Host: host}
	for _, f := range filters {
		if f.name == "ServerGroupAntiAffinityFilter" || f.name == "ServerGroupAffinityFilter" {
			if !f.passes(h, r) {
				return false
			}
		}
	}
	return true
}
