package compute

import (
	"context"
	"encoding/json"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// netFixture is a server cloud with running fake hosts and the ids of the bootstrap
// networks.
type netFixture struct {
	*serverFixture
	privateID, publicID, privateSubnet string
}

func newNetFixture(t *testing.T) *netFixture {
	t.Helper()
	f := &netFixture{serverFixture: newServerCloud(t)}
	f.startCompute(t, 1)
	for _, n := range f.raw(t, f.adminToken, "", "GET", "/networking/v2.0/networks", nil).want(t, 200).list("networks") {
		switch n["name"] {
		case "private":
			f.privateID = n["id"].(string)
			for _, sid := range n["subnets"].([]any) {
				sn := f.raw(t, f.adminToken, "", "GET", "/networking/v2.0/subnets/"+sid.(string), nil).want(t, 200).obj("subnet")
				if sn["ip_version"].(float64) == 4 {
					f.privateSubnet = sn["cidr"].(string)
				}
			}
		case "public":
			f.publicID = n["id"].(string)
		}
	}
	if f.privateID == "" || f.publicID == "" || f.privateSubnet == "" {
		t.Fatalf("bootstrap networks missing: %+v", f)
	}
	return f
}

// ports lists the ports of a server as admin.
func (f *netFixture) ports(t *testing.T, uuid string) []map[string]any {
	t.Helper()
	return f.raw(t, f.adminToken, "", "GET", "/networking/v2.0/ports?device_id="+uuid, nil).want(t, 200).list("ports")
}

// boot creates a server as demo and waits for ACTIVE.
func (f *netFixture) bootDemo(t *testing.T, ver string, extra map[string]any) string {
	t.Helper()
	srv := map[string]any{"name": "vm", "imageRef": f.imageID, "flavorRef": "1"}
	for k, v := range extra {
		srv[k] = v
	}
	r := f.doAs(t, f.demoToken, ver, "POST", "/v2.1/servers", map[string]any{"server": srv}).want(t, 202)
	id := r.obj("server")["id"].(string)
	f.waitStatus(t, id, "ACTIVE")
	return id
}

func TestServerNetworksCreateShowDelete(t *testing.T) {
	f := newNetFixture(t)
	prefix := netip.MustParsePrefix(f.privateSubnet)
	// A user-made port, to boot with.
	up := f.raw(t, f.demoToken, "", "POST", "/networking/v2.0/ports", map[string]any{"port": map[string]any{
		"network_id": f.privateID, "name": "mine"}}).want(t, 201).obj("port")
	userPort := up["id"].(string)
	fixed := prefix.Addr().Next().Next().Next().Next().Next().Next().Next().Next().Next().Next().String() // .10

	cases := []struct {
		name     string
		networks any
		wantIP   string
		wantPort string
	}{
		{"by network uuid", []any{map[string]any{"uuid": f.privateID}}, "", ""},
		{"by port", []any{map[string]any{"port": userPort}}, "", userPort},
		{"by fixed ip", []any{map[string]any{"uuid": f.privateID, "fixed_ip": fixed}}, fixed, ""},
		{"auto picks the only network", "auto", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := f.bootDemo(t, "2.96", map[string]any{"networks": tc.networks})
			srv := f.doAs(t, f.demoToken, "2.96", "GET", "/v2.1/servers/"+id, nil).want(t, 200).obj("server")
			addrs, _ := srv["addresses"].(map[string]any)["private"].([]any)
			if len(addrs) == 0 {
				t.Fatalf("addresses = %v, want private addresses", srv["addresses"])
			}
			var v4 map[string]any
			for _, a := range addrs {
				m := a.(map[string]any)
				if m["version"].(float64) == 4 {
					v4 = m
				}
			}
			if v4 == nil || v4["OS-EXT-IPS:type"] != "fixed" || v4["OS-EXT-IPS-MAC:mac_addr"] == "" {
				t.Fatalf("v4 address = %v", v4)
			}
			addr := netip.MustParseAddr(v4["addr"].(string))
			if !prefix.Contains(addr) || (tc.wantIP != "" && addr.String() != tc.wantIP) {
				t.Errorf("address %s, want one in %s (%q)", addr, prefix, tc.wantIP)
			}
			ports := f.ports(t, id)
			if len(ports) != 1 {
				t.Fatalf("ports = %d, want 1", len(ports))
			}
			p := ports[0]
			if p["device_owner"] != "compute:nova" || p["binding:host_id"] != "fake-host-1" || p["mac_address"] != v4["OS-EXT-IPS-MAC:mac_addr"] {
				t.Errorf("port = %v", p)
			}
			if tc.wantPort != "" && p["id"] != tc.wantPort {
				t.Errorf("port %v, want the user's %s", p["id"], tc.wantPort)
			}
			// The driver got the NIC.
			inst := f.inst(t, id)
			nics := driverNICs(inst)
			if len(nics) != 1 || nics[0].PortID != p["id"] || nics[0].DeviceName != "tap"+p["id"].(string)[:11] {
				t.Errorf("nics = %+v", nics)
			}
			// ... and its network_data.json: the port's link, and the private subnet
			// (DHCP on) as ipv4_dhcp.
			raw := networkData(loadVIFs(inst))
			var nd struct {
				Links    []map[string]any `json:"links"`
				Networks []map[string]any `json:"networks"`
			}
			if err := json.Unmarshal(raw, &nd); err != nil {
				t.Fatalf("network_data.json %s: %v", raw, err)
			}
			links := nd.Links
			if len(links) != 1 || links[0]["vif_id"] != p["id"] || links[0]["ethernet_mac_address"] != p["mac_address"] ||
				len(nd.Networks) == 0 || nd.Networks[0]["type"] != "ipv4_dhcp" || nd.Networks[0]["network_id"] != f.privateID {
				t.Errorf("network_data.json = %s", raw)
			}
			// ips and os-interface views.
			ips := f.doAs(t, f.demoToken, "2.96", "GET", "/v2.1/servers/"+id+"/ips", nil).want(t, 200).obj("addresses")
			if _, ok := ips["private"]; !ok {
				t.Errorf("ips = %v", ips)
			}
			ifs := f.doAs(t, f.demoToken, "2.96", "GET", "/v2.1/servers/"+id+"/os-interface", nil).want(t, 200).list("interfaceAttachments")
			if len(ifs) != 1 || ifs[0]["port_id"] != p["id"] || ifs[0]["net_id"] != f.privateID {
				t.Errorf("interfaces = %v", ifs)
			}
			f.doAs(t, f.demoToken, "2.96", "GET", "/v2.1/servers/"+id+"/os-interface/"+p["id"].(string), nil).want(t, 200)
			// The ip filter finds the server.
			list := f.do(t, "2.96", "GET", "/v2.1/servers?all_tenants=1&ip="+url.QueryEscape(addr.String()), nil).want(t, 200).list("servers")
			if len(list) != 1 || list[0]["id"] != id {
				t.Errorf("ip filter found %v", list)
			}
			// Delete frees the port (a user's port is unbound and kept).
			f.doAs(t, f.demoToken, "2.96", "DELETE", "/v2.1/servers/"+id, nil).want(t, 204)
			waitUntil(t, "ports released", func() bool { return len(f.ports(t, id)) == 0 })
			if tc.wantPort != "" {
				kept := f.raw(t, f.adminToken, "", "GET", "/networking/v2.0/ports/"+tc.wantPort, nil).want(t, 200).obj("port")
				if kept["device_id"] != "" || kept["device_owner"] != "" || kept["binding:host_id"] != "" {
					t.Errorf("user port not unbound: %v", kept)
				}
			}
		})
	}
}

