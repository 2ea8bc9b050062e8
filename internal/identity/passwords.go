package identity

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// bcryptMaxPasswordBytes is how much of a password bcrypt mixes in. Keystone truncates
// longer passwords to this length before hashing and checking (passlib would silently do
// the same), so a 100-byte password and its first 72 bytes are the same password.
const bcryptMaxPasswordBytes = 72

// passwordBytes returns the part of a password that is hashed.
func passwordBytes(password string) []byte {
	b := []byte(password)
	if len(b) > bcryptMaxPasswordBytes {
		b = b[:bcryptMaxPasswordBytes]
	}
	return b
}

// hashPassword hashes a password with bcrypt at the configured cost.
func (s *Service) hashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword(passwordBytes(password), s.cfg.BcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// passwordMatches reports whether password matches a stored bcrypt hash. An empty hash
// (a user without a password) never matches, but still costs a bcrypt comparison so that
// timing does not tell such users apart.
func (s *Service) passwordMatches(password, hash string) bool {
	if hash == "" {
		s.spendDummyComparison(password)
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), passwordBytes(password)) == nil
}

// dummyHashes holds, per bcrypt cost, a hash compared against when there is no real one.
var dummyHashes sync.Map

// spendDummyComparison runs one bcrypt comparison that always fails, so that requests for
// unknown users take as long as requests with a wrong password.
func (s *Service) spendDummyComparison(password string) {
	cost := s.cfg.BcryptCost
	h, ok := dummyHashes.Load(cost)
	if !ok {
		b, err := bcrypt.GenerateFromPassword([]byte("gostack-dummy-password"), cost)
		if err != nil {
			return
		}
		h, _ = dummyHashes.LoadOrStore(cost, b)
	}
	_ = bcrypt.CompareHashAndPassword(h.([]byte), passwordBytes(password))
}

// errAuthRequired is Keystone's generic 401, given for unknown users and wrong passwords
// alike.
func errAuthRequired() *api.Error { return api.Unauthorized(api.ErrAuthRequired) }

// errPasswordExpired is the 401 for a user whose password has expired.
func errPasswordExpired(userID string) *api.Error {
	return api.Unauthorized("The password is expired and needs to be changed for user: %s.", userID)
}

// userAuthState is what password authentication reads about a user.
type userAuthState struct {
	ID                string
	Enabled           bool
	PasswordHash      string
	PasswordCreatedAt time.Time
	PasswordExpiresAt time.Time
	FailedAuthCount   int
	FailedAuthAt      time.Time
	Options           map[string]any
	SelfService       bool
}

// loadUserAuthState reads a user's password and lockout state; it returns a no-rows error
// when the user does not exist.
func loadUserAuthState(ctx context.Context, q store.Querier, id string) (*userAuthState, error) {
	var st userAuthState
	var created, expires, failedAt, options string
	err := q.QueryRowContext(ctx, `SELECT id, enabled, password_hash, password_created_at, password_expires_at,
		failed_auth_count, failed_auth_at, options FROM users WHERE id = ?`, id).Scan(
		&st.ID, &st.Enabled, &st.PasswordHash, &created, &expires, &st.FailedAuthCount, &failedAt, &options)
	if err != nil {
		return nil, err
	}
	st.PasswordCreatedAt, st.PasswordExpiresAt = store.ParseTime(created), store.ParseTime(expires)
	st.FailedAuthAt = store.ParseTime(failedAt)
	st.Options, st.SelfService = decodeUserOptions(options)
	return &st, nil
}

// optionTrue reports whether a boolean user option is set to true.
func optionTrue(opts map[string]any, name string) bool {
	b, _ := opts[name].(bool)
	return b
}

// verifyPassword checks a user's password as Keystone's SQL identity driver does: a locked
// account fails first (without looking at the password), then a wrong password (counted
// towards lockout when lockout is configured), then a disabled user, then an expired
// password; success clears the failure count. A nil user still costs a bcrypt comparison.
func (s *Service) verifyPassword(ctx context.Context, u *user, password string) error {
	if u == nil {
		s.spendDummyComparison(password)
		return errAuthRequired()
	}
	expired, err := s.authenticatePassword(ctx, u.ID, password)
	if err != nil {
		return err
	}
	if expired {
		return errPasswordExpired(u.ID)
	}
	return nil
}

