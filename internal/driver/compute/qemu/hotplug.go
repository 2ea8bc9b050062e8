package qemu

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/platform/qmp"
)

// AttachVolume implements computedriver.VolumeAttacher: the volume's file (connection
// {"path", "format"}) is added to a running guest with blockdev-add and device_add and
// recorded in its definition, so that it is there after a restart too.
func (d *Driver) AttachVolume(ctx context.Context, inst *computedriver.Instance, device string, connection map[string]any) error {
	defer d.lock(inst.UUID)()
	g, err := d.loadExisting(inst.UUID)
	if err != nil {
		return err
	}
	dk, ok := volumeDisk(computedriver.BlockDevice{DeviceName: device, BootIndex: -1, Connection: connection})
	if !ok {
		return errors.New("qemu: the volume connection has no path")
	}
	for _, x := range g.Disks {
		if x.ID == dk.ID {
			return nil
		}
	}
	// Volumes attached later go on the guest's virtio-scsi controller: a SCSI disk is
	// unplugged without the guest's cooperation, where a virtio-blk PCI device needs the
	// guest's ACPI hotplug, which a guest still in its firmware never answers (and QEMU
	// refuses to ask again). Guests started before the controller existed get virtio-blk.
	dk.Bus = "scsi"
	if d.pid(g.UUID) != 0 {
		node := "drive-" + dk.ID
		err := d.execute(ctx, g, "blockdev-add", map[string]any{"driver": dk.Format, "node-name": node,
			"file": map[string]any{"driver": "file", "filename": dk.Path}}, nil)
		if err != nil {
			return fmt.Errorf("qemu: attach volume: %w", err)
		}
		err = d.execute(ctx, g, "device_add", map[string]any{"driver": "scsi-hd", "bus": "scsi0.0", "drive": node, "id": dk.ID}, nil)
		if err != nil {
			dk.Bus = "virtio"
			err = d.execute(ctx, g, "device_add", map[string]any{"driver": "virtio-blk-pci", "drive": node, "id": dk.ID}, nil)
		}
		if err != nil {
			_ = d.execute(ctx, g, "blockdev-del", map[string]any{"node-name": node}, nil)
			return fmt.Errorf("qemu: attach volume: %w", err)
		}
	}
	g.Disks = insertBeforeConfig(g.Disks, dk)
	return d.save(g)
}

