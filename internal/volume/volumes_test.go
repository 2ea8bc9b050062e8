package volume

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitStatus polls a resource (path relative to the project root, key "volume",
// "snapshot" or "backup") until its status is want, failing on a final other status.
func (tc *testCloud) waitStatus(t testing.TB, path, key, want string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		r := tc.do(t, "3.70", "GET", path, nil)
		if r.code == http.StatusNotFound && want == "deleted" {
			return nil
		}
		r.want(t, http.StatusOK)
		o := r.obj(key)
		last, _ = o["status"].(string)
		if last == want {
			return o
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("%s: status %q, want %q", path, last, want)
	return nil
}

// createVolume creates a volume as token and waits for it to be available.
func (tc *testCloud) createVolume(t testing.TB, token string, body map[string]any) map[string]any {
	t.Helper()
	r := tc.doAs(t, token, "3.70", "POST", "/volumes", map[string]any{"volume": body}).want(t, http.StatusAccepted)
	id := r.obj("volume")["id"].(string)
	return tc.waitStatus(t, "/volumes/"+id, "volume", "available")
}

func TestVolumeLifecycle(t *testing.T) {
	tc := newTestCloud(t)
	r := tc.do(t, "", "POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1, "name": "vol1",
		"metadata": map[string]any{"k": "v"}}}).want(t, http.StatusAccepted)
	v := r.obj("volume")
	if v["status"] != "creating" || v["size"] != float64(1) || v["volume_type"] != "__DEFAULT__" || v["bootable"] != "false" {
		t.Fatalf("create view: %v", v)
	}
	id := v["id"].(string)
	got := tc.waitStatus(t, "/volumes/"+id, "volume", "available")
	if got["os-vol-host-attr:host"] != "testhost@file#file" || got["os-vol-tenant-attr:tenant_id"] != tc.adminProjectID ||
		got["metadata"].(map[string]any)["k"] != "v" || got["volume_type_id"] == nil {
		t.Fatalf("detail: %v", got)
	}
	if size, ok := tc.driver.Has(id); !ok || size != 1 {
		t.Fatalf("driver: %v %v", size, ok)
	}
	// List, detail, summary, filters, links.
	r = tc.do(t, "", "GET", "/volumes", nil).want(t, http.StatusOK)
	if l := r.list("volumes"); len(l) != 1 || l[0]["name"] != "vol1" || len(l[0]) != 3 {
		t.Fatalf("list: %s", r.raw)
	}
	r = tc.do(t, "", "GET", "/volumes/detail?name=nope", nil).want(t, http.StatusOK)
	if len(r.list("volumes")) != 0 {
		t.Fatalf("filter: %s", r.raw)
	}
	r = tc.do(t, "3.45", "GET", "/volumes/detail?with_count=true&limit=1", nil).want(t, http.StatusOK)
	if r.body["count"] != float64(1) || r.body["volumes_links"] == nil {
		t.Fatalf("count/links: %s", r.raw)
	}
	// Update.
	r = tc.do(t, "", "PUT", "/volumes/"+id, map[string]any{"volume": map[string]any{"name": "renamed"}}).want(t, http.StatusOK)
	if r.obj("volume")["name"] != "renamed" {
		t.Fatalf("update: %s", r.raw)
	}
	// Extend, then shrink refused.
	tc.do(t, "", "POST", "/volumes/"+id+"/action", map[string]any{"os-extend": map[string]any{"new_size": 2}}).want(t, http.StatusAccepted)
	got = tc.waitStatus(t, "/volumes/"+id, "volume", "available")
	if got["size"] != float64(2) {
		t.Fatalf("extend: %v", got)
	}
	if size, _ := tc.driver.Has(id); size != 2 {
		t.Fatalf("driver size %d", size)
	}
	r = tc.do(t, "", "POST", "/volumes/"+id+"/action", map[string]any{"os-extend": map[string]any{"new_size": 1}}).want(t, http.StatusBadRequest)
	if !strings.Contains(r.faultMessage("badRequest"), "New size for extend must be greater than current size") {
		t.Fatalf("shrink: %s", r.raw)
	}
	// Delete.
	tc.do(t, "", "DELETE", "/volumes/"+id, nil).want(t, http.StatusAccepted)
	tc.waitStatus(t, "/volumes/"+id, "volume", "deleted")
	if _, ok := tc.driver.Has(id); ok {
		t.Fatal("data left after delete")
	}
}

