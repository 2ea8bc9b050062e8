package file

import (
	"context"
	"fmt"

	"github.com/gostack/gostack/internal/driver/block"
)

// This file publishes copies made by someone else (block.CopyPublisher): the QEMU
// process of the guest a volume is attached to copies the volume with a backup block
// job, which is point-in-time, where qemu-img reading the file under a writing guest
// is not. The copy goes to the driver's temporary name, so that a crash leaves only a
// temporary the next start removes, and is published as the driver's own copies are.

var _ block.CopyPublisher = (*Driver)(nil)

// CreateSnapshotWith implements block.CopyPublisher: the snapshot's qcow2 file is
// written by produce.
func (d *Driver) CreateSnapshotWith(ctx context.Context, snap block.Snapshot, vol block.Volume, produce block.Produce) error {
	return d.writeSnapshot(snap, vol, func(_ volume, tmp string) error {
		return d.produceInto(ctx, produce, tmp, block.FormatQCOW2, 0)
	})
}

// CreateVolumeWith implements block.CopyPublisher: the volume's file, in its format, is
// written by produce; its virtual size must not exceed vol.SizeGB.
func (d *Driver) CreateVolumeWith(ctx context.Context, vol block.Volume, src block.Volume, produce block.Produce) error {
	v, err := d.volume(vol)
	if err != nil {
		return err
	}
	s, err := d.volume(src)
	if err != nil {
		return err
	}
	size, err := checkSize(vol.SizeGB)
	if err != nil {
		return err
	}
	defer d.locks.lock(v.path)()
	return d.publish(v.path, func(tmp string) error {
		used, err := allocated(s.path)
		if err != nil {
			return notFound("volume", s.id, err)
		}
		if err := d.needSpace(used); err != nil {
			return err
		}
		return d.produceInto(ctx, produce, tmp, v.format, size)
	})
}

// produceInto runs produce for tmp and checks that it left an image of format there,
// no larger than maxSize bytes (0: any size).
func (d *Driver) produceInto(ctx context.Context, produce block.Produce, tmp, format string, maxSize int64) error {
	if err := removeIfExists(tmp); err != nil {
		return err
	}
	if err := produce(ctx, tmp, format); err != nil {
		return err
	}
	got, err := virtualSize(tmp, format)
	if err != nil {
		return fmt.Errorf("check the copy: %w", err)
	}
	if maxSize > 0 && got > maxSize {
		return fmt.Errorf("%w: the copy (%d GB) is larger than the volume (%d GB)", block.ErrInvalid, ceilGB(got), ceilGB(maxSize))
	}
	return nil
}