func TestServerNetworksValidation(t *testing.T) {
	f := newNetFixture(t)
	missing := "3f5f7c35-5c1b-4a0e-9d8e-000000000001"
	// A port in use.
	used := f.raw(t, f.demoToken, "", "POST", "/networking/v2.0/ports", map[string]any{"port": map[string]any{
		"network_id": f.privateID, "device_id": "something"}}).want(t, 201).obj("port")["id"].(string)
	create := func(token, ver string, networks any, extra map[string]any) resp {
		srv := map[string]any{"name": "vm", "imageRef": f.imageID, "flavorRef": "1"}
		if networks != nil {
			srv["networks"] = networks
		}
		for k, v := range extra {
			srv[k] = v
		}
		return f.doAs(t, token, ver, "POST", "/v2.1/servers", map[string]any{"server": srv})
	}
	tests := []struct {
		name     string
		token    string
		ver      string
		networks any
		extra    map[string]any
		want     int
		msg      string
	}{
		{"unknown network", f.demoToken, "2.96", []any{map[string]any{"uuid": missing}}, nil, 400, "Network " + missing + " could not be found."},
		{"unknown port", f.demoToken, "2.96", []any{map[string]any{"port": missing}}, nil, 400, "Port id " + missing + " could not be found."},
		{"port in use", f.demoToken, "2.96", []any{map[string]any{"port": used}}, nil, 409, "Port " + used + " is still in use."},
		{"fixed ip outside", f.demoToken, "2.96", []any{map[string]any{"uuid": f.privateID, "fixed_ip": "192.0.2.5"}}, nil, 400, "not a valid ip address"},
		{"other project's network", f.altToken, "2.96", []any{map[string]any{"uuid": f.privateID}}, nil, 400, "could not be found"},
		{"unknown security group", f.demoToken, "2.96", "auto", map[string]any{"security_groups": []any{map[string]any{"name": "nope"}}}, 400, "Security group nope not found for project"},
		{"auto without networks", f.altToken, "2.96", "auto", nil, 400, "Unable to automatically allocate a network for project"},
		{"multiple with a port", f.demoToken, "2.96", []any{map[string]any{"port": used}}, map[string]any{"max_count": 2}, 400, "single configured port ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := create(tt.token, tt.ver, tt.networks, tt.extra).want(t, tt.want)
			if !strings.Contains(string(r.raw), tt.msg) {
				t.Errorf("body %s, want %q", r.raw, tt.msg)
			}
		})
	}
	// Omitted before 2.37 with no network for alt_demo: no NIC.
	id := create(f.altToken, "2.1", nil, nil).want(t, 202).obj("server")["id"].(string)
	f.waitStatus(t, id, "ACTIVE")
	if n := len(f.ports(t, id)); n != 0 {
		t.Errorf("alt_demo server got %d ports, want none", n)
	}
	// A second demo network makes "auto" ambiguous.
	f.raw(t, f.demoToken, "", "POST", "/networking/v2.0/networks", map[string]any{"network": map[string]any{"name": "second"}}).want(t, 201)
	r := create(f.demoToken, "2.96", "auto", nil).want(t, 409)
	if !strings.Contains(string(r.raw), "Multiple possible networks found") {
		t.Errorf("body %s", r.raw)
	}
	// "none" gives no NIC.
	id = create(f.demoToken, "2.96", "none", nil).want(t, 202).obj("server")["id"].(string)
	f.waitStatus(t, id, "ACTIVE")
	if n := len(f.ports(t, id)); n != 0 {
		t.Errorf("networks none got %d ports", n)
	}
}

