// Package file is the file volume backend: every volume is a qcow2 (the default) or raw
// file under one directory, every snapshot an independent qcow2 file next to it, and
// backups go to a chunked store on a POSIX path (BackupStore). It needs nothing but the
// data directory and qemu-img, which it always runs through platform.Runner with an
// explicit format (-f, -O), so that qemu never probes a format on its own.
//
// Names in the directory:
//
//	volume-<id>.qcow2, volume-<id>.raw   a volume, in its format
//	snapshot-<id>.qcow2                  a snapshot
//	.tmp-*                               work in progress
//
// Every operation is idempotent and crash-safe: a file is built under a .tmp- name in the
// same directory, synced to disk, then renamed into place and the directory synced, so
// a final name always holds complete data, an existing final name means the operation
// is done, and what a crash leaves behind is only .tmp- files, which New removes. Nothing
// else in the directory is ever removed except by an explicit Delete.
//
// Volumes are thin: qemu-img create makes sparse qcow2 files, raw volumes are sparse files
// (truncate), and data copied in skips runs of zeros.
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/gostack/gostack/internal/driver/block"
	"github.com/gostack/gostack/internal/platform"
)

// Interface guards.
var (
	_ block.Driver      = (*Driver)(nil)
	_ block.BackupStore = (*BackupStore)(nil)
)

const (
	gib = int64(1) << 30
	// tmpPrefix starts the name of every file that is work in progress.
	tmpPrefix = ".tmp-"
	// maxSizeGB bounds volume sizes (64 TiB): beyond it byte counts come close to
	// overflowing and no real request asks for it.
	maxSizeGB = 64 << 10
)

// idPattern is what a volume, snapshot or backup id may look like: it becomes part of a
// file name, so no dots, slashes or anything a shell or qemu-img option parser would
// read specially.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

// Config configures a file Driver.
type Config struct {
	// Dir holds the volume and snapshot files; it is created when missing.
	Dir string
	// Runner runs qemu-img (platform.Exec, or a Recorder in tests).
	Runner platform.Runner
	// Log receives the driver's messages; nil discards them.
	Log *slog.Logger
	// ReservedPercentage of the filesystem is kept free: operations that need real space
	// are refused with block.ErrNoSpace when they would eat into it.
	ReservedPercentage int
}

// Driver is the file volume backend; it implements block.Driver.
type Driver struct {
	dir      string
	run      platform.Runner
	log      *slog.Logger
	reserved int
	locks    keyedMutex
	// exports numbers the temporary files of concurrent exports.
	exports atomic.Int64
	// directIO says the directory's filesystem takes O_DIRECT, so converts onto new
	// volumes write with qemu-img's cache mode none.
	directIO bool
}

// New returns a Driver over cfg.Dir, creating the directory when missing and removing
// the temporary files operations interrupted by a crash left there (only those).
func New(cfg Config) (*Driver, error) {
	if cfg.Dir == "" {
		return nil, errors.New("file volume driver: no directory")
	}
	if cfg.Runner == nil {
		return nil, errors.New("file volume driver: no runner")
	}
	if cfg.ReservedPercentage < 0 || cfg.ReservedPercentage > 100 {
		return nil, fmt.Errorf("file volume driver: reserved percentage %d is not within 0-100", cfg.ReservedPercentage)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("file volume driver: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("file volume driver: %w", err)
	}
	d := &Driver{dir: dir, run: cfg.Runner, log: log.With("component", "block.file"), reserved: cfg.ReservedPercentage}
	if err := d.removeTemporaries(); err != nil {
		return nil, err
	}
	d.directIO = probeDirectIO(dir)
	return d, nil
}

// probeDirectIO reports whether files in dir can be opened with O_DIRECT (tmpfs and
// some others refuse it, and qemu-img -t none would then fail).
func probeDirectIO(dir string) bool {
	path := filepath.Join(dir, tmpPrefix+"probe-direct-io")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_DIRECT, 0o640)
	if err != nil {
		return false
	}
	f.Close()
	_ = os.Remove(path)
	return true
}

