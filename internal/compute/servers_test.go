package compute

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestServerCreateValidation(t *testing.T) {
	f := newServerCloud(t)
	img := f.imageID
	base := func(extra map[string]any) map[string]any {
		srv := map[string]any{"name": "vm", "imageRef": img, "flavorRef": "1", "networks": "none"}
		for k, v := range extra {
			if v == nil {
				delete(srv, k)
			} else {
				srv[k] = v
			}
		}
		return map[string]any{"server": srv}
	}
	for _, tt := range []struct {
		name   string
		ver    string
		body   any
		status int
		msg    string
	}{
		{"no server", "2.96", map[string]any{}, 400, "'server' is a required property"},
		{"unknown key", "2.96", base(map[string]any{"bogus": 1}), 400, "Additional properties are not allowed"},
		{"no name", "2.96", base(map[string]any{"name": nil}), 400, "'name' is a required property"},
		{"blank name", "2.96", base(map[string]any{"name": " vm"}), 400, "Invalid input for field/attribute name"},
		{"long name", "2.96", base(map[string]any{"name": strings.Repeat("a", 256)}), 400, "is too long"},
		{"no networks at 2.37", "2.37", base(map[string]any{"networks": nil}), 400, "'networks' is a required property"},
		{"bad networks enum", "2.37", base(map[string]any{"networks": "some"}), 400, "networks"},
		{"unknown network", "2.96", base(map[string]any{"networks": []any{map[string]any{"uuid": "3f1c1f4e-6d0c-4b8e-9d3e-2c7f0b3b9a11"}}}), 400, "Network 3f1c1f4e-6d0c-4b8e-9d3e-2c7f0b3b9a11 could not be found."},
		{"unknown port", "2.96", base(map[string]any{"networks": []any{map[string]any{"port": "3f1c1f4e-6d0c-4b8e-9d3e-2c7f0b3b9a11"}}}), 400, "Port id 3f1c1f4e-6d0c-4b8e-9d3e-2c7f0b3b9a11 could not be found."},
		{"bad network uuid 2.1", "2.1", base(map[string]any{"networks": []any{map[string]any{"uuid": "net"}}}), 400, "Bad networks format"},
		{"missing image", "2.96", base(map[string]any{"imageRef": "3f1c1f4e-6d0c-4b8e-9d3e-2c7f0b3b9a11"}), 400, "Can not find requested image"},
		{"bad image ref", "2.96", base(map[string]any{"imageRef": "nope"}), 400, "is not a 'uuid'"},
		{"no image no bdm", "2.96", base(map[string]any{"imageRef": ""}), 400, "Boot sequence"},
		{"missing flavor", "2.96", base(map[string]any{"flavorRef": "99"}), 400, "Flavor 99 could not be found."},
		{"bad key", "2.96", base(map[string]any{"key_name": "nokey"}), 400, "Invalid key_name provided."},
		{"bad user_data", "2.96", base(map[string]any{"user_data": "!!!"}), 400, "base64"},
		{"bad metadata key", "2.96", base(map[string]any{"metadata": map[string]any{"a/b": "x"}}), 400, "Additional properties"},
		{"long metadata value", "2.96", base(map[string]any{"metadata": map[string]any{"a": strings.Repeat("x", 256)}}), 400, "is too long"},
		{"min > max", "2.96", base(map[string]any{"min_count": 3, "max_count": 2}), 400, "min_count must be <= max_count"},
		{"zero count", "2.96", base(map[string]any{"min_count": 0}), 400, "minimum"},
		{"description before 2.19", "2.18", base(map[string]any{"description": "d"}), 400, "Additional properties"},
		{"tags before 2.52", "2.51", base(map[string]any{"tags": []any{"a"}}), 400, "Additional properties"},
		{"bad tag", "2.52", base(map[string]any{"tags": []any{"a/b"}}), 400, "does not match"},
		{"too many tags", "2.52", base(map[string]any{"tags": func() []any {
			var l []any
			for i := range 51 {
				l = append(l, fmt.Sprint(i))
			}
			return l
		}()}), 400, "too long"},
		{"personality gone at 2.57", "2.57", base(map[string]any{"personality": []any{}}), 400, "Additional properties"},
		{"bad access ip", "2.96", base(map[string]any{"accessIPv4": "::1"}), 400, "ipv4"},
		{"bad disk config", "2.96", base(map[string]any{"OS-DCF:diskConfig": "SOME"}), 400, "AUTO"},
		{"volume bdm", "2.96", base(map[string]any{"block_device_mapping_v2": []any{map[string]any{"source_type": "volume", "uuid": "3f1c1f4e-6d0c-4b8e-9d3e-2c7f0b3b9a11", "destination_type": "volume", "boot_index": 0}}}), 400, "Volume 3f1c1f4e-6d0c-4b8e-9d3e-2c7f0b3b9a11 could not be found."},
		{"unknown group", "2.96", map[string]any{"server": base(nil)["server"], "os:scheduler_hints": map[string]any{"group": "3f1c1f4e-6d0c-4b8e-9d3e-2c7f0b3b9a11"}}, 400, "Instance group 3f1c1f4e-6d0c-4b8e-9d3e-2c7f0b3b9a11 could not be found."},
		{"bad hint uuid", "2.96", map[string]any{"server": base(nil)["server"], "os:scheduler_hints": map[string]any{"same_host": "x"}}, 400, "uuid"},
		{"unknown zone", "2.96", base(map[string]any{"availability_zone": "mars"}), 400, "The requested availability zone is not available"},
		{"bad zone syntax", "2.96", base(map[string]any{"availability_zone": "a:b:c:d"}), 400, "Unable to parse availability_zone"},
		{"host before 2.74", "2.73", base(map[string]any{"host": "h1"}), 400, "Additional properties"},
		{"unknown host 2.74", "2.74", base(map[string]any{"host": "h1"}), 400, "Compute host h1 could not be found."},
		{"hostname multi", "2.90", base(map[string]any{"hostname": "abc", "max_count": 2}), 400, "single hostname"},
		{"bad hostname", "2.90", base(map[string]any{"hostname": "a.b"}), 400, "does not match"},
		{"fqdn hostname 2.94", "2.94", base(map[string]any{"hostname": "a.b", "availability_zone": nil}), 202, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			token := f.demoToken
			if strings.Contains(tt.name, "host 2.74") {
				token = f.adminToken
			}
			r := f.doAs(t, token, tt.ver, "POST", "/v2.1/servers", tt.body).want(t, tt.status)
			msg, _ := r.obj("badRequest")["message"].(string)
			if tt.msg != "" && !strings.Contains(msg, tt.msg) {
				t.Fatalf("message %s does not contain %q", r.raw, tt.msg)
			}
			if tt.status == 400 && r.obj("badRequest")["code"] != float64(400) {
				t.Fatalf("fault body %s", r.raw)
			}
		})
	}
	// Admin-only placement requests are 403s for members.
	f.doAs(t, f.demoToken, "2.96", "POST", "/v2.1/servers", base(map[string]any{"availability_zone": "nova:host1"})).want(t, 403)
	f.doAs(t, f.demoToken, "2.96", "POST", "/v2.1/servers", base(map[string]any{"host": "host1"})).want(t, 403)
}

