package identity

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/store"
)

// trustFixture is a trustor with two roles on its own project and the demo user as the
// trustee, as tempest's test_trusts sets them up.
type trustFixture struct {
	tc                                   *testCloud
	trustorID, trusteeID, projectID      string
	delegatedID, keptID                  string
	trustorToken                         string
	trustorPassword                      string
	delegatedName, keptName, projectName string
}

const trustorPassword = "trustor-secret"

// newTrustFixture builds the fixture on a fresh test cloud.
func newTrustFixture(t *testing.T) *trustFixture {
	t.Helper()
	tc := newTestCloud(t)
	f := &trustFixture{tc: tc, trustorPassword: trustorPassword, delegatedName: "Delegated", keptName: "Kept", projectName: "trustor-project"}
	p := f.call(t, tc.adminToken, "POST", "/v3/projects", map[string]any{"project": map[string]any{"name": f.projectName, "domain_id": "default"}}, http.StatusCreated)
	f.projectID = p["project"].(map[string]any)["id"].(string)
	u := userFixture(t, tc, map[string]any{"name": "trustor", "password": trustorPassword, "default_project_id": f.projectID})
	f.trustorID = u["id"].(string)
	f.delegatedID = raRole(t, tc, f.delegatedName, "")
	f.keptID = raRole(t, tc, f.keptName, "")
	for _, r := range []string{f.delegatedID, f.keptID} {
		f.call(t, tc.adminToken, "PUT", "/v3/projects/"+f.projectID+"/users/"+f.trustorID+"/roles/"+r, nil, http.StatusNoContent)
	}
	f.trusteeID = lookupID(t, tc.svc, "users", "demo")
	f.trustorToken = tc.passwordToken(t, "trustor", trustorPassword, f.projectName)
	return f
}

// call sends a request and fails the test unless the status is want.
func (f *trustFixture) call(t *testing.T, token, method, path string, body any, want int) map[string]any {
	t.Helper()
	resp, out := doJSON(t, f.tc.handler, method, path, token, body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %v", method, path, resp.StatusCode, want, out)
	}
	return out
}

// trustBody is a create body delegating the Delegated role, with overrides.
func (f *trustFixture) trustBody(over map[string]any) map[string]any {
	b := map[string]any{
		"trustor_user_id": f.trustorID, "trustee_user_id": f.trusteeID, "project_id": f.projectID,
		"impersonation": true, "roles": []any{map[string]any{"name": f.delegatedName}},
	}
	for k, v := range over {
		if v == nil {
			delete(b, k)
			continue
		}
		b[k] = v
	}
	return map[string]any{"trust": b}
}

// createTrust creates a trust as the trustor and returns it.
func (f *trustFixture) createTrust(t *testing.T, over map[string]any) map[string]any {
	t.Helper()
	out := f.call(t, f.trustorToken, "POST", "/v3/OS-TRUST/trusts", f.trustBody(over), http.StatusCreated)
	return out["trust"].(map[string]any)
}

// trustAuth is a password auth body for a Default-domain user scoped to a trust.
func trustAuth(user, password, trustID string) map[string]any {
	return authBody(user, password, map[string]any{"OS-TRUST:trust": map[string]any{"id": trustID}})
}

// trustToken asks for a trust-scoped token as the demo user and returns the status,
// token and body.
func (f *trustFixture) trustToken(t *testing.T, trustID string) (int, string, map[string]any) {
	t.Helper()
	resp, out := doJSON(t, f.tc.handler, "POST", "/v3/auth/tokens", "", trustAuth("demo", testDemoPassword, trustID))
	return resp.StatusCode, resp.Header.Get("X-Subject-Token"), out
}

// validateStatus validates a token as admin and returns the status.
func (f *trustFixture) validateStatus(t *testing.T, tok string) int {
	t.Helper()
	req := httptest.NewRequest("GET", "/v3/auth/tokens", nil)
	req.Header.Set("X-Auth-Token", f.tc.adminToken)
	req.Header.Set("X-Subject-Token", tok)
	rec := newRecorder()
	f.tc.handler.ServeHTTP(rec, req)
	return rec.Code
}

