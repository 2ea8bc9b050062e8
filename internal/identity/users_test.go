package identity

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// userFixture creates a user through the API as admin and returns its JSON.
func userFixture(t *testing.T, tc *testCloud, body map[string]any) map[string]any {
	t.Helper()
	resp, out := doJSON(t, tc.handler, "POST", "/v3/users", tc.adminToken, map[string]any{"user": body})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create user %v: status %d: %v", body, resp.StatusCode, out)
	}
	return out["user"].(map[string]any)
}

// authStatus tries an unscoped password authentication by user id and returns the status,
// the token (on success) and the error message (on failure).
func authStatus(t *testing.T, tc *testCloud, userID, password string) (int, string, string) {
	t.Helper()
	body := map[string]any{"auth": map[string]any{"identity": map[string]any{
		"methods":  []string{"password"},
		"password": map[string]any{"user": map[string]any{"id": userID, "password": password}},
	}}}
	resp, out := doJSON(t, tc.handler, "POST", "/v3/auth/tokens", "", body)
	return resp.StatusCode, resp.Header.Get("X-Subject-Token"), errorMessage(out)
}

// errorMessage returns a Keystone error body's message, or "".
func errorMessage(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// domainFixture creates a domain as admin and returns its id.
func domainFixture(t *testing.T, tc *testCloud, name string) string {
	t.Helper()
	resp, out := doJSON(t, tc.handler, "POST", "/v3/domains", tc.adminToken, map[string]any{"domain": map[string]any{"name": name}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create domain: status %d: %v", resp.StatusCode, out)
	}
	return out["domain"].(map[string]any)["id"].(string)
}

// listIDs returns the ids of a list response's items, keyed by name.
func listNames(out map[string]any, key string) map[string]bool {
	names := map[string]bool{}
	items, _ := out[key].([]any)
	for _, it := range items {
		names[it.(map[string]any)["name"].(string)] = true
	}
	return names
}

func TestUserCRUD(t *testing.T) {
	tc := newTestCloud(t)
	u := userFixture(t, tc, map[string]any{"name": " alice ", "password": "secret1", "email": "alice@example.test",
		"description": "first user", "x-custom": "kept"})
	id := u["id"].(string)
	if len(id) != 32 {
		t.Errorf("id %q is not a 32-hex uuid", id)
	}
	checks := map[string]any{"name": "alice", "domain_id": "default", "enabled": true, "email": "alice@example.test",
		"description": "first user", "x_custom": "kept", "password_expires_at": nil}
	for k, want := range checks {
		if got, ok := u[k]; !ok || got != want {
			t.Errorf("user[%q] = %v (present %v), want %v", k, got, ok, want)
		}
	}
	for _, k := range []string{"password", "default_project_id", "x-custom"} {
		if _, ok := u[k]; ok {
			t.Errorf("user has %q: %v", k, u)
		}
	}
	if opts, ok := u["options"].(map[string]any); !ok || len(opts) != 0 {
		t.Errorf("options = %v, want {}", u["options"])
	}
	if self := u["links"].(map[string]any)["self"]; self != "http://example.com/v3/users/"+id {
		t.Errorf("links.self = %v", self)
	}

	resp, out := doJSON(t, tc.handler, "GET", "/v3/users/"+id, tc.adminToken, nil)
	if resp.StatusCode != http.StatusOK || out["user"].(map[string]any)["email"] != "alice@example.test" {
		t.Fatalf("get: %d %v", resp.StatusCode, out)
	}

	resp, out = doJSON(t, tc.handler, "PATCH", "/v3/users/"+id, tc.adminToken, map[string]any{"user": map[string]any{
		"name": "alice2", "email": "new@example.test", "enabled": false, "default_project_id": "abc",
		"options": map[string]any{"ignore_password_expiry": true}}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("patch: %d %v", resp.StatusCode, out)
	}
	got := out["user"].(map[string]any)
	if got["name"] != "alice2" || got["email"] != "new@example.test" || got["enabled"] != false ||
		got["description"] != "first user" || got["default_project_id"] != "abc" ||
		got["options"].(map[string]any)["ignore_password_expiry"] != true {
		t.Errorf("patched user = %v", got)
	}

	// null removes an option and the default project.
	resp, out = doJSON(t, tc.handler, "PATCH", "/v3/users/"+id, tc.adminToken, map[string]any{"user": map[string]any{
		"default_project_id": nil, "options": map[string]any{"ignore_password_expiry": nil}}})
	got = out["user"].(map[string]any)
	if _, ok := got["default_project_id"]; ok || len(got["options"].(map[string]any)) != 0 || resp.StatusCode != http.StatusOK {
		t.Errorf("after nulls: %d %v", resp.StatusCode, got)
	}

	resp, _ = doJSON(t, tc.handler, "DELETE", "/v3/users/"+id, tc.adminToken, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	resp, out = doJSON(t, tc.handler, "GET", "/v3/users/"+id, tc.adminToken, nil)
	if resp.StatusCode != http.StatusNotFound || errorMessage(out) != "Could not find user: "+id+"." {
		t.Errorf("get deleted: %d %v", resp.StatusCode, out)
	}
	for _, m := range []string{"PATCH", "DELETE"} {
		var body any
		if m == "PATCH" {
			body = map[string]any{"user": map[string]any{"name": "x"}}
		}
		if resp, _ := doJSON(t, tc.handler, m, "/v3/users/"+id, tc.adminToken, body); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s deleted user: %d, want 404", m, resp.StatusCode)
		}
	}
}

func TestCreateUserValidation(t *testing.T) {
	tc := newTestCloud(t)
	userFixture(t, tc, map[string]any{"name": "taken"})
	tests := []struct {
		name string
		body map[string]any
		want int
	}{
		{"missing name", map[string]any{"email": "x"}, 400},
		{"name too long", map[string]any{"name": strings.Repeat("n", 256)}, 400},
		{"blank name", map[string]any{"name": "   "}, 400},
		{"name not a string", map[string]any{"name": 5}, 400},
		{"enabled not boolean", map[string]any{"name": "a", "enabled": 5}, 400},
		{"enabled bad string", map[string]any{"name": "a", "enabled": "maybe"}, 400},
		{"password not a string", map[string]any{"name": "a", "password": 5}, 400},
		{"default_project_id not a string", map[string]any{"name": "a", "default_project_id": 7}, 400},
		{"unknown option", map[string]any{"name": "a", "options": map[string]any{"bogus": true}}, 400},
		{"option not boolean", map[string]any{"name": "a", "options": map[string]any{"lock_password": "yes"}}, 400},
		{"mfa rules not lists", map[string]any{"name": "a", "options": map[string]any{"multi_factor_auth_rules": []any{"password"}}}, 400},
		{"mfa rules duplicate", map[string]any{"name": "a", "options": map[string]any{"multi_factor_auth_rules": []any{[]any{"password", "password"}}}}, 400},
		{"bad domain id", map[string]any{"name": "a", "domain_id": "no spaces allowed"}, 400},
		{"domain as default project", map[string]any{"name": "a", "default_project_id": "default"}, 400},
		{"federated", map[string]any{"name": "a", "federated": []any{map[string]any{"idp_id": "idp", "protocols": []any{map[string]any{"protocol_id": "saml2", "unique_id": "u"}}}}}, 400},
		{"unknown domain", map[string]any{"name": "a", "domain_id": "nosuchdomain"}, 404},
		{"duplicate", map[string]any{"name": "taken"}, 409},
		{"name of 255 is fine", map[string]any{"name": strings.Repeat("n", 255)}, 201},
		{"string boolean", map[string]any{"name": "b", "enabled": "false"}, 201},
		{"mfa rules", map[string]any{"name": "c", "options": map[string]any{"multi_factor_auth_rules": []any{[]any{"password", "totp"}}, "multi_factor_auth_enabled": true}}, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, out := doJSON(t, tc.handler, "POST", "/v3/users", tc.adminToken, map[string]any{"user": tt.body})
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tt.want, out)
			}
		})
	}
	resp, out := doJSON(t, tc.handler, "POST", "/v3/users", tc.adminToken, map[string]any{"user": map[string]any{"name": "taken"}})
	if want := "Conflict occurred attempting to store user - Duplicate entry found with name taken at domain ID default."; errorMessage(out) != want {
		t.Errorf("409 message %q (status %d), want %q", errorMessage(out), resp.StatusCode, want)
	}
	if resp, _ := doJSON(t, tc.handler, "POST", "/v3/users", tc.adminToken, map[string]any{"name": "nouser"}); resp.StatusCode != 400 {
		t.Errorf("body without user: %d, want 400", resp.StatusCode)
	}
	// The same name in another domain is fine.
	d := domainFixture(t, tc, "other")
	u := userFixture(t, tc, map[string]any{"name": "taken", "domain_id": d})
	if u["domain_id"] != d {
		t.Errorf("domain_id = %v, want %s", u["domain_id"], d)
	}
}

