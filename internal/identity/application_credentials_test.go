package identity

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// lookupID returns the id of the row of table whose name column is name.
func lookupID(t testing.TB, s *Service, table, name string) string {
	t.Helper()
	var id string
	if err := s.db.QueryRowContext(context.Background(), `SELECT id FROM `+table+` WHERE name = ?`, name).Scan(&id); err != nil {
		t.Fatalf("lookup %s %q: %v", table, name, err)
	}
	return id
}

// appCredsPath is the collection path of a user's application credentials.
func appCredsPath(userID string) string { return "/v3/users/" + userID + "/application_credentials" }

// createAppCredOK creates an application credential and fails the test unless it gets 201.
func createAppCredOK(t testing.TB, tc *testCloud, token, userID string, body map[string]any) map[string]any {
	t.Helper()
	resp, out := doJSON(t, tc.handler, "POST", appCredsPath(userID), token, map[string]any{"application_credential": body})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create application credential: status %d: %v", resp.StatusCode, out)
	}
	return out["application_credential"].(map[string]any)
}

// appCredToken issues a token with an application credential and returns it with the
// response body; the token is "" when the request fails.
func appCredToken(t testing.TB, tc *testCloud, ac map[string]any) (int, string, map[string]any) {
	t.Helper()
	body := map[string]any{"auth": map[string]any{"identity": map[string]any{
		"methods": []string{"application_credential"}, "application_credential": ac}}}
	resp, out := doJSON(t, tc.handler, "POST", "/v3/auth/tokens", "", body)
	return resp.StatusCode, resp.Header.Get("X-Subject-Token"), out
}

// roleNames returns the names of a rendered role list.
func roleNames(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, r := range list {
		out = append(out, r.(map[string]any)["name"].(string))
	}
	slices.Sort(out)
	return out
}