func TestServerCreateWritesRowsAndTasks(t *testing.T) {
	f := newServerCloud(t)
	r := f.doAs(t, f.demoToken, "2.96", "POST", "/v2.1/servers", map[string]any{"server": map[string]any{
		"name": "web server", "imageRef": f.imageID, "flavorRef": "1", "networks": "auto", "key_name": "key1",
		"metadata": map[string]any{"role": "web"}, "tags": []any{"a", "b"}, "description": "d",
		"security_groups": []any{map[string]any{"name": "default"}}, "OS-DCF:diskConfig": "AUTO",
	}}).want(t, 202)
	srv := r.obj("server")
	id := srv["id"].(string)
	if srv["adminPass"] == "" || srv["OS-DCF:diskConfig"] != "AUTO" || r.header.Get("Location") == "" {
		t.Fatalf("create body %s", r.raw)
	}
	if sg := srv["security_groups"].([]any); len(sg) != 1 || sg[0].(map[string]any)["name"] != "default" {
		t.Fatalf("security groups %v", sg)
	}
	inst, _, err := loadInstance(t.Context(), f.db, id)
	if err != nil {
		t.Fatal(err)
	}
	if inst.VMState != VMBuilding || inst.TaskState != TaskScheduling || inst.PowerState != 0 ||
		inst.Hostname != "web-server" || inst.Flavor.ID != "1" || inst.KeyData == nil ||
		inst.SystemMetadata["image_hw_disk_bus"] != "virtio" || inst.Request.ImageProperties["hw_disk_bus"] != "virtio" ||
		inst.SystemMetadata["image_min_disk"] != "1" || !slices.Equal(inst.Request.SecurityGroups, []string{"default"}) {
		t.Fatalf("instance row %+v", inst)
	}
	tasks := f.pendingTasks(t, id)
	if len(tasks) != 1 || tasks[0].Kind != TaskBuild || tasks[0].Host != "" || tasks[0].ActionID == 0 {
		t.Fatalf("tasks %+v", tasks)
	}
	// The action list shows the create.
	acts := f.doAs(t, f.demoToken, "2.96", "GET", "/v2.1/servers/"+id+"/os-instance-actions", nil).want(t, 200).list("instanceActions")
	if len(acts) != 1 || acts[0]["action"] != "create" {
		t.Fatalf("actions %v", acts)
	}
	// Multi-create: names and hostnames get -N, one task per instance.
	r = f.doAs(t, f.demoToken, "2.96", "POST", "/v2.1/servers", map[string]any{"server": map[string]any{
		"name": "multi", "imageRef": f.imageID, "flavorRef": "1", "networks": "none", "min_count": 3,
		"return_reservation_id": true}}).want(t, 202)
	resv, _ := r.body["reservation_id"].(string)
	if !strings.HasPrefix(resv, "r-") || r.body["server"] != nil {
		t.Fatalf("reservation body %s", r.raw)
	}
	list := f.doAs(t, f.demoToken, "2.96", "GET", "/v2.1/servers/detail?reservation_id="+resv, nil).want(t, 200).list("servers")
	var names []string
	for _, s := range list {
		names = append(names, s["name"].(string))
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"multi-1", "multi-2", "multi-3"}) {
		t.Fatalf("multi-create names %v", names)
	}
}

