package identity

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// roleRoutes is the route table for roles, implied roles and role inference rules. The
// role routes check their policy in the handler, because Keystone picks the rule
// (identity:get_role or identity:get_domain_role, ...) from the role or the body.
func (s *Service) roleRoutes() []api.Route {
	it := s.impliedRoleTarget
	return []api.Route{
		{Method: "GET", Path: "/v3/roles", Handler: s.listRolesHTTP},
		{Method: "POST", Path: "/v3/roles", Handler: s.createRoleHTTP},
		{Method: "GET", Path: "/v3/roles/{role_id}", Handler: s.showRoleHTTP},
		{Method: "PATCH", Path: "/v3/roles/{role_id}", Handler: s.updateRoleHTTP},
		{Method: "DELETE", Path: "/v3/roles/{role_id}", Handler: s.deleteRoleHTTP},
		{Method: "GET", Path: "/v3/roles/{prior_role_id}/implies", Policy: "identity:list_implied_roles", Target: it, Handler: s.listImpliedRolesHTTP},
		{Method: "GET", Path: "/v3/roles/{prior_role_id}/implies/{implied_role_id}", Policy: "identity:get_implied_role", Target: it, Handler: s.showImpliedRoleHTTP},
		{Method: "HEAD", Path: "/v3/roles/{prior_role_id}/implies/{implied_role_id}", Policy: "identity:check_implied_role", Target: it, Handler: s.checkImpliedRoleHTTP},
		{Method: "PUT", Path: "/v3/roles/{prior_role_id}/implies/{implied_role_id}", Policy: "identity:create_implied_role", Target: it, Handler: s.createImpliedRoleHTTP},
		{Method: "DELETE", Path: "/v3/roles/{prior_role_id}/implies/{implied_role_id}", Policy: "identity:delete_implied_role", Target: it, Handler: s.deleteImpliedRoleHTTP},
		{Method: "GET", Path: "/v3/role_inferences", Policy: "identity:list_role_inference_rules", Handler: s.listRoleInferencesHTTP},
	}
}

// roleJSON renders a role as Keystone does: extra attributes, then id, name, domain_id
// and description (null when unset), options and the self link.
func roleJSON(r *http.Request, ro *role) map[string]any {
	m := map[string]any{}
	for k, v := range ro.Extra {
		m[k] = v
	}
	opts := ro.Options
	if opts == nil {
		opts = map[string]any{}
	}
	m["id"], m["name"], m["options"] = ro.ID, ro.Name, opts
	m["domain_id"], m["description"] = nullable(ro.DomainID), nullable(ro.Description)
	m["links"] = map[string]any{"self": api.BaseURL(r) + "/v3/roles/" + ro.ID}
	return m
}

// nullable renders "" as JSON null.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// roleRefJSON is the short form of a role in role inference bodies: id, name and link.
func roleRefJSON(r *http.Request, ro *role) map[string]any {
	return map[string]any{
		"id": ro.ID, "name": ro.Name,
		"links": map[string]any{"self": api.BaseURL(r) + "/v3/roles/" + ro.ID},
	}
}

// addRoleTarget adds a role's attributes to a policy target under prefix, flattened as
// Keystone flattens its target dictionaries ("target.role.domain_id", ...).
func addRoleTarget(t policy.Target, prefix string, ro *role) {
	for k, v := range ro.Extra {
		t[prefix+"."+k] = v
	}
	t[prefix+".id"], t[prefix+".name"] = ro.ID, ro.Name
	t[prefix+".domain_id"], t[prefix+".description"] = nullable(ro.DomainID), nullable(ro.Description)
	for k, v := range ro.Options {
		t[prefix+".options."+k] = v
	}
}

// pathTarget starts a policy target with the named path values, as Keystone adds the
// URL's view arguments to its targets.
func pathTarget(r *http.Request, names ...string) policy.Target {
	t := policy.Target{}
	for _, n := range names {
		if v := r.PathValue(n); v != "" {
			t[n] = v
		}
	}
	return t
}

// idPattern is Keystone's parameter_types id_string / domain_id pattern.
var idPattern = regexp.MustCompile(`^[a-zA-Z0-9-]+$`)

// checkIDString validates an id-like value as Keystone's schemas do: 1-64 characters of
// letters, digits and '-'.
func checkIDString(field, v string) error {
	if v == "" || len(v) > 64 || !idPattern.MatchString(v) {
		return api.BadRequest("Invalid input for field '%s': %q does not match '^[a-zA-Z0-9-]+$' (1 to 64 characters).", field, truncateRunes(v, 64))
	}
	return nil
}

