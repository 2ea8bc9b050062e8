package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/compute/scheduler"
	"github.com/gostack/gostack/internal/placement"
	"github.com/gostack/gostack/internal/store"
)

// The conductor runs the tasks that need a scheduling decision (the queue with host ""):
// builds, and the moves (resize, cold and live migration, unshelve, evacuation). For
// each it asks Placement for candidates, filters and weighs them, claims the first host
// that still fits in the transaction that also records the decision (the instance's
// host, the migration row, the task handed to the chosen host), and leaves the rest to
// the host agents. A delete of an instance that never reached a host is finished here.

// Run starts the conductor and every host agent added with AddHost, after recovering
// what a previous process left unfinished (recovery.go), and blocks until ctx is done
// and they have stopped. Agents added while Run runs start at once.
func (s *Service) Run(ctx context.Context) {
	if err := s.recover(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("compute recovery", "err", err)
	}
	s.rt.mu.Lock()
	s.rt.ctx = ctx
	for _, a := range s.rt.agents {
		s.startAgent(ctx, a)
	}
	s.rt.mu.Unlock()
	go s.controlHeartbeats(ctx)
	workers := s.cfg.ConductorWorkers
	if workers <= 0 {
		workers = 8
	}
	r := &taskRunner{s: s, host: "", workers: workers, run: s.conduct, log: s.log.With("component", "conductor")}
	r.loop(ctx)
	s.rt.mu.Lock()
	s.rt.ctx = nil
	s.rt.mu.Unlock()
	s.rt.wg.Wait()
}

