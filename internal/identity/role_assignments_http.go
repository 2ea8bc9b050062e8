package identity

import (
	"context"
	"net/http"
	"net/url"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// roleAssignmentRoutes is the route table for GET /v3/role_assignments. Its policy is
// checked in the handler, since include_subtree switches the rule and its target.
func (s *Service) roleAssignmentRoutes() []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/v3/role_assignments", Handler: s.listRoleAssignmentsHTTP},
	}
}

// queryFlag reads a Keystone key-only query flag: present and not "0" means true.
func queryFlag(q url.Values, name string) bool {
	return q.Has(name) && q.Get(name) != "0"
}

// parseAssignmentFilter reads the role assignment query parameters and refuses, as
// Keystone does, the combinations that make no sense.
func parseAssignmentFilter(q url.Values) (assignmentFilter, error) {
	f := assignmentFilter{
		RoleID: q.Get("role.id"), UserID: q.Get("user.id"), GroupID: q.Get("group.id"),
		DomainID: q.Get("scope.domain.id"), ProjectID: q.Get("scope.project.id"),
		System:         q.Get("scope.system") == "all",
		IncludeSubtree: queryFlag(q, "include_subtree"),
		Effective:      queryFlag(q, "effective"),
	}
	if q.Has("scope.OS-INHERIT:inherited_to") {
		f.Inherited = boolPtr(q.Get("scope.OS-INHERIT:inherited_to") == "projects")
	}
	system := q.Get("scope.system") != ""
	switch {
	case f.DomainID != "" && f.ProjectID != "":
		return f, api.BadRequest("Specify a domain or project, not both")
	case f.DomainID != "" && system:
		return f, api.BadRequest("Specify system or domain, not both")
	case f.ProjectID != "" && system:
		return f, api.BadRequest("Specify system or project, not both")
	case f.UserID != "" && f.GroupID != "":
		return f, api.BadRequest("Specify a user or group, not both")
	case f.Effective && f.GroupID != "":
		return f, api.BadRequest("Combining effective and group filter will always result in an empty list.")
	case f.Effective && f.Inherited != nil && *f.Inherited && f.DomainID != "":
		return f, api.BadRequest("Combining effective, domain and inherited filters will always result in an empty list.")
	}
	return f, nil
}

// listRoleAssignmentsHTTP handles GET /v3/role_assignments. A domain-scoped caller only
// sees assignments on its domain and the domain's projects; include_subtree is checked
// against identity:list_role_assignments_for_tree with the project as target.
func (s *Service) listRoleAssignmentsHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	tree := queryFlag(q, "include_subtree")
	// Keystone's query schema: id filters are id strings.
	for _, k := range []string{"user.id", "group.id", "role.id", "scope.project.id", "scope.domain.id"} {
		if q.Has(k) {
			if err := checkIDString(k, q.Get(k)); err != nil {
				return err
			}
		}
	}
	c := caller(ctx)
	if tree {
		t := policy.Target{}
		if id := q.Get("scope.project.id"); id != "" {
			p, err := s.getProject(ctx, s.db, id)
			if err != nil {
				return err
			}
			addProjectTarget(t, "target.project", p)
			t["target.domain_id"] = p.DomainID
		}
		if err := s.authorizeFor(ctx, "identity:list_role_assignments_for_tree", t); err != nil {
			return err
		}
		if q.Get("scope.project.id") == "" {
			return api.BadRequest("scope.project.id must be specified if include_subtree is also specified")
		}
	} else {
		t := policy.Target{}
		if c.DomainID != "" {
			t["target.domain_id"] = c.DomainID
		}
		if err := s.authorizeFor(ctx, "identity:list_role_assignments", t); err != nil {
			return err
		}
	}
	f, err := parseAssignmentFilter(q)
	if err != nil {
		return err
	}
	f.IncludeSubtree = tree
	refs, err := s.listRoleAssignments(ctx, s.db, f)
	if err != nil {
		return err
	}
	n := newAssignmentNames()
	if err := n.load(ctx, s.db, refs, queryFlag(q, "include_names")); err != nil {
		return err
	}
	base := api.BaseURL(r) + "/v3"
	out := make([]any, 0, len(refs))
	for _, a := range refs {
		if !tree && c.DomainID != "" && a.DomainID != c.DomainID && (a.ProjectID == "" || n.projects[a.ProjectID].domainID != c.DomainID) {
			continue
		}
		out = append(out, assignmentJSON(base, a, n))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"role_assignments": out, "links": api.KeystoneLinks(r)})
	return nil
}

// entityName is the name and domain of a user, group, project or role.
type entityName struct {
	name, domainID string
}

// assignmentNames holds the names include_names adds, and the projects' domains that
// domain-scoped callers are filtered on.
type assignmentNames struct {
	enabled                          bool
	users, groups, projects, domains map[string]entityName
	roles                            map[string]entityName
}

// newAssignmentNames returns an empty name set.
func newAssignmentNames() *assignmentNames {
	return &assignmentNames{users: map[string]entityName{}, groups: map[string]entityName{},
		projects: map[string]entityName{}, domains: map[string]entityName{}, roles: map[string]entityName{}}
}

