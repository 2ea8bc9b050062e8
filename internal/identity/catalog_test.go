package identity

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// catCall sends a request as the admin of tc and fails the test unless the status is want.
func catCall(t *testing.T, tc *testCloud, method, path string, body any, want int) map[string]any {
	t.Helper()
	resp, out := doJSON(t, tc.handler, method, path, tc.adminToken, body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %v", method, path, resp.StatusCode, want, out)
	}
	return out
}

// catObj returns the object under key of a response.
func catObj(t *testing.T, out map[string]any, key string) map[string]any {
	t.Helper()
	m, ok := out[key].(map[string]any)
	if !ok {
		t.Fatalf("response has no object %q: %v", key, out)
	}
	return m
}

// catIDs returns the ids of the list under key of a response.
func catIDs(t *testing.T, out map[string]any, key string) []string {
	t.Helper()
	list, ok := out[key].([]any)
	if !ok {
		t.Fatalf("response has no list %q: %v", key, out)
	}
	ids := []string{}
	for _, e := range list {
		ids = append(ids, e.(map[string]any)["id"].(string))
	}
	return ids
}

// catErr checks a Keystone error body's message contains want.
func catErr(t *testing.T, out map[string]any, want string) {
	t.Helper()
	e, _ := out["error"].(map[string]any)
	if msg, _ := e["message"].(string); !strings.Contains(msg, want) {
		t.Errorf("error message %q does not contain %q", msg, want)
	}
}

