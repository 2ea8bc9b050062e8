package identity

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/identity/fernet"
	"github.com/gostack/gostack/internal/store"
)

// tokenInfo is a validated token with everything resolved that its body and its Caller
// need: names, roles and scope.
type tokenInfo struct {
	Token                                                      string
	UserID, UserName, UserDomainID, UserDomainName             string
	UserPasswordExpiresAt                                      time.Time
	ProjectID, ProjectName, ProjectDomainID, ProjectDomainName string
	ProjectIsDomain                                            bool
	DomainID, DomainName                                       string
	System                                                     bool
	Roles                                                      []role
	RoleIDs                                                    []string
	Methods                                                    []string
	AuditIDs                                                   []string
	AppCredID, AppCredName                                     string
	AppCredUnrestricted                                        bool
	TrustID, TrustorID, TrusteeID                              string
	TrustImpersonation                                         bool
	AccessTokenID, OAuthConsumerID                             string
	IssuedAt, ExpiresAt                                        time.Time
	// IssuedAtPrecise is the issue time at sub-second precision, derived from the expiry
	// when the token has the default life; revocation compares with it so that a token
	// issued in the same second just after a revocation is not caught by it.
	IssuedAtPrecise time.Time
}

// auditChainID is the audit id of the first token of a rescoping chain.
func (t *tokenInfo) auditChainID() string {
	if len(t.AuditIDs) > 1 {
		return t.AuditIDs[1]
	}
	if len(t.AuditIDs) == 1 {
		return t.AuditIDs[0]
	}
	return ""
}

// scope returns the token's scope.
func (t *tokenInfo) scope() scope {
	return scope{ProjectID: t.ProjectID, DomainID: t.DomainID, System: t.System}
}

// caller converts the token into the request identity other services see.
func (t *tokenInfo) caller() *api.Caller {
	c := &api.Caller{
		Token: t.Token, UserID: t.UserID, UserName: t.UserName, UserDomainID: t.UserDomainID,
		UserDomainName: t.UserDomainName, ProjectID: t.ProjectID, ProjectName: t.ProjectName,
		ProjectDomainID: t.ProjectDomainID, ProjectDomainName: t.ProjectDomainName,
		DomainID: t.DomainID, DomainName: t.DomainName, Methods: t.Methods, AuditIDs: t.AuditIDs,
		AppCredID: t.AppCredID, IssuedAt: t.IssuedAt, ExpiresAt: t.ExpiresAt, RoleIDs: t.RoleIDs,
	}
	if t.System {
		c.System = "all"
	}
	for _, r := range t.Roles {
		c.Roles = append(c.Roles, r.Name)
	}
	return c
}

// tokenCache remembers validated tokens for the identity generation they were validated
// at; any identity write moves the generation and so empties the cache in effect.
type tokenCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]cachedToken
}

// cachedToken is one tokenCache entry.
type cachedToken struct {
	info *tokenInfo
	gen  uint64
}

// init sizes the cache.
func (c *tokenCache) init(max int) {
	c.max, c.entries = max, make(map[string]cachedToken, 64)
}

// get returns the cached validation of tok at generation gen.
func (c *tokenCache) get(tok string, gen uint64) *tokenInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[tok]
	if !ok || e.gen != gen {
		return nil
	}
	return e.info
}

// put stores a validation; when full, it drops stale and then arbitrary entries.
func (c *tokenCache) put(tok string, gen uint64, info *tokenInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if e.gen != gen || len(c.entries) >= c.max {
				delete(c.entries, k)
			}
			if len(c.entries) < c.max/2 {
				break
			}
		}
	}
	c.entries[tok] = cachedToken{info: info, gen: gen}
}

// errTokenInvalid is the 401 for tokens that are malformed, expired, revoked or whose
// user, scope or roles no longer hold.
func errTokenInvalid() error { return api.Unauthorized(api.ErrAuthRequired) }

// ValidateToken implements api.TokenValidator for every service's auth middleware.
func (s *Service) ValidateToken(ctx context.Context, tok string) (*api.Caller, error) {
	t, err := s.validate(ctx, tok, false)
	if err != nil {
		return nil, err
	}
	return t.caller(), nil
}

