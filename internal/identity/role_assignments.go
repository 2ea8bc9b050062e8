package identity

import (
	"context"
	"slices"
	"strings"

	"github.com/gostack/gostack/internal/store"
)

// assignmentRef is one role assignment as Keystone's assignment manager passes them
// around: an actor, a target and a role. Effective listings also record where an
// assignment came from: the group the user is a member of, the project or domain an
// inherited grant was made on, and the prior role that implied this one.
type assignmentRef struct {
	UserID, GroupID     string
	ProjectID, DomainID string
	System              bool
	RoleID              string
	// Inherited marks a grant inherited to the projects below its target.
	Inherited bool

	IndirectGroupID, IndirectProjectID, IndirectDomainID, IndirectRoleID string
}

// assignmentRowFilter selects stored project and domain assignments, as Keystone's SQL
// driver list_role_assignments does. Empty fields do not filter; GroupIDs wins over
// UserID, and ProjectIDs over DomainID.
type assignmentRowFilter struct {
	RoleID     string
	UserID     string
	GroupIDs   []string
	DomainID   string
	ProjectIDs []string
	// Inherited, when set, selects inherited or non-inherited grants only.
	Inherited *bool
}

// boolPtr returns a pointer to b.
func boolPtr(b bool) *bool { return &b }