func TestVolumeCreateBadInput(t *testing.T) {
	tc := newTestCloud(t)
	for _, tt := range []struct {
		name   string
		body   any
		status int
		msg    string
	}{
		{"negative size", map[string]any{"volume": map[string]any{"size": -1}}, 400, "-1 is less than the minimum of 1"},
		{"zero size", map[string]any{"volume": map[string]any{"size": 0}}, 400, "0 is less than the minimum of 1"},
		{"no size", map[string]any{"volume": map[string]any{"name": "x"}}, 400, "Invalid volume size provided"},
		{"string size", map[string]any{"volume": map[string]any{"size": "abc"}}, 400, "does not match"},
		{"unknown type", map[string]any{"volume": map[string]any{"size": 1, "volume_type": "nope"}}, 404, "Volume type with name nope could not be found."},
		{"bad az", map[string]any{"volume": map[string]any{"size": 1, "availability_zone": "mars"}}, 400, "Availability zone 'mars' is invalid."},
		{"multiattach", map[string]any{"volume": map[string]any{"size": 1, "multiattach": true}}, 400, "multiattach parameter has been removed"},
		{"bad snapshot id", map[string]any{"volume": map[string]any{"size": 1, "snapshot_id": "x"}}, 400, "is not a 'uuid'"},
		{"missing snapshot", map[string]any{"volume": map[string]any{"snapshot_id": "11111111-2222-3333-4444-555555555555"}}, 404, "Snapshot 11111111-2222-3333-4444-555555555555 could not be found."},
		{"bad image", map[string]any{"volume": map[string]any{"size": 1, "imageRef": "nope"}}, 400, "Invalid image identifier"},
		{"not an object", map[string]any{"volume": "x"}, 400, ""},
		{"no volume", map[string]any{}, 400, ""},
		{"bad metadata", map[string]any{"volume": map[string]any{"size": 1, "metadata": map[string]any{"k": 1}}}, 400, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := tc.do(t, "", "POST", "/volumes", tt.body).want(t, tt.status)
			var msg string
			for _, k := range []string{"badRequest", "itemNotFound"} {
				if m := r.faultMessage(k); m != "" {
					msg = m
				}
			}
			if msg == "" || !strings.Contains(msg, tt.msg) {
				t.Fatalf("message %q, want %q (%s)", msg, tt.msg, r.raw)
			}
		})
	}
	if calls := tc.driver.Calls(); len(calls) != 0 {
		t.Fatalf("driver touched: %v", calls)
	}
}

func TestOtherProjectCannotTouchVolume(t *testing.T) {
	tc := newTestCloud(t)
	v := tc.createVolume(t, tc.demoToken, map[string]any{"size": 1})
	id := v["id"].(string)
	alt := tc.altToken
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/volumes/" + id, nil},
		{"PUT", "/volumes/" + id, map[string]any{"volume": map[string]any{"name": "x"}}},
		{"DELETE", "/volumes/" + id, nil},
		{"POST", "/volumes/" + id + "/action", map[string]any{"os-reserve": nil}},
		{"POST", "/volumes/" + id + "/action", map[string]any{"os-attach": map[string]any{"mountpoint": "/dev/vdb", "instance_uuid": "11111111-2222-3333-4444-555555555555"}}},
		{"GET", "/volumes/" + id + "/metadata", nil},
	} {
		r := tc.doAs(t, alt, "3.70", c.method, c.path, c.body)
		if r.code != http.StatusNotFound || r.faultMessage("itemNotFound") != "Volume "+id+" could not be found." {
			t.Errorf("%s %s: %d %s", c.method, c.path, r.code, r.raw)
		}
	}
	r := tc.doAs(t, alt, "3.70", "POST", "/snapshots", map[string]any{"snapshot": map[string]any{"volume_id": id}})
	r.want(t, http.StatusNotFound)
	r = tc.doAs(t, alt, "3.70", "POST", "/attachments", map[string]any{"attachment": map[string]any{"volume_uuid": id,
		"instance_uuid": "11111111-2222-3333-4444-555555555555"}})
	r.want(t, http.StatusNotFound)
	r = tc.doAs(t, alt, "3.70", "GET", "/volumes/detail", nil).want(t, http.StatusOK)
	if len(r.list("volumes")) != 0 {
		t.Fatalf("alt sees: %s", r.raw)
	}
	// The owner still sees it, untouched.
	r = tc.doAs(t, tc.demoToken, "3.70", "GET", "/volumes/"+id, nil).want(t, http.StatusOK)
	if r.obj("volume")["status"] != "available" {
		t.Fatalf("owner view: %s", r.raw)
	}
}

