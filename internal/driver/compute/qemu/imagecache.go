package qemu

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The image cache manager is Nova's: bases in _base that no disk of this host is an
// overlay of, and that were not used for a while, are removed, so the cache does not
// grow with every image ever booted. A base is "used" when a disk is made from it
// (ensure touches it), and kept while any disk's qcow2 header names it as its backing
// file, whatever instance.json says (rescue disks, resize leftovers, disks of guests
// gostack no longer knows of all count).

// defaultCacheMinAge is how long an unused base is kept (Nova's
// remove_unused_original_minimum_age_seconds).
const defaultCacheMinAge = 24 * time.Hour

// tempMinAge is how old a temporary file in _base (an interrupted fetch or format) must
// be before it is removed: older than any fetch in flight.
const tempMinAge = time.Hour

// ManageImageCache removes the cached bases that no disk uses and that were last used
// longer ago than the minimum age, and stale temporaries; it returns what it removed.
func (d *Driver) ManageImageCache(ctx context.Context) ([]string, error) {
	used, err := d.backingFiles()
	if err != nil {
		return nil, err
	}
	c := d.images
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return nil, fmt.Errorf("qemu: image cache: %w", err)
	}
	minAge := d.cfg.ImageCacheMinAge
	if minAge <= 0 {
		minAge = defaultCacheMinAge
	}
	var removed []string
	for _, e := range ents {
		if ctx.Err() != nil {
			return removed, ctx.Err()
		}
		if !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(c.dir, e.Name())
		temp := strings.HasPrefix(e.Name(), ".") || strings.HasSuffix(e.Name(), ".tmp")
		if used[path] {
			continue
		}
		age := minAge
		if temp {
			age = tempMinAge
		}
		if c.removeIfIdle(path, age) {
			removed = append(removed, e.Name())
			d.log.Info("image cache: removed an unused base", "file", e.Name())
		}
	}
	return removed, nil
}

// removeIfIdle removes path when nothing is making it and it was last used (modified)
// longer than age ago. It holds the cache's lock, as touch does, so a base that a spawn
// has just chosen is either touched first (and kept) or removed first (and made again).
func (c *imageCache) removeIfIdle(path string, age time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight[path] != nil {
		return false
	}
	fi, err := os.Stat(path)
	if err != nil || time.Since(fi.ModTime()) < age {
		return false
	}
	return os.Remove(path) == nil
}

// touch marks a base as used now.
func (c *imageCache) touch(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	_ = os.Chtimes(path, now, now)
}

// backingFiles returns the backing files (absolute) of every qcow2 file under the
// instances directory but _base itself.
func (d *Driver) backingFiles() (map[string]bool, error) {
	used := map[string]bool{}
	base := filepath.Join(d.dir, baseDirName)
	err := filepath.WalkDir(d.dir, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil // an instance deleted while we walk
			}
			return err
		}
		if e.IsDir() {
			if path == base {
				return filepath.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() {
			return nil
		}
		b, err := qcow2BackingFile(path)
		if err != nil || b == "" {
			return nil // not a qcow2 with a backing file, or gone
		}
		if !filepath.IsAbs(b) {
			b = filepath.Join(filepath.Dir(path), b)
		}
		used[filepath.Clean(b)] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("qemu: image cache: %w", err)
	}
	return used, nil
}

// qcow2BackingFile reads the backing file name from a qcow2 header ("" for another
// format or no backing file): magic "QFI\xfb", backing_file_offset (u64) at 8 and
// backing_file_size (u32) at 16, big-endian.
func qcow2BackingFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var h [20]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return "", nil
	}
	if string(h[:4]) != "QFI\xfb" {
		return "", nil
	}
	off := binary.BigEndian.Uint64(h[8:16])
	size := binary.BigEndian.Uint32(h[16:20])
	if off == 0 || size == 0 || size > 1023 {
		return "", nil
	}
	name := make([]byte, size)
	if _, err := f.ReadAt(name, int64(off)); err != nil {
		return "", nil
	}
	return string(name), nil
}