// DetachVolume implements computedriver.VolumeAttacher.
func (d *Driver) DetachVolume(ctx context.Context, inst *computedriver.Instance, device string) error {
	defer d.lock(inst.UUID)()
	g, err := d.loadExisting(inst.UUID)
	if err != nil {
		return err
	}
	id := "virtio-" + strings.TrimPrefix(device, "/dev/")
	idx := -1
	for i, x := range g.Disks {
		if x.ID == id && x.Volume {
			idx = i
		}
	}
	if idx < 0 {
		return nil
	}
	if d.pid(g.UUID) != 0 {
		if err := d.unplugDevice(ctx, g, id); err != nil {
			return fmt.Errorf("qemu: detach volume: %w", err)
		}
		// The node stays "in use" for a moment after a SCSI disk leaves the bus.
		for attempt := 0; ; attempt++ {
			err := d.execute(ctx, g, "blockdev-del", map[string]any{"node-name": "drive-" + id}, nil)
			if err == nil || isNotFound(err) {
				break
			}
			if attempt >= 50 || !strings.Contains(err.Error(), "in use") {
				return fmt.Errorf("qemu: detach volume: %w", err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	g.Disks = append(g.Disks[:idx], g.Disks[idx+1:]...)
	return d.save(g)
}

// ExtendVolume implements computedriver.VolumeExtender: QMP block_resize grows the
// volume's block node in the running guest, which grows the file too (QEMU holds the
// file's lock, so qemu-img cannot) and tells the guest the new capacity. A guest that
// is not running is left alone: the volume service grows the file itself then. The
// connection is not needed: the device names the guest's disk.
func (d *Driver) ExtendVolume(ctx context.Context, inst *computedriver.Instance, device string, connection map[string]any, newSizeBytes int64) error {
	if newSizeBytes <= 0 {
		return fmt.Errorf("qemu: extend volume: invalid size %d", newSizeBytes)
	}
	defer d.lock(inst.UUID)()
	g, id, err := d.guestVolume(inst, device, "extend volume")
	if err != nil {
		return err
	}
	if d.pid(g.UUID) == 0 {
		return nil
	}
	exec := func(ctx context.Context, cmd string, args, result any) error {
		return d.execute(ctx, g, cmd, args, result)
	}
	if err := growBlock(ctx, exec, id, newSizeBytes); err != nil {
		return fmt.Errorf("qemu: extend volume: %w", err)
	}
	return nil
}

// qmpExec runs one QMP command on a guest.
type qmpExec func(ctx context.Context, cmd string, args, result any) error

// blockInfo is one entry of QMP's query-block.
type blockInfo struct {
	// Device is the drive's id for a disk from the command line (-drive id=drive-<ID>),
	// empty for one hot-plugged with blockdev-add.
	Device string `json:"device"`
	// QDev is the guest device's id or QOM path.
	QDev     string `json:"qdev"`
	Inserted *struct {
		// NodeName is the top node: "drive-<ID>" for a hot-plugged volume, a name
		// QEMU made up ("#block123") for a command-line one.
		NodeName string `json:"node-name"`
		Image    struct {
			VirtualSize int64 `json:"virtual-size"`
		} `json:"image"`
	} `json:"inserted"`
}

// growBlock grows the block node behind device id (a disk's ID, "virtio-vdb") to size
// bytes with block_resize; a node already that large is left as it is (never shrunk).
// The node is found with query-block, as a disk from the command line and a
// hot-plugged one are named differently.
func growBlock(ctx context.Context, exec qmpExec, id string, size int64) error {
	var blocks []blockInfo
	if err := exec(ctx, "query-block", nil, &blocks); err != nil {
		return err
	}
	for _, b := range blocks {
		if b.Inserted == nil || b.Inserted.NodeName == "" {
			continue
		}
		if b.Device != "drive-"+id && b.Inserted.NodeName != "drive-"+id && b.QDev != id &&
			!strings.HasPrefix(b.QDev, "/machine/peripheral/"+id+"/") {
			continue
		}
		if size <= b.Inserted.Image.VirtualSize {
			return nil
		}
		return exec(ctx, "block_resize", map[string]any{"node-name": b.Inserted.NodeName, "size": size}, nil)
	}
	return fmt.Errorf("the guest has no block device %s", id)
}

// unplugTimeout bounds how long a detach waits for the guest; unplugResend is how often
// the request is repeated meanwhile.
const (
	unplugTimeout = 60 * time.Second
	unplugResend  = 10 * time.Second
)

// unplugDevice removes a device and waits until the guest let it go.
func (d *Driver) unplugDevice(ctx context.Context, g *guest, id string) error {
	err := d.execute(ctx, g, "device_del", map[string]any{"id": id}, nil)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	// The request is sent again every few seconds, as Nova's libvirt driver retries
	// detaches (device_detach_attempts × device_detach_timeout). On the pc machine's ACPI
	// hotplug QEMU refuses a repeat while one is pending, and a request made before the
	// guest's OS has booted is lost, so a volume detached from a guest still in its
	// firmware stays attached (the detach fails and the volume returns to in-use); moving
	// hot-plugged volumes to virtio-scsi, whose unplug needs no guest, is the fix.
	deadline := time.Now().Add(unplugTimeout)
	resend := time.Now().Add(unplugResend)
	for time.Now().Before(deadline) {
		if time.Now().After(resend) {
			_ = d.execute(ctx, g, "device_del", map[string]any{"id": id}, nil)
			resend = time.Now().Add(unplugResend)
		}
		var devs []map[string]any
		if err := d.execute(ctx, g, "qom-list", map[string]any{"path": "/machine/peripheral"}, &devs); err != nil {
			return err
		}
		found := false
		for _, dev := range devs {
			if dev["name"] == id {
				found = true
			}
		}
		if !found {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("the guest did not release device %s", id)
}

// isNotFound reports QMP's "no such device/node" errors.
func isNotFound(err error) bool {
	var qe *qmp.Error
	return errors.As(err, &qe) && (qe.Class == "DeviceNotFound" || strings.Contains(qe.Desc, "not found") ||
		strings.Contains(qe.Desc, "Cannot find") || strings.Contains(qe.Desc, "Failed to find"))
}

// AttachInterface implements computedriver.InterfaceAttacher: a tap is created and
// added to the running guest with netdev_add and a virtio-net device_add.
func (d *Driver) AttachInterface(ctx context.Context, inst *computedriver.Instance, n computedriver.NIC) error {
	defer d.lock(inst.UUID)()
	g, err := d.loadExisting(inst.UUID)
	if err != nil {
		return err
	}
	nn := nicOf(n)
	for _, x := range g.NICs {
		if x.PortID == nn.PortID {
			return nil
		}
	}
	if d.pid(g.UUID) != 0 {
		if err := d.plugTaps(ctx, []nic{nn}); err != nil {
			return err
		}
		id := "hostnet-" + nn.Tap
		if err := d.execute(ctx, g, "netdev_add", map[string]any{"type": "tap", "id": id, "ifname": nn.Tap,
			"script": "no", "downscript": "no"}, nil); err != nil {
			return fmt.Errorf("qemu: attach interface: %w", err)
		}
		if err := d.execute(ctx, g, "device_add", map[string]any{"driver": "virtio-net-pci", "netdev": id,
			"id": "net-" + nn.Tap, "mac": nn.MAC}, nil); err != nil {
			_ = d.execute(ctx, g, "netdev_del", map[string]any{"id": id}, nil)
			return fmt.Errorf("qemu: attach interface: %w", err)
		}
	}
	g.NICs = append(g.NICs, nn)
	return d.save(g)
}

// DetachInterface implements computedriver.InterfaceAttacher.
func (d *Driver) DetachInterface(ctx context.Context, inst *computedriver.Instance, n computedriver.NIC) error {
	defer d.lock(inst.UUID)()
	g, err := d.loadExisting(inst.UUID)
	if err != nil {
		return err
	}
	idx := -1
	for i, x := range g.NICs {
		if x.PortID == n.PortID {
			idx = i
		}
	}
	if idx < 0 {
		return nil
	}
	nn := g.NICs[idx]
	if d.pid(g.UUID) != 0 {
		// NICs from the start are net<i>/hostnet<i>, hot-plugged ones net-<tap>.
		devID, netID := "net-"+nn.Tap, "hostnet-"+nn.Tap
		if idx < len(g.NICs) && !d.hasDevice(ctx, g, devID) {
			devID, netID = fmt.Sprintf("net%d", idx), fmt.Sprintf("hostnet%d", idx)
		}
		if err := d.unplugDevice(ctx, g, devID); err != nil {
			return fmt.Errorf("qemu: detach interface: %w", err)
		}
		if err := d.execute(ctx, g, "netdev_del", map[string]any{"id": netID}, nil); err != nil && !isNotFound(err) {
			return fmt.Errorf("qemu: detach interface: %w", err)
		}
	}
	if err := d.unplugTaps(ctx, []nic{nn}); err != nil {
		return err
	}
	g.NICs = append(g.NICs[:idx], g.NICs[idx+1:]...)
	return d.save(g)
}

// hasDevice reports whether a running guest has a device with this id.
func (d *Driver) hasDevice(ctx context.Context, g *guest, id string) bool {
	var devs []map[string]any
	if err := d.execute(ctx, g, "qom-list", map[string]any{"path": "/machine/peripheral"}, &devs); err != nil {
		return false
	}
	for _, dev := range devs {
		if dev["name"] == id {
			return true
		}
	}
	return false
}

// Diagnostics implements computedriver.Diagnoser from QMP and /proc.
func (d *Driver) Diagnostics(ctx context.Context, inst *computedriver.Instance) (computedriver.Diagnostics, error) {
	g, err := d.loadExisting(inst.UUID)
	if err != nil {
		return computedriver.Diagnostics{}, err
	}
	diag := computedriver.Diagnostics{State: "shutdown", Driver: "qemu", Hypervisor: "qemu", HypervisorOS: "linux",
		NumCPUs: g.VCPUs, NumNICs: len(g.NICs), NumDisks: len(g.Disks), MemoryMB: g.MemoryMB, ConfigDrive: true}
	pid := d.pid(g.UUID)
	if pid == 0 {
		return diag, nil
	}
	if st, err := d.status(ctx, g); err == nil {
		diag.State = map[computedriver.PowerState]string{computedriver.Running: "running", computedriver.Paused: "paused",
			computedriver.Suspended: "suspended", computedriver.Shutdown: "shutdown", computedriver.Crashed: "crashed"}[powerOfStatus(st)]
	}
	if diag.State == "" {
		diag.State = "pending"
	}
	diag.Uptime = int64(time.Since(g.StartedAt).Seconds())
	cpu := cpuTime(pid)
	for i := 0; i < g.VCPUs; i++ {
		diag.CPUDetails = append(diag.CPUDetails, map[string]any{"id": i, "time": int64(cpu) / int64(g.VCPUs), "utilisation": nil})
	}
	for _, n := range g.NICs {
		diag.NICDetails = append(diag.NICDetails, map[string]any{"mac_address": n.MAC, "rx_octets": 0, "rx_errors": 0,
			"rx_drop": 0, "rx_packets": 0, "rx_rate": nil, "tx_octets": 0, "tx_errors": 0, "tx_drop": 0, "tx_packets": 0,
			"tx_rate": nil})
	}
	var stats []struct {
		Device string `json:"device"`
		QDev   string `json:"qdev"`
		Stats  struct {
			RdBytes int64 `json:"rd_bytes"`
			WrBytes int64 `json:"wr_bytes"`
			RdOps   int64 `json:"rd_operations"`
			WrOps   int64 `json:"wr_operations"`
		} `json:"stats"`
	}
	_ = d.execute(ctx, g, "query-blockstats", nil, &stats)
	for _, s := range stats {
		diag.DiskDetails = append(diag.DiskDetails, map[string]any{"read_bytes": s.Stats.RdBytes, "read_requests": s.Stats.RdOps,
			"write_bytes": s.Stats.WrBytes, "write_requests": s.Stats.WrOps, "errors_count": 0})
	}
	return diag, nil
}
