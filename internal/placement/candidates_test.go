package placement

import (
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gostack/gostack/internal/policy"
)

// candidate is one allocation request of a response, in the 1.12+ form: provider ->
// class -> amount.
type candidate map[string]map[string]int

// candidates decodes the allocation requests of a 1.12+ response.
func candidates(t testing.TB, r resp) []candidate {
	t.Helper()
	var out []candidate
	for _, ar := range r.body["allocation_requests"].([]any) {
		c := candidate{}
		for rp, v := range ar.(map[string]any)["allocations"].(map[string]any) {
			c[rp] = map[string]int{}
			for rc, n := range v.(map[string]any)["resources"].(map[string]any) {
				c[rp][rc] = int(n.(float64))
			}
		}
		out = append(out, c)
	}
	return out
}

// shape renders candidates with provider names, sorted, for comparison.
func shape(cands []candidate, name map[string]string) []string {
	var out []string
	for _, c := range cands {
		var parts []string
		for rp, res := range c {
			var rcs []string
			for rc, n := range res {
				rcs = append(rcs, rc+":"+itoa(n))
			}
			sort.Strings(rcs)
			parts = append(parts, name[rp]+"("+strings.Join(rcs, ",")+")")
		}
		sort.Strings(parts)
		out = append(out, strings.Join(parts, "+"))
	}
	sort.Strings(out)
	return out
}

// itoa formats an int.
func itoa(n int) string { return strconv.Itoa(n) }

// fleet is a set of named providers in one test cloud.
type fleet struct {
	tc   *testCloud
	uuid map[string]string
	name map[string]string
}

// newFleet returns an empty fleet.
func newFleet(tc *testCloud) *fleet {
	return &fleet{tc: tc, uuid: map[string]string{}, name: map[string]string{}}
}

// add creates a provider under parent ("" for a root) with inventory and traits.
func (f *fleet) add(t testing.TB, name, parent string, invs map[string]any, traits ...string) string {
	t.Helper()
	u := f.tc.createProvider(t, name, f.uuid[parent])
	f.uuid[name], f.name[u] = u, name
	if len(invs) > 0 {
		f.tc.setInventory(t, u, invs)
	}
	if len(traits) > 0 {
		f.tc.setTraits(t, u, traits...)
	}
	return u
}

// query runs GET /allocation_candidates and returns the named shapes.
func (f *fleet) query(t testing.TB, ver, q string) ([]string, resp) {
	t.Helper()
	r := f.tc.do(t, ver, "GET", "/allocation_candidates?"+q, nil).want(t, http.StatusOK)
	return shape(candidates(t, r), f.name), r
}

