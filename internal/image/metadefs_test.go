package image

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const mdPrefix = "/image/v2/metadefs"

// mdCall sends a metadefs request and checks its status.
func mdCall(t *testing.T, tc *testCloud, method, path, token string, body any, want int) map[string]any {
	t.Helper()
	resp, out := tc.json(t, method, path, token, body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %v", method, path, resp.StatusCode, want, out)
	}
	return out
}

// mdMessage is the message of a JSON error body.
func mdMessage(out map[string]any) string {
	msg, _ := out["message"].(string)
	return msg
}

// names lists the "name" (or key) field of each element of a JSON array.
func names(list any, key string) []string {
	var out []string
	for _, e := range list.([]any) {
		out = append(out, e.(map[string]any)[key].(string))
	}
	return out
}

// cmpIgnoreKeys ignores map entries with the given keys.
func cmpIgnoreKeys(keys ...string) cmp.Option {
	return cmpopts.IgnoreMapEntries(func(k string, _ any) bool { return slices.Contains(keys, k) })
}

// jsonEscape is s as it appears inside a JSON string.
func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// createNS creates a namespace as the admin.
func createNS(t *testing.T, tc *testCloud, body map[string]any) map[string]any {
	t.Helper()
	return mdCall(t, tc, "POST", mdPrefix+"/namespaces", tc.admin.token, body, http.StatusCreated)
}

func TestMetadefCatalogIsLoadedOnce(t *testing.T) {
	tc := newTestCloud(t)
	out := mdCall(t, tc, "GET", mdPrefix+"/resource_types", tc.demo.token, nil, http.StatusOK)
	rts := names(out["resource_types"], "name")
	for _, want := range []string{"OS::Glance::Image", "OS::Nova::Flavor", "OS::Cinder::Volume", "OS::Nova::Aggregate", "OS::Nova::Server"} {
		if !slices.Contains(rts, want) {
			t.Errorf("resource types %v lack %s", rts, want)
		}
	}
	count := func(token string) int {
		out := mdCall(t, tc, "GET", mdPrefix+"/namespaces?limit=1000", token, nil, http.StatusOK)
		return len(out["namespaces"].([]any))
	}
	// Two catalog namespaces have no visibility and so are private to "admin".
	if a, d := count(tc.admin.token), count(tc.demo.token); a != 33 || d != 31 {
		t.Fatalf("catalog namespaces: admin sees %d, demo %d; want 33 and 31", a, d)
	}
	ns := mdCall(t, tc, "GET", mdPrefix+"/namespaces/OS::Compute::Quota", tc.demo.token, nil, http.StatusOK)
	if ns["owner"] != "admin" || ns["protected"] != true || ns["visibility"] != "public" {
		t.Errorf("OS::Compute::Quota: %v", ns)
	}
	if len(ns["objects"].([]any)) == 0 || ns["resource_type_associations"] == nil {
		t.Errorf("OS::Compute::Quota has no objects or associations: %v", ns)
	}

	// An unprotected catalog namespace an admin deletes stays deleted after a restart.
	mdCall(t, tc, "DELETE", mdPrefix+"/namespaces/OS::Compute::AggregateNumInstancesFilter", tc.admin.token, nil, http.StatusNoContent)
	tc.start(t)
	if n := count(tc.admin.token); n != 32 {
		t.Fatalf("after a restart the admin sees %d namespaces, want 32", n)
	}
	// Loading again is a no-op.
	n, err := loadMetadefCatalog(context.Background(), tc.db, metadefCatalogJSON, now())
	if err != nil || n != 0 {
		t.Fatalf("second load: %d namespaces, %v", n, err)
	}
}

