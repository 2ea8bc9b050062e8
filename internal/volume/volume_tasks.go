package volume

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/gostack/gostack/internal/driver/block"
	"github.com/gostack/gostack/internal/store"
)

// This file is what the cinder-volume and cinder-backup runners do with each task:
// the driver or backup-store call (idempotent, so a task interrupted by a restart is
// simply run again), then the final status in the transaction that finishes the task.

// volumeTaskFuncs returns how the cinder-volume runner carries out a kind of task.
func (s *Service) volumeTaskFuncs(k taskKind) (taskFuncs, bool) {
	switch k {
	case taskCreateVolume:
		return taskFuncs{run: s.runCreateVolume, fail: s.failCreateVolume}, true
	case taskDeleteVolume:
		return taskFuncs{run: s.runDeleteVolume, fail: s.failDeleteVolume}, true
	case taskExtendVolume:
		return taskFuncs{run: s.runExtendVolume, fail: s.failExtendVolume}, true
	case taskRevertVolume:
		return taskFuncs{run: s.runRevertVolume, fail: s.failRevertVolume}, true
	case taskUploadImage:
		return taskFuncs{run: s.runUploadImage, fail: s.failUploadImage}, true
	case taskReimageVolume:
		return taskFuncs{run: s.runReimageVolume, fail: s.failReimageVolume}, true
	case taskCreateSnapshot:
		return taskFuncs{run: s.runCreateSnapshot, fail: s.failCreateSnapshot}, true
	case taskDeleteSnapshot:
		return taskFuncs{run: s.runDeleteSnapshot, fail: s.failDeleteSnapshot}, true
	}
	if f, ok := s.manageTaskFuncs(k); ok {
		return f, true
	}
	// Groups and group snapshots run on the same backend's queue.
	return s.groupTaskFuncs(k)
}

// backupTaskFuncs returns how the cinder-backup runner carries out a kind of task.
func (s *Service) backupTaskFuncs(k taskKind) (taskFuncs, bool) {
	switch k {
	case taskCreateBackup:
		return taskFuncs{run: s.runCreateBackup, fail: s.failCreateBackup}, true
	case taskDeleteBackup:
		return taskFuncs{run: s.runDeleteBackup, fail: s.failDeleteBackup}, true
	case taskRestoreBackup:
		return taskFuncs{run: s.runRestoreBackup, fail: s.failRestoreBackup}, true
	}
	return taskFuncs{}, false
}

// errNoBackend is the scheduler's "No valid backend" (capacity).
var errNoBackend = errors.New("no valid backend was found")

// blockVolume is the driver's view of a volume.
func blockVolume(v *volumeRec) block.Volume {
	return block.Volume{ID: v.ID, SizeGB: v.Size, Format: v.DiskFormat}
}

// driver returns the block driver or an error when none is set.
func (s *Service) driverOrErr() (block.Driver, error) {
	d, _ := s.backend()
	if d == nil {
		return nil, errors.New("no block driver")
	}
	return d, nil
}

// finish runs fn and finishes t as done, in one transaction.
func (s *Service) finish(ctx context.Context, t *task, fn func(tx *store.Tx) error) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if fn != nil {
			if err := fn(tx); err != nil {
				return err
			}
		}
		return finishTask(ctx, tx, t, taskDone, "")
	})
}

