package identity

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// role is a Keystone role. DomainID is "" for a global role (stored as NullDomainID) and
// the owning domain's id for a domain-specific role. Description is "" when unset, which
// is shown as null.
type role struct {
	ID, Name, DomainID, Description string
	Options                         map[string]any
	// Extra holds the free-form attributes Keystone keeps on roles.
	Extra map[string]any
}

// prohibitedImpliedRoles are the role names that may never be implied (Keystone's
// [assignment] prohibited_implied_role).
var prohibitedImpliedRoles = []string{"admin"}

// roleColumns is the column list scanRole reads; callers alias the roles table as r.
const roleColumns = `r.id, r.name, r.domain_id, r.description, r.options, r.extra`

// scanRole reads one row selected with roleColumns.
func scanRole(row interface{ Scan(...any) error }) (*role, error) {
	var ro role
	var options, extra string
	if err := row.Scan(&ro.ID, &ro.Name, &ro.DomainID, &ro.Description, &options, &extra); err != nil {
		return nil, err
	}
	if ro.DomainID == NullDomainID {
		ro.DomainID = ""
	}
	ro.Options, ro.Extra = jsonMap(options), jsonMap(extra)
	return &ro, nil
}

// scanRoles reads every row of a roleColumns query.
func scanRoles(rows *sql.Rows) ([]role, error) {
	defer rows.Close()
	var out []role
	for rows.Next() {
		ro, err := scanRole(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *ro)
	}
	return out, rows.Err()
}

// storedDomainID is the domain_id column value for a role's DomainID.
func storedDomainID(domainID string) string {
	if domainID == "" {
		return NullDomainID
	}
	return domainID
}

// roleNotFound is Keystone's 404 for a missing role.
func roleNotFound(id string) *api.Error { return api.NotFound("Could not find role: %s.", id) }

