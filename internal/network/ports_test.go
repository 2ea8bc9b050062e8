package network

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// portNet makes a network with one IPv4 subnet as token.
func (tc *testCloud) portNet(t testing.TB, token, cidr string, extra map[string]any) (string, string) {
	t.Helper()
	n := tc.mkNetwork(t, token, map[string]any{"name": "pn"})
	body := map[string]any{"network_id": n["id"], "ip_version": 4, "cidr": cidr}
	for k, v := range extra {
		body[k] = v
	}
	s := tc.mkSubnet(t, token, body)
	return n["id"].(string), s["id"].(string)
}

func TestPortCRUD(t *testing.T) {
	tc := newTestCloud(t)
	nid, sid := tc.portNet(t, tc.demoToken, "10.1.0.0/24", nil)
	p := tc.mkPort(t, tc.demoToken, map[string]any{"network_id": nid, "name": "p1"})
	fixed := p["fixed_ips"].([]any)
	if len(fixed) != 1 || fixed[0].(map[string]any)["ip_address"] != "10.1.0.2" || fixed[0].(map[string]any)["subnet_id"] != sid {
		t.Errorf("fixed ips %v", fixed)
	}
	if mac := p["mac_address"].(string); !strings.HasPrefix(mac, "fa:16:3e:") || len(mac) != 17 {
		t.Errorf("mac %s", mac)
	}
	if p["status"] != "DOWN" || p["port_security_enabled"] != true || p["ip_allocation"] != "immediate" || p["data_plane_status"] != nil {
		t.Errorf("port %v", p)
	}
	if _, ok := p["binding:host_id"]; ok {
		t.Errorf("member sees binding:host_id")
	}
	pid := p["id"].(string)
	tc.mkPort(t, tc.demoToken, map[string]any{"network_id": nid, "fixed_ips": []any{map[string]any{"ip_address": "10.1.0.50"}}})
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": nid,
		"fixed_ips": []any{map[string]any{"ip_address": "10.1.0.50"}}}}, nil).fault(t, 409, "IpAddressAlreadyAllocated")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": nid,
		"fixed_ips": []any{map[string]any{"ip_address": "10.9.0.5"}}}}, nil).fault(t, 400, "InvalidIpForNetwork")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": nid,
		"fixed_ips": []any{map[string]any{"subnet_id": sid, "ip_address": "10.1.0.255"}}}}, nil).fault(t, 400, "InvalidIpForSubnet")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": nid,
		"mac_address": p["mac_address"]}}, nil).fault(t, 409, "MacAddressInUse")
	tc.do(t, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": nid,
		"mac_address": p["mac_address"]}}).fault(t, 409, "MacAddressInUse")
	tc.do(t, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": nid,
		"mac_address": "01:00:00:00:00:01"}}).fault(t, 400, "HTTPBadRequest")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": nid,
		"extra_dhcp_opts": []any{map[string]any{"opt_name": "bootfile-name", "opt_value": "pxe\nserver=evil"}}}}, nil).fault(t, 400, "HTTPBadRequest")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": nid,
		"binding:host_id": "h"}}, nil).fault(t, 403, "PolicyNotAuthorized")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": nid,
		"port_security_enabled": false, "allowed_address_pairs": []any{map[string]any{"ip_address": "10.1.0.99"}}}}, nil).fault(t, 409, "AddressPairAndPortSecurityRequired")
	// Update: fixed IPs move, the old address is freed; options and pairs.
	u := tc.doAs(t, tc.demoToken, "PUT", "/v2.0/ports/"+pid, map[string]any{"port": map[string]any{
		"fixed_ips":             []any{map[string]any{"ip_address": "10.1.0.77"}},
		"allowed_address_pairs": []any{map[string]any{"ip_address": "10.1.0.0/28"}},
		"extra_dhcp_opts":       []any{map[string]any{"opt_name": "dns-server", "opt_value": "8.8.8.8,1.1.1.1"}},
	}}, nil).want(t, 200).obj("port")
	if u["fixed_ips"].([]any)[0].(map[string]any)["ip_address"] != "10.1.0.77" || u["revision_number"] != float64(1) {
		t.Errorf("updated %v", u)
	}
	if pr := u["allowed_address_pairs"].([]any); len(pr) != 1 || pr[0].(map[string]any)["mac_address"] != p["mac_address"] {
		t.Errorf("pairs %v", pr)
	}
	again := tc.mkPort(t, tc.demoToken, map[string]any{"network_id": nid, "fixed_ips": []any{map[string]any{"ip_address": "10.1.0.2"}}})
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/ports/"+pid, map[string]any{"port": map[string]any{"status": "ACTIVE"}}, nil).fault(t, 400, "HTTPBadRequest")
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/ports/"+pid, map[string]any{"port": map[string]any{"data_plane_status": "ACTIVE"}}, nil).fault(t, 403, "PolicyNotAuthorized")
	tc.do(t, "PUT", "/v2.0/ports/"+pid, map[string]any{"port": map[string]any{"data_plane_status": "ACTIVE", "binding:host_id": "host1"}}).want(t, 200)
	// Filters.
	l := tc.doAs(t, tc.demoToken, "GET", "/v2.0/ports?fixed_ips=ip_address%3D10.1.0.77", nil, nil).want(t, 200).list("ports")
	if len(l) != 1 || l[0]["id"] != pid {
		t.Errorf("fixed_ips filter %v", ids(l))
	}
	l = tc.doAs(t, tc.demoToken, "GET", "/v2.0/ports?fixed_ips=ip_address_substr%3D10.1.0.7&network_id="+nid, nil, nil).want(t, 200).list("ports")
	if len(l) != 1 {
		t.Errorf("substr filter %v", ids(l))
	}
	// Isolation.
	tc.doAs(t, tc.altToken, "GET", "/v2.0/ports/"+pid, nil, nil).fault(t, 404, "PortNotFound")
	tc.doAs(t, tc.altToken, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": nid}}, nil).fault(t, 404, "NetworkNotFound")
	// The driver binds host1's ports: ACTIVE after Apply.
	if err := tc.svc.ApplyOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := tc.driver.Last()
	if st == nil || len(st.Ports) != 1 || st.Ports[0].ID != pid || len(st.Networks) != 1 || st.Networks[0].Segments[0].NetworkType != "vxlan" {
		t.Fatalf("driver state %+v", st)
	}
	if len(st.DHCP) != 1 || len(st.DHCP[0].Entries) < 3 {
		t.Errorf("dhcp %+v", st.DHCP)
	}
	if got := tc.do(t, "GET", "/v2.0/ports/"+pid, nil).want(t, 200).obj("port"); got["status"] != "ACTIVE" || got["binding:vif_type"] != "bridge" {
		t.Errorf("bound port %v", got)
	}
	// Network delete is refused while user ports exist; subnets too.
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/networks/"+nid, nil, nil).fault(t, 409, "NetworkInUse")
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/subnets/"+sid, nil, nil).fault(t, 409, "SubnetInUse")
	for _, r := range tc.doAs(t, tc.demoToken, "GET", "/v2.0/ports?network_id="+nid, nil, nil).want(t, 200).list("ports") {
		tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/ports/"+r["id"].(string), nil, nil).want(t, 204)
	}
	tc.do(t, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": nid, "device_owner": "network:dhcp"}}).want(t, 201)
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/networks/"+nid, nil, nil).want(t, 204)
	_ = again
}

func TestPortIPv6SLAAC(t *testing.T) {
	tc := newTestCloud(t)
	nid, _ := tc.portNet(t, tc.demoToken, "10.2.0.0/24", nil)
	v6 := tc.mkSubnet(t, tc.demoToken, map[string]any{"network_id": nid, "ip_version": 6, "cidr": "fd00:2::/64",
		"ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"})
	p := tc.do(t, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": nid, "mac_address": "fa:16:3e:11:22:33"}}).want(t, 201).obj("port")
	var got []string
	for _, f := range p["fixed_ips"].([]any) {
		got = append(got, f.(map[string]any)["ip_address"].(string))
	}
	if len(got) != 2 || got[1] != "fd00:2::f816:3eff:fe11:2233" {
		t.Errorf("addresses %v (v6 subnet %v)", got, v6["id"])
	}
}

// TestConcurrentPortCreates is the race: 100 port creates on a subnet with 12
// free addresses; exactly 12 succeed, the rest fail with IpAddressGenerationFailure, and
// no address is handed out twice.
func TestConcurrentPortCreates(t *testing.T) {
	tc := newTestCloud(t)
	nid, _ := tc.portNet(t, tc.demoToken, "10.3.0.0/28", map[string]any{"allocation_pools": []any{
		map[string]any{"start": "10.3.0.2", "end": "10.3.0.13"}}})
	var mu sync.Mutex
	codes := map[int]int{}
	seen := map[string]int{}
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := tc.doAs(t, tc.demoToken, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": nid, "name": fmt.Sprint(i)}}, nil)
			mu.Lock()
			defer mu.Unlock()
			codes[r.code]++
			if r.code == 201 {
				for _, f := range r.obj("port")["fixed_ips"].([]any) {
					seen[f.(map[string]any)["ip_address"].(string)]++
				}
			} else if ne, _ := r.body["NeutronError"].(map[string]any); ne["type"] != "IpAddressGenerationFailure" ||
				ne["message"] != "No more IP addresses available on network "+nid+"." {
				t.Errorf("failure %d %s", r.code, r.raw)
			}
		}()
	}
	wg.Wait()
	if codes[201] != 12 || codes[409] != 88 {
		t.Fatalf("status counts %v", codes)
	}
	for ip, n := range seen {
		a := netip.MustParseAddr(ip)
		if n != 1 || a.Compare(netip.MustParseAddr("10.3.0.2")) < 0 || a.Compare(netip.MustParseAddr("10.3.0.13")) > 0 {
			t.Errorf("address %s handed out %d times", ip, n)
		}
	}
	if len(seen) != 12 {
		t.Errorf("%d distinct addresses", len(seen))
	}
}

func TestQuotas(t *testing.T) {
	tc := newTestCloud(t)
	q := tc.do(t, "GET", "/v2.0/quotas/"+tc.demoProject, nil).want(t, 200).obj("quota")
	for k, v := range map[string]float64{"network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50,
		"security_group": 10, "security_group_rule": 100, "subnetpool": -1, "rbac_policy": 10} {
		if q[k] != v {
			t.Errorf("quota %s = %v, want %v", k, q[k], v)
		}
	}
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/quotas/"+tc.demoProject, map[string]any{"quota": map[string]any{"network": 1}}, nil).want(t, 403)
	tc.doAs(t, tc.altToken, "GET", "/v2.0/quotas/"+tc.demoProject, nil, nil).want(t, 403)
	tc.do(t, "PUT", "/v2.0/quotas/"+tc.demoProject, map[string]any{"quota": map[string]any{"network": 1, "port": 2}}).want(t, 200)
	tc.do(t, "PUT", "/v2.0/quotas/"+tc.demoProject, map[string]any{"quota": map[string]any{"bogus": 1}}).want(t, 400)
	tc.do(t, "PUT", "/v2.0/quotas/"+tc.demoProject, map[string]any{"quota": map[string]any{"network": -5}}).want(t, 400)
	tc.mkNetwork(t, tc.demoToken, map[string]any{"name": "one"})
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "two"}}, nil).fault(t, 409, "OverQuota")
	d := tc.do(t, "GET", "/v2.0/quotas/"+tc.demoProject+"/details.json", nil).want(t, 200).obj("quota")
	if n := d["network"].(map[string]any); n["used"] != float64(1) || n["limit"] != float64(1) || n["reserved"] != float64(0) {
		t.Errorf("details %v", n)
	}
	tc.do(t, "GET", "/v2.0/quotas/"+tc.demoProject+"/default", nil).want(t, 200)
	if l := tc.do(t, "GET", "/v2.0/quotas", nil).want(t, 200).list("quotas"); len(l) != 1 || l[0]["project_id"] != tc.demoProject {
		t.Errorf("quotas list %v", l)
	}
	tc.do(t, "DELETE", "/v2.0/quotas/"+tc.demoProject, nil).want(t, 204)
	tc.mkNetwork(t, tc.demoToken, map[string]any{"name": "two"})
}

