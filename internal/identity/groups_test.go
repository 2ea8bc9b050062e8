package identity

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// groupFixture creates a group through the API as admin and returns its JSON.
func groupFixture(t *testing.T, tc *testCloud, body map[string]any) map[string]any {
	t.Helper()
	resp, out := doJSON(t, tc.handler, "POST", "/v3/groups", tc.adminToken, map[string]any{"group": body})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create group %v: status %d: %v", body, resp.StatusCode, out)
	}
	return out["group"].(map[string]any)
}

func TestGroupCRUD(t *testing.T) {
	tc := newTestCloud(t)
	g := groupFixture(t, tc, map[string]any{"name": "devs", "color": "blue"})
	id := g["id"].(string)
	for k, want := range map[string]any{"name": "devs", "domain_id": "default", "description": "", "color": "blue"} {
		if g[k] != want {
			t.Errorf("group[%q] = %v, want %v", k, g[k], want)
		}
	}
	if g["links"].(map[string]any)["self"] != "http://example.com/v3/groups/"+id {
		t.Errorf("links = %v", g["links"])
	}
	resp, out := doJSON(t, tc.handler, "POST", "/v3/groups", tc.adminToken, map[string]any{"group": map[string]any{"name": "devs"}})
	if resp.StatusCode != http.StatusConflict ||
		errorMessage(out) != "Conflict occurred attempting to store group - Duplicate entry found with name devs at domain ID default." {
		t.Errorf("duplicate: %d %q", resp.StatusCode, errorMessage(out))
	}
	for name, body := range map[string]map[string]any{
		"no name":       {"description": "x"},
		"long name":     {"name": strings.Repeat("g", 256)},
		"bad desc":      {"name": "x", "description": 5},
		"bad domain id": {"name": "x", "domain_id": "a b"},
	} {
		if resp, _ := doJSON(t, tc.handler, "POST", "/v3/groups", tc.adminToken, map[string]any{"group": body}); resp.StatusCode != 400 {
			t.Errorf("%s: %d, want 400", name, resp.StatusCode)
		}
	}
	if resp, _ := doJSON(t, tc.handler, "POST", "/v3/groups", tc.adminToken, map[string]any{"group": map[string]any{"name": "x", "domain_id": "nosuch"}}); resp.StatusCode != 404 {
		t.Errorf("unknown domain: %d, want 404", resp.StatusCode)
	}

	resp, out = doJSON(t, tc.handler, "PATCH", "/v3/groups/"+id, tc.adminToken, map[string]any{"group": map[string]any{"name": "developers", "description": "d"}})
	if resp.StatusCode != 200 || out["group"].(map[string]any)["name"] != "developers" || out["group"].(map[string]any)["color"] != "blue" {
		t.Errorf("patch: %d %v", resp.StatusCode, out)
	}
	groupFixture(t, tc, map[string]any{"name": "ops"})
	for name, tt := range map[string]struct {
		body map[string]any
		want int
	}{
		"empty":         {map[string]any{}, 400},
		"change domain": {map[string]any{"domain_id": "elsewhere"}, 400},
		"change id":     {map[string]any{"id": "other"}, 400},
		"duplicate":     {map[string]any{"name": "ops"}, 409},
	} {
		if resp, _ := doJSON(t, tc.handler, "PATCH", "/v3/groups/"+id, tc.adminToken, map[string]any{"group": tt.body}); resp.StatusCode != tt.want {
			t.Errorf("patch %s: %d, want %d", name, resp.StatusCode, tt.want)
		}
	}

	other := domainFixture(t, tc, "other")
	groupFixture(t, tc, map[string]any{"name": "Devops", "domain_id": other})
	for q, want := range map[string][]string{
		"":                      {"developers", "ops", "Devops"},
		"name=ops":              {"ops"},
		"name__contains=Dev":    {"Devops"},
		"name__icontains=OPS":   {"ops", "Devops"},
		"name__startswith=dev":  {"developers"},
		"domain_id=" + other:    {"Devops"},
		"domain_id=" + "nosuch": nil,
	} {
		resp, out := doJSON(t, tc.handler, "GET", "/v3/groups?"+q, tc.adminToken, nil)
		got := listNames(out, "groups")
		if resp.StatusCode != 200 || len(got) != len(want) {
			t.Errorf("list %q: %d %v, want %v", q, resp.StatusCode, got, want)
			continue
		}
		for _, n := range want {
			if !got[n] {
				t.Errorf("list %q: %v, want %v", q, got, want)
			}
		}
	}

	if resp, _ := doJSON(t, tc.handler, "DELETE", "/v3/groups/"+id, tc.adminToken, nil); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	resp, out = doJSON(t, tc.handler, "GET", "/v3/groups/"+id, tc.adminToken, nil)
	if resp.StatusCode != 404 || errorMessage(out) != "Could not find group: "+id+"." {
		t.Errorf("get deleted: %d %v", resp.StatusCode, out)
	}
	if resp, _ := doJSON(t, tc.handler, "DELETE", "/v3/groups/"+id, tc.adminToken, nil); resp.StatusCode != 404 {
		t.Errorf("delete again: %d, want 404", resp.StatusCode)
	}
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/groups", tc.demoToken, nil); resp.StatusCode != 403 {
		t.Errorf("demo lists groups: %d, want 403", resp.StatusCode)
	}
}

