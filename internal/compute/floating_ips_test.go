package compute

import (
	"strings"
	"testing"
)

func TestNovaFloatingIPs(t *testing.T) {
	f := newNetFixture(t)
	demo := func(ver, method, path string, body any) resp {
		t.Helper()
		return f.doAs(t, f.demoToken, ver, method, path, body)
	}
	pools := demo("2.35", "GET", "/v2.1/os-floating-ip-pools", nil).want(t, 200).list("floating_ip_pools")
	if len(pools) != 1 || pools[0]["name"] != "public" || len(pools[0]) != 1 {
		t.Fatalf("pools %v", pools)
	}
	demo("2.36", "GET", "/v2.1/os-floating-ip-pools", nil).want(t, 404)

	// Allocate from the default pool and by name; the view is Nova's.
	a := demo("2.35", "POST", "/v2.1/os-floating-ips", nil).want(t, 200).obj("floating_ip")
	if a["pool"] != "public" || a["instance_id"] != nil || a["fixed_ip"] != nil || a["ip"] == "" || len(a) != 5 {
		t.Fatalf("allocate view %v", a)
	}
	b := demo("2.35", "POST", "/v2.1/os-floating-ips", map[string]any{"pool": "public"}).want(t, 200).obj("floating_ip")
	byID := demo("2.35", "POST", "/v2.1/os-floating-ips", map[string]any{"pool": f.publicID}).want(t, 200).obj("floating_ip")
	if r := demo("2.35", "POST", "/v2.1/os-floating-ips", map[string]any{"pool": "non_exist_pool"}).want(t, 404); !strings.Contains(r.raw, "Floating IP pool not found.") {
		t.Fatalf("unknown pool %s", r.raw)
	}
	demo("2.35", "POST", "/v2.1/os-floating-ips", map[string]any{"pool": 5}).want(t, 400)
	demo("2.36", "POST", "/v2.1/os-floating-ips", nil).want(t, 404)
	list := demo("2.35", "GET", "/v2.1/os-floating-ips", nil).want(t, 200).list("floating_ips")
	if len(list) != 3 {
		t.Fatalf("list %v", list)
	}
	if l := f.doAs(t, f.altToken, "2.35", "GET", "/v2.1/os-floating-ips", nil).want(t, 200).body["floating_ips"].([]any); len(l) != 0 {
		t.Fatalf("another project's list %v", l)
	}
	got := demo("2.35", "GET", "/v2.1/os-floating-ips/"+a["id"].(string), nil).want(t, 200).obj("floating_ip")
	if got["ip"] != a["ip"] || got["pool"] != "public" {
		t.Fatalf("show %v", got)
	}
	nonexistent := "8c5d3a1e-9a4b-4c1e-8f3b-000000000000"
	if r := demo("2.35", "GET", "/v2.1/os-floating-ips/"+nonexistent, nil).want(t, 404); !strings.Contains(r.raw, "Floating IP not found for ID "+nonexistent) {
		t.Fatalf("show nonexistent %s", r.raw)
	}
	demo("2.35", "DELETE", "/v2.1/os-floating-ips/"+nonexistent, nil).want(t, 404)
	demo("2.35", "DELETE", "/v2.1/os-floating-ips/"+byID["id"].(string), nil).want(t, 202)

	// Associate with a server's port, see it on the floating IP and in the addresses.
	id := f.bootDemo(t, "2.35", nil)
	act := func(ver string, body map[string]any) resp {
		t.Helper()
		return demo(ver, "POST", "/v2.1/servers/"+id+"/action", body)
	}
	ip := a["ip"].(string)
	act("2.43", map[string]any{"addFloatingIp": map[string]any{"address": ip}}).want(t, 202)
	got = demo("2.35", "GET", "/v2.1/os-floating-ips/"+a["id"].(string), nil).want(t, 200).obj("floating_ip")
	fixed, _ := got["fixed_ip"].(string)
	if got["instance_id"] != id || fixed == "" {
		t.Fatalf("associated view %v", got)
	}
	addrTypes := func() map[string]string {
		t.Helper()
		srv := demo("2.35", "GET", "/v2.1/servers/"+id, nil).want(t, 200).obj("server")
		out := map[string]string{}
		for _, entries := range srv["addresses"].(map[string]any) {
			for _, e := range entries.([]any) {
				m := e.(map[string]any)
				out[m["addr"].(string)] = m["OS-EXT-IPS:type"].(string)
			}
		}
		return out
	}
	if types := addrTypes(); types[ip] != "floating" || types[fixed] != "fixed" {
		t.Fatalf("addresses %v", types)
	}
	for _, tt := range []struct {
		name   string
		ver    string
		body   map[string]any
		status int
		msg    string
	}{
		{"second floating IP on the same fixed IP", "2.43", map[string]any{"addFloatingIp": map[string]any{"address": b["ip"]}}, 400, "already has a floating IP"},
		{"nonexistent floating IP", "2.43", map[string]any{"addFloatingIp": map[string]any{"address": "0.0.0.0"}}, 404, "floating IP not found"},
		{"empty address", "2.43", map[string]any{"addFloatingIp": map[string]any{"address": ""}}, 400, ""},
		{"fixed address not the server's", "2.43", map[string]any{"addFloatingIp": map[string]any{"address": b["ip"], "fixed_address": "192.0.2.1"}}, 400, "Specified fixed address not assigned to instance"},
		{"extra key", "2.43", map[string]any{"addFloatingIp": map[string]any{"address": b["ip"], "x": 1}}, 400, "Additional properties"},
		{"no address", "2.43", map[string]any{"addFloatingIp": map[string]any{}}, 400, "'address' is a required property"},
		{"gone at 2.44", "2.44", map[string]any{"addFloatingIp": map[string]any{"address": b["ip"]}}, 404, ""},
		{"remove nonexistent", "2.43", map[string]any{"removeFloatingIp": map[string]any{"address": "0.0.0.0"}}, 404, "Floating IP not found for address 0.0.0.0."},
		{"remove unassociated", "2.43", map[string]any{"removeFloatingIp": map[string]any{"address": b["ip"]}}, 403, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := act(tt.ver, tt.body).want(t, tt.status)
			if tt.msg != "" && !strings.Contains(r.raw, tt.msg) {
				t.Fatalf("message %s, want %q", r.raw, tt.msg)
			}
		})
	}
	// An admin removing an unassociated floating IP is told it is not on the server.
	f.doAs(t, f.adminToken, "2.43", "POST", "/v2.1/servers/"+id+"/action", map[string]any{"removeFloatingIp": map[string]any{"address": b["ip"]}}).want(t, 409)
	// Removing it through another server's URL is a 409.
	other := f.createServer(t, f.demoToken, "2.37", map[string]any{"networks": "none"})
	demo("2.43", "POST", "/v2.1/servers/"+other+"/action", map[string]any{"removeFloatingIp": map[string]any{"address": ip}}).want(t, 409)
	act("2.43", map[string]any{"removeFloatingIp": map[string]any{"address": ip}}).want(t, 202)
	got = demo("2.35", "GET", "/v2.1/os-floating-ips/"+a["id"].(string), nil).want(t, 200).obj("floating_ip")
	if got["instance_id"] != nil || got["fixed_ip"] != nil {
		t.Fatalf("disassociated view %v", got)
	}
	if types := addrTypes(); types[ip] != "" {
		t.Fatalf("addresses after remove %v", types)
	}
	// Deallocating an associated floating IP disassociates it from the server too.
	act("2.43", map[string]any{"addFloatingIp": map[string]any{"address": b["ip"], "fixed_address": fixed}}).want(t, 202)
	if types := addrTypes(); types[b["ip"].(string)] != "floating" {
		t.Fatalf("addresses with the second floating IP %v", types)
	}
	demo("2.35", "DELETE", "/v2.1/os-floating-ips/"+b["id"].(string), nil).want(t, 202)
	if types := addrTypes(); types[b["ip"].(string)] != "" {
		t.Fatalf("addresses after deallocate %v", types)
	}
	demo("2.35", "DELETE", "/v2.1/os-floating-ips/"+a["id"].(string), nil).want(t, 202)
	if l := demo("2.35", "GET", "/v2.1/os-floating-ips", nil).want(t, 200).body["floating_ips"].([]any); len(l) != 0 {
		t.Fatalf("list after deallocate %v", l)
	}
	// A server without addresses cannot get a floating IP.
	c := demo("2.35", "POST", "/v2.1/os-floating-ips", nil).want(t, 200).obj("floating_ip")
	if r := demo("2.43", "POST", "/v2.1/servers/"+other+"/action", map[string]any{"addFloatingIp": map[string]any{"address": c["ip"]}}).want(t, 400); !strings.Contains(r.raw, "Instance network is not ready yet") {
		t.Fatalf("no network %s", r.raw)
	}
}
