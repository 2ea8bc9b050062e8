package volume

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/driver/block"
	"github.com/gostack/gostack/internal/store"
)

// manageBody is a manage request for the file named ref on the test backend.
func manageBody(ref string, extra map[string]any) map[string]any {
	v := map[string]any{"host": "testhost@file#file", "ref": map[string]any{"source-name": ref}}
	for k, x := range extra {
		v[k] = x
	}
	return map[string]any{"volume": v}
}

// unmanageVolume unmanages a volume and waits for it to go.
func (tc *testCloud) unmanageVolume(t *testing.T, id string) {
	t.Helper()
	tc.do(t, "3.8", "POST", "/volumes/"+id+"/action", map[string]any{"os-unmanage": nil}).want(t, http.StatusAccepted)
	tc.waitStatus(t, "/volumes/"+id, "volume", "deleted")
}

// usage returns the project's in-use volumes and gigabytes.
func (tc *testCloud) usage(t *testing.T, project string) (vols, gbs float64) {
	t.Helper()
	r := tc.do(t, "3.8", "GET", "/os-quota-sets/"+project+"?usage=true", nil).want(t, http.StatusOK)
	q := r.obj("quota_set")
	return q["volumes"].(map[string]any)["in_use"].(float64), q["gigabytes"].(map[string]any)["in_use"].(float64)
}

func TestUnmanageManageVolume(t *testing.T) {
	tc := newTestCloud(t)
	orig := tc.createVolume(t, tc.adminToken, map[string]any{"size": 2, "name": "orig", "metadata": map[string]any{"k": "v"}})
	id := orig["id"].(string)
	if v, g := tc.usage(t, tc.adminProjectID); v != 1 || g != 2 {
		t.Fatalf("usage before unmanage = %v volumes, %v GB", v, g)
	}
	tc.unmanageVolume(t, id)
	if _, ok := tc.driver.Has(id); !ok {
		t.Fatal("unmanage removed the data")
	}
	if v, g := tc.usage(t, tc.adminProjectID); v != 0 || g != 0 {
		t.Fatalf("usage after unmanage = %v volumes, %v GB, want none", v, g)
	}
	// It is listed as safe to manage, with its size.
	r := tc.do(t, "3.8", "GET", "/manageable_volumes/detail?host=testhost@file%23file", nil).want(t, http.StatusOK)
	list := r.list("manageable-volumes")
	if len(list) != 1 || list[0]["safe_to_manage"] != true || list[0]["size"] != float64(2) ||
		list[0]["reference"].(map[string]any)["source-name"] != "volume-"+id || list[0]["cinder_id"] != nil ||
		list[0]["reason_not_safe"] != nil || !hasKey(list[0], "extra_info") {
		t.Fatalf("manageable = %v", list)
	}

	r = tc.do(t, "3.8", "POST", "/manageable_volumes", manageBody("volume-"+id, map[string]any{"name": "managed",
		"volume_type": orig["volume_type"], "bootable": true, "metadata": map[string]any{"a": "b"}})).want(t, http.StatusAccepted)
	v := r.obj("volume")
	if v["status"] != "creating" || v["name"] != "managed" || v["size"] != float64(0) || hasKey(v, "volume_type_id") {
		t.Fatalf("manage view = %v", v)
	}
	newID := v["id"].(string)
	got := tc.waitStatus(t, "/volumes/"+newID, "volume", "available")
	if got["size"] != float64(2) || got["os-vol-host-attr:host"] != "testhost@file#file" || got["bootable"] != "true" ||
		got["volume_type"] != orig["volume_type"] || got["metadata"].(map[string]any)["a"] != "b" {
		t.Fatalf("managed volume = %v", got)
	}
	if _, ok := tc.driver.Has(id); ok {
		t.Error("the old name is still on the backend")
	}
	if size, ok := tc.driver.Has(newID); !ok || size != 2 {
		t.Errorf("backend holds %v %v under the new id", size, ok)
	}
	if v, g := tc.usage(t, tc.adminProjectID); v != 1 || g != 2 {
		t.Fatalf("usage after manage = %v volumes, %v GB", v, g)
	}
	// Now the file is owned: listed as not safe, and managing it again is a 400.
	r = tc.do(t, "3.8", "GET", "/manageable_volumes/detail?host=testhost@file", nil).want(t, http.StatusOK)
	list = r.list("manageable-volumes")
	if len(list) != 1 || list[0]["safe_to_manage"] != false || list[0]["reason_not_safe"] != "already managed" ||
		list[0]["cinder_id"] != newID {
		t.Fatalf("manageable after manage = %v", list)
	}
	r = tc.do(t, "", "POST", "/os-volume-manage", manageBody("volume-"+newID, nil)).want(t, http.StatusBadRequest)
	if !strings.Contains(r.faultMessage("badRequest"), "already managed") {
		t.Errorf("already managed: %s", r.raw)
	}
	// A plain delete removes the data.
	tc.do(t, "", "DELETE", "/volumes/"+newID, nil).want(t, http.StatusAccepted)
	tc.waitStatus(t, "/volumes/"+newID, "volume", "deleted")
	if _, ok := tc.driver.Has(newID); ok {
		t.Error("delete left the data")
	}
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }

