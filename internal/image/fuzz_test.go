package image

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzAPI sends arbitrary bodies, query strings and content types to every image route,
// with fuzzed path values (or the id of a real image), as a member and as the admin, and
// fails on any 5xx: bad input must always get a Glance 4xx.
func FuzzAPI(f *testing.F) {
	tc := newTestCloud(f)
	img := tc.createImage(f, tc.demo.token, map[string]any{"name": "fuzz", "disk_format": "raw", "container_format": "bare", "visibility": "shared"})
	imgID := img["id"].(string)
	routes := tc.svc.Routes()
	ctypes := []string{"application/json", "application/openstack-images-v2.1-json-patch",
		"application/openstack-images-v2.0-json-patch", "application/octet-stream", "", "text/plain; charset=x"}
	seeds := []struct{ path, query, body string }{
		{"IMG", "", `{"name": "x", "disk_format": "qcow2", "container_format": "bare", "tags": ["a"], "k": "v"}`},
		{"IMG", "", `[{"op": "add", "path": "/k", "value": "v"}, {"op": "remove", "path": "/name"}]`},
		{"IMG", "", `[{"replace": "/locations", "value": []}, {"op": "add", "path": "/locations/-", "value": {}}]`},
		{"IMG", "", `{"member": "someone"}`},
		{"IMG", "", `{"status": "accepted"}`},
		{"IMG", "", `{"method": {"name": "glance-direct"}, "stores": ["file", 1], "all_stores": "x"}`},
		{"x", "limit=2&marker=IMG&sort=name:asc,size", ``},
		{"x", "sort_key=size&sort_dir=asc&sort_dir=desc&tag=a&name=in:\"a,b\",c", ``},
		{"x", "created_at=gte:2020-01-01T00:00:00Z&size_min=1&size_max=x&os_hidden=true", ``},
		{"~0~1/%2F", "member_status=all&visibility=all&foo=bar", `not json`},
		{"IMG", "", "\x00\x01QFI\xfb"},
		{"IMG", "", `{"min_disk": 1e400, "min_ram": -0.0, "id": null, "owner": null}`},
	}
	for i := range routes {
		for _, s := range seeds {
			f.Add(uint16(i), uint8(i), s.path, s.query, s.body, i%2 == 0)
		}
	}
	f.Fuzz(func(t *testing.T, idx uint16, ct uint8, pathValue, query, body string, admin bool) {
		rt := routes[int(idx)%len(routes)]
		pv := url.PathEscape(pathValue)
		if pathValue == "IMG" {
			pv = imgID
		}
		if pv == "" {
			pv = "x"
		}
		path := rt.Path
		for strings.Contains(path, "{") {
			i := strings.Index(path, "{")
			j := strings.Index(path[i:], "}")
			path = path[:i] + pv + path[i+j+1:]
		}
		q := strings.ReplaceAll(url.PathEscape(query), "%3D", "=")
		q = strings.ReplaceAll(strings.ReplaceAll(q, "%26", "&"), "IMG", imgID)
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
		if c := ctypes[int(ct)%len(ctypes)]; c != "" {
			req.Header.Set("Content-Type", c)
		}
		req.Header.Set("Range", "bytes="+pathValue)
		rec := httptest.NewRecorder()
		tc.handler.ServeHTTP(rec, req)
		if rec.Code >= http.StatusInternalServerError {
			t.Fatalf("%s %s with %q: status %d: %s", rt.Method, target, body, rec.Code, rec.Body)
		}
	})
}
