package image

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/gostack/gostack/internal/store"
)

// TestRestartReconcile leaves the store as a process killed at various points would, then
// restarts the service: interrupted uploads go back to queued, complete staged data is
// kept, imports resume, and only debris and files without images are removed.
func TestRestartReconcile(t *testing.T) {
	tc := newTestCloud(t)
	ctx := context.Background()
	create := func(name string) string {
		return tc.createImage(t, tc.demo.token, map[string]any{"name": name, "disk_format": "raw", "container_format": "bare"})["id"].(string)
	}
	setRow := func(id, status string) {
		if _, err := tc.db.ExecContext(ctx, `UPDATE images SET status = ?, updated_at = ? WHERE id = ?`,
			status, store.FormatTime(now()), id); err != nil {
			t.Fatal(err)
		}
	}
	write := func(path string, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dir := tc.svc.files.dir
	data := randomBytes(t, 64<<10)

	active := create("active")
	tc.upload(t, tc.demo.token, active, data)

	// Killed while the data streamed in: only a temporary file exists.
	cutMidway := create("cut midway")
	setRow(cutMidway, statusSaving)
	write(filepath.Join(dir, ".tmp", cutMidway+".123"), data[:1000])

	// Killed after the rename but before the row said active.
	cutAtCommit := create("cut at commit")
	setRow(cutAtCommit, statusSaving)
	write(filepath.Join(dir, cutAtCommit), data)

	// Staged completely, waiting for import.
	staged := create("staged")
	setRow(staged, statusUploading)
	write(filepath.Join(dir, ".staging", staged), data)

	// Killed while staging.
	stagingCut := create("staging cut")
	setRow(stagingCut, statusUploading)
	write(filepath.Join(dir, ".tmp", stagingCut+".9"), data[:10])

	// Killed while importing: the import starts over from the staged data.
	importing := create("importing")
	tc.request(t, "PUT", "/image/v2/images/"+importing+"/stage", tc.demo.token, "application/octet-stream", bytes.NewReader(data))
	tc.cancel() // stop the running service before it could import
	tc.svc.imports.Wait()
	taskID := "11111111-2222-4333-8444-555555555555"
	if _, err := tc.db.ExecContext(ctx, `INSERT INTO image_tasks (id, image_id, type, status, input, created_at, updated_at)
		VALUES (?, ?, 'api_image_import', 'processing', '{}', ?, ?)`, taskID, importing,
		store.FormatTime(now()), store.FormatTime(now())); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.db.ExecContext(ctx, `INSERT INTO image_properties (image_id, name, value) VALUES (?, 'os_glance_import_task', ?)`,
		importing, taskID); err != nil {
		t.Fatal(err)
	}
	setRow(importing, statusImporting)
	write(filepath.Join(dir, ".tmp", importing+".77"), data[:5])

	// Files no image owns.
	orphan := "99999999-8888-4777-8666-555555555555"
	write(filepath.Join(dir, orphan), data)
	write(filepath.Join(dir, ".staging", orphan), data)
	write(filepath.Join(dir, "README"), []byte("operator note"))

	tc.start(t)

	for id, want := range map[string]string{
		active: "active", cutMidway: "queued", cutAtCommit: "queued", staged: "uploading", stagingCut: "queued",
	} {
		img := tc.show(t, tc.demo.token, id)
		if img["status"] != want {
			t.Errorf("%s: status %v, want %s", img["name"], img["status"], want)
		}
		if want == "queued" && (img["size"] != nil || img["checksum"] != nil) {
			t.Errorf("%s: queued with size %v checksum %v", img["name"], img["size"], img["checksum"])
		}
	}
	img := waitStatus(t, tc, importing, "active")
	if img["size"] != float64(len(data)) {
		t.Errorf("resumed import: size %v", img["size"])
	}
	want := []string{"README", ".staging/" + staged, active, cutAtCommit, importing}
	got := storeFiles(t, tc)
	for _, w := range want {
		if !contains(got, w) {
			t.Errorf("store lost %s", w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("store holds %v, want %v", got, want)
	}
	if rec := tc.request(t, "GET", "/image/v2/images/"+active+"/file", tc.demo.token, "", nil); !bytes.Equal(rec.Body.Bytes(), data) {
		t.Errorf("active image data changed across the restart")
	}
	// The queued image whose file survived takes a new upload, which replaces the file.
	if rec := tc.upload(t, tc.demo.token, cutAtCommit, []byte("fresh")); rec.Code != 204 {
		t.Fatalf("upload after restart: %d %s", rec.Code, rec.Body)
	}
	if rec := tc.request(t, "GET", "/image/v2/images/"+cutAtCommit+"/file", tc.demo.token, "", nil); rec.Body.String() != "fresh" {
		t.Errorf("download after re-upload: %q", rec.Body)
	}
}