func TestMetadefNamespaceLifecycle(t *testing.T) {
	tc := newTestCloud(t)
	body := map[string]any{
		"namespace": "Test::NS", "display_name": "Test", "description": "Tempest", "visibility": "public", "protected": true,
		"resource_type_associations": []any{map[string]any{"name": "OS::Glance::Image", "prefix": "hw_"}},
		"properties":                 map[string]any{"cpu": map[string]any{"title": "CPU", "type": "integer", "minimum": 1, "unknown": "dropped"}},
		"objects": []any{map[string]any{"name": "obj", "required": []any{"cpu"},
			"properties": map[string]any{"cpu": map[string]any{"title": "CPU", "type": "integer"}}}},
		"tags": []any{map[string]any{"name": "t1"}, map[string]any{"name": "t2"}},
	}
	resp, created := tc.json(t, "POST", mdPrefix+"/namespaces", tc.admin.token, body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %v", resp.StatusCode, created)
	}
	if loc := resp.Header.Get("Location"); !strings.HasSuffix(loc, "/image/v2/metadefs/namespaces/Test::NS") {
		t.Errorf("Location %q", loc)
	}
	want := map[string]any{
		"namespace": "Test::NS", "display_name": "Test", "description": "Tempest", "visibility": "public", "protected": true,
		"owner": tc.admin.project, "self": "/v2/metadefs/namespaces/Test::NS", "schema": "/v2/schemas/metadefs/namespace",
		"resource_type_associations": []any{map[string]any{"name": "OS::Glance::Image", "prefix": "hw_"}},
		"properties":                 map[string]any{"cpu": map[string]any{"title": "CPU", "type": "integer", "minimum": float64(1)}},
		"objects": []any{map[string]any{"name": "obj", "required": []any{"cpu"},
			"properties": map[string]any{"cpu": map[string]any{"title": "CPU", "type": "integer"}}}},
		"tags": []any{map[string]any{"name": "t1"}, map[string]any{"name": "t2"}},
	}
	ignoreTimes := cmpIgnoreKeys("created_at", "updated_at")
	if diff := cmp.Diff(want, created, ignoreTimes); diff != "" {
		t.Errorf("create response (-want +got):\n%s", diff)
	}
	mdCall(t, tc, "POST", mdPrefix+"/namespaces", tc.admin.token, map[string]any{"namespace": "Test::NS"}, http.StatusConflict)

	list := mdCall(t, tc, "GET", mdPrefix+"/namespaces", tc.demo.token, nil, http.StatusOK)
	if got := names(list["namespaces"], "namespace"); got[0] != "Test::NS" {
		t.Errorf("newest namespace is not listed first: %v", got)
	}
	if list["first"] != "/v2/metadefs/namespaces" || list["schema"] != "/v2/schemas/metadefs/namespaces" {
		t.Errorf("list links: %v %v", list["first"], list["schema"])
	}

	shown := mdCall(t, tc, "GET", mdPrefix+"/namespaces/Test::NS", tc.demo.token, nil, http.StatusOK)
	if names(shown["tags"], "name")[1] != "t2" || shown["properties"].(map[string]any)["cpu"] == nil {
		t.Errorf("show: %v", shown)
	}
	obj := shown["objects"].([]any)[0].(map[string]any)
	if obj["self"] != "/v2/metadefs/namespaces/Test::NS/objects/obj" || obj["schema"] != "/v2/schemas/metadefs/object" {
		t.Errorf("object in show: %v", obj)
	}
	// With a resource type, property names carry its prefix.
	prefixed := mdCall(t, tc, "GET", mdPrefix+"/namespaces/Test::NS?resource_type=OS::Glance::Image", tc.demo.token, nil, http.StatusOK)
	if prefixed["properties"].(map[string]any)["hw_cpu"] == nil {
		t.Errorf("prefixed properties: %v", prefixed["properties"])
	}
	pobj := prefixed["objects"].([]any)[0].(map[string]any)
	if pobj["properties"].(map[string]any)["hw_cpu"] == nil || pobj["required"].([]any)[0] != "hw_cpu" {
		t.Errorf("prefixed object: %v", pobj)
	}

	out := mdCall(t, tc, "DELETE", mdPrefix+"/namespaces/Test::NS", tc.admin.token, nil, http.StatusForbidden)
	if !strings.Contains(mdMessage(out), "Metadata definition namespace Test::NS is protected and cannot be deleted.") {
		t.Errorf("protected delete: %v", out)
	}
	for _, p := range []string{"/objects", "/properties", "/tags"} {
		mdCall(t, tc, "DELETE", mdPrefix+"/namespaces/Test::NS"+p, tc.admin.token, nil, http.StatusForbidden)
	}
	updated := mdCall(t, tc, "PUT", mdPrefix+"/namespaces/Test::NS", tc.admin.token, map[string]any{
		"namespace": "Test::NS", "description": "Tempest", "visibility": "private", "display_name": "Test", "protected": false,
	}, http.StatusOK)
	if updated["visibility"] != "private" || updated["protected"] != false || updated["objects"] != nil {
		t.Errorf("update: %v", updated)
	}
	// Private now: the demo project no longer sees it, and learns nothing about it.
	out = mdCall(t, tc, "GET", mdPrefix+"/namespaces/Test::NS", tc.demo.token, nil, http.StatusNotFound)
	if !strings.HasPrefix(mdMessage(out), "The resource could not be found.") {
		t.Errorf("hidden namespace: %v", out)
	}
	out = mdCall(t, tc, "GET", mdPrefix+"/namespaces/Test::NS/objects", tc.demo.token, nil, http.StatusNotFound)
	if !strings.Contains(mdMessage(out), "Namespace Test::NS not found") {
		t.Errorf("hidden namespace's objects: %v", out)
	}

	// A rename keeps the content.
	mdCall(t, tc, "PUT", mdPrefix+"/namespaces/Test::NS", tc.admin.token, map[string]any{"namespace": "Test::Renamed"}, http.StatusOK)
	renamed := mdCall(t, tc, "GET", mdPrefix+"/namespaces/Test::Renamed", tc.admin.token, nil, http.StatusOK)
	if len(renamed["tags"].([]any)) != 2 || len(renamed["objects"].([]any)) != 1 || renamed["display_name"] != nil {
		t.Errorf("renamed: %v", renamed)
	}
	mdCall(t, tc, "DELETE", mdPrefix+"/namespaces/Test::Renamed", tc.admin.token, nil, http.StatusNoContent)
	out = mdCall(t, tc, "GET", mdPrefix+"/namespaces/Test::Renamed", tc.admin.token, nil, http.StatusNotFound)
	if !strings.Contains(mdMessage(out), "Metadata definition namespace=Test::Renamed was not found.") {
		t.Errorf("deleted namespace: %v", out)
	}
	var n int
	if err := tc.db.QueryRowContext(context.Background(), `SELECT
		(SELECT COUNT(*) FROM image_metadef_tags t JOIN image_metadef_namespaces n ON n.id = t.namespace_id WHERE n.owner <> 'admin') +
		(SELECT COUNT(*) FROM image_metadef_objects WHERE name = 'obj')`).Scan(&n); err != nil || n != 0 {
		t.Errorf("content left behind: %d %v", n, err)
	}
}

