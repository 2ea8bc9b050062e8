package volume

import (
	"context"
	"net/http"
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
