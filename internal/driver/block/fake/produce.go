package fake

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/gostack/gostack/internal/driver/block"
)

var _ block.CopyPublisher = (*Driver)(nil)

// CreateSnapshotWith implements block.CopyPublisher (hook "create_snapshot_with"): the
// bytes produce writes to a temporary file become the snapshot's data.
func (d *Driver) CreateSnapshotWith(ctx context.Context, snap block.Snapshot, vol block.Volume, produce block.Produce) error {
	if err := d.hook(ctx, "create_snapshot_with", snap.ID); err != nil {
		return err
	}
	d.mu.Lock()
	v, ok := d.volumes[vol.ID]
	_, done := d.snapshots[snap.ID]
	d.mu.Unlock()
	if !ok {
		return fmt.Errorf("volume %s: %w", vol.ID, block.ErrNotFound)
	}
	if done {
		return nil
	}
	data, err := runProduce(ctx, produce, block.FormatQCOW2)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.snapshots[snap.ID] = &volume{sizeGB: v.sizeGB, format: v.format, data: data}
	return nil
}

// CreateVolumeWith implements block.CopyPublisher (hook "create_volume_with").
func (d *Driver) CreateVolumeWith(ctx context.Context, vol block.Volume, src block.Volume, produce block.Produce) error {
	if err := d.hook(ctx, "create_volume_with", vol.ID); err != nil {
		return err
	}
	d.mu.Lock()
	_, done := d.volumes[vol.ID]
	d.mu.Unlock()
	if done {
		return nil
	}
	data, err := runProduce(ctx, produce, format(vol))
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.volumes[vol.ID] = &volume{sizeGB: vol.SizeGB, format: format(vol), data: data}
	return nil
}

// SnapshotData returns a copy of a snapshot's bytes.
func (d *Driver) SnapshotData(id string) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v, ok := d.snapshots[id]; ok {
		return slices.Clone(v.data)
	}
	return nil
}

// runProduce lets produce write a temporary file and returns what it wrote; the file is
// removed whatever happens.
func runProduce(ctx context.Context, produce block.Produce, format string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "gostack-fake-block-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "copy."+format)
	if err := produce(ctx, tmp, format); err != nil {
		return nil, err
	}
	return os.ReadFile(tmp)
}