// checkCapacity is the capacity filter of Cinder's scheduler for thin provisioning:
// the provisioned total with the new volume must stay within
// max_over_subscription_ratio times the usable space, and the free space (less the
// reserved percentage) times the ratio must hold the new volume.
func (s *Service) checkCapacity(ctx context.Context, d block.Driver, v *volumeRec) error {
	c, err := d.Capacity(ctx)
	if err != nil {
		return fmt.Errorf("backend capacity: %w", err)
	}
	var provisioned int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM volume_volumes WHERE deleted = ? AND id <> ?
		AND host = ?`, false, v.ID, s.poolHost()).Scan(&provisioned); err != nil {
		return err
	}
	reserved := c.TotalGB * s.cfg.ReservedPercentage / 100
	free := c.FreeGB - reserved
	size := float64(v.Size)
	if !c.ThinProvisioning {
		if free < size {
			return errNoBackend
		}
		return nil
	}
	ratio := s.cfg.MaxOverSubscriptionRatio
	if c.TotalGB-reserved <= 0 || (float64(provisioned)+size)/(c.TotalGB-reserved) > ratio || free*ratio < size {
		return errNoBackend
	}
	return nil
}

// capabilityKeys are the backend capabilities a volume type's extra specs may ask for
// (Cinder's CapabilitiesFilter, bare or with the "capabilities:" scope).
var capabilityKeys = map[string]func(d block.Driver) string{
	"volume_backend_name": func(d block.Driver) string { return d.Name() },
	"vendor_name":         func(block.Driver) string { return vendorName },
	"storage_protocol":    func(block.Driver) string { return storageProtocol },
	"driver_version":      func(block.Driver) string { return driverVersion },
}

// checkCapabilities is the capabilities filter: every capability the volume's type
// asks for must match the backend's (exact, or "<in>" substring, or "<or>" choices).
func (s *Service) checkCapabilities(ctx context.Context, d block.Driver, v *volumeRec) error {
	t, err := loadType(ctx, s.db, v.TypeID)
	if err != nil || t == nil {
		return err
	}
	for k, want := range t.Specs {
		key := strings.TrimPrefix(k, "capabilities:")
		have, ok := capabilityKeys[key]
		if !ok {
			continue
		}
		if !capabilityMatches(have(d), want) {
			return errNoBackend
		}
	}
	return nil
}

// capabilityMatches evaluates one extra-spec requirement against a capability value.
func capabilityMatches(have, want string) bool {
	want = strings.TrimSpace(want)
	switch {
	case strings.HasPrefix(want, "<in>"):
		return strings.Contains(have, strings.TrimSpace(strings.TrimPrefix(want, "<in>")))
	case strings.HasPrefix(want, "<or>"):
		for _, alt := range strings.Split(want, "<or>") {
			if strings.TrimSpace(alt) == have {
				return true
			}
		}
		return false
	case strings.HasPrefix(want, "s=="), strings.HasPrefix(want, "=="):
		return strings.TrimSpace(strings.TrimLeft(want, "s=")) == have
	}
	return want == have
}

// runCreateVolume schedules (capacity) and creates a volume's data from its source.
func (s *Service) runCreateVolume(ctx context.Context, t *task) error {
	v, err := loadVolume(ctx, s.db, t.ResourceID)
	if err != nil {
		return err
	}
	if v == nil || v.Status != stCreating {
		return s.finish(ctx, t, nil)
	}
	var p createParams
	if err := t.params(&p); err != nil {
		return err
	}
	d, err := s.driverOrErr()
	if err != nil {
		return err
	}
	if t.Attempts <= 1 {
		// The scheduler's filters run when the task first runs; a re-run after a
		// restart may find its own half-made volume counted.
		if err := s.checkCapabilities(ctx, d, v); err != nil {
			return err
		}
		if err := s.checkCapacity(ctx, d, v); err != nil {
			return err
		}
	}
	bv := blockVolume(v)
	switch {
	case p.SnapshotID != "":
		sn, err := loadSnapshotRow(ctx, s.db, p.SnapshotID)
		if err != nil {
			return err
		}
		if sn == nil {
			return fmt.Errorf("snapshot %s: %w", p.SnapshotID, block.ErrNotFound)
		}
		err = d.CreateFromSnapshot(ctx, bv, block.Snapshot{ID: sn.ID, VolumeID: sn.VolumeID, SizeGB: sn.VolumeSize})
		if err != nil {
			return err
		}
	case p.SourceID != "":
		src, err := loadVolumeRow(ctx, s.db, p.SourceID)
		if err != nil {
			return err
		}
		if src == nil {
			return fmt.Errorf("volume %s: %w", p.SourceID, block.ErrNotFound)
		}
		if err := d.Clone(ctx, bv, blockVolume(src)); err != nil {
			return err
		}
	case p.ImageID != "":
		if s.deps.Images == nil {
			return errors.New("no image service")
		}
		meta := v.ImageMeta
		var size int64
		if meta != nil {
			fmt.Sscan(meta["size"], &size)
		}
		img := block.Image{ID: p.ImageID, DiskFormat: meta["disk_format"], Size: size,
			Open: func(ctx context.Context) (io.ReadCloser, error) { return s.deps.Images.OpenImage(ctx, p.ImageID) }}
		if err := d.CreateFromImage(ctx, bv, img); err != nil {
			return err
		}
	case p.BackupID != "":
		_, store_ := s.backend()
		if store_ == nil {
			return errors.New("no backup store")
		}
		if err := d.Create(ctx, bv); err != nil {
			return err
		}
		rc, err := store_.Restore(ctx, p.BackupID)
		if err != nil {
			return err
		}
		err = d.Import(ctx, bv, rc)
		rc.Close()
		if err != nil {
			return err
		}
	default:
		if err := d.Create(ctx, bv); err != nil {
			return err
		}
	}
	return s.finish(ctx, t, func(tx *store.Tx) error {
		ts := store.FormatTime(now())
		_, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, launched_at = ?, updated_at = ?
			WHERE id = ? AND status = ?`, stAvailable, ts, ts, v.ID, stCreating)
		return err
	})
}

