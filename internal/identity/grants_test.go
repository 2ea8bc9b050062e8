package identity

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/gostack/gostack/internal/policy"
)

// roleNameList returns the names of roles in order.
func roleNameList(roles []role) []string {
	out := []string{}
	for _, r := range roles {
		out = append(out, r.Name)
	}
	return out
}

// effectiveNames returns the names of the roles a user holds on a scope.
func effectiveNames(t *testing.T, s *Service, userID string, sc scope) []string {
	t.Helper()
	roles, err := s.effectiveRoles(context.Background(), s.db, userID, sc)
	if err != nil {
		t.Fatal(err)
	}
	return roleNameList(roles)
}

// grantFixture is a small hierarchy: domain d1 with project p1, its child p2 and grandchild
// p3, and project q1; user u1 in group g1, user u2 alone.
func grantFixture(t *testing.T, tc *testCloud) {
	s := tc.svc
	raDomain(t, s, "d1")
	raProject(t, s, "p1", "d1", "d1")
	raProject(t, s, "p2", "d1", "p1")
	raProject(t, s, "p3", "d1", "p2")
	raProject(t, s, "q1", "d1", "d1")
	raUser(t, s, "u1", "d1")
	raUser(t, s, "u2", "d1")
	raGroup(t, s, "g1", "d1", "u1")
}

func TestEffectiveRolesImpliedChain(t *testing.T) {
	tc := raCloud(t)
	s := tc.svc
	grantFixture(t, tc)
	raGrant(t, s, typeUserProject, "u1", "p1", raRoleID(t, s, "admin"), false)
	if got, want := effectiveNames(t, s, "u1", scope{ProjectID: "p1"}), []string{"admin", "manager", "member", "reader"}; !slices.Equal(got, want) {
		t.Errorf("admin implies = %v, want %v", got, want)
	}
	if got := effectiveNames(t, s, "u1", scope{ProjectID: "p2"}); len(got) != 0 {
		t.Errorf("non-inherited grant reached the child: %v", got)
	}
	if got := effectiveNames(t, s, "u2", scope{ProjectID: "p1"}); len(got) != 0 {
		t.Errorf("other user: %v", got)
	}
	if got := effectiveNames(t, s, "u1", scope{}); len(got) != 0 {
		t.Errorf("unscoped: %v", got)
	}
}

