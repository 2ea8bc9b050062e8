package volume

import (
	"net/http"
	"strings"
	"testing"
)

func TestGroupTypesLifecycle(t *testing.T) {
	tc := newTestCloud(t, testOptions{noRun: true})
	// Group types exist from 3.11.
	tc.do(t, "3.10", "GET", "/group_types", nil).want(t, http.StatusNotFound)
	r := tc.do(t, "3.11", "POST", "/group_types", map[string]any{"group_type": map[string]any{
		"name": "gt1", "description": "first", "group_specs": map[string]any{"consistent_group_snapshot_enabled": "<is> True"}}}).
		want(t, http.StatusAccepted)
	gt := r.obj("group_type")
	id := gt["id"].(string)
	if gt["is_public"] != true || gt["description"] != "first" || gt["group_specs"].(map[string]any)["consistent_group_snapshot_enabled"] != "<is> True" {
		t.Fatalf("create: %s", r.raw)
	}
	tc.do(t, "3.11", "POST", "/group_types", map[string]any{"group_type": map[string]any{"name": "gt1"}}).want(t, http.StatusConflict)
	r = tc.do(t, "3.11", "POST", "/group_types", map[string]any{"group_type": map[string]any{"name": "private", "is_public": "false"}}).
		want(t, http.StatusAccepted)
	privID := r.obj("group_type")["id"].(string)

	// Members see public types without their specs; private ones are hidden.
	r = tc.doAs(t, tc.demoToken, "3.11", "GET", "/group_types", nil).want(t, http.StatusOK)
	if l := r.list("group_types"); len(l) != 1 || l[0]["id"] != id || l[0]["group_specs"] != nil {
		t.Fatalf("member list: %s", r.raw)
	}
	tc.doAs(t, tc.demoToken, "3.11", "GET", "/group_types/"+privID, nil).want(t, http.StatusNotFound)
	r = tc.doAs(t, tc.demoToken, "3.11", "GET", "/group_types/"+id, nil).want(t, http.StatusOK)
	if _, ok := r.obj("group_type")["group_specs"]; ok {
		t.Fatalf("member sees specs: %s", r.raw)
	}
	// Admins: public by default, is_public=false or none on request.
	if l := tc.do(t, "3.11", "GET", "/group_types", nil).list("group_types"); len(l) != 1 {
		t.Fatalf("admin default list: %v", l)
	}
	if l := tc.do(t, "3.11", "GET", "/group_types?is_public=false", nil).list("group_types"); len(l) != 1 || l[0]["id"] != privID {
		t.Fatalf("admin private list: %v", l)
	}
	if l := tc.do(t, "3.11", "GET", "/group_types?is_public=None", nil).list("group_types"); len(l) != 2 {
		t.Fatalf("admin all list: %v", l)
	}
	tc.do(t, "3.11", "GET", "/group_types?is_public=perhaps", nil).want(t, http.StatusBadRequest)
	r = tc.do(t, "3.11", "GET", "/group_types/default", nil).want(t, http.StatusNotFound)
	if r.faultMessage("itemNotFound") != "Default group type can not be found." {
		t.Fatalf("default: %s", r.raw)
	}

	// Update.
	r = tc.do(t, "3.11", "PUT", "/group_types/"+id, map[string]any{"group_type": map[string]any{"name": "gt1-new", "is_public": false}}).
		want(t, http.StatusOK)
	if g := r.obj("group_type"); g["name"] != "gt1-new" || g["is_public"] != false || g["description"] != "first" {
		t.Fatalf("update: %s", r.raw)
	}
	tc.do(t, "3.11", "PUT", "/group_types/"+id, map[string]any{"group_type": map[string]any{"name": "private"}}).want(t, http.StatusConflict)
	r = tc.do(t, "3.11", "PUT", "/group_types/"+id, map[string]any{"group_type": map[string]any{}}).want(t, http.StatusBadRequest)
	if !strings.Contains(r.faultMessage("badRequest"), "Specify group type name, description") {
		t.Fatalf("empty update: %s", r.raw)
	}
	tc.do(t, "3.11", "PUT", "/group_types/"+id, map[string]any{"group_type": map[string]any{"name": "  "}}).want(t, http.StatusBadRequest)
	tc.doAs(t, tc.demoToken, "3.11", "PUT", "/group_types/"+id, map[string]any{"group_type": map[string]any{"name": "x"}}).
		want(t, http.StatusForbidden)

	// Group specs.
	base := "/group_types/" + id + "/group_specs"
	r = tc.do(t, "3.11", "POST", base, map[string]any{"group_specs": map[string]any{"k1": "v1", "k2": "v2"}}).want(t, http.StatusAccepted)
	if r.obj("group_specs")["k1"] != "v1" {
		t.Fatalf("specs create: %s", r.raw)
	}
	if specs := tc.do(t, "3.11", "GET", base, nil).want(t, http.StatusOK).obj("group_specs"); len(specs) != 3 {
		t.Fatalf("specs list: %v", specs)
	}
	if r = tc.do(t, "3.11", "GET", base+"/k1", nil).want(t, http.StatusOK); r.body["k1"] != "v1" {
		t.Fatalf("spec show: %s", r.raw)
	}
	if r = tc.do(t, "3.11", "PUT", base+"/k1", map[string]any{"k1": "v9"}).want(t, http.StatusOK); r.body["k1"] != "v9" {
		t.Fatalf("spec update: %s", r.raw)
	}
	r = tc.do(t, "3.11", "PUT", base+"/k1", map[string]any{"k2": "v9"}).want(t, http.StatusBadRequest)
	if r.faultMessage("badRequest") != "Request body and URI mismatch" {
		t.Fatalf("mismatch: %s", r.raw)
	}
	tc.do(t, "3.11", "PUT", base+"/k1", map[string]any{"k1": "a", "k2": "b"}).want(t, http.StatusBadRequest)
	tc.do(t, "3.11", "POST", base, map[string]any{"group_specs": map[string]any{"bad key": "v"}}).want(t, http.StatusBadRequest)
	tc.do(t, "3.11", "DELETE", base+"/k2", nil).want(t, http.StatusAccepted)
	tc.do(t, "3.11", "DELETE", base+"/k2", nil).want(t, http.StatusNotFound)
	tc.do(t, "3.11", "GET", base+"/k2", nil).want(t, http.StatusNotFound)
	tc.doAs(t, tc.demoToken, "3.11", "GET", base, nil).want(t, http.StatusForbidden)
	tc.do(t, "3.11", "GET", "/group_types/nope/group_specs", nil).want(t, http.StatusNotFound)

	// Delete.
	tc.doAs(t, tc.demoToken, "3.11", "DELETE", "/group_types/"+id, nil).want(t, http.StatusForbidden)
	tc.do(t, "3.11", "DELETE", "/group_types/"+id, nil).want(t, http.StatusAccepted)
	tc.do(t, "3.11", "DELETE", "/group_types/"+id, nil).want(t, http.StatusNotFound)
}

