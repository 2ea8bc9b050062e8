package placement

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

const (
	consumer1 = "11111111-1111-1111-1111-111111111111"
	consumer2 = "22222222-2222-2222-2222-222222222222"
	consumer3 = "33333333-3333-3333-3333-333333333333"
)

func TestAllocationShapes(t *testing.T) {
	tc := newTestCloud(t)
	u := tc.createProvider(t, "cn", "")
	tc.setInventory(t, u, map[string]any{"VCPU": inv(8), "DISK_GB": inv(100)})

	// 1.0: a list of {resource_provider, resources}; no project or user.
	tc.do(t, "1.0", "PUT", "/allocations/"+consumer1, map[string]any{"allocations": []any{
		map[string]any{"resource_provider": map[string]any{"uuid": u}, "resources": map[string]any{"VCPU": 1}},
	}}).want(t, http.StatusNoContent)
	r := tc.do(t, "1.12", "GET", "/allocations/"+consumer1, nil).want(t, http.StatusOK)
	if r.get("project_id") != DefaultIncompleteConsumerID || r.num("allocations", u, "resources", "VCPU") != 1 {
		t.Errorf("1.0 allocation read at 1.12: %s", r.raw)
	}
	// 1.8 requires project and user.
	tc.do(t, "1.8", "PUT", "/allocations/"+consumer1, map[string]any{"allocations": []any{
		map[string]any{"resource_provider": map[string]any{"uuid": u}, "resources": map[string]any{"VCPU": 1}},
	}}).want(t, http.StatusBadRequest)
	// 1.12: a dict keyed by provider.
	tc.do(t, "1.12", "PUT", "/allocations/"+consumer1, map[string]any{"allocations": map[string]any{
		u: map[string]any{"resources": map[string]any{"VCPU": 2, "DISK_GB": 10}},
	}, "project_id": "proj", "user_id": "user"}).want(t, http.StatusNoContent)

	for _, tt := range []struct {
		ver                        string
		project, generation, ctype bool
	}{{"1.11", false, false, false}, {"1.12", true, false, false}, {"1.28", true, true, false}, {"1.38", true, true, true}} {
		r := tc.do(t, tt.ver, "GET", "/allocations/"+consumer1, nil).want(t, http.StatusOK)
		_, hasProject := r.body["project_id"]
		_, hasGen := r.body["consumer_generation"]
		_, hasType := r.body["consumer_type"]
		if hasProject != tt.project || hasGen != tt.generation || hasType != tt.ctype {
			t.Errorf("%s: %s", tt.ver, r.raw)
		}
		if r.num("allocations", u, "resources", "DISK_GB") != 10 || r.num("allocations", u, "generation") == 0 {
			t.Errorf("%s allocations: %s", tt.ver, r.raw)
		}
	}
	if r := tc.do(t, "1.38", "GET", "/allocations/"+consumer1, nil); r.get("consumer_type") != "unknown" || r.num("consumer_generation") != 2 {
		t.Errorf("consumer written before 1.38: %s", r.raw)
	}
	// Unknown consumers read as empty allocations, never 404.
	r = tc.do(t, "1.38", "GET", "/allocations/"+consumer2, nil).want(t, http.StatusOK)
	if r.raw != `{"allocations":{}}` {
		t.Errorf("unknown consumer: %s", r.raw)
	}
	// Provider allocations.
	r = tc.do(t, "1.28", "GET", "/resource_providers/"+u+"/allocations", nil).want(t, http.StatusOK)
	if r.num("allocations", consumer1, "resources", "VCPU") != 2 || r.num("allocations", consumer1, "consumer_generation") != 2 {
		t.Errorf("provider allocations: %s", r.raw)
	}
	r = tc.do(t, "1.27", "GET", "/resource_providers/"+u+"/allocations", nil).want(t, http.StatusOK)
	if _, ok := r.get("allocations", consumer1).(map[string]any)["consumer_generation"]; ok {
		t.Errorf("consumer_generation before 1.28: %s", r.raw)
	}
	r = tc.do(t, "1.0", "GET", "/resource_providers/nope/allocations", nil).want(t, http.StatusNotFound)
	if !strings.Contains(r.detail(), "Resource provider 'nope' not found") {
		t.Errorf("provider allocations 404: %s", r.raw)
	}
	// Bad input.
	r = tc.do(t, "1.12", "PUT", "/allocations/not-a-uuid", map[string]any{}).want(t, http.StatusBadRequest)
	if !strings.Contains(r.detail(), "Malformed consumer_uuid: not-a-uuid") {
		t.Errorf("bad consumer uuid: %s", r.raw)
	}
	r = tc.do(t, "1.12", "PUT", "/allocations/"+consumer2, map[string]any{"allocations": map[string]any{
		"99999999-9999-9999-9999-999999999999": map[string]any{"resources": map[string]any{"VCPU": 1}},
	}, "project_id": "p", "user_id": "u"}).want(t, http.StatusBadRequest)
	if !strings.Contains(r.detail(), "Allocation for resource provider '99999999-9999-9999-9999-999999999999' that does not exist.") {
		t.Errorf("missing provider: %s", r.raw)
	}
	r = tc.do(t, "1.12", "PUT", "/allocations/"+consumer2, map[string]any{"allocations": map[string]any{
		u: map[string]any{"resources": map[string]any{"CUSTOM_NOPE": 1}},
	}, "project_id": "p", "user_id": "u"}).want(t, http.StatusBadRequest)
	if !strings.Contains(r.detail(), "Unable to allocate inventory for consumer "+consumer2+": No such resource class CUSTOM_NOPE.") {
		t.Errorf("unknown class: %s", r.raw)
	}
	r = tc.do(t, "1.12", "PUT", "/allocations/"+consumer2, map[string]any{"allocations": map[string]any{
		u: map[string]any{"resources": map[string]any{"MEMORY_MB": 1}},
	}, "project_id": "p", "user_id": "u"}).want(t, http.StatusConflict)
	if !strings.Contains(r.detail(), "Unable to allocate inventory: Inventory for 'MEMORY_MB' on resource provider '"+u+"' invalid.") {
		t.Errorf("no inventory: %s", r.raw)
	}
	// Failed writes leave no consumer behind.
	if r := tc.do(t, "1.38", "GET", "/allocations/"+consumer2, nil); r.raw != `{"allocations":{}}` {
		t.Errorf("consumer after failed writes: %s", r.raw)
	}
	// DELETE.
	tc.do(t, "1.0", "DELETE", "/allocations/"+consumer1, nil).want(t, http.StatusNoContent)
	r = tc.do(t, "1.0", "DELETE", "/allocations/"+consumer1, nil).want(t, http.StatusNotFound)
	if !strings.Contains(r.detail(), "No allocations for consumer '"+consumer1+"'") {
		t.Errorf("delete again: %s", r.raw)
	}
	checkUsage(t, tc)
}

