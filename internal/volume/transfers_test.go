package volume

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

func TestTransferAcceptMovesVolumeAndSnapshots(t *testing.T) {
	tc := newTestCloud(t, testOptions{noRun: true})
	vt := tc.addVolumeType(t, "ssd")
	vol := tc.addVolume(t, tc.demoProjectID, vt, 2, "x")
	snap := tc.addSnapshot(t, vol, tc.demoProjectID, 2, "available")

	r := tc.doAs(t, tc.demoToken, "", "POST", "/os-volume-transfer", map[string]any{"transfer": map[string]any{
		"volume_id": vol, "name": " tr1 "}}).want(t, http.StatusAccepted)
	tr := r.obj("transfer")
	id, key := tr["id"].(string), tr["auth_key"].(string)
	if len(key) != 16 || tr["name"] != "tr1" || tr["volume_id"] != vol || len(tr["links"].([]any)) != 2 {
		t.Fatalf("create: %s", r.raw)
	}
	if _, ok := tr["no_snapshots"]; ok {
		t.Fatalf("3.0 shows no_snapshots: %s", r.raw)
	}
	if st := tc.column(t, "volume_volumes", "status", vol); st != "awaiting-transfer" {
		t.Fatalf("volume status %q", st)
	}
	// The key is never stored or shown again.
	if strings.Contains(tc.column(t, "volume_transfers", "crypt_hash", id), key) {
		t.Fatal("auth key stored in clear")
	}
	r = tc.doAs(t, tc.demoToken, "", "GET", "/os-volume-transfer/"+id, nil).want(t, http.StatusOK)
	if _, ok := r.obj("transfer")["auth_key"]; ok || r.obj("transfer")["created_at"] == nil {
		t.Fatalf("show: %s", r.raw)
	}
	if l := tc.doAs(t, tc.demoToken, "", "GET", "/os-volume-transfer", nil).list("transfers"); len(l) != 1 || len(l[0]) != 4 {
		t.Fatalf("summary list: %v", l)
	}
	// The recipient cannot see it, only accept it.
	tc.doAs(t, tc.altToken, "", "GET", "/os-volume-transfer/"+id, nil).want(t, http.StatusNotFound)
	tc.doAs(t, tc.altToken, "", "DELETE", "/os-volume-transfer/"+id, nil).want(t, http.StatusNotFound)
	if l := tc.doAs(t, tc.altToken, "", "GET", "/os-volume-transfer/detail", nil).list("transfers"); len(l) != 0 {
		t.Fatalf("alt list: %v", l)
	}
	// A second transfer of the same volume: it is no longer available.
	r = tc.doAs(t, tc.demoToken, "", "POST", "/os-volume-transfer", map[string]any{"transfer": map[string]any{"volume_id": vol}}).
		want(t, http.StatusBadRequest)
	if r.faultMessage("badRequest") != "Invalid volume: status must be available" {
		t.Fatalf("second transfer: %s", r.raw)
	}
	r = tc.doAs(t, tc.altToken, "", "POST", "/os-volume-transfer/"+id+"/accept", map[string]any{"accept": map[string]any{
		"auth_key": "0123456789abcdef"}}).want(t, http.StatusBadRequest)
	if !strings.Contains(r.faultMessage("badRequest"), "Invalid auth key") {
		t.Fatalf("bad key: %s", r.raw)
	}
	tc.doAs(t, tc.altToken, "", "POST", "/os-volume-transfer/"+id+"/accept", map[string]any{"accept": map[string]any{}}).
		want(t, http.StatusBadRequest)
	r = tc.doAs(t, tc.altToken, "", "POST", "/os-volume-transfer/"+id+"/accept", map[string]any{"accept": map[string]any{
		"auth_key": key}}).want(t, http.StatusAccepted)
	if a := r.obj("transfer"); a["id"] != id || a["volume_id"] != vol || a["name"] != "tr1" {
		t.Fatalf("accept: %s", r.raw)
	}
	if p := tc.column(t, "volume_volumes", "project_id", vol); p != tc.altProjectID {
		t.Fatalf("volume project %q", p)
	}
	if st := tc.column(t, "volume_volumes", "status", vol); st != "available" {
		t.Fatalf("volume status after accept %q", st)
	}
	if p := tc.column(t, "volume_snapshots", "project_id", snap); p != tc.altProjectID {
		t.Fatalf("snapshot project %q", p)
	}
	// Accepted: gone from the lists and for a second accept, kept as history (3.57).
	tc.doAs(t, tc.altToken, "", "POST", "/os-volume-transfer/"+id+"/accept", map[string]any{"accept": map[string]any{
		"auth_key": key}}).want(t, http.StatusNotFound)
	if tc.column(t, "volume_transfers", "destination_project_id", id) != tc.altProjectID || !tc.deletedFlag(t, "volume_transfers", id) {
		t.Fatal("transfer history not kept")
	}
}

