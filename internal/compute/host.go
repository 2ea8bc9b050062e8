package compute

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"

	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/placement"
)

// A host agent is nova-compute for one host: it reports the host's service and compute
// node (and the node's Placement inventory), runs the tasks queued for the host through
// the host's compute driver, and keeps the instances' power state in line with what the
// hypervisor reports. In the all-in-one process there is one agent per (fake) host.

// HostOptions tune a host agent; zero values take Nova's defaults.
type HostOptions struct {
	// HeartbeatInterval is how often the service reports ([DEFAULT] report_interval, 10 s).
	HeartbeatInterval time.Duration
	// PowerSyncInterval is how often power states are compared with the hypervisor's
	// (Nova's sync_power_state_interval is 600 s; gostack's default is 60 s). It also
	// runs once at start.
	PowerSyncInterval time.Duration
	// ImageCacheInterval is how often a driver that caches images removes the ones no
	// instance uses ([image_cache] manager_interval, 2400 s).
	ImageCacheInterval time.Duration
	// HousekeepInterval is how often a driver's host chores run (5 s).
	HousekeepInterval time.Duration
	// CPUAllocationRatio, RAMAllocationRatio and DiskAllocationRatio are the overcommit
	// ratios (16.0, 1.5, 1.0).
	CPUAllocationRatio, RAMAllocationRatio, DiskAllocationRatio float64
	// ReservedHostMemoryMB (512), ReservedHostDiskMB and ReservedHostCPUs (0) are kept
	// for the host itself; a negative value means none.
	ReservedHostMemoryMB, ReservedHostDiskMB, ReservedHostCPUs int64
	// Workers bounds the tasks the agent runs at once (4).
	Workers int
}

// withDefaults fills in Nova's defaults.
func (o HostOptions) withDefaults() HostOptions {
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 10 * time.Second
	}
	if o.PowerSyncInterval <= 0 {
		o.PowerSyncInterval = 60 * time.Second
	}
	if o.ImageCacheInterval <= 0 {
		o.ImageCacheInterval = 2400 * time.Second
	}
	if o.HousekeepInterval <= 0 {
		o.HousekeepInterval = 5 * time.Second
	}
	if o.CPUAllocationRatio <= 0 {
		o.CPUAllocationRatio = 16
	}
	if o.RAMAllocationRatio <= 0 {
		o.RAMAllocationRatio = 1.5
	}
	if o.DiskAllocationRatio <= 0 {
		o.DiskAllocationRatio = 1
	}
	if o.ReservedHostMemoryMB == 0 {
		o.ReservedHostMemoryMB = 512
	}
	for _, p := range []*int64{&o.ReservedHostMemoryMB, &o.ReservedHostDiskMB, &o.ReservedHostCPUs} {
		if *p < 0 {
			*p = 0
		}
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	return o
}

// HostAgent is nova-compute for one host.
type HostAgent struct {
	s      *Service
	name   string
	driver computedriver.Driver
	opts   HostOptions
	log    *slog.Logger

	mu       sync.Mutex
	nodeUUID string
}

// AddHost adds an agent for host name driven by d. It starts at once when Run is
// running, else when Run starts. Names are unique per Service.
func (s *Service) AddHost(name string, d computedriver.Driver, opts HostOptions) error {
	if name == "" || d == nil {
		return errors.New("compute: a host needs a name and a driver")
	}
	a := &HostAgent{s: s, name: name, driver: d, opts: opts.withDefaults(), log: s.log.With("component", "compute", "host", name)}
	s.rt.mu.Lock()
	defer s.rt.mu.Unlock()
	if s.rt.agents == nil {
		s.rt.agents = map[string]*HostAgent{}
	}
	if s.rt.agents[name] != nil {
		return fmt.Errorf("compute: host %s already has an agent", name)
	}
	s.rt.agents[name] = a
	if s.rt.ctx != nil {
		s.startAgent(s.rt.ctx, a)
	}
	return nil
}

