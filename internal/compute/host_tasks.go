package compute

import (
	"context"
	"errors"
	"fmt"
	"time"

	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/placement"
	"github.com/gostack/gostack/internal/store"
)

// This file is what a host agent does for each task kind: the driver calls, then the
// instance's final state, the action event and the task's end in one transaction. A
// step whose driver call fails is recorded as Nova records it: the event in Error, a
// fault on the instance, the task_state reverted (and the vm_state in ERROR where Nova
// puts it there: builds out of retries, reboots, resizes, rebuilds).

// runTask runs one task of the agent's queue.
func (a *HostAgent) runTask(ctx context.Context, t *Task) error {
	switch t.Kind {
	case TaskBuild:
		return a.build(ctx, t)
	case TaskDelete:
		return a.delete(ctx, t)
	case TaskSnapshot:
		return a.snapshot(ctx, t)
	case TaskShelve, TaskShelveOffload:
		return a.shelve(ctx, t)
	case TaskUnshelve:
		return a.unshelve(ctx, t)
	case TaskResize, TaskMigrate:
		return a.coldMove(ctx, t)
	case TaskConfirmResize:
		return a.confirmResize(ctx, t)
	case TaskRevertResize:
		return a.revertResize(ctx, t)
	case TaskLiveMigrate:
		return a.liveMigrate(ctx, t)
	case TaskEvacuate, TaskRebuild:
		return a.rebuild(ctx, t)
	case TaskAttachVolume:
		return a.attachVolumeTask(ctx, t)
	case TaskDetachVolume:
		return a.detachVolumeTask(ctx, t)
	}
	if op, ok := simpleOps[t.Kind]; ok {
		return a.simple(ctx, t, op)
	}
	return a.s.finishTaskAlone(ctx, t, TaskFailed, "unknown task kind "+string(t.Kind))
}

// loadFor loads a task's instance; ok is false (and the task finished) when it is gone
// or its task_state is none of expect (another operation overtook this one).
func (a *HostAgent) loadFor(ctx context.Context, t *Task, expect ...string) (*Instance, bool, error) {
	inst, found, err := loadInstance(ctx, a.s.db, t.InstanceUUID)
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
	return nil, false, a.s.finishTaskAlone(ctx, t, TaskDone, "")
}

// setTaskState moves an instance to an intermediate task state; ok is false when it is
// no longer in one of expect.
func (a *HostAgent) setTaskState(ctx context.Context, uuid string, expect []string, state string) (bool, error) {
	var ok bool
	err := a.s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		_, ok, err = mutateInstance(ctx, tx, uuid, expect, func(i *Instance) error { i.TaskState = state; return nil })
		return err
	})
	return ok, err
}

