package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/platform"
)

// rootDisk is a guest's root disk (nil when it boots from a volume).
func (g *guest) rootDisk() *disk {
	for i := range g.Disks {
		if g.Disks[i].ID == "virtio-disk0" {
			return &g.Disks[i]
		}
	}
	return nil
}

// Snapshot implements computedriver.Snapshotter: the root disk flattened into a new
// qcow2, point-in-time, without stopping a running guest (snapshotDisk).
func (d *Driver) Snapshot(ctx context.Context, inst *computedriver.Instance) (*computedriver.Snapshot, error) {
	unlock := d.lock(inst.UUID)
	defer unlock()
	g, err := d.loadExisting(inst.UUID)
	if err != nil {
		return nil, err
	}
	root := g.rootDisk()
	if root == nil {
		return nil, computedriver.ErrNotSupported
	}
	out := d.path(g.UUID, "snapshot.qcow2")
	_ = os.Remove(out)
	if err := d.snapshotDisk(ctx, g, root, out); err != nil {
		_ = os.Remove(out)
		return nil, fmt.Errorf("qemu: snapshot: %w", err)
	}
	f, err := os.Open(out)
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	// The file is unlinked at once: the open descriptor keeps its bytes for the upload
	// and nothing is left behind whatever happens to the upload.
	_ = os.Remove(out)
	return &computedriver.Snapshot{DiskFormat: "qcow2", ContainerFormat: "bare", Data: f}, nil
}

// snapshotDisk copies the root disk into out as a standalone qcow2. While the guest's
// process runs, a backup block job copies the disk as it was when the job started and
// the guest keeps running (Nova's live snapshot); if the job cannot run, or the guest is
// off, the guest is paused (when running) and qemu-img reads the overlay instead.
func (d *Driver) snapshotDisk(ctx context.Context, g *guest, root *disk, out string) error {
	if d.pid(g.UUID) != 0 {
		start := time.Now()
		err := d.copyDisk(ctx, g, root.ID, out, "qcow2")
		if err == nil {
			d.log.Info("live snapshot of a running guest", "instance", g.UUID, "took", time.Since(start))
		}
		if err == nil || ctx.Err() != nil {
			return err
		}
		d.log.Warn("live snapshot failed; pausing the guest to copy its disk", "instance", g.UUID, "err", err)
		_ = os.Remove(out)
	}
	running := false
	if d.pid(g.UUID) != 0 {
		if st, err := d.status(ctx, g); err == nil && st == "running" {
			if err := d.execute(ctx, g, "stop", nil, nil); err != nil {
				return err
			}
			running = true
		}
	}
	_, err := d.run.Run(ctx, platform.Command{Name: d.cfg.Img,
		Args: []string{"convert", "-U", "-f", root.Format, "-O", "qcow2", root.Path, out}})
	if running {
		if cerr := d.execute(context.WithoutCancel(ctx), g, "cont", nil, nil); cerr != nil {
			d.log.Error("continue guest after snapshot", "instance", g.UUID, "err", cerr)
		}
	}
	return err
}

// Rescue implements computedriver.Rescuer: the guest restarts from a fresh disk of the
// rescue image, with its own root disk attached as the second disk.
func (d *Driver) Rescue(ctx context.Context, inst *computedriver.Instance, rescue *computedriver.Image) error {
	defer d.lock(inst.UUID)()
	g, err := d.loadExisting(inst.UUID)
	if err != nil {
		return err
	}
	if rescue == nil {
		rescue = inst.Image
	}
	if rescue == nil {
		return computedriver.ErrNotSupported
	}
	if g.Rescue && d.pid(g.UUID) != 0 {
		return nil
	}
	if err := d.powerOff(ctx, g, 0); err != nil {
		return err
	}
	path := d.path(g.UUID, "disk.rescue")
	if err := d.makeRoot(ctx, rescue, 0, path); err != nil {
		return err
	}
	if !g.Rescue {
		for i := range g.Disks {
			if g.Disks[i].BootIndex > 0 {
				g.Disks[i].BootIndex++
			}
		}
		g.Disks = append([]disk{{ID: "virtio-disk-rescue", Dev: "vda", Path: path, Format: "qcow2", Bus: "virtio", BootIndex: 1}},
			g.Disks...)
		g.Rescue = true
		if err := d.save(g); err != nil {
			return err
		}
	}
	return d.startProcess(ctx, g)
}

