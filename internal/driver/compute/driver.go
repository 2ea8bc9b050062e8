// Package compute is the compute driver contract: what a host agent asks of the
// hypervisor on its host. Drivers are handed the desired instance and make it so;
// every call is idempotent (spawning an instance that already runs, or destroying one
// that is gone, succeeds), because a task interrupted by a restart is run again.
//
// The core Driver covers what every hypervisor does; optional abilities are small
// separate interfaces that a driver implements when it can (a type assertion tells the
// agent, which answers the API with Nova's "not supported" errors otherwise).
// Implementations: fake (a simulated hypervisor for tests and scale runs) and qemu.
package compute

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotFound is returned when the driver has no such instance.
var ErrNotFound = errors.New("instance not found on the hypervisor")

// ErrNotSupported is returned for an operation the driver or the instance cannot do.
var ErrNotSupported = errors.New("operation not supported by this hypervisor")

// ErrNotRunning is returned by an operation that needs the guest's process (a running or
// paused guest) when it does not run: the caller does the work itself then.
var ErrNotRunning = errors.New("the instance is not running")

// PowerState is what the hypervisor reports about a guest (Nova's power_state values).
type PowerState int

// Power states, numbered as Nova's power_state.
const (
	NoState   PowerState = 0
	Running   PowerState = 1
	Paused    PowerState = 3
	Shutdown  PowerState = 4
	Crashed   PowerState = 6
	Suspended PowerState = 7
)

// Flavor is the sizing of an instance.
type Flavor struct {
	Name        string
	VCPUs       int
	MemoryMB    int64
	RootGB      int64
	EphemeralGB int64
	SwapMB      int64
	ExtraSpecs  map[string]string
}

