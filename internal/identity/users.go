package identity

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// user is a Keystone user row. Extra holds the free-form attributes (description, email
// and whatever else a client sent); Options holds the documented user options.
type user struct {
	ID, DomainID, Name, DefaultProjectID string
	Enabled                              bool
	Extra, Options                       map[string]any
	PasswordExpiresAt                    time.Time
	// CreatedAt is when the user was created.
	CreatedAt time.Time

	// selfService records that the current password was set by the user (through the
	// change-password call) rather than by an administrator; minimum_password_age only
	// applies then. It is kept inside the options document under userSelfServiceKey.
	selfService bool
}

// userOptionNames are the options Keystone's user option registry accepts; any other key in
// "options" is a 400.
var userOptionNames = map[string]bool{
	"ignore_change_password_upon_first_use": true,
	"ignore_password_expiry":                true,
	"ignore_lockout_failure_attempts":       true,
	"lock_password":                         true,
	"ignore_user_inactivity":                true,
	"multi_factor_auth_rules":               true,
	"multi_factor_auth_enabled":             true,
}

// userSelfServiceKey is the private key in the stored options document that carries
// user.selfService; it is never shown and cannot be set through the API.
const userSelfServiceKey = "__gostack_password_self_service"

// decodeUserOptions reads the stored options document into the public options and the
// self-service flag.
func decodeUserOptions(text string) (map[string]any, bool) {
	m := jsonMap(text)
	self, _ := m[userSelfServiceKey].(bool)
	delete(m, userSelfServiceKey)
	return m, self
}

// encodeUserOptions renders the options document stored for a user.
func encodeUserOptions(opts map[string]any, selfService bool) string {
	m := make(map[string]any, len(opts)+1)
	for k, v := range opts {
		m[k] = v
	}
	if selfService {
		m[userSelfServiceKey] = true
	}
	return jsonText(m)
}

// userColumns is the column list scanUser reads.
const userColumns = `id, domain_id, name, enabled, default_project_id, extra, options, password_expires_at, created_at`

// scanUser reads one row selected with userColumns.
func scanUser(row interface{ Scan(...any) error }) (*user, error) {
	var u user
	var dp sql.NullString
	var extra, options, expires, created string
	if err := row.Scan(&u.ID, &u.DomainID, &u.Name, &u.Enabled, &dp, &extra, &options, &expires, &created); err != nil {
		return nil, err
	}
	u.DefaultProjectID = dp.String
	u.Extra = jsonMap(extra)
	u.Options, u.selfService = decodeUserOptions(options)
	u.PasswordExpiresAt, u.CreatedAt = store.ParseTime(expires), store.ParseTime(created)
	return &u, nil
}

// getUser loads a user or returns Keystone's 404.
func (s *Service) getUser(ctx context.Context, q store.Querier, id string) (*user, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if store.IsNoRows(err) {
		return nil, api.NotFound("Could not find user: %s.", id)
	}
	return u, err
}

// findUserByName loads a user by name within a domain or returns Keystone's 404.
func (s *Service) findUserByName(ctx context.Context, q store.Querier, domainID, name string) (*user, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE domain_id = ? AND name = ?`, domainID, name))
	if store.IsNoRows(err) {
		return nil, api.NotFound("Could not find user: %s.", name)
	}
	return u, err
}

// queryUsers loads the users matching a WHERE clause (over users, aliased u, and anything
// joined in from), ordered by id as Keystone pages them.
func queryUsers(ctx context.Context, q store.Querier, from, where string, args ...any) ([]*user, error) {
	cols := "u." + strings.ReplaceAll(userColumns, ", ", ", u.")
	query := `SELECT ` + cols + ` FROM users u` + from
	if where != "" {
		query += ` WHERE ` + where
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY u.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*user
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// userConflict is the 409 Keystone gives for a duplicate user name.
func userConflict(name, domainID string) error {
	if domainID != "" {
		return api.Conflict("Conflict occurred attempting to store user - Duplicate entry found with name %s at domain ID %s.", name, domainID)
	}
	return api.Conflict("Conflict occurred attempting to store user - Duplicate entry found with name %s.", name)
}

// createUserTx inserts a user, giving it an id when it has none and hashing password
// ("" leaves the user without a password). Bootstrap uses it; the API hashes first and
// calls insertUserTx so that no transaction waits on bcrypt.
func (s *Service) createUserTx(ctx context.Context, tx *store.Tx, u *user, password string) error {
	var pc passwordColumns
	if password != "" {
		hash, err := s.hashPassword(password)
		if err != nil {
			return err
		}
		pc = s.newPasswordColumns(hash, u.Options, false, now())
	}
	return s.insertUserTx(ctx, tx, u, pc)
}

// insertUserTx inserts a user with the given password columns (a zero value: no password).
func (s *Service) insertUserTx(ctx context.Context, tx *store.Tx, u *user, pc passwordColumns) error {
	if u.ID == "" {
		u.ID = api.NewID()
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now()
	}
	if u.Extra == nil {
		u.Extra = map[string]any{}
	}
	if u.Options == nil {
		u.Options = map[string]any{}
	}
	u.PasswordExpiresAt = pc.Expires
	_, err := tx.ExecContext(ctx, `INSERT INTO users (id, domain_id, name, enabled, default_project_id, extra, options,
		password_hash, password_created_at, password_expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.DomainID, u.Name, u.Enabled, nullString(u.DefaultProjectID), jsonText(u.Extra),
		encodeUserOptions(u.Options, false), pc.Hash, store.FormatTime(pc.CreatedAt), store.FormatTime(pc.Expires),
		store.FormatTime(u.CreatedAt))
	if store.IsUniqueViolation(err) {
		return userConflict(u.Name, u.DomainID)
	}
	return err
}

