package identity

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/store"
)

// changeOwn posts a self-service password change without a token.
func changeOwn(t *testing.T, tc *testCloud, userID, original, password string) (int, string) {
	t.Helper()
	resp, out := doJSON(t, tc.handler, "POST", "/v3/users/"+userID+"/password", "",
		map[string]any{"user": map[string]any{"original_password": original, "password": password}})
	return resp.StatusCode, errorMessage(out)
}

func TestChangePassword(t *testing.T) {
	tc := newTestCloud(t)
	id := userFixture(t, tc, map[string]any{"name": "changer", "password": "old-pw"})["id"].(string)
	_, token, _ := authStatus(t, tc, id, "old-pw")

	if status, msg := changeOwn(t, tc, id, "wrong", "new-pw"); status != 401 || msg != "The request you have made requires authentication." {
		t.Errorf("wrong original: %d %q", status, msg)
	}
	if status, _ := changeOwn(t, tc, "nosuchuser", "old-pw", "new-pw"); status != 401 {
		t.Errorf("unknown user: %d, want 401", status)
	}
	if status, msg := changeOwn(t, tc, id, "old-pw", "new-pw"); status != 204 {
		t.Fatalf("change: %d %q", status, msg)
	}
	if status, _, _ := authStatus(t, tc, id, "old-pw"); status != 401 {
		t.Errorf("old password still works: %d", status)
	}
	if status, _, msg := authStatus(t, tc, id, "new-pw"); status != 201 {
		t.Errorf("new password: %d %q", status, msg)
	}
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/users/"+id, token, nil); resp.StatusCode != 401 {
		t.Errorf("token from before the change: %d, want 401", resp.StatusCode)
	}

	for name, body := range map[string]any{
		"no user":          map[string]any{},
		"no original":      map[string]any{"user": map[string]any{"password": "x"}},
		"no password":      map[string]any{"user": map[string]any{"original_password": "new-pw"}},
		"extra attribute":  map[string]any{"user": map[string]any{"original_password": "new-pw", "password": "x", "name": "n"}},
		"password not str": map[string]any{"user": map[string]any{"original_password": "new-pw", "password": 5}},
	} {
		if resp, out := doJSON(t, tc.handler, "POST", "/v3/users/"+id+"/password", "", body); resp.StatusCode != 400 {
			t.Errorf("%s: %d, want 400: %v", name, resp.StatusCode, out)
		}
	}

	// An administrator's reset also revokes tokens.
	time.Sleep(time.Second) // tokens are only as precise as the second
	_, token, _ = authStatus(t, tc, id, "new-pw")
	doJSON(t, tc.handler, "PATCH", "/v3/users/"+id, tc.adminToken, map[string]any{"user": map[string]any{"password": "reset-pw"}})
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/users/"+id, token, nil); resp.StatusCode != 401 {
		t.Errorf("token after admin reset: %d, want 401", resp.StatusCode)
	}
	if status, _, _ := authStatus(t, tc, id, "reset-pw"); status != 201 {
		t.Errorf("reset password: %d", status)
	}
}

