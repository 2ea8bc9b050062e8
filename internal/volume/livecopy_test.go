package volume

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeCopier is compute's VolumeCopier: it writes data to dest (mode "copy"), says no
// server could copy ("none") or fails ("fail"), and records what it was asked.
type fakeCopier struct {
	mu    sync.Mutex
	mode  string
	data  string
	calls []string
	dests []string
}

func (c *fakeCopier) CopyAttachedVolume(ctx context.Context, volumeID, dest, format string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, volumeID+" "+format)
	c.dests = append(c.dests, dest)
	switch c.mode {
	case "none":
		return false, nil
	case "fail":
		// As a failed block job: it made its target, then removed it.
		if err := os.WriteFile(dest, []byte("partial"), 0o600); err != nil {
			return false, err
		}
		_ = os.Remove(dest)
		return false, errors.New("compute: copy volume: the copy job failed: Input/output error")
	}
	return true, os.WriteFile(dest, []byte(c.data), 0o600)
}

func (c *fakeCopier) recorded() ([]string, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls), slices.Clone(c.dests)
}

// liveCopyCloud is a test cloud with a fake copier and a volume holding "volume data",
// attached to a server when inUse.
func liveCopyCloud(t *testing.T, mode string, inUse bool) (*testCloud, *fakeCopier, string) {
	t.Helper()
	tc := newTestCloud(t)
	c := &fakeCopier{mode: mode, data: "point-in-time data"}
	tc.svc.SetVolumeCopier(c)
	id := tc.createVolume(t, tc.demoToken, map[string]any{"size": 1})["id"].(string)
	tc.driver.Put(id, 1, []byte("volume data"))
	if inUse {
		tc.attachTo(t, id, "11111111-2222-4333-8444-555555555555")
	}
	return tc, c, id
}

func TestSnapshotInUseVolume(t *testing.T) {
	cases := []struct {
		name     string
		mode     string
		inUse    bool
		status   string
		data     string
		copies   int
		driverOp string
	}{
		{name: "in-use: the hypervisor's point-in-time copy", mode: "copy", inUse: true, status: "available",
			data: "point-in-time data", copies: 1, driverOp: "create_snapshot_with"},
		{name: "available: the backend's copy, compute not asked", mode: "copy", status: "available",
			data: "volume data", driverOp: "create_snapshot"},
		{name: "in-use, no running server: the backend's copy", mode: "none", inUse: true, status: "available",
			data: "volume data", copies: 1, driverOp: "create_snapshot"},
		{name: "in-use, the copy fails: error", mode: "fail", inUse: true, status: "error", copies: 1,
			driverOp: "create_snapshot_with"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc, cp, vol := liveCopyCloud(t, c.mode, c.inUse)
			body := map[string]any{"volume_id": vol}
			if c.inUse {
				body["force"] = true
			}
			r := tc.doAs(t, tc.demoToken, "3.70", "POST", "/snapshots", map[string]any{"snapshot": body}).want(t, http.StatusAccepted)
			sid := r.obj("snapshot")["id"].(string)
			tc.waitStatus(t, "/snapshots/"+sid, "snapshot", c.status)
			calls, dests := cp.recorded()
			if len(calls) != c.copies {
				t.Fatalf("copier calls %v, want %d", calls, c.copies)
			}
			if c.copies > 0 && calls[0] != vol+" qcow2" {
				t.Fatalf("copier asked %q", calls[0])
			}
			for _, d := range dests {
				if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("temporary copy %s left behind: %v", d, err)
				}
			}
			ops := tc.driver.Calls()
			if !slices.Contains(ops, c.driverOp+" "+sid) {
				t.Fatalf("backend calls %v, want %s", ops, c.driverOp)
			}
			if got := string(tc.driver.SnapshotData(sid)); got != c.data || tc.driver.HasSnapshot(sid) != (c.data != "") {
				t.Fatalf("snapshot data %q, want %q", got, c.data)
			}
			if c.status == "error" {
				msgs := tc.doAs(t, tc.demoToken, "3.3", "GET", "/messages", nil).want(t, http.StatusOK).list("messages")
				if len(msgs) != 1 || msgs[0]["resource_uuid"] != sid || msgs[0]["user_message"] != "create snapshot: Snapshot failed to create." {
					t.Fatalf("messages: %v", msgs)
				}
				if s := fmt.Sprint(msgs); strings.Contains(s, "Input/output") || strings.Contains(s, "/tmp") {
					t.Fatalf("the user message leaks internals: %s", s)
				}
			}
			tc.waitStatus(t, "/volumes/"+vol, "volume", map[bool]string{true: "in-use", false: "available"}[c.inUse])
		})
	}
}

