package compute

import (
	"context"

	"github.com/gostack/gostack/internal/store"
)

// Instance action names (nova/compute/instance_actions.py).
const (
	ActionCreate           = "create"
	ActionDelete           = "delete"
	ActionRestore          = "restore"
	ActionPush             = "push"
	ActionStop             = "stop"
	ActionStart            = "start"
	ActionReboot           = "reboot"
	ActionRebuild          = "rebuild"
	ActionRevertResize     = "revertResize"
	ActionConfirmResize    = "confirmResize"
	ActionResize           = "resize"
	ActionMigrate          = "migrate"
	ActionPause            = "pause"
	ActionUnpause          = "unpause"
	ActionSuspend          = "suspend"
	ActionResume           = "resume"
	ActionRescue           = "rescue"
	ActionUnrescue         = "unrescue"
	ActionChangePassword   = "changePassword"
	ActionShelve           = "shelve"
	ActionShelveOffload    = "shelveOffload"
	ActionUnshelve         = "unshelve"
	ActionLiveMigration    = "live-migration"
	ActionLock             = "lock"
	ActionUnlock           = "unlock"
	ActionBackup           = "createBackup"
	ActionCreateImage      = "createImage"
	ActionResetState       = "resetState"
	ActionAttachInterface  = "attach_interface"
	ActionDetachInterface  = "detach_interface"
	ActionAttachVolume     = "attach_volume"
	ActionDetachVolume     = "detach_volume"
	ActionTriggerCrashDump = "trigger_crash_dump"
	ActionEvacuate         = "evacuate"
	ActionAddFixedIP       = "addFixedIp"
	ActionRemoveFixedIP    = "removeFixedIp"
)

// startAction records an instance action for a request (os-instance-actions) and returns
// its id; the events of the task that carries it out are recorded against that id.
func startAction(ctx context.Context, tx *store.Tx, instanceUUID, action, requestID, userID, projectID string) (int64, error) {
	id, err := nextID(ctx, tx, "instance_actions")
	if err != nil {
		return 0, err
	}
	ts := store.FormatTime(now())
	_, err = tx.ExecContext(ctx, `INSERT INTO compute_instance_actions (id, instance_uuid, action, request_id,
		user_id, project_id, start_time, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		id, instanceUUID, action, requestID, userID, projectID, ts, ts)
	return id, err
}

// startEvent records the start of an event (e.g. "compute_stop_instance") of an action
// and returns the event id.
func startEvent(ctx context.Context, tx *store.Tx, actionID int64, event, host string) (int64, error) {
	id, err := nextID(ctx, tx, "instance_action_events")
	if err != nil {
		return 0, err
	}
	ts := store.FormatTime(now())
	if _, err := tx.ExecContext(ctx, `INSERT INTO compute_instance_action_events (id, action_id, event,
		start_time, host) VALUES (?, ?, ?, ?, ?)`, id, actionID, event, ts, host); err != nil {
		return 0, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE compute_instance_actions SET updated_at = ? WHERE id = ?`, ts, actionID)
	return id, err
}

// finishEvent records the end of an event: result "Success" or "Error" with the
// traceback (a short cause, never a Go stack) and details shown to admins.
func finishEvent(ctx context.Context, tx *store.Tx, eventID int64, result, traceback, details string) error {
	ts := store.FormatTime(now())
	var tb, det any
	if traceback != "" {
		tb = traceback
	}
	if details != "" {
		det = details
	}
	_, err := tx.ExecContext(ctx, `UPDATE compute_instance_action_events SET finish_time = ?, result = ?,
		traceback = ?, details = ? WHERE id = ?`, ts, result, tb, det, eventID)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE compute_instance_actions SET updated_at = ?
		WHERE id = (SELECT action_id FROM compute_instance_action_events WHERE id = ?)`, ts, eventID)
	return err
}

// addFault records a fault on an instance (the newest is shown as the server's
// "fault"). code is 500 for failures of the cloud, 404/400 for the user's.
func addFault(ctx context.Context, tx *store.Tx, instanceUUID string, code int, message, details, host string) error {
	id, err := nextID(ctx, tx, "instance_faults")
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO compute_instance_faults (id, instance_uuid, code, message,
		details, host, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		id, instanceUUID, code, message, details, host, store.FormatTime(now()))
	return err
}