func TestSnapshotsAndDeleteRules(t *testing.T) {
	tc := newTestCloud(t)
	v := tc.createVolume(t, tc.adminToken, map[string]any{"size": 1, "name": "vol1"})
	id := v["id"].(string)
	r := tc.do(t, "", "POST", "/snapshots", map[string]any{"snapshot": map[string]any{"volume_id": id, "name": "snap1"}}).want(t, http.StatusAccepted)
	sid := r.obj("snapshot")["id"].(string)
	snap := tc.waitStatus(t, "/snapshots/"+sid, "snapshot", "available")
	if snap["os-extended-snapshot-attributes:progress"] != "100%" || snap["size"] != float64(1) {
		t.Fatalf("snapshot: %v", snap)
	}
	// A volume with snapshots cannot be deleted without cascade.
	r = tc.do(t, "", "DELETE", "/volumes/"+id, nil).want(t, http.StatusBadRequest)
	if !strings.HasPrefix(r.faultMessage("badRequest"), "Invalid volume: Volume status must be available or error") {
		t.Fatalf("delete with snapshot: %s", r.raw)
	}
	// Volume from the snapshot.
	r = tc.do(t, "", "POST", "/volumes", map[string]any{"volume": map[string]any{"snapshot_id": sid, "name": "vol2"}}).want(t, http.StatusAccepted)
	v2 := r.obj("volume")["id"].(string)
	got := tc.waitStatus(t, "/volumes/"+v2, "volume", "available")
	if got["snapshot_id"] != sid || got["size"] != float64(1) {
		t.Fatalf("from snapshot: %v", got)
	}
	// Smaller than the snapshot is refused.
	r = tc.do(t, "", "POST", "/volumes", map[string]any{"volume": map[string]any{"snapshot_id": sid, "size": 1}})
	r.want(t, http.StatusAccepted)
	// Clone.
	r = tc.do(t, "", "POST", "/volumes", map[string]any{"volume": map[string]any{"source_volid": id}}).want(t, http.StatusAccepted)
	tc.waitStatus(t, "/volumes/"+r.obj("volume")["id"].(string), "volume", "available")
	// Snapshot metadata.
	tc.do(t, "", "POST", "/snapshots/"+sid+"/metadata", map[string]any{"metadata": map[string]any{"a": "b"}}).want(t, http.StatusOK)
	r = tc.do(t, "", "GET", "/snapshots/"+sid+"/metadata/a", nil).want(t, http.StatusOK)
	if r.obj("meta")["a"] != "b" {
		t.Fatalf("meta: %s", r.raw)
	}
	// Cascade delete.
	tc.do(t, "", "DELETE", "/volumes/"+id+"?cascade=true", nil).want(t, http.StatusAccepted)
	tc.waitStatus(t, "/volumes/"+id, "volume", "deleted")
	tc.waitStatus(t, "/snapshots/"+sid, "snapshot", "deleted")
	if tc.driver.HasSnapshot(sid) {
		t.Fatal("snapshot data left")
	}
}