func TestConsumerGenerations(t *testing.T) {
	tc := newTestCloud(t)
	u := tc.createProvider(t, "cn", "")
	tc.setInventory(t, u, map[string]any{"VCPU": inv(8)})
	alloc := map[string]map[string]int{u: {"VCPU": 1}}

	// A new consumer needs a null generation.
	r := tc.allocate(t, consumer1, 5, alloc).want(t, http.StatusConflict)
	if r.errCode() != codeConcurrentUpdate || !strings.Contains(r.detail(), "consumer generation conflict - expected null but got 5") {
		t.Errorf("new consumer with generation: %s", r.raw)
	}
	tc.allocate(t, consumer1, nil, alloc).want(t, http.StatusNoContent)
	r = tc.allocate(t, consumer1, nil, alloc).want(t, http.StatusConflict)
	if !strings.Contains(r.detail(), "consumer generation conflict - expected 1 but got None") {
		t.Errorf("existing consumer with null generation: %s", r.raw)
	}
	tc.allocate(t, consumer1, -1, alloc).want(t, http.StatusConflict)
	tc.allocate(t, consumer1, 1, map[string]map[string]int{u: {"VCPU": 3}}).want(t, http.StatusNoContent)
	r = tc.do(t, "1.28", "GET", "/allocations/"+consumer1, nil)
	if r.num("consumer_generation") != 2 || r.num("allocations", u, "resources", "VCPU") != 3 {
		t.Errorf("after update: %s", r.raw)
	}
	// The consumer generation is required from 1.28.
	r = tc.do(t, "1.28", "PUT", "/allocations/"+consumer1, map[string]any{"allocations": map[string]any{},
		"project_id": "p1", "user_id": "u1"}).want(t, http.StatusBadRequest)
	// Empty allocations with the right generation remove them (the safe delete).
	tc.do(t, "1.28", "PUT", "/allocations/"+consumer1, map[string]any{"allocations": map[string]any{},
		"project_id": "p1", "user_id": "u1", "consumer_generation": 2}).want(t, http.StatusNoContent)
	if r := tc.do(t, "1.28", "GET", "/allocations/"+consumer1, nil); r.raw != `{"allocations":{}}` {
		t.Errorf("after empty PUT: %s", r.raw)
	}
	// Before 1.28 generations are not checked.
	tc.do(t, "1.27", "PUT", "/allocations/"+consumer1, map[string]any{"allocations": map[string]any{
		u: map[string]any{"resources": map[string]any{"VCPU": 1}}}, "project_id": "p1", "user_id": "u1"}).want(t, http.StatusNoContent)
	tc.do(t, "1.27", "PUT", "/allocations/"+consumer1, map[string]any{"allocations": map[string]any{
		u: map[string]any{"resources": map[string]any{"VCPU": 2}}}, "project_id": "p1", "user_id": "u1"}).want(t, http.StatusNoContent)
	// 1.38 requires a consumer type and reports it.
	tc.do(t, "1.38", "PUT", "/allocations/"+consumer1, map[string]any{"allocations": map[string]any{},
		"project_id": "p1", "user_id": "u1", "consumer_generation": 2}).want(t, http.StatusBadRequest)
	tc.do(t, "1.38", "PUT", "/allocations/"+consumer1, map[string]any{"allocations": map[string]any{
		u: map[string]any{"resources": map[string]any{"VCPU": 2}}}, "project_id": "p1", "user_id": "u1", "consumer_generation": 2,
		"consumer_type": "MIGRATION"}).want(t, http.StatusNoContent)
	if r := tc.do(t, "1.38", "GET", "/allocations/"+consumer1, nil); r.get("consumer_type") != "MIGRATION" {
		t.Errorf("consumer type: %s", r.raw)
	}
	// Mappings are accepted (and ignored) from 1.34.
	tc.do(t, "1.34", "PUT", "/allocations/"+consumer1, map[string]any{"allocations": map[string]any{
		u: map[string]any{"resources": map[string]any{"VCPU": 1}}}, "project_id": "p1", "user_id": "u1", "consumer_generation": 3,
		"mappings": map[string]any{"": []string{u}}}).want(t, http.StatusNoContent)
	tc.do(t, "1.33", "PUT", "/allocations/"+consumer1, map[string]any{"allocations": map[string]any{
		u: map[string]any{"resources": map[string]any{"VCPU": 1}}}, "project_id": "p1", "user_id": "u1", "consumer_generation": 4,
		"mappings": map[string]any{"": []string{u}}}).want(t, http.StatusBadRequest)
	checkUsage(t, tc)
}

