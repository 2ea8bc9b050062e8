package identity

import (
	"context"
	"net/http"
	"testing"
)

// limitFixture is a test cloud with a compute service, a region and the demo projects.
type limitFixture struct {
	tc                             *testCloud
	serviceID, service2ID          string
	demoProjectID, altProjectID    string
	demoDomainID, adminProjectID   string
	registeredCores, registeredRAM string
}

func newLimitFixture(t *testing.T) *limitFixture {
	t.Helper()
	tc := newTestCloud(t)
	f := &limitFixture{tc: tc}
	f.serviceID = catObj(t, catCall(t, tc, "POST", "/v3/services", map[string]any{"service": map[string]any{"type": "compute", "name": "nova"}}, http.StatusCreated), "service")["id"].(string)
	f.service2ID = catObj(t, catCall(t, tc, "POST", "/v3/services", map[string]any{"service": map[string]any{"type": "volumev3"}}, http.StatusCreated), "service")["id"].(string)
	ctx := context.Background()
	for name, dst := range map[string]*string{"demo": &f.demoProjectID, "alt_demo": &f.altProjectID, "admin": &f.adminProjectID} {
		p, err := tc.svc.findProjectByName(ctx, tc.svc.db, DefaultDomainID, name)
		if err != nil {
			t.Fatalf("project %s: %v", name, err)
		}
		*dst = p.ID
	}
	f.demoDomainID = DefaultDomainID
	out := catCall(t, tc, "POST", "/v3/registered_limits", map[string]any{"registered_limits": []any{
		map[string]any{"service_id": f.serviceID, "resource_name": "cores", "default_limit": 10, "description": "vCPUs"},
		map[string]any{"service_id": f.serviceID, "region_id": "RegionOne", "resource_name": "ram", "default_limit": 4096},
	}}, http.StatusCreated)
	ids := catIDs(t, out, "registered_limits")
	f.registeredCores, f.registeredRAM = ids[0], ids[1]
	return f
}

