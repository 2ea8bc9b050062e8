package image

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPatch(t *testing.T) {
	tc := newTestCloud(t)
	id := tc.createImage(t, tc.demo.token, map[string]any{"name": "p", "disk_format": "raw", "container_format": "bare",
		"architecture": "x86_64", "hw_disk_bus": "scsi"})["id"].(string)
	path := "/image/v2/images/" + id
	resp, img := tc.json(t, "PATCH", path, tc.demo.token, []any{
		map[string]any{"op": "replace", "path": "/name", "value": "renamed"},
		map[string]any{"op": "replace", "path": "/tags", "value": []string{"foo", "bar"}},
		map[string]any{"op": "replace", "path": "/min_disk", "value": 21},
		map[string]any{"op": "replace", "path": "/protected", "value": true},
		map[string]any{"op": "add", "path": "/hw_disk_bus", "value": "virtio"},
		map[string]any{"op": "add", "path": "/os~1distro", "value": "debian"},
		map[string]any{"op": "remove", "path": "/architecture"},
		map[string]any{"op": "replace", "path": "/visibility", "value": "community"},
		map[string]any{"op": "add", "path": "/os_hidden", "value": true},
	})
	if resp.StatusCode != 200 {
		t.Fatalf("patch: %d %v", resp.StatusCode, img)
	}
	for k, want := range map[string]any{
		"name": "renamed", "tags": []any{"bar", "foo"}, "min_disk": float64(21), "protected": true,
		"hw_disk_bus": "virtio", "os/distro": "debian", "visibility": "community", "os_hidden": true,
	} {
		if !cmp.Equal(img[k], want) {
			t.Errorf("%s = %v, want %v", k, img[k], want)
		}
	}
	if _, ok := img["architecture"]; ok {
		t.Errorf("architecture not removed")
	}
	if got := tc.show(t, tc.demo.token, id); !cmp.Equal(got, img) {
		t.Errorf("show after patch differs:\n%s", cmp.Diff(img, got))
	}

	for _, tt := range []struct {
		name   string
		ops    []any
		status int
		msg    string
	}{
		{"status read-only", []any{map[string]any{"op": "replace", "path": "/status", "value": "active"}}, 403, "Attribute 'status' is read-only."},
		{"id read-only", []any{map[string]any{"op": "replace", "path": "/id", "value": "x"}}, 403, "Attribute 'id' is read-only."},
		{"checksum read-only", []any{map[string]any{"op": "add", "path": "/checksum", "value": "x"}}, 403, "read-only"},
		{"size read-only", []any{map[string]any{"op": "remove", "path": "/size"}}, 403, "read-only"},
		{"reserved", []any{map[string]any{"op": "add", "path": "/os_glance_foo", "value": "bar"}}, 403, "Attribute 'os_glance_foo' is reserved."},
		{"remove base attribute", []any{map[string]any{"op": "remove", "path": "/name"}}, 403, "Property name may not be removed."},
		{"replace missing property", []any{map[string]any{"op": "replace", "path": "/nothere", "value": "x"}}, 409, "Property nothere does not exist."},
		{"remove missing property", []any{map[string]any{"op": "remove", "path": "/nothere"}}, 409, "Property nothere does not exist."},
		{"owner by member", []any{map[string]any{"op": "replace", "path": "/owner", "value": "x"}}, 403, "Owner can't be updated by non admin."},
		{"public by member", []any{map[string]any{"op": "replace", "path": "/visibility", "value": "public"}}, 403, "publicize_image"},
		{"disk format of an active image", nil, 403, "can be only replaced for a queued image"},
		{"property not a string", []any{map[string]any{"op": "add", "path": "/foo", "value": 1}}, 400, "is not of type 'string'"},
		{"bad op", []any{map[string]any{"op": "move", "path": "/name", "value": "x"}}, 400, "Invalid operation: `move`"},
		{"no op", []any{map[string]any{"path": "/name", "value": "x"}}, 400, "Unable to find `op`"},
		{"no value", []any{map[string]any{"op": "add", "path": "/name"}}, 400, `Operation "add" requires a member named "value".`},
		{"deep path", []any{map[string]any{"op": "add", "path": "/a/b", "value": "x"}}, 400, "Invalid JSON pointer for this resource: '/a/b'"},
		{"pointer without slash", []any{map[string]any{"op": "add", "path": "name", "value": "x"}}, 400, "does not start with"},
		{"locations", []any{map[string]any{"op": "add", "path": "/locations/-", "value": map[string]any{"url": "http://x", "metadata": map[string]any{}}}}, 403, "locations are invisible"},
		{"not a list", nil, 400, "Request body must be a JSON array of operation objects."},
		{"op not an object", []any{"x"}, 400, "Operations must be JSON objects."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var body any = tt.ops
			switch tt.name {
			case "not a list":
				body = map[string]any{"op": "add"}
			case "disk format of an active image":
				active := tc.createImage(t, tc.demo.token, map[string]any{"name": "a", "disk_format": "raw", "container_format": "bare"})["id"].(string)
				tc.upload(t, tc.demo.token, active, []byte("x"))
				resp, out := tc.json(t, "PATCH", "/image/v2/images/"+active, tc.demo.token, []any{map[string]any{"op": "replace", "path": "/disk_format", "value": "qcow2"}})
				if resp.StatusCode != tt.status || !strings.Contains(out["message"].(string), tt.msg) {
					t.Errorf("%d %v", resp.StatusCode, out)
				}
				return
			}
			resp, out := tc.json(t, "PATCH", path, tc.demo.token, body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tt.status, out)
			}
			if msg, _ := out["message"].(string); !strings.Contains(msg, tt.msg) {
				t.Errorf("message %q does not contain %q", msg, tt.msg)
			}
		})
	}
	// Nothing of the refused patches was applied.
	if got := tc.show(t, tc.demo.token, id); !cmp.Equal(got["name"], "renamed") || got["visibility"] != "community" {
		t.Errorf("image changed by refused patches: %v", got)
	}
}

