package volume

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// This file is the persisted task queue and the runners that drain it. The API inserts
// a task in the transaction that sets the resource's transitional status; the runner of
// the task's queue (the cinder-volume host@backend, or the cinder-backup host) claims
// it, carries it out and finishes it in the transaction that writes the resource's final
// status. A task only starts when no older task of the same resource is pending or
// running, so a resource's operations run one at a time in the order they were accepted.

// taskKind names a persisted operation.
type taskKind string

// The task kinds.
const (
	taskCreateVolume   taskKind = "create_volume" // params: createParams
	taskDeleteVolume   taskKind = "delete_volume"
	taskExtendVolume   taskKind = "extend_volume"  // params: {"new_size": N}
	taskRevertVolume   taskKind = "revert_volume"  // params: {"snapshot_id": "..."}
	taskUploadImage    taskKind = "upload_image"   // params: {"image_id", "disk_format", "container_format"}
	taskReimageVolume  taskKind = "reimage_volume" // params: reimageParams
	taskCreateSnapshot taskKind = "create_snapshot"
	taskDeleteSnapshot taskKind = "delete_snapshot"
	taskCreateBackup   taskKind = "create_backup"  // backup queue
	taskDeleteBackup   taskKind = "delete_backup"  // backup queue
	taskRestoreBackup  taskKind = "restore_backup" // backup queue; params: {"volume_id": "..."}
)

// Task states.
const (
	taskPending = "pending"
	taskRunning = "running"
	taskDone    = "done"
	taskFailed  = "failed"
)

// task is one persisted operation.
type task struct {
	ID         int64
	Queue      string
	Kind       taskKind
	ResourceID string
	Params     json.RawMessage
	State      string
	RequestID  string
	Attempts   int
}

// params decodes the task's params into v.
func (t *task) params(v any) error {
	if len(t.Params) == 0 {
		return nil
	}
	return json.Unmarshal(t.Params, v)
}

// errTaskAbandoned is returned by a task step that stopped because the process is
// shutting down; the task stays running and recovery makes it pending again.
var errTaskAbandoned = errors.New("task abandoned at shutdown")

// nextID returns the next integer id of a sequence inside tx, so that the id is only
// consumed when the row that uses it commits.
func nextID(ctx context.Context, tx *store.Tx, name string) (int64, error) {
	if _, err := tx.ExecContext(ctx, `INSERT INTO volume_sequences (name, value) VALUES (?, 0)
		ON CONFLICT (name) DO NOTHING`, name); err != nil {
		return 0, err
	}
	var id int64
	err := tx.QueryRowContext(ctx, `UPDATE volume_sequences SET value = value + 1 WHERE name = ?
		RETURNING value`, name).Scan(&id)
	return id, err
}

// enqueue inserts a pending task in tx. The caller wakes the runners after the commit
// (s.wake.notify()).
func enqueue(ctx context.Context, tx *store.Tx, queue string, kind taskKind, resourceID string, params any) error {
	id, err := nextID(ctx, tx, "tasks")
	if err != nil {
		return err
	}
	p := "{}"
	if params != nil {
		b, err := json.Marshal(params)
		if err != nil {
			return fmt.Errorf("encode task params: %w", err)
		}
		p = string(b)
	}
	ts := store.FormatTime(now())
	_, err = tx.ExecContext(ctx, `INSERT INTO volume_tasks (id, queue, kind, resource_id, params, state, request_id,
		attempts, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
		id, queue, string(kind), resourceID, p, taskPending, api.RequestID(ctx), ts, ts)
	return err
}

// finishTask records a task's end inside tx.
func finishTask(ctx context.Context, tx *store.Tx, t *task, state, errText string) error {
	var e any
	if errText != "" {
		e = errText
	}
	_, err := tx.ExecContext(ctx, `UPDATE volume_tasks SET state = ?, error = ?, updated_at = ? WHERE id = ?`,
		state, e, store.FormatTime(now()), t.ID)
	return err
}

// pendingTasks returns up to limit runnable task ids of a queue, oldest first.
func (s *Service) pendingTasks(ctx context.Context, queue string, limit int) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT t.id FROM volume_tasks t WHERE t.state = ? AND t.queue = ?
		AND NOT EXISTS (SELECT 1 FROM volume_tasks p WHERE p.resource_id = t.resource_id AND p.id < t.id
			AND p.state IN (?, ?))
		ORDER BY t.id LIMIT ?`, taskPending, queue, taskPending, taskRunning, limit)
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

// claimTask marks a pending task running and returns it; nil when another runner took
// it first.
func (s *Service) claimTask(ctx context.Context, id int64) (*task, error) {
	var t *task
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE volume_tasks SET state = ?, attempts = attempts + 1, updated_at = ?
			WHERE id = ? AND state = ?`, taskRunning, store.FormatTime(now()), id, taskPending)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		var tt task
		var params string
		if err := tx.QueryRowContext(ctx, `SELECT id, queue, kind, resource_id, params, state, request_id, attempts
			FROM volume_tasks WHERE id = ?`, id).Scan(&tt.ID, &tt.Queue, &tt.Kind, &tt.ResourceID, &params, &tt.State,
			&tt.RequestID, &tt.Attempts); err != nil {
			return err
		}
		tt.Params = json.RawMessage(params)
		t = &tt
		return nil
	})
	return t, err
}

// requeueInterrupted makes the tasks of queue that were running when the process died
// pending again; their steps are idempotent.
func (s *Service) requeueInterrupted(ctx context.Context, queue string) (int64, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE volume_tasks SET state = ?, updated_at = ? WHERE state = ? AND queue = ?`,
		taskPending, store.FormatTime(now()), taskRunning, queue)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// taskFuncs are what runs a kind of task: run carries it out and finishes it (in the
// transaction writing the resource's final status); fail writes the failure status and
// the user message inside the transaction that marks the task failed.
type taskFuncs struct {
	run  func(ctx context.Context, t *task) error
	fail func(ctx context.Context, tx *store.Tx, t *task, cause error) error
}

// runner drains one queue with a bounded number of workers.
type runner struct {
	s       *Service
	queue   string
	funcs   func(taskKind) (taskFuncs, bool)
	workers int
	mu      sync.Mutex
	active  map[int64]bool
}

// run loops until ctx ends: at every wake or poll tick, it claims the runnable tasks of
// its queue and runs each in its own goroutine (at most workers at once).
func (rn *runner) run(ctx context.Context, wg *sync.WaitGroup) {
	wake := rn.s.wake.subscribe()
	tick := time.NewTicker(rn.s.cfg.TaskPollInterval)
	defer tick.Stop()
	sem := make(chan struct{}, rn.workers)
	for {
		rn.drain(ctx, wg, sem)
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-tick.C:
		}
	}
}

