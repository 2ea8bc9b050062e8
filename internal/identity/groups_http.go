package identity

import (
	"net/http"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// groupPolicies are Keystone's current group defaults (keystone/common/policies/group.py).
func groupPolicies() map[string]string {
	const (
		adminRequired             = "(rule:admin_required) or "
		readerForGroup            = "(role:reader and system_scope:all) or (role:reader and domain_id:%(target.group.domain_id)s)"
		readerForGroupUser        = "(role:reader and system_scope:all) or (role:reader and domain_id:%(target.group.domain_id)s and domain_id:%(target.user.domain_id)s)"
		readerForUserOrOwner      = "(role:reader and system_scope:all) or (role:reader and domain_id:%(target.user.domain_id)s) or user_id:%(user_id)s"
		managerForGroup           = "(role:manager and domain_id:%(target.group.domain_id)s)"
		managerForGroupAndUser    = "(role:manager and domain_id:%(target.group.domain_id)s and domain_id:%(target.user.domain_id)s)"
		adminOrReaderForGroup     = adminRequired + readerForGroup
		adminOrManagerForGroup    = adminRequired + managerForGroup
		adminOrManagerForGroupMbr = adminRequired + managerForGroupAndUser
	)
	return map[string]string{
		"identity:get_group":              adminOrReaderForGroup,
		"identity:list_groups":            adminOrReaderForGroup,
		"identity:list_groups_for_user":   adminRequired + readerForUserOrOwner,
		"identity:create_group":           adminOrManagerForGroup,
		"identity:update_group":           adminOrManagerForGroup,
		"identity:delete_group":           adminOrManagerForGroup,
		"identity:list_users_in_group":    adminOrReaderForGroup,
		"identity:remove_user_from_group": adminOrManagerForGroupMbr,
		"identity:check_user_in_group":    adminRequired + readerForGroupUser,
		"identity:add_user_to_group":      adminOrManagerForGroupMbr,
	}
}

// groupRoutes is the route table for groups and their members.
func (s *Service) groupRoutes() []api.Route {
	gt, mt := s.groupTarget, s.groupMemberTarget
	return []api.Route{
		{Method: "GET", Path: "/v3/groups", Policy: "identity:list_groups", Target: s.listGroupsTarget, Handler: s.listGroups},
		{Method: "POST", Path: "/v3/groups", Handler: s.createGroup},
		{Method: "GET", Path: "/v3/groups/{group_id}", Policy: "identity:get_group", Target: gt, Handler: s.showGroup},
		{Method: "PATCH", Path: "/v3/groups/{group_id}", Policy: "identity:update_group", Target: gt, Handler: s.updateGroup},
		{Method: "DELETE", Path: "/v3/groups/{group_id}", Policy: "identity:delete_group", Target: s.deleteGroupTarget, Handler: s.deleteGroup},
		{Method: "GET", Path: "/v3/groups/{group_id}/users", Policy: "identity:list_users_in_group", Target: gt, Handler: s.listUsersInGroup},
		{Method: "GET", Path: "/v3/groups/{group_id}/users/{user_id}", Policy: "identity:check_user_in_group", Target: mt, Handler: s.checkUserInGroup},
		{Method: "PUT", Path: "/v3/groups/{group_id}/users/{user_id}", Policy: "identity:add_user_to_group", Target: mt, Handler: s.addUserToGroup},
		{Method: "DELETE", Path: "/v3/groups/{group_id}/users/{user_id}", Policy: "identity:remove_user_from_group", Target: mt, Handler: s.removeUserFromGroup},
	}
}

// groupTargetFields adds a group's attributes to a policy target under target.group.
func groupTargetFields(t policy.Target, g *group) {
	t["target.group.id"], t["target.group.domain_id"], t["target.group.name"] = g.ID, g.DomainID, g.Name
}

// groupTarget is the policy target of calls on /v3/groups/{group_id}; a missing group
// leaves it empty, as in Keystone, and the handler gives the 404.
func (s *Service) groupTarget(r *http.Request) (policy.Target, error) {
	t := policy.Target{"group_id": r.PathValue("group_id")}
	g, err := s.getGroup(r.Context(), s.db, r.PathValue("group_id"))
	if err == nil {
		groupTargetFields(t, g)
	} else if api.AsError(err).Status != http.StatusNotFound {
		return nil, err
	}
	return t, nil
}

// deleteGroupTarget is the target of a group delete, where Keystone loads the group before
// enforcing and so answers 404 for a missing group whoever asks.
func (s *Service) deleteGroupTarget(r *http.Request) (policy.Target, error) {
	g, err := s.getGroup(r.Context(), s.db, r.PathValue("group_id"))
	if err != nil {
		return nil, err
	}
	t := policy.Target{"group_id": g.ID}
	groupTargetFields(t, g)
	return t, nil
}

// groupMemberTarget is the target of membership calls: the group and the user, each left
// out when missing.
func (s *Service) groupMemberTarget(r *http.Request) (policy.Target, error) {
	ctx := r.Context()
	t := policy.Target{"group_id": r.PathValue("group_id"), "user_id": r.PathValue("user_id")}
	if g, err := s.getGroup(ctx, s.db, r.PathValue("group_id")); err == nil {
		groupTargetFields(t, g)
	} else if api.AsError(err).Status != http.StatusNotFound {
		return nil, err
	}
	if u, err := s.getUser(ctx, s.db, r.PathValue("user_id")); err == nil {
		userTargetFields(t, u)
	} else if api.AsError(err).Status != http.StatusNotFound {
		return nil, err
	}
	return t, nil
}

// listGroupsTarget gives domain-scoped callers their domain as target.group.domain_id.
func (s *Service) listGroupsTarget(r *http.Request) (policy.Target, error) {
	t := policy.Target{}
	if d := caller(r.Context()).DomainID; d != "" {
		t["target.group.domain_id"] = d
	}
	return t, nil
}

// groupJSON renders a group as Keystone does, extra attributes at the top level.
func groupJSON(r *http.Request, g *group) map[string]any {
	m := map[string]any{}
	for k, v := range g.Extra {
		m[k] = v
	}
	m["id"], m["name"], m["domain_id"], m["description"] = g.ID, g.Name, g.DomainID, g.Description
	m["links"] = map[string]any{"self": api.BaseURL(r) + "/v3/groups/" + g.ID}
	return m
}

// groupAttributes are the group fields that are not free-form extras.
var groupAttributes = []string{"id", "name", "domain_id", "description", "links"}

// readGroupFields validates a group body; name is required on create.
func readGroupFields(o api.Object, create bool) (name, domainID, description *string, err error) {
	if n, ok, err := o.Name("name", create, 255); err != nil {
		return nil, nil, nil, err
	} else if ok {
		n = strings.TrimSpace(n)
		name = &n
	}
	if d, ok, err := readDomainIDField(o); err != nil {
		return nil, nil, nil, err
	} else if ok {
		domainID = &d
	}
	if d, ok, err := o.Str("description", true); err != nil {
		return nil, nil, nil, err
	} else if ok {
		description = &d
	}
	return name, domainID, description, nil
}

// createGroup handles POST /v3/groups.
func (s *Service) createGroup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	raw, err := api.DecodeObject(r, "group")
	if err != nil {
		return err
	}
	if _, _, _, err := readGroupFields(raw, true); err != nil {
		return err
	}
	target := policy.Target{}
	for k, v := range raw {
		if _, isObj := v.(map[string]any); !isObj {
			target["target.group."+k] = v
		}
	}
	if err := s.authorizeFor(ctx, "identity:create_group", target); err != nil {
		return err
	}
	o := normalizeKeys(raw)
	name, domainID, description, err := readGroupFields(o, true)
	if err != nil {
		return err
	}
	g := &group{Name: *name, Extra: o.Extra(groupAttributes...)}
	if domainID != nil {
		g.DomainID = *domainID
	} else {
		g.DomainID = defaultDomainFor(r)
	}
	if description != nil {
		g.Description = *description
	}
	if _, err := s.getDomain(ctx, s.db, g.DomainID); err != nil {
		return err
	}
	if err := s.write(ctx, func(tx *store.Tx) error { return insertGroupTx(ctx, tx, g) }); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"group": groupJSON(r, g)})
	return nil
}

