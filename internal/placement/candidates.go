package placement

import (
	"errors"
	"sort"
	"strconv"
	"strings"
)

// This file is GET /allocation_candidates' search, a port of Placement's
// objects/allocation_candidate.py and research_context.py: each request group is matched
// on its own (a single provider for a suffixed group; for the unsuffixed group, any mix of
// providers in one tree plus sharing providers associated by aggregate), then the groups'
// candidates are merged per anchor (the root of the tree they allocate for), filtered by
// group_policy, same_subtree and capacity, and returned with summaries of the trees
// involved.

// requestGroup is one request group of the query (placement.lib.RequestGroup).
type requestGroup struct {
	suffix          string
	useSameProvider bool
	resources       []resourceAmount
	required        [][]string // AND of ORs
	forbidden       []string
	memberOf        [][]string
	forbiddenAggs   []string
	inTree          string
}

// requestWide holds the request-wide parameters (placement.lib.RequestWideParams).
type requestWide struct {
	limit         int
	groupPolicy   string
	rootRequired  []string
	rootForbidden []string
	sameSubtrees  [][]string
	nestedAware   bool
	maxCandidates int
}

// errNoCandidates ends the search with an empty result (ResourceProviderNotFound).
var errNoCandidates = errors.New("no candidates")

// arr is one resource request of an allocation request (AllocationRequestResource).
type arr struct {
	rp, rc string
	amount int64
	inv    *snapInventory
}

// mapping is one entry of an allocation request's mappings: a group suffix and the
// providers satisfying it.
type mapping struct {
	suffix string
	rps    []string // sorted, unique
}

// areq is an allocation request: resources from providers, anchored at a tree root.
type areq struct {
	anchor          string
	useSameProvider bool
	resources       []arr
	mappings        []mapping // by suffix
	cachedKey       string
}

// rpRC keys per-provider, per-class data.
type rpRC struct{ rp, rc string }

// search is one allocation candidates search (RequestWideSearchContext): pure computation
// over a snapshot of the provider structure and the live usage.
type search struct {
	snap          *snapshot
	used          []int64 // by snapInventory.idx
	wide          requestWide
	providers     map[string]*snapProvider
	hasTrees      bool
	sharing       map[string]bool
	anchorRoots   map[string]bool // nil: any root may anchor
	loadedRoots   map[string]bool // trees whose summaries are in play
	multiGroupRCs map[string]bool
}

// candidateResult is the search's answer.
type candidateResult struct {
	areqs     []*areq
	summaries []*snapProvider
	used      []int64
}

// findCandidates runs the search over a snapshot of the provider structure and the live
// usage. Unknown resource classes and traits are 400s.
func findCandidates(snap *snapshot, used []int64, groups []*requestGroup, wide requestWide) (*candidateResult, error) {
	s := &search{snap: snap, used: used, wide: wide, providers: snap.providers, hasTrees: snap.hasTrees,
		sharing: snap.sharing, loadedRoots: map[string]bool{}, multiGroupRCs: map[string]bool{}}
	res, err := s.run(groups)
	if errors.Is(err, errNoCandidates) {
		return &candidateResult{used: used}, nil
	}
	if res != nil {
		res.used = used
	}
	return res, err
}

// run is AllocationCandidates._get_by_requests.
func (s *search) run(groups []*requestGroup) (*candidateResult, error) {
	if err := s.processAnchorTraits(); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	candidates := map[string][]*areq{}
	var order []string
	for _, g := range groups {
		gc, err := s.newGroupContext(g)
		if err != nil {
			return nil, err
		}
		for _, ra := range g.resources {
			if seen[ra.rc] {
				s.multiGroupRCs[ra.rc] = true
			}
			seen[ra.rc] = true
		}
		areqs := s.oneGroup(gc)
		if len(areqs) == 0 {
			return &candidateResult{}, nil
		}
		for _, a := range areqs {
			a.useSameProvider = g.useSameProvider
		}
		candidates[g.suffix] = areqs
		order = append(order, g.suffix)
	}
	areqs, sums := s.merge(candidates, order)
	areqs, sums = s.excludeNested(areqs, sums)
	areqs, sums = s.limitResults(areqs, sums)
	return &candidateResult{areqs: areqs, summaries: sums}, nil
}

