package identity

import (
	"context"
	"database/sql"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// maxRedelegationCount is Keystone's [trust] max_redelegation_count: how long a chain of
// redelegated trusts may grow.
const maxRedelegationCount = 3

// errForbidden is the message of Keystone's plain Forbidden, which hides its details
// outside insecure_debug mode.
const errForbidden = "You are not authorized to perform the requested action."

// trust is an OS-TRUST delegation: the trustor lets the trustee act with RoleIDs on
// ProjectID, optionally as the trustor (Impersonation).
type trust struct {
	ID, TrustorID, TrusteeID string
	// ProjectID is "" for a trust without a project.
	ProjectID     string
	Impersonation bool
	// ExpiresAt is zero for a trust that never expires.
	ExpiresAt time.Time
	// RemainingUses is nil for unlimited use.
	RemainingUses *int64
	// RedelegatedTrustID is the trust this one was redelegated from.
	RedelegatedTrustID string
	RedelegationCount  int64
	// Extra holds the free-form attributes given at creation.
	Extra map[string]any
	// RoleIDs are the delegated roles as given at creation, implied roles not added.
	RoleIDs []string
}

// expired reports whether the trust has passed its expiry at t.
func (tr *trust) expired(t time.Time) bool {
	return !tr.ExpiresAt.IsZero() && t.After(tr.ExpiresAt)
}

// exhausted reports whether a limited-use trust has no uses left.
func (tr *trust) exhausted() bool { return tr.RemainingUses != nil && *tr.RemainingUses <= 0 }

// trustNotFound is Keystone's 404 for a missing, expired or used-up trust.
func trustNotFound(id string) *api.Error { return api.NotFound("Could not find trust: %s.", id) }

// trustColumns is the column list scanTrust reads.
const trustColumns = `id, trustor_user_id, trustee_user_id, COALESCE(project_id, ''), impersonation,
	COALESCE(expires_at, ''), remaining_uses, COALESCE(redelegated_trust_id, ''), redelegation_count, extra`

// scanTrust reads one row selected with trustColumns.
func scanTrust(row interface{ Scan(...any) error }) (*trust, error) {
	var tr trust
	var expires, extra string
	var uses sql.NullInt64
	if err := row.Scan(&tr.ID, &tr.TrustorID, &tr.TrusteeID, &tr.ProjectID, &tr.Impersonation, &expires,
		&uses, &tr.RedelegatedTrustID, &tr.RedelegationCount, &extra); err != nil {
		return nil, err
	}
	tr.ExpiresAt = store.ParseTime(expires)
	if uses.Valid {
		n := uses.Int64
		tr.RemainingUses = &n
	}
	tr.Extra = jsonMap(extra)
	return &tr, nil
}

// loadTrust reads a trust and its roles, whatever its expiry and remaining uses; a
// missing trust is Keystone's 404.
func loadTrust(ctx context.Context, q store.Querier, id string) (*trust, error) {
	tr, err := scanTrust(q.QueryRowContext(ctx, `SELECT `+trustColumns+` FROM trusts WHERE id = ?`, id))
	if store.IsNoRows(err) {
		return nil, trustNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, `SELECT role_id FROM trust_roles WHERE trust_id = ? ORDER BY role_id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var rid string
		if err := rows.Scan(&rid); err != nil {
			return nil, err
		}
		tr.RoleIDs = append(tr.RoleIDs, rid)
	}
	return tr, rows.Err()
}

// getTrust is Keystone's trust_api.get_trust: a trust that expired or has no uses left
// is not found, and a redelegated trust must still be a valid link of a valid chain.
func (s *Service) getTrust(ctx context.Context, q store.Querier, id string) (*trust, error) {
	tr, err := loadTrust(ctx, q, id)
	if err != nil {
		return nil, err
	}
	if tr.expired(time.Now()) || tr.exhausted() {
		return nil, trustNotFound(id)
	}
	if tr.RedelegatedTrustID != "" {
		if err := s.checkTrustPedigree(ctx, q, tr); err != nil {
			return nil, err
		}
	}
	return tr, nil
}

// trustPedigree returns the trust followed by the trusts it was redelegated from, the
// original trust last. Every ancestor must exist and still be usable.
func trustPedigree(ctx context.Context, q store.Querier, tr *trust) ([]*trust, error) {
	chain := []*trust{tr}
	for cur := tr; cur.RedelegatedTrustID != ""; {
		if len(chain) > maxRedelegationCount+1 {
			return nil, api.Forbidden(errForbidden)
		}
		parent, err := loadTrust(ctx, q, cur.RedelegatedTrustID)
		if err != nil {
			return nil, err
		}
		if parent.expired(time.Now()) || parent.exhausted() {
			return nil, trustNotFound(parent.ID)
		}
		chain = append(chain, parent)
		cur = parent
	}
	return chain, nil
}

// checkTrustPedigree validates every link of a redelegated trust's chain, as Keystone's
// get_trust does: each trust within the limits of its parent, and every intermediate
// trustee still enabled.
func (s *Service) checkTrustPedigree(ctx context.Context, q store.Querier, tr *trust) error {
	chain, err := trustPedigree(ctx, q, tr)
	if err != nil {
		return err
	}
	for i := 1; i < len(chain); i++ {
		parent, child := chain[i], *chain[i-1]
		if err := validateRedelegation(parent, &child); err != nil {
			return err
		}
		u, err := s.getUser(ctx, q, parent.TrusteeID)
		if err != nil && api.AsError(err).Status >= http.StatusInternalServerError {
			return err
		}
		if err != nil || !u.Enabled {
			return api.Forbidden(errForbidden)
		}
	}
	return nil
}

// validateRedelegation checks that child may be redelegated from parent (Keystone's
// _validate_redelegation): the parent still allows redelegation, the child has no use
// limit, does not outlive the parent (a child without expiry takes the parent's), keeps
// to the parent's roles and impersonates only if the parent does.
func validateRedelegation(parent, child *trust) error {
	if parent.RedelegationCount <= 0 || parent.RedelegationCount > maxRedelegationCount {
		return api.Forbidden(errForbidden)
	}
	if child.RemainingUses != nil {
		return api.Forbidden(errForbidden)
	}
	if child.ExpiresAt.IsZero() {
		child.ExpiresAt = parent.ExpiresAt
	} else if !parent.ExpiresAt.IsZero() && parent.ExpiresAt.Before(child.ExpiresAt) {
		return api.Forbidden(errForbidden)
	}
	for _, id := range child.RoleIDs {
		if !slices.Contains(parent.RoleIDs, id) {
			return api.Forbidden(errForbidden)
		}
	}
	if !parent.Impersonation && child.Impersonation {
		return api.Forbidden(errForbidden)
	}
	return nil
}

// originalTrustorID is the trustor at the root of a trust's chain, whose roles bound
// what the chain delegates.
func originalTrustorID(ctx context.Context, q store.Querier, tr *trust) (string, error) {
	if tr.RedelegatedTrustID == "" {
		return tr.TrustorID, nil
	}
	chain, err := trustPedigree(ctx, q, tr)
	if err != nil {
		return "", err
	}
	return chain[len(chain)-1].TrustorID, nil
}

// trustTokenRoles returns the roles a token from the trust carries (Keystone's
// _get_trust_roles): the trust's roles and the roles they imply, every one of which the
// original trustor must still hold on the project, else 403. Domain-specific roles only
// lend their implied roles and are left out, as in Keystone.
func (s *Service) trustTokenRoles(ctx context.Context, q store.Querier, tr *trust) ([]role, error) {
	trustorID, err := originalTrustorID(ctx, q, tr)
	if err != nil {
		return nil, err
	}
	rules, err := impliedRuleMap(ctx, q)
	if err != nil {
		return nil, err
	}
	ids := slices.Clone(tr.RoleIDs)
	seen := map[string]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	for i := 0; i < len(ids); i++ {
		for _, implied := range rules[ids[i]] {
			if !seen[implied] {
				seen[implied] = true
				ids = append(ids, implied)
			}
		}
	}
	have, err := s.effectiveRoleIDs(ctx, q, trustorID, tr.ProjectID)
	if err != nil {
		return nil, err
	}
	known, err := rolesByIDs(ctx, q, ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]role, len(known))
	for _, r := range known {
		byID[r.ID] = r
	}
	var out []role
	for _, id := range ids {
		if r, ok := byID[id]; ok && r.DomainID != "" {
			continue
		}
		r, ok := have[id]
		if !ok {
			return nil, api.Forbidden(errForbidden)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// checkTrustUse checks that userID may use the trust now and returns the roles its
// token carries. Failures are Keystone's: 403 when the user is not the trustee, the
// trustor is disabled or no longer holds the roles; 401 when a domain is disabled.
func (s *Service) checkTrustUse(ctx context.Context, q store.Querier, tr *trust, userID string) ([]role, error) {
	if tr.ProjectID == "" || userID != tr.TrusteeID {
		return nil, api.Forbidden(errForbidden)
	}
	trustor, err := s.getUser(ctx, q, tr.TrustorID)
	if err != nil {
		if api.AsError(err).Status >= http.StatusInternalServerError {
			return nil, err
		}
		return nil, api.Forbidden(errForbidden)
	}
	if !trustor.Enabled {
		return nil, api.Forbidden(errForbidden)
	}
	for _, uid := range []string{tr.TrustorID, tr.TrusteeID} {
		u, err := s.getUser(ctx, q, uid)
		if err != nil {
			return nil, authFailedOr(err)
		}
		if d, err := s.getDomain(ctx, q, u.DomainID); err != nil || !d.Enabled {
			return nil, api.Unauthorized(api.ErrAuthRequired)
		}
	}
	return s.trustTokenRoles(ctx, q, tr)
}

// trustScope reads an auth request's {"OS-TRUST:trust": {"id"}} scope for userID (the
// trustee) and returns the trust's project scope. A trust that does not exist, expired
// or is used up gives Keystone's 401; one the user may not use a 403.
func (s *Service) trustScope(ctx context.Context, so api.Object, userID string) (scope, error) {
	to, _, err := so.Obj("OS-TRUST:trust")
	if err != nil || to == nil {
		return scope{}, api.BadRequest("Invalid input for field 'scope/OS-TRUST:trust': expected an object.")
	}
	id, _, err := to.Str("id", true)
	if err != nil {
		return scope{}, err
	}
	if id == "" {
		return scope{}, validationError("trust_id", "trust")
	}
	tr, err := s.getTrust(ctx, s.db, id)
	if err != nil {
		if api.AsError(err).Status == http.StatusNotFound {
			return scope{}, api.Unauthorized(api.ErrAuthRequired)
		}
		return scope{}, err
	}
	if tr.ProjectID == "" {
		return scope{}, api.Forbidden(errForbidden)
	}
	p, err := s.getProject(ctx, s.db, tr.ProjectID)
	if err != nil {
		return scope{}, authFailedOr(err)
	}
	if !p.Enabled {
		return scope{}, api.Unauthorized(api.ErrAuthRequired)
	}
	if d, err := s.getDomain(ctx, s.db, p.DomainID); !p.IsDomain && (err != nil || !d.Enabled) {
		return scope{}, api.Unauthorized(api.ErrAuthRequired)
	}
	if _, err := s.checkTrustUse(ctx, s.db, tr, userID); err != nil {
		return scope{}, err
	}
	return scope{ProjectID: tr.ProjectID, TrustID: tr.ID}, nil
}

// consumeTrustUse takes one use of a limited-use trust after a token was issued from it
// (Keystone's consume_use). Unlimited trusts are not written to.
func (s *Service) consumeTrustUse(ctx context.Context, id string) error {
	var uses sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT remaining_uses FROM trusts WHERE id = ?`, id).Scan(&uses)
	if store.IsNoRows(err) {
		return api.Unauthorized(api.ErrAuthRequired)
	}
	if err != nil || !uses.Valid {
		return err
	}
	return s.write(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE trusts SET remaining_uses = remaining_uses - 1 WHERE id = ? AND remaining_uses > 0`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		return api.Forbidden("No remaining uses for trust: %s.", id)
	})
}

// resolveTrustToken fills in a trust-scoped token at validation: the trust must still
// exist, not have expired and be usable by the token's user (remaining uses are only
// counted when tokens are issued). Impersonation makes the trustor the token's user. Any
// failure makes the token invalid.
func (s *Service) resolveTrustToken(ctx context.Context, t *tokenInfo) error {
	invalid := func(err error) error {
		if api.AsError(err).Status >= http.StatusInternalServerError {
			return err
		}
		return errTokenInvalid()
	}
	tr, err := loadTrust(ctx, s.db, t.TrustID)
	if err != nil {
		return invalid(err)
	}
	if tr.expired(time.Now()) || tr.ProjectID != t.ProjectID {
		return errTokenInvalid()
	}
	if tr.RedelegatedTrustID != "" {
		if err := s.checkTrustPedigree(ctx, s.db, tr); err != nil {
			return invalid(err)
		}
	}
	roles, err := s.checkTrustUse(ctx, s.db, tr, t.UserID)
	if err != nil {
		return invalid(err)
	}
	t.Roles = roles
	t.TrustImpersonation, t.TrustorID, t.TrusteeID = tr.Impersonation, tr.TrustorID, tr.TrusteeID
	if tr.Impersonation {
		t.UserID = tr.TrustorID
		if err := s.fillUser(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// trustTokenJSON adds a trust-scoped token's "OS-TRUST:trust" to its body; like
// Keystone, such a body has no is_domain.
func trustTokenJSON(t *tokenInfo, body map[string]any) {
	if t.TrustID == "" {
		return
	}
	body["OS-TRUST:trust"] = map[string]any{
		"id": t.TrustID, "impersonation": t.TrustImpersonation,
		"trustor_user": map[string]any{"id": t.TrustorID},
		"trustee_user": map[string]any{"id": t.TrusteeID},
	}
	delete(body, "is_domain")
}

// callerTrustID returns the trust the caller's token is scoped to, "" when none.
func (s *Service) callerTrustID(ctx context.Context) (string, error) {
	c := caller(ctx)
	if c.Token == "" {
		return "", nil
	}
	t, err := s.validate(ctx, c.Token, false)
	if err != nil {
		return "", err
	}
	return t.TrustID, nil
}

// trustInput is a validated create request.
type trustInput struct {
	TrustorID, TrusteeID, ProjectID string
	Impersonation                   bool
	ExpiresAt                       time.Time
	RemainingUses                   *int64
	AllowRedelegation               bool
	RedelegationCount               *int64
	// Roles are the requested roles, each {"id": ...} or {"name": ...}.
	Roles []api.Object
	Extra map[string]any
}

// trustKnownFields are the attributes that are not kept as free-form extras. Keystone
// takes redelegated_trust_id and deleted_at from the body too; gostack sets them itself.
var trustKnownFields = []string{
	"id", "trustor_user_id", "trustee_user_id", "project_id", "impersonation", "expires_at",
	"remaining_uses", "allow_redelegation", "redelegation_count", "redelegated_trust_id",
	"deleted_at", "roles", "roles_links", "links",
}

// parseTrustInput validates a create body against Keystone's trust_create_request_body.
func parseTrustInput(o api.Object) (*trustInput, error) {
	in := &trustInput{}
	for _, k := range []string{"trustor_user_id", "trustee_user_id", "impersonation"} {
		if !o.Has(k) {
			return nil, api.BadRequest("Invalid input for field 'trust': '%s' is a required property.", k)
		}
	}
	var err error
	if in.TrustorID, _, err = o.Str("trustor_user_id", false); err != nil {
		return nil, err
	}
	if in.TrusteeID, _, err = o.Str("trustee_user_id", false); err != nil {
		return nil, err
	}
	if in.Impersonation, _, err = o.Bool("impersonation"); err != nil {
		return nil, err
	}
	if in.ProjectID, _, err = o.Str("project_id", true); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		key string
		min int64
		dst **int64
	}{{"remaining_uses", 1, &in.RemainingUses}, {"redelegation_count", 0, &in.RedelegationCount}} {
		if !o.Has(f.key) || o.IsNull(f.key) {
			continue
		}
		n, _, err := o.Int(f.key)
		if err != nil {
			return nil, err
		}
		if n < f.min {
			return nil, api.BadRequest("Invalid input for field '%s': %d is less than the minimum of %d.", f.key, n, f.min)
		}
		*f.dst = &n
	}
	if o.Has("allow_redelegation") && !o.IsNull("allow_redelegation") {
		if in.AllowRedelegation, _, err = o.Bool("allow_redelegation"); err != nil {
			return nil, err
		}
	}
	if _, _, err := o.Str("redelegated_trust_id", true); err != nil {
		return nil, err
	}
	if exp, ok, err := o.Str("expires_at", true); err != nil {
		return nil, err
	} else if ok && exp != "" {
		if in.ExpiresAt, err = parseExpiresAt(exp); err != nil {
			return nil, err
		}
	}
	roles, _, err := o.List("roles")
	if err != nil {
		return nil, err
	}
	for _, r := range roles {
		if len(r) != 1 {
			return nil, api.BadRequest("Invalid input for field 'roles': each role must have exactly one of 'id' or 'name'.")
		}
		switch {
		case r.Has("id"):
			id, _, err := r.Str("id", false)
			if err != nil {
				return nil, err
			}
			if len(id) == 0 || len(id) > 64 || !idStringRe.MatchString(id) {
				return nil, api.BadRequest("Invalid input for field 'roles/id': %q does not match '^[a-zA-Z0-9-]+$'.", truncateRunes(id, 64))
			}
		case r.Has("name"):
			if _, _, err := r.Name("name", true, 255); err != nil {
				return nil, err
			}
		default:
			return nil, api.BadRequest("Invalid input for field 'roles': Additional properties are not allowed.")
		}
	}
	in.Roles = roles
	in.Extra = o.Extra(trustKnownFields...)
	return in, nil
}

// trustRoleIDs resolves requested roles to ids (Keystone's _normalize_role_list): ids
// are kept, names must name exactly one role.
func trustRoleIDs(ctx context.Context, q store.Querier, req []api.Object) ([]string, error) {
	var ids []string
	for _, r := range req {
		if id, ok := r["id"].(string); ok {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
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
			if !slices.Contains(ids, found[0]) {
				ids = append(ids, found[0])
			}
		default:
			return nil, api.BadRequest("There are multiple role entities named '%s'. Please use ID instead of names to resolve the ambiguity.", name)
		}
	}
	return ids, nil
}

// createTrust creates a trust for the caller, who must be the trustor, following
// Keystone's TrustsResource.post and trust_api.create_trust. A caller with a
// trust-scoped token redelegates that trust, within its limits.
func (s *Service) createTrust(ctx context.Context, c *api.Caller, in *trustInput) (*trust, error) {
	if in.ProjectID != "" && len(in.Roles) == 0 {
		return nil, api.Forbidden("You are not authorized to perform the requested action: At least one role should be specified.")
	}
	if c.UserID != in.TrustorID {
		return nil, api.Forbidden("You are not authorized to perform the requested action: The authenticated user should match the trustor.")
	}
	parentID, err := s.callerTrustID(ctx)
	if err != nil {
		return nil, err
	}
	tr := &trust{
		ID: api.NewID(), TrustorID: in.TrustorID, TrusteeID: in.TrusteeID, ProjectID: in.ProjectID,
		Impersonation: in.Impersonation, ExpiresAt: in.ExpiresAt, RemainingUses: in.RemainingUses, Extra: in.Extra,
	}
	err = s.write(ctx, func(tx *store.Tx) error {
		if _, err := s.getUser(ctx, tx, in.TrusteeID); err != nil {
			return err
		}
		ids, err := trustRoleIDs(ctx, tx, in.Roles)
		if err != nil {
			return err
		}
		tr.RoleIDs = ids
		if err := s.requireTrustorRoles(ctx, tx, tr); err != nil {
			return err
		}
		var parent *trust
		if parentID != "" {
			if parent, err = s.getTrust(ctx, tx, parentID); err != nil {
				return err
			}
		}
		if err := setRedelegation(ctx, tx, tr, in, parent); err != nil {
			return err
		}
		return insertTrustTx(ctx, tx, tr)
	})
	if err != nil {
		return nil, err
	}
	return tr, nil
}

// requireTrustorRoles checks that the trustor holds every role of the trust on its
// project (Keystone's _require_trustor_has_role_in_project); a trust without a project
// can delegate no role.
func (s *Service) requireTrustorRoles(ctx context.Context, q store.Querier, tr *trust) error {
	have := map[string]role{}
	if tr.ProjectID != "" {
		if _, err := s.getProject(ctx, q, tr.ProjectID); err != nil {
			return err
		}
		var err error
		if have, err = s.effectiveRoleIDs(ctx, q, tr.TrustorID, tr.ProjectID); err != nil {
			return err
		}
	}
	for _, id := range tr.RoleIDs {
		if _, ok := have[id]; !ok {
			return roleNotFound(id)
		}
	}
	return nil
}

// setRedelegation applies Keystone's redelegation rules to a new trust: without
// allow_redelegation (or with a count of 0) it cannot be redelegated; otherwise its
// count is at most maxRedelegationCount and it has no use limit. A trust redelegated from
// parent takes the parent's count less one and must fit within every trust of the chain.
func setRedelegation(ctx context.Context, q store.Querier, tr *trust, in *trustInput, parent *trust) error {
	requested := in.RedelegationCount
	redelegatable := in.AllowRedelegation && (requested == nil || *requested != 0)
	countSet := false
	if !redelegatable {
		tr.RedelegationCount, countSet = 0, true
	} else {
		if requested != nil && *requested > maxRedelegationCount {
			return api.Forbidden(errForbidden)
		}
		if tr.RemainingUses != nil {
			return api.BadRequest("remaining_uses must not be set if redelegation is allowed")
		}
		if requested != nil {
			tr.RedelegationCount, countSet = *requested, true
		}
	}
	if parent != nil {
		tr.RedelegatedTrustID = parent.ID
		remaining := parent.RedelegationCount - 1
		if redelegatable && requested != nil && *requested != remaining {
			return api.Forbidden(errForbidden)
		}
		if !countSet {
			tr.RedelegationCount, countSet = remaining, true
		}
		chain, err := trustPedigree(ctx, q, parent)
		if err != nil {
			return err
		}
		for _, p := range chain {
			if err := validateRedelegation(p, tr); err != nil {
				return err
			}
		}
	}
	if !countSet {
		tr.RedelegationCount = maxRedelegationCount
	}
	return nil
}

// insertTrustTx stores a new trust and its roles; a duplicate is Keystone's 409.
func insertTrustTx(ctx context.Context, tx *store.Tx, tr *trust) error {
	var expires, uses any
	if !tr.ExpiresAt.IsZero() {
		expires = store.FormatTime(tr.ExpiresAt)
	}
	if tr.RemainingUses != nil {
		uses = *tr.RemainingUses
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO trusts (id, trustor_user_id, trustee_user_id, project_id, impersonation,
		expires_at, remaining_uses, redelegated_trust_id, redelegation_count, extra, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		tr.ID, tr.TrustorID, tr.TrusteeID, nullIfEmpty(tr.ProjectID), tr.Impersonation, expires, uses,
		nullIfEmpty(tr.RedelegatedTrustID), tr.RedelegationCount, jsonText(tr.Extra), store.FormatTime(now()))
	if store.IsUniqueViolation(err) {
		return api.Conflict("Conflict occurred attempting to store trust - Duplicate entry.")
	}
	if err != nil {
		return err
	}
	for _, id := range tr.RoleIDs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO trust_roles (trust_id, role_id) VALUES (?, ?)`, tr.ID, id); err != nil {
			return err
		}
	}
	return nil
}

