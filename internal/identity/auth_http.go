package identity

import (
	"context"
	"net/http"
	"slices"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/identity/fernet"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// tokenPolicies are Keystone's current token defaults (keystone/common/policies/token.py).
func tokenPolicies() map[string]string {
	return map[string]string{
		"identity:check_token":    "rule:admin_required or (role:reader and system_scope:all) or rule:token_subject",
		"identity:validate_token": "rule:admin_required or (role:reader and system_scope:all) or rule:service_role or rule:token_subject",
		"identity:revoke_token":   "rule:admin_required or rule:token_subject",
	}
}

// authRoutes is the route table of /v3/auth.
func (s *Service) authRoutes() []api.Route {
	return []api.Route{
		{Method: "POST", Path: "/v3/auth/tokens", Public: true, Handler: s.createToken},
		{Method: "GET", Path: "/v3/auth/tokens", Policy: "identity:validate_token", Target: s.subjectTarget, Handler: s.validateToken},
		{Method: "DELETE", Path: "/v3/auth/tokens", Policy: "identity:revoke_token", Target: s.subjectTarget, Handler: s.revokeToken},
		{Method: "GET", Path: "/v3/auth/catalog", Handler: s.authCatalog},
		{Method: "GET", Path: "/v3/auth/projects", Handler: s.authProjects},
		{Method: "GET", Path: "/v3/auth/domains", Handler: s.authDomains},
		{Method: "GET", Path: "/v3/auth/system", Handler: s.authSystem},
	}
}

// subjectToken validates the request's X-Subject-Token; Keystone answers 404 for a
// subject token that does not validate.
func (s *Service) subjectToken(r *http.Request) (*tokenInfo, error) {
	tok := r.Header.Get("X-Subject-Token")
	if tok == "" {
		return nil, api.NotFound("Could not find token.")
	}
	allow, _, _ := api.QueryBool(r.URL.Query(), "allow_expired")
	t, err := s.validate(r.Context(), tok, allow)
	if err != nil {
		if api.AsError(err).Status == http.StatusUnauthorized {
			return nil, api.NotFound("Could not find token: %s.", truncateRunes(tok, 16))
		}
		return nil, err
	}
	return t, nil
}

// subjectTarget gives the token policies the subject token's user.
func (s *Service) subjectTarget(r *http.Request) (policy.Target, error) {
	t, err := s.subjectToken(r)
	if err != nil {
		return nil, err
	}
	return policy.Target{"target.token.user_id": t.UserID}, nil
}

// validateToken handles GET and HEAD /v3/auth/tokens.
func (s *Service) validateToken(w http.ResponseWriter, r *http.Request) error {
	t, err := s.subjectToken(r)
	if err != nil {
		return err
	}
	nocat, _, _ := api.QueryBool(r.URL.Query(), "nocatalog")
	body, err := s.tokenJSON(r.Context(), r, t, !nocat)
	if err != nil {
		return err
	}
	w.Header().Set("X-Subject-Token", t.Token)
	api.WriteJSON(w, http.StatusOK, body)
	return nil
}

// revokeToken handles DELETE /v3/auth/tokens by revoking the subject token's audit id.
func (s *Service) revokeToken(w http.ResponseWriter, r *http.Request) error {
	t, err := s.subjectToken(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if len(t.AuditIDs) > 0 {
		if err := s.write(ctx, func(tx *store.Tx) error {
			return s.revoke(ctx, tx, revocationEvent{AuditID: t.AuditIDs[0]})
		}); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// createToken handles POST /v3/auth/tokens: authenticate with password, token or
// application credential, then scope.
func (s *Service) createToken(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	authObj, err := api.DecodeObject(r, "auth")
	if err != nil {
		return err
	}
	identity, ok, err := authObj.Obj("identity")
	if err != nil {
		return err
	}
	if !ok || identity == nil {
		return api.BadRequest("Invalid input for field 'identity': 'identity' is a required property.")
	}
	methods, ok, err := identity.StrList("methods")
	if err != nil {
		return err
	}
	if !ok || len(methods) == 0 {
		return api.BadRequest("Invalid input for field 'identity/methods': 'methods' is a required property.")
	}
	p := fernet.Payload{}
	var prior *tokenInfo
	var userID string
	var appCred *appCredAuth
	for _, m := range methods {
		if m != "password" && m != "token" && m != "application_credential" && m != "oauth1" {
			return api.Unauthorized("Attempted to authenticate with an unsupported method.")
		}
	}
	if slices.Contains(methods, "oauth1") {
		return s.createOAuthToken(w, r, methods)
	}
	switch {
	case slices.Contains(methods, "application_credential"):
		ac, _, err := identity.Obj("application_credential")
		if err != nil {
			return err
		}
		if ac == nil {
			return api.BadRequest("Invalid input for field 'identity/application_credential': the object is required.")
		}
		appCred, err = s.authenticateAppCred(ctx, s.db, ac)
		if err != nil {
			return err
		}
		userID = appCred.UserID
	case slices.Contains(methods, "password"):
		pw, _, err := identity.Obj("password")
		if err != nil {
			return err
		}
		if pw == nil {
			return api.BadRequest("Invalid input for field 'identity/password': the object is required.")
		}
		u, err := s.passwordUser(ctx, pw)
		if err != nil {
			return err
		}
		userID = u.ID
	case slices.Contains(methods, "token"):
		to, _, err := identity.Obj("token")
		if err != nil {
			return err
		}
		if to == nil {
			return api.BadRequest("Invalid input for field 'identity/token': the object is required.")
		}
		id, _, err := to.Str("id", false)
		if err != nil {
			return err
		}
		prior, err = s.validate(ctx, id, false)
		if err != nil {
			// Keystone validates the token it is asked to rescope and answers 404
			// TokenNotFound when it is invalid, expired or revoked.
			if api.AsError(err).Status == http.StatusUnauthorized {
				return api.NotFound("Could not find token: %s.", truncateRunes(id, 16))
			}
			return err
		}
		if prior.AppCredID != "" {
			return api.Forbidden("Unable to rescope an application credential token.")
		}
		if prior.TrustID != "" {
			return api.Forbidden("You are not authorized to perform the requested action: Using trust-scoped token to create another token. Create a new trust-scoped token instead.")
		}
		if prior.AccessTokenID != "" {
			return api.Forbidden("You are not authorized to perform the requested action: Using OAuth-scoped token to create another token. Create a new OAuth-scoped token instead.")
		}
		userID = prior.UserID
	}
	p.UserID = userID
	p.Methods = methods
	p.AuditIDs = []string{fernet.NewAuditID()}
	if prior != nil {
		// A rescoped token keeps its origin's expiry, methods and audit chain.
		p.ExpiresAt = prior.ExpiresAt
		p.AuditIDs = append(p.AuditIDs, prior.auditChainID())
		merged := append([]string{}, prior.Methods...)
		for _, m := range methods {
			if !slices.Contains(merged, m) {
				merged = append(merged, m)
			}
		}
		p.Methods = merged
	}
	sc, err := s.requestedScope(ctx, authObj, userID)
	if err != nil {
		return err
	}
	if appCred != nil {
		if !sc.unscoped() && (sc.ProjectID != appCred.ProjectID || sc.TrustID != "") {
			return api.Unauthorized("Application credentials cannot request a scope.")
		}
		p.ProjectID, p.AppCredID = appCred.ProjectID, appCred.AppCredID
		p.ExpiresAt = now().Add(s.cfg.TokenExpiration)
		if !appCred.ExpiresAt.IsZero() && appCred.ExpiresAt.Before(p.ExpiresAt) {
			p.ExpiresAt = appCred.ExpiresAt
		}
	} else {
		p.ProjectID, p.DomainID, p.TrustID = sc.ProjectID, sc.DomainID, sc.TrustID
		if sc.System {
			p.System = "all"
		}
	}
	if !sc.unscoped() && appCred == nil && sc.TrustID == "" {
		roles, err := s.effectiveRoles(ctx, s.db, userID, sc)
		if err != nil {
			return err
		}
		if len(roles) == 0 {
			return api.Unauthorized("The request you have made requires authentication.")
		}
	}
	t, err := s.issue(ctx, p)
	if err != nil {
		return err
	}
	if sc.TrustID != "" {
		if err := s.consumeTrustUse(ctx, sc.TrustID); err != nil {
			return err
		}
	}
	nocat, _, _ := api.QueryBool(r.URL.Query(), "nocatalog")
	body, err := s.tokenJSON(ctx, r, t, !nocat)
	if err != nil {
		return err
	}
	w.Header().Set("X-Subject-Token", t.Token)
	api.WriteJSON(w, http.StatusCreated, body)
	return nil
}

// passwordUser authenticates the password method's user (by id, or by name within a
// domain given by id or name). Every failure is the same 401, so that callers cannot tell
// a missing user from a wrong password.
func (s *Service) passwordUser(ctx context.Context, pw api.Object) (*user, error) {
	uo, _, err := pw.Obj("user")
	if err != nil {
		return nil, err
	}
	if uo == nil {
		return nil, api.BadRequest("Invalid input for field 'identity/password/user': the object is required.")
	}
	password, ok, err := uo.Str("password", false)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, api.BadRequest("Invalid input for field 'identity/password/user/password': 'password' is a required property.")
	}
	var u *user
	if id, ok, err := uo.Str("id", false); err != nil {
		return nil, err
	} else if ok {
		u, err = s.getUser(ctx, s.db, id)
		if err != nil && api.AsError(err).Status != http.StatusNotFound {
			return nil, err
		}
	} else {
		name, ok, err := uo.Str("name", false)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, api.BadRequest("Invalid input for field 'identity/password/user': either 'id' or 'name' is required.")
		}
		dom, err := s.domainRef(ctx, uo)
		if err != nil {
			return nil, err
		}
		if dom != nil {
			u, err = s.findUserByName(ctx, s.db, dom.ID, name)
			if err != nil && api.AsError(err).Status != http.StatusNotFound {
				return nil, err
			}
		}
	}
	if u == nil {
		// Spend the same time as a real check so that timing does not reveal the user.
		_ = s.verifyPassword(ctx, &user{ID: "", Enabled: false}, password)
		return nil, api.Unauthorized(api.ErrAuthRequired)
	}
	if err := s.verifyPassword(ctx, u, password); err != nil {
		return nil, err
	}
	if !u.Enabled {
		return nil, api.Unauthorized(api.ErrAuthRequired)
	}
	d, err := s.getDomain(ctx, s.db, u.DomainID)
	if err != nil || !d.Enabled {
		return nil, api.Unauthorized(api.ErrAuthRequired)
	}
	return u, nil
}

// domainRef resolves an object's "domain": {"id"} or {"name"}; nil when the domain does
// not exist (the caller turns that into its 401) and a 400 when the reference is missing.
func (s *Service) domainRef(ctx context.Context, o api.Object) (*project, error) {
	do, _, err := o.Obj("domain")
	if err != nil {
		return nil, err
	}
	if do == nil {
		return nil, api.BadRequest("Invalid input: a 'domain' with 'id' or 'name' is required when a name is given.")
	}
	if id, ok, err := do.Str("id", false); err != nil {
		return nil, err
	} else if ok {
		d, err := s.getDomain(ctx, s.db, id)
		if err != nil {
			return nil, nil
		}
		return d, nil
	}
	name, ok, err := do.Str("name", false)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, api.BadRequest("Invalid input: a 'domain' with 'id' or 'name' is required when a name is given.")
	}
	d, err := s.findDomainByName(ctx, s.db, name)
	if err != nil {
		return nil, nil
	}
	return d, nil
}

// requestedScope reads the auth request's scope. Without one, a user with a
// default_project_id gets that project when they have a role on it, as in Keystone.
func (s *Service) requestedScope(ctx context.Context, authObj api.Object, userID string) (scope, error) {
	raw, present := authObj["scope"]
	if !present {
		u, err := s.getUser(ctx, s.db, userID)
		if err == nil && u.DefaultProjectID != "" {
			p, err := s.getProject(ctx, s.db, u.DefaultProjectID)
			if err == nil && p.Enabled {
				roles, err := s.effectiveRoles(ctx, s.db, userID, scope{ProjectID: p.ID})
				if err == nil && len(roles) > 0 {
					return scope{ProjectID: p.ID}, nil
				}
			}
		}
		return scope{}, nil
	}
	if str, ok := raw.(string); ok && str == "unscoped" {
		return scope{}, nil
	}
	so, _, err := authObj.Obj("scope")
	if err != nil {
		return scope{}, err
	}
	if so == nil {
		return scope{}, nil
	}
	notFound := func() error { return api.Unauthorized(api.ErrAuthRequired) }
	switch {
	case so.Has("project"):
		po, _, err := so.Obj("project")
		if err != nil || po == nil {
			return scope{}, api.BadRequest("Invalid input for field 'scope/project': expected an object.")
		}
		var p *project
		if id, ok, err := po.Str("id", false); err != nil {
			return scope{}, err
		} else if ok {
			p, err = s.getProject(ctx, s.db, id)
			if err != nil {
				return scope{}, notFound()
			}
		} else {
			name, ok, err := po.Str("name", false)
			if err != nil {
				return scope{}, err
			}
			if !ok {
				return scope{}, api.BadRequest("Invalid input for field 'scope/project': 'id' or 'name' is required.")
			}
			d, err := s.domainRef(ctx, po)
			if err != nil {
				return scope{}, err
			}
			if d == nil {
				return scope{}, notFound()
			}
			p, err = s.findProjectByName(ctx, s.db, d.ID, name)
			if err != nil {
				return scope{}, notFound()
			}
		}
		if !p.Enabled {
			return scope{}, notFound()
		}
		if p.IsDomain {
			return scope{DomainID: p.ID}, nil
		}
		d, err := s.getDomain(ctx, s.db, p.DomainID)
		if err != nil || !d.Enabled {
			return scope{}, notFound()
		}
		return scope{ProjectID: p.ID}, nil
	case so.Has("domain"):
		d, err := s.domainRef(ctx, so)
		if err != nil {
			return scope{}, err
		}
		if d == nil || !d.Enabled {
			return scope{}, notFound()
		}
		return scope{DomainID: d.ID}, nil
	case so.Has("system"):
		sys, _, err := so.Obj("system")
		if err != nil || sys == nil {
			return scope{}, api.BadRequest("Invalid input for field 'scope/system': expected an object.")
		}
		if all, _, _ := sys.Bool("all"); !all {
			return scope{}, api.BadRequest("Invalid input for field 'scope/system': only {\"all\": true} is supported.")
		}
		return scope{System: true}, nil
	case so.Has("OS-TRUST:trust"):
		return s.trustScope(ctx, so, userID)
	}
	return scope{}, api.BadRequest("Invalid input for field 'scope': expected project, domain or system.")
}

// authCatalog handles GET /v3/auth/catalog.
func (s *Service) authCatalog(w http.ResponseWriter, r *http.Request) error {
	c := caller(r.Context())
	if c.ProjectID == "" && c.DomainID == "" && c.System == "" {
		return api.Forbidden("A scoped token is required to retrieve the service catalog.")
	}
	cat, err := s.catalog(r.Context(), s.db, c.ProjectID)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"catalog": cat, "links": api.KeystoneLinks(r)})
	return nil
}

