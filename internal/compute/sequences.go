package compute

import (
	"context"
	"sync"

	"github.com/gostack/gostack/internal/store"
)

// nextID returns the next integer id of a sequence (instances, keypairs, actions, ...),
// inside tx so that the id is only consumed when the row that uses it commits.
func nextID(ctx context.Context, tx *store.Tx, name string) (int64, error) {
	if _, err := tx.ExecContext(ctx, `INSERT INTO compute_sequences (name, value) VALUES (?, 0)
		ON CONFLICT (name) DO NOTHING`, name); err != nil {
		return 0, err
	}
	var id int64
	err := tx.QueryRowContext(ctx, `UPDATE compute_sequences SET value = value + 1 WHERE name = ?
		RETURNING value`, name).Scan(&id)
	return id, err
}

// waker lets writers nudge the loops that run tasks. Signals coalesce: a loop that was
// busy when several arrive runs once more, which is enough since it reads all pending work.
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