func TestCandidatesFlat(t *testing.T) {
	tc := newTestCloud(t)
	f := newFleet(tc)
	f.add(t, "cn1", "", map[string]any{"VCPU": inv(8), "MEMORY_MB": inv(2048), "DISK_GB": inv(100)}, "HW_CPU_X86_AVX2", "COMPUTE_NODE")
	f.add(t, "cn2", "", map[string]any{"VCPU": inv(4, "allocation_ratio", 2.0), "MEMORY_MB": inv(1024)}, "COMPUTE_NODE", "CUSTOM_GOLD")
	f.add(t, "cn3", "", map[string]any{"VCPU": inv(2), "MEMORY_MB": inv(4096, "reserved", 512)})
	agg := "55555555-5555-5555-5555-555555555555"
	tc.do(t, "1.19", "PUT", "/resource_providers/"+f.uuid["cn2"]+"/aggregates",
		map[string]any{"aggregates": []string{agg}, "resource_provider_generation": tc.generation(t, f.uuid["cn2"])}).want(t, http.StatusOK)
	tc.allocate(t, consumer1, nil, map[string]map[string]int{f.uuid["cn3"]: {"VCPU": 2}}).want(t, http.StatusNoContent)

	for _, tt := range []struct {
		ver, q string
		want   []string
	}{
		{"1.12", "resources=VCPU:1", []string{"cn1(VCPU:1)", "cn2(VCPU:1)"}},
		{"1.12", "resources=VCPU:8", []string{"cn1(VCPU:8)", "cn2(VCPU:8)"}},
		{"1.12", "resources=VCPU:9", nil},
		{"1.12", "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:10", []string{"cn1(DISK_GB:10,MEMORY_MB:1024,VCPU:1)"}},
		{"1.12", "resources=MEMORY_MB:3584", []string{"cn3(MEMORY_MB:3584)"}},
		{"1.12", "resources=MEMORY_MB:3585", nil},
		{"1.17", "resources=VCPU:1&required=COMPUTE_NODE", []string{"cn1(VCPU:1)", "cn2(VCPU:1)"}},
		{"1.17", "resources=VCPU:1&required=COMPUTE_NODE,CUSTOM_GOLD", []string{"cn2(VCPU:1)"}},
		{"1.22", "resources=VCPU:1&required=!CUSTOM_GOLD", []string{"cn1(VCPU:1)"}},
		{"1.39", "resources=VCPU:1&required=in:CUSTOM_GOLD,HW_CPU_X86_AVX2", []string{"cn1(VCPU:1)", "cn2(VCPU:1)"}},
		{"1.39", "resources=VCPU:1&required=in:CUSTOM_GOLD,HW_CPU_X86_AVX2&required=!COMPUTE_NODE", nil},
		{"1.21", "resources=VCPU:1&member_of=" + agg, []string{"cn2(VCPU:1)"}},
		{"1.32", "resources=VCPU:1&member_of=!" + agg, []string{"cn1(VCPU:1)"}},
		{"1.31", "resources=VCPU:1&in_tree=" + f.uuid["cn1"], []string{"cn1(VCPU:1)"}},
		{"1.35", "resources=VCPU:1&root_required=CUSTOM_GOLD", []string{"cn2(VCPU:1)"}},
		{"1.35", "resources=VCPU:1&root_required=!CUSTOM_GOLD", []string{"cn1(VCPU:1)"}},
		{"1.25", "resources1=VCPU:1&resources2=MEMORY_MB:1024&group_policy=isolate", nil},
		{"1.25", "resources1=VCPU:1&resources2=MEMORY_MB:1024&group_policy=none",
			[]string{"cn1(MEMORY_MB:1024,VCPU:1)", "cn2(MEMORY_MB:1024,VCPU:1)"}},
		// 5 + 4 VCPUs exceed every provider's 8 once the groups are merged.
		{"1.25", "resources1=VCPU:5&resources2=VCPU:4&group_policy=none", nil},
		{"1.25", "resources1=VCPU:4&resources2=VCPU:4&group_policy=none", []string{"cn1(VCPU:8)", "cn2(VCPU:8)"}},
	} {
		if got, r := f.query(t, tt.ver, tt.q); !slices.Equal(got, tt.want) {
			t.Errorf("%s %s: %v, want %v\n%s", tt.ver, tt.q, got, tt.want, r.raw)
		}
	}
}

