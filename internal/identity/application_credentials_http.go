package identity

import (
	"net/http"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// appCredPolicies are Keystone's current defaults for application credentials, access
// rules and credentials (keystone/common/policies/application_credential.py,
// access_rule.py and credential.py).
func appCredPolicies() map[string]string {
	const (
		systemReader                   = "role:reader and system_scope:all"
		systemAdmin                    = "role:admin and system_scope:all"
		adminOrSystemReaderOrOwner     = "(rule:admin_required) or (" + systemReader + ") or rule:owner"
		accessRuleReaderOrOwner        = "(" + systemReader + ") or user_id:%(target.user.id)s"
		accessRuleAdminOrOwner         = "(" + systemAdmin + ") or user_id:%(target.user.id)s"
		adminOrSystemReaderOrCredOwner = "(rule:admin_required) or (" + systemReader + ") or user_id:%(target.credential.user_id)s"
		adminOrCredOwner               = "(rule:admin_required) or user_id:%(target.credential.user_id)s"
	)
	return map[string]string{
		"identity:get_application_credential":    adminOrSystemReaderOrOwner,
		"identity:list_application_credentials":  adminOrSystemReaderOrOwner,
		"identity:create_application_credential": "user_id:%(user_id)s",
		"identity:delete_application_credential": "rule:admin_or_owner",

		"identity:get_access_rule":    accessRuleReaderOrOwner,
		"identity:list_access_rules":  accessRuleReaderOrOwner,
		"identity:delete_access_rule": accessRuleAdminOrOwner,

		"identity:get_credential":    adminOrSystemReaderOrCredOwner,
		"identity:list_credentials":  adminOrSystemReaderOrCredOwner,
		"identity:create_credential": adminOrCredOwner,
		"identity:update_credential": adminOrCredOwner,
		"identity:delete_credential": adminOrCredOwner,
	}
}

// appCredRoutes is the route table for application credentials and access rules.
func (s *Service) appCredRoutes() []api.Route {
	const (
		acs   = "/v3/users/{user_id}/application_credentials"
		ac    = acs + "/{application_credential_id}"
		rules = "/v3/users/{user_id}/access_rules"
		rule  = rules + "/{access_rule_id}"
	)
	return []api.Route{
		{Method: "GET", Path: acs, Policy: "identity:list_application_credentials", Target: pathUserTarget, Handler: s.listAppCredsHTTP},
		{Method: "POST", Path: acs, Policy: "identity:create_application_credential", Target: pathUserTarget, Handler: s.createAppCredHTTP},
		{Method: "GET", Path: ac, Policy: "identity:get_application_credential", Target: s.appCredTarget, Handler: s.showAppCredHTTP},
		{Method: "DELETE", Path: ac, Policy: "identity:delete_application_credential", Target: s.appCredTarget, Handler: s.deleteAppCredHTTP},
		{Method: "GET", Path: rules, Policy: "identity:list_access_rules", Target: s.accessRuleUserTarget, Handler: s.listAccessRulesHTTP},
		{Method: "GET", Path: rule, Policy: "identity:get_access_rule", Target: s.accessRuleUserTarget, Handler: s.showAccessRuleHTTP},
		{Method: "DELETE", Path: rule, Policy: "identity:delete_access_rule", Target: s.accessRuleUserTarget, Handler: s.deleteAccessRuleHTTP},
	}
}

// pathUserTarget exposes the path's user id as "user_id", which the owner rule compares
// with the caller's.
func pathUserTarget(r *http.Request) (policy.Target, error) {
	return policy.Target{"user_id": r.PathValue("user_id")}, nil
}

// appCredTarget takes the owner from the credential itself rather than from the path, as
// Keystone's _update_request_user_id_attribute does, so that naming oneself in the path
// does not pass the owner check for someone else's credential. A missing credential
// falls back to the path and is reported by the handler.
func (s *Service) appCredTarget(r *http.Request) (policy.Target, error) {
	owner := r.PathValue("user_id")
	var uid string
	err := s.db.QueryRowContext(r.Context(), `SELECT user_id FROM application_credentials WHERE id = ?`,
		r.PathValue("application_credential_id")).Scan(&uid)
	switch {
	case err == nil:
		owner = uid
	case !store.IsNoRows(err):
		return nil, err
	}
	return policy.Target{"user_id": owner, "target.user_id": owner}, nil
}

// accessRuleUserTarget loads the path's user as target.user, as Keystone's
// _build_user_target_enforcement does; a missing user leaves it out, so only readers
// and admins pass.
func (s *Service) accessRuleUserTarget(r *http.Request) (policy.Target, error) {
	uid := r.PathValue("user_id")
	t := policy.Target{"user_id": uid}
	var id, domainID, name string
	err := s.db.QueryRowContext(r.Context(), `SELECT id, domain_id, name FROM users WHERE id = ?`, uid).Scan(&id, &domainID, &name)
	switch {
	case err == nil:
		t["target.user.id"], t["target.user.domain_id"], t["target.user.name"] = id, domainID, name
	case !store.IsNoRows(err):
		return nil, err
	}
	return t, nil
}

// appCredJSON renders an application credential as Keystone does; secret is added only
// by the create response.
func appCredJSON(r *http.Request, ac *appCred, roles []role) map[string]any {
	var desc, expires any
	if ac.Description != "" {
		desc = ac.Description
	}
	if !ac.ExpiresAt.IsZero() {
		expires = ac.ExpiresAt.UTC().Format(appCredTimeFormat)
	}
	rs := make([]any, 0, len(roles))
	for _, ro := range roles {
		rs = append(rs, appCredRoleJSON(ro))
	}
	m := map[string]any{
		"id": ac.ID, "name": ac.Name, "description": desc, "user_id": ac.UserID,
		"project_id": ac.ProjectID, "system": nil, "expires_at": expires,
		"unrestricted": ac.Unrestricted, "roles": rs,
		"links": map[string]any{"self": api.BaseURL(r) + "/v3/users/" + ac.UserID + "/application_credentials/" + ac.ID},
	}
	// Keystone includes access_rules only for credentials that have some.
	if len(ac.AccessRules) > 0 {
		list := make([]any, 0, len(ac.AccessRules))
		for _, ar := range ac.AccessRules {
			list = append(list, map[string]any{"id": ar.ID, "service": ar.Service, "path": ar.Path, "method": ar.Method})
		}
		m["access_rules"] = list
	}
	return m
}

// appCredRoleJSON renders a role inside an application credential, as Keystone's
// get_role does.
func appCredRoleJSON(ro role) map[string]any {
	var domainID, desc any
	if ro.DomainID != "" && ro.DomainID != NullDomainID {
		domainID = ro.DomainID
	}
	if ro.Description != "" {
		desc = ro.Description
	}
	opts := ro.Options
	if opts == nil {
		opts = map[string]any{}
	}
	return map[string]any{"id": ro.ID, "name": ro.Name, "domain_id": domainID, "description": desc, "options": opts}
}

// accessRuleJSON renders an access rule with its self link.
func accessRuleJSON(r *http.Request, userID string, ar accessRule) map[string]any {
	return map[string]any{
		"id": ar.ID, "service": ar.Service, "path": ar.Path, "method": ar.Method,
		"links": map[string]any{"self": api.BaseURL(r) + "/v3/users/" + userID + "/access_rules/" + ar.ID},
	}
}

// listAppCredsHTTP handles GET /v3/users/{user_id}/application_credentials (filter: name).
func (s *Service) listAppCredsHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	acs, err := s.listAppCreds(ctx, s.db, r.PathValue("user_id"), q.Get("name"), q.Has("name"))
	if err != nil {
		return err
	}
	out := make([]any, 0, len(acs))
	for _, ac := range acs {
		roles, err := loadRolesByID(ctx, s.db, ac.RoleIDs)
		if err != nil {
			return err
		}
		out = append(out, appCredJSON(r, ac, roles))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"application_credentials": out, "links": api.KeystoneLinks(r)})
	return nil
}

