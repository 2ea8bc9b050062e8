package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// appCred is a stored application credential. The secret is kept only as a hash.
type appCred struct {
	ID, Name, Description, UserID, ProjectID string
	// ExpiresAt is zero for credentials that never expire.
	ExpiresAt    time.Time
	Unrestricted bool
	// RoleIDs are the roles delegated to the credential, implied roles included.
	RoleIDs     []string
	AccessRules []accessRule
	secretHash  string
}

// expired reports whether the credential has passed its expiry at t.
func (ac *appCred) expired(t time.Time) bool {
	return !ac.ExpiresAt.IsZero() && !t.Before(ac.ExpiresAt)
}

// accessRule is one (service, path, method) an application credential may call. Rules
// belong to a user and are shared by that user's credentials that name the same triple.
type accessRule struct {
	ID, UserID, Service, Path, Method string
}

// appCredAuth is the outcome of authenticating with an application credential: who the
// token is for, the project it is scoped to, and the roles it carries.
type appCredAuth struct {
	AppCredID, UserID, ProjectID string
	Roles                        []role
	ExpiresAt                    time.Time
	// Name and Unrestricted describe the credential in the token body
	// ("application_credential": {"id", "name", "restricted"}).
	Name         string
	Unrestricted bool
	// AccessRules are the credential's access rules, empty when it has none.
	AccessRules []accessRule
}

// appCredTimeFormat is how Keystone renders an application credential's expires_at.
const appCredTimeFormat = "2006-01-02T15:04:05.000000"

// appCredSecretBytes is the length of generated secrets before encoding (Keystone's 64).
const appCredSecretBytes = 64