// processAnchorTraits applies root_required: only roots with all the required and none of
// the forbidden traits may anchor a candidate.
func (s *search) processAnchorTraits() error {
	if len(s.wide.rootRequired) == 0 && len(s.wide.rootForbidden) == 0 {
		return nil
	}
	for _, t := range append(append([]string{}, s.wide.rootRequired...), s.wide.rootForbidden...) {
		if !s.snap.traits[t] {
			return badRequest("No such trait(s): %s.", t)
		}
	}
	var allow map[string]bool
	for _, t := range s.wide.rootRequired {
		allow = intersect(allow, s.snap.withAnyTrait([]string{t}))
	}
	deny := s.snap.withAnyTrait(s.wide.rootForbidden)
	s.anchorRoots = map[string]bool{}
	for u, p := range s.providers {
		if p.parent != "" || deny[u] || allow != nil && !allow[u] {
			continue
		}
		s.anchorRoots[u] = true
	}
	if len(s.anchorRoots) == 0 {
		return errNoCandidates
	}
	return nil
}

// inFilteredAnchors reports whether root may anchor a candidate.
func (s *search) inFilteredAnchors(root string) bool {
	return s.anchorRoots == nil || s.anchorRoots[root]
}

// groupContext is RequestGroupSearchContext: a group with the providers that have
// capacity for each of its classes.
type groupContext struct {
	*requestGroup
	rpsInAggs       map[string]bool
	treeRoot        string
	rpsWithResource map[string][]capacityRow
}

// newGroupContext validates a group's classes and traits and finds the providers with
// capacity for each class; finding none ends the search.
func (s *search) newGroupContext(g *requestGroup) (*groupContext, error) {
	gc := &groupContext{requestGroup: g, rpsWithResource: map[string][]capacityRow{}}
	for _, ra := range g.resources {
		if !s.snap.classes[ra.rc] {
			return nil, badRequest("Invalid resource class in resources parameter: No such resource class %s.", ra.rc)
		}
	}
	if len(g.memberOf) > 0 {
		gc.rpsInAggs = s.snap.matchingAggregates(g.memberOf)
		if len(gc.rpsInAggs) == 0 {
			return nil, errNoCandidates
		}
	}
	for _, anyOf := range g.required {
		for _, t := range anyOf {
			if !s.snap.traits[t] {
				return nil, badRequest("No such trait(s): %s.", t)
			}
		}
	}
	for _, t := range g.forbidden {
		if !s.snap.traits[t] {
			return nil, badRequest("No such trait(s): %s.", t)
		}
	}
	if g.inTree != "" {
		p := s.providers[g.inTree]
		if p == nil {
			return nil, errNoCandidates
		}
		gc.treeRoot = p.root
	}
	for _, ra := range g.resources {
		rows := s.snap.withCapacity(ra.rc, ra.amount, gc.treeRoot, s.used)
		if len(rows) == 0 {
			return nil, errNoCandidates
		}
		gc.rpsWithResource[ra.rc] = rows
	}
	return gc, nil
}

// oneGroup is AllocationCandidates._get_by_one_request.
func (s *search) oneGroup(gc *groupContext) []*areq {
	if !gc.useSameProvider && (len(s.sharing) > 0 || s.hasTrees) {
		if len(gc.required) > 0 {
			var all []string
			for _, anyOf := range gc.required {
				all = append(all, anyOf...)
			}
			if len(s.snap.withAnyTrait(all)) == 0 {
				return nil
			}
		}
		return s.multipleProviders(gc, s.treesMatchingAll(gc))
	}
	return s.singleProvider(gc, s.providersMatching(gc))
}

