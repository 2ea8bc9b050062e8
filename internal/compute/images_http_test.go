package compute

import "testing"

func TestImagesProxy(t *testing.T) {
	tc := newTestCloud(t)
	id := tc.uploadImage(t, "proxy-image")

	img := tc.do(t, "2.1", "GET", "/v2.1/images/"+id, nil).want(t, 200).obj("image")
	if img["status"] != "ACTIVE" || img["progress"] != float64(100) || img["name"] != "proxy-image" {
		t.Fatalf("image view: %v", img)
	}
	if meta := img["metadata"].(map[string]any); meta["hw_disk_bus"] != "virtio" {
		t.Fatalf("metadata: %v", meta)
	}
	list := tc.do(t, "2.1", "GET", "/v2.1/images", nil).want(t, 200).list("images")
	if len(list) != 1 || list[0]["id"] != id || len(list[0]) != 3 {
		t.Fatalf("index: %v", list)
	}
	if got := tc.do(t, "2.1", "GET", "/v2.1/images/detail?name=nope", nil).want(t, 200).list("images"); len(got) != 0 {
		t.Fatalf("name filter: %v", got)
	}

	md := tc.do(t, "2.1", "POST", "/v2.1/images/"+id+"/metadata", map[string]any{"metadata": map[string]any{"a": "1", "b": "2"}}).want(t, 200).obj("metadata")
	if md["a"] != "1" || md["b"] != "2" || md["hw_disk_bus"] != "virtio" {
		t.Fatalf("merge: %v", md)
	}
	md = tc.do(t, "2.1", "PUT", "/v2.1/images/"+id+"/metadata", map[string]any{"metadata": map[string]any{"c": "3"}}).want(t, 200).obj("metadata")
	if len(md) != 1 || md["c"] != "3" {
		t.Fatalf("replace: %v", md)
	}
	tc.do(t, "2.1", "PUT", "/v2.1/images/"+id+"/metadata/d", map[string]any{"meta": map[string]any{"d": "4"}}).want(t, 200)
	if m := tc.do(t, "2.1", "GET", "/v2.1/images/"+id+"/metadata/d", nil).want(t, 200).obj("meta"); m["d"] != "4" {
		t.Fatalf("show key: %v", m)
	}
	tc.do(t, "2.1", "DELETE", "/v2.1/images/"+id+"/metadata/d", nil).want(t, 204)
	tc.do(t, "2.1", "GET", "/v2.1/images/"+id+"/metadata/d", nil).want(t, 404)
	tc.do(t, "2.1", "PUT", "/v2.1/images/"+id+"/metadata/d", map[string]any{"meta": map[string]any{"e": "4"}}).want(t, 400)

	// Members see public images but cannot delete the admin's.
	tc.doAs(t, tc.demoToken, "2.1", "GET", "/v2.1/images/"+id, nil).want(t, 200)
	tc.doAs(t, tc.demoToken, "2.1", "DELETE", "/v2.1/images/"+id, nil).want(t, 403)
	tc.do(t, "2.36", "GET", "/v2.1/images/"+id, nil).want(t, 404)
	tc.do(t, "2.1", "DELETE", "/v2.1/images/"+id, nil).want(t, 204)
	tc.do(t, "2.1", "GET", "/v2.1/images/"+id, nil).want(t, 404)
}

func TestExternalEvents(t *testing.T) {
	f := newServerCloud(t)
	r := f.doAs(t, f.demoToken, "2.1", "POST", "/v2.1/servers", map[string]any{"server": map[string]any{
		"name": "ev", "imageRef": f.imageID, "flavorRef": "1"}}).want(t, 202)
	id := r.obj("server")["id"].(string)
	body := map[string]any{"events": []any{
		map[string]any{"name": "network-changed", "server_uuid": id},
		map[string]any{"name": "network-changed", "server_uuid": "00000000-0000-4000-8000-000000000000"},
	}}
	// The server has no host yet (no conductor runs here): 422 for it, 404 for the unknown.
	got := f.do(t, "2.1", "POST", "/v2.1/os-server-external-events", body).want(t, 207).list("events")
	if got[0]["code"] != float64(422) || got[1]["code"] != float64(404) || got[1]["status"] != "failed" {
		t.Fatalf("events: %v", got)
	}
	f.setState(t, id, VMActive, "", PowerRunning, "host1")
	body["events"] = body["events"].([]any)[:1]
	got = f.do(t, "2.1", "POST", "/v2.1/os-server-external-events", body).want(t, 200).list("events")
	if got[0]["code"] != float64(200) || got[0]["status"] != "completed" {
		t.Fatalf("events: %v", got)
	}
	f.doAs(t, f.demoToken, "2.1", "POST", "/v2.1/os-server-external-events", body).want(t, 403)
	f.do(t, "2.1", "POST", "/v2.1/os-server-external-events", map[string]any{"events": []any{}}).want(t, 400)
	f.do(t, "2.1", "POST", "/v2.1/os-server-external-events", map[string]any{"events": []any{
		map[string]any{"name": "volume-extended", "server_uuid": id}}}).want(t, 400)
}

func TestTrailingSlashIsNotFound(t *testing.T) {
	tc := newTestCloud(t)
	tc.do(t, "2.1", "GET", "/v2.1/os-simple-tenant-usage/", nil).want(t, 404)
	tc.do(t, "2.1", "DELETE", "/v2.1/images/", nil).want(t, 404)
	tc.do(t, "2.1", "GET", "/v2.1/", nil).want(t, 200)
	tc.do(t, "2.1", "GET", "/v2.1/servers", nil).want(t, 200)
}

func TestBackupRotation(t *testing.T) {
	f := newServerCloud(t)
	f.startCompute(t, 1)
	id := f.doAs(t, f.demoToken, "2.1", "POST", "/v2.1/servers", map[string]any{"server": map[string]any{
		"name": "bk", "imageRef": f.imageID, "flavorRef": "1"}}).want(t, 202).obj("server")["id"].(string)
	f.waitStatus(t, id, "ACTIVE")
	var made []string
	for i := range 3 {
		r := f.do(t, "2.45", "POST", "/v2.1/servers/"+id+"/action", map[string]any{"createBackup": map[string]any{
			"name": "b" + string(rune('0'+i)), "backup_type": "daily", "rotation": 2}}).want(t, 202)
		made = append(made, r.body["image_id"].(string))
		f.waitStatus(t, id, "ACTIVE")
		waitUntil(t, "backup active", func() bool {
			img := f.do(t, "2.1", "GET", "/v2.1/images/"+made[i], nil)
			return img.code == 200 && img.obj("image")["status"] == "ACTIVE"
		})
	}
	f.do(t, "2.1", "GET", "/v2.1/images/"+made[0], nil).want(t, 404)
	f.do(t, "2.1", "GET", "/v2.1/images/"+made[1], nil).want(t, 200)
	f.do(t, "2.1", "GET", "/v2.1/images/"+made[2], nil).want(t, 200)
}