func hasID(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestRegionsCRUD(t *testing.T) {
	tc := newTestCloud(t)

	// POST with an id keeps it; the region has Keystone's fields.
	reg := catObj(t, catCall(t, tc, "POST", "/v3/regions", map[string]any{"region": map[string]any{
		"id": "east", "description": "East", "flavor": "spicy"}}, http.StatusCreated), "region")
	if reg["id"] != "east" || reg["description"] != "East" || reg["parent_region_id"] != nil || reg["flavor"] != "spicy" {
		t.Errorf("created region = %v", reg)
	}
	if links, _ := reg["links"].(map[string]any); links["self"] != "http://example.com/v3/regions/east" {
		t.Errorf("links = %v", reg["links"])
	}
	// POST without id (or an empty one) generates one; description defaults to "".
	gen := catObj(t, catCall(t, tc, "POST", "/v3/regions", map[string]any{"region": map[string]any{"id": ""}}, http.StatusCreated), "region")
	if id, _ := gen["id"].(string); !hexID.MatchString(id) || gen["description"] != "" {
		t.Errorf("generated region = %v", gen)
	}
	// PUT creates with the path's id, under a parent.
	child := catObj(t, catCall(t, tc, "PUT", "/v3/regions/east-1", map[string]any{"region": map[string]any{
		"parent_region_id": "east"}}, http.StatusCreated), "region")
	if child["id"] != "east-1" || child["parent_region_id"] != "east" {
		t.Errorf("PUT region = %v", child)
	}
	out := catCall(t, tc, "PUT", "/v3/regions/x", map[string]any{"region": map[string]any{"id": "y"}}, http.StatusBadRequest)
	catErr(t, out, `Conflicting region IDs specified: "x" != "y"`)
	out = catCall(t, tc, "PUT", "/v3/regions/east", map[string]any{"region": map[string]any{}}, http.StatusConflict)
	catErr(t, out, "Duplicate ID, east.")
	catCall(t, tc, "POST", "/v3/regions", map[string]any{"region": map[string]any{"id": "east"}}, http.StatusConflict)
	out = catCall(t, tc, "POST", "/v3/regions", map[string]any{"region": map[string]any{"parent_region_id": "nowhere"}}, http.StatusNotFound)
	catErr(t, out, "Could not find region: nowhere.")
	catCall(t, tc, "POST", "/v3/regions", map[string]any{"region": map[string]any{"description": strings.Repeat("d", 256)}}, http.StatusBadRequest)
	catCall(t, tc, "POST", "/v3/regions", map[string]any{"region": map[string]any{"parent_region_id": 5}}, http.StatusBadRequest)

	// GET and list, with the parent filter.
	got := catObj(t, catCall(t, tc, "GET", "/v3/regions/east-1", nil, http.StatusOK), "region")
	if got["parent_region_id"] != "east" {
		t.Errorf("GET region = %v", got)
	}
	out = catCall(t, tc, "GET", "/v3/regions/nope", nil, http.StatusNotFound)
	catErr(t, out, "Could not find region: nope.")
	all := catIDs(t, catCall(t, tc, "GET", "/v3/regions", nil, http.StatusOK), "regions")
	for _, id := range []string{"RegionOne", "east", "east-1", gen["id"].(string)} {
		if !hasID(all, id) {
			t.Errorf("region list %v lacks %s", all, id)
		}
	}
	kids := catIDs(t, catCall(t, tc, "GET", "/v3/regions?parent_region_id=east", nil, http.StatusOK), "regions")
	if len(kids) != 1 || kids[0] != "east-1" {
		t.Errorf("children of east = %v", kids)
	}

	// PATCH: description and parent change; cycles, unknown parents and id changes fail.
	upd := catObj(t, catCall(t, tc, "PATCH", "/v3/regions/east-1", map[string]any{"region": map[string]any{
		"description": nil, "flavor": "mild"}}, http.StatusOK), "region")
	if upd["description"] != "" || upd["parent_region_id"] != "east" || upd["flavor"] != "mild" {
		t.Errorf("patched region = %v", upd)
	}
	out = catCall(t, tc, "PATCH", "/v3/regions/east", map[string]any{"region": map[string]any{"parent_region_id": "east-1"}}, http.StatusBadRequest)
	catErr(t, out, "circular region hierarchy")
	catCall(t, tc, "PATCH", "/v3/regions/east", map[string]any{"region": map[string]any{"parent_region_id": "east"}}, http.StatusBadRequest)
	catCall(t, tc, "PATCH", "/v3/regions/east", map[string]any{"region": map[string]any{"parent_region_id": "nowhere"}}, http.StatusNotFound)
	out = catCall(t, tc, "PATCH", "/v3/regions/east", map[string]any{"region": map[string]any{"id": "west"}}, http.StatusBadRequest)
	catErr(t, out, "Cannot change ID")
	catCall(t, tc, "PATCH", "/v3/regions/east", map[string]any{"region": map[string]any{}}, http.StatusBadRequest)
	catCall(t, tc, "PATCH", "/v3/regions/nope", map[string]any{"region": map[string]any{"description": "x"}}, http.StatusNotFound)
	upd = catObj(t, catCall(t, tc, "PATCH", "/v3/regions/east-1", map[string]any{"region": map[string]any{"parent_region_id": nil}}, http.StatusOK), "region")
	if upd["parent_region_id"] != nil {
		t.Errorf("parent not cleared: %v", upd)
	}
	catCall(t, tc, "PATCH", "/v3/regions/east-1", map[string]any{"region": map[string]any{"parent_region_id": "east"}}, http.StatusOK)

	// DELETE: refused while the region or a child has endpoints, else removes children too.
	svc := catObj(t, catCall(t, tc, "POST", "/v3/services", map[string]any{"service": map[string]any{"type": "compute"}}, http.StatusCreated), "service")
	ep := catObj(t, catCall(t, tc, "POST", "/v3/endpoints", map[string]any{"endpoint": map[string]any{
		"service_id": svc["id"], "interface": "public", "url": "http://c.test", "region_id": "east-1"}}, http.StatusCreated), "endpoint")
	out = catCall(t, tc, "DELETE", "/v3/regions/east", nil, http.StatusForbidden)
	catErr(t, out, "because it or its child regions have associated endpoints")
	catCall(t, tc, "DELETE", "/v3/endpoints/"+ep["id"].(string), nil, http.StatusNoContent)
	catCall(t, tc, "DELETE", "/v3/regions/east", nil, http.StatusNoContent)
	catCall(t, tc, "GET", "/v3/regions/east-1", nil, http.StatusNotFound)
	catCall(t, tc, "DELETE", "/v3/regions/east", nil, http.StatusNotFound)
}

func TestRegionPolicy(t *testing.T) {
	tc := newTestCloud(t)
	resp, _ := doJSON(t, tc.handler, "GET", "/v3/regions", tc.demoToken, nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("member list regions: %d", resp.StatusCode)
	}
	resp, _ = doJSON(t, tc.handler, "GET", "/v3/regions/RegionOne", tc.demoToken, nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("member get region: %d", resp.StatusCode)
	}
	resp, _ = doJSON(t, tc.handler, "POST", "/v3/regions", tc.demoToken, map[string]any{"region": map[string]any{}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("member create region: %d", resp.StatusCode)
	}
	for _, p := range []string{"/v3/services", "/v3/endpoints"} {
		resp, _ = doJSON(t, tc.handler, "GET", p, tc.demoToken, nil)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("member GET %s: %d", p, resp.StatusCode)
		}
	}
}

func TestServicesCRUD(t *testing.T) {
	tc := newTestCloud(t)

	out := catCall(t, tc, "POST", "/v3/services", map[string]any{"service": map[string]any{"name": "nova"}}, http.StatusBadRequest)
	catErr(t, out, "'type' is a required property")
	catCall(t, tc, "POST", "/v3/services", map[string]any{"service": map[string]any{"type": ""}}, http.StatusBadRequest)
	catCall(t, tc, "POST", "/v3/services", map[string]any{"service": map[string]any{"type": "compute", "enabled": "True"}}, http.StatusBadRequest)
	catCall(t, tc, "POST", "/v3/services", map[string]any{"service": map[string]any{"type": "compute", "name": strings.Repeat("n", 256)}}, http.StatusBadRequest)

	sv := catObj(t, catCall(t, tc, "POST", "/v3/services", map[string]any{"service": map[string]any{
		"type": "compute", "name": "nova", "description": "Compute", "color": "blue", "id": "ignored"}}, http.StatusCreated), "service")
	id, _ := sv["id"].(string)
	if !hexID.MatchString(id) || sv["type"] != "compute" || sv["name"] != "nova" || sv["description"] != "Compute" ||
		sv["enabled"] != true || sv["color"] != "blue" {
		t.Errorf("created service = %v", sv)
	}
	if links, _ := sv["links"].(map[string]any); links["self"] != "http://example.com/v3/services/"+id {
		t.Errorf("links = %v", sv["links"])
	}
	// Without a name, name is "" and description absent.
	bare := catObj(t, catCall(t, tc, "POST", "/v3/services", map[string]any{"service": map[string]any{"type": "image", "enabled": false}}, http.StatusCreated), "service")
	if bare["name"] != "" || bare["enabled"] != false {
		t.Errorf("bare service = %v", bare)
	}
	if _, ok := bare["description"]; ok {
		t.Errorf("bare service has a description: %v", bare)
	}

	got := catObj(t, catCall(t, tc, "GET", "/v3/services/"+id, nil, http.StatusOK), "service")
	if got["name"] != "nova" || got["color"] != "blue" {
		t.Errorf("GET service = %v", got)
	}
	out = catCall(t, tc, "GET", "/v3/services/nope", nil, http.StatusNotFound)
	catErr(t, out, "Could not find service: nope.")

	for _, c := range []struct {
		query string
		want  []string
	}{
		{"?type=compute", []string{id}},
		{"?name=nova", []string{id}},
		{"?type=image", []string{bare["id"].(string)}},
		{"?type=compute&name=glance", nil},
	} {
		ids := catIDs(t, catCall(t, tc, "GET", "/v3/services"+c.query, nil, http.StatusOK), "services")
		if fmt.Sprint(ids) != fmt.Sprint(append([]string{}, c.want...)) {
			t.Errorf("services%s = %v, want %v", c.query, ids, c.want)
		}
	}
	all := catIDs(t, catCall(t, tc, "GET", "/v3/services", nil, http.StatusOK), "services")
	if len(all) != 3 { // the bootstrap identity service, nova and the bare one
		t.Errorf("services = %v", all)
	}

	upd := catObj(t, catCall(t, tc, "PATCH", "/v3/services/"+id, map[string]any{"service": map[string]any{
		"description": "New", "enabled": false, "size": 3}}, http.StatusOK), "service")
	if upd["description"] != "New" || upd["enabled"] != false || upd["name"] != "nova" || upd["color"] != "blue" || upd["size"] != float64(3) {
		t.Errorf("patched service = %v", upd)
	}
	catCall(t, tc, "PATCH", "/v3/services/"+id, map[string]any{"service": map[string]any{}}, http.StatusBadRequest)
	catCall(t, tc, "PATCH", "/v3/services/"+id, map[string]any{"service": map[string]any{"id": "other"}}, http.StatusBadRequest)
	catCall(t, tc, "PATCH", "/v3/services/"+id, map[string]any{"service": map[string]any{"type": 3}}, http.StatusBadRequest)
	catCall(t, tc, "PATCH", "/v3/services/nope", map[string]any{"service": map[string]any{"name": "x"}}, http.StatusNotFound)

	// Deleting a service deletes its endpoints.
	ep := catObj(t, catCall(t, tc, "POST", "/v3/endpoints", map[string]any{"endpoint": map[string]any{
		"service_id": id, "interface": "public", "url": "http://nova.test"}}, http.StatusCreated), "endpoint")
	catCall(t, tc, "DELETE", "/v3/services/"+id, nil, http.StatusNoContent)
	catCall(t, tc, "GET", "/v3/endpoints/"+ep["id"].(string), nil, http.StatusNotFound)
	catCall(t, tc, "DELETE", "/v3/services/"+id, nil, http.StatusNotFound)
}

func TestEndpointsCRUD(t *testing.T) {
	tc := newTestCloud(t)
	svc := catObj(t, catCall(t, tc, "POST", "/v3/services", map[string]any{"service": map[string]any{"type": "compute", "name": "nova"}}, http.StatusCreated), "service")
	sid := svc["id"].(string)
	svc2 := catObj(t, catCall(t, tc, "POST", "/v3/services", map[string]any{"service": map[string]any{"type": "image"}}, http.StatusCreated), "service")
	sid2 := svc2["id"].(string)

	base := func(extra map[string]any) map[string]any {
		e := map[string]any{"service_id": sid, "interface": "public", "url": "http://nova.test/v2.1"}
		for k, v := range extra {
			if v == nil {
				delete(e, k)
			} else {
				e[k] = v
			}
		}
		return map[string]any{"endpoint": e}
	}
	for name, c := range map[string]struct {
		body map[string]any
		msg  string
	}{
		"no url":          {base(map[string]any{"url": nil}), "'url' is a required property"},
		"no service":      {base(map[string]any{"service_id": nil}), "'service_id' is a required property"},
		"no interface":    {base(map[string]any{"interface": nil}), "'interface' is a required property"},
		"bad interface":   {base(map[string]any{"interface": "private"}), "is not one of"},
		"bad url":         {base(map[string]any{"url": "not a url"}), "does not match"},
		"long url":        {base(map[string]any{"url": "http://" + strings.Repeat("a", 220)}), "longer than 225"},
		"bad substitute":  {base(map[string]any{"url": "http://x/$(tenant)s"}), "Cannot create an endpoint with an invalid URL"},
		"unknown service": {base(map[string]any{"service_id": "nope"}), "Expecting to find endpoint service_id in service table"},
		"unknown region":  {base(map[string]any{"region_id": "nope"}), "Expecting to find endpoint region_id in region table"},
		"enabled string":  {base(map[string]any{"enabled": "False"}), "enabled"},
	} {
		t.Run(name, func(t *testing.T) {
			out := catCall(t, tc, "POST", "/v3/endpoints", c.body, http.StatusBadRequest)
			catErr(t, out, c.msg)
		})
	}
	catCall(t, tc, "GET", "/v3/regions/nope", nil, http.StatusNotFound)

	// The legacy "region" creates the region and is returned as region and region_id.
	ep := catObj(t, catCall(t, tc, "POST", "/v3/endpoints", base(map[string]any{
		"region": "West", "name": "nova-public", "url": "http://nova.test/v2.1/$(project_id)s"}), http.StatusCreated), "endpoint")
	eid := ep["id"].(string)
	if !hexID.MatchString(eid) || ep["region"] != "West" || ep["region_id"] != "West" || ep["service_id"] != sid ||
		ep["interface"] != "public" || ep["enabled"] != true || ep["name"] != "nova-public" || ep["url"] != "http://nova.test/v2.1/$(project_id)s" {
		t.Errorf("created endpoint = %v", ep)
	}
	if links, _ := ep["links"].(map[string]any); links["self"] != "http://example.com/v3/endpoints/"+eid {
		t.Errorf("links = %v", ep["links"])
	}
	catCall(t, tc, "GET", "/v3/regions/West", nil, http.StatusOK)
	noRegion := catObj(t, catCall(t, tc, "POST", "/v3/endpoints", base(map[string]any{"interface": "internal", "enabled": false}), http.StatusCreated), "endpoint")
	if noRegion["region"] != nil || noRegion["region_id"] != nil || noRegion["enabled"] != false {
		t.Errorf("endpoint without region = %v", noRegion)
	}
	other := catObj(t, catCall(t, tc, "POST", "/v3/endpoints", map[string]any{"endpoint": map[string]any{
		"service_id": sid2, "interface": "admin", "url": "http://glance.test", "region_id": "West"}}, http.StatusCreated), "endpoint")

	got := catObj(t, catCall(t, tc, "GET", "/v3/endpoints/"+eid, nil, http.StatusOK), "endpoint")
	if got["region"] != "West" || got["name"] != "nova-public" {
		t.Errorf("GET endpoint = %v", got)
	}
	out := catCall(t, tc, "GET", "/v3/endpoints/nope", nil, http.StatusNotFound)
	catErr(t, out, "Could not find endpoint: nope.")

	for _, c := range []struct {
		query string
		want  []string
	}{
		{"?service_id=" + sid, []string{eid, noRegion["id"].(string)}},
		{"?service_id=" + sid2, []string{other["id"].(string)}},
		{"?interface=admin&region_id=West", []string{other["id"].(string)}},
		{"?region_id=West", []string{eid, other["id"].(string)}},
		{"?interface=internal&service_id=" + sid, []string{noRegion["id"].(string)}},
	} {
		ids := catIDs(t, catCall(t, tc, "GET", "/v3/endpoints"+c.query, nil, http.StatusOK), "endpoints")
		if len(ids) != len(c.want) {
			t.Errorf("endpoints%s = %v, want %v", c.query, ids, c.want)
			continue
		}
		for _, w := range c.want {
			if !hasID(ids, w) {
				t.Errorf("endpoints%s = %v, want %v", c.query, ids, c.want)
			}
		}
	}
	catCall(t, tc, "GET", "/v3/endpoints?interface=private", nil, http.StatusBadRequest)

	// PATCH moves the endpoint to another service, interface, URL and (legacy) region.
	upd := catObj(t, catCall(t, tc, "PATCH", "/v3/endpoints/"+eid, map[string]any{"endpoint": map[string]any{
		"service_id": sid2, "interface": "internal", "url": "http://new.test", "region": "North", "enabled": false}}, http.StatusOK), "endpoint")
	if upd["service_id"] != sid2 || upd["interface"] != "internal" || upd["url"] != "http://new.test" ||
		upd["region"] != "North" || upd["region_id"] != "North" || upd["enabled"] != false || upd["name"] != "nova-public" {
		t.Errorf("patched endpoint = %v", upd)
	}
	catCall(t, tc, "GET", "/v3/regions/North", nil, http.StatusOK)
	for _, body := range []map[string]any{
		{"enabled": "True"},
		{"interface": "private"},
		{"service_id": "nope"},
		{"region_id": "nope"},
		{"id": "other"},
		{},
	} {
		catCall(t, tc, "PATCH", "/v3/endpoints/"+eid, map[string]any{"endpoint": body}, http.StatusBadRequest)
	}
	catCall(t, tc, "PATCH", "/v3/endpoints/nope", map[string]any{"endpoint": map[string]any{"url": "http://x"}}, http.StatusNotFound)

	catCall(t, tc, "DELETE", "/v3/endpoints/"+eid, nil, http.StatusNoContent)
	catCall(t, tc, "DELETE", "/v3/endpoints/"+eid, nil, http.StatusNotFound)
}

// catalogByType indexes a catalog by service type.
func catalogByType(cat []map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, e := range cat {
		out[e["type"].(string)] = e
	}
	return out
}

// catalogURLs returns interface → url of a catalog entry's endpoints.
func catalogURLs(e map[string]any) map[string]string {
	out := map[string]string{}
	for _, ep := range e["endpoints"].([]map[string]any) {
		out[ep["interface"].(string)] = ep["url"].(string)
	}
	return out
}

func TestCatalog(t *testing.T) {
	tc := newTestCloud(t)
	s := tc.svc
	ctx := context.Background()

	cat, err := s.catalog(ctx, s.db, "p1")
	if err != nil {
		t.Fatal(err)
	}
	id := catalogByType(cat)["identity"]
	if id == nil || id["name"] != "keystone" || !hexID.MatchString(id["id"].(string)) {
		t.Fatalf("identity entry = %v", id)
	}
	for _, ep := range id["endpoints"].([]map[string]any) {
		if len(ep) != 5 || ep["region"] != "RegionOne" || ep["region_id"] != "RegionOne" || ep["url"] != "http://example.test/v3" || !hexID.MatchString(ep["id"].(string)) {
			t.Errorf("identity endpoint = %v", ep)
		}
	}
	if got := catalogURLs(id); len(got) != 3 {
		t.Errorf("identity endpoints = %v", got)
	}

	// Substitutions, disabled endpoints and services, and URLs needing a project.
	svc := catObj(t, catCall(t, tc, "POST", "/v3/services", map[string]any{"service": map[string]any{"type": "volumev3", "name": "cinder"}}, http.StatusCreated), "service")
	for iface, url := range map[string]string{
		"public":   "http://c.test/v3/$(project_id)s",
		"internal": "http://c.test/v3/%(tenant_id)s/x",
		"admin":    "http://c.test/v3",
	} {
		catCall(t, tc, "POST", "/v3/endpoints", map[string]any{"endpoint": map[string]any{
			"service_id": svc["id"], "interface": iface, "url": url, "region_id": "RegionOne"}}, http.StatusCreated)
	}
	catCall(t, tc, "POST", "/v3/endpoints", map[string]any{"endpoint": map[string]any{
		"service_id": svc["id"], "interface": "public", "url": "http://hidden.test", "enabled": false}}, http.StatusCreated)
	off := catObj(t, catCall(t, tc, "POST", "/v3/services", map[string]any{"service": map[string]any{"type": "off", "enabled": false}}, http.StatusCreated), "service")
	catCall(t, tc, "POST", "/v3/endpoints", map[string]any{"endpoint": map[string]any{
		"service_id": off["id"], "interface": "public", "url": "http://off.test"}}, http.StatusCreated)
	catCall(t, tc, "POST", "/v3/services", map[string]any{"service": map[string]any{"type": "empty"}}, http.StatusCreated)

	cat, err = s.catalog(ctx, s.db, "p1")
	if err != nil {
		t.Fatal(err)
	}
	byType := catalogByType(cat)
	if byType["off"] != nil {
		t.Errorf("disabled service in catalog: %v", byType["off"])
	}
	if e := byType["empty"]; e == nil || len(e["endpoints"].([]map[string]any)) != 0 {
		t.Errorf("service without endpoints = %v (Keystone lists it with no endpoints)", e)
	}
	want := map[string]string{"public": "http://c.test/v3/p1", "internal": "http://c.test/v3/p1/x", "admin": "http://c.test/v3"}
	if got := catalogURLs(byType["volumev3"]); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("volume endpoints for p1 = %v, want %v", got, want)
	}
	if byType["volumev3"]["name"] != "cinder" {
		t.Errorf("volume entry = %v", byType["volumev3"])
	}
	// Without a project, endpoints needing one are left out.
	cat, err = s.catalog(ctx, s.db, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := catalogURLs(catalogByType(cat)["volumev3"]); fmt.Sprint(got) != fmt.Sprint(map[string]string{"admin": "http://c.test/v3"}) {
		t.Errorf("volume endpoints without project = %v", got)
	}
	// The catalog is fresh after a write and callers may change what they get.
	cat[0]["type"] = "mutated"
	catCall(t, tc, "PATCH", "/v3/services/"+svc["id"].(string), map[string]any{"service": map[string]any{"enabled": false}}, http.StatusOK)
	cat, err = s.catalog(ctx, s.db, "p1")
	if err != nil {
		t.Fatal(err)
	}
	byType = catalogByType(cat)
	if byType["volumev3"] != nil || byType["mutated"] != nil {
		t.Errorf("catalog after disabling volume = %v", cat)
	}
	// Reading through a transaction sees its uncommitted changes.
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE services SET enabled = ? WHERE id = ?`, true, svc["id"]); err != nil {
			return err
		}
		cat, err := s.catalog(ctx, tx, "p1")
		if err != nil {
			return err
		}
		if catalogByType(cat)["volumev3"] == nil {
			t.Errorf("catalog in transaction misses the re-enabled service")
		}
		return fmt.Errorf("roll back")
	})
	if err == nil || err.Error() != "roll back" {
		t.Fatal(err)
	}

	// The token and /v3/auth/catalog carry the catalog.
	resp, out := doJSON(t, tc.handler, "GET", "/v3/auth/catalog", tc.demoToken, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("auth catalog: %d %v", resp.StatusCode, out)
	}
	if list, _ := out["catalog"].([]any); len(list) == 0 {
		t.Errorf("auth catalog = %v", out)
	}
}

func TestURLTemplate(t *testing.T) {
	for _, c := range []struct {
		url, user, project string
		want               string
		ok, valid          bool
	}{
		{"http://x/v2", "", "", "http://x/v2", true, true},
		{"http://x/$(project_id)s", "", "p", "http://x/p", true, true},
		{"http://x/%(tenant_id)s/y", "", "p", "http://x/p/y", true, true},
		{"http://x/$(project_id)s", "", "", "", false, true},
		{"http://x/$(user_id)s", "u", "", "http://x/u", true, true},
		{"http://x/$(user_id)s", "", "p", "", false, true},
		{"http://x/%%20", "", "", "http://x/%20", true, true},
		{"http://x/%20", "", "", "", false, false},
		{"http://x/$(foo)s", "", "p", "", false, false},
		{"http://x/$(project_id)d", "", "p", "", false, false},
		{"http://x/$(project_id", "", "p", "", false, false},
		{"http://x/$(compute_host)s", "", "p", "", false, true},
		{"http://x/$(public_endpoint)s", "", "p", "http://x/None", true, true},
	} {
		tmpl := parseURLTemplate(c.url)
		got, ok := tmpl.expand(c.user, c.project)
		if got != c.want || ok != c.ok {
			t.Errorf("expand(%q, %q, %q) = %q, %v; want %q, %v", c.url, c.user, c.project, got, ok, c.want, c.ok)
		}
		if v := tmpl.validate(); v != c.valid {
			t.Errorf("validate(%q) = %v, want %v", c.url, v, c.valid)
		}
	}
}

// endpointRows returns interface → url of the endpoints of the service of this type.
func endpointRows(t *testing.T, s *Service, typ string) (services int, urls map[string]string) {
	t.Helper()
	ctx := context.Background()
	svcs, err := s.listCatalogServices(ctx, s.db, typ, "", true, false)
	if err != nil {
		t.Fatal(err)
	}
	urls = map[string]string{}
	for _, sv := range svcs {
		eps, err := s.listEndpoints(ctx, s.db, endpointFilter{ServiceID: sv.ID})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range eps {
			if _, dup := urls[e.Interface]; dup {
				t.Errorf("two %s endpoints for %s", e.Interface, typ)
			}
			urls[e.Interface] = e.URL + "@" + e.RegionID
		}
	}
	return len(svcs), urls
}

func TestEnsureCatalogEntry(t *testing.T) {
	s := newTestService(t)
	ctx := context.Background()
	ensure := func(e catalogEntry) {
		t.Helper()
		if err := s.write(ctx, func(tx *store.Tx) error { return s.ensureCatalogEntry(ctx, tx, e) }); err != nil {
			t.Fatal(err)
		}
	}
	e := catalogEntry{Type: "compute", Name: "nova", Description: "Compute", Region: "RegionTwo",
		URLs: map[string]string{"public": "http://h:8774/v2.1", "internal": "http://h:8774/v2.1", "admin": "http://h:8774/v2.1"}}
	ensure(e)
	ensure(e)
	n, urls := endpointRows(t, s, "compute")
	want := map[string]string{"public": "http://h:8774/v2.1@RegionTwo", "internal": "http://h:8774/v2.1@RegionTwo", "admin": "http://h:8774/v2.1@RegionTwo"}
	if n != 1 || fmt.Sprint(urls) != fmt.Sprint(want) {
		t.Errorf("after two ensures: %d services, %v", n, urls)
	}
	regions, err := s.listRegions(ctx, s.db, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(regions) != 2 { // RegionOne from bootstrap and RegionTwo
		t.Errorf("regions = %d", len(regions))
	}
	svcs, _ := s.listCatalogServices(ctx, s.db, "compute", "", true, false)
	if svcs[0].name() != "nova" || svcs[0].Extra["description"] != "Compute" || !svcs[0].Enabled {
		t.Errorf("service = %+v", svcs[0])
	}

	// A new port moves the URLs without duplicating anything.
	e.URLs = map[string]string{"public": "http://h:9774/v2.1", "internal": "http://h:9774/v2.1", "admin": "http://h:9774/v2.1"}
	ensure(e)
	n, urls = endpointRows(t, s, "compute")
	want = map[string]string{"public": "http://h:9774/v2.1@RegionTwo", "internal": "http://h:9774/v2.1@RegionTwo", "admin": "http://h:9774/v2.1@RegionTwo"}
	if n != 1 || fmt.Sprint(urls) != fmt.Sprint(want) {
		t.Errorf("after URL change: %d services, %v", n, urls)
	}

	// An operator's change to the service (disabled) survives; the bootstrap identity entry
	// is untouched by another type's entry.
	if _, err := s.db.ExecContext(ctx, `UPDATE services SET enabled = ? WHERE id = ?`, false, svcs[0].ID); err != nil {
		t.Fatal(err)
	}
	ensure(e)
	svcs, _ = s.listCatalogServices(ctx, s.db, "compute", "", true, false)
	if len(svcs) != 1 || svcs[0].Enabled {
		t.Errorf("services after re-ensure = %+v", svcs)
	}
	if n, urls := endpointRows(t, s, "identity"); n != 1 || len(urls) != 3 {
		t.Errorf("identity: %d services, %v", n, urls)
	}
	// A service of the same type with another name is a different service.
	ensure(catalogEntry{Type: "compute", Name: "nova-legacy", URLs: map[string]string{"public": "http://h/v2"}})
	if svcs, _ := s.listCatalogServices(ctx, s.db, "compute", "", true, false); len(svcs) != 2 {
		t.Errorf("compute services = %d", len(svcs))
	}
}

func BenchmarkCatalog(b *testing.B) {
	s := newTestService(b)
	ctx := context.Background()
	for _, typ := range []string{"compute", "image", "network", "volumev3", "block-storage", "load-balancer", "placement", "orchestration", "object-store", "dns"} {
		e := catalogEntry{Type: typ, Name: typ, Region: "RegionOne", URLs: map[string]string{
			"public": "http://h/" + typ + "/$(project_id)s", "internal": "http://h/" + typ, "admin": "http://h/" + typ}}
		if err := s.write(ctx, func(tx *store.Tx) error { return s.ensureCatalogEntry(ctx, tx, e) }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cat, err := s.catalog(ctx, s.db, "0123456789abcdef0123456789abcdef")
		if err != nil || len(cat) != 11 {
			b.Fatal(err, len(cat))
		}
	}
}

func TestCatalogPoliciesParse(t *testing.T) {
	rules := basePolicies()
	for k, v := range catalogPolicies() {
		rules[k] = v
	}
	for _, name := range []string{"identity:create_region", "identity:list_endpoints", "identity:get_limit", "identity:create_registered_limits", "identity:get_limit_model"} {
		if _, ok := rules[name]; !ok {
			t.Errorf("no default for %s", name)
		}
	}
	for name, text := range rules {
		if _, err := policy.Parse(text); err != nil {
			t.Errorf("rule %s: %v", name, err)
		}
	}
}
