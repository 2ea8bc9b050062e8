package app

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/gostack/gostack/internal/compute"
	"github.com/gostack/gostack/internal/driver/compute/fake"
)

// addComputeHosts adds the compute hosts this process runs. The fake driver simulates
// FakeHosts hypervisors (fake-host-1 … N) whose guests live in <data-dir>/fake-hosts and
// survive restarts, as a real hypervisor's do. It is the only driver until the QEMU
// driver lands (issue 7), which will then become the default.
// It returns the host names.
func addComputeHosts(svc *compute.Service, cfg Config) ([]string, error) {
	c := cfg.Compute
	switch c.Driver {
	case "", "fake":
	default:
		return nil, fmt.Errorf("compute driver %q is not available (drivers: fake)", c.Driver)
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
		if err := svc.AddHost(name, d, compute.HostOptions{}); err != nil {
			return nil, fmt.Errorf("compute host %s: %w", name, err)
		}
		names = append(names, name)
	}
	return names, nil
}