func TestMetadefPolicy(t *testing.T) {
	tc := newTestCloud(t)
	out := mdCall(t, tc, "POST", mdPrefix+"/namespaces", tc.demo.token, map[string]any{"namespace": "mine"}, http.StatusForbidden)
	if !strings.Contains(mdMessage(out), "You are not authorized to complete add_metadef_namespace action.") {
		t.Errorf("member create: %v", out)
	}
	createNS(t, tc, map[string]any{"namespace": "pub", "visibility": "public"})
	createNS(t, tc, map[string]any{"namespace": "demo-owned", "owner": tc.demo.project})
	createNS(t, tc, map[string]any{"namespace": "admin-private"})

	// Readers see public namespaces and their own project's; writes stay with admins.
	list := mdCall(t, tc, "GET", mdPrefix+"/namespaces?limit=100", tc.demo.token, nil, http.StatusOK)
	got := names(list["namespaces"], "namespace")
	if !slices.Contains(got, "pub") || !slices.Contains(got, "demo-owned") || slices.Contains(got, "admin-private") {
		t.Errorf("demo lists %v", got)
	}
	out = mdCall(t, tc, "PUT", mdPrefix+"/namespaces/pub", tc.demo.token, map[string]any{"namespace": "pub"}, http.StatusForbidden)
	if !strings.Contains(mdMessage(out), "modify_metadef_namespace") {
		t.Errorf("member update: %v", out)
	}
	mdCall(t, tc, "POST", mdPrefix+"/namespaces/demo-owned/objects", tc.demo.token, map[string]any{"name": "o"}, http.StatusForbidden)
	mdCall(t, tc, "POST", mdPrefix+"/namespaces/demo-owned/tags/x", tc.demo.token, nil, http.StatusForbidden)
	mdCall(t, tc, "DELETE", mdPrefix+"/namespaces/admin-private", tc.demo.token, nil, http.StatusNotFound)
	mdCall(t, tc, "GET", mdPrefix+"/namespaces/admin-private/tags", tc.alt.token, nil, http.StatusNotFound)
	mdCall(t, tc, "GET", mdPrefix+"/namespaces/demo-owned/properties", tc.alt.token, nil, http.StatusNotFound)
	mdCall(t, tc, "GET", mdPrefix+"/namespaces/demo-owned/properties", tc.demo.token, nil, http.StatusOK)
	// A marker the caller may not see is refused.
	out = mdCall(t, tc, "GET", mdPrefix+"/namespaces?marker=admin-private", tc.demo.token, nil, http.StatusForbidden)
	if !strings.Contains(mdMessage(out), "namespace=admin-private is not visible") {
		t.Errorf("hidden marker: %v", out)
	}
}

