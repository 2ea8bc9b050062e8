package compute

import (
	"context"
	"encoding/json"

	"github.com/gostack/gostack/internal/store"
)

// TaskKind names a persisted server operation.
type TaskKind string

// The task kinds. The API inserts the task in the transaction that sets the instance's
// task_state (and records the instance action); the conductor or the host agent runs it
// and clears the task_state when done.
const (
	// TaskBuild schedules (conductor, host '') and then spawns (host agent) a server.
	TaskBuild TaskKind = "build"
	// TaskDelete destroys the guest, frees its allocations and soft-deletes the row.
	TaskDelete        TaskKind = "delete"
	TaskStart         TaskKind = "start"
	TaskStop          TaskKind = "stop"
	TaskReboot        TaskKind = "reboot" // params: {"type": "SOFT"|"HARD"}
	TaskPause         TaskKind = "pause"
	TaskUnpause       TaskKind = "unpause"
	TaskSuspend       TaskKind = "suspend"
	TaskResume        TaskKind = "resume"
	TaskRescue        TaskKind = "rescue" // params: {"rescue_image_ref": "...", "admin_password": "..."}
	TaskUnrescue      TaskKind = "unrescue"
	TaskShelve        TaskKind = "shelve" // params: {"image_id": "..."} (snapshot for the shelved image)
	TaskShelveOffload TaskKind = "shelve_offload"
	TaskUnshelve      TaskKind = "unshelve" // conductor first (schedules), then the host
	TaskResize        TaskKind = "resize"   // conductor first (schedules), then the host; params: {"migration_id": N}
	TaskConfirmResize TaskKind = "confirm_resize"
	TaskRevertResize  TaskKind = "revert_resize"
	TaskMigrate       TaskKind = "migrate"      // cold migration: like resize to the same flavor
	TaskLiveMigrate   TaskKind = "live_migrate" // params: {"host": "...", "block_migration": ...}
	TaskRebuild       TaskKind = "rebuild"      // params: {"image_ref": "...", "preserve_ephemeral": false}
	TaskSnapshot      TaskKind = "snapshot"     // params: {"image_id": "..."}
	TaskCrashDump     TaskKind = "trigger_crash_dump"
	TaskEvacuate      TaskKind = "evacuate"
	TaskAttachVolume  TaskKind = "attach_volume" // params: {"bdm_uuid": "...", "volume_id": "..."}
	TaskDetachVolume  TaskKind = "detach_volume" // params: {"bdm_uuid": "...", "volume_id": "..."}
)

// Task states.
const (
	TaskPending = "pending"
	TaskRunning = "running"
	TaskDone    = "done"
	TaskFailed  = "failed"
)

// Task is one persisted operation on an instance.
type Task struct {
	ID           int64
	InstanceUUID string
	Kind         TaskKind
	Params       json.RawMessage
	// Host is "" while the conductor owns the task (scheduling), else the host whose
	// agent runs it.
	Host      string
	State     string
	ActionID  int64
	RequestID string
	Attempts  int
	Error     string
}

// enqueueTask inserts a pending task in tx and returns its id. The caller notifies
// s.wake after the transaction commits.
func enqueueTask(ctx context.Context, tx *store.Tx, t *Task) (int64, error) {
	id, err := nextID(ctx, tx, "tasks")
	if err != nil {
		return 0, err
	}
	params := string(t.Params)
	if params == "" {
		params = "{}"
	}
	ts := store.FormatTime(now())
	_, err = tx.ExecContext(ctx, `INSERT INTO compute_tasks (id, instance_uuid, kind, params, host, state,
		action_id, request_id, attempts, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
		id, t.InstanceUUID, string(t.Kind), params, t.Host, TaskPending, t.ActionID, t.RequestID, ts, ts)
	if err != nil {
		return 0, err
	}
	t.ID = id
	t.State = TaskPending
	return id, nil
}
