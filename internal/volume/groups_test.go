package volume

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// newGroup creates a group type and a group of volume type typeID as admin, in the
// project of token.
func (tc *testCloud) newGroup(t *testing.T, token, typeID string) string {
	t.Helper()
	r := tc.do(t, "3.11", "POST", "/group_types", map[string]any{"group_type": map[string]any{"name": "gt-" + typeID[:8]}})
	gtID, _ := r.obj("group_type")["id"].(string)
	if gtID == "" {
		// Already created for this type.
		l := tc.do(t, "3.11", "GET", "/group_types", nil).list("group_types")
		for _, g := range l {
			if g["name"] == "gt-"+typeID[:8] {
				gtID = g["id"].(string)
			}
		}
	}
	r = tc.doAs(t, token, "3.13", "POST", "/groups", map[string]any{"group": map[string]any{
		"group_type": gtID, "volume_types": []string{typeID}, "name": "grp"}}).want(t, http.StatusAccepted)
	return r.obj("group")["id"].(string)
}

func TestGroupCreateShowListUpdate(t *testing.T) {
	tc := newExtrasCloud(t)
	vt := tc.addVolumeType(t, "ssd")
	tc.do(t, "3.11", "POST", "/group_types", map[string]any{"group_type": map[string]any{"name": "gtype"}}).want(t, http.StatusAccepted)
	// By names; groups exist from 3.13.
	body := map[string]any{"group": map[string]any{"group_type": "gtype", "volume_types": []string{"ssd"}, "name": " g1 ",
		"description": "d", "availability_zone": "nova"}}
	tc.doAs(t, tc.demoToken, "3.12", "POST", "/groups", body).want(t, http.StatusNotFound)
	r := tc.doAs(t, tc.demoToken, "3.13", "POST", "/groups", body).want(t, http.StatusAccepted)
	g := r.obj("group")
	id := g["id"].(string)
	if g["name"] != "g1" || len(g) != 2 {
		t.Fatalf("create: %s", r.raw)
	}
	r = tc.doAs(t, tc.demoToken, "3.13", "GET", "/groups/"+id, nil).want(t, http.StatusOK)
	g = r.obj("group")
	if g["status"] != "available" || g["availability_zone"] != "nova" || g["volume_types"].([]any)[0] != vt ||
		g["description"] != "d" {
		t.Fatalf("show: %s", r.raw)
	}
	if _, ok := g["group_snapshot_id"]; ok {
		t.Fatalf("3.13 shows group_snapshot_id: %s", r.raw)
	}
	r = tc.doAs(t, tc.demoToken, "3.14", "GET", "/groups/"+id, nil).want(t, http.StatusOK)
	if _, ok := r.obj("group")["source_group_id"]; !ok {
		t.Fatalf("3.14 lacks source_group_id: %s", r.raw)
	}
	// Another project sees nothing.
	tc.doAs(t, tc.altToken, "3.13", "GET", "/groups/"+id, nil).want(t, http.StatusNotFound)
	if l := tc.doAs(t, tc.altToken, "3.13", "GET", "/groups", nil).list("groups"); len(l) != 0 {
		t.Fatalf("alt lists %v", l)
	}
	tc.doAs(t, tc.altToken, "3.13", "PUT", "/groups/"+id, map[string]any{"group": map[string]any{"name": "x"}}).want(t, http.StatusNotFound)
	tc.doAs(t, tc.altToken, "3.13", "POST", "/groups/"+id+"/action", map[string]any{"delete": map[string]any{}}).want(t, http.StatusNotFound)
	// Admin with all_tenants sees it.
	if l := tc.do(t, "3.13", "GET", "/groups/detail?all_tenants=1", nil).list("groups"); len(l) != 1 || l[0]["group_type"] == nil {
		t.Fatalf("admin all_tenants detail: %v", l)
	}
	if l := tc.doAs(t, tc.demoToken, "3.13", "GET", "/groups", nil).list("groups"); len(l) != 1 || len(l[0]) != 2 {
		t.Fatalf("summary list: %v", l)
	}

	// Update: add and remove volumes.
	v1 := tc.addVolume(t, tc.demoProjectID, vt, 1, "a")
	v2 := tc.addVolume(t, tc.demoProjectID, vt, 1, "b")
	other := tc.addVolume(t, tc.demoProjectID, tc.addVolumeType(t, "hdd"), 1, "c")
	altVol := tc.addVolume(t, tc.altProjectID, vt, 1, "d")
	upd := func(tok string, fields map[string]any) resp {
		return tc.doAs(t, tok, "3.13", "PUT", "/groups/"+id, map[string]any{"group": fields})
	}
	upd(tc.demoToken, map[string]any{"add_volumes": v1 + "," + v2 + ","}).want(t, http.StatusAccepted)
	r = tc.doAs(t, tc.demoToken, "3.25", "GET", "/groups/"+id+"?list_volume=true", nil).want(t, http.StatusOK)
	if vols := r.obj("group")["volumes"].([]any); len(vols) != 2 || r.obj("group")["status"] != "available" {
		t.Fatalf("after add: %s", r.raw)
	}
	for _, tt := range []struct {
		fields map[string]any
		want   string
	}{
		{map[string]any{"add_volumes": other}, "is not supported by the group"},
		{map[string]any{"add_volumes": altVol}, "belong to different projects"},
		{map[string]any{"add_volumes": "00000000-0000-0000-0000-000000000000"}, "volume cannot be found"},
		{map[string]any{"remove_volumes": other}, "it is not in the group"},
		{map[string]any{"add_volumes": v1, "remove_volumes": v1}, "are in both add and remove volume list"},
		{map[string]any{"name": "g1"}, "no valid name, description"},
	} {
		r := upd(tc.demoToken, tt.fields).want(t, http.StatusBadRequest)
		if !strings.Contains(r.faultMessage("badRequest"), tt.want) {
			t.Errorf("%v: %s", tt.fields, r.raw)
		}
	}
	upd(tc.demoToken, map[string]any{}).want(t, http.StatusBadRequest)
	upd(tc.demoToken, map[string]any{"remove_volumes": v2, "name": "renamed", "description": "new"}).want(t, http.StatusAccepted)
	r = tc.doAs(t, tc.demoToken, "3.25", "GET", "/groups/"+id+"?list_volume=true", nil)
	if g := r.obj("group"); len(g["volumes"].([]any)) != 1 || g["name"] != "renamed" || g["description"] != "new" {
		t.Fatalf("after remove: %s", r.raw)
	}
	if got := tc.column(t, "volume_volumes", "group_id", v2); got != "" {
		t.Fatalf("removed volume keeps group %q", got)
	}
	// A volume already in another group cannot be added.
	id2 := tc.newGroup(t, tc.demoToken, vt)
	r = tc.doAs(t, tc.demoToken, "3.13", "PUT", "/groups/"+id2, map[string]any{"group": map[string]any{"add_volumes": v1}}).
		want(t, http.StatusBadRequest)
	if !strings.Contains(r.faultMessage("badRequest"), "already in group") {
		t.Fatalf("double group: %s", r.raw)
	}
	// checkVolumeGroup, for the core's volume create.
	demoCall := &call{ver: v(13), caller: &api.Caller{ProjectID: tc.demoProjectID, Roles: []string{"member"}}}
	altCall := &call{ver: v(13), caller: &api.Caller{ProjectID: tc.altProjectID, Roles: []string{"member"}}}
	ctx := context.Background()
	check := func(c *call, group, typ string) error {
		return tc.db.InTx(ctx, func(tx *store.Tx) error { return tc.svc.checkVolumeGroup(ctx, tx, c, group, typ) })
	}
	if err := check(demoCall, id, vt); err != nil {
		t.Fatalf("checkVolumeGroup: %v", err)
	}
	if err := check(demoCall, id, "other-type"); api.AsError(err) == nil || api.AsError(err).Status != 400 {
		t.Fatalf("checkVolumeGroup wrong type: %v", err)
	}
	if err := check(altCall, id, vt); api.AsError(err) == nil || api.AsError(err).Status != 404 {
		t.Fatalf("checkVolumeGroup other project: %v", err)
	}
}

