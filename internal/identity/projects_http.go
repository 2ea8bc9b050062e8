package identity

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// projectPolicies are Keystone's current project and domain defaults
// (keystone/common/policies/project.py, domain.py, project_tags) and token.py.
func projectPolicies() map[string]string {
	const (
		adminOrSystemReader             = "(rule:admin_required) or (role:reader and system_scope:all)"
		systemReaderDomainReaderProject = "(role:reader and system_scope:all) or (role:reader and domain_id:%(target.project.domain_id)s and not None:%(target.project.domain_id)s) or project_id:%(target.project.id)s"
		adminOrDomainManager            = "(rule:admin_required) or (role:manager and domain_id:%(target.project.domain_id)s and not None:%(target.project.domain_id)s)"
	)
	getProject := "(rule:admin_required) or " + systemReaderDomainReaderProject
	return map[string]string{
		"identity:get_project":         getProject,
		"identity:list_projects":       adminOrSystemReader + " or (role:reader and domain_id:%(target.domain_id)s)",
		"identity:list_user_projects":  "(rule:admin_required) or (role:reader and system_scope:all) or (role:reader and domain_id:%(target.user.domain_id)s) or user_id:%(target.user.id)s",
		"identity:create_project":      adminOrDomainManager,
		"identity:update_project":      adminOrDomainManager,
		"identity:delete_project":      adminOrDomainManager,
		"identity:list_project_tags":   getProject,
		"identity:get_project_tag":     getProject,
		"identity:update_project_tags": adminOrDomainManager,
		"identity:create_project_tag":  adminOrDomainManager,
		"identity:delete_project_tags": adminOrDomainManager,
		"identity:delete_project_tag":  adminOrDomainManager,

		"identity:get_domain": "rule:admin_required or (role:reader and system_scope:all) or " +
			"token.domain.id:%(target.domain.id)s or token.project.domain.id:%(target.domain.id)s",
		"identity:list_domains":  "rule:admin_required or (role:reader and system_scope:all) or (role:reader and domain_id:%(target.domain.id)s)",
		"identity:create_domain": "rule:admin_required",
		"identity:update_domain": "rule:admin_required",
		"identity:delete_domain": "rule:admin_required",
	}
}

// projectRoutes is the route table for projects and their tags.
func (s *Service) projectRoutes() []api.Route {
	pt := s.projectTarget
	return []api.Route{
		{Method: "GET", Path: "/v3/projects", Policy: "identity:list_projects", Target: s.listProjectsTarget, Handler: s.listProjects},
		{Method: "POST", Path: "/v3/projects", Handler: s.createProject},
		{Method: "GET", Path: "/v3/projects/{project_id}", Policy: "identity:get_project", Target: pt, Handler: s.showProject},
		{Method: "PATCH", Path: "/v3/projects/{project_id}", Policy: "identity:update_project", Target: pt, Handler: s.updateProject},
		{Method: "DELETE", Path: "/v3/projects/{project_id}", Policy: "identity:delete_project", Target: pt, Handler: s.deleteProject},
		{Method: "GET", Path: "/v3/projects/{project_id}/tags", Policy: "identity:list_project_tags", Target: pt, Handler: s.listProjectTags},
		{Method: "PUT", Path: "/v3/projects/{project_id}/tags", Policy: "identity:update_project_tags", Target: pt, Handler: s.replaceProjectTags},
		{Method: "DELETE", Path: "/v3/projects/{project_id}/tags", Policy: "identity:delete_project_tags", Target: pt, Handler: s.deleteProjectTags},
		{Method: "GET", Path: "/v3/projects/{project_id}/tags/{tag}", Policy: "identity:get_project_tag", Target: pt, Handler: s.showProjectTag},
		{Method: "PUT", Path: "/v3/projects/{project_id}/tags/{tag}", Policy: "identity:create_project_tag", Target: pt, Handler: s.addProjectTag},
		{Method: "DELETE", Path: "/v3/projects/{project_id}/tags/{tag}", Policy: "identity:delete_project_tag", Target: pt, Handler: s.deleteProjectTag},
	}
}