// listAssignmentRows returns the project and domain assignments matching f, in primary
// key order.
func listAssignmentRows(ctx context.Context, q store.Querier, f assignmentRowFilter) ([]assignmentRef, error) {
	var actorTypes, targetTypes []string
	var actors, targets []string
	switch {
	case len(f.GroupIDs) > 0:
		actorTypes, actors = []string{typeGroupProject, typeGroupDomain}, f.GroupIDs
	case f.UserID != "":
		actorTypes, actors = []string{typeUserProject, typeUserDomain}, []string{f.UserID}
	}
	switch {
	case len(f.ProjectIDs) > 0:
		targetTypes, targets = []string{typeUserProject, typeGroupProject}, f.ProjectIDs
	case f.DomainID != "":
		targetTypes, targets = []string{typeUserDomain, typeGroupDomain}, []string{f.DomainID}
	}
	types := []string{typeUserProject, typeGroupProject, typeUserDomain, typeGroupDomain}
	switch {
	case actorTypes != nil && targetTypes != nil:
		types = nil
		for _, t := range actorTypes {
			for _, u := range targetTypes {
				if t == u {
					types = append(types, t)
				}
			}
		}
	case actorTypes != nil:
		types = actorTypes
	case targetTypes != nil:
		types = targetTypes
	}
	where := []string{"type IN (" + inMarks(len(types)) + ")"}
	args := inArgs(types)
	if f.RoleID != "" {
		where, args = append(where, "role_id = ?"), append(args, f.RoleID)
	}
	if actors != nil {
		where, args = append(where, "actor_id IN ("+inMarks(len(actors))+")"), append(args, inArgs(actors)...)
	}
	if targets != nil {
		where, args = append(where, "target_id IN ("+inMarks(len(targets))+")"), append(args, inArgs(targets)...)
	}
	if f.Inherited != nil {
		where, args = append(where, "inherited = ?"), append(args, *f.Inherited)
	}
	rows, err := q.QueryContext(ctx, `SELECT type, actor_id, target_id, role_id, inherited FROM assignments WHERE `+
		strings.Join(where, " AND ")+` ORDER BY type, actor_id, target_id, role_id, inherited`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []assignmentRef
	for rows.Next() {
		var typ, actor, target string
		var a assignmentRef
		if err := rows.Scan(&typ, &actor, &target, &a.RoleID, &a.Inherited); err != nil {
			return nil, err
		}
		if strings.HasPrefix(typ, "User") {
			a.UserID = actor
		} else {
			a.GroupID = actor
		}
		if strings.HasSuffix(typ, "Project") {
			a.ProjectID = target
		} else {
			a.DomainID = target
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// listSystemAssignmentRows returns the system assignments of a user, of a group, or of
// everyone when both are empty.
func listSystemAssignmentRows(ctx context.Context, q store.Querier, userID, groupID string) ([]assignmentRef, error) {
	where, args := "type IN (?, ?)", []any{typeUserSystem, typeGroupSystem}
	switch {
	case userID != "":
		where, args = "type = ? AND actor_id = ?", []any{typeUserSystem, userID}
	case groupID != "":
		where, args = "type = ? AND actor_id = ?", []any{typeGroupSystem, groupID}
	}
	rows, err := q.QueryContext(ctx, `SELECT type, actor_id, role_id FROM assignments WHERE `+where+
		` AND target_id = ? ORDER BY type, actor_id, role_id`, append(args, systemTargetID)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []assignmentRef
	for rows.Next() {
		var typ, actor string
		a := assignmentRef{System: true}
		if err := rows.Scan(&typ, &actor, &a.RoleID); err != nil {
			return nil, err
		}
		if typ == typeUserSystem {
			a.UserID = actor
		} else {
			a.GroupID = actor
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// assignmentFilter is a GET /v3/role_assignments request.
type assignmentFilter struct {
	RoleID, UserID, GroupID string
	DomainID, ProjectID     string
	// System is set by scope.system=all.
	System bool
	// IncludeSubtree extends a project filter to the project's descendants.
	IncludeSubtree bool
	// Inherited is set by scope.OS-INHERIT:inherited_to: true for "projects", false for
	// anything else.
	Inherited *bool
	// Effective expands groups, inheritance and implied roles.
	Effective bool
}

// assignmentLister runs one listing, remembering the lookups it makes.
type assignmentLister struct {
	s              *Service
	ctx            context.Context
	q              store.Querier
	members        map[string][]string
	subtrees       map[string][]string
	domainProjects map[string][]string
}

// listRoleAssignments lists role assignments as Keystone's list_role_assignments does.
func (s *Service) listRoleAssignments(ctx context.Context, q store.Querier, f assignmentFilter) ([]assignmentRef, error) {
	l := &assignmentLister{s: s, ctx: ctx, q: q, members: map[string][]string{},
		subtrees: map[string][]string{}, domainProjects: map[string][]string{}}
	var subtree []string
	if f.ProjectID != "" && f.IncludeSubtree {
		var err error
		if subtree, err = l.subtree(f.ProjectID); err != nil {
			return nil, err
		}
	}
	if f.Effective {
		return l.effective(f, subtree)
	}
	return l.direct(f, subtree)
}

// subtree returns a project's descendants.
func (l *assignmentLister) subtree(id string) ([]string, error) {
	if ids, ok := l.subtrees[id]; ok {
		return ids, nil
	}
	ids, err := l.s.projectSubtreeIDs(l.ctx, l.q, id)
	if err != nil {
		return nil, err
	}
	l.subtrees[id] = ids
	return ids, nil
}

// groupMembers returns a group's members.
func (l *assignmentLister) groupMembers(id string) ([]string, error) {
	if ids, ok := l.members[id]; ok {
		return ids, nil
	}
	ids, err := groupMemberIDs(l.ctx, l.q, id)
	if err != nil {
		return nil, err
	}
	l.members[id] = ids
	return ids, nil
}

// projectsOfDomain returns the projects of a domain.
func (l *assignmentLister) projectsOfDomain(id string) ([]string, error) {
	if ids, ok := l.domainProjects[id]; ok {
		return ids, nil
	}
	ids, err := domainProjectIDs(l.ctx, l.q, id)
	if err != nil {
		return nil, err
	}
	l.domainProjects[id] = ids
	return ids, nil
}

// interest is the list of projects a project filter covers: the project and, with
// include_subtree, its descendants.
func interest(projectID string, subtree []string) []string {
	if projectID == "" {
		return nil
	}
	return append(append([]string{}, subtree...), projectID)
}

// direct lists stored assignments matching the filters, without expansion (Keystone's
// _list_direct_role_assignments). System assignments are listed when asked for with
// scope.system, or when no project or domain filter is given.
func (l *assignmentLister) direct(f assignmentFilter, subtree []string) ([]assignmentRef, error) {
	var out []assignmentRef
	if !f.System {
		rf := assignmentRowFilter{RoleID: f.RoleID, UserID: f.UserID, DomainID: f.DomainID,
			ProjectIDs: interest(f.ProjectID, subtree), Inherited: f.Inherited}
		if f.GroupID != "" {
			rf.GroupIDs = []string{f.GroupID}
		}
		rows, err := listAssignmentRows(l.ctx, l.q, rf)
		if err != nil {
			return nil, err
		}
		out = rows
	}
	if f.System || (f.ProjectID == "" && f.DomainID == "") {
		rows, err := listSystemAssignmentRows(l.ctx, l.q, f.UserID, f.GroupID)
		if err != nil {
			return nil, err
		}
		for _, a := range rows {
			if f.RoleID == "" || a.RoleID == f.RoleID {
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// actorQuery asks for the assignments that could affect an actor on a target (Keystone's
// list_role_assignments_for_actor).
type actorQuery struct {
	UserID    string
	GroupIDs  []string
	ProjectID string
	Subtree   []string
	DomainID  string
	Inherited *bool
}

// forActor lists the stored assignments that could affect the actor on the target:
// non-inherited ones on the target itself, and inherited ones from the project's domain
// and ancestors (or, without a project filter, every inherited one).
func (l *assignmentLister) forActor(aq actorQuery) ([]assignmentRef, error) {
	poi := interest(aq.ProjectID, aq.Subtree)
	var out []assignmentRef
	if aq.Inherited == nil || !*aq.Inherited {
		rows, err := listAssignmentRows(l.ctx, l.q, assignmentRowFilter{UserID: aq.UserID, GroupIDs: aq.GroupIDs,
			DomainID: aq.DomainID, ProjectIDs: poi, Inherited: boolPtr(false)})
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	if aq.Inherited != nil && !*aq.Inherited {
		return out, nil
	}
	if aq.ProjectID == "" {
		rows, err := listAssignmentRows(l.ctx, l.q, assignmentRowFilter{UserID: aq.UserID, GroupIDs: aq.GroupIDs,
			Inherited: boolPtr(true)})
		if err != nil {
			return nil, err
		}
		return append(out, rows...), nil
	}
	p, err := l.s.getProject(l.ctx, l.q, aq.ProjectID)
	if err != nil {
		return nil, err
	}
	rows, err := listAssignmentRows(l.ctx, l.q, assignmentRowFilter{UserID: aq.UserID, GroupIDs: aq.GroupIDs,
		DomainID: p.DomainID, Inherited: boolPtr(true)})
	if err != nil {
		return nil, err
	}
	out = append(out, rows...)
	sources, err := l.s.projectAncestorIDs(l.ctx, l.q, aq.ProjectID)
	if err != nil {
		return nil, err
	}
	if len(aq.Subtree) > 0 {
		sources = append(sources, poi...)
	}
	if len(sources) > 0 {
		rows, err := listAssignmentRows(l.ctx, l.q, assignmentRowFilter{UserID: aq.UserID, GroupIDs: aq.GroupIDs,
			ProjectIDs: sources, Inherited: boolPtr(true)})
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

// effective lists the assignments that actually affect users, as a token would see them
// (Keystone's _list_effective_role_assignments): group grants become one row per member,
// inherited grants one row per project they reach, implied roles are added with their
// prior role recorded, and domain-specific roles are dropped. System assignments are not
// part of effective listings in Keystone.
func (l *assignmentLister) effective(f assignmentFilter, subtree []string) ([]assignmentRef, error) {
	if f.GroupID != "" || (f.DomainID != "" && f.Inherited != nil && *f.Inherited) {
		return nil, nil
	}
	inherited := f.Inherited
	if f.DomainID != "" {
		inherited = boolPtr(false)
	}
	refs, err := l.forActor(actorQuery{UserID: f.UserID, ProjectID: f.ProjectID, Subtree: subtree,
		DomainID: f.DomainID, Inherited: inherited})
	if err != nil {
		return nil, err
	}
	if f.UserID != "" {
		groups, err := memberGroupIDs(l.ctx, l.q, f.UserID)
		if err != nil {
			return nil, err
		}
		if len(groups) > 0 {
			grefs, err := l.forActor(actorQuery{GroupIDs: groups, ProjectID: f.ProjectID, Subtree: subtree,
				DomainID: f.DomainID, Inherited: inherited})
			if err != nil {
				return nil, err
			}
			refs = append(refs, grefs...)
		}
	}
	var expanded []assignmentRef
	for _, ref := range refs {
		more, err := l.expand(ref, f.UserID, f.ProjectID, subtree)
		if err != nil {
			return nil, err
		}
		expanded = append(expanded, more...)
	}
	rules, err := impliedRuleMap(l.ctx, l.q)
	if err != nil {
		return nil, err
	}
	expanded = addImpliedRoles(expanded, rules)
	roleIDs := map[string]bool{}
	for _, a := range expanded {
		roleIDs[a.RoleID] = true
	}
	roles, err := rolesByIDs(l.ctx, l.q, sortedSet(roleIDs))
	if err != nil {
		return nil, err
	}
	global := map[string]bool{}
	for _, ro := range roles {
		if ro.DomainID == "" {
			global[ro.ID] = true
		}
	}
	out := expanded[:0]
	for _, a := range expanded {
		if global[a.RoleID] && (f.RoleID == "" || a.RoleID == f.RoleID) {
			out = append(out, a)
		}
	}
	return out, nil
}

// expand replaces a group assignment by one per member (or by the filtered user's only)
// and an inherited assignment by one per project it reaches, limited to the filtered
// project (and its subtree) when there is one (Keystone's _expand_indirect_assignment).
func (l *assignmentLister) expand(ref assignmentRef, userID, projectID string, subtree []string) ([]assignmentRef, error) {
	users := func() ([]string, error) {
		if userID != "" {
			return []string{userID}, nil
		}
		return l.groupMembers(ref.GroupID)
	}
	if !ref.Inherited {
		if ref.GroupID == "" {
			return []assignmentRef{ref}, nil
		}
		members, err := users()
		if err != nil {
			return nil, err
		}
		out := make([]assignmentRef, 0, len(members))
		for _, u := range members {
			a := ref
			a.UserID, a.GroupID, a.IndirectGroupID = u, "", ref.GroupID
			out = append(out, a)
		}
		return out, nil
	}
	var projects []string
	var err error
	switch {
	case projectID != "":
		projects = []string{projectID}
		if len(subtree) > 0 {
			projects = append(projects, subtree...)
			if ref.ProjectID != "" && slices.Contains(projects, ref.ProjectID) {
				projects, err = l.subtree(ref.ProjectID)
			}
		}
	case ref.DomainID != "":
		projects, err = l.projectsOfDomain(ref.DomainID)
	default:
		projects, err = l.subtree(ref.ProjectID)
	}
	if err != nil {
		return nil, err
	}
	onProject := func(base assignmentRef, pid string) assignmentRef {
		a := base
		if ref.ProjectID != "" {
			a.IndirectProjectID = ref.ProjectID
		} else {
			a.IndirectDomainID = ref.DomainID
		}
		a.ProjectID, a.DomainID, a.Inherited = pid, "", false
		return a
	}
	var out []assignmentRef
	if ref.GroupID == "" {
		for _, pid := range projects {
			out = append(out, onProject(ref, pid))
		}
		return out, nil
	}
	members, err := users()
	if err != nil {
		return nil, err
	}
	for _, u := range members {
		base := ref
		base.UserID, base.GroupID, base.IndirectGroupID = u, "", ref.GroupID
		for _, pid := range projects {
			out = append(out, onProject(base, pid))
		}
	}
	return out, nil
}

// addImpliedRoles adds, for every assignment, a copy for each role its role implies,
// transitively, recording the prior role; an assignment met again is not followed, so
// cycles end (Keystone's add_implied_roles).
func addImpliedRoles(refs []assignmentRef, rules map[string][]string) []assignmentRef {
	if len(rules) == 0 {
		return refs
	}
	out := append([]assignmentRef{}, refs...)
	stack := append([]assignmentRef{}, refs...)
	checked := map[assignmentRef]bool{}
	for len(stack) > 0 {
		next := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		checked[next] = true
		for _, implied := range rules[next.RoleID] {
			a := next
			a.RoleID, a.IndirectRoleID = implied, next.RoleID
			if checked[a] {
				continue
			}
			out = append(out, a)
			stack = append(stack, a)
		}
	}
	return out
}