func TestLockout(t *testing.T) {
	tc := newTestCloud(t)
	ctx := context.Background()
	tc.svc.cfg.Security.LockoutFailureAttempts = 2
	id := userFixture(t, tc, map[string]any{"name": "locked", "password": "pw"})["id"].(string)

	// A success clears earlier failures.
	authStatus(t, tc, id, "bad")
	if status, _, _ := authStatus(t, tc, id, "pw"); status != 201 {
		t.Fatalf("auth: %d", status)
	}
	for i := 0; i < 2; i++ {
		if status, _, msg := authStatus(t, tc, id, "bad"); status != 401 || msg != "The request you have made requires authentication." {
			t.Fatalf("failure %d: %d %q", i, status, msg)
		}
	}
	status, _, msg := authStatus(t, tc, id, "pw")
	if want := "The account is locked for user: " + id + "."; status != 401 || msg != want {
		t.Fatalf("locked account: %d %q, want %q", status, msg, want)
	}
	if status, msg := changeOwn(t, tc, id, "pw", "other"); status != 401 || !strings.Contains(msg, "locked") {
		t.Errorf("locked user changes password: %d %q", status, msg)
	}

	// ignore_lockout_failure_attempts lets the user in.
	doJSON(t, tc.handler, "PATCH", "/v3/users/"+id, tc.adminToken, map[string]any{"user": map[string]any{"options": map[string]any{"ignore_lockout_failure_attempts": true}}})
	if status, _, msg := authStatus(t, tc, id, "pw"); status != 201 {
		t.Errorf("with ignore_lockout_failure_attempts: %d %q", status, msg)
	}
	doJSON(t, tc.handler, "PATCH", "/v3/users/"+id, tc.adminToken, map[string]any{"user": map[string]any{"options": map[string]any{"ignore_lockout_failure_attempts": nil}}})

	// Lock again; an administrator saving the (enabled) user unlocks it.
	authStatus(t, tc, id, "bad")
	authStatus(t, tc, id, "bad")
	if status, _, _ := authStatus(t, tc, id, "pw"); status != 401 {
		t.Fatalf("not locked again: %d", status)
	}
	doJSON(t, tc.handler, "PATCH", "/v3/users/"+id, tc.adminToken, map[string]any{"user": map[string]any{"enabled": true}})
	if status, _, msg := authStatus(t, tc, id, "pw"); status != 201 {
		t.Errorf("after admin unlock: %d %q", status, msg)
	}

	// With a lockout duration, the lock lifts once it has passed.
	tc.svc.cfg.Security.LockoutDuration = time.Hour
	authStatus(t, tc, id, "bad")
	authStatus(t, tc, id, "bad")
	if status, _, _ := authStatus(t, tc, id, "pw"); status != 401 {
		t.Fatalf("not locked with duration: %d", status)
	}
	past := store.FormatTime(time.Now().Add(-2 * time.Hour))
	if _, err := tc.svc.db.ExecContext(ctx, `UPDATE users SET failed_auth_at = ? WHERE id = ?`, past, id); err != nil {
		t.Fatal(err)
	}
	if status, _, msg := authStatus(t, tc, id, "pw"); status != 201 {
		t.Errorf("after the lockout duration: %d %q", status, msg)
	}
}

func TestPasswordRegex(t *testing.T) {
	tc := newTestCloud(t)
	tc.svc.cfg.Security.PasswordRegex = `^(?=.*\d)(?=.*[a-zA-Z]).{7,}$`
	tc.svc.cfg.Security.PasswordRegexDescription = "Passwords need 7 characters with a letter and a digit"
	want := "The password does not match the requirements: Passwords need 7 characters with a letter and a digit."

	resp, out := doJSON(t, tc.handler, "POST", "/v3/users", tc.adminToken, map[string]any{"user": map[string]any{"name": "r", "password": "short"}})
	if resp.StatusCode != 400 || errorMessage(out) != want {
		t.Errorf("create with weak password: %d %q", resp.StatusCode, errorMessage(out))
	}
	id := userFixture(t, tc, map[string]any{"name": "r", "password": "abcdef1"})["id"].(string)
	resp, out = doJSON(t, tc.handler, "PATCH", "/v3/users/"+id, tc.adminToken, map[string]any{"user": map[string]any{"password": "abcdefgh"}})
	if resp.StatusCode != 400 || errorMessage(out) != want {
		t.Errorf("reset to weak password: %d %q", resp.StatusCode, errorMessage(out))
	}
	if resp, _ := doJSON(t, tc.handler, "PATCH", "/v3/users/"+id, tc.adminToken, map[string]any{"user": map[string]any{"password": nil}}); resp.StatusCode != 400 {
		t.Errorf("null password under a regex: %d, want 400", resp.StatusCode)
	}
	if status, msg := changeOwn(t, tc, id, "abcdef1", "1234567"); status != 400 || msg != want {
		t.Errorf("change to weak password: %d %q", status, msg)
	}
	if status, msg := changeOwn(t, tc, id, "abcdef1", "abcdef2"); status != 204 {
		t.Errorf("change to good password: %d %q", status, msg)
	}

	tc.svc.cfg.Security.PasswordRegex = `(?<=x)y` // lookbehind: not expressible
	if status, msg := changeOwn(t, tc, id, "abcdef2", "abcdef3"); status != 400 || !strings.Contains(msg, "invalid configuration") {
		t.Errorf("unusable regex: %d %q", status, msg)
	}
}

