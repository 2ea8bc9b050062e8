package image

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVersions(t *testing.T) {
	tc := newTestCloud(t)
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/image", 300},
		{"GET", "/image/", 300},
		{"GET", "/image/versions", 200},
		{"POST", "/image/versions", 200},
		{"GET", "/image/v3/whatever", 300},
	} {
		rec := tc.request(t, tt.method, tt.path, "", "", nil)
		if rec.Code != tt.status {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, rec.Code, tt.status)
			continue
		}
		out := decode(t, rec)
		vs := out["versions"].([]any)
		first := vs[0].(map[string]any)
		if first["id"] != "v2.15" || first["status"] != "CURRENT" {
			t.Errorf("%s: first version %v", tt.path, first)
		}
		link := first["links"].([]any)[0].(map[string]any)["href"]
		if link != "http://cloud.test/image/v2/" {
			t.Errorf("%s: link %v", tt.path, link)
		}
		if len(vs) != len(imageVersions) {
			t.Errorf("%s: %d versions", tt.path, len(vs))
		}
	}
}

func TestCreateAndShow(t *testing.T) {
	tc := newTestCloud(t)
	resp, img := tc.json(t, "POST", "/image/v2/images", tc.demo.token, map[string]any{
		"name": "cirros", "disk_format": "qcow2", "container_format": "bare", "min_disk": 1, "min_ram": 64,
		"tags": []string{"b", "a", "b"}, "os_distro": "cirros", "kernel_id": nil, "hw_disk_bus": "virtio",
	})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %v", resp.StatusCode, img)
	}
	id := img["id"].(string)
	if got := resp.Header.Get("Location"); got != "http://cloud.test/image/v2/images/"+id {
		t.Errorf("Location = %q", got)
	}
	if got := resp.Header.Get("OpenStack-image-import-methods"); got != "glance-direct" {
		t.Errorf("import methods header = %q", got)
	}
	want := map[string]any{
		"id": id, "name": "cirros", "disk_format": "qcow2", "container_format": "bare", "visibility": "shared",
		"status": "queued", "size": nil, "virtual_size": nil, "checksum": nil, "os_hash_algo": nil,
		"os_hash_value": nil, "protected": false, "os_hidden": false, "min_disk": float64(1), "min_ram": float64(64),
		"owner": tc.demo.project, "tags": []any{"a", "b"}, "os_distro": "cirros", "kernel_id": nil,
		"hw_disk_bus": "virtio", "self": "/v2/images/" + id, "file": "/v2/images/" + id + "/file",
		"schema": "/v2/schemas/image", "created_at": img["created_at"], "updated_at": img["updated_at"],
	}
	if diff := cmp.Diff(want, img); diff != "" {
		t.Errorf("create response (-want +got):\n%s", diff)
	}
	if got := tc.show(t, tc.demo.token, id); !cmp.Equal(got, img) {
		t.Errorf("show differs from create:\n%s", cmp.Diff(img, got))
	}
	if ts := img["created_at"].(string); len(ts) != 20 || !strings.HasSuffix(ts, "Z") {
		t.Errorf("created_at %q is not Glance's isotime", ts)
	}
}

