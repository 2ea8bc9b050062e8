package placement

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzAPI sends arbitrary bodies, query strings and microversions to every Placement
// route, with fuzzed path values, as the admin, against a cloud holding a small provider
// tree with allocations, and fails on any 5xx: bad input must always get a 4xx.
func FuzzAPI(f *testing.F) {
	tc := newTestCloud(f)
	fl := newFleet(tc)
	cn := fl.add(f, "cn", "", map[string]any{"VCPU": inv(8), "MEMORY_MB": inv(4096)}, "HW_CPU_X86_AVX2", "CUSTOM_X")
	pf := fl.add(f, "pf", "cn", map[string]any{"SRIOV_NET_VF": inv(4)}, "CUSTOM_PHYSNET")
	tc.allocate(f, consumer1, nil, map[string]map[string]int{cn: {"VCPU": 1}, pf: {"SRIOV_NET_VF": 1}})
	routes := tc.svc.routes
	seeds := []struct{ query, body string }{
		{"", `{"name": "x", "uuid": "` + consumer2 + `", "parent_provider_uuid": "` + cn + `"}`},
		{"resources=VCPU:1,MEMORY_MB:10&required=in:CUSTOM_X,!HW&member_of=in:" + consumer1, `{"resource_provider_generation": 1, "inventories": {"VCPU": {"total": 1}}}`},
		{"resources_A=VCPU:1&resources_B=SRIOV_NET_VF:1&group_policy=isolate&same_subtree=_A,_B&root_required=!X&limit=1", `[]`},
		{"resources1=VCPU:1&required2=CUSTOM_X&in_tree=" + cn + "&same_subtree=2", `{"traits": ["CUSTOM_X"], "resource_provider_generation": 0}`},
		{"project_id=p&user_id=u&consumer_type=all", `{"allocations": {"` + cn + `": {"resources": {"VCPU": 1}}}, "project_id": "p", "user_id": "u", "consumer_generation": null, "consumer_type": "X"}`},
		{"name=startswith:HW&associated=true", `{"` + consumer2 + `": {"allocations": {}, "project_id": "p", "user_id": "u", "consumer_generation": 1}}`},
		{"in_tree=x&uuid=y&member_of=!in:a,b", `{"inventories": {"` + cn + `": {"resource_provider_generation": 2, "inventories": {}}}, "allocations": {}}`},
		{"resources=VCPU:99999999999999999999", `{"allocations": [{"resource_provider": {"uuid": "` + cn + `"}, "resources": {"VCPU": 1e300}}]}`},
		{"", `{"total": 1.5, "allocation_ratio": -1, "resource_provider_generation": 1e20}`},
		{"", `null`}, {"", `{`}, {"", `"x"`}, {"%zz=1", `{"aggregates": ["` + consumer1 + `"], "resource_provider_generation": 0}`},
	}
	versions := []string{"1.0", "1.10", "1.20", "1.28", "1.36", "latest", "1.39", "9.9", "x"}
	for i := range routes {
		for j, s := range seeds {
			f.Add(uint16(i), cn, s.query, s.body, versions[(i+j)%len(versions)])
		}
	}
	f.Fuzz(func(t *testing.T, idx uint16, pathValue, query, body, version string) {
		rt := routes[int(idx)%len(routes)]
		pv := url.PathEscape(pathValue)
		if pv == "" {
			pv = "x"
		}
		path := rt.path
		for strings.Contains(path, "{") {
			i := strings.Index(path, "{")
			j := strings.Index(path[i:], "}")
			path = path[:i] + pv + path[i+j+1:]
		}
		target := "http://cloud.test/placement" + path
		if q := strings.Map(func(r rune) rune {
			if r == '#' || r == ' ' || r < 0x20 || r == 0x7f {
				return -1
			}
			return r
		}, query); q != "" {
			target += "?" + q
		}
		req, err := http.NewRequest(rt.method, target, bytes.NewReader([]byte(body)))
		if err != nil {
			return
		}
		req.Header.Set("X-Auth-Token", tc.adminToken)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("OpenStack-API-Version", "placement "+version)
		rec := httptest.NewRecorder()
		tc.handler.ServeHTTP(rec, req)
		if rec.Code >= http.StatusInternalServerError {
			t.Fatalf("%s %s with %q (version %q): status %d: %s", rt.method, target, body, version, rec.Code, rec.Body)
		}
	})
}