func TestMetadefObjects(t *testing.T) {
	tc := newTestCloud(t)
	createNS(t, tc, map[string]any{"namespace": "ns", "visibility": "public"})
	base := mdPrefix + "/namespaces/ns/objects"
	created := mdCall(t, tc, "POST", base, tc.admin.token, map[string]any{
		"name": "o1", "description": "first",
		"properties": map[string]any{"p": map[string]any{"title": "P", "type": "string", "enum": []any{"a", "b"}}},
	}, http.StatusCreated)
	if created["self"] != "/v2/metadefs/namespaces/ns/objects/o1" || created["required"] != nil {
		t.Errorf("create: %v", created)
	}
	mdCall(t, tc, "POST", base, tc.admin.token, map[string]any{"name": "o1"}, http.StatusConflict)
	out := mdCall(t, tc, "POST", base, tc.admin.token, map[string]any{"name": "o2",
		"properties": map[string]any{"p": map[string]any{"title": "P", "type": "string", "bogus": 1}}}, http.StatusBadRequest)
	if !strings.Contains(mdMessage(out), "Provided object does not match schema 'property': Additional properties are not allowed ('bogus' was unexpected)") {
		t.Errorf("object with a bad property: %v", out)
	}
	out = mdCall(t, tc, "POST", mdPrefix+"/namespaces/nope/objects", tc.admin.token, map[string]any{"name": "o"}, http.StatusNotFound)
	if !strings.Contains(mdMessage(out), "Metadata definition namespace=nope was not found.") {
		t.Errorf("missing namespace: %v", out)
	}

	shown := mdCall(t, tc, "GET", base+"/o1", tc.demo.token, nil, http.StatusOK)
	if diff := cmp.Diff([]any{}, shown["required"]); diff != "" || shown["description"] != "first" {
		t.Errorf("show: %v", shown)
	}
	list := mdCall(t, tc, "GET", base, tc.demo.token, nil, http.StatusOK)
	if list["schema"] != "v2/schemas/metadefs/objects" || len(list["objects"].([]any)) != 1 {
		t.Errorf("list: %v", list)
	}
	mdCall(t, tc, "GET", base+"?limit=0", tc.demo.token, nil, http.StatusBadRequest)

	up := mdCall(t, tc, "PUT", base+"/o1", tc.admin.token, map[string]any{"name": "o3", "required": []any{"p"}}, http.StatusOK)
	if up["name"] != "o3" || up["description"] != nil || up["self"] != "/v2/metadefs/namespaces/ns/objects/o3" {
		t.Errorf("update: %v", up)
	}
	mdCall(t, tc, "GET", base+"/o1", tc.demo.token, nil, http.StatusNotFound)
	mdCall(t, tc, "POST", base, tc.admin.token, map[string]any{"name": "o4"}, http.StatusCreated)
	mdCall(t, tc, "PUT", base+"/o4", tc.admin.token, map[string]any{"name": "o3"}, http.StatusConflict)
	out = mdCall(t, tc, "DELETE", base+"/o1", tc.admin.token, nil, http.StatusNotFound)
	if !strings.Contains(mdMessage(out), "Could not find metadata object o1") {
		t.Errorf("delete missing: %v", out)
	}
	mdCall(t, tc, "DELETE", base+"/o3", tc.admin.token, nil, http.StatusNoContent)
	mdCall(t, tc, "DELETE", base, tc.admin.token, nil, http.StatusNoContent)
	if list := mdCall(t, tc, "GET", base, tc.admin.token, nil, http.StatusOK); len(list["objects"].([]any)) != 0 {
		t.Errorf("objects left: %v", list)
	}
}