func TestCompilePasswordRegex(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		reject  []string
	}{
		{`^(?=.*\d)(?=.*[a-zA-Z]).{7,}$`, []string{"abcdef1", "1abcdefg"}, []string{"abcdefg", "1234567", "ab1"}},
		{`(?!.*password).{4,}`, []string{"hunter22"}, []string{"mypassword1", "abc"}},
		{`(?=.*[)(])x*`, []string{"a)b"}, []string{"abc"}},
		{`[a-z]+`, []string{"abc", "abc123"}, []string{"1abc"}}, // re.match: anchored at the start only
		{`[a-z]+\Z`, []string{"abc"}, []string{"abc1"}},
		{`(?=.*[A-Z])(?=.*[^\w\s]).{8,}`, []string{"Passw0rd!"}, []string{"Password1", "passw0rd!"}},
	}
	for _, tt := range tests {
		m, err := compilePasswordRegex(tt.pattern)
		if err != nil {
			t.Errorf("%s: %v", tt.pattern, err)
			continue
		}
		for _, s := range tt.match {
			if !m(s) {
				t.Errorf("%s does not match %q", tt.pattern, s)
			}
		}
		for _, s := range tt.reject {
			if m(s) {
				t.Errorf("%s matches %q", tt.pattern, s)
			}
		}
	}
	for _, bad := range []string{`(?=abc`, `a(?=b)c`, `(?<=a)b`, `(`} {
		if _, err := compilePasswordRegex(bad); err == nil {
			t.Errorf("%s compiled", bad)
		}
	}
}

