package volume

import (
	"context"
	"errors"
	"fmt"

	"github.com/gostack/gostack/internal/driver/block"
	"github.com/gostack/gostack/internal/store"
)

// The group tasks of the cinder-volume runner. Each works on the members the API put in
// a transitional status, through idempotent driver calls, and writes the final statuses
// of the group (or group snapshot) and of all its members in one transaction: a task
// run again after a restart redoes the driver calls (creating what exists, deleting
// what is gone, both succeed) and ends the same way.

// The group task kinds (resource: the group or group snapshot id).
const (
	taskCreateGroupFromSource taskKind = "create_group_from_src"
	taskDeleteGroup           taskKind = "delete_group"
	taskCreateGroupSnapshot   taskKind = "create_group_snapshot"
	taskDeleteGroupSnapshot   taskKind = "delete_group_snapshot"
)

// errNoDriver fails a task when this process has no block driver.
var errNoDriver = errors.New("no block driver on this host")

// memberBlockVolume is the driver's view of a member volume.
func memberBlockVolume(m *memberVolume) block.Volume {
	return block.Volume{ID: m.ID, SizeGB: m.Size, Format: m.DiskFormat}
}

// stepCheck stops a task between driver calls when the process shuts down.
func stepCheck(ctx context.Context) error {
	if ctx.Err() != nil {
		return errTaskAbandoned
	}
	return nil
}

// runCreateGroupFromSource makes the data of every creating volume of a group created
// from a group snapshot or a source group, then makes them and the group available.
func (s *Service) runCreateGroupFromSource(ctx context.Context, t *task) error {
	d, _ := s.backend()
	if d == nil {
		return errNoDriver
	}
	members, err := memberVolumes(ctx, s.db, t.ResourceID)
	if err != nil {
		return err
	}
	for _, m := range members {
		if m.Status != "creating" {
			continue
		}
		if err := stepCheck(ctx); err != nil {
			return err
		}
		switch {
		case m.SnapshotID != nil:
			var sn block.Snapshot
			if err := s.db.QueryRowContext(ctx, `SELECT id, volume_id, volume_size FROM volume_snapshots WHERE id = ?`,
				*m.SnapshotID).Scan(&sn.ID, &sn.VolumeID, &sn.SizeGB); err != nil {
				return fmt.Errorf("read source snapshot %s: %w", *m.SnapshotID, err)
			}
			if err := d.CreateFromSnapshot(ctx, memberBlockVolume(m), sn); err != nil {
				return fmt.Errorf("create volume %s from snapshot: %w", m.ID, err)
			}
		case m.SourceVolID != nil:
			src, err := scanMember(s.db.QueryRowContext(ctx, `SELECT `+memberColumns+` FROM volume_volumes WHERE id = ?`,
				*m.SourceVolID))
			if err != nil {
				return fmt.Errorf("read source volume %s: %w", *m.SourceVolID, err)
			}
			if err := d.Clone(ctx, memberBlockVolume(m), memberBlockVolume(src)); err != nil {
				return fmt.Errorf("clone volume %s: %w", m.ID, err)
			}
		default:
			if err := d.Create(ctx, memberBlockVolume(m)); err != nil {
				return fmt.Errorf("create volume %s: %w", m.ID, err)
			}
		}
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		ts := store.FormatTime(now())
		if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, launched_at = ?, updated_at = ?
			WHERE group_id = ? AND status = ? AND deleted = ?`, "available", ts, ts, t.ResourceID, "creating", false); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE volume_groups SET status = ?, updated_at = ? WHERE id = ? AND status = ?`,
			groupAvailable, ts, t.ResourceID, groupCreating); err != nil {
			return err
		}
		return finishTask(ctx, tx, t, taskDone, "")
	})
}

// failCreateGroupFromSource leaves the group and its unfinished volumes in error.
func (s *Service) failCreateGroupFromSource(ctx context.Context, tx *store.Tx, t *task, _ error) error {
	ts := store.FormatTime(now())
	if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, updated_at = ?
		WHERE group_id = ? AND status = ? AND deleted = ?`, "error", ts, t.ResourceID, "creating", false); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE volume_groups SET status = ?, updated_at = ? WHERE id = ?`,
		groupError, ts, t.ResourceID)
	return err
}

// runDeleteGroup deletes the data of every volume of a deleting group, then the volumes
// and the group records.
func (s *Service) runDeleteGroup(ctx context.Context, t *task) error {
	d, _ := s.backend()
	if d == nil {
		return errNoDriver
	}
	members, err := memberVolumes(ctx, s.db, t.ResourceID)
	if err != nil {
		return err
	}
	for _, m := range members {
		if err := stepCheck(ctx); err != nil {
			return err
		}
		if err := d.Delete(ctx, memberBlockVolume(m)); err != nil && !errors.Is(err, block.ErrNotFound) {
			return fmt.Errorf("delete volume %s: %w", m.ID, err)
		}
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		ts := store.FormatTime(now())
		for _, m := range members {
			if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, deleted = ?, deleted_at = ?,
				terminated_at = ?, updated_at = ? WHERE id = ?`, "deleted", true, ts, ts, ts, m.ID); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE volume_groups SET status = ?, deleted = ?, deleted_at = ?, updated_at = ?
			WHERE id = ?`, "deleted", true, ts, ts, t.ResourceID); err != nil {
			return err
		}
		return finishTask(ctx, tx, t, taskDone, "")
	})
}

