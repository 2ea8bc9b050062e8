package file

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gostack/gostack/internal/driver/block"
	"github.com/gostack/gostack/internal/platform"
)

func TestCreate(t *testing.T) {
	d, run := newTestDriver(t)
	ctx := t.Context()
	for _, tc := range []struct {
		vol    block.Volume
		format string
	}{
		{block.Volume{ID: "q1", SizeGB: 1}, "qcow2"},
		{block.Volume{ID: "q2", SizeGB: 3, Format: "qcow2"}, "qcow2"},
		{block.Volume{ID: "r1", SizeGB: 2, Format: "raw"}, "raw"},
	} {
		// Twice: the second call finds the volume there and does nothing.
		for range 2 {
			if err := d.Create(ctx, tc.vol); err != nil {
				t.Fatalf("create %s: %v", tc.vol.ID, err)
			}
		}
		path := filepath.Join(d.Dir(), "volume-"+tc.vol.ID+"."+tc.format)
		info := imgInfo(t, path, tc.format)
		if info.VirtualSize != tc.vol.SizeGB*gib {
			t.Errorf("%s: virtual size %d, want %d", tc.vol.ID, info.VirtualSize, tc.vol.SizeGB*gib)
		}
		if info.ActualSize > 1<<20 {
			t.Errorf("%s: takes %d bytes on disk; a new volume must be sparse", tc.vol.ID, info.ActualSize)
		}
	}
	// One qemu-img create per qcow2 volume (the repeated calls ran nothing), none for raw.
	want := []string{
		"qemu-img create -q -f qcow2 " + filepath.Join(d.Dir(), ".tmp-volume-q1.qcow2") + " 1073741824",
		"qemu-img create -q -f qcow2 " + filepath.Join(d.Dir(), ".tmp-volume-q2.qcow2") + " 3221225472",
	}
	if diff := cmp.Diff(want, run.commands()); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
	vols, snaps, err := d.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"q1", "q2", "r1"}, vols); diff != "" || len(snaps) != 0 {
		t.Errorf("inventory: volumes (-want +got) %s, snapshots %v", diff, snaps)
	}
	capa, err := d.Capacity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if capa.TotalGB <= 0 || capa.FreeGB <= 0 || capa.FreeGB > capa.TotalGB || !capa.ThinProvisioning || capa.ProvisionedGB != 6 {
		t.Errorf("capacity %+v: want total >= free > 0, thin, 6 GB provisioned", capa)
	}
}