// createAppCredHTTP handles POST /v3/users/{user_id}/application_credentials.
func (s *Service) createAppCredHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	o, err := api.DecodeObject(r, "application_credential")
	if err != nil {
		return err
	}
	in, err := parseAppCredInput(o)
	if err != nil {
		return err
	}
	ac, secret, err := s.createAppCred(ctx, caller(ctx), r.PathValue("user_id"), in)
	if err != nil {
		return err
	}
	roles, err := loadRolesByID(ctx, s.db, ac.RoleIDs)
	if err != nil {
		return err
	}
	m := appCredJSON(r, ac, roles)
	m["secret"] = secret
	api.WriteJSON(w, http.StatusCreated, map[string]any{"application_credential": m})
	return nil
}

// showAppCredHTTP handles GET /v3/users/{user_id}/application_credentials/{id}.
func (s *Service) showAppCredHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("application_credential_id")
	ac, err := s.getAppCred(ctx, s.db, id)
	if err != nil {
		return err
	}
	if ac.UserID != r.PathValue("user_id") {
		return appCredNotFound(id)
	}
	roles, err := loadRolesByID(ctx, s.db, ac.RoleIDs)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"application_credential": appCredJSON(r, ac, roles)})
	return nil
}

// deleteAppCredHTTP handles DELETE /v3/users/{user_id}/application_credentials/{id}.
func (s *Service) deleteAppCredHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := s.requireUnrestricted(ctx, caller(ctx), "application credentials"); err != nil {
		return err
	}
	if err := s.deleteAppCred(ctx, r.PathValue("user_id"), r.PathValue("application_credential_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listAccessRulesHTTP handles GET /v3/users/{user_id}/access_rules (filters: service,
// path, method).
func (s *Service) listAccessRulesHTTP(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	uid := r.PathValue("user_id")
	rules, err := s.listAccessRules(r.Context(), s.db, uid, accessRule{Service: q.Get("service"), Path: q.Get("path"), Method: q.Get("method")})
	if err != nil {
		return err
	}
	out := make([]any, 0, len(rules))
	for _, ar := range rules {
		out = append(out, accessRuleJSON(r, uid, ar))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"access_rules": out, "links": api.KeystoneLinks(r)})
	return nil
}

// showAccessRuleHTTP handles GET /v3/users/{user_id}/access_rules/{access_rule_id}.
func (s *Service) showAccessRuleHTTP(w http.ResponseWriter, r *http.Request) error {
	uid := r.PathValue("user_id")
	ar, err := s.getAccessRule(r.Context(), s.db, uid, r.PathValue("access_rule_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"access_rule": accessRuleJSON(r, uid, *ar)})
	return nil
}

// deleteAccessRuleHTTP handles DELETE /v3/users/{user_id}/access_rules/{access_rule_id}.
func (s *Service) deleteAccessRuleHTTP(w http.ResponseWriter, r *http.Request) error {
	if err := s.deleteAccessRule(r.Context(), r.PathValue("user_id"), r.PathValue("access_rule_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