// authProjects handles GET /v3/auth/projects: the enabled projects the caller may scope to.
func (s *Service) authProjects(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ids, err := s.userProjectIDs(ctx, s.db, caller(ctx).UserID)
	if err != nil {
		return err
	}
	out := []any{}
	for _, id := range ids {
		p, err := s.getProject(ctx, s.db, id)
		if err != nil || !p.Enabled || p.IsDomain {
			continue
		}
		d, err := s.getDomain(ctx, s.db, p.DomainID)
		if err != nil || !d.Enabled {
			continue
		}
		out = append(out, projectJSON(r, p))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"projects": out, "links": api.KeystoneLinks(r)})
	return nil
}

// authDomains handles GET /v3/auth/domains: the enabled domains the caller may scope to.
func (s *Service) authDomains(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ids, err := s.userDomainIDs(ctx, s.db, caller(ctx).UserID)
	if err != nil {
		return err
	}
	out := []any{}
	for _, id := range ids {
		d, err := s.getDomain(ctx, s.db, id)
		if err != nil || !d.Enabled {
			continue
		}
		out = append(out, domainJSON(r, d))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"domains": out, "links": api.KeystoneLinks(r)})
	return nil
}

// authSystem handles GET /v3/auth/system: [{"all": true}] when the caller has a role on
// the system.
func (s *Service) authSystem(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	roles, err := s.effectiveRoles(ctx, s.db, caller(ctx).UserID, scope{System: true})
	if err != nil {
		return err
	}
	sys := []any{}
	if len(roles) > 0 {
		sys = append(sys, map[string]any{"all": true})
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"system": sys, "links": api.KeystoneLinks(r)})
	return nil
}
