package compute

import (
	"context"
	"testing"
)

func TestServerGroups(t *testing.T) {
	tc := newTestCloud(t)
	sg := func(m map[string]any) map[string]any { return map[string]any{"server_group": m} }
	// Shapes per microversion.
	r := tc.doAs(t, tc.demoToken, "2.1", "POST", "/v2.1/os-server-groups", sg(map[string]any{"name": "g1", "policies": []string{"affinity"}})).want(t, 200)
	g := r.obj("server_group")
	if len(g) != 5 || g["policies"].([]any)[0] != "affinity" || len(g["members"].([]any)) != 0 || len(g["metadata"].(map[string]any)) != 0 {
		t.Errorf("2.1 group %v", g)
	}
	g1 := g["id"].(string)
	r = tc.doAs(t, tc.demoToken, "2.13", "POST", "/v2.1/os-server-groups", sg(map[string]any{"name": "g2", "policies": []string{"anti-affinity"}})).want(t, 200)
	if g := r.obj("server_group"); g["project_id"] != tc.demoProjectID || g["user_id"] != tc.demoUserID || len(g) != 7 {
		t.Errorf("2.13 group %v", g)
	}
	r = tc.doAs(t, tc.demoToken, "2.64", "POST", "/v2.1/os-server-groups", sg(map[string]any{"name": "g3", "policy": "anti-affinity", "rules": map[string]any{"max_server_per_host": "2"}})).want(t, 200)
	g = r.obj("server_group")
	if g["policy"] != "anti-affinity" || g["rules"].(map[string]any)["max_server_per_host"].(float64) != 2 || len(g) != 7 {
		t.Errorf("2.64 group %v", g)
	}
	g3 := g["id"].(string)
	bad := []struct {
		ver  string
		body map[string]any
	}{
		{"2.1", sg(map[string]any{"name": "x", "policies": []string{"soft-affinity"}})},
		{"2.15", sg(map[string]any{"name": "x", "policies": []string{"affinity", "anti-affinity"}})},
		{"2.15", sg(map[string]any{"name": "x", "policies": []string{}})},
		{"2.15", sg(map[string]any{"name": "x"})},
		{"2.15", sg(map[string]any{"name": "x", "policy": "affinity"})},
		{"2.64", sg(map[string]any{"name": "x", "policies": []string{"affinity"}})},
		{"2.64", sg(map[string]any{"name": "x", "policy": "bogus"})},
		{"2.64", sg(map[string]any{"name": "x", "policy": "affinity", "rules": map[string]any{"max_server_per_host": 2}})},
		{"2.64", sg(map[string]any{"name": "x", "policy": "anti-affinity", "rules": map[string]any{"max_server_per_host": 0}})},
		{"2.64", sg(map[string]any{"name": "x", "policy": "anti-affinity", "rules": map[string]any{"other": 1}})},
		{"2.64", sg(map[string]any{"name": " x", "policy": "affinity"})},
		{"2.64", sg(map[string]any{"policy": "affinity"})},
		{"2.64", map[string]any{"bogus": 1}},
	}
	for _, b := range bad {
		if r := tc.doAs(t, tc.demoToken, b.ver, "POST", "/v2.1/os-server-groups", b.body); r.code != 400 {
			t.Errorf("%s %v: %d %s", b.ver, b.body, r.code, r.raw)
		}
	}
	tc.doAs(t, tc.demoToken, "2.15", "POST", "/v2.1/os-server-groups", sg(map[string]any{"name": "soft", "policies": []string{"soft-anti-affinity"}})).want(t, 200)
	// Members: live instances only.
	live := addTestInstance(t, tc, tc.demoProjectID, tc.demoUserID, 1, 64, false)
	gone := addTestInstance(t, tc, tc.demoProjectID, tc.demoUserID, 1, 64, true)
	for _, m := range []string{live, gone} {
		if _, err := tc.db.ExecContext(context.Background(), `INSERT INTO compute_server_group_members (group_uuid, instance_uuid) VALUES (?, ?)`, g1, m); err != nil {
			t.Fatal(err)
		}
	}
	g = tc.doAs(t, tc.demoToken, "2.64", "GET", "/v2.1/os-server-groups/"+g1, nil).want(t, 200).obj("server_group")
	if m := g["members"].([]any); len(m) != 1 || m[0] != live {
		t.Errorf("members %v", m)
	}
	// Visibility: other projects get 403 on show, never see the group in lists.
	tc.doAs(t, tc.altToken, "2.64", "GET", "/v2.1/os-server-groups/"+g1, nil).want(t, 403)
	tc.doAs(t, tc.altToken, "2.64", "DELETE", "/v2.1/os-server-groups/"+g1, nil).want(t, 403)
	if l := tc.doAs(t, tc.altToken, "2.64", "GET", "/v2.1/os-server-groups?all_projects=1", nil).want(t, 200).list("server_groups"); len(l) != 0 {
		t.Errorf("alt sees %v", l)
	}
	if l := tc.do(t, "2.64", "GET", "/v2.1/os-server-groups", nil).want(t, 200).list("server_groups"); len(l) != 0 {
		t.Errorf("admin own project %v", l)
	}
	if l := tc.do(t, "2.64", "GET", "/v2.1/os-server-groups?all_projects=True", nil).want(t, 200).list("server_groups"); len(l) != 4 {
		t.Errorf("admin all %v", l)
	}
	l := tc.doAs(t, tc.demoToken, "2.64", "GET", "/v2.1/os-server-groups?limit=2&offset=1", nil).want(t, 200).list("server_groups")
	if len(l) != 2 || l[0]["name"] != "g2" || l[1]["name"] != "g3" {
		t.Errorf("page %v", l)
	}
	tc.doAs(t, tc.demoToken, "2.64", "GET", "/v2.1/os-server-groups?offset=-1", nil).want(t, 400)
	tc.doAs(t, tc.demoToken, "2.75", "GET", "/v2.1/os-server-groups?bogus=1", nil).want(t, 400)
	tc.doAs(t, tc.demoToken, "2.74", "GET", "/v2.1/os-server-groups?bogus=1", nil).want(t, 200)
	// Delete.
	tc.doAs(t, tc.demoToken, "2.64", "DELETE", "/v2.1/os-server-groups/"+g3, nil).want(t, 204)
	tc.doAs(t, tc.demoToken, "2.64", "DELETE", "/v2.1/os-server-groups/"+g3, nil).want(t, 404)
	tc.doAs(t, tc.demoToken, "2.64", "GET", "/v2.1/os-server-groups/"+g3, nil).want(t, 404)
	tc.doAs(t, tc.demoToken, "2.1", "DELETE", "/v2.1/os-server-groups/"+g1, nil).want(t, 204)
	var n int
	if err := tc.db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM compute_server_group_members WHERE group_uuid = ?`, g1).Scan(&n); err != nil || n != 0 {
		t.Errorf("members left: %d %v", n, err)
	}
}

func TestServerGroupQuota(t *testing.T) {
	tc := newTestCloud(t)
	tc.do(t, "2.1", "PUT", "/v2.1/os-quota-sets/"+tc.demoProjectID, map[string]any{"quota_set": map[string]any{"server_groups": 2}}).want(t, 200)
	body := map[string]any{"server_group": map[string]any{"name": "g", "policy": "affinity"}}
	tc.doAs(t, tc.demoToken, "2.64", "POST", "/v2.1/os-server-groups", body).want(t, 200)
	tc.doAs(t, tc.demoToken, "2.64", "POST", "/v2.1/os-server-groups", body).want(t, 200)
	r := tc.doAs(t, tc.demoToken, "2.64", "POST", "/v2.1/os-server-groups", body).want(t, 403)
	if msg := r.obj("forbidden")["message"]; msg != "Quota exceeded, too many server groups." {
		t.Errorf("message %v", msg)
	}
	abs := tc.doAs(t, tc.demoToken, "2.64", "GET", "/v2.1/limits", nil).want(t, 200).obj("limits")["absolute"].(map[string]any)
	if abs["totalServerGroupsUsed"].(float64) != 2 || abs["maxServerGroups"].(float64) != 2 {
		t.Errorf("limits %v", abs)
	}
	// The alt project has its own quota.
	tc.doAs(t, tc.altToken, "2.64", "POST", "/v2.1/os-server-groups", body).want(t, 200)
}