// controlHeartbeats reports the nova-conductor and nova-scheduler services of this
// process (`compute service list` shows them in the internal zone) every 10 s.
func (s *Service) controlHeartbeats(ctx context.Context) {
	host := s.cfg.ControlHost
	if host == "" {
		host, _ = os.Hostname()
	}
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		for _, b := range []string{BinaryConductor, BinaryScheduler} {
			if err := s.heartbeat(ctx, host, b); err != nil && ctx.Err() == nil {
				s.log.Warn("service heartbeat", "binary", b, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// conduct runs one conductor task.
func (s *Service) conduct(ctx context.Context, t *Task) error {
	if s.deps.Placement == nil {
		return errors.New("compute: no Placement service configured")
	}
	switch t.Kind {
	case TaskBuild:
		return s.conductBuild(ctx, t)
	case TaskDelete:
		return s.conductDelete(ctx, t)
	case TaskResize, TaskMigrate:
		return s.conductColdMove(ctx, t)
	case TaskUnshelve:
		return s.conductUnshelve(ctx, t)
	case TaskLiveMigrate:
		return s.conductLiveMigrate(ctx, t)
	case TaskEvacuate:
		return s.conductEvacuate(ctx, t)
	}
	// Anything else belongs to the instance's host.
	inst, found, err := loadInstance(ctx, s.db, t.InstanceUUID)
	if err != nil {
		return err
	}
	if !found || inst.Host == nil || *inst.Host == "" {
		return s.finishTaskAlone(ctx, t, TaskFailed, "instance has no host")
	}
	return s.forward(ctx, t, *inst.Host, nil)
}

// forward hands a task to another queue in its own transaction and wakes the runners.
func (s *Service) forward(ctx context.Context, t *Task, host string, params any) error {
	if err := s.db.InTx(ctx, func(tx *store.Tx) error { return forwardTask(ctx, tx, t, host, params) }); err != nil {
		return err
	}
	s.wake.notify()
	return nil
}

// taskArgs are the params of every task kind, as the API writes them and as the
// conductor and agents extend them while a task moves between queues.
type taskArgs struct {
	Type             string `json:"type,omitempty"`
	ImageRef         string `json:"image_ref,omitempty"`
	ImageID          string `json:"image_id,omitempty"`
	RescueImageRef   string `json:"rescue_image_ref,omitempty"`
	Host             string `json:"host,omitempty"`
	Node             string `json:"node,omitempty"`
	AvailabilityZone string `json:"availability_zone,omitempty"`
	MigrationID      int64  `json:"migration_id,omitempty"`
	// BackupType and Rotation are createBackup's: keep the newest Rotation backups.
	BackupType string `json:"backup_type,omitempty"`
	Rotation   *int64 `json:"rotation,omitempty"`
	// Stage is where a multi-host task is: "source" or "dest".
	Stage string `json:"stage,omitempty"`
	// OldVMState is the vm_state before a resize or migration (to restore its power).
	OldVMState string `json:"old_vm_state,omitempty"`
}

// withArgs returns t's params with the given keys set, keeping the others.
func withArgs(t *Task, set map[string]any) map[string]any {
	m := map[string]any{}
	_ = json.Unmarshal(t.Params, &m)
	if m == nil {
		m = map[string]any{}
	}
	for k, v := range set {
		m[k] = v
	}
	return m
}

// conductBuild schedules and claims a new server, then hands it to its host.
func (s *Service) conductBuild(ctx context.Context, t *Task) error {
	inst, found, err := loadInstance(ctx, s.db, t.InstanceUUID)
	if err != nil {
		return err
	}
	if !found || inst.Deleted {
		return s.finishTaskAlone(ctx, t, TaskDone, "")
	}
	switch inst.TaskState {
	case TaskScheduling:
	case TaskBlockDeviceMapping, TaskNetworking:
		ev, err := s.beginEvent(ctx, t, "conductor_schedule_and_build_instances", "")
		if err != nil {
			return err
		}
		return s.buildHandOff(ctx, t, inst, ev)
	default:
		// A delete (or a state reset) overtook the build; the delete task cleans up.
		return s.finishTaskAlone(ctx, t, TaskDone, "")
	}
	ev, err := s.beginEvent(ctx, t, "conductor_schedule_and_build_instances", "")
	if err != nil {
		return err
	}
	pr := placeRequest{inst: inst, flavor: inst.Flavor, host: inst.Request.Host, node: inst.Request.Node,
		ignore: inst.Request.IgnoreHosts, zone: inst.Request.AvailabilityZone}
	_, err = s.place(ctx, pr, func(tx *store.Tx, ch hostChoice) error {
		if err := s.deps.Placement.WriteAllocations(ctx, tx, []placement.ConsumerAllocations{{Consumer: inst.UUID,
			ProjectID: inst.ProjectID, UserID: inst.UserID, ConsumerType: placement.ConsumerTypeInstance,
			Allocations: ch.cand.Allocations}}); err != nil {
			return err
		}
		cp := *inst
		host, node, zone := ch.sel.Host, ch.sel.Node, ch.sel.Zone
		cp.Host, cp.Node, cp.AvailabilityZone = &host, &node, &zone
		cp.TaskState = TaskBlockDeviceMapping
		ok, err := updateInstance(ctx, tx, &cp, []string{TaskScheduling})
		if err != nil {
			return err
		}
		if !ok {
			return errInstanceChanged
		}
		*inst = cp
		return nil
	})
	var nvh *scheduler.NoValidHost
	switch {
	case errors.As(err, &nvh):
		msg, details := nvh.Error(), nvh.Details
		if len(inst.Request.IgnoreHosts) > 0 && t.Error != "" {
			// A rescheduled build that ran out of hosts: Nova's MaxRetriesExceeded.
			msg = "Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures for instance " +
				inst.UUID + "."
			details = t.Error
		}
		return s.buildFailed(ctx, t, inst.UUID, ev, []string{TaskScheduling}, msg, details, "")
	case errors.Is(err, errInstanceChanged):
		return s.finishTaskAlone(ctx, t, TaskDone, "")
	case err != nil:
		return err
	}
	return s.buildHandOff(ctx, t, inst, ev)
}

// buildHandOff moves a claimed build through block device mapping (its volumes made
// and connected to the chosen host) and networking (its ports, bound to the chosen host) and hands it to
// its host for spawning.
func (s *Service) buildHandOff(ctx context.Context, t *Task, inst *Instance, ev *event) error {
	if inst.TaskState == TaskBlockDeviceMapping {
		err := s.prepareBlockDevices(ctx, inst)
		var be *errBlockDevice
		if errors.As(err, &be) {
			return s.buildFailed(ctx, t, inst.UUID, ev, []string{TaskBlockDeviceMapping},
				"Build of instance "+inst.UUID+" aborted: "+be.msg, be.msg, deref(inst.Host))
		}
		if err != nil {
			return err
		}
		inst.TaskState = TaskNetworking
		ok, err := updateInstance(ctx, s.db, inst, []string{TaskBlockDeviceMapping})
		if err != nil {
			return err
		}
		if !ok {
			return s.finishTaskAlone(ctx, t, TaskDone, "")
		}
	}
	netInfo, err := s.allocateNetworks(ctx, inst)
	var pa *errPortAllocation
	if errors.As(err, &pa) {
		// Nova fails the build when its ports cannot be made (no addresses left, a
		// fixed IP taken, quota): another host would fail the same way.
		return s.buildFailed(ctx, t, inst.UUID, ev, []string{TaskNetworking},
			"Build of instance "+inst.UUID+" aborted: "+pa.msg, pa.msg, deref(inst.Host))
	}
	if err != nil {
		return err
	}
	inst.NetworkInfo = netInfo
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		inst.TaskState = TaskSpawning
		ok, err := updateInstance(ctx, tx, inst, []string{TaskNetworking})
		if err != nil {
			return err
		}
		if !ok {
			return finishTask(ctx, tx, t, TaskDone, "")
		}
		if err := ev.finish(ctx, tx, nil, ""); err != nil {
			return err
		}
		return forwardTask(ctx, tx, t, *inst.Host, nil)
	})
	if err != nil {
		return err
	}
	s.wake.notify()
	return nil
}

// buildFailed puts a server that could not be built in ERROR with a fault (Nova's
// _set_vm_state_and_notify after NoValidHost or MaxRetriesExceeded) and fails the task.
func (s *Service) buildFailed(ctx context.Context, t *Task, uuid string, ev *event, expect []string, msg, details, host string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		inst, found, err := loadInstance(ctx, tx, uuid)
		if err != nil {
			return err
		}
		if found && !inst.Deleted {
			inst.VMState, inst.TaskState = VMError, ""
			ok, err := updateInstance(ctx, tx, inst, expect)
			if err != nil {
				return err
			}
			if ok {
				if err := addFault(ctx, tx, uuid, 500, msg, details, host); err != nil {
					return err
				}
			}
		}
		if err := ev.finish(ctx, tx, errors.New(msg), details); err != nil {
			return err
		}
		return finishTask(ctx, tx, t, TaskFailed, msg)
	})
}

