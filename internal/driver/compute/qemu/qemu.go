// Package qemu is the QEMU compute driver: every guest is its own qemu-system process,
// started detached (-daemonize) so that it outlives gostack, driven over its QMP socket
// and re-adopted at start from its pid file, as nova-compute re-attaches to libvirt's
// domains. KVM is used when a probe guest really runs under it, TCG otherwise (Nova's
// virt_type = qemu).
//
// Each instance has a directory <data-dir>/instances/<uuid>/ with its disks (qcow2
// overlays on a per-host image cache in instances/_base), its config drive, its serial
// console log and instance.json, what the guest was started with, so that PowerOn and
// re-adoption work across restarts of gostack. Every host program (qemu-img, qemu-system,
// ip, genisoimage) runs through platform.Runner.
package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/platform"
	"github.com/gostack/gostack/internal/platform/qmp"
)

// Config configures the driver.
type Config struct {
	// DataDir is gostack's data directory; instances live in DataDir/instances.
	DataDir string
	// Runner runs host programs (platform.Exec in production).
	Runner platform.Runner
	// Log receives the driver's messages.
	Log *slog.Logger
	// Binary is the emulator (default qemu-system-x86_64), Img qemu-img.
	Binary, Img string
	// Accel forces an accelerator ("kvm" or "tcg"); "" probes.
	Accel string
	// HostIP is reported as the host's address.
	HostIP string
	// ConsoleLogMax bounds the serial console log (default 1 MiB, kept twice: the
	// current file and one rotated).
	ConsoleLogMax int64
	// DefaultEphemeralFormat is the ephemeral disks' file system when the image's
	// os_type does not decide it (Nova's default_ephemeral_format; default vfat).
	DefaultEphemeralFormat string
	// ImageCacheMinAge is how long a cached base no disk uses is kept after its last use
	// (Nova's remove_unused_original_minimum_age_seconds; default 24 h).
	ImageCacheMinAge time.Duration
	// ProbeTimeout bounds the accelerator probe (default 5 s; it takes well under a
	// second where KVM works, and a broken KVM hangs rather than fails).
	ProbeTimeout time.Duration
}

// Driver is the QEMU compute driver.
type Driver struct {
	cfg    Config
	run    platform.Runner
	log    *slog.Logger
	dir    string // DataDir/instances
	accel  *accelProbe
	images *imageCache

	mu      sync.Mutex
	locks   map[string]*sync.Mutex
	dialing map[string]*sync.Mutex
	conns   map[string]*qmp.Client

	// copySpeed limits volume copies (bytes per second, 0: unlimited); tests slow
	// copies down to cancel them midway.
	copySpeed int64
}

var (
	_ computedriver.Driver            = (*Driver)(nil)
	_ computedriver.Pauser            = (*Driver)(nil)
	_ computedriver.Suspender         = (*Driver)(nil)
	_ computedriver.Snapshotter       = (*Driver)(nil)
	_ computedriver.Rescuer           = (*Driver)(nil)
	_ computedriver.Resizer           = (*Driver)(nil)
	_ computedriver.Rebuilder         = (*Driver)(nil)
	_ computedriver.Consoler          = (*Driver)(nil)
	_ computedriver.VolumeAttacher    = (*Driver)(nil)
	_ computedriver.VolumeCopier      = (*Driver)(nil)
	_ computedriver.InterfaceAttacher = (*Driver)(nil)
	_ computedriver.CrashDumper       = (*Driver)(nil)
	_ computedriver.Diagnoser         = (*Driver)(nil)
	_ computedriver.ImageCacheManager = (*Driver)(nil)
	_ computedriver.Housekeeper       = (*Driver)(nil)
)