// failed records a failed step: the event in Error, a fault, the task_state cleared (if
// the instance is still in one of expect), the vm_state set to vmState unless it is "",
// extra applied, and the task failed.
func (a *HostAgent) failed(ctx context.Context, t *Task, uuid string, ev *event, expect []string, cause error, vmState string,
	extra func(tx *store.Tx, i *Instance) error) error {
	if ctx.Err() != nil {
		return errTaskAbandoned
	}
	a.log.Warn("operation failed", "task", t.ID, "kind", t.Kind, "instance", uuid, "err", cause)
	return a.s.db.InTx(ctx, func(tx *store.Tx) error {
		_, ok, err := mutateInstance(ctx, tx, uuid, expect, func(i *Instance) error {
			i.TaskState = ""
			if vmState != "" {
				i.VMState = vmState
			}
			if extra != nil {
				return extra(tx, i)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if ok {
			if err := addFault(ctx, tx, uuid, 500, cause.Error(), "", a.name); err != nil {
				return err
			}
		}
		if err := ev.finish(ctx, tx, cause, ""); err != nil {
			return err
		}
		return finishTask(ctx, tx, t, TaskFailed, cause.Error())
	})
}

// succeed writes an operation's result: fn applied to the instance if it is still in one
// of expect, the event's success and the task's end, plus extra writes.
func (a *HostAgent) succeed(ctx context.Context, t *Task, uuid string, ev *event, expect []string, fn func(tx *store.Tx, i *Instance) error) error {
	return a.s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, _, err := mutateInstance(ctx, tx, uuid, expect, func(i *Instance) error { return fn(tx, i) }); err != nil {
			return err
		}
		if err := ev.finish(ctx, tx, nil, ""); err != nil {
			return err
		}
		return finishTask(ctx, tx, t, TaskDone, "")
	})
}

// simpleOp is an operation that only calls the driver and sets the resulting state.
type simpleOp struct {
	event  string
	expect []string
	call   func(ctx context.Context, a *HostAgent, di *computedriver.Instance, inst *Instance, args taskArgs) error
	// vmState is the vm_state afterwards ("" keeps it); power the power state to assume
	// when the driver cannot report one; failVM the vm_state on failure ("" keeps it).
	vmState string
	power   int
	failVM  string
}

// viaOptional is a simple operation's call that uses an optional driver ability (Pauser,
// Suspender, ...), answering Nova's "not supported" when the driver lacks it.
func viaOptional[T any](op func(T, context.Context, *computedriver.Instance) error) func(context.Context, *HostAgent, *computedriver.Instance, *Instance, taskArgs) error {
	return func(ctx context.Context, a *HostAgent, di *computedriver.Instance, _ *Instance, _ taskArgs) error {
		p, err := optional[T](a.driver)
		if err != nil {
			return err
		}
		return op(p, ctx, di)
	}
}

// optional returns the driver as T, or ErrNotSupported.
func optional[T any](d computedriver.Driver) (T, error) {
	v, ok := d.(T)
	if !ok {
		return v, computedriver.ErrNotSupported
	}
	return v, nil
}

// simpleOps are the operations that are one driver call.
var simpleOps = map[TaskKind]simpleOp{
	TaskStart: {event: "compute_start_instance", expect: []string{TaskPoweringOn}, vmState: VMActive, power: PowerRunning,
		call: func(ctx context.Context, a *HostAgent, di *computedriver.Instance, _ *Instance, _ taskArgs) error {
			return a.driver.PowerOn(ctx, di)
		}},
	TaskStop: {event: "compute_stop_instance", expect: []string{TaskPoweringOff}, vmState: VMStopped, power: PowerShutdown,
		call: func(ctx context.Context, a *HostAgent, di *computedriver.Instance, _ *Instance, _ taskArgs) error {
			return a.driver.PowerOff(ctx, di, 60*time.Second)
		}},
	TaskReboot: {event: "compute_reboot_instance", expect: []string{TaskRebooting, TaskRebootPending, TaskRebootStarted,
		TaskRebootingHard, TaskRebootPendingHard, TaskRebootStartedHard}, vmState: VMActive, power: PowerRunning, failVM: VMError,
		call: func(ctx context.Context, a *HostAgent, di *computedriver.Instance, inst *Instance, args taskArgs) error {
			hard := args.Type == "HARD" || inst.TaskState == TaskRebootingHard || inst.TaskState == TaskRebootPendingHard
			return a.driver.Reboot(ctx, di, hard)
		}},
	TaskPause: {event: "compute_pause_instance", expect: []string{TaskPausing}, vmState: VMPaused, power: PowerPaused,
		call: viaOptional(computedriver.Pauser.Pause)},
	TaskUnpause: {event: "compute_unpause_instance", expect: []string{TaskUnpausing}, vmState: VMActive, power: PowerRunning,
		call: viaOptional(computedriver.Pauser.Unpause)},
	TaskSuspend: {event: "compute_suspend_instance", expect: []string{TaskSuspending}, vmState: VMSuspended, power: PowerSuspended,
		call: viaOptional(computedriver.Suspender.Suspend)},
	TaskResume: {event: "compute_resume_instance", expect: []string{TaskResuming}, vmState: VMActive, power: PowerRunning,
		call: viaOptional(computedriver.Suspender.Resume)},
	TaskRescue: {event: "compute_rescue_instance", expect: []string{TaskRescuing}, vmState: VMRescued, power: PowerRunning,
		call: func(ctx context.Context, a *HostAgent, di *computedriver.Instance, inst *Instance, args taskArgs) error {
			p, err := optional[computedriver.Rescuer](a.driver)
			if err != nil {
				return err
			}
			ref := args.RescueImageRef
			if ref == "" {
				ref = inst.ImageRef
			}
			var img *computedriver.Image
			if ref != "" {
				img = a.s.driverImage(inst, ref)
			}
			return p.Rescue(ctx, di, img)
		}},
	TaskUnrescue: {event: "compute_unrescue_instance", expect: []string{TaskUnrescuing}, vmState: VMActive, power: PowerRunning,
		call: viaOptional(computedriver.Rescuer.Unrescue)},
	TaskCrashDump: {event: "compute_trigger_crash_dump", expect: []string{""}, power: PowerRunning,
		call: viaOptional(computedriver.CrashDumper.TriggerCrashDump)},
}

// simple runs a one-call operation.
func (a *HostAgent) simple(ctx context.Context, t *Task, op simpleOp) error {
	inst, ok, err := a.loadFor(ctx, t, op.expect...)
	if !ok {
		return err
	}
	var args taskArgs
	_ = taskParams(t, &args)
	ev, err := a.s.beginEvent(ctx, t, op.event, a.name)
	if err != nil {
		return err
	}
	di, err := a.s.driverInstance(ctx, inst, inst.Flavor)
	if err != nil {
		return err
	}
	if err := op.call(ctx, a, di, inst, args); err != nil {
		return a.failed(ctx, t, inst.UUID, ev, op.expect, err, op.failVM, nil)
	}
	power := a.powerOf(ctx, di, op.power)
	return a.succeed(ctx, t, inst.UUID, ev, op.expect, func(_ *store.Tx, i *Instance) error {
		if op.vmState != "" {
			i.VMState = op.vmState
		}
		i.TaskState, i.PowerState = "", power
		return nil
	})
}

// build spawns a scheduled server. A failure is rescheduled to another host (this one
// added to the hosts to ignore) until [scheduler] max_attempts hosts have failed, as
// Nova's RescheduledException does, and the server then goes to ERROR.
func (a *HostAgent) build(ctx context.Context, t *Task) error {
	inst, ok, err := a.loadFor(ctx, t, TaskSpawning)
	if !ok {
		return err
	}
	ev, err := a.s.beginEvent(ctx, t, "compute__do_build_and_run_instance", a.name)
	if err != nil {
		return err
	}
	di, err := a.s.driverInstance(ctx, inst, inst.Flavor)
	if err != nil {
		return err
	}
	if err := a.driver.Spawn(ctx, di); err != nil {
		if ctx.Err() != nil {
			return errTaskAbandoned
		}
		return a.buildFailed(ctx, t, inst, di, ev, err)
	}
	power := a.powerOf(ctx, di, PowerRunning)
	return a.succeed(ctx, t, inst.UUID, ev, []string{TaskSpawning}, func(_ *store.Tx, i *Instance) error {
		i.VMState, i.TaskState, i.PowerState = VMActive, "", power
		if i.RootDeviceName == nil {
			// The root disk is the first virtio disk, as Nova's libvirt driver names it.
			root := "/dev/vda"
			i.RootDeviceName = &root
		}
		if i.LaunchedAt == nil {
			ts := now()
			i.LaunchedAt = &ts
		}
		return nil
	})
}

// buildFailed cleans up a failed spawn and reschedules the build or, out of attempts,
// puts the server in ERROR. Either way the instance leaves this host with no allocation.
func (a *HostAgent) buildFailed(ctx context.Context, t *Task, inst *Instance, di *computedriver.Instance, ev *event, cause error) error {
	a.log.Warn("build failed", "instance", inst.UUID, "err", cause)
	if err := a.driver.Destroy(ctx, di); err != nil && ctx.Err() == nil {
		a.log.Warn("clean up failed build", "instance", inst.UUID, "err", err)
	}
	tried := append(append([]string(nil), inst.Request.IgnoreHosts...), a.name)
	reschedule := len(tried) < a.s.maxAttempts()
	err := a.s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := a.s.deps.Placement.DeleteAllocations(ctx, tx, inst.UUID); err != nil {
			return err
		}
		_, ok, err := mutateInstance(ctx, tx, inst.UUID, []string{TaskSpawning}, func(i *Instance) error {
			i.Host, i.Node = nil, nil
			i.Request.IgnoreHosts = tried
			if reschedule {
				i.TaskState = TaskScheduling
			} else {
				i.VMState, i.TaskState, i.PowerState = VMError, "", PowerNoState
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := ev.finish(ctx, tx, cause, ""); err != nil {
			return err
		}
		if !ok {
			return finishTask(ctx, tx, t, TaskDone, "")
		}
		if reschedule {
			if _, err := tx.ExecContext(ctx, `UPDATE compute_tasks SET error = ? WHERE id = ?`, cause.Error(), t.ID); err != nil {
				return err
			}
			return forwardTask(ctx, tx, t, "", nil)
		}
		msg := "Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures for instance " +
			inst.UUID + "."
		if err := addFault(ctx, tx, inst.UUID, 500, msg, cause.Error(), a.name); err != nil {
			return err
		}
		return finishTask(ctx, tx, t, TaskFailed, cause.Error())
	})
	if err != nil {
		return err
	}
	a.s.wake.notify()
	return nil
}

// delete destroys the guest and soft-deletes the instance.
func (a *HostAgent) delete(ctx context.Context, t *Task) error {
	inst, found, err := loadInstance(ctx, a.s.db, t.InstanceUUID)
	if err != nil {
		return err
	}
	if !found || inst.Deleted {
		return a.s.finishTaskAlone(ctx, t, TaskDone, "")
	}
	if h := deref(inst.Host); h != a.name {
		// The instance moved (or never arrived): its current host, or the conductor, deletes it.
		return a.s.forward(ctx, t, h, nil)
	}
	ev, err := a.s.beginEvent(ctx, t, "compute_terminate_instance", a.name)
	if err != nil {
		return err
	}
	di, err := a.s.driverInstance(ctx, inst, inst.Flavor)
	if err != nil {
		return err
	}
	if err := a.driver.Destroy(ctx, di); err != nil {
		return a.failed(ctx, t, inst.UUID, ev, nil, err, VMError, nil)
	}
	return a.s.completeDelete(ctx, t, inst, ev, a.name)
}

// snapshot captures the instance into the image the API created (params image_id) and
// uploads it; a failure deletes that image.
func (a *HostAgent) snapshot(ctx context.Context, t *Task) error {
	states := []string{TaskImageSnapshot, TaskImageSnapshotPending, TaskImagePendingUpload, TaskImageUploading, TaskImageBackup}
	inst, ok, err := a.loadFor(ctx, t, states...)
	if !ok {
		return err
	}
	var args taskArgs
	_ = taskParams(t, &args)
	ev, err := a.s.beginEvent(ctx, t, "compute_snapshot_instance", a.name)
	if err != nil {
		return err
	}
	err = a.upload(ctx, inst, args.ImageID, states, TaskImagePendingUpload, TaskImageUploading)
	if err != nil {
		if ctx.Err() != nil {
			return errTaskAbandoned
		}
		if a.s.deps.Images != nil && args.ImageID != "" {
			_ = a.s.deps.Images.DeleteImage(ctx, args.ImageID)
		}
		return a.failed(ctx, t, inst.UUID, ev, states, err, "", nil)
	}
	if args.BackupType != "" && args.Rotation != nil {
		a.rotateBackups(ctx, inst.UUID, args.BackupType, *args.Rotation)
	}
	return a.succeed(ctx, t, inst.UUID, ev, states, func(_ *store.Tx, i *Instance) error {
		i.TaskState = ""
		return nil
	})
}

// rotateBackups deletes a server's oldest backups of a type beyond the newest rotation,
// as Nova's _rotate_backups; a failure is logged, the backup itself stands.
func (a *HostAgent) rotateBackups(ctx context.Context, instanceUUID, backupType string, rotation int64) {
	if a.s.deps.Images == nil {
		return
	}
	ids, err := a.s.deps.Images.ImagesWithProperties(ctx, map[string]string{
		"image_type": "backup", "backup_type": backupType, "instance_uuid": instanceUUID})
	if err != nil {
		a.s.log.Warn("list backups for rotation", "instance", instanceUUID, "err", err)
		return
	}
	for len(ids) > int(rotation) {
		if err := a.s.deps.Images.DeleteImage(ctx, ids[0]); err != nil && !errors.Is(err, ErrImageNotFound) {
			a.s.log.Warn("rotate backup", "instance", instanceUUID, "image", ids[0], "err", err)
		}
		ids = ids[1:]
	}
}

// upload snapshots the instance through the driver into image id, moving the task state
// through pending and uploading.
func (a *HostAgent) upload(ctx context.Context, inst *Instance, id string, expect []string, pending, uploading string) error {
	sn, err := optional[computedriver.Snapshotter](a.driver)
	if err != nil {
		return err
	}
	if a.s.deps.Images == nil || id == "" {
		return errors.New("no image to upload the snapshot to")
	}
	if _, err := a.setTaskState(ctx, inst.UUID, expect, pending); err != nil {
		return err
	}
	di, err := a.s.driverInstance(ctx, inst, inst.Flavor)
	if err != nil {
		return err
	}
	snap, err := sn.Snapshot(ctx, di)
	if err != nil {
		return err
	}
	defer snap.Data.Close()
	if _, err := a.setTaskState(ctx, inst.UUID, expect, uploading); err != nil {
		return err
	}
	if err := a.s.deps.Images.UploadImage(ctx, id, snap.DiskFormat, snap.ContainerFormat, snap.Data); err != nil {
		return fmt.Errorf("upload snapshot: %w", err)
	}
	return nil
}

// shelve powers the instance off, snapshots it (params image_id; none for a server
// booted from a volume) and, as Nova with shelved_offload_time = 0, offloads it at once:
// the guest is destroyed, its allocations freed and it leaves the host. A shelve_offload
// task does only the last part.
func (a *HostAgent) shelve(ctx context.Context, t *Task) error {
	shelving := []string{TaskShelving, TaskShelvingImagePendingUpload, TaskShelvingImageUploading}
	expect := append(append([]string(nil), shelving...), TaskShelvingOffloading)
	inst, ok, err := a.loadFor(ctx, t, expect...)
	if !ok {
		return err
	}
	var args taskArgs
	_ = taskParams(t, &args)
	di, err := a.s.driverInstance(ctx, inst, inst.Flavor)
	if err != nil {
		return err
	}
	if t.Kind == TaskShelve && inst.TaskState != TaskShelvingOffloading {
		ev, err := a.s.beginEvent(ctx, t, "compute_shelve_instance", a.name)
		if err != nil {
			return err
		}
		err = a.driver.PowerOff(ctx, di, 60*time.Second)
		if err == nil && args.ImageID != "" {
			err = a.upload(ctx, inst, args.ImageID, shelving, TaskShelvingImagePendingUpload, TaskShelvingImageUploading)
		}
		if err != nil {
			if ctx.Err() != nil {
				return errTaskAbandoned
			}
			if a.s.deps.Images != nil && args.ImageID != "" {
				_ = a.s.deps.Images.DeleteImage(ctx, args.ImageID)
			}
			return a.failed(ctx, t, inst.UUID, ev, shelving, err, "", nil)
		}
		err = a.s.db.InTx(ctx, func(tx *store.Tx) error {
			_, ok, err := mutateInstance(ctx, tx, inst.UUID, shelving, func(i *Instance) error {
				i.VMState, i.TaskState, i.PowerState = VMShelved, TaskShelvingOffloading, PowerShutdown
				if i.SystemMetadata == nil {
					i.SystemMetadata = map[string]string{}
				}
				i.SystemMetadata["shelved_at"] = now().Format(time.RFC3339Nano)
				i.SystemMetadata["shelved_image_id"] = args.ImageID
				i.SystemMetadata["shelved_host"] = a.name
				return nil
			})
			if err != nil {
				return err
			}
			if !ok {
				return finishTask(ctx, tx, t, TaskDone, "")
			}
			return ev.finish(ctx, tx, nil, "")
		})
		if err != nil {
			return err
		}
	}
	var ev *event
	if t.Kind == TaskShelveOffload {
		if ev, err = a.s.beginEvent(ctx, t, "compute_shelve_offload_instance", a.name); err != nil {
			return err
		}
	}
	if err := a.driver.Destroy(ctx, di); err != nil {
		return a.failed(ctx, t, inst.UUID, ev, []string{TaskShelvingOffloading}, err, "", nil)
	}
	return a.succeed(ctx, t, inst.UUID, ev, []string{TaskShelvingOffloading}, func(tx *store.Tx, i *Instance) error {
		if err := a.s.deps.Placement.DeleteAllocations(ctx, tx, i.UUID); err != nil {
			return err
		}
		i.VMState, i.TaskState, i.PowerState = VMShelvedOffloaded, "", PowerShutdown
		i.Host, i.Node = nil, nil
		return nil
	})
}

// unshelve spawns a shelved instance from its shelved image on the host the conductor
// chose and deletes that image, as Nova does.
func (a *HostAgent) unshelve(ctx context.Context, t *Task) error {
	inst, ok, err := a.loadFor(ctx, t, TaskUnshelving, TaskSpawning)
	if !ok {
		return err
	}
	ev, err := a.s.beginEvent(ctx, t, "compute_unshelve_instance", a.name)
	if err != nil {
		return err
	}
	if _, err := a.setTaskState(ctx, inst.UUID, []string{TaskUnshelving}, TaskSpawning); err != nil {
		return err
	}
	di, err := a.s.driverInstance(ctx, inst, inst.Flavor)
	if err != nil {
		return err
	}
	shelved := inst.SystemMetadata["shelved_image_id"]
	if shelved != "" {
		di.Image = a.s.driverImage(inst, shelved)
	}
	if inst.VMState == VMShelved {
		err = a.driver.PowerOn(ctx, di)
	} else {
		err = a.driver.Spawn(ctx, di)
	}
	if err != nil {
		return a.failed(ctx, t, inst.UUID, ev, []string{TaskSpawning, TaskUnshelving}, err, "", func(tx *store.Tx, i *Instance) error {
			if i.VMState == VMShelvedOffloaded {
				i.Host, i.Node = nil, nil
				return a.s.deps.Placement.DeleteAllocations(ctx, tx, i.UUID)
			}
			return nil
		})
	}
	power := a.powerOf(ctx, di, PowerRunning)
	err = a.succeed(ctx, t, inst.UUID, ev, []string{TaskSpawning, TaskUnshelving}, func(_ *store.Tx, i *Instance) error {
		i.VMState, i.TaskState, i.PowerState = VMActive, "", power
		for _, k := range []string{"shelved_at", "shelved_image_id", "shelved_host"} {
			delete(i.SystemMetadata, k)
		}
		return nil
	})
	if err == nil && shelved != "" && a.s.deps.Images != nil {
		if err := a.s.deps.Images.DeleteImage(ctx, shelved); err != nil && !errors.Is(err, ErrImageNotFound) {
			a.log.Warn("delete shelved image", "instance", inst.UUID, "image", shelved, "err", err)
		}
	}
	return err
}

// taskMigration loads the migration a move task carries.
func (a *HostAgent) taskMigration(ctx context.Context, t *Task) (*migration, taskArgs, error) {
	var args taskArgs
	if err := taskParams(t, &args); err != nil {
		return nil, args, err
	}
	if args.MigrationID == 0 {
		return nil, args, errors.New("move task without a migration")
	}
	m, err := loadMigration(ctx, a.s.db, args.MigrationID)
	return m, args, err
}

// revertMoveAllocations gives the instance back the allocations its migration holds
// (the source host's) and frees the destination's, inside tx.
func (s *Service) revertMoveAllocations(ctx context.Context, tx *store.Tx, inst *Instance, m *migration) error {
	held, err := s.deps.Placement.ConsumerAllocations(ctx, tx, m.UUID)
	if err != nil {
		return err
	}
	if len(held.Allocations) == 0 {
		return nil
	}
	return s.deps.Placement.WriteAllocations(ctx, tx, []placement.ConsumerAllocations{
		{Consumer: inst.UUID, ProjectID: inst.ProjectID, UserID: inst.UserID, ConsumerType: placement.ConsumerTypeInstance,
			Allocations: held.Allocations},
		{Consumer: m.UUID, ProjectID: inst.ProjectID, UserID: inst.UserID, Allocations: nil},
	})
}

// coldMove runs a resize or cold migration: on the source (stage "source") the guest is
// resized in place, or migrated out and the task handed to the destination (stage
// "dest"), which brings it in; both end with the instance in VERIFY_RESIZE.
func (a *HostAgent) coldMove(ctx context.Context, t *Task) error {
	m, args, err := a.taskMigration(ctx, t)
	if err != nil {
		return a.s.finishTaskAlone(ctx, t, TaskFailed, err.Error())
	}
	if args.Stage == "dest" {
		return a.finishColdMove(ctx, t, m, args)
	}
	inst, ok, err := a.loadFor(ctx, t, TaskResizePrep, TaskResizeMigrating)
	if !ok {
		return err
	}
	prep, err := a.s.beginEvent(ctx, t, "compute_prep_resize", a.name)
	if err != nil {
		return err
	}
	ev, err := a.s.beginEvent(ctx, t, "compute_resize_instance", a.name)
	if err != nil {
		return err
	}
	err = a.s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, _, err := mutateInstance(ctx, tx, inst.UUID, []string{TaskResizePrep}, func(i *Instance) error {
			i.TaskState = TaskResizeMigrating
			if i.SystemMetadata == nil {
				i.SystemMetadata = map[string]string{}
			}
			i.SystemMetadata["old_vm_state"] = args.OldVMState
			return nil
		}); err != nil {
			return err
		}
		if err := prep.finish(ctx, tx, nil, ""); err != nil {
			return err
		}
		return setMigrationStatus(ctx, tx, m.ID, "migrating")
	})
	if err != nil {
		return err
	}
	newFlavor := inst.Flavor
	if inst.NewFlavor != nil {
		newFlavor = *inst.NewFlavor
	}
	di, err := a.s.driverInstance(ctx, inst, inst.Flavor)
	if err != nil {
		return err
	}
	moving := []string{TaskResizePrep, TaskResizeMigrating}
	if m.DestCompute == a.name {
		r, err := optional[computedriver.Resizer](a.driver)
		if err == nil {
			err = r.Resize(ctx, di, driverFlavor(newFlavor))
		}
		if err != nil {
			return a.moveStepFailed(ctx, t, inst, m, ev, moving, err, true)
		}
		return a.completeColdMove(ctx, t, inst.UUID, m, ev, di, newFlavor, args.OldVMState, moving)
	}
	mg, err := optional[computedriver.Migrator](a.driver)
	if err == nil {
		err = mg.MigrateOut(ctx, di, m.DestCompute)
	}
	if err != nil {
		return a.moveStepFailed(ctx, t, inst, m, ev, moving, err, true)
	}
	err = a.s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, _, err := mutateInstance(ctx, tx, inst.UUID, moving, func(i *Instance) error {
			host, node := m.DestCompute, m.DestNode
			i.TaskState, i.Host, i.Node = TaskResizeMigrated, &host, &node
			return nil
		}); err != nil {
			return err
		}
		if err := setMigrationStatus(ctx, tx, m.ID, "post-migrating"); err != nil {
			return err
		}
		if err := ev.finish(ctx, tx, nil, ""); err != nil {
			return err
		}
		return forwardTask(ctx, tx, t, m.DestCompute, withArgs(t, map[string]any{"stage": "dest"}))
	})
	if err != nil {
		return err
	}
	a.s.wake.notify()
	return nil
}