func TestAppCredCreateShowListDelete(t *testing.T) {
	tc := newTestCloud(t)
	demo := lookupID(t, tc.svc, "users", "demo")
	demoProject := lookupID(t, tc.svc, "projects", "demo")

	ac := createAppCredOK(t, tc, tc.demoToken, demo, map[string]any{"name": "monitoring", "description": "for monitoring"})
	secret, _ := ac["secret"].(string)
	if len(secret) != 86 || strings.ContainsAny(secret, "+/=") {
		t.Errorf("generated secret %q: want 86 url-safe base64 characters without padding", secret)
	}
	if ac["project_id"] != demoProject || ac["user_id"] != demo || ac["name"] != "monitoring" ||
		ac["description"] != "for monitoring" || ac["unrestricted"] != false || ac["expires_at"] != nil {
		t.Errorf("create response = %v", ac)
	}
	if names := roleNames(ac["roles"]); !slices.Contains(names, "member") {
		t.Errorf("roles = %v, want the token's roles (member)", names)
	}
	if _, ok := ac["access_rules"]; ok {
		t.Errorf("access_rules present on a credential without rules: %v", ac)
	}
	id := ac["id"].(string)
	self := ac["links"].(map[string]any)["self"].(string)
	if !strings.HasSuffix(self, "/v3/users/"+demo+"/application_credentials/"+id) {
		t.Errorf("self link = %q", self)
	}
	var stored string
	if err := tc.svc.db.QueryRowContext(t.Context(), `SELECT secret_hash FROM application_credentials WHERE id = ?`, id).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored == secret || strings.Contains(stored, secret) || !strings.HasPrefix(stored, "$2") {
		t.Errorf("secret stored as %q, want a bcrypt hash", stored)
	}

	resp, out := doJSON(t, tc.handler, "GET", appCredsPath(demo)+"/"+id, tc.demoToken, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("show: %d %v", resp.StatusCode, out)
	}
	got := out["application_credential"].(map[string]any)
	if _, ok := got["secret"]; ok {
		t.Errorf("secret returned by GET: %v", got)
	}
	if got["id"] != id || got["name"] != "monitoring" {
		t.Errorf("show = %v", got)
	}

	createAppCredOK(t, tc, tc.demoToken, demo, map[string]any{"name": "backups", "secret": "my-own-secret"})
	resp, out = doJSON(t, tc.handler, "GET", appCredsPath(demo), tc.demoToken, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list: %d %v", resp.StatusCode, out)
	}
	if list := out["application_credentials"].([]any); len(list) != 2 {
		t.Errorf("list has %d credentials, want 2", len(list))
	} else {
		for _, e := range list {
			if _, ok := e.(map[string]any)["secret"]; ok {
				t.Errorf("secret in list: %v", e)
			}
		}
	}
	if _, ok := out["links"].(map[string]any)["self"]; !ok {
		t.Errorf("list links = %v", out["links"])
	}
	_, out = doJSON(t, tc.handler, "GET", appCredsPath(demo)+"?name=backups", tc.demoToken, nil)
	if list := out["application_credentials"].([]any); len(list) != 1 || list[0].(map[string]any)["name"] != "backups" {
		t.Errorf("name filter: %v", list)
	}

	resp, _ = doJSON(t, tc.handler, "DELETE", appCredsPath(demo)+"/"+id, tc.demoToken, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	resp, out = doJSON(t, tc.handler, "GET", appCredsPath(demo)+"/"+id, tc.demoToken, nil)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(out["error"].(map[string]any)["message"].(string), "Could not find Application Credential: "+id) {
		t.Errorf("show after delete: %d %v", resp.StatusCode, out)
	}
	resp, _ = doJSON(t, tc.handler, "DELETE", appCredsPath(demo)+"/"+id, tc.demoToken, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("second delete: %d, want 404", resp.StatusCode)
	}
}

func TestAppCredCreateValidation(t *testing.T) {
	tc := newTestCloud(t)
	demo := lookupID(t, tc.svc, "users", "demo")
	createAppCredOK(t, tc, tc.demoToken, demo, map[string]any{"name": "dup"})

	future := time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000000")
	tests := []struct {
		name string
		body map[string]any
		want int
	}{
		{"duplicate name", map[string]any{"name": "dup"}, http.StatusConflict},
		{"missing name", map[string]any{"description": "x"}, http.StatusBadRequest},
		{"name too long", map[string]any{"name": strings.Repeat("n", 256)}, http.StatusBadRequest},
		{"unknown attribute", map[string]any{"name": "x1", "color": "red"}, http.StatusBadRequest},
		{"expired", map[string]any{"name": "x2", "expires_at": "2001-01-01T00:00:00Z"}, http.StatusBadRequest},
		{"bad timestamp", map[string]any{"name": "x3", "expires_at": "tomorrow"}, http.StatusBadRequest},
		{"role not held", map[string]any{"name": "x4", "roles": []any{map[string]any{"name": "admin"}}}, http.StatusBadRequest},
		{"unknown role id", map[string]any{"name": "x5", "roles": []any{map[string]any{"id": "nosuchrole"}}}, http.StatusBadRequest},
		{"unknown role name", map[string]any{"name": "x6", "roles": []any{map[string]any{"name": "nosuchrole"}}}, http.StatusNotFound},
		{"role with two keys", map[string]any{"name": "x7", "roles": []any{map[string]any{"name": "member", "id": "x"}}}, http.StatusBadRequest},
		{"bad access rule method", map[string]any{"name": "x8", "access_rules": []any{map[string]any{"service": "compute", "path": "/v2.1/servers", "method": "FETCH"}}}, http.StatusBadRequest},
		{"access rule path", map[string]any{"name": "x9", "access_rules": []any{map[string]any{"service": "compute", "path": "servers", "method": "GET"}}}, http.StatusBadRequest},
		{"unrestricted not boolean", map[string]any{"name": "x10", "unrestricted": "yes"}, http.StatusBadRequest},
		{"future expiry", map[string]any{"name": "ok1", "expires_at": future}, http.StatusCreated},
		{"held role by name", map[string]any{"name": "ok2", "roles": []any{map[string]any{"name": "member"}}}, http.StatusCreated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, out := doJSON(t, tc.handler, "POST", appCredsPath(demo), tc.demoToken, map[string]any{"application_credential": tt.body})
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tt.want, out)
			}
			if tt.name == "future expiry" {
				if got := out["application_credential"].(map[string]any)["expires_at"]; got != future {
					t.Errorf("expires_at = %v, want %s", got, future)
				}
			}
		})
	}
}