// conductDelete deletes an instance that has no host (never scheduled, or shelved
// offloaded) and forwards any other delete to the instance's host.
func (s *Service) conductDelete(ctx context.Context, t *Task) error {
	inst, found, err := loadInstance(ctx, s.db, t.InstanceUUID)
	if err != nil {
		return err
	}
	if !found || inst.Deleted {
		return s.finishTaskAlone(ctx, t, TaskDone, "")
	}
	if inst.Host != nil && *inst.Host != "" {
		return s.forward(ctx, t, *inst.Host, nil)
	}
	return s.completeDelete(ctx, t, inst, nil, "")
}

// completeDelete releases the instance's ports, frees its allocations (its own and its
// migrations'),
// removes its group membership and soft-deletes it, finishing the task; the guest is
// already gone. A shelved instance's snapshot is deleted afterwards, as Nova does.
func (s *Service) completeDelete(ctx context.Context, t *Task, inst *Instance, ev *event, host string) error {
	if err := s.deallocateNetworks(ctx, inst); err != nil {
		return fmt.Errorf("release the ports of %s: %w", inst.UUID, err)
	}
	if err := s.releaseBlockDevices(ctx, inst); err != nil {
		return fmt.Errorf("release the volumes of %s: %w", inst.UUID, err)
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.freeInstanceAllocations(ctx, tx, inst.UUID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM compute_server_group_members WHERE instance_uuid = ?`, inst.UUID); err != nil {
			return err
		}
		if err := deleteConsoleTokens(ctx, tx, inst.UUID); err != nil {
			return err
		}
		_, _, err := mutateInstance(ctx, tx, inst.UUID, nil, func(i *Instance) error {
			ts := now()
			i.VMState, i.TaskState, i.PowerState = VMDeleted, "", PowerNoState
			i.Deleted, i.DeletedAt, i.TerminatedAt = true, &ts, &ts
			return nil
		})
		if err != nil {
			return err
		}
		if err := ev.finish(ctx, tx, nil, ""); err != nil {
			return err
		}
		return finishTask(ctx, tx, t, TaskDone, "")
	})
	if err != nil {
		return err
	}
	if id := inst.SystemMetadata["shelved_image_id"]; id != "" && s.deps.Images != nil {
		if err := s.deps.Images.DeleteImage(ctx, id); err != nil && !errors.Is(err, ErrImageNotFound) {
			s.log.Warn("delete shelved image", "instance", inst.UUID, "image", id, "err", err)
		}
	}
	return nil
}

// freeInstanceAllocations deletes the Placement allocations of an instance and of its
// migrations, inside tx.
func (s *Service) freeInstanceAllocations(ctx context.Context, tx *store.Tx, uuid string) error {
	if err := s.deps.Placement.DeleteAllocations(ctx, tx, uuid); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT uuid FROM compute_migrations WHERE instance_uuid = ?`, uuid)
	if err != nil {
		return err
	}
	var migs []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			rows.Close()
			return err
		}
		migs = append(migs, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, m := range migs {
		if err := s.deps.Placement.DeleteAllocations(ctx, tx, m); err != nil {
			return err
		}
	}
	return nil
}

// migration is a compute_migrations row.
type migration struct {
	ID                                                    int64
	UUID, InstanceUUID, Type, Status                      string
	SourceCompute, SourceNode, DestCompute, DestNode      string
	DestHost, OldFlavorID, NewFlavorID, ProjectID, UserID string
}

// Migration types and statuses as Nova names them.
const (
	migrationResize     = "resize"
	migrationCold       = "migration"
	migrationLive       = "live-migration"
	migrationEvacuation = "evacuation"
)

// loadMigration reads a migration by id.
func loadMigration(ctx context.Context, q querier, id int64) (*migration, error) {
	var m migration
	var sc, sn, dc, dn, dh, of, nf *string
	err := q.QueryRowContext(ctx, `SELECT id, uuid, instance_uuid, migration_type, status, source_compute, source_node,
		dest_compute, dest_node, dest_host, old_flavor_id, new_flavor_id, project_id, user_id FROM compute_migrations WHERE id = ?`, id).
		Scan(&m.ID, &m.UUID, &m.InstanceUUID, &m.Type, &m.Status, &sc, &sn, &dc, &dn, &dh, &of, &nf, &m.ProjectID, &m.UserID)
	if err != nil {
		return nil, err
	}
	m.SourceCompute, m.SourceNode, m.DestCompute, m.DestNode = deref(sc), deref(sn), deref(dc), deref(dn)
	m.DestHost, m.OldFlavorID, m.NewFlavorID = deref(dh), deref(of), deref(nf)
	return &m, nil
}

// saveMigration inserts (ID 0) or updates a migration inside tx.
func saveMigration(ctx context.Context, tx *store.Tx, m *migration) error {
	ts := store.FormatTime(now())
	if m.ID == 0 {
		id, err := nextID(ctx, tx, "migrations")
		if err != nil {
			return err
		}
		m.ID = id
		if m.UUID == "" {
			m.UUID = api.NewUUID()
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO compute_migrations (id, uuid, instance_uuid, migration_type, status,
			source_compute, source_node, dest_compute, dest_node, dest_host, old_flavor_id, new_flavor_id, project_id, user_id,
			created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			m.ID, m.UUID, m.InstanceUUID, m.Type, m.Status, m.SourceCompute, m.SourceNode, m.DestCompute, m.DestNode,
			m.DestHost, m.OldFlavorID, m.NewFlavorID, m.ProjectID, m.UserID, ts, ts)
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE compute_migrations SET status = ?, source_compute = ?, source_node = ?,
		dest_compute = ?, dest_node = ?, dest_host = ?, new_flavor_id = ?, updated_at = ? WHERE id = ?`,
		m.Status, m.SourceCompute, m.SourceNode, m.DestCompute, m.DestNode, m.DestHost, m.NewFlavorID, ts, m.ID)
	return err
}

// setMigrationStatus changes a migration's status inside tx.
func setMigrationStatus(ctx context.Context, tx *store.Tx, id int64, status string) error {
	if id == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE compute_migrations SET status = ?, updated_at = ? WHERE id = ?`,
		status, store.FormatTime(now()), id)
	return err
}

// deref returns *p or "".
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// moveSpec describes a move the conductor schedules.
type moveSpec struct {
	event     string
	expect    string // the task_state the API set
	migType   string
	status    string // the migration's status once scheduled
	flavor    FlavorSnapshot
	ignore    []string
	setHost   bool   // the instance's host becomes the destination at once (evacuate)
	stage     string // where the task goes: "source" or "dest"
	noHostErr string // status of the migration when no host is found
}

// conductMove schedules a move (resize, migration, live migration, evacuation): it
// claims the destination for the instance while its current allocation moves to the
// migration (as Nova's move_allocations), records the migration and hands the task to
// the stage's host, all in one transaction.
func (s *Service) conductMove(ctx context.Context, t *Task, inst *Instance, spec moveSpec) error {
	var args taskArgs
	if err := taskParams(t, &args); err != nil {
		return s.finishTaskAlone(ctx, t, TaskFailed, "bad task params: "+err.Error())
	}
	ev, err := s.beginEvent(ctx, t, spec.event, "")
	if err != nil {
		return err
	}
	var mig *migration
	if args.MigrationID != 0 {
		if mig, err = loadMigration(ctx, s.db, args.MigrationID); err != nil && !store.IsNoRows(err) {
			return err
		}
	}
	if mig == nil {
		mig = &migration{InstanceUUID: inst.UUID, Type: spec.migType, ProjectID: inst.ProjectID, UserID: inst.UserID,
			OldFlavorID: inst.Flavor.ID, NewFlavorID: spec.flavor.ID}
	}
	mig.SourceCompute, mig.SourceNode = deref(inst.Host), deref(inst.Node)
	source := deref(inst.Host)
	pr := placeRequest{inst: inst, flavor: spec.flavor, host: args.Host, node: args.Node, ignore: spec.ignore,
		zone: inst.Request.AvailabilityZone}
	_, err = s.place(ctx, pr, func(tx *store.Tx, ch hostChoice) error {
		cur, err := s.deps.Placement.ConsumerAllocations(ctx, tx, inst.UUID)
		if err != nil {
			return err
		}
		m := *mig
		m.Status, m.DestCompute, m.DestNode, m.DestHost = spec.status, ch.sel.Host, ch.sel.Node, ch.sel.Host
		if err := saveMigration(ctx, tx, &m); err != nil {
			return err
		}
		ws := []placement.ConsumerAllocations{
			{Consumer: m.UUID, ProjectID: inst.ProjectID, UserID: inst.UserID, ConsumerType: placement.ConsumerTypeMigration,
				Allocations: cur.Allocations},
			{Consumer: inst.UUID, ProjectID: inst.ProjectID, UserID: inst.UserID, ConsumerType: placement.ConsumerTypeInstance,
				Generation: cur.Generation, CheckGeneration: true, Allocations: ch.cand.Allocations},
		}
		if err := s.deps.Placement.WriteAllocations(ctx, tx, ws); err != nil {
			return err
		}
		cp := *inst
		if spec.setHost {
			host, node := ch.sel.Host, ch.sel.Node
			cp.Host, cp.Node = &host, &node
		}
		ok, err := updateInstance(ctx, tx, &cp, []string{spec.expect})
		if err != nil {
			return err
		}
		if !ok {
			return errInstanceChanged
		}
		if err := ev.finish(ctx, tx, nil, ""); err != nil {
			return err
		}
		next := source
		if spec.stage == "dest" {
			next = ch.sel.Host
		}
		*mig = m
		return forwardTask(ctx, tx, t, next, withArgs(t, map[string]any{"migration_id": m.ID, "stage": spec.stage,
			"old_vm_state": inst.VMState}))
	})
	var nvh *scheduler.NoValidHost
	switch {
	case errors.As(err, &nvh):
		return s.moveFailed(ctx, t, inst.UUID, ev, spec.expect, mig, nvh.Error(), nvh.Details)
	case errors.Is(err, errInstanceChanged):
		return s.finishTaskAlone(ctx, t, TaskDone, "")
	case err != nil:
		return err
	}
	s.wake.notify()
	return nil
}

// moveFailed ends a move that found no destination: the instance keeps its vm_state,
// loses the task_state (and the resize's new flavor), gets a fault; the migration (if
// recorded) is in error.
func (s *Service) moveFailed(ctx context.Context, t *Task, uuid string, ev *event, expect string, mig *migration, msg, details string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		inst, found, err := loadInstance(ctx, tx, uuid)
		if err != nil {
			return err
		}
		if found && !inst.Deleted {
			inst.TaskState, inst.NewFlavor = "", nil
			ok, err := updateInstance(ctx, tx, inst, []string{expect})
			if err != nil {
				return err
			}
			if ok {
				if err := addFault(ctx, tx, uuid, 500, msg, details, ""); err != nil {
					return err
				}
			}
		}
		if mig != nil && mig.ID != 0 {
			if err := setMigrationStatus(ctx, tx, mig.ID, "error"); err != nil {
				return err
			}
		}
		if err := ev.finish(ctx, tx, errors.New(msg), details); err != nil {
			return err
		}
		return finishTask(ctx, tx, t, TaskFailed, msg)
	})
}

