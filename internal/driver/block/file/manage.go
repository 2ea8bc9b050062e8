package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/gostack/gostack/internal/driver/block"
	"github.com/gostack/gostack/internal/image/inspect"
)

// This file is the file backend's side of Cinder's manage and unmanage: it lists the
// volume and snapshot files of the directory, and adopts one under a new id by
// renaming it, after checking that the name follows the driver's naming and inspecting
// the data. Unmanaging leaves the file where it is, under its name, which is the
// reference a later manage call gives.

var _ block.Manager = (*Driver)(nil)

// managedObject is a file a manage reference resolved to.
type managedObject struct {
	path, format string
	sizeBytes    int64
}

// parseRef checks a manage reference of the given kind ("volume" or "snapshot"): a
// bare name "<kind>-<id>", optionally with its format's extension. Anything else (a
// path, "..", another kind's name, an id the driver would not make) is refused; the
// reference comes from the user.
func parseRef(kind, ref string) (id, format string, err error) {
	bad := fmt.Errorf("%w: the reference %q is not the name of a %s on this backend (expected %s-<id>)",
		block.ErrInvalid, shortRef(ref), kind, kind)
	if len(ref) > 200 || strings.ContainsAny(ref, "/\\\x00") || strings.Contains(ref, "..") {
		return "", "", bad
	}
	name := ref
	if strings.Contains(ref, ".") {
		k, i, f, ok := parseName(ref)
		if !ok || k != kind {
			return "", "", bad
		}
		return i, f, nil
	}
	id, ok := strings.CutPrefix(name, kind+"-")
	if !ok || !idPattern.MatchString(id) {
		return "", "", bad
	}
	return id, "", nil
}

// shortRef bounds a reference quoted back in an error message.
func shortRef(ref string) string {
	if len(ref) > 64 {
		return ref[:64] + "..."
	}
	return ref
}

// formatsOf are the formats a kind of object may have on disk.
func formatsOf(kind string) []string {
	if kind == "snapshot" {
		return []string{block.FormatQCOW2}
	}
	return []string{block.FormatQCOW2, block.FormatRaw}
}

// pathOf is where an object of kind, id and format lives.
func (d *Driver) pathOf(kind, id, format string) string {
	if kind == "snapshot" {
		return d.snapshotPath(id)
	}
	return d.volumePath(id, format)
}

// find returns the existing files of an object (one per format present).
func (d *Driver) find(kind, id, format string) ([]managedObject, error) {
	formats := formatsOf(kind)
	if format != "" {
		formats = []string{format}
	}
	var out []managedObject
	for _, f := range formats {
		p := d.pathOf(kind, id, f)
		if _, err := os.Lstat(p); err == nil {
			out = append(out, managedObject{path: p, format: f})
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("stat %s: %w", kind, err)
		}
	}
	return out, nil
}

// resolve finds the one file a reference names.
func (d *Driver) resolve(kind, ref string) (managedObject, error) {
	id, format, err := parseRef(kind, ref)
	if err != nil {
		return managedObject{}, err
	}
	found, err := d.find(kind, id, format)
	if err != nil {
		return managedObject{}, err
	}
	switch len(found) {
	case 0:
		return managedObject{}, fmt.Errorf("%s %s: %w", kind, shortRef(ref), block.ErrNotFound)
	case 1:
		return found[0], nil
	}
	return managedObject{}, fmt.Errorf("%w: the reference %s names more than one file; give it with its extension",
		block.ErrInvalid, ref)
}

