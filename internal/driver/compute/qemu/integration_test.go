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
	deadline := time.Now().Add(within)
	for {
		out, err := d.ConsoleOutput(t.Context(), inst, 0)
		if err == nil && strings.Contains(out, want) {
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
	head := make([]byte, 4)
	if _, err := io.ReadFull(snap.Data, head); err != nil || string(head) != "QFI\xfb" {
		t.Fatalf("snapshot is not qcow2: %q %v", head, err)
	}
	snap.Data.Close()
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
