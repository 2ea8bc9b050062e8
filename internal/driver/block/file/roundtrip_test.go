package file

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gostack/gostack/internal/driver/block"
)

// TestDataRoundTrip follows data through every operation: a raw image with a pattern →
// volume → snapshot → volume from the snapshot → clone → export, then backup (full and
// incremental) → restore → import, comparing the bytes at every end.
func TestDataRoundTrip(t *testing.T) {
	d, _ := newTestDriver(t)
	store, err := NewBackupStore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	imgPath := filepath.Join(t.TempDir(), "image.raw")
	data := testImage(40 << 20)
	data.writeTo(t, imgPath)

	a := block.Volume{ID: "a", SizeGB: 1}
	if err := d.CreateFromImage(ctx, a, fileImage("img", "raw", imgPath)); err != nil {
		t.Fatal(err)
	}
	snap := block.Snapshot{ID: "s", VolumeID: "a", SizeGB: 1}
	for range 2 {
		if err := d.CreateSnapshot(ctx, snap, a); err != nil {
			t.Fatalf("snapshot: %v", err)
		}
	}
	if info := imgInfo(t, filepath.Join(d.Dir(), "snapshot-s.qcow2"), "qcow2"); info.BackingFile != "" || info.VirtualSize != gib {
		t.Errorf("snapshot: %+v, want an independent qcow2 of 1 GiB", info)
	}
	// The snapshot is independent: deleting its volume leaves it whole.
	if err := d.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	b := block.Volume{ID: "b", SizeGB: 1, Format: "raw"}
	for range 2 {
		if err := d.CreateFromSnapshot(ctx, b, snap); err != nil {
			t.Fatalf("from snapshot: %v", err)
		}
	}
	c := block.Volume{ID: "c", SizeGB: 2}
	for range 2 {
		if err := d.Clone(ctx, c, b); err != nil {
			t.Fatalf("clone: %v", err)
		}
	}
	if got := imgInfo(t, filepath.Join(d.Dir(), "volume-c.qcow2"), "qcow2").VirtualSize; got != 2*gib {
		t.Errorf("clone: virtual size %d, want 2 GiB", got)
	}
	want := data
	want.size = 2 * gib
	exportCheck(t, d, c, want)

	// A qcow2 export is a qcow2 image holding the same data.
	r, err := d.Export(ctx, c, "qcow2")
	if err != nil {
		t.Fatal(err)
	}
	exported := filepath.Join(t.TempDir(), "export.qcow2")
	copyToFile(t, r, exported)
	if info := imgInfo(t, exported, "qcow2"); info.VirtualSize != 2*gib || info.BackingFile != "" {
		t.Errorf("qcow2 export: %+v", info)
	}
	e := block.Volume{ID: "e", SizeGB: 2}
	if err := d.CreateFromImage(ctx, e, fileImage("exported", "qcow2", exported)); err != nil {
		t.Fatal(err)
	}
	exportCheck(t, d, e, want)

	// Back b up, change it, back it up incrementally; both restore to what they saw.
	want.size = gib
	full := backupVolume(t, d, store, b, "full", "")
	if full.SizeBytes != gib || full.StoredBytes > 8<<20 || full.ObjectCount != 3 {
		t.Errorf("full backup %+v: want 1 GiB read, 3 chunks of data stored, zeros not", full)
	}
	changed := content{size: gib, extents: map[int64][]byte{gib/2 + 5<<20: pattern(11, 1000)}}
	for off, p := range data.extents {
		changed.extents[off] = p
	}
	f, err := os.OpenFile(filepath.Join(d.Dir(), "volume-b.raw"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(changed.extents[gib/2+5<<20], gib/2+5<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	incr := backupVolume(t, d, store, b, "incr", "full")
	if incr.ObjectCount != 1 || incr.StoredBytes > 1<<20 {
		t.Errorf("incremental backup %+v: want only the changed chunk stored", incr)
	}
	for i, tc := range []struct {
		backup string
		want   content
		vol    block.Volume
	}{
		{"full", want, block.Volume{ID: "r1", SizeGB: 1}},
		{"incr", changed, block.Volume{ID: "r2", SizeGB: 1, Format: "raw"}},
	} {
		if err := d.Create(ctx, tc.vol); err != nil {
			t.Fatal(err)
		}
		for range i + 1 { // a restore run again gives the same result
			r, err := store.Restore(ctx, tc.backup)
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Import(ctx, tc.vol, r); err != nil {
				t.Fatalf("import %s: %v", tc.backup, err)
			}
			r.Close()
		}
		exportCheck(t, d, tc.vol, tc.want)
	}
	if names := listDir(t, d.Dir()); hasTemporary(names) {
		t.Errorf("temporaries left: %q", names)
	}
}

func exportCheck(t *testing.T, d *Driver, vol block.Volume, want content) {
	t.Helper()
	r, err := d.Export(t.Context(), vol, "raw")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want.check(t, r)
}

func copyToFile(t *testing.T, r io.ReadCloser, path string) {
	t.Helper()
	defer r.Close()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, r); err != nil {
		t.Fatal(err)
	}
}

func backupVolume(t *testing.T, d *Driver, s *BackupStore, vol block.Volume, id, parent string) block.BackupInfo {
	t.Helper()
	r, err := d.Export(t.Context(), vol, "raw")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	info, err := s.Backup(t.Context(), id, parent, r)
	if err != nil {
		t.Fatalf("backup %s: %v", id, err)
	}
	return info
}
