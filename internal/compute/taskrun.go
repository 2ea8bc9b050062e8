package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// This file is the machinery shared by the conductor and the host agents: picking
// pending tasks from the compute_tasks queue in order, running a bounded number at once,
// forwarding a task to another queue (a host, or back to the conductor) and finishing it
// in the transaction that writes its result.
//
// Ordering: a task only starts when no older task of the same instance is pending or
// running, whichever queue it is in, so an instance's operations run one at a time in
// the order the API accepted them (Nova serializes them with a per-instance lock).

// runtime is the state of the conductor and host agents of a Service.
type runtime struct {
	mu sync.Mutex
	// ctx is Run's context while Run runs (nil otherwise); agents added then start at once.
	ctx    context.Context
	wg     sync.WaitGroup
	agents map[string]*HostAgent
	// nodes caches the compute nodes for the scheduler (scheduling.go).
	nodes nodeCache
	// claimMu serializes this process's claim transactions on SQLite.
	claimMu sync.Mutex
}

// errTaskAbandoned is returned by a task step that stopped because the process is
// shutting down; the task stays running and recovery makes it pending again.
var errTaskAbandoned = errors.New("task abandoned at shutdown")

// taskColumns lists the columns scanTask reads.
const taskColumns = `id, instance_uuid, kind, params, host, state, action_id, request_id, attempts, error`

// scanTask reads one task row.
func scanTask(row rowScanner) (*Task, error) {
	var t Task
	var params string
	var actionID *int64
	var errText *string
	if err := row.Scan(&t.ID, &t.InstanceUUID, &t.Kind, &params, &t.Host, &t.State, &actionID, &t.RequestID,
		&t.Attempts, &errText); err != nil {
		return nil, err
	}
	t.Params = json.RawMessage(params)
	if actionID != nil {
		t.ActionID = *actionID
	}
	if errText != nil {
		t.Error = *errText
	}
	return &t, nil
}

// taskParams decodes a task's params into v (an empty object when none).
func taskParams(t *Task, v any) error {
	if len(t.Params) == 0 {
		return nil
	}
	return json.Unmarshal(t.Params, v)
}

// pendingTasks returns up to limit runnable task ids of a queue (host "" is the
// conductor's), oldest first.
func (s *Service) pendingTasks(ctx context.Context, host string, limit int) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT t.id FROM compute_tasks t WHERE t.state = ? AND t.host = ?
		AND NOT EXISTS (SELECT 1 FROM compute_tasks p WHERE p.instance_uuid = t.instance_uuid AND p.id < t.id
			AND p.state IN (?, ?))
		ORDER BY t.id LIMIT ?`, TaskPending, host, TaskPending, TaskRunning, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// claimTask marks a pending task of the queue running (attempts + 1) and returns it; nil
// when another runner took it first.
func (s *Service) claimTask(ctx context.Context, id int64, host string) (*Task, error) {
	var t *Task
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE compute_tasks SET state = ?, attempts = attempts + 1, updated_at = ?
			WHERE id = ? AND state = ? AND host = ?`, TaskRunning, store.FormatTime(now()), id, TaskPending, host)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		t, err = scanTask(tx.QueryRowContext(ctx, `SELECT `+taskColumns+` FROM compute_tasks WHERE id = ?`, id))
		return err
	})
	return t, err
}

// finishTask records a task's end (done or failed) inside tx.
func finishTask(ctx context.Context, tx *store.Tx, t *Task, state, errText string) error {
	var e any
	if errText != "" {
		e = errText
	}
	_, err := tx.ExecContext(ctx, `UPDATE compute_tasks SET state = ?, error = ?, updated_at = ? WHERE id = ?`,
		state, e, store.FormatTime(now()), t.ID)
	return err
}