// finishColdMove brings a migrated guest in on the destination.
func (a *HostAgent) finishColdMove(ctx context.Context, t *Task, m *migration, args taskArgs) error {
	inst, ok, err := a.loadFor(ctx, t, TaskResizeMigrated, TaskResizeFinish)
	if !ok {
		return err
	}
	ev, err := a.s.beginEvent(ctx, t, "compute_finish_resize", a.name)
	if err != nil {
		return err
	}
	if _, err := a.setTaskState(ctx, inst.UUID, []string{TaskResizeMigrated}, TaskResizeFinish); err != nil {
		return err
	}
	newFlavor := inst.Flavor
	if inst.NewFlavor != nil {
		newFlavor = *inst.NewFlavor
	}
	di, err := a.s.driverInstance(ctx, inst, newFlavor)
	if err != nil {
		return err
	}
	finishing := []string{TaskResizeMigrated, TaskResizeFinish}
	mg, err := optional[computedriver.Migrator](a.driver)
	if err == nil {
		err = mg.MigrateIn(ctx, di, m.SourceCompute)
	}
	if err != nil {
		return a.moveStepFailed(ctx, t, inst, m, ev, finishing, err, false)
	}
	return a.completeColdMove(ctx, t, inst.UUID, m, ev, di, newFlavor, args.OldVMState, finishing)
}

