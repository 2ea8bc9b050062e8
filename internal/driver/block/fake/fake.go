// Package fake is an in-memory block.Driver and block.BackupStore: a test double for the
// volume service that never touches the disk. Like the real drivers it is idempotent
// (creating what exists and deleting what is gone succeed), and it can be told to fail
// or to wait in any operation, so that failure and restart paths are tested through the
// real API.
package fake

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/gostack/gostack/internal/driver/block"
)

// Config tunes a fake backend.
type Config struct {
	// Name is the backend name ("fake" when empty).
	Name string
	// TotalGB is the backend's reported size (1000 when 0).
	TotalGB float64
	// Hook, when set, runs at the start of every operation with its name ("create",
	// "create_from_image", "create_from_snapshot", "clone", "extend", "delete",
	// "create_snapshot", "delete_snapshot", "export", "import", "backup", "restore",
	// "delete_backup", "list_manageable", "list_manageable_snapshots", "manage_get_size",
	// "manage", "manage_snapshot_get_size", "manage_snapshot", "unmanage",
	// "unmanage_snapshot") and the id it acts on (the reference for the get_size ones,
	// the new id for manage); an error it returns fails the operation. Tests use it to inject failures or to block an operation until they cancel.
	Hook func(ctx context.Context, op, id string) error
}

// volume is one stored volume.
type volume struct {
	sizeGB int64
	format string
	data   []byte
}

// Driver is the in-memory block.Driver.
type Driver struct {
	cfg Config

	mu        sync.Mutex
	volumes   map[string]*volume
	snapshots map[string]*volume
	calls     []string
}

var _ block.Driver = (*Driver)(nil)

// New returns an empty fake backend.
func New(cfg Config) *Driver {
	if cfg.Name == "" {
		cfg.Name = "fake"
	}
	if cfg.TotalGB == 0 {
		cfg.TotalGB = 1000
	}
	return &Driver{cfg: cfg, volumes: map[string]*volume{}, snapshots: map[string]*volume{}}
}

// hook records the call and runs the configured hook.
func (d *Driver) hook(ctx context.Context, op, id string) error {
	d.mu.Lock()
	d.calls = append(d.calls, op+" "+id)
	d.mu.Unlock()
	if d.cfg.Hook != nil {
		return d.cfg.Hook(ctx, op, id)
	}
	return nil
}

// Calls returns the operations run so far, as "op id".
func (d *Driver) Calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

// Has reports whether the backend holds the volume and its size.
func (d *Driver) Has(id string) (sizeGB int64, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.volumes[id]
	if !ok {
		return 0, false
	}
	return v.sizeGB, true
}

// HasSnapshot reports whether the backend holds the snapshot.
func (d *Driver) HasSnapshot(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.snapshots[id]
	return ok
}

// Data returns a copy of the bytes written to a volume.
func (d *Driver) Data(id string) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v, ok := d.volumes[id]; ok {
		return slices.Clone(v.data)
	}
	return nil
}

// Put stores a volume directly, as if an earlier run had left it (reconcile tests).
func (d *Driver) Put(id string, sizeGB int64, data []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.volumes[id] = &volume{sizeGB: sizeGB, format: block.FormatQCOW2, data: slices.Clone(data)}
}

// Name implements block.Driver.
func (d *Driver) Name() string { return d.cfg.Name }

// Capacity implements block.Driver: the total less the provisioned sizes.
func (d *Driver) Capacity(ctx context.Context) (block.Capacity, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var used float64
	for _, v := range d.volumes {
		used += float64(len(v.data)) / (1 << 30)
	}
	return block.Capacity{TotalGB: d.cfg.TotalGB, FreeGB: d.cfg.TotalGB - used, ThinProvisioning: true}, nil
}

// format returns the volume's format with the qcow2 default.
func format(v block.Volume) string {
	if v.Format == "" {
		return block.FormatQCOW2
	}
	return v.Format
}

// Create implements block.Driver.
func (d *Driver) Create(ctx context.Context, vol block.Volume) error {
	if err := d.hook(ctx, "create", vol.ID); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.volumes[vol.ID]; !ok {
		d.volumes[vol.ID] = &volume{sizeGB: vol.SizeGB, format: format(vol)}
	}
	return nil
}

