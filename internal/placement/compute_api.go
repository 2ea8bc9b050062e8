package placement

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/gostack/gostack/internal/store"
)

// This file is Placement's in-process Go API for compute (gostack's Nova): what Nova's
// report client does over HTTP — a compute node's provider and inventory, allocation
// candidates, claims, moves and removals of allocations — without the HTTP round trips
// and JSON, so that the conductor can place hundreds of servers a second. It uses the
// same candidate search and the same capacity-checked allocation writer as the REST API,
// so both see exactly the same data and rules.

// ProviderInventory is one inventory a compute node reports (Placement's inventory
// fields; zero MinUnit, MaxUnit and StepSize take 1, Total and 1).
type ProviderInventory struct {
	Total, Reserved, MinUnit, MaxUnit, StepSize int64
	// AllocationRatio is the overcommit ratio (0 means 1.0).
	AllocationRatio float64
}

// ComputeProvider is a compute node as Placement sees it: a root provider whose uuid is
// the compute node's uuid and whose name is the hypervisor hostname.
type ComputeProvider struct {
	UUID, Name string
	// Inventories maps resource classes (VCPU, MEMORY_MB, DISK_GB, ...) to inventory.
	Inventories map[string]ProviderInventory
	// Traits are the traits the driver reports. Unknown CUSTOM_ traits are created and
	// unknown standard ones ignored; traits an operator set (CUSTOM_*) and
	// COMPUTE_STATUS_DISABLED (the services API's) are kept, as Nova's compute keeps them.
	Traits []string
}

// EnsureComputeProvider creates the provider if it does not exist and makes its
// inventories and driver traits what p says, changing nothing (not even the provider
// generation) when they already are.
func (s *Service) EnsureComputeProvider(ctx context.Context, p ComputeProvider) error {
	if p.UUID == "" || p.Name == "" {
		return errors.New("placement: compute provider needs a uuid and a name")
	}
	want := make([]*inventory, 0, len(p.Inventories))
	for _, rc := range sortedKeys(p.Inventories) {
		pi := p.Inventories[rc]
		inv := &inventory{ResourceClass: rc, Total: pi.Total, Reserved: pi.Reserved, MinUnit: pi.MinUnit,
			MaxUnit: pi.MaxUnit, StepSize: pi.StepSize, AllocationRatio: pi.AllocationRatio}
		if inv.MinUnit <= 0 {
			inv.MinUnit = 1
		}
		if inv.MaxUnit <= 0 {
			inv.MaxUnit = inv.Total
		}
		if inv.StepSize <= 0 {
			inv.StepSize = 1
		}
		if inv.AllocationRatio <= 0 {
			inv.AllocationRatio = 1
		}
		want = append(want, inv)
	}
	// A read-only check first: most starts of a compute host change nothing, and a write
	// would move the placement revision and make every scheduler reload its snapshot.
	same, err := s.computeProviderUpToDate(ctx, p, want)
	if err != nil || same {
		return err
	}
	return s.write(ctx, func(tx *store.Tx) error {
		cur, err := getProvider(ctx, tx, p.UUID)
		if isNoProvider(err) {
			var other string
			qerr := tx.QueryRowContext(ctx, `SELECT uuid FROM placement_resource_providers WHERE name = ?`, p.Name).Scan(&other)
			if qerr == nil {
				return fmt.Errorf("placement: provider name %s is taken by provider %s", p.Name, other)
			}
			if !store.IsNoRows(qerr) {
				return qerr
			}
			ts := store.FormatTime(now())
			if _, err := tx.ExecContext(ctx, `INSERT INTO placement_resource_providers
				(uuid, name, generation, parent_uuid, root_uuid, created_at, updated_at) VALUES (?, ?, 0, NULL, ?, ?, '')`,
				p.UUID, p.Name, p.UUID, ts); err != nil {
				return err
			}
			cur, err = getProvider(ctx, tx, p.UUID)
		}
		if err != nil {
			return err
		}
		if cur.Name != p.Name {
			if _, err := tx.ExecContext(ctx, `UPDATE placement_resource_providers SET name = ? WHERE uuid = ?`, p.Name, p.UUID); err != nil {
				return err
			}
		}
		if err := replaceInventories(ctx, tx, p.UUID, want); err != nil {
			return err
		}
		gen, err := bumpProvider(ctx, tx, p.UUID, -1)
		if err != nil {
			return err
		}
		cur.Generation = gen
		traits, err := s.computeTraits(ctx, tx, p.UUID, p.Traits, true)
		if err != nil {
			return err
		}
		_, err = setProviderTraits(ctx, tx, cur, traits)
		return err
	})
}

