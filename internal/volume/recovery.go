package volume

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/gostack/gostack/internal/store"
)

// recover settles what a previous run left half done, before the runners start:
//  1. tasks found running were interrupted: they are made pending again (every step is
//     idempotent, so they simply run again);
//  2. a resource in a transitional status with no task left to carry it on is settled
//     as Cinder's init_host does (creating → error, deleting → deleted again, ...);
//  3. the reconcile pass compares what the backend and the backup store hold with the
//     records: data of deleted records (an interrupted delete) is removed, data of
//     unmanaged records (meant to stay, for a later manage) and data nothing knows
//     about are left alone, the latter reported in the log.
func (s *Service) recover(ctx context.Context) {
	driver, backups := s.backend()
	for _, q := range []struct {
		queue string
		on    bool
	}{{s.volumeQueue(), driver != nil}, {s.backupQueue(), backups != nil}} {
		if !q.on {
			continue
		}
		if n, err := s.requeueInterrupted(ctx, q.queue); err != nil {
			s.log.Error("requeue interrupted volume tasks", "queue", q.queue, "err", err)
		} else if n > 0 {
			s.log.Info("re-running interrupted volume tasks", "queue", q.queue, "count", n)
		}
	}
	if driver != nil {
		if err := s.settle(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("settle volume statuses", "err", err)
		}
	}
	if err := s.reconcile(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("reconcile volume backend", "err", err)
	}
	s.wake.notify()
}

// settleRule says what a transitional status without a task becomes: a final status,
// or a task queued again (kind).
type settleRule struct {
	status string
	kind   taskKind
}

// Transitional statuses and how they settle (those without a rule — attaching,
// detaching, reserved — belong to the attach flow, which the caller drives, not a task).
var (
	volumeSettle = map[string]settleRule{
		stCreating: {status: stError}, stDeleting: {kind: taskDeleteVolume}, stExtending: {status: stErrorExtending},
		stUploading: {status: "previous"}, stDownloading: {status: stError}, stBackingUp: {status: "previous"},
		stRestoringBackup: {status: stErrorRestoring}, stReverting: {status: stError}, stRetyping: {status: "previous"},
		stUnmanaging: {kind: taskUnmanageVolume},
	}
	snapshotSettle = map[string]settleRule{snapCreating: {status: stError}, stDeleting: {kind: taskDeleteSnapshot},
		stBackingUp: {status: stAvailable}, "restoring": {status: stAvailable}, stUnmanaging: {kind: taskUnmanageSnapshot}}
	backupSettle = map[string]settleRule{backupCreating: {status: stError}, stDeleting: {kind: taskDeleteBackup},
		backupRestoring: {status: stAvailable}}
)