func TestCandidatesShapes(t *testing.T) {
	tc := newTestCloud(t)
	f := newFleet(tc)
	cn := f.add(t, "cn", "", map[string]any{"VCPU": inv(8), "MEMORY_MB": inv(2048)}, "COMPUTE_NODE")
	// 1.10: a list of allocations; summaries with the requested classes only, no traits.
	r := tc.do(t, "1.10", "GET", "/allocation_candidates?resources=VCPU:1", nil).want(t, http.StatusOK)
	ar := r.body["allocation_requests"].([]any)[0].(map[string]any)["allocations"].([]any)[0].(map[string]any)
	if ar["resource_provider"].(map[string]any)["uuid"] != cn || ar["resources"].(map[string]any)["VCPU"] != 1.0 {
		t.Errorf("1.10 request: %s", r.raw)
	}
	sum := r.get("provider_summaries", cn).(map[string]any)
	if _, ok := sum["traits"]; ok || len(sum["resources"].(map[string]any)) != 1 {
		t.Errorf("1.10 summary: %s", r.raw)
	}
	// 1.17 adds traits; 1.27 all classes; 1.29 tree fields; 1.34 mappings.
	r = tc.do(t, "1.17", "GET", "/allocation_candidates?resources=VCPU:1", nil).want(t, http.StatusOK)
	if r.get("provider_summaries", cn, "traits") == nil || r.get("provider_summaries", cn, "resources", "MEMORY_MB") != nil {
		t.Errorf("1.17 summary: %s", r.raw)
	}
	r = tc.do(t, "1.27", "GET", "/allocation_candidates?resources=VCPU:1", nil).want(t, http.StatusOK)
	if r.num("provider_summaries", cn, "resources", "MEMORY_MB", "capacity") != 2048 || r.get("provider_summaries", cn, "root_provider_uuid") != nil {
		t.Errorf("1.27 summary: %s", r.raw)
	}
	r = tc.do(t, "1.29", "GET", "/allocation_candidates?resources=VCPU:1", nil).want(t, http.StatusOK)
	s := r.get("provider_summaries", cn).(map[string]any)
	if v, ok := s["parent_provider_uuid"]; !ok || v != nil || s["root_provider_uuid"] != cn {
		t.Errorf("1.29 summary: %s", r.raw)
	}
	if _, ok := r.body["allocation_requests"].([]any)[0].(map[string]any)["mappings"]; ok {
		t.Errorf("mappings before 1.34: %s", r.raw)
	}
	r = tc.do(t, "1.34", "GET", "/allocation_candidates?resources=VCPU:1", nil).want(t, http.StatusOK)
	m := r.body["allocation_requests"].([]any)[0].(map[string]any)["mappings"].(map[string]any)
	if len(m[""].([]any)) != 1 || m[""].([]any)[0] != cn {
		t.Errorf("1.34 mappings: %s", r.raw)
	}
	// Empty results.
	r = tc.do(t, "1.10", "GET", "/allocation_candidates?resources=VCPU:100", nil).want(t, http.StatusOK)
	if r.raw != `{"allocation_requests":[],"provider_summaries":{}}` {
		t.Errorf("empty: %s", r.raw)
	}
	// limit (1.16) keeps the first candidates and their summaries.
	f.add(t, "cn2", "", map[string]any{"VCPU": inv(8)})
	r = tc.do(t, "1.16", "GET", "/allocation_candidates?resources=VCPU:1&limit=1", nil).want(t, http.StatusOK)
	if len(r.body["allocation_requests"].([]any)) != 1 || len(r.body["provider_summaries"].(map[string]any)) != 1 {
		t.Errorf("limit: %s", r.raw)
	}
	tc.do(t, "1.15", "GET", "/allocation_candidates?resources=VCPU:1&limit=1", nil).want(t, http.StatusBadRequest)
	tc.do(t, "1.16", "GET", "/allocation_candidates?resources=VCPU:1&limit=0", nil).want(t, http.StatusBadRequest)
}

func TestCandidatesErrors(t *testing.T) {
	tc := newTestCloud(t)
	f := newFleet(tc)
	f.add(t, "cn", "", map[string]any{"VCPU": inv(8)})
	for _, tt := range []struct{ ver, q, detail string }{
		{"1.10", "", "'resources' is a required property"},
		{"1.10", "resources=VCPU:1&required=COMPUTE_NODE", "Additional properties are not allowed"},
		{"1.10", "resources=CUSTOM_NOPE:1", "Invalid resource class in resources parameter: No such resource class CUSTOM_NOPE."},
		{"1.17", "resources=VCPU:1&required=CUSTOM_NOPE", "No such trait(s): CUSTOM_NOPE."},
		{"1.24", "resources1=VCPU:1", "'resources' is a required property"},
		{"1.25", "resources1=VCPU:1&resources2=VCPU:1", "The \"group_policy\" parameter is required when specifying more than one"},
		{"1.25", "resources=VCPU:1&required1=COMPUTE_NODE", "Found the following orphaned traits keys: required1"},
		{"1.25", "resources=VCPU:1&group_policy=maybe", "'maybe' is not one of ['none', 'isolate']"},
		{"1.25", "", "At least one request group (`resources` or `resources{$S}`) is required."},
		{"1.25", "resources_X=VCPU:1", "'resources_X' does not match any of the regexes: '^resources([1-9][0-9]*)?$'"},
		{"1.33", "resources_X=VCPU:1&resources_Y=VCPU:1", "group_policy"},
		{"1.22", "resources=VCPU:1&required=COMPUTE_NODE,!COMPUTE_NODE", "Conflicting required and forbidden traits found in the following traits keys: required: (COMPUTE_NODE)"},
		{"1.35", "resources=VCPU:1&root_required=COMPUTE_NODE&root_required=CUSTOM_X", "Query parameter 'root_required' may be specified only once."},
		{"1.35", "resources=VCPU:1&root_required=COMPUTE_NODE,!COMPUTE_NODE", "Conflicting required and forbidden traits found in root_required: COMPUTE_NODE"},
		{"1.36", "", "There must be at least one resources or resources[$S] parameter."},
		{"1.36", "resources=VCPU:1&required_A=COMPUTE_NODE", "Resourceless suffixed group request should be specified in `same_subtree` query param: bad group(s) - ['_A']."},
		{"1.36", "resources=VCPU:1&same_subtree=_A", "Real suffixes should be specified in `same_subtree`: ['_A'] not found in ['']."},
		{"1.36", "resources=VCPU:1&same_subtree=,_A", "Empty string (unsuffixed group) can not be specified in `same_subtree`"},
		{"1.31", "resources=VCPU:1&in_tree=nope", "Expected 'in_tree' parameter to be a format of uuid"},
	} {
		r := tc.do(t, tt.ver, "GET", "/allocation_candidates?"+tt.q, nil).want(t, http.StatusBadRequest)
		if !strings.Contains(r.detail(), tt.detail) {
			t.Errorf("%s %s: %q, want %q", tt.ver, tt.q, r.detail(), tt.detail)
		}
	}
	// Query codes from 1.23.
	r := tc.do(t, "1.36", "GET", "/allocation_candidates?resources=VCPU:1&same_subtree=_A", nil)
	if r.errCode() != codeQueryBadValue {
		t.Errorf("code: %s", r.raw)
	}
}