func TestGroupMembership(t *testing.T) {
	tc := newTestCloud(t)
	ctx := context.Background()
	g := groupFixture(t, tc, map[string]any{"name": "team"})
	gid := g["id"].(string)
	u := userFixture(t, tc, map[string]any{"name": "member1", "password": "pw"})
	uid := u["id"].(string)
	u2 := userFixture(t, tc, map[string]any{"name": "member2"})
	member := "/v3/groups/" + gid + "/users/" + uid

	resp, out := doJSON(t, tc.handler, "HEAD", member, tc.adminToken, nil)
	if resp.StatusCode != 404 {
		t.Errorf("check before add: %d %v", resp.StatusCode, out)
	}
	_, out = doJSON(t, tc.handler, "GET", member, tc.adminToken, nil)
	if want := "User '" + uid + "' not found in group '" + gid + "'"; errorMessage(out) != want {
		t.Errorf("not-a-member message %q, want %q", errorMessage(out), want)
	}
	for i := 0; i < 2; i++ { // adding twice is fine
		if resp, out := doJSON(t, tc.handler, "PUT", member, tc.adminToken, nil); resp.StatusCode != 204 {
			t.Fatalf("add: %d %v", resp.StatusCode, out)
		}
	}
	doJSON(t, tc.handler, "PUT", "/v3/groups/"+gid+"/users/"+u2["id"].(string), tc.adminToken, nil)
	for _, m := range []string{"HEAD", "GET"} {
		if resp, _ := doJSON(t, tc.handler, m, member, tc.adminToken, nil); resp.StatusCode != 204 {
			t.Errorf("%s check: %d, want 204", m, resp.StatusCode)
		}
	}
	resp, out = doJSON(t, tc.handler, "GET", "/v3/groups/"+gid+"/users", tc.adminToken, nil)
	if got := listNames(out, "users"); resp.StatusCode != 200 || len(got) != 2 || !got["member1"] || !got["member2"] {
		t.Errorf("users in group: %d %v", resp.StatusCode, out)
	}
	_, out = doJSON(t, tc.handler, "GET", "/v3/groups/"+gid+"/users?name=member2", tc.adminToken, nil)
	if got := listNames(out, "users"); len(got) != 1 || !got["member2"] {
		t.Errorf("users in group named member2: %v", got)
	}
	resp, out = doJSON(t, tc.handler, "GET", "/v3/users/"+uid+"/groups", tc.adminToken, nil)
	groups, _ := out["groups"].([]any)
	if resp.StatusCode != 200 || len(groups) != 1 {
		t.Fatalf("groups for user: %d %v", resp.StatusCode, out)
	}
	if gg := groups[0].(map[string]any); gg["id"] != gid || gg["membership_expires_at"] != nil {
		t.Errorf("group for user = %v", gg)
	} else if _, ok := gg["membership_expires_at"]; !ok {
		t.Errorf("group for user lacks membership_expires_at: %v", gg)
	}
	if ids, err := tc.svc.groupIDsForUser(ctx, tc.svc.db, uid); err != nil || len(ids) != 1 || ids[0] != gid {
		t.Errorf("groupIDsForUser = %v, %v", ids, err)
	}

	for path, want := range map[string]string{
		"/v3/groups/nosuch/users/" + uid: "Could not find group: nosuch.",
		"/v3/groups/" + gid + "/users/x": "Could not find user: x.",
	} {
		for _, m := range []string{"PUT", "GET", "DELETE"} {
			resp, out := doJSON(t, tc.handler, m, path, tc.adminToken, nil)
			if resp.StatusCode != 404 || errorMessage(out) != want {
				t.Errorf("%s %s: %d %q, want 404 %q", m, path, resp.StatusCode, errorMessage(out), want)
			}
		}
	}
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/groups/nosuch/users", tc.adminToken, nil); resp.StatusCode != 404 {
		t.Errorf("users of unknown group: %d", resp.StatusCode)
	}
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/users/nosuch/groups", tc.adminToken, nil); resp.StatusCode != 404 {
		t.Errorf("groups of unknown user: %d", resp.StatusCode)
	}
	if resp, _ := doJSON(t, tc.handler, "PUT", member, tc.demoToken, nil); resp.StatusCode != 403 {
		t.Errorf("demo adds a member: %d, want 403", resp.StatusCode)
	}

	// Removing a member revokes the member's tokens.
	status, token, _ := authStatus(t, tc, uid, "pw")
	if status != 201 {
		t.Fatalf("auth: %d", status)
	}
	if resp, _ := doJSON(t, tc.handler, "DELETE", member, tc.adminToken, nil); resp.StatusCode != 204 {
		t.Fatalf("remove: %d", resp.StatusCode)
	}
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/users/"+uid, token, nil); resp.StatusCode != 401 {
		t.Errorf("removed member's token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := doJSON(t, tc.handler, "DELETE", member, tc.adminToken, nil); resp.StatusCode != 404 {
		t.Errorf("remove again: %d, want 404", resp.StatusCode)
	}
}

