package volume

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// groupWithVolumes makes a demo group holding n volumes with data.
func (tc *testCloud) groupWithVolumes(t *testing.T, n int) (groupID, typeID string, vols []string) {
	t.Helper()
	typeID = tc.addVolumeType(t, "ssd")
	groupID = tc.newGroup(t, tc.demoToken, typeID)
	for i := 0; i < n; i++ {
		vols = append(vols, tc.addVolume(t, tc.demoProjectID, typeID, int64(i+1), "data-"+string(rune('a'+i))))
	}
	tc.doAs(t, tc.demoToken, "3.13", "PUT", "/groups/"+groupID, map[string]any{"group": map[string]any{
		"add_volumes": strings.Join(vols, ",")}}).want(t, http.StatusAccepted)
	return groupID, typeID, vols
}

func TestGroupSnapshotLifecycleAndCreateFromSource(t *testing.T) {
	tc := newExtrasCloud(t)
	gid, _, vols := tc.groupWithVolumes(t, 2)
	body := map[string]any{"group_snapshot": map[string]any{"group_id": gid, "name": "gs1", "description": "first"}}
	tc.doAs(t, tc.demoToken, "3.13", "POST", "/group_snapshots", body).want(t, http.StatusNotFound)
	tc.doAs(t, tc.altToken, "3.14", "POST", "/group_snapshots", body).want(t, http.StatusNotFound)
	r := tc.doAs(t, tc.demoToken, "3.14", "POST", "/group_snapshots", body).want(t, http.StatusAccepted)
	gs := r.obj("group_snapshot")
	gsID := gs["id"].(string)
	if gs["name"] != "gs1" || gs["group_type_id"] == nil || len(gs) != 3 {
		t.Fatalf("create: %s", r.raw)
	}
	eventually(t, "group snapshot available", func() bool {
		return tc.doAs(t, tc.demoToken, "3.14", "GET", "/group_snapshots/"+gsID, nil).obj("group_snapshot")["status"] == "available"
	})
	snaps, err := groupSnapshotMembers(context.Background(), tc.db, gsID)
	if err != nil || len(snaps) != 2 {
		t.Fatalf("members: %v %v", snaps, err)
	}
	for _, sn := range snaps {
		if sn.Status != "available" || !tc.driver.HasSnapshot(sn.ID) {
			t.Fatalf("member snapshot %+v (on backend: %v)", sn, tc.driver.HasSnapshot(sn.ID))
		}
	}
	r = tc.doAs(t, tc.demoToken, "3.14", "GET", "/group_snapshots/"+gsID, nil)
	g := r.obj("group_snapshot")
	if g["group_id"] != gid || g["description"] != "first" || g["created_at"] == nil {
		t.Fatalf("show: %s", r.raw)
	}
	if _, ok := g["project_id"]; ok {
		t.Fatalf("member sees project_id: %s", r.raw)
	}
	if r = tc.do(t, "3.58", "GET", "/group_snapshots/detail?all_tenants=true", nil); r.list("group_snapshots")[0]["project_id"] != tc.demoProjectID {
		t.Fatalf("admin 3.58 detail: %s", r.raw)
	}
	if l := tc.doAs(t, tc.demoToken, "3.14", "GET", "/group_snapshots", nil).list("group_snapshots"); len(l) != 1 || len(l[0]) != 2 {
		t.Fatalf("summary list: %v", l)
	}
	if l := tc.doAs(t, tc.altToken, "3.14", "GET", "/group_snapshots/detail", nil).list("group_snapshots"); len(l) != 0 {
		t.Fatalf("alt list: %v", l)
	}
	tc.doAs(t, tc.altToken, "3.14", "GET", "/group_snapshots/"+gsID, nil).want(t, http.StatusNotFound)
	tc.doAs(t, tc.altToken, "3.14", "DELETE", "/group_snapshots/"+gsID, nil).want(t, http.StatusNotFound)
	// The group cannot go while it has snapshots.
	r = tc.doAs(t, tc.demoToken, "3.14", "POST", "/groups/"+gid+"/action", map[string]any{"delete": map[string]any{"delete-volumes": true}}).
		want(t, http.StatusBadRequest)
	if !strings.Contains(r.faultMessage("badRequest"), "Group has existing snapshots.") {
		t.Fatalf("delete group with snapshots: %s", r.raw)
	}

	// A new group from the group snapshot: one volume per member snapshot.
	r = tc.doAs(t, tc.demoToken, "3.14", "POST", "/groups/action", map[string]any{"create-from-src": map[string]any{
		"group_snapshot_id": gsID, "name": "from-snap"}}).want(t, http.StatusAccepted)
	fromSnap := r.obj("group")["id"].(string)
	g = tc.waitStatusAt(t, "3.14", "/groups/"+fromSnap, "group", "available")
	if g["group_snapshot_id"] != gsID {
		t.Fatalf("from snapshot: %v", g)
	}
	members, _ := memberVolumes(context.Background(), tc.db, fromSnap)
	if len(members) != 2 {
		t.Fatalf("volumes of new group: %d", len(members))
	}
	for _, m := range members {
		if m.Status != "available" || m.SnapshotID == nil {
			t.Fatalf("new volume %+v", m)
		}
		if _, ok := tc.driver.Has(m.ID); !ok {
			t.Fatalf("new volume %s not on the backend", m.ID)
		}
	}
	// And from the source group (a clone of each volume).
	r = tc.doAs(t, tc.demoToken, "3.14", "POST", "/groups/action", map[string]any{"create-from-src": map[string]any{
		"source_group_id": gid}}).want(t, http.StatusAccepted)
	fromGroup := r.obj("group")["id"].(string)
	g = tc.waitStatusAt(t, "3.14", "/groups/"+fromGroup, "group", "available")
	if g["source_group_id"] != gid {
		t.Fatalf("from group: %v", g)
	}
	members, _ = memberVolumes(context.Background(), tc.db, fromGroup)
	cloned := map[string]string{}
	for _, m := range members {
		if m.SourceVolID != nil {
			cloned[*m.SourceVolID] = string(tc.driver.Data(m.ID))
		}
	}
	for _, src := range vols {
		if cloned[src] != string(tc.driver.Data(src)) {
			t.Fatalf("clone of %s holds %q, want %q", src, cloned[src], tc.driver.Data(src))
		}
	}
	// Source errors.
	for _, tt := range []struct {
		body   map[string]any
		status int
	}{
		{map[string]any{"create-from-src": map[string]any{}}, 400},
		{map[string]any{"create-from-src": map[string]any{"group_snapshot_id": gsID, "source_group_id": gid}}, 400},
		{map[string]any{"create-from-src": map[string]any{"group_snapshot_id": "not-a-uuid"}}, 400},
		{map[string]any{"create-from-src": map[string]any{"source_group_id": "00000000-0000-0000-0000-000000000000"}}, 404},
		{map[string]any{"create-from-src": map[string]any{"group_snapshot_id": "00000000-0000-0000-0000-000000000000"}}, 404},
	} {
		if r := tc.doAs(t, tc.demoToken, "3.14", "POST", "/groups/action", tt.body); r.code != tt.status {
			t.Errorf("%v: %d %s", tt.body, r.code, r.raw)
		}
	}
	tc.doAs(t, tc.altToken, "3.14", "POST", "/groups/action", map[string]any{"create-from-src": map[string]any{
		"source_group_id": gid}}).want(t, http.StatusNotFound)

	// reset_status 3.19, admin only.
	rs := map[string]any{"reset_status": map[string]any{"status": "error"}}
	tc.doAs(t, tc.demoToken, "3.18", "POST", "/group_snapshots/"+gsID+"/action", rs).want(t, http.StatusNotFound)
	tc.doAs(t, tc.demoToken, "3.19", "POST", "/group_snapshots/"+gsID+"/action", rs).want(t, http.StatusForbidden)
	path := "/volume/v3/" + tc.demoProjectID + "/group_snapshots/" + gsID
	tc.raw(t, tc.adminToken, "3.19", "POST", path+"/action", map[string]any{"reset_status": map[string]any{"status": "nope"}}).
		want(t, http.StatusBadRequest)
	tc.raw(t, tc.adminToken, "3.19", "POST", path+"/action", rs).want(t, http.StatusAccepted)
	// Delete (error is a deletable status): the runner removes every member snapshot.
	tc.doAs(t, tc.demoToken, "3.14", "DELETE", "/group_snapshots/"+gsID, nil).want(t, http.StatusAccepted)
	eventually(t, "group snapshot deleted", func() bool {
		return tc.doAs(t, tc.demoToken, "3.14", "GET", "/group_snapshots/"+gsID, nil).code == http.StatusNotFound
	})
	for _, sn := range snaps {
		if tc.driver.HasSnapshot(sn.ID) || !tc.deletedFlag(t, "volume_snapshots", sn.ID) {
			t.Fatalf("snapshot %s survived", sn.ID)
		}
	}
}