// failCreateVolume puts the volume in error with the user message Cinder records.
func (s *Service) failCreateVolume(ctx context.Context, tx *store.Tx, t *task, cause error) error {
	v, err := loadVolumeRow(ctx, tx, t.ResourceID)
	if err != nil || v == nil {
		return err
	}
	action, detail := actionScheduleAllocate, detailNoBackend
	switch {
	case errors.Is(cause, errNoBackend):
	case errors.Is(cause, block.ErrNoSpace) && v.ImageID != nil:
		action, detail = actionCopyImage, detailImageNoSpace
	case v.ImageID != nil:
		action, detail = actionCopyImage, detailUnknown
	default:
		action, detail = actionScheduleAllocate, detailCreateFailed
	}
	if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, updated_at = ? WHERE id = ? AND status = ?`,
		stError, store.FormatTime(now()), v.ID, stCreating); err != nil {
		return err
	}
	return s.recordMessage(ctx, tx, v.ProjectID, resVolume, v.ID, action, detail)
}

// runDeleteVolume removes the data and soft-deletes the row (quota follows, since
// usage is counted from live rows).
func (s *Service) runDeleteVolume(ctx context.Context, t *task) error {
	v, err := loadVolumeRow(ctx, s.db, t.ResourceID)
	if err != nil {
		return err
	}
	if v == nil || v.Deleted {
		return s.finish(ctx, t, nil)
	}
	d, err := s.driverOrErr()
	if err != nil {
		return err
	}
	if err := d.Delete(ctx, blockVolume(v)); err != nil {
		return err
	}
	return s.finish(ctx, t, func(tx *store.Tx) error { return markDeleted(ctx, tx, "volume_volumes", v.ID) })
}

// failDeleteVolume puts the volume in error_deleting.
func (s *Service) failDeleteVolume(ctx context.Context, tx *store.Tx, t *task, cause error) error {
	_, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, updated_at = ? WHERE id = ? AND deleted = ?`,
		stErrorDeleting, store.FormatTime(now()), t.ResourceID, false)
	return err
}

// extendParams are an extend task's parameters; OldSize is 0 in tasks queued before
// it was recorded.
type extendParams struct {
	NewSize int64 `json:"new_size"`
	OldSize int64 `json:"old_size"`
}