func TestAttachmentsFlow(t *testing.T) {
	tc := newTestCloud(t)
	v := tc.createVolume(t, tc.demoToken, map[string]any{"size": 1})
	id := v["id"].(string)
	server := "11111111-2222-3333-4444-555555555555"
	r := tc.doAs(t, tc.demoToken, "3.44", "POST", "/attachments", map[string]any{"attachment": map[string]any{
		"volume_uuid": id, "instance_uuid": server}}).want(t, http.StatusOK)
	att := r.obj("attachment")
	if att["status"] != "reserved" || att["instance"] != server {
		t.Fatalf("reserve: %s", r.raw)
	}
	aid := att["id"].(string)
	tc.waitStatus(t, "/volumes/"+id, "volume", "reserved")
	// In-use volumes cannot be deleted.
	r = tc.doAs(t, tc.demoToken, "3.44", "PUT", "/attachments/"+aid, map[string]any{"attachment": map[string]any{
		"connector": map[string]any{"host": "compute1", "mountpoint": "/dev/vdb"}}}).want(t, http.StatusOK)
	ci := r.obj("attachment")["connection_info"].(map[string]any)
	if ci["driver_volume_type"] != "file" || ci["attachment_id"] != aid || ci["path"] == nil || ci["access_mode"] != "rw" {
		t.Fatalf("connection_info: %v", ci)
	}
	tc.waitStatus(t, "/volumes/"+id, "volume", "attaching")
	tc.doAs(t, tc.demoToken, "3.44", "POST", "/attachments/"+aid+"/action", map[string]any{"os-complete": nil}).want(t, http.StatusNoContent)
	got := tc.waitStatus(t, "/volumes/"+id, "volume", "in-use")
	atts := got["attachments"].([]any)
	if len(atts) != 1 || atts[0].(map[string]any)["server_id"] != server {
		t.Fatalf("attachments: %v", got["attachments"])
	}
	r = tc.doAs(t, tc.demoToken, "", "DELETE", "/volumes/"+id, nil).want(t, http.StatusBadRequest)
	if !strings.Contains(r.faultMessage("badRequest"), "Volume status must be available or error") {
		t.Fatalf("delete in-use: %s", r.raw)
	}
	// A second attachment of a non-multiattach volume is refused.
	r = tc.doAs(t, tc.demoToken, "3.44", "POST", "/attachments", map[string]any{"attachment": map[string]any{
		"volume_uuid": id, "instance_uuid": "22222222-2222-3333-4444-555555555555"}}).want(t, http.StatusBadRequest)
	if !strings.Contains(r.faultMessage("badRequest"), "to reserve, but the current status is in-use") {
		t.Fatalf("second attach: %s", r.raw)
	}
	r = tc.doAs(t, tc.demoToken, "3.44", "DELETE", "/attachments/"+aid, nil).want(t, http.StatusOK)
	if len(r.list("attachments")) != 0 {
		t.Fatalf("left: %s", r.raw)
	}
	tc.waitStatus(t, "/volumes/"+id, "volume", "available")
	// Before 3.27 the API does not exist.
	tc.doAs(t, tc.demoToken, "3.26", "GET", "/attachments", nil).want(t, http.StatusNotFound)
}

func TestLegacyAttachActions(t *testing.T) {
	tc := newTestCloud(t)
	v := tc.createVolume(t, tc.adminToken, map[string]any{"size": 1})
	id := v["id"].(string)
	act := func(body map[string]any, status int) resp {
		return tc.do(t, "", "POST", "/volumes/"+id+"/action", body).want(t, status)
	}
	act(map[string]any{"os-reserve": nil}, 202)
	tc.waitStatus(t, "/volumes/"+id, "volume", "attaching")
	act(map[string]any{"os-unreserve": nil}, 202)
	tc.waitStatus(t, "/volumes/"+id, "volume", "available")
	r := act(map[string]any{"os-initialize_connection": map[string]any{"connector": map[string]any{"host": "h"}}}, 200)
	if r.obj("connection_info")["driver_volume_type"] != "file" {
		t.Fatalf("init: %s", r.raw)
	}
	act(map[string]any{"os-attach": map[string]any{"instance_uuid": "11111111-2222-3333-4444-555555555555", "mountpoint": "/dev/vdb"}}, 202)
	got := tc.waitStatus(t, "/volumes/"+id, "volume", "in-use")
	aid := got["attachments"].([]any)[0].(map[string]any)["attachment_id"].(string)
	act(map[string]any{"os-begin_detaching": nil}, 202)
	tc.waitStatus(t, "/volumes/"+id, "volume", "detaching")
	act(map[string]any{"os-roll_detaching": nil}, 202)
	tc.waitStatus(t, "/volumes/"+id, "volume", "in-use")
	act(map[string]any{"os-terminate_connection": map[string]any{"connector": map[string]any{"host": "h"}}}, 202)
	act(map[string]any{"os-detach": map[string]any{"attachment_id": aid}}, 202)
	tc.waitStatus(t, "/volumes/"+id, "volume", "available")
	// Invalid states leave the volume as it is.
	r = act(map[string]any{"os-begin_detaching": nil}, 400)
	if !strings.Contains(r.faultMessage("badRequest"), "Unable to detach volume") {
		t.Fatalf("begin_detaching: %s", r.raw)
	}
	act(map[string]any{"os-set_bootable": map[string]any{"bootable": true}}, 200)
	act(map[string]any{"os-update_readonly_flag": map[string]any{"readonly": true}}, 202)
	act(map[string]any{"os-reset_status": map[string]any{"status": "error"}}, 202)
	got = tc.waitStatus(t, "/volumes/"+id, "volume", "error")
	if got["bootable"] != "true" {
		t.Fatalf("bootable: %v", got)
	}
	act(map[string]any{"os-no-such": nil}, 400)
	act(map[string]any{"os-force_delete": nil}, 202)
	tc.waitStatus(t, "/volumes/"+id, "volume", "deleted")
	// A member may not reset status.
	v = tc.createVolume(t, tc.demoToken, map[string]any{"size": 1})
	tc.doAs(t, tc.demoToken, "", "POST", "/volumes/"+v["id"].(string)+"/action",
		map[string]any{"os-reset_status": map[string]any{"status": "error"}}).want(t, http.StatusForbidden)
}

