package image

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzMetadefs sends arbitrary bodies, query strings, headers and path values to every
// metadefs route, as a member and as the admin, against a namespace with content, and
// fails on any 5xx: bad input must always get a Glance 4xx.
func FuzzMetadefs(f *testing.F) {
	tc := newTestCloud(f)
	rec := tc.request(f, "POST", "/image/v2/metadefs/namespaces", tc.admin.token, "application/json", strings.NewReader(`{
		"namespace": "NS", "visibility": "public",
		"resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "p_"}],
		"properties": {"prop": {"title": "t", "type": "string"}},
		"objects": [{"name": "OBJ", "required": ["prop"], "properties": {"prop": {"title": "t", "type": "string"}}}],
		"tags": [{"name": "TAG"}]}`))
	if rec.Code != http.StatusCreated {
		f.Fatalf("create namespace: %d %s", rec.Code, rec.Body)
	}
	var routes []int
	all := tc.svc.Routes()
	for i, rt := range all {
		if strings.Contains(rt.Path, "metadefs") {
			routes = append(routes, i)
		}
	}
	seeds := []struct{ path, query, body string }{
		{"NS", "", `{"namespace": "NS2", "visibility": "public", "protected": true, "tags": [{"name": "a"}]}`},
		{"NS", "resource_type=OS::Glance::Image", `{"name": "OBJ", "required": ["a", "b"], "properties": {"a": {"title": "A", "type": "array", "items": {"type": "string", "enum": ["x"]}}}}`},
		{"prop", "", `{"name": "prop", "title": "T", "type": "integer", "minimum": 0, "maximum": 1e400, "default": {"x": [1]}}`},
		{"TAG", "limit=1&marker=TAG&sort_key=name&sort_dir=asc", `{"tags": [{"name": "a"}, {"name": "a"}]}`},
		{"OS::Glance::Image", "limit=x&visibility=shared", `{"name": "OS::Glance::Image", "prefix": "p_", "properties_target": "image"}`},
		{"~0/%2F", "resource_types=a,,b&sort_key=protected", `not json`},
		{"OBJ", "sort_dir=up&limit=-1", `["self", "schema"]`},
		{"x", "", `{"namespace": null, "properties": {"p": {"title": "t", "type": null}}, "objects": [{"name": 1}]}`},
		{"NS", "", `{"namespace": "NS", "properties": {"p": {"title": "t", "type": "string", "items": {}, "enum": [1]}}}`},
		{"NS", "", `"self"`},
	}
	for i := range routes {
		for _, s := range seeds {
			f.Add(uint16(i), s.path, s.query, s.body, i%2 == 0)
		}
	}
	f.Fuzz(func(t *testing.T, idx uint16, pathValue, query, body string, admin bool) {
		rt := all[routes[int(idx)%len(routes)]]
		pv := url.PathEscape(pathValue)
		if pv == "" {
			pv = "x"
		}
		path := rt.Path
		for strings.Contains(path, "{") {
			i := strings.Index(path, "{")
			j := strings.Index(path[i:], "}")
			v := pv
			if path[i:i+j+1] == "{namespace}" && !strings.HasPrefix(pathValue, "~") {
				v = "NS"
			}
			path = path[:i] + v + path[i+j+1:]
		}
		q := strings.ReplaceAll(url.PathEscape(query), "%3D", "=")
		q = strings.ReplaceAll(q, "%26", "&")
		target := "http://cloud.test" + tc.svc.cfg.Prefix + path
		if q != "" {
			target += "?" + q
		}
		req := httptest.NewRequest(rt.Method, target, bytes.NewReader([]byte(body)))
		token := tc.demo.token
		if admin {
			token = tc.admin.token
		}
		req.Header.Set("X-Auth-Token", token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Openstack-Append", pathValue)
		rec := httptest.NewRecorder()
		tc.handler.ServeHTTP(rec, req)
		if rec.Code >= http.StatusInternalServerError {
			t.Fatalf("%s %s with %q: status %d: %s", rt.Method, target, body, rec.Code, rec.Body)
		}
	})
}