func TestServerShowShapes(t *testing.T) {
	f := newServerCloud(t)
	id := f.createServer(t, f.demoToken, "2.96", nil)
	f.setState(t, id, VMActive, "", PowerRunning, "host1")
	show := func(token, ver string) map[string]any {
		return f.doAs(t, token, ver, "GET", "/v2.1/servers/"+id, nil).want(t, 200).obj("server")
	}
	s21 := show(f.demoToken, "2.1")
	if fl := s21["flavor"].(map[string]any); fl["id"] != "1" || fl["links"] == nil {
		t.Fatalf("2.1 flavor %v", fl)
	}
	for _, k := range []string{"locked", "description", "tags", "OS-EXT-SRV-ATTR:host", "server_groups", "pinned_availability_zone"} {
		if _, ok := s21[k]; ok {
			t.Errorf("2.1 shows %s", k)
		}
	}
	for _, k := range []string{"accessIPv4", "addresses", "config_drive", "created", "hostId", "image", "key_name",
		"metadata", "OS-EXT-STS:vm_state", "OS-EXT-STS:power_state", "OS-SRV-USG:launched_at",
		"os-extended-volumes:volumes_attached", "OS-EXT-AZ:availability_zone", "OS-DCF:diskConfig", "progress", "updated"} {
		if _, ok := s21[k]; !ok {
			t.Errorf("2.1 lacks %s", k)
		}
	}
	if s21["status"] != "ACTIVE" || s21["OS-EXT-STS:power_state"] != float64(1) || s21["hostId"] == "" {
		t.Fatalf("2.1 state %v", s21)
	}
	s247 := show(f.demoToken, "2.47")
	if fl := s247["flavor"].(map[string]any); fl["original_name"] != "m1.tiny" || fl["ram"] != float64(512) || fl["extra_specs"] == nil {
		t.Fatalf("2.47 flavor %v", fl)
	}
	s296 := show(f.demoToken, "2.96")
	for _, k := range []string{"locked", "locked_reason", "description", "tags", "trusted_image_certificates",
		"server_groups", "pinned_availability_zone", "OS-EXT-SRV-ATTR:hostname"} {
		if _, ok := s296[k]; !ok {
			t.Errorf("2.96 lacks %s", k)
		}
	}
	for _, k := range []string{"OS-EXT-SRV-ATTR:host", "OS-EXT-SRV-ATTR:instance_name", "host_status"} {
		if _, ok := s296[k]; ok {
			t.Errorf("member sees admin-only %s", k)
		}
	}
	admin := show(f.adminToken, "2.96")
	if admin["OS-EXT-SRV-ATTR:host"] != "host1" || admin["OS-EXT-SRV-ATTR:instance_name"] == nil || admin["host_status"] != "" {
		t.Fatalf("admin view %v", admin)
	}
	// Another project's server is a 404; the detail list hides it.
	f.doAs(t, f.altToken, "2.96", "GET", "/v2.1/servers/"+id, nil).want(t, 404)
	f.doAs(t, f.altToken, "2.96", "DELETE", "/v2.1/servers/"+id, nil).want(t, 404)
	f.doAs(t, f.altToken, "2.96", "POST", "/v2.1/servers/"+id+"/action", map[string]any{"os-stop": nil}).want(t, 404)
	if l := f.doAs(t, f.altToken, "2.96", "GET", "/v2.1/servers", nil).want(t, 200).list("servers"); len(l) != 0 {
		t.Fatalf("alt_demo sees %v", l)
	}
	// Update.
	u := f.doAs(t, f.demoToken, "2.96", "PUT", "/v2.1/servers/"+id, map[string]any{"server": map[string]any{
		"name": "renamed", "description": "x", "hostname": "h-1"}}).want(t, 200).obj("server")
	if u["name"] != "renamed" || u["description"] != "x" || u["OS-EXT-SRV-ATTR:hostname"] != "h-1" {
		t.Fatalf("update %v", u)
	}
	f.doAs(t, f.demoToken, "2.18", "PUT", "/v2.1/servers/"+id, map[string]any{"server": map[string]any{"description": "x"}}).want(t, 400)
}

