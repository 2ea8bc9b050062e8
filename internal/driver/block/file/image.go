package file

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/gostack/gostack/internal/driver/block"
	"github.com/gostack/gostack/internal/image/inspect"
)

// CreateFromImage implements block.Driver. The image is streamed into a temporary file
// in the volume directory (zero blocks left as holes) through the image inspector; an
// image the inspector refuses, or whose content is not its declared disk_format, is
// refused with an error wrapping block.ErrInvalid and the inspector's error, before any
// qemu-img reads it. A raw image becomes a raw volume as it is (no second copy);
// otherwise qemu-img converts it, with the declared format, onto a target created at
// the volume's size, so that no resize follows.
func (d *Driver) CreateFromImage(ctx context.Context, vol block.Volume, img block.Image) error {
	v, err := d.volume(vol)
	if err != nil {
		return err
	}
	size, err := checkSize(vol.SizeGB)
	if err != nil {
		return err
	}
	srcFormat := inspect.QemuImgFormat(inspect.Format(img.DiskFormat))
	if srcFormat == "" {
		return fmt.Errorf("%w: an image of disk_format %q cannot be copied into a volume", block.ErrInvalid, img.DiskFormat)
	}
	if img.Open == nil {
		return errors.New("create volume from image: the image has no data stream")
	}
	defer d.locks.lock(v.path)()
	return d.publish(v.path, func(tmp string) error {
		if err := d.needSpace(max(img.Size, 0) + 1<<20); err != nil {
			return err
		}
		direct := srcFormat == block.FormatRaw && v.format == block.FormatRaw
		download := tmp
		if !direct {
			download = tmpPath(v.path, "image")
			defer os.Remove(download)
		}
		info, err := d.download(ctx, img, download)
		if err != nil {
			return err
		}
		if info.VirtualSize > size {
			return fmt.Errorf("%w: image virtual size is %dGB and doesn't fit in a volume of size %dGB",
				block.ErrInvalid, ceilGB(info.VirtualSize), vol.SizeGB)
		}
		if direct {
			return growRaw(download, size)
		}
		if err := d.createEmpty(ctx, tmp, v.format, size); err != nil {
			return err
		}
		if err := d.convertOnto(ctx, srcFormat, v.format, download, tmp, false); err != nil {
			return err
		}
		// Removed before the target is synced, so that the kernel drops the download's
		// dirty pages instead of writing them out next to the volume's.
		return removeIfExists(download)
	})
}

// download streams the image into path through the inspector and returns what the
// inspector found, or an error when it refuses the image.
func (d *Driver) download(ctx context.Context, img block.Image, path string) (inspect.Info, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return inspect.Info{}, mapNoSpace(fmt.Errorf("create: %w", err))
	}
	defer f.Close()
	rc, err := img.Open(ctx)
	if err != nil {
		return inspect.Info{}, fmt.Errorf("open image %s: %w", img.ID, err)
	}
	defer rc.Close()
	ins := inspect.NewInspector()
	limit := int64(-1)
	if img.Size > 0 {
		limit = img.Size
	}
	n, err := writeSparse(ctx, f, teeReader{rc, ins}, limit)
	if errors.Is(err, errTooLong) {
		return inspect.Info{}, fmt.Errorf("image %s: the data is longer than its size %d", img.ID, img.Size)
	}
	if err != nil {
		return inspect.Info{}, fmt.Errorf("image %s: %w", img.ID, err)
	}
	if img.Size > 0 && n != img.Size {
		return inspect.Info{}, fmt.Errorf("image %s: the data ended after %d of %d bytes", img.ID, n, img.Size)
	}
	info, err := ins.Result(n)
	if err != nil {
		return info, fmt.Errorf("%w: image %s: %w", block.ErrInvalid, img.ID, err)
	}
	if err := inspect.CheckDeclared(img.DiskFormat, info); err != nil {
		return info, fmt.Errorf("%w: image %s: %w", block.ErrInvalid, img.ID, err)
	}
	d.log.Debug("image inspected", "image", img.ID, "format", info.Format, "virtual_size", info.VirtualSize)
	return info, nil
}

// teeReader is io.TeeReader for a writer that never fails (the inspector).
type teeReader struct {
	r interface{ Read([]byte) (int, error) }
	w *inspect.Inspector
}

func (t teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		_, _ = t.w.Write(p[:n])
	}
	return n, err
}

// growRaw extends a raw file to size (sparse).
func growRaw(path string, size int64) error {
	if err := os.Truncate(path, size); err != nil {
		return mapNoSpace(fmt.Errorf("grow: %w", err))
	}
	return nil
}

// convertOnto copies src (of srcFormat) onto dst, an all-zero image of dstFormat that
// is at least as large, with qemu-img convert -n --target-is-zero: the target is not
// recreated (it keeps its size, so no resize follows) and zero areas are skipped.
// shared opens a source another process may have open (a volume QEMU is using).
func (d *Driver) convertOnto(ctx context.Context, srcFormat, dstFormat, src, dst string, shared bool) error {
	args := []string{"convert", "-q"}
	if shared {
		args = append(args, "-U")
	}
	args = append(args, "-f", srcFormat, "-O", dstFormat, "-n", "--target-is-zero", src, dst)
	return d.qemuImg(ctx, args...)
}