func TestUpdateUserErrors(t *testing.T) {
	tc := newTestCloud(t)
	a := userFixture(t, tc, map[string]any{"name": "a"})
	userFixture(t, tc, map[string]any{"name": "b"})
	id := a["id"].(string)
	tests := []struct {
		name string
		body map[string]any
		want int
		msg  string
	}{
		{"empty", map[string]any{}, 400, ""},
		{"change id", map[string]any{"id": "other"}, 400, "Cannot change ID"},
		{"change domain", map[string]any{"domain_id": "otherdomain"}, 400, "Cannot change Domain ID"},
		{"duplicate name", map[string]any{"name": "b"}, 409, "Conflict occurred attempting to store user - Duplicate entry found with name b."},
		{"bad name", map[string]any{"name": ""}, 400, ""},
		{"same id is fine", map[string]any{"id": id, "domain_id": "default"}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, out := doJSON(t, tc.handler, "PATCH", "/v3/users/"+id, tc.adminToken, map[string]any{"user": tt.body})
			if resp.StatusCode != tt.want || (tt.msg != "" && errorMessage(out) != tt.msg) {
				t.Fatalf("status %d %q, want %d %q", resp.StatusCode, errorMessage(out), tt.want, tt.msg)
			}
		})
	}
}

func TestListUsersFilters(t *testing.T) {
	tc := newTestCloud(t)
	other := domainFixture(t, tc, "other")
	userFixture(t, tc, map[string]any{"name": "Alice"})
	userFixture(t, tc, map[string]any{"name": "alicia", "enabled": false})
	userFixture(t, tc, map[string]any{"name": "bob", "domain_id": other})
	tc.svc.cfg.Security.PasswordExpiresDays = 10
	userFixture(t, tc, map[string]any{"name": "expiring", "password": "pw"})
	tc.svc.cfg.Security.PasswordExpiresDays = 0

	soon := time.Now().UTC().Add(24 * time.Hour).Format("2006-01-02T15:04:05Z")
	later := time.Now().UTC().Add(20 * 24 * time.Hour).Format("2006-01-02T15:04:05Z")
	tests := []struct {
		query string
		want  []string
	}{
		{"name=Alice", []string{"Alice"}},
		{"name=alice", nil},
		{"name__startswith=ali", []string{"alicia"}},
		{"name__istartswith=ali", []string{"Alice", "alicia"}},
		{"name__contains=lic", []string{"Alice", "alicia"}},
		{"name__icontains=LIC", []string{"Alice", "alicia"}},
		{"name__endswith=ce", []string{"Alice"}},
		{"name__iendswith=CE", []string{"Alice"}},
		{"name__bogus=zzz&name=bob", []string{"bob"}},
		{"enabled=false", []string{"alicia"}},
		{"enabled=0", []string{"alicia"}},
		{"domain_id=" + other, []string{"bob"}},
		{"domain_id=" + other + "&name=Alice", nil},
		{"password_expires_at=gt:" + soon, []string{"expiring"}},
		{"password_expires_at=lt:" + later, []string{"expiring"}},
		{"password_expires_at=lt:" + soon, nil},
		{"password_expires_at=neq:" + soon, []string{"expiring"}},
		{"idp_id=someidp", nil},
		{"unique_id__contains=x", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			resp, out := doJSON(t, tc.handler, "GET", "/v3/users?"+tt.query, tc.adminToken, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %v", resp.StatusCode, out)
			}
			got := listNames(out, "users")
			// Bootstrap users (admin, demo, alt_demo) match unfiltered-name queries; look only
			// at the fixtures.
			for _, n := range []string{"admin", "demo", "alt_demo"} {
				delete(got, n)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for _, n := range tt.want {
				if !got[n] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
	for _, q := range []string{"password_expires_at=xx:" + soon, "password_expires_at=lt:notatime", "enabled=maybe",
		"domain_id=bad%20id", "name=", "limit=-1"} {
		if resp, out := doJSON(t, tc.handler, "GET", "/v3/users?"+q, tc.adminToken, nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %v", q, resp.StatusCode, out)
		}
	}
	_, out := doJSON(t, tc.handler, "GET", "/v3/users?password_expires_at=xx:"+soon, tc.adminToken, nil)
	if want := "The given operator xx is not valid. It must be one of the following: 'eq', 'neq', 'lt', 'lte', 'gt', or 'gte'."; errorMessage(out) != want {
		t.Errorf("operator message %q", errorMessage(out))
	}
}

func TestListUsersPaging(t *testing.T) {
	tc := newTestCloud(t)
	for _, n := range []string{"p1", "p2", "p3"} {
		userFixture(t, tc, map[string]any{"name": n})
	}
	_, all := doJSON(t, tc.handler, "GET", "/v3/users", tc.adminToken, nil)
	total := len(all["users"].([]any))
	if total != 6 || all["truncated"] != nil || all["links"].(map[string]any)["next"] != nil {
		t.Fatalf("unpaged list: %d users, truncated %v, links %v", total, all["truncated"], all["links"])
	}
	seen := map[string]bool{}
	next := "/v3/users?limit=4"
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("too many pages")
		}
		resp, out := doJSON(t, tc.handler, "GET", next, tc.adminToken, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %v", next, resp.StatusCode, out)
		}
		for _, it := range out["users"].([]any) {
			id := it.(map[string]any)["id"].(string)
			if seen[id] {
				t.Fatalf("user %s seen twice", id)
			}
			seen[id] = true
		}
		next = ""
		if n, ok := out["links"].(map[string]any)["next"].(string); ok {
			if out["truncated"] != true {
				t.Errorf("page with next link lacks truncated: %v", out)
			}
			u, err := url.Parse(n)
			if err != nil {
				t.Fatal(err)
			}
			next = u.RequestURI()
		}
	}
	if len(seen) != total {
		t.Errorf("paged through %d users, want %d", len(seen), total)
	}
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/users?marker=nosuchuser", tc.adminToken, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown marker: %d, want 404", resp.StatusCode)
	}
}