// showGroup handles GET /v3/groups/{group_id}.
func (s *Service) showGroup(w http.ResponseWriter, r *http.Request) error {
	g, err := s.getGroup(r.Context(), s.db, r.PathValue("group_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"group": groupJSON(r, g)})
	return nil
}

// updateGroup handles PATCH /v3/groups/{group_id}.
func (s *Service) updateGroup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("group_id")
	o, err := api.DecodeObject(r, "group")
	if err != nil {
		return err
	}
	if len(o) == 0 {
		return api.BadRequest("Invalid input for field 'group': {} does not have enough properties.")
	}
	name, domainID, description, err := readGroupFields(o, false)
	if err != nil {
		return err
	}
	g, err := s.getGroup(ctx, s.db, id)
	if err != nil {
		return err
	}
	if v, ok := o["id"]; ok && v != nil && v != any(id) {
		return api.BadRequest("Cannot change ID")
	}
	if domainID != nil && *domainID != g.DomainID {
		return api.BadRequest("Cannot change Domain ID")
	}
	if name != nil {
		g.Name = *name
	}
	if description != nil {
		g.Description = *description
	}
	for k, v := range o.Extra(groupAttributes...) {
		g.Extra[k] = v
	}
	err = s.write(ctx, func(tx *store.Tx) error {
		if err := updateGroupTx(ctx, tx, g); err != nil {
			if store.IsUniqueViolation(err) {
				d := ""
				if domainID != nil {
					d = *domainID
				}
				return groupConflict(g.Name, d)
			}
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"group": groupJSON(r, g)})
	return nil
}

// deleteGroup handles DELETE /v3/groups/{group_id}.
func (s *Service) deleteGroup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("group_id")
	err := s.write(ctx, func(tx *store.Tx) error {
		if _, err := s.getGroup(ctx, tx, id); err != nil {
			return err
		}
		return s.deleteGroupTx(ctx, tx, id)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listGroups handles GET /v3/groups with the domain_id and name filters (and name's
// inexact forms); domain-scoped callers only see their domain's groups.
func (s *Service) listGroups(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	lq, err := parseUserListQuery(r.URL.Query(), []string{"domain_id", "name"})
	if err != nil {
		return err
	}
	page, err := parseKeystonePage(r)
	if err != nil {
		return err
	}
	where, args := lq.sqlWhere("g.")
	if page.Marker != "" {
		if err := checkMarker(ctx, s.db, "groups", page.Marker); err != nil {
			return err
		}
		where, args = append(where, "g.id > ?"), append(args, page.Marker)
	}
	groups, err := queryGroups(ctx, s.db, "", strings.Join(where, " AND "), args...)
	if err != nil {
		return err
	}
	domain := caller(ctx).DomainID
	out := []any{}
	for _, g := range groups {
		if (domain == "" || g.DomainID == domain) && lq.matchStrings(g.Name, g.DomainID) {
			out = append(out, groupJSON(r, g))
		}
	}
	writeKeystoneList(w, r, "groups", out, page)
	return nil
}

// listGroupsForUser handles GET /v3/users/{user_id}/groups (filter: name). Each group
// carries membership_expires_at, null for the memberships gostack has.
func (s *Service) listGroupsForUser(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("user_id")
	lq, err := parseUserListQuery(r.URL.Query(), []string{"name"})
	if err != nil {
		return err
	}
	if _, err := s.getUser(ctx, s.db, id); err != nil {
		return err
	}
	where, args := lq.sqlWhere("g.")
	where, args = append(where, "m.user_id = ?"), append(args, id)
	groups, err := queryGroups(ctx, s.db, " JOIN user_group_membership m ON m.group_id = g.id", strings.Join(where, " AND "), args...)
	if err != nil {
		return err
	}
	domain := caller(ctx).DomainID
	out := []any{}
	for _, g := range groups {
		if (domain == "" || g.DomainID == domain) && lq.matchStrings(g.Name, g.DomainID) {
			m := groupJSON(r, g)
			m["membership_expires_at"] = nil
			out = append(out, m)
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"groups": out, "links": api.KeystoneLinks(r)})
	return nil
}

// listUsersInGroup handles GET /v3/groups/{group_id}/users with the domain_id, enabled,
// name and password_expires_at filters.
func (s *Service) listUsersInGroup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("group_id")
	lq, err := parseUserListQuery(r.URL.Query(), []string{"domain_id", "enabled", "name", "password_expires_at"})
	if err != nil {
		return err
	}
	if _, err := s.getGroup(ctx, s.db, id); err != nil {
		return err
	}
	where, args := lq.sqlWhere("u.")
	where, args = append(where, "m.group_id = ?"), append(args, id)
	users, err := queryUsers(ctx, s.db, " JOIN user_group_membership m ON m.user_id = u.id", strings.Join(where, " AND "), args...)
	if err != nil {
		return err
	}
	domain := caller(ctx).DomainID
	out := []any{}
	for _, u := range users {
		if (domain == "" || u.DomainID == domain) && lq.matchUser(u) {
			out = append(out, userJSON(r, u))
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"users": out, "links": api.KeystoneLinks(r)})
	return nil
}

// checkUserInGroup handles GET/HEAD /v3/groups/{group_id}/users/{user_id}: 204 when the
// user is a member, 404 otherwise.
func (s *Service) checkUserInGroup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	gid, uid := r.PathValue("group_id"), r.PathValue("user_id")
	if err := s.checkGroupAndUser(ctx, s.db, gid, uid); err != nil {
		return err
	}
	in, err := userInGroup(ctx, s.db, uid, gid)
	if err != nil {
		return err
	}
	if !in {
		return errNotInGroup(uid, gid)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// addUserToGroup handles PUT /v3/groups/{group_id}/users/{user_id}.
func (s *Service) addUserToGroup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	gid, uid := r.PathValue("group_id"), r.PathValue("user_id")
	if err := s.write(ctx, func(tx *store.Tx) error { return s.addUserToGroupTx(ctx, tx, gid, uid) }); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// removeUserFromGroup handles DELETE /v3/groups/{group_id}/users/{user_id}.
func (s *Service) removeUserFromGroup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	gid, uid := r.PathValue("group_id"), r.PathValue("user_id")
	if err := s.write(ctx, func(tx *store.Tx) error { return s.removeUserFromGroupTx(ctx, tx, gid, uid) }); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
