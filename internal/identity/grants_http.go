package identity

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// grantKind describes one family of grant URLs: who the actor is, what the target is, and
// whether the grants are OS-INHERIT ones, inherited to the projects below the target.
type grantKind struct {
	group bool
	// target is "project", "domain" or "system".
	target    string
	inherited bool
}

// actorParam is the path parameter naming the actor.
func (k grantKind) actorParam() string {
	if k.group {
		return "group_id"
	}
	return "user_id"
}

// actorSegment is the actor part of the grant URLs.
func (k grantKind) actorSegment() string {
	if k.group {
		return "groups/{group_id}"
	}
	return "users/{user_id}"
}

// spec builds the grant a request names.
func (k grantKind) spec(r *http.Request) grantSpec {
	g := grantSpec{Group: k.group, ActorID: r.PathValue(k.actorParam()), Target: k.target,
		RoleID: r.PathValue("role_id"), Inherited: k.inherited}
	switch k.target {
	case "project":
		g.TargetID = r.PathValue("project_id")
	case "domain":
		g.TargetID = r.PathValue("domain_id")
	default:
		g.TargetID = systemTargetID
	}
	return g
}

// grantRoutes is the route table for grants on projects, domains and the system, the
// OS-INHERIT grants inherited to projects, and GET /v3/users/{user_id}/projects.
func (s *Service) grantRoutes() []api.Route {
	var rs []api.Route
	add := func(k grantKind, path, op, rule string, h func(grantKind) api.HandlerFunc) {
		method := map[string]string{"list": "GET", "check": "GET", "create": "PUT", "revoke": "DELETE"}[op]
		rs = append(rs, api.Route{Method: method, Path: path, Policy: rule, Target: s.grantTarget(k, op), Handler: h(k)})
	}
	for _, group := range []bool{false, true} {
		for _, target := range []string{"project", "domain"} {
			k := grantKind{group: group, target: target}
			base := "/v3/" + target + "s/{" + target + "_id}/" + k.actorSegment() + "/roles"
			add(k, base, "list", "identity:list_grants", s.listGrantsHTTP)
			add(k, base+"/{role_id}", "check", "identity:check_grant", s.checkGrantHTTP)
			add(k, base+"/{role_id}", "create", "identity:create_grant", s.createGrantHTTP)
			add(k, base+"/{role_id}", "revoke", "identity:revoke_grant", s.revokeGrantHTTP)

			ik := grantKind{group: group, target: target, inherited: true}
			ibase := "/v3/OS-INHERIT" + strings.TrimPrefix(base, "/v3")
			if target == "domain" {
				add(ik, ibase+"/inherited_to_projects", "list", "identity:list_grants", s.listGrantsHTTP)
			}
			add(ik, ibase+"/{role_id}/inherited_to_projects", "check", "identity:check_grant", s.checkGrantHTTP)
			add(ik, ibase+"/{role_id}/inherited_to_projects", "create", "identity:create_grant", s.createGrantHTTP)
			add(ik, ibase+"/{role_id}/inherited_to_projects", "revoke", "identity:revoke_grant", s.revokeGrantHTTP)
		}
		k := grantKind{group: group, target: "system"}
		who := "user"
		if group {
			who = "group"
		}
		base := "/v3/system/" + k.actorSegment() + "/roles"
		add(k, base, "list", "identity:list_system_grants_for_"+who, s.listGrantsHTTP)
		add(k, base+"/{role_id}", "check", "identity:check_system_grant_for_"+who, s.checkGrantHTTP)
		add(k, base+"/{role_id}", "create", "identity:create_system_grant_for_"+who, s.createGrantHTTP)
		add(k, base+"/{role_id}", "revoke", "identity:revoke_system_grant_for_"+who, s.revokeGrantHTTP)
	}
	rs = append(rs, api.Route{Method: "GET", Path: "/v3/users/{user_id}/projects", Policy: "identity:list_user_projects",
		Target: s.userProjectsTarget, Handler: s.listUserProjectsHTTP})
	return rs
}

// isNotFound reports whether err is a 404.
func isNotFound(err error) bool { return api.AsError(err).Status == http.StatusNotFound }

