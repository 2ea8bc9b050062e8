package network

import (
	"testing"
)

func TestSubnetWalkthrough(t *testing.T) {
	tc := newTestCloud(t)
	n := tc.mkNetwork(t, tc.demoToken, map[string]any{"name": "intnet"})
	nid := n["id"].(string)
	s := tc.mkSubnet(t, tc.demoToken, map[string]any{"name": "subnet1", "network_id": nid, "ip_version": 4,
		"cidr": "10.5.5.0/24", "dns_nameservers": []string{"8.8.8.8"}})
	if s["gateway_ip"] != "10.5.5.1" || s["enable_dhcp"] != true || s["ip_version"] != float64(4) {
		t.Errorf("subnet %v", s)
	}
	pools := s["allocation_pools"].([]any)
	if len(pools) != 1 || pools[0].(map[string]any)["start"] != "10.5.5.2" || pools[0].(map[string]any)["end"] != "10.5.5.254" {
		t.Errorf("pools %v", pools)
	}
	if ns := s["dns_nameservers"].([]any); len(ns) != 1 || ns[0] != "8.8.8.8" {
		t.Errorf("dns %v", ns)
	}
	net := tc.doAs(t, tc.demoToken, "GET", "/v2.0/networks/"+nid, nil, nil).want(t, 200).obj("network")
	if subs := net["subnets"].([]any); len(subs) != 1 || subs[0] != s["id"] {
		t.Errorf("network subnets %v", subs)
	}
	sub := func(body map[string]any) resp {
		body["network_id"] = nid
		return tc.doAs(t, tc.demoToken, "POST", "/v2.0/subnets", map[string]any{"subnet": body}, nil)
	}
	sub(map[string]any{"ip_version": 4, "cidr": "10.5.5.128/25"}).fault(t, 400, "InvalidInput")
	sub(map[string]any{"ip_version": 4, "cidr": "10.6.0.1/24"}).fault(t, 400, "HTTPBadRequest")
	sub(map[string]any{"ip_version": 4, "cidr": "10.6.0.0/33"}).fault(t, 400, "HTTPBadRequest")
	sub(map[string]any{"ip_version": 4, "cidr": "banana"}).fault(t, 400, "HTTPBadRequest")
	sub(map[string]any{"ip_version": 5, "cidr": "10.6.0.0/24"}).fault(t, 400, "HTTPBadRequest")
	sub(map[string]any{"ip_version": 6, "cidr": "10.6.0.0/24"}).fault(t, 400, "InvalidInput")
	sub(map[string]any{"cidr": "10.6.0.0/24"}).fault(t, 400, "HTTPBadRequest")
	sub(map[string]any{"ip_version": 4, "cidr": "10.6.0.0/24", "gateway_ip": "10.6.0.0"}).fault(t, 400, "InvalidInput")
	sub(map[string]any{"ip_version": 4, "cidr": "10.6.0.0/24", "allocation_pools": []any{map[string]any{"start": "10.6.0.10", "end": "10.6.1.5"}}}).fault(t, 400, "OutOfBoundsAllocationPool")
	sub(map[string]any{"ip_version": 4, "cidr": "10.6.0.0/24", "allocation_pools": []any{map[string]any{"start": "10.6.0.20", "end": "10.6.0.10"}}}).fault(t, 400, "InvalidAllocationPool")
	sub(map[string]any{"ip_version": 4, "cidr": "10.6.0.0/24", "allocation_pools": []any{
		map[string]any{"start": "10.6.0.10", "end": "10.6.0.20"}, map[string]any{"start": "10.6.0.15", "end": "10.6.0.30"}}}).fault(t, 409, "OverlappingAllocationPools")
	sub(map[string]any{"ip_version": 4, "cidr": "10.6.0.0/24", "gateway_ip": "10.6.0.15", "allocation_pools": []any{
		map[string]any{"start": "10.6.0.10", "end": "10.6.0.20"}}}).fault(t, 409, "GatewayConflictWithAllocationPools")
	sub(map[string]any{"ip_version": 4, "cidr": "10.6.0.0/24", "ipv6_ra_mode": "slaac"}).fault(t, 400, "InvalidInput")
	sub(map[string]any{"ip_version": 6, "cidr": "fd00:1::/64", "ipv6_ra_mode": "slaac", "ipv6_address_mode": "dhcpv6-stateful"}).fault(t, 400, "InvalidInput")
	sub(map[string]any{"ip_version": 6, "cidr": "fd00:1::/80", "ipv6_address_mode": "slaac"}).fault(t, 400, "InvalidInput")
	sub(map[string]any{"ip_version": 4, "cidr": "10.6.0.0/24", "dns_nameservers": []string{"1.1.1.1", "1.1.1.1"}}).fault(t, 400, "HTTPBadRequest")
	sub(map[string]any{"ip_version": 4, "cidr": "10.6.0.0/24", "host_routes": []any{map[string]any{"destination": "x", "nexthop": "10.6.0.1"}}}).fault(t, 400, "HTTPBadRequest")
	tc.doAs(t, tc.altToken, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": nid, "ip_version": 4, "cidr": "10.9.0.0/24"}}, nil).fault(t, 404, "NetworkNotFound")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": nid, "ip_version": 4, "cidr": "10.9.0.0/24", "service_types": []string{"compute:nova"}}}, nil).fault(t, 403, "PolicyNotAuthorized")

	// IPv6 SLAAC with the default pool from ::2; no gateway; explicit pools.
	v6 := tc.mkSubnet(t, tc.demoToken, map[string]any{"network_id": nid, "ip_version": 6, "cidr": "fd00:5::/64",
		"ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"})
	if v6["gateway_ip"] != "fd00:5::1" || v6["allocation_pools"].([]any)[0].(map[string]any)["start"] != "fd00:5::2" ||
		v6["allocation_pools"].([]any)[0].(map[string]any)["end"] != "fd00:5::ffff:ffff:ffff:ffff" {
		t.Errorf("v6 %v", v6)
	}
	nogw := tc.mkSubnet(t, tc.demoToken, map[string]any{"network_id": nid, "ip_version": 4, "cidr": "10.7.0.0/29", "gateway_ip": nil})
	if nogw["gateway_ip"] != nil || nogw["allocation_pools"].([]any)[0].(map[string]any)["start"] != "10.7.0.1" {
		t.Errorf("no gateway %v", nogw)
	}
	// Update: cidr is read-only, pools change, gateway must stay out of pools.
	sid := s["id"].(string)
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/subnets/"+sid, map[string]any{"subnet": map[string]any{"cidr": "10.8.0.0/24"}}, nil).fault(t, 400, "HTTPBadRequest")
	u := tc.doAs(t, tc.demoToken, "PUT", "/v2.0/subnets/"+sid, map[string]any{"subnet": map[string]any{"name": "s1",
		"allocation_pools": []any{map[string]any{"start": "10.5.5.100", "end": "10.5.5.200"}}}}, nil).want(t, 200).obj("subnet")
	if u["name"] != "s1" || u["allocation_pools"].([]any)[0].(map[string]any)["start"] != "10.5.5.100" || u["revision_number"] != float64(1) {
		t.Errorf("updated %v", u)
	}
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/subnets/"+sid, map[string]any{"subnet": map[string]any{"gateway_ip": "10.5.5.150"}}, nil).fault(t, 409, "GatewayConflictWithAllocationPools")
	// Filters and visibility.
	l := tc.doAs(t, tc.demoToken, "GET", "/v2.0/subnets?ip_version=6", nil, nil).want(t, 200).list("subnets")
	if len(l) != 1 || l[0]["id"] != v6["id"] {
		t.Errorf("ip_version filter %v", ids(l))
	}
	if l := tc.doAs(t, tc.altToken, "GET", "/v2.0/subnets", nil, nil).want(t, 200).list("subnets"); len(l) != 0 {
		t.Errorf("alt sees subnets %v", ids(l))
	}
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/subnets/"+nogw["id"].(string), nil, nil).want(t, 204)
}

