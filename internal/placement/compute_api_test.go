package placement

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// computeNode returns a compute provider with the usual inventories.
func computeNode(i int, vcpus, ramMB, diskGB int64) ComputeProvider {
	return ComputeProvider{
		UUID: fmt.Sprintf("c0000000-0000-4000-8000-%012d", i), Name: fmt.Sprintf("host-%d", i),
		Inventories: map[string]ProviderInventory{
			"VCPU":      {Total: vcpus, AllocationRatio: 16},
			"MEMORY_MB": {Total: ramMB, Reserved: 512, AllocationRatio: 1.5},
			"DISK_GB":   {Total: diskGB, AllocationRatio: 1},
		},
		Traits: []string{"COMPUTE_NET_ATTACH_INTERFACE", "CUSTOM_FAKE_DRIVER", "NOT_A_TRAIT"},
	}
}

func TestComputeProviderEnsure(t *testing.T) {
	tc := newTestCloud(t)
	ctx := context.Background()
	p := computeNode(1, 4, 8192, 100)
	if err := tc.svc.EnsureComputeProvider(ctx, p); err != nil {
		t.Fatal(err)
	}
	r := tc.do(t, "1.39", "GET", "/resource_providers/"+p.UUID+"/inventories", nil).want(t, 200)
	invs := r.body["inventories"].(map[string]any)
	if got := invs["MEMORY_MB"].(map[string]any); got["total"] != 8192.0 || got["reserved"] != 512.0 || got["allocation_ratio"] != 1.5 || got["max_unit"] != 8192.0 {
		t.Fatalf("MEMORY_MB inventory %v", got)
	}
	gen := r.body["resource_provider_generation"]
	traits := tc.do(t, "1.39", "GET", "/resource_providers/"+p.UUID+"/traits", nil).want(t, 200).body["traits"]
	if diff := cmp.Diff([]any{"COMPUTE_NET_ATTACH_INTERFACE", "CUSTOM_FAKE_DRIVER"}, traits); diff != "" {
		t.Fatalf("traits (-want +got):\n%s", diff)
	}
	// An operator's custom trait survives the next report; an unchanged report writes nothing.
	tc.do(t, "1.39", "PUT", "/traits/CUSTOM_GOLD", nil)
	tc.do(t, "1.39", "PUT", "/resource_providers/"+p.UUID+"/traits", map[string]any{
		"resource_provider_generation": gen, "traits": []string{"COMPUTE_NET_ATTACH_INTERFACE", "CUSTOM_FAKE_DRIVER", "CUSTOM_GOLD"}}).want(t, 200)
	before := tc.do(t, "1.39", "GET", "/resource_providers/"+p.UUID, nil).want(t, 200).body["generation"]
	if err := tc.svc.EnsureComputeProvider(ctx, p); err != nil {
		t.Fatal(err)
	}
	if after := tc.do(t, "1.39", "GET", "/resource_providers/"+p.UUID, nil).want(t, 200).body["generation"]; after != before {
		t.Fatalf("generation moved on an unchanged report: %v -> %v", before, after)
	}
	p.Inventories["VCPU"] = ProviderInventory{Total: 8, AllocationRatio: 16}
	if err := tc.svc.EnsureComputeProvider(ctx, p); err != nil {
		t.Fatal(err)
	}
	invs = tc.do(t, "1.39", "GET", "/resource_providers/"+p.UUID+"/inventories", nil).want(t, 200).body["inventories"].(map[string]any)
	if invs["VCPU"].(map[string]any)["total"] != 8.0 {
		t.Fatalf("VCPU not updated: %v", invs["VCPU"])
	}
	traits = tc.do(t, "1.39", "GET", "/resource_providers/"+p.UUID+"/traits", nil).want(t, 200).body["traits"]
	if len(traits.([]any)) != 3 {
		t.Fatalf("operator trait lost: %v", traits)
	}
	// Another provider may not take the name.
	q := computeNode(2, 1, 1024, 10)
	q.Name = p.Name
	if err := tc.svc.EnsureComputeProvider(ctx, q); err == nil {
		t.Fatal("duplicate name accepted")
	}
}