// projectTarget loads the project named in the path for policy checks.
func (s *Service) projectTarget(r *http.Request) (policy.Target, error) {
	p, err := s.getProject(r.Context(), s.db, r.PathValue("project_id"))
	if err != nil {
		return nil, err
	}
	return policy.Target{"target.project.id": p.ID, "target.project.domain_id": p.DomainID}, nil
}

// listProjectsTarget exposes the domain filter, which domain readers are limited to.
func (s *Service) listProjectsTarget(r *http.Request) (policy.Target, error) {
	return policy.Target{"target.domain_id": r.URL.Query().Get("domain_id")}, nil
}

// projectJSON renders a project as Keystone does; top-level projects show their domain as
// parent_id.
func projectJSON(r *http.Request, p *project) map[string]any {
	m := map[string]any{}
	for k, v := range p.Extra {
		m[k] = v
	}
	tags := p.Tags
	if tags == nil {
		tags = []string{}
	}
	var parent any
	if p.ParentID != "" {
		parent = p.ParentID
	}
	domainID := any(p.DomainID)
	if p.IsDomain {
		domainID = nil
	}
	opts := p.Options
	if opts == nil {
		opts = map[string]any{}
	}
	m["id"], m["name"], m["domain_id"], m["parent_id"] = p.ID, p.Name, domainID, parent
	m["description"], m["enabled"], m["is_domain"], m["tags"], m["options"] = p.Description, p.Enabled, p.IsDomain, tags, opts
	m["links"] = map[string]any{"self": api.BaseURL(r) + "/v3/projects/" + p.ID}
	return m
}

// projectKnownFields are the project attributes that are not free-form extras.
var projectKnownFields = []string{"id", "name", "domain_id", "parent_id", "is_domain", "enabled", "description", "tags", "options", "links"}

// readProjectFields applies the mutable fields of a create or update body to p.
func readProjectFields(o api.Object, p *project) error {
	if name, ok, err := o.Name("name", false, 64); err != nil {
		return err
	} else if ok {
		p.Name = name
	}
	if d, ok, err := o.Str("description", true); err != nil {
		return err
	} else if ok {
		p.Description = d
	}
	if e, ok, err := o.Bool("enabled"); err != nil {
		return err
	} else if ok {
		p.Enabled = e
	}
	if tags, ok, err := o.StrList("tags"); err != nil {
		return err
	} else if ok {
		t, err := validTags(tags)
		if err != nil {
			return err
		}
		p.Tags = t
	}
	opts, err := readOptions(o, projectOptionsKnown, p.Options)
	if err != nil {
		return err
	}
	p.Options = opts
	for k, v := range o.Extra(projectKnownFields...) {
		if p.Extra == nil {
			p.Extra = map[string]any{}
		}
		p.Extra[k] = v
	}
	return nil
}