func TestCreateBadInput(t *testing.T) {
	tc := newTestCloud(t)
	tc.createImage(t, tc.demo.token, map[string]any{"id": "0a9bd6b5-5c5d-4f41-8b8a-6c1a8d1e5a01", "name": "x"})
	for _, tt := range []struct {
		name   string
		body   any
		status int
		msg    string
	}{
		{"bad container format", map[string]any{"name": "x", "container_format": "wrong", "disk_format": "vhd"}, 400, "is not one of"},
		{"bad disk format", map[string]any{"disk_format": "wrong"}, 400, "'wrong' is not one of"},
		{"status is read-only", map[string]any{"status": "active"}, 403, "Attribute 'status' is read-only."},
		{"self is read-only", map[string]any{"self": "x"}, 403, "Attribute 'self' is read-only."},
		{"size is read-only", map[string]any{"size": 1}, 403, "Attribute 'size' is read-only."},
		{"checksum is read-only", map[string]any{"checksum": "abc"}, 403, "Attribute 'checksum' is read-only."},
		{"reserved namespace", map[string]any{"os_glance_foo": "bar"}, 403, "Attribute 'os_glance_foo' is reserved."},
		{"reserved location", map[string]any{"location": "bar"}, 403, "is reserved"},
		{"non-string property", map[string]any{"foo": 1}, 400, "1 is not of type 'string'"},
		{"negative min_disk", map[string]any{"min_disk": -1}, 400, "Cannot be a negative value"},
		{"fractional min_ram", map[string]any{"min_ram": 1.5}, 400, "is not of type 'integer'"},
		{"public by a member", map[string]any{"visibility": "public"}, 403, "publicize_image"},
		{"bad visibility", map[string]any{"visibility": "everyone"}, 400, "is not one of"},
		{"other owner", map[string]any{"owner": "someone-else"}, 403, "You are not permitted to create images owned by 'someone-else'"},
		{"bad id", map[string]any{"id": "not-a-uuid"}, 400, "does not match"},
		{"duplicate id", map[string]any{"id": "0a9bd6b5-5c5d-4f41-8b8a-6c1a8d1e5a01"}, 409, "already exists"},
		{"long name", map[string]any{"name": strings.Repeat("n", 256)}, 400, "is too long"},
		{"tags not strings", map[string]any{"tags": []any{1}}, 400, "is not of type"},
		{"list body", []any{}, 400, "is not of type 'object'"},
		{"protected not boolean", map[string]any{"protected": "yes"}, 400, "is not of type 'boolean'"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, out := tc.json(t, "POST", "/image/v2/images", tc.demo.token, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tt.status, out)
			}
			msg, _ := out["message"].(string)
			if !strings.Contains(msg, tt.msg) {
				t.Errorf("message %q does not contain %q", msg, tt.msg)
			}
			if code, _ := out["code"].(string); !strings.HasPrefix(code, fmt.Sprint(tt.status)+" ") {
				t.Errorf("code %q for status %d", code, tt.status)
			}
		})
	}
	rec := tc.request(t, "POST", "/image/v2/images", tc.demo.token, "application/json", strings.NewReader("{"), "Accept", "application/json")
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "Malformed JSON in request body.") {
		t.Errorf("malformed JSON: %d %s", rec.Code, rec.Body)
	}
	rec = tc.request(t, "POST", "/image/v2/images", tc.demo.token, "application/json", nil)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "Body expected in request.") {
		t.Errorf("no body: %d %s", rec.Code, rec.Body)
	}
}

func TestAdminCreatesPublicImageForAnotherProject(t *testing.T) {
	tc := newTestCloud(t)
	img := tc.createImage(t, tc.admin.token, map[string]any{"name": "pub", "visibility": "public", "owner": tc.demo.project})
	if img["owner"] != tc.demo.project || img["visibility"] != "public" {
		t.Errorf("got %v", img)
	}
	if ids := tc.listIDs(t, tc.alt.token, ""); !contains(ids, img["id"].(string)) {
		t.Errorf("public image not listed for another project")
	}
}