// load looks up the projects of refs and, with include_names, every name they need.
func (n *assignmentNames) load(ctx context.Context, q store.Querier, refs []assignmentRef, names bool) error {
	n.enabled = names
	users, groups, projects, roles := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, a := range refs {
		if a.ProjectID != "" {
			projects[a.ProjectID] = true
		}
		if !names {
			continue
		}
		if a.UserID != "" {
			users[a.UserID] = true
		}
		if a.GroupID != "" {
			groups[a.GroupID] = true
		}
		if a.DomainID != "" {
			projects[a.DomainID] = true
		}
		roles[a.RoleID] = true
	}
	var err error
	if n.projects, err = lookupNames(ctx, q, "projects", sortedSet(projects)); err != nil {
		return err
	}
	if !names {
		return nil
	}
	if n.users, err = lookupNames(ctx, q, "users", sortedSet(users)); err != nil {
		return err
	}
	if n.groups, err = lookupNames(ctx, q, "groups", sortedSet(groups)); err != nil {
		return err
	}
	ros, err := rolesByIDs(ctx, q, sortedSet(roles))
	if err != nil {
		return err
	}
	domains := map[string]bool{}
	for _, ro := range ros {
		n.roles[ro.ID] = entityName{name: ro.Name, domainID: ro.DomainID}
		if ro.DomainID != "" {
			domains[ro.DomainID] = true
		}
	}
	for _, m := range []map[string]entityName{n.users, n.groups} {
		for _, e := range m {
			domains[e.domainID] = true
		}
	}
	for id, e := range n.projects {
		if e.domainID == RootDomainID {
			domains[id] = true
		} else {
			domains[e.domainID] = true
		}
	}
	n.domains, err = lookupNames(ctx, q, "projects", sortedSet(domains))
	return err
}

// lookupNames loads the name and domain_id of the rows of table with the given ids.
func lookupNames(ctx context.Context, q store.Querier, table string, ids []string) (map[string]entityName, error) {
	out := map[string]entityName{}
	for _, chunk := range inChunks(ids, 500) {
		rows, err := q.QueryContext(ctx, `SELECT id, name, domain_id FROM `+table+` WHERE id IN (`+inMarks(len(chunk))+`)`, inArgs(chunk)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			var e entityName
			if err := rows.Scan(&id, &e.name, &e.domainID); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = e
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ref renders an {"id"} object, with include_names its name and domain {"id", "name"}
// (Keystone shows empty strings for an actor that no longer exists).
func (n *assignmentNames) ref(id string, m map[string]entityName, withDomain bool) map[string]any {
	out := map[string]any{"id": id}
	if !n.enabled {
		return out
	}
	e := m[id]
	out["name"] = e.name
	if withDomain {
		out["domain"] = map[string]any{"id": e.domainID, "name": n.domains[e.domainID].name}
	}
	return out
}

// assignmentJSON renders one assignment as Keystone's _format_entity does, with the link
// to the grant it comes from and, for effective rows, the group membership and prior
// role links.
func assignmentJSON(base string, a assignmentRef, n *assignmentNames) map[string]any {
	links := map[string]any{}
	out := map[string]any{"links": links}
	inherited := a.Inherited
	var link string
	scope := map[string]any{}
	switch {
	case a.ProjectID != "":
		scope["project"] = n.ref(a.ProjectID, n.projects, true)
		switch {
		case a.IndirectDomainID != "":
			inherited, link = true, "/domains/"+a.IndirectDomainID
		case a.IndirectProjectID != "":
			inherited, link = true, "/projects/"+a.IndirectProjectID
		default:
			link = "/projects/" + a.ProjectID
		}
	case a.DomainID != "":
		scope["domain"] = n.ref(a.DomainID, n.domains, false)
		link = "/domains/" + a.DomainID
	case a.System:
		scope["system"] = map[string]any{"all": true}
		link = "/system"
	}
	out["scope"] = scope
	switch {
	case a.UserID != "":
		out["user"] = n.ref(a.UserID, n.users, true)
		if a.IndirectGroupID != "" {
			links["membership"] = base + "/groups/" + a.IndirectGroupID + "/users/" + a.UserID
			link += "/groups/" + a.IndirectGroupID
		} else {
			link += "/users/" + a.UserID
		}
	case a.GroupID != "":
		out["group"] = n.ref(a.GroupID, n.groups, true)
		link += "/groups/" + a.GroupID
	}
	roleRef := map[string]any{"id": a.RoleID}
	if n.enabled {
		e := n.roles[a.RoleID]
		roleRef["name"] = e.name
		if e.domainID != "" {
			roleRef["domain"] = map[string]any{"id": e.domainID, "name": n.domains[e.domainID].name}
		}
	}
	out["role"] = roleRef
	if a.IndirectRoleID != "" {
		link += "/roles/" + a.IndirectRoleID
		// Keystone's link names the implied role first; kept as Keystone writes it.
		links["prior_role"] = base + "/prior_role/" + a.RoleID + "/implies/" + a.IndirectRoleID
	} else {
		link += "/roles/" + a.RoleID
	}
	if inherited {
		scope["OS-INHERIT:inherited_to"] = "projects"
		link = "/OS-INHERIT" + link + "/inherited_to_projects"
	}
	links["assignment"] = base + link
	return out
}