func TestAppCredPolicyAndOwnership(t *testing.T) {
	tc := newTestCloud(t)
	demo := lookupID(t, tc.svc, "users", "demo")
	admin := lookupID(t, tc.svc, "users", "admin")
	adminCred := createAppCredOK(t, tc, tc.adminToken, admin, map[string]any{"name": "admin-cred"})
	adminCredID := adminCred["id"].(string)

	// Creating for someone else: the owner rule refuses a non-admin, and even an admin
	// cannot create a credential for another user.
	if resp, _ := doJSON(t, tc.handler, "POST", appCredsPath(admin), tc.demoToken, map[string]any{"application_credential": map[string]any{"name": "x"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("demo creating for admin: %d, want 403", resp.StatusCode)
	}
	if resp, _ := doJSON(t, tc.handler, "POST", appCredsPath(demo), tc.adminToken, map[string]any{"application_credential": map[string]any{"name": "x"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("admin creating for demo: %d, want 403", resp.StatusCode)
	}
	// Someone else's credential, even with one's own id in the path.
	for _, path := range []string{appCredsPath(admin) + "/" + adminCredID, appCredsPath(demo) + "/" + adminCredID} {
		if resp, _ := doJSON(t, tc.handler, "GET", path, tc.demoToken, nil); resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusNotFound {
			t.Errorf("demo GET %s: %d, want 403 or 404", path, resp.StatusCode)
		}
		if resp, _ := doJSON(t, tc.handler, "DELETE", path, tc.demoToken, nil); resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusNotFound {
			t.Errorf("demo DELETE %s: %d, want 403 or 404", path, resp.StatusCode)
		}
	}
	if resp, _ := doJSON(t, tc.handler, "GET", appCredsPath(admin), tc.demoToken, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("demo listing admin's credentials: %d, want 403", resp.StatusCode)
	}
	// An admin may read and delete other users' credentials.
	demoCred := createAppCredOK(t, tc, tc.demoToken, demo, map[string]any{"name": "demo-cred"})
	if resp, _ := doJSON(t, tc.handler, "GET", appCredsPath(demo), tc.adminToken, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("admin listing demo's credentials: %d", resp.StatusCode)
	}
	if resp, _ := doJSON(t, tc.handler, "DELETE", appCredsPath(demo)+"/"+demoCred["id"].(string), tc.adminToken, nil); resp.StatusCode != http.StatusNoContent {
		t.Errorf("admin deleting demo's credential: %d", resp.StatusCode)
	}
	if _, err := tc.svc.getAppCred(t.Context(), tc.svc.db, adminCredID); err != nil {
		t.Errorf("admin's credential was deleted by demo: %v", err)
	}
}

func TestAuthenticateAppCred(t *testing.T) {
	tc := newTestCloud(t)
	s := tc.svc
	ctx := t.Context()
	demo := lookupID(t, s, "users", "demo")
	demoProject := lookupID(t, s, "projects", "demo")
	ac := createAppCredOK(t, tc, tc.demoToken, demo, map[string]any{"name": "ci", "secret": "s3cret"})
	id := ac["id"].(string)

	check := func(t *testing.T, got *appCredAuth) {
		t.Helper()
		if got.AppCredID != id || got.UserID != demo || got.ProjectID != demoProject || got.Name != "ci" || got.Unrestricted {
			t.Errorf("auth = %+v", got)
		}
		var names []string
		for _, r := range got.Roles {
			names = append(names, r.Name)
		}
		if !slices.Contains(names, "member") {
			t.Errorf("roles = %v, want member", names)
		}
	}
	ok := []struct {
		name string
		obj  api.Object
	}{
		{"id", api.Object{"id": id, "secret": "s3cret"}},
		{"id ignores user", api.Object{"id": id, "secret": "s3cret", "user": map[string]any{"id": "someone-else"}}},
		{"name and user id", api.Object{"name": "ci", "secret": "s3cret", "user": map[string]any{"id": demo}}},
		{"name and user name", api.Object{"name": "ci", "secret": "s3cret", "user": map[string]any{"name": "demo", "domain": map[string]any{"id": "default"}}}},
		{"name and user name, domain name", api.Object{"name": "ci", "secret": "s3cret", "user": map[string]any{"name": "demo", "domain": map[string]any{"name": "Default"}}}},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.authenticateAppCred(ctx, s.db, tt.obj)
			if err != nil {
				t.Fatal(err)
			}
			check(t, got)
		})
	}

	bad := []struct {
		name string
		obj  api.Object
		want int
	}{
		{"wrong secret", api.Object{"id": id, "secret": "nope"}, http.StatusUnauthorized},
		{"no secret", api.Object{"id": id}, http.StatusUnauthorized},
		{"unknown id", api.Object{"id": "0123456789abcdef", "secret": "s3cret"}, http.StatusUnauthorized},
		{"unknown name", api.Object{"name": "other", "secret": "s3cret", "user": map[string]any{"id": demo}}, http.StatusUnauthorized},
		{"name of another user", api.Object{"name": "ci", "secret": "s3cret", "user": map[string]any{"name": "admin", "domain": map[string]any{"id": "default"}}}, http.StatusUnauthorized},
		{"unknown user", api.Object{"name": "ci", "secret": "s3cret", "user": map[string]any{"name": "ghost", "domain": map[string]any{"id": "default"}}}, http.StatusUnauthorized},
		{"unknown domain", api.Object{"name": "ci", "secret": "s3cret", "user": map[string]any{"name": "demo", "domain": map[string]any{"id": "nowhere"}}}, http.StatusUnauthorized},
		{"name without user", api.Object{"name": "ci", "secret": "s3cret"}, http.StatusBadRequest},
		{"user name without domain", api.Object{"name": "ci", "secret": "s3cret", "user": map[string]any{"name": "demo"}}, http.StatusBadRequest},
		{"neither id nor name", api.Object{"secret": "s3cret"}, http.StatusBadRequest},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.authenticateAppCred(ctx, s.db, tt.obj)
			if err == nil {
				t.Fatal("authenticated")
			}
			if e := api.AsError(err); e.Status != tt.want {
				t.Errorf("status %d (%s), want %d", e.Status, e.Message, tt.want)
			} else if tt.want == http.StatusUnauthorized && e.Message != api.ErrAuthRequired {
				t.Errorf("401 message %q says too much", e.Message)
			}
		})
	}

	t.Run("expired", func(t *testing.T) {
		if _, err := s.db.ExecContext(ctx, `UPDATE application_credentials SET expires_at = ? WHERE id = ?`,
			store.FormatTime(time.Now().Add(-time.Minute)), id); err != nil {
			t.Fatal(err)
		}
		defer s.db.ExecContext(ctx, `UPDATE application_credentials SET expires_at = '' WHERE id = ?`, id)
		_, err := s.authenticateAppCred(ctx, s.db, api.Object{"id": id, "secret": "s3cret"})
		if err == nil || api.AsError(err).Status != http.StatusUnauthorized {
			t.Errorf("expired credential: %v, want 401", err)
		}
		if _, err := s.appCredTokenRoles(ctx, s.db, id, demo, demoProject); err == nil {
			t.Error("appCredTokenRoles accepted an expired credential")
		}
	})

	t.Run("disabled user", func(t *testing.T) {
		if _, err := s.db.ExecContext(ctx, `UPDATE users SET enabled = ? WHERE id = ?`, false, demo); err != nil {
			t.Fatal(err)
		}
		defer s.db.ExecContext(ctx, `UPDATE users SET enabled = ? WHERE id = ?`, true, demo)
		_, err := s.authenticateAppCred(ctx, s.db, api.Object{"id": id, "secret": "s3cret"})
		if err == nil || api.AsError(err).Status != http.StatusUnauthorized {
			t.Errorf("disabled user: %v, want 401", err)
		}
	})
}