// CreateFromImage implements block.Driver; it reads the whole image.
func (d *Driver) CreateFromImage(ctx context.Context, vol block.Volume, img block.Image) error {
	if err := d.hook(ctx, "create_from_image", vol.ID); err != nil {
		return err
	}
	rc, err := img.Open(ctx)
	if err != nil {
		return fmt.Errorf("open image %s: %w", img.ID, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("read image %s: %w", img.ID, err)
	}
	if int64(len(data)) > vol.SizeGB<<30 {
		return fmt.Errorf("image %s does not fit in %d GiB: %w", img.ID, vol.SizeGB, block.ErrNoSpace)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.volumes[vol.ID] = &volume{sizeGB: vol.SizeGB, format: format(vol), data: data}
	return nil
}

// CreateFromSnapshot implements block.Driver.
func (d *Driver) CreateFromSnapshot(ctx context.Context, vol block.Volume, snap block.Snapshot) error {
	if err := d.hook(ctx, "create_from_snapshot", vol.ID); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.snapshots[snap.ID]
	if !ok {
		return fmt.Errorf("snapshot %s: %w", snap.ID, block.ErrNotFound)
	}
	d.volumes[vol.ID] = &volume{sizeGB: max(vol.SizeGB, s.sizeGB), format: format(vol), data: slices.Clone(s.data)}
	return nil
}

// Clone implements block.Driver.
func (d *Driver) Clone(ctx context.Context, vol block.Volume, src block.Volume) error {
	if err := d.hook(ctx, "clone", vol.ID); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.volumes[src.ID]
	if !ok {
		return fmt.Errorf("volume %s: %w", src.ID, block.ErrNotFound)
	}
	d.volumes[vol.ID] = &volume{sizeGB: max(vol.SizeGB, s.sizeGB), format: format(vol), data: slices.Clone(s.data)}
	return nil
}

// Extend implements block.Driver.
func (d *Driver) Extend(ctx context.Context, vol block.Volume, newSizeGB int64) error {
	if err := d.hook(ctx, "extend", vol.ID); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.volumes[vol.ID]
	if !ok {
		return fmt.Errorf("volume %s: %w", vol.ID, block.ErrNotFound)
	}
	if newSizeGB > v.sizeGB {
		v.sizeGB = newSizeGB
	}
	return nil
}

// Delete implements block.Driver.
func (d *Driver) Delete(ctx context.Context, vol block.Volume) error {
	if err := d.hook(ctx, "delete", vol.ID); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.volumes, vol.ID)
	return nil
}

// CreateSnapshot implements block.Driver.
func (d *Driver) CreateSnapshot(ctx context.Context, snap block.Snapshot, vol block.Volume) error {
	if err := d.hook(ctx, "create_snapshot", snap.ID); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.volumes[vol.ID]
	if !ok {
		return fmt.Errorf("volume %s: %w", vol.ID, block.ErrNotFound)
	}
	if _, ok := d.snapshots[snap.ID]; !ok {
		d.snapshots[snap.ID] = &volume{sizeGB: v.sizeGB, format: v.format, data: slices.Clone(v.data)}
	}
	return nil
}

// DeleteSnapshot implements block.Driver.
func (d *Driver) DeleteSnapshot(ctx context.Context, snap block.Snapshot) error {
	if err := d.hook(ctx, "delete_snapshot", snap.ID); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.snapshots, snap.ID)
	return nil
}

// Connection implements block.Driver.
func (d *Driver) Connection(ctx context.Context, vol block.Volume) (block.Connection, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.volumes[vol.ID]
	if !ok {
		return block.Connection{}, fmt.Errorf("volume %s: %w", vol.ID, block.ErrNotFound)
	}
	return block.Connection{DriverVolumeType: "file", Data: map[string]any{
		"path": "/fake/volumes/volume-" + vol.ID, "format": v.format}}, nil
}