func TestBadInput(t *testing.T) {
	// Refused before anything runs: a Recorder sees no command and no file appears.
	rec := &platform.Recorder{}
	d, err := New(Config{Dir: t.TempDir(), Runner: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	img := bytesImage("img", "raw", make([]byte, 4096))
	for name, call := range map[string]func() error{
		"size zero":      func() error { return d.Create(ctx, block.Volume{ID: "v", SizeGB: 0}) },
		"size negative":  func() error { return d.Create(ctx, block.Volume{ID: "v", SizeGB: -1}) },
		"size huge":      func() error { return d.Create(ctx, block.Volume{ID: "v", SizeGB: 1 << 40}) },
		"id with slash":  func() error { return d.Create(ctx, block.Volume{ID: "../x", SizeGB: 1}) },
		"id with dot":    func() error { return d.Create(ctx, block.Volume{ID: "a.qcow2", SizeGB: 1}) },
		"id empty":       func() error { return d.Create(ctx, block.Volume{SizeGB: 1}) },
		"id option":      func() error { return d.Create(ctx, block.Volume{ID: "-f", SizeGB: 1}) },
		"unknown format": func() error { return d.Create(ctx, block.Volume{ID: "v", SizeGB: 1, Format: "vmdk"}) },
		"extend to zero": func() error { return d.Extend(ctx, block.Volume{ID: "v"}, 0) },
		"image format": func() error {
			return d.CreateFromImage(ctx, block.Volume{ID: "v", SizeGB: 1}, bytesImage("i", "qed", nil))
		},
		"image bad id":    func() error { return d.CreateFromImage(ctx, block.Volume{ID: "v/", SizeGB: 1}, img) },
		"snapshot bad id": func() error { return d.CreateSnapshot(ctx, block.Snapshot{ID: "s s"}, block.Volume{ID: "v"}) },
		"from snapshot id": func() error {
			return d.CreateFromSnapshot(ctx, block.Volume{ID: "v", SizeGB: 1}, block.Snapshot{ID: ""})
		},
		"clone bad source":  func() error { return d.Clone(ctx, block.Volume{ID: "v", SizeGB: 1}, block.Volume{ID: "..", SizeGB: 1}) },
		"delete bad id":     func() error { return d.Delete(ctx, block.Volume{ID: "*"}) },
		"delete snap id":    func() error { return d.DeleteSnapshot(ctx, block.Snapshot{ID: "a/b"}) },
		"import bad format": func() error { return d.Import(ctx, block.Volume{ID: "v", Format: "qcow"}, strings.NewReader("")) },
		"export format": func() error {
			_, err := d.Export(ctx, block.Volume{ID: "v"}, "vmdk")
			return err
		},
	} {
		if err := call(); !errors.Is(err, block.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if cmds := rec.Commands(); len(cmds) != 0 {
		t.Errorf("commands ran for bad input: %q", cmds)
	}
	if names := listDir(t, d.Dir()); len(names) != 0 {
		t.Errorf("files appeared for bad input: %q", names)
	}
}

func TestMissing(t *testing.T) {
	d, run := newTestDriver(t)
	ctx := t.Context()
	vol := block.Volume{ID: "gone", SizeGB: 1}
	for name, call := range map[string]func() error{
		"extend":   func() error { return d.Extend(ctx, vol, 2) },
		"snapshot": func() error { return d.CreateSnapshot(ctx, block.Snapshot{ID: "s"}, vol) },
		"from snapshot": func() error {
			return d.CreateFromSnapshot(ctx, block.Volume{ID: "n", SizeGB: 1}, block.Snapshot{ID: "gone"})
		},
		"clone":  func() error { return d.Clone(ctx, block.Volume{ID: "n", SizeGB: 1}, vol) },
		"import": func() error { return d.Import(ctx, vol, strings.NewReader("x")) },
		"connection": func() error {
			_, err := d.Connection(ctx, vol)
			return err
		},
		"export": func() error {
			_, err := d.Export(ctx, vol, "raw")
			return err
		},
		"export qcow2": func() error {
			_, err := d.Export(ctx, vol, "qcow2")
			return err
		},
	} {
		if err := call(); !errors.Is(err, block.ErrNotFound) {
			t.Errorf("%s: err = %v, want ErrNotFound", name, err)
		}
	}
	// Deleting what is not there succeeds.
	if err := d.Delete(ctx, vol); err != nil {
		t.Errorf("delete missing volume: %v", err)
	}
	if err := d.DeleteSnapshot(ctx, block.Snapshot{ID: "gone"}); err != nil {
		t.Errorf("delete missing snapshot: %v", err)
	}
	if cmds := run.commands(); len(cmds) != 0 {
		t.Errorf("commands ran for missing volumes: %q", cmds)
	}
	if names := listDir(t, d.Dir()); len(names) != 0 {
		t.Errorf("files left: %q", names)
	}
}

func TestExtendDeleteConnection(t *testing.T) {
	d, _ := newTestDriver(t)
	ctx := t.Context()
	for _, format := range []string{"qcow2", "raw"} {
		t.Run(format, func(t *testing.T) {
			vol := block.Volume{ID: "v-" + format, SizeGB: 1, Format: format}
			if err := d.Create(ctx, vol); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(d.Dir(), "volume-"+vol.ID+"."+format)
			for range 2 { // idempotent
				if err := d.Extend(ctx, vol, 3); err != nil {
					t.Fatalf("extend: %v", err)
				}
			}
			if got := imgInfo(t, path, format).VirtualSize; got != 3*gib {
				t.Errorf("after extend: virtual size %d, want 3 GiB", got)
			}
			if err := d.Extend(ctx, vol, 2); !errors.Is(err, block.ErrInvalid) || !strings.Contains(err.Error(), "shrink") {
				t.Errorf("shrink: err = %v, want ErrInvalid about shrinking", err)
			}
			if got := imgInfo(t, path, format).VirtualSize; got != 3*gib {
				t.Errorf("after refused shrink: virtual size %d, want 3 GiB", got)
			}
			conn, err := d.Connection(ctx, vol)
			if err != nil {
				t.Fatal(err)
			}
			want := block.Connection{DriverVolumeType: "file", Data: map[string]any{
				"path": path, "format": format, "name": "volume-" + vol.ID, "access_mode": "rw"}}
			if diff := cmp.Diff(want, conn); diff != "" {
				t.Errorf("connection (-want +got):\n%s", diff)
			}
			for range 2 {
				if err := d.Delete(ctx, vol); err != nil {
					t.Fatalf("delete: %v", err)
				}
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("volume file still there after delete: %v", err)
			}
		})
	}
}

func TestLeftoversCleaned(t *testing.T) {
	requireQemuImg(t)
	dir := t.TempDir()
	keep := map[string]string{
		"volume-a.qcow2":      "volume",
		"volume-b.raw":        "volume",
		"snapshot-c.qcow2":    "snapshot",
		"notes.txt":           "a user's file",
		"volume-d.qcow2.bak":  "unknown",
		"tmp-volume-e.qcow2":  "not our prefix",
		".tmpvolume-f.qcow2":  "not our prefix",
		".tmp-dir/inside.txt": "a directory named like a temporary is not removed",
	}
	leftovers := []string{
		".tmp-volume-x.qcow2", ".tmp-image-volume-x.qcow2", ".tmp-export-3-volume-y.raw",
		".tmp-import-volume-z.raw", ".tmp-snapshot-s.qcow2",
	}
	for name := range keep {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range append(leftovers, mapKeys(keep)...) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("data"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	d, err := New(Config{Dir: dir, Runner: &platform.Exec{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range leftovers {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("leftover %s not removed (%v)", name, err)
		}
	}
	for name, what := range keep {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s (%s) was removed: %v", name, what, err)
		}
	}
	vols, snaps, err := d.Inventory(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, vols); diff != "" {
		t.Errorf("volumes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"c"}, snaps); diff != "" {
		t.Errorf("snapshots (-want +got):\n%s", diff)
	}
}

func mapKeys(m map[string]string) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

func TestNewConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no dir":           {Runner: &platform.Recorder{}},
		"no runner":        {Dir: t.TempDir()},
		"reserve negative": {Dir: t.TempDir(), Runner: &platform.Recorder{}, ReservedPercentage: -1},
		"reserve over 100": {Dir: t.TempDir(), Runner: &platform.Recorder{}, ReservedPercentage: 101},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

func TestReservedSpace(t *testing.T) {
	requireQemuImg(t)
	// With the whole filesystem reserved, operations that need space are refused with
	// ErrNoSpace and leave nothing behind.
	rec := &platform.Recorder{}
	d, err := New(Config{Dir: t.TempDir(), Runner: rec, ReservedPercentage: 100})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := d.Create(ctx, block.Volume{ID: "v", SizeGB: 1}); !errors.Is(err, block.ErrNoSpace) {
		t.Errorf("create: err = %v, want ErrNoSpace", err)
	}
	if err := d.CreateFromImage(ctx, block.Volume{ID: "v", SizeGB: 1}, bytesImage("i", "raw", make([]byte, 1024))); !errors.Is(err, block.ErrNoSpace) {
		t.Errorf("create from image: err = %v, want ErrNoSpace", err)
	}
	capa, err := d.Capacity(ctx)
	if err != nil || capa.ReservedPercentage != 100 {
		t.Errorf("capacity %+v, %v: want reserved 100", capa, err)
	}
	if names := listDir(t, d.Dir()); len(names) != 0 || len(rec.Commands()) != 0 {
		t.Errorf("files %q, commands %q after refusals", names, rec.Commands())
	}
}