// authenticatePassword is verifyPassword without the expiry failure: it reports an
// expired password through expired, so that a user can still change it.
func (s *Service) authenticatePassword(ctx context.Context, userID, password string) (expired bool, err error) {
	st, err := loadUserAuthState(ctx, s.db, userID)
	if store.IsNoRows(err) {
		s.spendDummyComparison(password)
		return false, errAuthRequired()
	}
	if err != nil {
		return false, err
	}
	locked, err := s.accountLocked(ctx, st)
	if err != nil {
		return false, err
	}
	if locked {
		return false, api.Unauthorized("The account is locked for user: %s.", st.ID)
	}
	if !s.passwordMatches(password, st.PasswordHash) {
		if err := s.recordFailedAuth(ctx, st.ID); err != nil {
			return false, err
		}
		return false, errAuthRequired()
	}
	if !st.Enabled {
		return false, api.Unauthorized("The account is disabled for user: %s.", st.ID)
	}
	expired = !st.PasswordExpiresAt.IsZero() && !optionTrue(st.Options, "ignore_password_expiry") &&
		!time.Now().Before(st.PasswordExpiresAt)
	if expired {
		return true, nil
	}
	if st.FailedAuthCount > 0 {
		if err := s.resetFailedAuth(ctx, st.ID); err != nil {
			return false, err
		}
	}
	return false, nil
}

// accountLocked applies [security_compliance] lockout_failure_attempts and
// lockout_duration; an expired lockout is cleared.
func (s *Service) accountLocked(ctx context.Context, st *userAuthState) (bool, error) {
	attempts := s.cfg.Security.LockoutFailureAttempts
	if attempts <= 0 || optionTrue(st.Options, "ignore_lockout_failure_attempts") || st.FailedAuthCount < attempts {
		return false, nil
	}
	d := s.cfg.Security.LockoutDuration
	if d <= 0 || st.FailedAuthAt.Add(d).After(time.Now()) {
		return true, nil
	}
	if err := s.resetFailedAuth(ctx, st.ID); err != nil {
		return false, err
	}
	st.FailedAuthCount = 0
	return false, nil
}

// recordFailedAuth counts a failed password attempt. The count only matters for lockout,
// so it is kept only when lockout is configured; that spares the token caches the
// invalidation every identity write causes.
func (s *Service) recordFailedAuth(ctx context.Context, userID string) error {
	if s.cfg.Security.LockoutFailureAttempts <= 0 {
		return nil
	}
	return s.write(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE users SET failed_auth_count = failed_auth_count + 1, failed_auth_at = ? WHERE id = ?`,
			store.FormatTime(now()), userID)
		return err
	})
}

// resetFailedAuth clears a user's failed password attempts.
func (s *Service) resetFailedAuth(ctx context.Context, userID string) error {
	return s.write(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE users SET failed_auth_count = 0, failed_auth_at = '' WHERE id = ?`, userID)
		return err
	})
}

// validatePasswordRules applies [security_compliance] password_regex to a new password,
// as Keystone's validators.validate_password does for creates, admin resets and
// self-service changes. A null password (nil) passes only when no regex is configured.
func (s *Service) validatePasswordRules(password *string) error {
	pattern := s.cfg.Security.PasswordRegex
	if pattern == "" {
		return nil
	}
	if password == nil {
		return api.BadRequest("Password validation error: Password must be a string type.")
	}
	match, err := compilePasswordRegex(pattern)
	if err != nil {
		s.log.Error("unable to validate password due to invalid regular expression", "password_regex", pattern, "err", err)
		return api.BadRequest("Password validation error: Unable to validate password due to invalid configuration.")
	}
	if !match(*password) {
		return api.BadRequest("The password does not match the requirements: %s.", s.cfg.Security.PasswordRegexDescription)
	}
	return nil
}

// passwordRegexCache holds compiled password regexes by pattern.
var passwordRegexCache sync.Map

