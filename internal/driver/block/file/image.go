package file

import (
	"context"
	"errors"
	"fmt"
	"io"
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
		rc, err := img.Open(ctx)
		if err != nil {
			return fmt.Errorf("open image %s: %w", img.ID, err)
		}
		defer rc.Close()
		if !direct {
			if src, ok := rc.(*os.File); ok {
				if path, ok := procPath(src); ok {
					// A local file (the image service's store on this host): inspected
					// and converted where it is, without a copy. qemu-img opens it
					// through our descriptor, so it reads the very file inspected.
					info, err := inspectFile(img, src)
					if err != nil {
						return err
					}
					return d.fillFromImage(ctx, v, vol, info, srcFormat, path, tmp, size)
				}
			}
		}
		download := tmp
		if !direct {
			download = tmpPath(v.path, "image")
			defer os.Remove(download)
		}
		info, err := d.download(ctx, img, rc, download)
		if err != nil {
			return err
		}
		if direct {
			if err := fits(info, vol, size); err != nil {
				return err
			}
			return growRaw(download, size)
		}
		if err := d.fillFromImage(ctx, v, vol, info, srcFormat, download, tmp, size); err != nil {
			return err
		}
		// Removed before the target is synced, so that the kernel drops the download's
		// dirty pages instead of writing them out next to the volume's.
		return removeIfExists(download)
	})
}

// fits refuses an image whose virtual size is larger than the volume, with Cinder's
// message.
func fits(info inspect.Info, vol block.Volume, size int64) error {
	if info.VirtualSize > size {
		return fmt.Errorf("%w: image virtual size is %dGB and doesn't fit in a volume of size %dGB",
			block.ErrInvalid, ceilGB(info.VirtualSize), vol.SizeGB)
	}
	return nil
}

// fillFromImage converts the inspected image at src onto a new target tmp of the
// volume's size.
func (d *Driver) fillFromImage(ctx context.Context, v volume, vol block.Volume, info inspect.Info, srcFormat, src, tmp string, size int64) error {
	if err := fits(info, vol, size); err != nil {
		return err
	}
	if err := d.createEmpty(ctx, tmp, v.format, size); err != nil {
		return err
	}
	return d.convertOnto(ctx, srcFormat, v.format, src, tmp, false)
}

// procPath names an open regular file so that another process opens the same file:
// /proc/<our pid>/fd/<fd>. It reports false when /proc does not offer that.
func procPath(f *os.File) (string, bool) {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return "", false
	}
	path := fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd())
	pfi, err := os.Stat(path)
	if err != nil || !os.SameFile(fi, pfi) {
		return "", false
	}
	return path, true
}

// inspectFile inspects an image that is a local file.
func inspectFile(img block.Image, f *os.File) (inspect.Info, error) {
	fi, err := f.Stat()
	if err != nil {
		return inspect.Info{}, fmt.Errorf("image %s: %w", img.ID, err)
	}
	if img.Size > 0 && fi.Size() != img.Size {
		return inspect.Info{}, fmt.Errorf("image %s: the data has %d bytes, not its size %d", img.ID, fi.Size(), img.Size)
	}
	info, err := inspect.Detect(f, fi.Size())
	return info, checkInspected(img, info, err)
}

// checkInspected turns what the inspector found into the driver's verdict: an unsafe
// image, or one that is not its declared disk_format, is the user's invalid request.
func checkInspected(img block.Image, info inspect.Info, err error) error {
	if err != nil {
		if errors.Is(err, inspect.ErrUnsafe) {
			return fmt.Errorf("%w: image %s: %w", block.ErrInvalid, img.ID, err)
		}
		return fmt.Errorf("image %s: %w", img.ID, err)
	}
	if err := inspect.CheckDeclared(img.DiskFormat, info); err != nil {
		return fmt.Errorf("%w: image %s: %w", block.ErrInvalid, img.ID, err)
	}
	return nil
}

// download streams the image into path through the inspector and returns what the
// inspector found, or an error when it refuses the image.
func (d *Driver) download(ctx context.Context, img block.Image, rc io.Reader, path string) (inspect.Info, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return inspect.Info{}, mapNoSpace(fmt.Errorf("create: %w", err))
	}
	defer f.Close()
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
	if err := checkInspected(img, info, err); err != nil {
		return info, err
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
	if d.directIO {
		// The target's writes bypass the page cache: they reach the disk while the
		// convert runs, instead of all at the fsync that follows.
		args = append(args, "-t", "none")
	}
	args = append(args, "-f", srcFormat, "-O", dstFormat, "-n", "--target-is-zero", src, dst)
	return d.qemuImg(ctx, args...)
}
