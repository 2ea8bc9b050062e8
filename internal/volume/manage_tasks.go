package volume

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/driver/block"
	"github.com/gostack/gostack/internal/store"
)

// The manage and unmanage task kinds (volume queue).
const (
	taskManageVolume     taskKind = "manage_volume"   // params: manageParams
	taskManageSnapshot   taskKind = "manage_snapshot" // params: manageParams
	taskUnmanageVolume   taskKind = "unmanage_volume"
	taskUnmanageSnapshot taskKind = "unmanage_snapshot"
)

// Causes of failed manage tasks.
var (
	errManageInvalidRef    = errors.New("the manage reference names no object of this backend")
	errManageAlreadyManage = errors.New("the object is already managed")
	errManageQuota         = errors.New("not enough quota for the managed object")
)

// manageTaskFuncs returns how the cinder-volume runner carries out the manage kinds.
func (s *Service) manageTaskFuncs(k taskKind) (taskFuncs, bool) {
	switch k {
	case taskManageVolume:
		return taskFuncs{run: s.runManageVolume, fail: s.failManageVolume}, true
	case taskManageSnapshot:
		return taskFuncs{run: s.runManageSnapshot, fail: s.failManageSnapshot}, true
	case taskUnmanageVolume:
		return taskFuncs{run: s.runUnmanageVolume, fail: s.failUnmanageVolume}, true
	case taskUnmanageSnapshot:
		return taskFuncs{run: s.runUnmanageSnapshot, fail: s.failUnmanageSnapshot}, true
	}
	return taskFuncs{}, false
}

// managerOrErr returns this host's driver as a block.Manager, or an error when it
// cannot manage.
func (s *Service) managerOrErr() (block.Manager, error) {
	if _, err := s.driverOrErr(); err != nil {
		return nil, err
	}
	m := s.manager()
	if m == nil {
		return nil, errors.New("the block driver cannot manage existing objects")
	}
	return m, nil
}

// taskRef decodes a manage task's reference to its source-name.
func taskRef(t *task) (string, error) {
	var p manageParams
	if err := t.params(&p); err != nil {
		return "", err
	}
	var ref any
	if len(p.Ref) > 0 {
		if err := json.Unmarshal(p.Ref, &ref); err != nil {
			return "", fmt.Errorf("decode manage reference: %w", err)
		}
	}
	name := refName(ref)
	if name == "" {
		return "", fmt.Errorf("%w: the reference must contain a source-name element", errManageInvalidRef)
	}
	return name, nil
}

// takeManagedQuota records the size of an object being adopted and takes the
// gigabytes quota for what it adds to the size recorded so far (so a re-run takes
// nothing more). It runs before the object is adopted: a refusal leaves it as it was.
func (s *Service) takeManagedQuota(ctx context.Context, table, id, project, typeName string, recorded, size int64,
	volume bool) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		d := quotaDelta{gigabytes: size - recorded, typeName: typeName}
		if volume {
			d.volumeSize = size
		}
		if err := s.checkQuota(ctx, tx, project, d); err != nil {
			var ae *api.Error
			if errors.As(err, &ae) && ae.Status == http.StatusRequestEntityTooLarge {
				return fmt.Errorf("%w: %s", errManageQuota, ae.Message)
			}
			return err
		}
		col := "volume_size"
		if volume {
			col = "size"
		}
		_, err := tx.ExecContext(ctx, `UPDATE `+table+` SET `+col+` = ?, updated_at = ? WHERE id = ? AND status = ?`,
			size, store.FormatTime(now()), id, stCreating)
		return err
	})
}