func TestAllocateNetworksIdempotent(t *testing.T) {
	f := newNetFixture(t)
	id := f.bootDemo(t, "2.96", map[string]any{"networks": []any{map[string]any{"uuid": f.privateID}}})
	inst := f.inst(t, id)
	before := f.ports(t, id)
	// The networking step run again (a restart mid-build) reuses the port.
	for range 2 {
		info, err := f.svc.allocateNetworks(context.Background(), inst)
		if err != nil {
			t.Fatal(err)
		}
		if string(info) == "" || !strings.Contains(string(info), before[0]["id"].(string)) {
			t.Fatalf("network info %s", info)
		}
	}
	after := f.ports(t, id)
	if len(after) != 1 || after[0]["id"] != before[0]["id"] {
		t.Fatalf("ports after re-run: %v, want the one port %v", after, before[0]["id"])
	}
	// Deallocation is idempotent too.
	for range 2 {
		if err := f.svc.deallocateNetworks(context.Background(), inst); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.ports(t, id)); n != 0 {
		t.Fatalf("%d ports left", n)
	}
}

func TestBuildFailsWhenNoAddressIsLeft(t *testing.T) {
	f := newNetFixture(t)
	// A network with a /30 subnet: two usable addresses, one for the gateway... and DHCP.
	n := f.raw(t, f.demoToken, "", "POST", "/networking/v2.0/networks", map[string]any{"network": map[string]any{"name": "tiny"}}).want(t, 201).obj("network")
	f.raw(t, f.demoToken, "", "POST", "/networking/v2.0/subnets", map[string]any{"subnet": map[string]any{
		"network_id": n["id"], "cidr": "192.0.2.0/30", "ip_version": 4, "enable_dhcp": false}}).want(t, 201)
	var last string
	for i := 0; i < 3; i++ {
		r := f.doAs(t, f.demoToken, "2.96", "POST", "/v2.1/servers", map[string]any{"server": map[string]any{
			"name": "vm", "imageRef": f.imageID, "flavorRef": "1", "networks": []any{map[string]any{"uuid": n["id"]}}}}).want(t, 202)
		last = r.obj("server")["id"].(string)
		waitUntil(t, "build done", func() bool { i := f.inst(t, last); return i.TaskState == "" })
	}
	inst := f.inst(t, last)
	if inst.VMState != VMError || !strings.Contains(f.fault(t, last), "No more IP addresses available") {
		t.Fatalf("vm_state %s fault %q, want ERROR with IpAddressGenerationFailure", inst.VMState, f.fault(t, last))
	}
}

