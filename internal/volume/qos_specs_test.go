package volume

import (
	"net/http"
	"strings"
	"testing"
)

func TestQoSSpecsLifecycle(t *testing.T) {
	tc := newTestCloud(t, testOptions{noRun: true})
	body := map[string]any{"qos_specs": map[string]any{"name": " gold ", "consumer": "front-end",
		"total_iops_sec": "1000", "read_bytes_sec": "2048"}}
	r := tc.do(t, "", "POST", "/qos-specs", body).want(t, http.StatusOK)
	qs := r.obj("qos_specs")
	id, _ := qs["id"].(string)
	if qs["name"] != "gold" || qs["consumer"] != "front-end" {
		t.Fatalf("create: %s", r.raw)
	}
	if specs := qs["specs"].(map[string]any); len(specs) != 2 || specs["total_iops_sec"] != "1000" {
		t.Fatalf("specs: %s", r.raw)
	}
	if links, _ := r.body["links"].([]any); len(links) != 2 {
		t.Fatalf("links: %s", r.raw)
	}
	// Same name: 409.
	r = tc.do(t, "", "POST", "/qos-specs", map[string]any{"qos_specs": map[string]any{"name": "gold"}}).want(t, http.StatusConflict)
	if !strings.Contains(r.faultMessage("conflictingRequest"), "already exists") {
		t.Fatalf("conflict: %s", r.raw)
	}
	// Default consumer is back-end.
	r = tc.do(t, "", "POST", "/qos-specs", map[string]any{"qos_specs": map[string]any{"name": "silver"}}).want(t, http.StatusOK)
	if r.obj("qos_specs")["consumer"] != "back-end" {
		t.Fatalf("default consumer: %s", r.raw)
	}
	// Set keys and consumer, unset keys.
	r = tc.do(t, "", "PUT", "/qos-specs/"+id, map[string]any{"qos_specs": map[string]any{"total_iops_sec": "500",
		"consumer": "both"}}).want(t, http.StatusOK)
	if r.obj("qos_specs")["total_iops_sec"] != "500" {
		t.Fatalf("set: %s", r.raw)
	}
	tc.do(t, "", "PUT", "/qos-specs/"+id+"/delete_keys", map[string]any{"keys": []string{"read_bytes_sec"}}).want(t, http.StatusAccepted)
	r = tc.do(t, "", "GET", "/qos-specs/"+id, nil).want(t, http.StatusOK)
	specs := r.obj("qos_specs")["specs"].(map[string]any)
	if len(specs) != 1 || specs["total_iops_sec"] != "500" || r.obj("qos_specs")["consumer"] != "both" {
		t.Fatalf("after set/unset: %s", r.raw)
	}
	r = tc.do(t, "", "PUT", "/qos-specs/"+id+"/delete_keys", map[string]any{"keys": []string{"nope"}}).want(t, http.StatusNotFound)
	if !strings.Contains(r.faultMessage("itemNotFound"), "has no spec with key nope") {
		t.Fatalf("unset missing: %s", r.raw)
	}
	// List (newest first).
	r = tc.do(t, "", "GET", "/qos-specs", nil).want(t, http.StatusOK)
	if l := r.list("qos_specs"); len(l) != 2 || l[0]["name"] != "silver" {
		t.Fatalf("list: %s", r.raw)
	}
	r = tc.do(t, "", "GET", "/qos-specs?limit=1", nil).want(t, http.StatusOK)
	if l := r.list("qos_specs"); len(l) != 1 || r.body["qos_specs_links"] == nil {
		t.Fatalf("paged list: %s", r.raw)
	}

	// Associations with volume types.
	t1, t2 := tc.addVolumeType(t, "fast"), tc.addVolumeType(t, "slow")
	tc.do(t, "", "GET", "/qos-specs/"+id+"/associate", nil).want(t, http.StatusBadRequest)
	tc.do(t, "", "GET", "/qos-specs/"+id+"/associate?vol_type_id=00000000-0000-0000-0000-000000000000", nil).want(t, http.StatusNotFound)
	tc.do(t, "", "GET", "/qos-specs/"+id+"/associate?vol_type_id="+t1, nil).want(t, http.StatusAccepted)
	tc.do(t, "", "GET", "/qos-specs/"+id+"/associate?vol_type_id="+t2, nil).want(t, http.StatusAccepted)
	if got := tc.column(t, "volume_types", "qos_specs_id", t1); got != id {
		t.Fatalf("type qos_specs_id %q", got)
	}
	r = tc.do(t, "", "GET", "/qos-specs/"+id+"/associations", nil).want(t, http.StatusOK)
	if l := r.list("qos_associations"); len(l) != 2 || l[0]["association_type"] != "volume_type" {
		t.Fatalf("associations: %s", r.raw)
	}
	// A type is associated with one QoS specs at most.
	silver := tc.do(t, "", "GET", "/qos-specs?name=silver", nil).list("qos_specs")[0]["id"].(string)
	r = tc.do(t, "", "GET", "/qos-specs/"+silver+"/associate?vol_type_id="+t1, nil).want(t, http.StatusBadRequest)
	if !strings.Contains(r.faultMessage("badRequest"), "already associated with another qos specs") {
		t.Fatalf("double association: %s", r.raw)
	}
	tc.do(t, "", "GET", "/qos-specs/"+id+"/disassociate?vol_type_id="+t1, nil).want(t, http.StatusAccepted)
	if l := tc.do(t, "", "GET", "/qos-specs/"+id+"/associations", nil).list("qos_associations"); len(l) != 1 {
		t.Fatalf("after disassociate: %v", l)
	}
	// In use: delete refused unless forced.
	r = tc.do(t, "", "DELETE", "/qos-specs/"+id, nil).want(t, http.StatusBadRequest)
	if r.faultMessage("badRequest") != "Qos specs still in use." {
		t.Fatalf("delete in use: %s", r.raw)
	}
	tc.do(t, "", "DELETE", "/qos-specs/"+id+"?force=maybe", nil).want(t, http.StatusBadRequest)
	tc.do(t, "", "DELETE", "/qos-specs/"+id+"?force=True", nil).want(t, http.StatusAccepted)
	if got := tc.column(t, "volume_types", "qos_specs_id", t2); got != "" {
		t.Fatalf("forced delete left qos_specs_id %q", got)
	}
	tc.do(t, "", "GET", "/qos-specs/"+id, nil).want(t, http.StatusNotFound)
	// disassociate_all.
	tc.do(t, "", "GET", "/qos-specs/"+silver+"/associate?vol_type_id="+t1, nil).want(t, http.StatusAccepted)
	tc.do(t, "", "GET", "/qos-specs/"+silver+"/disassociate_all", nil).want(t, http.StatusAccepted)
	tc.do(t, "", "DELETE", "/qos-specs/"+silver, nil).want(t, http.StatusAccepted)
}