// nestedFleet builds a compute node with two NUMA nodes, each with a VF-capable NIC, and a
// flat compute node:
//
//	cn (MEMORY_MB, HW_CPU_X86_AVX2)
//	├─ numa0 (VCPU 4)
//	│  └─ pf0 (SRIOV_NET_VF 4, CUSTOM_PHYSNET_A)
//	└─ numa1 (VCPU 4)
//	   └─ pf1 (SRIOV_NET_VF 4, CUSTOM_PHYSNET_A, CUSTOM_FAST)
//	flat (VCPU 8, MEMORY_MB)
func nestedFleet(t testing.TB) *fleet {
	tc := newTestCloud(t)
	f := newFleet(tc)
	f.add(t, "cn", "", map[string]any{"MEMORY_MB": inv(8192)}, "HW_CPU_X86_AVX2")
	f.add(t, "numa0", "cn", map[string]any{"VCPU": inv(4)})
	f.add(t, "pf0", "numa0", map[string]any{"SRIOV_NET_VF": inv(4)}, "CUSTOM_PHYSNET_A")
	f.add(t, "numa1", "cn", map[string]any{"VCPU": inv(4)})
	f.add(t, "pf1", "numa1", map[string]any{"SRIOV_NET_VF": inv(4)}, "CUSTOM_PHYSNET_A", "CUSTOM_FAST")
	f.add(t, "flat", "", map[string]any{"VCPU": inv(8), "MEMORY_MB": inv(8192)})
	return f
}

