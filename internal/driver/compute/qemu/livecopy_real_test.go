package qemu

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/driver/block"
	"github.com/gostack/gostack/internal/driver/block/file"
	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/platform"
)

// TestRealGuestCopyVolume copies a volume attached to a running guest with QEMU's
// backup job: the copy equals the volume while the guest still runs, later writes do
// not reach it, a cancelled copy leaves no file, job or node behind, and a stopped
// guest answers ErrNotRunning.
func TestRealGuestCopyVolume(t *testing.T) {
	img := testImage(t)
	d, err := New(Config{DataDir: t.TempDir(), Runner: &platform.Exec{}, Accel: "tcg"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	inst := &computedriver.Instance{UUID: "7a2be6c5-7d2d-4f58-8b9f-1b6f4f1d3c44", Name: "instance-00000004",
		DisplayName: "copy", Hostname: "copy", Flavor: computedriver.Flavor{Name: "m1.tiny", VCPUs: 1, MemoryMB: 192},
		Image: fileImage("e0c7c7a4-1111-4222-8333-944444444447", img)}
	t.Cleanup(func() { _ = d.Destroy(context.Background(), inst) })
	if err := d.Spawn(ctx, inst); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v %s", name, args, err, out)
		}
		return string(out)
	}
	// 24 MiB of known, non-repeating data with a hole, as a qcow2 volume.
	raw := filepath.Join(dir, "data.raw")
	data := make([]byte, 32<<20)
	for i := 0; i < 24<<20; i += 8 {
		copy(data[i:], []byte{byte(i), byte(i >> 8), byte(i >> 16), 0x5a, byte(i >> 3), 0xa5, byte(i >> 11), 0x3c})
	}
	if err := os.WriteFile(raw, data, 0o600); err != nil {
		t.Fatal(err)
	}
	vol := filepath.Join(dir, "volume.qcow2")
	run("qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, vol)
	conn := map[string]any{"driver_volume_type": "file", "data": map[string]any{"path": vol, "format": "qcow2"}}
	if err := d.AttachVolume(ctx, inst, "/dev/vdb", conn); err != nil {
		t.Fatal(err)
	}

	for _, format := range []string{"qcow2", "raw"} {
		dest := filepath.Join(dir, "copy."+format)
		step := time.Now()
		if err := d.CopyVolume(ctx, inst, "/dev/vdb", conn, dest, format); err != nil {
			t.Fatalf("copy to %s: %v", format, err)
		}
		t.Logf("live copy of a 32 MiB volume (24 MiB data) to %s took %s", format, time.Since(step))
		if d.pid(inst.UUID) == 0 {
			t.Fatal("the guest stopped")
		}
		// -U: the running guest holds the volume's lock.
		run("qemu-img", "compare", "-U", "-q", "-f", "qcow2", "-F", format, vol, dest)
		if info := run("qemu-img", "info", dest); !strings.Contains(info, "file format: "+format) {
			t.Fatalf("copy is not %s: %s", format, info)
		}
	}

	// A write the guest's device takes after the copy reaches the volume, not the copy.
	g, err := d.loadExisting(inst.UUID)
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := d.execute(ctx, g, "human-monitor-command", map[string]any{
		"command-line": `qemu-io -d virtio-vdb "write -P 0xee 0 1M"`}, &out); err != nil {
		t.Fatalf("write through the monitor: %v", err)
	}
	if cmp := exec.CommandContext(ctx, "qemu-img", "compare", "-U", "-q", "-f", "qcow2", "-F", "qcow2", vol,
		filepath.Join(dir, "copy.qcow2")); cmp.Run() == nil {
		t.Fatalf("the copy changed with the volume (monitor said %q)", out)
	}
	exported := filepath.Join(dir, "copy-back.raw")
	run("qemu-img", "convert", "-q", "-f", "qcow2", "-O", "raw", filepath.Join(dir, "copy.qcow2"), exported)
	if b, err := os.ReadFile(exported); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("the copy does not hold the original data (%v)", err)
	}

	// Point in time: writes the guest's device takes while a (slowed down) copy runs do
	// not reach the copy, whose data stays as when it started.
	d.copySpeed = 8 << 20
	before := filepath.Join(dir, "before.raw")
	run("qemu-img", "convert", "-U", "-q", "-f", "qcow2", "-O", "raw", vol, before)
	want, err := os.ReadFile(before)
	if err != nil {
		t.Fatal(err)
	}
	during := filepath.Join(dir, "during.qcow2")
	copied := make(chan error, 1)
	go func() { copied <- d.CopyVolume(ctx, inst, "/dev/vdb", conn, during, "qcow2") }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var jobs []jobInfo
		if err := d.execute(ctx, g, "query-jobs", nil, &jobs); err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 1 && jobs[0].Status == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the copy job did not start: %+v", jobs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, off := range []string{"2M", "20M", "30M"} {
		if err := d.execute(ctx, g, "human-monitor-command", map[string]any{
			"command-line": `qemu-io -d virtio-vdb "write -P 0x77 ` + off + ` 512k"`}, &out); err != nil || strings.Contains(out, "rror") {
			t.Fatalf("write during the copy: %v %q", err, out)
		}
	}
	if err := <-copied; err != nil {
		t.Fatalf("copy during writes: %v", err)
	}
	d.copySpeed = 0
	run("qemu-img", "convert", "-q", "-f", "qcow2", "-O", "raw", during, exported)
	if b, err := os.ReadFile(exported); err != nil || !bytes.Equal(b, want) {
		t.Fatalf("the copy taken during writes is not the data as of its start (%v)", err)
	}
	if cmp := exec.CommandContext(ctx, "qemu-img", "compare", "-U", "-q", "-f", "qcow2", "-F", "qcow2", vol, during); cmp.Run() == nil {
		t.Fatal("the writes made during the copy did not reach the volume")
	}

	// A copy whose context ends midway (slowed down to 1 MiB/s) leaves nothing behind.
	d.copySpeed = 1 << 20
	cctx, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
	dest := filepath.Join(dir, "cancelled.qcow2")
	step := time.Now()
	err = d.CopyVolume(cctx, inst, "/dev/vdb", conn, dest, "qcow2")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled copy: %v", err)
	}
	t.Logf("cancelled copy returned after %s", time.Since(step))
	d.copySpeed = 0
	if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a cancelled copy left its file: %v", err)
	}
	var jobs []jobInfo
	if err := d.execute(ctx, g, "query-jobs", nil, &jobs); err != nil || len(jobs) != 0 {
		t.Fatalf("jobs after a cancelled copy: %+v %v", jobs, err)
	}
	var nodes []struct {
		NodeName string `json:"node-name"`
	}
	if err := d.execute(ctx, g, "query-named-block-nodes", map[string]any{"flat": true}, &nodes); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if strings.HasPrefix(n.NodeName, livecopyPrefix) {
			t.Fatalf("a cancelled copy left node %s", n.NodeName)
		}
	}
	// The volume is still usable for the next copy.
	if err := d.CopyVolume(ctx, inst, "/dev/vdb", conn, filepath.Join(dir, "again.qcow2"), "qcow2"); err != nil {
		t.Fatalf("copy after a cancelled one: %v", err)
	}

	// With the file backend, as the volume service does it: the backend picks the
	// temporary path and publishes the snapshot the guest's QEMU copied.
	fd, err := file.New(file.Config{Dir: filepath.Join(dir, "volumes"), Runner: &platform.Exec{}})
	if err != nil {
		t.Fatal(err)
	}
	bv := block.Volume{ID: "v2", SizeGB: 1}
	if err := fd.Create(ctx, bv); err != nil {
		t.Fatal(err)
	}
	bc, err := fd.Connection(ctx, bv)
	if err != nil {
		t.Fatal(err)
	}
	conn2 := map[string]any{"driver_volume_type": bc.DriverVolumeType, "data": bc.Data}
	if err := d.AttachVolume(ctx, inst, "/dev/vdc", conn2); err != nil {
		t.Fatal(err)
	}
	if err := d.execute(ctx, g, "human-monitor-command", map[string]any{
		"command-line": `qemu-io -d virtio-vdc "write -P 0x42 1M 3M"`}, &out); err != nil || strings.Contains(out, "rror") {
		t.Fatalf("write to the file backend's volume: %v %q", err, out)
	}
	step = time.Now()
	err = fd.CreateSnapshotWith(ctx, block.Snapshot{ID: "s1", VolumeID: "v2", SizeGB: 1}, bv,
		func(ctx context.Context, tmp, format string) error {
			return d.CopyVolume(ctx, inst, "/dev/vdc", conn2, tmp, format)
		})
	if err != nil {
		t.Fatalf("snapshot through the file backend: %v", err)
	}
	t.Logf("snapshot of an in-use 1 GiB file-backend volume took %s", time.Since(step))
	// The guest's writes are in QEMU's caches until flushed: the snapshot has them.
	snapRaw := filepath.Join(dir, "snapshot-s1.raw")
	run("qemu-img", "convert", "-q", "-f", "qcow2", "-O", "raw", filepath.Join(dir, "volumes", "snapshot-s1.qcow2"), snapRaw)
	sb, err := os.ReadFile(snapRaw)
	if err != nil || len(sb) != 1<<30 {
		t.Fatalf("snapshot: %d bytes, %v", len(sb), err)
	}
	if !bytes.Equal(sb[1<<20:4<<20], bytes.Repeat([]byte{0x42}, 3<<20)) || slices.ContainsFunc(sb[:1<<20], func(b byte) bool { return b != 0 }) ||
		slices.ContainsFunc(sb[4<<20:], func(b byte) bool { return b != 0 }) {
		t.Fatal("the snapshot does not hold what the guest wrote")
	}
	if err := d.execute(ctx, g, "human-monitor-command", map[string]any{
		"command-line": `qemu-io -d virtio-vdc "flush"`}, &out); err != nil || strings.Contains(out, "rror") {
		t.Fatalf("flush: %v %q", err, out)
	}
	run("qemu-img", "compare", "-U", "-q", "-f", "qcow2", "-F", "qcow2", bc.Data["path"].(string),
		filepath.Join(dir, "volumes", "snapshot-s1.qcow2"))

	if err := d.PowerOff(ctx, inst, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.CopyVolume(ctx, inst, "/dev/vdb", conn, filepath.Join(dir, "stopped.qcow2"), "qcow2"); !errors.Is(err, computedriver.ErrNotRunning) {
		t.Fatalf("copy on a stopped guest: %v, want ErrNotRunning", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "stopped.qcow2")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a copy of a stopped guest made a file: %v", err)
	}
}