// roleOptionsKnown are the resource options Keystone accepts on roles.
var roleOptionsKnown = map[string]bool{"immutable": true}

// roleKnownFields are the role attributes that are not free-form extras.
var roleKnownFields = []string{"id", "name", "domain_id", "description", "options", "links"}

// roleKeyNormalizer renames attributes the way Keystone's _normalize_dict does on create.
var roleKeyNormalizer = strings.NewReplacer(":", "_", "-", "_")

// readRoleBody validates the fields of a role create or update body as Keystone's role
// schema does and returns the description and domain_id values that are present.
func readRoleBody(o api.Object, create bool) (name string, hasName bool, desc string, hasDesc bool, domainID string, hasDomain bool, err error) {
	name, hasName, err = o.Name("name", create, 255)
	if err != nil {
		return
	}
	if desc, hasDesc, err = o.Str("description", true); err != nil {
		return
	}
	if domainID, hasDomain, err = o.Str("domain_id", true); err != nil {
		return
	}
	if hasDomain && domainID != "" {
		err = checkIDString("domain_id", domainID)
	}
	return
}

// listRolesHTTP handles GET /v3/roles: global roles, or with ?domain_id= the roles of that
// domain, filtered by name.
func (s *Service) listRolesHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	domainID := q.Get("domain_id")
	rule := "identity:list_roles"
	if domainID != "" {
		rule = "identity:list_domain_roles"
	}
	if err := s.authorizeFor(ctx, rule, policy.Target{}); err != nil {
		return err
	}
	where := []string{"domain_id = ?"}
	args := []any{storedDomainID(domainID)}
	w2, a2 := nameFilters(q)
	where, args = append(where, w2...), append(args, a2...)
	rows, err := s.db.QueryContext(ctx, `SELECT `+roleColumns+` FROM roles r WHERE `+strings.Join(where, " AND ")+` ORDER BY r.id`, args...)
	if err != nil {
		return err
	}
	roles, err := scanRoles(rows)
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

// createRoleHTTP handles POST /v3/roles. A body with a domain_id creates a domain-specific
// role and is checked against identity:create_domain_role.
func (s *Service) createRoleHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	raw, err := api.DecodeObject(r, "role")
	if err != nil {
		return err
	}
	o := api.Object{}
	for k, v := range raw {
		o[roleKeyNormalizer.Replace(k)] = v
	}
	name, _, desc, _, domainID, _, err := readRoleBody(o, true)
	if err != nil {
		return err
	}
	opts, err := readOptions(o, roleOptionsKnown, map[string]any{})
	if err != nil {
		return err
	}
	ro := &role{ID: api.NewID(), Name: name, DomainID: domainID, Description: desc, Options: opts, Extra: o.Extra(roleKnownFields...)}
	if domainID != "" {
		t := policy.Target{}
		addRoleTarget(t, "target.role", ro)
		if err := s.authorizeFor(ctx, "identity:create_domain_role", t); err != nil {
			return err
		}
	} else if err := s.authorizeFor(ctx, "identity:create_role", policy.Target{}); err != nil {
		return err
	}
	err = s.write(ctx, func(tx *store.Tx) error {
		if domainID != "" {
			if _, err := s.getDomain(ctx, tx, domainID); err != nil {
				return err
			}
		}
		return insertRoleTx(ctx, tx, ro)
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"role": roleJSON(r, ro)})
	return nil
}

// loadRoleAuthorized loads the role named in the path and checks rule, or domainRule for
// a domain-specific role. As in Keystone, a missing role is reported only after the
// global rule has been checked, so that existence does not leak.
func (s *Service) loadRoleAuthorized(r *http.Request, q store.Querier, rule, domainRule string) (*role, error) {
	ctx := r.Context()
	t := pathTarget(r, "role_id")
	ro, err := s.getRole(ctx, q, r.PathValue("role_id"))
	if err != nil {
		if aerr := s.authorizeFor(ctx, rule, t); aerr != nil {
			return nil, aerr
		}
		return nil, err
	}
	addRoleTarget(t, "target.role", ro)
	if ro.DomainID != "" {
		rule = domainRule
	}
	if err := s.authorizeFor(ctx, rule, t); err != nil {
		return nil, err
	}
	return ro, nil
}