func TestGroupCreateErrorsAndQuota(t *testing.T) {
	tc := newExtrasCloud(t)
	vt := tc.addVolumeType(t, "ssd")
	r := tc.do(t, "3.11", "POST", "/group_types", map[string]any{"group_type": map[string]any{"name": "gtype"}}).want(t, http.StatusAccepted)
	gt := r.obj("group_type")["id"].(string)
	for _, tt := range []struct {
		body   map[string]any
		status int
	}{
		{map[string]any{"group": map[string]any{"group_type": gt}}, 400},
		{map[string]any{"group": map[string]any{"group_type": gt, "volume_types": []string{}}}, 400},
		{map[string]any{"group": map[string]any{"group_type": gt, "volume_types": []string{vt, vt}}}, 400},
		{map[string]any{"group": map[string]any{"group_type": gt, "volume_types": "ssd"}}, 400},
		{map[string]any{"group": map[string]any{"volume_types": []string{vt}}}, 400},
		{map[string]any{"group": map[string]any{"group_type": gt, "volume_types": []string{vt}, "bogus": 1}}, 400},
		{map[string]any{"group": map[string]any{"group_type": gt, "volume_types": []string{vt}, "availability_zone": "mars"}}, 400},
		{map[string]any{"group": map[string]any{"group_type": "nope", "volume_types": []string{vt}}}, 404},
		{map[string]any{"group": map[string]any{"group_type": "00000000-0000-0000-0000-000000000000", "volume_types": []string{vt}}}, 404},
		{map[string]any{"group": map[string]any{"group_type": gt, "volume_types": []string{"nope"}}}, 404},
	} {
		r := tc.doAs(t, tc.demoToken, "3.13", "POST", "/groups", tt.body)
		if r.code != tt.status {
			t.Errorf("%v: %d %s", tt.body, r.code, r.raw)
		}
	}
	// Groups quota: 413 with Cinder's message.
	if _, err := tc.db.ExecContext(context.Background(), `INSERT INTO volume_quotas (project_id, resource, hard_limit)
		VALUES (?, ?, ?)`, tc.demoProjectID, "groups", 1); err != nil {
		t.Fatal(err)
	}
	ok := map[string]any{"group": map[string]any{"group_type": gt, "volume_types": []string{vt}}}
	tc.doAs(t, tc.demoToken, "3.13", "POST", "/groups", ok).want(t, http.StatusAccepted)
	r = tc.doAs(t, tc.demoToken, "3.13", "POST", "/groups", ok).want(t, http.StatusRequestEntityTooLarge)
	if r.faultMessage("overLimit") != "Maximum number of groups allowed (1) exceeded" {
		t.Fatalf("quota: %s", r.raw)
	}
	// Other projects keep the default quota.
	tc.doAs(t, tc.altToken, "3.13", "POST", "/groups", ok).want(t, http.StatusAccepted)
}