func TestUserPolicy(t *testing.T) {
	tc := newTestCloud(t)
	u := userFixture(t, tc, map[string]any{"name": "someone", "password": "pw"})
	var demoID string
	_, out := doJSON(t, tc.handler, "GET", "/v3/users?name=demo", tc.adminToken, nil)
	for _, it := range out["users"].([]any) {
		demoID = it.(map[string]any)["id"].(string)
	}
	tests := []struct {
		method, path string
		body         any
		want         int
	}{
		{"GET", "/v3/users/" + demoID, nil, 200},
		{"GET", "/v3/users/" + u["id"].(string), nil, 403},
		{"GET", "/v3/users/nosuchuser", nil, 403},
		{"GET", "/v3/users", nil, 403},
		{"POST", "/v3/users", map[string]any{"user": map[string]any{"name": "x"}}, 403},
		{"PATCH", "/v3/users/" + demoID, map[string]any{"user": map[string]any{"name": "x"}}, 403},
		{"DELETE", "/v3/users/" + u["id"].(string), nil, 403},
		{"GET", "/v3/users/" + demoID + "/groups", nil, 200},
		{"GET", "/v3/users/" + u["id"].(string) + "/groups", nil, 403},
	}
	for _, tt := range tests {
		if resp, out := doJSON(t, tc.handler, tt.method, tt.path, tc.demoToken, tt.body); resp.StatusCode != tt.want {
			t.Errorf("demo %s %s: %d, want %d: %v", tt.method, tt.path, resp.StatusCode, tt.want, out)
		}
	}
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/users", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("list without token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/users/"+demoID+"/password", tc.adminToken, nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET password: %d, want 405", resp.StatusCode)
	}
}