func TestDeleteGroupDeletesAssignments(t *testing.T) {
	tc := newTestCloud(t)
	ctx := context.Background()
	g := groupFixture(t, tc, map[string]any{"name": "granted"})
	gid := g["id"].(string)
	u := userFixture(t, tc, map[string]any{"name": "m", "password": "pw"})
	uid := u["id"].(string)
	doJSON(t, tc.handler, "PUT", "/v3/groups/"+gid+"/users/"+uid, tc.adminToken, nil)
	if _, err := tc.svc.db.ExecContext(ctx, `INSERT INTO assignments (type, actor_id, target_id, role_id, inherited) VALUES ('GroupProject', ?, 'p', 'r', FALSE)`, gid); err != nil {
		t.Fatal(err)
	}
	_, token, _ := authStatus(t, tc, uid, "pw")
	if resp, _ := doJSON(t, tc.handler, "DELETE", "/v3/groups/"+gid, tc.adminToken, nil); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	var n int
	if err := tc.svc.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM assignments WHERE actor_id = ?`, gid).Scan(&n); err != nil || n != 0 {
		t.Errorf("assignments left: %d %v", n, err)
	}
	if err := tc.svc.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM user_group_membership WHERE group_id = ?`, gid).Scan(&n); err != nil || n != 0 {
		t.Errorf("memberships left: %d %v", n, err)
	}
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/users/"+uid, token, nil); resp.StatusCode != 401 {
		t.Errorf("member's token after deleting a group with grants: %d, want 401", resp.StatusCode)
	}
}
