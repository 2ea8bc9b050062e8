package identity

import (
	"net/http"
	"testing"
)

func TestPoliciesCRUD(t *testing.T) {
	tc := newTestCloud(t)

	p := extAdmin(t, tc, "POST", "/v3/policies", map[string]any{"policy": map[string]any{
		"blob": `{"default": ""}`, "type": "application/json", "project_id": "p1", "id": "ignored"}}, http.StatusCreated)["policy"].(map[string]any)
	id, _ := p["id"].(string)
	if !hexID.MatchString(id) || p["blob"] != `{"default": ""}` || p["type"] != "application/json" || p["project_id"] != "p1" {
		t.Fatalf("created = %v", p)
	}
	if p["links"].(map[string]any)["self"] != "http://example.com/v3/policies/"+id {
		t.Errorf("links = %v", p["links"])
	}
	other := extAdmin(t, tc, "POST", "/v3/policies", map[string]any{"policy": map[string]any{"blob": "b", "type": "text/plain"}}, http.StatusCreated)["policy"].(map[string]any)

	if ids := extIDs(t, extAdmin(t, tc, "GET", "/v3/policies", nil, http.StatusOK), "policies"); !sameSet(ids, []string{id, other["id"].(string)}) {
		t.Errorf("list = %v", ids)
	}
	if ids := extIDs(t, extAdmin(t, tc, "GET", "/v3/policies?type=text/plain", nil, http.StatusOK), "policies"); !sameSet(ids, []string{other["id"].(string)}) {
		t.Errorf("type filter = %v", ids)
	}

	upd := extAdmin(t, tc, "PATCH", "/v3/policies/"+id, map[string]any{"policy": map[string]any{"type": "x/y", "color": "red"}}, http.StatusOK)["policy"].(map[string]any)
	if upd["type"] != "x/y" || upd["blob"] != `{"default": ""}` || upd["color"] != "red" || upd["project_id"] != "p1" {
		t.Errorf("updated = %v", upd)
	}
	got := extAdmin(t, tc, "GET", "/v3/policies/"+id, nil, http.StatusOK)["policy"].(map[string]any)
	if got["type"] != "x/y" || got["color"] != "red" {
		t.Errorf("get after update = %v", got)
	}

	for name, body := range map[string]map[string]any{
		"no blob":   {"type": "t"},
		"no type":   {"blob": "b"},
		"blob type": {"blob": 5, "type": "t"},
		"long type": {"blob": "b", "type": string(make([]byte, 256))},
	} {
		if resp, out := doJSON(t, tc.handler, "POST", "/v3/policies", tc.adminToken, map[string]any{"policy": body}); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d: %v", name, resp.StatusCode, out)
		}
	}
	extAdmin(t, tc, "PATCH", "/v3/policies/"+id, map[string]any{"policy": map[string]any{}}, http.StatusBadRequest)
	extAdmin(t, tc, "PATCH", "/v3/policies/"+id, map[string]any{"policy": map[string]any{"id": "other"}}, http.StatusBadRequest)
	extCall(t, tc, tc.demoToken, "POST", "/v3/policies", map[string]any{"policy": map[string]any{"blob": "b", "type": "t"}}, http.StatusForbidden)
	extCall(t, tc, tc.demoToken, "GET", "/v3/policies", nil, http.StatusForbidden)

	extAdmin(t, tc, "DELETE", "/v3/policies/"+id, nil, http.StatusNoContent)
	out := extAdmin(t, tc, "GET", "/v3/policies/"+id, nil, http.StatusNotFound)
	if extMessage(out) != "Could not find policy: "+id+"." {
		t.Errorf("404 message = %q", extMessage(out))
	}
	extAdmin(t, tc, "DELETE", "/v3/policies/"+id, nil, http.StatusNotFound)
	extAdmin(t, tc, "PATCH", "/v3/policies/"+id, map[string]any{"policy": map[string]any{"type": "t"}}, http.StatusNotFound)
}

