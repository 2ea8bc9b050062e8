package identity

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// assignmentKey summarises one role_assignments row as "actor scope role", with "+inh"
// for rows that carry OS-INHERIT:inherited_to.
func assignmentKey(a map[string]any) string {
	actor := ""
	if u, ok := a["user"].(map[string]any); ok {
		actor = "u:" + u["id"].(string)
	} else {
		actor = "g:" + a["group"].(map[string]any)["id"].(string)
	}
	sc := a["scope"].(map[string]any)
	target := ""
	switch {
	case sc["project"] != nil:
		target = "p:" + sc["project"].(map[string]any)["id"].(string)
	case sc["domain"] != nil:
		target = "d:" + sc["domain"].(map[string]any)["id"].(string)
	default:
		target = "system"
	}
	if sc["OS-INHERIT:inherited_to"] == "projects" {
		target += "+inh"
	}
	return actor + " " + target + " " + a["role"].(map[string]any)["id"].(string)
}

// listAssignments calls GET /v3/role_assignments as admin and returns the sorted keys of
// the rows that involve the fixture's users and groups, and the rows themselves.
func listAssignments(t *testing.T, tc *testCloud, query string) ([]string, []map[string]any) {
	t.Helper()
	out := raCall(t, tc, "GET", "/v3/role_assignments"+query, nil, http.StatusOK)
	var keys []string
	var rows []map[string]any
	for _, x := range out["role_assignments"].([]any) {
		a := x.(map[string]any)
		k := assignmentKey(a)
		if strings.HasPrefix(k, "u:u") || strings.HasPrefix(k, "g:g") {
			keys = append(keys, k)
			rows = append(rows, a)
		}
	}
	slices.Sort(keys)
	return keys, rows
}

// assignmentFixture grants, on grantFixture's hierarchy: role A to u1 on p1, role B to
// g1 on p1, role C to u2 inherited from domain d1, role D to g1 on the system, role E
// to u2 on d1, with A implying R.
type assignmentRoles struct{ A, B, C, D, E, R string }

func assignmentFixture(t *testing.T, tc *testCloud) assignmentRoles {
	s := tc.svc
	grantFixture(t, tc)
	r := assignmentRoles{A: raRole(t, tc, "a", ""), B: raRole(t, tc, "b", ""), C: raRole(t, tc, "c", ""),
		D: raRole(t, tc, "d", ""), E: raRole(t, tc, "e", ""), R: raRole(t, tc, "r", "")}
	raCall(t, tc, "PUT", "/v3/roles/"+r.A+"/implies/"+r.R, nil, http.StatusCreated)
	raGrant(t, s, typeUserProject, "u1", "p1", r.A, false)
	raGrant(t, s, typeGroupProject, "g1", "p1", r.B, false)
	raGrant(t, s, typeUserDomain, "u2", "d1", r.C, true)
	raGrant(t, s, typeGroupSystem, "g1", "system", r.D, false)
	raGrant(t, s, typeUserDomain, "u2", "d1", r.E, false)
	return r
}