func TestServerActionStates(t *testing.T) {
	f := newServerCloud(t)
	id := f.createServer(t, f.demoToken, "2.96", nil)
	act := func(token string, body any) resp {
		return f.doAs(t, token, "2.96", "POST", "/v2.1/servers/"+id+"/action", body)
	}
	// Building and never launched: Nova refuses most actions.
	r := act(f.demoToken, map[string]any{"os-stop": nil}).want(t, 409)
	if !strings.Contains(r.raw, "Instance "+id+" is not ready") {
		t.Fatalf("stop while building: %s", r.raw)
	}
	f.setState(t, id, VMActive, "", PowerRunning, "host1")
	for _, tt := range []struct {
		body      any
		status    int
		msg       string
		taskState string
		kind      TaskKind
		host      string
	}{
		{map[string]any{"os-start": nil}, 409, "Cannot 'start' instance " + id + " while it is in vm_state active", "", "", ""},
		{map[string]any{"unpause": nil}, 409, "Cannot 'unpause' instance " + id + " while it is in vm_state active", "", "", ""},
		{map[string]any{"reboot": map[string]any{"type": "bogus"}}, 400, "is not one of", "", "", ""},
		{map[string]any{"os-stop": nil}, 202, "", TaskPoweringOff, TaskStop, "host1"},
		{map[string]any{"pause": nil}, 409, "Cannot 'pause' instance " + id + " while it is in task_state powering-off", "", "", ""},
	} {
		r := act(f.demoToken, tt.body).want(t, tt.status)
		if tt.msg != "" && !strings.Contains(r.raw, tt.msg) {
			t.Fatalf("%v: %s", tt.body, r.raw)
		}
		if tt.kind != "" {
			inst, _, _ := loadInstance(t.Context(), f.db, id)
			tasks := f.pendingTasks(t, id)
			if inst.TaskState != tt.taskState || len(tasks) != 1 || tasks[0].Kind != tt.kind || tasks[0].Host != tt.host {
				t.Fatalf("%v: task_state %q tasks %+v", tt.body, inst.TaskState, tasks)
			}
		}
	}
	f.setState(t, id, VMStopped, "", PowerShutdown, "host1")
	act(f.demoToken, map[string]any{"reboot": map[string]any{"type": "SOFT"}}).want(t, 409)
	act(f.demoToken, map[string]any{"reboot": map[string]any{"type": "HARD"}}).want(t, 202)
	if inst, _, _ := loadInstance(t.Context(), f.db, id); inst.TaskState != TaskRebootingHard {
		t.Fatalf("hard reboot task state %q", inst.TaskState)
	}
	f.setState(t, id, VMActive, "", PowerRunning, "host1")
	// Resize goes to the conductor with the new flavor recorded.
	act(f.demoToken, map[string]any{"resize": map[string]any{"flavorRef": "1"}}).want(t, 400)
	act(f.demoToken, map[string]any{"resize": map[string]any{"flavorRef": "2"}}).want(t, 202)
	inst, _, _ := loadInstance(t.Context(), f.db, id)
	if tasks := f.pendingTasks(t, id); inst.TaskState != TaskResizePrep || inst.NewFlavor == nil || inst.NewFlavor.ID != "2" ||
		len(tasks) != 1 || tasks[0].Kind != TaskResize || tasks[0].Host != "" {
		t.Fatalf("resize: %q %+v %+v", inst.TaskState, inst.NewFlavor, tasks)
	}
	f.setState(t, id, VMActive, "", PowerRunning, "host1")
	act(f.demoToken, map[string]any{"confirmResize": nil}).want(t, 409)

	// Lock: members are refused, admins are not; only an admin lifts an admin's lock.
	act(f.adminToken, map[string]any{"lock": map[string]any{"locked_reason": "maint"}}).want(t, 202)
	r = act(f.demoToken, map[string]any{"os-stop": nil}).want(t, 409)
	if !strings.Contains(r.raw, "Instance "+id+" is locked") {
		t.Fatalf("locked stop: %s", r.raw)
	}
	f.doAs(t, f.demoToken, "2.96", "DELETE", "/v2.1/servers/"+id, nil).want(t, 409)
	s := f.doAs(t, f.demoToken, "2.96", "GET", "/v2.1/servers/"+id, nil).want(t, 200).obj("server")
	if s["locked"] != true || s["locked_reason"] != "maint" {
		t.Fatalf("lock view %v", s)
	}
	act(f.demoToken, map[string]any{"unlock": nil}).want(t, 403)
	act(f.adminToken, map[string]any{"os-stop": nil}).want(t, 202)
	act(f.adminToken, map[string]any{"unlock": nil}).want(t, 202)
	// Admin-only actions.
	act(f.demoToken, map[string]any{"os-resetState": map[string]any{"state": "error"}}).want(t, 403)
	act(f.adminToken, map[string]any{"os-resetState": map[string]any{"state": "error"}}).want(t, 202)
	if inst, _, _ := loadInstance(t.Context(), f.db, id); inst.VMState != VMError || inst.TaskState != "" {
		t.Fatalf("reset state %s %q", inst.VMState, inst.TaskState)
	}
	act(f.demoToken, map[string]any{"bogusAction": nil}).want(t, 404)
	act(f.demoToken, map[string]any{"trigger_crash_dump": nil}).want(t, 202)
}