// failDeleteGroup leaves the group and its volumes in error_deleting.
func (s *Service) failDeleteGroup(ctx context.Context, tx *store.Tx, t *task, _ error) error {
	ts := store.FormatTime(now())
	if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, updated_at = ?
		WHERE group_id = ? AND status = ? AND deleted = ?`, "error_deleting", ts, t.ResourceID, "deleting", false); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE volume_groups SET status = ?, updated_at = ? WHERE id = ?`,
		groupErrorDeleting, ts, t.ResourceID)
	return err
}

// runCreateGroupSnapshot snapshots every member volume, then makes the snapshots and the
// group snapshot available.
func (s *Service) runCreateGroupSnapshot(ctx context.Context, t *task) error {
	d, _ := s.backend()
	if d == nil {
		return errNoDriver
	}
	snaps, err := groupSnapshotMembers(ctx, s.db, t.ResourceID)
	if err != nil {
		return err
	}
	for _, sn := range snaps {
		if sn.Status != "creating" {
			continue
		}
		if err := stepCheck(ctx); err != nil {
			return err
		}
		vol, err := scanMember(s.db.QueryRowContext(ctx, `SELECT `+memberColumns+` FROM volume_volumes WHERE id = ?`,
			sn.VolumeID))
		if err != nil {
			return fmt.Errorf("read volume %s: %w", sn.VolumeID, err)
		}
		if err := d.CreateSnapshot(ctx, block.Snapshot{ID: sn.ID, VolumeID: sn.VolumeID, SizeGB: sn.VolumeSize},
			memberBlockVolume(vol)); err != nil {
			return fmt.Errorf("snapshot volume %s: %w", sn.VolumeID, err)
		}
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		ts := store.FormatTime(now())
		if _, err := tx.ExecContext(ctx, `UPDATE volume_snapshots SET status = ?, progress = ?, updated_at = ?
			WHERE group_snapshot_id = ? AND status = ? AND deleted = ?`, "available", "100%", ts, t.ResourceID,
			"creating", false); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE volume_group_snapshots SET status = ?, updated_at = ?
			WHERE id = ? AND status = ?`, "available", ts, t.ResourceID, "creating"); err != nil {
			return err
		}
		return finishTask(ctx, tx, t, taskDone, "")
	})
}

// failCreateGroupSnapshot leaves the group snapshot and its unfinished snapshots in
// error.
func (s *Service) failCreateGroupSnapshot(ctx context.Context, tx *store.Tx, t *task, _ error) error {
	ts := store.FormatTime(now())
	if _, err := tx.ExecContext(ctx, `UPDATE volume_snapshots SET status = ?, updated_at = ?
		WHERE group_snapshot_id = ? AND status = ? AND deleted = ?`, "error", ts, t.ResourceID, "creating", false); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE volume_group_snapshots SET status = ?, updated_at = ? WHERE id = ?`,
		"error", ts, t.ResourceID)
	return err
}

// runDeleteGroupSnapshot deletes every member snapshot's data, then the records.
func (s *Service) runDeleteGroupSnapshot(ctx context.Context, t *task) error {
	d, _ := s.backend()
	if d == nil {
		return errNoDriver
	}
	snaps, err := groupSnapshotMembers(ctx, s.db, t.ResourceID)
	if err != nil {
		return err
	}
	for _, sn := range snaps {
		if err := stepCheck(ctx); err != nil {
			return err
		}
		if err := d.DeleteSnapshot(ctx, block.Snapshot{ID: sn.ID, VolumeID: sn.VolumeID, SizeGB: sn.VolumeSize}); err != nil &&
			!errors.Is(err, block.ErrNotFound) {
			return fmt.Errorf("delete snapshot %s: %w", sn.ID, err)
		}
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		ts := store.FormatTime(now())
		if _, err := tx.ExecContext(ctx, `UPDATE volume_snapshots SET status = ?, deleted = ?, deleted_at = ?, updated_at = ?
			WHERE group_snapshot_id = ? AND deleted = ?`, "deleted", true, ts, ts, t.ResourceID, false); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE volume_group_snapshots SET status = ?, deleted = ?, deleted_at = ?,
			updated_at = ? WHERE id = ?`, "deleted", true, ts, ts, t.ResourceID); err != nil {
			return err
		}
		return finishTask(ctx, tx, t, taskDone, "")
	})
}

// failDeleteGroupSnapshot leaves the group snapshot and its snapshots in
// error_deleting.
func (s *Service) failDeleteGroupSnapshot(ctx context.Context, tx *store.Tx, t *task, _ error) error {
	ts := store.FormatTime(now())
	if _, err := tx.ExecContext(ctx, `UPDATE volume_snapshots SET status = ?, updated_at = ?
		WHERE group_snapshot_id = ? AND status = ? AND deleted = ?`, "error_deleting", ts, t.ResourceID, "deleting",
		false); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE volume_group_snapshots SET status = ?, updated_at = ? WHERE id = ?`,
		"error_deleting", ts, t.ResourceID)
	return err
}