// showRoleHTTP handles GET and HEAD /v3/roles/{role_id}.
func (s *Service) showRoleHTTP(w http.ResponseWriter, r *http.Request) error {
	ro, err := s.loadRoleAuthorized(r, s.db, "identity:get_role", "identity:get_domain_role")
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"role": roleJSON(r, ro)})
	return nil
}

// updateRoleHTTP handles PATCH /v3/roles/{role_id}. The domain of a role cannot change;
// an immutable role only accepts a body that clears its immutable option.
func (s *Service) updateRoleHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	o, err := api.DecodeObject(r, "role")
	if err != nil {
		return err
	}
	if len(o) == 0 {
		return api.BadRequest("Invalid input for field 'role': {} does not have enough properties.")
	}
	name, hasName, desc, hasDesc, domainID, hasDomain, err := readRoleBody(o, false)
	if err != nil {
		return err
	}
	if _, err := readOptions(o, roleOptionsKnown, map[string]any{}); err != nil {
		return err
	}
	cur, err := s.loadRoleAuthorized(r, s.db, "identity:update_role", "identity:update_domain_role")
	if err != nil {
		return err
	}
	if id, ok := o["id"]; ok && id != nil && id != cur.ID {
		return api.BadRequest("Cannot change ID")
	}
	var updated *role
	err = s.write(ctx, func(tx *store.Tx) error {
		ro, err := s.getRole(ctx, tx, cur.ID)
		if err != nil {
			return err
		}
		if immutable(ro.Options) && !clearsImmutable(o) {
			return immutableRoleError("update", ro.ID)
		}
		if hasDomain && domainID != ro.DomainID {
			return api.BadRequest("Update of `domain_id` is not allowed.")
		}
		if ro.Options, err = readOptions(o, roleOptionsKnown, ro.Options); err != nil {
			return err
		}
		if hasName {
			ro.Name = name
		}
		if hasDesc {
			ro.Description = desc
		}
		for k, v := range o.Extra(roleKnownFields...) {
			ro.Extra[k] = v
		}
		if err := updateRoleTx(ctx, tx, ro); err != nil {
			return err
		}
		updated = ro
		return nil
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"role": roleJSON(r, updated)})
	return nil
}

// clearsImmutable reports whether an update body does nothing but set the immutable
// option to false or null, the only change Keystone allows on an immutable resource.
func clearsImmutable(o api.Object) bool {
	if len(o) != 1 {
		return false
	}
	opts, ok := o["options"].(map[string]any)
	if !ok {
		return false
	}
	v, ok := opts["immutable"]
	return ok && (v == nil || v == false)
}

// deleteRoleHTTP handles DELETE /v3/roles/{role_id}.
func (s *Service) deleteRoleHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	cur, err := s.loadRoleAuthorized(r, s.db, "identity:delete_role", "identity:delete_domain_role")
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *store.Tx) error {
		ro, err := s.getRole(ctx, tx, cur.ID)
		if err != nil {
			return err
		}
		return s.deleteRoleTx(ctx, tx, ro)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// impliedRoleTarget loads the prior role and, when named, the implied role of an
// implied-role path; a missing one is a 404 before the policy check, as in Keystone.
func (s *Service) impliedRoleTarget(r *http.Request) (policy.Target, error) {
	ctx := r.Context()
	t := pathTarget(r, "prior_role_id", "implied_role_id")
	prior, err := s.getRole(ctx, s.db, r.PathValue("prior_role_id"))
	if err != nil {
		return nil, err
	}
	addRoleTarget(t, "target.prior_role", prior)
	if id := r.PathValue("implied_role_id"); id != "" {
		implied, err := s.getRole(ctx, s.db, id)
		if err != nil {
			return nil, err
		}
		addRoleTarget(t, "target.implied_role", implied)
	}
	return t, nil
}

// impliedRolePair loads both roles of an implied-role path.
func (s *Service) impliedRolePair(ctx context.Context, q store.Querier, r *http.Request) (prior, implied *role, err error) {
	if prior, err = s.getRole(ctx, q, r.PathValue("prior_role_id")); err != nil {
		return nil, nil, err
	}
	if implied, err = s.getRole(ctx, q, r.PathValue("implied_role_id")); err != nil {
		return nil, nil, err
	}
	return prior, implied, nil
}

// impliedRoleBody is the body of one implied-role rule.
func impliedRoleBody(r *http.Request, prior, implied *role) map[string]any {
	return map[string]any{
		"role_inference": map[string]any{
			"prior_role": roleRefJSON(r, prior),
			"implies":    roleRefJSON(r, implied),
		},
		"links": map[string]any{"self": api.BaseURL(r) + "/v3/roles/" + prior.ID + "/implies/" + implied.ID},
	}
}

// listImpliedRolesHTTP handles GET /v3/roles/{prior_role_id}/implies: the roles the prior
// role directly implies.
func (s *Service) listImpliedRolesHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	prior, err := s.getRole(ctx, s.db, r.PathValue("prior_role_id"))
	if err != nil {
		return err
	}
	implied, err := s.impliedRoles(ctx, s.db, prior.ID)
	if err != nil {
		return err
	}
	list := make([]any, 0, len(implied))
	for i := range implied {
		list = append(list, roleRefJSON(r, &implied[i]))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"role_inference": map[string]any{"prior_role": roleRefJSON(r, prior), "implies": list},
		"links":          map[string]any{"self": api.BaseURL(r) + "/v3/roles/" + prior.ID + "/implies"},
	})
	return nil
}