func TestComputeCandidatesClaimMoveDelete(t *testing.T) {
	tc := newTestCloud(t)
	ctx := context.Background()
	a, b := computeNode(1, 2, 2560, 20), computeNode(2, 2, 4608, 20)
	for _, p := range []ComputeProvider{a, b} {
		if err := tc.svc.EnsureComputeProvider(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	flavor := map[string]int64{"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 10}
	cands, err := tc.svc.AllocationCandidates(ctx, CandidateRequest{Resources: flavor})
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 2 || cands[0].Provider != a.UUID || cands[1].Provider != b.UUID {
		t.Fatalf("candidates %+v", cands)
	}
	if s := cands[0].Summary["MEMORY_MB"]; s.Capacity != 3072 || s.Used != 0 {
		t.Fatalf("summary %+v", s)
	}
	// in_tree and traits narrow the answer; an unknown trait is an error.
	cands, _ = tc.svc.AllocationCandidates(ctx, CandidateRequest{Resources: flavor, InTree: b.UUID})
	if len(cands) != 1 || cands[0].Provider != b.UUID {
		t.Fatalf("in_tree candidates %+v", cands)
	}
	cands, _ = tc.svc.AllocationCandidates(ctx, CandidateRequest{Resources: flavor, Forbidden: []string{"CUSTOM_FAKE_DRIVER"}})
	if len(cands) != 0 {
		t.Fatalf("forbidden trait ignored: %+v", cands)
	}
	if _, err := tc.svc.AllocationCandidates(ctx, CandidateRequest{Resources: flavor, Required: []string{"CUSTOM_NOPE"}}); err == nil {
		t.Fatal("unknown trait accepted")
	}

	// Concurrent claims never overcommit: host a fits one such instance (3072 MiB
	// capacity), so of ten claims exactly one succeeds.
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := tc.svc.WriteAllocations(ctx, nil, []ConsumerAllocations{{
				Consumer: fmt.Sprintf("10000000-0000-4000-8000-%012d", i), ProjectID: "p", UserID: "u",
				ConsumerType: ConsumerTypeInstance, CheckGeneration: true,
				Allocations: map[string]map[string]int64{a.UUID: flavor}}})
			if err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if !errors.Is(err, ErrAllocationConflict) {
				t.Errorf("claim: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d claims succeeded on a host with room for one", ok)
	}
	consumers, err := tc.svc.ProviderConsumers(ctx, a.UUID)
	if err != nil || len(consumers) != 1 {
		t.Fatalf("consumers %v %v", consumers, err)
	}
	inst := consumers[0]
	cur, err := tc.svc.ConsumerAllocations(ctx, nil, inst)
	if err != nil || cur.Generation == nil || cur.Allocations[a.UUID]["MEMORY_MB"] != 2048 {
		t.Fatalf("consumer allocations %+v %v", cur, err)
	}
	// A stale generation is a conflict.
	stale := *cur.Generation - 1
	err = tc.svc.WriteAllocations(ctx, nil, []ConsumerAllocations{{Consumer: inst, ProjectID: "p", UserID: "u",
		Generation: &stale, CheckGeneration: true, Allocations: map[string]map[string]int64{b.UUID: flavor}}})
	if !errors.Is(err, ErrAllocationConflict) {
		t.Fatalf("stale generation: %v", err)
	}
	// Resize move: the instance's allocation goes to the migration, the instance claims b.
	mig := "20000000-0000-4000-8000-000000000001"
	err = tc.svc.WriteAllocations(ctx, nil, []ConsumerAllocations{
		{Consumer: mig, ProjectID: "p", UserID: "u", ConsumerType: ConsumerTypeMigration, CheckGeneration: true, Allocations: cur.Allocations},
		{Consumer: inst, ProjectID: "p", UserID: "u", Generation: cur.Generation, CheckGeneration: true,
			Allocations: map[string]map[string]int64{b.UUID: {"VCPU": 2, "MEMORY_MB": 4096, "DISK_GB": 20}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ua, _ := tc.svc.ProviderUsages(ctx, a.UUID)
	ub, _ := tc.svc.ProviderUsages(ctx, b.UUID)
	if ua["MEMORY_MB"] != 2048 || ub["MEMORY_MB"] != 4096 {
		t.Fatalf("usages after move: a %v b %v", ua, ub)
	}
	if c, _ := tc.svc.ProviderConsumers(ctx, a.UUID); len(c) != 1 || c[0] != mig {
		t.Fatalf("consumers of a after move: %v", c)
	}
	// Confirm: the migration's allocations go away.
	if err := tc.svc.DeleteAllocations(ctx, nil, mig); err != nil {
		t.Fatal(err)
	}
	if err := tc.svc.DeleteAllocations(ctx, nil, mig); err != nil {
		t.Fatalf("deleting no allocations: %v", err)
	}
	ua, _ = tc.svc.ProviderUsages(ctx, a.UUID)
	if ua["MEMORY_MB"] != 0 {
		t.Fatalf("usage after delete %v", ua)
	}
}

// TestFlatCandidatesMatchSearch checks the flat fast path against the general search on
// the same snapshot: same providers, same order, for traits, aggregates, in_tree and
// capacity limits.
func TestFlatCandidatesMatchSearch(t *testing.T) {
	tc := newTestCloud(t)
	ctx := context.Background()
	var ps []ComputeProvider
	for i := range 6 {
		p := computeNode(i, int64(1+i), int64(1024*(i+1)), int64(10*(i+1)))
		if i%2 == 0 {
			p.Traits = append(p.Traits, "HW_CPU_X86_AVX2")
		}
		if err := tc.svc.EnsureComputeProvider(ctx, p); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	agg := "a0000000-0000-4000-8000-000000000001"
	for _, p := range ps[:3] {
		gen := tc.do(t, "1.39", "GET", "/resource_providers/"+p.UUID, nil).want(t, 200).body["generation"]
		tc.do(t, "1.39", "PUT", "/resource_providers/"+p.UUID+"/aggregates", map[string]any{
			"aggregates": []string{agg}, "resource_provider_generation": gen}).want(t, 200)
	}
	reqs := []CandidateRequest{
		{Resources: map[string]int64{"VCPU": 1, "MEMORY_MB": 512}},
		{Resources: map[string]int64{"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}},
		{Resources: map[string]int64{"VCPU": 1}, Required: []string{"HW_CPU_X86_AVX2"}},
		{Resources: map[string]int64{"VCPU": 1}, Forbidden: []string{"HW_CPU_X86_AVX2"}},
		{Resources: map[string]int64{"VCPU": 1}, MemberOf: [][]string{{agg}}},
		{Resources: map[string]int64{"VCPU": 1}, MemberOf: [][]string{{agg}}, Required: []string{"HW_CPU_X86_AVX2"}},
		{Resources: map[string]int64{"VCPU": 1}, InTree: ps[4].UUID},
		{Resources: map[string]int64{"VCPU": 1000}},
		{Resources: map[string]int64{"VCPU": 1}, Limit: 2},
	}
	for n, req := range reqs {
		fast, err := tc.svc.AllocationCandidates(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		snap, _ := tc.svc.currentSnapshot(ctx)
		used, _ := liveUsage(ctx, tc.svc.db, snap)
		g := &requestGroup{inTree: req.InTree, forbidden: req.Forbidden, memberOf: req.MemberOf}
		for _, rc := range sortedKeys(req.Resources) {
			g.resources = append(g.resources, resourceAmount{rc: rc, amount: req.Resources[rc]})
		}
		for _, tr := range req.Required {
			g.required = append(g.required, []string{tr})
		}
		res, err := findCandidates(snap, used, []*requestGroup{g}, requestWide{limit: req.Limit, nestedAware: true})
		if err != nil {
			t.Fatal(err)
		}
		var want, got []string
		for _, a := range res.areqs {
			want = append(want, a.anchor)
		}
		for _, c := range fast {
			got = append(got, c.Provider)
			if c.Allocations[c.Provider]["VCPU"] != req.Resources["VCPU"] {
				t.Fatalf("request %d: allocation %v", n, c.Allocations)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("request %d (-search +fast):\n%s", n, diff)
		}
	}
}
