package volume

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// newExtrasCloud is the test cloud with a cinder-volume runner that carries out the
// group tasks as well as the core's (the core's volumeTaskFuncs falls through to
// groupTaskFuncs once wired; this runner does not depend on that).
func newExtrasCloud(t *testing.T, opts ...testOptions) *testCloud {
	t.Helper()
	var o testOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	o.noRun = true
	tc := newTestCloud(t, o)
	s := tc.svc
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.registerServices(ctx, true, true); err != nil {
		t.Fatal(err)
	}
	rn := &runner{s: s, queue: s.volumeQueue(), workers: 2, active: map[int64]bool{},
		funcs: func(k taskKind) (taskFuncs, bool) {
			if f, ok := s.groupTaskFuncs(k); ok {
				return f, true
			}
			return s.volumeTaskFuncs(k)
		}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rn.run(ctx, &wg)
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return tc
}

// addVolumeType inserts a volume type as the core's API would.
func (tc *testCloud) addVolumeType(t *testing.T, name string) string {
	t.Helper()
	id := api.NewUUID()
	ts := store.FormatTime(now())
	if _, err := tc.db.ExecContext(context.Background(), `INSERT INTO volume_types (id, name, is_public, created_at,
		updated_at) VALUES (?, ?, ?, ?, ?)`, id, name, true, ts, ts); err != nil {
		t.Fatal(err)
	}
	return id
}

// addVolume inserts an available volume of project (with data on the fake backend), as
// the core's create would leave it.
func (tc *testCloud) addVolume(t *testing.T, project, typeID string, size int64, data string) string {
	t.Helper()
	id := api.NewUUID()
	ts := store.FormatTime(now())
	if _, err := tc.db.ExecContext(context.Background(), `INSERT INTO volume_volumes (id, project_id, user_id, name, size,
		status, availability_zone, host, type_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, project, "u", "vol-"+id[:8], size, "available", "nova", tc.svc.poolHost(), typeID, ts, ts); err != nil {
		t.Fatal(err)
	}
	tc.driver.Put(id, size, []byte(data))
	return id
}

// addSnapshot inserts an available snapshot of a volume.
func (tc *testCloud) addSnapshot(t *testing.T, volumeID, project string, size int64, status string) string {
	t.Helper()
	id := api.NewUUID()
	ts := store.FormatTime(now())
	if _, err := tc.db.ExecContext(context.Background(), `INSERT INTO volume_snapshots (id, volume_id, project_id, user_id,
		status, volume_size, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		id, volumeID, project, "u", status, size, ts, ts); err != nil {
		t.Fatal(err)
	}
	return id
}

// column reads one column of a row.
func (tc *testCloud) column(t *testing.T, table, col, id string) string {
	t.Helper()
	var v *string
	err := tc.db.QueryRowContext(context.Background(), `SELECT `+col+` FROM `+table+` WHERE id = ?`, id).Scan(&v)
	if err != nil {
		t.Fatalf("read %s.%s of %s: %v", table, col, id, err)
	}
	if v == nil {
		return ""
	}
	return *v
}

// deletedFlag reads a row's deleted column.
func (tc *testCloud) deletedFlag(t *testing.T, table, id string) bool {
	t.Helper()
	var d bool
	if err := tc.db.QueryRowContext(context.Background(), `SELECT deleted FROM `+table+` WHERE id = ?`, id).Scan(&d); err != nil {
		t.Fatal(err)
	}
	return d
}

// eventually polls cond until it holds (5 s).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// waitStatus waits for the API to show a resource with the status.
func (tc *testCloud) waitStatusAt(t *testing.T, ver, path, key, want string) map[string]any {
	t.Helper()
	var last map[string]any
	eventually(t, path+" "+want, func() bool {
		r := tc.do(t, ver, "GET", path, nil)
		last = r.obj(key)
		return r.code == 200 && last["status"] == want
	})
	return last
}
