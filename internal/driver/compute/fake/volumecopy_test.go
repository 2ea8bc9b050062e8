package fake

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	compute "github.com/gostack/gostack/internal/driver/compute"
)

func TestCopyVolume(t *testing.T) {
	d, err := New(Config{Host: "h1", StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	dir := t.TempDir()
	src := filepath.Join(dir, "volume.qcow2")
	if err := os.WriteFile(src, []byte("volume data"), 0o600); err != nil {
		t.Fatal(err)
	}
	conn := map[string]any{"data": map[string]any{"path": src, "format": "qcow2"}}
	inst := &compute.Instance{UUID: "c0a80001-0000-4000-8000-000000000001", Name: "instance-00000001"}
	failing := &compute.Instance{UUID: "c0a80001-0000-4000-8000-000000000002", Name: "instance-00000002",
		Metadata: map[string]string{"fake:fail": "copy_volume"}}
	if err := d.CopyVolume(ctx, inst, "/dev/vdb", conn, filepath.Join(dir, "a"), "qcow2"); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("copy for a missing guest: %v", err)
	}
	for _, i := range []*compute.Instance{inst, failing} {
		if err := d.Spawn(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	dest := filepath.Join(dir, "copy.qcow2")
	if err := d.CopyVolume(ctx, inst, "/dev/vdb", conn, dest, "qcow2"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(dest); err != nil || string(b) != "volume data" {
		t.Fatalf("copy holds %q (%v)", b, err)
	}
	if got := d.VolumeCopies(); len(got) != 1 || got[0].Dest != dest || got[0].Device != "/dev/vdb" || got[0].Source != src {
		t.Fatalf("copies = %+v", got)
	}
	cases := []struct {
		name string
		inst *compute.Instance
		conn map[string]any
		fmt  string
		want error
	}{
		{"scripted failure", failing, conn, "qcow2", ErrScripted},
		{"unreadable source", inst, map[string]any{"data": map[string]any{"path": "/fake/volumes/x", "format": "qcow2"}}, "qcow2", compute.ErrNotSupported},
		{"other format", inst, conn, "raw", compute.ErrNotSupported},
	}
	for _, c := range cases {
		out := filepath.Join(dir, "out-"+c.fmt)
		if err := d.CopyVolume(ctx, c.inst, "/dev/vdb", c.conn, out, c.fmt); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: left a file", c.name)
		}
	}
	if err := d.PowerOff(ctx, inst, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.CopyVolume(ctx, inst, "/dev/vdb", conn, filepath.Join(dir, "b"), "qcow2"); !errors.Is(err, compute.ErrNotRunning) {
		t.Fatalf("copy for a stopped guest: %v", err)
	}
}