// inspectObject opens the file of o without following links, refuses anything but a
// plain file with one name, and inspects its data: it must be in the format its name
// says, and a qcow2 must not point at other files (backing or data files), so that
// nothing outside the directory is ever read through it. It returns the file's
// identity, to check later that the file renamed is the file inspected.
func inspectObject(o *managedObject, what string) (os.FileInfo, error) {
	f, err := os.OpenFile(o.path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", what, block.ErrNotFound)
		}
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%w: the %s is a symbolic link, which is not adopted", block.ErrInvalid, what)
		}
		return nil, fmt.Errorf("open %s: %w", what, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", what, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: the %s is not a regular file", block.ErrInvalid, what)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink != 1 {
		return nil, fmt.Errorf("%w: the %s has other names (hard links), which is not adopted", block.ErrInvalid, what)
	}
	info, err := inspect.Detect(f, fi.Size())
	if err != nil {
		if errors.Is(err, inspect.ErrUnsafe) {
			return nil, fmt.Errorf("%w: the %s is refused: %w", block.ErrInvalid, what, err)
		}
		return nil, fmt.Errorf("inspect %s: %w", what, err)
	}
	if err := inspect.CheckDeclared(o.format, info); err != nil {
		return nil, fmt.Errorf("%w: the %s's data is not in the format its name says: %w", block.ErrInvalid, what, err)
	}
	size := info.VirtualSize
	if o.format == block.FormatRaw {
		size = fi.Size()
	}
	if size <= 0 {
		return nil, fmt.Errorf("%w: the %s holds no data", block.ErrInvalid, what)
	}
	if size > maxSizeGB*gib {
		return nil, fmt.Errorf("%w: the %s is larger than %d GB", block.ErrInvalid, what, maxSizeGB)
	}
	o.sizeBytes = size
	return fi, nil
}

// ManageableVolumes implements block.Manager from the volume files of the directory.
func (d *Driver) ManageableVolumes(ctx context.Context) ([]block.Manageable, error) {
	return d.manageable("volume")
}

// ManageableSnapshots implements block.Manager from the snapshot files; a snapshot file
// does not say which volume it was taken of, so Parent is left to the service.
func (d *Driver) ManageableSnapshots(ctx context.Context) ([]block.Manageable, error) {
	return d.manageable("snapshot")
}