func TestCandidatesNested(t *testing.T) {
	f := nestedFleet(t)
	for _, tt := range []struct {
		ver, q string
		want   []string
	}{
		// The unsuffixed group may spread over a tree.
		{"1.29", "resources=VCPU:1,MEMORY_MB:512", []string{
			"cn(MEMORY_MB:512)+numa0(VCPU:1)", "cn(MEMORY_MB:512)+numa1(VCPU:1)", "flat(MEMORY_MB:512,VCPU:1)"}},
		// Before 1.29 a request may not use two providers of one tree.
		{"1.28", "resources=VCPU:1,MEMORY_MB:512", []string{"flat(MEMORY_MB:512,VCPU:1)"}},
		// Traits of the unsuffixed group are satisfied by the tree's providers together.
		{"1.29", "resources=VCPU:1,SRIOV_NET_VF:1&required=CUSTOM_FAST", []string{
			"numa0(VCPU:1)+pf1(SRIOV_NET_VF:1)", "numa1(VCPU:1)+pf1(SRIOV_NET_VF:1)"}},
		{"1.29", "resources=VCPU:1,SRIOV_NET_VF:1&required=!CUSTOM_FAST", []string{
			"numa0(VCPU:1)+pf0(SRIOV_NET_VF:1)", "numa1(VCPU:1)+pf0(SRIOV_NET_VF:1)"}},
		// A suffixed group is one provider with its traits.
		{"1.29", "resources=VCPU:1&resources1=SRIOV_NET_VF:1&required1=CUSTOM_FAST", []string{
			"numa0(VCPU:1)+pf1(SRIOV_NET_VF:1)", "numa1(VCPU:1)+pf1(SRIOV_NET_VF:1)"}},
		// isolate: two VF groups from different NICs; none: also twice from one.
		{"1.29", "resources1=SRIOV_NET_VF:1&resources2=SRIOV_NET_VF:1&group_policy=isolate", []string{
			"pf0(SRIOV_NET_VF:1)+pf1(SRIOV_NET_VF:1)", "pf0(SRIOV_NET_VF:1)+pf1(SRIOV_NET_VF:1)"}},
		{"1.29", "resources1=SRIOV_NET_VF:3&resources2=SRIOV_NET_VF:3&group_policy=none", []string{
			"pf0(SRIOV_NET_VF:3)+pf1(SRIOV_NET_VF:3)", "pf0(SRIOV_NET_VF:3)+pf1(SRIOV_NET_VF:3)"}},
		{"1.29", "resources1=SRIOV_NET_VF:2&resources2=SRIOV_NET_VF:2&group_policy=none", []string{
			"pf0(SRIOV_NET_VF:2)+pf1(SRIOV_NET_VF:2)", "pf0(SRIOV_NET_VF:2)+pf1(SRIOV_NET_VF:2)",
			"pf0(SRIOV_NET_VF:4)", "pf1(SRIOV_NET_VF:4)"}},
		// in_tree.
		{"1.31", "resources=VCPU:1&in_tree=" + f.uuid["pf0"], []string{"numa0(VCPU:1)", "numa1(VCPU:1)"}},
		{"1.31", "resources=VCPU:1&in_tree=" + f.uuid["flat"], []string{"flat(VCPU:1)"}},
		// root_required looks at the tree's root only.
		{"1.35", "resources=VCPU:1&root_required=HW_CPU_X86_AVX2", []string{"numa0(VCPU:1)", "numa1(VCPU:1)"}},
		{"1.35", "resources=VCPU:1&root_required=CUSTOM_FAST", nil},
		// same_subtree: the VCPU and the VF from the same NUMA node.
		{"1.36", "resources_CPU=VCPU:1&resources_NET=SRIOV_NET_VF:1&group_policy=none", []string{
			"numa0(VCPU:1)+pf0(SRIOV_NET_VF:1)", "numa0(VCPU:1)+pf1(SRIOV_NET_VF:1)",
			"numa1(VCPU:1)+pf0(SRIOV_NET_VF:1)", "numa1(VCPU:1)+pf1(SRIOV_NET_VF:1)"}},
		{"1.36", "resources_CPU=VCPU:1&resources_NET=SRIOV_NET_VF:1&group_policy=none&same_subtree=_CPU,_NET", []string{
			"numa0(VCPU:1)+pf0(SRIOV_NET_VF:1)", "numa1(VCPU:1)+pf1(SRIOV_NET_VF:1)"}},
		// A resourceless group names the subtree's root by trait.
		{"1.36", "resources_NET=SRIOV_NET_VF:1&required_NUMA=CUSTOM_FAST&same_subtree=_NET,_NUMA&group_policy=none",
			[]string{"pf1(SRIOV_NET_VF:1)"}},
	} {
		if got, r := f.query(t, tt.ver, tt.q); !slices.Equal(got, tt.want) {
			t.Errorf("%s %s:\n got  %v\n want %v\n%s", tt.ver, tt.q, got, tt.want, r.raw)
		}
	}
	// Mappings name the provider of each group.
	_, r := f.query(t, "1.34", "resources=VCPU:1&resources1=SRIOV_NET_VF:1&required1=CUSTOM_FAST&resources2=MEMORY_MB:1&group_policy=isolate")
	for _, ar := range r.body["allocation_requests"].([]any) {
		m := ar.(map[string]any)["mappings"].(map[string]any)
		if m["1"].([]any)[0] != f.uuid["pf1"] || m["2"].([]any)[0] != f.uuid["cn"] || len(m[""].([]any)) != 1 {
			t.Errorf("mappings: %v", m)
		}
	}
	// Summaries list every provider of the trees involved, with parents.
	_, r = f.query(t, "1.29", "resources=SRIOV_NET_VF:1&required=CUSTOM_FAST")
	sums := r.body["provider_summaries"].(map[string]any)
	if len(sums) != 5 || sums[f.uuid["pf1"]].(map[string]any)["parent_provider_uuid"] != f.uuid["numa1"] ||
		sums[f.uuid["pf1"]].(map[string]any)["root_provider_uuid"] != f.uuid["cn"] {
		t.Errorf("summaries: %s", r.raw)
	}
	// Usage is taken into account across groups.
	f.tc.allocate(t, consumer1, nil, map[string]map[string]int{f.uuid["pf1"]: {"SRIOV_NET_VF": 3}}).want(t, http.StatusNoContent)
	if got, _ := f.query(t, "1.29", "resources=SRIOV_NET_VF:2&required=CUSTOM_PHYSNET_A"); !slices.Equal(got, []string{"pf0(SRIOV_NET_VF:2)"}) {
		t.Errorf("after allocation: %v", got)
	}
}