func TestPatchAtomicAndDrafts(t *testing.T) {
	tc := newTestCloud(t)
	id := tc.createImage(t, tc.demo.token, map[string]any{"name": "a", "k": "v"})["id"].(string)
	path := "/image/v2/images/" + id
	// The second operation fails, so the first is not saved either.
	resp, _ := tc.json(t, "PATCH", path, tc.demo.token, []any{
		map[string]any{"op": "replace", "path": "/name", "value": "b"},
		map[string]any{"op": "replace", "path": "/missing", "value": "x"},
	})
	if resp.StatusCode != 409 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if tc.show(t, tc.demo.token, id)["name"] != "a" {
		t.Errorf("partial patch was saved")
	}
	// The v2.0 media type names operations by key and refuses adding an existing property.
	send := func(ctype string, ops any) (int, map[string]any) {
		b, _ := json.Marshal(ops)
		rec := tc.request(t, "PATCH", path, tc.demo.token, ctype, bytes.NewReader(b), "Accept", "application/json")
		return rec.Code, decode(t, rec)
	}
	v20 := "application/openstack-images-v2.0-json-patch"
	if code, out := send(v20, []any{map[string]any{"replace": "/name", "value": "c"}}); code != 200 || out["name"] != "c" {
		t.Errorf("v2.0 replace: %d %v", code, out)
	}
	if code, _ := send(v20, []any{map[string]any{"add": "/k", "value": "w"}}); code != 409 {
		t.Errorf("v2.0 add of an existing property: %d", code)
	}
	if code, out := send("application/openstack-images-v2.1-json-patch", []any{map[string]any{"op": "add", "path": "/k", "value": "w"}}); code != 200 || out["k"] != "w" {
		t.Errorf("v2.1 add of an existing property: %d %v", code, out)
	}
	rec := tc.request(t, "PATCH", path, tc.demo.token, "application/json", strings.NewReader("[]"), "Accept", "application/json")
	if rec.Code != 415 || !strings.Contains(rec.Header().Get("Accept-Patch"), "application/openstack-images-v2.1-json-patch") {
		t.Errorf("patch as application/json: %d %v", rec.Code, rec.Header())
	}
	if resp, _ := tc.json(t, "PATCH", path, tc.alt.token, []any{map[string]any{"op": "replace", "path": "/name", "value": "x"}}); resp.StatusCode != 404 {
		t.Errorf("patch by another project: %d", resp.StatusCode)
	}
	// The admin may change the owner.
	resp, out := tc.json(t, "PATCH", path, tc.admin.token, []any{map[string]any{"op": "replace", "path": "/owner", "value": tc.alt.project}})
	if resp.StatusCode != 200 || out["owner"] != tc.alt.project {
		t.Errorf("owner change by admin: %d %v", resp.StatusCode, out)
	}
}
