package volume

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/store"
)

// restart stops the runners and builds a new Service over the same store and the same
// (in-memory, hence surviving) backend, as a process restart would, then runs it.
func (tc *testCloud) restart(t *testing.T) {
	t.Helper()
	tc.stop()
	svc, err := New(context.Background(), tc.db, tc.enf, Config{Host: "testhost"}, tc.svc.deps, tc.log)
	if err != nil {
		t.Fatal(err)
	}
	svc.SetBackend(tc.driver, tc.backups)
	tc.svc = svc
	tc.start(t)
}

func TestRestartReRunsInterruptedCreate(t *testing.T) {
	var block atomic.Bool
	block.Store(true)
	started := make(chan string, 4)
	tc := newTestCloud(t, testOptions{hook: func(ctx context.Context, op, id string) error {
		if op == "create" && block.Load() {
			started <- id
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}})
	r := tc.do(t, "", "POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1}}).want(t, http.StatusAccepted)
	id := r.obj("volume")["id"].(string)
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("create never reached the driver")
	}
	tc.stop()
	var state string
	if err := tc.db.QueryRowContext(context.Background(), `SELECT state FROM volume_tasks WHERE resource_id = ?`, id).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if state != taskRunning {
		t.Fatalf("task state after shutdown %q, want running", state)
	}
	block.Store(false)
	tc.restart(t)
	tc.waitStatus(t, "/volumes/"+id, "volume", "available")
	if _, ok := tc.driver.Has(id); !ok {
		t.Fatal("volume data missing after the re-run")
	}
}

func TestRecoverySettlesAndReconciles(t *testing.T) {
	tc := newTestCloud(t)
	ctx := context.Background()
	keep := tc.createVolume(t, tc.adminToken, map[string]any{"size": 1})["id"].(string)
	gone := tc.createVolume(t, tc.adminToken, map[string]any{"size": 1})["id"].(string)
	stuck := tc.createVolume(t, tc.adminToken, map[string]any{"size": 1})["id"].(string)
	tc.stop()
	ts := store.FormatTime(now())
	// An interrupted delete: the row went, the data stayed.
	if _, err := tc.db.ExecContext(ctx, `UPDATE volume_volumes SET deleted = ?, deleted_at = ? WHERE id = ?`, true, ts, gone); err != nil {
		t.Fatal(err)
	}
	// A transitional status with no task behind it.
	if _, err := tc.db.ExecContext(ctx, `UPDATE volume_volumes SET status = ? WHERE id = ?`, stExtending, stuck); err != nil {
		t.Fatal(err)
	}
	// Data nobody knows about.
	tc.driver.Put("stranger", 1, []byte("user data"))
	tc.restart(t)
	if _, ok := tc.driver.Has(gone); ok {
		t.Error("data of a deleted volume was not removed")
	}
	if _, ok := tc.driver.Has(keep); !ok {
		t.Error("data of a live volume was removed")
	}
	if _, ok := tc.driver.Has("stranger"); !ok {
		t.Error("unknown data was removed")
	}
	tc.waitStatus(t, "/volumes/"+stuck, "volume", stErrorExtending)
}

func TestRestartConvergesEveryOperation(t *testing.T) {
	for _, tt := range []struct {
		op    string // the driver or store operation interrupted
		start func(tc *testCloud, t *testing.T, vol string) (path, key, want string)
	}{
		{"delete", func(tc *testCloud, t *testing.T, vol string) (string, string, string) {
			tc.do(t, "", "DELETE", "/volumes/"+vol, nil).want(t, http.StatusAccepted)
			return "/volumes/" + vol, "volume", "deleted"
		}},
		{"create_snapshot", func(tc *testCloud, t *testing.T, vol string) (string, string, string) {
			r := tc.do(t, "", "POST", "/snapshots", map[string]any{"snapshot": map[string]any{"volume_id": vol}}).want(t, http.StatusAccepted)
			return "/snapshots/" + r.obj("snapshot")["id"].(string), "snapshot", "available"
		}},
		{"extend", func(tc *testCloud, t *testing.T, vol string) (string, string, string) {
			tc.do(t, "", "POST", "/volumes/"+vol+"/action", map[string]any{"os-extend": map[string]any{"new_size": 3}}).want(t, http.StatusAccepted)
			return "/volumes/" + vol, "volume", "available"
		}},
		{"backup", func(tc *testCloud, t *testing.T, vol string) (string, string, string) {
			r := tc.do(t, "", "POST", "/backups", map[string]any{"backup": map[string]any{"volume_id": vol}}).want(t, http.StatusAccepted)
			return "/backups/" + r.obj("backup")["id"].(string), "backup", "available"
		}},
	} {
		t.Run(tt.op, func(t *testing.T) {
			var block atomic.Bool
			started := make(chan struct{}, 4)
			tc := newTestCloud(t, testOptions{hook: func(ctx context.Context, op, id string) error {
				if op == tt.op && block.Load() {
					started <- struct{}{}
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			}})
			vol := tc.createVolume(t, tc.adminToken, map[string]any{"size": 1})["id"].(string)
			block.Store(true)
			path, key, want := tt.start(tc, t, vol)
			select {
			case <-started:
			case <-time.After(5 * time.Second):
				t.Fatal("operation never reached the backend")
			}
			tc.stop()
			block.Store(false)
			tc.restart(t)
			tc.waitStatus(t, path, key, want)
			if want != "deleted" {
				tc.waitStatus(t, "/volumes/"+vol, "volume", "available")
			} else if _, ok := tc.driver.Has(vol); ok {
				t.Fatal("volume data left after the re-run delete")
			}
		})
	}
}

func TestPruneKeepsRecentTasks(t *testing.T) {
	tc := newTestCloud(t)
	ctx := context.Background()
	tc.createVolume(t, tc.adminToken, map[string]any{"size": 1})
	old := store.FormatTime(now().Add(-8 * 24 * time.Hour))
	if _, err := tc.db.ExecContext(ctx, `INSERT INTO volume_tasks (id, queue, kind, resource_id, state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, 999999, "x", "create_volume", "r", taskDone, old, old); err != nil {
		t.Fatal(err)
	}
	if err := tc.svc.prune(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tc.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_tasks`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d tasks left, want the recent one", n)
	}
}

// TestRestartLeavesCarriedStatusesToTheirTasks interrupts operations whose task belongs
// to another resource than the one it holds in a transitional status (a backup holds
// its volume or snapshot backing-up, a restore its backup restoring, a revert its
// snapshot restoring, a group snapshot its member snapshots creating): the recovery
// pass must leave those statuses to the re-run task, not settle them (which released a
// volume still being read, or put member snapshots in error while their group snapshot
// went on to complete).
func TestRestartLeavesCarriedStatusesToTheirTasks(t *testing.T) {
	type status struct{ path, key, want string }
	for _, tt := range []struct {
		name, op string
		// start makes the resources and starts the operation; it returns the statuses
		// that must hold while the re-run task is blocked, and the final ones.
		start func(tc *testCloud, t *testing.T, vol string) (held, final []status)
	}{
		{"backup of a volume", "backup", func(tc *testCloud, t *testing.T, vol string) ([]status, []status) {
			r := tc.do(t, "", "POST", "/backups", map[string]any{"backup": map[string]any{"volume_id": vol}}).want(t, http.StatusAccepted)
			b := "/backups/" + r.obj("backup")["id"].(string)
			return []status{{"/volumes/" + vol, "volume", stBackingUp}, {b, "backup", backupCreating}},
				[]status{{b, "backup", stAvailable}, {"/volumes/" + vol, "volume", stAvailable}}
		}},
		{"backup of a snapshot", "backup", func(tc *testCloud, t *testing.T, vol string) ([]status, []status) {
			r := tc.do(t, "", "POST", "/snapshots", map[string]any{"snapshot": map[string]any{"volume_id": vol}}).want(t, http.StatusAccepted)
			sn := "/snapshots/" + r.obj("snapshot")["id"].(string)
			tc.waitStatus(t, sn, "snapshot", stAvailable)
			r = tc.do(t, "", "POST", "/backups", map[string]any{"backup": map[string]any{"volume_id": vol,
				"snapshot_id": strings.TrimPrefix(sn, "/snapshots/")}}).want(t, http.StatusAccepted)
			b := "/backups/" + r.obj("backup")["id"].(string)
			return []status{{sn, "snapshot", stBackingUp}},
				[]status{{b, "backup", stAvailable}, {sn, "snapshot", stAvailable}}
		}},
		{"restore", "restore", func(tc *testCloud, t *testing.T, vol string) ([]status, []status) {
			r := tc.do(t, "", "POST", "/backups", map[string]any{"backup": map[string]any{"volume_id": vol}}).want(t, http.StatusAccepted)
			id := r.obj("backup")["id"].(string)
			tc.waitStatus(t, "/backups/"+id, "backup", stAvailable)
			tc.waitStatus(t, "/volumes/"+vol, "volume", stAvailable)
			tc.do(t, "", "POST", "/backups/"+id+"/restore", map[string]any{"restore": map[string]any{"volume_id": vol}}).want(t, http.StatusAccepted)
			return []status{{"/backups/" + id, "backup", backupRestoring}, {"/volumes/" + vol, "volume", stRestoringBackup}},
				[]status{{"/volumes/" + vol, "volume", stAvailable}, {"/backups/" + id, "backup", stAvailable}}
		}},
		{"revert", "create_from_snapshot", func(tc *testCloud, t *testing.T, vol string) ([]status, []status) {
			r := tc.do(t, "", "POST", "/snapshots", map[string]any{"snapshot": map[string]any{"volume_id": vol}}).want(t, http.StatusAccepted)
			sn := r.obj("snapshot")["id"].(string)
			tc.waitStatus(t, "/snapshots/"+sn, "snapshot", stAvailable)
			tc.do(t, "3.40", "POST", "/volumes/"+vol+"/action", map[string]any{"revert": map[string]any{"snapshot_id": sn}}).want(t, http.StatusAccepted)
			return []status{{"/snapshots/" + sn, "snapshot", "restoring"}, {"/volumes/" + vol, "volume", stReverting}},
				[]status{{"/volumes/" + vol, "volume", stAvailable}, {"/snapshots/" + sn, "snapshot", stAvailable}}
		}},
		{"group snapshot", "create_snapshot", func(tc *testCloud, t *testing.T, vol string) ([]status, []status) {
			gid, _, _ := tc.groupWithVolumes(t, 2)
			r := tc.doAs(t, tc.demoToken, "3.14", "POST", "/group_snapshots", map[string]any{"group_snapshot": map[string]any{
				"group_id": gid}}).want(t, http.StatusAccepted)
			members, err := groupSnapshotMembers(context.Background(), tc.db, r.obj("group_snapshot")["id"].(string))
			if err != nil || len(members) != 2 {
				t.Fatalf("members: %v %v", members, err)
			}
			var held, final []status
			for _, m := range members {
				held = append(held, status{"/snapshots/" + m.ID, "snapshot", snapCreating})
				final = append(final, status{"/snapshots/" + m.ID, "snapshot", stAvailable})
			}
			return held, final
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var block atomic.Bool
			started := make(chan struct{}, 8)
			release := make(chan struct{})
			tc := newTestCloud(t, testOptions{hook: func(ctx context.Context, op, id string) error {
				if op != tt.op || !block.Load() {
					return nil
				}
				select {
				case started <- struct{}{}:
				default:
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-release:
					return nil
				}
			}})
			vol := tc.createVolume(t, tc.adminToken, map[string]any{"size": 1})["id"].(string)
			block.Store(true)
			held, final := tt.start(tc, t, vol)
			select {
			case <-started:
			case <-time.After(5 * time.Second):
				t.Fatal("operation never reached the backend")
			}
			tc.stop()
			tc.restart(t)
			// The recovery pass has run (restart waits for it); the re-run task is
			// blocked in the backend again, so nothing may have moved yet.
			for _, h := range held {
				if got := tc.do(t, "3.70", "GET", h.path, nil).want(t, http.StatusOK).obj(h.key)["status"]; got != h.want {
					t.Errorf("%s is %v after the restart while its task re-runs, want %s", h.path, got, h.want)
				}
			}
			close(release)
			for _, f := range final {
				tc.waitStatus(t, f.path, f.key, f.want)
			}
		})
	}
}
