package qemu

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/platform"
)

// testImage returns the test guest's qcow2 (images/testvm/build.sh), skipping the test
// when QEMU or the image are not available here.
func testImage(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("boots a real guest; skipped with -short")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 is not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (tap devices, the image cache of images/testvm)")
	}
	script, _ := filepath.Abs("../../../../images/testvm/build.sh")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, script).Output()
	if err != nil {
		t.Skipf("the test guest image cannot be built here: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// fileImage is an image whose bytes come from a local file.
func fileImage(id, path string) *computedriver.Image {
	return &computedriver.Image{ID: id, DiskFormat: "qcow2", ContainerFormat: "bare",
		Open: func(context.Context) (io.ReadCloser, error) { return os.Open(path) }}
}

// waitConsole waits until the guest's console contains want.
func waitConsole(t *testing.T, d *Driver, inst *computedriver.Instance, want string, within time.Duration) string {
	t.Helper()
	return waitConsoleN(t, d, inst, want, 1, within)
}

// waitConsoleN waits until the guest's console contains want n times.
func waitConsoleN(t *testing.T, d *Driver, inst *computedriver.Instance, want string, n int, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out, err := d.ConsoleOutput(t.Context(), inst, 0)
		if err == nil && strings.Count(out, want) >= n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("console has no %q after %s:\n%s", want, within, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func TestRealGuestLifecycle(t *testing.T) {
	img := testImage(t)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	d, err := New(Config{DataDir: t.TempDir(), Runner: &platform.Exec{}, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	inst := &computedriver.Instance{UUID: "6f1ad5b4-6c1c-4f47-9a8e-0a5e3f0c2b11", Name: "instance-00000001",
		DisplayName: "itest", Hostname: "itest", Flavor: computedriver.Flavor{Name: "m1.tiny", VCPUs: 1, MemoryMB: 192, RootGB: 1},
		Image: fileImage("e0c7c7a4-1111-4222-8333-944444444444", img), KeyName: "k", KeyData: "ssh-ed25519 AAAAC3Nza test",
		UserData: []byte("#!/bin/sh\necho user-data-ran-$((6*7))\n")}
	t.Cleanup(func() { _ = d.Destroy(context.Background(), inst) })
	start := time.Now()
	if err := d.Spawn(ctx, inst); err != nil {
		t.Fatal(err)
	}
	t.Logf("spawn returned after %s", time.Since(start))
	info, err := d.Info(ctx, inst)
	if err != nil || info.State != computedriver.Running {
		t.Fatalf("info = %+v, %v", info, err)
	}
	out := waitConsole(t, d, inst, "testvm itest.novalocal up", 90*time.Second)
	t.Logf("banner after %s", time.Since(start))
	if !strings.Contains(out, "user-data-ran-42") {
		t.Fatalf("user data did not run:\n%s", out)
	}
	// Spawn again is a no-op on the running guest.
	pid := d.pid(inst.UUID)
	if err := d.Spawn(ctx, inst); err != nil || d.pid(inst.UUID) != pid {
		t.Fatalf("second spawn: %v, pid %d → %d", err, pid, d.pid(inst.UUID))
	}
	if err := d.Pause(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if info, _ := d.Info(ctx, inst); info.State != computedriver.Paused {
		t.Fatalf("after pause: %v", info.State)
	}
	if err := d.Unpause(ctx, inst); err != nil {
		t.Fatal(err)
	}
	snap, err := d.Snapshot(ctx, inst)
	if err != nil {
		t.Fatal(err)
	}
	// The snapshot (a block job's copy: the guest ran on) holds what the root disk holds.
	snapPath := filepath.Join(t.TempDir(), "snap.qcow2")
	sf, err := os.Create(snapPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(sf, snap.Data); err != nil {
		t.Fatal(err)
	}
	sf.Close()
	snap.Data.Close()
	if out, err := exec.Command("qemu-img", "compare", "-U", "-f", "qcow2", "-F", "qcow2", snapPath,
		d.path(inst.UUID, "disk")).CombinedOutput(); err != nil {
		t.Fatalf("snapshot differs from the root disk: %v: %s", err, out)
	}
	if info, _ := d.Info(ctx, inst); info.State != computedriver.Running {
		t.Fatalf("after snapshot: %v", info.State)
	}
	if err := d.Suspend(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if info, _ := d.Info(ctx, inst); info.State != computedriver.Suspended || d.pid(inst.UUID) != 0 {
		t.Fatalf("after suspend: %v pid %d", info.State, d.pid(inst.UUID))
	}
	if err := d.Resume(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if info, _ := d.Info(ctx, inst); info.State != computedriver.Running {
		t.Fatalf("after resume: %v", info.State)
	}
	if exists(d.path(inst.UUID, "state.save")) {
		t.Fatal("saved state left after resume")
	}
	t0 := time.Now()
	if err := d.PowerOff(ctx, inst, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("ACPI power off took %s", time.Since(t0))
	if info, _ := d.Info(ctx, inst); info.State != computedriver.Shutdown || d.pid(inst.UUID) != 0 {
		t.Fatalf("after power off: %v", info.State)
	}
	if err := d.PowerOn(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if err := d.Reboot(ctx, inst, true); err != nil {
		t.Fatal(err)
	}
	if info, _ := d.Info(ctx, inst); info.State != computedriver.Running {
		t.Fatalf("after hard reboot: %v", info.State)
	}
	// A second driver (gostack restarted) adopts the running guest.
	d2, err := New(Config{DataDir: d.cfg.DataDir, Runner: &platform.Exec{}, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if info, err := d2.Info(ctx, inst); err != nil || info.State != computedriver.Running {
		t.Fatalf("adopted: %+v %v", info, err)
	}
	if err := d2.Destroy(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if exists(d.instanceDir(inst.UUID)) {
		t.Fatal("instance directory left after destroy")
	}
	if _, err := d2.Info(ctx, inst); err != computedriver.ErrNotFound {
		t.Fatalf("info after destroy: %v", err)
	}
	if !exists(d.images.basePath(inst.Image.ID)) {
		t.Fatal("the image cache lost the base image")
	}
}

func TestRealGuestHotplugRescueResize(t *testing.T) {
	img := testImage(t)
	// The probe of every accelerator is TestRealGuestLifecycle's; TCG boots guests anywhere.
	d, err := New(Config{DataDir: t.TempDir(), Runner: &platform.Exec{}, Accel: "tcg"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	inst := &computedriver.Instance{UUID: "6f1ad5b4-6c1c-4f47-9a8e-0a5e3f0c2b22", Name: "instance-00000002",
		DisplayName: "hp", Hostname: "hp", Flavor: computedriver.Flavor{Name: "m1.tiny", VCPUs: 1, MemoryMB: 192},
		Image: fileImage("e0c7c7a4-1111-4222-8333-944444444445", img)}
	t.Cleanup(func() { _ = d.Destroy(context.Background(), inst) })
	if err := d.Spawn(ctx, inst); err != nil {
		t.Fatal(err)
	}
	waitConsole(t, d, inst, "testvm hp.novalocal up", 90*time.Second)
	g, _ := d.loadExisting(inst.UUID)
	step := time.Now()

	vol := filepath.Join(t.TempDir(), "volume.raw")
	if err := os.WriteFile(vol, make([]byte, 8<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	conn := map[string]any{"path": vol, "format": "raw"}
	if err := d.AttachVolume(ctx, inst, "/dev/vdb", conn); err != nil {
		t.Fatal(err)
	}
	if err := d.AttachVolume(ctx, inst, "/dev/vdb", conn); err != nil {
		t.Fatalf("second attach: %v", err)
	}
	if !d.hasDevice(ctx, g, "virtio-vdb") {
		t.Fatal("volume device missing after attach")
	}
	step = time.Now()
	if err := d.DetachVolume(ctx, inst, "/dev/vdb"); err != nil {
		t.Fatal(err)
	}
	if d.hasDevice(ctx, g, "virtio-vdb") {
		t.Fatal("volume device left after detach")
	}

	t.Logf("volume detach took %s", time.Since(step))
	step = time.Now()
	nic := computedriver.NIC{PortID: "9a8b7c6d-1111-4222-8333-944444444446", MACAddress: "fa:16:3e:aa:bb:cc", MTU: 1400}
	if err := d.AttachInterface(ctx, inst, nic); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/sys/class/net/tap9a8b7c6d-11"); err != nil {
		t.Fatalf("tap: %v", err)
	}
	if !d.hasDevice(ctx, g, "net-tap9a8b7c6d-11") {
		t.Fatal("NIC missing after attach")
	}
	if err := d.DetachInterface(ctx, inst, nic); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/sys/class/net/tap9a8b7c6d-11"); err == nil {
		t.Fatal("tap left after detach")
	}

	t.Logf("interface attach and detach took %s", time.Since(step))
	if err := d.Rescue(ctx, inst, nil); err != nil {
		t.Fatal(err)
	}
	if g, _ := d.loadExisting(inst.UUID); !g.Rescue || g.Disks[0].ID != "virtio-disk-rescue" || g.Disks[1].BootIndex != 2 {
		t.Fatalf("rescued guest = %+v", g)
	}
	out, _ := d.ConsoleOutput(ctx, inst, 0)
	banners := strings.Count(out, "testvm hp.novalocal up")
	if err := d.Unrescue(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if g, _ := d.loadExisting(inst.UUID); g.Rescue || g.Disks[0].ID != "virtio-disk0" || exists(d.path(inst.UUID, "disk.rescue")) {
		t.Fatalf("unrescued guest = %+v", g)
	}

	// Resize powers the guest off with ACPI: it must have booted to handle it in time.
	waitConsoleN(t, d, inst, "testvm hp.novalocal up", banners+1, 90*time.Second)
	step = time.Now()
	to := computedriver.Flavor{Name: "m1.small", VCPUs: 2, MemoryMB: 256, RootGB: 1, EphemeralGB: 1}
	if err := d.Resize(ctx, inst, to); err != nil {
		t.Fatal(err)
	}
	if info, _ := d.Info(ctx, inst); info.VCPUs != 2 || info.MemoryMB != 256 || info.State != computedriver.Running {
		t.Fatalf("resized: %+v", info)
	}
	if size, _ := d.virtualSize(ctx, d.path(inst.UUID, "disk"), "qcow2"); size != 1<<30 {
		t.Fatalf("root disk is %d bytes after resize", size)
	}
	t.Logf("resize took %s", time.Since(step))
	if err := d.RevertResize(ctx, inst, inst.Flavor); err != nil {
		t.Fatal(err)
	}
	if err := d.PowerOn(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if info, _ := d.Info(ctx, inst); info.VCPUs != 1 || info.MemoryMB != 192 || exists(d.path(inst.UUID, "disk.eph0")) {
		t.Fatalf("reverted: %+v", info)
	}
	if size, _ := d.virtualSize(ctx, d.path(inst.UUID, "disk"), "qcow2"); size != 64<<20 {
		t.Fatalf("root disk is %d bytes after revert", size)
	}
	if err := d.Resize(ctx, inst, to); err != nil {
		t.Fatal(err)
	}
	if err := d.ConfirmResize(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if exists(d.path(inst.UUID, resizeDir)) || !exists(d.path(inst.UUID, "disk.eph0")) {
		t.Fatal("confirm kept the old disks or lost the new ones")
	}
	if err := d.TriggerCrashDump(ctx, inst); err != nil {
		t.Fatal(err)
	}
	diag, err := d.Diagnostics(ctx, inst)
	if err != nil || diag.State != "running" || diag.NumCPUs != 2 || len(diag.DiskDetails) == 0 {
		t.Fatalf("diagnostics = %+v, %v", diag, err)
	}
	inst.Flavor = to
	pid := d.pid(inst.UUID)
	if err := d.Rebuild(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if info, _ := d.Info(ctx, inst); info.State != computedriver.Running || d.pid(inst.UUID) == pid {
		t.Fatalf("rebuilt: %+v (pid %d → %d)", info, pid, d.pid(inst.UUID))
	}
}

// TestRealGuestExtendVolume grows the volumes of a real guest as the volume-extended
// event does: a hot-plugged one and, after a restart, the same one from the command
// line; a stopped guest is left alone (the volume service grows the file then).
func TestRealGuestExtendVolume(t *testing.T) {
	img := testImage(t)
	d, err := New(Config{DataDir: t.TempDir(), Runner: &platform.Exec{}, Accel: "tcg"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	inst := &computedriver.Instance{UUID: "6f1ad5b4-6c1c-4f47-9a8e-0a5e3f0c2b33", Name: "instance-00000003",
		DisplayName: "ext", Hostname: "ext", Flavor: computedriver.Flavor{Name: "m1.tiny", VCPUs: 1, MemoryMB: 192},
		Image: fileImage("e0c7c7a4-1111-4222-8333-944444444446", img)}
	t.Cleanup(func() { _ = d.Destroy(context.Background(), inst) })
	if err := d.Spawn(ctx, inst); err != nil {
		t.Fatal(err)
	}
	vol := filepath.Join(t.TempDir(), "volume.qcow2")
	if out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", vol, "8M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v %s", err, out)
	}
	conn := map[string]any{"driver_volume_type": "file", "data": map[string]any{"path": vol, "format": "qcow2"}}
	if err := d.AttachVolume(ctx, inst, "/dev/vdb", conn); err != nil {
		t.Fatal(err)
	}
	// fileSize is the volume's size as qemu-img sees it (-U: the guest holds the lock).
	fileSize := func() int64 {
		t.Helper()
		size, err := d.virtualSize(ctx, vol, "qcow2")
		if err != nil {
			t.Fatal(err)
		}
		return size
	}
	// guestSize is the size the running guest's block node has.
	guestSize := func() int64 {
		t.Helper()
		g, err := d.loadExisting(inst.UUID)
		if err != nil {
			t.Fatal(err)
		}
		var blocks []blockInfo
		if err := d.execute(ctx, g, "query-block", nil, &blocks); err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks {
			// A hot-plugged volume is a SCSI disk (qdev is its id), one from the command
			// line after a restart a virtio-blk device (qdev is its QOM path).
			if b.Inserted != nil && (b.QDev == "virtio-vdb" || strings.HasPrefix(b.QDev, "/machine/peripheral/virtio-vdb/")) {
				return b.Inserted.Image.VirtualSize
			}
		}
		t.Fatalf("the guest has no vdb: %+v", blocks)
		return 0
	}
	step := time.Now()
	if err := d.ExtendVolume(ctx, inst, "/dev/vdb", conn, 16<<20); err != nil {
		t.Fatal(err)
	}
	if f, g := fileSize(), guestSize(); f != 16<<20 || g != 16<<20 {
		t.Fatalf("hot-plugged volume after extend: file %d, guest %d bytes", f, g)
	}
	t.Logf("extend of a hot-plugged volume took %s", time.Since(step))
	if err := d.ExtendVolume(ctx, inst, "/dev/vdb", conn, 8<<20); err != nil || fileSize() != 16<<20 {
		t.Fatalf("a smaller size shrank the volume: %v, %d bytes", err, fileSize())
	}

	if err := d.PowerOff(ctx, inst, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.ExtendVolume(ctx, inst, "/dev/vdb", conn, 24<<20); err != nil || fileSize() != 16<<20 {
		t.Fatalf("extend of a stopped guest's volume: %v, %d bytes", err, fileSize())
	}
	if err := d.PowerOn(ctx, inst); err != nil {
		t.Fatal(err)
	}
	step = time.Now()
	if err := d.ExtendVolume(ctx, inst, "/dev/vdb", conn, 24<<20); err != nil {
		t.Fatal(err)
	}
	if f, g := fileSize(), guestSize(); f != 24<<20 || g != 24<<20 {
		t.Fatalf("command-line volume after extend: file %d, guest %d bytes", f, g)
	}
	t.Logf("extend of a command-line volume took %s", time.Since(step))
}