// runExtendVolume grows the data, then the size. For an in-use volume Cinder's order
// is kept: the new size is recorded first (nova-compute reads it on the event), then
// compute is sent volume-extended and each running guest's hypervisor grows its device
// (QEMU grows a file volume itself: it holds the file, so qemu-img cannot); the
// driver's Extend then grows what no guest did (a stopped server's volume) and does
// nothing for a volume already that large. The volume is in-use again only when all
// of it succeeded; a failure puts the old size back with error_extending.
func (s *Service) runExtendVolume(ctx context.Context, t *task) error {
	var p extendParams
	if err := t.params(&p); err != nil {
		return err
	}
	v, err := loadVolumeRow(ctx, s.db, t.ResourceID)
	if err != nil {
		return err
	}
	if v == nil || v.Deleted || v.Status != stExtending {
		return s.finish(ctx, t, nil)
	}
	d, err := s.driverOrErr()
	if err != nil {
		return err
	}
	inUse := v.PreviousStatus != nil && *v.PreviousStatus == stInUse
	if h, _ := s.compute(); inUse && h != nil {
		if _, err := s.db.ExecContext(ctx, `UPDATE volume_volumes SET size = ?, updated_at = ? WHERE id = ? AND status = ?`,
			p.NewSize, store.FormatTime(now()), v.ID, stExtending); err != nil {
			return err
		}
		if err := s.notifyExtended(ctx, v); err != nil {
			return err
		}
	}
	if err := d.Extend(ctx, blockVolume(v), p.NewSize); err != nil {
		return err
	}
	return s.finish(ctx, t, func(tx *store.Tx) error {
		back := stAvailable
		if inUse {
			back = stInUse
		}
		_, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET size = ?, status = ?, previous_status = NULL, updated_at = ?
			WHERE id = ? AND status = ?`, p.NewSize, back, store.FormatTime(now()), v.ID, stExtending)
		return err
	})
}

// failExtendVolume is Cinder's error_extending with its user message; the volume keeps
// (or gets back) its size from before the extend.
func (s *Service) failExtendVolume(ctx context.Context, tx *store.Tx, t *task, cause error) error {
	v, err := loadVolumeRow(ctx, tx, t.ResourceID)
	if err != nil || v == nil {
		return err
	}
	size := v.Size
	var p extendParams
	if t.params(&p) == nil && p.OldSize > 0 {
		size = p.OldSize
	}
	if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, size = ?, updated_at = ? WHERE id = ?`,
		stErrorExtending, size, store.FormatTime(now()), v.ID); err != nil {
		return err
	}
	return s.recordMessage(ctx, tx, v.ProjectID, resVolume, v.ID, actionExtend, detailExtendFailed)
}

// runRevertVolume puts the snapshot's data back: the volume's data is replaced by a
// copy of the snapshot (delete, then create from the snapshot: a re-run after a
// restart finds the data gone and creates it).
func (s *Service) runRevertVolume(ctx context.Context, t *task) error {
	var p struct {
		SnapshotID string `json:"snapshot_id"`
	}
	if err := t.params(&p); err != nil {
		return err
	}
	v, err := loadVolumeRow(ctx, s.db, t.ResourceID)
	if err != nil {
		return err
	}
	sn, err := loadSnapshotRow(ctx, s.db, p.SnapshotID)
	if err != nil {
		return err
	}
	if v == nil || v.Deleted || v.Status != stReverting || sn == nil {
		return s.finish(ctx, t, nil)
	}
	d, err := s.driverOrErr()
	if err != nil {
		return err
	}
	bv := blockVolume(v)
	if err := d.Delete(ctx, bv); err != nil {
		return err
	}
	if err := d.CreateFromSnapshot(ctx, bv, block.Snapshot{ID: sn.ID, VolumeID: v.ID, SizeGB: sn.VolumeSize}); err != nil {
		return err
	}
	return s.finish(ctx, t, func(tx *store.Tx) error {
		ts := store.FormatTime(now())
		if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, updated_at = ? WHERE id = ?`, stAvailable, ts, v.ID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE volume_snapshots SET status = ?, updated_at = ? WHERE id = ?`, stAvailable, ts, sn.ID)
		return err
	})
}

// failRevertVolume is Cinder's error for a failed revert (volume error, snapshot
// available again).
func (s *Service) failRevertVolume(ctx context.Context, tx *store.Tx, t *task, cause error) error {
	var p struct {
		SnapshotID string `json:"snapshot_id"`
	}
	_ = t.params(&p)
	ts := store.FormatTime(now())
	if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, updated_at = ? WHERE id = ?`, stError, ts, t.ResourceID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE volume_snapshots SET status = ?, updated_at = ? WHERE id = ?`, stAvailable, ts, p.SnapshotID)
	return err
}