func TestRoleAssignmentsDirect(t *testing.T) {
	tc := raCloud(t)
	r := assignmentFixture(t, tc)
	sorted := func(ks ...string) []string { slices.Sort(ks); return ks }
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", sorted("u:u1 p:p1 "+r.A, "g:g1 p:p1 "+r.B, "u:u2 d:d1+inh "+r.C, "g:g1 system "+r.D, "u:u2 d:d1 "+r.E)},
		{"?user.id=u1", []string{"u:u1 p:p1 " + r.A}},
		{"?group.id=g1", sorted("g:g1 p:p1 "+r.B, "g:g1 system "+r.D)},
		{"?role.id=" + r.B, []string{"g:g1 p:p1 " + r.B}},
		{"?scope.project.id=p1", sorted("u:u1 p:p1 "+r.A, "g:g1 p:p1 "+r.B)},
		{"?scope.domain.id=d1", sorted("u:u2 d:d1+inh "+r.C, "u:u2 d:d1 "+r.E)},
		{"?scope.system=all", []string{"g:g1 system " + r.D}},
		{"?scope.OS-INHERIT:inherited_to=projects&user.id=u2", []string{"u:u2 d:d1+inh " + r.C}},
		{"?scope.OS-INHERIT:inherited_to=x&scope.domain.id=d1", []string{"u:u2 d:d1 " + r.E}},
	} {
		got, _ := listAssignments(t, tc, c.query)
		if !slices.Equal(got, c.want) {
			t.Errorf("%q:\n got %v\nwant %v", c.query, got, c.want)
		}
	}
	_, rows := listAssignments(t, tc, "?user.id=u2")
	for _, a := range rows {
		link := a["links"].(map[string]any)["assignment"]
		switch a["role"].(map[string]any)["id"] {
		case r.C:
			if link != "http://example.com/v3/OS-INHERIT/domains/d1/users/u2/roles/"+r.C+"/inherited_to_projects" {
				t.Errorf("inherited link = %v", link)
			}
		case r.E:
			if link != "http://example.com/v3/domains/d1/users/u2/roles/"+r.E {
				t.Errorf("domain link = %v", link)
			}
		}
	}
	out := raCall(t, tc, "GET", "/v3/role_assignments?user.id=u1", nil, http.StatusOK)
	if out["links"].(map[string]any)["self"] != "http://example.com/v3/role_assignments?user.id=u1" {
		t.Errorf("links = %v", out["links"])
	}
}

func TestRoleAssignmentsEffective(t *testing.T) {
	tc := raCloud(t)
	r := assignmentFixture(t, tc)
	got, rows := listAssignments(t, tc, "?effective&user.id=u1")
	want := []string{"u:u1 p:p1 " + r.A, "u:u1 p:p1 " + r.B, "u:u1 p:p1 " + r.R}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("effective u1 = %v, want %v", got, want)
	}
	for _, a := range rows {
		links := a["links"].(map[string]any)
		switch a["role"].(map[string]any)["id"] {
		case r.B:
			if links["membership"] != "http://example.com/v3/groups/g1/users/u1" ||
				links["assignment"] != "http://example.com/v3/projects/p1/groups/g1/roles/"+r.B {
				t.Errorf("group-derived links = %v", links)
			}
		case r.R:
			if links["assignment"] != "http://example.com/v3/projects/p1/users/u1/roles/"+r.A ||
				links["prior_role"] != "http://example.com/v3/prior_role/"+r.R+"/implies/"+r.A {
				t.Errorf("implied links = %v", links)
			}
		case r.A:
			if len(links) != 1 {
				t.Errorf("direct links = %v", links)
			}
		}
	}

	// u2's domain-inherited grant reaches every project of d1; the domain grant stays.
	got, rows = listAssignments(t, tc, "?effective&user.id=u2")
	want = []string{"u:u2 d:d1 " + r.E}
	for _, p := range []string{"p1", "p2", "p3", "q1"} {
		want = append(want, "u:u2 p:"+p+"+inh "+r.C)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("effective u2 = %v, want %v", got, want)
	}
	for _, a := range rows {
		if a["role"].(map[string]any)["id"] == r.C && a["links"].(map[string]any)["assignment"] != "http://example.com/v3/OS-INHERIT/domains/d1/users/u2/roles/"+r.C+"/inherited_to_projects" {
			t.Errorf("expanded inherited link = %v", a["links"])
		}
	}

	// On a project, effective listings expand groups and inheritance for every actor and
	// drop group rows; system grants are not part of effective listings.
	got, _ = listAssignments(t, tc, "?effective&scope.project.id=p2")
	if want := []string{"u:u2 p:p2+inh " + r.C}; !slices.Equal(got, want) {
		t.Errorf("effective on p2 = %v, want %v", got, want)
	}
	got, _ = listAssignments(t, tc, "?effective&scope.project.id=p1&role.id="+r.R)
	if want := []string{"u:u1 p:p1 " + r.R}; !slices.Equal(got, want) {
		t.Errorf("effective role filter = %v, want %v", got, want)
	}
	for _, k := range func() []string { k, _ := listAssignments(t, tc, "?effective"); return k }() {
		if strings.HasPrefix(k, "g:") || strings.Contains(k, "system") {
			t.Errorf("effective listing holds %s", k)
		}
	}

	// Domain-specific roles are dropped from effective listings.
	dr := raRole(t, tc, "local", "d1")
	raGrant(t, tc.svc, typeUserProject, "u1", "q1", dr, false)
	if got, _ := listAssignments(t, tc, "?effective&scope.project.id=q1&user.id=u1"); len(got) != 0 {
		t.Errorf("domain role in effective listing: %v", got)
	}
	if got, _ := listAssignments(t, tc, "?scope.project.id=q1&user.id=u1"); len(got) != 1 {
		t.Errorf("domain role missing from direct listing: %v", got)
	}

	resp, out := doJSON(t, tc.handler, "GET", "/v3/role_assignments?effective&scope.project.id=nosuch", tc.adminToken, nil)
	if resp.StatusCode != http.StatusNotFound || raErr(out) != "Could not find project: nosuch." {
		t.Errorf("effective on a missing project: %d %q", resp.StatusCode, raErr(out))
	}
}