func TestRegisteredLimits(t *testing.T) {
	f := newLimitFixture(t)
	tc := f.tc

	rl := catObj(t, catCall(t, tc, "GET", "/v3/registered_limits/"+f.registeredCores, nil, http.StatusOK), "registered_limit")
	if rl["service_id"] != f.serviceID || rl["region_id"] != nil || rl["resource_name"] != "cores" ||
		rl["default_limit"] != float64(10) || rl["description"] != "vCPUs" || !hexID.MatchString(rl["id"].(string)) {
		t.Errorf("registered limit = %v", rl)
	}
	if links, _ := rl["links"].(map[string]any); links["self"] != "http://example.com/v3/registered_limits/"+f.registeredCores {
		t.Errorf("links = %v", rl["links"])
	}
	ram := catObj(t, catCall(t, tc, "GET", "/v3/registered_limits/"+f.registeredRAM, nil, http.StatusOK), "registered_limit")
	if ram["region_id"] != "RegionOne" || ram["description"] != nil {
		t.Errorf("ram registered limit = %v", ram)
	}
	out := catCall(t, tc, "GET", "/v3/registered_limits/nope", nil, http.StatusNotFound)
	catErr(t, out, "Could not find registered limit for nope.")

	for name, c := range map[string]struct {
		body   any
		status int
		msg    string
	}{
		"unknown service": {[]any{map[string]any{"service_id": "nope", "resource_name": "x", "default_limit": 1}}, http.StatusBadRequest, "Expecting to find service_id in registered_limit"},
		"unknown region":  {[]any{map[string]any{"service_id": f.serviceID, "region_id": "nope", "resource_name": "x", "default_limit": 1}}, http.StatusBadRequest, "Expecting to find region_id in registered_limit"},
		"duplicate":       {[]any{map[string]any{"service_id": f.serviceID, "resource_name": "cores", "default_limit": 1}}, http.StatusConflict, "Duplicate entry"},
		"duplicate batch": {[]any{map[string]any{"service_id": f.service2ID, "resource_name": "v", "default_limit": 1}, map[string]any{"service_id": f.service2ID, "resource_name": "v", "default_limit": 2}}, http.StatusConflict, "Duplicate entry"},
		"missing limit":   {[]any{map[string]any{"service_id": f.serviceID, "resource_name": "x"}}, http.StatusBadRequest, "'default_limit' is a required property"},
		"too small":       {[]any{map[string]any{"service_id": f.serviceID, "resource_name": "x", "default_limit": -2}}, http.StatusBadRequest, "default_limit"},
		"not integer":     {[]any{map[string]any{"service_id": f.serviceID, "resource_name": "x", "default_limit": 1.5}}, http.StatusBadRequest, "default_limit"},
		"extra attribute": {[]any{map[string]any{"service_id": f.serviceID, "resource_name": "x", "default_limit": 1, "color": "red"}}, http.StatusBadRequest, "Additional properties"},
		"empty list":      {[]any{}, http.StatusBadRequest, "too short"},
		"blank name":      {[]any{map[string]any{"service_id": f.serviceID, "resource_name": " ", "default_limit": 1}}, http.StatusBadRequest, "resource_name"},
	} {
		t.Run(name, func(t *testing.T) {
			out := catCall(t, tc, "POST", "/v3/registered_limits", map[string]any{"registered_limits": c.body}, c.status)
			catErr(t, out, c.msg)
		})
	}
	// The failed batch stored nothing.
	if ids := catIDs(t, catCall(t, tc, "GET", "/v3/registered_limits?service_id="+f.service2ID, nil, http.StatusOK), "registered_limits"); len(ids) != 0 {
		t.Errorf("failed batch stored %v", ids)
	}

	for q, want := range map[string][]string{
		"":                                  {f.registeredCores, f.registeredRAM},
		"?resource_name=ram":                {f.registeredRAM},
		"?region_id=RegionOne":              {f.registeredRAM},
		"?service_id=" + f.serviceID:        {f.registeredCores, f.registeredRAM},
		"?service_id=" + f.service2ID:       {},
		"?resource_name=cores&region_id=xx": {},
	} {
		ids := catIDs(t, catCall(t, tc, "GET", "/v3/registered_limits"+q, nil, http.StatusOK), "registered_limits")
		if len(ids) != len(want) {
			t.Errorf("registered_limits%s = %v, want %v", q, ids, want)
		}
		for _, w := range want {
			if !hasID(ids, w) {
				t.Errorf("registered_limits%s = %v, want %v", q, ids, want)
			}
		}
	}
	// Members may read registered limits but not write them.
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/registered_limits", tc.demoToken, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("member list registered limits: %d", resp.StatusCode)
	}
	if resp, _ := doJSON(t, tc.handler, "POST", "/v3/registered_limits", tc.demoToken, map[string]any{"registered_limits": []any{
		map[string]any{"service_id": f.serviceID, "resource_name": "y", "default_limit": 1}}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("member create registered limit: %d", resp.StatusCode)
	}

	// PATCH.
	upd := catObj(t, catCall(t, tc, "PATCH", "/v3/registered_limits/"+f.registeredCores, map[string]any{"registered_limit": map[string]any{
		"default_limit": 20, "description": nil}}, http.StatusOK), "registered_limit")
	if upd["default_limit"] != float64(20) || upd["description"] != nil || upd["resource_name"] != "cores" {
		t.Errorf("patched registered limit = %v", upd)
	}
	upd = catObj(t, catCall(t, tc, "PATCH", "/v3/registered_limits/"+f.registeredRAM, map[string]any{"registered_limit": map[string]any{
		"region_id": nil}}, http.StatusOK), "registered_limit")
	if upd["region_id"] != nil {
		t.Errorf("region not cleared: %v", upd)
	}
	// Moving ram onto cores' service, region and resource duplicates it.
	catCall(t, tc, "PATCH", "/v3/registered_limits/"+f.registeredRAM, map[string]any{"registered_limit": map[string]any{"resource_name": "cores"}}, http.StatusConflict)
	catCall(t, tc, "PATCH", "/v3/registered_limits/"+f.registeredRAM, map[string]any{"registered_limit": map[string]any{"service_id": "nope"}}, http.StatusBadRequest)
	catCall(t, tc, "PATCH", "/v3/registered_limits/"+f.registeredRAM, map[string]any{"registered_limit": map[string]any{"id": "x"}}, http.StatusBadRequest)
	catCall(t, tc, "PATCH", "/v3/registered_limits/nope", map[string]any{"registered_limit": map[string]any{"default_limit": 1}}, http.StatusNotFound)

	// A registered limit with project limits can be neither moved nor deleted.
	catCall(t, tc, "POST", "/v3/limits", map[string]any{"limits": []any{map[string]any{
		"project_id": f.demoProjectID, "service_id": f.serviceID, "resource_name": "cores", "resource_limit": 5}}}, http.StatusCreated)
	out = catCall(t, tc, "PATCH", "/v3/registered_limits/"+f.registeredCores, map[string]any{"registered_limit": map[string]any{"resource_name": "vcpus"}}, http.StatusForbidden)
	catErr(t, out, "because there are project limits associated with it")
	catCall(t, tc, "PATCH", "/v3/registered_limits/"+f.registeredCores, map[string]any{"registered_limit": map[string]any{"default_limit": 30}}, http.StatusOK)
	catCall(t, tc, "DELETE", "/v3/registered_limits/"+f.registeredCores, nil, http.StatusForbidden)
	// A service with registered limits is kept.
	catCall(t, tc, "DELETE", "/v3/services/"+f.serviceID, nil, http.StatusConflict)

	catCall(t, tc, "DELETE", "/v3/registered_limits/"+f.registeredRAM, nil, http.StatusNoContent)
	catCall(t, tc, "DELETE", "/v3/registered_limits/"+f.registeredRAM, nil, http.StatusNotFound)
}

