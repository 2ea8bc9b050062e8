package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gostack/gostack/internal/driver/block"
)

// produceWith returns a block.Produce that makes a copy of src (a qcow2 or raw image)
// at the path it is given with qemu-img, as a hypervisor's block job would, and
// records the paths and formats it was asked for.
func produceWith(t *testing.T, src, srcFormat string, asked *[]string) block.Produce {
	return func(ctx context.Context, tmp, format string) error {
		*asked = append(*asked, filepath.Base(tmp)+" "+format)
		qemuImg(t, "convert", "-q", "-f", srcFormat, "-O", format, src, tmp)
		return nil
	}
}

func TestCreateSnapshotWith(t *testing.T) {
	d, _ := newTestDriver(t)
	ctx := t.Context()
	vol := block.Volume{ID: "v1", SizeGB: 1, Format: block.FormatRaw}
	if err := d.Create(ctx, vol); err != nil {
		t.Fatal(err)
	}
	// The "point-in-time" data differs from the volume's, so the snapshot shows whose
	// copy it is.
	pit := content{size: 1 << 30, extents: map[int64][]byte{0: pattern(7, 4096), 512 << 20: pattern(8, 65536)}}
	src := filepath.Join(t.TempDir(), "pit.raw")
	pit.writeTo(t, src)
	var asked []string
	snap := block.Snapshot{ID: "s1", VolumeID: "v1", SizeGB: 1}
	if err := d.CreateSnapshotWith(ctx, snap, vol, produceWith(t, src, "raw", &asked)); err != nil {
		t.Fatal(err)
	}
	if want := []string{tmpPrefix + "snapshot-s1.qcow2 qcow2"}; !slices.Equal(asked, want) {
		t.Fatalf("produce asked for %v, want %v", asked, want)
	}
	if info := imgInfo(t, filepath.Join(d.Dir(), "snapshot-s1.qcow2"), "qcow2"); info.VirtualSize != 1<<30 {
		t.Fatalf("snapshot: %+v", info)
	}
	restored := block.Volume{ID: "v2", SizeGB: 1, Format: block.FormatRaw}
	if err := d.CreateFromSnapshot(ctx, restored, snap); err != nil {
		t.Fatal(err)
	}
	rc, err := d.Export(ctx, restored, block.FormatRaw)
	if err != nil {
		t.Fatal(err)
	}
	pit.check(t, rc)
	rc.Close()
	// Idempotent: a snapshot that exists is not produced again.
	if err := d.CreateSnapshotWith(ctx, snap, vol, produceWith(t, src, "raw", &asked)); err != nil || len(asked) != 1 {
		t.Fatalf("again: %v, produce asked %d times", err, len(asked))
	}

	cases := []struct {
		name    string
		produce block.Produce
		want    string
		is      error
	}{
		{"produce fails", func(ctx context.Context, tmp, format string) error {
			_ = os.WriteFile(tmp, []byte("partial"), 0o600)
			return errors.New("the copy job failed")
		}, "the copy job failed", nil},
		{"produce writes no image", func(ctx context.Context, tmp, format string) error {
			return os.WriteFile(tmp, []byte("not an image"), 0o600)
		}, "check the copy", nil},
		{"produce writes nothing", func(ctx context.Context, tmp, format string) error { return nil }, "check the copy", nil},
		{"cancelled", func(ctx context.Context, tmp, format string) error { return context.Canceled }, "", context.Canceled},
	}
	for _, c := range cases {
		err := d.CreateSnapshotWith(ctx, block.Snapshot{ID: "s2", VolumeID: "v1", SizeGB: 1}, vol, c.produce)
		if err == nil || c.want != "" && !strings.Contains(err.Error(), c.want) || c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if got := listDir(t, d.Dir()); slices.ContainsFunc(got, func(n string) bool { return strings.Contains(n, "s2") }) {
			t.Errorf("%s: left %v", c.name, got)
		}
	}
	if err := d.CreateSnapshotWith(ctx, block.Snapshot{ID: "../x", SizeGB: 1}, vol, produceWith(t, src, "raw", &asked)); !errors.Is(err, block.ErrInvalid) {
		t.Fatalf("bad id: %v", err)
	}
	if err := d.CreateSnapshotWith(ctx, block.Snapshot{ID: "s3", SizeGB: 1}, block.Volume{ID: "gone", SizeGB: 1},
		produceWith(t, src, "raw", &asked)); !errors.Is(err, block.ErrNotFound) {
		t.Fatalf("missing volume: %v", err)
	}
}

func TestCreateVolumeWith(t *testing.T) {
	d, _ := newTestDriver(t)
	ctx := t.Context()
	src := block.Volume{ID: "v1", SizeGB: 1}
	if err := d.Create(ctx, src); err != nil {
		t.Fatal(err)
	}
	pit := content{size: 1 << 30, extents: map[int64][]byte{4096: pattern(9, 8192)}}
	raw := filepath.Join(t.TempDir(), "pit.raw")
	pit.writeTo(t, raw)
	var asked []string
	tmp := block.Volume{ID: "backup-b1", SizeGB: 1}
	if err := d.CreateVolumeWith(ctx, tmp, src, produceWith(t, raw, "raw", &asked)); err != nil {
		t.Fatal(err)
	}
	if want := []string{tmpPrefix + "volume-backup-b1.qcow2 qcow2"}; !slices.Equal(asked, want) {
		t.Fatalf("produce asked for %v, want %v", asked, want)
	}
	rc, err := d.Export(ctx, tmp, block.FormatRaw)
	if err != nil {
		t.Fatal(err)
	}
	pit.check(t, rc)
	rc.Close()
	if vols, _, err := d.Inventory(ctx); err != nil || !slices.Contains(vols, "backup-b1") {
		t.Fatalf("inventory %v %v", vols, err)
	}
	if err := d.Delete(ctx, tmp); err != nil {
		t.Fatal(err)
	}
	// A copy larger than the volume is refused and removed.
	big := filepath.Join(t.TempDir(), "big.raw")
	content{size: 2 << 30}.writeTo(t, big)
	if err := d.CreateVolumeWith(ctx, tmp, src, produceWith(t, big, "raw", &asked)); !errors.Is(err, block.ErrInvalid) {
		t.Fatalf("copy larger than the volume: %v", err)
	}
	if got := listDir(t, d.Dir()); slices.ContainsFunc(got, func(n string) bool { return strings.Contains(n, "backup-b1") }) {
		t.Fatalf("left %v", got)
	}
}