// forwardTask hands a task to another queue (a host, or "" for the conductor) as
// pending, with new params when params is not nil, inside tx. The caller notifies
// s.wake after the commit.
func forwardTask(ctx context.Context, tx *store.Tx, t *Task, host string, params any) error {
	p := string(t.Params)
	if params != nil {
		p = mustJSON(params)
		t.Params = json.RawMessage(p)
	}
	if p == "" {
		p = "{}"
	}
	_, err := tx.ExecContext(ctx, `UPDATE compute_tasks SET host = ?, state = ?, params = ?, updated_at = ? WHERE id = ?`,
		host, TaskPending, p, store.FormatTime(now()), t.ID)
	t.Host, t.State = host, TaskPending
	return err
}

// finishTaskAlone ends a task that changes nothing else.
func (s *Service) finishTaskAlone(ctx context.Context, t *Task, state, errText string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error { return finishTask(ctx, tx, t, state, errText) })
}

// taskRunner is a queue consumer: the conductor (host "") or a host agent.
type taskRunner struct {
	s       *Service
	host    string
	workers int
	run     func(ctx context.Context, t *Task) error
	log     *slog.Logger
}

// loop runs the queue's tasks until ctx ends: it wakes on s.wake and every poll
// interval, claims as many runnable tasks as it has free workers and runs each on its
// own goroutine. It returns when ctx is done and every started task has returned.
func (r *taskRunner) loop(ctx context.Context) {
	wake := r.s.wake.subscribe()
	ticker := time.NewTicker(r.s.cfg.TaskPollInterval)
	defer ticker.Stop()
	sem := make(chan struct{}, r.workers)
	done := make(chan struct{}, r.workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	running := map[int64]bool{}
	var mu sync.Mutex
	for {
		free := r.workers - len(sem)
		if free > 0 {
			ids, err := r.s.pendingTasks(ctx, r.host, free+len(sem))
			if err != nil && ctx.Err() == nil {
				r.log.Error("list pending tasks", "err", err)
			}
			for _, id := range ids {
				mu.Lock()
				busy := running[id]
				mu.Unlock()
				if busy || len(sem) == r.workers {
					continue
				}
				t, err := r.s.claimTask(ctx, id, r.host)
				if err != nil {
					if ctx.Err() == nil {
						r.log.Error("claim task", "task", id, "err", err)
					}
					continue
				}
				if t == nil {
					continue
				}
				sem <- struct{}{}
				mu.Lock()
				running[id] = true
				mu.Unlock()
				wg.Add(1)
				go func() {
					defer wg.Done()
					r.runOne(ctx, t)
					mu.Lock()
					delete(running, t.ID)
					mu.Unlock()
					<-sem
					select {
					case done <- struct{}{}:
					default:
					}
				}()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-done:
		case <-ticker.C:
		}
	}
}

// maxTaskAttempts is how many times a task whose step fails unexpectedly (a database
// error, not an operation the driver refused) is retried before it is given up.
const maxTaskAttempts = 5

// runOne runs a claimed task. An unexpected error puts it back in the queue for the next
// poll, up to maxTaskAttempts, then fails it and the instance's task_state is cleared
// with a fault; a shutdown leaves it running for recovery.
func (r *taskRunner) runOne(ctx context.Context, t *Task) {
	log := r.log.With("task", t.ID, "kind", t.Kind, "instance", t.InstanceUUID)
	defer func() {
		if p := recover(); p != nil {
			log.Error("task panicked", "panic", p)
			r.giveUp(t, fmt.Sprintf("internal error: %v", p))
		}
	}()
	err := r.run(ctx, t)
	if err == nil {
		return
	}
	if ctx.Err() != nil || errors.Is(err, errTaskAbandoned) {
		return
	}
	log.Error("task step failed", "attempt", t.Attempts, "err", err)
	if t.Attempts >= maxTaskAttempts {
		r.giveUp(t, err.Error())
		return
	}
	bg := context.WithoutCancel(ctx)
	if _, err := r.s.db.ExecContext(bg, `UPDATE compute_tasks SET state = ?, error = ?, updated_at = ? WHERE id = ? AND state = ?`,
		TaskPending, err.Error(), store.FormatTime(now()), t.ID, TaskRunning); err != nil {
		log.Error("requeue task", "err", err)
	}
}

// giveUp fails a task that kept failing and leaves its instance in ERROR with a fault, so
// that nothing stays stuck in a transitional state.
func (r *taskRunner) giveUp(t *Task, msg string) {
	ctx := context.Background()
	err := r.s.db.InTx(ctx, func(tx *store.Tx) error {
		inst, found, err := loadInstance(ctx, tx, t.InstanceUUID)
		if err != nil {
			return err
		}
		if found && !inst.Deleted {
			inst.VMState, inst.TaskState = VMError, ""
			if _, err := updateInstance(ctx, tx, inst, nil); err != nil {
				return err
			}
			if err := addFault(ctx, tx, inst.UUID, 500, "Internal error while running "+string(t.Kind), "", r.host); err != nil {
				return err
			}
		}
		return finishTask(ctx, tx, t, TaskFailed, msg)
	})
	if err != nil {
		r.log.Error("give up task", "task", t.ID, "err", err)
	}
}

// event is an instance action event being recorded.
type event struct {
	id int64
}

// beginEvent starts (or, for a task run again after a restart, finds the unfinished
// one of) an action's event; a task without an action records nothing.
func (s *Service) beginEvent(ctx context.Context, t *Task, name, host string) (*event, error) {
	if t.ActionID == 0 {
		return &event{}, nil
	}
	ev := &event{}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT id FROM compute_instance_action_events WHERE action_id = ? AND event = ?
			AND finish_time IS NULL ORDER BY id DESC LIMIT 1`, t.ActionID, name).Scan(&ev.id)
		if err == nil || !store.IsNoRows(err) {
			return err
		}
		ev.id, err = startEvent(ctx, tx, t.ActionID, name, host)
		return err
	})
	return ev, err
}

// finish records the event's result inside tx: "Success", or "Error" with the cause.
func (ev *event) finish(ctx context.Context, tx *store.Tx, cause error, details string) error {
	if ev == nil || ev.id == 0 {
		return nil
	}
	if cause == nil {
		return finishEvent(ctx, tx, ev.id, "Success", "", "")
	}
	return finishEvent(ctx, tx, ev.id, "Error", cause.Error(), details)
}

// recordAction starts an action on the cloud's own initiative (the power state sync
// stopping a guest that shut down by itself), as Nova's internal API calls do.
func recordAction(ctx context.Context, tx *store.Tx, inst *Instance, action string) (int64, error) {
	return startAction(ctx, tx, inst.UUID, action, "req-"+api.NewUUID(), inst.UserID, inst.ProjectID)
}

// mutateInstance re-reads an instance inside tx (after taking its row lock), and when it
// still exists and its task_state is one of expect (nil: any), applies fn and writes it
// back. Working on a fresh copy keeps changes the API made meanwhile (a lock, a rename)
// that writing back a copy read before a long driver call would undo. ok is false when
// the instance is gone or its task state moved on (Nova's UnexpectedTaskStateError).
func mutateInstance(ctx context.Context, tx *store.Tx, uuid string, expect []string, fn func(i *Instance) error) (inst *Instance, ok bool, err error) {
	if _, err := tx.ExecContext(ctx, `UPDATE compute_instances SET updated_at = updated_at WHERE uuid = ?`, uuid); err != nil {
		return nil, false, err
	}
	inst, found, err := loadInstance(ctx, tx, uuid)
	if err != nil || !found || inst.Deleted {
		return nil, false, err
	}
	if expect != nil {
		match := false
		for _, e := range expect {
			match = match || inst.TaskState == e
		}
		if !match {
			return inst, false, nil
		}
	}
	if err := fn(inst); err != nil {
		return nil, false, err
	}
	ok, err = updateInstance(ctx, tx, inst, nil)
	return inst, ok, err
}