// removeTemporaries deletes what interrupted operations left: regular files whose name
// starts with .tmp-. Anything else is left alone, whatever it is.
func (d *Driver) removeTemporaries() error {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return fmt.Errorf("file volume driver: list %s: %w", d.dir, err)
	}
	removed := 0
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tmpPrefix) || !e.Type().IsRegular() {
			continue
		}
		if err := os.Remove(filepath.Join(d.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("file volume driver: remove leftover: %w", err)
		}
		d.log.Info("removed the leftover of an interrupted operation", "file", e.Name())
		removed++
	}
	if removed > 0 {
		return syncDir(d.dir)
	}
	return nil
}

// Name implements block.Driver.
func (d *Driver) Name() string { return "file" }

// Dir returns the directory the volumes live in.
func (d *Driver) Dir() string { return d.dir }

// volumeFormat returns the format of vol, qcow2 when unset.
func volumeFormat(vol block.Volume) (string, error) {
	switch vol.Format {
	case "", block.FormatQCOW2:
		return block.FormatQCOW2, nil
	case block.FormatRaw:
		return block.FormatRaw, nil
	}
	return "", fmt.Errorf("%w: volume format %q is not one of qcow2, raw", block.ErrInvalid, vol.Format)
}

func checkID(kind, id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: %s id %q is not a valid id", block.ErrInvalid, kind, id)
	}
	return nil
}

func checkSize(sizeGB int64) (int64, error) {
	if sizeGB < 1 || sizeGB > maxSizeGB {
		return 0, fmt.Errorf("%w: size %d GB is not within 1-%d", block.ErrInvalid, sizeGB, maxSizeGB)
	}
	return sizeGB * gib, nil
}

// volume is a checked volume: its format and where its file is.
type volume struct {
	id, format, path string
}

func (d *Driver) volume(vol block.Volume) (volume, error) {
	if err := checkID("volume", vol.ID); err != nil {
		return volume{}, err
	}
	f, err := volumeFormat(vol)
	if err != nil {
		return volume{}, err
	}
	return volume{id: vol.ID, format: f, path: d.volumePath(vol.ID, f)}, nil
}

func (d *Driver) volumePath(id, format string) string {
	return filepath.Join(d.dir, "volume-"+id+"."+format)
}

func (d *Driver) snapshotPath(id string) string {
	return filepath.Join(d.dir, "snapshot-"+id+".qcow2")
}

// tmpPath is the deterministic temporary name of final (one per final file: the
// per-volume lock keeps two operations from building the same file at once).
func tmpPath(final, purpose string) string {
	base := filepath.Base(final)
	if purpose != "" {
		base = purpose + "-" + base
	}
	return filepath.Join(filepath.Dir(final), tmpPrefix+base)
}

// Capacity implements block.Driver: the filesystem's space, and the virtual sizes of
// what the directory holds.
func (d *Driver) Capacity(ctx context.Context) (block.Capacity, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.dir, &st); err != nil {
		return block.Capacity{}, fmt.Errorf("statfs: %w", err)
	}
	total := float64(st.Blocks) * float64(st.Bsize)
	free := float64(st.Bavail) * float64(st.Bsize)
	provisioned, err := d.provisioned()
	if err != nil {
		return block.Capacity{}, err
	}
	g := float64(gib)
	return block.Capacity{
		TotalGB:            round2(total / g),
		FreeGB:             round2(free / g),
		ThinProvisioning:   true,
		ProvisionedGB:      round2(float64(provisioned) / g),
		ReservedPercentage: d.reserved,
	}, nil
}

func round2(x float64) float64 {
	return float64(int64(x*100)) / 100
}

// provisioned sums the virtual sizes of the volume and snapshot files.
func (d *Driver) provisioned() (int64, error) {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return 0, fmt.Errorf("list volumes: %w", err)
	}
	var sum int64
	for _, e := range entries {
		kind, _, format, ok := parseName(e.Name())
		if !ok || kind == "" {
			continue
		}
		size, err := virtualSize(filepath.Join(d.dir, e.Name()), format)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted meanwhile
			}
			d.log.Warn("cannot read a volume's size", "file", e.Name(), "err", err)
			continue
		}
		sum += size
	}
	return sum, nil
}