// compilePasswordRegex compiles a Python password_regex into a matcher with Python's
// re.match semantics (anchored at the start, not at the end). Go's RE2 has no lookaround,
// yet the usual password rules are written as leading lookaheads, such as Keystone's own
// example ^(?=.*\d)(?=.*[a-zA-Z]).{7,}$. Lookaheads at the start of the pattern are
// therefore split off and each matched from the start of the password (negated for (?!...)),
// which is exactly their meaning there; lookaround anywhere else is a configuration error.
func compilePasswordRegex(pattern string) (func(string) bool, error) {
	if m, ok := passwordRegexCache.Load(pattern); ok {
		return m.(func(string) bool), nil
	}
	rest := strings.TrimPrefix(pattern, "^")
	type look struct {
		re     *regexp.Regexp
		negate bool
	}
	var looks []look
	for strings.HasPrefix(rest, "(?=") || strings.HasPrefix(rest, "(?!") {
		end, err := closingParen(rest)
		if err != nil {
			return nil, err
		}
		re, err := regexp.Compile(`^(?:` + pythonToRE2(rest[3:end]) + `)`)
		if err != nil {
			return nil, err
		}
		looks = append(looks, look{re: re, negate: rest[2] == '!'})
		rest = strings.TrimPrefix(rest[end+1:], "^")
	}
	main, err := regexp.Compile(`^(?:` + pythonToRE2(rest) + `)`)
	if err != nil {
		return nil, err
	}
	match := func(pw string) bool {
		for _, l := range looks {
			if l.re.MatchString(pw) == l.negate {
				return false
			}
		}
		return main.MatchString(pw)
	}
	passwordRegexCache.Store(pattern, match)
	return match, nil
}

// pythonToRE2 rewrites the Python-only escapes RE2 spells differently (\Z is \z).
func pythonToRE2(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+1 < len(p) {
			if p[i+1] == 'Z' {
				b.WriteString(`\z`)
			} else {
				b.WriteString(p[i : i+2])
			}
			i++
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// closingParen returns the index of the parenthesis closing the group that opens s,
// skipping escapes and character classes.
func closingParen(s string) (int, error) {
	depth, inClass := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
			// A ']' right after '[' or '[^' is a literal member of the class.
			if i+1 < len(s) && s[i+1] == '^' {
				i++
			}
			if i+1 < len(s) && s[i+1] == ']' {
				i++
			}
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return i, nil
			}
		}
	}
	return 0, errors.New("unbalanced parenthesis in password_regex")
}

// passwordColumns are the stored columns of a user's current password.
type passwordColumns struct {
	Hash               string
	CreatedAt, Expires time.Time
}

// newPasswordColumns derives the stored columns for a password hash set at t, as Keystone's
// User.password setter does: it expires after password_expires_days (whole seconds) unless
// the user ignores password expiry, and an administrator-set password must be changed on
// first use when change_password_upon_first_use is on (unless the user ignores that).
func (s *Service) newPasswordColumns(hash string, opts map[string]any, selfService bool, t time.Time) passwordColumns {
	pc := passwordColumns{Hash: hash, CreatedAt: t}
	if days := s.cfg.Security.PasswordExpiresDays; days > 0 && !optionTrue(opts, "ignore_password_expiry") {
		pc.Expires = t.Add(time.Duration(days) * 24 * time.Hour).Truncate(time.Second)
	}
	if !selfService && s.cfg.Security.ChangePasswordUponFirstUse && !optionTrue(opts, "ignore_change_password_upon_first_use") {
		pc.Expires = t
	}
	return pc
}