func TestSubnetPoolsAndScopes(t *testing.T) {
	tc := newTestCloud(t)
	scope := tc.doAs(t, tc.demoToken, "POST", "/v2.0/address-scopes", map[string]any{"address_scope": map[string]any{
		"name": "sc", "ip_version": 4}}, nil).want(t, 201).obj("address_scope")
	pool := tc.doAs(t, tc.demoToken, "POST", "/v2.0/subnetpools", map[string]any{"subnetpool": map[string]any{
		"name": "p", "prefixes": []string{"10.100.0.0/16"}, "default_prefixlen": 24, "address_scope_id": scope["id"]}}, nil).want(t, 201).obj("subnetpool")
	if pool["ip_version"] != float64(4) || pool["min_prefixlen"] != float64(8) || pool["max_prefixlen"] != float64(32) {
		t.Errorf("pool %v", pool)
	}
	n := tc.mkNetwork(t, tc.demoToken, map[string]any{"name": "n"})
	a := tc.mkSubnet(t, tc.demoToken, map[string]any{"network_id": n["id"], "ip_version": 4, "subnetpool_id": pool["id"]})
	b := tc.mkSubnet(t, tc.demoToken, map[string]any{"network_id": n["id"], "ip_version": 4, "subnetpool_id": pool["id"], "prefixlen": 26})
	if a["cidr"] != "10.100.0.0/24" || b["cidr"] != "10.100.1.0/26" || a["subnetpool_id"] != pool["id"] {
		t.Errorf("allocated %v %v", a["cidr"], b["cidr"])
	}
	net := tc.doAs(t, tc.demoToken, "GET", "/v2.0/networks/"+n["id"].(string), nil, nil).want(t, 200).obj("network")
	if net["ipv4_address_scope"] != scope["id"] {
		t.Errorf("address scope %v", net["ipv4_address_scope"])
	}
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": n["id"], "ip_version": 4,
		"subnetpool_id": pool["id"], "prefixlen": 33}}, nil).fault(t, 400, "BadRequest")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": n["id"], "ip_version": 4,
		"subnetpool_id": pool["id"], "cidr": "192.168.0.0/24"}}, nil).fault(t, 400, "BadRequest")
	r := tc.doAs(t, tc.demoToken, "PUT", "/v2.0/subnetpools/"+pool["id"].(string)+"/add_prefixes", map[string]any{"prefixes": []string{"10.200.0.0/16"}}, nil).want(t, 200)
	if p := r.body["prefixes"].([]any); len(p) != 2 {
		t.Errorf("prefixes %v", p)
	}
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/subnetpools/"+pool["id"].(string)+"/remove_prefixes", map[string]any{"prefixes": []string{"10.100.0.0/16"}}, nil).fault(t, 409, "IllegalSubnetPoolUpdate")
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/subnetpools/"+pool["id"].(string), nil, nil).fault(t, 409, "SubnetPoolInUse")
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/address-scopes/"+scope["id"].(string), nil, nil).fault(t, 409, "AddressScopeInUse")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/subnetpools", map[string]any{"subnetpool": map[string]any{
		"name": "s", "prefixes": []string{"10.0.0.0/8"}, "shared": true}}, nil).fault(t, 403, "PolicyNotAuthorized")
	if l := tc.doAs(t, tc.altToken, "GET", "/v2.0/subnetpools", nil, nil).want(t, 200).list("subnetpools"); len(l) != 0 {
		t.Errorf("alt sees pools %v", ids(l))
	}
}