func TestEndpointPolicyAssociations(t *testing.T) {
	tc := newTestCloud(t)
	f := newEPFilterFixture(t, tc)
	// A child region under RegionOne with an endpoint of service 2.
	extAdmin(t, tc, "POST", "/v3/regions", map[string]any{"region": map[string]any{"id": "child", "parent_region_id": "RegionOne"}}, http.StatusCreated)
	childEP := extAdmin(t, tc, "POST", "/v3/endpoints", map[string]any{"endpoint": map[string]any{
		"service_id": f.svc2, "interface": "admin", "url": "http://child.example.test", "region_id": "child"}}, http.StatusCreated)["endpoint"].(map[string]any)["id"].(string)

	mk := func(typ string) string {
		return extAdmin(t, tc, "POST", "/v3/policies", map[string]any{"policy": map[string]any{"blob": "b", "type": typ}}, http.StatusCreated)["policy"].(map[string]any)["id"].(string)
	}
	pEP, pSvc, pRegion := mk("endpoint"), mk("service"), mk("region")
	ep := "/v3/policies/" + pEP + "/OS-ENDPOINT-POLICY"

	// No association yet: check 404, effective policy 404.
	out := extAdmin(t, tc, "GET", ep+"/endpoints/"+f.ep1Public, nil, http.StatusNotFound)
	if extMessage(out) != "Could not find policy association." {
		t.Errorf("message = %q", extMessage(out))
	}
	out = extAdmin(t, tc, "GET", "/v3/endpoints/"+f.ep1Public+"/OS-ENDPOINT-POLICY/policy", nil, http.StatusNotFound)
	if extMessage(out) != "No policy is associated with endpoint "+f.ep1Public+"." {
		t.Errorf("message = %q", extMessage(out))
	}

	extAdmin(t, tc, "PUT", ep+"/endpoints/"+f.ep1Public, nil, http.StatusNoContent)
	extAdmin(t, tc, "HEAD", ep+"/endpoints/"+f.ep1Public, nil, http.StatusNoContent)
	extAdmin(t, tc, "PUT", "/v3/policies/"+pSvc+"/OS-ENDPOINT-POLICY/services/"+f.svc1, nil, http.StatusNoContent)
	extAdmin(t, tc, "GET", "/v3/policies/"+pSvc+"/OS-ENDPOINT-POLICY/services/"+f.svc1, nil, http.StatusNoContent)
	extAdmin(t, tc, "PUT", "/v3/policies/"+pRegion+"/OS-ENDPOINT-POLICY/services/"+f.svc2+"/regions/RegionOne", nil, http.StatusNoContent)
	extAdmin(t, tc, "GET", "/v3/policies/"+pRegion+"/OS-ENDPOINT-POLICY/services/"+f.svc2+"/regions/RegionOne", nil, http.StatusNoContent)

	// Unknown references are 404s.
	extAdmin(t, tc, "PUT", ep+"/endpoints/nope", nil, http.StatusNotFound)
	extAdmin(t, tc, "PUT", "/v3/policies/nope/OS-ENDPOINT-POLICY/endpoints/"+f.ep1Public, nil, http.StatusNotFound)
	extAdmin(t, tc, "PUT", "/v3/policies/"+pRegion+"/OS-ENDPOINT-POLICY/services/"+f.svc2+"/regions/nope", nil, http.StatusNotFound)

	// Listing: the region association covers the region and its child.
	if ids := extIDs(t, extAdmin(t, tc, "GET", "/v3/policies/"+pRegion+"/OS-ENDPOINT-POLICY/endpoints", nil, http.StatusOK), "endpoints"); !sameSet(ids, []string{f.ep2, childEP}) {
		t.Errorf("region policy endpoints = %v", ids)
	}
	if ids := extIDs(t, extAdmin(t, tc, "GET", "/v3/policies/"+pSvc+"/OS-ENDPOINT-POLICY/endpoints", nil, http.StatusOK), "endpoints"); !sameSet(ids, []string{f.ep1Public, f.ep1Internal}) {
		t.Errorf("service policy endpoints = %v", ids)
	}

	// Effective policy: the endpoint's own, else the service's.
	effective := func(epID string) string {
		return extAdmin(t, tc, "GET", "/v3/endpoints/"+epID+"/OS-ENDPOINT-POLICY/policy", nil, http.StatusOK)["policy"].(map[string]any)["id"].(string)
	}
	if got := effective(f.ep1Public); got != pEP {
		t.Errorf("policy of endpoint with its own = %s", got)
	}
	if got := effective(f.ep1Internal); got != pSvc {
		t.Errorf("policy of endpoint by service = %s", got)
	}
	if got := effective(childEP); got != pRegion {
		t.Errorf("policy of endpoint in child region = %s", got)
	}

	// A second PUT for the same target moves it to the new policy.
	extAdmin(t, tc, "PUT", "/v3/policies/"+pSvc+"/OS-ENDPOINT-POLICY/endpoints/"+f.ep1Public, nil, http.StatusNoContent)
	extAdmin(t, tc, "GET", ep+"/endpoints/"+f.ep1Public, nil, http.StatusNotFound)
	if got := effective(f.ep1Public); got != pSvc {
		t.Errorf("policy after reassociation = %s", got)
	}

	extAdmin(t, tc, "DELETE", "/v3/policies/"+pSvc+"/OS-ENDPOINT-POLICY/services/"+f.svc1, nil, http.StatusNoContent)
	extAdmin(t, tc, "GET", "/v3/policies/"+pSvc+"/OS-ENDPOINT-POLICY/services/"+f.svc1, nil, http.StatusNotFound)
	// Deleting a policy removes its associations.
	extAdmin(t, tc, "DELETE", "/v3/policies/"+pRegion, nil, http.StatusNoContent)
	extAdmin(t, tc, "GET", "/v3/endpoints/"+childEP+"/OS-ENDPOINT-POLICY/policy", nil, http.StatusNotFound)
	extCall(t, tc, tc.demoToken, "PUT", ep+"/endpoints/"+f.ep2, nil, http.StatusForbidden)
}
