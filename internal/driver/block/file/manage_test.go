package file

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gostack/gostack/internal/driver/block"
	"github.com/gostack/gostack/internal/platform"
)

// newRecordedDriver returns a driver whose runner only records: the manage paths run
// no host program, and tests of them need no qemu-img.
func newRecordedDriver(t *testing.T) (*Driver, *platform.Recorder) {
	t.Helper()
	rec := &platform.Recorder{}
	d, err := New(Config{Dir: t.TempDir(), Runner: rec})
	if err != nil {
		t.Fatal(err)
	}
	return d, rec
}

// writeRawFile makes a raw file of size bytes with some data at its start.
func writeRawFile(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("some guest data")); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

func TestParseRef(t *testing.T) {
	for _, tc := range []struct {
		kind, ref, id, format string
		ok                    bool
	}{
		{"volume", "volume-abc", "abc", "", true},
		{"volume", "volume-abc.qcow2", "abc", "qcow2", true},
		{"volume", "volume-abc.raw", "abc", "raw", true},
		{"snapshot", "snapshot-9f1c-2", "9f1c-2", "", true},
		{"snapshot", "snapshot-abc.qcow2", "abc", "qcow2", true},
		{"snapshot", "snapshot-abc.raw", "", "", false},
		{"volume", "snapshot-abc", "", "", false},
		{"snapshot", "volume-abc", "", "", false},
		{"volume", "volume-", "", "", false},
		{"volume", "volume-.qcow2", "", "", false},
		{"volume", "volume-abc.vmdk", "", "", false},
		{"volume", "../volume-abc", "", "", false},
		{"volume", "volume-../../etc/passwd", "", "", false},
		{"volume", "volume-a/b", "", "", false},
		{"volume", "/etc/passwd", "", "", false},
		{"volume", "volume-a\\b", "", "", false},
		{"volume", "volume-a\x00", "", "", false},
		{"volume", "volume-a b", "", "", false},
		{"volume", "volume-" + strings.Repeat("a", 300), "", "", false},
		{"volume", ".tmp-volume-abc.qcow2", "", "", false},
		{"volume", "", "", "", false},
	} {
		id, format, err := parseRef(tc.kind, tc.ref)
		if tc.ok != (err == nil) || id != tc.id || format != tc.format {
			t.Errorf("parseRef(%q, %q) = %q, %q, %v; want %q, %q, ok %v", tc.kind, tc.ref, id, format, err, tc.id, tc.format, tc.ok)
		}
		if err != nil && !errors.Is(err, block.ErrInvalid) {
			t.Errorf("parseRef(%q): %v does not wrap ErrInvalid", tc.ref, err)
		}
		if err != nil && strings.Contains(err.Error(), "/tmp") {
			t.Errorf("parseRef(%q): message leaks a path: %v", tc.ref, err)
		}
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"volume-abc", "volume-abc.raw", "snapshot-x.qcow2", "../x", "volume-a/b", "volume-..", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		for _, kind := range []string{"volume", "snapshot"} {
			id, format, err := parseRef(kind, ref)
			if err != nil {
				continue
			}
			if !idPattern.MatchString(id) || strings.ContainsAny(id, "./\\") {
				t.Fatalf("parseRef(%q) accepted id %q", ref, id)
			}
			if format != "" && format != block.FormatQCOW2 && format != block.FormatRaw {
				t.Fatalf("parseRef(%q) accepted format %q", ref, format)
			}
		}
	})
}