// validate checks a token end to end: signature, expiry (unless allowExpired and within
// the window), revocation, user, scope and roles. Failures are 401s.
func (s *Service) validate(ctx context.Context, tok string, allowExpired bool) (*tokenInfo, error) {
	gen := s.generation.Load()
	if t := s.tokenCache.get(tok, gen); t != nil {
		if time.Now().Before(t.ExpiresAt) {
			return t, nil
		}
		if !allowExpired || time.Since(t.ExpiresAt) > s.cfg.AllowExpiredWindow {
			return nil, errTokenInvalid()
		}
		return t, nil
	}
	p, err := s.keys.Validate(tok)
	if err != nil {
		return nil, errTokenInvalid()
	}
	expired := !time.Now().Before(p.ExpiresAt)
	if expired && (!allowExpired || time.Since(p.ExpiresAt) > s.cfg.AllowExpiredWindow) {
		return nil, errTokenInvalid()
	}
	t, err := s.resolve(ctx, tok, p)
	if err != nil {
		return nil, err
	}
	revoked, err := s.isRevoked(ctx, t)
	if err != nil {
		return nil, err
	}
	if revoked {
		return nil, errTokenInvalid()
	}
	if !expired {
		s.tokenCache.put(tok, gen, t)
	}
	return t, nil
}

// resolve fills in a token's user, scope and roles from the database and checks that
// they are all still enabled and valid.
func (s *Service) resolve(ctx context.Context, tok string, p fernet.Payload) (*tokenInfo, error) {
	t := &tokenInfo{
		Token: tok, UserID: p.UserID, Methods: p.Methods, AuditIDs: p.AuditIDs,
		IssuedAt: p.IssuedAt.UTC(), ExpiresAt: p.ExpiresAt.UTC(), ProjectID: p.ProjectID,
		DomainID: p.DomainID, System: p.System == "all", AppCredID: p.AppCredID, TrustID: p.TrustID,
		AccessTokenID: p.AccessTokenID,
	}
	t.IssuedAtPrecise = t.IssuedAt
	if precise := t.ExpiresAt.Add(-s.cfg.TokenExpiration); !precise.Before(t.IssuedAt) && precise.Before(t.IssuedAt.Add(time.Second)) {
		t.IssuedAtPrecise = precise
	}
	if err := s.fillUser(ctx, t); err != nil {
		return nil, err
	}
	if err := s.fillScope(ctx, t); err != nil {
		return nil, err
	}
	if t.TrustID != "" {
		if err := s.resolveTrustToken(ctx, t); err != nil {
			return nil, err
		}
	} else if t.AccessTokenID != "" {
		if err := s.resolveOAuthToken(ctx, t); err != nil {
			return nil, err
		}
	} else if t.AppCredID != "" {
		roles, err := s.appCredTokenRoles(ctx, s.db, t.AppCredID, t.UserID, t.ProjectID)
		if err != nil {
			return nil, errTokenInvalid()
		}
		t.Roles = roles
		var name string
		var unrestricted bool
		if err := s.db.QueryRowContext(ctx, `SELECT name, unrestricted FROM application_credentials WHERE id = ?`, t.AppCredID).Scan(&name, &unrestricted); err != nil {
			return nil, errTokenInvalid()
		}
		t.AppCredName, t.AppCredUnrestricted = name, unrestricted
	} else if !t.scope().unscoped() {
		roles, err := s.effectiveRoles(ctx, s.db, t.UserID, t.scope())
		if err != nil {
			return nil, err
		}
		t.Roles = roles
	}
	if !t.scope().unscoped() && len(t.Roles) == 0 {
		return nil, errTokenInvalid()
	}
	for _, r := range t.Roles {
		t.RoleIDs = append(t.RoleIDs, r.ID)
	}
	return t, nil
}

// fillUser loads the token's user and the user's domain; both must be enabled.
func (s *Service) fillUser(ctx context.Context, t *tokenInfo) error {
	u, err := s.getUser(ctx, s.db, t.UserID)
	if err != nil {
		if api.AsError(err).Status == http.StatusNotFound {
			return errTokenInvalid()
		}
		return err
	}
	if !u.Enabled {
		return errTokenInvalid()
	}
	d, err := s.getDomain(ctx, s.db, u.DomainID)
	if err != nil || !d.Enabled {
		return errTokenInvalid()
	}
	t.UserName, t.UserDomainID, t.UserDomainName = u.Name, d.ID, d.Name
	t.UserPasswordExpiresAt = u.PasswordExpiresAt
	return nil
}