func (d *Driver) manageable(kind string) ([]block.Manageable, error) {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, fmt.Errorf("list %ss: %w", kind, err)
	}
	seen := map[string]bool{}
	var out []block.Manageable
	for _, e := range entries {
		k, id, format, ok := parseName(e.Name())
		if !ok || k != kind || !e.Type().IsRegular() || seen[id] {
			continue
		}
		size, err := virtualSize(filepath.Join(d.dir, e.Name()), format)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				d.log.Warn("cannot read the size of a "+kind, "file", e.Name(), "err", err)
			}
			continue
		}
		seen[id] = true
		out = append(out, block.Manageable{Name: kind + "-" + id, ID: id, SizeGB: ceilGB(size)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ManageExistingGetSize implements block.Manager.
func (d *Driver) ManageExistingGetSize(ctx context.Context, ref string) (int64, error) {
	return d.getSize("volume", ref)
}

// ManageExistingSnapshotGetSize implements block.Manager.
func (d *Driver) ManageExistingSnapshotGetSize(ctx context.Context, ref string) (int64, error) {
	return d.getSize("snapshot", ref)
}

func (d *Driver) getSize(kind, ref string) (int64, error) {
	o, err := d.resolve(kind, ref)
	if err != nil {
		return 0, err
	}
	defer d.locks.lock(o.path)()
	if _, err := inspectObject(&o, kind); err != nil {
		return 0, err
	}
	return ceilGB(o.sizeBytes), nil
}

// ManageExisting implements block.Manager: volume-<ref id> becomes volume-<vol.ID> in
// the same format.
func (d *Driver) ManageExisting(ctx context.Context, ref string, vol block.Volume) (block.Managed, error) {
	if err := checkID("volume", vol.ID); err != nil {
		return block.Managed{}, err
	}
	return d.adopt("volume", ref, vol.ID)
}

// ManageExistingSnapshot implements block.Manager: snapshot-<ref id> becomes
// snapshot-<snap.ID>.
func (d *Driver) ManageExistingSnapshot(ctx context.Context, ref string, snap block.Snapshot) (block.Managed, error) {
	if err := checkID("snapshot", snap.ID); err != nil {
		return block.Managed{}, err
	}
	return d.adopt("snapshot", ref, snap.ID)
}

// adopt renames the object a reference names to the name of newID. The new name is
// made with link(2), which never replaces a file, and the old one removed after; the
// file linked is checked to be the file inspected. A crash between the two steps
// leaves both names of one file, which a re-run completes; a crash after them leaves
// only the new name, which a re-run reports as done.
func (d *Driver) adopt(kind, ref, newID string) (block.Managed, error) {
	refID, refFormat, err := parseRef(kind, ref)
	if err != nil {
		return block.Managed{}, err
	}
	if refID == newID {
		return block.Managed{}, fmt.Errorf("%w: the %s already has this id", block.ErrInvalid, kind)
	}
	// Lock every name involved, in one order, so that no other operation of this
	// driver touches either file meanwhile.
	var keys []string
	for _, f := range formatsOf(kind) {
		keys = append(keys, d.pathOf(kind, refID, f), d.pathOf(kind, newID, f))
	}
	sort.Strings(keys)
	for _, k := range keys {
		defer d.locks.lock(k)()
	}
	targets, err := d.find(kind, newID, "")
	if err != nil {
		return block.Managed{}, err
	}
	sources, err := d.find(kind, refID, refFormat)
	if err != nil {
		return block.Managed{}, err
	}
	if len(targets) > 1 || len(sources) > 1 {
		return block.Managed{}, fmt.Errorf("%w: the reference %s names more than one file; give it with its extension",
			block.ErrInvalid, ref)
	}
	if len(targets) == 1 {
		t := targets[0]
		tfi, err := inspectTarget(&t, kind)
		if err != nil {
			return block.Managed{}, err
		}
		if len(sources) == 1 {
			sfi, err := os.Lstat(sources[0].path)
			if err != nil || !os.SameFile(sfi, tfi) {
				return block.Managed{}, fmt.Errorf("%w: a %s with the new id exists already", block.ErrInvalid, kind)
			}
			// Interrupted between link and unlink: finish.
			if err := removeIfExists(sources[0].path); err != nil {
				return block.Managed{}, err
			}
			if err := syncDir(d.dir); err != nil {
				return block.Managed{}, err
			}
		}
		return block.Managed{SizeGB: ceilGB(t.sizeBytes), Format: t.format}, nil
	}
	if len(sources) == 0 {
		return block.Managed{}, fmt.Errorf("%s %s: %w", kind, shortRef(ref), block.ErrNotFound)
	}
	src := sources[0]
	fi, err := inspectObject(&src, kind)
	if err != nil {
		return block.Managed{}, err
	}
	final := d.pathOf(kind, newID, src.format)
	if err := os.Link(src.path, final); err != nil {
		return block.Managed{}, fmt.Errorf("link the %s under its new name: %w", kind, err)
	}
	linked, err := os.Lstat(final)
	if err != nil || !os.SameFile(fi, linked) {
		// The file was swapped between inspection and link: take the new name back.
		_ = os.Remove(final)
		return block.Managed{}, fmt.Errorf("%w: the %s changed while it was being adopted", block.ErrInvalid, kind)
	}
	if err := syncDir(d.dir); err != nil {
		return block.Managed{}, err
	}
	if err := removeIfExists(src.path); err != nil {
		return block.Managed{}, err
	}
	if err := syncDir(d.dir); err != nil {
		return block.Managed{}, err
	}
	d.log.Info("adopted a "+kind, "from", filepath.Base(src.path), "to", filepath.Base(final))
	return block.Managed{SizeGB: ceilGB(src.sizeBytes), Format: src.format}, nil
}

// inspectTarget reads the size of an object already adopted (a re-run); it has one or
// two names (two when the unlink of the old one was interrupted), so the link count is
// not checked, but it is inspected again.
func inspectTarget(o *managedObject, what string) (os.FileInfo, error) {
	fi, err := os.Lstat(o.path)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", what, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: the %s is not a regular file", block.ErrInvalid, what)
	}
	size, err := virtualSize(o.path, o.format)
	if err != nil {
		return nil, fmt.Errorf("%w: the %s cannot be read: %w", block.ErrInvalid, what, err)
	}
	o.sizeBytes = size
	return fi, nil
}

// Unmanage implements block.Manager: the file stays as it is, under volume-<id>.
func (d *Driver) Unmanage(ctx context.Context, vol block.Volume) error {
	return checkID("volume", vol.ID)
}

// UnmanageSnapshot implements block.Manager: the file stays, under snapshot-<id>.
func (d *Driver) UnmanageSnapshot(ctx context.Context, snap block.Snapshot) error {
	return checkID("snapshot", snap.ID)
}