func TestManageExistingRaw(t *testing.T) {
	ctx := context.Background()
	d, rec := newRecordedDriver(t)
	writeRawFile(t, filepath.Join(d.Dir(), "volume-old.raw"), 3<<29) // 1.5 GiB
	size, err := d.ManageExistingGetSize(ctx, "volume-old")
	if err != nil || size != 2 {
		t.Fatalf("get size = %d, %v; want 2 (rounded up)", size, err)
	}
	got, err := d.ManageExisting(ctx, "volume-old", block.Volume{ID: "new", Format: block.FormatQCOW2})
	if err != nil {
		t.Fatal(err)
	}
	if got != (block.Managed{SizeGB: 2, Format: block.FormatRaw}) {
		t.Errorf("managed = %+v, want 2 GiB raw (the data keeps its format)", got)
	}
	if names := listDir(t, d.Dir()); strings.Join(names, ",") != "volume-new.raw" {
		t.Errorf("files = %q, want only volume-new.raw", names)
	}
	// A re-run (after a crash before the service recorded the result) reports it again.
	again, err := d.ManageExisting(ctx, "volume-old", block.Volume{ID: "new"})
	if err != nil || again != got {
		t.Errorf("re-run = %+v, %v; want %+v", again, err, got)
	}
	if _, err := d.ManageExistingGetSize(ctx, "volume-old"); !errors.Is(err, block.ErrNotFound) {
		t.Errorf("old name after adoption: %v, want ErrNotFound", err)
	}
	if cmds := rec.Commands(); len(cmds) != 0 {
		t.Errorf("manage ran host programs: %q", cmds)
	}
	vols, err := d.ManageableVolumes(ctx)
	if err != nil || len(vols) != 1 || vols[0] != (block.Manageable{Name: "volume-new", ID: "new", SizeGB: 2}) {
		t.Errorf("manageable = %+v, %v", vols, err)
	}
}

func TestManageExistingFinishesInterruptedRename(t *testing.T) {
	ctx := context.Background()
	d, _ := newRecordedDriver(t)
	old := filepath.Join(d.Dir(), "volume-old.raw")
	writeRawFile(t, old, 1<<30)
	// A crash between link and unlink leaves one file under both names.
	if err := os.Link(old, filepath.Join(d.Dir(), "volume-new.raw")); err != nil {
		t.Fatal(err)
	}
	got, err := d.ManageExisting(ctx, "volume-old", block.Volume{ID: "new"})
	if err != nil || got.SizeGB != 1 {
		t.Fatalf("managed = %+v, %v", got, err)
	}
	if names := listDir(t, d.Dir()); strings.Join(names, ",") != "volume-new.raw" {
		t.Errorf("files = %q, want only volume-new.raw", names)
	}
}

func TestManageExistingRefusals(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		setup func(t *testing.T, dir string)
		ref   string
		want  error
	}{
		"nothing": {func(*testing.T, string) {}, "volume-old", block.ErrNotFound},
		"path": {func(t *testing.T, dir string) { writeRawFile(t, filepath.Join(dir, "volume-old.raw"), 1<<20) },
			"../volume-old", block.ErrInvalid},
		"symlink": {func(t *testing.T, dir string) {
			if err := os.Symlink("/etc/hostname", filepath.Join(dir, "volume-old.raw")); err != nil {
				t.Fatal(err)
			}
		}, "volume-old", block.ErrInvalid},
		"hard link": {func(t *testing.T, dir string) {
			writeRawFile(t, filepath.Join(dir, "other"), 1<<20)
			if err := os.Link(filepath.Join(dir, "other"), filepath.Join(dir, "volume-old.raw")); err != nil {
				t.Fatal(err)
			}
		}, "volume-old", block.ErrInvalid},
		"directory": {func(t *testing.T, dir string) {
			if err := os.Mkdir(filepath.Join(dir, "volume-old.raw"), 0o700); err != nil {
				t.Fatal(err)
			}
		}, "volume-old", block.ErrInvalid},
		"empty": {func(t *testing.T, dir string) { writeRawFile(t, filepath.Join(dir, "volume-old.raw"), 0) },
			"volume-old", block.ErrInvalid},
		"qcow2 under a raw name": {func(t *testing.T, dir string) {
			// Data that is not in the format its name says is refused, even harmless.
			makeQCOW2(t, filepath.Join(dir, "volume-old.raw"), "")
		}, "volume-old", block.ErrInvalid},
		"qcow2 with a backing file": {func(t *testing.T, dir string) {
			makeQCOW2(t, filepath.Join(dir, "volume-old.qcow2"), "/etc/hostname")
		}, "volume-old", block.ErrInvalid},
		"two formats": {func(t *testing.T, dir string) {
			writeRawFile(t, filepath.Join(dir, "volume-old.raw"), 1<<20)
			makeQCOW2(t, filepath.Join(dir, "volume-old.qcow2"), "")
		}, "volume-old", block.ErrInvalid},
		"target taken": {func(t *testing.T, dir string) {
			writeRawFile(t, filepath.Join(dir, "volume-old.raw"), 1<<20)
			writeRawFile(t, filepath.Join(dir, "volume-new.raw"), 1<<20)
		}, "volume-old", block.ErrInvalid},
		"own id": {func(t *testing.T, dir string) { writeRawFile(t, filepath.Join(dir, "volume-new.raw"), 1<<20) },
			"volume-new", block.ErrInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			d, _ := newRecordedDriver(t)
			tc.setup(t, d.Dir())
			before := listDir(t, d.Dir())
			_, err := d.ManageExisting(ctx, tc.ref, block.Volume{ID: "new"})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			t.Logf("refused: %v", err)
			if strings.Contains(err.Error(), d.Dir()) || strings.Contains(err.Error(), "/etc/") {
				t.Errorf("message leaks a path: %v", err)
			}
			if after := listDir(t, d.Dir()); strings.Join(after, ",") != strings.Join(before, ",") {
				t.Errorf("files changed on a refusal: %q → %q", before, after)
			}
		})
	}
}