func TestCapacityMath(t *testing.T) {
	for _, tt := range []struct {
		name   string
		inv    map[string]any
		before int // already allocated by another consumer
		ask    int
		ok     bool
	}{
		{"fits", inv(8), 0, 8, true},
		{"exceeds", inv(8), 0, 9, false},
		{"reserved", inv(8, "reserved", 2), 0, 7, false},
		{"reserved fits", inv(8, "reserved", 2), 0, 6, true},
		{"ratio", inv(4, "allocation_ratio", 16.0), 0, 64, true},
		{"ratio exceeded", inv(4, "allocation_ratio", 16.0), 0, 65, false},
		{"fractional ratio", inv(3, "allocation_ratio", 1.5), 0, 4, true},
		{"fractional ratio exceeded", inv(3, "allocation_ratio", 1.5), 0, 5, false},
		{"ratio and reserved", inv(10, "reserved", 2, "allocation_ratio", 2.0), 10, 6, true},
		{"ratio and reserved exceeded", inv(10, "reserved", 2, "allocation_ratio", 2.0), 10, 7, false},
		{"used", inv(8), 5, 3, true},
		{"used exceeded", inv(8), 5, 4, false},
		{"min_unit", inv(8, "min_unit", 2), 0, 1, false},
		{"max_unit", inv(8, "max_unit", 4), 0, 5, false},
		{"step_size", inv(8, "step_size", 2), 0, 3, false},
		{"step_size fits", inv(8, "step_size", 2), 0, 4, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTestCloud(t)
			u := tc.createProvider(t, "cn", "")
			tc.setInventory(t, u, map[string]any{"VCPU": tt.inv})
			if tt.before > 0 {
				// Another consumer holds some (a class that has step 1 and min 1).
				tc.allocate(t, consumer2, nil, map[string]map[string]int{u: {"VCPU": tt.before}}).want(t, http.StatusNoContent)
			}
			r := tc.allocate(t, consumer1, nil, map[string]map[string]int{u: {"VCPU": tt.ask}})
			if tt.ok {
				r.want(t, http.StatusNoContent)
			} else {
				r.want(t, http.StatusConflict)
				if !strings.Contains(r.detail(), "Unable to allocate inventory: Unable to create allocation for 'VCPU' on resource provider") {
					t.Errorf("detail: %q", r.detail())
				}
			}
			checkUsage(t, tc)
		})
	}
}

