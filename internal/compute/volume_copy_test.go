package compute

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCopyAttachedVolume(t *testing.T) {
	vc := newVolumeCloud(t)
	ctx := t.Context()
	server := vc.createServer(t, vc.demoToken, "2.37", nil)
	vc.waitStatus(t, server, "ACTIVE")
	newVolume := func() string {
		id := vc.volumeAPI(t, "POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1}}).
			want(t, http.StatusAccepted).obj("volume")["id"].(string)
		vc.waitVolume(t, id, "available", 1)
		return id
	}
	vid, other := newVolume(), newVolume()
	att := vc.doAs(t, vc.demoToken, "2.1", "POST", "/v2.1/servers/"+server+"/os-volume_attachments",
		map[string]any{"volumeAttachment": map[string]any{"volumeId": vid}}).want(t, http.StatusOK).obj("volumeAttachment")
	device := att["device"].(string)
	vc.waitVolume(t, vid, "in-use", 1)
	dir := t.TempDir()
	copyTo := func(volumeID, name string) (bool, error) {
		return vc.svc.CopyAttachedVolume(ctx, volumeID, filepath.Join(dir, name), "qcow2")
	}

	// The fake backend's volumes are no files the fake hypervisor can read: not done.
	if done, err := copyTo(vid, "unreadable"); done || err != nil {
		t.Fatalf("copy of an unreadable volume: %v %v", done, err)
	}
	// Point the mapping at a real file, as the file backend's connection does.
	src := filepath.Join(dir, "volume.qcow2")
	if err := os.WriteFile(src, []byte("the volume's data"), 0o600); err != nil {
		t.Fatal(err)
	}
	conn, _ := json.Marshal(map[string]any{"driver_volume_type": "file", "data": map[string]any{"path": src, "format": "qcow2"}})
	if _, err := vc.db.ExecContext(ctx, `UPDATE compute_block_device_mappings SET connection_info = ? WHERE volume_id = ?`,
		string(conn), vid); err != nil {
		t.Fatal(err)
	}
	if done, err := copyTo(vid, "copy"); !done || err != nil {
		t.Fatalf("copy of an attached volume: %v %v", done, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "copy")); err != nil || string(b) != "the volume's data" {
		t.Fatalf("copy holds %q (%v)", b, err)
	}
	copies := vc.host.VolumeCopies()
	if len(copies) != 1 || copies[0].InstanceUUID != server || copies[0].Device != device || copies[0].Source != src {
		t.Fatalf("hypervisor copies: %+v", copies)
	}
	// A volume attached nowhere, or unknown: not done.
	for _, id := range []string{other, "5b0f5a3e-0000-4000-8000-000000000000"} {
		if done, err := copyTo(id, "detached-"+id); done || err != nil {
			t.Fatalf("copy of a volume attached nowhere: %v %v", done, err)
		}
	}

	// The hypervisor fails: an error, not a fallback (the guest writes to the volume).
	vc.doAs(t, vc.demoToken, "2.1", "POST", "/v2.1/servers/"+server+"/metadata",
		map[string]any{"metadata": map[string]any{"fake:fail": "copy_volume"}}).want(t, http.StatusOK)
	if done, err := copyTo(vid, "failing"); done || err == nil || !strings.Contains(err.Error(), "scripted failure") {
		t.Fatalf("failing copy: %v %v", done, err)
	}
	vc.doAs(t, vc.demoToken, "2.1", "POST", "/v2.1/servers/"+server+"/metadata",
		map[string]any{"metadata": map[string]any{"fake:fail": ""}}).want(t, http.StatusOK)

	// A stopped server: not done (nothing writes to the volume).
	vc.doAs(t, vc.demoToken, "2.1", "POST", "/v2.1/servers/"+server+"/action", map[string]any{"os-stop": nil}).want(t, http.StatusAccepted)
	vc.waitStatus(t, server, "SHUTOFF")
	if done, err := copyTo(vid, "stopped"); done || err != nil {
		t.Fatalf("copy for a stopped server: %v %v", done, err)
	}
	vc.doAs(t, vc.demoToken, "2.1", "POST", "/v2.1/servers/"+server+"/action", map[string]any{"os-start": nil}).want(t, http.StatusAccepted)
	vc.waitStatus(t, server, "ACTIVE")
	if done, err := copyTo(vid, "restarted"); !done || err != nil {
		t.Fatalf("copy after a restart: %v %v", done, err)
	}

	// Detached: not done.
	vc.doAs(t, vc.demoToken, "2.1", "DELETE", "/v2.1/servers/"+server+"/os-volume_attachments/"+vid, nil).want(t, http.StatusAccepted)
	vc.waitVolume(t, vid, "available", 1)
	if done, err := copyTo(vid, "after-detach"); done || err != nil {
		t.Fatalf("copy of a detached volume: %v %v", done, err)
	}
	if n := len(vc.host.VolumeCopies()); n != 2 {
		t.Fatalf("hypervisor made %d copies, want 2", n)
	}
}

// TestSnapshotOfInUseVolumeThroughCompute goes through the wiring of app.Up: a forced
// snapshot of a volume attached to a running server is the copy its hypervisor made.
func TestSnapshotOfInUseVolumeThroughCompute(t *testing.T) {
	vc := newVolumeCloud(t)
	ctx := t.Context()
	server := vc.createServer(t, vc.demoToken, "2.37", nil)
	vc.waitStatus(t, server, "ACTIVE")
	vid := vc.volumeAPI(t, "POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1}}).
		want(t, http.StatusAccepted).obj("volume")["id"].(string)
	vc.waitVolume(t, vid, "available", 1)
	vc.doAs(t, vc.demoToken, "2.1", "POST", "/v2.1/servers/"+server+"/os-volume_attachments",
		map[string]any{"volumeAttachment": map[string]any{"volumeId": vid}}).want(t, http.StatusOK)
	vc.waitVolume(t, vid, "in-use", 1)
	src := filepath.Join(t.TempDir(), "volume.qcow2")
	if err := os.WriteFile(src, []byte("what the guest sees"), 0o600); err != nil {
		t.Fatal(err)
	}
	conn, _ := json.Marshal(map[string]any{"driver_volume_type": "file", "data": map[string]any{"path": src, "format": "qcow2"}})
	if _, err := vc.db.ExecContext(ctx, `UPDATE compute_block_device_mappings SET connection_info = ? WHERE volume_id = ?`,
		string(conn), vid); err != nil {
		t.Fatal(err)
	}
	sid := vc.volumeAPI(t, "POST", "/snapshots", map[string]any{"snapshot": map[string]any{"volume_id": vid, "force": true}}).
		want(t, http.StatusAccepted).obj("snapshot")["id"].(string)
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := vc.volumeAPI(t, "GET", "/snapshots/"+sid, nil).want(t, http.StatusOK).obj("snapshot")
		if s["status"] == "available" {
			break
		}
		if s["status"] == "error" || time.Now().After(deadline) {
			t.Fatalf("snapshot status %v", s["status"])
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := string(vc.backend.SnapshotData(sid)); got != "what the guest sees" {
		t.Fatalf("snapshot holds %q", got)
	}
	if copies := vc.host.VolumeCopies(); len(copies) != 1 || copies[0].InstanceUUID != server {
		t.Fatalf("hypervisor copies %+v", copies)
	}
}
