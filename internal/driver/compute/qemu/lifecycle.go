package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	computedriver "github.com/gostack/gostack/internal/driver/compute"
)

// newGuest describes a new guest for inst: its disks per flavor (root from the image or
// the boot volume, ephemeral, swap, config drive), volumes and NICs.
func (d *Driver) newGuest(inst *computedriver.Instance, accel string) *guest {
	dir := d.instanceDir(inst.UUID)
	f := inst.Flavor
	g := &guest{UUID: inst.UUID, Name: inst.Name, Binary: d.cfg.Binary, Accel: accel, VCPUs: max(f.VCPUs, 1),
		MemoryMB: max(f.MemoryMB, 64), Flavor: f.Name, RootGB: f.RootGB, EphemeralGB: f.EphemeralGB, SwapMB: f.SwapMB,
		SocketDir: d.socketDir(inst.UUID), EphemeralFS: ephemeralFS(inst.Image, d.cfg.DefaultEphemeralFormat)}
	if g.Name == "" {
		g.Name = "instance-" + inst.UUID[:8]
	}
	if inst.Image != nil {
		g.ImageID = inst.Image.ID
		g.Disks = append(g.Disks, disk{ID: "virtio-disk0", Dev: "vda", Path: filepath.Join(dir, "disk"), Format: "qcow2",
			Bus: "virtio", BootIndex: 1})
	}
	for _, bd := range inst.BlockDevices {
		dk, ok := volumeDisk(bd)
		if !ok {
			continue
		}
		if bd.BootIndex == 0 && inst.Image == nil {
			dk.BootIndex = 1
		}
		g.Disks = append(g.Disks, dk)
	}
	if f.EphemeralGB > 0 {
		g.Disks = append(g.Disks, disk{ID: "virtio-disk-eph0", Dev: "vdb", Path: filepath.Join(dir, "disk.eph0"),
			Format: "qcow2", Bus: "virtio"})
	}
	if f.SwapMB > 0 {
		g.Disks = append(g.Disks, disk{ID: "virtio-disk-swap", Dev: "vdc", Path: filepath.Join(dir, "disk.swap"),
			Format: "raw", Bus: "virtio"})
	}
	g.Disks = append(g.Disks, disk{ID: "ide0-0-0", Dev: "hda", Path: filepath.Join(dir, "disk.config"), Format: "raw",
		Bus: "ide-cd", ReadOnly: true})
	for _, n := range inst.NICs {
		g.NICs = append(g.NICs, nicOf(n))
	}
	return g
}

// nicOf is a guest NIC for a port (tap named "tap" + the first 11 characters of the
// port id when the compute service did not name it).
func nicOf(n computedriver.NIC) nic {
	tap := n.DeviceName
	if tap == "" {
		tap = "tap" + n.PortID[:min(11, len(n.PortID))]
	}
	return nic{PortID: n.PortID, Tap: tap, MAC: n.MACAddress, MTU: n.MTU}
}

// volumeDisk is the guest disk of a volume's connection: Cinder's connection_info
// {"driver_volume_type": "file", "data": {"path", "format"}}, or its data alone.
func volumeDisk(bd computedriver.BlockDevice) (disk, bool) {
	conn := bd.Connection
	if data, ok := conn["data"].(map[string]any); ok {
		if t, _ := conn["driver_volume_type"].(string); t != "" && t != "file" && t != "local" {
			return disk{}, false
		}
		conn = data
	}
	path, _ := conn["path"].(string)
	format, _ := conn["format"].(string)
	if path == "" {
		return disk{}, false
	}
	if format != "qcow2" {
		format = "raw"
	}
	dev := strings.TrimPrefix(bd.DeviceName, "/dev/")
	return disk{ID: "virtio-" + dev, Dev: dev, Path: path, Format: format, Bus: "virtio", Volume: true}, true
}