// runUploadImage streams the volume's data into the queued Glance image.
func (s *Service) runUploadImage(ctx context.Context, t *task) error {
	var p uploadParams
	if err := t.params(&p); err != nil {
		return err
	}
	v, err := loadVolumeRow(ctx, s.db, t.ResourceID)
	if err != nil {
		return err
	}
	if v == nil || v.Deleted || v.Status != stUploading {
		return s.finish(ctx, t, nil)
	}
	d, err := s.driverOrErr()
	if err != nil {
		return err
	}
	if s.deps.Images == nil {
		return errors.New("no image service")
	}
	rc, err := d.Export(ctx, blockVolume(v), p.DiskFormat)
	if err != nil {
		return err
	}
	err = s.deps.Images.UploadImage(ctx, p.ImageID, p.DiskFormat, p.ContainerFormat, rc)
	rc.Close()
	if err != nil {
		return fmt.Errorf("upload volume %s to image %s: %w", v.ID, p.ImageID, err)
	}
	return s.finish(ctx, t, func(tx *store.Tx) error {
		back := p.PreviousStatus
		if back == "" {
			back = stAvailable
		}
		_, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, previous_status = NULL, updated_at = ?
			WHERE id = ? AND status = ?`, back, store.FormatTime(now()), v.ID, stUploading)
		return err
	})
}

// failUploadImage returns the volume to its status, removes the image and records the
// user message.
func (s *Service) failUploadImage(ctx context.Context, tx *store.Tx, t *task, cause error) error {
	var p uploadParams
	_ = t.params(&p)
	v, err := loadVolumeRow(ctx, tx, t.ResourceID)
	if err != nil || v == nil {
		return err
	}
	back := p.PreviousStatus
	if back == "" {
		back = stAvailable
	}
	if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, updated_at = ? WHERE id = ? AND status = ?`,
		back, store.FormatTime(now()), v.ID, stUploading); err != nil {
		return err
	}
	if s.deps.Images != nil && p.ImageID != "" {
		if err := s.deps.Images.DeleteImage(ctx, p.ImageID); err != nil {
			s.log.Warn("delete image of a failed volume upload", "image", p.ImageID, "err", err)
		}
	}
	return s.recordMessage(ctx, tx, v.ProjectID, resVolume, v.ID, actionCopyToImage, detailUploadFailed)
}

// runCreateSnapshot copies the volume's data.
func (s *Service) runCreateSnapshot(ctx context.Context, t *task) error {
	sn, err := loadSnapshotRow(ctx, s.db, t.ResourceID)
	if err != nil {
		return err
	}
	if sn == nil || sn.Deleted || sn.Status != snapCreating {
		return s.finish(ctx, t, nil)
	}
	v, err := loadVolumeRow(ctx, s.db, sn.VolumeID)
	if err != nil {
		return err
	}
	if v == nil {
		return fmt.Errorf("volume %s: %w", sn.VolumeID, block.ErrNotFound)
	}
	d, err := s.driverOrErr()
	if err != nil {
		return err
	}
	bs := block.Snapshot{ID: sn.ID, VolumeID: v.ID, SizeGB: sn.VolumeSize}
	// An in-use volume is copied by its running guest's hypervisor (point-in-time).
	copied, err := s.snapshotInUse(ctx, d, bs, v)
	if err != nil {
		return err
	}
	if !copied {
		if err := d.CreateSnapshot(ctx, bs, blockVolume(v)); err != nil {
			return err
		}
	}
	return s.finish(ctx, t, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE volume_snapshots SET status = ?, progress = ?, updated_at = ?
			WHERE id = ? AND status = ?`, stAvailable, "100%", store.FormatTime(now()), sn.ID, snapCreating)
		return err
	})
}

// failCreateSnapshot puts the snapshot in error with its user message.
func (s *Service) failCreateSnapshot(ctx context.Context, tx *store.Tx, t *task, cause error) error {
	sn, err := loadSnapshotRow(ctx, tx, t.ResourceID)
	if err != nil || sn == nil {
		return err
	}
	if err := setStatus(ctx, tx, "volume_snapshots", sn.ID, stError); err != nil {
		return err
	}
	return s.recordMessage(ctx, tx, sn.ProjectID, resSnapshot, sn.ID, actionSnapshotCreate, detailSnapshotCreate)
}

// runDeleteSnapshot removes the snapshot's data and soft-deletes it.
func (s *Service) runDeleteSnapshot(ctx context.Context, t *task) error {
	sn, err := loadSnapshotRow(ctx, s.db, t.ResourceID)
	if err != nil {
		return err
	}
	if sn == nil || sn.Deleted {
		return s.finish(ctx, t, nil)
	}
	d, err := s.driverOrErr()
	if err != nil {
		return err
	}
	if err := d.DeleteSnapshot(ctx, block.Snapshot{ID: sn.ID, VolumeID: sn.VolumeID, SizeGB: sn.VolumeSize}); err != nil {
		return err
	}
	return s.finish(ctx, t, func(tx *store.Tx) error { return markDeleted(ctx, tx, "volume_snapshots", sn.ID) })
}

// failDeleteSnapshot is error_deleting with its user message.
func (s *Service) failDeleteSnapshot(ctx context.Context, tx *store.Tx, t *task, cause error) error {
	sn, err := loadSnapshotRow(ctx, tx, t.ResourceID)
	if err != nil || sn == nil {
		return err
	}
	if err := setStatus(ctx, tx, "volume_snapshots", sn.ID, snapErrorDeleting); err != nil {
		return err
	}
	return s.recordMessage(ctx, tx, sn.ProjectID, resSnapshot, sn.ID, actionSnapshotDelete, detailSnapshotDelete)
}

// runCreateBackup reads the volume's (or the snapshot's) raw data into the backup store.
func (s *Service) runCreateBackup(ctx context.Context, t *task) error {
	var p backupParams
	if err := t.params(&p); err != nil {
		return err
	}
	b, err := loadBackupRow(ctx, s.db, t.ResourceID)
	if err != nil {
		return err
	}
	if b == nil || b.Deleted || b.Status != backupCreating {
		return s.finish(ctx, t, nil)
	}
	d, err := s.driverOrErr()
	if err != nil {
		return err
	}
	_, bs := s.backend()
	if bs == nil {
		return errors.New("no backup store")
	}
	v, err := loadVolumeRow(ctx, s.db, b.VolumeID)
	if err != nil {
		return err
	}
	if v == nil {
		return fmt.Errorf("volume %s: %w", b.VolumeID, block.ErrNotFound)
	}
	src := blockVolume(v)
	var cleanup func()
	if b.SnapshotID != nil {
		// The snapshot's data is read through a temporary volume made from it, as
		// Cinder's backup of a snapshot does.
		sn, err := loadSnapshotRow(ctx, s.db, *b.SnapshotID)
		if err != nil {
			return err
		}
		if sn == nil {
			return fmt.Errorf("snapshot %s: %w", *b.SnapshotID, block.ErrNotFound)
		}
		tmp := block.Volume{ID: "backup-" + b.ID, SizeGB: sn.VolumeSize, Format: v.DiskFormat}
		if err := d.CreateFromSnapshot(ctx, tmp, block.Snapshot{ID: sn.ID, VolumeID: v.ID, SizeGB: sn.VolumeSize}); err != nil {
			return err
		}
		src = tmp
		cleanup = func() {
			if err := d.Delete(context.WithoutCancel(ctx), tmp); err != nil {
				s.log.Warn("delete temporary backup volume", "backup", b.ID, "err", err)
			}
		}
	} else {
		// An in-use volume is read through a point-in-time copy its running guest's
		// hypervisor makes, not under the guest's writes.
		tmp, ok, err := s.backupSourceInUse(ctx, d, b.ID, v)
		if err != nil {
			return err
		}
		if ok {
			src = tmp
			cleanup = func() {
				if err := d.Delete(context.WithoutCancel(ctx), tmp); err != nil {
					s.log.Warn("delete temporary backup volume", "backup", b.ID, "err", err)
				}
			}
		}
	}
	rc, err := d.Export(ctx, src, block.FormatRaw)
	if err != nil {
		if cleanup != nil {
			cleanup()
		}
		return err
	}
	info, err := bs.Backup(ctx, b.ID, p.ParentID, rc)
	rc.Close()
	if cleanup != nil {
		cleanup()
	}
	if err != nil {
		return err
	}
	return s.finish(ctx, t, func(tx *store.Tx) error {
		ts := store.FormatTime(now())
		if _, err := tx.ExecContext(ctx, `UPDATE volume_backups SET status = ?, object_count = ?, stored_bytes = ?,
			updated_at = ? WHERE id = ?`, stAvailable, info.ObjectCount, info.StoredBytes, ts, b.ID); err != nil {
			return err
		}
		return s.releaseBackupSource(ctx, tx, b, p.PreviousStatus)
	})
}

// releaseBackupSource returns the backed-up volume (or snapshot) to its status.
func (s *Service) releaseBackupSource(ctx context.Context, tx *store.Tx, b *backupRec, previous string) error {
	ts := store.FormatTime(now())
	if b.SnapshotID != nil {
		_, err := tx.ExecContext(ctx, `UPDATE volume_snapshots SET status = ?, updated_at = ? WHERE id = ? AND status = ?`,
			stAvailable, ts, *b.SnapshotID, stBackingUp)
		return err
	}
	if previous == "" {
		previous = stAvailable
	}
	_, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, previous_status = NULL, updated_at = ?
		WHERE id = ? AND status = ?`, previous, ts, b.VolumeID, stBackingUp)
	return err
}

// failCreateBackup puts the backup in error (with fail_reason) and releases the source.
func (s *Service) failCreateBackup(ctx context.Context, tx *store.Tx, t *task, cause error) error {
	var p backupParams
	_ = t.params(&p)
	b, err := loadBackupRow(ctx, tx, t.ResourceID)
	if err != nil || b == nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE volume_backups SET status = ?, fail_reason = ?, updated_at = ? WHERE id = ?`,
		stError, "Backup driver failed to create backup.", store.FormatTime(now()), b.ID); err != nil {
		return err
	}
	if err := s.releaseBackupSource(ctx, tx, b, p.PreviousStatus); err != nil {
		return err
	}
	return s.recordMessage(ctx, tx, b.ProjectID, resBackup, b.ID, actionBackupCreate, detailBackupCreate)
}

// runDeleteBackup removes the backup's data and soft-deletes it.
func (s *Service) runDeleteBackup(ctx context.Context, t *task) error {
	b, err := loadBackupRow(ctx, s.db, t.ResourceID)
	if err != nil {
		return err
	}
	if b == nil || b.Deleted {
		return s.finish(ctx, t, nil)
	}
	_, bs := s.backend()
	if bs == nil {
		return errors.New("no backup store")
	}
	if err := bs.Delete(ctx, b.ID); err != nil {
		return err
	}
	return s.finish(ctx, t, func(tx *store.Tx) error { return markDeleted(ctx, tx, "volume_backups", b.ID) })
}

// failDeleteBackup is error_deleting with its user message.
func (s *Service) failDeleteBackup(ctx context.Context, tx *store.Tx, t *task, cause error) error {
	b, err := loadBackupRow(ctx, tx, t.ResourceID)
	if err != nil || b == nil {
		return err
	}
	if err := setStatus(ctx, tx, "volume_backups", b.ID, backupErrorDeleting); err != nil {
		return err
	}
	return s.recordMessage(ctx, tx, b.ProjectID, resBackup, b.ID, actionBackupDelete, detailBackupDelete)
}

// runRestoreBackup writes a backup's data into a volume (made first when new).
func (s *Service) runRestoreBackup(ctx context.Context, t *task) error {
	var p restoreParams
	if err := t.params(&p); err != nil {
		return err
	}
	v, err := loadVolumeRow(ctx, s.db, t.ResourceID)
	if err != nil {
		return err
	}
	if v == nil || v.Deleted || v.Status != stRestoringBackup {
		return s.finish(ctx, t, nil)
	}
	d, err := s.driverOrErr()
	if err != nil {
		return err
	}
	_, bs := s.backend()
	if bs == nil {
		return errors.New("no backup store")
	}
	bv := blockVolume(v)
	if p.NewVolume {
		if err := d.Create(ctx, bv); err != nil {
			return err
		}
	}
	rc, err := bs.Restore(ctx, p.BackupID)
	if err != nil {
		return err
	}
	err = d.Import(ctx, bv, rc)
	rc.Close()
	if err != nil {
		return err
	}
	return s.finish(ctx, t, func(tx *store.Tx) error {
		ts := store.FormatTime(now())
		if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, launched_at = CASE WHEN launched_at = ''
			THEN ? ELSE launched_at END, updated_at = ? WHERE id = ?`, stAvailable, ts, ts, v.ID); err != nil {
			return err
		}
		// The backed-up volume's metadata comes back with its data, as Cinder's backup
		// carries it.
		var src string
		if err := tx.QueryRowContext(ctx, `SELECT volume_id FROM volume_backups WHERE id = ?`, p.BackupID).Scan(&src); err != nil {
			return err
		}
		if src != v.ID {
			meta, err := loadMeta(ctx, tx, "volume_metadata", "volume_id", src)
			if err != nil {
				return err
			}
			if err := setMeta(ctx, tx, "volume_metadata", "volume_id", v.ID, meta, false); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE volume_backups SET status = ?, updated_at = ? WHERE id = ?`, stAvailable, ts, p.BackupID)
		return err
	})
}

// failRestoreBackup is Cinder's error_restoring (the backup is available again).
func (s *Service) failRestoreBackup(ctx context.Context, tx *store.Tx, t *task, cause error) error {
	var p restoreParams
	_ = t.params(&p)
	ts := store.FormatTime(now())
	if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, updated_at = ? WHERE id = ?`,
		stErrorRestoring, ts, t.ResourceID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE volume_backups SET status = ?, updated_at = ? WHERE id = ?`,
		stAvailable, ts, p.BackupID); err != nil {
		return err
	}
	var project string
	if err := tx.QueryRowContext(ctx, `SELECT project_id FROM volume_backups WHERE id = ?`, p.BackupID).Scan(&project); err != nil {
		return err
	}
	return s.recordMessage(ctx, tx, project, resBackup, p.BackupID, actionBackupRestore, detailBackupRestore)
}

// gib is a byte count in whole GiB, rounded up.
func gib(n int64) int64 { return int64(math.Ceil(float64(n) / (1 << 30))) }

// blockSnapshot is the driver's view of a snapshot known only by id (reconcile).
func blockSnapshot(id string) block.Snapshot { return block.Snapshot{ID: id} }

// runReimageVolume replaces the volume's data by the image's: delete, then create from
// the image (a re-run after a restart deletes again and creates again).
func (s *Service) runReimageVolume(ctx context.Context, t *task) error {
	var p reimageParams
	if err := t.params(&p); err != nil {
		return err
	}
	v, err := loadVolume(ctx, s.db, t.ResourceID)
	if err != nil {
		return err
	}
	if v == nil || v.Status != stDownloading {
		return s.finish(ctx, t, nil)
	}
	d, err := s.driverOrErr()
	if err != nil {
		return err
	}
	if s.deps.Images == nil {
		return errors.New("no image service")
	}
	var size int64
	fmt.Sscan(v.ImageMeta["size"], &size)
	bv := blockVolume(v)
	if err := d.Delete(ctx, bv); err != nil {
		return err
	}
	img := block.Image{ID: p.ImageID, DiskFormat: v.ImageMeta["disk_format"], Size: size,
		Open: func(ctx context.Context) (io.ReadCloser, error) { return s.deps.Images.OpenImage(ctx, p.ImageID) }}
	if err := d.CreateFromImage(ctx, bv, img); err != nil {
		return err
	}
	return s.finish(ctx, t, func(tx *store.Tx) error {
		back := p.PreviousStatus
		if back == "" || back == stError {
			back = stAvailable
		}
		_, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, previous_status = NULL, bootable = ?,
			image_id = ?, updated_at = ? WHERE id = ? AND status = ?`, back, true, p.ImageID, store.FormatTime(now()),
			v.ID, stDownloading)
		return err
	})
}