func TestOverageReduction(t *testing.T) {
	// A consumer may shrink an allocation on a provider that is over capacity (after its
	// inventory was lowered), but not grow it.
	tc := newTestCloud(t)
	u := tc.createProvider(t, "cn", "")
	tc.setInventory(t, u, map[string]any{"VCPU": inv(8)})
	tc.allocate(t, consumer1, nil, map[string]map[string]int{u: {"VCPU": 6}}).want(t, http.StatusNoContent)
	tc.setInventory(t, u, map[string]any{"VCPU": inv(4)})
	tc.allocate(t, consumer1, 1, map[string]map[string]int{u: {"VCPU": 7}}).want(t, http.StatusConflict)
	tc.allocate(t, consumer1, 1, map[string]map[string]int{u: {"VCPU": 5}}).want(t, http.StatusNoContent)
	checkUsage(t, tc)
}

func TestPostAllocationsAtomic(t *testing.T) {
	tc := newTestCloud(t)
	a := tc.createProvider(t, "a", "")
	b := tc.createProvider(t, "b", "")
	tc.setInventory(t, a, map[string]any{"VCPU": inv(4)})
	tc.setInventory(t, b, map[string]any{"VCPU": inv(4)})
	tc.allocate(t, consumer1, nil, map[string]map[string]int{a: {"VCPU": 2}}).want(t, http.StatusNoContent)
	body := func(gen1 any, second int) map[string]any {
		return map[string]any{
			consumer1: map[string]any{"allocations": map[string]any{b: map[string]any{"resources": map[string]any{"VCPU": 2}}},
				"project_id": "p1", "user_id": "u1", "consumer_generation": gen1, "consumer_type": "INSTANCE"},
			consumer2: map[string]any{"allocations": map[string]any{a: map[string]any{"resources": map[string]any{"VCPU": second}}},
				"project_id": "p2", "user_id": "u2", "consumer_generation": nil, "consumer_type": "INSTANCE"},
		}
	}
	// The second consumer does not fit: nothing is written, the first keeps its allocation.
	tc.do(t, "1.38", "POST", "/allocations", body(1, 5)).want(t, http.StatusConflict)
	r := tc.do(t, "1.38", "GET", "/allocations/"+consumer1, nil)
	if r.num("allocations", a, "resources", "VCPU") != 2 || r.num("consumer_generation") != 1 {
		t.Errorf("after failed POST: %s", r.raw)
	}
	// Moving consumer1 from a to b frees room for consumer2 on a in the same request.
	tc.do(t, "1.38", "POST", "/allocations", body(1, 4)).want(t, http.StatusNoContent)
	r = tc.do(t, "1.38", "GET", "/allocations/"+consumer1, nil)
	if r.num("allocations", b, "resources", "VCPU") != 2 || r.get("allocations", a) != nil {
		t.Errorf("consumer1 after POST: %s", r.raw)
	}
	r = tc.do(t, "1.38", "GET", "/allocations/"+consumer2, nil)
	if r.num("allocations", a, "resources", "VCPU") != 4 || r.get("project_id") != "p2" {
		t.Errorf("consumer2 after POST: %s", r.raw)
	}
	// An empty allocations object removes a consumer's allocations.
	tc.do(t, "1.38", "POST", "/allocations", map[string]any{consumer2: map[string]any{"allocations": map[string]any{},
		"project_id": "p2", "user_id": "u2", "consumer_generation": 1, "consumer_type": "INSTANCE"}}).want(t, http.StatusNoContent)
	if r := tc.do(t, "1.38", "GET", "/allocations/"+consumer2, nil); r.raw != `{"allocations":{}}` {
		t.Errorf("after removal: %s", r.raw)
	}
	tc.do(t, "1.12", "POST", "/allocations", body(nil, 1)).want(t, http.StatusNotFound)
	checkUsage(t, tc)
}