// settle applies the settle rules to resources no pending or running task will move.
func (s *Service) settle(ctx context.Context) error {
	carried, err := s.carriedResources(ctx)
	if err != nil {
		return err
	}
	for _, tbl := range []struct {
		table string
		rules map[string]settleRule
	}{{"volume_volumes", volumeSettle}, {"volume_snapshots", snapshotSettle}, {"volume_backups", backupSettle}} {
		statuses := make([]string, 0, len(tbl.rules))
		for st := range tbl.rules {
			statuses = append(statuses, st)
		}
		slices.Sort(statuses)
		args := []any{false}
		for _, st := range statuses {
			args = append(args, st)
		}
		prev := "''"
		if tbl.table == "volume_volumes" {
			prev = "COALESCE(r.previous_status, '')"
		}
		rows, err := s.db.QueryContext(ctx, `SELECT r.id, r.status, `+prev+` FROM `+tbl.table+` r WHERE r.deleted = ?
			AND r.status IN (`+strings.TrimSuffix(strings.Repeat("?,", len(statuses)), ",")+`)`, args...)
		if err != nil {
			return err
		}
		type stuck struct{ id, status, previous string }
		var list []stuck
		for rows.Next() {
			var x stuck
			if err := rows.Scan(&x.id, &x.status, &x.previous); err != nil {
				rows.Close()
				return err
			}
			if !carried[x.id] {
				list = append(list, x)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, x := range list {
			rule := tbl.rules[x.status]
			err := s.db.InTx(ctx, func(tx *store.Tx) error {
				if rule.kind != "" {
					queue := s.volumeQueue()
					if tbl.table == "volume_backups" {
						queue = s.backupQueue()
					}
					return enqueue(ctx, tx, queue, rule.kind, x.id, nil)
				}
				to := rule.status
				if to == "previous" {
					to = x.previous
					if to == "" {
						to = stAvailable
					}
				}
				_, err := tx.ExecContext(ctx, `UPDATE `+tbl.table+` SET status = ?, updated_at = ? WHERE id = ? AND status = ?`,
					to, store.FormatTime(now()), x.id, x.status)
				return err
			})
			if err != nil {
				return err
			}
			s.log.Warn("settled a resource left in a transitional status", "table", tbl.table, "id", x.id,
				"status", x.status)
		}
	}
	return nil
}

// carriedResources returns the ids of the volumes, snapshots and backups a pending or
// running task will move out of their transitional status: the task's own resource,
// and those a task of another resource carries — the volume or snapshot a backup
// reads (backing-up), the backup a restore reads and the snapshot a revert reads
// (restoring), the member volumes of a group and the member snapshots of a group
// snapshot. Settling any of these would
// release a resource still in use, or fail one its task is about to complete.
func (s *Service) carriedResources(ctx context.Context) (map[string]bool, error) {
	carried := map[string]bool{}
	collect := func(query string, args ...any) error {
		rows, err := s.db.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			carried[id] = true
		}
		return rows.Err()
	}
	live := []any{taskPending, taskRunning}
	with := func(args ...any) []any { return append(args, live...) }
	for _, q := range []struct {
		query string
		args  []any
	}{
		{`SELECT t.resource_id FROM volume_tasks t WHERE t.state IN (?, ?)`, live},
		{`SELECT COALESCE(b.snapshot_id, b.volume_id) FROM volume_tasks t JOIN volume_backups b ON b.id = t.resource_id
			WHERE t.kind = ? AND t.state IN (?, ?)`, with(string(taskCreateBackup))},
		{`SELECT v.id FROM volume_tasks t JOIN volume_volumes v ON v.group_id = t.resource_id
			WHERE t.kind IN (?, ?) AND t.state IN (?, ?)`, with(string(taskCreateGroupFromSource), string(taskDeleteGroup))},
		{`SELECT sn.id FROM volume_tasks t JOIN volume_snapshots sn ON sn.group_snapshot_id = t.resource_id
			WHERE t.kind IN (?, ?) AND t.state IN (?, ?)`, with(string(taskCreateGroupSnapshot), string(taskDeleteGroupSnapshot))},
	} {
		if err := collect(q.query, q.args...); err != nil {
			return nil, err
		}
	}
	// A restore names its backup, a revert its snapshot, in its params.
	rows, err := s.db.QueryContext(ctx, `SELECT params FROM volume_tasks WHERE kind IN (?, ?) AND state IN (?, ?)`,
		with(string(taskRestoreBackup), string(taskRevertVolume))...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var params string
		if err := rows.Scan(&params); err != nil {
			return nil, err
		}
		var p struct {
			BackupID   string `json:"backup_id"`
			SnapshotID string `json:"snapshot_id"`
		}
		if json.Unmarshal([]byte(params), &p) != nil {
			continue
		}
		for _, id := range []string{p.BackupID, p.SnapshotID} {
			if id != "" {
				carried[id] = true
			}
		}
	}
	return carried, rows.Err()
}

// rowState is what the records say about an id the backend holds.
type rowState int

const (
	rowMissing rowState = iota
	rowLive
	rowDeleted
	// rowUnmanaged is a record soft-deleted by an unmanage: its data stays.
	rowUnmanaged
)

// recordState looks an id up in a table.
func (s *Service) recordState(ctx context.Context, table, id string) (rowState, error) {
	var deleted bool
	var status string
	err := s.db.QueryRowContext(ctx, `SELECT deleted, status FROM `+table+` WHERE id = ?`, id).Scan(&deleted, &status)
	switch {
	case store.IsNoRows(err):
		return rowMissing, nil
	case err != nil:
		return 0, err
	case deleted && status == stUnmanaged:
		return rowUnmanaged, nil
	case deleted:
		return rowDeleted, nil
	}
	return rowLive, nil
}

// reconcile compares the backend's and the backup store's inventories with the records.
func (s *Service) reconcile(ctx context.Context) error {
	driver, backups := s.backend()
	if driver != nil {
		vols, snaps, err := driver.Inventory(ctx)
		if err != nil {
			return err
		}
		for _, id := range vols {
			if bid, ok := strings.CutPrefix(id, "backup-"); ok {
				// The temporary copy a snapshot backup reads through: it holds no data of
				// its own, and goes once its backup is no longer being made.
				b, err := loadBackupRow(ctx, s.db, bid)
				if err != nil {
					return err
				}
				if b != nil && (b.Deleted || b.Status != backupCreating) {
					s.removeOrphan(ctx, "temporary backup volume", id, func() error {
						return driver.Delete(ctx, blockVolume(&volumeRec{ID: id}))
					})
				}
				continue
			}
			st, err := s.recordState(ctx, "volume_volumes", id)
			if err != nil {
				return err
			}
			switch st {
			case rowDeleted:
				s.removeOrphan(ctx, "volume", id, func() error { return driver.Delete(ctx, blockVolume(&volumeRec{ID: id})) })
			case rowMissing:
				s.log.Warn("backend holds a volume no record knows; left alone", "volume", id)
			}
		}
		for _, id := range snaps {
			st, err := s.recordState(ctx, "volume_snapshots", id)
			if err != nil {
				return err
			}
			switch st {
			case rowDeleted:
				s.removeOrphan(ctx, "snapshot", id, func() error {
					return driver.DeleteSnapshot(ctx, blockSnapshot(id))
				})
			case rowMissing:
				s.log.Warn("backend holds a snapshot no record knows; left alone", "snapshot", id)
			}
		}
	}
	if backups != nil {
		ids, err := backups.Inventory(ctx)
		if err != nil {
			return err
		}
		for _, id := range ids {
			st, err := s.recordState(ctx, "volume_backups", id)
			if err != nil {
				return err
			}
			switch st {
			case rowDeleted:
				s.removeOrphan(ctx, "backup", id, func() error { return backups.Delete(ctx, id) })
			case rowMissing:
				s.log.Warn("backup store holds a backup no record knows; left alone", "backup", id)
			}
		}
	}
	return nil
}

// removeOrphan deletes data whose record is gone, logging what it did.
func (s *Service) removeOrphan(ctx context.Context, what, id string, del func() error) {
	if err := del(); err != nil {
		s.log.Error("remove data of a deleted "+what, "id", id, "err", err)
		return
	}
	s.log.Info("removed data of a deleted "+what+" (an interrupted delete)", "id", id)
}