func TestAppCredTokenRoles(t *testing.T) {
	tc := newTestCloud(t)
	s := tc.svc
	ctx := t.Context()
	demo := lookupID(t, s, "users", "demo")
	demoProject := lookupID(t, s, "projects", "demo")
	member := lookupID(t, s, "roles", "member")
	ac := createAppCredOK(t, tc, tc.demoToken, demo, map[string]any{"name": "ci"})
	id := ac["id"].(string)

	roles, err := s.appCredTokenRoles(ctx, s.db, id, demo, demoProject)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(roles, func(r role) bool { return r.ID == member }) {
		t.Errorf("roles = %v, want member", roles)
	}
	if _, err := s.appCredTokenRoles(ctx, s.db, id, demo, "another-project"); err == nil {
		t.Error("accepted a token for another project")
	}

	// A role the user no longer holds is no longer carried.
	if _, err := s.db.ExecContext(ctx, `DELETE FROM assignments WHERE actor_id = ? AND target_id = ? AND role_id = ?`, demo, demoProject, member); err != nil {
		t.Fatal(err)
	}
	roles, err = s.appCredTokenRoles(ctx, s.db, id, demo, demoProject)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(roles, func(r role) bool { return r.ID == member }) {
		t.Errorf("roles after revocation = %v, still member", roles)
	}

	if err := s.deleteAppCred(ctx, demo, id); err != nil {
		t.Fatal(err)
	}
	_, err = s.appCredTokenRoles(ctx, s.db, id, demo, demoProject)
	if err == nil || api.AsError(err).Status != http.StatusNotFound {
		t.Errorf("deleted credential: %v, want 404", err)
	}
}