func TestServerCreateImageAndDelete(t *testing.T) {
	f := newServerCloud(t)
	id := f.createServer(t, f.demoToken, "2.96", nil)
	f.setState(t, id, VMActive, "", PowerRunning, "host1")
	r := f.doAs(t, f.demoToken, "2.96", "POST", "/v2.1/servers/"+id+"/action", map[string]any{"createImage": map[string]any{
		"name": "snap", "metadata": map[string]any{"k": "v"}}}).want(t, 202)
	imgID, _ := r.body["image_id"].(string)
	if imgID == "" {
		t.Fatalf("createImage body %s", r.raw)
	}
	tasks := f.pendingTasks(t, id)
	if len(tasks) != 1 || tasks[0].Kind != TaskSnapshot || !strings.Contains(string(tasks[0].Params), imgID) {
		t.Fatalf("snapshot task %+v", tasks)
	}
	img := f.raw(t, f.demoToken, "", "GET", "/image/v2/images/"+imgID, nil).want(t, 200).body
	if img["image_type"] != "snapshot" || img["instance_uuid"] != id || img["k"] != "v" || img["base_image_ref"] != f.imageID {
		t.Fatalf("snapshot image %v", img)
	}
	// Before 2.45 the image is in the Location header.
	f.setState(t, id, VMActive, "", PowerRunning, "host1")
	r = f.doAs(t, f.demoToken, "2.44", "POST", "/v2.1/servers/"+id+"/action", map[string]any{"createImage": map[string]any{"name": "s2"}}).want(t, 202)
	if r.header.Get("Location") == "" || r.body != nil {
		t.Fatalf("2.44 createImage: %v %s", r.header, r.raw)
	}
	// Delete: task_state deleting, one task, a repeated delete adds none.
	f.setState(t, id, VMActive, "", PowerRunning, "host1")
	f.doAs(t, f.demoToken, "2.96", "DELETE", "/v2.1/servers/"+id, nil).want(t, 204)
	f.doAs(t, f.demoToken, "2.96", "DELETE", "/v2.1/servers/"+id, nil).want(t, 204)
	tasks = f.pendingTasks(t, id)
	if len(tasks) != 1 || tasks[0].Kind != TaskDelete || tasks[0].Host != "host1" {
		t.Fatalf("delete tasks %+v", tasks)
	}
	// Once the host has deleted it, it is gone except for admins listing deleted.
	if _, err := f.db.ExecContext(t.Context(), `UPDATE compute_instances SET deleted = ?, vm_state = 'deleted' WHERE uuid = ?`, true, id); err != nil {
		t.Fatal(err)
	}
	f.doAs(t, f.demoToken, "2.96", "GET", "/v2.1/servers/"+id, nil).want(t, 404)
	l := f.doAs(t, f.adminToken, "2.96", "GET", "/v2.1/servers/detail?all_tenants=1&deleted=true", nil).want(t, 200).list("servers")
	if len(l) != 1 || l[0]["status"] != "DELETED" {
		t.Fatalf("deleted list %v", l)
	}
	f.doAs(t, f.demoToken, "2.96", "GET", "/v2.1/servers/detail?all_tenants=1", nil).want(t, 403)
}

