package network

import (
	"context"
	"testing"
	"time"
)

// bootstrapped runs the DevStack bootstrap and returns the public network's id.
func (tc *testCloud) bootstrapped(t testing.TB) string {
	t.Helper()
	if err := tc.svc.Bootstrap(context.Background(), BootstrapConfig{AdminProjectID: tc.adminProject, DemoProjectID: tc.demoProject}); err != nil {
		t.Fatal(err)
	}
	l := tc.do(t, "GET", "/v2.0/networks?name=public", nil).want(t, 200).list("networks")
	if len(l) != 1 {
		t.Fatalf("public %v", l)
	}
	return l[0]["id"].(string)
}

func TestRouterWalkthrough(t *testing.T) {
	tc := newTestCloud(t)
	public := tc.bootstrapped(t)
	// router1 exists for demo with a gateway on public and two interfaces.
	r1 := tc.doAs(t, tc.demoToken, "GET", "/v2.0/routers?name=router1", nil, nil).want(t, 200).list("routers")
	if len(r1) != 1 {
		t.Fatalf("router1 %v", r1)
	}
	gi, _ := r1[0]["external_gateway_info"].(map[string]any)
	if gi == nil || gi["network_id"] != public || gi["enable_snat"] != true || len(gi["external_fixed_ips"].([]any)) == 0 {
		t.Errorf("router1 gateway %v", gi)
	}
	if _, ok := r1[0]["distributed"]; ok {
		t.Errorf("member sees distributed")
	}
	ifs := tc.do(t, "GET", "/v2.0/ports?device_id="+r1[0]["id"].(string)+"&device_owner=network:router_interface", nil).want(t, 200).list("ports")
	if len(ifs) != 2 {
		t.Errorf("router1 interfaces %v", ifs)
	}
	// A second bootstrap creates nothing.
	if err := tc.svc.Bootstrap(context.Background(), BootstrapConfig{AdminProjectID: tc.adminProject, DemoProjectID: tc.demoProject}); err != nil {
		t.Fatal(err)
	}
	if n := len(tc.do(t, "GET", "/v2.0/routers", nil).list("routers")); n != 1 {
		t.Errorf("%d routers after second bootstrap", n)
	}

	// The walkthrough: intnet, subnet1, R2, add subnet, gateway, floating IP.
	net := tc.mkNetwork(t, tc.demoToken, map[string]any{"name": "intnet"})
	sub := tc.mkSubnet(t, tc.demoToken, map[string]any{"name": "subnet1", "network_id": net["id"], "ip_version": 4,
		"cidr": "10.5.5.0/24", "dns_nameservers": []any{"8.8.8.8"}})
	r2 := tc.doAs(t, tc.demoToken, "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"name": "R2"}}, nil).want(t, 201).obj("router")
	rid := r2["id"].(string)
	if r2["external_gateway_info"] != nil || r2["status"] != "ACTIVE" || len(r2["routes"].([]any)) != 0 {
		t.Errorf("R2 %v", r2)
	}
	info := tc.doAs(t, tc.demoToken, "PUT", "/v2.0/routers/"+rid+"/add_router_interface", map[string]any{"subnet_id": sub["id"]}, nil).want(t, 200).body
	if info["subnet_id"] != sub["id"] || info["id"] != rid || info["port_id"] == nil || info["network_id"] != net["id"] {
		t.Errorf("interface %v", info)
	}
	ifPort := tc.doAs(t, tc.demoToken, "GET", "/v2.0/ports/"+info["port_id"].(string), nil, nil).want(t, 200).obj("port")
	if ifPort["device_owner"] != "network:router_interface" || ifPort["fixed_ips"].([]any)[0].(map[string]any)["ip_address"] != "10.5.5.1" {
		t.Errorf("interface port %v", ifPort)
	}
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/routers/"+rid+"/add_router_interface", map[string]any{"subnet_id": sub["id"]}, nil).fault(t, 400, "BadRequest")
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/routers/"+rid+"/add_router_interface", map[string]any{}, nil).fault(t, 400, "BadRequest")
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/routers/"+rid+"/add_router_interface", map[string]any{"subnet_id": sub["id"], "port_id": "x"}, nil).fault(t, 400, "BadRequest")
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/ports/"+info["port_id"].(string), nil, nil).fault(t, 409, "L3PortInUse")
	// Gateways: only external networks; members may not choose SNAT or addresses.
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/routers/"+rid, map[string]any{"router": map[string]any{
		"external_gateway_info": map[string]any{"network_id": net["id"]}}}, nil).fault(t, 400, "BadRequest")
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/routers/"+rid, map[string]any{"router": map[string]any{
		"external_gateway_info": map[string]any{"network_id": public, "enable_snat": false}}}, nil).fault(t, 403, "PolicyNotAuthorized")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"distributed": true}}, nil).fault(t, 403, "PolicyNotAuthorized")
	u := tc.doAs(t, tc.demoToken, "PUT", "/v2.0/routers/"+rid, map[string]any{"router": map[string]any{
		"external_gateway_info": map[string]any{"network_id": public}}}, nil).want(t, 200).obj("router")
	if g := u["external_gateway_info"].(map[string]any); g["network_id"] != public || len(g["external_fixed_ips"].([]any)) != 1 {
		t.Errorf("gateway %v", u)
	}
	// Extra routes: the next hop must be on an attached subnet.
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/routers/"+rid, map[string]any{"router": map[string]any{
		"routes": []any{map[string]any{"destination": "192.168.0.0/24", "nexthop": "10.9.9.9"}}}}, nil).fault(t, 400, "InvalidRoutes")
	u = tc.doAs(t, tc.demoToken, "PUT", "/v2.0/routers/"+rid, map[string]any{"router": map[string]any{
		"routes": []any{map[string]any{"destination": "192.168.0.0/24", "nexthop": "10.5.5.9"}}}}, nil).want(t, 200).obj("router")
	if len(u["routes"].([]any)) != 1 {
		t.Errorf("routes %v", u["routes"])
	}
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/routers/"+rid+"/add_extraroutes", map[string]any{"router": map[string]any{
		"routes": []any{map[string]any{"destination": "192.168.1.0/24", "nexthop": "10.5.5.10"}}}}, nil).want(t, 200)
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/routers/"+rid+"/remove_router_interface", map[string]any{"subnet_id": sub["id"]}, nil).
		fault(t, 409, "RouterInterfaceInUseByRoute")
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/routers/"+rid, map[string]any{"router": map[string]any{"routes": []any{}}}, nil).want(t, 200)

	// Floating IPs: created on public, associated through R2.
	vm := tc.mkPort(t, tc.demoToken, map[string]any{"network_id": net["id"], "name": "vm"})
	fip := tc.doAs(t, tc.demoToken, "POST", "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{"floating_network_id": public}}, nil).
		want(t, 201).obj("floatingip")
	fid := fip["id"].(string)
	if fip["status"] != "DOWN" || fip["port_id"] != nil || fip["router_id"] != nil || fip["port_details"] != nil || fip["floating_ip_address"] == nil {
		t.Errorf("fip %v", fip)
	}
	a := tc.doAs(t, tc.demoToken, "PUT", "/v2.0/floatingips/"+fid, map[string]any{"floatingip": map[string]any{"port_id": vm["id"]}}, nil).
		want(t, 200).obj("floatingip")
	pd, _ := a["port_details"].(map[string]any)
	if a["router_id"] != rid || a["fixed_ip_address"] != "10.5.5.2" || pd == nil || pd["network_id"] != net["id"] || pd["mac_address"] != vm["mac_address"] {
		t.Errorf("associated %v", a)
	}
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{"floating_network_id": public,
		"port_id": vm["id"]}}, nil).fault(t, 409, "FloatingIPPortAlreadyAssociated")
	// The driver wires it: ACTIVE, and the state carries routers and floating IPs.
	if err := tc.svc.ApplyOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := tc.doAs(t, tc.demoToken, "GET", "/v2.0/floatingips/"+fid, nil, nil).obj("floatingip")["status"]; st != "ACTIVE" {
		t.Errorf("fip status %v", st)
	}
	st := tc.driver.Last()
	var found bool
	for _, rt := range st.Routers {
		if rt.ID == rid {
			found = rt.Gateway != nil && rt.Gateway.NetworkID == public && len(rt.Interfaces) == 1 && rt.Interfaces[0].IPAddress == "10.5.5.1"
		}
	}
	if !found || len(st.FloatingIPs) != 1 || st.FloatingIPs[0].FixedIPAddress != "10.5.5.2" || st.FloatingIPs[0].RouterID != rid {
		t.Errorf("state routers %+v fips %+v", st.Routers, st.FloatingIPs)
	}
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/routers/"+rid+"/remove_router_interface", map[string]any{"subnet_id": sub["id"]}, nil).
		fault(t, 409, "RouterInterfaceInUseByFloatingIP")
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/routers/"+rid, map[string]any{"router": map[string]any{"external_gateway_info": nil}}, nil).
		fault(t, 409, "RouterExternalGatewayInUseByFloatingIp")
	// A port on an unrouted network cannot be associated.
	other, _ := tc.portNet(t, tc.demoToken, "10.6.0.0/24", nil)
	lone := tc.mkPort(t, tc.demoToken, map[string]any{"network_id": other})
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/floatingips/"+fid, map[string]any{"floatingip": map[string]any{"port_id": lone["id"]}}, nil).
		fault(t, 404, "ExternalGatewayForFloatingIPNotFound")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{"floating_network_id": other}}, nil).
		fault(t, 400, "BadRequest")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{"floating_network_id": public,
		"floating_ip_address": "172.24.4.50"}}, nil).fault(t, 403, "PolicyNotAuthorized")
	chosen := tc.do(t, "POST", "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{"floating_network_id": public,
		"floating_ip_address": "172.24.4.50"}}).want(t, 201).obj("floatingip")
	if chosen["floating_ip_address"] != "172.24.4.50" {
		t.Errorf("chosen %v", chosen)
	}
	tc.do(t, "POST", "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{"floating_network_id": public,
		"floating_ip_address": "172.24.4.50"}}).fault(t, 409, "IpAddressAlreadyAllocated")
	// Isolation.
	tc.doAs(t, tc.altToken, "GET", "/v2.0/floatingips/"+fid, nil, nil).fault(t, 404, "FloatingIPNotFound")
	tc.doAs(t, tc.altToken, "GET", "/v2.0/routers/"+rid, nil, nil).fault(t, 404, "RouterNotFound")
	tc.doAs(t, tc.altToken, "PUT", "/v2.0/routers/"+rid+"/add_router_interface", map[string]any{"subnet_id": sub["id"]}, nil).fault(t, 404, "RouterNotFound")
	if n := len(tc.doAs(t, tc.altToken, "GET", "/v2.0/floatingips", nil, nil).list("floatingips")); n != 0 {
		t.Errorf("alt sees %d floating ips", n)
	}
	// Deleting the port disassociates; disassociate explicitly; delete the router.
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/routers/"+rid, nil, nil).fault(t, 409, "RouterInUse")
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/ports/"+vm["id"].(string), nil, nil).want(t, 204)
	d := tc.doAs(t, tc.demoToken, "GET", "/v2.0/floatingips/"+fid, nil, nil).obj("floatingip")
	if d["port_id"] != nil || d["router_id"] != nil || d["status"] != "DOWN" {
		t.Errorf("after port delete %v", d)
	}
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/routers/"+rid+"/remove_router_interface", map[string]any{"port_id": info["port_id"]}, nil).want(t, 200)
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/routers/"+rid+"/remove_router_interface", map[string]any{"subnet_id": sub["id"]}, nil).
		fault(t, 404, "RouterInterfaceNotFoundForSubnet")
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/floatingips/"+fid, nil, nil).want(t, 204)
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/routers/"+rid, nil, nil).want(t, 204)
	tc.doAs(t, tc.demoToken, "GET", "/v2.0/routers/"+rid, nil, nil).fault(t, 404, "RouterNotFound")
}