// available is the space operations may use: what is free beyond the reserve.
func (d *Driver) available() (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.dir, &st); err != nil {
		return 0, fmt.Errorf("statfs: %w", err)
	}
	total := int64(st.Blocks) * st.Bsize
	free := int64(st.Bavail) * st.Bsize
	return free - total/100*int64(d.reserved), nil
}

// needSpace refuses an operation that would write about n bytes when the filesystem
// does not have them beyond its reserve.
func (d *Driver) needSpace(n int64) error {
	avail, err := d.available()
	if err != nil {
		return err
	}
	if n > avail {
		return fmt.Errorf("%w: %d bytes needed, %d available", block.ErrNoSpace, n, max(avail, 0))
	}
	return nil
}

// allocated is the space a file really takes on disk.
func allocated(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512, nil
	}
	return fi.Size(), nil
}

// Create implements block.Driver: a sparse file of vol.SizeGB.
func (d *Driver) Create(ctx context.Context, vol block.Volume) error {
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
		if err := d.needSpace(1 << 20); err != nil {
			return err
		}
		return d.createEmpty(ctx, tmp, v.format, size)
	})
}

// createEmpty makes a new, all-zero, sparse image of the given format and size at path.
func (d *Driver) createEmpty(ctx context.Context, path, format string, size int64) error {
	if format == block.FormatRaw {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
		if err != nil {
			return mapNoSpace(fmt.Errorf("create: %w", err))
		}
		err = f.Truncate(size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return mapNoSpace(err)
	}
	return d.qemuImg(ctx, "create", "-q", "-f", format, path, strconv.FormatInt(size, 10))
}

// publish builds the final file through build(tmp) unless it exists, then syncs it and
// renames it into place. A failed build leaves nothing behind.
func (d *Driver) publish(final string, build func(tmp string) error) error {
	if _, err := os.Lstat(final); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("stat: %w", err)
	}
	tmp := tmpPath(final, "")
	if err := removeIfExists(tmp); err != nil {
		return err
	}
	if err := build(tmp); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return replace(tmp, final)
}

// replace makes tmp durable and renames it to final (replacing what final held).
func replace(tmp, final string) error {
	if err := syncFile(tmp); err != nil {
		_ = os.Remove(tmp)
		return mapNoSpace(err)
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("rename into place: %w", err)
	}
	return syncDir(filepath.Dir(final))
}

// Extend implements block.Driver with qemu-img resize; it refuses to shrink and does
// nothing when the volume already has the size.
func (d *Driver) Extend(ctx context.Context, vol block.Volume, newSizeGB int64) error {
	v, err := d.volume(vol)
	if err != nil {
		return err
	}
	size, err := checkSize(newSizeGB)
	if err != nil {
		return err
	}
	defer d.locks.lock(v.path)()
	cur, err := virtualSize(v.path, v.format)
	if err != nil {
		return notFound("volume", v.id, err)
	}
	switch {
	case size == cur:
		return nil
	case size < cur:
		return fmt.Errorf("%w: a volume cannot shrink (from %d GB to %d GB)", block.ErrInvalid, ceilGB(cur), newSizeGB)
	}
	if err := d.qemuImg(ctx, "resize", "-q", "-f", v.format, v.path, strconv.FormatInt(size, 10)); err != nil {
		return err
	}
	return syncFile(v.path)
}

// Delete implements block.Driver: it removes the volume's file, in either format.
func (d *Driver) Delete(ctx context.Context, vol block.Volume) error {
	if err := checkID("volume", vol.ID); err != nil {
		return err
	}
	for _, f := range []string{block.FormatQCOW2, block.FormatRaw} {
		p := d.volumePath(vol.ID, f)
		unlock := d.locks.lock(p)
		err := removeIfExists(p)
		unlock()
		if err != nil {
			return err
		}
	}
	return syncDir(d.dir)
}