// getRole loads a role or returns Keystone's 404.
func (s *Service) getRole(ctx context.Context, q store.Querier, id string) (*role, error) {
	ro, err := scanRole(q.QueryRowContext(ctx, `SELECT `+roleColumns+` FROM roles r WHERE r.id = ?`, id))
	if store.IsNoRows(err) {
		return nil, roleNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return ro, nil
}

// rolesByIDs loads the roles with the given ids, ordered by id; unknown ids are skipped.
func rolesByIDs(ctx context.Context, q store.Querier, ids []string) ([]role, error) {
	var out []role
	for _, chunk := range inChunks(ids, 500) {
		rows, err := q.QueryContext(ctx, `SELECT `+roleColumns+` FROM roles r WHERE r.id IN (`+inMarks(len(chunk))+`) ORDER BY r.id`, inArgs(chunk)...)
		if err != nil {
			return nil, err
		}
		rs, err := scanRoles(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

// roleConflict is Keystone's 409 for a role whose name is taken in its domain.
func roleConflict(name, domainID string) *api.Error {
	if domainID != "" {
		return api.Conflict("Conflict occurred attempting to store role - Duplicate entry found with name %s at domain ID %s.", name, domainID)
	}
	return api.Conflict("Conflict occurred attempting to store role - Duplicate entry found with name %s.", name)
}

// checkRoleNameFree refuses a name already used by another role of the same domain. Like
// Keystone on its usual MySQL backend, names compare case-insensitively.
func checkRoleNameFree(ctx context.Context, q store.Querier, name, domainID, exceptID string) error {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM roles WHERE LOWER(name) = LOWER(CAST(? AS TEXT)) AND domain_id = ? AND id <> ?`,
		name, storedDomainID(domainID), exceptID).Scan(&n)
	if err != nil {
		return err
	}
	if n > 0 {
		return roleConflict(name, domainID)
	}
	return nil
}

// insertRoleTx stores a new role; its name must be free in its domain.
func insertRoleTx(ctx context.Context, tx *store.Tx, ro *role) error {
	if err := checkRoleNameFree(ctx, tx, ro.Name, ro.DomainID, ro.ID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO roles (id, name, domain_id, description, options, extra) VALUES (?, ?, ?, ?, ?, ?)`,
		ro.ID, ro.Name, storedDomainID(ro.DomainID), ro.Description, jsonText(ro.Options), jsonText(ro.Extra))
	if store.IsUniqueViolation(err) {
		return roleConflict(ro.Name, ro.DomainID)
	}
	return err
}

// updateRoleTx writes a role's mutable columns; a new name must be free in its domain.
func updateRoleTx(ctx context.Context, tx *store.Tx, ro *role) error {
	if err := checkRoleNameFree(ctx, tx, ro.Name, ro.DomainID, ro.ID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE roles SET name = ?, description = ?, options = ?, extra = ? WHERE id = ?`,
		ro.Name, ro.Description, jsonText(ro.Options), jsonText(ro.Extra), ro.ID)
	if store.IsUniqueViolation(err) {
		return roleConflict(ro.Name, ro.DomainID)
	}
	return err
}

// immutableRoleError is Keystone's 403 for changing or deleting an immutable role.
func immutableRoleError(verb, id string) *api.Error {
	return api.Forbidden("Unable to %s immutable role resource: `%s. Set resource option \"immutable\" to false first.", verb, id)
}

// deleteRoleTx removes a role as Keystone's delete_role does: the application credentials
// of users holding it directly on a project go (Keystone's REMOVE_APP_CREDS_FOR_USER
// notification), then every assignment of the role, the application credential role rows
// that name it and the implied-role rules that mention it (by cascade), and tokens that
// carry it are revoked. Immutable roles are refused.
func (s *Service) deleteRoleTx(ctx context.Context, tx *store.Tx, ro *role) error {
	if immutable(ro.Options) {
		return immutableRoleError("delete", ro.ID)
	}
	for _, st := range []struct {
		query string
		args  []any
	}{
		{`DELETE FROM application_credentials WHERE EXISTS (SELECT 1 FROM assignments a WHERE a.role_id = ?
			AND a.type = 'UserProject' AND a.actor_id = application_credentials.user_id
			AND a.target_id = application_credentials.project_id)`, []any{ro.ID}},
		{`DELETE FROM assignments WHERE role_id = ?`, []any{ro.ID}},
		{`DELETE FROM application_credential_roles WHERE role_id = ?`, []any{ro.ID}},
		{`DELETE FROM implied_roles WHERE prior_role_id = ? OR implied_role_id = ?`, []any{ro.ID, ro.ID}},
		{`DELETE FROM roles WHERE id = ?`, []any{ro.ID}},
	} {
		if _, err := tx.ExecContext(ctx, st.query, st.args...); err != nil {
			return fmt.Errorf("delete role %s: %w", ro.ID, err)
		}
	}
	return s.revoke(ctx, tx, revocationEvent{RoleID: ro.ID})
}

// impliedRuleNotFound is Keystone's 404 for a missing implied-role rule.
func impliedRuleNotFound(priorID, impliedID string) *api.Error {
	return api.NotFound("%s does not imply %s.", priorID, impliedID)
}

// createImpliedRoleTx adds the rule "prior implies implied" as Keystone's
// create_implied_role does: a prohibited role (admin) can never be implied, and a global
// role cannot imply a domain-specific one (both 403); a rule that exists is a 409.
// Cycles are allowed, as in Keystone; expansion stops when it meets a role again.
func createImpliedRoleTx(ctx context.Context, tx *store.Tx, prior, implied *role) error {
	for _, n := range prohibitedImpliedRoles {
		if implied.Name == n {
			return api.Forbidden("%s cannot be an implied roles.", implied.ID)
		}
	}
	if prior.DomainID == "" && implied.DomainID != "" {
		return api.Forbidden("%s cannot be an implied roles.", implied.ID)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO implied_roles (prior_role_id, implied_role_id) VALUES (?, ?)`, prior.ID, implied.ID)
	if store.IsUniqueViolation(err) {
		return api.Conflict("Conflict occurred attempting to store implied_role - Duplicate entry.")
	}
	return err
}

// impliedRuleExists reports whether prior directly implies implied.
func impliedRuleExists(ctx context.Context, q store.Querier, priorID, impliedID string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM implied_roles WHERE prior_role_id = ? AND implied_role_id = ?`, priorID, impliedID).Scan(&n)
	return n > 0, err
}

// impliedRoles returns the roles prior directly implies, ordered by id.
func (s *Service) impliedRoles(ctx context.Context, q store.Querier, priorID string) ([]role, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+roleColumns+` FROM roles r JOIN implied_roles ir ON ir.implied_role_id = r.id
		WHERE ir.prior_role_id = ? ORDER BY r.id`, priorID)
	if err != nil {
		return nil, err
	}
	return scanRoles(rows)
}

// impliedRuleMap returns every implied-role rule as prior id → implied ids.
func impliedRuleMap(ctx context.Context, q store.Querier) (map[string][]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT prior_role_id, implied_role_id FROM implied_roles ORDER BY prior_role_id, implied_role_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var p, i string
		if err := rows.Scan(&p, &i); err != nil {
			return nil, err
		}
		out[p] = append(out[p], i)
	}
	return out, rows.Err()
}

// Assignment types, as Keystone stores them.
const (
	typeUserProject  = "UserProject"
	typeGroupProject = "GroupProject"
	typeUserDomain   = "UserDomain"
	typeGroupDomain  = "GroupDomain"
	typeUserSystem   = "UserSystem"
	typeGroupSystem  = "GroupSystem"
)

// systemTargetID is the target_id of system assignments.
const systemTargetID = "system"

// effectiveRolesSQL computes the roles a user holds on one target in a single statement:
// the grants to the user and to the user's groups that apply to the target (the
// "granted" CTE, whose condition each scope supplies), closed over implied-role rules
// (UNION stops on cycles), keeping only global roles, since Keystone strips
// domain-specific roles from effective assignments once they have done their job of
// implying others.
const effectiveRolesSQL = `
	granted(role_id) AS (
		SELECT a.role_id FROM assignments a
		WHERE ((a.actor_id = ? AND a.type IN ('UserProject', 'UserDomain', 'UserSystem'))
			OR (a.actor_id IN (SELECT m.group_id FROM user_group_membership m WHERE m.user_id = ?)
				AND a.type IN ('GroupProject', 'GroupDomain', 'GroupSystem')))
		AND (%s)
	),
	closure(role_id) AS (
		SELECT role_id FROM granted
		UNION
		SELECT ir.implied_role_id FROM implied_roles ir JOIN closure c ON ir.prior_role_id = c.role_id
	)
	SELECT ` + roleColumns + ` FROM roles r
	WHERE r.id IN (SELECT role_id FROM closure) AND r.domain_id = ?
	ORDER BY r.name, r.id`

// projectChainSQL lists a project and its ancestor projects (not their domain) with their
// distance from it; the depth bound guards against a corrupt parent cycle.
const projectChainSQL = `
	chain(id, parent_id, depth) AS (
		SELECT p.id, p.parent_id, 0 FROM projects p WHERE p.id = ?
		UNION ALL
		SELECT p.id, p.parent_id, c.depth + 1 FROM projects p JOIN chain c ON p.id = c.parent_id
		WHERE c.depth < 64 AND p.is_domain = ?
	),`

// effectiveRoles returns the roles a user holds on a scope, as a token for that scope
// carries them, sorted by name: grants to the user and the user's groups on the target;
// for a project also the grants inherited to projects from its domain and from its
// ancestors; then implied roles, transitively. Domain-specific roles are left out. One
// query does it all, since it runs on every token issue and validation.
func (s *Service) effectiveRoles(ctx context.Context, q store.Querier, userID string, sc scope) ([]role, error) {
	var with, cond string
	var args []any
	switch {
	case sc.ProjectID != "":
		with = projectChainSQL
		args = append(args, sc.ProjectID, false)
		cond = `(a.type IN ('UserProject', 'GroupProject') AND a.target_id = ? AND a.inherited = ?)
			OR (a.type IN ('UserProject', 'GroupProject') AND a.inherited = ?
				AND a.target_id IN (SELECT id FROM chain WHERE depth > 0))
			OR (a.type IN ('UserDomain', 'GroupDomain') AND a.inherited = ?
				AND a.target_id = (SELECT p.domain_id FROM projects p WHERE p.id = ?))`
		args = append(args, userID, userID, sc.ProjectID, false, true, true, sc.ProjectID)
	case sc.DomainID != "":
		cond = `a.type IN ('UserDomain', 'GroupDomain') AND a.target_id = ? AND a.inherited = ?`
		args = append(args, userID, userID, sc.DomainID, false)
	case sc.System:
		cond = `a.type IN ('UserSystem', 'GroupSystem') AND a.target_id = ?`
		args = append(args, userID, userID, systemTargetID)
	default:
		return nil, nil
	}
	args = append(args, NullDomainID)
	rows, err := q.QueryContext(ctx, `WITH RECURSIVE `+with+fmt.Sprintf(effectiveRolesSQL, cond), args...)
	if err != nil {
		return nil, fmt.Errorf("effective roles: %w", err)
	}
	return scanRoles(rows)
}

// impliesGlobalRole reports, for each of the given role ids, whether the role or a role
// it implies (transitively) is global: only such roles count towards a user's access,
// since Keystone strips domain-specific roles from effective assignments.
func (s *Service) impliesGlobalRole(ctx context.Context, q store.Querier, ids []string) (map[string]bool, error) {
	out := make(map[string]bool, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	domainOf := map[string]string{}
	rows, err := q.QueryContext(ctx, `SELECT id, domain_id FROM roles`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id, d string
		if err := rows.Scan(&id, &d); err != nil {
			rows.Close()
			return nil, err
		}
		domainOf[id] = d
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var rules map[string][]string
	for _, id := range ids {
		d, ok := domainOf[id]
		if !ok {
			continue
		}
		if d == NullDomainID {
			out[id] = true
			continue
		}
		if rules == nil {
			if rules, err = impliedRuleMap(ctx, q); err != nil {
				return nil, err
			}
		}
		seen := map[string]bool{id: true}
		stack := []string{id}
		for len(stack) > 0 && !out[id] {
			cur := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, next := range rules[cur] {
				if seen[next] {
					continue
				}
				seen[next] = true
				if domainOf[next] == NullDomainID {
					out[id] = true
					break
				}
				stack = append(stack, next)
			}
		}
	}
	return out, nil
}

// rolePolicies are Keystone's current defaults for roles, domain roles, implied roles,
// grants, system grants and role assignments (keystone/common/policies/role.py,
// implied_role.py, grant.py, role_assignment.py), plus the base rule
// domain_managed_target_role they use.
func rolePolicies() map[string]string {
	const (
		adminRequired       = "rule:admin_required"
		systemReader        = "role:reader and system_scope:all"
		adminOrSystemReader = "rule:admin_required or (" + systemReader + ")"

		userDomain    = "domain_id:%(target.user.domain_id)s"
		groupDomain   = "domain_id:%(target.group.domain_id)s"
		projectDomain = "domain_id:%(target.project.domain_id)s"
		targetDomain  = "domain_id:%(target.domain.id)s"
		roleDomain    = "domain_id:%(target.role.domain_id)s or None:%(target.role.domain_id)s"
	)
	grantsDomain := func(role string) string {
		return "(role:" + role + " and " + userDomain + " and " + projectDomain + ") or " +
			"(role:" + role + " and " + userDomain + " and " + targetDomain + ") or " +
			"(role:" + role + " and " + groupDomain + " and " + projectDomain + ") or " +
			"(role:" + role + " and " + groupDomain + " and " + targetDomain + ")"
	}
	grantsReader := "(" + systemReader + ") or (" + grantsDomain("reader") + ") and (" + roleDomain + ")"
	grantsReaderList := "(" + systemReader + ") or " + grantsDomain("reader")
	checkGrant := "(" + adminRequired + ") or (" + grantsReader + ")"
	listGrants := "(" + adminRequired + ") or (" + grantsReaderList + ")"
	changeGrant := "(" + adminRequired + ") or (" + grantsDomain("admin") + ") and (" + roleDomain + ") or (" +
		grantsDomain("manager") + ") and rule:domain_managed_target_role"
	listAssignments := "(" + adminRequired + ") or (" + systemReader + ") or (role:reader and domain_id:%(target.domain_id)s)"

	return map[string]string{
		"domain_managed_target_role": "'manager':%(target.role.name)s or 'member':%(target.role.name)s or 'reader':%(target.role.name)s",

		"identity:get_role":           "(" + adminOrSystemReader + ") or (role:manager and rule:domain_managed_target_role)",
		"identity:list_roles":         "(" + adminOrSystemReader + ") or (role:manager and not domain_id:None)",
		"identity:create_role":        adminRequired,
		"identity:update_role":        adminRequired,
		"identity:delete_role":        adminRequired,
		"identity:get_domain_role":    adminOrSystemReader,
		"identity:list_domain_roles":  adminOrSystemReader,
		"identity:create_domain_role": adminRequired,
		"identity:update_domain_role": adminRequired,
		"identity:delete_domain_role": adminRequired,

		"identity:get_implied_role":          adminOrSystemReader,
		"identity:list_implied_roles":        adminOrSystemReader,
		"identity:create_implied_role":       adminRequired,
		"identity:delete_implied_role":       adminRequired,
		"identity:list_role_inference_rules": adminOrSystemReader,
		"identity:check_implied_role":        adminOrSystemReader,

		"identity:check_grant":                   checkGrant,
		"identity:list_grants":                   listGrants,
		"identity:create_grant":                  changeGrant,
		"identity:revoke_grant":                  changeGrant,
		"identity:list_system_grants_for_user":   adminOrSystemReader,
		"identity:check_system_grant_for_user":   adminOrSystemReader,
		"identity:create_system_grant_for_user":  adminRequired,
		"identity:revoke_system_grant_for_user":  adminRequired,
		"identity:list_system_grants_for_group":  adminOrSystemReader,
		"identity:check_system_grant_for_group":  adminOrSystemReader,
		"identity:create_system_grant_for_group": adminRequired,
		"identity:revoke_system_grant_for_group": adminRequired,

		"identity:list_role_assignments":          listAssignments,
		"identity:list_role_assignments_for_tree": listAssignments,
	}
}

// inChunks splits ids into slices of at most n, for IN lists.
func inChunks(ids []string, n int) [][]string {
	var out [][]string
	for len(ids) > n {
		out = append(out, ids[:n])
		ids = ids[n:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}

// inMarks returns "?, ?, ..." with n marks.
func inMarks(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// inArgs converts strings to query arguments.
func inArgs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