func TestTotalUsages(t *testing.T) {
	tc := newTestCloud(t)
	u := tc.createProvider(t, "cn", "")
	tc.setInventory(t, u, map[string]any{"VCPU": inv(16), "MEMORY_MB": inv(8192)})
	put := func(consumer, project, user, ctype string, vcpu int) {
		body := map[string]any{"allocations": map[string]any{u: map[string]any{"resources": map[string]any{"VCPU": vcpu, "MEMORY_MB": 512}}},
			"project_id": project, "user_id": user, "consumer_generation": nil}
		ver := "1.28"
		if ctype != "" {
			body["consumer_type"], ver = ctype, "1.38"
		}
		tc.do(t, ver, "PUT", "/allocations/"+consumer, body).want(t, http.StatusNoContent)
	}
	put(consumer1, "proj", "alice", "INSTANCE", 2)
	put(consumer2, "proj", "bob", "MIGRATION", 1)
	put(consumer3, "proj", "alice", "", 4)

	r := tc.do(t, "1.9", "GET", "/usages?project_id=proj", nil).want(t, http.StatusOK)
	if r.num("usages", "VCPU") != 7 || r.num("usages", "MEMORY_MB") != 1536 {
		t.Errorf("project usages: %s", r.raw)
	}
	r = tc.do(t, "1.9", "GET", "/usages?project_id=proj&user_id=alice", nil).want(t, http.StatusOK)
	if r.num("usages", "VCPU") != 6 {
		t.Errorf("user usages: %s", r.raw)
	}
	r = tc.do(t, "1.38", "GET", "/usages?project_id=proj", nil).want(t, http.StatusOK)
	if r.num("usages", "INSTANCE", "VCPU") != 2 || r.num("usages", "INSTANCE", "consumer_count") != 1 ||
		r.num("usages", "MIGRATION", "VCPU") != 1 || r.num("usages", "unknown", "VCPU") != 4 {
		t.Errorf("usages by consumer type: %s", r.raw)
	}
	r = tc.do(t, "1.38", "GET", "/usages?project_id=proj&consumer_type=all", nil).want(t, http.StatusOK)
	if r.num("usages", "all", "VCPU") != 7 || r.num("usages", "all", "consumer_count") != 3 {
		t.Errorf("consumer_type=all: %s", r.raw)
	}
	r = tc.do(t, "1.38", "GET", "/usages?project_id=proj&consumer_type=unknown", nil).want(t, http.StatusOK)
	if r.num("usages", "unknown", "VCPU") != 4 || r.num("usages", "unknown", "consumer_count") != 1 {
		t.Errorf("consumer_type=unknown: %s", r.raw)
	}
	r = tc.do(t, "1.38", "GET", "/usages?project_id=proj&consumer_type=MIGRATION", nil).want(t, http.StatusOK)
	if len(r.body["usages"].(map[string]any)) != 1 || r.num("usages", "MIGRATION", "consumer_count") != 1 {
		t.Errorf("consumer_type=MIGRATION: %s", r.raw)
	}
	if r := tc.do(t, "1.38", "GET", "/usages?project_id=other", nil).want(t, http.StatusOK); r.raw != `{"usages":{}}` {
		t.Errorf("empty usages: %s", r.raw)
	}
	tc.do(t, "1.9", "GET", "/usages", nil).want(t, http.StatusBadRequest)
	tc.do(t, "1.9", "GET", "/usages?project_id=p&consumer_type=INSTANCE", nil).want(t, http.StatusBadRequest)
	tc.do(t, "1.38", "GET", "/usages?project_id=p&consumer_type=lower", nil).want(t, http.StatusBadRequest)
	tc.do(t, "1.8", "GET", "/usages?project_id=proj", nil).want(t, http.StatusNotFound)
}