func TestErrorBodies(t *testing.T) {
	tc := newTestCloud(t)
	missing := "/image/v2/images/6c3a3e2a-0000-4000-8000-000000000000"
	rec := tc.request(t, "GET", missing, tc.demo.token, "", nil, "Accept", "application/json")
	want := map[string]any{
		"message": "No image found with ID 6c3a3e2a-0000-4000-8000-000000000000<br /><br />\n\n\n",
		"code":    "404 Not Found", "title": "Not Found",
	}
	if diff := cmp.Diff(want, decode(t, rec)); diff != "" {
		t.Errorf("JSON 404 (-want +got):\n%s", diff)
	}
	rec = tc.request(t, "GET", missing, tc.demo.token, "", nil, "Accept", "text/plain")
	if got, want := rec.Body.String(), "404 Not Found\n\nNo image found with ID 6c3a3e2a-0000-4000-8000-000000000000\n\n   "; got != want {
		t.Errorf("plain 404 = %q, want %q", got, want)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("plain content type %q", ct)
	}
	// Without an Accept header the body is JSON (see acceptedErrorType).
	rec = tc.request(t, "GET", missing, tc.demo.token, "", nil)
	if diff := cmp.Diff(want, decode(t, rec)); diff != "" {
		t.Errorf("404 without Accept (-want +got):\n%s", diff)
	}
	rec = tc.request(t, "GET", missing, tc.demo.token, "", nil, "Accept", "*/*")
	if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || !strings.Contains(rec.Body.String(), "<h1>404 Not Found</h1>") {
		t.Errorf("HTML 404: %s %q", rec.Header().Get("Content-Type"), rec.Body)
	}
	rec = tc.request(t, "GET", "/image/v2/images", "", "", nil)
	if rec.Code != 401 || !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Keystone uri=") {
		t.Errorf("no token: %d %v", rec.Code, rec.Header())
	}
	if out := decode(t, rec); out["error"].(map[string]any)["code"] != float64(401) {
		t.Errorf("401 body %v", out)
	}
	rec = tc.request(t, "PUT", "/image/v2/images", tc.demo.token, "", nil, "Accept", "application/json")
	if rec.Code != 405 || rec.Header().Get("Allow") != "GET, POST" {
		t.Errorf("405: %d Allow=%q", rec.Code, rec.Header().Get("Allow"))
	}
	if msg := decode(t, rec)["message"]; msg != "The method PUT is not allowed for this resource. <br /><br />\n" {
		t.Errorf("405 message %q", msg)
	}
	for _, p := range []string{"/image/v2/images/", "/image/v2/nothing-here", "/image/v2", "/image/v2/"} {
		if rec := tc.request(t, "GET", p, tc.demo.token, "", nil); rec.Code != 404 {
			t.Errorf("GET %s: %d", p, rec.Code)
		}
	}
	if rec := tc.request(t, "DELETE", "/image/v2/images/", tc.demo.token, "", nil); rec.Code != 404 {
		t.Errorf("DELETE /v2/images/: %d", rec.Code)
	}
	rec = tc.request(t, "GET", "/image/v2/images", tc.demo.token, "application/json", strings.NewReader("{}"))
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "A body is not expected with this request.") {
		t.Errorf("GET with body: %d %s", rec.Code, rec.Body)
	}
}