func TestVolumeTypes(t *testing.T) {
	tc := newTestCloud(t)
	r := tc.do(t, "", "POST", "/types", map[string]any{"volume_type": map[string]any{"name": "ssd",
		"extra_specs": map[string]any{"volume_backend_name": "file", "multiattach": "<is> True"}}}).want(t, http.StatusOK)
	vt := r.obj("volume_type")
	if vt["name"] != "ssd" || vt["os-volume-type-access:is_public"] != true {
		t.Fatalf("create type: %s", r.raw)
	}
	tid := vt["id"].(string)
	tc.do(t, "", "POST", "/types", map[string]any{"volume_type": map[string]any{"name": "ssd"}}).want(t, http.StatusConflict)
	// Members see only user-visible specs.
	r = tc.doAs(t, tc.demoToken, "", "GET", "/types/"+tid, nil).want(t, http.StatusOK)
	specs := r.obj("volume_type")["extra_specs"].(map[string]any)
	if len(specs) != 1 || specs["multiattach"] != "<is> True" {
		t.Fatalf("member specs: %v", specs)
	}
	v := tc.createVolume(t, tc.demoToken, map[string]any{"size": 1, "volume_type": "ssd"})
	if v["volume_type"] != "ssd" || v["multiattach"] != true {
		t.Fatalf("typed volume: %v", v)
	}
	// In use: no delete, no spec change.
	tc.do(t, "", "DELETE", "/types/"+tid, nil).want(t, http.StatusBadRequest)
	tc.do(t, "", "PUT", "/types/"+tid+"/extra_specs/foo", map[string]any{"foo": "bar"}).want(t, http.StatusBadRequest)
	// Private type with access.
	r = tc.do(t, "", "POST", "/types", map[string]any{"volume_type": map[string]any{"name": "private",
		"os-volume-type-access:is_public": false}}).want(t, http.StatusOK)
	pid := r.obj("volume_type")["id"].(string)
	tc.doAs(t, tc.demoToken, "", "GET", "/types/"+pid, nil).want(t, http.StatusNotFound)
	tc.doAs(t, tc.demoToken, "", "POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1, "volume_type": pid}}).want(t, http.StatusNotFound)
	tc.do(t, "", "POST", "/types/"+pid+"/action", map[string]any{"addProjectAccess": map[string]any{"project": tc.demoProjectID}}).want(t, http.StatusAccepted)
	r = tc.do(t, "", "GET", "/types/"+pid+"/os-volume-type-access", nil).want(t, http.StatusOK)
	if l := r.list("volume_type_access"); len(l) != 1 || l[0]["project_id"] != tc.demoProjectID {
		t.Fatalf("access: %s", r.raw)
	}
	tc.doAs(t, tc.demoToken, "", "GET", "/types/"+pid, nil).want(t, http.StatusOK)
	// Default types (3.62).
	tc.do(t, "3.62", "PUT", "/default-types/"+tc.altProjectID, map[string]any{"default_type": map[string]any{"volume_type": "ssd"}}).want(t, http.StatusOK)
	v = tc.createVolume(t, tc.altToken, map[string]any{"size": 1})
	if v["volume_type"] != "ssd" {
		t.Fatalf("project default: %v", v)
	}
	r = tc.do(t, "", "GET", "/types/default", nil).want(t, http.StatusOK)
	if r.obj("volume_type")["name"] != "__DEFAULT__" {
		t.Fatalf("default: %s", r.raw)
	}
	// The default type cannot be deleted.
	r = tc.do(t, "", "GET", "/types", nil).want(t, http.StatusOK)
	for _, x := range r.list("volume_types") {
		if x["name"] == "__DEFAULT__" {
			tc.do(t, "", "DELETE", "/types/"+x["id"].(string), nil).want(t, http.StatusBadRequest)
		}
	}
	// Members may not create types.
	tc.doAs(t, tc.demoToken, "", "POST", "/types", map[string]any{"volume_type": map[string]any{"name": "x"}}).want(t, http.StatusForbidden)
}

func TestQuotas(t *testing.T) {
	tc := newTestCloud(t)
	p := tc.demoProjectID
	r := tc.do(t, "", "GET", "/os-quota-sets/"+p+"?usage=true", nil).want(t, http.StatusOK)
	qs := r.obj("quota_set")
	if qs["volumes"].(map[string]any)["limit"] != float64(10) || qs["volumes___DEFAULT__"] == nil {
		t.Fatalf("quota usage: %s", r.raw)
	}
	tc.do(t, "", "PUT", "/os-quota-sets/"+p, map[string]any{"quota_set": map[string]any{"volumes": 2, "gigabytes": 5}}).want(t, http.StatusOK)
	tc.do(t, "", "PUT", "/os-quota-sets/"+p, map[string]any{"quota_set": map[string]any{"bogus": 2}}).want(t, http.StatusBadRequest)
	tc.doAs(t, tc.demoToken, "", "PUT", "/os-quota-sets/"+p, map[string]any{"quota_set": map[string]any{"volumes": 100}}).want(t, http.StatusForbidden)
	r = tc.doAs(t, tc.demoToken, "", "POST", "/volumes", map[string]any{"volume": map[string]any{"size": 6}}).want(t, http.StatusRequestEntityTooLarge)
	if m := r.faultMessage("overLimit"); m != "Requested volume or snapshot exceeds allowed gigabytes quota. Requested 6G, quota is 5G and 0G has been consumed." {
		t.Fatalf("gigabytes over quota: %q", m)
	}
	// Concurrent creates never exceed the volume count.
	var wg sync.WaitGroup
	codes := make(chan int, 6)
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- tc.doAs(t, tc.demoToken, "", "POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1}}).code
		}()
	}
	wg.Wait()
	close(codes)
	ok, over := 0, 0
	for c := range codes {
		switch c {
		case 202:
			ok++
		case 413:
			over++
		default:
			t.Fatalf("unexpected status %d", c)
		}
	}
	if ok != 2 || over != 4 {
		t.Fatalf("concurrent creates: %d accepted, %d over quota", ok, over)
	}
	r = tc.doAs(t, tc.demoToken, "", "POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1}}).want(t, http.StatusRequestEntityTooLarge)
	if m := r.faultMessage("overLimit"); m != "Maximum number of volumes allowed (2) exceeded for quota 'volumes'." {
		t.Fatalf("volumes over quota: %q", m)
	}
	// Limits show the usage.
	r = tc.doAs(t, tc.demoToken, "", "GET", "/limits", nil).want(t, http.StatusOK)
	abs := r.obj("limits")["absolute"].(map[string]any)
	if abs["totalVolumesUsed"] != float64(2) || abs["maxTotalVolumes"] != float64(2) {
		t.Fatalf("limits: %s", r.raw)
	}
	// Lowering below usage is refused.
	tc.do(t, "", "PUT", "/os-quota-sets/"+p, map[string]any{"quota_set": map[string]any{"volumes": 1}}).want(t, http.StatusBadRequest)
	tc.do(t, "", "DELETE", "/os-quota-sets/"+p, nil).want(t, http.StatusOK)
	r = tc.do(t, "", "GET", "/os-quota-sets/"+p+"/defaults", nil).want(t, http.StatusOK)
	if r.obj("quota_set")["gigabytes"] != float64(1000) {
		t.Fatalf("defaults: %s", r.raw)
	}
}

func TestBackups(t *testing.T) {
	tc := newTestCloud(t)
	v := tc.createVolume(t, tc.demoToken, map[string]any{"size": 1})
	id := v["id"].(string)
	tc.driver.Put(id, 1, []byte("hello volume"))
	r := tc.doAs(t, tc.demoToken, "3.70", "POST", "/backups", map[string]any{"backup": map[string]any{"volume_id": id, "name": "b1"}}).want(t, http.StatusAccepted)
	bid := r.obj("backup")["id"].(string)
	b := tc.waitStatus(t, "/backups/"+bid, "backup", "available")
	if b["is_incremental"] != false || b["size"] != float64(1) {
		t.Fatalf("backup: %v", b)
	}
	tc.waitStatus(t, "/volumes/"+id, "volume", "available")
	r = tc.doAs(t, tc.demoToken, "3.70", "POST", "/backups", map[string]any{"backup": map[string]any{"volume_id": id, "incremental": true}}).want(t, http.StatusAccepted)
	inc := r.obj("backup")["id"].(string)
	b = tc.waitStatus(t, "/backups/"+inc, "backup", "available")
	if b["is_incremental"] != true {
		t.Fatalf("incremental: %v", b)
	}
	// The parent has a dependent and cannot go first.
	tc.doAs(t, tc.demoToken, "", "DELETE", "/backups/"+bid, nil).want(t, http.StatusBadRequest)
	// Restore to a new volume.
	r = tc.doAs(t, tc.demoToken, "", "POST", "/backups/"+bid+"/restore", map[string]any{"restore": map[string]any{"name": "restored"}}).want(t, http.StatusAccepted)
	nv := r.obj("restore")["volume_id"].(string)
	tc.waitStatus(t, "/volumes/"+nv, "volume", "available")
	if got := string(tc.driver.Data(nv)); got != "hello volume" {
		t.Fatalf("restored data %q", got)
	}
	// Restore onto the existing volume.
	tc.driver.Put(id, 1, []byte("changed"))
	tc.doAs(t, tc.demoToken, "", "POST", "/backups/"+bid+"/restore", map[string]any{"restore": map[string]any{"volume_id": id}}).want(t, http.StatusAccepted)
	tc.waitStatus(t, "/volumes/"+id, "volume", "available")
	tc.waitStatus(t, "/backups/"+bid, "backup", "available")
	if got := string(tc.driver.Data(id)); got != "hello volume" {
		t.Fatalf("restored in place %q", got)
	}
	// Export is not supported; another project sees nothing.
	tc.do(t, "", "GET", "/backups/"+bid+"/export_record", nil).want(t, http.StatusBadRequest)
	tc.doAs(t, tc.altToken, "", "GET", "/backups/"+bid, nil).want(t, http.StatusNotFound)
	tc.doAs(t, tc.demoToken, "", "DELETE", "/backups/"+inc, nil).want(t, http.StatusAccepted)
	tc.waitStatus(t, "/backups/"+inc, "backup", "deleted")
	tc.doAs(t, tc.demoToken, "", "DELETE", "/backups/"+bid, nil).want(t, http.StatusAccepted)
	tc.waitStatus(t, "/backups/"+bid, "backup", "deleted")
	if tc.backups.Has(bid) || tc.backups.Has(inc) {
		t.Fatal("backup data left")
	}
}

func TestFailuresBecomeUserMessages(t *testing.T) {
	tc := newTestCloud(t, testOptions{hook: func(_ context.Context, op, id string) error {
		if op == "create" {
			return fmt.Errorf("disk on fire")
		}
		return nil
	}})
	r := tc.doAs(t, tc.demoToken, "", "POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1}}).want(t, http.StatusAccepted)
	id := r.obj("volume")["id"].(string)
	tc.waitStatus(t, "/volumes/"+id, "volume", "error")
	r = tc.doAs(t, tc.demoToken, "3.3", "GET", "/messages", nil).want(t, http.StatusOK)
	msgs := r.list("messages")
	if len(msgs) != 1 || msgs[0]["resource_uuid"] != id || msgs[0]["event_id"] != "VOLUME_VOLUME_001_012" ||
		msgs[0]["user_message"] != "schedule allocate volume: Driver failed to create the volume." {
		t.Fatalf("messages: %s", r.raw)
	}
	if strings.Contains(r.raw, "fire") {
		t.Fatal("internal error leaked into a user message")
	}
	mid := msgs[0]["id"].(string)
	tc.doAs(t, tc.altToken, "3.3", "GET", "/messages/"+mid, nil).want(t, http.StatusNotFound)
	tc.doAs(t, tc.demoToken, "3.3", "DELETE", "/messages/"+mid, nil).want(t, http.StatusNoContent)
	// An error volume may be deleted.
	tc.doAs(t, tc.demoToken, "", "DELETE", "/volumes/"+id, nil).want(t, http.StatusAccepted)
	tc.waitStatus(t, "/volumes/"+id, "volume", "deleted")
}

func TestNoValidBackend(t *testing.T) {
	tc := newTestCloud(t, testOptions{cfg: Config{MaxOverSubscriptionRatio: 1}})
	// The fake backend has 1000 GB; ratio 1 refuses 1001 GB.
	tc.do(t, "", "PUT", "/os-quota-sets/"+tc.adminProjectID, map[string]any{"quota_set": map[string]any{"gigabytes": -1}}).want(t, http.StatusOK)
	r := tc.do(t, "", "POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1001}}).want(t, http.StatusAccepted)
	id := r.obj("volume")["id"].(string)
	tc.waitStatus(t, "/volumes/"+id, "volume", "error")
	r = tc.do(t, "3.3", "GET", "/messages", nil).want(t, http.StatusOK)
	if l := r.list("messages"); len(l) != 1 || l[0]["event_id"] != "VOLUME_VOLUME_001_003" {
		t.Fatalf("messages: %s", r.raw)
	}
}

func TestCapabilitiesFilter(t *testing.T) {
	tc := newTestCloud(t)
	tc.do(t, "", "POST", "/types", map[string]any{"volume_type": map[string]any{"name": "elsewhere",
		"extra_specs": map[string]any{"volume_backend_name": "lvm", "vendor_name": "Nobody"}}}).want(t, http.StatusOK)
	tc.do(t, "", "POST", "/types", map[string]any{"volume_type": map[string]any{"name": "here",
		"extra_specs": map[string]any{"volume_backend_name": "file", "capabilities:storage_protocol": "<in> fil"}}}).want(t, http.StatusOK)
	r := tc.do(t, "", "POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1, "volume_type": "elsewhere"}}).want(t, http.StatusAccepted)
	tc.waitStatus(t, "/volumes/"+r.obj("volume")["id"].(string), "volume", "error")
	tc.createVolume(t, tc.adminToken, map[string]any{"size": 1, "volume_type": "here"})
	r = tc.do(t, "3.3", "GET", "/messages", nil).want(t, http.StatusOK)
	if l := r.list("messages"); len(l) != 1 || l[0]["event_id"] != "VOLUME_VOLUME_001_003" {
		t.Fatalf("messages: %s", r.raw)
	}
}

// A volume created before this process's cinder-volume has registered (the first
// request after a start) is queued to the local backend, not failed for want of an up
// service; once the local service is disabled, creates fail with "No valid backend".
func TestCreateBeforeServiceRegisters(t *testing.T) {
	tc := newTestCloud(t, testOptions{noRun: true})
	r := tc.do(t, "", "POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1}}).want(t, http.StatusAccepted)
	early := r.obj("volume")["id"].(string)
	tc.start(t)
	tc.waitStatus(t, "/volumes/"+early, "volume", "available")

	tc.do(t, "", "PUT", "/os-services/disable", map[string]any{"host": "testhost@file", "binary": "cinder-volume"}).
		want(t, http.StatusOK)
	r = tc.do(t, "", "POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1}}).want(t, http.StatusAccepted)
	tc.waitStatus(t, "/volumes/"+r.obj("volume")["id"].(string), "volume", "error")
}