func TestAppCredTokens(t *testing.T) {
	tc := newTestCloud(t)
	demo := lookupID(t, tc.svc, "users", "demo")
	demoProject := lookupID(t, tc.svc, "projects", "demo")
	restricted := createAppCredOK(t, tc, tc.demoToken, demo, map[string]any{"name": "restricted"})
	unrestricted := createAppCredOK(t, tc, tc.demoToken, demo, map[string]any{"name": "unrestricted", "unrestricted": true})

	status, rtok, out := appCredToken(t, tc, map[string]any{"id": restricted["id"], "secret": restricted["secret"]})
	if status != http.StatusCreated {
		t.Fatalf("token from application credential: %d %v", status, out)
	}
	tok := out["token"].(map[string]any)
	if tok["project"].(map[string]any)["id"] != demoProject {
		t.Errorf("token project = %v", tok["project"])
	}
	if status, _, _ := appCredToken(t, tc, map[string]any{"id": restricted["id"], "secret": "wrong"}); status != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d, want 401", status)
	}

	// A restricted credential's token may not manage application credentials.
	body := map[string]any{"application_credential": map[string]any{"name": "child"}}
	if resp, out := doJSON(t, tc.handler, "POST", appCredsPath(demo), rtok, body); resp.StatusCode != http.StatusForbidden {
		t.Errorf("create with restricted token: %d %v, want 403", resp.StatusCode, out)
	}
	if resp, _ := doJSON(t, tc.handler, "DELETE", appCredsPath(demo)+"/"+unrestricted["id"].(string), rtok, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("delete with restricted token: %d, want 403", resp.StatusCode)
	}
	if resp, _ := doJSON(t, tc.handler, "GET", appCredsPath(demo), rtok, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("list with restricted token: %d, want 200", resp.StatusCode)
	}
	_, utok, out := appCredToken(t, tc, map[string]any{"name": "unrestricted", "secret": unrestricted["secret"], "user": map[string]any{"id": demo}})
	if utok == "" {
		t.Fatalf("token from unrestricted credential: %v", out)
	}
	if resp, out := doJSON(t, tc.handler, "POST", appCredsPath(demo), utok, body); resp.StatusCode != http.StatusCreated {
		t.Errorf("create with unrestricted token: %d %v, want 201", resp.StatusCode, out)
	}

	// Deleting the credential ends its tokens.
	if resp, _ := doJSON(t, tc.handler, "DELETE", appCredsPath(demo)+"/"+restricted["id"].(string), tc.demoToken, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if resp, _ := doJSON(t, tc.handler, "GET", appCredsPath(demo), rtok, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("token of a deleted credential: %d, want 401", resp.StatusCode)
	}
}

