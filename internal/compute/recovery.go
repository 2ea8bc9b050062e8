package compute

import (
	"context"
	"errors"

	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/store"
)

// Recovery after a restart (or kill -9). Every task step is idempotent and every step's
// result is written with the task's progress in one transaction, so recovery is small:
//
//  1. tasks found running were interrupted: they are pending again and run from the
//     step their instance's state shows (a build whose claim committed goes on to its
//     host; one that had not claimed is scheduled again);
//  2. instances left in a transitional task state with no task to finish it are
//     settled as Nova's _init_instance does (BUILD without a task goes to ERROR, a
//     delete is queued again, other task states are cleared);
//  3. Placement allocations held for deleted instances, and for migrations that are
//     over, are deleted. Only consumers that are compute instances or migrations are
//     touched; anything else some other service allocated is left alone;
//  4. volume attaches and detaches without a task are finished (detach) or undone
//     (attach).
//
// This assumes one conductor process per database (the all-in-one); several replicas
// on PostgreSQL would need leases on running tasks instead of step 1.

// recover runs the steps above.
func (s *Service) recover(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE compute_tasks SET state = ?, updated_at = ? WHERE state = ?`,
		TaskPending, store.FormatTime(now()), TaskRunning); err != nil {
		return err
	}
	if err := s.settleOrphans(ctx); err != nil {
		return err
	}
	if s.deps.Placement != nil {
		if err := s.sweepAllocations(ctx); err != nil {
			return err
		}
	}
	if err := s.settleBlockDevices(ctx); err != nil {
		// The volume service may not answer yet; the mappings stay for the next start.
		s.log.Warn("settle volume attachments", "err", err)
	}
	s.wake.notify()
	return nil
}

// settleBlockDevices finishes volume attaches and detaches that lost their task: a
// detach is completed (the user asked for it), an attach that never reached its host is
// undone (the API had answered, but the volume was never connected), as Nova's compute
// manager cleans up at start.
func (s *Service) settleBlockDevices(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT `+bdmColumns+` FROM compute_block_device_mappings b
		WHERE b.status IN (?, ?) AND NOT EXISTS (SELECT 1 FROM compute_tasks t
			WHERE t.instance_uuid = b.instance_uuid AND t.state IN (?, ?))`,
		bdmAttaching, bdmDetaching, TaskPending, TaskRunning)
	if err != nil {
		return err
	}
	var orphans []*blockDevice
	for rows.Next() {
		b, err := scanBlockDevice(rows)
		if err != nil {
			rows.Close()
			return err
		}
		orphans = append(orphans, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, b := range orphans {
		inst, found, err := loadInstance(ctx, s.db, b.InstanceUUID)
		if err != nil {
			return err
		}
		if !found {
			continue
		}
		if b.Status == bdmAttaching && inst.VMState == VMBuilding {
			continue // the build's block_device_mapping step owns it
		}
		s.log.Info("settling an interrupted volume change", "instance", b.InstanceUUID, "volume", b.VolumeID, "status", b.Status)
		if err := s.finishDetach(ctx, inst, b); err != nil {
			return err
		}
	}
	return nil
}

// settleOrphans handles instances in a task state without a pending task.
func (s *Service) settleOrphans(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT uuid FROM compute_instances i WHERE i.deleted = ? AND i.task_state IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM compute_tasks t WHERE t.instance_uuid = i.uuid AND t.state IN (?, ?))`,
		false, TaskPending, TaskRunning)
	if err != nil {
		return err
	}
	var uuids []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			rows.Close()
			return err
		}
		uuids = append(uuids, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, u := range uuids {
		err := s.db.InTx(ctx, func(tx *store.Tx) error {
			var requeue bool
			inst, ok, err := mutateInstance(ctx, tx, u, nil, func(i *Instance) error {
				switch {
				case i.TaskState == TaskDeleting:
					requeue = true
				case i.VMState == VMBuilding:
					i.VMState, i.TaskState = VMError, ""
				case i.TaskState == TaskResizeMigrating || i.TaskState == TaskResizeMigrated || i.TaskState == TaskResizeFinish:
					i.VMState, i.TaskState = VMError, ""
				default:
					i.TaskState = ""
				}
				return nil
			})
			if err != nil || !ok {
				return err
			}
			if inst.VMState == VMError && !requeue {
				if s.deps.Placement != nil {
					if err := s.deps.Placement.DeleteAllocations(ctx, tx, inst.UUID); err != nil {
						return err
					}
				}
				return addFault(ctx, tx, inst.UUID, 500, "Instance was interrupted in a transitional state and no task remained to finish it.", "", deref(inst.Host))
			}
			if requeue {
				_, err := enqueueTask(ctx, tx, &Task{InstanceUUID: inst.UUID, Kind: TaskDelete, Host: deref(inst.Host)})
				return err
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// finishedMigration lists the migration statuses after which a migration holds nothing.
var finishedMigration = map[string]bool{"confirmed": true, "reverted": true, "error": true, "failed": true,
	"completed": true, "done": true, "cancelled": true}

// sweepAllocations deletes the allocations of deleted instances and finished migrations
// on every compute node's provider.
func (s *Service) sweepAllocations(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT uuid FROM compute_nodes`)
	if err != nil {
		return err
	}
	var nodes []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			rows.Close()
			return err
		}
		nodes = append(nodes, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, n := range nodes {
		consumers, err := s.deps.Placement.ProviderConsumers(ctx, n)
		if err != nil {
			return err
		}
		for _, c := range consumers {
			stale, err := s.staleConsumer(ctx, c)
			if err != nil {
				return err
			}
			if stale {
				s.log.Info("deleting stale allocations", "consumer", c)
				if err := s.deps.Placement.DeleteAllocations(ctx, nil, c); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// staleConsumer reports whether a consumer is a deleted instance or a finished migration.
func (s *Service) staleConsumer(ctx context.Context, uuid string) (bool, error) {
	var deleted bool
	err := s.db.QueryRowContext(ctx, `SELECT deleted FROM compute_instances WHERE uuid = ?`, uuid).Scan(&deleted)
	if err == nil {
		return deleted, nil
	}
	if !store.IsNoRows(err) {
		return false, err
	}
	var status string
	err = s.db.QueryRowContext(ctx, `SELECT status FROM compute_migrations WHERE uuid = ?`, uuid).Scan(&status)
	if store.IsNoRows(err) {
		return false, nil
	}
	return err == nil && finishedMigration[status], err
}

// syncPower is Nova's _sync_power_states for the agent's host: the power state the
// hypervisor reports is recorded, and an instance whose guest stopped behind the
// cloud's back (or runs while it should be stopped) is stopped through a stop action,
// as Nova's force_stop. Guests of deleted instances and of instances evacuated away
// from this host are destroyed (Nova's reaping of running deleted instances and
// _destroy_evacuated_instances).
func (a *HostAgent) syncPower(ctx context.Context) error {
	rows, err := a.s.db.QueryContext(ctx, `SELECT uuid FROM compute_instances WHERE host = ? AND deleted = ?`, a.name, false)
	if err != nil {
		return err
	}
	mine := map[string]bool{}
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			rows.Close()
			return err
		}
		mine[u] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for u := range mine {
		if err := a.syncOne(ctx, u); err != nil {
			return err
		}
	}
	guests, err := a.driver.List(ctx)
	if err != nil {
		return err
	}
	for _, u := range guests {
		if mine[u] {
			continue
		}
		if err := a.reapGuest(ctx, u); err != nil {
			return err
		}
	}
	return nil
}

// syncOne syncs one instance's power state.
func (a *HostAgent) syncOne(ctx context.Context, uuid string) error {
	inst, found, err := loadInstance(ctx, a.s.db, uuid)
	if err != nil || !found || inst.Deleted || inst.TaskState != "" || deref(inst.Host) != a.name {
		return err
	}
	var busy int
	if err := a.s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM compute_tasks WHERE instance_uuid = ? AND state IN (?, ?)`,
		uuid, TaskPending, TaskRunning).Scan(&busy); err != nil || busy > 0 {
		return err
	}
	power := PowerNoState
	info, err := a.driver.Info(ctx, &computedriver.Instance{UUID: inst.UUID, Name: inst.InstanceName()})
	switch {
	case err == nil:
		power = int(info.State)
	case errors.Is(err, computedriver.ErrNotFound):
	default:
		return nil // the hypervisor cannot tell now; try next time
	}
	stop := false
	switch inst.VMState {
	case VMActive:
		stop = power == PowerShutdown || power == PowerCrashed || power == PowerSuspended
	case VMStopped:
		stop = power != PowerNoState && power != PowerShutdown && power != PowerCrashed
	case VMPaused:
		stop = power == PowerShutdown || power == PowerCrashed
	}
	if power == inst.PowerState && !stop {
		return nil
	}
	if stop {
		a.log.Warn("instance power state differs from the hypervisor's; calling the stop API", "instance", uuid,
			"vm_state", inst.VMState, "power_state", power)
	}
	err = a.s.db.InTx(ctx, func(tx *store.Tx) error {
		i, ok, err := mutateInstance(ctx, tx, uuid, []string{""}, func(i *Instance) error {
			i.PowerState = power
			if stop {
				i.TaskState = TaskPoweringOff
			}
			return nil
		})
		if err != nil || !ok || !stop {
			return err
		}
		actionID, err := recordAction(ctx, tx, i, ActionStop)
		if err != nil {
			return err
		}
		_, err = enqueueTask(ctx, tx, &Task{InstanceUUID: uuid, Kind: TaskStop, Host: a.name, ActionID: actionID})
		return err
	})
	if err == nil && stop {
		a.s.wake.notify()
	}
	return err
}

// reapGuest destroys a guest this host should not have: its instance is deleted (or
// unknown), or was evacuated to another host.
func (a *HostAgent) reapGuest(ctx context.Context, uuid string) error {
	inst, found, err := loadInstance(ctx, a.s.db, uuid)
	if err != nil {
		return err
	}
	var migID int64
	reap := !found || inst.Deleted
	if !reap {
		err := a.s.db.QueryRowContext(ctx, `SELECT id FROM compute_migrations WHERE instance_uuid = ? AND migration_type = ?
			AND source_compute = ? AND status = ? ORDER BY id DESC LIMIT 1`, uuid, migrationEvacuation, a.name, "done").Scan(&migID)
		if err != nil && !store.IsNoRows(err) {
			return err
		}
		reap = migID != 0 && deref(inst.Host) != a.name
	}
	if !reap {
		return nil
	}
	a.log.Info("destroying a guest whose instance is deleted or evacuated", "instance", uuid)
	if err := a.driver.Destroy(ctx, &computedriver.Instance{UUID: uuid}); err != nil {
		return err
	}
	if migID != 0 {
		return a.s.db.InTx(ctx, func(tx *store.Tx) error { return setMigrationStatus(ctx, tx, migID, "completed") })
	}
	return nil
}
