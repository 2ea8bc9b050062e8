package compute

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/gostack/gostack/internal/api"
)

// decodeFuzzBody decodes b as a request body would be (numbers kept as json.Number);
// ok is false when it is not a JSON object.
func decodeFuzzBody(b []byte) (api.Object, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, false
	}
	return api.Object(m), true
}

// fuzzVersions are microversions at the edges the parsers care about.
var fuzzVersions = []api.Version{v(1), v(2), v(10), v(15), v(55), v(61), v(64), v(75), v(86), v(92), v(96)}

// wantClientError fails unless err is nil or a 4xx *api.Error.
func wantClientError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if e := api.AsError(err); e.Status < 400 || e.Status >= 500 {
		t.Fatalf("status %d for %v", e.Status, err)
	}
}

func FuzzFlavorCreateBody(f *testing.F) {
	for _, s := range []string{
		`{"flavor": {"name": "a", "ram": 1, "vcpus": 1, "disk": 0}}`,
		`{"flavor": {"name": "a", "ram": "1", "vcpus": 1, "disk": 0, "id": 5, "rxtx_factor": "1.5", "swap": 0, "description": null}}`,
		`{"flavor": {"name": "\u00e9", "ram": 1e3, "vcpus": -1, "disk": 0, "id": " x", "os-flavor-access:is_public": "yes"}}`,
		`{"flavor": []}`, `{"flavor": {"name": 1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, ok := decodeFuzzBody(b)
		if !ok || !o.Has("flavor") {
			return
		}
		for _, ver := range fuzzVersions {
			fl, err := parseFlavorCreate(o, ver)
			wantClientError(t, err)
			if err == nil {
				if fl.Name == "" || fl.MemoryMB < 1 || fl.VCPUs < 1 || fl.RootGB < 0 || fl.Swap < 0 || fl.RxtxFactor <= 0 {
					t.Fatalf("accepted %+v", fl)
				}
				if fl.Description != nil && !ver.AtLeast(2, 55) {
					t.Fatalf("description before 2.55")
				}
			}
		}
	})
}

func FuzzExtraSpecs(f *testing.F) {
	for _, s := range []string{
		`{"hw:cpu_policy": "dedicated"}`, `{"hw:numa_nodes": 2}`, `{"a/b": "x"}`, `{"trait:FOO": "required"}`,
		`{"resources1:VCPU": "x"}`, `{"hw:mem_page_size": "2MB"}`, `{"": ""}`, `{"k": {"x": 1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, ok := decodeFuzzBody(b)
		if !ok {
			return
		}
		for _, ver := range []api.Version{v(85), v(86)} {
			specs, err := parseExtraSpecs("extra_specs", map[string]any(o), ver)
			wantClientError(t, err)
			if err == nil {
				for k, val := range specs {
					if !extraSpecKeyPattern.MatchString(k) || len([]rune(val)) > 255 {
						t.Fatalf("accepted %q=%q", k, val)
					}
				}
			}
		}
	})
}

func FuzzKeypairCreateBody(f *testing.F) {
	for _, s := range []string{
		`{"keypair": {"name": "k"}}`,
		`{"keypair": {"name": "k.b@c", "public_key": "ssh-rsa AAAA", "type": "x509", "user_id": "u"}}`,
		`{"keypair": {"name": " k", "type": 1}}`, `{"keypair": 5}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, ok := decodeFuzzBody(b)
		if !ok || !o.Has("keypair") {
			return
		}
		for _, ver := range fuzzVersions {
			kc, err := parseKeypairCreate(o, ver)
			wantClientError(t, err)
			if err == nil {
				if kc.name == "" || (kc.typ != "ssh" && kc.typ != "x509") || (ver.AtLeast(2, 92) && kc.publicKey == nil) {
					t.Fatalf("accepted %+v at %s", kc, ver)
				}
				if kc.publicKey != nil {
					_, err := keypairFingerprint(kc.typ, *kc.publicKey)
					wantClientError(t, err)
				}
			}
		}
	})
}

func FuzzQuotaValues(f *testing.F) {
	for _, s := range []string{
		`{"instances": 5, "cores": "-1", "force": true}`, `{"ram": null}`, `{"bogus": 1}`,
		`{"instances": 99999999999999999999}`, `{"key_pairs": "0x10"}`, `{"server_groups": -2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, ok := decodeFuzzBody(b)
		if !ok {
			return
		}
		for _, ver := range fuzzVersions {
			c := &call{ver: ver}
			vals, err := parseQuotaValues("quota_set", o, append(quotaUpdateResources(c, 36), "force"))
			wantClientError(t, err)
			for k, n := range vals {
				if n < -1 || n > maxFlavorInt || !isQuotaResource(k) {
					t.Fatalf("accepted %s=%d", k, n)
				}
			}
			_, _, err = boolField(o, "force")
			wantClientError(t, err)
		}
	})
}

func FuzzServerGroupBody(f *testing.F) {
	for _, s := range []string{
		`{"server_group": {"name": "g", "policies": ["affinity"]}}`,
		`{"server_group": {"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": "3"}}}`,
		`{"server_group": {"name": "g", "policies": [1, 2]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, ok := decodeFuzzBody(b)
		if !ok || !o.Has("server_group") {
			return
		}
		for _, ver := range fuzzVersions {
			sc, err := parseServerGroupCreate(o, ver)
			wantClientError(t, err)
			if err == nil && (sc.name == "" || sc.policy == "") {
				t.Fatalf("accepted %+v", sc)
			}
		}
	})
}

func FuzzListQueries(f *testing.F) {
	for _, s := range []string{
		"limit=1&marker=x", "is_public=none&minRam=5&sort_key=name&sort_dir=desc", "name=(&limit=-1",
		"limit=99999999999999999999", "sort_key=&sort_dir=", "offset=3&all_projects",
	} {
		f.Add(s)
	}
	svc := &Service{cfg: Config{ListLimitMax: 1000}}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		for _, ver := range fuzzVersions {
			for _, admin := range []bool{false, true} {
				fq, err := svc.parseFlavorQuery(q, ver, admin)
				wantClientError(t, err)
				if err == nil && (fq.limit < 1 || fq.limit > 1000 || (fq.sortDir != "asc" && fq.sortDir != "desc")) {
					t.Fatalf("accepted %+v", fq)
				}
			}
			limit, _, err := svc.pageParams(q)
			wantClientError(t, err)
			if err == nil && (limit < 1 || limit > 1000) {
				t.Fatalf("limit %d", limit)
			}
			wantClientError(t, checkQuery(q, "limit", "marker"))
		}
	})
}

func FuzzNameFormats(f *testing.F) {
	for _, s := range []string{"a", " a", "a ", "a\u00a0", "\u200b", "ok name", "\U0001F600", "tab\tname"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if validName(s) && strings.TrimSpace(s) != s {
			t.Fatalf("validName(%q) with surrounding space", s)
		}
		_ = validNameLeadingTrailingSpaces(s)
		_ = validDescription(s)
		_ = validateExtraSpec(s, s)
	})
}

// FuzzResourceRoutes sends arbitrary bodies and query strings to every write route of the
// resource APIs: nothing may answer with a 5xx.
func FuzzResourceRoutes(f *testing.F) {
	for _, s := range []string{`{}`, `{"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 0}}`, `[]`, `null`, `{"a":`,
		`{"quota_set": {"instances": "5"}}`, `{"addTenantAccess": {"tenant": "p"}}`, `{"extra_specs": {"a": 1}}`} {
		f.Add(s, "limit=1")
	}
	tc := newTestCloud(f)
	if err := tc.svc.EnsureDefaultFlavors(context.Background()); err != nil {
		f.Fatal(err)
	}
	paths := []struct{ method, path string }{
		{"POST", "/v2.1/flavors"}, {"PUT", "/v2.1/flavors/1"}, {"POST", "/v2.1/flavors/1/action"},
		{"POST", "/v2.1/flavors/1/os-extra_specs"}, {"PUT", "/v2.1/flavors/1/os-extra_specs/k"},
		{"POST", "/v2.1/os-keypairs"}, {"POST", "/v2.1/os-server-groups"},
		{"PUT", "/v2.1/os-quota-sets/p"}, {"PUT", "/v2.1/os-quota-class-sets/default"},
		{"GET", "/v2.1/flavors/detail"}, {"GET", "/v2.1/os-keypairs"}, {"GET", "/v2.1/os-server-groups"},
		{"GET", "/v2.1/limits"}, {"GET", "/v2.1/os-quota-sets/p/detail"},
	}
	f.Fuzz(func(t *testing.T, body, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		query = q.Encode()
		for _, p := range paths {
			for _, ver := range []string{"2.1", "2.55", "2.75", "2.96"} {
				var b any
				if p.method != "GET" {
					b = body
				}
				r := tc.raw(t, tc.adminToken, ver, p.method, "/compute"+p.path+"?"+query, b)
				if r.code >= 500 {
					t.Fatalf("%s %s?%s at %s with %q: %d %s", p.method, p.path, query, ver, body, r.code, r.raw)
				}
			}
		}
	})
}
