package placement

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestReshaper(t *testing.T) {
	tc := newTestCloud(t)
	cn := tc.createProvider(t, "cn", "")
	tc.setInventory(t, cn, map[string]any{"VCPU": inv(8), "VGPU": inv(4)})
	tc.allocate(t, consumer1, nil, map[string]map[string]int{cn: {"VCPU": 2, "VGPU": 1}}).want(t, http.StatusNoContent)
	gpu := tc.createProvider(t, "cn_gpu0", cn)
	cnGen := tc.generation(t, cn)

	body := func(vgpu int) map[string]any {
		return map[string]any{
			"inventories": map[string]any{
				cn:  map[string]any{"resource_provider_generation": cnGen, "inventories": map[string]any{"VCPU": inv(8)}},
				gpu: map[string]any{"resource_provider_generation": 0, "inventories": map[string]any{"VGPU": inv(4)}},
			},
			"allocations": map[string]any{
				consumer1: map[string]any{"allocations": map[string]any{
					cn:  map[string]any{"resources": map[string]any{"VCPU": 2}},
					gpu: map[string]any{"resources": map[string]any{"VGPU": vgpu}},
				}, "project_id": "p1", "user_id": "u1", "consumer_generation": 1},
			},
		}
	}
	// Too many VGPUs for the new provider: nothing changes.
	r := tc.doAs(t, tc.serviceToken, "1.30", "POST", "/reshaper", body(5)).want(t, http.StatusConflict)
	if !strings.Contains(r.detail(), "Unable to allocate inventory") {
		t.Errorf("failed reshape: %s", r.raw)
	}
	if g := tc.generation(t, cn); g != cnGen {
		t.Errorf("generation moved after a failed reshape: %d -> %d", cnGen, g)
	}
	r = tc.do(t, "1.30", "GET", "/resource_providers/"+cn+"/inventories", nil)
	if r.get("inventories", "VGPU") == nil {
		t.Errorf("inventory changed after a failed reshape: %s", r.raw)
	}
	// Stale generation.
	stale := body(1)
	stale["inventories"].(map[string]any)[gpu].(map[string]any)["resource_provider_generation"] = 7
	r = tc.doAs(t, tc.serviceToken, "1.30", "POST", "/reshaper", stale).want(t, http.StatusConflict)
	if !strings.Contains(r.detail(), "resource provider generation conflict for provider "+gpu+": actual: 0, given: 7") {
		t.Errorf("stale generation: %s", r.raw)
	}
	// The reshape moves the VGPU inventory and its allocation to the child.
	tc.doAs(t, tc.serviceToken, "1.30", "POST", "/reshaper", body(1)).want(t, http.StatusNoContent)
	r = tc.do(t, "1.30", "GET", "/resource_providers/"+cn+"/inventories", nil)
	if r.get("inventories", "VGPU") != nil || r.get("inventories", "VCPU") == nil {
		t.Errorf("root inventory after reshape: %s", r.raw)
	}
	r = tc.do(t, "1.30", "GET", "/resource_providers/"+gpu+"/usages", nil)
	if r.num("usages", "VGPU") != 1 {
		t.Errorf("child usage after reshape: %s", r.raw)
	}
	r = tc.do(t, "1.30", "GET", "/allocations/"+consumer1, nil)
	if r.num("allocations", gpu, "resources", "VGPU") != 1 || r.num("allocations", cn, "resources", "VCPU") != 2 ||
		r.num("consumer_generation") != 2 {
		t.Errorf("allocations after reshape: %s", r.raw)
	}
	// Unknown providers and classes.
	r = tc.doAs(t, tc.serviceToken, "1.30", "POST", "/reshaper", map[string]any{"inventories": map[string]any{
		"99999999-9999-9999-9999-999999999999": map[string]any{"resource_provider_generation": 0, "inventories": map[string]any{}},
	}, "allocations": map[string]any{}}).want(t, http.StatusBadRequest)
	if !strings.Contains(r.detail(), "in inventories not found") {
		t.Errorf("unknown provider: %s", r.raw)
	}
	r = tc.doAs(t, tc.serviceToken, "1.30", "POST", "/reshaper", map[string]any{"inventories": map[string]any{
		gpu: map[string]any{"resource_provider_generation": tc.generation(t, gpu), "inventories": map[string]any{"CUSTOM_NOPE": inv(1)}},
	}, "allocations": map[string]any{}}).want(t, http.StatusBadRequest)
	if !strings.Contains(r.detail(), "malformed reshaper data") {
		t.Errorf("unknown class: %s", r.raw)
	}
	tc.doAs(t, tc.serviceToken, "1.30", "POST", "/reshaper", map[string]any{"inventories": map[string]any{}, "allocations": map[string]any{}}).
		want(t, http.StatusBadRequest)
	checkUsage(t, tc)
}

func TestLastModified(t *testing.T) {
	tc := newTestCloud(t)
	u := tc.createProvider(t, "cn", "")
	for _, path := range []string{"/resource_providers", "/resource_providers/" + u, "/resource_classes", "/traits",
		"/resource_providers/" + u + "/inventories", "/resource_providers/" + u + "/usages", "/allocations/" + consumer1} {
		r := tc.do(t, "1.15", "GET", path, nil).want(t, http.StatusOK)
		lm, err := time.Parse(http.TimeFormat, r.header.Get("Last-Modified"))
		if err != nil || r.header.Get("Cache-Control") != "no-cache" || time.Since(lm) > time.Hour {
			t.Errorf("%s at 1.15: %v", path, r.header)
		}
		if r := tc.do(t, "1.14", "GET", path, nil); r.header.Get("Last-Modified") != "" {
			t.Errorf("%s at 1.14 has Last-Modified", path)
		}
	}
}