func TestMetadefProperties(t *testing.T) {
	tc := newTestCloud(t)
	createNS(t, tc, map[string]any{"namespace": "ns", "visibility": "public"})
	mdCall(t, tc, "POST", mdPrefix+"/namespaces/ns/resource_types", tc.admin.token,
		map[string]any{"name": "OS::Nova::Flavor", "prefix": "hw:"}, http.StatusCreated)
	base := mdPrefix + "/namespaces/ns/properties"
	enum := []any{"xen", "qemu", "kvm"}
	created := mdCall(t, tc, "POST", base, tc.admin.token, map[string]any{
		"name": "OS::Nova::Flavor", "title": "t", "type": "string", "enum": enum}, http.StatusCreated)
	if diff := cmp.Diff(map[string]any{"name": "OS::Nova::Flavor", "title": "t", "type": "string", "enum": enum}, created); diff != "" {
		t.Errorf("create (-want +got):\n%s", diff)
	}
	mdCall(t, tc, "POST", base, tc.admin.token, map[string]any{"name": "OS::Nova::Flavor", "title": "t", "type": "string"}, http.StatusConflict)
	out := mdCall(t, tc, "POST", base, tc.admin.token, map[string]any{"name": "x", "type": "string"}, http.StatusBadRequest)
	if !strings.Contains(mdMessage(out), "Provided object does not match schema 'property': 'title' is a required property") {
		t.Errorf("missing title: %v", out)
	}
	out = mdCall(t, tc, "POST", base, tc.admin.token, map[string]any{"name": "x", "title": "t", "type": "str"}, http.StatusBadRequest)
	if !strings.Contains(mdMessage(out), "'str' is not one of ['array', 'boolean', 'integer', 'number', 'object', 'string', None]") {
		t.Errorf("bad type: %v", out)
	}
	mdCall(t, tc, "POST", base, tc.admin.token, map[string]any{"name": "x", "title": "t", "type": "string", "created_at": "x"}, http.StatusForbidden)

	mdCall(t, tc, "GET", base+"/OS::Nova::Flavor", tc.demo.token, nil, http.StatusOK)
	// The prefixed name, with the resource type that gives the prefix.
	mdCall(t, tc, "POST", base, tc.admin.token, map[string]any{"name": "cpu", "title": "t", "type": "integer"}, http.StatusCreated)
	got := mdCall(t, tc, "GET", base+"/hw:cpu?resource_type=OS::Nova::Flavor", tc.demo.token, nil, http.StatusOK)
	if got["name"] != "cpu" {
		t.Errorf("prefixed show: %v", got)
	}
	mdCall(t, tc, "GET", base+"/cpu?resource_type=OS::Nova::Flavor", tc.demo.token, nil, http.StatusNotFound)
	mdCall(t, tc, "GET", base+"/hw:cpu?resource_type=OS::Nope", tc.demo.token, nil, http.StatusNotFound)

	up := mdCall(t, tc, "PUT", base+"/OS::Nova::Flavor", tc.admin.token, map[string]any{
		"name": "OS::Nova::Flavor", "title": "updated", "type": "string", "enum": enum}, http.StatusOK)
	if up["title"] != "updated" {
		t.Errorf("update: %v", up)
	}
	mdCall(t, tc, "PUT", base+"/cpu", tc.admin.token, map[string]any{"name": "OS::Nova::Flavor", "title": "t", "type": "string"}, http.StatusConflict)
	list := mdCall(t, tc, "GET", base, tc.demo.token, nil, http.StatusOK)
	props := list["properties"].(map[string]any)
	if props["OS::Nova::Flavor"].(map[string]any)["title"] != "updated" || len(props) != 2 {
		t.Errorf("list: %v", list)
	}
	mdCall(t, tc, "DELETE", base+"/OS::Nova::Flavor", tc.admin.token, nil, http.StatusNoContent)
	out = mdCall(t, tc, "GET", base+"/OS::Nova::Flavor", tc.admin.token, nil, http.StatusNotFound)
	if !strings.Contains(mdMessage(out), "Could not find property OS::Nova::Flavor") {
		t.Errorf("deleted: %v", out)
	}
	mdCall(t, tc, "DELETE", base, tc.admin.token, nil, http.StatusNoContent)
	if list := mdCall(t, tc, "GET", base, tc.admin.token, nil, http.StatusOK); len(list["properties"].(map[string]any)) != 0 {
		t.Errorf("properties left: %v", list)
	}
}