func TestRBACAndAvailability(t *testing.T) {
	tc := newTestCloud(t)
	nid, _ := tc.portNet(t, tc.demoToken, "10.4.0.0/24", nil)
	tc.doAs(t, tc.altToken, "GET", "/v2.0/networks/"+nid, nil, nil).fault(t, 404, "NetworkNotFound")
	rb := tc.doAs(t, tc.demoToken, "POST", "/v2.0/rbac-policies", map[string]any{"rbac_policy": map[string]any{
		"object_type": "network", "object_id": nid, "action": "access_as_shared", "target_tenant": tc.altProject}}, nil).want(t, 201).obj("rbac_policy")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/rbac-policies", map[string]any{"rbac_policy": map[string]any{
		"object_type": "network", "object_id": nid, "action": "access_as_shared", "target_tenant": tc.altProject}}, nil).fault(t, 409, "DuplicateRbacPolicy")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/rbac-policies", map[string]any{"rbac_policy": map[string]any{
		"object_type": "network", "object_id": nid, "action": "access_as_shared", "target_tenant": "*"}}, nil).fault(t, 403, "PolicyNotAuthorized")
	tc.doAs(t, tc.altToken, "POST", "/v2.0/rbac-policies", map[string]any{"rbac_policy": map[string]any{
		"object_type": "network", "object_id": nid, "action": "access_as_shared", "target_tenant": tc.altProject}}, nil).fault(t, 404, "RbacPolicyNotFound")
	n := tc.doAs(t, tc.altToken, "GET", "/v2.0/networks/"+nid, nil, nil).want(t, 200).obj("network")
	if n["shared"] != true {
		t.Errorf("shared for alt: %v", n["shared"])
	}
	if l := tc.doAs(t, tc.altToken, "GET", "/v2.0/subnets?network_id="+nid, nil, nil).want(t, 200).list("subnets"); len(l) != 1 {
		t.Errorf("alt subnets %v", l)
	}
	tc.mkPort(t, tc.altToken, map[string]any{"network_id": nid})
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/rbac-policies/"+rb["id"].(string), nil, nil).fault(t, 409, "RbacPolicyInUse")
	av := tc.do(t, "GET", "/v2.0/network-ip-availabilities/"+nid, nil).want(t, 200).obj("network_ip_availability")
	if av["total_ips"] != float64(253) || av["used_ips"] != float64(1) {
		t.Errorf("availability %v", av)
	}
	tc.doAs(t, tc.demoToken, "GET", "/v2.0/network-ip-availabilities", nil, nil).fault(t, 403, "PolicyNotAuthorized")
}