// runManageVolume adopts the object of a manage call as the volume: the driver says
// its size, the quota is taken for it, the driver renames it after the volume, and the
// volume is available with the object's size and format.
func (s *Service) runManageVolume(ctx context.Context, t *task) error {
	v, err := loadVolume(ctx, s.db, t.ResourceID)
	if err != nil {
		return err
	}
	if v == nil || v.Status != stCreating {
		return s.finish(ctx, t, nil)
	}
	m, err := s.managerOrErr()
	if err != nil {
		return err
	}
	name, err := taskRef(t)
	if err != nil {
		return err
	}
	if id := refID(name, "volume-"); id != "" {
		if strings.HasPrefix(id, "backup-") {
			return fmt.Errorf("%w: a temporary backup volume", errManageInvalidRef)
		}
		if st, err := s.recordState(ctx, "volume_volumes", strings.ToLower(id)); err != nil {
			return err
		} else if st == rowLive && !strings.EqualFold(id, v.ID) {
			return errManageAlreadyManage
		}
	}
	size, err := m.ManageExistingGetSize(ctx, name)
	switch {
	case err == nil:
		if err := s.takeManagedQuota(ctx, "volume_volumes", v.ID, v.ProjectID, v.TypeName, v.Size, size, true); err != nil {
			return err
		}
	case errors.Is(err, block.ErrNotFound) && v.Size > 0:
		// The quota was taken by an earlier run, which may have adopted the object
		// before it was interrupted: ManageExisting says.
	default:
		return err
	}
	got, err := m.ManageExisting(ctx, name, blockVolume(v))
	if err != nil {
		return err
	}
	format := got.Format
	if format == "" {
		format = v.DiskFormat
	}
	return s.finish(ctx, t, func(tx *store.Tx) error {
		if got.SizeGB != size && got.SizeGB > 0 {
			// Only a re-run after the adoption gets here without a size of its own.
			size = got.SizeGB
		}
		ts := store.FormatTime(now())
		_, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, size = ?, disk_format = ?, launched_at = ?,
			updated_at = ? WHERE id = ? AND status = ?`, stAvailable, size, format, ts, ts, v.ID, stCreating)
		return err
	})
}

// failManageVolume is Cinder's error_managing: the volume no longer counts against
// the quota (it never held data of its own), and a user message says why.
func (s *Service) failManageVolume(ctx context.Context, tx *store.Tx, t *task, cause error) error {
	v, err := loadVolumeRow(ctx, tx, t.ResourceID)
	if err != nil || v == nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, consumes_quota = ?, updated_at = ?
		WHERE id = ? AND status = ?`, stErrorManaging, false, store.FormatTime(now()), v.ID, stCreating); err != nil {
		return err
	}
	detail := detailCreateFailed
	if errors.Is(cause, errManageQuota) {
		detail = detailQuotaExceeded
	}
	return s.recordMessage(ctx, tx, v.ProjectID, resVolume, v.ID, actionManageExisting, detail)
}

// runManageSnapshot adopts the object of a snapshot manage call.
func (s *Service) runManageSnapshot(ctx context.Context, t *task) error {
	sn, err := loadSnapshotRow(ctx, s.db, t.ResourceID)
	if err != nil {
		return err
	}
	if sn == nil || sn.Deleted || sn.Status != snapCreating {
		return s.finish(ctx, t, nil)
	}
	m, err := s.managerOrErr()
	if err != nil {
		return err
	}
	name, err := taskRef(t)
	if err != nil {
		return err
	}
	if id := refID(name, "snapshot-"); id != "" {
		if st, err := s.recordState(ctx, "volume_snapshots", id); err != nil {
			return err
		} else if st == rowLive && id != sn.ID {
			return errManageAlreadyManage
		}
	}
	var typeName string
	if v, err := loadVolumeRow(ctx, s.db, sn.VolumeID); err != nil {
		return err
	} else if v != nil {
		typeName = v.TypeName
	}
	size, err := m.ManageExistingSnapshotGetSize(ctx, name)
	switch {
	case err == nil:
		if err := s.takeManagedQuota(ctx, "volume_snapshots", sn.ID, sn.ProjectID, typeName, sn.VolumeSize, size, false); err != nil {
			return err
		}
	case errors.Is(err, block.ErrNotFound):
		// Adopted by an interrupted earlier run, or nothing: ManageExistingSnapshot says.
		size = sn.VolumeSize
	default:
		return err
	}
	got, err := m.ManageExistingSnapshot(ctx, name, block.Snapshot{ID: sn.ID, VolumeID: sn.VolumeID, SizeGB: size})
	if err != nil {
		return err
	}
	if got.SizeGB > 0 {
		size = got.SizeGB
	}
	return s.finish(ctx, t, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE volume_snapshots SET status = ?, progress = ?, volume_size = ?, updated_at = ?
			WHERE id = ? AND status = ?`, stAvailable, "100%", size, store.FormatTime(now()), sn.ID, snapCreating)
		return err
	})
}

// failManageSnapshot is Cinder's error for a snapshot manage that failed.
func (s *Service) failManageSnapshot(ctx context.Context, tx *store.Tx, t *task, cause error) error {
	sn, err := loadSnapshotRow(ctx, tx, t.ResourceID)
	if err != nil || sn == nil {
		return err
	}
	if err := setStatus(ctx, tx, "volume_snapshots", sn.ID, stError); err != nil {
		return err
	}
	detail := detailSnapshotCreate
	if errors.Is(cause, errManageQuota) {
		detail = detailQuotaExceeded
	}
	return s.recordMessage(ctx, tx, sn.ProjectID, resSnapshot, sn.ID, actionSnapshotCreate, detail)
}

// runUnmanageVolume lets the driver go of the volume and soft-deletes the record as
// unmanaged (the quota follows, since usage is counted from live rows).
func (s *Service) runUnmanageVolume(ctx context.Context, t *task) error {
	v, err := loadVolumeRow(ctx, s.db, t.ResourceID)
	if err != nil {
		return err
	}
	if v == nil || v.Deleted || v.Status != stUnmanaging {
		return s.finish(ctx, t, nil)
	}
	m, err := s.managerOrErr()
	if err != nil {
		return err
	}
	if err := m.Unmanage(ctx, blockVolume(v)); err != nil {
		return err
	}
	return s.finish(ctx, t, func(tx *store.Tx) error { return markDeletedAs(ctx, tx, "volume_volumes", v.ID, stUnmanaged) })
}

// failUnmanageVolume returns the volume to its status, with a user message.
func (s *Service) failUnmanageVolume(ctx context.Context, tx *store.Tx, t *task, cause error) error {
	v, err := loadVolumeRow(ctx, tx, t.ResourceID)
	if err != nil || v == nil {
		return err
	}
	back := stAvailable
	if v.PreviousStatus != nil && *v.PreviousStatus != "" {
		back = *v.PreviousStatus
	}
	if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, previous_status = NULL, updated_at = ?
		WHERE id = ? AND status = ?`, back, store.FormatTime(now()), v.ID, stUnmanaging); err != nil {
		return err
	}
	return s.recordMessage(ctx, tx, v.ProjectID, resVolume, v.ID, actionUnmanageVolume, detailUnknown)
}

// runUnmanageSnapshot lets the driver go of the snapshot and soft-deletes the record.
func (s *Service) runUnmanageSnapshot(ctx context.Context, t *task) error {
	sn, err := loadSnapshotRow(ctx, s.db, t.ResourceID)
	if err != nil {
		return err
	}
	if sn == nil || sn.Deleted || sn.Status != stUnmanaging {
		return s.finish(ctx, t, nil)
	}
	m, err := s.managerOrErr()
	if err != nil {
		return err
	}
	if err := m.UnmanageSnapshot(ctx, block.Snapshot{ID: sn.ID, VolumeID: sn.VolumeID, SizeGB: sn.VolumeSize}); err != nil {
		return err
	}
	return s.finish(ctx, t, func(tx *store.Tx) error {
		return markDeletedAs(ctx, tx, "volume_snapshots", sn.ID, stUnmanaged)
	})
}

// failUnmanageSnapshot puts the snapshot in error_deleting, as a failed delete.
func (s *Service) failUnmanageSnapshot(ctx context.Context, tx *store.Tx, t *task, cause error) error {
	sn, err := loadSnapshotRow(ctx, tx, t.ResourceID)
	if err != nil || sn == nil {
		return err
	}
	return setStatus(ctx, tx, "volume_snapshots", sn.ID, snapErrorDeleting)
}

// markDeletedAs soft-deletes a row of table with a final status ("deleted" for a
// delete, "unmanaged" for an unmanage).
func markDeletedAs(ctx context.Context, tx *store.Tx, table, id, status string) error {
	ts := store.FormatTime(now())
	_, err := tx.ExecContext(ctx, `UPDATE `+table+` SET deleted = ?, deleted_at = ?, status = ?, updated_at = ?
		WHERE id = ?`, true, ts, status, ts, id)
	return err
}