// Connection implements block.Driver: the file's path and format, which the QEMU compute
// driver hands to blockdev-add.
func (d *Driver) Connection(ctx context.Context, vol block.Volume) (block.Connection, error) {
	v, err := d.volume(vol)
	if err != nil {
		return block.Connection{}, err
	}
	if _, err := os.Stat(v.path); err != nil {
		return block.Connection{}, notFound("volume", v.id, err)
	}
	return block.Connection{
		DriverVolumeType: "file",
		Data: map[string]any{
			"path":        v.path,
			"format":      v.format,
			"name":        "volume-" + v.id,
			"access_mode": "rw",
		},
	}, nil
}

// Inventory implements block.Driver from the file names in the directory.
func (d *Driver) Inventory(ctx context.Context) (volumes, snapshots []string, err error) {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("list volumes: %w", err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		kind, id, _, ok := parseName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		switch kind {
		case "volume":
			if !seen[id] {
				volumes = append(volumes, id)
				seen[id] = true
			}
		case "snapshot":
			snapshots = append(snapshots, id)
		}
	}
	sort.Strings(volumes)
	sort.Strings(snapshots)
	return volumes, snapshots, nil
}

// parseName reads "volume-<id>.<format>" or "snapshot-<id>.qcow2".
func parseName(name string) (kind, id, format string, ok bool) {
	base, format, found := strings.Cut(name, ".")
	if !found {
		return "", "", "", false
	}
	switch {
	case strings.HasPrefix(base, "volume-") && (format == block.FormatQCOW2 || format == block.FormatRaw):
		kind, id = "volume", strings.TrimPrefix(base, "volume-")
	case strings.HasPrefix(base, "snapshot-") && format == block.FormatQCOW2:
		kind, id = "snapshot", strings.TrimPrefix(base, "snapshot-")
	default:
		return "", "", "", false
	}
	if !idPattern.MatchString(id) {
		return "", "", "", false
	}
	return kind, id, format, true
}

// qemuImg runs qemu-img with args.
func (d *Driver) qemuImg(ctx context.Context, args ...string) error {
	_, err := d.run.Run(ctx, platform.Command{Name: "qemu-img", Args: args})
	if err != nil {
		return mapNoSpace(fmt.Errorf("qemu-img %s: %w", args[0], err))
	}
	return nil
}

// mapNoSpace makes a full filesystem recognisable as block.ErrNoSpace.
func mapNoSpace(err error) error {
	if err == nil || errors.Is(err, block.ErrNoSpace) {
		return err
	}
	var ee *platform.ExitError
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		(errors.As(err, &ee) && strings.Contains(ee.Stderr, "No space left on device")) {
		return fmt.Errorf("%w: %w", block.ErrNoSpace, err)
	}
	return err
}

// notFound turns a missing file into block.ErrNotFound.
func notFound(kind, id string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s %s: %w", kind, id, block.ErrNotFound)
	}
	return fmt.Errorf("%s %s: %w", kind, id, err)
}

func ceilGB(n int64) int64 { return (n + gib - 1) / gib }

// virtualSize is the size the guest sees of a file this driver made: the file size
// for raw, the size field of the header for qcow2 (read directly: no qemu-img run for
// what Capacity and every size check need).
func virtualSize(path, format string) (int64, error) {
	if format == block.FormatRaw {
		fi, err := os.Stat(path)
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var h [32]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return 0, fmt.Errorf("read qcow2 header: %w", err)
	}
	if string(h[:4]) != "QFI\xfb" {
		return 0, errors.New("not a qcow2 file")
	}
	size := int64(0)
	for _, b := range h[24:32] {
		size = size<<8 | int64(b)
	}
	if size < 0 {
		return 0, errors.New("qcow2 size out of range")
	}
	return size, nil
}

// removeIfExists removes path; a missing file is not an error.
func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove: %w", err)
	}
	return nil
}

// syncFile flushes a file's data and metadata to disk.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return nil
}

// syncDir makes renames and removals in dir durable.
func syncDir(dir string) error {
	return syncFile(dir)
}
