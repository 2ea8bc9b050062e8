package placement

import (
	"net/http"
	"strings"
	"testing"
)

func TestInventories(t *testing.T) {
	tc := newTestCloud(t)
	u := tc.createProvider(t, "cn", "")
	base := "/resource_providers/" + u + "/inventories"

	r := tc.do(t, "1.0", "GET", base, nil).want(t, http.StatusOK)
	if r.num("resource_provider_generation") != 0 || len(r.body["inventories"].(map[string]any)) != 0 {
		t.Errorf("empty inventories: %s", r.raw)
	}
	r = tc.do(t, "1.0", "GET", "/resource_providers/nope/inventories", nil).want(t, http.StatusNotFound)
	if !strings.Contains(r.detail(), "No resource provider with uuid nope found") {
		t.Errorf("missing provider: %s", r.raw)
	}

	// PUT all, with Placement's defaults filled in.
	r = tc.do(t, "1.0", "PUT", base, map[string]any{"resource_provider_generation": 0, "inventories": map[string]any{
		"VCPU":      inv(8, "allocation_ratio", 16.0, "reserved", 1),
		"MEMORY_MB": inv(4096, "max_unit", 2048, "step_size", 256),
	}}).want(t, http.StatusOK)
	if r.num("resource_provider_generation") != 1 {
		t.Errorf("generation after PUT: %s", r.raw)
	}
	if !strings.Contains(r.raw, `"allocation_ratio":16.0`) || !strings.Contains(r.raw, `"max_unit":2147483647`) {
		t.Errorf("defaults and float ratio: %s", r.raw)
	}
	// Stale generation.
	r = tc.do(t, "1.23", "PUT", base, map[string]any{"resource_provider_generation": 0, "inventories": map[string]any{}}).
		want(t, http.StatusConflict)
	if r.errCode() != codeConcurrentUpdate || !strings.Contains(r.detail(), "resource provider generation conflict") {
		t.Errorf("stale generation: %s", r.raw)
	}
	// Bad bodies.
	for _, body := range []map[string]any{
		{"resource_provider_generation": 1, "inventories": map[string]any{"VCPU": inv(0)}},
		{"resource_provider_generation": 1, "inventories": map[string]any{"VCPU": map[string]any{"reserved": 1}}},
		{"resource_provider_generation": 1, "inventories": map[string]any{"VCPU": inv(1, "bogus", 1)}},
		{"resource_provider_generation": 1, "inventories": map[string]any{"VCPU": inv(1, "step_size", 0)}},
		{"inventories": map[string]any{}},
	} {
		if r := tc.do(t, "1.0", "PUT", base, body); r.code != http.StatusBadRequest || !strings.Contains(r.detail(), "JSON does not validate") {
			t.Errorf("%v: %s", body, r.raw)
		}
	}
	r = tc.do(t, "1.0", "PUT", base, map[string]any{"resource_provider_generation": 1,
		"inventories": map[string]any{"CUSTOM_NOPE": inv(1)}}).want(t, http.StatusBadRequest)
	if !strings.Contains(r.detail(), "Unknown resource class in inventory for resource provider "+u+": No such resource class CUSTOM_NOPE.") {
		t.Errorf("unknown class: %s", r.raw)
	}
	// reserved == total is refused before 1.26 and allowed from 1.26.
	r = tc.do(t, "1.25", "PUT", base+"/VCPU", map[string]any{"resource_provider_generation": 1, "total": 8, "reserved": 8}).
		want(t, http.StatusBadRequest)
	if !strings.Contains(r.detail(), "The reserved value is greater than or equal to total.") {
		t.Errorf("reserved == total at 1.25: %s", r.raw)
	}
	tc.do(t, "1.26", "PUT", base+"/VCPU", map[string]any{"resource_provider_generation": 1, "total": 8, "reserved": 9}).
		want(t, http.StatusBadRequest)
	r = tc.do(t, "1.26", "PUT", base+"/VCPU", map[string]any{"resource_provider_generation": 1, "total": 8, "reserved": 8}).
		want(t, http.StatusOK)
	if r.num("resource_provider_generation") != 2 || r.num("reserved") != 8 || r.num("max_unit") != maxInt {
		t.Errorf("PUT one: %s", r.raw)
	}
	// PUT one for a class the provider has no inventory of is a 400; for an unknown class a 404.
	r = tc.do(t, "1.26", "PUT", base+"/DISK_GB", map[string]any{"resource_provider_generation": 2, "total": 8}).want(t, http.StatusBadRequest)
	if !strings.Contains(r.detail(), "No inventory of class DISK_GB found") {
		t.Errorf("PUT one missing: %s", r.raw)
	}
	tc.do(t, "1.26", "PUT", base+"/CUSTOM_NOPE", map[string]any{"resource_provider_generation": 2, "total": 8}).want(t, http.StatusNotFound)
	// GET one.
	r = tc.do(t, "1.0", "GET", base+"/MEMORY_MB", nil).want(t, http.StatusOK)
	if r.num("step_size") != 256 || r.num("resource_provider_generation") != 2 {
		t.Errorf("GET one: %s", r.raw)
	}
	r = tc.do(t, "1.0", "GET", base+"/DISK_GB", nil).want(t, http.StatusNotFound)
	if !strings.Contains(r.detail(), "No inventory of class DISK_GB for "+u) {
		t.Errorf("GET one missing: %s", r.raw)
	}
	// POST one: 201 with a Location; a class already present is a conflict.
	r = tc.do(t, "1.0", "POST", base, map[string]any{"resource_class": "DISK_GB", "total": 100}).want(t, http.StatusCreated)
	if r.header.Get("Location") != "http://example.com/placement/resource_providers/"+u+"/inventories/DISK_GB" || r.num("resource_provider_generation") != 3 {
		t.Errorf("POST one: %s %v", r.raw, r.header)
	}
	tc.do(t, "1.0", "POST", base, map[string]any{"resource_class": "DISK_GB", "total": 100}).want(t, http.StatusConflict)
	tc.do(t, "1.0", "POST", base, map[string]any{"resource_class": "CUSTOM_NOPE", "total": 100}).want(t, http.StatusBadRequest)

	// Inventory in use cannot be removed.
	tc.allocate(t, "11111111-1111-1111-1111-111111111111", nil, map[string]map[string]int{u: {"DISK_GB": 10}}).want(t, http.StatusNoContent)
	r = tc.do(t, "1.23", "DELETE", base+"/DISK_GB", nil).want(t, http.StatusConflict)
	if !strings.Contains(r.detail(), "Inventory for 'DISK_GB' on resource provider '"+u+"' in use.") {
		t.Errorf("DELETE one in use: %s", r.raw)
	}
	gen := tc.generation(t, u)
	r = tc.do(t, "1.23", "PUT", base, map[string]any{"resource_provider_generation": gen, "inventories": map[string]any{"VCPU": inv(8)}}).
		want(t, http.StatusConflict)
	if r.errCode() != codeInventoryInUse {
		t.Errorf("PUT removing used class: %s", r.raw)
	}
	r = tc.do(t, "1.23", "DELETE", base, nil).want(t, http.StatusConflict)
	if r.errCode() != codeInventoryInUse {
		t.Errorf("DELETE all in use: %s", r.raw)
	}
	// Lowering total below usage is allowed (Placement only warns).
	tc.do(t, "1.26", "PUT", base+"/DISK_GB", map[string]any{"resource_provider_generation": gen, "total": 5}).want(t, http.StatusOK)
	tc.do(t, "1.0", "DELETE", "/allocations/11111111-1111-1111-1111-111111111111", nil).want(t, http.StatusNoContent)
	tc.do(t, "1.0", "DELETE", base+"/DISK_GB", nil).want(t, http.StatusNoContent)
	r = tc.do(t, "1.0", "DELETE", base+"/DISK_GB", nil).want(t, http.StatusNotFound)
	if !strings.Contains(r.detail(), "No inventory of class DISK_GB found for delete") {
		t.Errorf("DELETE one missing: %s", r.raw)
	}
	tc.do(t, "1.5", "DELETE", base, nil).want(t, http.StatusNoContent)
	r = tc.do(t, "1.5", "GET", base, nil).want(t, http.StatusOK)
	if len(r.body["inventories"].(map[string]any)) != 0 {
		t.Errorf("after DELETE all: %s", r.raw)
	}
	checkUsage(t, tc)
}

func TestProviderUsages(t *testing.T) {
	tc := newTestCloud(t)
	u := tc.createProvider(t, "cn", "")
	tc.setInventory(t, u, map[string]any{"VCPU": inv(8), "MEMORY_MB": inv(1024)})
	tc.allocate(t, "11111111-1111-1111-1111-111111111111", nil, map[string]map[string]int{u: {"VCPU": 2}}).want(t, http.StatusNoContent)
	tc.allocate(t, "22222222-2222-2222-2222-222222222222", nil, map[string]map[string]int{u: {"VCPU": 3, "MEMORY_MB": 512}}).
		want(t, http.StatusNoContent)
	r := tc.do(t, "1.0", "GET", "/resource_providers/"+u+"/usages", nil).want(t, http.StatusOK)
	if r.num("usages", "VCPU") != 5 || r.num("usages", "MEMORY_MB") != 512 {
		t.Errorf("usages: %s", r.raw)
	}
	tc.do(t, "1.0", "GET", "/resource_providers/nope/usages", nil).want(t, http.StatusNotFound)
}