// createProject handles POST /v3/projects, including projects acting as domains.
func (s *Service) createProject(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	o, err := api.DecodeObject(r, "project")
	if err != nil {
		return err
	}
	if _, _, err := o.Name("name", true, 64); err != nil {
		return err
	}
	p := &project{ID: api.NewID(), Enabled: true, Extra: map[string]any{}, Options: map[string]any{}, Tags: []string{}}
	if err := readProjectFields(o, p); err != nil {
		return err
	}
	isDomain, _, err := o.Bool("is_domain")
	if err != nil {
		return err
	}
	domainID, hasDomain, err := o.Str("domain_id", true)
	if err != nil {
		return err
	}
	parentID, _, err := o.Str("parent_id", true)
	if err != nil {
		return err
	}
	c := caller(ctx)
	if isDomain {
		if parentID != "" {
			return api.BadRequest("Invalid input: a project acting as a domain cannot have a parent.")
		}
		p.IsDomain, p.DomainID = true, RootDomainID
	} else {
		var parent *project
		if parentID != "" {
			parent, err = s.getProject(ctx, s.db, parentID)
			if err != nil {
				if api.AsError(err).Status == http.StatusNotFound {
					return api.BadRequest("Could not find parent project: %s.", parentID)
				}
				return err
			}
		}
		switch {
		case hasDomain && domainID != "":
		case parent != nil && parent.IsDomain:
			domainID = parent.ID
		case parent != nil:
			domainID = parent.DomainID
		case c.DomainID != "":
			domainID = c.DomainID
		case c.ProjectDomainID != "":
			domainID = c.ProjectDomainID
		default:
			domainID = DefaultDomainID
		}
		dom, err := s.getDomain(ctx, s.db, domainID)
		if err != nil {
			if api.AsError(err).Status == http.StatusNotFound {
				return api.BadRequest("Could not find domain: %s.", domainID)
			}
			return err
		}
		p.DomainID = dom.ID
		if parent == nil {
			parent = dom
		}
		if parent.IsDomain && parent.ID != dom.ID || !parent.IsDomain && parent.DomainID != dom.ID {
			return api.BadRequest("Cannot create project, the parent (%s) is acting as a domain but its domain does not match the project's domain.", parent.ID)
		}
		if !parent.IsDomain {
			depth, err := s.projectDepth(ctx, s.db, parent.ID)
			if err != nil {
				return err
			}
			// The new project sits two levels below the parent's ancestors (the parent
			// itself and the project); Keystone counts the domain as level zero.
			if depth+2 > maxProjectTreeDepth {
				return api.Forbidden("Max hierarchy depth reached for %s branch.", parent.ID)
			}
		}
		p.ParentID = parent.ID
	}
	target := policy.Target{"target.project.domain_id": p.DomainID}
	if p.IsDomain {
		target["target.project.domain_id"] = nil
	}
	if err := s.authorizeFor(ctx, "identity:create_project", target); err != nil {
		return err
	}
	if err := s.write(ctx, func(tx *store.Tx) error { return insertProject(ctx, tx, p) }); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"project": projectJSON(r, p)})
	return nil
}

// authorizeFor checks a policy rule for the request's caller against a target built from
// the request body.
func (s *Service) authorizeFor(ctx context.Context, rule string, target policy.Target) error {
	c := caller(ctx)
	if _, ok := target["user_id"]; !ok {
		target["user_id"] = c.UserID
	}
	if _, ok := target["project_id"]; !ok {
		target["project_id"] = c.ProjectID
	}
	if s.enforcer.Enforce(rule, c.PolicyCredentials(), target) {
		return nil
	}
	return api.Forbidden("You are not authorized to perform the requested action: %s.", rule)
}

// showProject handles GET /v3/projects/{id}, with the parents/subtree options.
func (s *Service) showProject(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, err := s.getProject(ctx, s.db, r.PathValue("project_id"))
	if err != nil {
		return err
	}
	out := projectJSON(r, p)
	q := r.URL.Query()
	if q.Has("parents_as_ids") || q.Has("parents_as_list") {
		ids, err := s.projectAncestorIDs(ctx, s.db, p.ID)
		if err != nil {
			return err
		}
		if !p.IsDomain && p.DomainID != "" {
			ids = append(ids, p.DomainID)
		}
		if q.Has("parents_as_ids") {
			var nested any
			for i := len(ids) - 1; i >= 0; i-- {
				nested = map[string]any{ids[i]: nested}
			}
			out["parents"] = nested
		} else {
			list := []any{}
			for _, id := range ids {
				pp, err := s.getProject(ctx, s.db, id)
				if err == nil {
					list = append(list, map[string]any{"project": projectJSON(r, pp)})
				}
			}
			out["parents"] = list
		}
	}
	if q.Has("subtree_as_ids") || q.Has("subtree_as_list") {
		if q.Has("subtree_as_ids") {
			tree, err := s.subtreeIDs(ctx, p.ID)
			if err != nil {
				return err
			}
			out["subtree"] = tree
		} else {
			ids, err := s.projectSubtreeIDs(ctx, s.db, p.ID)
			if err != nil {
				return err
			}
			list := []any{}
			for _, id := range ids {
				pp, err := s.getProject(ctx, s.db, id)
				if err == nil {
					list = append(list, map[string]any{"project": projectJSON(r, pp)})
				}
			}
			out["subtree"] = list
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"project": out})
	return nil
}

