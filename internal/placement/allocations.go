package placement

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/gostack/gostack/internal/store"
)

// consumer is a consumer row.
type consumer struct {
	UUID, ProjectID, UserID string
	ConsumerType            string // "" for consumers written before 1.38 ("unknown")
	Generation              int64
}

// allocation is one allocation row, with the generation of its provider for output.
type allocation struct {
	Consumer, Provider, ResourceClass string
	Used                              int64
	ProviderGeneration                int64
	CreatedAt                         time.Time
}

// consumerWrite is one consumer's part of an allocation write (PUT or POST /allocations,
// or the reshaper). An empty allocs removes the consumer's allocations.
type consumerWrite struct {
	uuid              string
	projectID, userID string
	// generation is the consumer generation the client expects (nil: a new consumer);
	// checked only when checkGeneration is set (microversion 1.28 and later).
	generation      *int64
	checkGeneration bool
	// consumerType is set from 1.38.
	consumerType string
	allocs       []allocationWant
}

// allocationWant is a requested allocation of one class from one provider.
type allocationWant struct {
	provider, rc string
	used         int64
}

// getConsumer loads a consumer; found is false when it does not exist.
func getConsumer(ctx context.Context, q store.Querier, uuid string) (*consumer, bool, error) {
	var c consumer
	var ct *string
	err := q.QueryRowContext(ctx, `SELECT uuid, project_id, user_id, consumer_type, generation FROM placement_consumers
		WHERE uuid = ?`, uuid).Scan(&c.UUID, &c.ProjectID, &c.UserID, &ct, &c.Generation)
	if store.IsNoRows(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if ct != nil {
		c.ConsumerType = *ct
	}
	return &c, true, nil
}

// consumerAllocations returns a consumer's allocations with their providers' generations.
func consumerAllocations(ctx context.Context, q store.Querier, uuid string) ([]allocation, error) {
	rows, err := q.QueryContext(ctx, `SELECT a.consumer_uuid, a.provider_uuid, a.resource_class, a.used, p.generation, a.created_at
		FROM placement_allocations a JOIN placement_resource_providers p ON p.uuid = a.provider_uuid
		WHERE a.consumer_uuid = ? ORDER BY a.provider_uuid, a.resource_class`, uuid)
	if err != nil {
		return nil, err
	}
	return scanAllocations(rows)
}

// providerAllocations returns the allocations against a provider.
func providerAllocations(ctx context.Context, q store.Querier, uuid string) ([]allocation, error) {
	rows, err := q.QueryContext(ctx, `SELECT a.consumer_uuid, a.provider_uuid, a.resource_class, a.used, p.generation, a.created_at
		FROM placement_allocations a JOIN placement_resource_providers p ON p.uuid = a.provider_uuid
		WHERE a.provider_uuid = ? ORDER BY a.consumer_uuid, a.resource_class`, uuid)
	if err != nil {
		return nil, err
	}
	return scanAllocations(rows)
}

// scanAllocations reads allocation rows.
func scanAllocations(rows interface {
	Next() bool
	Scan(...any) error
	Close() error
	Err() error
}) ([]allocation, error) {
	defer rows.Close()
	var out []allocation
	for rows.Next() {
		var a allocation
		var created string
		if err := rows.Scan(&a.Consumer, &a.Provider, &a.ResourceClass, &a.Used, &a.ProviderGeneration, &created); err != nil {
			return nil, err
		}
		a.CreatedAt = store.ParseTime(created)
		out = append(out, a)
	}
	return out, rows.Err()
}

// allocationError is a failure of an allocation write, classified the way Placement's
// handlers word their responses.
type allocationError struct {
	kind string // "generation", "concurrent", "no_provider", "no_class", "invalid"
	msg  string
}

// Error returns the message.
func (e *allocationError) Error() string { return e.msg }

// writeAllocations replaces the allocations of every consumer in ws, atomically, inside
// tx. It checks consumer generations (from 1.28), locks the consumers and then the
// providers involved (by bumping their generations, in uuid order), checks capacity
// against the inventories' live usage and writes the new allocations, keeping each
// inventory's used column equal to the sum of its allocations. Consumers left without
// allocations are removed, as Placement does.
func writeAllocations(ctx context.Context, tx *store.Tx, ws []consumerWrite) error {
	ts := store.FormatTime(now())
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].uuid < ws[j].uuid })

	// Consumers: generation checks, then lock (bump) or create.
	for i := range ws {
		w := &ws[i]
		cur, found, err := getConsumer(ctx, tx, w.uuid)
		if err != nil {
			return err
		}
		if found {
			if w.checkGeneration && (w.generation == nil || *w.generation != cur.Generation) {
				got := "None"
				if w.generation != nil {
					got = strconv.FormatInt(*w.generation, 10)
				}
				return &allocationError{"generation", fmt.Sprintf("consumer generation conflict - expected %d but got %s", cur.Generation, got)}
			}
			ct := cur.ConsumerType
			if w.consumerType != "" {
				ct = w.consumerType
			}
			var ctArg any
			if ct != "" {
				ctArg = ct
			}
			res, err := tx.ExecContext(ctx, `UPDATE placement_consumers SET generation = generation + 1, project_id = ?, user_id = ?,
				consumer_type = ?, updated_at = ? WHERE uuid = ? AND generation = ?`,
				w.projectID, w.userID, ctArg, ts, w.uuid, cur.Generation)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return &allocationError{"concurrent", errConcurrentConsumer.Error()}
			}
			continue
		}
		if w.checkGeneration && w.generation != nil {
			return &allocationError{"generation", fmt.Sprintf("consumer generation conflict - expected null but got %d", *w.generation)}
		}
		var ctArg any
		if w.consumerType != "" {
			ctArg = w.consumerType
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO placement_consumers (uuid, project_id, user_id, consumer_type, generation,
			created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, '')`, w.uuid, w.projectID, w.userID, ctArg, ts); err != nil {
			if store.IsUniqueViolation(err) {
				return &allocationError{"concurrent", errConcurrentConsumer.Error()}
			}
			return err
		}
	}

	// Every provider and class named must exist.
	seenRP := map[string]bool{}
	for _, w := range ws {
		for _, a := range w.allocs {
			if seenRP[a.provider] {
				continue
			}
			seenRP[a.provider] = true
			if _, err := getProvider(ctx, tx, a.provider); err != nil {
				if isNoProvider(err) {
					return &allocationError{"no_provider", fmt.Sprintf("Allocation for resource provider '%s' that does not exist.", a.provider)}
				}
				return err
			}
		}
	}
	seenRC := map[string]bool{}
	for _, w := range ws {
		for _, a := range w.allocs {
			if seenRC[a.rc] {
				continue
			}
			seenRC[a.rc] = true
			if err := requireResourceClass(ctx, tx, a.rc); err != nil {
				return &allocationError{"no_class", fmt.Sprintf("No such resource class %s.", a.rc)}
			}
		}
	}

	// The existing allocations of these consumers.
	var old []allocation
	for _, w := range ws {
		as, err := consumerAllocations(ctx, tx, w.uuid)
		if err != nil {
			return err
		}
		old = append(old, as...)
	}

	// Lock every provider whose usage changes, in uuid order. Placement bumps the
	// generation of those allocated from and, for a consumer whose allocations are
	// removed, of those it held; providers only losing a replaced allocation are locked
	// without a bump.
	bump := map[string]bool{}
	lock := map[string]bool{}
	for _, w := range ws {
		if len(w.allocs) == 0 {
			for _, a := range old {
				if a.Consumer == w.uuid {
					bump[a.Provider] = true
				}
			}
		}
		for _, a := range w.allocs {
			bump[a.provider] = true
		}
	}
	for _, a := range old {
		lock[a.Provider] = true
	}
	for u := range bump {
		lock[u] = true
	}
	for _, uuid := range sortedKeys(lock) {
		if !bump[uuid] {
			if err := lockProviders(ctx, tx, map[string]bool{uuid: true}); err != nil {
				return err
			}
			continue
		}
		if _, err := bumpProvider(ctx, tx, uuid, -1); err != nil {
			if err == errConcurrentProvider {
				return &allocationError{"concurrent", err.Error()}
			}
			return err
		}
	}

	// Usage before the write, for Placement's "reduces an existing overage" allowance.
	type key struct{ rp, rc string }
	prevUsed := map[key]int64{}
	for _, w := range ws {
		for _, a := range w.allocs {
			k := key{a.provider, a.rc}
			if _, ok := prevUsed[k]; ok {
				continue
			}
			var n int64
			var cnt int
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(used), 0), COUNT(*) FROM placement_allocations
				WHERE provider_uuid = ? AND resource_class = ?`, a.provider, a.rc).Scan(&n, &cnt); err != nil {
				return err
			}
			if cnt > 0 {
				prevUsed[k] = n
			}
		}
	}

	// Remove the old allocations.
	for _, a := range old {
		if _, err := tx.ExecContext(ctx, `UPDATE placement_inventories SET used = used - ? WHERE provider_uuid = ? AND resource_class = ?`,
			a.Used, a.Provider, a.ResourceClass); err != nil {
			return err
		}
	}
	for _, w := range ws {
		if _, err := tx.ExecContext(ctx, `DELETE FROM placement_allocations WHERE consumer_uuid = ?`, w.uuid); err != nil {
			return err
		}
	}

	// Check capacity against the live usage (placement's _check_capacity_exceeded).
	invCache := map[string]map[string]*inventory{}
	sum := map[key]int64{}
	for _, w := range ws {
		for _, a := range w.allocs {
			invs, ok := invCache[a.provider]
			if !ok {
				var err error
				if invs, err = providerInventories(ctx, tx, a.provider); err != nil {
					return err
				}
				invCache[a.provider] = invs
			}
			k := key{a.provider, a.rc}
			sum[k] += a.used
			inv := invs[a.rc]
			if inv == nil {
				return &allocationError{"invalid", fmt.Sprintf("Inventory for '%s' on resource provider '%s' invalid.", a.rc, a.provider)}
			}
			if inv.StepSize <= 0 || a.used < inv.MinUnit || a.used > inv.MaxUnit || a.used%inv.StepSize != 0 {
				return &allocationError{"invalid", fmt.Sprintf("Unable to create allocation for '%s' on resource provider '%s'. "+
					"The requested amount would violate inventory constraints.", a.rc, a.provider)}
			}
			capacity := float64(inv.Total-inv.Reserved) * inv.AllocationRatio
			if capacity < float64(inv.Used+a.used) || capacity < float64(inv.Used+sum[k]) {
				if prev, ok := prevUsed[k]; ok && inv.Used+sum[k] <= prev {
					continue
				}
				return &allocationError{"invalid", fmt.Sprintf("Unable to create allocation for '%s' on resource provider '%s'. "+
					"The requested amount would exceed the capacity.", a.rc, a.provider)}
			}
		}
	}

	// Write the new allocations.
	for _, w := range ws {
		merged := map[key]int64{}
		var order []key
		for _, a := range w.allocs {
			k := key{a.provider, a.rc}
			if _, ok := merged[k]; !ok {
				order = append(order, k)
			}
			merged[k] = a.used
		}
		for _, k := range order {
			used := merged[k]
			if used <= 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO placement_allocations (consumer_uuid, provider_uuid, resource_class, used, created_at)
				VALUES (?, ?, ?, ?, ?)`, w.uuid, k.rp, k.rc, used, ts); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE placement_inventories SET used = used + ? WHERE provider_uuid = ? AND resource_class = ?`,
				used, k.rp, k.rc); err != nil {
				return err
			}
		}
	}

	// Consumers exist only while they hold allocations.
	for _, w := range ws {
		if _, err := tx.ExecContext(ctx, `DELETE FROM placement_consumers WHERE uuid = ?
			AND NOT EXISTS (SELECT 1 FROM placement_allocations a WHERE a.consumer_uuid = placement_consumers.uuid)`, w.uuid); err != nil {
			return err
		}
	}
	return nil
}

