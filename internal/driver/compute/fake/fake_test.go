package fake

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	compute "github.com/gostack/gostack/internal/driver/compute"
)

func inst(uuid string, meta map[string]string) *compute.Instance {
	opened := 0
	return &compute.Instance{UUID: uuid, Name: "instance-00000001", Hostname: "vm1", DisplayName: "vm1",
		Flavor: compute.Flavor{VCPUs: 1, MemoryMB: 512, RootGB: 1}, UserData: []byte("#!/bin/sh\necho hello"),
		Metadata: meta,
		Image: &compute.Image{ID: "img", Open: func(ctx context.Context) (io.ReadCloser, error) {
			opened++
			return io.NopCloser(strings.NewReader("bytes")), nil
		}}}
}

func TestLifecycleAndRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := New(Config{Host: "fake-host-1", StateDir: dir, VCPUs: 4})
	if err != nil {
		t.Fatal(err)
	}
	hi, _ := d.HostInfo(ctx)
	if hi.VCPUs != 4 || hi.MemoryMB != 32768 || hi.HypervisorType != "fake" {
		t.Fatalf("host info %+v", hi)
	}
	i := inst("u1", nil)
	for range 2 { // idempotent
		if err := d.Spawn(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	out, _ := d.ConsoleOutput(ctx, i, 0)
	for _, want := range []string{"Starting fake guest vm1", "cloud-init: echo hello", "vm1 login:"} {
		if !strings.Contains(out, want) {
			t.Fatalf("console lacks %q:\n%s", want, out)
		}
	}
	// Nova's tail: the last pieces of the log split on newlines.
	if tail, _ := d.ConsoleOutput(ctx, i, 2); tail != "vm1 login: \n" {
		t.Fatalf("tail %q", tail)
	}
	if tail, _ := d.ConsoleOutput(ctx, i, 3); len(strings.Split(tail, "\n")) != 3 {
		t.Fatalf("tail of 3 %q", tail)
	}
	steps := []struct {
		name string
		op   func() error
		want compute.PowerState
	}{
		{"pause", func() error { return d.Pause(ctx, i) }, compute.Paused},
		{"unpause", func() error { return d.Unpause(ctx, i) }, compute.Running},
		{"suspend", func() error { return d.Suspend(ctx, i) }, compute.Suspended},
		{"resume", func() error { return d.Resume(ctx, i) }, compute.Running},
		{"power off", func() error { return d.PowerOff(ctx, i, time.Second) }, compute.Shutdown},
		{"power off again", func() error { return d.PowerOff(ctx, i, 0) }, compute.Shutdown},
		{"hard reboot", func() error { return d.Reboot(ctx, i, true) }, compute.Running},
		{"soft reboot", func() error { return d.Reboot(ctx, i, false) }, compute.Running},
		{"rescue", func() error { return d.Rescue(ctx, i, nil) }, compute.Running},
		{"unrescue", func() error { return d.Unrescue(ctx, i) }, compute.Running},
		{"resize", func() error { return d.Resize(ctx, i, compute.Flavor{VCPUs: 2, MemoryMB: 1024}) }, compute.Running},
		{"crash dump", func() error { return d.TriggerCrashDump(ctx, i) }, compute.Running},
	}
	for _, s := range steps {
		if err := s.op(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if info, err := d.Info(ctx, i); err != nil || info.State != s.want {
			t.Fatalf("%s: state %v %v, want %v", s.name, info.State, err, s.want)
		}
	}
	if err := d.Unpause(ctx, i); err != nil {
		t.Fatalf("unpause of a running guest is a no-op: %v", err)
	}
	snap, err := d.Snapshot(ctx, i)
	if err != nil || snap.DiskFormat != "raw" {
		t.Fatalf("snapshot %v %v", snap, err)
	}
	snap.Data.Close()

	// A new driver over the same directory re-adopts the guest as it was.
	d2, err := New(Config{Host: "fake-host-1", StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	g, ok := d2.Guest("u1")
	if !ok || g.State != compute.Running || g.Flavor.MemoryMB != 1024 || g.OldFlavor == nil {
		t.Fatalf("re-adopted guest %+v %v", g, ok)
	}
	// Hosts share nothing.
	other, _ := New(Config{Host: "fake-host-2", StateDir: dir})
	if l, _ := other.List(ctx); len(l) != 0 {
		t.Fatalf("host 2 sees %v", l)
	}
	if err := d2.RevertResize(ctx, i, compute.Flavor{VCPUs: 1, MemoryMB: 512}); err != nil {
		t.Fatal(err)
	}
	// Cold migration: out of host 1 (kept until confirm), into host 2.
	if err := d2.MigrateOut(ctx, i, "fake-host-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Info(ctx, i); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("migrated-out guest still visible: %v", err)
	}
	if err := other.MigrateIn(ctx, i, "fake-host-1"); err != nil {
		t.Fatal(err)
	}
	if err := d2.ConfirmResize(ctx, i); err != nil {
		t.Fatal(err)
	}
	if _, ok := d2.Guest("u1"); ok {
		t.Fatal("source kept the guest after confirm")
	}
	if l, _ := other.List(ctx); len(l) != 1 {
		t.Fatalf("destination list %v", l)
	}
	for range 2 {
		if err := other.Destroy(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := other.Info(ctx, i); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("info after destroy: %v", err)
	}
}

func TestScriptedFailuresAndDelays(t *testing.T) {
	ctx := context.Background()
	d, err := New(Config{Host: "h", StateDir: t.TempDir(), Delays: map[string]time.Duration{"power_off": 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	bad := inst("u2", map[string]string{"fake:fail": "spawn, reboot"})
	if err := d.Spawn(ctx, bad); !errors.Is(err, ErrScripted) {
		t.Fatalf("spawn: %v", err)
	}
	ok := inst("u3", map[string]string{"fake:fail": "reboot"})
	if err := d.Spawn(ctx, ok); err != nil {
		t.Fatal(err)
	}
	if err := d.Reboot(ctx, ok, true); !errors.Is(err, ErrScripted) {
		t.Fatalf("reboot: %v", err)
	}
	if err := d.Pause(ctx, ok); err != nil {
		t.Fatal(err)
	}
	if err := d.Suspend(ctx, ok); err != nil {
		t.Fatal(err)
	}
	if err := d.Pause(ctx, ok); err == nil {
		t.Fatal("pause of a suspended guest succeeded")
	}
	start := time.Now()
	if err := d.PowerOff(ctx, ok, 0); err != nil || time.Since(start) < 20*time.Millisecond {
		t.Fatalf("delayed power off: %v after %v", err, time.Since(start))
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := d.PowerOn(cctx, inst("u3", map[string]string{"fake:delay": "1h"})); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled delay: %v", err)
	}
	if err := d.SetPowerState("u3", compute.Crashed); err != nil {
		t.Fatal(err)
	}
	if info, _ := d.Info(ctx, ok); info.State != compute.Crashed {
		t.Fatalf("state %v", info.State)
	}
}

func TestExtendVolume(t *testing.T) {
	ctx := context.Background()
	d, err := New(Config{Host: "fake-host-1", StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var _ compute.VolumeExtender = d
	i := inst("u1", nil)
	if err := d.ExtendVolume(ctx, i, "/dev/vdb", nil, 2<<30); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("extend on a missing guest: %v", err)
	}
	if err := d.Spawn(ctx, i); err != nil {
		t.Fatal(err)
	}
	if err := d.AttachVolume(ctx, i, "/dev/vdb", map[string]any{"volume_id": "v1"}); err != nil {
		t.Fatal(err)
	}
	size := func() int64 { g, _ := d.Guest("u1"); return g.VolumeSizes["/dev/vdb"] }
	steps := []struct {
		name  string
		state compute.PowerState
		bytes int64
		want  int64
	}{
		{"grow", compute.Running, 2 << 30, 2 << 30},
		{"never shrinks", compute.Running, 1 << 30, 2 << 30},
		{"paused grows", compute.Paused, 3 << 30, 3 << 30},
		{"stopped is left alone", compute.Shutdown, 4 << 30, 3 << 30},
	}
	for _, s := range steps {
		if err := d.SetPowerState("u1", s.state); err != nil {
			t.Fatal(err)
		}
		if err := d.ExtendVolume(ctx, i, "/dev/vdb", nil, s.bytes); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := size(); got != s.want {
			t.Fatalf("%s: size %d, want %d", s.name, got, s.want)
		}
	}
	failing := inst("u1", map[string]string{"fake:fail": "extend_volume"})
	if err := d.ExtendVolume(ctx, failing, "/dev/vdb", nil, 8<<30); !errors.Is(err, ErrScripted) {
		t.Fatalf("scripted failure: %v", err)
	}
	if err := d.DetachVolume(ctx, i, "/dev/vdb"); err != nil {
		t.Fatal(err)
	}
	if g, _ := d.Guest("u1"); len(g.VolumeSizes) != 0 {
		t.Fatalf("detach kept the size: %v", g.VolumeSizes)
	}
}