func TestEffectiveRolesInheritanceAndGroups(t *testing.T) {
	tc := raCloud(t)
	s := tc.svc
	grantFixture(t, tc)
	r := func(name string) string { return raRole(t, tc, name, "") }
	fromDomain, fromP1, viaGroup, onDomain, onSystem := r("from_domain"), r("from_p1"), r("via_group"), r("on_domain"), r("on_system")
	domainOnly, impliedByDomainRole := raRole(t, tc, "domain_only", "d1"), r("implied_by_domain_role")
	raCall(t, tc, "PUT", "/v3/roles/"+domainOnly+"/implies/"+impliedByDomainRole, nil, http.StatusCreated)

	raGrant(t, s, typeUserDomain, "u1", "d1", fromDomain, true)
	raGrant(t, s, typeGroupProject, "g1", "p1", fromP1, true)
	raGrant(t, s, typeGroupProject, "g1", "p3", viaGroup, false)
	raGrant(t, s, typeGroupDomain, "g1", "d1", onDomain, false)
	raGrant(t, s, typeGroupSystem, "g1", "system", onSystem, false)
	raGrant(t, s, typeUserProject, "u1", "q1", domainOnly, false)

	for _, c := range []struct {
		sc   scope
		want []string
	}{
		{scope{ProjectID: "p1"}, []string{"from_domain"}},
		{scope{ProjectID: "p2"}, []string{"from_domain", "from_p1"}},
		{scope{ProjectID: "p3"}, []string{"from_domain", "from_p1", "via_group"}},
		{scope{ProjectID: "q1"}, []string{"from_domain", "implied_by_domain_role"}},
		{scope{DomainID: "d1"}, []string{"on_domain"}},
		{scope{System: true}, []string{"on_system"}},
	} {
		if got := effectiveNames(t, s, "u1", c.sc); !slices.Equal(got, c.want) {
			t.Errorf("%+v: %v, want %v", c.sc, got, c.want)
		}
		if got := effectiveNames(t, s, "u2", c.sc); len(got) != 0 {
			t.Errorf("u2 %+v: %v", c.sc, got)
		}
	}

	ctx := context.Background()
	projects, err := s.userProjectIDs(ctx, s.db, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"p1", "p2", "p3", "q1"}; !slices.Equal(projects, want) {
		t.Errorf("userProjectIDs = %v, want %v", projects, want)
	}
	domains, err := s.userDomainIDs(ctx, s.db, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(domains, []string{"d1"}) {
		t.Errorf("userDomainIDs = %v", domains)
	}
	// A project reached only through a domain role that implies nothing global is not
	// listed.
	raUser(t, s, "u3", "d1")
	raGrant(t, s, typeUserProject, "u3", "q1", raRole(t, tc, "lonely", "d1"), false)
	if ids, _ := s.userProjectIDs(ctx, s.db, "u3"); len(ids) != 0 {
		t.Errorf("domain-role-only projects = %v", ids)
	}
}

func TestProjectGrants(t *testing.T) {
	tc := raCloud(t)
	s := tc.svc
	grantFixture(t, tc)
	role := raRole(t, tc, "worker", "")
	path := "/v3/projects/p1/users/u1/roles/" + role
	raCall(t, tc, "PUT", path, nil, http.StatusNoContent)
	raCall(t, tc, "PUT", path, nil, http.StatusNoContent) // idempotent, as in Keystone
	raCall(t, tc, "HEAD", path, nil, http.StatusNoContent)
	raCall(t, tc, "GET", path, nil, http.StatusNoContent)
	list := raCall(t, tc, "GET", "/v3/projects/p1/users/u1/roles", nil, http.StatusOK)
	roles := list["roles"].([]any)
	if len(roles) != 1 || roles[0].(map[string]any)["id"] != role || roles[0].(map[string]any)["links"].(map[string]any)["self"] != "http://example.com/v3/roles/"+role {
		t.Errorf("grant list = %v", list)
	}
	if got := effectiveNames(t, s, "u1", scope{ProjectID: "p1"}); !slices.Equal(got, []string{"worker"}) {
		t.Errorf("effective after grant = %v", got)
	}
	raCall(t, tc, "DELETE", path, nil, http.StatusNoContent)
	for _, method := range []string{"GET", "DELETE"} {
		resp, out := doJSON(t, tc.handler, method, path, tc.adminToken, nil)
		want := fmt.Sprintf("Could not find role assignment with role: %s, user or group: u1, project, domain, or system: p1.", role)
		if resp.StatusCode != http.StatusNotFound || raErr(out) != want {
			t.Errorf("%s of a removed grant: %d %q", method, resp.StatusCode, raErr(out))
		}
	}

	for _, c := range []struct{ path, msg string }{
		{"/v3/projects/p1/users/u1/roles/nosuch", "Could not find role: nosuch."},
		{"/v3/projects/p1/users/nosuch/roles/" + role, "Could not find user: nosuch."},
		{"/v3/projects/p1/groups/nosuch/roles/" + role, "Could not find group: nosuch."},
		{"/v3/projects/nosuch/users/u1/roles/" + role, "Could not find project: nosuch."},
		{"/v3/domains/nosuch/users/u1/roles/" + role, "Could not find domain: nosuch."},
		{"/v3/system/users/nosuch/roles/" + role, "Could not find user: nosuch."},
		{"/v3/OS-INHERIT/domains/nosuch/users/u1/roles/" + role + "/inherited_to_projects", "Could not find domain: nosuch."},
		{"/v3/OS-INHERIT/projects/p1/users/u1/roles/nosuch/inherited_to_projects", "Could not find role: nosuch."},
	} {
		resp, out := doJSON(t, tc.handler, "PUT", c.path, tc.adminToken, nil)
		if resp.StatusCode != http.StatusNotFound || raErr(out) != c.msg {
			t.Errorf("PUT %s: %d %q, want 404 %q", c.path, resp.StatusCode, raErr(out), c.msg)
		}
	}
	// Revoking a grant of a user that no longer exists works.
	raGrant(t, s, typeUserProject, "ghost", "p1", role, false)
	raCall(t, tc, "DELETE", "/v3/projects/p1/users/ghost/roles/"+role, nil, http.StatusNoContent)
}

func TestGroupDomainSystemAndInheritedGrants(t *testing.T) {
	tc := raCloud(t)
	s := tc.svc
	grantFixture(t, tc)
	role := raRole(t, tc, "worker", "")
	raCall(t, tc, "PUT", "/v3/domains/d1/groups/g1/roles/"+role, nil, http.StatusNoContent)
	raCall(t, tc, "HEAD", "/v3/domains/d1/groups/g1/roles/"+role, nil, http.StatusNoContent)
	if got := effectiveNames(t, s, "u1", scope{DomainID: "d1"}); !slices.Equal(got, []string{"worker"}) {
		t.Errorf("domain group grant = %v", got)
	}
	if n := len(raCall(t, tc, "GET", "/v3/domains/d1/groups/g1/roles", nil, http.StatusOK)["roles"].([]any)); n != 1 {
		t.Errorf("domain group grants = %d", n)
	}

	inh := "/v3/OS-INHERIT/domains/d1/users/u2/roles/" + role + "/inherited_to_projects"
	raCall(t, tc, "PUT", inh, nil, http.StatusNoContent)
	raCall(t, tc, "GET", inh, nil, http.StatusNoContent)
	if n := len(raCall(t, tc, "GET", "/v3/OS-INHERIT/domains/d1/users/u2/roles/inherited_to_projects", nil, http.StatusOK)["roles"].([]any)); n != 1 {
		t.Errorf("inherited grants = %d", n)
	}
	if n := len(raCall(t, tc, "GET", "/v3/domains/d1/users/u2/roles", nil, http.StatusOK)["roles"].([]any)); n != 0 {
		t.Errorf("inherited grant listed as a domain grant (%d)", n)
	}
	raCall(t, tc, "HEAD", "/v3/domains/d1/users/u2/roles/"+role, nil, http.StatusNotFound)
	if got := effectiveNames(t, s, "u2", scope{ProjectID: "p3"}); !slices.Equal(got, []string{"worker"}) {
		t.Errorf("inherited from domain = %v", got)
	}
	if got := effectiveNames(t, s, "u2", scope{DomainID: "d1"}); len(got) != 0 {
		t.Errorf("inherited grant applied to the domain itself: %v", got)
	}
	raCall(t, tc, "DELETE", inh, nil, http.StatusNoContent)

	pinh := "/v3/OS-INHERIT/projects/p1/groups/g1/roles/" + role + "/inherited_to_projects"
	raCall(t, tc, "PUT", pinh, nil, http.StatusNoContent)
	raCall(t, tc, "HEAD", pinh, nil, http.StatusNoContent)
	if got := effectiveNames(t, s, "u1", scope{ProjectID: "p2"}); !slices.Equal(got, []string{"worker"}) {
		t.Errorf("inherited from parent = %v", got)
	}
	raCall(t, tc, "DELETE", pinh, nil, http.StatusNoContent)
	raCall(t, tc, "DELETE", pinh, nil, http.StatusNotFound)

	sys := "/v3/system/users/u2/roles/" + role
	raCall(t, tc, "PUT", sys, nil, http.StatusNoContent)
	raCall(t, tc, "HEAD", sys, nil, http.StatusNoContent)
	list := raCall(t, tc, "GET", "/v3/system/users/u2/roles", nil, http.StatusOK)["roles"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["name"] != "worker" {
		t.Errorf("system grants = %v", list)
	}
	if got := effectiveNames(t, s, "u2", scope{System: true}); !slices.Equal(got, []string{"worker"}) {
		t.Errorf("system roles = %v", got)
	}
	raCall(t, tc, "DELETE", sys, nil, http.StatusNoContent)
	raCall(t, tc, "GET", sys, nil, http.StatusNotFound)
	raCall(t, tc, "PUT", "/v3/system/groups/g1/roles/"+role, nil, http.StatusNoContent)
	raCall(t, tc, "GET", "/v3/system/groups/g1/roles/"+role, nil, http.StatusNoContent)

	// Domain-specific roles: only on projects of their domain, never on the system.
	raDomain(t, s, "d2")
	raProject(t, s, "x1", "d2", "d2")
	dr := raRole(t, tc, "local", "d1")
	raCall(t, tc, "PUT", "/v3/projects/p1/users/u1/roles/"+dr, nil, http.StatusNoContent)
	resp, out := doJSON(t, tc.handler, "PUT", "/v3/projects/x1/users/u1/roles/"+dr, tc.adminToken, nil)
	if resp.StatusCode != http.StatusForbidden || raErr(out) != "Project x1 must be in the same domain as the role "+dr+" being assigned." {
		t.Errorf("domain role on another domain's project: %d %q", resp.StatusCode, raErr(out))
	}
	resp, out = doJSON(t, tc.handler, "PUT", "/v3/system/users/u1/roles/"+dr, tc.adminToken, nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("domain role on the system: %d %v", resp.StatusCode, out)
	}
}

func TestGrantPolicy(t *testing.T) {
	tc := raCloud(t)
	grantFixture(t, tc)
	role := raRole(t, tc, "worker", "")
	for _, c := range []struct{ method, path string }{
		{"PUT", "/v3/projects/p1/users/u1/roles/" + role},
		{"GET", "/v3/projects/p1/users/u1/roles"},
		{"PUT", "/v3/system/users/u1/roles/" + role},
		{"PUT", "/v3/OS-INHERIT/domains/d1/users/u1/roles/" + role + "/inherited_to_projects"},
		// OS-INHERIT checks policy before existence, so a non-admin learns nothing.
		{"PUT", "/v3/OS-INHERIT/domains/nosuch/users/u1/roles/" + role + "/inherited_to_projects"},
		{"GET", "/v3/role_assignments"},
	} {
		if resp, out := doJSON(t, tc.handler, c.method, c.path, tc.demoToken, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("member %s %s: %d %v", c.method, c.path, resp.StatusCode, out)
		}
	}
}

func TestUserProjects(t *testing.T) {
	tc := raCloud(t)
	s := tc.svc
	grantFixture(t, tc)
	role := raRole(t, tc, "worker", "")
	raGrant(t, s, typeUserProject, "u1", "q1", role, false)
	raGrant(t, s, typeGroupProject, "g1", "p2", role, true)
	raExec(t, s, `UPDATE projects SET enabled = ? WHERE id = 'p3'`, false)
	names := func(path string) []string {
		out := raCall(t, tc, "GET", path, nil, http.StatusOK)
		var ns []string
		for _, p := range out["projects"].([]any) {
			ns = append(ns, p.(map[string]any)["id"].(string))
		}
		return ns
	}
	if got := names("/v3/users/u1/projects"); !slices.Equal(got, []string{"p3", "q1"}) {
		t.Errorf("user projects = %v", got)
	}
	if got := names("/v3/users/u1/projects?enabled=true"); !slices.Equal(got, []string{"q1"}) {
		t.Errorf("enabled user projects = %v", got)
	}
	if got := names("/v3/users/u1/projects?name=p3"); !slices.Equal(got, []string{"p3"}) {
		t.Errorf("named user projects = %v", got)
	}
	if got := names("/v3/users/u1/projects?domain_id=default"); len(got) != 0 {
		t.Errorf("user projects in default = %v", got)
	}
	if got := names("/v3/users/nosuch/projects"); len(got) != 0 {
		t.Errorf("projects of a missing user = %v", got)
	}
}

func TestRolePoliciesParse(t *testing.T) {
	for name, text := range rolePolicies() {
		if _, err := policy.Parse(text); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestDomainManagerGrants checks the policy targets with a real domain-scoped token: a
// domain manager may grant and revoke manager, member and reader on users and projects
// of its own domain, nothing else, and sees only its domain's assignments.
func TestDomainManagerGrants(t *testing.T) {
	tc := raCloud(t)
	s := tc.svc
	grantFixture(t, tc)
	raDomain(t, s, "d2")
	raProject(t, s, "x1", "d2", "d2")
	raUser(t, s, "x-user", "d2")
	out := raCall(t, tc, "POST", "/v3/users", map[string]any{"user": map[string]any{"name": "mgr", "domain_id": "d1", "password": "mgr-secret"}}, http.StatusCreated)
	mgr := out["user"].(map[string]any)["id"].(string)
	raGrant(t, s, typeUserDomain, mgr, "d1", raRoleID(t, s, "manager"), false)
	raGrant(t, s, typeUserProject, "u2", "x1", raRoleID(t, s, "reader"), false)
	resp, body := doJSON(t, tc.handler, "POST", "/v3/auth/tokens", "", map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{
			"user": map[string]any{"id": mgr, "password": "mgr-secret"}}},
		"scope": map[string]any{"domain": map[string]any{"id": "d1"}},
	}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("domain token: %d %v", resp.StatusCode, body)
	}
	tok := resp.Header.Get("X-Subject-Token")
	member, admin := raRoleID(t, s, "member"), raRoleID(t, s, "admin")
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"PUT", "/v3/projects/p1/users/u1/roles/" + member, http.StatusNoContent},
		{"GET", "/v3/projects/p1/users/u1/roles/" + member, http.StatusNoContent},
		{"GET", "/v3/projects/p1/users/u1/roles", http.StatusOK},
		{"PUT", "/v3/domains/d1/groups/g1/roles/" + member, http.StatusNoContent},
		{"PUT", "/v3/projects/p1/users/u1/roles/" + admin, http.StatusForbidden},
		{"PUT", "/v3/projects/x1/users/u1/roles/" + member, http.StatusForbidden},
		{"PUT", "/v3/projects/p1/users/x-user/roles/" + member, http.StatusForbidden},
		{"PUT", "/v3/system/users/u1/roles/" + member, http.StatusForbidden},
		{"DELETE", "/v3/projects/p1/users/u1/roles/" + member, http.StatusNoContent},
		{"GET", "/v3/roles", http.StatusOK},
		{"GET", "/v3/roles/" + member, http.StatusOK},
		{"GET", "/v3/roles/" + admin, http.StatusForbidden},
		{"POST", "/v3/roles", http.StatusForbidden},
	} {
		var b any
		if c.method == "POST" {
			b = map[string]any{"role": map[string]any{"name": "x"}}
		}
		if resp, out := doJSON(t, tc.handler, c.method, c.path, tok, b); resp.StatusCode != c.want {
			t.Errorf("manager %s %s: %d, want %d: %v", c.method, c.path, resp.StatusCode, c.want, out)
		}
	}
	// Keystone's list_role_assignments needs reader on the caller's domain, which manager
	// implies; the list is then limited to the domain and its projects.
	resp, body = doJSON(t, tc.handler, "GET", "/v3/role_assignments", tok, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("domain manager role_assignments: %d %v", resp.StatusCode, body)
	}
	rows := body["role_assignments"].([]any)
	if len(rows) == 0 {
		t.Errorf("domain manager sees no assignments")
	}
	for _, x := range rows {
		sc := x.(map[string]any)["scope"].(map[string]any)
		if p, ok := sc["project"].(map[string]any); (ok && p["id"] == "x1") || sc["system"] != nil {
			t.Errorf("domain manager sees an assignment outside its domain: %v", x)
		}
	}
}
