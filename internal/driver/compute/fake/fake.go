// Package fake is a simulated hypervisor: the compute driver for tests and scale runs.
// It implements compute.Driver and every optional interface without running anything,
// keeps its guests in a JSON file per host (so that a restarted process re-adopts its
// "running" guests as a real hypervisor's would still be there), and can be told to be
// slow or to fail.
//
// Many fake hosts run in one process; they share nothing but the state directory.
//
// Scripted behaviour, per instance, through the server's metadata (set at create time,
// e.g. `openstack server create --property fake:fail=spawn`):
//
//   - "fake:fail": a comma-separated list of operations that fail for this instance:
//     spawn, destroy, power_on, power_off, reboot, pause, unpause, suspend, resume,
//     snapshot, rescue, unrescue, resize, confirm_resize, revert_resize, migrate_out,
//     migrate_in, live_migrate, rebuild, trigger_crash_dump, attach_volume,
//     detach_volume, copy_volume, attach_interface, detach_interface (or "all").
//   - "fake:delay": a Go duration ("250ms") every operation on this instance takes.
//
// Config.Delays sets per-operation delays for every instance (default none: tests stay
// fast). Operations honour context cancellation while they wait.
package fake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	compute "github.com/gostack/gostack/internal/driver/compute"
)

// Interface guards: the fake implements every optional ability.
var (
	_ compute.Driver            = (*Driver)(nil)
	_ compute.Pauser            = (*Driver)(nil)
	_ compute.Suspender         = (*Driver)(nil)
	_ compute.Snapshotter       = (*Driver)(nil)
	_ compute.Rescuer           = (*Driver)(nil)
	_ compute.Resizer           = (*Driver)(nil)
	_ compute.Migrator          = (*Driver)(nil)
	_ compute.Rebuilder         = (*Driver)(nil)
	_ compute.Consoler          = (*Driver)(nil)
	_ compute.VolumeAttacher    = (*Driver)(nil)
	_ compute.VolumeCopier      = (*Driver)(nil)
	_ compute.InterfaceAttacher = (*Driver)(nil)
	_ compute.CrashDumper       = (*Driver)(nil)
	_ compute.Diagnoser         = (*Driver)(nil)
)

// ErrScripted is returned (wrapped) by an operation that "fake:fail" told to fail.
var ErrScripted = errors.New("fake: scripted failure")

// Config describes one fake host.
type Config struct {
	// Host is the host's name; the state file is <StateDir>/<Host>.json.
	Host     string
	StateDir string
	// VCPUs, MemoryMB and LocalGB are the simulated capacity (defaults 16, 32768, 500).
	VCPUs    int
	MemoryMB int64
	LocalGB  int64
	// HostIP is reported in HostInfo (default 127.0.0.1).
	HostIP string
	// Delays maps operation names (as for "fake:fail") to how long they take.
	Delays map[string]time.Duration
	// ConsoleLines bounds the console lines kept per guest (default 200).
	ConsoleLines int
	// VNCDir holds the guests' VNC sockets (default <StateDir>/<Host>-vnc).
	VNCDir string
}