func TestRoleAssignmentsNamesAndSubtree(t *testing.T) {
	tc := raCloud(t)
	s := tc.svc
	r := assignmentFixture(t, tc)
	raGrant(t, s, typeUserProject, "u2", "p3", r.B, false)
	dr := raRole(t, tc, "local", "d1")
	raGrant(t, s, typeUserProject, "u2", "p2", dr, false)

	_, rows := listAssignments(t, tc, "?include_names&user.id=u1")
	if len(rows) != 1 {
		t.Fatalf("rows = %v", rows)
	}
	want := map[string]any{
		"user":  map[string]any{"id": "u1", "name": "u1", "domain": map[string]any{"id": "d1", "name": "d1"}},
		"role":  map[string]any{"id": r.A, "name": "a"},
		"scope": map[string]any{"project": map[string]any{"id": "p1", "name": "p1", "domain": map[string]any{"id": "d1", "name": "d1"}}},
		"links": map[string]any{"assignment": "http://example.com/v3/projects/p1/users/u1/roles/" + r.A},
	}
	if !reflect.DeepEqual(rows[0], want) {
		t.Errorf("include_names row = %v\nwant %v", rows[0], want)
	}
	_, rows = listAssignments(t, tc, "?include_names=1&user.id=u2&scope.project.id=p2")
	if len(rows) != 1 || !reflect.DeepEqual(rows[0]["role"], map[string]any{"id": dr, "name": "local", "domain": map[string]any{"id": "d1", "name": "d1"}}) {
		t.Errorf("domain role with names = %v", rows)
	}
	_, rows = listAssignments(t, tc, "?include_names&scope.system=all")
	if len(rows) != 1 || !reflect.DeepEqual(rows[0]["group"], map[string]any{"id": "g1", "name": "g1", "domain": map[string]any{"id": "d1", "name": "d1"}}) ||
		!reflect.DeepEqual(rows[0]["scope"], map[string]any{"system": map[string]any{"all": true}}) {
		t.Errorf("system row with names = %v", rows)
	}
	_, rows = listAssignments(t, tc, "?include_names=0&user.id=u1")
	if _, ok := rows[0]["user"].(map[string]any)["name"]; ok {
		t.Errorf("include_names=0 added names: %v", rows[0])
	}

	got, _ := listAssignments(t, tc, "?include_subtree&scope.project.id=p2")
	if want := []string{"u:u2 p:p2 " + dr, "u:u2 p:p3 " + r.B}; !slices.Equal(got, sortedCopy(want)) {
		t.Errorf("subtree of p2 = %v, want %v", got, want)
	}
	got, _ = listAssignments(t, tc, "?include_subtree&scope.project.id=p1&effective")
	want2 := []string{"u:u1 p:p1 " + r.A, "u:u1 p:p1 " + r.B, "u:u1 p:p1 " + r.R, "u:u2 p:p3 " + r.B}
	for _, p := range []string{"p1", "p2", "p3"} {
		want2 = append(want2, "u:u2 p:"+p+"+inh "+r.C)
	}
	if !slices.Equal(got, sortedCopy(want2)) {
		t.Errorf("effective subtree of p1 = %v\nwant %v", got, sortedCopy(want2))
	}
	resp, out := doJSON(t, tc.handler, "GET", "/v3/role_assignments?include_subtree", tc.adminToken, nil)
	if resp.StatusCode != http.StatusBadRequest || raErr(out) != "scope.project.id must be specified if include_subtree is also specified" {
		t.Errorf("subtree without project: %d %q", resp.StatusCode, raErr(out))
	}
}