func TestGroupSnapshotErrors(t *testing.T) {
	tc := newExtrasCloud(t, testOptions{hook: func(ctx context.Context, op, id string) error {
		if op == "create_snapshot" {
			return errors.New("snapshot failed")
		}
		return nil
	}})
	gid, _, _ := tc.groupWithVolumes(t, 1)
	for _, body := range []any{
		map[string]any{"group_snapshot": map[string]any{}},
		map[string]any{"group_snapshot": map[string]any{"group_id": "x"}},
		map[string]any{"group_snapshot": map[string]any{"group_id": gid, "extra": true}},
		map[string]any{"group_snapshot": map[string]any{"group_id": gid, "name": 5}},
	} {
		if r := tc.doAs(t, tc.demoToken, "3.14", "POST", "/group_snapshots", body); r.code != http.StatusBadRequest {
			t.Errorf("%v: %d %s", body, r.code, r.raw)
		}
	}
	r := tc.doAs(t, tc.demoToken, "3.14", "POST", "/group_snapshots", map[string]any{"group_snapshot": map[string]any{"group_id": gid}}).
		want(t, http.StatusAccepted)
	gsID := r.obj("group_snapshot")["id"].(string)
	eventually(t, "group snapshot error", func() bool {
		return tc.doAs(t, tc.demoToken, "3.14", "GET", "/group_snapshots/"+gsID, nil).obj("group_snapshot")["status"] == "error"
	})
	snaps, _ := groupSnapshotMembers(context.Background(), tc.db, gsID)
	if len(snaps) != 1 || snaps[0].Status != "error" {
		t.Fatalf("member after failure: %+v", snaps)
	}
	// Snapshots quota counts the group's volumes.
	if _, err := tc.db.ExecContext(context.Background(), `INSERT INTO volume_quotas (project_id, resource, hard_limit)
		VALUES (?, ?, ?)`, tc.demoProjectID, "snapshots", 1); err != nil {
		t.Fatal(err)
	}
	r = tc.doAs(t, tc.demoToken, "3.14", "POST", "/group_snapshots", map[string]any{"group_snapshot": map[string]any{"group_id": gid}}).
		want(t, http.StatusRequestEntityTooLarge)
	if r.faultMessage("overLimit") != "Maximum number of snapshots allowed (1) exceeded" {
		t.Fatalf("quota: %s", r.raw)
	}
}