// completeColdMove records a finished resize or migration: VERIFY_RESIZE with the new
// flavor (the old one kept for revert), stopped again if it was stopped.
func (a *HostAgent) completeColdMove(ctx context.Context, t *Task, uuid string, m *migration, ev *event, di *computedriver.Instance,
	newFlavor FlavorSnapshot, oldVMState string, expect []string) error {
	if oldVMState == VMStopped {
		if err := a.driver.PowerOff(ctx, di, 0); err != nil && ctx.Err() == nil {
			a.log.Warn("power off resized instance", "instance", uuid, "err", err)
		}
	}
	power := a.powerOf(ctx, di, PowerRunning)
	return a.succeed(ctx, t, uuid, ev, expect, func(tx *store.Tx, i *Instance) error {
		old := i.Flavor
		nf := newFlavor
		i.OldFlavor, i.Flavor, i.NewFlavor = &old, newFlavor, &nf
		i.VMState, i.TaskState, i.PowerState = VMResized, "", power
		host, node := m.DestCompute, m.DestNode
		i.Host, i.Node = &host, &node
		return setMigrationStatus(ctx, tx, m.ID, "finished")
	})
}

// moveStepFailed records a failed move step. Before the guest left the source
// (beforeMove) the instance keeps its state and gets its allocation back; after, it is
// in ERROR as Nova leaves it.
func (a *HostAgent) moveStepFailed(ctx context.Context, t *Task, inst *Instance, m *migration, ev *event, expect []string, cause error, beforeMove bool) error {
	vm := VMError
	if beforeMove {
		vm = ""
	}
	return a.failed(ctx, t, inst.UUID, ev, expect, cause, vm, func(tx *store.Tx, i *Instance) error {
		if err := setMigrationStatus(ctx, tx, m.ID, "error"); err != nil {
			return err
		}
		if beforeMove {
			i.NewFlavor = nil
			return a.s.revertMoveAllocations(ctx, tx, i, m)
		}
		return nil
	})
}