// Unrescue implements computedriver.Rescuer: the guest restarts from its own disk.
func (d *Driver) Unrescue(ctx context.Context, inst *computedriver.Instance) error {
	defer d.lock(inst.UUID)()
	g, err := d.loadExisting(inst.UUID)
	if err != nil {
		return err
	}
	if g.Rescue {
		if err := d.powerOff(ctx, g, 0); err != nil {
			return err
		}
		var keep []disk
		for _, dk := range g.Disks {
			if dk.ID == "virtio-disk-rescue" {
				continue
			}
			if dk.BootIndex > 1 {
				dk.BootIndex--
			}
			keep = append(keep, dk)
		}
		g.Disks, g.Rescue = keep, false
		if err := d.save(g); err != nil {
			return err
		}
		_ = os.Remove(d.path(g.UUID, "disk.rescue"))
	}
	return d.startProcess(ctx, g)
}

// resizeDir keeps what a resize revert needs until it is confirmed.
const resizeDir = "resize-orig"

// Resize implements computedriver.Resizer (cold, same host): the guest stops, its
// definition and root disk are kept aside, the root disk grows to the new flavor, the
// ephemeral disk is remade at its new size, and the guest starts with the new size.
func (d *Driver) Resize(ctx context.Context, inst *computedriver.Instance, to computedriver.Flavor) error {
	defer d.lock(inst.UUID)()
	g, err := d.loadExisting(inst.UUID)
	if err != nil {
		return err
	}
	if err := d.powerOff(ctx, g, 60*time.Second); err != nil {
		return err
	}
	keep := d.path(g.UUID, resizeDir)
	if !exists(filepath.Join(keep, "instance.json")) {
		if err := os.MkdirAll(keep, 0o750); err != nil {
			return fmt.Errorf("qemu: %w", err)
		}
		for _, dk := range g.Disks {
			if dk.Volume || dk.Bus == "ide-cd" {
				continue
			}
			if err := copyFile(dk.Path, filepath.Join(keep, filepath.Base(dk.Path))); err != nil {
				return err
			}
		}
		if err := copyFile(d.path(g.UUID, "instance.json"), filepath.Join(keep, "instance.json")); err != nil {
			return err
		}
	}
	if root := g.rootDisk(); root != nil && to.RootGB > g.RootGB {
		if _, err := d.run.Run(ctx, platform.Command{Name: d.cfg.Img,
			Args: []string{"resize", "-f", "qcow2", root.Path, strconv.FormatInt(to.RootGB<<30, 10)}}); err != nil {
			return fmt.Errorf("qemu: grow root disk: %w", err)
		}
		g.RootGB = to.RootGB
	}
	if to.EphemeralGB != g.EphemeralGB || to.SwapMB != g.SwapMB {
		var disks []disk
		for _, dk := range g.Disks {
			if dk.ID == "virtio-disk-eph0" || dk.ID == "virtio-disk-swap" {
				_ = os.Remove(dk.Path)
				continue
			}
			disks = append(disks, dk)
		}
		dir := d.instanceDir(g.UUID)
		if to.EphemeralGB > 0 {
			p := filepath.Join(dir, "disk.eph0")
			if err := d.makeEphemeral(ctx, p, to.EphemeralGB, g.EphemeralFS); err != nil {
				return err
			}
			disks = insertBeforeConfig(disks, disk{ID: "virtio-disk-eph0", Dev: "vdb", Path: p, Format: "qcow2", Bus: "virtio"})
		}
		if to.SwapMB > 0 {
			p := filepath.Join(dir, "disk.swap")
			if err := d.makeSwap(ctx, p, to.SwapMB<<20); err != nil {
				return err
			}
			disks = insertBeforeConfig(disks, disk{ID: "virtio-disk-swap", Dev: "vdc", Path: p, Format: "raw", Bus: "virtio"})
		}
		g.Disks, g.EphemeralGB, g.SwapMB = disks, to.EphemeralGB, to.SwapMB
	}
	g.VCPUs, g.MemoryMB, g.Flavor = max(to.VCPUs, 1), max(to.MemoryMB, 64), to.Name
	if err := d.save(g); err != nil {
		return err
	}
	return d.startProcess(ctx, g)
}