func TestTrustCRUD(t *testing.T) {
	f := newTrustFixture(t)
	tr := f.createTrust(t, nil)
	id := tr["id"].(string)
	check := func(t *testing.T, tr map[string]any, withRoles bool) {
		t.Helper()
		if tr["trustor_user_id"] != f.trustorID || tr["trustee_user_id"] != f.trusteeID || tr["project_id"] != f.projectID {
			t.Errorf("parties: %v", tr)
		}
		if tr["impersonation"] != true || tr["expires_at"] != nil || tr["remaining_uses"] != nil {
			t.Errorf("attributes: %v", tr)
		}
		if tr["redelegation_count"] != float64(0) || tr["redelegated_trust_id"] != nil {
			t.Errorf("redelegation: %v", tr)
		}
		if _, ok := tr["allow_redelegation"]; ok {
			t.Errorf("allow_redelegation is shown: %v", tr)
		}
		if self, _ := tr["links"].(map[string]any)["self"].(string); !strings.HasSuffix(self, "/v3/OS-TRUST/trusts/"+id) {
			t.Errorf("links.self %q", self)
		}
		roles, hasRoles := tr["roles"].([]any)
		if hasRoles != withRoles {
			t.Fatalf("roles present %v, want %v: %v", hasRoles, withRoles, tr)
		}
		if withRoles {
			if len(roles) != 1 || roles[0].(map[string]any)["name"] != f.delegatedName || roles[0].(map[string]any)["id"] != f.delegatedID {
				t.Errorf("roles: %v", roles)
			}
			if _, ok := tr["roles_links"].(map[string]any); !ok {
				t.Errorf("roles_links missing: %v", tr)
			}
		}
	}
	check(t, tr, true)
	check(t, f.call(t, f.trustorToken, "GET", "/v3/OS-TRUST/trusts/"+id, nil, http.StatusOK)["trust"].(map[string]any), true)
	// The trustee reads it too; an unrelated user may not.
	demo := f.tc.demoToken
	f.call(t, demo, "GET", "/v3/OS-TRUST/trusts/"+id, nil, http.StatusOK)
	alt := f.tc.passwordToken(t, "alt_demo", testDemoPassword, "alt_demo")
	f.call(t, alt, "GET", "/v3/OS-TRUST/trusts/"+id, nil, http.StatusForbidden)

	for _, tt := range []struct {
		name, token, query string
		want, n            int
	}{
		{"by trustor", f.trustorToken, "?trustor_user_id=" + f.trustorID, http.StatusOK, 1},
		{"by trustee as trustee", demo, "?trustee_user_id=" + f.trusteeID, http.StatusOK, 1},
		{"all as admin", f.tc.adminToken, "", http.StatusOK, 1},
		{"all as member", demo, "", http.StatusForbidden, 0},
		{"someone else's as member", alt, "?trustor_user_id=" + f.trustorID, http.StatusForbidden, 0},
		{"unknown filter lists nothing", f.tc.adminToken, "?foo=bar", http.StatusOK, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := f.call(t, tt.token, "GET", "/v3/OS-TRUST/trusts"+tt.query, nil, tt.want)
			if tt.want != http.StatusOK {
				return
			}
			items := out["trusts"].([]any)
			if len(items) != tt.n {
				t.Fatalf("%d trusts, want %d: %v", len(items), tt.n, out)
			}
			if tt.n > 0 {
				check(t, items[0].(map[string]any), false)
			}
		})
	}

	roles := f.call(t, f.trustorToken, "GET", "/v3/OS-TRUST/trusts/"+id+"/roles", nil, http.StatusOK)
	if rs := roles["roles"].([]any); len(rs) != 1 || rs[0].(map[string]any)["id"] != f.delegatedID {
		t.Errorf("trust roles: %v", roles)
	}
	role := f.call(t, f.trustorToken, "GET", "/v3/OS-TRUST/trusts/"+id+"/roles/"+f.delegatedID, nil, http.StatusOK)
	if role["role"].(map[string]any)["name"] != f.delegatedName {
		t.Errorf("trust role: %v", role)
	}
	f.call(t, f.trustorToken, "HEAD", "/v3/OS-TRUST/trusts/"+id+"/roles/"+f.delegatedID, nil, http.StatusOK)
	f.call(t, f.trustorToken, "GET", "/v3/OS-TRUST/trusts/"+id+"/roles/"+f.keptID, nil, http.StatusNotFound)
	f.call(t, f.trustorToken, "HEAD", "/v3/OS-TRUST/trusts/"+id+"/roles/"+f.keptID, nil, http.StatusNotFound)

	// Only the trustor (or an admin) deletes.
	f.call(t, demo, "DELETE", "/v3/OS-TRUST/trusts/"+id, nil, http.StatusForbidden)
	f.call(t, f.trustorToken, "DELETE", "/v3/OS-TRUST/trusts/"+id, nil, http.StatusNoContent)
	f.call(t, f.trustorToken, "GET", "/v3/OS-TRUST/trusts/"+id, nil, http.StatusNotFound)
	f.call(t, f.trustorToken, "DELETE", "/v3/OS-TRUST/trusts/"+id, nil, http.StatusNotFound)
}