func TestQoSSpecsErrorsAndPolicy(t *testing.T) {
	tc := newTestCloud(t, testOptions{noRun: true})
	for _, tt := range []struct {
		name string
		body any
	}{
		{"no name", map[string]any{"qos_specs": map[string]any{"a": "b"}}},
		{"blank name", map[string]any{"qos_specs": map[string]any{"name": "   "}}},
		{"bad consumer", map[string]any{"qos_specs": map[string]any{"name": "x", "consumer": "middle"}}},
		{"non-string value", map[string]any{"qos_specs": map[string]any{"name": "x", "iops": 5}}},
		{"not an object", map[string]any{"qos_specs": "x"}},
		{"extra top-level", map[string]any{"qos_specs": map[string]any{"name": "x"}, "other": 1}},
		{"long value", map[string]any{"qos_specs": map[string]any{"name": "x", "k": strings.Repeat("v", 256)}}},
	} {
		r := tc.do(t, "", "POST", "/qos-specs", tt.body)
		if r.code != http.StatusBadRequest || r.obj("badRequest") == nil {
			t.Errorf("%s: %d %s", tt.name, r.code, r.raw)
		}
	}
	tc.do(t, "", "GET", "/qos-specs/nope", nil).want(t, http.StatusNotFound)
	tc.do(t, "", "PUT", "/qos-specs/nope", map[string]any{"qos_specs": map[string]any{"a": "b"}}).want(t, http.StatusNotFound)
	tc.do(t, "", "PUT", "/qos-specs/nope/delete_keys", map[string]any{"keys": []string{"a", "a"}}).want(t, http.StatusBadRequest)
	// Members may do nothing with QoS specs.
	for _, rq := range [][2]string{{"GET", "/qos-specs"}, {"POST", "/qos-specs"}, {"DELETE", "/qos-specs/x"}} {
		r := tc.doAs(t, tc.demoToken, "", rq[0], rq[1], map[string]any{"qos_specs": map[string]any{"name": "m"}})
		if r.code != http.StatusForbidden {
			t.Errorf("member %s %s: %d %s", rq[0], rq[1], r.code, r.raw)
		}
	}
}