// Guest is a simulated guest as persisted.
type Guest struct {
	UUID        string             `json:"uuid"`
	Name        string             `json:"name"`
	DisplayName string             `json:"display_name"`
	Hostname    string             `json:"hostname"`
	State       compute.PowerState `json:"state"`
	Flavor      compute.Flavor     `json:"flavor"`
	ImageID     string             `json:"image_id,omitempty"`
	// OldFlavor is kept from Resize until ConfirmResize or RevertResize.
	OldFlavor *compute.Flavor `json:"old_flavor,omitempty"`
	// MigratedOut marks a guest kept on the source of a cold migration until confirm.
	MigratedOut bool `json:"migrated_out,omitempty"`
	// Rescued is set while the guest runs from a rescue image.
	Rescued bool              `json:"rescued,omitempty"`
	Volumes map[string]string `json:"volumes,omitempty"`
	// VolumeSizes are the sizes in bytes ExtendVolume grew volumes to, by device.
	VolumeSizes map[string]int64  `json:"volume_sizes,omitempty"`
	Ports       []string          `json:"ports,omitempty"`
	Console     []string          `json:"console"`
	StartedAt   time.Time         `json:"started_at"`
	CPUTime     time.Duration     `json:"cpu_time"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// state is the persisted file.
type state struct {
	Guests map[string]*Guest `json:"guests"`
	Images map[string]bool   `json:"images"`
}

// Driver is one fake host.
type Driver struct {
	cfg  Config
	path string

	mu sync.Mutex
	st state
	// vnc are the guests' running VNC servers (started by RemoteConsole; not persisted).
	vnc map[string]*vncServer
	// copies are the volume copies made (not persisted).
	copies []VolumeCopy
}

// New opens (or creates) the fake host's state.
func New(cfg Config) (*Driver, error) {
	if cfg.Host == "" || cfg.StateDir == "" {
		return nil, errors.New("fake: host and state directory are required")
	}
	if cfg.VCPUs == 0 {
		cfg.VCPUs = 16
	}
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 32768
	}
	if cfg.LocalGB == 0 {
		cfg.LocalGB = 500
	}
	if cfg.HostIP == "" {
		cfg.HostIP = "127.0.0.1"
	}
	if cfg.ConsoleLines <= 0 {
		cfg.ConsoleLines = 200
	}
	if cfg.VNCDir == "" {
		cfg.VNCDir = filepath.Join(cfg.StateDir, cfg.Host+"-vnc")
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("fake: state directory: %w", err)
	}
	d := &Driver{cfg: cfg, path: filepath.Join(cfg.StateDir, cfg.Host+".json"),
		st: state{Guests: map[string]*Guest{}, Images: map[string]bool{}}, vnc: map[string]*vncServer{}}
	b, err := os.ReadFile(d.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("fake: read state: %w", err)
	default:
		if err := json.Unmarshal(b, &d.st); err != nil {
			return nil, fmt.Errorf("fake: decode state %s: %w", d.path, err)
		}
		if d.st.Guests == nil {
			d.st.Guests = map[string]*Guest{}
		}
		if d.st.Images == nil {
			d.st.Images = map[string]bool{}
		}
	}
	return d, nil
}

// Host returns the host's name.
func (d *Driver) Host() string { return d.cfg.Host }

// save writes the state atomically (temporary file, fsync, rename); d.mu is held.
func (d *Driver) save() error {
	b, err := json.Marshal(&d.st)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(d.cfg.StateDir, "."+d.cfg.Host+".*.tmp")
	if err != nil {
		return fmt.Errorf("fake: save state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("fake: save state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("fake: save state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("fake: save state: %w", err)
	}
	if err := os.Rename(tmp.Name(), d.path); err != nil {
		return fmt.Errorf("fake: save state: %w", err)
	}
	return nil
}

// begin waits for the operation's delay and reports a scripted failure.
func (d *Driver) begin(ctx context.Context, op string, inst *compute.Instance) error {
	delay := d.cfg.Delays[op]
	if inst != nil {
		if v := inst.Metadata["fake:delay"]; v != "" {
			if dd, err := time.ParseDuration(v); err == nil {
				delay += dd
			}
		}
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if inst != nil {
		for _, f := range strings.Split(inst.Metadata["fake:fail"], ",") {
			if f = strings.TrimSpace(f); f == op || f == "all" {
				return fmt.Errorf("%w: %s of %s", ErrScripted, op, inst.UUID)
			}
		}
	}
	return nil
}

// update runs fn on the guest under the lock and saves; ErrNotFound when it is missing.
func (d *Driver) update(uuid string, fn func(g *Guest) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.st.Guests[uuid]
	if g == nil {
		return compute.ErrNotFound
	}
	if err := fn(g); err != nil {
		return err
	}
	return d.save()
}

// console appends lines to a guest's console; d.mu is held.
func (d *Driver) console(g *Guest, lines ...string) {
	g.Console = append(g.Console, lines...)
	if n := len(g.Console) - d.cfg.ConsoleLines; n > 0 {
		g.Console = append([]string(nil), g.Console[n:]...)
	}
}

// bootBanner is what a guest prints while booting.
func bootBanner(g *Guest, userData []byte) []string {
	lines := []string{
		"[    0.000000] Linux version 6.1.0-fake (gostack fake hypervisor)",
		fmt.Sprintf("[    0.000000] Command line: root=/dev/vda console=ttyS0 hostname=%s", g.Hostname),
		fmt.Sprintf("[    0.100000] Memory: %dK available", g.Flavor.MemoryMB*1024),
		fmt.Sprintf("[    0.200000] smpboot: Allowing %d CPUs", g.Flavor.VCPUs),
		"Starting fake guest " + g.Hostname + " (" + g.UUID + ")",
	}
	if len(userData) > 0 {
		lines = append(lines, "cloud-init: user-data:")
		for _, l := range strings.Split(strings.TrimRight(string(userData), "\n"), "\n") {
			lines = append(lines, "cloud-init: "+l)
		}
	}
	return append(lines, "", g.Hostname+" login: ")
}

// HostInfo reports the simulated capacity.
func (d *Driver) HostInfo(ctx context.Context) (compute.HostInfo, error) {
	return compute.HostInfo{
		HypervisorType: "fake", HypervisorVersion: 1000,
		VCPUs: d.cfg.VCPUs, MemoryMB: d.cfg.MemoryMB, LocalGB: d.cfg.LocalGB,
		CPUInfo: `{"arch": "x86_64", "model": "fake", "vendor": "gostack", "topology": {"cells": 1, "sockets": 1, "cores": ` +
			fmt.Sprint(d.cfg.VCPUs) + `, "threads": 1}, "features": []}`,
		HostIP: d.cfg.HostIP,
		Traits: []string{"COMPUTE_NET_ATTACH_INTERFACE", "COMPUTE_VOLUME_ATTACH_WITH_TAG", "COMPUTE_VOLUME_EXTEND",
			"COMPUTE_IMAGE_TYPE_RAW", "COMPUTE_IMAGE_TYPE_QCOW2", "COMPUTE_TRUSTED_CERTS", "COMPUTE_RESCUE_BFV"},
	}, nil
}

// Spawn creates and starts the guest (a no-op for one that exists), reading the image
// once per host as a real driver fills its image cache.
func (d *Driver) Spawn(ctx context.Context, inst *compute.Instance) error {
	if err := d.begin(ctx, "spawn", inst); err != nil {
		return err
	}
	d.mu.Lock()
	_, exists := d.st.Guests[inst.UUID]
	cached := inst.Image == nil || d.st.Images[inst.Image.ID]
	d.mu.Unlock()
	if exists {
		return nil
	}
	if !cached && inst.Image.Open != nil {
		rc, err := inst.Image.Open(ctx)
		if err != nil {
			return fmt.Errorf("fake: fetch image %s: %w", inst.Image.ID, err)
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("fake: fetch image %s: %w", inst.Image.ID, err)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.st.Guests[inst.UUID]; ok {
		return nil
	}
	g := d.newGuest(inst)
	if inst.Image != nil {
		d.st.Images[inst.Image.ID] = true
	}
	d.st.Guests[inst.UUID] = g
	d.console(g, bootBanner(g, inst.UserData)...)
	return d.save()
}

// newGuest returns a running guest for inst.
func (d *Driver) newGuest(inst *compute.Instance) *Guest {
	g := &Guest{UUID: inst.UUID, Name: inst.Name, DisplayName: inst.DisplayName, Hostname: inst.Hostname,
		State: compute.Running, Flavor: inst.Flavor, StartedAt: time.Now().UTC(), Metadata: inst.Metadata}
	if g.Hostname == "" {
		g.Hostname = inst.Name
	}
	if inst.Image != nil {
		g.ImageID = inst.Image.ID
	}
	for _, n := range inst.NICs {
		g.Ports = append(g.Ports, n.PortID)
	}
	return g
}

// Destroy removes the guest; an unknown one is not an error.
func (d *Driver) Destroy(ctx context.Context, inst *compute.Instance) error {
	if err := d.begin(ctx, "destroy", inst); err != nil {
		return err
	}
	d.stopVNC(inst.UUID)
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.st.Guests[inst.UUID]; !ok {
		return nil
	}
	delete(d.st.Guests, inst.UUID)
	return d.save()
}

// setState is the common body of the power operations.
func (d *Driver) setState(ctx context.Context, op string, inst *compute.Instance, from []compute.PowerState, to compute.PowerState, lines ...string) error {
	if err := d.begin(ctx, op, inst); err != nil {
		return err
	}
	if to != compute.Running && to != compute.Paused {
		// A guest that is not running has no display.
		d.stopVNC(inst.UUID)
	}
	return d.update(inst.UUID, func(g *Guest) error {
		if g.State == to {
			return nil
		}
		ok := from == nil
		for _, s := range from {
			ok = ok || g.State == s
		}
		if !ok {
			return fmt.Errorf("fake: cannot %s a guest in power state %d", op, g.State)
		}
		g.State = to
		if to == compute.Running {
			g.StartedAt = time.Now().UTC()
		}
		d.console(g, lines...)
		return nil
	})
}

// PowerOn starts a stopped guest.
func (d *Driver) PowerOn(ctx context.Context, inst *compute.Instance) error {
	return d.setState(ctx, "power_on", inst, []compute.PowerState{compute.Shutdown, compute.Crashed, compute.NoState},
		compute.Running, "Starting fake guest "+inst.Hostname)
}

// PowerOff stops the guest.
func (d *Driver) PowerOff(ctx context.Context, inst *compute.Instance, timeout time.Duration) error {
	return d.setState(ctx, "power_off", inst, nil, compute.Shutdown, "reboot: Power down")
}

// Reboot restarts the guest; a hard reboot also starts a stopped or crashed one.
func (d *Driver) Reboot(ctx context.Context, inst *compute.Instance, hard bool) error {
	if err := d.begin(ctx, "reboot", inst); err != nil {
		return err
	}
	return d.update(inst.UUID, func(g *Guest) error {
		if !hard && g.State != compute.Running {
			return fmt.Errorf("fake: soft reboot of a guest in power state %d", g.State)
		}
		g.State = compute.Running
		g.StartedAt = time.Now().UTC()
		d.console(g, append([]string{"reboot: Restarting system"}, bootBanner(g, nil)...)...)
		return nil
	})
}

// Info reports the guest's power state.
func (d *Driver) Info(ctx context.Context, inst *compute.Instance) (compute.Info, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.st.Guests[inst.UUID]
	if g == nil || g.MigratedOut {
		return compute.Info{}, compute.ErrNotFound
	}
	cpu := g.CPUTime
	if g.State == compute.Running {
		cpu += time.Since(g.StartedAt)
	}
	return compute.Info{State: g.State, MemoryMB: g.Flavor.MemoryMB, VCPUs: g.Flavor.VCPUs, CPUTime: cpu}, nil
}

// List returns the guests' uuids, sorted.
func (d *Driver) List(ctx context.Context) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.st.Guests))
	for u, g := range d.st.Guests {
		if !g.MigratedOut {
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out, nil
}

// ConsoleOutput returns the last length console lines (all for length <= 0).
func (d *Driver) ConsoleOutput(ctx context.Context, inst *compute.Instance, length int) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.st.Guests[inst.UUID]
	if g == nil {
		return "", compute.ErrNotFound
	}
	if len(g.Console) == 0 {
		return "", nil
	}
	text := strings.Join(g.Console, "\n") + "\n"
	if length > 0 {
		// Nova's _tail_log: the last length pieces of the log split on newlines (so a
		// log ending in a newline yields length-1 lines and the empty remainder).
		parts := strings.Split(text, "\n")
		if len(parts) > length {
			parts = parts[len(parts)-length:]
		}
		text = strings.Join(parts, "\n")
	}
	return text, nil
}

// Pause pauses the guest.
func (d *Driver) Pause(ctx context.Context, inst *compute.Instance) error {
	return d.setState(ctx, "pause", inst, []compute.PowerState{compute.Running}, compute.Paused)
}

// Unpause resumes a paused guest.
func (d *Driver) Unpause(ctx context.Context, inst *compute.Instance) error {
	return d.setState(ctx, "unpause", inst, []compute.PowerState{compute.Paused}, compute.Running)
}

// Suspend saves the guest to disk.
func (d *Driver) Suspend(ctx context.Context, inst *compute.Instance) error {
	return d.setState(ctx, "suspend", inst, []compute.PowerState{compute.Running, compute.Paused}, compute.Suspended)
}

// Resume restores a suspended guest.
func (d *Driver) Resume(ctx context.Context, inst *compute.Instance) error {
	return d.setState(ctx, "resume", inst, []compute.PowerState{compute.Suspended}, compute.Running)
}

// snapshotData is the content of every fake snapshot: a small raw disk.
func snapshotData(g *Guest) []byte {
	b := make([]byte, 64*1024)
	copy(b, "gostack fake snapshot of "+g.UUID+"\n")
	return b
}

// Snapshot captures the guest's "disk" as a small raw image.
func (d *Driver) Snapshot(ctx context.Context, inst *compute.Instance) (*compute.Snapshot, error) {
	if err := d.begin(ctx, "snapshot", inst); err != nil {
		return nil, err
	}
	d.mu.Lock()
	g := d.st.Guests[inst.UUID]
	d.mu.Unlock()
	if g == nil {
		return nil, compute.ErrNotFound
	}
	return &compute.Snapshot{DiskFormat: "raw", ContainerFormat: "bare",
		Data: io.NopCloser(bytes.NewReader(snapshotData(g)))}, nil
}

// Rescue reboots the guest from the rescue image.
func (d *Driver) Rescue(ctx context.Context, inst *compute.Instance, rescue *compute.Image) error {
	if err := d.begin(ctx, "rescue", inst); err != nil {
		return err
	}
	return d.update(inst.UUID, func(g *Guest) error {
		g.Rescued, g.State = true, compute.Running
		d.console(g, "Starting fake rescue system for "+g.Hostname)
		return nil
	})
}

// Unrescue boots the guest from its own disk again.
func (d *Driver) Unrescue(ctx context.Context, inst *compute.Instance) error {
	if err := d.begin(ctx, "unrescue", inst); err != nil {
		return err
	}
	return d.update(inst.UUID, func(g *Guest) error {
		g.Rescued, g.State = false, compute.Running
		d.console(g, bootBanner(g, nil)...)
		return nil
	})
}

// Resize changes the guest's flavor in place, keeping the old one for revert.
func (d *Driver) Resize(ctx context.Context, inst *compute.Instance, to compute.Flavor) error {
	if err := d.begin(ctx, "resize", inst); err != nil {
		return err
	}
	return d.update(inst.UUID, func(g *Guest) error {
		if g.OldFlavor == nil {
			old := g.Flavor
			g.OldFlavor = &old
		}
		g.Flavor = to
		return nil
	})
}

// ConfirmResize drops what a revert would need: the old flavor, or the guest a cold
// migration left on this (source) host.
func (d *Driver) ConfirmResize(ctx context.Context, inst *compute.Instance) error {
	if err := d.begin(ctx, "confirm_resize", inst); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.st.Guests[inst.UUID]
	if g == nil {
		return nil
	}
	if g.MigratedOut {
		delete(d.st.Guests, inst.UUID)
	} else {
		g.OldFlavor = nil
	}
	return d.save()
}

// RevertResize restores the old flavor (in place) or the guest a migration left here.
func (d *Driver) RevertResize(ctx context.Context, inst *compute.Instance, from compute.Flavor) error {
	if err := d.begin(ctx, "revert_resize", inst); err != nil {
		return err
	}
	return d.update(inst.UUID, func(g *Guest) error {
		g.Flavor, g.OldFlavor, g.MigratedOut = from, nil, false
		return nil
	})
}

// MigrateOut stops the guest and keeps it, hidden, until the migration is confirmed
// (ConfirmResize) or reverted (RevertResize).
func (d *Driver) MigrateOut(ctx context.Context, inst *compute.Instance, dest string) error {
	if err := d.begin(ctx, "migrate_out", inst); err != nil {
		return err
	}
	d.stopVNC(inst.UUID)
	return d.update(inst.UUID, func(g *Guest) error {
		g.MigratedOut, g.State = true, compute.Shutdown
		return nil
	})
}

// MigrateIn creates the migrated guest here, running with inst's flavor (a cold
// migration's finish, or a live migration's arrival).
func (d *Driver) MigrateIn(ctx context.Context, inst *compute.Instance, source string) error {
	if err := d.begin(ctx, "migrate_in", inst); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.newGuest(inst)
	if old := d.st.Guests[inst.UUID]; old != nil {
		g.Console = old.Console
	}
	d.console(g, "Guest "+g.Hostname+" arrived from "+source)
	d.st.Guests[inst.UUID] = g
	return d.save()
}

// LiveMigrate hands the running guest to dest: it leaves this host (the destination's
// MigrateIn adopts it).
func (d *Driver) LiveMigrate(ctx context.Context, inst *compute.Instance, dest string) error {
	if err := d.begin(ctx, "live_migrate", inst); err != nil {
		return err
	}
	d.stopVNC(inst.UUID)
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.st.Guests, inst.UUID)
	return d.save()
}

// Rebuild reinstalls the guest from inst's image.
func (d *Driver) Rebuild(ctx context.Context, inst *compute.Instance) error {
	if err := d.begin(ctx, "rebuild", inst); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.newGuest(inst)
	if old := d.st.Guests[inst.UUID]; old != nil {
		g.Console = old.Console
	}
	d.console(g, bootBanner(g, inst.UserData)...)
	d.st.Guests[inst.UUID] = g
	return d.save()
}

// RemoteConsole returns the guest's VNC server (a unix socket), starting it when it is
// not running yet. Only "vnc" is offered; a guest that is not running or paused has no
// display (ErrNotSupported).
func (d *Driver) RemoteConsole(ctx context.Context, inst *compute.Instance, protocol string) (compute.RemoteConsole, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.st.Guests[inst.UUID]
	if g == nil || g.MigratedOut {
		return compute.RemoteConsole{}, compute.ErrNotFound
	}
	if protocol != "vnc" || (g.State != compute.Running && g.State != compute.Paused) {
		return compute.RemoteConsole{}, compute.ErrNotSupported
	}
	v := d.vnc[inst.UUID]
	if v == nil {
		var err error
		v, err = startVNC(vncAddress(d.cfg.VNCDir, d.cfg.Host, inst.UUID), "QEMU ("+g.Name+")")
		if err != nil {
			return compute.RemoteConsole{}, err
		}
		d.vnc[inst.UUID] = v
	}
	return compute.RemoteConsole{Protocol: "vnc", Path: v.addr}, nil
}

// stopVNC stops a guest's VNC server, if it runs.
func (d *Driver) stopVNC(uuid string) {
	d.mu.Lock()
	v := d.vnc[uuid]
	delete(d.vnc, uuid)
	d.mu.Unlock()
	if v != nil {
		v.close()
	}
}

// Close stops the guests' VNC servers; the simulated guests themselves stay, as a real
// hypervisor's outlive the process that drives them.
func (d *Driver) Close() error {
	d.mu.Lock()
	servers := d.vnc
	d.vnc = map[string]*vncServer{}
	d.mu.Unlock()
	for _, v := range servers {
		v.close()
	}
	return nil
}

// AttachVolume records a volume at device.
func (d *Driver) AttachVolume(ctx context.Context, inst *compute.Instance, device string, connection map[string]any) error {
	if err := d.begin(ctx, "attach_volume", inst); err != nil {
		return err
	}
	return d.update(inst.UUID, func(g *Guest) error {
		if g.Volumes == nil {
			g.Volumes = map[string]string{}
		}
		id, _ := connection["volume_id"].(string)
		g.Volumes[device] = id
		return nil
	})
}

// DetachVolume forgets the volume at device.
func (d *Driver) DetachVolume(ctx context.Context, inst *compute.Instance, device string) error {
	if err := d.begin(ctx, "detach_volume", inst); err != nil {
		return err
	}
	return d.update(inst.UUID, func(g *Guest) error {
		delete(g.Volumes, device)
		delete(g.VolumeSizes, device)
		return nil
	})
}

// ExtendVolume implements compute.VolumeExtender: it records the volume's new size
// for a running or paused guest (a stopped one is left alone, as QEMU's is); sizes
// never shrink.
func (d *Driver) ExtendVolume(ctx context.Context, inst *compute.Instance, device string, connection map[string]any, newSizeBytes int64) error {
	if err := d.begin(ctx, "extend_volume", inst); err != nil {
		return err
	}
	return d.update(inst.UUID, func(g *Guest) error {
		if g.State != compute.Running && g.State != compute.Paused {
			return nil
		}
		if g.VolumeSizes == nil {
			g.VolumeSizes = map[string]int64{}
		}
		if newSizeBytes > g.VolumeSizes[device] {
			g.VolumeSizes[device] = newSizeBytes
		}
		return nil
	})
}

// AttachInterface records a port.
func (d *Driver) AttachInterface(ctx context.Context, inst *compute.Instance, nic compute.NIC) error {
	if err := d.begin(ctx, "attach_interface", inst); err != nil {
		return err
	}
	return d.update(inst.UUID, func(g *Guest) error {
		for _, p := range g.Ports {
			if p == nic.PortID {
				return nil
			}
		}
		g.Ports = append(g.Ports, nic.PortID)
		return nil
	})
}

// DetachInterface forgets a port.
func (d *Driver) DetachInterface(ctx context.Context, inst *compute.Instance, nic compute.NIC) error {
	if err := d.begin(ctx, "detach_interface", inst); err != nil {
		return err
	}
	return d.update(inst.UUID, func(g *Guest) error {
		out := g.Ports[:0]
		for _, p := range g.Ports {
			if p != nic.PortID {
				out = append(out, p)
			}
		}
		g.Ports = out
		return nil
	})
}

// TriggerCrashDump "crashes" the guest: it prints a panic and keeps running, as a
// guest configured with kdump reboots.
func (d *Driver) TriggerCrashDump(ctx context.Context, inst *compute.Instance) error {
	if err := d.begin(ctx, "trigger_crash_dump", inst); err != nil {
		return err
	}
	return d.update(inst.UUID, func(g *Guest) error {
		if g.State != compute.Running {
			return fmt.Errorf("fake: NMI to a guest in power state %d", g.State)
		}
		d.console(g, "Kernel panic - not syncing: NMI: Not continuing", "kdump: saving vmcore")
		return nil
	})
}

// Diagnostics reports made-up usage.
func (d *Driver) Diagnostics(ctx context.Context, inst *compute.Instance) (compute.Diagnostics, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.st.Guests[inst.UUID]
	if g == nil {
		return compute.Diagnostics{}, compute.ErrNotFound
	}
	state := map[compute.PowerState]string{compute.Running: "running", compute.Paused: "paused", compute.Shutdown: "shutdown",
		compute.Crashed: "crashed", compute.Suspended: "suspended"}[g.State]
	if state == "" {
		state = "pending"
	}
	// Nova's fake driver reports itself as libvirt/kvm too; clients (tempest's schema)
	// only accept the driver names Nova ships.
	diag := compute.Diagnostics{State: state, Driver: "libvirt", Hypervisor: "kvm", HypervisorOS: "linux",
		Uptime: int64(time.Since(g.StartedAt).Seconds()), NumCPUs: g.Flavor.VCPUs, NumNICs: len(g.Ports),
		NumDisks: 1 + len(g.Volumes), MemoryMB: g.Flavor.MemoryMB}
	for i := range g.Flavor.VCPUs {
		diag.CPUDetails = append(diag.CPUDetails, map[string]any{"id": i, "time": 17300000000, "utilisation": 15})
	}
	for range g.Ports {
		diag.NICDetails = append(diag.NICDetails, map[string]any{"mac_address": "fa:16:3e:00:00:01", "rx_octets": 2070139,
			"rx_errors": 0, "rx_drop": 0, "rx_packets": 26701, "rx_rate": nil, "tx_octets": 140208, "tx_errors": 0,
			"tx_drop": 0, "tx_packets": 662, "tx_rate": nil})
	}
	diag.DiskDetails = append(diag.DiskDetails, map[string]any{"read_bytes": 262144, "read_requests": 112,
		"write_bytes": 5778432, "write_requests": 488, "errors_count": 1})
	return diag, nil
}

// SetPowerState changes a guest's power state behind the cloud's back (a guest that
// shut itself down, crashed, ...), for tests of the power state sync.
func (d *Driver) SetPowerState(uuid string, s compute.PowerState) error {
	return d.update(uuid, func(g *Guest) error {
		g.State = s
		return nil
	})
}

// Guest returns a copy of a guest's state; ok is false when there is none.
func (d *Driver) Guest(uuid string) (g Guest, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.st.Guests[uuid]
	if p == nil {
		return Guest{}, false
	}
	return *p, true
}