// resizeMigration returns the instance's latest migration in one of the statuses.
func (s *Service) resizeMigration(ctx context.Context, uuid string, statuses ...string) (*migration, error) {
	var id int64
	q := `SELECT id FROM compute_migrations WHERE instance_uuid = ? AND status IN (`
	args := []any{uuid}
	for i, st := range statuses {
		if i > 0 {
			q += ", "
		}
		q += "?"
		args = append(args, st)
	}
	q += `) ORDER BY id DESC LIMIT 1`
	if err := s.db.QueryRowContext(ctx, q, args...).Scan(&id); err != nil {
		return nil, err
	}
	return loadMigration(ctx, s.db, id)
}

// confirmResize drops what a revert would need (on the source host, where the old guest
// is kept, for a migration between hosts) and frees the migration's allocation.
func (a *HostAgent) confirmResize(ctx context.Context, t *Task) error {
	inst, ok, err := a.loadFor(ctx, t, "", TaskResizeConfirming)
	if !ok {
		return err
	}
	m, err := a.s.resizeMigration(ctx, inst.UUID, "finished", "confirming")
	if store.IsNoRows(err) {
		return a.s.finishTaskAlone(ctx, t, TaskFailed, "no resize to confirm")
	}
	if err != nil {
		return err
	}
	var args taskArgs
	_ = taskParams(t, &args)
	if args.Stage == "" && m.SourceCompute != a.name {
		return a.s.forward(ctx, t, m.SourceCompute, withArgs(t, map[string]any{"stage": "source"}))
	}
	ev, err := a.s.beginEvent(ctx, t, "compute_confirm_resize", a.name)
	if err != nil {
		return err
	}
	di, err := a.s.driverInstance(ctx, inst, inst.Flavor)
	if err != nil {
		return err
	}
	r, err := optional[computedriver.Resizer](a.driver)
	if err == nil {
		err = r.ConfirmResize(ctx, di)
	}
	if err != nil {
		return a.failed(ctx, t, inst.UUID, ev, []string{"", TaskResizeConfirming}, err, "", nil)
	}
	return a.succeed(ctx, t, inst.UUID, ev, []string{"", TaskResizeConfirming}, func(tx *store.Tx, i *Instance) error {
		if err := a.s.deps.Placement.DeleteAllocations(ctx, tx, m.UUID); err != nil {
			return err
		}
		i.OldFlavor, i.NewFlavor, i.TaskState = nil, nil, ""
		i.VMState = VMActive
		if i.PowerState == PowerShutdown {
			i.VMState = VMStopped
		}
		delete(i.SystemMetadata, "old_vm_state")
		return setMigrationStatus(ctx, tx, m.ID, "confirmed")
	})
}