// Image is the image an instance boots from.
type Image struct {
	ID              string
	DiskFormat      string
	ContainerFormat string
	Size            int64
	Properties      map[string]any
	// Open streams the image's bytes (drivers cache them per host).
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// NIC is a network interface the instance has.
type NIC struct {
	PortID     string
	MACAddress string
	NetworkID  string
	// DeviceName is the tap device ("tap" + the first 11 characters of the port id).
	DeviceName string
	MTU        int
	FixedIPs   []string
}

// Instance is the desired instance handed to the driver.
type Instance struct {
	UUID string
	// Name is the hypervisor-side name ("instance-0000002a").
	Name string
	// DisplayName and Hostname are the server's name and hostname.
	DisplayName, Hostname string
	ProjectID, UserID     string
	Flavor                Flavor
	Image                 *Image // nil for a server booted from a volume
	// KeyName and KeyData are the server's key pair (config drive public_keys).
	KeyName     string
	KeyData     string
	UserData    []byte
	Metadata    map[string]string
	NICs        []NIC
	ConfigDrive bool
	// BlockDevices are the volumes attached to the instance, the boot volume (BootIndex
	// 0) first when the server boots from a volume (Image is then nil).
	BlockDevices []BlockDevice
	// NetworkData and VendorData are the config drive's network_data.json and
	// vendor_data.json.
	NetworkData, VendorData []byte
	AvailabilityZone        string
	LaunchIndex             int
	CreatedAt               time.Time
}

// BlockDevice is a volume attached to an instance.
type BlockDevice struct {
	VolumeID string
	// DeviceName is the guest device Nova reserved ("/dev/vdb").
	DeviceName string
	// BootIndex orders bootable devices (0 boots first); -1 is not bootable.
	BootIndex int
	// Connection is the volume service's connection_info for this host:
	// {"driver_volume_type": "file", "data": {"path": ..., "format": "qcow2"|"raw", ...}}.
	Connection map[string]any
}

// Info is what the hypervisor knows about a running instance.
type Info struct {
	State PowerState
	// MemoryMB and VCPUs are the guest's size as running; CPUTime is cumulative.
	MemoryMB int64
	VCPUs    int
	CPUTime  time.Duration
}

// HostInfo is the capacity and identity of the host the driver runs on.
type HostInfo struct {
	// HypervisorType ("QEMU", "fake") and HypervisorVersion (Nova's integer form,
	// major*1000000 + minor*1000 + patch) show in `hypervisor show`.
	HypervisorType    string
	HypervisorVersion int64
	// VCPUs, MemoryMB and LocalGB are the host's totals.
	VCPUs    int
	MemoryMB int64
	LocalGB  int64
	// CPUInfo is a JSON object describing the CPU (arch, model, vendor, topology, features).
	CPUInfo string
	// HostIP is the address other hosts reach this one at.
	HostIP string
	// Traits are Placement traits the host has (COMPUTE_*, HW_CPU_*).
	Traits []string
}

// Snapshot is a finished snapshot ready to upload into the image service.
type Snapshot struct {
	DiskFormat      string
	ContainerFormat string
	Data            io.ReadCloser
}

// Driver is the core contract every compute driver implements.
type Driver interface {
	// HostInfo reports the host's capacity.
	HostInfo(ctx context.Context) (HostInfo, error)
	// Spawn creates and starts the instance; calling it for an instance that already
	// exists leaves it as it is.
	Spawn(ctx context.Context, inst *Instance) error
	// Destroy stops the instance and removes everything the driver made for it; an
	// unknown instance is not an error.
	Destroy(ctx context.Context, inst *Instance) error
	// PowerOn starts a stopped instance; PowerOff stops it, cleanly within timeout and
	// then forcibly (timeout 0: forcibly at once).
	PowerOn(ctx context.Context, inst *Instance) error
	PowerOff(ctx context.Context, inst *Instance, timeout time.Duration) error
	// Reboot restarts the guest: soft asks it (falling back to hard), hard resets it.
	Reboot(ctx context.Context, inst *Instance, hard bool) error
	// Info reports the instance's power state; ErrNotFound when it does not exist.
	Info(ctx context.Context, inst *Instance) (Info, error)
	// List returns the uuids of the instances the hypervisor has.
	List(ctx context.Context) ([]string, error)
	// ConsoleOutput returns the last length lines of the serial console (length <= 0:
	// everything kept).
	ConsoleOutput(ctx context.Context, inst *Instance, length int) (string, error)
}

// Pauser pauses guests in memory.
type Pauser interface {
	Pause(ctx context.Context, inst *Instance) error
	Unpause(ctx context.Context, inst *Instance) error
}

// Suspender saves a guest's state to disk and restores it.
type Suspender interface {
	Suspend(ctx context.Context, inst *Instance) error
	Resume(ctx context.Context, inst *Instance) error
}

// Snapshotter captures an instance's root disk as a new image.
type Snapshotter interface {
	Snapshot(ctx context.Context, inst *Instance) (*Snapshot, error)
}

// Rescuer boots an instance from a rescue image with its disk attached.
type Rescuer interface {
	Rescue(ctx context.Context, inst *Instance, rescue *Image) error
	Unrescue(ctx context.Context, inst *Instance) error
}

// Resizer changes an instance's flavor on the same host (and, with Migrator, moves it):
// Resize keeps what revert needs until Confirm drops it or Revert restores it.
type Resizer interface {
	Resize(ctx context.Context, inst *Instance, to Flavor) error
	ConfirmResize(ctx context.Context, inst *Instance) error
	RevertResize(ctx context.Context, inst *Instance, from Flavor) error
}

// Migrator moves instances between hosts.
type Migrator interface {
	// MigrateOut stops the instance and hands its disks to dest (cold migration and
	// resize to another host); MigrateIn finishes it on the destination.
	MigrateOut(ctx context.Context, inst *Instance, dest string) error
	MigrateIn(ctx context.Context, inst *Instance, source string) error
	// LiveMigrate moves a running instance to dest without stopping it.
	LiveMigrate(ctx context.Context, inst *Instance, dest string) error
}

// Rebuilder reinstalls an instance from an image, keeping its identity.
type Rebuilder interface {
	Rebuild(ctx context.Context, inst *Instance) error
}

// RemoteConsole describes how to reach an instance's graphical or serial console.
type RemoteConsole struct {
	// Protocol is "vnc", "spice", "serial" or "mks"; Host and Port (or Path, a unix
	// socket) are where the console server listens.
	Protocol string
	Host     string
	Port     int
	Path     string
}

// Consoler gives access to remote consoles.
type Consoler interface {
	RemoteConsole(ctx context.Context, inst *Instance, protocol string) (RemoteConsole, error)
}

// VolumeAttacher hot-plugs block devices.
type VolumeAttacher interface {
	AttachVolume(ctx context.Context, inst *Instance, device string, connection map[string]any) error
	DetachVolume(ctx context.Context, inst *Instance, device string) error
}

// VolumeExtender makes a running guest see the new size of an attached volume that
// the volume service grew (Nova's extend_volume on the volume-extended event): the
// hypervisor grows the block device (for a file volume, QEMU grows the file itself, as
// it holds the file's lock). A guest that is not running is left alone (nil): the
// volume service grows the data itself then. It never shrinks a device.
type VolumeExtender interface {
	ExtendVolume(ctx context.Context, inst *Instance, device string, connection map[string]any, newSizeBytes int64) error
}

// VolumeCopier makes a point-in-time copy of a volume attached to a running guest (what
// Cinder's file drivers ask Nova for when they snapshot an in-use volume): the
// hypervisor copies the device it writes to, so that the copy is consistent as of the
// moment the copy started (crash-consistent) while the guest keeps running. dest is a
// new image file in format ("qcow2" or "raw") of the device's size, which the copier
// creates; on failure or when ctx ends, nothing is left at dest. A guest whose process
// does not run gets ErrNotRunning: the caller copies the volume's file itself then.
type VolumeCopier interface {
	CopyVolume(ctx context.Context, inst *Instance, device string, connection map[string]any, dest, format string) error
}

// ImageCacheManager is a driver that caches images on its host and can remove the ones
// no instance uses any longer (Nova's image cache manager); it returns what it removed.
type ImageCacheManager interface {
	ManageImageCache(ctx context.Context) ([]string, error)
}

// Housekeeper is a driver with host chores to do every few seconds (the QEMU driver
// rotates the guests' console logs).
type Housekeeper interface {
	Housekeep(ctx context.Context) error
}

// InterfaceAttacher hot-plugs network interfaces.
type InterfaceAttacher interface {
	AttachInterface(ctx context.Context, inst *Instance, nic NIC) error
	DetachInterface(ctx context.Context, inst *Instance, nic NIC) error
}

// CrashDumper injects an NMI so that the guest dumps its kernel.
type CrashDumper interface {
	TriggerCrashDump(ctx context.Context, inst *Instance) error
}

// Diagnostics is the per-instance usage `server show --diagnostics` reports (2.48 form).
type Diagnostics struct {
	State        string
	Driver       string
	Hypervisor   string
	HypervisorOS string
	Uptime       int64
	NumCPUs      int
	NumNICs      int
	NumDisks     int
	MemoryMB     int64
	CPUDetails   []map[string]any
	NICDetails   []map[string]any
	DiskDetails  []map[string]any
	ConfigDrive  bool
}

// Diagnoser reports per-instance diagnostics.
type Diagnoser interface {
	Diagnostics(ctx context.Context, inst *Instance) (Diagnostics, error)
}