// startAgent runs an agent until ctx ends; s.rt.mu is held.
func (s *Service) startAgent(ctx context.Context, a *HostAgent) {
	s.rt.wg.Add(1)
	go func() {
		defer s.rt.wg.Done()
		a.run(ctx)
	}()
}

// hostDriver returns the compute driver of a host this process runs an agent for, for
// the synchronous calls the API makes (console output, remote consoles, diagnostics).
// ok is false when no agent here serves the host.
func (s *Service) hostDriver(host string) (d computedriver.Driver, ok bool) {
	s.rt.mu.Lock()
	defer s.rt.mu.Unlock()
	if a := s.rt.agents[host]; a != nil {
		return a.driver, true
	}
	return nil, false
}

// run registers the host, then heartbeats, syncs power states and runs the host's tasks
// until ctx ends.
func (a *HostAgent) run(ctx context.Context) {
	for {
		err := a.register(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		a.log.Error("register compute host", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(a.s.cfg.TaskPollInterval):
		}
	}
	if err := a.syncPower(ctx); err != nil && ctx.Err() == nil {
		a.log.Error("power state sync", "err", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		hb := time.NewTicker(a.opts.HeartbeatInterval)
		defer hb.Stop()
		ps := time.NewTicker(a.opts.PowerSyncInterval)
		defer ps.Stop()
		ic := time.NewTicker(a.opts.ImageCacheInterval)
		defer ic.Stop()
		hk := time.NewTicker(a.opts.HousekeepInterval)
		defer hk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-hb.C:
				if err := a.s.heartbeat(ctx, a.name, BinaryCompute); err != nil && ctx.Err() == nil {
					a.log.Error("heartbeat", "err", err)
				}
			case <-ps.C:
				if err := a.syncPower(ctx); err != nil && ctx.Err() == nil {
					a.log.Error("power state sync", "err", err)
				}
			case <-hk.C:
				if h, ok := a.driver.(computedriver.Housekeeper); ok {
					if err := h.Housekeep(ctx); err != nil && ctx.Err() == nil {
						a.log.Error("driver housekeeping", "err", err)
					}
				}
			case <-ic.C:
				if m, ok := a.driver.(computedriver.ImageCacheManager); ok {
					if _, err := m.ManageImageCache(ctx); err != nil && ctx.Err() == nil {
						a.log.Error("image cache", "err", err)
					}
				}
			}
		}
	}()
	r := &taskRunner{s: a.s, host: a.name, workers: a.opts.Workers, run: a.runTask, log: a.log}
	r.loop(ctx)
}

// register reports the nova-compute service and the compute node, and makes the node's
// Placement provider and inventory match the driver's capacity.
func (a *HostAgent) register(ctx context.Context) error {
	hi, err := a.driver.HostInfo(ctx)
	if err != nil {
		return fmt.Errorf("host info: %w", err)
	}
	if err := a.s.heartbeat(ctx, a.name, BinaryCompute); err != nil {
		return fmt.Errorf("service: %w", err)
	}
	o := a.opts
	node := &computeNode{Host: a.name, HypervisorHostname: a.name, HypervisorType: hi.HypervisorType,
		HypervisorVersion: hi.HypervisorVersion, HostIP: hi.HostIP, VCPUs: int64(hi.VCPUs), MemoryMB: hi.MemoryMB,
		LocalGB: hi.LocalGB, CPUInfo: hi.CPUInfo, CPUAllocationRatio: o.CPUAllocationRatio,
		RAMAllocationRatio: o.RAMAllocationRatio, DiskAllocationRatio: o.DiskAllocationRatio,
		ReservedHostMemMB: o.ReservedHostMemoryMB, ReservedHostDiskMB: o.ReservedHostDiskMB, ReservedHostCPUs: o.ReservedHostCPUs}
	if err := a.s.upsertComputeNode(ctx, node); err != nil {
		return fmt.Errorf("compute node: %w", err)
	}
	uuid := node.UUID
	a.mu.Lock()
	a.nodeUUID = uuid
	a.mu.Unlock()
	if a.s.deps.Placement == nil {
		return nil
	}
	return a.s.deps.Placement.EnsureComputeProvider(ctx, placement.ComputeProvider{UUID: uuid, Name: a.name,
		Inventories: map[string]placement.ProviderInventory{
			"VCPU":      {Total: int64(hi.VCPUs), Reserved: o.ReservedHostCPUs, MaxUnit: int64(hi.VCPUs), AllocationRatio: o.CPUAllocationRatio},
			"MEMORY_MB": {Total: hi.MemoryMB, Reserved: o.ReservedHostMemoryMB, MaxUnit: hi.MemoryMB, AllocationRatio: o.RAMAllocationRatio},
			"DISK_GB": {Total: hi.LocalGB, Reserved: int64(math.Ceil(float64(o.ReservedHostDiskMB) / 1024)), MaxUnit: hi.LocalGB,
				AllocationRatio: o.DiskAllocationRatio},
		},
		Traits: hi.Traits})
}