// generateAppCredSecret returns a new secret as Keystone makes one: random bytes in
// URL-safe base64 without padding.
func generateAppCredSecret() string {
	b := make([]byte, appCredSecretBytes)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// appCredSecretInput is what bcrypt hashes for a secret: its SHA-256 digest, base64
// encoded. bcrypt reads only 72 bytes and generated secrets are 86 characters, so
// hashing the digest (passlib's bcrypt_sha256, one of Keystone's hashers) keeps every
// character of the secret significant instead of truncating as Keystone's plain bcrypt does.
func appCredSecretInput(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return []byte(base64.StdEncoding.EncodeToString(sum[:]))
}

// hashAppCredSecret hashes an application credential secret for storage.
func hashAppCredSecret(secret string, cost int) (string, error) {
	if cost < bcrypt.MinCost {
		cost = bcrypt.MinCost
	}
	h, err := bcrypt.GenerateFromPassword(appCredSecretInput(secret), cost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// checkAppCredSecret reports whether secret matches the stored hash, in constant time.
func checkAppCredSecret(secret, hash string) bool {
	if hash == "" {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), appCredSecretInput(secret)) == nil
}

// parseExpiresAt reads an ISO 8601 expiry as Keystone's parse_expiration_date does: a
// time without a zone is UTC, and a time in the past is refused.
func parseExpiresAt(s string) (time.Time, error) {
	layouts := []string{
		time.RFC3339Nano,
		"2006-01-02T15:04:05.999999999",
		"2006-01-02T15:04Z07:00",
		"2006-01-02T15:04",
		"2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999",
	}
	for _, l := range layouts {
		t, err := time.Parse(l, s)
		if err != nil {
			continue
		}
		t = t.UTC().Truncate(time.Microsecond)
		if t.Before(time.Now()) {
			return time.Time{}, api.BadRequest("The 'expires_at' must not be before now. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
		}
		return t, nil
	}
	return time.Time{}, api.BadRequest("Timestamp not in expected format. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
}

// appCredNotFound is Keystone's 404 for a missing application credential.
func appCredNotFound(id string) *api.Error {
	return api.NotFound("Could not find Application Credential: %s.", id)
}

// appCredColumns is the column list scanAppCred reads.
const appCredColumns = `id, name, secret_hash, description, user_id, project_id, expires_at, unrestricted`

// scanAppCred reads one row selected with appCredColumns.
func scanAppCred(row interface{ Scan(...any) error }) (*appCred, error) {
	var ac appCred
	var expires string
	if err := row.Scan(&ac.ID, &ac.Name, &ac.secretHash, &ac.Description, &ac.UserID, &ac.ProjectID,
		&expires, &ac.Unrestricted); err != nil {
		return nil, err
	}
	ac.ExpiresAt = store.ParseTime(expires)
	return &ac, nil
}

// getAppCred loads an application credential with its roles and access rules, or returns
// Keystone's 404.
func (s *Service) getAppCred(ctx context.Context, q store.Querier, id string) (*appCred, error) {
	ac, err := scanAppCred(q.QueryRowContext(ctx, `SELECT `+appCredColumns+` FROM application_credentials WHERE id = ?`, id))
	if store.IsNoRows(err) {
		return nil, appCredNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	if err := loadAppCredDetails(ctx, q, []*appCred{ac}); err != nil {
		return nil, err
	}
	return ac, nil
}

// listAppCreds returns a user's application credentials, optionally only the one named.
func (s *Service) listAppCreds(ctx context.Context, q store.Querier, userID, name string, byName bool) ([]*appCred, error) {
	query := `SELECT ` + appCredColumns + ` FROM application_credentials WHERE user_id = ?`
	args := []any{userID}
	if byName {
		query += ` AND name = ?`
		args = append(args, name)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY name, id`, args...)
	if err != nil {
		return nil, err
	}
	var out []*appCred
	for rows.Next() {
		ac, err := scanAppCred(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, ac)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := loadAppCredDetails(ctx, q, out); err != nil {
		return nil, err
	}
	return out, nil
}

// loadAppCredDetails fills the role ids and access rules of the given credentials.
func loadAppCredDetails(ctx context.Context, q store.Querier, acs []*appCred) error {
	for _, ac := range acs {
		ac.RoleIDs = []string{}
		ac.AccessRules = nil
		rows, err := q.QueryContext(ctx, `SELECT role_id FROM application_credential_roles WHERE application_credential_id = ? ORDER BY role_id`, ac.ID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ac.RoleIDs = append(ac.RoleIDs, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rules, err := scanAccessRules(q.QueryContext(ctx, `SELECT r.id, r.user_id, r.service, r.path, r.method
			FROM access_rules r JOIN application_credential_access_rules a ON a.access_rule_id = r.id
			WHERE a.application_credential_id = ? ORDER BY r.service, r.path, r.method, r.id`, ac.ID))
		if err != nil {
			return err
		}
		ac.AccessRules = rules
	}
	return nil
}

// scanAccessRules reads access rule rows (id, user_id, service, path, method).
func scanAccessRules(rows *sql.Rows, err error) ([]accessRule, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []accessRule
	for rows.Next() {
		var r accessRule
		if err := rows.Scan(&r.ID, &r.UserID, &r.Service, &r.Path, &r.Method); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// loadRolesByID loads roles by id, skipping ids that no longer exist, so that rendering a
// credential never fails on a deleted role.
func loadRolesByID(ctx context.Context, q store.Querier, ids []string) ([]role, error) {
	out := make([]role, 0, len(ids))
	for _, id := range ids {
		ro, err := scanRole(q.QueryRowContext(ctx, `SELECT `+roleColumns+` FROM roles r WHERE r.id = ?`, id))
		if store.IsNoRows(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *ro)
	}
	return out, nil
}

// effectiveRoleIDs returns the ids of the roles a user holds on a project, implied and
// inherited roles and group grants included.
func (s *Service) effectiveRoleIDs(ctx context.Context, q store.Querier, userID, projectID string) (map[string]role, error) {
	roles, err := s.effectiveRoles(ctx, q, userID, scope{ProjectID: projectID})
	if err != nil {
		return nil, err
	}
	out := make(map[string]role, len(roles))
	for _, r := range roles {
		out[r.ID] = r
	}
	return out, nil
}

// appCredRoles returns the credential's roles that its user still holds on its project,
// which are the roles a token from it carries (Keystone's
// _get_application_credential_roles).
func (s *Service) appCredRoles(ctx context.Context, q store.Querier, ac *appCred) ([]role, error) {
	have, err := s.effectiveRoleIDs(ctx, q, ac.UserID, ac.ProjectID)
	if err != nil {
		return nil, err
	}
	out := []role{}
	for _, id := range ac.RoleIDs {
		if r, ok := have[id]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// authFailed is the 401 every failed application credential authentication gives; like
// Keystone, it does not say which check failed.
func authFailed() *api.Error { return api.Unauthorized(api.ErrAuthRequired) }

// authenticateAppCred checks the "application_credential" object of an auth request,
// {"id", "secret"} or {"name", "secret", "user": {"id"} or {"name", "domain": {...}}},
// and returns who the token is for. Malformed objects give Keystone's 400s; every
// failed check gives a 401 that does not say which.
func (s *Service) authenticateAppCred(ctx context.Context, q store.Querier, o api.Object) (*appCredAuth, error) {
	id, _, err := o.Str("id", true)
	if err != nil {
		return nil, err
	}
	name, _, err := o.Str("name", true)
	if err != nil {
		return nil, err
	}
	secret, _, err := o.Str("secret", true)
	if err != nil {
		return nil, err
	}
	var ac *appCred
	var u *user
	switch {
	case id != "":
		// The credential alone names its owner; a "user" in the request is ignored so
		// that it cannot redirect authentication to someone else (LP#2148477).
		ac, err = s.getAppCred(ctx, q, id)
		if err != nil {
			s.spendDummyComparison(secret)
			return nil, authFailedOr(err)
		}
		u, err = s.getUser(ctx, q, ac.UserID)
		if err != nil {
			return nil, authFailedOr(err)
		}
	case name != "":
		uo, _, err := o.Obj("user")
		if err != nil {
			return nil, err
		}
		if uo == nil {
			return nil, validationError("user", "application credential")
		}
		u, err = s.appCredAuthUser(ctx, q, uo)
		if err != nil {
			if api.AsError(err).Status == http.StatusUnauthorized {
				s.spendDummyComparison(secret)
			}
			return nil, err
		}
		acs, err := s.listAppCreds(ctx, q, u.ID, name, true)
		if err != nil {
			return nil, err
		}
		if len(acs) != 1 {
			s.spendDummyComparison(secret)
			return nil, authFailed()
		}
		ac = acs[0]
	default:
		return nil, validationError("id or name", "application credential")
	}
	if !checkAppCredSecret(secret, ac.secretHash) || ac.expired(time.Now()) {
		return nil, authFailed()
	}
	if !u.Enabled {
		return nil, authFailed()
	}
	if dom, err := s.getDomain(ctx, q, u.DomainID); err != nil || !dom.Enabled {
		return nil, authFailed()
	}
	roles, err := s.appCredRoles(ctx, q, ac)
	if err != nil {
		return nil, err
	}
	return &appCredAuth{
		AppCredID: ac.ID, UserID: ac.UserID, ProjectID: ac.ProjectID, Roles: roles,
		ExpiresAt: ac.ExpiresAt, Name: ac.Name, Unrestricted: ac.Unrestricted, AccessRules: ac.AccessRules,
	}, nil
}

// appCredAuthUser resolves the "user" of a name-based application credential request.
func (s *Service) appCredAuthUser(ctx context.Context, q store.Querier, uo api.Object) (*user, error) {
	uid, _, err := uo.Str("id", true)
	if err != nil {
		return nil, err
	}
	uname, _, err := uo.Str("name", true)
	if err != nil {
		return nil, err
	}
	switch {
	case uid != "":
		u, err := s.getUser(ctx, q, uid)
		if err != nil {
			return nil, authFailedOr(err)
		}
		return u, nil
	case uname != "":
		do, _, err := uo.Obj("domain")
		if err != nil {
			return nil, err
		}
		if do == nil {
			return nil, validationError("domain", "user")
		}
		did, _, err := do.Str("id", true)
		if err != nil {
			return nil, err
		}
		dname, _, err := do.Str("name", true)
		if err != nil {
			return nil, err
		}
		var dom *project
		switch {
		case dname != "":
			dom, err = s.findDomainByName(ctx, q, dname)
		case did != "":
			dom, err = s.getDomain(ctx, q, did)
		default:
			return nil, validationError("id or name", "domain")
		}
		if err != nil {
			return nil, authFailedOr(err)
		}
		if !dom.Enabled {
			return nil, authFailed()
		}
		u, err := s.findUserByName(ctx, q, dom.ID, uname)
		if err != nil {
			return nil, authFailedOr(err)
		}
		return u, nil
	}
	return nil, validationError("id or name", "user")
}

// authFailedOr turns a client-visible lookup failure (a 404) into the authentication 401
// and passes internal errors through.
func authFailedOr(err error) error {
	if e := api.AsError(err); e.Status < http.StatusInternalServerError {
		return authFailed()
	}
	return err
}

// appCredTokenRoles re-derives, when a token issued from an application credential is
// validated, the roles it carries. A deleted credential gives a 404 (Keystone's
// ApplicationCredentialNotFound); one that expired or no longer matches the token's
// user and project gives a 401.
func (s *Service) appCredTokenRoles(ctx context.Context, q store.Querier, appCredID, userID, projectID string) ([]role, error) {
	ac, err := s.getAppCred(ctx, q, appCredID)
	if err != nil {
		return nil, err
	}
	if ac.UserID != userID || ac.ProjectID != projectID || ac.expired(time.Now()) {
		return nil, authFailed()
	}
	return s.appCredRoles(ctx, q, ac)
}

// appCredInput is a validated create request.
type appCredInput struct {
	Name, Description, Secret string
	ExpiresAt                 time.Time
	Unrestricted              bool
	// Roles are the requested roles, each {"id": ...} or {"name": ...}; nil means the
	// token's roles.
	Roles []api.Object
	// AccessRules are the requested rules, each an {"id"} or a (service, path, method).
	AccessRules []accessRuleInput
}

// accessRuleInput is one requested access rule.
type accessRuleInput struct {
	ID, Service, Path, Method string
}

// appCredCreateFields are the attributes Keystone's create schema allows.
var appCredCreateFields = []string{"id", "name", "secret", "description", "expires_at", "project_id", "access_rules", "unrestricted", "system", "roles"}

// idStringRe is Keystone's id_string pattern.
var idStringRe = regexp.MustCompile(`^[a-zA-Z0-9-]+$`)

// accessRuleMethods are the methods an access rule may name.
var accessRuleMethods = []string{"DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"}

// parseAppCredInput validates the body of a create request against Keystone's schema.
func parseAppCredInput(o api.Object) (*appCredInput, error) {
	if extra := o.Extra(appCredCreateFields...); len(extra) > 0 {
		keys := make([]string, 0, len(extra))
		for k := range extra {
			keys = append(keys, "'"+k+"'")
		}
		sort.Strings(keys)
		verb := "was"
		if len(keys) > 1 {
			verb = "were"
		}
		return nil, api.BadRequest("Invalid input for field/attribute application_credential. Additional properties are not allowed (%s %s unexpected).", strings.Join(keys, ", "), verb)
	}
	in := &appCredInput{}
	var err error
	if in.Name, _, err = o.Name("name", true, 255); err != nil {
		return nil, err
	}
	if in.Description, _, err = o.Str("description", true); err != nil {
		return nil, err
	}
	if in.Secret, _, err = o.Str("secret", true); err != nil {
		return nil, err
	}
	// id and project_id are accepted and ignored (the id is generated and the project is
	// the token's), as is system.
	for _, k := range []string{"id", "project_id", "system"} {
		if _, _, err := o.Str(k, k == "system"); err != nil {
			return nil, err
		}
	}
	if !o.IsNull("unrestricted") {
		if in.Unrestricted, _, err = o.Bool("unrestricted"); err != nil {
			return nil, err
		}
	}
	exp, hasExp, err := o.Str("expires_at", true)
	if err != nil {
		return nil, err
	}
	if hasExp && exp != "" {
		if in.ExpiresAt, err = parseExpiresAt(exp); err != nil {
			return nil, err
		}
	}
	roles, _, err := o.List("roles")
	if err != nil {
		return nil, err
	}
	for _, r := range roles {
		if len(r) != 1 || !(r.Has("id") || r.Has("name")) {
			return nil, api.BadRequest("Invalid input for field/attribute roles. Each role must be an object with exactly one of 'id' or 'name'.")
		}
		if r.Has("id") {
			id, _, err := r.Str("id", false)
			if err != nil {
				return nil, err
			}
			if len(id) == 0 || len(id) > 64 || !idStringRe.MatchString(id) {
				return nil, api.BadRequest("Invalid input for field/attribute id. The value must be 1 to 64 characters of letters, digits and hyphens.")
			}
		} else if _, _, err := r.Name("name", true, 255); err != nil {
			return nil, err
		}
	}
	if len(roles) > 0 {
		in.Roles = roles
	}
	rules, _, err := o.List("access_rules")
	if err != nil {
		return nil, err
	}
	for _, ro := range rules {
		ar, err := parseAccessRuleInput(ro)
		if err != nil {
			return nil, err
		}
		in.AccessRules = append(in.AccessRules, ar)
	}
	return in, nil
}

// parseAccessRuleInput validates one requested access rule.
func parseAccessRuleInput(o api.Object) (accessRuleInput, error) {
	var ar accessRuleInput
	var err error
	var hasID, hasSvc, hasPath, hasMethod bool
	if ar.ID, hasID, err = o.Str("id", false); err != nil {
		return ar, err
	}
	if hasID && (len(ar.ID) == 0 || len(ar.ID) > 64 || !idStringRe.MatchString(ar.ID)) {
		return ar, api.BadRequest("Invalid input for field/attribute id. The value must be 1 to 64 characters of letters, digits and hyphens.")
	}
	if ar.Service, hasSvc, err = o.Str("service", false); err != nil {
		return ar, err
	}
	if hasSvc && (len(ar.Service) == 0 || len(ar.Service) > 64 || !idStringRe.MatchString(ar.Service)) {
		return ar, api.BadRequest("Invalid input for field/attribute service. The value must be 1 to 64 characters of letters, digits and hyphens.")
	}
	if ar.Path, hasPath, err = o.Str("path", false); err != nil {
		return ar, err
	}
	if hasPath && (!strings.HasPrefix(ar.Path, "/") || len([]rune(ar.Path)) > 225) {
		return ar, api.BadRequest("Invalid input for field/attribute path. The value must start with '/' and be at most 225 characters.")
	}
	if ar.Method, hasMethod, err = o.Str("method", false); err != nil {
		return ar, err
	}
	if hasMethod && !slices.Contains(accessRuleMethods, ar.Method) {
		return ar, api.BadRequest("Invalid input for field/attribute method. The value must be one of %s.", strings.Join(accessRuleMethods, ", "))
	}
	if !hasID && !(hasSvc && hasPath && hasMethod) {
		return ar, api.BadRequest("Invalid input for field/attribute access_rules. Each access rule needs an 'id' or all of 'service', 'path' and 'method'.")
	}
	return ar, nil
}

// createAppCred creates an application credential for the caller on the caller's
// project and returns it with the secret the client must keep.
func (s *Service) createAppCred(ctx context.Context, c *api.Caller, userID string, in *appCredInput) (*appCred, string, error) {
	// Keystone's create rule is scoped to projects: system and domain tokens are refused.
	if c.ProjectID == "" {
		return nil, "", api.Forbidden("You are not authorized to perform the requested action: identity:create_application_credential.")
	}
	if err := s.requireUnrestricted(ctx, c, "application credentials"); err != nil {
		return nil, "", err
	}
	if c.UserID != userID {
		return nil, "", api.Forbidden("You are not authorized to perform the requested action: Cannot create an application credential for another user.")
	}
	secret := in.Secret
	if secret == "" {
		secret = generateAppCredSecret()
	}
	hash, err := hashAppCredSecret(secret, s.cfg.BcryptCost)
	if err != nil {
		return nil, "", err
	}
	ac := &appCred{
		ID: api.NewID(), Name: in.Name, Description: in.Description, UserID: userID, ProjectID: c.ProjectID,
		ExpiresAt: in.ExpiresAt, Unrestricted: in.Unrestricted, secretHash: hash,
	}
	err = s.write(ctx, func(tx *store.Tx) error {
		roleIDs, err := s.appCredRequestedRoles(ctx, tx, c, in.Roles)
		if err != nil {
			return err
		}
		have, err := s.effectiveRoleIDs(ctx, tx, userID, c.ProjectID)
		if err != nil {
			return err
		}
		for _, id := range roleIDs {
			if _, ok := have[id]; !ok {
				return api.BadRequest("Invalid application credential: Could not find role assignment with role: %s, user or group: %s, project, domain, or system: %s.", id, userID, c.ProjectID)
			}
		}
		ac.RoleIDs = roleIDs
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM application_credentials WHERE user_id = ? AND name = ?`, userID, ac.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return appCredConflict()
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO application_credentials
			(id, name, secret_hash, description, user_id, project_id, expires_at, unrestricted, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			ac.ID, ac.Name, ac.secretHash, ac.Description, ac.UserID, ac.ProjectID,
			store.FormatTime(ac.ExpiresAt), ac.Unrestricted, store.FormatTime(now())); err != nil {
			if store.IsUniqueViolation(err) {
				return appCredConflict()
			}
			return err
		}
		for _, id := range roleIDs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO application_credential_roles (application_credential_id, role_id) VALUES (?, ?)`, ac.ID, id); err != nil {
				return err
			}
		}
		rules, err := resolveAccessRules(ctx, tx, userID, in.AccessRules)
		if err != nil {
			return err
		}
		for _, r := range rules {
			if _, err := tx.ExecContext(ctx, `INSERT INTO application_credential_access_rules (application_credential_id, access_rule_id) VALUES (?, ?)`, ac.ID, r.ID); err != nil {
				return err
			}
		}
		ac.AccessRules = rules
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return ac, secret, nil
}

// appCredConflict is Keystone's 409 for a duplicate credential name.
func appCredConflict() *api.Error {
	return api.Conflict("Conflict occurred attempting to store application_credential - Duplicate entry.")
}

// requireUnrestricted refuses callers whose token came from a restricted application
// credential, which may not manage credentials (what names the kind, for the message).
func (s *Service) requireUnrestricted(ctx context.Context, c *api.Caller, what string) error {
	if c.AppCredID == "" {
		return nil
	}
	ac, err := s.getAppCred(ctx, s.db, c.AppCredID)
	if err != nil && api.AsError(err).Status >= http.StatusInternalServerError {
		return err
	}
	if err != nil || !ac.Unrestricted {
		return api.Forbidden("You are not authorized to perform the requested action: Using method 'application_credential' is not allowed for managing additional %s.", what)
	}
	return nil
}

// appCredRequestedRoles resolves the roles of a create request, as Keystone's _get_roles
// does: named roles are looked up, implied roles are added, and every role must be in the
// caller's token. With no roles requested, the token's roles are used.
func (s *Service) appCredRequestedRoles(ctx context.Context, q store.Querier, c *api.Caller, req []api.Object) ([]string, error) {
	if req == nil {
		return slices.Clone(c.RoleIDs), nil
	}
	var ids []string
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, r := range req {
		if id, ok := r["id"].(string); ok {
			add(id)
			continue
		}
		name, _ := r["name"].(string)
		rows, err := q.QueryContext(ctx, `SELECT id FROM roles WHERE name = ?`, name)
		if err != nil {
			return nil, err
		}
		var found []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			found = append(found, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		switch len(found) {
		case 0:
			return nil, api.NotFound("Role %s is not defined", name)
		case 1:
			add(found[0])
		default:
			return nil, api.BadRequest("There are multiple role entities named '%s'. Please use ID instead of names to resolve the ambiguity.", name)
		}
	}
	// Implied roles are delegated too, transitively, as Keystone's loop over a growing
	// list does.
	for i := 0; i < len(ids); i++ {
		rows, err := q.QueryContext(ctx, `SELECT implied_role_id FROM implied_roles WHERE prior_role_id = ? ORDER BY implied_role_id`, ids[i])
		if err != nil {
			return nil, err
		}
		var implied []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			implied = append(implied, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for _, id := range implied {
			add(id)
		}
	}
	for _, id := range ids {
		if !slices.Contains(c.RoleIDs, id) {
			return nil, api.BadRequest("Invalid application credential: Cannot create an application credential with unassigned role")
		}
	}
	return ids, nil
}

// resolveAccessRules finds or creates the user's access rules a create request names. A
// rule given by id must be one of the user's; a rule given as (service, path, method)
// reuses the user's identical rule or becomes a new one, keeping a client-chosen id.
func resolveAccessRules(ctx context.Context, tx *store.Tx, userID string, in []accessRuleInput) ([]accessRule, error) {
	var out []accessRule
	seen := map[string]bool{}
	for _, ar := range in {
		var found []accessRule
		var err error
		if ar.ID != "" {
			found, err = scanAccessRules(tx.QueryContext(ctx, `SELECT id, user_id, service, path, method FROM access_rules WHERE id = ? AND user_id = ?`, ar.ID, userID))
			if err != nil {
				return nil, err
			}
		}
		if len(found) == 0 && ar.Service != "" {
			found, err = scanAccessRules(tx.QueryContext(ctx, `SELECT id, user_id, service, path, method FROM access_rules
				WHERE user_id = ? AND service = ? AND path = ? AND method = ? ORDER BY id`, userID, ar.Service, ar.Path, ar.Method))
			if err != nil {
				return nil, err
			}
		}
		var r accessRule
		switch {
		case len(found) > 0:
			r = found[0]
		case ar.Service == "":
			return nil, api.NotFound("Could not find Access Rule: %s.", ar.ID)
		default:
			r = accessRule{ID: ar.ID, UserID: userID, Service: ar.Service, Path: ar.Path, Method: ar.Method}
			if r.ID == "" {
				r.ID = api.NewID()
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO access_rules (id, user_id, service, path, method) VALUES (?, ?, ?, ?, ?)`,
				r.ID, r.UserID, r.Service, r.Path, r.Method); err != nil {
				if store.IsUniqueViolation(err) {
					return nil, api.Conflict("Conflict occurred attempting to store access_rule - Duplicate entry.")
				}
				return nil, err
			}
		}
		if !seen[r.ID] {
			seen[r.ID] = true
			out = append(out, r)
		}
	}
	return out, nil
}

// deleteAppCred deletes one of a user's application credentials. Tokens issued from it
// stop validating because appCredTokenRoles no longer finds it.
func (s *Service) deleteAppCred(ctx context.Context, userID, id string) error {
	return s.write(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM application_credentials WHERE id = ? AND user_id = ?`, id, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return appCredNotFound(id)
		}
		return nil
	})
}

// listAccessRules returns a user's access rules, filtered by service, path and method
// when those are non-empty.
func (s *Service) listAccessRules(ctx context.Context, q store.Querier, userID string, filter accessRule) ([]accessRule, error) {
	query := `SELECT id, user_id, service, path, method FROM access_rules WHERE user_id = ?`
	args := []any{userID}
	for _, f := range []struct{ col, val string }{{"service", filter.Service}, {"path", filter.Path}, {"method", filter.Method}} {
		if f.val != "" {
			query += ` AND ` + f.col + ` = ?`
			args = append(args, f.val)
		}
	}
	return scanAccessRules(q.QueryContext(ctx, query+` ORDER BY service, path, method, id`, args...))
}

// getAccessRule loads one of a user's access rules or returns Keystone's 404.
func (s *Service) getAccessRule(ctx context.Context, q store.Querier, userID, id string) (*accessRule, error) {
	rules, err := scanAccessRules(q.QueryContext(ctx, `SELECT id, user_id, service, path, method FROM access_rules WHERE id = ? AND user_id = ?`, id, userID))
	if err != nil {
		return nil, err
	}
	if len(rules) == 0 {
		return nil, api.NotFound("Could not find Access Rule: %s.", id)
	}
	return &rules[0], nil
}

// deleteAccessRule deletes one of a user's access rules; a rule an application credential
// still uses is refused with Keystone's 403.
func (s *Service) deleteAccessRule(ctx context.Context, userID, id string) error {
	return s.write(ctx, func(tx *store.Tx) error {
		if _, err := s.getAccessRule(ctx, tx, userID, id); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM application_credential_access_rules WHERE access_rule_id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return api.Forbidden("May not delete access rule in use")
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM access_rules WHERE id = ?`, id)
		return err
	})
}