// revertResize undoes a resize: the destination drops the new guest (stage "" on the
// destination), the source restores the old one (stage "source"; the same host does
// both for a resize in place), and the instance gets its old flavor and allocation back.
func (a *HostAgent) revertResize(ctx context.Context, t *Task) error {
	inst, ok, err := a.loadFor(ctx, t, TaskResizeReverting)
	if !ok {
		return err
	}
	m, err := a.s.resizeMigration(ctx, inst.UUID, "finished", "reverting")
	if store.IsNoRows(err) {
		return a.failed(ctx, t, inst.UUID, nil, []string{TaskResizeReverting}, errors.New("no resize to revert"), "", nil)
	}
	if err != nil {
		return err
	}
	var args taskArgs
	_ = taskParams(t, &args)
	expect := []string{TaskResizeReverting}
	old := inst.Flavor
	if inst.OldFlavor != nil {
		old = *inst.OldFlavor
	}
	if args.Stage == "" && m.SourceCompute != m.DestCompute {
		ev, err := a.s.beginEvent(ctx, t, "compute_revert_resize", a.name)
		if err != nil {
			return err
		}
		di, err := a.s.driverInstance(ctx, inst, inst.Flavor)
		if err != nil {
			return err
		}
		if err := a.driver.Destroy(ctx, di); err != nil {
			return a.failed(ctx, t, inst.UUID, ev, expect, err, VMError, nil)
		}
		err = a.s.db.InTx(ctx, func(tx *store.Tx) error {
			if _, _, err := mutateInstance(ctx, tx, inst.UUID, expect, func(i *Instance) error {
				host, node := m.SourceCompute, m.SourceNode
				i.Host, i.Node = &host, &node
				return nil
			}); err != nil {
				return err
			}
			if err := setMigrationStatus(ctx, tx, m.ID, "reverting"); err != nil {
				return err
			}
			if err := ev.finish(ctx, tx, nil, ""); err != nil {
				return err
			}
			return forwardTask(ctx, tx, t, m.SourceCompute, withArgs(t, map[string]any{"stage": "source"}))
		})
		if err != nil {
			return err
		}
		a.s.wake.notify()
		return nil
	}
	ev, err := a.s.beginEvent(ctx, t, "compute_finish_revert_resize", a.name)
	if err != nil {
		return err
	}
	di, err := a.s.driverInstance(ctx, inst, old)
	if err != nil {
		return err
	}
	r, err := optional[computedriver.Resizer](a.driver)
	if err == nil {
		err = r.RevertResize(ctx, di, driverFlavor(old))
	}
	if err == nil && inst.SystemMetadata["old_vm_state"] != VMStopped {
		err = a.driver.PowerOn(ctx, di)
	}
	if err != nil {
		return a.failed(ctx, t, inst.UUID, ev, expect, err, VMError, nil)
	}
	power := a.powerOf(ctx, di, PowerRunning)
	return a.succeed(ctx, t, inst.UUID, ev, expect, func(tx *store.Tx, i *Instance) error {
		if err := a.s.revertMoveAllocations(ctx, tx, i, m); err != nil {
			return err
		}
		i.Flavor, i.OldFlavor, i.NewFlavor = old, nil, nil
		host, node := m.SourceCompute, m.SourceNode
		i.Host, i.Node = &host, &node
		i.VMState, i.TaskState, i.PowerState = VMActive, "", power
		if i.SystemMetadata["old_vm_state"] == VMStopped {
			i.VMState = VMStopped
		}
		delete(i.SystemMetadata, "old_vm_state")
		return setMigrationStatus(ctx, tx, m.ID, "reverted")
	})
}