// providersMatching is research_context.get_provider_ids_matching: providers that alone
// satisfy all of the group's resources, traits and aggregates, as (provider, root) pairs.
func (s *search) providersMatching(gc *groupContext) []capacityRow {
	filtered, forbidden, ok := s.traitsAndAggsFilter(gc)
	if !ok {
		return nil
	}
	var last []capacityRow
	first := true
	for _, ra := range gc.resources {
		last = gc.rpsWithResource[ra.rc]
		if len(last) == 0 {
			return nil
		}
		ids := map[string]bool{}
		for _, r := range last {
			ids[r.uuid] = true
		}
		if first {
			first = false
			if len(filtered) > 0 {
				filtered = intersect(filtered, ids)
			} else {
				filtered = ids
				for k := range forbidden {
					delete(filtered, k)
				}
			}
		} else {
			filtered = intersect(filtered, ids)
		}
		if len(filtered) == 0 {
			return nil
		}
	}
	if len(gc.resources) == 0 {
		last = nil
		for _, p := range s.snap.order {
			if (len(filtered) == 0 || filtered[p.uuid]) && !forbidden[p.uuid] {
				last = append(last, capacityRow{uuid: p.uuid, root: p.root})
			}
		}
	}
	var out []capacityRow
	for _, r := range last {
		if filtered[r.uuid] {
			out = append(out, r)
		}
	}
	return out
}

// traitsAndAggsFilter is get_provider_ids_for_traits_and_aggs: the providers allowed by
// the group's required traits and aggregates (empty when neither is given) and those
// excluded by its forbidden ones; ok is false when nothing can match.
func (s *search) traitsAndAggsFilter(gc *groupContext) (filtered, forbidden map[string]bool, ok bool) {
	filtered = map[string]bool{}
	if len(gc.required) > 0 {
		filtered = s.snap.matchingRequiredTraits(gc.required)
		if len(filtered) == 0 {
			return nil, nil, false
		}
	}
	if len(gc.memberOf) > 0 {
		if len(filtered) > 0 {
			filtered = intersect(filtered, gc.rpsInAggs)
		} else {
			filtered = copySet(gc.rpsInAggs)
		}
		if len(filtered) == 0 {
			return nil, nil, false
		}
	}
	forbidden = map[string]bool{}
	for _, bad := range []map[string]bool{s.snap.matchingAggregates(nonEmpty(gc.forbiddenAggs)), s.snap.withAnyTrait(gc.forbidden)} {
		for k := range bad {
			forbidden[k] = true
		}
		if len(filtered) > 0 && len(bad) > 0 {
			for k := range bad {
				delete(filtered, k)
			}
			if len(filtered) == 0 {
				return nil, nil, false
			}
		}
	}
	return filtered, forbidden, true
}

// nonEmpty wraps a list as one OR-set, or returns nil for an empty list.
func nonEmpty(list []string) [][]string {
	if len(list) == 0 {
		return nil
	}
	return [][]string{list}
}