func TestDeleteAndProtected(t *testing.T) {
	tc := newTestCloud(t)
	img := tc.createImage(t, tc.demo.token, map[string]any{"name": "p", "protected": true, "disk_format": "raw", "container_format": "bare"})
	id := img["id"].(string)
	if rec := tc.upload(t, tc.demo.token, id, []byte("some raw bytes")); rec.Code != 204 {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	resp, out := tc.json(t, "DELETE", "/image/v2/images/"+id, tc.demo.token, nil)
	if resp.StatusCode != 403 || !strings.Contains(out["message"].(string), "is protected and cannot be deleted") {
		t.Fatalf("delete protected: %d %v", resp.StatusCode, out)
	}
	if resp, _ := tc.json(t, "DELETE", "/image/v2/images/"+id, tc.alt.token, nil); resp.StatusCode != 404 {
		t.Errorf("delete by another project: %d", resp.StatusCode)
	}
	if resp, out := tc.json(t, "PATCH", "/image/v2/images/"+id, tc.demo.token, []any{
		map[string]any{"op": "replace", "path": "/protected", "value": false}}); resp.StatusCode != 200 {
		t.Fatalf("unprotect: %d %v", resp.StatusCode, out)
	}
	if resp, out := tc.json(t, "DELETE", "/image/v2/images/"+id, tc.demo.token, nil); resp.StatusCode != 204 {
		t.Fatalf("delete: %d %v", resp.StatusCode, out)
	}
	if resp, _ := tc.json(t, "GET", "/image/v2/images/"+id, tc.demo.token, nil); resp.StatusCode != 404 {
		t.Errorf("show deleted: %d", resp.StatusCode)
	}
	if resp, _ := tc.json(t, "DELETE", "/image/v2/images/"+id, tc.demo.token, nil); resp.StatusCode != 404 {
		t.Errorf("delete deleted: %d", resp.StatusCode)
	}
	if files := storeFiles(t, tc); len(files) != 0 {
		t.Errorf("store still holds %v", files)
	}
}

func TestDeactivateReactivate(t *testing.T) {
	tc := newTestCloud(t)
	img := tc.createImage(t, tc.demo.token, map[string]any{"name": "d", "disk_format": "raw", "container_format": "bare", "visibility": "community"})
	id := img["id"].(string)
	action := func(token, verb string) int {
		rec := tc.request(t, "POST", "/image/v2/images/"+id+"/actions/"+verb, token, "", nil)
		return rec.Code
	}
	if got := action(tc.demo.token, "deactivate"); got != 403 {
		t.Errorf("deactivate queued image: %d", got)
	}
	tc.upload(t, tc.demo.token, id, []byte("data"))
	if got := action(tc.alt.token, "deactivate"); got != 403 {
		t.Errorf("deactivate by non-owner: %d", got)
	}
	if got := action(tc.demo.token, "deactivate"); got != 204 {
		t.Fatalf("deactivate: %d", got)
	}
	if got := action(tc.demo.token, "deactivate"); got != 204 {
		t.Errorf("deactivate again: %d", got)
	}
	if st := tc.show(t, tc.demo.token, id)["status"]; st != "deactivated" {
		t.Errorf("status %v", st)
	}
	if rec := tc.request(t, "GET", "/image/v2/images/"+id+"/file", tc.demo.token, "", nil); rec.Code != 403 {
		t.Errorf("download deactivated as owner: %d", rec.Code)
	}
	if rec := tc.request(t, "GET", "/image/v2/images/"+id+"/file", tc.admin.token, "", nil); rec.Code != 200 || rec.Body.String() != "data" {
		t.Errorf("download deactivated as admin: %d", rec.Code)
	}
	if got := action(tc.demo.token, "reactivate"); got != 204 {
		t.Fatalf("reactivate: %d", got)
	}
	if rec := tc.request(t, "GET", "/image/v2/images/"+id+"/file", tc.alt.token, "", nil); rec.Code != 200 || rec.Body.String() != "data" {
		t.Errorf("download community image after reactivation: %d", rec.Code)
	}
}

func TestTags(t *testing.T) {
	tc := newTestCloud(t)
	id := tc.createImage(t, tc.demo.token, map[string]any{"name": "t"})["id"].(string)
	for _, tag := range []string{"x86", "x86", "with space"} {
		if rec := tc.request(t, "PUT", "/image/v2/images/"+id+"/tags/"+strings.ReplaceAll(tag, " ", "%20"), tc.demo.token, "", nil); rec.Code != 204 {
			t.Fatalf("add tag %q: %d %s", tag, rec.Code, rec.Body)
		}
	}
	got := tc.show(t, tc.demo.token, id)["tags"]
	if diff := cmp.Diff([]any{"with space", "x86"}, got); diff != "" {
		t.Errorf("tags: %s", diff)
	}
	if rec := tc.request(t, "DELETE", "/image/v2/images/"+id+"/tags/x86", tc.demo.token, "", nil); rec.Code != 204 {
		t.Errorf("delete tag: %d", rec.Code)
	}
	if rec := tc.request(t, "DELETE", "/image/v2/images/"+id+"/tags/x86", tc.demo.token, "", nil); rec.Code != 404 {
		t.Errorf("delete missing tag: %d", rec.Code)
	}
	if rec := tc.request(t, "PUT", "/image/v2/images/00000000-0000-4000-8000-000000000000/tags/a", tc.demo.token, "", nil); rec.Code != 404 {
		t.Errorf("tag on missing image: %d", rec.Code)
	}
	if rec := tc.request(t, "PUT", "/image/v2/images/"+id+"/tags/a", tc.alt.token, "", nil); rec.Code != 404 {
		t.Errorf("tag on another project's image: %d", rec.Code)
	}
}

func TestSchemas(t *testing.T) {
	tc := newTestCloud(t)
	for _, tt := range []struct{ path, name string }{
		{"/image/v2/schemas/image", "image"}, {"/image/v2/schemas/images", "images"},
		{"/image/v2/schemas/member", "member"}, {"/image/v2/schemas/members", "members"},
	} {
		resp, out := tc.json(t, "GET", tt.path, tc.demo.token, nil)
		if resp.StatusCode != 200 || out["name"] != tt.name {
			t.Errorf("%s: %d name=%v", tt.path, resp.StatusCode, out["name"])
		}
	}
	_, out := tc.json(t, "GET", "/image/v2/schemas/image", tc.demo.token, nil)
	props := out["properties"].(map[string]any)
	df := props["disk_format"].(map[string]any)
	if df["enum"].([]any)[0] != nil || !contains(anyStrings(df["enum"].([]any)[1:]), "qcow2") {
		t.Errorf("disk_format enum %v", df["enum"])
	}
	if out["additionalProperties"].(map[string]any)["type"] != "string" {
		t.Errorf("additionalProperties %v", out["additionalProperties"])
	}
	var names []string
	for k := range props {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range []string{"id", "name", "status", "visibility", "os_hidden", "os_hash_value", "kernel_id", "locations", "stores"} {
		if !contains(names, k) {
			t.Errorf("image schema lacks %s", k)
		}
	}
}

func TestInfo(t *testing.T) {
	tc := newTestCloud(t, func(c *Config) { c.Quota.ImageCountTotal = 10 })
	_, out := tc.json(t, "GET", "/image/v2/info/import", tc.demo.token, nil)
	if v := out["import-methods"].(map[string]any)["value"]; !cmp.Equal(v, []any{"glance-direct"}) {
		t.Errorf("import methods %v", v)
	}
	_, out = tc.json(t, "GET", "/image/v2/info/stores", tc.demo.token, nil)
	if !cmp.Equal(out, map[string]any{"stores": []any{map[string]any{"id": "file", "description": storeDescription, "default": "true"}}}) {
		t.Errorf("stores %v", out)
	}
	if resp, _ := tc.json(t, "GET", "/image/v2/info/stores/detail", tc.demo.token, nil); resp.StatusCode != 403 {
		t.Errorf("stores detail as member: %d", resp.StatusCode)
	}
	if resp, out := tc.json(t, "GET", "/image/v2/info/stores/detail", tc.admin.token, nil); resp.StatusCode != 200 || strings.Contains(resp.Status, tc.dir) {
		t.Errorf("stores detail as admin: %d %v", resp.StatusCode, out)
	}
	tc.createImage(t, tc.demo.token, map[string]any{"name": "u"})
	_, out = tc.json(t, "GET", "/image/v2/info/usage", tc.demo.token, nil)
	count := out["usage"].(map[string]any)["image_count_total"].(map[string]any)
	if count["usage"] != float64(1) || count["limit"] != float64(10) {
		t.Errorf("usage %v", out)
	}
}

// anyStrings converts a JSON array of strings.
func anyStrings(v []any) []string {
	out := make([]string, 0, len(v))
	for _, e := range v {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

func TestTasksAPI(t *testing.T) {
	tc := newTestCloud(t)
	body := map[string]any{"type": "import", "input": map[string]any{"import_from": "http://download.example/x.img",
		"import_from_format": "raw", "image_properties": map[string]any{"disk_format": "raw", "container_format": "bare"}}}
	if resp, _ := tc.json(t, "POST", "/image/v2/tasks", tc.demo.token, body); resp.StatusCode != 403 {
		t.Errorf("tasks API as a member: %d", resp.StatusCode)
	}
	resp, task := tc.json(t, "POST", "/image/v2/tasks", tc.admin.token, body)
	if resp.StatusCode != 201 || task["status"] != "pending" || task["type"] != "import" {
		t.Fatalf("create task: %d %v", resp.StatusCode, task)
	}
	_, got := tc.json(t, "GET", "/image/v2/tasks/"+task["id"].(string), tc.admin.token, nil)
	if got["status"] != "failure" || !strings.Contains(got["message"].(string), "no internet access") {
		t.Errorf("task %v", got)
	}
	_, list := tc.json(t, "GET", "/image/v2/tasks?limit=1", tc.admin.token, nil)
	if ts := list["tasks"].([]any); len(ts) != 1 || list["next"] == nil {
		t.Errorf("task list %v", list)
	}
	for _, b := range []any{map[string]any{"type": "import"}, map[string]any{"type": "other", "input": map[string]any{}}} {
		if resp, _ := tc.json(t, "POST", "/image/v2/tasks", tc.admin.token, b); resp.StatusCode != 400 {
			t.Errorf("create task %v: %d", b, resp.StatusCode)
		}
	}
	if rec := tc.request(t, "DELETE", "/image/v2/tasks/"+task["id"].(string), tc.admin.token, "", nil); rec.Code != 405 || rec.Header().Get("Allow") != "GET" {
		t.Errorf("delete task: %d", rec.Code)
	}
}