func TestMetadefTags(t *testing.T) {
	tc := newTestCloud(t)
	createNS(t, tc, map[string]any{"namespace": "ns", "visibility": "public"})
	base := mdPrefix + "/namespaces/ns/tags"
	tags := func(names ...string) map[string]any {
		var list []any
		for _, n := range names {
			list = append(list, map[string]any{"name": n})
		}
		return map[string]any{"tags": list}
	}
	listNames := func(query string) []string {
		return names(mdCall(t, tc, "GET", base+query, tc.demo.token, nil, http.StatusOK)["tags"], "name")
	}
	created := mdCall(t, tc, "POST", base, tc.admin.token, tags("a", "b", "c"), http.StatusCreated)
	if diff := cmp.Diff(tags("a", "b", "c"), created); diff != "" {
		t.Errorf("bulk create (-want +got):\n%s", diff)
	}
	if got := listNames("?sort_dir=asc"); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("list asc: %v", got)
	}
	// Without X-Openstack-Append the tags replace the namespace's; with it they are added.
	mdCall(t, tc, "POST", base, tc.admin.token, tags("d"), http.StatusCreated)
	if got := listNames(""); !slices.Equal(got, []string{"d"}) {
		t.Errorf("after replace: %v", got)
	}
	rec := tc.request(t, "POST", base, tc.admin.token, "application/json", strings.NewReader(`{"tags": [{"name": "e"}]}`),
		"X-Openstack-Append", "True")
	if rec.Code != http.StatusCreated {
		t.Fatalf("append: %d %s", rec.Code, rec.Body)
	}
	if got := listNames("?sort_key=name&sort_dir=asc"); !slices.Equal(got, []string{"d", "e"}) {
		t.Errorf("after append: %v", got)
	}
	mdCall(t, tc, "POST", base, tc.admin.token, tags("x", "x"), http.StatusConflict)
	if got := listNames("?sort_key=name&sort_dir=asc"); !slices.Equal(got, []string{"d", "e"}) {
		t.Errorf("a failed replace changed the tags: %v", got)
	}
	out := mdCall(t, tc, "POST", base, tc.admin.token, map[string]any{"tags": []any{map[string]any{"name": "a", "x": 1}}}, http.StatusBadRequest)
	if !strings.Contains(mdMessage(out), "Provided object does not match schema 'tags'") {
		t.Errorf("bad bulk body: %v", out)
	}

	one := mdCall(t, tc, "POST", base+"/f", tc.admin.token, nil, http.StatusCreated)
	if one["name"] != "f" || one["created_at"] == nil {
		t.Errorf("create one: %v", one)
	}
	out = mdCall(t, tc, "POST", base+"/f", tc.admin.token, nil, http.StatusConflict)
	if !strings.Contains(mdMessage(out), "A metadata tag with name=f already exists in namespace=ns.") {
		t.Errorf("duplicate tag: %v", out)
	}
	mdCall(t, tc, "POST", base+"/"+strings.Repeat("x", 81), tc.admin.token, nil, http.StatusBadRequest)
	if got := listNames("?sort_key=name&sort_dir=asc&limit=2"); !slices.Equal(got, []string{"d", "e"}) {
		t.Errorf("limit: %v", got)
	}
	if got := listNames("?sort_key=name&sort_dir=asc&marker=d"); !slices.Equal(got, []string{"e", "f"}) {
		t.Errorf("marker: %v", got)
	}
	mdCall(t, tc, "GET", base+"?marker=nope", tc.demo.token, nil, http.StatusNotFound)
	mdCall(t, tc, "GET", base+"?sort_dir=up", tc.demo.token, nil, http.StatusBadRequest)
	mdCall(t, tc, "GET", base+"?sort_key=bogus", tc.demo.token, nil, http.StatusBadRequest)

	shown := mdCall(t, tc, "GET", base+"/f", tc.demo.token, nil, http.StatusOK)
	if shown["name"] != "f" {
		t.Errorf("show: %v", shown)
	}
	up := mdCall(t, tc, "PUT", base+"/f", tc.admin.token, map[string]any{"name": "g"}, http.StatusOK)
	if up["name"] != "g" {
		t.Errorf("rename: %v", up)
	}
	mdCall(t, tc, "PUT", base+"/g", tc.admin.token, map[string]any{"name": "d"}, http.StatusConflict)
	mdCall(t, tc, "DELETE", base+"/g", tc.admin.token, nil, http.StatusNoContent)
	mdCall(t, tc, "DELETE", base+"/g", tc.admin.token, nil, http.StatusNotFound)
	mdCall(t, tc, "DELETE", base, tc.admin.token, nil, http.StatusNoContent)
	if got := listNames(""); len(got) != 0 {
		t.Errorf("tags left: %v", got)
	}
}