func TestTrustExpiresAt(t *testing.T) {
	f := newTrustFixture(t)
	exp := time.Now().UTC().Add(time.Hour).Truncate(time.Second)
	tr := f.createTrust(t, map[string]any{"expires_at": exp.Add(123456 * time.Microsecond).Format("2006-01-02T15:04:05.999999Z")})
	want := exp.Format("2006-01-02T15:04:05") + ".000000Z"
	if tr["expires_at"] != want {
		t.Errorf("expires_at %v, want %s", tr["expires_at"], want)
	}
	got := f.call(t, f.trustorToken, "GET", "/v3/OS-TRUST/trusts/"+tr["id"].(string), nil, http.StatusOK)["trust"].(map[string]any)
	if got["expires_at"] != want {
		t.Errorf("shown expires_at %v, want %s", got["expires_at"], want)
	}
	// An expired trust is not found, though it is still listed.
	raExec(t, f.tc.svc, `UPDATE trusts SET expires_at = ? WHERE id = ?`, store.FormatTime(time.Now().Add(-time.Minute)), tr["id"])
	f.call(t, f.trustorToken, "GET", "/v3/OS-TRUST/trusts/"+tr["id"].(string), nil, http.StatusNotFound)
	if n := len(f.call(t, f.trustorToken, "GET", "/v3/OS-TRUST/trusts?trustor_user_id="+f.trustorID, nil, http.StatusOK)["trusts"].([]any)); n != 1 {
		t.Errorf("listed %d trusts, want 1", n)
	}
	if st, _, _ := f.trustToken(t, tr["id"].(string)); st != http.StatusUnauthorized {
		t.Errorf("token from expired trust: status %d, want 401", st)
	}
}