func TestGroupDeleteAndActions(t *testing.T) {
	tc := newExtrasCloud(t)
	vt := tc.addVolumeType(t, "ssd")
	id := tc.newGroup(t, tc.demoToken, vt)
	v1 := tc.addVolume(t, tc.demoProjectID, vt, 1, "a")
	tc.doAs(t, tc.demoToken, "3.13", "PUT", "/groups/"+id, map[string]any{"group": map[string]any{"add_volumes": v1}}).
		want(t, http.StatusAccepted)
	act := func(tok, ver string, body any) resp {
		return tc.doAs(t, tok, ver, "POST", "/groups/"+id+"/action", body)
	}
	r := act(tc.demoToken, "3.13", map[string]any{"delete": map[string]any{}}).want(t, http.StatusBadRequest)
	if !strings.Contains(r.faultMessage("badRequest"), "The delete-volumes flag is required") {
		t.Fatalf("delete without flag: %s", r.raw)
	}
	act(tc.demoToken, "3.13", map[string]any{"delete": map[string]any{"delete-volumes": "sure"}}).want(t, http.StatusBadRequest)
	act(tc.demoToken, "3.13", map[string]any{"delete": map[string]any{}, "reset_status": map[string]any{}}).want(t, http.StatusBadRequest)
	act(tc.demoToken, "3.13", map[string]any{"explode": map[string]any{}}).want(t, http.StatusBadRequest)
	// reset_status: 3.20, admin only.
	act(tc.demoToken, "3.20", map[string]any{"reset_status": map[string]any{"status": "error"}}).want(t, http.StatusForbidden)
	act(tc.altToken, "3.20", map[string]any{"reset_status": map[string]any{"status": "error"}}).want(t, http.StatusNotFound)
	act(tc.adminToken, "3.19", map[string]any{"reset_status": map[string]any{"status": "error"}}).want(t, http.StatusBadRequest)
	r = tc.raw(t, tc.adminToken, "3.20", "POST", "/volume/v3/"+tc.demoProjectID+"/groups/"+id+"/action",
		map[string]any{"reset_status": map[string]any{"status": "bogus"}}).want(t, http.StatusBadRequest)
	tc.raw(t, tc.adminToken, "3.20", "POST", "/volume/v3/"+tc.demoProjectID+"/groups/"+id+"/action",
		map[string]any{"reset_status": map[string]any{"status": "ERROR"}}).want(t, http.StatusAccepted)
	if g := tc.doAs(t, tc.demoToken, "3.13", "GET", "/groups/"+id, nil).obj("group"); g["status"] != "error" {
		t.Fatalf("after reset: %v", g)
	}
	// Replication: the file backend has no replication group types.
	r = act(tc.demoToken, "3.38", map[string]any{"enable_replication": map[string]any{}}).want(t, http.StatusBadRequest)
	if !strings.Contains(r.faultMessage("badRequest"), "is not a replication group type") {
		t.Fatalf("replication: %s", r.raw)
	}
	r = act(tc.demoToken, "3.38", map[string]any{"list_replication_targets": map[string]any{}}).want(t, http.StatusOK)
	act(tc.demoToken, "3.37", map[string]any{"enable_replication": map[string]any{}}).want(t, http.StatusBadRequest)
	// A volume with snapshots blocks the delete.
	snap := tc.addSnapshot(t, v1, tc.demoProjectID, 1, "available")
	r = act(tc.demoToken, "3.13", map[string]any{"delete": map[string]any{"delete-volumes": true}}).want(t, http.StatusBadRequest)
	if !strings.Contains(r.faultMessage("badRequest"), "dependent snapshots") {
		t.Fatalf("delete with snapshots: %s", r.raw)
	}
	if _, err := tc.db.ExecContext(context.Background(), `UPDATE volume_snapshots SET deleted = ? WHERE id = ?`, true, snap); err != nil {
		t.Fatal(err)
	}
	// Delete with its volumes: the runner removes the data, then the records.
	act(tc.demoToken, "3.13", map[string]any{"delete": map[string]any{"delete-volumes": true}}).want(t, http.StatusAccepted)
	eventually(t, "group deleted", func() bool {
		return tc.doAs(t, tc.demoToken, "3.13", "GET", "/groups/"+id, nil).code == http.StatusNotFound
	})
	if _, ok := tc.driver.Has(v1); ok {
		t.Fatal("volume data survived the group delete")
	}
	if !tc.deletedFlag(t, "volume_volumes", v1) || tc.column(t, "volume_volumes", "status", v1) != "deleted" {
		t.Fatal("volume record not deleted")
	}
	// An empty group deletes without the flag.
	id2 := tc.newGroup(t, tc.demoToken, vt)
	tc.doAs(t, tc.demoToken, "3.13", "POST", "/groups/"+id2+"/action", map[string]any{"delete": map[string]any{"delete-volumes": false}}).
		want(t, http.StatusAccepted)
	eventually(t, "empty group deleted", func() bool { return tc.deletedFlag(t, "volume_groups", id2) })
}

func TestGroupDeleteFailureEndsInErrorDeleting(t *testing.T) {
	tc := newExtrasCloud(t, testOptions{hook: func(ctx context.Context, op, id string) error {
		if op == "delete" {
			return errors.New("disk on fire")
		}
		return nil
	}})
	vt := tc.addVolumeType(t, "ssd")
	id := tc.newGroup(t, tc.demoToken, vt)
	v1 := tc.addVolume(t, tc.demoProjectID, vt, 1, "a")
	tc.doAs(t, tc.demoToken, "3.13", "PUT", "/groups/"+id, map[string]any{"group": map[string]any{"add_volumes": v1}}).
		want(t, http.StatusAccepted)
	tc.doAs(t, tc.demoToken, "3.13", "POST", "/groups/"+id+"/action", map[string]any{"delete": map[string]any{"delete-volumes": true}}).
		want(t, http.StatusAccepted)
	eventually(t, "error_deleting", func() bool { return tc.column(t, "volume_groups", "status", id) == "error_deleting" })
	if st := tc.column(t, "volume_volumes", "status", v1); st != "error_deleting" {
		t.Fatalf("volume status %q", st)
	}
}