func TestMetadefResourceTypes(t *testing.T) {
	tc := newTestCloud(t)
	createNS(t, tc, map[string]any{"namespace": "ns", "visibility": "public"})
	createNS(t, tc, map[string]any{"namespace": "other", "visibility": "public"})
	base := mdPrefix + "/namespaces/ns/resource_types"
	created := mdCall(t, tc, "POST", base, tc.admin.token, map[string]any{"name": "My::Type", "properties_target": "image"}, http.StatusCreated)
	if created["name"] != "My::Type" || created["properties_target"] != "image" || created["prefix"] != nil {
		t.Errorf("associate: %v", created)
	}
	mdCall(t, tc, "POST", base, tc.admin.token, map[string]any{"name": "My::Type"}, http.StatusConflict)
	rts := names(mdCall(t, tc, "GET", mdPrefix+"/resource_types", tc.demo.token, nil, http.StatusOK)["resource_types"], "name")
	if !slices.Contains(rts, "My::Type") {
		t.Errorf("a new resource type is not listed: %v", rts)
	}
	assoc := mdCall(t, tc, "GET", base, tc.demo.token, nil, http.StatusOK)
	if got := names(assoc["resource_type_associations"], "name"); !slices.Equal(got, []string{"My::Type"}) {
		t.Errorf("associations: %v", got)
	}
	filtered := mdCall(t, tc, "GET", mdPrefix+"/namespaces?resource_types=My::Type,Nope", tc.demo.token, nil, http.StatusOK)
	if got := names(filtered["namespaces"], "namespace"); !slices.Equal(got, []string{"ns"}) {
		t.Errorf("namespaces of My::Type: %v", got)
	}
	out := mdCall(t, tc, "DELETE", mdPrefix+"/namespaces/other/resource_types/My::Type", tc.admin.token, nil, http.StatusNotFound)
	if !strings.Contains(mdMessage(out), "Failed to find resource type My::Type to delete") {
		t.Errorf("deassociate missing: %v", out)
	}
	mdCall(t, tc, "DELETE", base+"/My::Type", tc.demo.token, nil, http.StatusForbidden)
	mdCall(t, tc, "DELETE", base+"/My::Type", tc.admin.token, nil, http.StatusNoContent)
	if got := mdCall(t, tc, "GET", base, tc.demo.token, nil, http.StatusOK)["resource_type_associations"].([]any); len(got) != 0 {
		t.Errorf("associations left: %v", got)
	}
	// A protected namespace keeps its associations.
	createNS(t, tc, map[string]any{"namespace": "prot", "protected": true, "resource_type_associations": []any{map[string]any{"name": "My::Type"}}})
	mdCall(t, tc, "DELETE", mdPrefix+"/namespaces/prot/resource_types/My::Type", tc.admin.token, nil, http.StatusForbidden)
}

func TestMetadefListPaging(t *testing.T) {
	tc := newTestCloud(t)
	for i := range 5 {
		createNS(t, tc, map[string]any{"namespace": fmt.Sprintf("page-%d", i), "owner": "pager", "visibility": "private"})
	}
	var got []string
	next := mdPrefix + "/namespaces?limit=2&sort_key=namespace&sort_dir=asc&visibility=private"
	for pages := 0; next != ""; pages++ {
		if pages > 40 {
			t.Fatal("paging does not end")
		}
		out := mdCall(t, tc, "GET", next, tc.admin.token, nil, http.StatusOK)
		for _, n := range names(out["namespaces"], "namespace") {
			if strings.HasPrefix(n, "page-") {
				got = append(got, n)
			}
		}
		next = ""
		if n, ok := out["next"].(string); ok {
			if !strings.HasPrefix(n, "/v2/metadefs/namespaces?limit=2&sort_key=namespace&sort_dir=asc&visibility=private&marker=") {
				t.Fatalf("next link %q", n)
			}
			next = "/image" + n
		}
	}
	if !sort.StringsAreSorted(got) || len(got) != 5 {
		t.Errorf("pages gave %v", got)
	}
	for _, q := range []string{"limit=x", "limit=-1", "sort_dir=sideways", "sort_key=nope", "visibility=shared"} {
		mdCall(t, tc, "GET", mdPrefix+"/namespaces?"+q, tc.admin.token, nil, http.StatusBadRequest)
	}
	out := mdCall(t, tc, "GET", mdPrefix+"/namespaces?marker=nope", tc.admin.token, nil, http.StatusNotFound)
	if !strings.Contains(mdMessage(out), "Metadata definition namespace=nope was not found.") {
		t.Errorf("missing marker: %v", out)
	}
}