// makeQCOW2 makes a 1 GiB qcow2 file at path with qemu-img, with a backing file when
// backing is not empty (the test skips without qemu-img).
func makeQCOW2(t *testing.T, path, backing string) {
	t.Helper()
	requireQemuImg(t)
	args := []string{"create", "-q", "-f", "qcow2"}
	if backing != "" {
		args = append(args, "-b", backing, "-F", "raw")
	}
	if out, err := exec.Command("qemu-img", append(args, path, "1G")...).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v: %s", err, out)
	}
}

func TestManageExistingQCOW2AndSnapshot(t *testing.T) {
	requireQemuImg(t)
	ctx := context.Background()
	d, _ := newRecordedDriver(t)
	for _, name := range []string{"volume-q.qcow2", "snapshot-s.qcow2"} {
		makeQCOW2(t, filepath.Join(d.Dir(), name), "")
	}
	snaps, err := d.ManageableSnapshots(ctx)
	if err != nil || len(snaps) != 1 || snaps[0] != (block.Manageable{Name: "snapshot-s", ID: "s", SizeGB: 1}) {
		t.Fatalf("manageable snapshots = %+v, %v", snaps, err)
	}
	if size, err := d.ManageExistingGetSize(ctx, "volume-q.qcow2"); err != nil || size != 1 {
		t.Fatalf("get size = %d, %v", size, err)
	}
	got, err := d.ManageExisting(ctx, "volume-q", block.Volume{ID: "v2"})
	if err != nil || got != (block.Managed{SizeGB: 1, Format: block.FormatQCOW2}) {
		t.Fatalf("manage volume = %+v, %v", got, err)
	}
	if size, err := d.ManageExistingSnapshotGetSize(ctx, "snapshot-s"); err != nil || size != 1 {
		t.Fatalf("snapshot size = %d, %v", size, err)
	}
	if _, err := d.ManageExistingSnapshot(ctx, "snapshot-s", block.Snapshot{ID: "s2"}); err != nil {
		t.Fatal(err)
	}
	if err := d.UnmanageSnapshot(ctx, block.Snapshot{ID: "s2"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Unmanage(ctx, block.Volume{ID: "v2"}); err != nil {
		t.Fatal(err)
	}
	want := "snapshot-s2.qcow2,volume-v2.qcow2"
	if names := listDir(t, d.Dir()); strings.Join(names, ",") != want {
		t.Errorf("files = %q, want %s (unmanage keeps the data)", names, want)
	}
}