// deleteConsumerAllocations removes all of a consumer's allocations (DELETE
// /allocations/{consumer_uuid}); found is false when it had none.
func deleteConsumerAllocations(ctx context.Context, tx *store.Tx, uuid string) (found bool, err error) {
	old, err := consumerAllocations(ctx, tx, uuid)
	if err != nil || len(old) == 0 {
		return false, err
	}
	// Lock the consumer against a concurrent write.
	if _, err := tx.ExecContext(ctx, `UPDATE placement_consumers SET generation = generation + 1 WHERE uuid = ?`, uuid); err != nil {
		return false, err
	}
	old, err = consumerAllocations(ctx, tx, uuid)
	if err != nil || len(old) == 0 {
		return false, err
	}
	lock := map[string]bool{}
	for _, a := range old {
		lock[a.Provider] = true
	}
	if err := lockProviders(ctx, tx, lock); err != nil {
		return false, err
	}
	for _, a := range old {
		if _, err := tx.ExecContext(ctx, `UPDATE placement_inventories SET used = used - ? WHERE provider_uuid = ? AND resource_class = ?`,
			a.Used, a.Provider, a.ResourceClass); err != nil {
			return false, err
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM placement_allocations WHERE consumer_uuid = ?`, uuid); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM placement_consumers WHERE uuid = ?`, uuid); err != nil {
		return false, err
	}
	return true, nil
}