func TestMetadefRequestValidation(t *testing.T) {
	tc := newTestCloud(t)
	cases := []struct {
		method, path string
		body         string
		status       int
		message      string
	}{
		{"POST", "/namespaces", `{"display_name": "x"}`, 400, "Provided object does not match schema 'namespace': 'namespace' is a required property"},
		{"POST", "/namespaces", `{"namespace": "x", "foo": 1}`, 400, "Additional properties are not allowed ('foo' was unexpected)"},
		{"POST", "/namespaces", `{"namespace": "x", "visibility": "shared"}`, 400, "'shared' is not one of ['public', 'private']"},
		{"POST", "/namespaces", `{"namespace": "` + strings.Repeat("n", 81) + `"}`, 400, "is too long"},
		{"POST", "/namespaces", `{"namespace": "x", "self": "y"}`, 403, "Attribute 'self' is read-only."},
		{"POST", "/namespaces", `["namespace"]`, 400, "['namespace'] is not of type 'object'"},
		{"POST", "/namespaces", `{"namespace": "x", "properties": {"p": {"title": "t"}}}`, 400, "'type' is a required property"},
		{"POST", "/namespaces", `{"namespace": "x", "objects": [{"name": "o", "required": ["a", "a"]}]}`, 400, "has non-unique elements"},
		{"POST", "/namespaces", `{"namespace": "x", "tags": [{}]}`, 400, "Invalid input for field/attribute name. Value: 'None'. Mandatory field missing."},
		{"POST", "/namespaces", `{"namespace": "x", "properties": {"p": {"title": "t", "type": "integer", "minimum": 1.5}}}`, 400, "Wrong type"},
		{"POST", "/namespaces", `{"namespace": "x", "properties": {"p": {"title": "t", "type": "array", "maxItems": -1}}}`, 400, "-1 is less than the minimum of 0"},
		{"POST", "/namespaces", ``, 400, "Body expected in request."},
		{"POST", "/namespaces", `{`, 400, "Malformed JSON in request body."},
		{"PATCH", "/namespaces", `{}`, 405, ""},
		{"GET", "/namespaces/x/tags/y/z", ``, 404, ""},
	}
	for _, c := range cases {
		rec := tc.request(t, c.method, mdPrefix+c.path, tc.admin.token, "application/json", strings.NewReader(c.body), "Accept", "application/json")
		if rec.Code != c.status || !strings.Contains(rec.Body.String(), jsonEscape(c.message)) {
			t.Errorf("%s %s %s: %d %s, want %d with %q", c.method, c.path, c.body, rec.Code, rec.Body, c.status, c.message)
		}
	}
	rec := tc.request(t, "PATCH", mdPrefix+"/namespaces/x/tags/y", tc.admin.token, "", nil)
	if allow := rec.Header().Get("Allow"); allow != "GET, POST, PUT, DELETE" {
		t.Errorf("Allow %q", allow)
	}
}

func TestMetadefSchemas(t *testing.T) {
	tc := newTestCloud(t)
	for doc, name := range map[string]string{
		"namespace": "namespace", "namespaces": "namespaces", "resource_type": "resource_type_association",
		"resource_types": "resource_type_associations", "object": "object", "objects": "objects",
		"property": "property", "properties": "properties", "tag": "tag", "tags": "tags",
	} {
		out := mdCall(t, tc, "GET", "/image/v2/schemas/metadefs/"+doc, tc.demo.token, nil, http.StatusOK)
		if out["name"] != name {
			t.Errorf("schema %s is named %v", doc, out["name"])
		}
	}
	prop := mdCall(t, tc, "GET", "/image/v2/schemas/metadefs/property", tc.demo.token, nil, http.StatusOK)
	if diff := cmp.Diff([]any{"type", "title", "name"}, prop["required"]); diff != "" {
		t.Errorf("property required (-want +got):\n%s", diff)
	}
	props := mdCall(t, tc, "GET", "/image/v2/schemas/metadefs/properties", tc.demo.token, nil, http.StatusOK)
	item := props["properties"].(map[string]any)["properties"].(map[string]any)["additionalProperties"].(map[string]any)
	if diff := cmp.Diff([]any{"type", "title"}, item["required"]); diff != "" || props["definitions"] == nil || item["definitions"] != nil {
		t.Errorf("properties collection: %v", props)
	}
}