func TestRouterQuotaAndAdminFlags(t *testing.T) {
	tc := newTestCloud(t)
	tc.do(t, "PUT", "/v2.0/quotas/"+tc.demoProject, map[string]any{"quota": map[string]any{"router": 1, "floatingip": 0}}).want(t, 200)
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"name": "a"}}, nil).want(t, 201)
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"name": "b"}}, nil).fault(t, 409, "OverQuota")
	r := tc.do(t, "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"name": "dvr", "distributed": true, "ha": true,
		"availability_zone_hints": []any{"nova"}}}).want(t, 201).obj("router")
	if r["distributed"] != true || r["ha"] != true || r["availability_zones"].([]any)[0] != "nova" {
		t.Errorf("admin router %v", r)
	}
	tc.do(t, "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"availability_zone_hints": []any{"mars"}}}).
		fault(t, 404, "AvailabilityZoneNotFound")
	tc.do(t, "PUT", "/v2.0/routers/"+r["id"].(string), map[string]any{"router": map[string]any{"ha": false}}).fault(t, 400, "BadRequest")
	public := tc.bootstrapped(t)
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{"floating_network_id": public}}, nil).
		fault(t, 409, "OverQuota")
}

func TestAgentsAndZones(t *testing.T) {
	tc := newTestCloud(t)
	tc.bootstrapped(t)
	if err := tc.svc.ApplyOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	l := tc.do(t, "GET", "/v2.0/agents", nil).want(t, 200).list("agents")
	types := map[string]map[string]any{}
	for _, a := range l {
		types[a["agent_type"].(string)] = a
		if a["alive"] != true || a["host"] != "host1" || a["admin_state_up"] != true {
			t.Errorf("agent %v", a)
		}
	}
	if len(l) != 4 || types["DHCP agent"]["binary"] != "neutron-dhcp-agent" || types["L3 agent"]["availability_zone"] != "nova" ||
		types["Metadata agent"]["availability_zone"] != nil || types["Linux bridge agent"] == nil {
		t.Fatalf("agents %v", l)
	}
	// Lists hide what policy hides (Neutron filters lists per item); show is 404.
	if n := len(tc.doAs(t, tc.demoToken, "GET", "/v2.0/agents", nil, nil).want(t, 200).list("agents")); n != 0 {
		t.Errorf("member sees %d agents", n)
	}
	tc.doAs(t, tc.demoToken, "GET", "/v2.0/agents/"+types["L3 agent"]["id"].(string), nil, nil).fault(t, 404, "AgentNotFound")
	// A second heartbeat keeps one row per agent.
	if err := tc.svc.Heartbeat(context.Background(), "host1"); err != nil {
		t.Fatal(err)
	}
	if n := len(tc.do(t, "GET", "/v2.0/agents?agent_type=L3+agent", nil).list("agents")); n != 1 {
		t.Errorf("%d L3 agents", n)
	}
	l3 := types["L3 agent"]["id"].(string)
	u := tc.do(t, "PUT", "/v2.0/agents/"+l3, map[string]any{"agent": map[string]any{"admin_state_up": false, "description": "d"}}).want(t, 200).obj("agent")
	if u["admin_state_up"] != false || u["description"] != "d" {
		t.Errorf("updated %v", u)
	}
	tc.do(t, "PUT", "/v2.0/agents/"+l3, map[string]any{"agent": map[string]any{"host": "x"}}).fault(t, 400, "HTTPBadRequest")
	if rs := tc.do(t, "GET", "/v2.0/agents/"+l3+"/l3-routers", nil).want(t, 200).list("routers"); len(rs) != 1 || rs[0]["name"] != "router1" {
		t.Errorf("l3-routers %v", rs)
	}
	if ns := tc.do(t, "GET", "/v2.0/agents/"+types["DHCP agent"]["id"].(string)+"/dhcp-networks", nil).want(t, 200).list("networks"); len(ns) != 1 || ns[0]["name"] != "private" {
		t.Errorf("dhcp-networks %v", ns)
	}
	tc.do(t, "DELETE", "/v2.0/agents/"+l3, nil).want(t, 204)
	tc.do(t, "GET", "/v2.0/agents/"+l3, nil).fault(t, 404, "AgentNotFound")
	// Heartbeats age out.
	old := now
	now = func() time.Time { return old().Add(2 * time.Minute) }
	defer func() { now = old }()
	if a := tc.do(t, "GET", "/v2.0/agents/"+types["DHCP agent"]["id"].(string), nil).obj("agent"); a["alive"] != false {
		t.Errorf("stale agent alive")
	}
	z := tc.doAs(t, tc.demoToken, "GET", "/v2.0/availability_zones", nil, nil).want(t, 200).list("availability_zones")
	if len(z) != 2 || z[0]["name"] != "nova" || z[0]["state"] != "available" {
		t.Errorf("zones %v", z)
	}
	if z := tc.doAs(t, tc.demoToken, "GET", "/v2.0/availability_zones?resource=router", nil, nil).list("availability_zones"); len(z) != 1 {
		t.Errorf("router zones %v", z)
	}
}