// nullString maps "" to SQL NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// updateUserTx writes a user's mutable attributes. As in Keystone, saving an enabled user
// clears its failed password attempts, which is how an administrator unlocks an account.
func updateUserTx(ctx context.Context, tx *store.Tx, u *user) error {
	_, err := tx.ExecContext(ctx, `UPDATE users SET name = ?, enabled = ?, default_project_id = ?, extra = ?, options = ? WHERE id = ?`,
		u.Name, u.Enabled, nullString(u.DefaultProjectID), jsonText(u.Extra), encodeUserOptions(u.Options, u.selfService), u.ID)
	if err != nil {
		return err
	}
	if u.Enabled {
		_, err = tx.ExecContext(ctx, `UPDATE users SET failed_auth_count = 0, failed_auth_at = '' WHERE id = ? AND failed_auth_count <> 0`, u.ID)
	}
	return err
}

// setUserSelfServiceTx records who set the user's current password.
func setUserSelfServiceTx(ctx context.Context, tx *store.Tx, userID string, selfService bool) error {
	var text string
	if err := tx.QueryRowContext(ctx, `SELECT options FROM users WHERE id = ?`, userID).Scan(&text); err != nil {
		return err
	}
	opts, _ := decodeUserOptions(text)
	_, err := tx.ExecContext(ctx, `UPDATE users SET options = ? WHERE id = ?`, encodeUserOptions(opts, selfService), userID)
	return err
}

// deleteUserTx deletes a user with everything that belongs to it: group memberships and
// password history (by foreign key), role assignments, application credentials with their
// access rules, and credentials; the user's tokens are revoked.
func (s *Service) deleteUserTx(ctx context.Context, tx *store.Tx, id string) error {
	for _, stmt := range []string{
		`DELETE FROM user_group_membership WHERE user_id = ?`,
		`DELETE FROM password_history WHERE user_id = ?`,
		`DELETE FROM assignments WHERE actor_id = ? AND type IN ('UserProject', 'UserDomain', 'UserSystem')`,
		`DELETE FROM application_credentials WHERE user_id = ?`,
		`DELETE FROM access_rules WHERE user_id = ?`,
		`DELETE FROM credentials WHERE user_id = ?`,
	} {
		if _, err := tx.ExecContext(ctx, stmt, id); err != nil {
			return err
		}
	}
	if err := s.deleteTrustsForUserTx(ctx, tx, id); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return api.NotFound("Could not find user: %s.", id)
	}
	return s.revoke(ctx, tx, revocationEvent{UserID: id})
}

// validateUserOptions checks an "options" object against Keystone's user option registry:
// known names only; booleans, except multi_factor_auth_rules, a list of distinct non-empty
// lists of distinct strings; null removes an option.
func validateUserOptions(opts api.Object) error {
	for k, v := range opts {
		if !userOptionNames[k] {
			return api.BadRequest("Invalid input for field 'options': Additional properties are not allowed ('%s' was unexpected).", truncateForMessage(k))
		}
		if v == nil {
			continue
		}
		if k != "multi_factor_auth_rules" {
			if _, ok := v.(bool); !ok {
				return api.BadRequest("Invalid input for field 'options/%s': %s is not of type 'boolean'.", k, describeJSON(v))
			}
			continue
		}
		if err := validateMFARules(v); err != nil {
			return err
		}
	}
	return nil
}

// validateMFARules checks multi_factor_auth_rules: a list of non-empty lists of strings,
// with no list repeated and no string repeated within a list.
func validateMFARules(v any) error {
	bad := api.BadRequest("Invalid input for field 'options/multi_factor_auth_rules': " +
		"Invalid data type, must be a list of lists comprised of strings. " +
		"Sub-lists may not be duplicated. Strings in sub-lists may not be duplicated.")
	outer, ok := v.([]any)
	if !ok {
		return bad
	}
	seenLists := map[string]bool{}
	for _, e := range outer {
		inner, ok := e.([]any)
		if !ok || len(inner) == 0 {
			return bad
		}
		seen := map[string]bool{}
		for _, x := range inner {
			str, ok := x.(string)
			if !ok || seen[str] {
				return bad
			}
			seen[str] = true
		}
		key, _ := json.Marshal(inner)
		if seenLists[string(key)] {
			return bad
		}
		seenLists[string(key)] = true
	}
	return nil
}

// truncateForMessage shortens client-supplied text quoted in an error message.
func truncateForMessage(s string) string {
	if r := []rune(s); len(r) > 64 {
		return string(r[:64]) + "..."
	}
	return s
}

// describeJSON renders a JSON value briefly for an error message.
func describeJSON(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		return "'" + truncateForMessage(x) + "'"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}