func TestAccessRules(t *testing.T) {
	tc := newTestCloud(t)
	demo := lookupID(t, tc.svc, "users", "demo")
	admin := lookupID(t, tc.svc, "users", "admin")
	rule := map[string]any{"service": "compute", "path": "/v2.1/servers/*/ips", "method": "GET"}
	ac := createAppCredOK(t, tc, tc.demoToken, demo, map[string]any{"name": "ar1", "access_rules": []any{rule}})
	rules, _ := ac["access_rules"].([]any)
	if len(rules) != 1 {
		t.Fatalf("access_rules = %v", ac["access_rules"])
	}
	got := rules[0].(map[string]any)
	ruleID, _ := got["id"].(string)
	if ruleID == "" || got["service"] != "compute" || got["path"] != "/v2.1/servers/*/ips" || got["method"] != "GET" {
		t.Errorf("access rule = %v", got)
	}

	// The same triple is shared; a rule can also be named by id.
	ac2 := createAppCredOK(t, tc, tc.demoToken, demo, map[string]any{"name": "ar2", "access_rules": []any{rule}})
	if id := ac2["access_rules"].([]any)[0].(map[string]any)["id"]; id != ruleID {
		t.Errorf("second credential's rule id %v, want the shared %s", id, ruleID)
	}
	ac3 := createAppCredOK(t, tc, tc.demoToken, demo, map[string]any{"name": "ar3", "access_rules": []any{map[string]any{"id": ruleID}}})
	if id := ac3["access_rules"].([]any)[0].(map[string]any)["id"]; id != ruleID {
		t.Errorf("rule by id gave %v", id)
	}
	if resp, _ := doJSON(t, tc.handler, "POST", appCredsPath(demo), tc.demoToken, map[string]any{"application_credential": map[string]any{
		"name": "ar4", "access_rules": []any{map[string]any{"id": "nosuchrule"}}}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown rule id: %d, want 404", resp.StatusCode)
	}
	createAppCredOK(t, tc, tc.demoToken, demo, map[string]any{"name": "ar5", "access_rules": []any{
		map[string]any{"service": "image", "path": "/v2/images", "method": "GET"}}})

	base := "/v3/users/" + demo + "/access_rules"
	resp, out := doJSON(t, tc.handler, "GET", base, tc.demoToken, nil)
	if resp.StatusCode != http.StatusOK || len(out["access_rules"].([]any)) != 2 {
		t.Fatalf("list: %d %v", resp.StatusCode, out)
	}
	_, out = doJSON(t, tc.handler, "GET", base+"?service=image", tc.demoToken, nil)
	if list := out["access_rules"].([]any); len(list) != 1 || list[0].(map[string]any)["service"] != "image" {
		t.Errorf("service filter: %v", list)
	}
	resp, out = doJSON(t, tc.handler, "GET", base+"/"+ruleID, tc.demoToken, nil)
	if resp.StatusCode != http.StatusOK || out["access_rule"].(map[string]any)["id"] != ruleID {
		t.Errorf("show: %d %v", resp.StatusCode, out)
	}
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/users/"+admin+"/access_rules/"+ruleID, tc.adminToken, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("rule under another user's path: %d, want 404", resp.StatusCode)
	}
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/users/"+admin+"/access_rules", tc.demoToken, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("demo listing admin's rules: %d, want 403", resp.StatusCode)
	}

	// A rule in use cannot be deleted.
	resp, out = doJSON(t, tc.handler, "DELETE", base+"/"+ruleID, tc.demoToken, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("delete rule in use: %d %v, want 403", resp.StatusCode, out)
	}
	for _, c := range []map[string]any{ac, ac2, ac3} {
		if resp, _ := doJSON(t, tc.handler, "DELETE", appCredsPath(demo)+"/"+c["id"].(string), tc.demoToken, nil); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("delete credential: %d", resp.StatusCode)
		}
	}
	_, out = doJSON(t, tc.handler, "GET", base, tc.demoToken, nil)
	if !slices.ContainsFunc(out["access_rules"].([]any), func(v any) bool { return v.(map[string]any)["id"] == ruleID }) {
		t.Errorf("rule gone with its credentials: %v", out)
	}
	if resp, _ := doJSON(t, tc.handler, "DELETE", base+"/"+ruleID, tc.demoToken, nil); resp.StatusCode != http.StatusNoContent {
		t.Errorf("delete unused rule: %d, want 204", resp.StatusCode)
	}
	if resp, _ := doJSON(t, tc.handler, "GET", base+"/"+ruleID, tc.demoToken, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("show deleted rule: %d, want 404", resp.StatusCode)
	}
}

func TestAppCredSecretHash(t *testing.T) {
	long := generateAppCredSecret()
	h, err := hashAppCredSecret(long, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !checkAppCredSecret(long, h) {
		t.Error("secret does not match its hash")
	}
	// Every character counts, including those past bcrypt's 72 bytes.
	if checkAppCredSecret(long[:80]+"xxxxxx", h) {
		t.Error("a secret differing after byte 72 matched")
	}
	if checkAppCredSecret("", h) || checkAppCredSecret(long, "") {
		t.Error("empty secret or hash matched")
	}
	if a, b := generateAppCredSecret(), generateAppCredSecret(); a == b {
		t.Error("generated secrets repeat")
	}
}

func TestParseExpiresAt(t *testing.T) {
	future := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	for _, s := range []string{
		future.Format("2006-01-02T15:04:05Z"),
		future.Format("2006-01-02T15:04:05"),
		future.Format("2006-01-02T15:04:05.000000"),
		future.In(time.FixedZone("x", 3600)).Format("2006-01-02T15:04:05-07:00"),
	} {
		got, err := parseExpiresAt(s)
		if err != nil {
			t.Errorf("%s: %v", s, err)
		} else if !got.Equal(future) {
			t.Errorf("%s: got %v, want %v", s, got, future)
		}
	}
	for _, s := range []string{"2001-01-01T00:00:00Z", "soon", ""} {
		if _, err := parseExpiresAt(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