func TestPolicy(t *testing.T) {
	tc := newTestCloud(t)
	r := tc.doAs(t, tc.demoToken, "1.23", "GET", "/resource_providers", nil).want(t, http.StatusForbidden)
	if !strings.Contains(r.detail(), "Policy does not allow placement:resource_providers:list to be performed.") {
		t.Errorf("demo list: %s", r.raw)
	}
	tc.doAs(t, tc.demoToken, "1.23", "POST", "/resource_providers", map[string]any{"name": "x"}).want(t, http.StatusForbidden)
	tc.doAs(t, tc.demoToken, "1.23", "GET", "/allocation_candidates?resources=VCPU:1", nil).want(t, http.StatusForbidden)
	// Readers may read their own project's usages.
	var project string
	if err := tc.db.QueryRowContext(t.Context(), `SELECT id FROM projects WHERE name = 'demo'`).Scan(&project); err != nil {
		t.Fatal(err)
	}
	tc.doAs(t, tc.demoToken, "1.9", "GET", "/usages?project_id="+project, nil).want(t, http.StatusOK)
	tc.doAs(t, tc.demoToken, "1.9", "GET", "/usages?project_id=someone-else", nil).want(t, http.StatusForbidden)
	tc.doAs(t, "", "1.9", "GET", "/resource_providers", nil).want(t, http.StatusUnauthorized)
	// The version document needs no token.
	tc.doAs(t, "", "", "GET", "", nil).want(t, http.StatusOK)
	// Services may use every API; system-scoped tokens none (scope_types ['project']).
	tc.doAs(t, tc.serviceToken, "1.23", "GET", "/resource_providers", nil).want(t, http.StatusOK)
	tc.doAs(t, tc.systemToken, "1.23", "GET", "/resource_providers", nil).want(t, http.StatusForbidden)
}

