package identity

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzAPI sends arbitrary bodies to every identity route, with fuzzed path values, as the
// admin, and fails on any 5xx: bad input must always get a Keystone 4xx.
func FuzzAPI(f *testing.F) {
	tc := newTestCloud(f)
	routes := tc.svc.Routes()
	seeds := []string{
		`{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "password": "x", "domain": {"id": "default"}}}}}}`,
		`{"project": {"name": "p", "tags": ["a", "b"], "options": {"immutable": true}}}`,
		`{"user": {"name": "u", "password": "p", "options": {"lock_password": "x"}}}`,
		`{"role": {"name": "r", "domain_id": null}}`,
		`{"application_credential": {"name": "a", "roles": [{"name": "member"}], "expires_at": "2000-01-01"}}`,
		`{"registered_limits": [{"service_id": "x", "resource_name": "y", "default_limit": -1}]}`,
		`{"trust": {"trustor_user_id": "a", "trustee_user_id": "b", "impersonation": "yes"}}`,
		`{"endpoint": {"service_id": "s", "interface": "public", "url": "http://x/$(project_id)s"}}`,
		`{"credential": {"type": "ec2", "blob": "{\"access\": 1}", "user_id": "u"}}`,
		`{"config": {"ldap": {"url": []}}}`,
		`[]`, `null`, `{"x": {"y": [1, 2, {"z": null}]}}`, `{`,
	}
	for i := range routes {
		for _, s := range seeds {
			f.Add(uint16(i), "default", s)
		}
	}
	f.Fuzz(func(t *testing.T, idx uint16, pathValue, body string) {
		rt := routes[int(idx)%len(routes)]
		// Fill every {wildcard} with the fuzzed value, made path-safe.
		pv := url.PathEscape(pathValue)
		if pv == "" {
			pv = "x"
		}
		path := rt.Path
		for strings.Contains(path, "{") {
			i := strings.Index(path, "{")
			j := strings.Index(path[i:], "}")
			path = path[:i] + pv + path[i+j+1:]
		}
		path = strings.ReplaceAll(path, "{$}", "")
		req := httptest.NewRequest(rt.Method, "http://cloud.test"+path, bytes.NewReader([]byte(body)))
		req.Header.Set("X-Auth-Token", tc.adminToken)
		req.Header.Set("X-Subject-Token", pathValue)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		tc.handler.ServeHTTP(rec, req)
		if rec.Code >= http.StatusInternalServerError {
			t.Fatalf("%s %s with %q: status %d: %s", rt.Method, path, body, rec.Code, rec.Body)
		}
	})
}