func TestTrustCreateRules(t *testing.T) {
	f := newTrustFixture(t)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	for _, tt := range []struct {
		name  string
		token string
		over  map[string]any
		want  int
	}{
		{"caller is not the trustor", "admin", nil, http.StatusForbidden},
		{"project without roles", "", map[string]any{"roles": nil}, http.StatusForbidden},
		{"role the trustor lacks", "", map[string]any{"roles": []any{map[string]any{"name": "admin"}}}, http.StatusNotFound},
		{"unknown role name", "", map[string]any{"roles": []any{map[string]any{"name": "nope"}}}, http.StatusNotFound},
		{"unknown role id", "", map[string]any{"roles": []any{map[string]any{"id": "0123abcd"}}}, http.StatusNotFound},
		{"role with id and name", "", map[string]any{"roles": []any{map[string]any{"id": "x", "name": "y"}}}, http.StatusBadRequest},
		{"unknown trustee", "", map[string]any{"trustee_user_id": "nobody"}, http.StatusNotFound},
		{"unknown project", "", map[string]any{"project_id": "nowhere"}, http.StatusNotFound},
		{"bad expiry", "", map[string]any{"expires_at": "bad.123Z"}, http.StatusBadRequest},
		{"past expiry", "", map[string]any{"expires_at": past}, http.StatusBadRequest},
		{"impersonation missing", "", map[string]any{"impersonation": nil}, http.StatusBadRequest},
		{"impersonation not a boolean", "", map[string]any{"impersonation": "yes"}, http.StatusBadRequest},
		{"remaining_uses zero", "", map[string]any{"remaining_uses": 0}, http.StatusBadRequest},
		{"redelegation beyond the maximum", "", map[string]any{"allow_redelegation": true, "redelegation_count": 4}, http.StatusForbidden},
		{"redelegatable with a use limit", "", map[string]any{"allow_redelegation": true, "remaining_uses": 2}, http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok := f.trustorToken
			if tt.token == "admin" {
				tok = f.tc.adminToken
			}
			f.call(t, tok, "POST", "/v3/OS-TRUST/trusts", f.trustBody(tt.over), tt.want)
		})
	}
	// A trust without a project delegates nothing.
	tr := f.createTrust(t, map[string]any{"project_id": nil, "roles": nil})
	if tr["project_id"] != nil || len(tr["roles"].([]any)) != 0 {
		t.Errorf("unscoped trust: %v", tr)
	}
	// Redelegatable trusts get the maximum count; extras are kept.
	tr = f.createTrust(t, map[string]any{"allow_redelegation": true, "impersonation": false, "note": "kept"})
	if tr["redelegation_count"] != float64(maxRedelegationCount) || tr["note"] != "kept" {
		t.Errorf("redelegatable trust: %v", tr)
	}
	// The same trust twice with the same expiry is a conflict, as in Keystone.
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	f.createTrust(t, map[string]any{"expires_at": exp})
	f.call(t, f.trustorToken, "POST", "/v3/OS-TRUST/trusts", f.trustBody(map[string]any{"expires_at": exp}), http.StatusConflict)
}

func TestTrustScopedToken(t *testing.T) {
	for _, impersonate := range []bool{true, false} {
		t.Run(map[bool]string{true: "impersonation", false: "no impersonation"}[impersonate], func(t *testing.T) {
			f := newTrustFixture(t)
			implied := raRole(t, f.tc, "implied-by-delegated", "")
			f.call(t, f.tc.adminToken, "PUT", "/v3/roles/"+f.delegatedID+"/implies/"+implied, nil, http.StatusCreated)
			tr := f.createTrust(t, map[string]any{"impersonation": impersonate})
			id := tr["id"].(string)
			st, tok, out := f.trustToken(t, id)
			if st != http.StatusCreated {
				t.Fatalf("trust token: status %d: %v", st, out)
			}
			body := out["token"].(map[string]any)
			ot, _ := body["OS-TRUST:trust"].(map[string]any)
			if ot["id"] != id || ot["impersonation"] != impersonate ||
				ot["trustor_user"].(map[string]any)["id"] != f.trustorID || ot["trustee_user"].(map[string]any)["id"] != f.trusteeID {
				t.Errorf("OS-TRUST:trust: %v", ot)
			}
			wantUser := f.trusteeID
			if impersonate {
				wantUser = f.trustorID
			}
			if u := body["user"].(map[string]any)["id"]; u != wantUser {
				t.Errorf("token user %v, want %s", u, wantUser)
			}
			if p := body["project"].(map[string]any)["id"]; p != f.projectID {
				t.Errorf("project %v", p)
			}
			if _, ok := body["is_domain"]; ok {
				t.Errorf("trust token has is_domain")
			}
			names := roleNames(body["roles"])
			slices.Sort(names)
			if !slices.Equal(names, []string{f.delegatedName, "implied-by-delegated"}) {
				t.Errorf("roles %v", names)
			}
			if st := f.validateStatus(t, tok); st != http.StatusOK {
				t.Errorf("validate: %d", st)
			}
			// The token acts for the trust's user with the trust's roles.
			listed := "?trustee_user_id=" + f.trusteeID
			if impersonate {
				listed = "?trustor_user_id=" + f.trustorID
			}
			f.call(t, tok, "GET", "/v3/OS-TRUST/trusts"+listed, nil, http.StatusOK)
			f.call(t, tok, "GET", "/v3/OS-TRUST/trusts/"+id+"/roles", nil, http.StatusOK)

			// A trust token cannot make another token.
			resp, _ := doJSON(t, f.tc.handler, "POST", "/v3/auth/tokens", "", map[string]any{"auth": map[string]any{
				"identity": map[string]any{"methods": []string{"token"}, "token": map[string]any{"id": tok}},
				"scope":    map[string]any{"OS-TRUST:trust": map[string]any{"id": id}}}})
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("rescope a trust token: status %d, want 403", resp.StatusCode)
			}

			// Deleting the trust revokes its tokens.
			f.call(t, f.trustorToken, "DELETE", "/v3/OS-TRUST/trusts/"+id, nil, http.StatusNoContent)
			if st := f.validateStatus(t, tok); st != http.StatusNotFound {
				t.Errorf("validate after delete: %d, want 404", st)
			}
			f.call(t, tok, "GET", "/v3/auth/projects", nil, http.StatusUnauthorized)
			if st, _, _ := f.trustToken(t, id); st != http.StatusUnauthorized {
				t.Errorf("token from deleted trust: status %d, want 401", st)
			}
		})
	}
}