// subtreeIDs renders a project's descendants as Keystone's nested id map (nil leaves).
func (s *Service) subtreeIDs(ctx context.Context, id string) (any, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM projects WHERE parent_id = ? AND is_domain = ? ORDER BY id`, id, false)
	if err != nil {
		return nil, err
	}
	var kids []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return nil, err
		}
		kids = append(kids, k)
	}
	rows.Close()
	if len(kids) == 0 {
		return nil, nil
	}
	m := map[string]any{}
	for _, k := range kids {
		sub, err := s.subtreeIDs(ctx, k)
		if err != nil {
			return nil, err
		}
		m[k] = sub
	}
	return m, nil
}

// listProjects handles GET /v3/projects with Keystone's filters.
func (s *Service) listProjects(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	where := []string{"is_domain = ?"}
	isDomain, present, err := api.QueryBool(q, "is_domain")
	if err != nil {
		return err
	}
	args := []any{present && isDomain}
	if v := q.Get("domain_id"); v != "" {
		where, args = append(where, "domain_id = ?"), append(args, v)
	}
	if v := q.Get("parent_id"); v != "" {
		where, args = append(where, "parent_id = ?"), append(args, v)
	}
	if e, ok, err := api.QueryBool(q, "enabled"); err != nil {
		return err
	} else if ok {
		where, args = append(where, "enabled = ?"), append(args, e)
	}
	w2, a2 := nameFilters(q)
	where, args = append(where, w2...), append(args, a2...)
	ps, err := s.queryProjects(ctx, strings.Join(where, " AND "), args...)
	if err != nil {
		return err
	}
	ps = filterByTags(ps, q)
	out := make([]any, 0, len(ps))
	for _, p := range ps {
		out = append(out, projectJSON(r, p))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"projects": out, "links": api.KeystoneLinks(r)})
	return nil
}

// nameFilters turns Keystone's name filters (exact, and the inexact __contains,
// __icontains, __startswith, __istartswith, __endswith, __iendswith, __equals, __iequals)
// into SQL conditions.
func nameFilters(q map[string][]string) ([]string, []any) {
	var where []string
	var args []any
	get := func(k string) (string, bool) {
		v, ok := q[k]
		if !ok || len(v) == 0 {
			return "", false
		}
		return v[0], true
	}
	if v, ok := get("name"); ok {
		where, args = append(where, "name = ?"), append(args, v)
	}
	like := func(suffix, pattern string, ci bool) {
		if v, ok := get("name__" + suffix); ok {
			esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(v)
			col := "name"
			if ci {
				col, esc = "LOWER(name)", strings.ToLower(esc)
			}
			where = append(where, col+` LIKE ? ESCAPE '\'`)
			args = append(args, strings.ReplaceAll(pattern, "X", esc))
		}
	}
	like("contains", "%X%", false)
	like("icontains", "%X%", true)
	like("startswith", "X%", false)
	like("istartswith", "X%", true)
	like("endswith", "%X", false)
	like("iendswith", "%X", true)
	like("equals", "X", false)
	like("iequals", "X", true)
	return where, args
}