func TestServerListFiltersAndPaging(t *testing.T) {
	f := newServerCloud(t)
	var ids []string
	for i := range 5 {
		id := f.createServer(t, f.demoToken, "2.96", map[string]any{"name": fmt.Sprintf("srv-%d", i),
			"tags": []any{fmt.Sprintf("t%d", i%2)}})
		ids = append(ids, id)
	}
	f.setState(t, ids[0], VMActive, "", PowerRunning, "host1")
	f.setState(t, ids[1], VMStopped, "", PowerShutdown, "host1")
	alt := f.createServer(t, f.altToken, "2.96", map[string]any{"name": "alt"})
	names := func(token, query string) []string {
		r := f.doAs(t, token, "2.96", "GET", "/v2.1/servers/detail"+query, nil).want(t, 200)
		var out []string
		for _, s := range r.list("servers") {
			out = append(out, s["name"].(string))
		}
		return out
	}
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"", []string{"srv-4", "srv-3", "srv-2", "srv-1", "srv-0"}},
		{"?name=srv-[12]", []string{"srv-2", "srv-1"}},
		{"?status=ACTIVE", []string{"srv-0"}},
		{"?status=active&status=SHUTOFF", []string{"srv-1", "srv-0"}},
		{"?status=BUILD", []string{"srv-4", "srv-3", "srv-2"}},
		{"?tags=t1", []string{"srv-3", "srv-1"}},
		{"?not-tags=t1", []string{"srv-4", "srv-2", "srv-0"}},
		{"?tags-any=t0,t1&limit=2", []string{"srv-4", "srv-3"}},
		{"?sort_key=display_name&sort_dir=asc", []string{"srv-0", "srv-1", "srv-2", "srv-3", "srv-4"}},
		{"?flavor=1&image=" + f.imageID + "&name=srv-0", []string{"srv-0"}},
		{"?flavor=99", nil},
		{"?host=host1", []string{"srv-4", "srv-3", "srv-2", "srv-1", "srv-0"}}, // ignored for members
		{"?changes-since=2999-01-01T00:00:00Z", nil},
	} {
		if got := names(f.demoToken, tt.query); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.query, got, tt.want)
		}
	}
	if got := names(f.adminToken, "?all_tenants=1&host=host1&sort_key=display_name&sort_dir=asc"); !slices.Equal(got, []string{"srv-0", "srv-1"}) {
		t.Errorf("admin host filter: %v", got)
	}
	if got := names(f.adminToken, "?all_tenants=1&project_id="+f.demoProjectID+"&name=^srv-0$"); !slices.Equal(got, []string{"srv-0"}) {
		t.Errorf("admin project filter: %v", got)
	}
	_ = alt
	for _, tt := range []struct {
		ver, query string
		status     int
	}{
		{"2.96", "?status=NOPE", 400},
		{"2.37", "?status=NOPE", 200},
		{"2.96", "?bogus=1", 400},
		{"2.74", "?bogus=1", 200},
		{"2.96", "?limit=x", 400},
		{"2.96", "?marker=nope", 400},
		{"2.96", "?changes-since=yesterday", 400},
		{"2.96", "?sort_key=nope", 400},
		{"2.96", "?sort_key=host", 403},
		{"2.96", "?sort_dir=sideways", 400},
		{"2.96", "?all_tenants=1", 403},
		{"2.96", "?name=(", 400},
	} {
		f.doAs(t, f.demoToken, tt.ver, "GET", "/v2.1/servers"+tt.query, nil).want(t, tt.status)
	}
	f.doAs(t, f.adminToken, "2.96", "GET", "/v2.1/servers?all_tenants=1&services=x", nil).want(t, 400)
	// Paging walks every server once, with next links.
	var seen []string
	marker := ""
	for range 10 {
		q := "?limit=2"
		if marker != "" {
			q += "&marker=" + marker
		}
		r := f.doAs(t, f.demoToken, "2.96", "GET", "/v2.1/servers"+q, nil).want(t, 200)
		page := r.list("servers")
		for _, s := range page {
			seen = append(seen, s["id"].(string))
		}
		if r.body["servers_links"] == nil {
			break
		}
		marker = page[len(page)-1]["id"].(string)
	}
	if len(seen) != 5 {
		t.Fatalf("paging saw %d servers: %v", len(seen), seen)
	}
	// Marker of another project's server is not found for a member.
	f.doAs(t, f.demoToken, "2.96", "GET", "/v2.1/servers?marker="+alt, nil).want(t, 400)
}