func TestTransferNoSnapshotsAndV3Endpoint(t *testing.T) {
	tc := newTestCloud(t, testOptions{noRun: true})
	vt := tc.addVolumeType(t, "ssd")
	vol := tc.addVolume(t, tc.demoProjectID, vt, 1, "x")
	snap := tc.addSnapshot(t, vol, tc.demoProjectID, 1, "available")
	body := map[string]any{"transfer": map[string]any{"volume_id": vol, "no_snapshots": true}}
	// /volume-transfers from 3.55; the legacy endpoint knows no no_snapshots.
	tc.doAs(t, tc.demoToken, "3.54", "POST", "/volume-transfers", body).want(t, http.StatusNotFound)
	tc.doAs(t, tc.demoToken, "3.55", "POST", "/os-volume-transfer", body).want(t, http.StatusBadRequest)
	tc.doAs(t, tc.demoToken, "3.55", "POST", "/volume-transfers", map[string]any{"transfer": map[string]any{
		"volume_id": vol, "no_snapshots": "perhaps"}}).want(t, http.StatusBadRequest)
	r := tc.doAs(t, tc.demoToken, "3.57", "POST", "/volume-transfers", body).want(t, http.StatusAccepted)
	tr := r.obj("transfer")
	if tr["no_snapshots"] != true || tr["source_project_id"] != tc.demoProjectID || tr["accepted"] != false ||
		tr["destination_project_id"] != nil {
		t.Fatalf("3.57 create: %s", r.raw)
	}
	if href := tr["links"].([]any)[0].(map[string]any)["href"].(string); !strings.Contains(href, "/volume-transfers/") {
		t.Fatalf("links: %s", href)
	}
	id := tr["id"].(string)
	r = tc.doAs(t, tc.demoToken, "3.55", "GET", "/volume-transfers/detail", nil).want(t, http.StatusOK)
	if l := r.list("transfers"); len(l) != 1 || l[0]["no_snapshots"] != true {
		t.Fatalf("detail: %s", r.raw)
	}
	tc.doAs(t, tc.altToken, "3.55", "POST", "/volume-transfers/"+id+"/accept", map[string]any{"accept": map[string]any{
		"auth_key": tr["auth_key"]}}).want(t, http.StatusAccepted)
	if p := tc.column(t, "volume_volumes", "project_id", vol); p != tc.altProjectID {
		t.Fatalf("volume project %q", p)
	}
	if p := tc.column(t, "volume_snapshots", "project_id", snap); p != tc.demoProjectID {
		t.Fatalf("no_snapshots moved the snapshot to %q", p)
	}
}