// grantTarget builds the policy target of a grant request the way Keystone's grant APIs
// do, loading the role, the actor and the project or domain in Keystone's order and
// failing with the first one's 404. Revoking tolerates a missing actor, so that grants of
// deleted users can go; the OS-INHERIT APIs tolerate anything missing and leave the 404
// to the handler, after the policy check.
func (s *Service) grantTarget(k grantKind, op string) api.TargetFunc {
	return func(r *http.Request) (policy.Target, error) {
		ctx := r.Context()
		t := pathTarget(r, "project_id", "domain_id", "user_id", "group_id", "role_id")
		tolerate := func(err error, missingOK bool) error {
			if err != nil && (k.inherited || missingOK) && isNotFound(err) {
				return nil
			}
			return err
		}
		loadRole := func() error {
			if op == "list" {
				return nil
			}
			ro, err := s.getRole(ctx, s.db, r.PathValue("role_id"))
			if err == nil {
				addRoleTarget(t, "target.role", ro)
			}
			return tolerate(err, false)
		}
		loadActor := func() error {
			a, err := loadGrantActor(ctx, s.db, k.group, r.PathValue(k.actorParam()))
			if err == nil {
				addActorTarget(t, a)
			}
			return tolerate(err, op == "revoke")
		}
		loadScope := func() error {
			switch k.target {
			case "project":
				p, err := s.getProject(ctx, s.db, r.PathValue("project_id"))
				if err == nil {
					addProjectTarget(t, "target.project", p)
				}
				return tolerate(err, false)
			case "domain":
				d, err := s.getDomain(ctx, s.db, r.PathValue("domain_id"))
				if err == nil {
					addProjectTarget(t, "target.domain", d)
				}
				return tolerate(err, false)
			}
			return nil
		}
		steps := []func() error{loadRole, loadActor, loadScope}
		if k.target == "domain" && !k.inherited {
			steps = []func() error{loadScope, loadRole, loadActor}
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return nil, err
			}
		}
		return t, nil
	}
}

// loadGrantActor loads a grant's user or group.
func loadGrantActor(ctx context.Context, q store.Querier, group bool, id string) (*grantActor, error) {
	if group {
		return loadGrantGroup(ctx, q, id)
	}
	return loadGrantUser(ctx, q, id)
}

// addActorTarget adds a user's or group's attributes to a policy target.
func addActorTarget(t policy.Target, a *grantActor) {
	if a.Group {
		t["target.group.id"], t["target.group.name"], t["target.group.domain_id"] = a.ID, a.Name, a.DomainID
		t["target.group.description"] = a.Desc
		return
	}
	t["target.user.id"], t["target.user.name"], t["target.user.domain_id"] = a.ID, a.Name, a.DomainID
	t["target.user.enabled"] = a.Enabled
	if a.DefaultProjectID != "" {
		t["target.user.default_project_id"] = a.DefaultProjectID
	}
}

// addProjectTarget adds a project's or domain's attributes to a policy target.
func addProjectTarget(t policy.Target, prefix string, p *project) {
	for k, v := range p.Extra {
		t[prefix+"."+k] = v
	}
	t[prefix+".id"], t[prefix+".name"], t[prefix+".enabled"] = p.ID, p.Name, p.Enabled
	t[prefix+".description"] = p.Description
	if !p.IsDomain {
		t[prefix+".domain_id"], t[prefix+".is_domain"] = p.DomainID, p.IsDomain
		t[prefix+".parent_id"] = nullable(p.ParentID)
	}
	for k, v := range p.Options {
		t[prefix+".options."+k] = v
	}
}

// checkGrantScope checks that a grant's target exists (Keystone's manager checks, which
// run after the policy check).
func (s *Service) checkGrantScope(ctx context.Context, q store.Querier, g grantSpec) (*project, error) {
	switch g.Target {
	case "project":
		return s.getProject(ctx, q, g.TargetID)
	case "domain":
		return s.getDomain(ctx, q, g.TargetID)
	}
	return nil, nil
}

