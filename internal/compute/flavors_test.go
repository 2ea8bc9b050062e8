package compute

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// flavorCloud is a test cloud with the default flavors.
func flavorCloud(t *testing.T) *testCloud {
	t.Helper()
	tc := newTestCloud(t)
	if err := tc.svc.EnsureDefaultFlavors(context.Background()); err != nil {
		t.Fatal(err)
	}
	return tc
}

func ids(items []map[string]any) []string {
	var out []string
	for _, it := range items {
		out = append(out, fmt.Sprint(it["id"]))
	}
	return out
}

func TestDefaultFlavorsIdempotent(t *testing.T) {
	tc := flavorCloud(t)
	r := tc.do(t, "2.1", "GET", "/v2.1/flavors", nil).want(t, 200)
	got := strings.Join(ids(r.list("flavors")), ",")
	if want := "1,2,3,4,42,5,84,c1,d1,d2,d3,d4"; got != want {
		t.Fatalf("flavors %s, want %s", got, want)
	}
	tc.do(t, "2.1", "DELETE", "/v2.1/flavors/1", nil).want(t, 202)
	if err := tc.svc.EnsureDefaultFlavors(context.Background()); err != nil {
		t.Fatal(err)
	}
	tc.do(t, "2.1", "GET", "/v2.1/flavors/1", nil).want(t, 404)
	f := tc.do(t, "2.1", "GET", "/v2.1/flavors/c1", nil).want(t, 200).obj("flavor")
	if f["name"] != "cirros256" || f["ram"].(float64) != 256 || f["disk"].(float64) != 1 || f["vcpus"].(float64) != 1 {
		t.Errorf("c1 = %v", f)
	}
}

func TestFlavorShapesPerMicroversion(t *testing.T) {
	tc := flavorCloud(t)
	cases := []struct {
		ver      string
		swap     any
		desc     bool
		specs    bool
		keyCount int
	}{
		{"2.1", "", false, false, 11},
		{"2.55", "", true, false, 12},
		{"2.61", "", true, true, 13},
		{"2.75", float64(0), true, true, 13},
		{"2.96", float64(0), true, true, 13},
	}
	for _, c := range cases {
		t.Run(c.ver, func(t *testing.T) {
			f := tc.do(t, c.ver, "GET", "/v2.1/flavors/1", nil).want(t, 200).obj("flavor")
			if f["swap"] != c.swap {
				t.Errorf("swap %#v, want %#v", f["swap"], c.swap)
			}
			if _, ok := f["description"]; ok != c.desc {
				t.Errorf("description present %v", ok)
			}
			if _, ok := f["extra_specs"]; ok != c.specs {
				t.Errorf("extra_specs present %v", ok)
			}
			if len(f) != c.keyCount {
				t.Errorf("%d keys: %v", len(f), f)
			}
			links := f["links"].([]any)
			if links[0].(map[string]any)["href"] != "http://example.com/compute/v2.1/flavors/1" ||
				links[1].(map[string]any)["href"] != "http://example.com/compute/flavors/1" {
				t.Errorf("links %v", links)
			}
			brief := tc.do(t, c.ver, "GET", "/v2.1/flavors", nil).want(t, 200).list("flavors")[0]
			want := 3
			if c.desc {
				want = 4
			}
			if len(brief) != want {
				t.Errorf("brief %v", brief)
			}
		})
	}
}

