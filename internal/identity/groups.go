package identity

import (
	"context"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// group is a Keystone group row; Extra holds free-form attributes.
type group struct {
	ID, DomainID, Name, Description string
	Extra                           map[string]any
}

// groupColumns is the column list scanGroup reads.
const groupColumns = `id, domain_id, name, description, extra`

// scanGroup reads one row selected with groupColumns.
func scanGroup(row interface{ Scan(...any) error }) (*group, error) {
	var g group
	var extra string
	if err := row.Scan(&g.ID, &g.DomainID, &g.Name, &g.Description, &extra); err != nil {
		return nil, err
	}
	g.Extra = jsonMap(extra)
	return &g, nil
}

// getGroup loads a group or returns Keystone's 404.
func (s *Service) getGroup(ctx context.Context, q store.Querier, id string) (*group, error) {
	g, err := scanGroup(q.QueryRowContext(ctx, `SELECT `+groupColumns+` FROM groups WHERE id = ?`, id))
	if store.IsNoRows(err) {
		return nil, api.NotFound("Could not find group: %s.", id)
	}
	return g, err
}

// queryGroups loads the groups matching a WHERE clause (over groups, aliased g, and
// anything joined in from), ordered by id.
func queryGroups(ctx context.Context, q store.Querier, from, where string, args ...any) ([]*group, error) {
	cols := "g." + strings.ReplaceAll(groupColumns, ", ", ", g.")
	query := `SELECT ` + cols + ` FROM groups g` + from
	if where != "" {
		query += ` WHERE ` + where
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY g.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*group
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// groupIDsForUser returns the ids of the groups a user belongs to.
func (s *Service) groupIDsForUser(ctx context.Context, q store.Querier, userID string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT group_id FROM user_group_membership WHERE user_id = ? ORDER BY group_id`, userID)
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

// groupConflict is the 409 Keystone gives for a duplicate group name.
func groupConflict(name, domainID string) error {
	if domainID != "" {
		return api.Conflict("Conflict occurred attempting to store group - Duplicate entry found with name %s at domain ID %s.", name, domainID)
	}
	return api.Conflict("Conflict occurred attempting to store group - Duplicate entry found with name %s.", name)
}

// insertGroupTx inserts a group, giving it an id when it has none.
func insertGroupTx(ctx context.Context, tx *store.Tx, g *group) error {
	if g.ID == "" {
		g.ID = api.NewID()
	}
	if g.Extra == nil {
		g.Extra = map[string]any{}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO groups (id, domain_id, name, description, extra) VALUES (?, ?, ?, ?, ?)`,
		g.ID, g.DomainID, g.Name, g.Description, jsonText(g.Extra))
	if store.IsUniqueViolation(err) {
		return groupConflict(g.Name, g.DomainID)
	}
	return err
}

// updateGroupTx writes a group's mutable attributes.
func updateGroupTx(ctx context.Context, tx *store.Tx, g *group) error {
	_, err := tx.ExecContext(ctx, `UPDATE groups SET name = ?, description = ?, extra = ? WHERE id = ?`,
		g.Name, g.Description, jsonText(g.Extra), g.ID)
	return err
}

// deleteGroupTx deletes a group, its memberships and its role assignments. When the group
// held role assignments its members' tokens are revoked, since their roles may shrink.
func (s *Service) deleteGroupTx(ctx context.Context, tx *store.Tx, id string) error {
	var grants int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM assignments WHERE actor_id = ? AND type IN ('GroupProject', 'GroupDomain', 'GroupSystem')`, id).Scan(&grants); err != nil {
		return err
	}
	var members []string
	if grants > 0 {
		rows, err := tx.QueryContext(ctx, `SELECT user_id FROM user_group_membership WHERE group_id = ?`, id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var uid string
			if err := rows.Scan(&uid); err != nil {
				rows.Close()
				return err
			}
			members = append(members, uid)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	for _, stmt := range []string{
		`DELETE FROM assignments WHERE actor_id = ? AND type IN ('GroupProject', 'GroupDomain', 'GroupSystem')`,
		`DELETE FROM user_group_membership WHERE group_id = ?`,
		`DELETE FROM groups WHERE id = ?`,
	} {
		if _, err := tx.ExecContext(ctx, stmt, id); err != nil {
			return err
		}
	}
	for _, uid := range members {
		if err := s.revoke(ctx, tx, revocationEvent{UserID: uid}); err != nil {
			return err
		}
	}
	return nil
}

// userInGroup reports whether a user is a member of a group.
func userInGroup(ctx context.Context, q store.Querier, userID, groupID string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM user_group_membership WHERE user_id = ? AND group_id = ?`, userID, groupID).Scan(&n)
	return n > 0, err
}

// checkGroupAndUser returns the 404 for whichever of the group (checked first, as
// Keystone does) and the user does not exist.
func (s *Service) checkGroupAndUser(ctx context.Context, q store.Querier, groupID, userID string) error {
	if _, err := s.getGroup(ctx, q, groupID); err != nil {
		return err
	}
	_, err := s.getUser(ctx, q, userID)
	return err
}

// addUserToGroupTx adds a membership; adding an existing one does nothing.
func (s *Service) addUserToGroupTx(ctx context.Context, tx *store.Tx, groupID, userID string) error {
	if err := s.checkGroupAndUser(ctx, tx, groupID, userID); err != nil {
		return err
	}
	in, err := userInGroup(ctx, tx, userID, groupID)
	if err != nil || in {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO user_group_membership (user_id, group_id) VALUES (?, ?)`, userID, groupID)
	return err
}

// errNotInGroup is Keystone's 404 for a user that is not a member of a group.
func errNotInGroup(userID, groupID string) error {
	return api.NotFound("User '%s' not found in group '%s'", userID, groupID)
}

// removeUserFromGroupTx removes a membership and revokes the user's tokens, whose roles may
// have come through the group.
func (s *Service) removeUserFromGroupTx(ctx context.Context, tx *store.Tx, groupID, userID string) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM user_group_membership WHERE user_id = ? AND group_id = ?`, userID, groupID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		if err := s.checkGroupAndUser(ctx, tx, groupID, userID); err != nil {
			return err
		}
		return errNotInGroup(userID, groupID)
	}
	return s.revoke(ctx, tx, revocationEvent{UserID: userID})
}
