package identity

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// extCall sends a request with token and fails the test unless the status is want.
func extCall(t *testing.T, tc *testCloud, token, method, path string, body any, want int) map[string]any {
	t.Helper()
	resp, out := doJSON(t, tc.handler, method, path, token, body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %v", method, path, resp.StatusCode, want, out)
	}
	return out
}

// extAdmin is extCall with the admin token.
func extAdmin(t *testing.T, tc *testCloud, method, path string, body any, want int) map[string]any {
	t.Helper()
	return extCall(t, tc, tc.adminToken, method, path, body, want)
}

// extMessage returns the message of a Keystone error body.
func extMessage(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

// extIDs returns the ids of the list under key.
func extIDs(t *testing.T, out map[string]any, key string) []string {
	t.Helper()
	list, ok := out[key].([]any)
	if !ok {
		t.Fatalf("no list %q in %v", key, out)
	}
	ids := []string{}
	for _, e := range list {
		ids = append(ids, e.(map[string]any)["id"].(string))
	}
	return ids
}

// epFilterFixture is a service with a public and an internal endpoint, a second service
// with one endpoint, and a project.
type epFilterFixture struct {
	svc1, svc2                  string
	ep1Public, ep1Internal, ep2 string
	project                     string
}

func newEPFilterFixture(t *testing.T, tc *testCloud) epFilterFixture {
	t.Helper()
	var f epFilterFixture
	svc := func(typ string) string {
		out := extAdmin(t, tc, "POST", "/v3/services", map[string]any{"service": map[string]any{"type": typ, "name": typ}}, http.StatusCreated)
		return out["service"].(map[string]any)["id"].(string)
	}
	ep := func(svcID, iface string) string {
		out := extAdmin(t, tc, "POST", "/v3/endpoints", map[string]any{"endpoint": map[string]any{
			"service_id": svcID, "interface": iface, "url": "http://" + iface + ".example.test", "region_id": "RegionOne"}}, http.StatusCreated)
		return out["endpoint"].(map[string]any)["id"].(string)
	}
	f.svc1, f.svc2 = svc("alpha"), svc("beta")
	f.ep1Public, f.ep1Internal, f.ep2 = ep(f.svc1, "public"), ep(f.svc1, "internal"), ep(f.svc2, "public")
	out := extAdmin(t, tc, "POST", "/v3/projects", map[string]any{"project": map[string]any{"name": "filtered", "domain_id": "default"}}, http.StatusCreated)
	f.project = out["project"].(map[string]any)["id"].(string)
	return f
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestEndpointGroupsCRUD(t *testing.T) {
	tc := newTestCloud(t)
	f := newEPFilterFixture(t, tc)
	const base = "/v3/OS-EP-FILTER/endpoint_groups"

	created := extAdmin(t, tc, "POST", base, map[string]any{"endpoint_group": map[string]any{
		"name": "g1", "description": "first", "filters": map[string]any{"service_id": f.svc1}}}, http.StatusCreated)["endpoint_group"].(map[string]any)
	id, _ := created["id"].(string)
	if !hexID.MatchString(id) || created["name"] != "g1" || created["description"] != "first" {
		t.Fatalf("created = %v", created)
	}
	if self := created["links"].(map[string]any)["self"]; self != "http://example.com/v3/OS-EP-FILTER/endpoint_groups/"+id {
		t.Errorf("links.self = %v", self)
	}
	// Without a description, Keystone returns null.
	g2 := extAdmin(t, tc, "POST", base, map[string]any{"endpoint_group": map[string]any{
		"name": "g2", "filters": map[string]any{"interface": "public"}}}, http.StatusCreated)["endpoint_group"].(map[string]any)
	if v, ok := g2["description"]; !ok || v != nil {
		t.Errorf("description without one = %v, %v", v, ok)
	}

	// The listed object equals the created one (tempest compares them whole).
	list := extAdmin(t, tc, "GET", base, nil, http.StatusOK)
	found := false
	for _, e := range list["endpoint_groups"].([]any) {
		if reflect.DeepEqual(e, any(created)) {
			found = true
		}
	}
	if !found {
		t.Errorf("created group %v not in list %v", created, list)
	}
	if ids := extIDs(t, extAdmin(t, tc, "GET", base+"?name=g2", nil, http.StatusOK), "endpoint_groups"); !sameSet(ids, []string{g2["id"].(string)}) {
		t.Errorf("name filter = %v", ids)
	}
	extAdmin(t, tc, "GET", base+"?bogus=1", nil, http.StatusBadRequest)

	got := extAdmin(t, tc, "GET", base+"/"+id, nil, http.StatusOK)["endpoint_group"].(map[string]any)
	if !reflect.DeepEqual(got, created) {
		t.Errorf("get = %v, want %v", got, created)
	}
	extAdmin(t, tc, "HEAD", base+"/"+id, nil, http.StatusOK)

	// Endpoints in the group: both of service 1, not service 2's.
	eps := extIDs(t, extAdmin(t, tc, "GET", base+"/"+id+"/endpoints", nil, http.StatusOK), "endpoints")
	if !sameSet(eps, []string{f.ep1Public, f.ep1Internal}) {
		t.Errorf("group endpoints = %v", eps)
	}

	upd := extAdmin(t, tc, "PATCH", base+"/"+id, map[string]any{"endpoint_group": map[string]any{
		"name": "g1b", "description": "second", "filters": map[string]any{"service_id": f.svc1, "interface": "internal"}}}, http.StatusOK)["endpoint_group"].(map[string]any)
	if upd["name"] != "g1b" || upd["description"] != "second" || upd["filters"].(map[string]any)["interface"] != "internal" {
		t.Errorf("updated = %v", upd)
	}
	eps = extIDs(t, extAdmin(t, tc, "GET", base+"/"+id+"/endpoints", nil, http.StatusOK), "endpoints")
	if !sameSet(eps, []string{f.ep1Internal}) {
		t.Errorf("group endpoints after update = %v", eps)
	}

	extAdmin(t, tc, "DELETE", base+"/"+id, nil, http.StatusNoContent)
	out := extAdmin(t, tc, "GET", base+"/"+id, nil, http.StatusNotFound)
	if msg := extMessage(out); msg != "Could not find Endpoint Group: "+id+"." {
		t.Errorf("404 message = %q", msg)
	}
	extAdmin(t, tc, "DELETE", base+"/"+id, nil, http.StatusNotFound)
	extAdmin(t, tc, "PATCH", base+"/"+id, map[string]any{"endpoint_group": map[string]any{"name": "x"}}, http.StatusNotFound)
	extAdmin(t, tc, "GET", base+"/"+id+"/endpoints", nil, http.StatusNotFound)
}

func TestEndpointGroupValidation(t *testing.T) {
	tc := newTestCloud(t)
	const base = "/v3/OS-EP-FILTER/endpoint_groups"
	for name, body := range map[string]map[string]any{
		"no filters":       {"name": "g"},
		"empty filters":    {"name": "g", "filters": map[string]any{}},
		"no name":          {"filters": map[string]any{"interface": "public"}},
		"blank name":       {"name": " ", "filters": map[string]any{"interface": "public"}},
		"bad filter key":   {"name": "g", "filters": map[string]any{"url": "x"}},
		"enabled filter":   {"name": "g", "filters": map[string]any{"enabled": true}},
		"bad interface":    {"name": "g", "filters": map[string]any{"interface": "private"}},
		"service not str":  {"name": "g", "filters": map[string]any{"service_id": 5}},
		"filters not obj":  {"name": "g", "filters": "x"},
		"extra attribute":  {"name": "g", "filters": map[string]any{"interface": "public"}, "color": "red"},
		"id not allowed":   {"id": "x", "name": "g", "filters": map[string]any{"interface": "public"}},
		"description type": {"name": "g", "description": 5, "filters": map[string]any{"interface": "public"}},
	} {
		resp, out := doJSON(t, tc.handler, "POST", base, tc.adminToken, map[string]any{"endpoint_group": body})
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %v", name, resp.StatusCode, out)
		}
	}
	// A null region_id filter is allowed and matches endpoints without a region.
	extAdmin(t, tc, "POST", base, map[string]any{"endpoint_group": map[string]any{"name": "g", "filters": map[string]any{"region_id": nil}}}, http.StatusCreated)

	id := extAdmin(t, tc, "POST", base, map[string]any{"endpoint_group": map[string]any{
		"name": "g", "filters": map[string]any{"interface": "public"}}}, http.StatusCreated)["endpoint_group"].(map[string]any)["id"].(string)
	extAdmin(t, tc, "PATCH", base+"/"+id, map[string]any{"endpoint_group": map[string]any{}}, http.StatusBadRequest)
	extAdmin(t, tc, "PATCH", base+"/"+id, map[string]any{"endpoint_group": map[string]any{"filters": map[string]any{"foo": "bar"}}}, http.StatusBadRequest)
	extAdmin(t, tc, "PATCH", base+"/"+id, map[string]any{"endpoint_group": map[string]any{"id": id}}, http.StatusBadRequest)

	// Only admins may write; members may not even read.
	extCall(t, tc, tc.demoToken, "POST", base, map[string]any{"endpoint_group": map[string]any{
		"name": "g", "filters": map[string]any{"interface": "public"}}}, http.StatusForbidden)
	extCall(t, tc, tc.demoToken, "GET", base, nil, http.StatusForbidden)
}

func TestEndpointGroupProjects(t *testing.T) {
	tc := newTestCloud(t)
	f := newEPFilterFixture(t, tc)
	const base = "/v3/OS-EP-FILTER"
	gid := extAdmin(t, tc, "POST", base+"/endpoint_groups", map[string]any{"endpoint_group": map[string]any{
		"name": "g", "filters": map[string]any{"service_id": f.svc2}}}, http.StatusCreated)["endpoint_group"].(map[string]any)["id"].(string)
	assoc := base + "/endpoint_groups/" + gid + "/projects/" + f.project

	extAdmin(t, tc, "GET", assoc, nil, http.StatusNotFound)
	extAdmin(t, tc, "PUT", assoc, nil, http.StatusNoContent)
	extAdmin(t, tc, "PUT", assoc, nil, http.StatusConflict)
	out := extAdmin(t, tc, "GET", assoc, nil, http.StatusOK)["project_endpoint_group"].(map[string]any)
	if out["endpoint_group_id"] != gid || out["project_id"] != f.project {
		t.Errorf("association = %v", out)
	}
	extAdmin(t, tc, "HEAD", assoc, nil, http.StatusOK)

	if ids := extIDs(t, extAdmin(t, tc, "GET", base+"/endpoint_groups/"+gid+"/projects", nil, http.StatusOK), "projects"); !sameSet(ids, []string{f.project}) {
		t.Errorf("projects of group = %v", ids)
	}
	if ids := extIDs(t, extAdmin(t, tc, "GET", base+"/projects/"+f.project+"/endpoint_groups", nil, http.StatusOK), "endpoint_groups"); !sameSet(ids, []string{gid}) {
		t.Errorf("groups of project = %v", ids)
	}
	// The project's endpoints come from the group.
	if ids := extIDs(t, extAdmin(t, tc, "GET", base+"/projects/"+f.project+"/endpoints", nil, http.StatusOK), "endpoints"); !sameSet(ids, []string{f.ep2}) {
		t.Errorf("endpoints of project = %v", ids)
	}

	// Unknown project or group: 404 with the right message.
	out = extAdmin(t, tc, "PUT", base+"/endpoint_groups/"+gid+"/projects/nope", nil, http.StatusNotFound)
	if !strings.Contains(extMessage(out), "Could not find project: nope") {
		t.Errorf("message = %q", extMessage(out))
	}
	out = extAdmin(t, tc, "PUT", base+"/endpoint_groups/nope/projects/"+f.project, nil, http.StatusNotFound)
	if !strings.Contains(extMessage(out), "Could not find Endpoint Group: nope") {
		t.Errorf("message = %q", extMessage(out))
	}
	extAdmin(t, tc, "GET", base+"/projects/nope/endpoint_groups", nil, http.StatusNotFound)

	extAdmin(t, tc, "DELETE", assoc, nil, http.StatusNoContent)
	out = extAdmin(t, tc, "DELETE", assoc, nil, http.StatusNotFound)
	if extMessage(out) != "Endpoint Group Project Association not found" {
		t.Errorf("message = %q", extMessage(out))
	}

	// Deleting the group removes its associations.
	extAdmin(t, tc, "PUT", assoc, nil, http.StatusNoContent)
	extAdmin(t, tc, "DELETE", base+"/endpoint_groups/"+gid, nil, http.StatusNoContent)
	if ids := extIDs(t, extAdmin(t, tc, "GET", base+"/projects/"+f.project+"/endpoint_groups", nil, http.StatusOK), "endpoint_groups"); len(ids) != 0 {
		t.Errorf("groups after delete = %v", ids)
	}
}

func TestProjectEndpoints(t *testing.T) {
	tc := newTestCloud(t)
	f := newEPFilterFixture(t, tc)
	const base = "/v3/OS-EP-FILTER"
	assoc := base + "/projects/" + f.project + "/endpoints/" + f.ep1Public

	out := extAdmin(t, tc, "HEAD", assoc, nil, http.StatusNotFound)
	_ = out
	extAdmin(t, tc, "PUT", assoc, nil, http.StatusNoContent)
	extAdmin(t, tc, "PUT", assoc, nil, http.StatusConflict)
	extAdmin(t, tc, "HEAD", assoc, nil, http.StatusNoContent)
	extAdmin(t, tc, "GET", assoc, nil, http.StatusNoContent)

	eps := extAdmin(t, tc, "GET", base+"/projects/"+f.project+"/endpoints", nil, http.StatusOK)
	if ids := extIDs(t, eps, "endpoints"); !sameSet(ids, []string{f.ep1Public}) {
		t.Errorf("project endpoints = %v", ids)
	}
	e := eps["endpoints"].([]any)[0].(map[string]any)
	if e["region"] != "RegionOne" || e["links"].(map[string]any)["self"] != "http://example.com/v3/endpoints/"+f.ep1Public {
		t.Errorf("endpoint = %v", e)
	}
	if ids := extIDs(t, extAdmin(t, tc, "GET", base+"/endpoints/"+f.ep1Public+"/projects", nil, http.StatusOK), "projects"); !sameSet(ids, []string{f.project}) {
		t.Errorf("endpoint projects = %v", ids)
	}

	extAdmin(t, tc, "PUT", base+"/projects/"+f.project+"/endpoints/nope", nil, http.StatusNotFound)
	extAdmin(t, tc, "PUT", base+"/projects/nope/endpoints/"+f.ep1Public, nil, http.StatusNotFound)
	extAdmin(t, tc, "GET", base+"/endpoints/nope/projects", nil, http.StatusNotFound)
	extAdmin(t, tc, "GET", base+"/projects/nope/endpoints", nil, http.StatusNotFound)
	extCall(t, tc, tc.demoToken, "PUT", base+"/projects/"+f.project+"/endpoints/"+f.ep2, nil, http.StatusForbidden)

	extAdmin(t, tc, "DELETE", assoc, nil, http.StatusNoContent)
	out = extAdmin(t, tc, "DELETE", assoc, nil, http.StatusNotFound)
	if want := "Endpoint " + f.ep1Public + " not found in project " + f.project; extMessage(out) != want {
		t.Errorf("message = %q, want %q", extMessage(out), want)
	}

	// Associations go with their endpoint and their project.
	extAdmin(t, tc, "PUT", assoc, nil, http.StatusNoContent)
	extAdmin(t, tc, "PUT", base+"/projects/"+f.project+"/endpoints/"+f.ep2, nil, http.StatusNoContent)
	extAdmin(t, tc, "DELETE", "/v3/endpoints/"+f.ep2, nil, http.StatusNoContent)
	if ids := extIDs(t, extAdmin(t, tc, "GET", base+"/projects/"+f.project+"/endpoints", nil, http.StatusOK), "endpoints"); !sameSet(ids, []string{f.ep1Public}) {
		t.Errorf("project endpoints after endpoint delete = %v", ids)
	}
	extAdmin(t, tc, "DELETE", "/v3/projects/"+f.project, nil, http.StatusNoContent)
	var n int
	if err := tc.svc.db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM project_endpoints`).Scan(&n); err != nil || n != 0 {
		t.Errorf("associations left after project delete: %d, %v", n, err)
	}
}

func TestProjectEndpointFilter(t *testing.T) {
	tc := newTestCloud(t)
	f := newEPFilterFixture(t, tc)
	ctx := context.Background()
	s := tc.svc

	// No associations: no filtering.
	if allowed, err := s.projectEndpointFilter(ctx, s.db, f.project); err != nil || allowed != nil {
		t.Fatalf("filter without associations = %v, %v", allowed, err)
	}
	extAdmin(t, tc, "PUT", "/v3/OS-EP-FILTER/projects/"+f.project+"/endpoints/"+f.ep1Public, nil, http.StatusNoContent)
	gid := extAdmin(t, tc, "POST", "/v3/OS-EP-FILTER/endpoint_groups", map[string]any{"endpoint_group": map[string]any{
		"name": "g", "filters": map[string]any{"service_id": f.svc2}}}, http.StatusCreated)["endpoint_group"].(map[string]any)["id"].(string)
	extAdmin(t, tc, "PUT", "/v3/OS-EP-FILTER/endpoint_groups/"+gid+"/projects/"+f.project, nil, http.StatusNoContent)

	allowed, err := s.projectEndpointFilter(ctx, s.db, f.project)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(allowed, map[string]bool{f.ep1Public: true, f.ep2: true}) {
		t.Fatalf("allowed = %v", allowed)
	}
	cat, err := s.catalog(ctx, s.db, f.project)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, svc := range filterCatalog(cat, allowed) {
		for _, e := range svc["endpoints"].([]map[string]any) {
			got[svc["type"].(string)] = append(got[svc["type"].(string)], e["id"].(string))
		}
	}
	if !reflect.DeepEqual(got, map[string][]string{"alpha": {f.ep1Public}, "beta": {f.ep2}}) {
		t.Errorf("filtered catalog = %v", got)
	}
}