func TestFlavorCreateDelete(t *testing.T) {
	tc := flavorCloud(t)
	body := func(f map[string]any) map[string]any { return map[string]any{"flavor": f} }
	r := tc.doAs(t, tc.demoToken, "2.1", "POST", "/v2.1/flavors", body(map[string]any{"name": "x", "ram": 1, "vcpus": 1, "disk": 0})).want(t, 403)
	if msg := r.obj("forbidden")["message"]; msg != "Policy doesn't allow os_compute_api:os-flavor-manage:create to be performed." {
		t.Errorf("message %v", msg)
	}
	if r.obj("forbidden")["code"].(float64) != 403 {
		t.Errorf("code %v", r.body)
	}
	bad := []map[string]any{
		{"name": "x", "ram": 0, "vcpus": 1, "disk": 0},
		{"name": "x", "ram": 1, "vcpus": 1},
		{"name": " x", "ram": 1, "vcpus": 1, "disk": 0},
		{"name": "", "ram": 1, "vcpus": 1, "disk": 0},
		{"name": "x", "ram": "1a", "vcpus": 1, "disk": 0},
		{"name": "x", "ram": 1.5, "vcpus": 1, "disk": 0},
		{"name": "x", "ram": 1, "vcpus": 1, "disk": -1},
		{"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "swap": 2147483648},
		{"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "rxtx_factor": 0},
		{"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "rxtx_factor": "abc"},
		{"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "os-flavor-access:is_public": "maybe"},
		{"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "id": " a"},
		{"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "id": "a/b"},
		{"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "bogus": 1},
		{"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "description": "d"}, // before 2.55
	}
	for i, b := range bad {
		tc.do(t, "2.1", "POST", "/v2.1/flavors", body(b)).want(t, 400)
		_ = i
	}
	tc.do(t, "2.1", "POST", "/v2.1/flavors", `{"flavor": 1}`).want(t, 400)
	tc.do(t, "2.1", "POST", "/v2.1/flavors", `[]`).want(t, 400)

	r = tc.do(t, "2.1", "POST", "/v2.1/flavors", body(map[string]any{"name": "custom", "ram": "64", "vcpus": 1, "disk": 0})).want(t, 200)
	f := r.obj("flavor")
	if f["name"] != "custom" || len(fmt.Sprint(f["id"])) != 36 || f["ram"].(float64) != 64 || f["rxtx_factor"].(float64) != 1 {
		t.Errorf("created %v", f)
	}
	tc.do(t, "2.1", "POST", "/v2.1/flavors", body(map[string]any{"name": "custom", "ram": 1, "vcpus": 1, "disk": 0})).want(t, 409)
	tc.do(t, "2.1", "POST", "/v2.1/flavors", body(map[string]any{"name": "other", "ram": 1, "vcpus": 1, "disk": 0, "id": 1})).want(t, 409)
	r = tc.do(t, "2.61", "POST", "/v2.1/flavors", body(map[string]any{"name": "numid", "ram": 1, "vcpus": 1, "disk": 0, "id": 777,
		"swap": 5, "description": "hello", "OS-FLV-EXT-DATA:ephemeral": 2, "rxtx_factor": "2.5", "os-flavor-access:is_public": "false"})).want(t, 200)
	f = r.obj("flavor")
	if f["id"] != "777" || f["swap"].(float64) != 5 || f["description"] != "hello" || f["OS-FLV-EXT-DATA:ephemeral"].(float64) != 2 ||
		f["rxtx_factor"].(float64) != 2.5 || f["os-flavor-access:is_public"] != false || len(f["extra_specs"].(map[string]any)) != 0 {
		t.Errorf("created %v", f)
	}
	// Private: the demo project does not see it.
	tc.doAs(t, tc.demoToken, "2.1", "GET", "/v2.1/flavors/777", nil).want(t, 404)
	// Description update is 2.55+.
	tc.do(t, "2.54", "PUT", "/v2.1/flavors/777", map[string]any{"flavor": map[string]any{"description": "x"}}).want(t, 404)
	tc.do(t, "2.55", "PUT", "/v2.1/flavors/777", map[string]any{"flavor": map[string]any{}}).want(t, 400)
	tc.do(t, "2.55", "PUT", "/v2.1/flavors/777", map[string]any{"flavor": map[string]any{"description": "x", "name": "y"}}).want(t, 400)
	tc.do(t, "2.55", "PUT", "/v2.1/flavors/nope", map[string]any{"flavor": map[string]any{"description": "x"}}).want(t, 404)
	tc.doAs(t, tc.demoToken, "2.55", "PUT", "/v2.1/flavors/777", map[string]any{"flavor": map[string]any{"description": "x"}}).want(t, 403)
	f = tc.do(t, "2.55", "PUT", "/v2.1/flavors/777", map[string]any{"flavor": map[string]any{"description": nil}}).want(t, 200).obj("flavor")
	if v, ok := f["description"]; !ok || v != nil {
		t.Errorf("description %v", f)
	}
	tc.doAs(t, tc.demoToken, "2.1", "DELETE", "/v2.1/flavors/777", nil).want(t, 403)
	tc.do(t, "2.1", "DELETE", "/v2.1/flavors/777", nil).want(t, 202)
	tc.do(t, "2.1", "DELETE", "/v2.1/flavors/777", nil).want(t, 404)
}

func TestFlavorListFilters(t *testing.T) {
	tc := flavorCloud(t)
	tc.do(t, "2.1", "POST", "/v2.1/flavors", map[string]any{"flavor": map[string]any{"name": "priv", "id": "p1", "ram": 100, "vcpus": 1, "disk": 3, "os-flavor-access:is_public": false}}).want(t, 200)
	list := func(token, ver, q string) []string {
		t.Helper()
		return ids(tc.doAs(t, token, ver, "GET", "/v2.1/flavors/detail?"+q, nil).want(t, 200).list("flavors"))
	}
	cases := []struct {
		name, token, ver, q, want string
	}{
		{"admin default", tc.adminToken, "2.1", "", "1,2,3,4,42,5,84,c1,d1,d2,d3,d4"},
		{"admin private", tc.adminToken, "2.1", "is_public=false", "p1"},
		{"admin all", tc.adminToken, "2.1", "is_public=None", "1,2,3,4,42,5,84,c1,d1,d2,d3,d4,p1"},
		{"demo ignores is_public", tc.demoToken, "2.1", "is_public=false", "1,2,3,4,42,5,84,c1,d1,d2,d3,d4"},
		{"minRam", tc.demoToken, "2.1", "minRam=4096", "3,4,5,d4"},
		{"minDisk", tc.demoToken, "2.1", "minDisk=40&minRam=8192", "4,5"},
		{"sort ram desc", tc.demoToken, "2.1", "sort_key=memory_mb&sort_dir=desc&limit=3", "5,4,d4"},
		{"sort name", tc.demoToken, "2.1", "sort_key=name&limit=2", "c1,d2"},
		{"marker", tc.demoToken, "2.1", "marker=5&limit=2", "84,c1"},
		{"name regex old", tc.demoToken, "2.1", "name=^ds", "d1,d2,d3,d4"},
		{"unknown param old", tc.demoToken, "2.74", "foo=bar&limit=1", "1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := strings.Join(list(c.token, c.ver, c.q), ","); got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
	for _, q := range []string{"limit=-1", "limit=x", "sort_key=bogus", "sort_dir=up", "minRam=abc", "marker=nope"} {
		tc.do(t, "2.1", "GET", "/v2.1/flavors?"+q, nil).want(t, 400)
	}
	tc.do(t, "2.1", "GET", "/v2.1/flavors?is_public=maybe", nil).want(t, 400)
	tc.do(t, "2.75", "GET", "/v2.1/flavors?foo=bar", nil).want(t, 400)
	// Access granted: demo sees the private flavor.
	tc.do(t, "2.1", "POST", "/v2.1/flavors/p1/action", map[string]any{"addTenantAccess": map[string]any{"tenant": tc.demoProjectID}}).want(t, 200)
	if got := strings.Join(list(tc.demoToken, "2.1", "minDisk=3&minRam=100&sort_key=memory_mb&limit=1"), ","); got != "p1" {
		t.Errorf("demo with access: %s", got)
	}
	// Links on a full page.
	r := tc.do(t, "2.1", "GET", "/v2.1/flavors?limit=2", nil).want(t, 200)
	links := r.body["flavors_links"].([]any)
	href := links[0].(map[string]any)["href"].(string)
	u, _ := url.Parse(href)
	if u.Path != "/compute/v2.1/flavors" || u.Query().Get("marker") != "2" || u.Query().Get("limit") != "2" {
		t.Errorf("next %s", href)
	}
	r = tc.do(t, "2.1", "GET", "/v2.1/flavors", nil).want(t, 200)
	if _, ok := r.body["flavors_links"]; ok {
		t.Errorf("links on a partial page")
	}
}

func TestFlavorExtraSpecs(t *testing.T) {
	tc := flavorCloud(t)
	base := "/v2.1/flavors/1/os-extra_specs"
	tc.doAs(t, tc.demoToken, "2.1", "POST", base, map[string]any{"extra_specs": map[string]any{"a": "b"}}).want(t, 403)
	r := tc.do(t, "2.1", "POST", base, map[string]any{"extra_specs": map[string]any{"hw:cpu_policy": "dedicated", "n": 3, "custom:x": "y"}}).want(t, 200)
	if r.obj("extra_specs")["n"].(float64) != 3 {
		t.Errorf("create echo %v", r.body)
	}
	r = tc.doAs(t, tc.demoToken, "2.1", "GET", base, nil).want(t, 200)
	if sp := r.obj("extra_specs"); sp["n"] != "3" || sp["hw:cpu_policy"] != "dedicated" || len(sp) != 3 {
		t.Errorf("index %v", sp)
	}
	r = tc.doAs(t, tc.demoToken, "2.1", "GET", base+"/n", nil).want(t, 200)
	if r.body["n"] != "3" || len(r.body) != 1 {
		t.Errorf("show %v", r.body)
	}
	tc.do(t, "2.1", "GET", base+"/zz", nil).want(t, 404)
	tc.do(t, "2.1", "PUT", base+"/n", map[string]any{"n": "4"}).want(t, 200)
	tc.do(t, "2.1", "PUT", base+"/n", map[string]any{"m": "4"}).want(t, 400)
	tc.do(t, "2.1", "PUT", base+"/n", map[string]any{"n": "4", "m": "5"}).want(t, 400)
	tc.do(t, "2.1", "PUT", base+"/n", map[string]any{}).want(t, 400)
	f := tc.do(t, "2.61", "GET", "/v2.1/flavors/1", nil).want(t, 200).obj("flavor")
	if f["extra_specs"].(map[string]any)["n"] != "4" {
		t.Errorf("2.61 flavor %v", f)
	}
	// Validation: invalid keys always; Nova's validators from 2.86.
	for _, c := range []struct {
		ver    string
		specs  map[string]any
		status int
	}{
		{"2.1", map[string]any{"bad/key": "x"}, 400},
		{"2.1", map[string]any{"k": true}, 400},
		{"2.1", map[string]any{"k": strings.Repeat("x", 256)}, 400},
		{"2.85", map[string]any{"hw:cpu_policy": "bogus"}, 200},
		{"2.86", map[string]any{"hw:cpu_policy": "bogus"}, 400},
		{"2.86", map[string]any{"hw:cpu_policy": "shared"}, 200},
		{"2.86", map[string]any{"hw:not_a_thing": "1"}, 400},
		{"2.86", map[string]any{"hw:numa_nodes": "x"}, 400},
		{"2.86", map[string]any{"hw:numa_nodes": 2}, 200},
		{"2.86", map[string]any{"resources:VCPU": "2"}, 200},
		{"2.86", map[string]any{"trait:HW_CPU_X86_AVX": "required"}, 200},
		{"2.86", map[string]any{"trait:HW_CPU_X86_AVX": "maybe"}, 400},
		{"2.86", map[string]any{"mycorp:anything": "goes"}, 200},
		{"2.86", map[string]any{"plainkey": "goes"}, 200},
	} {
		got := tc.do(t, c.ver, "POST", base, map[string]any{"extra_specs": c.specs})
		if got.code != c.status {
			t.Errorf("%s %v: %d %s", c.ver, c.specs, got.code, got.raw)
		}
	}
	tc.doAs(t, tc.demoToken, "2.1", "DELETE", base+"/n", nil).want(t, 403)
	tc.do(t, "2.1", "DELETE", base+"/n", nil).want(t, 200)
	tc.do(t, "2.1", "DELETE", base+"/n", nil).want(t, 404)
	tc.do(t, "2.1", "GET", "/v2.1/flavors/nope/os-extra_specs", nil).want(t, 404)
}

func TestFlavorAccess(t *testing.T) {
	tc := flavorCloud(t)
	tc.do(t, "2.1", "POST", "/v2.1/flavors", map[string]any{"flavor": map[string]any{"name": "priv", "id": "p1", "ram": 100, "vcpus": 1, "disk": 3, "os-flavor-access:is_public": false}}).want(t, 200)
	act := func(token, ver, action, tenant string) resp {
		return tc.doAs(t, token, ver, "POST", "/v2.1/flavors/p1/action", map[string]any{action: map[string]any{"tenant": tenant}})
	}
	act(tc.demoToken, "2.1", "addTenantAccess", tc.demoProjectID).want(t, 403)
	r := act(tc.adminToken, "2.1", "addTenantAccess", tc.demoProjectID).want(t, 200)
	if l := r.list("flavor_access"); len(l) != 1 || l[0]["flavor_id"] != "p1" || l[0]["tenant_id"] != tc.demoProjectID {
		t.Errorf("access %v", l)
	}
	act(tc.adminToken, "2.1", "addTenantAccess", tc.demoProjectID).want(t, 409)
	tc.do(t, "2.7", "POST", "/v2.1/flavors/1/action", map[string]any{"addTenantAccess": map[string]any{"tenant": "x"}}).want(t, 409)
	tc.do(t, "2.1", "POST", "/v2.1/flavors/p1/action", map[string]any{"addTenantAccess": map[string]any{}}).want(t, 400)
	tc.do(t, "2.1", "POST", "/v2.1/flavors/p1/action", map[string]any{"addTenantAccess": map[string]any{"tenant": ""}}).want(t, 400)
	tc.do(t, "2.1", "POST", "/v2.1/flavors/nope/action", map[string]any{"addTenantAccess": map[string]any{"tenant": "x"}}).want(t, 404)
	tc.doAs(t, tc.demoToken, "2.1", "GET", "/v2.1/flavors/p1", nil).want(t, 200)
	tc.doAs(t, tc.altToken, "2.1", "GET", "/v2.1/flavors/p1", nil).want(t, 404)
	tc.doAs(t, tc.demoToken, "2.1", "GET", "/v2.1/flavors/p1/os-flavor-access", nil).want(t, 403)
	r = tc.do(t, "2.1", "GET", "/v2.1/flavors/p1/os-flavor-access", nil).want(t, 200)
	if len(r.list("flavor_access")) != 1 {
		t.Errorf("list %v", r.body)
	}
	tc.do(t, "2.1", "GET", "/v2.1/flavors/1/os-flavor-access", nil).want(t, 404)
	act(tc.adminToken, "2.1", "removeTenantAccess", tc.demoProjectID).want(t, 200)
	act(tc.adminToken, "2.1", "removeTenantAccess", tc.demoProjectID).want(t, 404)
	tc.doAs(t, tc.demoToken, "2.1", "GET", "/v2.1/flavors/p1", nil).want(t, 404)
}
