package compute

import (
	"testing"
)

func TestVersionDocuments(t *testing.T) {
	tc := newTestCloud(t)
	for _, path := range []string{"/compute", "/compute/"} {
		r := tc.raw(t, "", "", "GET", path, nil).want(t, 200)
		vs := r.list("versions")
		if len(vs) != 2 {
			t.Fatalf("%s: versions %v", path, vs)
		}
		want := map[string]map[string]string{
			"v2.0": {"status": "DEPRECATED", "version": "", "min_version": "", "href": "http://example.com/compute/v2/"},
			"v2.1": {"status": "CURRENT", "version": "2.96", "min_version": "2.1", "href": "http://example.com/compute/v2.1/"},
		}
		for _, v := range vs {
			w := want[v["id"].(string)]
			if w == nil {
				t.Fatalf("unexpected version %v", v)
			}
			for _, k := range []string{"status", "version", "min_version"} {
				if v[k] != w[k] {
					t.Errorf("%s %s = %v, want %q", v["id"], k, v[k], w[k])
				}
			}
			links := v["links"].([]any)
			if l := links[0].(map[string]any); l["rel"] != "self" || l["href"] != w["href"] {
				t.Errorf("%s links %v", v["id"], links)
			}
			if _, ok := v["media-types"]; ok {
				t.Errorf("list shows media-types")
			}
			if len(v) != 6 {
				t.Errorf("%s has keys %v", v["id"], v)
			}
		}
		// The root is outside microversion control: a bad version header is ignored.
		tc.raw(t, "", "9.9", "GET", path, nil).want(t, 200)
	}
	// Every version's self link is followable (tempest's test_get_version_details): the
	// deprecated v2.0 too.
	for _, path := range []string{"/compute/v2", "/compute/v2/"} {
		v := tc.raw(t, "", "", "GET", path, nil).want(t, 200).obj("version")
		if v["id"] != "v2.0" || v["status"] != "DEPRECATED" || v["version"] != "" ||
			v["links"].([]any)[0].(map[string]any)["href"] != "http://example.com/compute/v2/" {
			t.Errorf("%s: version %v", path, v)
		}
	}
	for _, path := range []string{"/compute/v2.1", "/compute/v2.1/"} {
		r := tc.raw(t, "", "", "GET", path, nil).want(t, 200)
		v := r.obj("version")
		if v["id"] != "v2.1" || v["version"] != "2.96" || v["min_version"] != "2.1" || v["updated"] != "2013-07-23T11:33:21Z" {
			t.Errorf("version %v", v)
		}
		links := v["links"].([]any)
		if len(links) != 2 || links[0].(map[string]any)["href"] != "http://example.com/compute/v2.1/" ||
			links[1].(map[string]any)["rel"] != "describedby" {
			t.Errorf("links %v", links)
		}
		mt := v["media-types"].([]any)[0].(map[string]any)
		if mt["type"] != "application/vnd.openstack.compute+json;version=2.1" {
			t.Errorf("media-types %v", mt)
		}
		if len(r.body) != 1 {
			t.Errorf("body %v", r.body)
		}
	}
}

func TestExtensions(t *testing.T) {
	tc := newTestCloud(t)
	tc.doAs(t, "", "", "GET", "/v2.1/extensions", nil).want(t, 401)
	r := tc.doAs(t, tc.demoToken, "2.1", "GET", "/v2.1/extensions", nil).want(t, 200)
	exts := r.list("extensions")
	if len(exts) != 99 {
		t.Fatalf("%d extensions", len(exts))
	}
	for _, e := range exts {
		for _, k := range []string{"alias", "name", "description", "links", "namespace", "updated"} {
			if _, ok := e[k]; !ok {
				t.Fatalf("extension %v lacks %s", e, k)
			}
		}
		if len(e) != 6 {
			t.Fatalf("extension %v has extra keys", e)
		}
	}
	r = tc.doAs(t, tc.demoToken, "2.96", "GET", "/v2.1/extensions/os-keypairs", nil).want(t, 200)
	if e := r.obj("extension"); e["name"] != "Keypairs" {
		t.Errorf("show %v", e)
	}
	tc.doAs(t, tc.demoToken, "", "GET", "/v2.1/extensions/nope", nil).want(t, 404)
}