// fillScope loads the token's project or domain; both it and its domain must be enabled.
func (s *Service) fillScope(ctx context.Context, t *tokenInfo) error {
	switch {
	case t.ProjectID != "":
		p, err := s.getProject(ctx, s.db, t.ProjectID)
		if err != nil || !p.Enabled {
			return errTokenInvalid()
		}
		t.ProjectName, t.ProjectIsDomain = p.Name, p.IsDomain
		if p.IsDomain {
			t.ProjectDomainID, t.ProjectDomainName = p.ID, p.Name
			return nil
		}
		d, err := s.getDomain(ctx, s.db, p.DomainID)
		if err != nil || !d.Enabled {
			return errTokenInvalid()
		}
		t.ProjectDomainID, t.ProjectDomainName = d.ID, d.Name
	case t.DomainID != "":
		d, err := s.getDomain(ctx, s.db, t.DomainID)
		if err != nil || !d.Enabled {
			return errTokenInvalid()
		}
		t.DomainName = d.Name
	}
	return nil
}

// issue creates a token for an authenticated user and scope, resolving it as validation
// would so that the response body shows exactly what a later validation will.
func (s *Service) issue(ctx context.Context, p fernet.Payload) (*tokenInfo, error) {
	if p.ExpiresAt.IsZero() {
		p.ExpiresAt = now().Add(s.cfg.TokenExpiration)
	}
	tok, err := s.keys.Issue(p)
	if err != nil {
		return nil, err
	}
	got, err := s.keys.Validate(tok)
	if err != nil {
		return nil, errors.New("issued token does not validate")
	}
	t, err := s.resolve(ctx, tok, got)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// tokenJSON renders a token body as Keystone does.
func (s *Service) tokenJSON(ctx context.Context, r *http.Request, t *tokenInfo, withCatalog bool) (map[string]any, error) {
	var pwExp any
	if !t.UserPasswordExpiresAt.IsZero() {
		pwExp = t.UserPasswordExpiresAt.UTC().Format(store.TimeFormat)
	}
	body := map[string]any{
		"methods":    t.Methods,
		"audit_ids":  t.AuditIDs,
		"expires_at": t.ExpiresAt.UTC().Format(store.TimeFormat),
		"issued_at":  t.IssuedAt.UTC().Format(store.TimeFormat),
		"user": map[string]any{
			"id": t.UserID, "name": t.UserName, "password_expires_at": pwExp,
			"domain": map[string]any{"id": t.UserDomainID, "name": t.UserDomainName},
		},
	}
	if !t.scope().unscoped() {
		roles := make([]any, 0, len(t.Roles))
		for _, r := range t.Roles {
			roles = append(roles, map[string]any{"id": r.ID, "name": r.Name})
		}
		body["roles"] = roles
	}
	switch {
	case t.ProjectID != "":
		body["project"] = map[string]any{"id": t.ProjectID, "name": t.ProjectName,
			"domain": map[string]any{"id": t.ProjectDomainID, "name": t.ProjectDomainName}}
		body["is_domain"] = t.ProjectIsDomain
	case t.DomainID != "":
		body["domain"] = map[string]any{"id": t.DomainID, "name": t.DomainName}
	case t.System:
		body["system"] = map[string]any{"all": true}
	}
	trustTokenJSON(t, body)
	oauthTokenJSON(t, body)
	if t.AppCredID != "" {
		body["application_credential"] = map[string]any{"id": t.AppCredID, "name": t.AppCredName, "restricted": !t.AppCredUnrestricted}
	}
	if withCatalog && !t.scope().unscoped() {
		cat, err := s.catalog(ctx, s.db, t.ProjectID)
		if err != nil {
			return nil, err
		}
		body["catalog"] = cat
	}
	// Keystone lists the enabled federation service providers on every token.
	sps, err := s.enabledServiceProviders(ctx, s.db)
	if err != nil {
		return nil, err
	}
	if sps != nil {
		body["service_providers"] = sps
	}
	return map[string]any{"token": body}, nil
}