// listTrusts returns trusts, all or those of one trustor or one trustee, ordered by id.
// Like Keystone's, the list includes trusts that expired or are used up.
func listTrusts(ctx context.Context, q store.Querier, trustorID, trusteeID string) ([]*trust, error) {
	query := `SELECT ` + trustColumns + ` FROM trusts WHERE 1 = 1`
	var args []any
	if trustorID != "" {
		query += ` AND trustor_user_id = ?`
		args = append(args, trustorID)
	}
	if trusteeID != "" {
		query += ` AND trustee_user_id = ?`
		args = append(args, trusteeID)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*trust
	for rows.Next() {
		tr, err := scanTrust(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, tr)
	}
	return out, rows.Err()
}

// deleteTrust deletes a trust and, recursively, the trusts redelegated from it, and
// revokes their tokens. A trust that expired or is used up is not found, as in Keystone.
func (s *Service) deleteTrust(ctx context.Context, id string) error {
	return s.write(ctx, func(tx *store.Tx) error {
		if _, err := s.getTrust(ctx, tx, id); err != nil {
			return err
		}
		return s.deleteTrustTreeTx(ctx, tx, []string{id})
	})
}

// deleteTrustTreeTx deletes the given trusts and every trust redelegated from them, and
// records a revocation event for each.
func (s *Service) deleteTrustTreeTx(ctx context.Context, tx *store.Tx, ids []string) error {
	seen := map[string]bool{}
	for len(ids) > 0 {
		id := ids[0]
		ids = ids[1:]
		if seen[id] {
			continue
		}
		seen[id] = true
		rows, err := tx.QueryContext(ctx, `SELECT id FROM trusts WHERE redelegated_trust_id = ?`, id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var child string
			if err := rows.Scan(&child); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, child)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM trust_roles WHERE trust_id = ?`, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM trusts WHERE id = ?`, id); err != nil {
			return err
		}
		if err := s.revoke(ctx, tx, revocationEvent{TrustID: id}); err != nil {
			return err
		}
	}
	return nil
}

// deleteTrustsForUserTx deletes the trusts a user gives or receives, as Keystone does
// when the user is deleted. Call it inside the user's deletion.
func (s *Service) deleteTrustsForUserTx(ctx context.Context, tx *store.Tx, userID string) error {
	return s.deleteTrustsWhereTx(ctx, tx, `trustor_user_id = ? OR trustee_user_id = ?`, userID, userID)
}

// deleteTrustsForProjectTx deletes the trusts on a project, as Keystone does when the
// project is deleted. Call it inside the project's deletion.
func (s *Service) deleteTrustsForProjectTx(ctx context.Context, tx *store.Tx, projectID string) error {
	return s.deleteTrustsWhereTx(ctx, tx, `project_id = ?`, projectID)
}

// deleteTrustsWhereTx deletes the trusts matching a condition, with their redelegations.
func (s *Service) deleteTrustsWhereTx(ctx context.Context, tx *store.Tx, cond string, args ...any) error {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM trusts WHERE `+cond, args...)
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	return s.deleteTrustTreeTx(ctx, tx, ids)
}