func TestTrustTokenAuthRules(t *testing.T) {
	f := newTrustFixture(t)
	id := f.createTrust(t, map[string]any{"impersonation": false})["id"].(string)

	// The trustee may also come with a token.
	unscopedBody := map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"password"},
		"password": map[string]any{"user": map[string]any{"id": f.trusteeID, "password": testDemoPassword}}}, "scope": "unscoped"}}
	resp, _ := doJSON(t, f.tc.handler, "POST", "/v3/auth/tokens", "", unscopedBody)
	unscoped := resp.Header.Get("X-Subject-Token")
	resp, out := doJSON(t, f.tc.handler, "POST", "/v3/auth/tokens", "", map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"token"}, "token": map[string]any{"id": unscoped}},
		"scope":    map[string]any{"OS-TRUST:trust": map[string]any{"id": id}}}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("token method with trust scope: %d: %v", resp.StatusCode, out)
	}

	for _, tt := range []struct {
		name string
		body map[string]any
		want int
	}{
		{"not the trustee", trustAuth("alt_demo", testDemoPassword, id), http.StatusForbidden},
		{"unknown trust", trustAuth("demo", testDemoPassword, "0123456789abcdef0123456789abcdef"), http.StatusUnauthorized},
		{"trust scope not an object", authBody("demo", testDemoPassword, map[string]any{"OS-TRUST:trust": ""}), http.StatusBadRequest},
		{"trust scope without id", authBody("demo", testDemoPassword, map[string]any{"OS-TRUST:trust": map[string]any{}}), http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, out := doJSON(t, f.tc.handler, "POST", "/v3/auth/tokens", "", tt.body)
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d: %v", resp.StatusCode, tt.want, out)
			}
		})
	}

	// A token that cannot be issued does not use up the trust.
	limited := f.createTrust(t, map[string]any{"remaining_uses": 3, "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	doJSON(t, f.tc.handler, "POST", "/v3/auth/tokens", "", trustAuth("alt_demo", testDemoPassword, limited["id"].(string)))
	got := f.call(t, f.trustorToken, "GET", "/v3/OS-TRUST/trusts/"+limited["id"].(string), nil, http.StatusOK)["trust"].(map[string]any)
	if got["remaining_uses"] != float64(3) {
		t.Errorf("remaining_uses %v after a failed authentication, want 3", got["remaining_uses"])
	}
}

func TestTrustRemainingUses(t *testing.T) {
	f := newTrustFixture(t)
	id := f.createTrust(t, map[string]any{"remaining_uses": 2})["id"].(string)
	st, first, _ := f.trustToken(t, id)
	if st != http.StatusCreated {
		t.Fatalf("first use: %d", st)
	}
	got := f.call(t, f.trustorToken, "GET", "/v3/OS-TRUST/trusts/"+id, nil, http.StatusOK)["trust"].(map[string]any)
	if got["remaining_uses"] != float64(1) {
		t.Errorf("remaining_uses %v, want 1", got["remaining_uses"])
	}
	if st, _, _ := f.trustToken(t, id); st != http.StatusCreated {
		t.Fatalf("second use: %d", st)
	}
	// Used up: not found, no more tokens, but tokens already issued stay valid.
	f.call(t, f.trustorToken, "GET", "/v3/OS-TRUST/trusts/"+id, nil, http.StatusNotFound)
	if st, _, _ := f.trustToken(t, id); st != http.StatusUnauthorized {
		t.Errorf("third use: %d, want 401", st)
	}
	if st := f.validateStatus(t, first); st != http.StatusOK {
		t.Errorf("validate first token: %d", st)
	}
}

func TestTrustTokensFollowTheParties(t *testing.T) {
	for _, tt := range []struct {
		name string
		// change breaks the trust; wantAuth is the status of a new trust token afterwards.
		change   func(t *testing.T, f *trustFixture)
		wantAuth int
	}{
		{"trustor loses the role", func(t *testing.T, f *trustFixture) {
			f.call(t, f.tc.adminToken, "DELETE", "/v3/projects/"+f.projectID+"/users/"+f.trustorID+"/roles/"+f.delegatedID, nil, http.StatusNoContent)
		}, http.StatusForbidden},
		{"trustor disabled", func(t *testing.T, f *trustFixture) {
			f.call(t, f.tc.adminToken, "PATCH", "/v3/users/"+f.trustorID, map[string]any{"user": map[string]any{"enabled": false}}, http.StatusOK)
		}, http.StatusForbidden},
		{"trustee's password changed", func(t *testing.T, f *trustFixture) {
			f.call(t, f.tc.adminToken, "PATCH", "/v3/users/"+f.trusteeID, map[string]any{"user": map[string]any{"password": testDemoPassword}}, http.StatusOK)
		}, http.StatusCreated},
		{"trustor deleted", func(t *testing.T, f *trustFixture) {
			f.call(t, f.tc.adminToken, "DELETE", "/v3/users/"+f.trustorID, nil, http.StatusNoContent)
		}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newTrustFixture(t)
			id := f.createTrust(t, nil)["id"].(string)
			st, tok, _ := f.trustToken(t, id)
			if st != http.StatusCreated {
				t.Fatalf("trust token: %d", st)
			}
			tt.change(t, f)
			if st := f.validateStatus(t, tok); st != http.StatusNotFound {
				t.Errorf("validate: %d, want 404", st)
			}
			if tt.wantAuth != 0 {
				if st, _, _ := f.trustToken(t, id); st != tt.wantAuth {
					t.Errorf("new trust token: %d, want %d", st, tt.wantAuth)
				}
			}
		})
	}
}