// liveMigrate moves a running guest: the source sends it (stage "source"), the
// destination adopts it (stage "dest") and the instance's host changes; the source's
// allocation (held by the migration) is freed.
func (a *HostAgent) liveMigrate(ctx context.Context, t *Task) error {
	m, args, err := a.taskMigration(ctx, t)
	if err != nil {
		return a.s.finishTaskAlone(ctx, t, TaskFailed, err.Error())
	}
	inst, ok, err := a.loadFor(ctx, t, TaskMigrating)
	if !ok {
		return err
	}
	expect := []string{TaskMigrating}
	if args.Stage != "dest" {
		ev, err := a.s.beginEvent(ctx, t, "compute_live_migration", a.name)
		if err != nil {
			return err
		}
		if err := a.s.db.InTx(ctx, func(tx *store.Tx) error { return setMigrationStatus(ctx, tx, m.ID, "running") }); err != nil {
			return err
		}
		di, err := a.s.driverInstance(ctx, inst, inst.Flavor)
		if err != nil {
			return err
		}
		mg, cause := optional[computedriver.Migrator](a.driver)
		if cause == nil {
			cause = mg.LiveMigrate(ctx, di, m.DestCompute)
		}
		if cause != nil {
			if ctx.Err() != nil {
				return errTaskAbandoned
			}
			// Nova's _rollback_live_migration: the instance stays where it was, active.
			return a.s.db.InTx(ctx, func(tx *store.Tx) error {
				if _, _, err := mutateInstance(ctx, tx, inst.UUID, expect, func(i *Instance) error {
					i.TaskState = ""
					return a.s.revertMoveAllocations(ctx, tx, i, m)
				}); err != nil {
					return err
				}
				if err := setMigrationStatus(ctx, tx, m.ID, "error"); err != nil {
					return err
				}
				if err := ev.finish(ctx, tx, cause, ""); err != nil {
					return err
				}
				return finishTask(ctx, tx, t, TaskFailed, cause.Error())
			})
		}
		err = a.s.db.InTx(ctx, func(tx *store.Tx) error {
			if err := ev.finish(ctx, tx, nil, ""); err != nil {
				return err
			}
			return forwardTask(ctx, tx, t, m.DestCompute, withArgs(t, map[string]any{"stage": "dest"}))
		})
		if err != nil {
			return err
		}
		a.s.wake.notify()
		return nil
	}
	ev, err := a.s.beginEvent(ctx, t, "compute_post_live_migration_at_destination", a.name)
	if err != nil {
		return err
	}
	di, err := a.s.driverInstance(ctx, inst, inst.Flavor)
	if err != nil {
		return err
	}
	mg, err := optional[computedriver.Migrator](a.driver)
	if err == nil {
		err = mg.MigrateIn(ctx, di, m.SourceCompute)
	}
	if err != nil {
		return a.failed(ctx, t, inst.UUID, ev, expect, err, VMError, func(tx *store.Tx, i *Instance) error {
			return setMigrationStatus(ctx, tx, m.ID, "error")
		})
	}
	power := a.powerOf(ctx, di, PowerRunning)
	return a.succeed(ctx, t, inst.UUID, ev, expect, func(tx *store.Tx, i *Instance) error {
		if err := a.s.deps.Placement.DeleteAllocations(ctx, tx, m.UUID); err != nil {
			return err
		}
		host, node := m.DestCompute, m.DestNode
		i.Host, i.Node, i.TaskState, i.PowerState = &host, &node, "", power
		return setMigrationStatus(ctx, tx, m.ID, "completed")
	})
}

