package app

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/gostack/gostack/internal/compute"
	"github.com/gostack/gostack/internal/driver/compute/fake"
	"github.com/gostack/gostack/internal/driver/compute/qemu"
	"github.com/gostack/gostack/internal/platform"
)

// addComputeHosts adds the compute hosts this process runs and returns their names.
//
// The default driver, qemu, runs real guests on this machine (one host, named as the
// machine): each guest is a QEMU process that outlives gostack and is re-adopted at
// start. The fake driver simulates FakeHosts hypervisors (fake-host-1 … N) whose guests
// live in <data-dir>/fake-hosts and survive restarts, as a real hypervisor's do.
func addComputeHosts(svc *compute.Service, cfg Config, log *slog.Logger) ([]string, error) {
	c := cfg.Compute
	opts := compute.HostOptions{PowerSyncInterval: c.PowerSyncInterval, ImageCacheInterval: c.ImageCacheInterval}
	switch c.Driver {
	case "", "qemu":
		return addQEMUHost(svc, cfg, opts, log)
	case "fake":
	default:
		return nil, fmt.Errorf("compute driver %q is not available (drivers: qemu, fake)", c.Driver)
	}
	n := c.FakeHosts
	if n <= 0 {
		n = 1
	}
	var delays map[string]time.Duration
	if c.FakeSpawnDelay > 0 {
		delays = map[string]time.Duration{"spawn": c.FakeSpawnDelay}
	}
	var names []string
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("fake-host-%d", i)
		d, err := fake.New(fake.Config{Host: name, StateDir: filepath.Join(cfg.DataDir, "fake-hosts"),
			VCPUs: c.FakeVCPUs, MemoryMB: c.FakeMemoryMB, LocalGB: c.FakeDiskGB, Delays: delays})
		if err != nil {
			return nil, fmt.Errorf("fake compute host %s: %w", name, err)
		}
		if err := svc.AddHost(name, d, opts); err != nil {
			return nil, fmt.Errorf("compute host %s: %w", name, err)
		}
		names = append(names, name)
	}
	return names, nil
}

// addQEMUHost adds this machine as a QEMU compute host. The accelerator probe runs in
// the background; the host registers once it is done (a host without a usable QEMU
// keeps reporting the error and never takes servers).
func addQEMUHost(svc *compute.Service, cfg Config, opts compute.HostOptions, log *slog.Logger) ([]string, error) {
	name, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("compute host name: %w", err)
	}
	dlog := log.With("driver", "qemu", "host", name)
	d, err := qemu.New(qemu.Config{DataDir: cfg.DataDir, Runner: &platform.Exec{Log: dlog}, Log: dlog,
		Accel: cfg.Compute.Accel, DefaultEphemeralFormat: cfg.Compute.DefaultEphemeralFormat,
		ImageCacheMinAge: cfg.Compute.ImageCacheMinAge, HostIP: hostIP()})
	if err != nil {
		return nil, err
	}
	if err := svc.AddHost(name, d, opts); err != nil {
		return nil, fmt.Errorf("compute host %s: %w", name, err)
	}
	return []string{name}, nil
}

// hostIP is the address this host reaches others from (the source address of its
// default route, found without sending anything), or 127.0.0.1 without a route.
func hostIP() string {
	conn, err := net.Dial("udp", "192.0.2.1:9") // TEST-NET-1: only a route lookup
	if err != nil {
		return "127.0.0.1"
	}
	defer conn.Close()
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok && !a.IP.IsUnspecified() {
		return a.IP.String()
	}
	return "127.0.0.1"
}