func TestGroupTypeCreateErrors(t *testing.T) {
	tc := newTestCloud(t, testOptions{noRun: true})
	for _, body := range []any{
		map[string]any{},
		map[string]any{"group_type": map[string]any{}},
		map[string]any{"group_type": map[string]any{"name": ""}},
		map[string]any{"group_type": map[string]any{"name": "a", "is_public": "maybe"}},
		map[string]any{"group_type": map[string]any{"name": "a", "group_specs": map[string]any{"k": 1}}},
		map[string]any{"group_type": map[string]any{"name": "a", "extra": 1}},
		map[string]any{"group_type": map[string]any{"name": strings.Repeat("n", 256)}},
		[]any{1},
	} {
		r := tc.do(t, "3.11", "POST", "/group_types", body)
		if r.code != http.StatusBadRequest {
			t.Errorf("%v: %d %s", body, r.code, r.raw)
		}
	}
}

func TestGroupTypesListSorted(t *testing.T) {
	tc := newTestCloud(t, testOptions{noRun: true})
	for _, n := range []string{"b_type", "a_type"} {
		tc.do(t, "3.11", "POST", "/group_types", map[string]any{"group_type": map[string]any{"name": n, "is_public": n == "a_type"}}).
			want(t, http.StatusAccepted)
	}
	names := func(q string) []string {
		var out []string
		for _, g := range tc.do(t, "3.11", "GET", "/group_types?"+q, nil).want(t, http.StatusOK).list("group_types") {
			out = append(out, g["name"].(string))
		}
		return out
	}
	if got := names("sort=name:asc&is_public=None"); len(got) != 2 || got[0] != "a_type" || got[1] != "b_type" {
		t.Errorf("name:asc = %v", got)
	}
	if got := names("sort=name:desc&is_public=None"); len(got) != 2 || got[0] != "b_type" {
		t.Errorf("name:desc = %v", got)
	}
	tc.do(t, "3.11", "GET", "/group_types?sort=bogus:asc", nil).want(t, http.StatusBadRequest)
}
