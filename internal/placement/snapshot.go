package placement

import (
	"context"
	"sort"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// The allocation candidates search reads the whole provider structure (trees, inventory
// settings, traits, aggregates) on every request. That structure changes rarely, so it is
// kept in memory as an immutable snapshot, labelled with the placement revision: a random
// token every structural write stores in the settings table in its own transaction.
// A search reads the revision (one row) and reloads the snapshot only when it moved, so a
// write by this process or by another replica is seen by the next search. Usage, which
// every claim changes, is never cached: it is read live for each search.

// revisionSetting is the settings row holding the placement revision.
const revisionSetting = "placement_revision"

// snapshot is an immutable copy of the provider structure at one revision.
type snapshot struct {
	rev            string
	providers      map[string]*snapProvider
	byRC           map[string][]*snapInventory // class -> inventories, by provider uuid
	traitProviders map[string][]string         // trait -> providers
	aggProviders   map[string][]string         // aggregate -> providers
	traits         map[string]bool             // every trait
	classes        map[string]bool             // every resource class
	hasTrees       bool
	sharing        map[string]bool // providers with MISC_SHARES_VIA_AGGREGATE
	order          []*snapProvider // by uuid
	invIndex       map[rpRC]int    // inventory -> snapInventory.idx
	numInvs        int
}

// snapProvider is a provider in a snapshot.
type snapProvider struct {
	uuid, parent, root string
	traits             []string // sorted
	traitSet           map[string]bool
	aggs               []string
	invs               []*snapInventory // by class
}

// snapInventory is an inventory's settings (not its usage) in a snapshot; idx indexes
// the usage slice of a search.
type snapInventory struct {
	provider *snapProvider
	idx      int
	inventory
}

// inventory returns the provider's inventory of rc, or nil.
func (p *snapProvider) inventory(rc string) *snapInventory {
	for _, si := range p.invs {
		if si.ResourceClass == rc {
			return si
		}
	}
	return nil
}

// write runs fn in a transaction that also moves the placement revision, for every write
// that changes what the snapshot holds.
func (s *Service) write(ctx context.Context, fn func(tx *store.Tx) error) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return bumpRevision(ctx, tx)
	})
}

// bumpRevision stores a new placement revision.
func bumpRevision(ctx context.Context, tx *store.Tx) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, revisionSetting, api.NewID())
	return err
}

// currentSnapshot returns the snapshot of the current revision, loading it if needed.
func (s *Service) currentSnapshot(ctx context.Context) (*snapshot, error) {
	var rev string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, revisionSetting).Scan(&rev)
	if err != nil && !store.IsNoRows(err) {
		return nil, err
	}
	if cur := s.snap.Load(); cur != nil && cur.rev == rev && rev != "" {
		return cur, nil
	}
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	if cur := s.snap.Load(); cur != nil && cur.rev == rev && rev != "" {
		return cur, nil
	}
	sn, err := loadSnapshot(ctx, s.db, rev)
	if err != nil {
		return nil, err
	}
	s.snap.Store(sn)
	return sn, nil
}

