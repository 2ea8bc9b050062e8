package qemu

import (
	"context"
	"crypto/md5"
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

// fetch is one cache file being made; concurrent spawns needing it wait for it.
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
	if err := c.once(ctx, path, func() error { return c.fetch(ctx, img, path) }); err != nil {
		return "", err
	}
	return path, nil
}

// once makes the cache file path with build unless it exists; concurrent callers for
// the same path wait for the one making it.
func (c *imageCache) once(ctx context.Context, path string, build func() error) error {
	for {
		if _, err := os.Stat(path); err == nil {
			c.touch(path)
			if _, err := os.Stat(path); err == nil {
				return nil
			}
			continue // removed by the cache manager just before the touch: make it again
		}
		c.mu.Lock()
		f := c.inflight[path]
		if f == nil {
			f = &fetch{done: make(chan struct{})}
			c.inflight[path] = f
			c.mu.Unlock()
			f.err = build()
			c.mu.Lock()
			delete(c.inflight, path)
			c.mu.Unlock()
			close(f.done)
			return f.err
		}
		c.mu.Unlock()
		select {
		case <-f.done:
			if f.err != nil {
				return f.err
			}
		case <-ctx.Done():
			return ctx.Err()
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

// makeSwap creates a swap disk: a raw file with a swap signature (Nova's _create_swap).
func (d *Driver) makeSwap(ctx context.Context, path string, bytes int64) error {
	if exists(path) {
		return nil
	}
	tmp := path + ".tmp"
	if _, err := d.run.Run(ctx, platform.Command{Name: d.cfg.Img,
		Args: []string{"create", "-f", "raw", tmp, strconv.FormatInt(bytes, 10)}}); err != nil {
		return fmt.Errorf("qemu: create disk: %w", err)
	}
	if _, err := d.run.Run(ctx, platform.Command{Name: "mkswap", Args: []string{tmp}}); err != nil {
		return fmt.Errorf("qemu: mkswap: %w", err)
	}
	return renameInto(tmp, path)
}

// Ephemeral file systems, as Nova picks them: the image's os_type decides (linux: ext4,
// windows: ntfs), else [compute] default_ephemeral_format, else vfat.
const (
	fsVFAT = "vfat"
	fsExt4 = "ext4"
	fsNTFS = "ntfs"
)

// ephemeralLabel is the label of the first ephemeral disk's file system (Nova's
// "ephemeral0", which cloud-init mounts at /mnt).
const ephemeralLabel = "ephemeral0"

// ephemeralFS is the file system of inst's ephemeral disk.
func ephemeralFS(img *computedriver.Image, defaultFS string) string {
	if img != nil {
		if osType, _ := img.Properties["os_type"].(string); osType != "" {
			switch strings.ToLower(osType) {
			case "linux":
				return fsExt4
			case "windows":
				return fsNTFS
			}
		}
	}
	if defaultFS != "" {
		return defaultFS
	}
	return fsVFAT
}

// ephemeralBasePath is the cached formatted base of an ephemeral disk of gb GiB with
// file system fs (Nova's _base/ephemeral_<gb>_<hash of fs>).
func (c *imageCache) ephemeralBasePath(gb int64, fs string) string {
	h := md5.Sum([]byte(fs))
	return filepath.Join(c.dir, fmt.Sprintf("ephemeral_%d_%s", gb, hex.EncodeToString(h[:])[:7]))
}

// makeEphemeral creates an ephemeral disk: a qcow2 overlay of a cached raw base holding
// an empty file system labelled ephemeral0, made once per size and file system.
func (d *Driver) makeEphemeral(ctx context.Context, path string, gb int64, fs string) error {
	if exists(path) {
		return nil
	}
	if fs == "" {
		fs = fsVFAT
	}
	base := d.images.ephemeralBasePath(gb, fs)
	err := d.images.once(ctx, base, func() error {
		tmp := base + ".tmp"
		if _, err := d.run.Run(ctx, platform.Command{Name: d.cfg.Img,
			Args: []string{"create", "-f", "raw", tmp, strconv.FormatInt(gb<<30, 10)}}); err != nil {
			return fmt.Errorf("qemu: create ephemeral base: %w", err)
		}
		if _, err := d.run.Run(ctx, platform.Command{Name: "mkfs", Args: mkfsArgs(fs, ephemeralLabel, tmp)}); err != nil {
			_ = os.Remove(tmp)
			return fmt.Errorf("qemu: format ephemeral disk (%s): %w", fs, err)
		}
		return renameInto(tmp, base)
	})
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if _, err := d.run.Run(ctx, platform.Command{Name: d.cfg.Img,
		Args: []string{"create", "-f", "qcow2", "-F", "raw", "-b", base, tmp, strconv.FormatInt(gb<<30, 10)}}); err != nil {
		return fmt.Errorf("qemu: create ephemeral disk: %w", err)
	}
	return renameInto(tmp, path)
}

// mkfsArgs are mkfs's arguments for a file system on a file, as Nova's mkfs builds them.
func mkfsArgs(fs, label, path string) []string {
	args := []string{"-t", fs}
	if fs == fsExt4 || fs == "ext3" || fs == fsNTFS {
		// Not a block device: do not ask.
		args = append(args, "-F")
	}
	if fs == fsVFAT || fs == "msdos" {
		args = append(args, "-n", label)
	} else {
		args = append(args, "-L", label)
	}
	return append(args, path)
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