func TestDeleteUserRemovesWhatItOwns(t *testing.T) {
	tc := newTestCloud(t)
	ctx := context.Background()
	u := userFixture(t, tc, map[string]any{"name": "owner", "password": "pw"})
	id := u["id"].(string)
	g := groupFixture(t, tc, map[string]any{"name": "g"})
	if resp, _ := doJSON(t, tc.handler, "PUT", "/v3/groups/"+g["id"].(string)+"/users/"+id, tc.adminToken, nil); resp.StatusCode != 204 {
		t.Fatalf("add to group: %d", resp.StatusCode)
	}
	db := tc.svc.db
	for _, stmt := range []string{
		`INSERT INTO assignments (type, actor_id, target_id, role_id, inherited) VALUES ('UserProject', '` + id + `', 'p', 'r', FALSE)`,
		`INSERT INTO application_credentials (id, name, secret_hash, user_id, project_id) VALUES ('ac1', 'n', 'h', '` + id + `', 'p')`,
		`INSERT INTO credentials (id, user_id, type, blob) VALUES ('c1', '` + id + `', 'ec2', '{}')`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	status, token, _ := authStatus(t, tc, id, "pw")
	if status != http.StatusCreated {
		t.Fatalf("auth: %d", status)
	}
	if resp, _ := doJSON(t, tc.handler, "DELETE", "/v3/users/"+id, tc.adminToken, nil); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	for _, table := range []string{"user_group_membership", "assignments", "application_credentials", "credentials"} {
		col := "user_id"
		if table == "assignments" {
			col = "actor_id"
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE `+col+` = ?`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s still has %d rows for the deleted user", table, n)
		}
	}
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/users/"+id, token, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("deleted user's token still works: %d", resp.StatusCode)
	}
}

func TestDisableUserRevokesTokens(t *testing.T) {
	tc := newTestCloud(t)
	u := userFixture(t, tc, map[string]any{"name": "soon-disabled", "password": "pw"})
	id := u["id"].(string)
	status, token, _ := authStatus(t, tc, id, "pw")
	if status != http.StatusCreated {
		t.Fatalf("auth: %d", status)
	}
	if resp, out := doJSON(t, tc.handler, "GET", "/v3/users/"+id, token, nil); resp.StatusCode != 200 {
		t.Fatalf("own user with own token: %d %v", resp.StatusCode, out)
	}
	// An update that does not disable keeps tokens.
	doJSON(t, tc.handler, "PATCH", "/v3/users/"+id, tc.adminToken, map[string]any{"user": map[string]any{"email": "e"}})
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/users/"+id, token, nil); resp.StatusCode != 200 {
		t.Fatalf("token revoked by a harmless update: %d", resp.StatusCode)
	}
	doJSON(t, tc.handler, "PATCH", "/v3/users/"+id, tc.adminToken, map[string]any{"user": map[string]any{"enabled": false}})
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/users/"+id, token, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("disabled user's token: %d, want 401", resp.StatusCode)
	}
	if status, _, msg := authStatus(t, tc, id, "pw"); status != http.StatusUnauthorized {
		t.Errorf("disabled user authenticates: %d %q", status, msg)
	}
}

func TestUserHelpers(t *testing.T) {
	tc := newTestCloud(t)
	ctx := context.Background()
	s := tc.svc
	u := &user{DomainID: DefaultDomainID, Name: "helper", Enabled: true}
	if err := s.write(ctx, func(tx *store.Tx) error { return s.createUserTx(ctx, tx, u, "pw") }); err != nil {
		t.Fatal(err)
	}
	if len(u.ID) != 32 {
		t.Fatalf("createUserTx gave id %q", u.ID)
	}
	got, err := s.findUserByName(ctx, s.db, DefaultDomainID, "helper")
	if err != nil || got.ID != u.ID {
		t.Fatalf("findUserByName: %v %v", got, err)
	}
	if _, err := s.findUserByName(ctx, s.db, DefaultDomainID, "nobody"); err == nil {
		t.Error("findUserByName found nobody")
	}
	if err := s.verifyPassword(ctx, got, "pw"); err != nil {
		t.Errorf("verifyPassword: %v", err)
	}
	if err := s.verifyPassword(ctx, got, "wrong"); err == nil {
		t.Error("verifyPassword accepted a wrong password")
	}
	if err := s.verifyPassword(ctx, nil, "pw"); err == nil {
		t.Error("verifyPassword accepted a nil user")
	}
	dup := &user{DomainID: DefaultDomainID, Name: "helper", Enabled: true}
	err = s.write(ctx, func(tx *store.Tx) error { return s.createUserTx(ctx, tx, dup, "") })
	if err == nil || !strings.Contains(err.Error(), "Duplicate entry") {
		t.Errorf("duplicate createUserTx: %v", err)
	}
	err = s.write(ctx, func(tx *store.Tx) error { return s.setPasswordTx(ctx, tx, u.ID, "pw2") })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.verifyPassword(ctx, got, "pw2"); err != nil {
		t.Errorf("after setPasswordTx: %v", err)
	}
	if ok, err := s.userPasswordIs(ctx, s.db, u.ID, "pw2"); !ok || err != nil {
		t.Errorf("userPasswordIs: %v %v", ok, err)
	}
}

func TestUserAndGroupPolicies(t *testing.T) {
	e := policy.New(basePolicies(), nil)
	if err := e.RegisterDefaults(userPolicies()); err != nil {
		t.Fatal(err)
	}
	sysReader := policy.Credentials{UserID: "r", System: "all", Roles: []string{"reader"}}
	domReader := policy.Credentials{UserID: "dr", DomainID: "d1", Roles: []string{"reader"}}
	domManager := policy.Credentials{UserID: "dm", DomainID: "d1", Roles: []string{"manager", "member", "reader"}}
	projMember := policy.Credentials{UserID: "u1", ProjectID: "p", ProjectDomainID: "d1", Roles: []string{"member", "reader"}}
	admin := policy.Credentials{UserID: "a", ProjectID: "p", Roles: []string{"admin"}, IsAdmin: true}
	userIn := func(domain, id string) policy.Target {
		return policy.Target{"target.user.domain_id": domain, "target.user.id": id, "user_id": id}
	}
	groupIn := func(domain string) policy.Target { return policy.Target{"target.group.domain_id": domain} }
	member := func(gd, ud string) policy.Target {
		return policy.Target{"target.group.domain_id": gd, "target.user.domain_id": ud}
	}
	tests := []struct {
		rule   string
		creds  policy.Credentials
		target policy.Target
		want   bool
	}{
		{"identity:get_user", sysReader, userIn("d2", "x"), true},
		{"identity:get_user", domReader, userIn("d1", "x"), true},
		{"identity:get_user", domReader, userIn("d2", "x"), false},
		{"identity:get_user", projMember, userIn("d1", "u1"), true},
		{"identity:get_user", projMember, userIn("d1", "x"), false},
		{"identity:get_user", projMember, policy.Target{"user_id": "u1"}, false},
		{"identity:list_users", domReader, policy.Target{"target.domain_id": "d1"}, true},
		{"identity:list_users", projMember, policy.Target{}, false},
		{"identity:list_users", admin, policy.Target{}, true},
		{"identity:create_user", domManager, userIn("d1", ""), true},
		{"identity:create_user", domManager, userIn("d2", ""), false},
		{"identity:create_user", domManager, policy.Target{}, false},
		{"identity:delete_user", domReader, userIn("d1", "x"), false},
		{"identity:update_user", admin, userIn("d9", "x"), true},
		{"identity:list_groups_for_user", projMember, policy.Target{"user_id": "u1"}, true},
		{"identity:list_groups_for_user", projMember, policy.Target{"user_id": "u2"}, false},
		{"identity:get_group", domReader, groupIn("d1"), true},
		{"identity:get_group", domReader, groupIn("d2"), false},
		{"identity:create_group", domManager, groupIn("d1"), true},
		{"identity:create_group", domReader, groupIn("d1"), false},
		{"identity:add_user_to_group", domManager, member("d1", "d1"), true},
		{"identity:add_user_to_group", domManager, member("d1", "d2"), false},
		{"identity:check_user_in_group", domReader, member("d1", "d1"), true},
		{"identity:check_user_in_group", sysReader, member("d1", "d2"), true},
		{"identity:remove_user_from_group", projMember, member("d1", "d1"), false},
	}
	for _, tt := range tests {
		if got := e.Enforce(tt.rule, tt.creds, tt.target); got != tt.want {
			t.Errorf("%s by %+v on %v = %v, want %v", tt.rule, tt.creds, tt.target, got, tt.want)
		}
	}
}
