package identity

import (
	"context"
	"slices"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// grantActor is the user or group a grant is given to, with the attributes grant policies
// and role assignment names need.
type grantActor struct {
	// Group is set for a group, unset for a user.
	Group                  bool
	ID, Name, DomainID     string
	Enabled                bool
	DefaultProjectID, Desc string
}

// loadGrantUser loads a user for a grant, or returns Keystone's 404.
func loadGrantUser(ctx context.Context, q store.Querier, id string) (*grantActor, error) {
	a := &grantActor{}
	err := q.QueryRowContext(ctx, `SELECT id, name, domain_id, enabled, COALESCE(default_project_id, '') FROM users WHERE id = ?`, id).
		Scan(&a.ID, &a.Name, &a.DomainID, &a.Enabled, &a.DefaultProjectID)
	if store.IsNoRows(err) {
		return nil, api.NotFound("Could not find user: %s.", id)
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// loadGrantGroup loads a group for a grant, or returns Keystone's 404.
func loadGrantGroup(ctx context.Context, q store.Querier, id string) (*grantActor, error) {
	a := &grantActor{Group: true}
	err := q.QueryRowContext(ctx, `SELECT id, name, domain_id, description FROM groups WHERE id = ?`, id).
		Scan(&a.ID, &a.Name, &a.DomainID, &a.Desc)
	if store.IsNoRows(err) {
		return nil, api.NotFound("Could not find group: %s.", id)
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// grantSpec names one grant: an actor, a target, a role and whether it is inherited to
// the projects below the target.
type grantSpec struct {
	// Group is set when ActorID is a group.
	Group   bool
	ActorID string
	// Target is "project", "domain" or "system"; TargetID is "system" for the latter.
	Target, TargetID string
	RoleID           string
	Inherited        bool
}

// assignmentType is the type column value for the grant.
func (g grantSpec) assignmentType() string {
	actor := "User"
	if g.Group {
		actor = "Group"
	}
	switch g.Target {
	case "project":
		return actor + "Project"
	case "domain":
		return actor + "Domain"
	}
	return actor + "System"
}

// assignmentNotFound is Keystone's 404 for a grant that does not exist.
func assignmentNotFound(g grantSpec) *api.Error {
	return api.NotFound("Could not find role assignment with role: %s, user or group: %s, project, domain, or system: %s.",
		g.RoleID, g.ActorID, g.TargetID)
}

// createGrantTx stores a grant; like Keystone's grant APIs, an existing grant is not an
// error.
func createGrantTx(ctx context.Context, tx *store.Tx, g grantSpec) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO assignments (type, actor_id, target_id, role_id, inherited)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, g.assignmentType(), g.ActorID, g.TargetID, g.RoleID, g.Inherited)
	return err
}

// grantExists reports whether the grant exists.
func grantExists(ctx context.Context, q store.Querier, g grantSpec) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM assignments WHERE type = ? AND actor_id = ? AND target_id = ?
		AND role_id = ? AND inherited = ?`, g.assignmentType(), g.ActorID, g.TargetID, g.RoleID, g.Inherited).Scan(&n)
	return n > 0, err
}

// deleteGrantTx removes a grant or returns Keystone's 404 when there is none. Tokens are
// not revoked: as in Keystone, a token's roles are recomputed when it is next validated
// (the write invalidates cached validations), so it loses the role at once and becomes
// invalid only if no role on its scope remains.
func deleteGrantTx(ctx context.Context, tx *store.Tx, g grantSpec) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM assignments WHERE type = ? AND actor_id = ? AND target_id = ?
		AND role_id = ? AND inherited = ?`, g.assignmentType(), g.ActorID, g.TargetID, g.RoleID, g.Inherited)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return assignmentNotFound(g)
	}
	return nil
}

// grantedRoles returns the roles granted directly to an actor on a target, ordered by id
// (Keystone's list_grants and list_system_grants_for_*).
func (s *Service) grantedRoles(ctx context.Context, q store.Querier, g grantSpec) ([]role, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+roleColumns+` FROM roles r WHERE r.id IN
		(SELECT a.role_id FROM assignments a WHERE a.type = ? AND a.actor_id = ? AND a.target_id = ? AND a.inherited = ?)
		ORDER BY r.id`, g.assignmentType(), g.ActorID, g.TargetID, g.Inherited)
	if err != nil {
		return nil, err
	}
	return scanRoles(rows)
}

