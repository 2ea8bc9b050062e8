package identity

import (
	"context"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// raCloud returns the test cloud the role and assignment tests run on.
func raCloud(t testing.TB) *testCloud { return newTestCloud(t) }

// raCall sends an admin request and fails the test unless the status is want.
func raCall(t *testing.T, tc *testCloud, method, path string, body any, want int) map[string]any {
	t.Helper()
	resp, out := doJSON(t, tc.handler, method, path, tc.adminToken, body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %v", method, path, resp.StatusCode, want, out)
	}
	return out
}

// raErr returns the message of a Keystone error body.
func raErr(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// raExec runs SQL against the test store, for fixtures the API under test does not make.
func raExec(t testing.TB, s *Service, query string, args ...any) {
	t.Helper()
	if _, err := s.db.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// raDomain inserts a domain.
func raDomain(t testing.TB, s *Service, id string) {
	raExec(t, s, `INSERT INTO projects (id, name, domain_id, is_domain, enabled) VALUES (?, ?, ?, ?, ?)`, id, id, RootDomainID, true, true)
}

// raProject inserts a project of domainID under parentID (the domain for a top-level one).
func raProject(t testing.TB, s *Service, id, domainID, parentID string) {
	raExec(t, s, `INSERT INTO projects (id, name, domain_id, parent_id, is_domain, enabled) VALUES (?, ?, ?, ?, ?, ?)`,
		id, id, domainID, parentID, false, true)
}

// raUser inserts a user.
func raUser(t testing.TB, s *Service, id, domainID string) {
	raExec(t, s, `INSERT INTO users (id, domain_id, name) VALUES (?, ?, ?)`, id, domainID, id)
}

// raGroup inserts a group with the given members.
func raGroup(t testing.TB, s *Service, id, domainID string, members ...string) {
	raExec(t, s, `INSERT INTO groups (id, domain_id, name) VALUES (?, ?, ?)`, id, domainID, id)
	for _, m := range members {
		raExec(t, s, `INSERT INTO user_group_membership (user_id, group_id) VALUES (?, ?)`, m, id)
	}
}

// raGrant inserts an assignment.
func raGrant(t testing.TB, s *Service, typ, actor, target, roleID string, inherited bool) {
	raExec(t, s, `INSERT INTO assignments (type, actor_id, target_id, role_id, inherited) VALUES (?, ?, ?, ?, ?)`,
		typ, actor, target, roleID, inherited)
}

// raRole creates a role through the API and returns its id.
func raRole(t *testing.T, tc *testCloud, name, domainID string) string {
	t.Helper()
	body := map[string]any{"name": name}
	if domainID != "" {
		body["domain_id"] = domainID
	}
	out := raCall(t, tc, "POST", "/v3/roles", map[string]any{"role": body}, http.StatusCreated)
	return out["role"].(map[string]any)["id"].(string)
}

// raRoleID returns the id of a bootstrap role.
func raRoleID(t testing.TB, s *Service, name string) string {
	t.Helper()
	var id string
	if err := s.db.QueryRowContext(context.Background(), `SELECT id FROM roles WHERE name = ? AND domain_id = ?`, name, NullDomainID).Scan(&id); err != nil {
		t.Fatalf("role %s: %v", name, err)
	}
	return id
}

func TestRoleCRUD(t *testing.T) {
	tc := raCloud(t)
	out := raCall(t, tc, "POST", "/v3/roles", map[string]any{"role": map[string]any{"name": "observer", "team-tag": "x"}}, http.StatusCreated)
	created := out["role"].(map[string]any)
	id := created["id"].(string)
	want := map[string]any{
		"id": id, "name": "observer", "domain_id": nil, "description": nil, "options": map[string]any{},
		"team_tag": "x", "links": map[string]any{"self": "http://example.com/v3/roles/" + id},
	}
	if !reflect.DeepEqual(created, want) {
		t.Errorf("created role = %v, want %v", created, want)
	}
	if got := raCall(t, tc, "GET", "/v3/roles/"+id, nil, http.StatusOK)["role"]; !reflect.DeepEqual(got, created) {
		t.Errorf("GET role = %v, want %v", got, created)
	}
	list := raCall(t, tc, "GET", "/v3/roles", nil, http.StatusOK)
	if !slices.ContainsFunc(list["roles"].([]any), func(v any) bool { return reflect.DeepEqual(v, created) }) {
		t.Errorf("list does not hold the role: %v", list["roles"])
	}
	if list["links"].(map[string]any)["self"] != "http://example.com/v3/roles" {
		t.Errorf("list links = %v", list["links"])
	}
	named := raCall(t, tc, "GET", "/v3/roles?name=observer", nil, http.StatusOK)["roles"].([]any)
	if len(named) != 1 || named[0].(map[string]any)["id"] != id {
		t.Errorf("name filter = %v", named)
	}
	if n := len(raCall(t, tc, "GET", "/v3/roles?name__startswith=obs", nil, http.StatusOK)["roles"].([]any)); n != 1 {
		t.Errorf("name__startswith filter gave %d roles", n)
	}

	for _, name := range []string{"observer", "OBSERVER"} {
		resp, out := doJSON(t, tc.handler, "POST", "/v3/roles", tc.adminToken, map[string]any{"role": map[string]any{"name": name}})
		if resp.StatusCode != http.StatusConflict || raErr(out) != "Conflict occurred attempting to store role - Duplicate entry found with name "+name+"." {
			t.Errorf("duplicate %s: %d %q", name, resp.StatusCode, raErr(out))
		}
	}

	upd := raCall(t, tc, "PATCH", "/v3/roles/"+id, map[string]any{"role": map[string]any{"name": "watcher", "description": "watches"}}, http.StatusOK)["role"].(map[string]any)
	if upd["name"] != "watcher" || upd["description"] != "watches" || upd["team_tag"] != "x" {
		t.Errorf("updated role = %v", upd)
	}
	resp, out := doJSON(t, tc.handler, "PATCH", "/v3/roles/"+id, tc.adminToken, map[string]any{"role": map[string]any{"name": "Member"}})
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("rename onto member: %d %v", resp.StatusCode, out)
	}

	raCall(t, tc, "DELETE", "/v3/roles/"+id, nil, http.StatusNoContent)
	resp, out = doJSON(t, tc.handler, "GET", "/v3/roles/"+id, tc.adminToken, nil)
	if resp.StatusCode != http.StatusNotFound || raErr(out) != "Could not find role: "+id+"." {
		t.Errorf("deleted role: %d %q", resp.StatusCode, raErr(out))
	}
	for _, method := range []string{"PATCH", "DELETE"} {
		if resp, _ := doJSON(t, tc.handler, method, "/v3/roles/"+id, tc.adminToken, map[string]any{"role": map[string]any{"name": "x"}}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s of a missing role: %d", method, resp.StatusCode)
		}
	}
}

func TestRoleValidation(t *testing.T) {
	tc := raCloud(t)
	for name, body := range map[string]map[string]any{
		"no name":       {"description": "d"},
		"blank name":    {"name": "   "},
		"long name":     {"name": strings.Repeat("r", 256)},
		"name type":     {"name": 5},
		"desc type":     {"name": "x", "description": 5},
		"bad domain":    {"name": "x", "domain_id": "a b"},
		"bad option":    {"name": "x", "options": map[string]any{"nope": true}},
		"option type":   {"name": "x", "options": map[string]any{"immutable": "yes please"}},
		"options array": {"name": "x", "options": []any{}},
	} {
		if resp, _ := doJSON(t, tc.handler, "POST", "/v3/roles", tc.adminToken, map[string]any{"role": body}); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("create %s: %d, want 400", name, resp.StatusCode)
		}
	}
	if resp, _ := doJSON(t, tc.handler, "POST", "/v3/roles", tc.adminToken, map[string]any{"name": "x"}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("create without role key: %d", resp.StatusCode)
	}
	id := raRole(t, tc, "r1", "")
	for name, tt := range map[string]struct {
		body map[string]any
		msg  string
	}{
		"empty":      {map[string]any{}, ""},
		"id change":  {map[string]any{"id": "other"}, "Cannot change ID"},
		"domain":     {map[string]any{"domain_id": "default"}, "Update of `domain_id` is not allowed."},
		"blank name": {map[string]any{"name": ""}, ""},
	} {
		resp, out := doJSON(t, tc.handler, "PATCH", "/v3/roles/"+id, tc.adminToken, map[string]any{"role": tt.body})
		if resp.StatusCode != http.StatusBadRequest || (tt.msg != "" && raErr(out) != tt.msg) {
			t.Errorf("patch %s: %d %q", name, resp.StatusCode, raErr(out))
		}
	}
	// A null domain_id on a global role changes nothing and is accepted.
	raCall(t, tc, "PATCH", "/v3/roles/"+id, map[string]any{"role": map[string]any{"domain_id": nil, "description": nil}}, http.StatusOK)
}

func TestDomainRoles(t *testing.T) {
	tc := raCloud(t)
	raDomain(t, tc.svc, "d2")
	id := raRole(t, tc, "member", "default")
	other := raRole(t, tc, "member", "d2")
	out := raCall(t, tc, "GET", "/v3/roles/"+id, nil, http.StatusOK)["role"].(map[string]any)
	if out["domain_id"] != "default" {
		t.Errorf("domain role = %v", out)
	}
	list := raCall(t, tc, "GET", "/v3/roles?domain_id=default", nil, http.StatusOK)["roles"].([]any)
	if len(list) != 1 || !reflect.DeepEqual(list[0], out) {
		t.Errorf("domain role list = %v", list)
	}
	for _, r := range raCall(t, tc, "GET", "/v3/roles", nil, http.StatusOK)["roles"].([]any) {
		if id := r.(map[string]any)["id"]; id == out["id"] || id == other {
			t.Errorf("global role list holds domain role %v", id)
		}
	}
	resp, _ := doJSON(t, tc.handler, "POST", "/v3/roles", tc.adminToken, map[string]any{"role": map[string]any{"name": "member", "domain_id": "default"}})
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("duplicate domain role: %d", resp.StatusCode)
	}
	resp, out = doJSON(t, tc.handler, "POST", "/v3/roles", tc.adminToken, map[string]any{"role": map[string]any{"name": "x", "domain_id": "nosuch"}})
	if resp.StatusCode != http.StatusNotFound || raErr(out) != "Could not find domain: nosuch." {
		t.Errorf("role in missing domain: %d %q", resp.StatusCode, raErr(out))
	}
	resp, _ = doJSON(t, tc.handler, "PATCH", "/v3/roles/"+id, tc.adminToken, map[string]any{"role": map[string]any{"domain_id": nil}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("moving a domain role to global: %d", resp.StatusCode)
	}
}

func TestImmutableRole(t *testing.T) {
	tc := raCloud(t)
	out := raCall(t, tc, "POST", "/v3/roles", map[string]any{"role": map[string]any{"name": "fixed", "options": map[string]any{"immutable": true}}}, http.StatusCreated)
	id := out["role"].(map[string]any)["id"].(string)
	if !reflect.DeepEqual(out["role"].(map[string]any)["options"], map[string]any{"immutable": true}) {
		t.Errorf("options = %v", out["role"])
	}
	resp, body := doJSON(t, tc.handler, "PATCH", "/v3/roles/"+id, tc.adminToken, map[string]any{"role": map[string]any{"name": "moved"}})
	if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(raErr(body), "Unable to update immutable role resource: `"+id) {
		t.Errorf("update immutable: %d %q", resp.StatusCode, raErr(body))
	}
	resp, body = doJSON(t, tc.handler, "DELETE", "/v3/roles/"+id, tc.adminToken, nil)
	if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(raErr(body), "Unable to delete immutable role resource: `"+id) {
		t.Errorf("delete immutable: %d %q", resp.StatusCode, raErr(body))
	}
	// Clearing the option together with another change is still refused.
	resp, _ = doJSON(t, tc.handler, "PATCH", "/v3/roles/"+id, tc.adminToken, map[string]any{"role": map[string]any{"name": "x", "options": map[string]any{"immutable": false}}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("clear and rename: %d", resp.StatusCode)
	}
	upd := raCall(t, tc, "PATCH", "/v3/roles/"+id, map[string]any{"role": map[string]any{"options": map[string]any{"immutable": false}}}, http.StatusOK)
	if upd["role"].(map[string]any)["options"].(map[string]any)["immutable"] != false {
		t.Errorf("cleared options = %v", upd["role"])
	}
	raCall(t, tc, "DELETE", "/v3/roles/"+id, nil, http.StatusNoContent)
}

func TestImpliedRoles(t *testing.T) {
	tc := raCloud(t)
	a, b, c := raRole(t, tc, "ra", ""), raRole(t, tc, "rb", ""), raRole(t, tc, "rc", "")
	dr := raRole(t, tc, "dr", "default")
	out := raCall(t, tc, "PUT", "/v3/roles/"+a+"/implies/"+b, nil, http.StatusCreated)
	want := map[string]any{
		"role_inference": map[string]any{
			"prior_role": map[string]any{"id": a, "name": "ra", "links": map[string]any{"self": "http://example.com/v3/roles/" + a}},
			"implies":    map[string]any{"id": b, "name": "rb", "links": map[string]any{"self": "http://example.com/v3/roles/" + b}},
		},
		"links": map[string]any{"self": "http://example.com/v3/roles/" + a + "/implies/" + b},
	}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("PUT implies = %v, want %v", out, want)
	}
	if got := raCall(t, tc, "GET", "/v3/roles/"+a+"/implies/"+b, nil, http.StatusOK); !reflect.DeepEqual(got, want) {
		t.Errorf("GET implies = %v", got)
	}
	raCall(t, tc, "HEAD", "/v3/roles/"+a+"/implies/"+b, nil, http.StatusNoContent)
	resp, body := doJSON(t, tc.handler, "PUT", "/v3/roles/"+a+"/implies/"+b, tc.adminToken, nil)
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("duplicate rule: %d %v", resp.StatusCode, body)
	}
	raCall(t, tc, "PUT", "/v3/roles/"+a+"/implies/"+c, nil, http.StatusCreated)
	// A cycle is accepted, as in Keystone.
	raCall(t, tc, "PUT", "/v3/roles/"+c+"/implies/"+a, nil, http.StatusCreated)

	list := raCall(t, tc, "GET", "/v3/roles/"+a+"/implies", nil, http.StatusOK)
	ri := list["role_inference"].(map[string]any)
	var ids []string
	for _, x := range ri["implies"].([]any) {
		ids = append(ids, x.(map[string]any)["id"].(string))
	}
	slices.Sort(ids)
	wantIDs := []string{b, c}
	slices.Sort(wantIDs)
	if !slices.Equal(ids, wantIDs) || ri["prior_role"].(map[string]any)["id"] != a {
		t.Errorf("implies list = %v", list)
	}
	if list["links"].(map[string]any)["self"] != "http://example.com/v3/roles/"+a+"/implies" {
		t.Errorf("implies list links = %v", list["links"])
	}
	infs := raCall(t, tc, "GET", "/v3/role_inferences", nil, http.StatusOK)["role_inferences"].([]any)
	found := 0
	for _, x := range infs {
		inf := x.(map[string]any)
		switch inf["prior_role"].(map[string]any)["id"] {
		case a:
			found++
			if len(inf["implies"].([]any)) != 2 {
				t.Errorf("inference of a = %v", inf)
			}
		case raRoleID(t, tc.svc, "member"):
			found++
			if inf["implies"].([]any)[0].(map[string]any)["name"] != "reader" {
				t.Errorf("inference of member = %v", inf)
			}
		}
	}
	if found != 2 {
		t.Errorf("role_inferences = %v", infs)
	}

	admin := raRoleID(t, tc.svc, "admin")
	for name, path := range map[string]string{
		"implying admin":            "/v3/roles/" + a + "/implies/" + admin,
		"global implies domain":     "/v3/roles/" + a + "/implies/" + dr,
		"domain role implies admin": "/v3/roles/" + dr + "/implies/" + admin,
	} {
		resp, body := doJSON(t, tc.handler, "PUT", path, tc.adminToken, nil)
		if resp.StatusCode != http.StatusForbidden || !strings.HasSuffix(raErr(body), "cannot be an implied roles.") {
			t.Errorf("%s: %d %q", name, resp.StatusCode, raErr(body))
		}
	}
	raCall(t, tc, "PUT", "/v3/roles/"+dr+"/implies/"+a, nil, http.StatusCreated)

	resp, body = doJSON(t, tc.handler, "PUT", "/v3/roles/nosuch/implies/"+a, tc.adminToken, nil)
	if resp.StatusCode != http.StatusNotFound || raErr(body) != "Could not find role: nosuch." {
		t.Errorf("missing prior: %d %q", resp.StatusCode, raErr(body))
	}
	raCall(t, tc, "DELETE", "/v3/roles/"+a+"/implies/"+b, nil, http.StatusNoContent)
	resp, body = doJSON(t, tc.handler, "GET", "/v3/roles/"+a+"/implies/"+b, tc.adminToken, nil)
	if resp.StatusCode != http.StatusNotFound || raErr(body) != a+" does not imply "+b+"." {
		t.Errorf("deleted rule: %d %q", resp.StatusCode, raErr(body))
	}
	raCall(t, tc, "HEAD", "/v3/roles/"+a+"/implies/"+b, nil, http.StatusNotFound)
	raCall(t, tc, "DELETE", "/v3/roles/"+a+"/implies/"+b, nil, http.StatusNotFound)

	// Deleting a role removes the rules that mention it.
	raCall(t, tc, "DELETE", "/v3/roles/"+c, nil, http.StatusNoContent)
	var n int
	if err := tc.svc.db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM implied_roles WHERE prior_role_id = ? OR implied_role_id = ?`, c, c).Scan(&n); err != nil || n != 0 {
		t.Errorf("rules of a deleted role: %d %v", n, err)
	}
}

func TestDeleteRoleCleansUp(t *testing.T) {
	tc := raCloud(t)
	s := tc.svc
	id := raRole(t, tc, "doomed", "")
	raUser(t, s, "u1", "default")
	raProject(t, s, "p1", "default", "default")
	raGrant(t, s, typeUserProject, "u1", "p1", id, false)
	raGrant(t, s, typeUserSystem, "u1", "system", id, false)
	raExec(t, s, `INSERT INTO application_credentials (id, name, secret_hash, user_id, project_id) VALUES ('ac1', 'ac', 'h', 'u1', 'p1')`)
	raExec(t, s, `INSERT INTO application_credentials (id, name, secret_hash, user_id, project_id) VALUES ('ac2', 'other', 'h', 'u1', 'elsewhere')`)
	raExec(t, s, `INSERT INTO application_credential_roles (application_credential_id, role_id) VALUES ('ac2', ?)`, id)
	raCall(t, tc, "DELETE", "/v3/roles/"+id, nil, http.StatusNoContent)
	ctx := context.Background()
	for query, want := range map[string]int{
		`SELECT COUNT(*) FROM assignments WHERE role_id = '` + id + `'`:                  0,
		`SELECT COUNT(*) FROM application_credentials WHERE id = 'ac1'`:                  0,
		`SELECT COUNT(*) FROM application_credentials WHERE id = 'ac2'`:                  1,
		`SELECT COUNT(*) FROM application_credential_roles WHERE role_id = '` + id + `'`: 0,
		`SELECT COUNT(*) FROM revocation_events WHERE role_id = '` + id + `'`:            1,
	} {
		var n int
		if err := s.db.QueryRowContext(ctx, query).Scan(&n); err != nil || n != want {
			t.Errorf("%s = %d (%v), want %d", query, n, err, want)
		}
	}
}

func TestRolePolicy(t *testing.T) {
	tc := raCloud(t)
	id := raRole(t, tc, "r1", "")
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v3/roles", map[string]any{"role": map[string]any{"name": "x"}}},
		{"POST", "/v3/roles", map[string]any{"role": map[string]any{"name": "x", "domain_id": "default"}}},
		{"GET", "/v3/roles", nil},
		{"GET", "/v3/roles?domain_id=default", nil},
		{"GET", "/v3/roles/" + id, nil},
		{"GET", "/v3/roles/nosuch", nil},
		{"PATCH", "/v3/roles/" + id, map[string]any{"role": map[string]any{"name": "y"}}},
		{"DELETE", "/v3/roles/" + id, nil},
		{"PUT", "/v3/roles/" + id + "/implies/" + raRoleID(t, tc.svc, "reader"), nil},
		{"GET", "/v3/role_inferences", nil},
	} {
		resp, out := doJSON(t, tc.handler, c.method, c.path, tc.demoToken, c.body)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("member %s %s: %d %v", c.method, c.path, resp.StatusCode, out)
		}
	}
}