func TestLimits(t *testing.T) {
	f := newLimitFixture(t)
	tc := f.tc

	out := catCall(t, tc, "POST", "/v3/limits", map[string]any{"limits": []any{
		map[string]any{"project_id": f.demoProjectID, "service_id": f.serviceID, "resource_name": "cores", "resource_limit": 5, "description": "demo cores"},
		map[string]any{"project_id": f.altProjectID, "service_id": f.serviceID, "resource_name": "cores", "resource_limit": 7},
		map[string]any{"domain_id": f.demoDomainID, "service_id": f.serviceID, "region_id": "RegionOne", "resource_name": "ram", "resource_limit": -1},
	}}, http.StatusCreated)
	ids := catIDs(t, out, "limits")
	demoLimit, altLimit, domainLimit := ids[0], ids[1], ids[2]
	if _, ok := out["links"]; ok {
		t.Errorf("create response has links: %v", out)
	}
	l := catObj(t, catCall(t, tc, "GET", "/v3/limits/"+demoLimit, nil, http.StatusOK), "limit")
	if l["project_id"] != f.demoProjectID || l["domain_id"] != nil || l["service_id"] != f.serviceID || l["region_id"] != nil ||
		l["resource_name"] != "cores" || l["resource_limit"] != float64(5) || l["description"] != "demo cores" {
		t.Errorf("limit = %v", l)
	}
	if links, _ := l["links"].(map[string]any); links["self"] != "http://example.com/v3/limits/"+demoLimit {
		t.Errorf("links = %v", l["links"])
	}
	dl := catObj(t, catCall(t, tc, "GET", "/v3/limits/"+domainLimit, nil, http.StatusOK), "limit")
	if dl["domain_id"] != f.demoDomainID || dl["project_id"] != nil || dl["region_id"] != "RegionOne" || dl["resource_limit"] != float64(-1) {
		t.Errorf("domain limit = %v", dl)
	}
	out = catCall(t, tc, "GET", "/v3/limits/nope", nil, http.StatusNotFound)
	catErr(t, out, "Could not find limit for nope.")

	for name, c := range map[string]struct {
		limit  map[string]any
		status int
		msg    string
	}{
		"no registered limit": {map[string]any{"project_id": f.demoProjectID, "service_id": f.serviceID, "resource_name": "disk", "resource_limit": 1}, http.StatusForbidden, "no corresponding registered limit"},
		"wrong region":        {map[string]any{"project_id": f.demoProjectID, "service_id": f.serviceID, "region_id": "RegionOne", "resource_name": "cores", "resource_limit": 1}, http.StatusForbidden, "no corresponding registered limit"},
		"duplicate":           {map[string]any{"project_id": f.demoProjectID, "service_id": f.serviceID, "resource_name": "cores", "resource_limit": 1}, http.StatusConflict, "Conflict occurred attempting to store limit - Duplicate entry."},
		"unknown project":     {map[string]any{"project_id": "nope", "service_id": f.serviceID, "resource_name": "cores", "resource_limit": 1}, http.StatusBadRequest, "Expecting to find project_id in limit"},
		"unknown domain":      {map[string]any{"domain_id": "nope", "service_id": f.serviceID, "resource_name": "cores", "resource_limit": 1}, http.StatusBadRequest, "Expecting to find domain_id in limit"},
		"unknown service":     {map[string]any{"project_id": f.demoProjectID, "service_id": "nope", "resource_name": "cores", "resource_limit": 1}, http.StatusBadRequest, "Expecting to find service_id in limit"},
		"both targets":        {map[string]any{"project_id": f.demoProjectID, "domain_id": f.demoDomainID, "service_id": f.serviceID, "resource_name": "cores", "resource_limit": 1}, http.StatusBadRequest, "exactly one"},
		"no target":           {map[string]any{"service_id": f.serviceID, "resource_name": "cores", "resource_limit": 1}, http.StatusBadRequest, "exactly one"},
		"too large":           {map[string]any{"project_id": f.adminProjectID, "service_id": f.serviceID, "resource_name": "cores", "resource_limit": 1 << 31}, http.StatusBadRequest, "resource_limit"},
		"extra":               {map[string]any{"project_id": f.adminProjectID, "service_id": f.serviceID, "resource_name": "cores", "resource_limit": 1, "x": 1}, http.StatusBadRequest, "Additional properties"},
	} {
		t.Run(name, func(t *testing.T) {
			out := catCall(t, tc, "POST", "/v3/limits", map[string]any{"limits": []any{c.limit}}, c.status)
			catErr(t, out, c.msg)
		})
	}
	// A domain's id given as project_id makes a domain limit.
	pd := catObj(t, map[string]any{"l": catCall(t, tc, "POST", "/v3/limits", map[string]any{"limits": []any{map[string]any{
		"project_id": f.demoDomainID, "service_id": f.serviceID, "resource_name": "cores", "resource_limit": 3}}}, http.StatusCreated)["limits"].([]any)[0]}, "l")
	if pd["domain_id"] != f.demoDomainID || pd["project_id"] != nil {
		t.Errorf("limit on a domain given as project = %v", pd)
	}
	// Filters, as an admin.
	for q, want := range map[string][]string{
		"?project_id=" + f.demoProjectID:                    {demoLimit},
		"?domain_id=" + f.demoDomainID:                      {domainLimit, pd["id"].(string)},
		"?resource_name=ram":                                {domainLimit},
		"?region_id=RegionOne":                              {domainLimit},
		"?service_id=" + f.service2ID:                       {},
		"?resource_name=cores&project_id=" + f.altProjectID: {altLimit},
	} {
		ids := catIDs(t, catCall(t, tc, "GET", "/v3/limits"+q, nil, http.StatusOK), "limits")
		if len(ids) != len(want) {
			t.Errorf("limits%s = %v, want %v", q, ids, want)
		}
		for _, w := range want {
			if !hasID(ids, w) {
				t.Errorf("limits%s = %v, want %v", q, ids, want)
			}
		}
	}
	// A project member sees and reads only their project's limits.
	resp, body := doJSON(t, tc.handler, "GET", "/v3/limits", tc.demoToken, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("member list limits: %d", resp.StatusCode)
	}
	if ids := catIDs(t, body, "limits"); len(ids) != 1 || ids[0] != demoLimit {
		t.Errorf("member sees limits %v, want [%s]", ids, demoLimit)
	}
	if resp, body := doJSON(t, tc.handler, "GET", "/v3/limits?project_id="+f.altProjectID, tc.demoToken, nil); resp.StatusCode != http.StatusOK || len(catIDs(t, body, "limits")) != 0 {
		t.Errorf("member filtering on another project: %d %v", resp.StatusCode, body)
	}
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/limits/"+demoLimit, tc.demoToken, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("member get own limit: %d", resp.StatusCode)
	}
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/limits/"+altLimit, tc.demoToken, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("member get other project's limit: %d", resp.StatusCode)
	}
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/limits/"+domainLimit, tc.demoToken, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("member get domain limit: %d", resp.StatusCode)
	}
	if resp, _ := doJSON(t, tc.handler, "PATCH", "/v3/limits/"+demoLimit, tc.demoToken, map[string]any{"limit": map[string]any{"resource_limit": 100}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("member update limit: %d", resp.StatusCode)
	}

	// The enforcement model, for anyone.
	resp, body = doJSON(t, tc.handler, "GET", "/v3/limits/model", tc.demoToken, nil)
	if m, _ := body["model"].(map[string]any); resp.StatusCode != http.StatusOK || m["name"] != "flat" || m["description"] != limitModelDescription {
		t.Errorf("limit model: %d %v", resp.StatusCode, body)
	}

	// PATCH changes only the amount and description.
	upd := catObj(t, catCall(t, tc, "PATCH", "/v3/limits/"+demoLimit, map[string]any{"limit": map[string]any{"resource_limit": 0}}, http.StatusOK), "limit")
	if upd["resource_limit"] != float64(0) || upd["description"] != "demo cores" {
		t.Errorf("patched limit = %v", upd)
	}
	upd = catObj(t, catCall(t, tc, "PATCH", "/v3/limits/"+demoLimit, map[string]any{"limit": map[string]any{"description": "new"}}, http.StatusOK), "limit")
	if upd["resource_limit"] != float64(0) || upd["description"] != "new" {
		t.Errorf("patched limit = %v", upd)
	}
	catCall(t, tc, "PATCH", "/v3/limits/"+demoLimit, map[string]any{"limit": map[string]any{"project_id": f.altProjectID}}, http.StatusBadRequest)
	catCall(t, tc, "PATCH", "/v3/limits/"+demoLimit, map[string]any{"limit": map[string]any{}, "other": 1}, http.StatusBadRequest)
	catCall(t, tc, "PATCH", "/v3/limits/nope", map[string]any{"limit": map[string]any{"resource_limit": 1}}, http.StatusNotFound)

	catCall(t, tc, "DELETE", "/v3/limits/"+demoLimit, nil, http.StatusNoContent)
	catCall(t, tc, "DELETE", "/v3/limits/"+demoLimit, nil, http.StatusNotFound)
}