func TestTransferDeleteQuotaAndErrors(t *testing.T) {
	tc := newTestCloud(t, testOptions{noRun: true})
	vt := tc.addVolumeType(t, "ssd")
	vol := tc.addVolume(t, tc.demoProjectID, vt, 5, "x")
	r := tc.doAs(t, tc.demoToken, "", "POST", "/os-volume-transfer", map[string]any{"transfer": map[string]any{"volume_id": vol}}).
		want(t, http.StatusAccepted)
	id, key := r.obj("transfer")["id"].(string), r.obj("transfer")["auth_key"].(string)
	// The recipient's gigabytes quota refuses the volume with Cinder's 413.
	if _, err := tc.db.ExecContext(context.Background(), `INSERT INTO volume_quotas (project_id, resource, hard_limit)
		VALUES (?, ?, ?)`, tc.altProjectID, "gigabytes", 4); err != nil {
		t.Fatal(err)
	}
	r = tc.doAs(t, tc.altToken, "", "POST", "/os-volume-transfer/"+id+"/accept", map[string]any{"accept": map[string]any{
		"auth_key": key}}).want(t, http.StatusRequestEntityTooLarge)
	if !strings.Contains(r.faultMessage("overLimit"), "exceeds allowed gigabytes quota. Requested 5G, quota is 4G and 0G has been consumed.") {
		t.Fatalf("quota: %s", r.raw)
	}
	if p := tc.column(t, "volume_volumes", "project_id", vol); p != tc.demoProjectID {
		t.Fatalf("refused accept moved the volume to %q", p)
	}
	// Delete gives the volume back.
	tc.doAs(t, tc.demoToken, "", "DELETE", "/os-volume-transfer/"+id, nil).want(t, http.StatusAccepted)
	if st := tc.column(t, "volume_volumes", "status", vol); st != "available" {
		t.Fatalf("status after delete %q", st)
	}
	tc.doAs(t, tc.demoToken, "", "GET", "/os-volume-transfer/"+id, nil).want(t, http.StatusNotFound)
	// Create errors.
	other := tc.addVolume(t, tc.altProjectID, vt, 1, "y")
	tc.doAs(t, tc.demoToken, "", "POST", "/os-volume-transfer", map[string]any{"transfer": map[string]any{"volume_id": other}}).
		want(t, http.StatusNotFound)
	for _, body := range []any{
		map[string]any{"transfer": map[string]any{}},
		map[string]any{"transfer": map[string]any{"volume_id": "nope"}},
		map[string]any{"transfer": map[string]any{"volume_id": vol, "name": 3}},
		map[string]any{"transfer": map[string]any{"volume_id": vol, "bogus": 3}},
		map[string]any{"transfer": "x"},
	} {
		if r := tc.doAs(t, tc.demoToken, "", "POST", "/os-volume-transfer", body); r.code != http.StatusBadRequest {
			t.Errorf("%v: %d %s", body, r.code, r.raw)
		}
	}
	snapVol := tc.addVolume(t, tc.demoProjectID, vt, 1, "z")
	tc.addSnapshot(t, snapVol, tc.demoProjectID, 1, "creating")
	r = tc.doAs(t, tc.demoToken, "", "POST", "/os-volume-transfer", map[string]any{"transfer": map[string]any{"volume_id": snapVol}}).
		want(t, http.StatusBadRequest)
	if !strings.Contains(r.faultMessage("badRequest"), "Invalid snapshot: snapshot:") {
		t.Fatalf("snapshot not available: %s", r.raw)
	}
	// A volume in a group cannot be transferred (its group would stay behind).
	gid := tc.newGroup(t, tc.demoToken, vt)
	tc.doAs(t, tc.demoToken, "3.13", "PUT", "/groups/"+gid, map[string]any{"group": map[string]any{"add_volumes": vol}}).
		want(t, http.StatusAccepted)
	tc.doAs(t, tc.demoToken, "", "POST", "/os-volume-transfer", map[string]any{"transfer": map[string]any{"volume_id": vol}}).
		want(t, http.StatusBadRequest)
	// Numeric auth keys are read as their text.
	if k, err := parseTransferAccept(map[string]any{"accept": map[string]any{"auth_key": jsonNumber("1234")}}); err != nil || k != "1234" {
		t.Fatalf("numeric key: %q %v", k, err)
	}
}