func TestBootstrap(t *testing.T) {
	tc := newTestCloud(t)
	cfg := BootstrapConfig{AdminProjectID: tc.adminProject, DemoProjectID: tc.demoProject}
	for range 2 {
		if err := tc.svc.Bootstrap(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	nets := tc.do(t, "GET", "/v2.0/networks?sort_key=name&sort_dir=asc", nil).want(t, 200).list("networks")
	if len(nets) != 2 || nets[0]["name"] != "private" || nets[1]["name"] != "public" || nets[1]["router:external"] != true ||
		nets[1]["provider:network_type"] != "flat" || nets[0]["project_id"] != tc.demoProject {
		t.Fatalf("networks %v", nets)
	}
	subs := tc.do(t, "GET", "/v2.0/subnets?sort_key=cidr&sort_dir=asc", nil).want(t, 200).list("subnets")
	if len(subs) != 3 || subs[0]["cidr"] != "10.0.0.0/26" || subs[1]["cidr"] != "172.24.4.0/24" || subs[2]["ipv6_address_mode"] != "slaac" {
		t.Fatalf("subnets %v", subs)
	}
	// The demo project sees public (external) and its private network.
	if l := tc.doAs(t, tc.demoToken, "GET", "/v2.0/networks", nil, nil).want(t, 200).list("networks"); len(l) != 2 {
		t.Errorf("demo sees %d networks", len(l))
	}
}