// existingImpliedRule loads both roles of the path and checks that the rule exists.
func (s *Service) existingImpliedRule(r *http.Request) (prior, implied *role, err error) {
	ctx := r.Context()
	if prior, implied, err = s.impliedRolePair(ctx, s.db, r); err != nil {
		return nil, nil, err
	}
	ok, err := impliedRuleExists(ctx, s.db, prior.ID, implied.ID)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, impliedRuleNotFound(prior.ID, implied.ID)
	}
	return prior, implied, nil
}

// showImpliedRoleHTTP handles GET /v3/roles/{prior_role_id}/implies/{implied_role_id}.
func (s *Service) showImpliedRoleHTTP(w http.ResponseWriter, r *http.Request) error {
	prior, implied, err := s.existingImpliedRule(r)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, impliedRoleBody(r, prior, implied))
	return nil
}

// checkImpliedRoleHTTP handles HEAD /v3/roles/{prior_role_id}/implies/{implied_role_id},
// which Keystone answers with 204 and also checks against identity:get_implied_role.
func (s *Service) checkImpliedRoleHTTP(w http.ResponseWriter, r *http.Request) error {
	t, err := s.impliedRoleTarget(r)
	if err != nil {
		return err
	}
	if err := s.authorizeFor(r.Context(), "identity:get_implied_role", t); err != nil {
		return err
	}
	if _, _, err := s.existingImpliedRule(r); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// createImpliedRoleHTTP handles PUT /v3/roles/{prior_role_id}/implies/{implied_role_id}.
func (s *Service) createImpliedRoleHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var prior, implied *role
	err := s.write(ctx, func(tx *store.Tx) error {
		var err error
		if prior, implied, err = s.impliedRolePair(ctx, tx, r); err != nil {
			return err
		}
		return createImpliedRoleTx(ctx, tx, prior, implied)
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, impliedRoleBody(r, prior, implied))
	return nil
}

// deleteImpliedRoleHTTP handles DELETE /v3/roles/{prior_role_id}/implies/{implied_role_id}.
func (s *Service) deleteImpliedRoleHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	err := s.write(ctx, func(tx *store.Tx) error {
		prior, implied, err := s.impliedRolePair(ctx, tx, r)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM implied_roles WHERE prior_role_id = ? AND implied_role_id = ?`, prior.ID, implied.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return impliedRuleNotFound(prior.ID, implied.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listRoleInferencesHTTP handles GET /v3/role_inferences: every rule, grouped by prior
// role.
func (s *Service) listRoleInferencesHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	rules, err := impliedRuleMap(ctx, s.db)
	if err != nil {
		return err
	}
	var ids []string
	seen := map[string]bool{}
	var priors []string
	for p, is := range rules {
		priors = append(priors, p)
		for _, id := range append([]string{p}, is...) {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	roles, err := rolesByIDs(ctx, s.db, ids)
	if err != nil {
		return err
	}
	byID := make(map[string]*role, len(roles))
	for i := range roles {
		byID[roles[i].ID] = &roles[i]
	}
	slices.Sort(priors)
	out := []any{}
	for _, p := range priors {
		prior := byID[p]
		if prior == nil {
			continue
		}
		implies := []any{}
		for _, id := range rules[p] {
			if ro := byID[id]; ro != nil {
				implies = append(implies, roleRefJSON(r, ro))
			}
		}
		out = append(out, map[string]any{"prior_role": roleRefJSON(r, prior), "implies": implies})
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"role_inferences": out})
	return nil
}