// copySet returns a copy of a set.
func copySet(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// singleProvider is _alloc_candidates_single_provider: one allocation request per
// matching provider, anchored at its root and, for a sharing provider, at the root of
// every tree it shares with.
func (s *search) singleProvider(gc *groupContext, tuples []capacityRow) []*areq {
	if len(tuples) == 0 {
		return nil
	}
	roots := map[string]bool{}
	for _, t := range tuples {
		roots[t.root] = true
	}
	s.ensureSummaries(roots)
	out := make([]*areq, 0, len(tuples))
	for _, t := range tuples {
		p := s.providers[t.uuid]
		req := &areq{anchor: p.root, mappings: []mapping{{suffix: gc.suffix, rps: []string{t.uuid}}},
			resources: make([]arr, 0, len(gc.resources))}
		for _, ra := range gc.resources {
			req.resources = append(req.resources, arr{rp: t.uuid, rc: ra.rc, amount: ra.amount, inv: p.inventory(ra.rc)})
		}
		if s.inFilteredAnchors(t.root) {
			out = append(out, req)
		}
		if s.sharing[t.uuid] {
			for _, anchor := range s.anchorsForSharing(t.uuid) {
				if anchor == t.root || !s.inFilteredAnchors(anchor) {
					continue
				}
				cp := *req
				cp.anchor = anchor
				out = append(out, &cp)
			}
		}
	}
	return out
}

// anchorsForSharing returns the roots of every tree with a provider in one of the sharing
// provider's aggregates (its own tree included when it is in an aggregate).
func (s *search) anchorsForSharing(uuid string) []string {
	p := s.providers[uuid]
	if p == nil || len(p.aggs) == 0 {
		return nil
	}
	roots := map[string]bool{}
	for _, a := range p.aggs {
		for _, m := range s.snap.aggProviders[a] {
			roots[s.providers[m].root] = true
		}
	}
	return sortedKeys(roots)
}

// rpCandidate is a provider with capacity for a class, under the root it would be
// allocated for (its own root, or the anchor a sharing provider serves).
type rpCandidate struct {
	rp, root, rc string
	inv          *snapInventory
}

// candidateList is rp_candidates.RPCandidateList.
type candidateList map[rpCandidate]bool

// trees returns the roots in the list.
func (l candidateList) trees() map[string]bool {
	out := map[string]bool{}
	for c := range l {
		out[c.root] = true
	}
	return out
}

// rps returns the providers in the list.
func (l candidateList) rps() map[string]bool {
	out := map[string]bool{}
	for c := range l {
		out[c.rp] = true
	}
	return out
}

// filter keeps the candidates keep accepts.
func (l candidateList) filter(keep func(rpCandidate) bool) {
	for c := range l {
		if !keep(c) {
			delete(l, c)
		}
	}
}

// treesMatchingAll is research_context.get_trees_matching_all: providers, grouped by the
// tree (or sharing anchor) they serve, such that every tree can satisfy all of the
// group's classes, with the group's aggregate and trait constraints applied per tree.
func (s *search) treesMatchingAll(gc *groupContext) candidateList {
	badAggs := s.snap.matchingAggregates(nonEmpty(gc.forbiddenAggs))
	all := candidateList{}
	for i, ra := range gc.resources {
		rcList := candidateList{}
		for _, r := range gc.rpsWithResource[ra.rc] {
			rcList[rpCandidate{r.uuid, r.root, ra.rc, r.inv}] = true
		}
		if len(rcList) == 0 {
			return nil
		}
		sharing := map[string]bool{}
		for _, r := range gc.rpsWithResource[ra.rc] {
			if s.sharing[r.uuid] && (gc.rpsInAggs == nil || gc.rpsInAggs[r.uuid]) {
				sharing[r.uuid] = true
			}
		}
		if len(sharing) > 0 && gc.treeRoot == "" {
			for _, sp := range sortedKeys(sharing) {
				for _, a := range s.anchorsForSharing(sp) {
					rcList[rpCandidate{sp, a, ra.rc, s.providers[sp].inventory(ra.rc)}] = true
				}
			}
		}
		if s.anchorRoots != nil {
			rcList.filter(func(c rpCandidate) bool { return s.anchorRoots[c.root] })
			if len(rcList) == 0 {
				return nil
			}
		}
		if len(gc.memberOf) > 0 {
			rcList.filter(func(c rpCandidate) bool { return gc.rpsInAggs[c.rp] || gc.rpsInAggs[c.root] })
			if len(rcList) == 0 {
				return nil
			}
		}
		if len(gc.forbiddenAggs) > 0 {
			rcList.filter(func(c rpCandidate) bool { return !badAggs[c.rp] && !badAggs[c.root] })
			if len(rcList) == 0 {
				return nil
			}
		}
		if i == 0 {
			all = rcList
		} else {
			both := intersect(all.trees(), rcList.trees())
			for c := range rcList {
				all[c] = true
			}
			all.filter(func(c rpCandidate) bool { return both[c.root] })
		}
		if len(all) == 0 {
			return nil
		}
	}
	if len(gc.required) == 0 && len(gc.forbidden) == 0 || len(s.sharing) > 0 {
		return all
	}
	keep := s.treesWithTraits(all.rps(), gc.required, gc.forbidden)
	all.filter(func(c rpCandidate) bool { return keep[rpRC{c.rp, c.root}] })
	return all
}

// treesWithTraits is research_context._get_trees_with_traits: of the given providers,
// those (as provider, root pairs) in trees whose providers without forbidden traits
// collectively have the required ones.
func (s *search) treesWithTraits(rps map[string]bool, required [][]string, forbidden []string) map[rpRC]bool {
	forb := map[string]bool{}
	for _, t := range forbidden {
		forb[t] = true
	}
	goodRoots := map[string]bool{}
	rootTraits := map[string]map[string]bool{}
	for u := range rps {
		bad := false
		for _, t := range s.providers[u].traits {
			if forb[t] {
				bad = true
			}
		}
		if bad {
			continue
		}
		root := s.providers[u].root
		goodRoots[root] = true
		if rootTraits[root] == nil {
			rootTraits[root] = map[string]bool{}
		}
		for _, t := range s.providers[u].traits {
			rootTraits[root][t] = true
		}
	}
	out := map[rpRC]bool{}
	for u := range rps {
		root := s.providers[u].root
		if len(required) == 0 {
			if goodRoots[root] {
				out[rpRC{u, root}] = true
			}
			continue
		}
		have := rootTraits[root]
		ok := have != nil
		for _, anyOf := range required {
			if !ok {
				break
			}
			hit := false
			for _, t := range anyOf {
				if have[t] {
					hit = true
				}
			}
			ok = hit
		}
		if ok {
			out[rpRC{u, root}] = true
		}
	}
	return out
}

// multipleProviders is _alloc_candidates_multiple_providers: per tree, every combination
// of one provider per class that collectively satisfies the group's traits.
func (s *search) multipleProviders(gc *groupContext, cands candidateList) []*areq {
	if len(cands) == 0 {
		return nil
	}
	roots := map[string]bool{}
	for c := range cands {
		roots[c.root] = true
		roots[s.providers[c.rp].root] = true
	}
	s.ensureSummaries(roots)
	amounts := map[string]int64{}
	for _, ra := range gc.resources {
		amounts[ra.rc] = ra.amount
	}
	treeDict := map[string]map[string][]arr{}
	for c := range cands {
		if treeDict[c.root] == nil {
			treeDict[c.root] = map[string][]arr{}
		}
		treeDict[c.root][c.rc] = append(treeDict[c.root][c.rc], arr{rp: c.rp, rc: c.rc, amount: amounts[c.rc], inv: c.inv})
	}
	var out []*areq
	seen := map[string]bool{}
	for _, root := range sortedKeys(treeDict) {
		byRC := treeDict[root]
		var lists [][]arr
		for _, rc := range sortedKeys(byRC) {
			l := byRC[rc]
			sort.Slice(l, func(i, j int) bool { return l[i].rp < l[j].rp })
			lists = append(lists, l)
		}
		product(lists, func(combo []arr) bool {
			if !s.checkTraits(combo, gc.required, gc.forbidden) {
				return true
			}
			rps := make([]string, 0, len(combo))
			for _, a := range combo {
				rps = append(rps, a.rp)
			}
			req := &areq{anchor: root, resources: append([]arr(nil), combo...),
				mappings: []mapping{{suffix: gc.suffix, rps: sortedUnique(rps)}}}
			if k := req.key(); !seen[k] {
				seen[k] = true
				out = append(out, req)
			}
			return true
		})
	}
	return out
}

// product calls fn with every combination of one element per list, in order, until fn
// returns false.
func product(lists [][]arr, fn func([]arr) bool) {
	combo := make([]arr, len(lists))
	var rec func(i int) bool
	rec = func(i int) bool {
		if i == len(lists) {
			return fn(combo)
		}
		for _, a := range lists[i] {
			combo[i] = a
			if !rec(i + 1) {
				return false
			}
		}
		return true
	}
	rec(0)
}

// checkTraits is _check_traits_for_alloc_request: no provider has a forbidden trait and
// together they have the required ones.
func (s *search) checkTraits(combo []arr, required [][]string, forbidden []string) bool {
	if len(required) == 0 && len(forbidden) == 0 {
		return true
	}
	all := map[string]bool{}
	for _, a := range combo {
		p := s.providers[a.rp]
		for _, t := range forbidden {
			if p.traitSet[t] {
				return false
			}
		}
		for _, t := range p.traits {
			all[t] = true
		}
	}
	for _, anyOf := range required {
		hit := false
		for _, t := range anyOf {
			if all[t] {
				hit = true
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

// key identifies an allocation request by its resources and mappings, as
// AllocationRequest.__eq__ compares them.
func (a *areq) key() string {
	if a.cachedKey != "" {
		return a.cachedKey
	}
	var b strings.Builder
	b.Grow(48 * (len(a.resources) + len(a.mappings)))
	res := a.resources
	if len(res) > 1 {
		res = append([]arr(nil), res...)
		sort.Slice(res, func(i, j int) bool {
			if res[i].rp != res[j].rp {
				return res[i].rp < res[j].rp
			}
			return res[i].rc < res[j].rc
		})
	}
	for _, r := range res {
		b.WriteString(r.rp)
		b.WriteByte('|')
		b.WriteString(r.rc)
		b.WriteByte('|')
		b.WriteString(strconv.FormatInt(r.amount, 10))
		b.WriteByte(';')
	}
	b.WriteByte('#')
	for _, m := range a.mappings {
		b.WriteString(m.suffix)
		b.WriteByte('=')
		for _, rp := range m.rps {
			b.WriteString(rp)
			b.WriteByte(',')
		}
		b.WriteByte(';')
	}
	a.cachedKey = b.String()
	return a.cachedKey
}

// sortedUnique sorts list and removes repeats.
func sortedUnique(list []string) []string {
	sort.Strings(list)
	out := list[:0]
	for i, s := range list {
		if i == 0 || s != list[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// rpsFor returns the providers mapped to a suffix.
func (a *areq) rpsFor(suffix string) []string {
	for _, m := range a.mappings {
		if m.suffix == suffix {
			return m.rps
		}
	}
	return nil
}

// ensureSummaries puts the given trees (by root) in the summaries.
func (s *search) ensureSummaries(roots map[string]bool) {
	for r := range roots {
		s.loadedRoots[r] = true
	}
}

// merge is _merge_candidates: for every anchor with candidates for every group, each
// combination of one candidate per group that satisfies group_policy, same_subtree and
// capacity, consolidated into one allocation request.
func (s *search) merge(candidates map[string][]*areq, order []string) ([]*areq, []*snapProvider) {
	byAnchor := map[string]map[string][]*areq{}
	var anchors []string
	for _, suffix := range order {
		for _, a := range candidates[suffix] {
			if byAnchor[a.anchor] == nil {
				byAnchor[a.anchor] = map[string][]*areq{}
				anchors = append(anchors, a.anchor)
			}
			byAnchor[a.anchor][suffix] = append(byAnchor[a.anchor][suffix], a)
		}
	}
	numGranular := 0
	for _, suffix := range order {
		if suffix != "" {
			numGranular++
		}
	}
	var out []*areq
	seen := map[string]bool{}
	done := false
	for _, anchor := range anchors {
		if done {
			break
		}
		bySuffix := byAnchor[anchor]
		if len(bySuffix) != len(order) {
			continue
		}
		lists := make([][]*areq, len(order))
		for i, suffix := range order {
			lists[i] = bySuffix[suffix]
		}
		combo := make([]*areq, len(lists))
		var rec func(i int) bool
		rec = func(i int) bool {
			if i == len(lists) {
				if !s.satisfiesGroupPolicy(combo, numGranular) || !s.satisfiesSameSubtree(combo) {
					return true
				}
				merged := consolidate(combo)
				if s.exceedsCapacity(merged) {
					return true
				}
				if k := merged.key(); !seen[k] {
					seen[k] = true
					out = append(out, merged)
					if s.wide.maxCandidates > 0 && len(out) >= s.wide.maxCandidates {
						done = true
						return false
					}
				}
				return true
			}
			for _, a := range lists[i] {
				combo[i] = a
				if !rec(i + 1) {
					return false
				}
			}
			return true
		}
		rec(0)
	}
	if len(out) == 0 {
		return nil, nil
	}
	trees := map[string]bool{}
	for _, a := range out {
		for _, r := range a.resources {
			trees[s.providers[r.rp].root] = true
		}
	}
	return out, s.summariesForTrees(trees)
}

// summariesForTrees returns every provider of the given trees whose summary is in play,
// ordered by uuid.
func (s *search) summariesForTrees(trees map[string]bool) []*snapProvider {
	var out []*snapProvider
	for _, p := range s.snap.order {
		if trees[p.root] && s.loadedRoots[p.root] {
			out = append(out, p)
		}
	}
	return out
}

// consolidate is _consolidate_allocation_requests: one request with the amounts of the
// same provider and class added up and the mappings merged.
func consolidate(reqs []*areq) *areq {
	if len(reqs) == 1 {
		return reqs[0]
	}
	out := &areq{anchor: reqs[0].anchor}
	idx := map[rpRC]int{}
	bySuffix := map[string][]string{}
	for _, r := range reqs {
		for _, a := range r.resources {
			k := rpRC{a.rp, a.rc}
			if i, ok := idx[k]; ok {
				out.resources[i].amount += a.amount
				continue
			}
			idx[k] = len(out.resources)
			out.resources = append(out.resources, a)
		}
		for _, m := range r.mappings {
			bySuffix[m.suffix] = append(bySuffix[m.suffix], m.rps...)
		}
	}
	for _, suffix := range sortedKeys(bySuffix) {
		out.mappings = append(out.mappings, mapping{suffix: suffix, rps: sortedUnique(bySuffix[suffix])})
	}
	return out
}

// exceedsCapacity reports whether a consolidated request asks a provider for more than
// its free capacity or its max_unit of a class.
func (s *search) exceedsCapacity(a *areq) bool {
	for _, r := range a.resources {
		if r.inv == nil || s.used[r.inv.idx]+r.amount > r.inv.capacity() || r.amount > r.inv.MaxUnit {
			return true
		}
	}
	return false
}

// satisfiesGroupPolicy applies group_policy=isolate: the suffixed groups are satisfied by
// as many distinct providers as there are such groups.
func (s *search) satisfiesGroupPolicy(reqs []*areq, numGranular int) bool {
	if s.wide.groupPolicy != "isolate" {
		return true
	}
	rps := map[string]bool{}
	for _, r := range reqs {
		if !r.useSameProvider {
			continue
		}
		if len(r.mappings) > 0 {
			for _, rp := range r.mappings[0].rps {
				rps[rp] = true
			}
		}
	}
	return len(rps) == numGranular
}

// satisfiesSameSubtree applies same_subtree: for every listed set of suffixes, one of the
// providers satisfying them is an ancestor of (or is) all the others.
func (s *search) satisfiesSameSubtree(reqs []*areq) bool {
	for _, suffixes := range s.wide.sameSubtrees {
		rps := map[string]bool{}
		for _, r := range reqs {
			for _, suffix := range suffixes {
				for _, rp := range r.rpsFor(suffix) {
					rps[rp] = true
				}
			}
		}
		if len(rps) <= 1 {
			continue
		}
		var common map[string]bool
		for rp := range rps {
			anc := map[string]bool{}
			for u := rp; u != ""; {
				anc[u] = true
				p := s.providers[u]
				if p == nil {
					break
				}
				u = p.parent
			}
			common = intersect(common, anc)
		}
		ok := false
		for rp := range rps {
			if common[rp] {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// excludeNested drops, before microversion 1.29, requests that use two providers of one
// tree, and the summaries of providers no remaining request uses.
func (s *search) excludeNested(reqs []*areq, sums []*snapProvider) ([]*areq, []*snapProvider) {
	if s.wide.nestedAware || !s.hasTrees {
		return reqs, sums
	}
	var kept []*areq
	used := map[string]bool{}
	for _, r := range reqs {
		rootByRP := map[string]string{}
		for _, a := range r.resources {
			rootByRP[a.rp] = s.providers[a.rp].root
		}
		roots := map[string]bool{}
		for _, root := range rootByRP {
			roots[root] = true
		}
		if len(roots) == len(rootByRP) {
			kept = append(kept, r)
			for rp := range rootByRP {
				used[rp] = true
			}
		}
	}
	var keptSums []*snapProvider
	for _, p := range sums {
		if used[p.uuid] {
			keptSums = append(keptSums, p)
		}
	}
	return kept, keptSums
}

// limitResults keeps the first limit requests and the summaries of their trees.
func (s *search) limitResults(reqs []*areq, sums []*snapProvider) ([]*areq, []*snapProvider) {
	if s.wide.limit <= 0 || s.wide.limit >= len(reqs) {
		return reqs, sums
	}
	reqs = reqs[:s.wide.limit]
	trees := map[string]bool{}
	for _, r := range reqs {
		for _, a := range r.resources {
			trees[s.providers[a.rp].root] = true
		}
	}
	var kept []*snapProvider
	for _, p := range sums {
		if trees[p.root] {
			kept = append(kept, p)
		}
	}
	return reqs, kept
}