// makeDisks creates the disks of a guest that do not exist yet.
func (d *Driver) makeDisks(ctx context.Context, inst *computedriver.Instance, g *guest) error {
	for _, dk := range g.Disks {
		var err error
		switch dk.ID {
		case "virtio-disk0":
			if inst.Image == nil {
				return errors.New("qemu: the instance has no image")
			}
			err = d.makeRoot(ctx, inst.Image, g.RootGB, dk.Path)
		case "virtio-disk-eph0":
			err = d.makeEphemeral(ctx, dk.Path, g.EphemeralGB, g.EphemeralFS)
		case "virtio-disk-swap":
			err = d.makeSwap(ctx, dk.Path, g.SwapMB<<20)
		case "ide0-0-0":
			err = d.makeConfigDrive(ctx, inst, dk.Path)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Spawn implements computedriver.Driver. Every step keeps what an interrupted earlier
// run made, so that a spawn run again after a restart finishes the job.
func (d *Driver) Spawn(ctx context.Context, inst *computedriver.Instance) error {
	if err := validUUID(inst.UUID); err != nil {
		return err
	}
	defer d.lock(inst.UUID)()
	if inst.Image == nil && len(inst.BlockDevices) == 0 {
		return errors.New("qemu: the instance has neither an image nor a boot volume")
	}
	accel, err := d.accel.wait(ctx)
	if err != nil {
		return err
	}
	g, ok, err := d.load(inst.UUID)
	if err != nil {
		return err
	}
	if ok && d.pid(inst.UUID) != 0 {
		return nil
	}
	if !ok {
		g = d.newGuest(inst, accel)
	}
	g.Accel = accel
	if err := os.MkdirAll(d.instanceDir(inst.UUID), 0o750); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	if err := d.makeDisks(ctx, inst, g); err != nil {
		return err
	}
	return d.startProcess(ctx, g)
}

// Destroy implements computedriver.Driver: the process, the taps and every file of the
// instance go (the image cache stays).
func (d *Driver) Destroy(ctx context.Context, inst *computedriver.Instance) error {
	if err := validUUID(inst.UUID); err != nil {
		return nil
	}
	defer d.lock(inst.UUID)()
	g, ok, err := d.load(inst.UUID)
	if err != nil {
		return err
	}
	if !ok {
		g = &guest{UUID: inst.UUID, SocketDir: d.socketDir(inst.UUID)}
		for _, n := range inst.NICs {
			g.NICs = append(g.NICs, nicOf(n))
		}
	}
	if err := d.stopProcess(ctx, g); err != nil {
		return err
	}
	if err := d.unplugTaps(ctx, g.NICs); err != nil {
		return err
	}
	if g.SocketDir != "" && g.SocketDir != d.instanceDir(inst.UUID) {
		_ = os.RemoveAll(g.SocketDir)
	}
	if err := os.RemoveAll(d.instanceDir(inst.UUID)); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	// The instance's lock stays: an operation may be waiting on it.
	return nil
}

// loadExisting loads an instance's guest, ErrNotFound when there is none.
func (d *Driver) loadExisting(uuid string) (*guest, error) {
	if err := validUUID(uuid); err != nil {
		return nil, computedriver.ErrNotFound
	}
	g, ok, err := d.load(uuid)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, computedriver.ErrNotFound
	}
	return g, nil
}

// PowerOn implements computedriver.Driver: the guest starts again as it was defined.
func (d *Driver) PowerOn(ctx context.Context, inst *computedriver.Instance) error {
	defer d.lock(inst.UUID)()
	g, err := d.loadExisting(inst.UUID)
	if err != nil {
		return err
	}
	if _, err := d.accel.wait(ctx); err != nil {
		return err
	}
	if err := d.startProcess(ctx, g); err != nil {
		return err
	}
	if g.Suspended {
		return d.finishIncoming(ctx, g)
	}
	return nil
}

// PowerOff implements computedriver.Driver: ACPI power-down, then the process is ended
// when the guest has not stopped within timeout.
func (d *Driver) PowerOff(ctx context.Context, inst *computedriver.Instance, timeout time.Duration) error {
	defer d.lock(inst.UUID)()
	g, err := d.loadExisting(inst.UUID)
	if err != nil {
		return err
	}
	return d.powerOff(ctx, g, timeout)
}

// powerOff stops a guest; the instance lock is held.
func (d *Driver) powerOff(ctx context.Context, g *guest, timeout time.Duration) error {
	pid := d.pid(g.UUID)
	if pid == 0 {
		d.dropClient(g.UUID)
		return nil
	}
	if timeout > 0 {
		st, _ := d.status(ctx, g)
		if st == "running" {
			if err := d.execute(ctx, g, "system_powerdown", nil, nil); err == nil && waitGone(ctx, pid, timeout) {
				d.dropClient(g.UUID)
				return nil
			}
			d.log.Info("guest did not power off in time; stopping it", "instance", g.UUID, "timeout", timeout)
		}
	}
	return d.stopProcess(ctx, g)
}

// softRebootTimeout is how long a soft reboot waits for the guest to shut down before
// it becomes a hard one (Nova's [libvirt] wait_soft_reboot_seconds).
const softRebootTimeout = 120 * time.Second

// Reboot implements computedriver.Driver. Soft: ACPI power-down and a new start (hard
// when the guest does not stop in time); hard: the process is ended and started again
// from its definition, as Nova's hard reboot recreates the domain.
func (d *Driver) Reboot(ctx context.Context, inst *computedriver.Instance, hard bool) error {
	defer d.lock(inst.UUID)()
	g, err := d.loadExisting(inst.UUID)
	if err != nil {
		return err
	}
	timeout := softRebootTimeout
	if hard {
		timeout = 0
	}
	if err := d.powerOff(ctx, g, timeout); err != nil {
		return err
	}
	g.Suspended = false
	_ = os.Remove(d.path(g.UUID, "state.save"))
	return d.startProcess(ctx, g)
}

// Pause implements computedriver.Pauser (QMP stop).
func (d *Driver) Pause(ctx context.Context, inst *computedriver.Instance) error {
	return d.onRunning(ctx, inst, func(g *guest) error { return d.execute(ctx, g, "stop", nil, nil) })
}

// Unpause implements computedriver.Pauser (QMP cont).
func (d *Driver) Unpause(ctx context.Context, inst *computedriver.Instance) error {
	return d.onRunning(ctx, inst, func(g *guest) error { return d.execute(ctx, g, "cont", nil, nil) })
}

// onRunning runs fn on a running guest under its lock.
func (d *Driver) onRunning(ctx context.Context, inst *computedriver.Instance, fn func(g *guest) error) error {
	defer d.lock(inst.UUID)()
	g, err := d.loadExisting(inst.UUID)
	if err != nil {
		return err
	}
	if d.pid(g.UUID) == 0 {
		return fmt.Errorf("qemu: instance %s is not running", inst.UUID)
	}
	return fn(g)
}

// TriggerCrashDump implements computedriver.CrashDumper (an NMI).
func (d *Driver) TriggerCrashDump(ctx context.Context, inst *computedriver.Instance) error {
	return d.onRunning(ctx, inst, func(g *guest) error { return d.execute(ctx, g, "inject-nmi", nil, nil) })
}

// Suspend implements computedriver.Suspender: the guest's state is saved to state.save
// with a migration to a file and the process ends; Resume starts it with -incoming.
func (d *Driver) Suspend(ctx context.Context, inst *computedriver.Instance) error {
	defer d.lock(inst.UUID)()
	g, err := d.loadExisting(inst.UUID)
	if err != nil {
		return err
	}
	if d.pid(g.UUID) == 0 {
		if g.Suspended {
			return nil
		}
		return fmt.Errorf("qemu: instance %s is not running", inst.UUID)
	}
	state := d.path(g.UUID, "state.save")
	if err := d.execute(ctx, g, "stop", nil, nil); err != nil {
		return err
	}
	if err := d.execute(ctx, g, "migrate", map[string]any{"uri": "exec:cat >" + shellQuote(state+".tmp")}, nil); err != nil {
		return err
	}
	for {
		var st struct {
			Status string `json:"status"`
			Error  string `json:"error-desc"`
		}
		if err := d.execute(ctx, g, "query-migrate", nil, &st); err != nil {
			return err
		}
		if st.Status == "completed" {
			break
		}
		if st.Status == "failed" || st.Status == "cancelled" {
			_ = d.execute(ctx, g, "cont", nil, nil)
			return fmt.Errorf("qemu: save guest state: %s", st.Error)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := os.Rename(state+".tmp", state); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	g.Suspended = true
	if err := d.save(g); err != nil {
		return err
	}
	return d.stopProcess(ctx, g)
}

// Resume implements computedriver.Suspender.
func (d *Driver) Resume(ctx context.Context, inst *computedriver.Instance) error {
	return d.PowerOn(ctx, inst)
}

// finishIncoming waits for a guest started with -incoming to run, then forgets its
// saved state.
func (d *Driver) finishIncoming(ctx context.Context, g *guest) error {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		st, err := d.status(ctx, g)
		if err == nil && st == "running" {
			break
		}
		if err == nil && st == "paused" {
			// Loaded: a guest saved while paused stays so until cont.
			if err := d.execute(ctx, g, "cont", nil, nil); err != nil {
				return err
			}
			continue
		}
		if d.pid(g.UUID) == 0 {
			return errors.New("qemu: the guest exited while restoring its saved state")
		}
		if time.Now().After(deadline) {
			return errors.New("qemu: restoring the guest's saved state timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	g.Suspended = false
	if err := d.save(g); err != nil {
		return err
	}
	_ = os.Remove(d.path(g.UUID, "state.save"))
	return nil
}
