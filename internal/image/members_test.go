package image

import (
	"strings"
	"testing"
)

// TestVisibilityIsolation checks each visibility against a second project.
func TestVisibilityIsolation(t *testing.T) {
	tc := newTestCloud(t)
	ids := map[string]string{}
	for _, v := range []string{"private", "shared", "community"} {
		ids[v] = tc.createImage(t, tc.demo.token, map[string]any{"name": v, "visibility": v, "disk_format": "raw", "container_format": "bare"})["id"].(string)
		tc.upload(t, tc.demo.token, ids[v], []byte("data of "+v))
	}
	ids["public"] = tc.createImage(t, tc.admin.token, map[string]any{"name": "public", "visibility": "public"})["id"].(string)

	altList := tc.listIDs(t, tc.alt.token, "")
	for v, id := range ids {
		resp, _ := tc.json(t, "GET", "/image/v2/images/"+id, tc.alt.token, nil)
		visibleByID := v == "community" || v == "public"
		if (resp.StatusCode == 200) != visibleByID {
			t.Errorf("%s image shown to another project: %d", v, resp.StatusCode)
		}
		if contains(altList, id) != (v == "public") {
			t.Errorf("%s image listed for another project: %v", v, contains(altList, id))
		}
	}
	if !contains(tc.listIDs(t, tc.alt.token, "?visibility=community"), ids["community"]) {
		t.Errorf("community image not listed with visibility=community")
	}
	// The owner lists its community image; the admin sees everything but others' community images.
	if !contains(tc.listIDs(t, tc.demo.token, ""), ids["community"]) {
		t.Errorf("owner does not list its community image")
	}
	adminList := tc.listIDs(t, tc.admin.token, "")
	if !contains(adminList, ids["private"]) || contains(adminList, ids["community"]) {
		t.Errorf("admin list %v", adminList)
	}
	if rec := tc.request(t, "GET", "/image/v2/images/"+ids["private"]+"/file", tc.alt.token, "", nil); rec.Code != 404 {
		t.Errorf("private download by another project: %d", rec.Code)
	}
	if rec := tc.request(t, "GET", "/image/v2/images/"+ids["community"]+"/file", tc.alt.token, "", nil); rec.Code != 200 {
		t.Errorf("community download by another project: %d", rec.Code)
	}
	// Another project may not change or delete what it can see.
	if resp, out := tc.json(t, "PATCH", "/image/v2/images/"+ids["community"], tc.alt.token, []any{map[string]any{"op": "replace", "path": "/name", "value": "x"}}); resp.StatusCode != 403 {
		t.Errorf("patch of another project's community image: %d %v", resp.StatusCode, out)
	}
	if resp, _ := tc.json(t, "DELETE", "/image/v2/images/"+ids["public"], tc.alt.token, nil); resp.StatusCode != 403 {
		t.Errorf("delete of a public image by a member: %d", resp.StatusCode)
	}
}