// TestGroupSnapshotOfCoreVolumes runs the extras over volumes made by the core's API and
// runner: a group of them, a group snapshot and a group made from it.
func TestGroupSnapshotOfCoreVolumes(t *testing.T) {
	tc := newExtrasCloud(t)
	vt := tc.addVolumeType(t, "ssd")
	var vols []string
	for i := 0; i < 2; i++ {
		r := tc.doAs(t, tc.demoToken, "3.13", "POST", "/volumes", map[string]any{"volume": map[string]any{
			"size": 1, "volume_type": vt, "name": "core-vol"}}).want(t, http.StatusAccepted)
		id := r.obj("volume")["id"].(string)
		tc.waitStatusAt(t, "3.13", "/volumes/"+id, "volume", "available")
		vols = append(vols, id)
	}
	gid := tc.newGroup(t, tc.demoToken, vt)
	tc.doAs(t, tc.demoToken, "3.13", "PUT", "/groups/"+gid, map[string]any{"group": map[string]any{
		"add_volumes": strings.Join(vols, ",")}}).want(t, http.StatusAccepted)
	r := tc.doAs(t, tc.demoToken, "3.13", "GET", "/volumes/"+vols[0], nil).want(t, http.StatusOK)
	if r.obj("volume")["group_id"] != gid {
		t.Fatalf("core view of the group member: %s", r.raw)
	}
	r = tc.doAs(t, tc.demoToken, "3.14", "POST", "/group_snapshots", map[string]any{"group_snapshot": map[string]any{
		"group_id": gid}}).want(t, http.StatusAccepted)
	gsID := r.obj("group_snapshot")["id"].(string)
	eventually(t, "group snapshot available", func() bool {
		return tc.doAs(t, tc.demoToken, "3.14", "GET", "/group_snapshots/"+gsID, nil).obj("group_snapshot")["status"] == "available"
	})
	// The member snapshots are ordinary snapshots to the core's API.
	r = tc.doAs(t, tc.demoToken, "3.14", "GET", "/snapshots/detail", nil).want(t, http.StatusOK)
	if l := r.list("snapshots"); len(l) != 2 || l[0]["status"] != "available" {
		t.Fatalf("core snapshot list: %s", r.raw)
	}
	r = tc.doAs(t, tc.demoToken, "3.14", "POST", "/groups/action", map[string]any{"create-from-src": map[string]any{
		"group_snapshot_id": gsID}}).want(t, http.StatusAccepted)
	newGroup := r.obj("group")["id"].(string)
	tc.waitStatusAt(t, "3.14", "/groups/"+newGroup, "group", "available")
	r = tc.doAs(t, tc.demoToken, "3.14", "GET", "/volumes/detail?group_id="+newGroup, nil).want(t, http.StatusOK)
	if l := r.list("volumes"); len(l) != 2 || l[0]["status"] != "available" {
		t.Fatalf("core view of the new group's volumes: %s", r.raw)
	}
}