// driverInstance is the desired instance handed to the driver, with flavor f.
func (s *Service) driverInstance(ctx context.Context, inst *Instance, f FlavorSnapshot) (*computedriver.Instance, error) {
	meta := map[string]string{}
	rows, err := s.db.QueryContext(ctx, `SELECT key, value FROM compute_instance_metadata WHERE instance_uuid = ?`, inst.UUID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return nil, err
		}
		meta[k] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	di := &computedriver.Instance{UUID: inst.UUID, Name: inst.InstanceName(), DisplayName: inst.Name, Hostname: inst.Hostname,
		ProjectID: inst.ProjectID, UserID: inst.UserID, Flavor: driverFlavor(f), KeyName: deref(inst.KeyName), KeyData: deref(inst.KeyData),
		Metadata: meta, ConfigDrive: inst.ConfigDrive != "", AvailabilityZone: deref(inst.AvailabilityZone),
		LaunchIndex: inst.LaunchIndex, CreatedAt: inst.CreatedAt, NICs: driverNICs(inst), NetworkData: networkData(loadVIFs(inst))}
	if inst.UserData != nil {
		if b, err := base64.StdEncoding.DecodeString(*inst.UserData); err == nil {
			di.UserData = b
		} else {
			di.UserData = []byte(*inst.UserData)
		}
	}
	if inst.ImageRef != "" {
		di.Image = s.driverImage(inst, inst.ImageRef)
	}
	bdms, err := loadBlockDevices(ctx, s.db, inst.UUID)
	if err != nil {
		return nil, err
	}
	di.BlockDevices = driverBlockDevices(bdms)
	return di, nil
}

// driverImage describes image id for the driver; its bytes come from the image service.
func (s *Service) driverImage(inst *Instance, id string) *computedriver.Image {
	img := &computedriver.Image{ID: id, DiskFormat: inst.SystemMetadata["image_disk_format"],
		ContainerFormat: inst.SystemMetadata["image_container_format"], Properties: inst.Request.ImageProperties}
	if s.deps.Images != nil {
		img.Open = func(ctx context.Context) (io.ReadCloser, error) { return s.deps.Images.OpenImage(ctx, id) }
	}
	return img
}

// driverFlavor converts a flavor snapshot.
func driverFlavor(f FlavorSnapshot) computedriver.Flavor {
	return computedriver.Flavor{Name: f.Name, VCPUs: int(f.VCPUs), MemoryMB: f.MemoryMB, RootGB: f.RootGB,
		EphemeralGB: f.EphemeralGB, SwapMB: f.Swap, ExtraSpecs: f.ExtraSpecs}
}

// powerOf returns the guest's power state as the driver reports it (NOSTATE when it is
// missing), or fallback when the driver cannot tell.
func (a *HostAgent) powerOf(ctx context.Context, di *computedriver.Instance, fallback int) int {
	info, err := a.driver.Info(ctx, di)
	if errors.Is(err, computedriver.ErrNotFound) {
		return PowerNoState
	}
	if err != nil {
		return fallback
	}
	return int(info.State)
}