// checkGrantHTTP handles GET and HEAD of a grant: 204 when it exists.
func (s *Service) checkGrantHTTP(k grantKind) api.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		g := k.spec(r)
		if k.target != "system" {
			if _, err := s.getRole(ctx, s.db, g.RoleID); err != nil {
				return err
			}
			if _, err := s.checkGrantScope(ctx, s.db, g); err != nil {
				return err
			}
		}
		ok, err := grantExists(ctx, s.db, g)
		if err != nil {
			return err
		}
		if !ok {
			return assignmentNotFound(g)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// createGrantHTTP handles PUT of a grant. A domain-specific role can only be granted on a
// project of its own domain (403) and never on the system (400).
func (s *Service) createGrantHTTP(k grantKind) api.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		g := k.spec(r)
		err := s.write(ctx, func(tx *store.Tx) error {
			ro, err := s.getRole(ctx, tx, g.RoleID)
			if err != nil {
				return err
			}
			if k.target == "system" && ro.DomainID != "" {
				return api.BadRequest("Role %s is a domain-specific role. Unable to use a domain-specific role in a system assignment.", ro.ID)
			}
			p, err := s.checkGrantScope(ctx, tx, g)
			if err != nil {
				return err
			}
			if k.target == "project" && ro.DomainID != "" && p.DomainID != ro.DomainID {
				return api.Forbidden("Project %s must be in the same domain as the role %s being assigned.", p.ID, ro.ID)
			}
			if _, err := loadGrantActor(ctx, tx, g.Group, g.ActorID); err != nil {
				return err
			}
			return createGrantTx(ctx, tx, g)
		})
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// revokeGrantHTTP handles DELETE of a grant, which works for deleted actors too.
func (s *Service) revokeGrantHTTP(k grantKind) api.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		g := k.spec(r)
		err := s.write(ctx, func(tx *store.Tx) error {
			if k.target != "system" {
				if _, err := s.getRole(ctx, tx, g.RoleID); err != nil {
					return err
				}
				ok, err := grantExists(ctx, tx, g)
				if err != nil {
					return err
				}
				if !ok {
					return assignmentNotFound(g)
				}
				if _, err := s.checkGrantScope(ctx, tx, g); err != nil {
					return err
				}
			}
			return deleteGrantTx(ctx, tx, g)
		})
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// listGrantsHTTP handles GET of a grant collection: the roles granted directly to the
// actor on the target.
func (s *Service) listGrantsHTTP(k grantKind) api.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		g := k.spec(r)
		if _, err := s.checkGrantScope(ctx, s.db, g); err != nil {
			return err
		}
		roles, err := s.grantedRoles(ctx, s.db, g)
		if err != nil {
			return err
		}
		out := make([]any, 0, len(roles))
		for i := range roles {
			out = append(out, roleJSON(r, &roles[i]))
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"roles": out, "links": api.KeystoneLinks(r)})
		return nil
	}
}

// userProjectsTarget loads the user of GET /v3/users/{user_id}/projects; a missing user
// leaves the target without it, and the list is then empty, as in Keystone.
func (s *Service) userProjectsTarget(r *http.Request) (policy.Target, error) {
	t := pathTarget(r, "user_id")
	a, err := loadGrantUser(r.Context(), s.db, r.PathValue("user_id"))
	if err != nil && !isNotFound(err) {
		return nil, err
	}
	if a != nil {
		addActorTarget(t, a)
	}
	return t, nil
}

// listUserProjectsHTTP handles GET /v3/users/{user_id}/projects: the projects the user
// has an effective role on, with the domain_id, enabled and name filters.
func (s *Service) listUserProjectsHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	ids, err := s.userProjectIDs(ctx, s.db, r.PathValue("user_id"))
	if err != nil {
		return err
	}
	filters, fargs := nameFilters(q)
	if v := q.Get("domain_id"); q.Has("domain_id") {
		filters, fargs = append(filters, "domain_id = ?"), append(fargs, v)
	}
	if e, ok, err := api.QueryBool(q, "enabled"); err != nil {
		return err
	} else if ok {
		filters, fargs = append(filters, "enabled = ?"), append(fargs, e)
	}
	var ps []*project
	for _, chunk := range inChunks(ids, 500) {
		where := append([]string{"id IN (" + inMarks(len(chunk)) + ")"}, filters...)
		got, err := s.queryProjects(ctx, strings.Join(where, " AND "), append(inArgs(chunk), fargs...)...)
		if err != nil {
			return err
		}
		ps = append(ps, got...)
	}
	slices.SortFunc(ps, func(a, b *project) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	out := make([]any, 0, len(ps))
	for _, p := range ps {
		out = append(out, projectJSON(r, p))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"projects": out, "links": api.KeystoneLinks(r)})
	return nil
}