// Export implements block.Driver: the bytes written to the volume.
func (d *Driver) Export(ctx context.Context, vol block.Volume, diskFormat string) (io.ReadCloser, error) {
	if err := d.hook(ctx, "export", vol.ID); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.volumes[vol.ID]
	if !ok {
		return nil, fmt.Errorf("volume %s: %w", vol.ID, block.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(slices.Clone(v.data))), nil
}

// Import implements block.Driver.
func (d *Driver) Import(ctx context.Context, vol block.Volume, r io.Reader) error {
	if err := d.hook(ctx, "import", vol.ID); err != nil {
		return err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.volumes[vol.ID]
	if !ok {
		return fmt.Errorf("volume %s: %w", vol.ID, block.ErrNotFound)
	}
	v.data = data
	return nil
}

// Inventory implements block.Driver.
func (d *Driver) Inventory(ctx context.Context) (volumes, snapshots []string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id := range d.volumes {
		volumes = append(volumes, id)
	}
	for id := range d.snapshots {
		snapshots = append(snapshots, id)
	}
	sort.Strings(volumes)
	sort.Strings(snapshots)
	return volumes, snapshots, nil
}

// BackupStore is the in-memory block.BackupStore. Incremental backups store their whole
// data too (the fake needs no chunking); Restore returns the backup's own data.
type BackupStore struct {
	// Hook is as Config.Hook, for "backup", "restore" and "delete_backup".
	Hook func(ctx context.Context, op, id string) error

	mu      sync.Mutex
	backups map[string][]byte
}

var _ block.BackupStore = (*BackupStore)(nil)

// NewBackupStore returns an empty fake backup store.
func NewBackupStore() *BackupStore { return &BackupStore{backups: map[string][]byte{}} }

// hook runs the configured hook.
func (b *BackupStore) hook(ctx context.Context, op, id string) error {
	if b.Hook != nil {
		return b.Hook(ctx, op, id)
	}
	return nil
}

// Has reports whether the store holds the backup.
func (b *BackupStore) Has(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.backups[id]
	return ok
}

// Backup implements block.BackupStore.
func (b *BackupStore) Backup(ctx context.Context, backupID, parentID string, r io.Reader) (block.BackupInfo, error) {
	if err := b.hook(ctx, "backup", backupID); err != nil {
		return block.BackupInfo{}, err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return block.BackupInfo{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if parentID != "" {
		if _, ok := b.backups[parentID]; !ok {
			return block.BackupInfo{}, fmt.Errorf("parent backup %s: %w", parentID, block.ErrNotFound)
		}
	}
	b.backups[backupID] = data
	return block.BackupInfo{SizeBytes: int64(len(data)), StoredBytes: int64(len(data)), ObjectCount: 1}, nil
}

// Restore implements block.BackupStore.
func (b *BackupStore) Restore(ctx context.Context, backupID string) (io.ReadCloser, error) {
	if err := b.hook(ctx, "restore", backupID); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.backups[backupID]
	if !ok {
		return nil, fmt.Errorf("backup %s: %w", backupID, block.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(slices.Clone(data))), nil
}

// Delete implements block.BackupStore.
func (b *BackupStore) Delete(ctx context.Context, backupID string) error {
	if err := b.hook(ctx, "delete_backup", backupID); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.backups, backupID)
	return nil
}

// Inventory implements block.BackupStore.
func (b *BackupStore) Inventory(ctx context.Context) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for id := range b.backups {
		out = append(out, id)
	}
	sort.Strings(out)
	return out, nil
}

var _ block.Manager = (*Driver)(nil)

// fakeRefID returns the id a reference "<kind>-<id>" names; ok is false for anything
// else (the fake accepts only its own naming, as real drivers must).
func fakeRefID(kind, ref string) (string, bool) {
	id, ok := strings.CutPrefix(ref, kind+"-")
	if !ok || id == "" || len(id) > 128 || strings.ContainsAny(id, "/\\.\x00 ") {
		return "", false
	}
	return id, true
}

// manageable lists m as block.Manageable entries named kind-<id>.
func manageable(kind string, m map[string]*volume) []block.Manageable {
	out := make([]block.Manageable, 0, len(m))
	for id, v := range m {
		out = append(out, block.Manageable{Name: kind + "-" + id, ID: id, SizeGB: v.sizeGB})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ManageableVolumes implements block.Manager.
func (d *Driver) ManageableVolumes(ctx context.Context) ([]block.Manageable, error) {
	if err := d.hook(ctx, "list_manageable", ""); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return manageable("volume", d.volumes), nil
}

// ManageableSnapshots implements block.Manager.
func (d *Driver) ManageableSnapshots(ctx context.Context) ([]block.Manageable, error) {
	if err := d.hook(ctx, "list_manageable_snapshots", ""); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return manageable("snapshot", d.snapshots), nil
}

// getSize is ManageExistingGetSize for kind over m.
func (d *Driver) getSize(ctx context.Context, op, kind, ref string, m map[string]*volume) (int64, error) {
	if err := d.hook(ctx, op, ref); err != nil {
		return 0, err
	}
	id, ok := fakeRefID(kind, ref)
	if !ok {
		return 0, fmt.Errorf("%w: the reference is not a %s name", block.ErrInvalid, kind)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := m[id]
	if !ok {
		return 0, fmt.Errorf("%s %s: %w", kind, id, block.ErrNotFound)
	}
	return v.sizeGB, nil
}

// adopt moves m[ref id] to m[newID]; done already when only newID is there.
func (d *Driver) adopt(ctx context.Context, op, kind, ref, newID string, m map[string]*volume) (block.Managed, error) {
	if err := d.hook(ctx, op, newID); err != nil {
		return block.Managed{}, err
	}
	id, ok := fakeRefID(kind, ref)
	if !ok || id == newID {
		return block.Managed{}, fmt.Errorf("%w: the reference is not a %s name", block.ErrInvalid, kind)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	src, hasSrc := m[id]
	if dst, done := m[newID]; done {
		if hasSrc {
			return block.Managed{}, fmt.Errorf("%w: a %s with the new id exists", block.ErrInvalid, kind)
		}
		return block.Managed{SizeGB: dst.sizeGB, Format: dst.format}, nil
	}
	if !hasSrc {
		return block.Managed{}, fmt.Errorf("%s %s: %w", kind, id, block.ErrNotFound)
	}
	m[newID] = src
	delete(m, id)
	return block.Managed{SizeGB: src.sizeGB, Format: src.format}, nil
}

// ManageExistingGetSize implements block.Manager.
func (d *Driver) ManageExistingGetSize(ctx context.Context, ref string) (int64, error) {
	return d.getSize(ctx, "manage_get_size", "volume", ref, d.volumes)
}

// ManageExisting implements block.Manager.
func (d *Driver) ManageExisting(ctx context.Context, ref string, vol block.Volume) (block.Managed, error) {
	return d.adopt(ctx, "manage", "volume", ref, vol.ID, d.volumes)
}

// ManageExistingSnapshotGetSize implements block.Manager.
func (d *Driver) ManageExistingSnapshotGetSize(ctx context.Context, ref string) (int64, error) {
	return d.getSize(ctx, "manage_snapshot_get_size", "snapshot", ref, d.snapshots)
}

// ManageExistingSnapshot implements block.Manager.
func (d *Driver) ManageExistingSnapshot(ctx context.Context, ref string, snap block.Snapshot) (block.Managed, error) {
	return d.adopt(ctx, "manage_snapshot", "snapshot", ref, snap.ID, d.snapshots)
}

// Unmanage implements block.Manager: the volume stays.
func (d *Driver) Unmanage(ctx context.Context, vol block.Volume) error {
	return d.hook(ctx, "unmanage", vol.ID)
}

// UnmanageSnapshot implements block.Manager: the snapshot stays.
func (d *Driver) UnmanageSnapshot(ctx context.Context, snap block.Snapshot) error {
	return d.hook(ctx, "unmanage_snapshot", snap.ID)
}

// PutSnapshot stores a snapshot directly, as if an earlier run had left it.
func (d *Driver) PutSnapshot(id string, sizeGB int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.snapshots[id] = &volume{sizeGB: sizeGB, format: block.FormatQCOW2}
}