// matchInexact applies Keystone's inexact filters on one attribute (attr__contains,
// __icontains, __startswith, __istartswith, __endswith, __iendswith, __equals, __iequals)
// to a value, for lists filtered in memory.
func matchInexact(q url.Values, attr, value string) bool {
	for _, op := range []string{"contains", "startswith", "endswith", "equals"} {
		for _, ci := range []bool{false, true} {
			key := attr + "__" + op
			if ci {
				key = attr + "__i" + op
			}
			if !q.Has(key) {
				continue
			}
			want, got := q.Get(key), value
			if ci {
				want, got = strings.ToLower(want), strings.ToLower(got)
			}
			var ok bool
			switch op {
			case "contains":
				ok = strings.Contains(got, want)
			case "startswith":
				ok = strings.HasPrefix(got, want)
			case "endswith":
				ok = strings.HasSuffix(got, want)
			default:
				ok = got == want
			}
			if !ok {
				return false
			}
		}
	}
	return true
}

// queryProjects loads projects matching a WHERE clause, with their tags, ordered by name.
func (s *Service) queryProjects(ctx context.Context, where string, args ...any) ([]*project, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE `+where+` ORDER BY name, id`, args...)
	if err != nil {
		return nil, err
	}
	var ps []*project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		ps = append(ps, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := loadTags(ctx, s.db, ps); err != nil {
		return nil, err
	}
	return ps, nil
}

// filterByTags applies the tags, tags-any, not-tags and not-tags-any filters.
func filterByTags(ps []*project, q map[string][]string) []*project {
	split := func(k string) []string {
		v := q[k]
		if len(v) == 0 || v[0] == "" {
			return nil
		}
		return strings.Split(v[0], ",")
	}
	all, any_, notAll, notAny := split("tags"), split("tags-any"), split("not-tags"), split("not-tags-any")
	if all == nil && any_ == nil && notAll == nil && notAny == nil {
		return ps
	}
	var out []*project
	for _, p := range ps {
		has := map[string]bool{}
		for _, t := range p.Tags {
			has[t] = true
		}
		countIn := func(ts []string) int {
			n := 0
			for _, t := range ts {
				if has[t] {
					n++
				}
			}
			return n
		}
		if all != nil && countIn(all) != len(all) {
			continue
		}
		if any_ != nil && countIn(any_) == 0 {
			continue
		}
		if notAll != nil && countIn(notAll) == len(notAll) {
			continue
		}
		if notAny != nil && countIn(notAny) > 0 {
			continue
		}
		out = append(out, p)
	}
	return out
}

// updateProject handles PATCH /v3/projects/{id}.
func (s *Service) updateProject(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	o, err := api.DecodeObject(r, "project")
	if err != nil {
		return err
	}
	var p *project
	err = s.write(ctx, func(tx *store.Tx) error {
		cur, err := s.getProject(ctx, tx, r.PathValue("project_id"))
		if err != nil {
			return err
		}
		if immutable(cur.Options) {
			if opts, ok, _ := o.Obj("options"); !ok || opts == nil || opts["immutable"] != false {
				return api.Forbidden("Unable to update immutable project resource: `%s`.", cur.ID)
			}
		}
		if d, ok, _ := o.Str("domain_id", true); ok && d != cur.DomainID {
			return api.BadRequest("Cannot change Domain ID.")
		}
		if pid, ok, _ := o.Str("parent_id", true); ok && pid != cur.ParentID {
			return api.Forbidden("Update of `parent_id` is not allowed.")
		}
		if d, ok, _ := o.Bool("is_domain"); ok && d != cur.IsDomain {
			return api.BadRequest("Update of `is_domain` is not allowed.")
		}
		wasEnabled := cur.Enabled
		if err := readProjectFields(o, cur); err != nil {
			return err
		}
		if err := updateProjectRow(ctx, tx, cur); err != nil {
			return err
		}
		if o.Has("tags") {
			if err := setTags(ctx, tx, cur.ID, cur.Tags); err != nil {
				return err
			}
		}
		if wasEnabled && !cur.Enabled {
			if cur.IsDomain {
				if err := s.revoke(ctx, tx, revocationEvent{DomainID: cur.ID}); err != nil {
					return err
				}
			} else if err := s.revoke(ctx, tx, revocationEvent{ProjectID: cur.ID}); err != nil {
				return err
			}
		}
		p = cur
		return nil
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"project": projectJSON(r, p)})
	return nil
}

// deleteProject handles DELETE /v3/projects/{id}; a project with children is refused.
func (s *Service) deleteProject(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	err := s.write(ctx, func(tx *store.Tx) error {
		p, err := s.getProject(ctx, tx, r.PathValue("project_id"))
		if err != nil {
			return err
		}
		if immutable(p.Options) {
			return api.Forbidden("Unable to delete immutable project resource: `%s`.", p.ID)
		}
		if p.IsDomain {
			return s.deleteDomainTx(ctx, tx, p)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM projects WHERE parent_id = ?`, p.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return api.Forbidden("Cannot delete the project %s since it is not a leaf in the hierarchy. Use the cascade option if you want to delete a subtree.", p.ID)
		}
		return s.deleteProjectTx(ctx, tx, p.ID)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listProjectTags handles GET /v3/projects/{id}/tags.