func TestTrustRedelegation(t *testing.T) {
	f := newTrustFixture(t)
	third := userFixture(t, f.tc, map[string]any{"name": "third", "password": "third-secret"})["id"].(string)
	parent := f.createTrust(t, map[string]any{"allow_redelegation": true})
	if parent["redelegation_count"] != float64(maxRedelegationCount) {
		t.Fatalf("parent: %v", parent)
	}
	pid := parent["id"].(string)
	_, tok, _ := f.trustToken(t, pid)
	chained := func(over map[string]any) map[string]any {
		b := f.trustBody(over)
		b["trust"].(map[string]any)["trustee_user_id"] = third
		return b
	}
	// The trust token (impersonating the trustor) redelegates within the parent's limits.
	f.call(t, tok, "POST", "/v3/OS-TRUST/trusts", chained(map[string]any{"allow_redelegation": true, "remaining_uses": 2}), http.StatusBadRequest)
	f.call(t, tok, "POST", "/v3/OS-TRUST/trusts", chained(map[string]any{"roles": []any{map[string]any{"id": f.keptID}}}), http.StatusForbidden)
	f.call(t, tok, "POST", "/v3/OS-TRUST/trusts", chained(map[string]any{"allow_redelegation": true, "redelegation_count": 1}), http.StatusForbidden)
	child := f.call(t, tok, "POST", "/v3/OS-TRUST/trusts", chained(map[string]any{"allow_redelegation": true}), http.StatusCreated)["trust"].(map[string]any)
	if child["redelegated_trust_id"] != pid || child["redelegation_count"] != float64(maxRedelegationCount-1) {
		t.Fatalf("child: %v", child)
	}
	cid := child["id"].(string)
	resp, out := doJSON(t, f.tc.handler, "POST", "/v3/auth/tokens", "", trustAuth("third", "third-secret", cid))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("token from the redelegated trust: %d: %v", resp.StatusCode, out)
	}
	childTok := resp.Header.Get("X-Subject-Token")
	if names := roleNames(out["token"].(map[string]any)["roles"]); !slices.Equal(names, []string{f.delegatedName}) {
		t.Errorf("redelegated roles %v", names)
	}

	// A trust that does not allow redelegation cannot be redelegated.
	plain := f.createTrust(t, map[string]any{"impersonation": false, "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	_, plainTok, _ := f.trustToken(t, plain["id"].(string))
	body := chained(nil)
	body["trust"].(map[string]any)["trustor_user_id"] = f.trusteeID
	body["trust"].(map[string]any)["impersonation"] = false
	f.call(t, plainTok, "POST", "/v3/OS-TRUST/trusts", body, http.StatusNotFound)

	// Deleting the parent deletes the chain and revokes its tokens.
	f.call(t, f.trustorToken, "DELETE", "/v3/OS-TRUST/trusts/"+pid, nil, http.StatusNoContent)
	f.call(t, f.tc.adminToken, "GET", "/v3/OS-TRUST/trusts/"+cid, nil, http.StatusNotFound)
	if st := f.validateStatus(t, childTok); st != http.StatusNotFound {
		t.Errorf("redelegated token after delete: %d, want 404", st)
	}
}

func TestTrustsRefuseApplicationCredentials(t *testing.T) {
	f := newTrustFixture(t)
	id := f.createTrust(t, nil)["id"].(string)
	ac := createAppCredOK(t, f.tc, f.trustorToken, f.trustorID, map[string]any{"name": "ac", "unrestricted": true})
	st, tok, out := appCredToken(t, f.tc, map[string]any{"id": ac["id"], "secret": ac["secret"]})
	if st != http.StatusCreated {
		t.Fatalf("app cred token: %d: %v", st, out)
	}
	f.call(t, tok, "GET", "/v3/OS-TRUST/trusts/"+id, nil, http.StatusForbidden)
	f.call(t, tok, "GET", "/v3/OS-TRUST/trusts?trustor_user_id="+f.trustorID, nil, http.StatusForbidden)
	f.call(t, tok, "POST", "/v3/OS-TRUST/trusts", f.trustBody(map[string]any{"impersonation": false}), http.StatusForbidden)
	f.call(t, tok, "DELETE", "/v3/OS-TRUST/trusts/"+id, nil, http.StatusForbidden)
}

func TestRevocationEventMatchesTrust(t *testing.T) {
	issued := time.Now().Add(-time.Minute)
	tok := &tokenInfo{UserID: "trustor", TrustorID: "trustor", TrusteeID: "trustee", TrustID: "t1", IssuedAtPrecise: issued}
	plain := &tokenInfo{UserID: "trustee", IssuedAtPrecise: issued}
	for _, tt := range []struct {
		name       string
		ev         revocationEvent
		tok, plain bool
	}{
		{"trust id", revocationEvent{TrustID: "t1"}, true, false},
		{"other trust", revocationEvent{TrustID: "t2"}, false, false},
		{"trustee", revocationEvent{UserID: "trustee"}, true, true},
		{"trustor", revocationEvent{UserID: "trustor"}, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.ev.IssuedBefore = time.Now()
			if got := tt.ev.matches(tok); got != tt.tok {
				t.Errorf("trust token: %v, want %v", got, tt.tok)
			}
			if got := tt.ev.matches(plain); got != tt.plain {
				t.Errorf("plain token: %v, want %v", got, tt.plain)
			}
		})
	}
}