// failReimageVolume puts the volume in error with its user message.
func (s *Service) failReimageVolume(ctx context.Context, tx *store.Tx, t *task, cause error) error {
	v, err := loadVolumeRow(ctx, tx, t.ResourceID)
	if err != nil || v == nil {
		return err
	}
	if err := setStatus(ctx, tx, "volume_volumes", v.ID, stError); err != nil {
		return err
	}
	return s.recordMessage(ctx, tx, v.ProjectID, resVolume, v.ID, actionReimage, detailReimageFailed)
}

// setStatus writes the status of a row of table (volume_volumes, volume_snapshots,
// volume_backups: a constant, never input).
func setStatus(ctx context.Context, tx *store.Tx, table, id, status string) error {
	_, err := tx.ExecContext(ctx, `UPDATE `+table+` SET status = ?, updated_at = ? WHERE id = ?`,
		status, store.FormatTime(now()), id)
	return err
}

// markDeleted soft-deletes a row of table (status "deleted"), once its data is gone.
func markDeleted(ctx context.Context, tx *store.Tx, table, id string) error {
	ts := store.FormatTime(now())
	_, err := tx.ExecContext(ctx, `UPDATE `+table+` SET deleted = ?, deleted_at = ?, status = ?, updated_at = ?
		WHERE id = ?`, true, ts, "deleted", ts, id)
	return err
}