// insertBeforeConfig adds a disk before the config drive (which stays last).
func insertBeforeConfig(disks []disk, dk disk) []disk {
	for i, x := range disks {
		if x.Bus == "ide-cd" {
			return append(disks[:i], append([]disk{dk}, disks[i:]...)...)
		}
	}
	return append(disks, dk)
}

// ConfirmResize implements computedriver.Resizer: what revert needed goes.
func (d *Driver) ConfirmResize(_ context.Context, inst *computedriver.Instance) error {
	if err := validUUID(inst.UUID); err != nil {
		return err
	}
	defer d.lock(inst.UUID)()
	if err := os.RemoveAll(d.path(inst.UUID, resizeDir)); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	return nil
}

// RevertResize implements computedriver.Resizer: the guest stops and gets its old
// definition and disks back (the compute service starts it again when it ran).
func (d *Driver) RevertResize(ctx context.Context, inst *computedriver.Instance, _ computedriver.Flavor) error {
	defer d.lock(inst.UUID)()
	g, err := d.loadExisting(inst.UUID)
	if err != nil {
		return err
	}
	keep := d.path(g.UUID, resizeDir)
	if !exists(filepath.Join(keep, "instance.json")) {
		return nil // reverted already
	}
	if err := d.stopProcess(ctx, g); err != nil {
		return err
	}
	ents, err := os.ReadDir(keep)
	if err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	for _, e := range ents {
		if e.Name() == "instance.json" {
			continue
		}
		if err := os.Rename(filepath.Join(keep, e.Name()), d.path(g.UUID, e.Name())); err != nil {
			return fmt.Errorf("qemu: %w", err)
		}
	}
	for _, name := range []string{"disk.eph0", "disk.swap"} {
		if !exists(filepath.Join(keep, name)) {
			_ = os.Remove(d.path(g.UUID, name))
		}
	}
	if err := os.Rename(filepath.Join(keep, "instance.json"), d.path(g.UUID, "instance.json")); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	return os.RemoveAll(keep)
}

// copyFile copies a file (disks here are small qcow2 overlays).
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	defer in.Close()
	out, err := os.Create(to + ".tmp")
	if err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("qemu: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	return renameInto(to+".tmp", to)
}

// Rebuild implements computedriver.Rebuilder: the guest stops, its disks are made
// again from the (new) image, volumes and NICs stay, and it starts.
func (d *Driver) Rebuild(ctx context.Context, inst *computedriver.Instance) error {
	if err := validUUID(inst.UUID); err != nil {
		return err
	}
	unlock := d.lock(inst.UUID)
	g, ok, err := d.load(inst.UUID)
	if err != nil {
		unlock()
		return err
	}
	if ok {
		if err := d.stopProcess(ctx, g); err != nil {
			unlock()
			return err
		}
		for _, dk := range g.Disks {
			if !dk.Volume {
				_ = os.Remove(dk.Path)
			}
		}
		_ = os.Remove(d.path(g.UUID, "disk.rescue"))
		_ = os.Remove(d.path(g.UUID, "state.save"))
		_ = os.Remove(d.path(g.UUID, "instance.json"))
	}
	unlock()
	return d.Spawn(ctx, inst)
}