func TestManageRefNamingNothing(t *testing.T) {
	tc := newTestCloud(t)
	for _, ref := range []any{map[string]any{"source-name": "volume-nothing"}, map[string]any{"source-id": "x"},
		"volume-x", map[string]any{"source-name": "../../etc/passwd"}} {
		body := manageBody("", nil)
		body["volume"].(map[string]any)["ref"] = ref
		r := tc.do(t, "", "POST", "/os-volume-manage", body).want(t, http.StatusAccepted)
		id := r.obj("volume")["id"].(string)
		tc.waitStatus(t, "/volumes/"+id, "volume", stErrorManaging)
		msgs := tc.do(t, "3.3", "GET", "/messages", nil).want(t, http.StatusOK).list("messages")
		found := false
		for _, m := range msgs {
			if m["resource_uuid"] == id && m["user_message"] == "create volume from backend storage: Driver failed to create the volume." {
				found = true
			}
		}
		if !found {
			t.Errorf("ref %v: no user message: %v", ref, msgs)
		}
		if v, _ := tc.usage(t, tc.adminProjectID); v != 0 {
			t.Errorf("ref %v: an error_managing volume counts against the quota", ref)
		}
		// An error_managing volume may be deleted.
		tc.do(t, "", "DELETE", "/volumes/"+id, nil).want(t, http.StatusAccepted)
		tc.waitStatus(t, "/volumes/"+id, "volume", "deleted")
	}
}