func TestCandidatesSharing(t *testing.T) {
	tc := newTestCloud(t)
	f := newFleet(tc)
	agg := "66666666-6666-6666-6666-666666666666"
	f.add(t, "cn1", "", map[string]any{"VCPU": inv(8)})
	f.add(t, "cn2", "", map[string]any{"VCPU": inv(8), "DISK_GB": inv(50)})
	f.add(t, "cn3", "", map[string]any{"VCPU": inv(8)})
	f.add(t, "nfs", "", map[string]any{"DISK_GB": inv(1000)}, "MISC_SHARES_VIA_AGGREGATE")
	for _, n := range []string{"cn1", "cn2", "nfs"} {
		u := f.uuid[n]
		tc.do(t, "1.19", "PUT", "/resource_providers/"+u+"/aggregates",
			map[string]any{"aggregates": []string{agg}, "resource_provider_generation": tc.generation(t, u)}).want(t, http.StatusOK)
	}
	got, _ := f.query(t, "1.29", "resources=VCPU:1,DISK_GB:10")
	want := []string{"cn1(VCPU:1)+nfs(DISK_GB:10)", "cn2(DISK_GB:10,VCPU:1)", "cn2(VCPU:1)+nfs(DISK_GB:10)"}
	if !slices.Equal(got, want) {
		t.Errorf("sharing:\n got  %v\n want %v", got, want)
	}
	got, _ = f.query(t, "1.29", "resources=VCPU:1,DISK_GB:100")
	if want := []string{"cn1(VCPU:1)+nfs(DISK_GB:100)", "cn2(VCPU:1)+nfs(DISK_GB:100)"}; !slices.Equal(got, want) {
		t.Errorf("sharing, too big for local disk:\n got  %v\n want %v", got, want)
	}
	// The disk alone: the sharing provider serves every tree it shares with once.
	got, _ = f.query(t, "1.29", "resources=DISK_GB:100")
	if want := []string{"nfs(DISK_GB:100)"}; !slices.Equal(got, want) {
		t.Errorf("sharing only: %v", got)
	}
}

// TestSnapshotAcrossReplicas checks that a structural write made through one Service is
// seen by the next search of another Service on the same database, as another replica
// would see it.
func TestSnapshotAcrossReplicas(t *testing.T) {
	tc := newTestCloud(t)
	other, err := New(t.Context(), tc.db, policy.New(nil, nil), Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	before, err := other.currentSnapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	u := tc.createProvider(t, "cn", "")
	tc.setInventory(t, u, map[string]any{"VCPU": inv(4)})
	after, err := other.currentSnapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if before == after || after.providers[u] == nil || len(after.byRC["VCPU"]) != 1 {
		t.Fatalf("the other replica's snapshot missed the write")
	}
	again, _ := other.currentSnapshot(t.Context())
	if again != after {
		t.Errorf("snapshot reloaded without a write")
	}
	// Claims do not move the revision (usage is read live).
	tc.allocate(t, consumer1, nil, map[string]map[string]int{u: {"VCPU": 1}}).want(t, http.StatusNoContent)
	if s, _ := other.currentSnapshot(t.Context()); s != after {
		t.Errorf("a claim reloaded the snapshot")
	}
}