// drain starts every runnable task that a worker slot is free for.
func (rn *runner) drain(ctx context.Context, wg *sync.WaitGroup, sem chan struct{}) {
	ids, err := rn.s.pendingTasks(ctx, rn.queue, 64)
	if err != nil {
		if ctx.Err() == nil {
			rn.s.log.Error("list volume tasks", "queue", rn.queue, "err", err)
		}
		return
	}
	for _, id := range ids {
		rn.mu.Lock()
		busy := rn.active[id]
		rn.mu.Unlock()
		if busy {
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			return
		}
		t, err := rn.s.claimTask(ctx, id)
		if err != nil || t == nil {
			<-sem
			if err != nil && ctx.Err() == nil {
				rn.s.log.Error("claim volume task", "task", id, "err", err)
			}
			continue
		}
		rn.mu.Lock()
		rn.active[id] = true
		rn.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				rn.mu.Lock()
				delete(rn.active, id)
				rn.mu.Unlock()
				<-sem
				// A finished task may unblock the next one of the same resource.
				rn.s.wake.notify()
			}()
			rn.execute(ctx, t)
		}()
	}
}

// execute runs one claimed task and records its failure.
func (rn *runner) execute(ctx context.Context, t *task) {
	log := rn.s.log.With("task", t.ID, "kind", t.Kind, "resource", t.ResourceID)
	f, ok := rn.funcs(t.Kind)
	if !ok {
		log.Error("unknown volume task kind")
		_ = rn.s.db.InTx(context.WithoutCancel(ctx), func(tx *store.Tx) error {
			return finishTask(ctx, tx, t, taskFailed, "unknown task kind")
		})
		return
	}
	err := f.run(ctx, t)
	if err == nil {
		return
	}
	if ctx.Err() != nil || errors.Is(err, errTaskAbandoned) {
		// Shutting down: the task stays running; the next start runs it again.
		return
	}
	log.Error("volume task failed", "err", err)
	fctx := context.WithoutCancel(ctx)
	if ferr := rn.s.db.InTx(fctx, func(tx *store.Tx) error {
		if f.fail != nil {
			if err := f.fail(fctx, tx, t, err); err != nil {
				return err
			}
		}
		return finishTask(fctx, tx, t, taskFailed, err.Error())
	}); ferr != nil {
		log.Error("record volume task failure", "err", ferr)
	}
}

// waker lets writers nudge the runners. Signals coalesce: a runner that was busy when
// several arrive runs once more, which is enough since it reads all pending work.
type waker struct {
	mu   sync.Mutex
	subs []chan struct{}
}

func newWaker() *waker { return &waker{} }

// subscribe returns a channel that receives a value after each notify (coalesced).
func (w *waker) subscribe() <-chan struct{} {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	w.subs = append(w.subs, ch)
	w.mu.Unlock()
	return ch
}

// notify wakes every subscriber.
func (w *waker) notify() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