func TestServerMetadataAndTags(t *testing.T) {
	f := newServerCloud(t)
	id := f.createServer(t, f.demoToken, "2.96", map[string]any{"metadata": map[string]any{"a": "1"}})
	base := "/v2.1/servers/" + id
	// Building servers refuse metadata changes as Nova does.
	f.doAs(t, f.demoToken, "2.96", "POST", base+"/metadata", map[string]any{"metadata": map[string]any{"b": "2"}}).want(t, 409)
	f.setState(t, id, VMActive, "", PowerRunning, "host1")
	m := f.doAs(t, f.demoToken, "2.96", "POST", base+"/metadata", map[string]any{"metadata": map[string]any{"b": "2"}}).want(t, 200).obj("metadata")
	if len(m) != 2 {
		t.Fatalf("merged %v", m)
	}
	m = f.doAs(t, f.demoToken, "2.96", "PUT", base+"/metadata", map[string]any{"metadata": map[string]any{"c": "3"}}).want(t, 200).obj("metadata")
	if len(m) != 1 || m["c"] != "3" {
		t.Fatalf("replaced %v", m)
	}
	f.doAs(t, f.demoToken, "2.96", "PUT", base+"/metadata/c", map[string]any{"meta": map[string]any{"d": "4"}}).want(t, 400)
	f.doAs(t, f.demoToken, "2.96", "PUT", base+"/metadata/c", map[string]any{"meta": map[string]any{"c": "5"}}).want(t, 200)
	if v := f.doAs(t, f.demoToken, "2.96", "GET", base+"/metadata/c", nil).want(t, 200).obj("meta"); v["c"] != "5" {
		t.Fatalf("meta %v", v)
	}
	f.doAs(t, f.demoToken, "2.96", "DELETE", base+"/metadata/c", nil).want(t, 204)
	f.doAs(t, f.demoToken, "2.96", "DELETE", base+"/metadata/c", nil).want(t, 404)

	f.doAs(t, f.demoToken, "2.25", "GET", base+"/tags", nil).want(t, 404)
	f.doAs(t, f.demoToken, "2.96", "PUT", base+"/tags/x", nil).want(t, 201)
	f.doAs(t, f.demoToken, "2.96", "PUT", base+"/tags/x", nil).want(t, 204)
	f.doAs(t, f.demoToken, "2.96", "GET", base+"/tags/x", nil).want(t, 204)
	f.doAs(t, f.demoToken, "2.96", "GET", base+"/tags/y", nil).want(t, 404)
	tags := f.doAs(t, f.demoToken, "2.96", "PUT", base+"/tags", map[string]any{"tags": []any{"b", "a"}}).want(t, 200).body["tags"]
	if fmt.Sprint(tags) != "[a b]" {
		t.Fatalf("tags %v", tags)
	}
	f.doAs(t, f.demoToken, "2.96", "PUT", base+"/tags", map[string]any{"tags": []any{"a,b"}}).want(t, 400)
	f.doAs(t, f.demoToken, "2.96", "DELETE", base+"/tags", nil).want(t, 204)
	// Sub-resources that wait for networking and block storage.
	if l := f.doAs(t, f.demoToken, "2.96", "GET", base+"/os-interface", nil).want(t, 200).body["interfaceAttachments"]; fmt.Sprint(l) != "[]" {
		t.Fatalf("interfaces %v", l)
	}
	f.doAs(t, f.demoToken, "2.96", "POST", base+"/os-volume_attachments", map[string]any{"volumeAttachment": map[string]any{
		"volumeId": "3f1c1f4e-6d0c-4b8e-9d3e-2c7f0b3b9a11"}}).want(t, 404)
	f.doAs(t, f.demoToken, "2.96", "GET", base+"/ips", nil).want(t, 200)
	f.doAs(t, f.demoToken, "2.96", "GET", base+"/topology", nil).want(t, 200)
	f.doAs(t, f.demoToken, "2.96", "GET", base+"/diagnostics", nil).want(t, 403)
	f.doAs(t, f.demoToken, "2.96", "GET", base+"/os-server-password", nil).want(t, 200)
}