func TestUniqueLastPasswordCount(t *testing.T) {
	tc := newTestCloud(t)
	tc.svc.cfg.Security.UniqueLastPasswordCount = 2
	id := userFixture(t, tc, map[string]any{"name": "h", "password": "pw-a"})["id"].(string)
	want := "The new password cannot be identical to a previous password. The total number which includes the new password must be unique is 2."
	steps := []struct {
		from, to string
		status   int
	}{
		{"pw-a", "pw-a", 400}, // the current password
		{"pw-a", "pw-b", 204},
		{"pw-b", "pw-b", 400},
		{"pw-b", "pw-a", 400}, // the previous one
		{"pw-b", "pw-c", 204},
		{"pw-c", "pw-a", 204}, // two back: allowed with a count of 2
	}
	for _, st := range steps {
		status, msg := changeOwn(t, tc, id, st.from, st.to)
		if status != st.status || (status == 400 && msg != want) {
			t.Fatalf("%s -> %s: %d %q, want %d", st.from, st.to, status, msg, st.status)
		}
	}
	// An administrator's reset is not checked against the history.
	resp, _ := doJSON(t, tc.handler, "PATCH", "/v3/users/"+id, tc.adminToken, map[string]any{"user": map[string]any{"password": "pw-a"}})
	if resp.StatusCode != 200 {
		t.Errorf("admin reset to a recent password: %d", resp.StatusCode)
	}
	var n int
	if err := tc.svc.db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM password_history WHERE user_id = ?`, id).Scan(&n); err != nil || n > 2 {
		t.Errorf("password history holds %d entries (%v), want at most 2", n, err)
	}
}

func TestMinimumPasswordAge(t *testing.T) {
	tc := newTestCloud(t)
	tc.svc.cfg.Security.MinimumPasswordAge = 1
	id := userFixture(t, tc, map[string]any{"name": "m", "password": "pw-1"})["id"].(string)
	// The administrator set the first password, so the user may change it at once...
	if status, msg := changeOwn(t, tc, id, "pw-1", "pw-2"); status != 204 {
		t.Fatalf("first change: %d %q", status, msg)
	}
	// ...but not a password the user just chose.
	status, msg := changeOwn(t, tc, id, "pw-2", "pw-3")
	if status != 400 || !strings.Contains(msg, "minimum password age") || !strings.Contains(msg, "1 day(s)") {
		t.Errorf("second change: %d %q", status, msg)
	}
	// An administrator's reset makes it changeable again.
	doJSON(t, tc.handler, "PATCH", "/v3/users/"+id, tc.adminToken, map[string]any{"user": map[string]any{"password": "pw-4"}})
	if status, msg := changeOwn(t, tc, id, "pw-4", "pw-5"); status != 204 {
		t.Errorf("after reset: %d %q", status, msg)
	}
}

func TestLockPasswordOption(t *testing.T) {
	tc := newTestCloud(t)
	id := userFixture(t, tc, map[string]any{"name": "l", "password": "pw", "options": map[string]any{"lock_password": true}})["id"].(string)
	if status, msg := changeOwn(t, tc, id, "pw", "pw2"); status != 400 || !strings.Contains(msg, "disallowing password changes") {
		t.Errorf("lock_password: %d %q", status, msg)
	}
}

func TestPasswordExpiry(t *testing.T) {
	tc := newTestCloud(t)
	ctx := context.Background()
	tc.svc.cfg.Security.PasswordExpiresDays = 30
	u := userFixture(t, tc, map[string]any{"name": "e", "password": "pw"})
	id := u["id"].(string)
	exp, err := time.Parse("2006-01-02T15:04:05.000000", u["password_expires_at"].(string))
	if err != nil {
		t.Fatalf("password_expires_at %v: %v", u["password_expires_at"], err)
	}
	if d := time.Until(exp); d < 29*24*time.Hour || d > 31*24*time.Hour || exp.Nanosecond() != 0 {
		t.Errorf("password_expires_at %v is not 30 days away in whole seconds", exp)
	}
	exempt := userFixture(t, tc, map[string]any{"name": "x", "password": "pw", "options": map[string]any{"ignore_password_expiry": true}})
	if exempt["password_expires_at"] != nil {
		t.Errorf("exempt user's password expires: %v", exempt["password_expires_at"])
	}

	past := store.FormatTime(time.Now().Add(-time.Hour))
	if _, err := tc.svc.db.ExecContext(ctx, `UPDATE users SET password_expires_at = ? WHERE id IN (?, ?)`, past, id, exempt["id"]); err != nil {
		t.Fatal(err)
	}
	status, _, msg := authStatus(t, tc, id, "pw")
	if want := "The password is expired and needs to be changed for user: " + id + "."; status != 401 || msg != want {
		t.Errorf("expired: %d %q", status, msg)
	}
	if status, _, msg := authStatus(t, tc, exempt["id"].(string), "pw"); status != 201 {
		t.Errorf("exempt user with an old expiry: %d %q", status, msg)
	}
	if status, msg := changeOwn(t, tc, id, "pw", "pw-new"); status != 204 {
		t.Fatalf("change an expired password: %d %q", status, msg)
	}
	if status, _, msg := authStatus(t, tc, id, "pw-new"); status != 201 {
		t.Errorf("after the change: %d %q", status, msg)
	}
}

func TestChangePasswordUponFirstUse(t *testing.T) {
	tc := newTestCloud(t)
	tc.svc.cfg.Security.ChangePasswordUponFirstUse = true
	id := userFixture(t, tc, map[string]any{"name": "f", "password": "pw"})["id"].(string)
	if status, _, msg := authStatus(t, tc, id, "pw"); status != 401 || !strings.Contains(msg, "expired") {
		t.Errorf("first use: %d %q", status, msg)
	}
	if status, msg := changeOwn(t, tc, id, "pw", "mine"); status != 204 {
		t.Fatalf("change: %d %q", status, msg)
	}
	if status, _, msg := authStatus(t, tc, id, "mine"); status != 201 {
		t.Errorf("own password: %d %q", status, msg)
	}
	ignoring := userFixture(t, tc, map[string]any{"name": "g", "password": "pw", "options": map[string]any{"ignore_change_password_upon_first_use": true}})
	if status, _, msg := authStatus(t, tc, ignoring["id"].(string), "pw"); status != 201 {
		t.Errorf("user ignoring the rule: %d %q", status, msg)
	}
}

func TestLongPasswords(t *testing.T) {
	tc := newTestCloud(t)
	long := strings.Repeat("p", 72) + "-tail-one"
	id := userFixture(t, tc, map[string]any{"name": "long", "password": long})["id"].(string)
	for name, pw := range map[string]string{
		"same":           long,
		"first 72 bytes": long[:72],
		"other tail":     strings.Repeat("p", 72) + "-different",
	} {
		if status, _, msg := authStatus(t, tc, id, pw); status != http.StatusCreated {
			t.Errorf("%s: %d %q", name, status, msg)
		}
	}
	if status, _, _ := authStatus(t, tc, id, long[:71]); status != http.StatusUnauthorized {
		t.Errorf("71 bytes accepted: %d", status)
	}
	var hash string
	if err := tc.svc.db.QueryRowContext(context.Background(), `SELECT password_hash FROM users WHERE id = ?`, id).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$2") || strings.Contains(hash, "ppp") {
		t.Errorf("stored hash %q is not bcrypt", hash)
	}
	if status, msg := changeOwn(t, tc, id, long, strings.Repeat("q", 200)); status != 204 {
		t.Errorf("change to a 200-byte password: %d %q", status, msg)
	}
}