// loadSnapshot reads the provider structure. It is read after the revision, so its data is
// at least as new as the label.
func loadSnapshot(ctx context.Context, q store.Querier, rev string) (*snapshot, error) {
	sn := &snapshot{rev: rev, providers: map[string]*snapProvider{}, byRC: map[string][]*snapInventory{},
		traitProviders: map[string][]string{}, aggProviders: map[string][]string{}, traits: map[string]bool{},
		classes: map[string]bool{}, sharing: map[string]bool{}, invIndex: map[rpRC]int{}}
	rows, err := q.QueryContext(ctx, `SELECT uuid, COALESCE(parent_uuid, ''), root_uuid FROM placement_resource_providers`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		p := &snapProvider{traits: []string{}, traitSet: map[string]bool{}}
		if err := rows.Scan(&p.uuid, &p.parent, &p.root); err != nil {
			rows.Close()
			return nil, err
		}
		sn.providers[p.uuid] = p
		if p.parent != "" {
			sn.hasTrees = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = q.QueryContext(ctx, `SELECT provider_uuid, resource_class, total, reserved, min_unit, max_unit, step_size,
		allocation_ratio FROM placement_inventories`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var u string
		si := &snapInventory{}
		i := &si.inventory
		if err := rows.Scan(&u, &i.ResourceClass, &i.Total, &i.Reserved, &i.MinUnit, &i.MaxUnit, &i.StepSize, &i.AllocationRatio); err != nil {
			rows.Close()
			return nil, err
		}
		if p := sn.providers[u]; p != nil {
			si.provider, si.idx = p, sn.numInvs
			sn.numInvs++
			sn.invIndex[rpRC{u, i.ResourceClass}] = si.idx
			p.invs = append(p.invs, si)
			sn.byRC[i.ResourceClass] = append(sn.byRC[i.ResourceClass], si)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = q.QueryContext(ctx, `SELECT pt.provider_uuid, pt.trait FROM placement_provider_traits pt
		JOIN placement_traits t ON t.name = pt.trait ORDER BY `+traitOrder)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var u, t string
		if err := rows.Scan(&u, &t); err != nil {
			rows.Close()
			return nil, err
		}
		if p := sn.providers[u]; p != nil {
			p.traits = append(p.traits, t)
			p.traitSet[t] = true
			sn.traitProviders[t] = append(sn.traitProviders[t], u)
			if t == traitSharesViaAggregate {
				sn.sharing[u] = true
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = q.QueryContext(ctx, `SELECT provider_uuid, aggregate_uuid FROM placement_provider_aggregates`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var u, a string
		if err := rows.Scan(&u, &a); err != nil {
			rows.Close()
			return nil, err
		}
		if p := sn.providers[u]; p != nil {
			p.aggs = append(p.aggs, a)
			sn.aggProviders[a] = append(sn.aggProviders[a], u)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, table := range []struct {
		query string
		set   map[string]bool
	}{{`SELECT name FROM placement_traits`, sn.traits}, {`SELECT name FROM placement_resource_classes`, sn.classes}} {
		names, err := queryUUIDSet(ctx, q, table.query)
		if err != nil {
			return nil, err
		}
		for n := range names {
			table.set[n] = true
		}
	}
	for _, p := range sn.providers {
		sn.order = append(sn.order, p)
		sort.Slice(p.invs, func(i, j int) bool { return p.invs[i].ResourceClass < p.invs[j].ResourceClass })
	}
	sort.Slice(sn.order, func(i, j int) bool { return sn.order[i].uuid < sn.order[j].uuid })
	for _, list := range sn.byRC {
		sort.Slice(list, func(i, j int) bool { return list[i].provider.uuid < list[j].provider.uuid })
	}
	return sn, nil
}

// liveUsage reads the used amount of every inventory of the snapshot that has
// allocations, indexed by snapInventory.idx.
func liveUsage(ctx context.Context, q store.Querier, sn *snapshot) ([]int64, error) {
	rows, err := q.QueryContext(ctx, `SELECT provider_uuid, resource_class, used FROM placement_inventories WHERE used <> 0`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]int64, sn.numInvs)
	var k rpRC
	var n int64
	for rows.Next() {
		if err := rows.Scan(&k.rp, &k.rc, &n); err != nil {
			return nil, err
		}
		if i, ok := sn.invIndex[k]; ok {
			out[i] = n
		}
	}
	return out, rows.Err()
}

// withAnyTrait returns the providers having at least one of traits.
func (sn *snapshot) withAnyTrait(traits []string) map[string]bool {
	out := map[string]bool{}
	for _, t := range traits {
		for _, u := range sn.traitProviders[t] {
			out[u] = true
		}
	}
	return out
}

// matchingRequiredTraits returns the providers with, for every set, one of its traits
// (nil when required is empty).
func (sn *snapshot) matchingRequiredTraits(required [][]string) map[string]bool {
	var result map[string]bool
	for _, anyOf := range required {
		result = intersect(result, sn.withAnyTrait(anyOf))
		if len(result) == 0 {
			return result
		}
	}
	return result
}

// matchingAggregates returns the providers in one aggregate of every set (nil when
// memberOf is empty).
func (sn *snapshot) matchingAggregates(memberOf [][]string) map[string]bool {
	var result map[string]bool
	for _, anyOf := range memberOf {
		set := map[string]bool{}
		for _, a := range anyOf {
			for _, u := range sn.aggProviders[a] {
				set[u] = true
			}
		}
		result = intersect(result, set)
		if len(result) == 0 {
			return result
		}
	}
	return result
}

// withCapacity returns the providers (and roots) with room for amount more of rc, with
// usage from used; with root set, only in that tree.
func (sn *snapshot) withCapacity(rc string, amount int64, root string, used []int64) []capacityRow {
	var out []capacityRow
	for _, si := range sn.byRC[rc] {
		if root != "" && si.provider.root != root {
			continue
		}
		i := si.inventory
		i.Used = used[si.idx]
		if i.fits(amount) {
			out = append(out, capacityRow{uuid: si.provider.uuid, root: si.provider.root, inv: si})
		}
	}
	return out
}