// TestConcurrentClaims races many consumers for a provider that can hold only some of
// them: exactly that many succeed and the provider is never overcommitted.
func TestConcurrentClaims(t *testing.T) {
	tc := newTestCloud(t)
	u := tc.createProvider(t, "cn", "")
	// 10 VCPUs, 2 per claim: 5 claims fit.
	tc.setInventory(t, u, map[string]any{"VCPU": inv(8, "reserved", 2, "allocation_ratio", 1.5), "MEMORY_MB": inv(1 << 20)})
	const n = 40
	var ok, conflict atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			consumer := fmt.Sprintf("00000000-0000-0000-0000-%012d", i+1)
			r := tc.allocate(t, consumer, nil, map[string]map[string]int{u: {"VCPU": 2, "MEMORY_MB": 1}})
			switch r.code {
			case http.StatusNoContent:
				ok.Add(1)
			case http.StatusConflict:
				conflict.Add(1)
			default:
				t.Errorf("claim %d: %d %s", i, r.code, r.raw)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 4 || conflict.Load() != n-4 {
		// (8-2)*1.5 = 9 VCPUs: four claims of 2.
		t.Errorf("%d claims succeeded, %d conflicted; want 4 and %d", ok.Load(), conflict.Load(), n-4)
	}
	r := tc.do(t, "1.0", "GET", "/resource_providers/"+u+"/usages", nil)
	if r.num("usages", "VCPU") != 8 {
		t.Errorf("usage after the race: %s", r.raw)
	}
	checkUsage(t, tc)

	// Concurrent updates of one consumer with the same generation: one wins.
	tc.do(t, "1.0", "DELETE", "/allocations/"+consumer1, nil)
	for _, r := range []resp{tc.do(t, "1.28", "GET", "/resource_providers/"+u+"/allocations", nil)} {
		for c := range r.body["allocations"].(map[string]any) {
			tc.do(t, "1.0", "DELETE", "/allocations/"+c, nil).want(t, http.StatusNoContent)
		}
	}
	tc.allocate(t, consumer1, nil, map[string]map[string]int{u: {"VCPU": 1}}).want(t, http.StatusNoContent)
	var won atomic.Int32
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := tc.allocate(t, consumer1, 1, map[string]map[string]int{u: {"VCPU": 2, "MEMORY_MB": 1}})
			if r.code == http.StatusNoContent {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Errorf("%d updates with one generation succeeded", won.Load())
	}
	checkUsage(t, tc)
}

// TestConcurrentMixedWrites runs claims spanning several providers (named in random
// order), allocation deletes, inventory and trait updates and reshaper-free moves at once:
// no request may fail with a 5xx (no deadlock or serialization failure escapes), and the
// usage columns must equal the allocations afterwards.
func TestConcurrentMixedWrites(t *testing.T) {
	tc := newTestCloud(t)
	var rps []string
	for i := range 4 {
		u := tc.createProvider(t, fmt.Sprintf("cn%d", i), "")
		tc.setInventory(t, u, map[string]any{"VCPU": inv(16), "MEMORY_MB": inv(8192)})
		rps = append(rps, u)
	}
	const workers, rounds = 12, 15
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				consumer := fmt.Sprintf("00000000-0000-0000-%04d-%012d", w, i%3)
				a, b := rps[(w+i)%len(rps)], rps[(w+2*i+1)%len(rps)]
				var r resp
				switch (w + i) % 5 {
				case 0, 1:
					r = tc.do(t, "1.27", "PUT", "/allocations/"+consumer, map[string]any{"allocations": map[string]any{
						a: map[string]any{"resources": map[string]any{"VCPU": 1, "MEMORY_MB": 64}},
						b: map[string]any{"resources": map[string]any{"VCPU": 1}},
					}, "project_id": "p", "user_id": "u"})
				case 2:
					r = tc.do(t, "1.0", "DELETE", "/allocations/"+consumer, nil)
				case 3:
					gen := tc.do(t, "1.0", "GET", "/resource_providers/"+a+"/inventories", nil).num("resource_provider_generation")
					r = tc.do(t, "1.26", "PUT", "/resource_providers/"+a+"/inventories", map[string]any{
						"resource_provider_generation": gen,
						"inventories":                  map[string]any{"VCPU": inv(16), "MEMORY_MB": inv(8192, "max_unit", 4096+i%2)}})
				case 4:
					r = tc.do(t, "1.38", "POST", "/allocations", map[string]any{
						consumer: map[string]any{"allocations": map[string]any{b: map[string]any{"resources": map[string]any{"MEMORY_MB": 32}}},
							"project_id": "p", "user_id": "u", "consumer_generation": nil, "consumer_type": "INSTANCE"},
					})
				}
				if r.code >= 500 {
					t.Errorf("worker %d round %d: %d %s", w, i, r.code, r.raw)
				}
			}
		}()
	}
	wg.Wait()
	checkUsage(t, tc)
	for _, u := range rps {
		r := tc.do(t, "1.0", "GET", "/resource_providers/"+u+"/usages", nil)
		if r.num("usages", "VCPU") > 16 {
			t.Errorf("provider %s overcommitted: %s", u, r.raw)
		}
	}
}
