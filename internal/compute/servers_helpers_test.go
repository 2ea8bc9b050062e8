package compute

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/image"
	"github.com/gostack/gostack/internal/store"
)

// testImages is compute.Images over the image service, as internal/app wires it
// (app cannot be imported here without a cycle).
type testImages struct{ svc *image.Service }

func toInfo(s *image.Summary) *ImageInfo {
	props := map[string]any{}
	for k, v := range s.Properties {
		props[k] = v
	}
	return &ImageInfo{ID: s.ID, Name: s.Name, Status: s.Status, Owner: s.Owner, Visibility: s.Visibility,
		DiskFormat: s.DiskFormat, ContainerFormat: s.ContainerFormat, Size: s.Size, MinDisk: s.MinDisk,
		MinRAM: s.MinRAM, Properties: props}
}

func (g testImages) Image(ctx context.Context, caller *api.Caller, id string) (*ImageInfo, error) {
	s, err := g.svc.ImageFor(ctx, caller, id)
	if errors.Is(err, image.ErrImageNotFound) {
		return nil, ErrImageNotFound
	}
	if err != nil {
		return nil, err
	}
	return toInfo(s), nil
}

func (g testImages) CreateImage(ctx context.Context, caller *api.Caller, name string, props map[string]any) (*ImageInfo, error) {
	sp := map[string]string{}
	for k, v := range props {
		if s, ok := v.(string); ok {
			sp[k] = s
		}
	}
	s, err := g.svc.CreateImageFor(ctx, caller, name, sp)
	if err != nil {
		return nil, err
	}
	return toInfo(s), nil
}

func (g testImages) UploadImage(ctx context.Context, id, df, cf string, data io.Reader) error {
	return g.svc.UploadImageData(ctx, id, df, cf, data)
}

func (g testImages) DeleteImage(ctx context.Context, id string) error {
	return g.svc.DeleteImageByID(ctx, id)
}

func (g testImages) ImagesWithProperties(ctx context.Context, props map[string]string) ([]string, error) {
	return g.svc.ImageIDsWithProperties(ctx, props)
}

func (g testImages) OpenImage(ctx context.Context, id string) (io.ReadCloser, error) {
	return g.svc.OpenImageData(ctx, id)
}

// serverFixture is a test cloud with a flavor, an active public image and a keypair.
type serverFixture struct {
	*testCloud
	imageID string
}

// newServerCloud builds the fixture.
func newServerCloud(t testing.TB) *serverFixture {
	t.Helper()
	tc := newTestCloud(t)
	ctx := context.Background()
	f := &serverFixture{testCloud: tc}
	tc.addFlavor(t, "1", "m1.tiny", 1, 512, 1)
	tc.addFlavor(t, "2", "m1.small", 1, 2048, 20)
	f.imageID = tc.uploadImage(t, "cirros")
	_, err := tc.db.ExecContext(ctx, `INSERT INTO compute_keypairs (id, user_id, name, type, public_key, fingerprint, created_at)
		VALUES (1, ?, 'key1', 'ssh', 'ssh-ed25519 AAAA test', 'fp', '')`, tc.demoUserID)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// addFlavor inserts a flavor row (the flavor API is another part's).
func (tc *testCloud) addFlavor(t testing.TB, id, name string, vcpus, ram, disk int64) {
	t.Helper()
	err := tc.db.InTx(context.Background(), func(tx *store.Tx) error {
		n, err := nextID(context.Background(), tx, "flavors")
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(context.Background(), `INSERT INTO compute_flavors (flavorid, id, name, vcpus, memory_mb, root_gb)
			VALUES (?, ?, ?, ?, ?, ?)`, id, n, name, vcpus, ram, disk)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// createServer boots a server as token and returns its id.
func (f *serverFixture) createServer(t testing.TB, token, ver string, extra map[string]any) string {
	t.Helper()
	srv := map[string]any{"name": "vm", "imageRef": f.imageID, "flavorRef": "1", "networks": "none"}
	for k, v := range extra {
		srv[k] = v
	}
	r := f.doAs(t, token, ver, "POST", "/v2.1/servers", map[string]any{"server": srv}).want(t, 202)
	return r.obj("server")["id"].(string)
}

// setState simulates the conductor and host agent: it sets the instance's states and
// host, marks its launch, and finishes its tasks.
func (tc *testCloud) setState(t testing.TB, uuid, vm, task string, power int, host string) {
	t.Helper()
	ctx := context.Background()
	inst, found, err := loadInstance(ctx, tc.db, uuid)
	if err != nil || !found {
		t.Fatalf("load %s: %v", uuid, err)
	}
	inst.VMState, inst.TaskState, inst.PowerState = vm, task, power
	if host != "" {
		inst.Host, inst.Node = &host, &host
		if inst.LaunchedAt == nil {
			n := now()
			inst.LaunchedAt = &n
		}
	}
	if _, err := updateInstance(ctx, tc.db, inst, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.db.ExecContext(ctx, `UPDATE compute_tasks SET state = ? WHERE instance_uuid = ?`, TaskDone, uuid); err != nil {
		t.Fatal(err)
	}
}

// pendingTasks lists the kinds and hosts of an instance's pending tasks.
func (tc *testCloud) pendingTasks(t testing.TB, uuid string) []Task {
	t.Helper()
	rows, err := tc.db.QueryContext(context.Background(), `SELECT kind, host, params, action_id FROM compute_tasks
		WHERE instance_uuid = ? AND state = ? ORDER BY id`, uuid, TaskPending)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []Task
	for rows.Next() {
		var tk Task
		var params string
		if err := rows.Scan(&tk.Kind, &tk.Host, &params, &tk.ActionID); err != nil {
			t.Fatal(err)
		}
		tk.Params = []byte(params)
		out = append(out, tk)
	}
	return out
}

// uploadImage creates an active public raw image (4 KiB of zeros) as the admin and
// returns its id.
func (tc *testCloud) uploadImage(t testing.TB, name string) string {
	t.Helper()
	r := tc.raw(t, tc.adminToken, "", "POST", "/image/v2/images", map[string]any{"name": name,
		"disk_format": "raw", "container_format": "bare", "visibility": "public", "hw_disk_bus": "virtio"})
	if r.code != 201 {
		t.Fatalf("create image: %d %s", r.code, r.raw)
	}
	id := r.body["id"].(string)
	req := httptest.NewRequest("PUT", "/image/v2/images/"+id+"/file", bytes.NewReader(make([]byte, 4096)))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-Auth-Token", tc.adminToken)
	rec := httptest.NewRecorder()
	tc.handler.ServeHTTP(rec, req)
	if rec.Code != 204 {
		t.Fatalf("upload image: %d %s", rec.Code, rec.Body)
	}
	return id
}