// rebuild reinstalls an instance from an image (a rebuild on its host, params
// image_ref), or spawns an evacuated one on its new host. A stopped instance stays
// stopped, as in Nova.
func (a *HostAgent) rebuild(ctx context.Context, t *Task) error {
	expect := []string{TaskRebuilding, TaskRebuildBlockDeviceMapping, TaskRebuildSpawning}
	inst, ok, err := a.loadFor(ctx, t, expect...)
	if !ok {
		return err
	}
	var args taskArgs
	_ = taskParams(t, &args)
	var m *migration
	if t.Kind == TaskEvacuate {
		if m, args, err = a.taskMigration(ctx, t); err != nil {
			return a.s.finishTaskAlone(ctx, t, TaskFailed, err.Error())
		}
	}
	ev, err := a.s.beginEvent(ctx, t, "compute_rebuild_instance", a.name)
	if err != nil {
		return err
	}
	if _, err := a.setTaskState(ctx, inst.UUID, expect, TaskRebuildSpawning); err != nil {
		return err
	}
	if args.ImageRef != "" {
		inst.ImageRef = args.ImageRef
	}
	di, err := a.s.driverInstance(ctx, inst, inst.Flavor)
	if err != nil {
		return err
	}
	if t.Kind == TaskEvacuate {
		err = a.driver.Spawn(ctx, di)
	} else if rb, ok := a.driver.(computedriver.Rebuilder); ok {
		err = rb.Rebuild(ctx, di)
	} else if err = a.driver.Destroy(ctx, di); err == nil {
		err = a.driver.Spawn(ctx, di)
	}
	wasStopped := inst.VMState == VMStopped || (args.OldVMState == VMStopped)
	if err == nil && wasStopped {
		err = a.driver.PowerOff(ctx, di, 0)
	}
	if err != nil {
		return a.failed(ctx, t, inst.UUID, ev, expect, err, VMError, func(tx *store.Tx, i *Instance) error {
			if m != nil {
				return setMigrationStatus(ctx, tx, m.ID, "failed")
			}
			return nil
		})
	}
	power := a.powerOf(ctx, di, PowerRunning)
	return a.succeed(ctx, t, inst.UUID, ev, expect, func(tx *store.Tx, i *Instance) error {
		if m != nil {
			// The source host is down: its allocation (held by the migration) is freed now
			// rather than when it comes back.
			if err := a.s.deps.Placement.DeleteAllocations(ctx, tx, m.UUID); err != nil {
				return err
			}
			if err := setMigrationStatus(ctx, tx, m.ID, "done"); err != nil {
				return err
			}
			host, node := a.name, m.DestNode
			i.Host, i.Node = &host, &node
		}
		i.ImageRef = inst.ImageRef
		i.VMState, i.TaskState, i.PowerState = VMActive, "", power
		if wasStopped {
			i.VMState = VMStopped
		}
		if i.LaunchedAt == nil {
			ts := now()
			i.LaunchedAt = &ts
		}
		return nil
	})
}