// loadMovable loads the instance of a move task; ok is false (and the task finished)
// when it is gone or no longer in the expected task state.
func (s *Service) loadMovable(ctx context.Context, t *Task, expect ...string) (*Instance, bool, error) {
	inst, found, err := loadInstance(ctx, s.db, t.InstanceUUID)
	if err != nil {
		return nil, false, err
	}
	if found && !inst.Deleted {
		for _, e := range expect {
			if inst.TaskState == e {
				return inst, true, nil
			}
		}
	}
	return nil, false, s.finishTaskAlone(ctx, t, TaskDone, "")
}

// conductColdMove schedules a resize or a cold migration. Resizing to the same host is
// allowed (gostack is often a single host); a migration avoids the current host when
// there is another.
func (s *Service) conductColdMove(ctx context.Context, t *Task) error {
	inst, ok, err := s.loadMovable(ctx, t, TaskResizePrep)
	if !ok {
		return err
	}
	spec := moveSpec{event: "conductor_migrate_server", expect: TaskResizePrep, migType: migrationResize,
		status: "pre-migrating", flavor: inst.Flavor, stage: "source"}
	if inst.NewFlavor != nil {
		spec.flavor = *inst.NewFlavor
	}
	if t.Kind == TaskMigrate || inst.NewFlavor == nil {
		spec.migType = migrationCold
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(DISTINCT host) FROM compute_nodes`).Scan(&n); err != nil {
			return err
		}
		if n > 1 && inst.Host != nil {
			spec.ignore = []string{*inst.Host}
		}
	}
	return s.conductMove(ctx, t, inst, spec)
}

// conductLiveMigrate schedules a live migration away from the current host.
func (s *Service) conductLiveMigrate(ctx context.Context, t *Task) error {
	inst, ok, err := s.loadMovable(ctx, t, TaskMigrating)
	if !ok {
		return err
	}
	return s.conductMove(ctx, t, inst, moveSpec{event: "conductor_live_migrate_instance", expect: TaskMigrating,
		migType: migrationLive, status: "preparing", flavor: inst.Flavor, ignore: []string{deref(inst.Host)}, stage: "source"})
}

// conductEvacuate schedules the rebuild of an instance whose host is down on another.
func (s *Service) conductEvacuate(ctx context.Context, t *Task) error {
	inst, ok, err := s.loadMovable(ctx, t, TaskRebuilding)
	if !ok {
		return err
	}
	return s.conductMove(ctx, t, inst, moveSpec{event: "rebuild_server", expect: TaskRebuilding, migType: migrationEvacuation,
		status: "pre-migrating", flavor: inst.Flavor, ignore: []string{deref(inst.Host)}, setHost: true, stage: "dest"})
}

// conductUnshelve schedules a shelved-offloaded instance again and hands it to the
// chosen host; one merely shelved (still on its host) goes back to that host.
func (s *Service) conductUnshelve(ctx context.Context, t *Task) error {
	inst, ok, err := s.loadMovable(ctx, t, TaskUnshelving, TaskSpawning)
	if !ok {
		return err
	}
	if inst.Host != nil && *inst.Host != "" {
		return s.forward(ctx, t, *inst.Host, nil)
	}
	var args taskArgs
	_ = taskParams(t, &args)
	ev, err := s.beginEvent(ctx, t, "schedule_instances", "")
	if err != nil {
		return err
	}
	zone := inst.Request.AvailabilityZone
	if args.AvailabilityZone != "" {
		zone = args.AvailabilityZone
	}
	_, err = s.place(ctx, placeRequest{inst: inst, flavor: inst.Flavor, host: args.Host, zone: zone}, func(tx *store.Tx, ch hostChoice) error {
		if err := s.deps.Placement.WriteAllocations(ctx, tx, []placement.ConsumerAllocations{{Consumer: inst.UUID,
			ProjectID: inst.ProjectID, UserID: inst.UserID, ConsumerType: placement.ConsumerTypeInstance,
			Allocations: ch.cand.Allocations}}); err != nil {
			return err
		}
		cp := *inst
		host, node, z := ch.sel.Host, ch.sel.Node, ch.sel.Zone
		cp.Host, cp.Node, cp.AvailabilityZone = &host, &node, &z
		ok, err := updateInstance(ctx, tx, &cp, []string{TaskUnshelving})
		if err != nil {
			return err
		}
		if !ok {
			return errInstanceChanged
		}
		if err := ev.finish(ctx, tx, nil, ""); err != nil {
			return err
		}
		return forwardTask(ctx, tx, t, host, nil)
	})
	var nvh *scheduler.NoValidHost
	switch {
	case errors.As(err, &nvh):
		return s.moveFailed(ctx, t, inst.UUID, ev, TaskUnshelving, nil, nvh.Error(), nvh.Details)
	case errors.Is(err, errInstanceChanged):
		return s.finishTaskAlone(ctx, t, TaskDone, "")
	case err != nil:
		return err
	}
	s.wake.notify()
	return nil
}
