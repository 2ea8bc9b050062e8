package fake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	compute "github.com/gostack/gostack/internal/driver/compute"
)

// VolumeCopy is one copy CopyVolume made.
type VolumeCopy struct {
	InstanceUUID string
	Device       string
	Source       string
	Dest         string
	Format       string
}

// CopyVolume implements compute.VolumeCopier for a running or paused guest by copying
// the volume's file (the connection's data.path) to dest as it is: the fake has no
// block job, and only copies what it can read in the format asked for; anything else
// is ErrNotSupported, so that the caller copies the volume itself, as it does for a
// stopped guest (ErrNotRunning). "fake:fail" with copy_volume makes it fail.
func (d *Driver) CopyVolume(ctx context.Context, inst *compute.Instance, device string, connection map[string]any, dest, format string) error {
	if err := d.begin(ctx, "copy_volume", inst); err != nil {
		return err
	}
	g, ok := d.Guest(inst.UUID)
	if !ok {
		return compute.ErrNotFound
	}
	if g.State != compute.Running && g.State != compute.Paused {
		return compute.ErrNotRunning
	}
	data, _ := connection["data"].(map[string]any)
	src, _ := data["path"].(string)
	srcFormat, _ := data["format"].(string)
	fi, err := os.Stat(src)
	if src == "" || err != nil || !fi.Mode().IsRegular() || srcFormat != format {
		return fmt.Errorf("%w: the fake hypervisor copies only readable %s files", compute.ErrNotSupported, format)
	}
	if err := copyFile(src, dest); err != nil {
		_ = os.Remove(dest)
		return fmt.Errorf("fake: copy volume: %w", err)
	}
	d.mu.Lock()
	d.copies = append(d.copies, VolumeCopy{InstanceUUID: inst.UUID, Device: device, Source: src, Dest: dest, Format: format})
	d.mu.Unlock()
	return nil
}

// VolumeCopies returns the copies CopyVolume made, oldest first.
func (d *Driver) VolumeCopies() []VolumeCopy {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.copies)
}

// copyFile copies src to a new file dst.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}
