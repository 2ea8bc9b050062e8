package qemu

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/image/inspect"
	"github.com/gostack/gostack/internal/platform"
)

// baseDirName is the image cache under the instances directory (Nova's _base).
const baseDirName = "_base"

// imageCache holds each image once per host as a qcow2 base that the guests' root
// disks are overlays of.
type imageCache struct {
	d   *Driver
	dir string

	mu       sync.Mutex
	inflight map[string]*fetch
}

// fetch is one image being cached; concurrent spawns of the image wait for it.
type fetch struct {
	done chan struct{}
	err  error
}

// ErrImageMismatch is an image whose bytes are not what its disk_format says, or that
// is unsafe to hand to QEMU.
var ErrImageMismatch = errors.New("image content does not match its disk_format or is unsafe")

// basePath is where image id is cached (named by the SHA-1 of its id, as Nova does).
func (c *imageCache) basePath(id string) string {
	h := sha1.Sum([]byte(id))
	return filepath.Join(c.dir, hex.EncodeToString(h[:]))
}

// ensure returns the cached base of img, fetching and converting it once.
func (c *imageCache) ensure(ctx context.Context, img *computedriver.Image) (string, error) {
	path := c.basePath(img.ID)
	for {
		if _, err := os.Stat(path); err == nil {
			return path, nil
		}
		c.mu.Lock()
		f := c.inflight[img.ID]
		if f == nil {
			f = &fetch{done: make(chan struct{})}
			c.inflight[img.ID] = f
			c.mu.Unlock()
			f.err = c.fetch(ctx, img, path)
			c.mu.Lock()
			delete(c.inflight, img.ID)
			c.mu.Unlock()
			close(f.done)
			if f.err != nil {
				return "", f.err
			}
			return path, nil
		}
		c.mu.Unlock()
		select {
		case <-f.done:
			if f.err != nil {
				return "", f.err
			}
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// fetch downloads img into a temporary, inspects it (refusing bytes that are not the
// declared format, and unsafe images), converts it to a qcow2 base with explicit -f/-O
// and renames it into place.
func (c *imageCache) fetch(ctx context.Context, img *computedriver.Image, path string) error {
	if img.Open == nil {
		return errors.New("qemu: the image service is not available")
	}
	tmp, err := os.CreateTemp(c.dir, ".fetch-*")
	if err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	defer os.Remove(tmp.Name())
	rc, err := img.Open(ctx)
	if err != nil {
		tmp.Close()
		return fmt.Errorf("qemu: fetch image %s: %w", img.ID, err)
	}
	ins := inspect.NewInspector()
	n, err := io.Copy(io.MultiWriter(tmp, ins), rc)
	rc.Close()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("qemu: fetch image %s: %w", img.ID, err)
	}
	info, err := ins.Result(n)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrImageMismatch, err)
	}
	declared := img.DiskFormat
	if declared == "" {
		declared = string(info.Format)
	}
	if err := inspect.CheckDeclared(declared, info); err != nil {
		return fmt.Errorf("%w: %v", ErrImageMismatch, err)
	}
	from := inspect.QemuImgFormat(info.Format)
	if from == "" || info.Format == inspect.LUKS {
		return fmt.Errorf("%w: %s images cannot be booted", ErrImageMismatch, info.Format)
	}
	conv := tmp.Name() + ".qcow2"
	defer os.Remove(conv)
	if _, err := c.d.run.Run(ctx, platform.Command{Name: c.d.cfg.Img,
		Args: []string{"convert", "-f", from, "-O", "qcow2", tmp.Name(), conv}}); err != nil {
		return fmt.Errorf("qemu: convert image %s: %w", img.ID, err)
	}
	if err := os.Rename(conv, path); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	c.d.log.Info("image cached", "image", img.ID, "format", info.Format, "bytes", n)
	return nil
}

// virtualSize asks qemu-img for a disk's virtual size.
func (d *Driver) virtualSize(ctx context.Context, path, format string) (int64, error) {
	out, err := d.run.Run(ctx, platform.Command{Name: d.cfg.Img,
		Args: []string{"info", "-U", "--output=json", "-f", format, path}})
	if err != nil {
		return 0, fmt.Errorf("qemu: image info: %w", err)
	}
	var info struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return 0, fmt.Errorf("qemu: image info: %w", err)
	}
	return info.VirtualSize, nil
}

// ErrFlavorTooSmall is a flavor whose root disk is smaller than the image.
var ErrFlavorTooSmall = errors.New("Flavor's disk is too small for requested image.")

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// makeRoot creates the root disk: a qcow2 overlay of the image's base, grown to the
// flavor's root size (root 0: the image's size).
func (d *Driver) makeRoot(ctx context.Context, img *computedriver.Image, rootGB int64, path string) error {
	if exists(path) {
		return nil
	}
	base, err := d.images.ensure(ctx, img)
	if err != nil {
		return err
	}
	vsize, err := d.virtualSize(ctx, base, "qcow2")
	if err != nil {
		return err
	}
	args := []string{"create", "-f", "qcow2", "-F", "qcow2", "-b", base, path + ".tmp"}
	if rootGB > 0 {
		size := rootGB << 30
		if size < vsize {
			return ErrFlavorTooSmall
		}
		args = append(args, strconv.FormatInt(size, 10))
	}
	if _, err := d.run.Run(ctx, platform.Command{Name: d.cfg.Img, Args: args}); err != nil {
		return fmt.Errorf("qemu: create root disk: %w", err)
	}
	return renameInto(path+".tmp", path)
}

// makeBlank creates an empty disk (ephemeral: qcow2; swap: raw with a swap signature).
func (d *Driver) makeBlank(ctx context.Context, path, format string, bytes int64, swap bool) error {
	if exists(path) {
		return nil
	}
	tmp := path + ".tmp"
	if _, err := d.run.Run(ctx, platform.Command{Name: d.cfg.Img,
		Args: []string{"create", "-f", format, tmp, strconv.FormatInt(bytes, 10)}}); err != nil {
		return fmt.Errorf("qemu: create disk: %w", err)
	}
	if swap {
		if _, err := d.run.Run(ctx, platform.Command{Name: "mkswap", Args: []string{tmp}}); err != nil {
			return fmt.Errorf("qemu: mkswap: %w", err)
		}
	}
	return renameInto(tmp, path)
}

// renameInto renames a finished file into place.
func renameInto(tmp, path string) error {
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	return nil
}

// escapeOpt escapes a value for QEMU's key=value option syntax (commas doubled).
func escapeOpt(s string) string { return strings.ReplaceAll(s, ",", ",,") }