func TestBackupInUseVolume(t *testing.T) {
	cases := []struct {
		name   string
		mode   string
		inUse  bool
		status string
		data   string
		copies int
		tmp    bool
	}{
		{name: "in-use: read through the hypervisor's copy", mode: "copy", inUse: true, status: "available",
			data: "point-in-time data", copies: 1, tmp: true},
		{name: "available: the volume read, compute not asked", mode: "copy", status: "available", data: "volume data"},
		{name: "in-use, no running server: the volume read", mode: "none", inUse: true, status: "available",
			data: "volume data", copies: 1, tmp: true},
		{name: "in-use, the copy fails: error", mode: "fail", inUse: true, status: "error", copies: 1, tmp: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc, cp, vol := liveCopyCloud(t, c.mode, c.inUse)
			body := map[string]any{"volume_id": vol}
			if c.inUse {
				body["force"] = true
			}
			r := tc.doAs(t, tc.demoToken, "3.70", "POST", "/backups", map[string]any{"backup": body}).want(t, http.StatusAccepted)
			bid := r.obj("backup")["id"].(string)
			tc.waitStatus(t, "/backups/"+bid, "backup", c.status)
			tc.waitStatus(t, "/volumes/"+vol, "volume", map[bool]string{true: "in-use", false: "available"}[c.inUse])
			calls, dests := cp.recorded()
			if len(calls) != c.copies {
				t.Fatalf("copier calls %v, want %d", calls, c.copies)
			}
			if c.copies > 0 && calls[0] != vol+" qcow2" {
				t.Fatalf("copier asked %q", calls[0])
			}
			for _, d := range dests {
				if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("temporary copy %s left behind: %v", d, err)
				}
			}
			tmp := "backup-" + bid
			if got := slices.Contains(tc.driver.Calls(), "create_volume_with "+tmp); got != c.tmp {
				t.Fatalf("temporary volume made: %v, want %v (%v)", got, c.tmp, tc.driver.Calls())
			}
			if _, ok := tc.driver.Has(tmp); ok {
				t.Fatal("the temporary volume was left behind")
			}
			if c.status != "available" {
				if tc.backups.Has(bid) {
					t.Fatal("a failed backup was stored")
				}
				return
			}
			rc, err := tc.backups.Restore(t.Context(), bid)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			if string(b) != c.data {
				t.Fatalf("backup holds %q, want %q", b, c.data)
			}
		})
	}
}

// TestBackupTemporaryCopyReconciled: the temporary copy of an in-use volume left by a
// process that stopped during the backup goes at the next start once the backup is no
// longer being made, as the one of a snapshot backup does.
func TestBackupTemporaryCopyReconciled(t *testing.T) {
	tc, _, vol := liveCopyCloud(t, "copy", true)
	r := tc.doAs(t, tc.demoToken, "3.70", "POST", "/backups", map[string]any{"backup": map[string]any{
		"volume_id": vol, "force": true}}).want(t, http.StatusAccepted)
	bid := r.obj("backup")["id"].(string)
	tc.waitStatus(t, "/backups/"+bid, "backup", "available")
	tc.driver.Put("backup-"+bid, 1, []byte("left over"))
	tc.restart(t)
	if _, ok := tc.driver.Has("backup-" + bid); ok {
		t.Fatal("reconcile left the temporary copy of an in-use volume")
	}
}