// New returns a driver and starts the accelerator probe in the background (HostInfo
// and Spawn wait for it), so that starting gostack is not slowed down by it.
func New(cfg Config) (*Driver, error) {
	if cfg.DataDir == "" || cfg.Runner == nil {
		return nil, errors.New("qemu: a data directory and a runner are required")
	}
	if cfg.Binary == "" {
		cfg.Binary = "qemu-system-x86_64"
	}
	if cfg.Img == "" {
		cfg.Img = "qemu-img"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.ConsoleLogMax <= 0 {
		cfg.ConsoleLogMax = 1 << 20
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = 5 * time.Second
	}
	dir := filepath.Join(cfg.DataDir, "instances")
	if err := os.MkdirAll(filepath.Join(dir, baseDirName), 0o750); err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	d := &Driver{cfg: cfg, run: cfg.Runner, log: cfg.Log, dir: dir, locks: map[string]*sync.Mutex{},
		dialing: map[string]*sync.Mutex{}, conns: map[string]*qmp.Client{}}
	d.images = &imageCache{d: d, dir: filepath.Join(dir, baseDirName), inflight: map[string]*fetch{}}
	d.accel = startProbe(d)
	return d, nil
}

// Accelerator waits for the probe and returns the accelerator guests run with ("kvm" or
// "tcg"), or why none is usable.
func (d *Driver) Accelerator(ctx context.Context) (string, error) { return d.accel.wait(ctx) }

// lock serialises the operations on one instance.
func (d *Driver) lock(uuid string) func() {
	d.mu.Lock()
	l := d.locks[uuid]
	if l == nil {
		l = &sync.Mutex{}
		d.locks[uuid] = l
	}
	d.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// guest is what an instance was started with, kept in its instance.json.
type guest struct {
	UUID string `json:"uuid"`
	Name string `json:"name"`
	// Binary and Accel are the emulator and accelerator it runs with.
	Binary   string `json:"binary"`
	Accel    string `json:"accel"`
	VCPUs    int    `json:"vcpus"`
	MemoryMB int64  `json:"memory_mb"`
	Flavor   string `json:"flavor"`
	// RootGB, EphemeralGB and SwapMB are the flavor's disk sizes the disks were made with.
	RootGB      int64 `json:"root_gb"`
	EphemeralGB int64 `json:"ephemeral_gb"`
	SwapMB      int64 `json:"swap_mb"`
	// EphemeralFS is the ephemeral disk's file system ("" on guests made before it was
	// recorded: vfat).
	EphemeralFS string `json:"ephemeral_fs,omitempty"`
	ImageID     string `json:"image_id,omitempty"`
	// SocketDir holds the QMP and VNC sockets (the instance directory, or a shorter
	// path when that is too long for a unix socket).
	SocketDir string `json:"socket_dir"`
	Disks     []disk `json:"disks"`
	NICs      []nic  `json:"nics"`
	// Rescue is set while the guest runs from a rescue disk; Suspended while its state
	// is saved to disk.
	Rescue    bool      `json:"rescue,omitempty"`
	Suspended bool      `json:"suspended,omitempty"`
	StartedAt time.Time `json:"started_at"`
}

// disk is one block device of a guest.
type disk struct {
	// ID names the device ("virtio-disk0"); Dev is the guest's name for it ("vda").
	ID     string `json:"id"`
	Dev    string `json:"dev"`
	Path   string `json:"path"`
	Format string `json:"format"`
	// Bus is "virtio", "scsi" (volumes attached to a running guest) or "ide-cd";
	// BootIndex 0 means not bootable.
	Bus       string `json:"bus"`
	BootIndex int    `json:"boot_index,omitempty"`
	ReadOnly  bool   `json:"read_only,omitempty"`
	// Volume is set for an attached volume (hot-plugged with QMP).
	Volume bool `json:"volume,omitempty"`
}

// nic is one network interface of a guest.
type nic struct {
	PortID string `json:"port_id"`
	Tap    string `json:"tap"`
	MAC    string `json:"mac"`
	MTU    int    `json:"mtu,omitempty"`
}

// instanceDir is the directory of an instance.
func (d *Driver) instanceDir(uuid string) string { return filepath.Join(d.dir, uuid) }

// path is a file of an instance.
func (d *Driver) path(uuid, name string) string { return filepath.Join(d.dir, uuid, name) }

// socketDir returns where an instance's sockets go: its directory, unless a socket path
// there would exceed what a unix socket address holds; then a directory named by the
// uuid under /run (root) or the temporary directory.
func (d *Driver) socketDir(uuid string) string {
	dir := d.instanceDir(uuid)
	// sun_path holds 107 bytes and a NUL; keep a small margin.
	if len(dir)+len("/vnc.sock") <= 104 {
		return dir
	}
	// /run is not aged by tmp cleaners, which would cut gostack off long-lived guests.
	if os.Geteuid() == 0 {
		return filepath.Join("/run/gostack-qemu", uuid)
	}
	return filepath.Join(os.TempDir(), "gostack-qemu", uuid)
}

// uuidRe matches the instance directories (the image cache and stray files are not).
var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// validUUID guards the paths made from an instance's uuid.
func validUUID(uuid string) error {
	if !uuidRe.MatchString(uuid) {
		return fmt.Errorf("qemu: invalid instance uuid %q", uuid)
	}
	return nil
}

// load reads an instance's instance.json; ok is false when there is none.
func (d *Driver) load(uuid string) (*guest, bool, error) {
	b, err := os.ReadFile(d.path(uuid, "instance.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("qemu: %w", err)
	}
	var g guest
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, false, fmt.Errorf("qemu: instance.json of %s: %w", uuid, err)
	}
	return &g, true, nil
}

// save writes an instance's instance.json atomically.
func (d *Driver) save(g *guest) error {
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(d.path(g.UUID, "instance.json"), append(b, '\n'), 0o640)
}

// writeFileAtomic writes a file through a temporary and a rename.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	return nil
}

// pid returns the PID of an instance's QEMU process when it runs, 0 otherwise. The pid
// file alone is not trusted: /proc/<pid>/cmdline must be a QEMU started for this uuid,
// so that a recycled PID is not taken for the guest.
func (d *Driver) pid(uuid string) int {
	b, err := os.ReadFile(d.path(uuid, "qemu.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return 0
	}
	args := strings.Split(string(cmdline), "\x00")
	if !strings.Contains(filepath.Base(args[0]), "qemu") {
		return 0
	}
	for i, a := range args {
		if a == "-uuid" && i+1 < len(args) && args[i+1] == uuid {
			if isZombie(pid) {
				return 0
			}
			return pid
		}
	}
	return 0
}

// isZombie reports whether pid has exited but not been reaped (a guest started by this
// process and not yet waited for).
func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// client returns a QMP connection to a running guest, reusing the open one: QEMU's
// monitor socket serves one client at a time, so every caller shares it and dialing
// is serialised per guest.
func (d *Driver) client(ctx context.Context, g *guest) (*qmp.Client, error) {
	if c := d.liveClient(g.UUID); c != nil {
		return c, nil
	}
	d.mu.Lock()
	dl := d.dialing[g.UUID]
	if dl == nil {
		dl = &sync.Mutex{}
		d.dialing[g.UUID] = dl
	}
	d.mu.Unlock()
	dl.Lock()
	defer dl.Unlock()
	if c := d.liveClient(g.UUID); c != nil {
		return c, nil
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var (
		c   *qmp.Client
		err error
	)
	for {
		c, err = qmp.Dial(dctx, filepath.Join(g.SocketDir, "qmp.sock"))
		if err == nil || dctx.Err() != nil || d.pid(g.UUID) == 0 {
			break
		}
		// The socket may not be listening yet right after a start.
		select {
		case <-dctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		return nil, fmt.Errorf("qemu: connect to the guest's monitor: %w", err)
	}
	go func() {
		for range c.Events() { // drained: state is asked for, not tracked from events
		}
	}()
	d.mu.Lock()
	d.conns[g.UUID] = c
	d.mu.Unlock()
	return c, nil
}

// liveClient returns the open QMP connection of a guest, nil when there is none.
func (d *Driver) liveClient(uuid string) *qmp.Client {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.conns[uuid]
	if c == nil {
		return nil
	}
	select {
	case <-c.Done():
		delete(d.conns, uuid)
		return nil
	default:
		return c
	}
}

// dropClient closes an instance's QMP connection.
func (d *Driver) dropClient(uuid string) {
	d.mu.Lock()
	c := d.conns[uuid]
	delete(d.conns, uuid)
	d.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// execute runs a QMP command on a running guest.
func (d *Driver) execute(ctx context.Context, g *guest, cmd string, args, result any) error {
	c, err := d.client(ctx, g)
	if err != nil {
		return err
	}
	return c.Execute(ctx, cmd, args, result)
}

// status is QMP's query-status.
func (d *Driver) status(ctx context.Context, g *guest) (string, error) {
	var st struct {
		Status string `json:"status"`
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := d.execute(qctx, g, "query-status", nil, &st); err != nil {
		return "", err
	}
	return st.Status, nil
}

// List implements computedriver.Driver: the instances with a directory here.
func (d *Driver) List(context.Context) ([]string, error) {
	ents, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && uuidRe.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Info implements computedriver.Driver from the process and QMP's query-status.
func (d *Driver) Info(ctx context.Context, inst *computedriver.Instance) (computedriver.Info, error) {
	if err := validUUID(inst.UUID); err != nil {
		return computedriver.Info{}, computedriver.ErrNotFound
	}
	g, ok, err := d.load(inst.UUID)
	if err != nil {
		return computedriver.Info{}, err
	}
	if !ok {
		return computedriver.Info{}, computedriver.ErrNotFound
	}
	info := computedriver.Info{State: computedriver.Shutdown, MemoryMB: g.MemoryMB, VCPUs: g.VCPUs}
	// The power sync asks for every guest regularly: the time to keep consoles bounded.
	if err := d.rotateConsole(g.UUID); err != nil {
		d.log.Warn("rotate console log", "instance", g.UUID, "err", err)
	}
	pid := d.pid(g.UUID)
	if pid == 0 {
		if g.Suspended {
			info.State = computedriver.Suspended
		}
		return info, nil
	}
	info.CPUTime = cpuTime(pid)
	st, err := d.status(ctx, g)
	if err != nil {
		// The process runs but its monitor does not answer (busy or starting).
		info.State = computedriver.Running
		return info, nil
	}
	info.State = powerOfStatus(st)
	return info, nil
}

// powerOfStatus maps QMP run states to Nova's power states.
func powerOfStatus(st string) computedriver.PowerState {
	switch st {
	case "running", "debug", "finish-migrate", "postmigrate", "save-vm", "restore-vm", "inmigrate", "prelaunch":
		return computedriver.Running
	case "paused":
		return computedriver.Paused
	case "suspended":
		return computedriver.Suspended
	case "shutdown":
		return computedriver.Shutdown
	case "internal-error", "io-error", "guest-panicked", "watchdog":
		return computedriver.Crashed
	}
	return computedriver.NoState
}

// cpuTime is the CPU time a process has used (utime + stime from /proc).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// alive reports whether a process exists (and is not a zombie).
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	return !isZombie(pid)
}