// computeProviderUpToDate reports whether the provider exists with exactly the wanted
// name, inventories and traits.
func (s *Service) computeProviderUpToDate(ctx context.Context, p ComputeProvider, want []*inventory) (bool, error) {
	cur, err := getProvider(ctx, s.db, p.UUID)
	if isNoProvider(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if cur.Name != p.Name {
		return false, nil
	}
	have, err := providerInventories(ctx, s.db, p.UUID)
	if err != nil {
		return false, err
	}
	if len(have) != len(want) {
		return false, nil
	}
	for _, w := range want {
		h := have[w.ResourceClass]
		if h == nil || h.Total != w.Total || h.Reserved != w.Reserved || h.MinUnit != w.MinUnit || h.MaxUnit != w.MaxUnit ||
			h.StepSize != w.StepSize || h.AllocationRatio != w.AllocationRatio {
			return false, nil
		}
	}
	traits, err := s.computeTraits(ctx, s.db, p.UUID, p.Traits, false)
	if err != nil {
		return false, err
	}
	haveTraits, err := providerTraits(ctx, s.db, p.UUID)
	if err != nil {
		return false, err
	}
	sort.Strings(traits)
	sort.Strings(haveTraits)
	return strings.Join(traits, ",") == strings.Join(haveTraits, ","), nil
}

// computeTraits returns the trait set a compute provider should have: the driver's
// known traits plus the custom and disabled-status traits it already has. With create
// set (inside a write), unknown CUSTOM_ traits are created.
func (s *Service) computeTraits(ctx context.Context, q store.Querier, uuid string, driver []string, create bool) ([]string, error) {
	set := map[string]bool{}
	for _, t := range driver {
		if err := requireTrait(ctx, q, t); err != nil {
			if !strings.HasPrefix(t, "CUSTOM_") {
				continue
			}
			if !create {
				set[t] = true
				continue
			}
			if _, err := q.ExecContext(ctx, `INSERT INTO placement_traits (name, standard, created_at, updated_at)
				VALUES (?, ?, ?, '') ON CONFLICT DO NOTHING`, t, false, store.FormatTime(now())); err != nil {
				return nil, err
			}
		}
		set[t] = true
	}
	have, err := providerTraits(ctx, q, uuid)
	if err != nil {
		return nil, err
	}
	for _, t := range have {
		if strings.HasPrefix(t, "CUSTOM_") || t == "COMPUTE_STATUS_DISABLED" {
			set[t] = true
		}
	}
	return sortedKeys(set), nil
}

// CandidateRequest asks for allocation candidates: one unnumbered request group, as
// Nova's scheduler sends for a flavor without granular groups.
type CandidateRequest struct {
	// Resources maps resource classes to amounts (zero amounts are dropped).
	Resources map[string]int64
	// Required and Forbidden are traits the provider must have or lack.
	Required, Forbidden []string
	// MemberOf lists aggregate sets; the provider must be in one aggregate of each.
	MemberOf [][]string
	// InTree restricts the candidates to the tree of that provider (a requested host).
	InTree string
	// Limit bounds the number of candidates (0: Placement's configured maximum).
	Limit int
}

// ResourceSummary is a class's capacity ((total - reserved) * allocation ratio) and
// usage on a provider.
type ResourceSummary struct {
	Capacity, Used int64
}

// Candidate is one place a request fits.
type Candidate struct {
	// Provider is the root provider (the compute node) the candidate is for.
	Provider string
	// Allocations is the allocation request: provider uuid -> class -> amount. It may
	// share maps with other candidates: read it, do not change it.
	Allocations map[string]map[string]int64
	// Summary is the root provider's capacity and usage by class, for the weighers.
	Summary map[string]ResourceSummary
}

// AllocationCandidates returns where the request fits, as GET /allocation_candidates
// does, in provider uuid order. An unknown trait or resource class is an error.
func (s *Service) AllocationCandidates(ctx context.Context, req CandidateRequest) ([]Candidate, error) {
	g := &requestGroup{inTree: req.InTree, forbidden: req.Forbidden}
	for _, rc := range sortedKeys(req.Resources) {
		if req.Resources[rc] > 0 {
			g.resources = append(g.resources, resourceAmount{rc: rc, amount: req.Resources[rc]})
		}
	}
	for _, t := range req.Required {
		g.required = append(g.required, []string{t})
	}
	g.memberOf = req.MemberOf
	wide := requestWide{limit: req.Limit, nestedAware: true, maxCandidates: s.cfg.MaxAllocationCandidates}
	snap, err := s.currentSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	used, err := liveUsage(ctx, s.db, snap)
	if err != nil {
		return nil, err
	}
	if !snap.hasTrees && len(snap.sharing) == 0 {
		return flatCandidates(snap, used, g, req.Limit)
	}
	res, err := findCandidates(snap, used, []*requestGroup{g}, wide)
	if err != nil {
		return nil, fmt.Errorf("placement: allocation candidates: %w", err)
	}
	out := make([]Candidate, 0, len(res.areqs))
	for _, a := range res.areqs {
		c := Candidate{Provider: a.anchor, Allocations: map[string]map[string]int64{}, Summary: map[string]ResourceSummary{}}
		for _, r := range a.resources {
			m := c.Allocations[r.rp]
			if m == nil {
				m = map[string]int64{}
				c.Allocations[r.rp] = m
			}
			m[r.rc] += r.amount
		}
		if root := snap.providers[a.anchor]; root != nil {
			for _, si := range root.invs {
				c.Summary[si.ResourceClass] = ResourceSummary{Capacity: si.capacity(), Used: used[si.idx]}
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// flatCandidates is the candidate search when every provider is a root and none shares
// (every gostack deployment without nested or sharing providers): the providers that
// alone have the traits, aggregates and capacity asked for, in uuid order. It gives
// exactly what findCandidates gives for one unnumbered group then, from the same
// snapshot helpers, without building and merging allocation requests (which made a
// thousand-host search several times slower).
func flatCandidates(snap *snapshot, used []int64, g *requestGroup, limit int) ([]Candidate, error) {
	for _, ra := range g.resources {
		if !snap.classes[ra.rc] {
			return nil, fmt.Errorf("placement: allocation candidates: %w",
				badRequest("Invalid resource class in resources parameter: No such resource class %s.", ra.rc))
		}
	}
	for _, t := range append(append([]string{}, g.forbidden...), flatten(g.required)...) {
		if !snap.traits[t] {
			return nil, fmt.Errorf("placement: allocation candidates: %w", badRequest("No such trait(s): %s.", t))
		}
	}
	allow := snap.matchingRequiredTraits(g.required)
	if len(g.required) > 0 && len(allow) == 0 {
		return nil, nil
	}
	if len(g.memberOf) > 0 {
		allow = intersect(allow, snap.matchingAggregates(g.memberOf))
		if len(allow) == 0 {
			return nil, nil
		}
	}
	deny := snap.withAnyTrait(g.forbidden)
	root := ""
	if g.inTree != "" {
		p := snap.providers[g.inTree]
		if p == nil {
			return nil, nil
		}
		root = p.root
	}
	want := map[string]int64{}
	for _, ra := range g.resources {
		want[ra.rc] = ra.amount
	}
	var out []Candidate
	for _, p := range snap.order {
		if root != "" && p.uuid != root || deny[p.uuid] || allow != nil && !allow[p.uuid] {
			continue
		}
		fits := true
		for _, ra := range g.resources {
			si := p.inventory(ra.rc)
			if si == nil {
				fits = false
				break
			}
			i := si.inventory
			i.Used = used[si.idx]
			if !i.fits(ra.amount) {
				fits = false
				break
			}
		}
		if !fits {
			continue
		}
		c := Candidate{Provider: p.uuid, Allocations: map[string]map[string]int64{p.uuid: want},
			Summary: make(map[string]ResourceSummary, len(p.invs))}
		for _, si := range p.invs {
			c.Summary[si.ResourceClass] = ResourceSummary{Capacity: si.capacity(), Used: used[si.idx]}
		}
		out = append(out, c)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}

// flatten joins sets of traits.
func flatten(sets [][]string) []string {
	var out []string
	for _, s := range sets {
		out = append(out, s...)
	}
	return out
}

// ErrAllocationConflict is returned (wrapped) when an allocation write does not fit the
// providers' capacity, or a consumer or provider changed concurrently (a consumer
// generation that does not match): the caller should try another candidate or retry.
var ErrAllocationConflict = errors.New("placement: allocation conflict")

// Consumer types (Placement 1.38).
const (
	ConsumerTypeInstance  = "INSTANCE"
	ConsumerTypeMigration = "MIGRATION"
)

// ConsumerAllocations are one consumer's allocations, as written or read.
type ConsumerAllocations struct {
	Consumer          string
	ProjectID, UserID string
	// ConsumerType is INSTANCE or MIGRATION ("" keeps the stored one).
	ConsumerType string
	// Generation is the consumer generation. On write, with CheckGeneration set, it must
	// match the stored one (nil: the consumer must not exist yet).
	Generation      *int64
	CheckGeneration bool
	// Allocations maps provider uuid -> class -> amount; empty removes the consumer's
	// allocations.
	Allocations map[string]map[string]int64
}

// WriteAllocations replaces the allocations of every consumer in ws atomically, checking
// capacity and generations as PUT/POST /allocations do. A move (a resize's allocations
// going from the instance to the migration, the instance claiming the new flavor) is
// one call with both consumers. With tx set the write joins the caller's transaction
// (the conductor claims and assigns the host in one transaction); otherwise it runs in
// its own. Capacity and concurrency failures wrap ErrAllocationConflict.
func (s *Service) WriteAllocations(ctx context.Context, tx *store.Tx, ws []ConsumerAllocations) error {
	cws := make([]consumerWrite, 0, len(ws))
	for _, w := range ws {
		cw := consumerWrite{uuid: w.Consumer, projectID: w.ProjectID, userID: w.UserID, consumerType: w.ConsumerType,
			generation: w.Generation, checkGeneration: w.CheckGeneration}
		for _, rp := range sortedKeys(w.Allocations) {
			for _, rc := range sortedKeys(w.Allocations[rp]) {
				if n := w.Allocations[rp][rc]; n > 0 {
					cw.allocs = append(cw.allocs, allocationWant{provider: rp, rc: rc, used: n})
				}
			}
		}
		cws = append(cws, cw)
	}
	run := func(tx *store.Tx) error {
		err := writeAllocations(ctx, tx, cws)
		var ae *allocationError
		if errors.As(err, &ae) {
			switch ae.kind {
			case "generation", "concurrent", "invalid":
				return fmt.Errorf("%w: %s", ErrAllocationConflict, ae.msg)
			}
			return fmt.Errorf("placement: %s", ae.msg)
		}
		return err
	}
	if tx != nil {
		return run(tx)
	}
	return s.db.InTx(ctx, run)
}

// ConsumerAllocations returns a consumer's allocations and generation (Generation nil
// and no allocations when it has none). With tx set it reads inside the transaction.
func (s *Service) ConsumerAllocations(ctx context.Context, tx *store.Tx, consumerUUID string) (ConsumerAllocations, error) {
	var q store.Querier = s.db
	if tx != nil {
		q = tx
	}
	out := ConsumerAllocations{Consumer: consumerUUID, Allocations: map[string]map[string]int64{}}
	c, found, err := getConsumer(ctx, q, consumerUUID)
	if err != nil || !found {
		return out, err
	}
	gen := c.Generation
	out.Generation, out.ProjectID, out.UserID, out.ConsumerType = &gen, c.ProjectID, c.UserID, c.ConsumerType
	as, err := consumerAllocations(ctx, q, consumerUUID)
	if err != nil {
		return out, err
	}
	for _, a := range as {
		if out.Allocations[a.Provider] == nil {
			out.Allocations[a.Provider] = map[string]int64{}
		}
		out.Allocations[a.Provider][a.ResourceClass] = a.Used
	}
	return out, nil
}

// DeleteAllocations removes all of a consumer's allocations (none is not an error),
// inside tx when given.
func (s *Service) DeleteAllocations(ctx context.Context, tx *store.Tx, consumerUUID string) error {
	run := func(tx *store.Tx) error {
		_, err := deleteConsumerAllocations(ctx, tx, consumerUUID)
		return err
	}
	if tx != nil {
		return run(tx)
	}
	return s.db.InTx(ctx, run)
}

// ProviderConsumers returns the uuids of the consumers with allocations against a
// provider, sorted.
func (s *Service) ProviderConsumers(ctx context.Context, providerUUID string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT consumer_uuid FROM placement_allocations WHERE provider_uuid = ?
		ORDER BY consumer_uuid`, providerUUID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// ProviderUsages returns a provider's usage by resource class (classes with
// inventory), as GET /resource_providers/{uuid}/usages does.
func (s *Service) ProviderUsages(ctx context.Context, providerUUID string) (map[string]int64, error) {
	invs, err := providerInventories(ctx, s.db, providerUUID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(invs))
	for rc, inv := range invs {
		out[rc] = inv.Used
	}
	return out, nil
}