// memberGroupIDs returns the ids of the groups a user belongs to.
func memberGroupIDs(ctx context.Context, q store.Querier, userID string) ([]string, error) {
	return queryIDs(ctx, q, `SELECT group_id FROM user_group_membership WHERE user_id = ? ORDER BY group_id`, userID)
}

// groupMemberIDs returns the ids of a group's members.
func groupMemberIDs(ctx context.Context, q store.Querier, groupID string) ([]string, error) {
	return queryIDs(ctx, q, `SELECT user_id FROM user_group_membership WHERE group_id = ? ORDER BY user_id`, groupID)
}

// domainProjectIDs returns the ids of the projects (not domains) of a domain.
func domainProjectIDs(ctx context.Context, q store.Querier, domainID string) ([]string, error) {
	return queryIDs(ctx, q, `SELECT id FROM projects WHERE domain_id = ? AND is_domain = ? ORDER BY id`, domainID, false)
}

// queryIDs runs a query selecting one text column.
func queryIDs(ctx context.Context, q store.Querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// actorGrant is one project or domain grant held by a user directly or through a group.
type actorGrant struct {
	Type, TargetID, RoleID string
	Inherited              bool
}

// userTargetGrants returns the project and domain grants to the user and the user's
// groups whose role counts towards access: global roles, and domain-specific roles only
// when they imply a global one (Keystone strips domain roles from effective assignments).
func (s *Service) userTargetGrants(ctx context.Context, q store.Querier, userID string) ([]actorGrant, error) {
	rows, err := q.QueryContext(ctx, `SELECT a.type, a.target_id, a.role_id, a.inherited FROM assignments a
		WHERE (a.actor_id = ? AND a.type IN ('UserProject', 'UserDomain'))
			OR (a.actor_id IN (SELECT m.group_id FROM user_group_membership m WHERE m.user_id = ?)
				AND a.type IN ('GroupProject', 'GroupDomain'))`, userID, userID)
	if err != nil {
		return nil, err
	}
	var all []actorGrant
	var roleIDs []string
	for rows.Next() {
		var g actorGrant
		if err := rows.Scan(&g.Type, &g.TargetID, &g.RoleID, &g.Inherited); err != nil {
			rows.Close()
			return nil, err
		}
		all = append(all, g)
		if !slices.Contains(roleIDs, g.RoleID) {
			roleIDs = append(roleIDs, g.RoleID)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	counts, err := s.impliesGlobalRole(ctx, q, roleIDs)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, g := range all {
		if counts[g.RoleID] {
			out = append(out, g)
		}
	}
	return out, nil
}

// userProjectIDs returns, sorted, the projects on which the user has an effective role:
// direct and group grants on the project, and grants inherited from its domain or its
// ancestors (Keystone's list_projects_for_user). Disabled projects are included.
func (s *Service) userProjectIDs(ctx context.Context, q store.Querier, userID string) ([]string, error) {
	grants, err := s.userTargetGrants(ctx, q, userID)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	expanded := map[string]bool{}
	for _, g := range grants {
		isProject := g.Type == typeUserProject || g.Type == typeGroupProject
		if !g.Inherited {
			if isProject {
				set[g.TargetID] = true
			}
			continue
		}
		key := "domain/" + g.TargetID
		if isProject {
			key = "project/" + g.TargetID
		}
		if expanded[key] {
			continue
		}
		expanded[key] = true
		var ids []string
		if isProject {
			ids, err = s.projectSubtreeIDs(ctx, q, g.TargetID)
		} else {
			ids, err = domainProjectIDs(ctx, q, g.TargetID)
		}
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			set[id] = true
		}
	}
	return sortedSet(set), nil
}

// userDomainIDs returns, sorted, the domains on which the user has an effective role
// (direct or group grants on the domain itself; inherited grants only reach projects).
func (s *Service) userDomainIDs(ctx context.Context, q store.Querier, userID string) ([]string, error) {
	grants, err := s.userTargetGrants(ctx, q, userID)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, g := range grants {
		if (g.Type == typeUserDomain || g.Type == typeGroupDomain) && !g.Inherited {
			set[g.TargetID] = true
		}
	}
	return sortedSet(set), nil
}

// sortedSet returns a set's members in order.
func sortedSet(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