func TestInterfaceAttachDetach(t *testing.T) {
	f := newNetFixture(t)
	id := f.bootDemo(t, "2.96", map[string]any{"networks": "none"})
	att := f.doAs(t, f.demoToken, "2.96", "POST", "/v2.1/servers/"+id+"/os-interface", map[string]any{
		"interfaceAttachment": map[string]any{"net_id": f.privateID}}).want(t, 200).obj("interfaceAttachment")
	portID := att["port_id"].(string)
	if att["net_id"] != f.privateID || len(att["fixed_ips"].([]any)) == 0 {
		t.Fatalf("attachment = %v", att)
	}
	if p := f.ports(t, id); len(p) != 1 || p[0]["id"] != portID {
		t.Fatalf("ports = %v", p)
	}
	srv := f.doAs(t, f.demoToken, "2.96", "GET", "/v2.1/servers/"+id, nil).want(t, 200).obj("server")
	if _, ok := srv["addresses"].(map[string]any)["private"]; !ok {
		t.Errorf("addresses after attach = %v", srv["addresses"])
	}
	f.doAs(t, f.demoToken, "2.96", "DELETE", "/v2.1/servers/"+id+"/os-interface/"+portID, nil).want(t, 202)
	if p := f.ports(t, id); len(p) != 0 {
		t.Fatalf("ports after detach = %v", p)
	}
	f.doAs(t, f.demoToken, "2.96", "DELETE", "/v2.1/servers/"+id+"/os-interface/"+portID, nil).want(t, 404)
	srv = f.doAs(t, f.demoToken, "2.96", "GET", "/v2.1/servers/"+id, nil).want(t, 200).obj("server")
	if len(srv["addresses"].(map[string]any)) != 0 {
		t.Errorf("addresses after detach = %v", srv["addresses"])
	}
}

func TestNovaNetworkProxies(t *testing.T) {
	f := newNetFixture(t)
	nets := f.doAs(t, f.demoToken, "2.35", "GET", "/v2.1/os-tenant-networks", nil).want(t, 200).list("networks")
	labels := map[string]any{}
	for _, n := range nets {
		labels[n["label"].(string)] = n
		if n["cidr"] != "None" || len(n) != 3 {
			t.Errorf("tenant network view %v", n)
		}
	}
	if labels["private"] == nil || labels["public"] == nil {
		t.Errorf("tenant networks = %v", nets)
	}
	one := f.doAs(t, f.demoToken, "2.35", "GET", "/v2.1/os-tenant-networks/"+f.privateID, nil).want(t, 200).obj("network")
	if one["label"] != "private" {
		t.Errorf("show = %v", one)
	}
	adm := f.do(t, "2.35", "GET", "/v2.1/os-networks/"+f.publicID, nil).want(t, 200).obj("network")
	if adm["label"] != "public" || len(adm) != 32 || adm["cidr"] != nil {
		t.Errorf("os-networks admin view (%d fields) %v", len(adm), adm)
	}
	usr := f.doAs(t, f.demoToken, "2.35", "GET", "/v2.1/os-networks", nil).want(t, 200).list("networks")
	if len(usr) == 0 || len(usr[0]) != 11 {
		t.Errorf("os-networks user view %v", usr)
	}
	f.doAs(t, f.demoToken, "2.35", "GET", "/v2.1/os-networks/3f5f7c35-5c1b-4a0e-9d8e-000000000001", nil).want(t, 404)
	f.doAs(t, f.demoToken, "2.36", "GET", "/v2.1/os-networks", nil).want(t, 404)
	f.doAs(t, f.demoToken, "2.36", "GET", "/v2.1/os-tenant-networks", nil).want(t, 404)
	f.do(t, "2.1", "POST", "/v2.1/os-networks", map[string]any{"network": map[string]any{"label": "x"}}).want(t, 410)
	f.do(t, "2.1", "GET", "/v2.1/os-fping", nil).want(t, 410)
	f.do(t, "2.1", "GET", "/v2.1/os-floating-ips-bulk", nil).want(t, 410)
}
