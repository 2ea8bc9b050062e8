package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gostack/gostack/internal/driver/block"
)

// CreateSnapshot implements block.Driver: an independent qcow2 copy of the volume's
// data, read with -U so that it works while QEMU has the volume open.
func (d *Driver) CreateSnapshot(ctx context.Context, snap block.Snapshot, vol block.Volume) error {
	return d.writeSnapshot(snap, vol, func(v volume, tmp string) error {
		return d.qemuImg(ctx, "convert", "-q", "-U", "-f", v.format, "-O", block.FormatQCOW2, v.path, tmp)
	})
}

// writeSnapshot publishes the snapshot file of vol that write makes at tmp, once the
// space the volume's data takes is there.
func (d *Driver) writeSnapshot(snap block.Snapshot, vol block.Volume, write func(v volume, tmp string) error) error {
	if err := checkID("snapshot", snap.ID); err != nil {
		return err
	}
	v, err := d.volume(vol)
	if err != nil {
		return err
	}
	final := d.snapshotPath(snap.ID)
	defer d.locks.lock(final)()
	return d.publish(final, func(tmp string) error {
		used, err := allocated(v.path)
		if err != nil {
			return notFound("volume", v.id, err)
		}
		if err := d.needSpace(used); err != nil {
			return err
		}
		return write(v, tmp)
	})
}

// DeleteSnapshot implements block.Driver.
func (d *Driver) DeleteSnapshot(ctx context.Context, snap block.Snapshot) error {
	if err := checkID("snapshot", snap.ID); err != nil {
		return err
	}
	final := d.snapshotPath(snap.ID)
	defer d.locks.lock(final)()
	if err := removeIfExists(final); err != nil {
		return err
	}
	return syncDir(d.dir)
}

// CreateFromSnapshot implements block.Driver.
func (d *Driver) CreateFromSnapshot(ctx context.Context, vol block.Volume, snap block.Snapshot) error {
	if err := checkID("snapshot", snap.ID); err != nil {
		return err
	}
	return d.copyVolume(ctx, vol, "snapshot", snap.ID, d.snapshotPath(snap.ID), block.FormatQCOW2, false)
}

// Clone implements block.Driver; the source is read with -U, as it may be attached.
func (d *Driver) Clone(ctx context.Context, vol block.Volume, src block.Volume) error {
	s, err := d.volume(src)
	if err != nil {
		return err
	}
	return d.copyVolume(ctx, vol, "volume", s.id, s.path, s.format, true)
}

// copyVolume makes the volume vol from the image at source: a target of the volume's
// size, the source's data converted onto it.
func (d *Driver) copyVolume(ctx context.Context, vol block.Volume, kind, id, source, srcFormat string, shared bool) error {
	v, err := d.volume(vol)
	if err != nil {
		return err
	}
	size, err := checkSize(vol.SizeGB)
	if err != nil {
		return err
	}
	defer d.locks.lock(v.path)()
	return d.publish(v.path, func(tmp string) error {
		srcSize, err := virtualSize(source, srcFormat)
		if err != nil {
			return notFound(kind, id, err)
		}
		if srcSize > size {
			return fmt.Errorf("%w: the volume (%d GB) is smaller than its source %s (%d GB)",
				block.ErrInvalid, vol.SizeGB, kind, ceilGB(srcSize))
		}
		used, err := allocated(source)
		if err != nil {
			return notFound(kind, id, err)
		}
		if err := d.needSpace(used); err != nil {
			return err
		}
		if err := d.createEmpty(ctx, tmp, v.format, size); err != nil {
			return err
		}
		return d.convertOnto(ctx, srcFormat, v.format, source, tmp, shared)
	})
}

// Export implements block.Driver. A raw volume exported as raw is its file, read as it
// is; anything else is converted into a temporary file that is unlinked as soon as it
// is open, so that nothing is left behind whatever happens to the reader.
func (d *Driver) Export(ctx context.Context, vol block.Volume, diskFormat string) (io.ReadCloser, error) {
	v, err := d.volume(vol)
	if err != nil {
		return nil, err
	}
	if diskFormat != block.FormatRaw && diskFormat != block.FormatQCOW2 {
		return nil, fmt.Errorf("%w: a volume exports as raw or qcow2, not %q", block.ErrInvalid, diskFormat)
	}
	if v.format == block.FormatRaw && diskFormat == block.FormatRaw {
		f, err := os.Open(v.path)
		if err != nil {
			return nil, notFound("volume", v.id, err)
		}
		return f, nil
	}
	used, err := allocated(v.path)
	if err != nil {
		return nil, notFound("volume", v.id, err)
	}
	if err := d.needSpace(used); err != nil {
		return nil, err
	}
	tmp := filepath.Join(d.dir, fmt.Sprintf("%sexport-%d-volume-%s.%s", tmpPrefix, d.exports.Add(1), v.id, diskFormat))
	defer os.Remove(tmp)
	if err := d.qemuImg(ctx, "convert", "-q", "-U", "-f", v.format, "-O", diskFormat, v.path, tmp); err != nil {
		return nil, err
	}
	f, err := os.Open(tmp)
	if err != nil {
		return nil, fmt.Errorf("open export: %w", err)
	}
	return f, nil
}

// Import implements block.Driver: the raw stream becomes the volume's new data, in the
// volume's format and at its current size; the old data is replaced in one rename, so
// a crash leaves either the old or the new data, never a mix.
func (d *Driver) Import(ctx context.Context, vol block.Volume, r io.Reader) error {
	v, err := d.volume(vol)
	if err != nil {
		return err
	}
	defer d.locks.lock(v.path)()
	size, err := virtualSize(v.path, v.format)
	if err != nil {
		return notFound("volume", v.id, err)
	}
	if err := d.needSpace(1 << 20); err != nil {
		return err
	}
	tmp := tmpPath(v.path, "")
	raw := tmp
	if v.format != block.FormatRaw {
		raw = filepath.Join(d.dir, tmpPrefix+"import-volume-"+v.id+".raw")
		defer os.Remove(raw)
	}
	if err := fillRaw(ctx, raw, r, size); err != nil {
		_ = os.Remove(raw)
		if errors.Is(err, errTooLong) {
			return fmt.Errorf("%w: the data is larger than the volume (%d GB)", block.ErrInvalid, ceilGB(size))
		}
		return err
	}
	if v.format != block.FormatRaw {
		if err := removeIfExists(tmp); err != nil {
			return err
		}
		err := d.createEmpty(ctx, tmp, v.format, size)
		if err == nil {
			err = d.convertOnto(ctx, block.FormatRaw, v.format, raw, tmp, false)
		}
		if err == nil {
			err = removeIfExists(raw)
		}
		if err != nil {
			_ = os.Remove(tmp)
			return err
		}
	}
	return replace(tmp, v.path)
}

// fillRaw writes r into a new sparse raw file at path of exactly size bytes.
func fillRaw(ctx context.Context, path string, r io.Reader, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return mapNoSpace(fmt.Errorf("create: %w", err))
	}
	_, err = writeSparse(ctx, f, r, size)
	if err == nil {
		err = mapNoSpace(f.Truncate(size))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