// replacePasswordTx stores a user's new password, moving the current hash into the history
// that unique_last_password_count checks and pruning what no rule needs any more.
func (s *Service) replacePasswordTx(ctx context.Context, tx *store.Tx, userID, oldHash string, oldCreated time.Time, pc passwordColumns) error {
	if oldHash != "" {
		created := oldCreated
		if created.IsZero() {
			created = pc.CreatedAt
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO password_history (id, user_id, password_hash, created_at) VALUES (?, ?, ?, ?)`,
			api.NewID(), userID, oldHash, store.FormatTime(created)); err != nil {
			return err
		}
	}
	keep := max(s.cfg.Security.UniqueLastPasswordCount, 1)
	rows, err := tx.QueryContext(ctx, `SELECT id FROM password_history WHERE user_id = ? ORDER BY created_at DESC, id`, userID)
	if err != nil {
		return err
	}
	var drop []string
	for n := 0; rows.Next(); n++ {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		if n >= keep {
			drop = append(drop, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range drop {
		if _, err := tx.ExecContext(ctx, `DELETE FROM password_history WHERE id = ?`, id); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, password_created_at = ?, password_expires_at = ? WHERE id = ?`,
		pc.Hash, store.FormatTime(pc.CreatedAt), store.FormatTime(pc.Expires), userID)
	return err
}

// recentPasswordHashes returns the current hash and the n-1 before it: the passwords a
// self-service change may not reuse under unique_last_password_count n.
func recentPasswordHashes(ctx context.Context, q store.Querier, userID, current string, n int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	out := []string{}
	if current != "" {
		out = append(out, current)
	}
	if n == 1 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT password_hash FROM password_history WHERE user_id = ? ORDER BY created_at DESC, id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for i := 0; i < n-1 && rows.Next(); i++ {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// changeOwnPassword is POST /v3/users/{user_id}/password: the user proves the original
// password (an expired one is fine), and the new one must pass the regex, the
// lock_password option, the minimum password age (when the current password was itself
// set by the user) and the password history. Success revokes the user's tokens.
func (s *Service) changeOwnPassword(ctx context.Context, userID, original, password string) error {
	if _, err := s.authenticatePassword(ctx, userID, original); err != nil {
		return err
	}
	if err := s.validatePasswordRules(&password); err != nil {
		return err
	}
	st, err := loadUserAuthState(ctx, s.db, userID)
	if store.IsNoRows(err) {
		return errAuthRequired()
	}
	if err != nil {
		return err
	}
	if optionTrue(st.Options, "lock_password") {
		return api.BadRequest("You cannot change your password at this time due to password policy disallowing password changes. Please contact your administrator to reset your password.")
	}
	if st.SelfService {
		minDays := s.cfg.Security.MinimumPasswordAge
		minAge := st.PasswordCreatedAt.Add(time.Duration(minDays) * 24 * time.Hour)
		if t := time.Now(); t.Before(minAge) {
			daysLeft := int(minAge.Sub(t) / (24 * time.Hour))
			return api.BadRequest("You cannot change your password at this time due to the minimum password age. "+
				"Once you change your password, it must be used for %d day(s) before it can be changed. "+
				"Please try again in %d day(s) or contact your administrator to reset your password.", minDays, daysLeft)
		}
	}
	if n := s.cfg.Security.UniqueLastPasswordCount; n > 0 {
		hashes, err := recentPasswordHashes(ctx, s.db, userID, st.PasswordHash, n)
		if err != nil {
			return err
		}
		for _, h := range hashes {
			if s.passwordMatches(password, h) {
				return api.BadRequest("The new password cannot be identical to a previous password. "+
					"The total number which includes the new password must be unique is %d.", n)
			}
		}
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	pc := s.newPasswordColumns(hash, st.Options, true, now())
	return s.write(ctx, func(tx *store.Tx) error {
		if err := s.replacePasswordTx(ctx, tx, userID, st.PasswordHash, st.PasswordCreatedAt, pc); err != nil {
			return err
		}
		if err := setUserSelfServiceTx(ctx, tx, userID, true); err != nil {
			return err
		}
		return s.revoke(ctx, tx, revocationEvent{UserID: userID})
	})
}

// setPasswordTx resets a user's password inside tx as an administrator's PATCH does: the
// regex is not applied, the old hash joins the history, expiry follows
// password_expires_days and change_password_upon_first_use, and the user's tokens are
// revoked. Bootstrap uses it to reset the admin password.
func (s *Service) setPasswordTx(ctx context.Context, tx *store.Tx, userID, password string) error {
	st, err := loadUserAuthState(ctx, tx, userID)
	if store.IsNoRows(err) {
		return api.NotFound("Could not find user: %s.", userID)
	}
	if err != nil {
		return err
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	pc := s.newPasswordColumns(hash, st.Options, false, now())
	if err := s.replacePasswordTx(ctx, tx, userID, st.PasswordHash, st.PasswordCreatedAt, pc); err != nil {
		return err
	}
	if st.SelfService {
		if err := setUserSelfServiceTx(ctx, tx, userID, false); err != nil {
			return err
		}
	}
	return s.revoke(ctx, tx, revocationEvent{UserID: userID})
}

// userPasswordIs reports whether password is the user's current password, reading through
// q and with none of verifyPassword's side effects (failure counting, lockout), so that it
// is safe inside a transaction.
func (s *Service) userPasswordIs(ctx context.Context, q store.Querier, userID, password string) (bool, error) {
	st, err := loadUserAuthState(ctx, q, userID)
	if store.IsNoRows(err) {
		s.spendDummyComparison(password)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return s.passwordMatches(password, st.PasswordHash), nil
}