func (s *Service) listProjectTags(w http.ResponseWriter, r *http.Request) error {
	p, err := s.getProject(r.Context(), s.db, r.PathValue("project_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"tags": p.Tags, "links": api.KeystoneLinks(r)})
	return nil
}

// showProjectTag handles GET/HEAD /v3/projects/{id}/tags/{tag}: 204 when present.
func (s *Service) showProjectTag(w http.ResponseWriter, r *http.Request) error {
	p, err := s.getProject(r.Context(), s.db, r.PathValue("project_id"))
	if err != nil {
		return err
	}
	tag := r.PathValue("tag")
	for _, t := range p.Tags {
		if t == tag {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
	}
	return api.NotFound("Could not find project tag: %s.", truncateRunes(tag, 64))
}

// replaceProjectTags handles PUT /v3/projects/{id}/tags.
func (s *Service) replaceProjectTags(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	o, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	list, ok, err := o.StrList("tags")
	if err != nil {
		return err
	}
	if !ok {
		return api.BadRequest("Invalid input: 'tags' is a required property.")
	}
	tags, err := validTags(list)
	if err != nil {
		return err
	}
	var p *project
	err = s.write(ctx, func(tx *store.Tx) error {
		if p, err = s.getProject(ctx, tx, r.PathValue("project_id")); err != nil {
			return err
		}
		p.Tags = tags
		return setTags(ctx, tx, p.ID, tags)
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"tags": tags, "links": api.KeystoneLinks(r)})
	return nil
}

// addProjectTag handles PUT /v3/projects/{id}/tags/{tag}: 201 with a Location.
func (s *Service) addProjectTag(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	tag := r.PathValue("tag")
	if err := validTag(tag); err != nil {
		return err
	}
	err := s.write(ctx, func(tx *store.Tx) error {
		p, err := s.getProject(ctx, tx, r.PathValue("project_id"))
		if err != nil {
			return err
		}
		tags := append(p.Tags, tag)
		tags, err = validTags(tags)
		if err != nil {
			return err
		}
		return setTags(ctx, tx, p.ID, tags)
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", api.BaseURL(r)+r.URL.Path)
	w.WriteHeader(http.StatusCreated)
	return nil
}

// deleteProjectTags handles DELETE /v3/projects/{id}/tags.
func (s *Service) deleteProjectTags(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	err := s.write(ctx, func(tx *store.Tx) error {
		p, err := s.getProject(ctx, tx, r.PathValue("project_id"))
		if err != nil {
			return err
		}
		return setTags(ctx, tx, p.ID, nil)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteProjectTag handles DELETE /v3/projects/{id}/tags/{tag}.
func (s *Service) deleteProjectTag(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	tag := r.PathValue("tag")
	err := s.write(ctx, func(tx *store.Tx) error {
		p, err := s.getProject(ctx, tx, r.PathValue("project_id"))
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM project_tags WHERE project_id = ? AND name = ?`, p.ID, tag)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return api.NotFound("Could not find project tag: %s.", truncateRunes(tag, 64))
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