func TestManageRequestValidation(t *testing.T) {
	tc := newTestCloud(t)
	vol := tc.createVolume(t, tc.adminToken, map[string]any{"size": 1})
	for name, tc2 := range map[string]struct {
		ver, path string
		body      any
		token     string
		status    int
		msg       string
	}{
		"no ref":  {"", "/os-volume-manage", map[string]any{"volume": map[string]any{"host": "testhost@file"}}, "", 400, "'ref' is a required property"},
		"no host": {"", "/os-volume-manage", map[string]any{"volume": map[string]any{"ref": map[string]any{}}}, "", 400, "Host field is missing."},
		"host and cluster": {"3.16", "/os-volume-manage", map[string]any{"volume": map[string]any{"ref": map[string]any{},
			"host": "testhost@file", "cluster": "c"}}, "", 400, "One and only one of cluster and host must be set."},
		"cluster before 3.16": {"3.15", "/os-volume-manage", map[string]any{"volume": map[string]any{"ref": map[string]any{},
			"host": "testhost@file", "cluster": "c"}}, "", 400, "Additional properties are not allowed ('cluster'"},
		"unknown key":        {"", "/os-volume-manage", manageBody("volume-x", map[string]any{"size": 1}), "", 400, "Additional properties"},
		"bad host":           {"", "/os-volume-manage", manageBody("volume-x", map[string]any{"host": "a b"}), "", 400, "does not match"},
		"unknown host":       {"", "/os-volume-manage", manageBody("volume-x", map[string]any{"host": "other@file#file"}), "", 400, "Host 'other@file#file' not found"},
		"bare host":          {"", "/os-volume-manage", manageBody("volume-x", map[string]any{"host": "testhost"}), "", 400, "Host 'testhost' not found"},
		"bad type":           {"", "/os-volume-manage", manageBody("volume-x", map[string]any{"volume_type": "nope"}), "", 400, "Cannot find requested 'nope' volume type"},
		"bad bootable":       {"", "/os-volume-manage", manageBody("volume-x", map[string]any{"bootable": "maybe"}), "", 400, "bootable"},
		"bad metadata":       {"", "/os-volume-manage", manageBody("volume-x", map[string]any{"metadata": map[string]any{"a": 1}}), "", 400, ""},
		"ref number":         {"", "/os-volume-manage", map[string]any{"volume": map[string]any{"host": "testhost@file", "ref": 3}}, "", 400, "is not of type"},
		"not object":         {"", "/os-volume-manage", map[string]any{"volume": "x"}, "", 400, "is not of type 'object'"},
		"extra top":          {"", "/os-volume-manage", map[string]any{"volume": map[string]any{}, "x": 1}, "", 400, "Additional properties"},
		"old version":        {"3.7", "/manageable_volumes", manageBody("volume-x", nil), "", 404, ""},
		"member":             {"", "/os-volume-manage", manageBody("volume-x", nil), "demo", 403, "volume_extension:volume_manage"},
		"already managed":    {"", "/os-volume-manage", manageBody("volume-"+vol["id"].(string), nil), "", 400, "The volume is already managed"},
		"snapshot no volume": {"", "/os-snapshot-manage", map[string]any{"snapshot": map[string]any{"ref": map[string]any{}}}, "", 400, "'volume_id' is a required property"},
		"snapshot bad volume": {"", "/os-snapshot-manage", map[string]any{"snapshot": map[string]any{"ref": nil,
			"volume_id": "11111111-2222-3333-4444-555555555555"}}, "", 404, "could not be found"},
		"snapshot member": {"", "/os-snapshot-manage", map[string]any{"snapshot": map[string]any{"ref": nil,
			"volume_id": vol["id"]}}, "demo", 404, ""},
	} {
		t.Run(name, func(t *testing.T) {
			token := tc.adminToken
			if tc2.token == "demo" {
				token = tc.demoToken
			}
			r := tc.doAs(t, token, tc2.ver, "POST", tc2.path, tc2.body)
			if r.code != tc2.status || !strings.Contains(r.raw, tc2.msg) {
				t.Fatalf("got %d %s, want %d with %q", r.code, r.raw, tc2.status, tc2.msg)
			}
		})
	}
	// No volume was made by any of them.
	var n int
	if err := tc.db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM volume_volumes`).Scan(&n); err != nil || n != 1 {
		t.Errorf("volumes = %d, %v; want only the one created", n, err)
	}
}

func TestManageableListQuery(t *testing.T) {
	tc := newTestCloud(t)
	for _, id := range []string{"a", "b", "c"} {
		tc.driver.Put(id, int64(len(id)+int(id[0]-'a')), nil)
	}
	tc.driver.Put("backup-x", 1, nil)
	list := func(q string) []string {
		r := tc.do(t, "3.8", "GET", "/manageable_volumes?host=testhost@file&"+q, nil).want(t, http.StatusOK)
		var names []string
		for _, e := range r.list("manageable-volumes") {
			names = append(names, e["reference"].(map[string]any)["source-name"].(string))
			if hasKey(e, "cinder_id") || hasKey(e, "source_reference") {
				t.Errorf("summary entry has detail keys: %v", e)
			}
		}
		return names
	}
	for q, want := range map[string]string{
		"":                 "volume-c,volume-b,volume-a",
		"sort_dir=asc":     "volume-a,volume-b,volume-c",
		"sort=size:desc":   "volume-c,volume-b,volume-a",
		"limit=2":          "volume-c,volume-b",
		"limit=1&offset=1": "volume-b",
		"marker=" + url.QueryEscape(`{"source-name": "volume-c"}`): "volume-b,volume-a",
	} {
		if got := strings.Join(list(q), ","); got != want {
			t.Errorf("%q: %s, want %s", q, got, want)
		}
	}
	for q, want := range map[string]string{
		"sort_key=id":    "Invalid sort keys passed: id",
		"sort_dir=up":    "Invalid sort dirs passed: up",
		"limit=x":        "limit param must be an integer",
		"offset=-1":      "offset param must be an integer",
		"marker=notjson": "can not be analysed",
		"marker=%7B%7D":  "marker not found",
	} {
		r := tc.do(t, "3.8", "GET", "/manageable_volumes?host=testhost@file&"+q, nil).want(t, http.StatusBadRequest)
		if !strings.Contains(r.raw, want) {
			t.Errorf("%q: %s, want %q", q, r.raw, want)
		}
	}
	tc.do(t, "3.8", "GET", "/manageable_volumes", nil).want(t, http.StatusBadRequest)
	tc.do(t, "3.17", "GET", "/manageable_volumes?host=a@b&cluster=c", nil).want(t, http.StatusBadRequest)
	tc.do(t, "3.8", "GET", "/manageable_volumes?host=other@file", nil).want(t, http.StatusNotFound)
	tc.do(t, "3.7", "GET", "/manageable_volumes?host=testhost@file", nil).want(t, http.StatusNotFound)
	tc.doAs(t, tc.demoToken, "3.8", "GET", "/manageable_volumes?host=testhost@file", nil).want(t, http.StatusForbidden)
	// The legacy extension answers at any version.
	tc.do(t, "", "GET", "/os-volume-manage/detail?host=testhost@file", nil).want(t, http.StatusOK)
}

func TestUnmanageManageSnapshot(t *testing.T) {
	tc := newTestCloud(t)
	vol := tc.createVolume(t, tc.adminToken, map[string]any{"size": 1})
	vid := vol["id"].(string)
	r := tc.do(t, "", "POST", "/snapshots", map[string]any{"snapshot": map[string]any{"volume_id": vid}}).want(t, http.StatusAccepted)
	sid := r.obj("snapshot")["id"].(string)
	tc.waitStatus(t, "/snapshots/"+sid, "snapshot", "available")
	// A volume with a snapshot cannot be unmanaged.
	tc.do(t, "", "POST", "/volumes/"+vid+"/action", map[string]any{"os-unmanage": nil}).want(t, http.StatusBadRequest)
	tc.doAs(t, tc.demoToken, "", "POST", "/snapshots/"+sid+"/action", map[string]any{"os-unmanage": map[string]any{}}).want(t, http.StatusNotFound)
	tc.do(t, "", "POST", "/snapshots/"+sid+"/action", map[string]any{"os-unmanage": map[string]any{}}).want(t, http.StatusAccepted)
	tc.waitStatus(t, "/snapshots/"+sid, "snapshot", "deleted")
	if !tc.driver.HasSnapshot(sid) {
		t.Fatal("unmanage removed the snapshot data")
	}
	r = tc.do(t, "3.8", "GET", "/manageable_snapshots/detail?host=testhost@file%23file", nil).want(t, http.StatusOK)
	list := r.list("manageable-snapshots")
	if len(list) != 1 || list[0]["safe_to_manage"] != true ||
		list[0]["source_reference"].(map[string]any)["source-name"] != "volume-"+vid {
		t.Fatalf("manageable snapshots = %v", list)
	}
	r = tc.do(t, "", "POST", "/os-snapshot-manage", map[string]any{"snapshot": map[string]any{"volume_id": vid,
		"ref": map[string]any{"source-name": "snapshot-" + sid}, "name": "m", "description": "d",
		"metadata": map[string]any{"k": "v"}}}).want(t, http.StatusAccepted)
	sn := r.obj("snapshot")
	for _, k := range []string{"status", "size", "metadata", "name", "volume_id", "created_at", "description", "id", "updated_at"} {
		if !hasKey(sn, k) {
			t.Errorf("manage snapshot view lacks %s: %v", k, sn)
		}
	}
	if len(sn) != 9 {
		t.Errorf("manage snapshot view has extra keys: %v", sn)
	}
	newID := sn["id"].(string)
	got := tc.waitStatus(t, "/snapshots/"+newID, "snapshot", "available")
	if got["volume_id"] != vid || got["name"] != "m" || got["size"] != float64(1) {
		t.Fatalf("managed snapshot = %v", got)
	}
	if tc.driver.HasSnapshot(sid) || !tc.driver.HasSnapshot(newID) {
		t.Error("the snapshot was not renamed on the backend")
	}
	// Managing a snapshot a live record owns is refused.
	tc.do(t, "3.8", "POST", "/manageable_snapshots", map[string]any{"snapshot": map[string]any{"volume_id": vid,
		"ref": map[string]any{"source-name": "snapshot-" + newID}}}).want(t, http.StatusBadRequest)
	// A reference naming nothing: the snapshot goes to error.
	r = tc.do(t, "", "POST", "/os-snapshot-manage", map[string]any{"snapshot": map[string]any{"volume_id": vid,
		"ref": map[string]any{"source-name": "snapshot-nothing"}}}).want(t, http.StatusAccepted)
	tc.waitStatus(t, "/snapshots/"+r.obj("snapshot")["id"].(string), "snapshot", "error")
}

func TestManageQuota(t *testing.T) {
	tc := newTestCloud(t)
	tc.driver.Put("big", 5, nil)
	tc.do(t, "", "PUT", "/os-quota-sets/"+tc.adminProjectID, map[string]any{"quota_set": map[string]any{"gigabytes": 3}}).
		want(t, http.StatusOK)
	r := tc.do(t, "", "POST", "/os-volume-manage", manageBody("volume-big", nil)).want(t, http.StatusAccepted)
	id := r.obj("volume")["id"].(string)
	tc.waitStatus(t, "/volumes/"+id, "volume", stErrorManaging)
	if _, ok := tc.driver.Has("big"); !ok {
		t.Fatal("a manage refused for quota touched the data")
	}
	msgs := tc.do(t, "3.3", "GET", "/messages", nil).want(t, http.StatusOK).list("messages")
	if len(msgs) != 1 || msgs[0]["user_message"] != "create volume from backend storage: Not enough quota resource for operation." {
		t.Errorf("messages = %v", msgs)
	}
	tc.do(t, "", "PUT", "/os-quota-sets/"+tc.adminProjectID, map[string]any{"quota_set": map[string]any{"volumes": 0, "gigabytes": 10}}).
		want(t, http.StatusOK)
	tc.do(t, "", "POST", "/os-volume-manage", manageBody("volume-big", nil)).want(t, http.StatusRequestEntityTooLarge)
}

func TestRestartLeavesUnmanagedData(t *testing.T) {
	tc := newTestCloud(t)
	kept := tc.createVolume(t, tc.adminToken, map[string]any{"size": 1})["id"].(string)
	gone := tc.createVolume(t, tc.adminToken, map[string]any{"size": 1})["id"].(string)
	tc.unmanageVolume(t, kept)
	tc.stop()
	// An interrupted delete next to it: that data goes at restart.
	ts := store.FormatTime(now())
	if _, err := tc.db.ExecContext(context.Background(), `UPDATE volume_volumes SET deleted = ?, deleted_at = ? WHERE id = ?`,
		true, ts, gone); err != nil {
		t.Fatal(err)
	}
	tc.restart(t)
	if _, ok := tc.driver.Has(kept); !ok {
		t.Error("the reconcile pass deleted an unmanaged volume's data")
	}
	if _, ok := tc.driver.Has(gone); ok {
		t.Error("the reconcile pass left a deleted volume's data")
	}
}

func TestRestartDuringManage(t *testing.T) {
	var hold atomic.Bool
	hold.Store(true)
	started := make(chan struct{}, 1)
	var tcp *testCloud
	tc := newTestCloud(t, testOptions{hook: func(ctx context.Context, op, id string) error {
		if op == "manage" && hold.Load() {
			// Adopt, then die before the result is recorded.
			hold.Store(false)
			if _, err := tcp.driver.ManageExisting(ctx, "volume-old", block.Volume{ID: id}); err != nil {
				return err
			}
			started <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}})
	tcp = tc
	tc.driver.Put("old", 3, []byte("data"))
	r := tc.do(t, "", "POST", "/os-volume-manage", manageBody("volume-old", nil)).want(t, http.StatusAccepted)
	id := r.obj("volume")["id"].(string)
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("manage never reached the driver")
	}
	tc.stop()
	tc.restart(t)
	got := tc.waitStatus(t, "/volumes/"+id, "volume", "available")
	if got["size"] != float64(3) || string(tc.driver.Data(id)) != "data" {
		t.Fatalf("after restart: %v, data %q", got, tc.driver.Data(id))
	}
	if v, g := tc.usage(t, tc.adminProjectID); v != 1 || g != 3 {
		t.Errorf("usage = %v volumes, %v GB; want 1, 3 (the quota taken once)", v, g)
	}
}

func TestRestartDuringUnmanage(t *testing.T) {
	var hold atomic.Bool
	hold.Store(true)
	started := make(chan struct{}, 1)
	tc := newTestCloud(t, testOptions{hook: func(ctx context.Context, op, id string) error {
		if op == "unmanage" && hold.Load() {
			hold.Store(false)
			started <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}})
	id := tc.createVolume(t, tc.adminToken, map[string]any{"size": 1})["id"].(string)
	tc.do(t, "", "POST", "/volumes/"+id+"/action", map[string]any{"os-unmanage": nil}).want(t, http.StatusAccepted)
	<-started
	tc.stop()
	// The task is lost too (as after a crash that also lost the queue): settle requeues it.
	if _, err := tc.db.ExecContext(context.Background(), `DELETE FROM volume_tasks WHERE resource_id = ?`, id); err != nil {
		t.Fatal(err)
	}
	tc.restart(t)
	tc.waitStatus(t, "/volumes/"+id, "volume", "deleted")
	if _, ok := tc.driver.Has(id); !ok {
		t.Error("unmanage after restart removed the data")
	}
}