// sortedCopy returns a sorted copy.
func sortedCopy(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return out
}

func TestRoleAssignmentsBadFilters(t *testing.T) {
	tc := raCloud(t)
	for q, msg := range map[string]string{
		"?scope.domain.id=d&scope.project.id=p":                               "Specify a domain or project, not both",
		"?scope.domain.id=d&scope.system=all":                                 "Specify system or domain, not both",
		"?scope.project.id=p&scope.system=all":                                "Specify system or project, not both",
		"?user.id=u&group.id=g":                                               "Specify a user or group, not both",
		"?effective&group.id=g":                                               "Combining effective and group filter will always result in an empty list.",
		"?effective&scope.domain.id=d&scope.OS-INHERIT:inherited_to=projects": "Combining effective, domain and inherited filters will always result in an empty list.",
		"?user.id=":      "",
		"?role.id=a%20b": "",
	} {
		resp, out := doJSON(t, tc.handler, "GET", "/v3/role_assignments"+q, tc.adminToken, nil)
		if resp.StatusCode != http.StatusBadRequest || (msg != "" && raErr(out) != msg) {
			t.Errorf("%s: %d %q", q, resp.StatusCode, raErr(out))
		}
	}
}

// BenchmarkEffectiveRoles measures the per-token role computation with about 1000
// assignments in the store: many users with project grants, and a user whose roles come
// directly, through groups, by inheritance from a domain and an ancestor, and by
// implication.
func BenchmarkEffectiveRoles(b *testing.B) {
	tc := raCloud(b)
	s := tc.svc
	ctx := context.Background()
	raDomain(b, s, "bd")
	raProject(b, s, "bp1", "bd", "bd")
	raProject(b, s, "bp2", "bd", "bp1")
	raProject(b, s, "bp3", "bd", "bp2")
	var roles []string
	for i := 0; i < 20; i++ {
		id := fmt.Sprintf("benchrole%02d", i)
		raExec(b, s, `INSERT INTO roles (id, name, domain_id) VALUES (?, ?, ?)`, id, id, NullDomainID)
		roles = append(roles, id)
	}
	for i := 0; i < 50; i++ {
		raProject(b, s, fmt.Sprintf("bq%02d", i), "bd", "bd")
	}
	for i := 0; i < 950; i++ {
		u := fmt.Sprintf("bu%04d", i)
		raUser(b, s, u, "bd")
		raGrant(b, s, typeUserProject, u, fmt.Sprintf("bq%02d", i%50), roles[i%20], false)
	}
	raUser(b, s, "bme", "bd")
	for i := 0; i < 10; i++ {
		raGroup(b, s, fmt.Sprintf("bg%d", i), "bd", "bme")
		raGrant(b, s, typeGroupProject, fmt.Sprintf("bg%d", i), "bp3", roles[i], false)
	}
	raGrant(b, s, typeUserProject, "bme", "bp3", raRoleID(b, s, "admin"), false)
	raGrant(b, s, typeUserDomain, "bme", "bd", roles[15], true)
	raGrant(b, s, typeUserProject, "bme", "bp1", roles[16], true)
	want, err := s.effectiveRoles(ctx, s.db, "bme", scope{ProjectID: "bp3"})
	if err != nil || len(want) != 16 {
		b.Fatalf("roles = %v (%d), %v", roleNameList(want), len(want), err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.effectiveRoles(ctx, s.db, "bme", scope{ProjectID: "bp3"}); err != nil {
			b.Fatal(err)
		}
	}
}