func TestMembers(t *testing.T) {
	tc := newTestCloud(t)
	id := tc.createImage(t, tc.demo.token, map[string]any{"name": "s", "visibility": "shared", "disk_format": "raw", "container_format": "bare"})["id"].(string)
	tc.upload(t, tc.demo.token, id, []byte("shared data"))
	members := "/image/v2/images/" + id + "/members"

	resp, m := tc.json(t, "POST", members, tc.demo.token, map[string]any{"member": tc.alt.project})
	if resp.StatusCode != 200 || m["status"] != "pending" || m["member_id"] != tc.alt.project || m["image_id"] != id ||
		m["schema"] != "/v2/schemas/member" {
		t.Fatalf("add member: %d %v", resp.StatusCode, m)
	}
	if resp, _ := tc.json(t, "POST", members, tc.demo.token, map[string]any{"member": tc.alt.project}); resp.StatusCode != 409 {
		t.Errorf("duplicate member: %d", resp.StatusCode)
	}
	for _, body := range []any{map[string]any{}, map[string]any{"member": ""}, []any{1}} {
		if resp, _ := tc.json(t, "POST", members, tc.demo.token, body); resp.StatusCode != 400 {
			t.Errorf("add member %v: %d", body, resp.StatusCode)
		}
	}
	// Pending: visible by id, not in the default list, listed when asking for pending.
	tc.show(t, tc.alt.token, id)
	if contains(tc.listIDs(t, tc.alt.token, ""), id) {
		t.Errorf("pending image listed")
	}
	if !contains(tc.listIDs(t, tc.alt.token, "?member_status=pending&visibility=shared"), id) {
		t.Errorf("pending image not listed with member_status=pending")
	}
	me := members + "/" + tc.alt.project
	// The owner cannot answer for the member.
	if resp, out := tc.json(t, "PUT", me, tc.demo.token, map[string]any{"status": "accepted"}); resp.StatusCode != 403 {
		t.Errorf("owner accepts: %d %v", resp.StatusCode, out)
	}
	if resp, _ := tc.json(t, "PUT", me, tc.alt.token, map[string]any{"status": "maybe"}); resp.StatusCode != 400 {
		t.Errorf("invalid member status: %d", resp.StatusCode)
	}
	if resp, out := tc.json(t, "PUT", me, tc.alt.token, map[string]any{"status": "accepted"}); resp.StatusCode != 200 || out["status"] != "accepted" {
		t.Fatalf("accept: %d %v", resp.StatusCode, out)
	}
	if !contains(tc.listIDs(t, tc.alt.token, ""), id) {
		t.Errorf("accepted image not listed")
	}
	if rec := tc.request(t, "GET", "/image/v2/images/"+id+"/file", tc.alt.token, "", nil); rec.Code != 200 || rec.Body.String() != "shared data" {
		t.Errorf("member download: %d", rec.Code)
	}
	// Lists: the owner sees every member, the member only itself.
	_, out := tc.json(t, "GET", members, tc.demo.token, nil)
	if n := len(out["members"].([]any)); n != 1 || out["schema"] != "/v2/schemas/members" {
		t.Errorf("owner's member list %v", out)
	}
	tc.json(t, "POST", members, tc.demo.token, map[string]any{"member": "third-project"})
	_, out = tc.json(t, "GET", members, tc.demo.token, nil)
	if n := len(out["members"].([]any)); n != 2 {
		t.Errorf("owner sees %d members", n)
	}
	_, out = tc.json(t, "GET", members, tc.alt.token, nil)
	if ms := out["members"].([]any); len(ms) != 1 || ms[0].(map[string]any)["member_id"] != tc.alt.project {
		t.Errorf("member sees %v", ms)
	}
	if resp, _ := tc.json(t, "GET", members+"/third-project", tc.alt.token, nil); resp.StatusCode != 404 {
		t.Errorf("member shows another membership: %d", resp.StatusCode)
	}
	if resp, _ := tc.json(t, "PUT", members+"/third-project", tc.alt.token, map[string]any{"status": "accepted"}); resp.StatusCode != 404 {
		t.Errorf("member answers for another project: %d", resp.StatusCode)
	}
	if resp, out := tc.json(t, "GET", me, tc.alt.token, nil); resp.StatusCode != 200 || out["status"] != "accepted" {
		t.Errorf("member shows itself: %d %v", resp.StatusCode, out)
	}
	// Only the owner removes members.
	if resp, _ := tc.json(t, "DELETE", me, tc.alt.token, nil); resp.StatusCode != 403 {
		t.Errorf("member removes itself: %d", resp.StatusCode)
	}
	if resp, out := tc.json(t, "DELETE", me, tc.demo.token, nil); resp.StatusCode != 204 {
		t.Errorf("owner removes member: %d %v", resp.StatusCode, out)
	}
	if resp, _ := tc.json(t, "GET", "/image/v2/images/"+id, tc.alt.token, nil); resp.StatusCode != 404 {
		t.Errorf("removed member still sees the image: %d", resp.StatusCode)
	}
	// Members only exist for shared images.
	priv := tc.createImage(t, tc.demo.token, map[string]any{"name": "p", "visibility": "private"})["id"].(string)
	resp, out = tc.json(t, "POST", "/image/v2/images/"+priv+"/members", tc.demo.token, map[string]any{"member": tc.alt.project})
	if resp.StatusCode != 403 || !strings.Contains(out["message"].(string), "Not allowed to create members") {
		t.Errorf("member of a private image: %d %v", resp.StatusCode, out)
	}
	if resp, _ := tc.json(t, "GET", "/image/v2/images/"+priv+"/members", tc.demo.token, nil); resp.StatusCode != 403 {
		t.Errorf("members of a private image: %d", resp.StatusCode)
	}
	// A rejected image disappears from the member's lists but stays visible by id.
	tc.json(t, "POST", members, tc.demo.token, map[string]any{"member": tc.alt.project})
	tc.json(t, "PUT", me, tc.alt.token, map[string]any{"status": "rejected"})
	if contains(tc.listIDs(t, tc.alt.token, ""), id) || !contains(tc.listIDs(t, tc.alt.token, "?member_status=rejected"), id) {
		t.Errorf("rejected image listing")
	}
	tc.show(t, tc.alt.token, id)
}
