package network

import (
	"context"
	"testing"
)

// subportBody is an add/remove_subports body.
func subportBody(items ...map[string]any) map[string]any {
	list := make([]any, len(items))
	for i, it := range items {
		list[i] = it
	}
	return map[string]any{"sub_ports": list}
}

func vlan(port string, id any) map[string]any {
	return map[string]any{"port_id": port, "segmentation_type": "vlan", "segmentation_id": id}
}

func TestTrunkLifecycle(t *testing.T) {
	tc := newTestCloud(t)
	nid, _ := tc.portNet(t, tc.demoToken, "10.30.0.0/24", nil)
	port := func() string { return tc.mkPort(t, tc.demoToken, map[string]any{"network_id": nid})["id"].(string) }
	parent, sub1, sub2, sub3 := port(), port(), port(), port()

	tr := tc.doAs(t, tc.demoToken, "POST", "/v2.0/trunks", map[string]any{"trunk": map[string]any{
		"name": "t1", "port_id": parent, "sub_ports": []any{vlan(sub1, 100)}}}, nil).want(t, 201).obj("trunk")
	tid := tr["id"].(string)
	subs := tr["sub_ports"].([]any)
	if tr["status"] != "DOWN" || tr["admin_state_up"] != true || tr["port_id"] != parent || len(subs) != 1 ||
		subs[0].(map[string]any)["segmentation_id"] != float64(100) || tr["project_id"] != tc.demoProject {
		t.Fatalf("trunk %v", tr)
	}
	// trunk-details on the parent port, with the subports' MACs.
	pp := tc.doAs(t, tc.demoToken, "GET", "/v2.0/ports/"+parent, nil, nil).want(t, 200).obj("port")
	td, _ := pp["trunk_details"].(map[string]any)
	if td == nil || td["trunk_id"] != tid || len(td["sub_ports"].([]any)) != 1 ||
		td["sub_ports"].([]any)[0].(map[string]any)["mac_address"] == "" {
		t.Errorf("trunk_details %v", pp["trunk_details"])
	}
	if sp := tc.doAs(t, tc.demoToken, "GET", "/v2.0/ports/"+sub1, nil, nil).want(t, 200).obj("port"); sp["trunk_details"] != nil {
		t.Errorf("subport has trunk_details %v", sp["trunk_details"])
	}

	// A port is one trunk's parent at most, and never both parent and subport.
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/trunks", map[string]any{"trunk": map[string]any{"port_id": parent}}, nil).
		fault(t, 409, "ParentPortInUse")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/trunks", map[string]any{"trunk": map[string]any{"port_id": sub1}}, nil).
		fault(t, 409, "TrunkPortInUse")
	add := "/v2.0/trunks/" + tid + "/add_subports"
	for _, c := range []struct {
		body   map[string]any
		status int
		typ    string
	}{
		{subportBody(vlan(sub2, 100)), 409, "DuplicateSubPort"},
		{subportBody(vlan(sub1, 101)), 409, "TrunkPortInUse"},
		{subportBody(vlan(parent, 102)), 409, "ParentPortInUse"},
		{subportBody(vlan(sub2, 4095)), 400, "InvalidInput"},
		{subportBody(vlan(sub2, 0)), 400, "InvalidInput"},
		{subportBody(vlan(sub2, "x")), 400, "InvalidInput"},
		{subportBody(map[string]any{"port_id": sub2, "segmentation_type": "vxlan", "segmentation_id": 5}), 400, "InvalidInput"},
		{subportBody(map[string]any{"port_id": sub2, "segmentation_type": "vlan"}), 400, "InvalidInput"},
		{subportBody(vlan(sub2, 7), vlan(sub3, 7)), 400, "InvalidInput"},
		{subportBody(vlan(sub2, 7), vlan(sub2, 8)), 400, "InvalidInput"},
		{subportBody(vlan("nope", 7)), 400, "InvalidInput"},
		{map[string]any{"sub_ports": "x"}, 400, "InvalidInput"},
		{subportBody(vlan("0b1e1d1c-0000-4000-8000-000000000000", 7)), 404, "PortNotFound"},
	} {
		tc.doAs(t, tc.demoToken, "PUT", add, c.body, nil).fault(t, c.status, c.typ)
	}
	// A port with a device is not eligible as a subport.
	busy := tc.mkPort(t, tc.demoToken, map[string]any{"network_id": nid, "device_id": "vm-1"})["id"].(string)
	tc.doAs(t, tc.demoToken, "PUT", add, subportBody(vlan(busy, 9)), nil).fault(t, 409, "PortInUse")

	r := tc.doAs(t, tc.demoToken, "PUT", add, subportBody(vlan(sub2, 101), vlan(sub3, "102")), nil).want(t, 200)
	if subs := r.body["sub_ports"].([]any); len(subs) != 3 || r.body["status"] != "DOWN" || r.body["revision_number"].(float64) < 1 {
		t.Errorf("add_subports answer %v", r.raw)
	}
	got := tc.doAs(t, tc.demoToken, "GET", "/v2.0/trunks/"+tid+"/get_subports", nil, nil).want(t, 200)
	if len(got.body["sub_ports"].([]any)) != 3 {
		t.Errorf("get_subports %v", got.raw)
	}

	// Trunk ports cannot be deleted from under the trunk.
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/ports/"+sub1, nil, nil).fault(t, 409, "PortInUseAsSubPort")
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/ports/"+parent, nil, nil).fault(t, 409, "PortInUseAsTrunkParent")

	// Another project sees nothing and cannot use these ports.
	tc.doAs(t, tc.altToken, "GET", "/v2.0/trunks/"+tid, nil, nil).fault(t, 404, "TrunkNotFound")
	tc.doAs(t, tc.altToken, "PUT", add, subportBody(vlan(sub2, 300)), nil).fault(t, 404, "TrunkNotFound")
	if l := tc.doAs(t, tc.altToken, "GET", "/v2.0/trunks", nil, nil).want(t, 200).list("trunks"); len(l) != 0 {
		t.Errorf("alt lists %v", l)
	}
	altNet, _ := tc.portNet(t, tc.altToken, "10.31.0.0/24", nil)
	altPort := tc.mkPort(t, tc.altToken, map[string]any{"network_id": altNet})["id"].(string)
	tc.doAs(t, tc.altToken, "POST", "/v2.0/trunks", map[string]any{"trunk": map[string]any{"port_id": sub3}}, nil).
		fault(t, 409, "TrunkPortInUse")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/trunks", map[string]any{"trunk": map[string]any{"port_id": altPort}}, nil).
		fault(t, 404, "PortNotFound")
	tc.doAs(t, tc.altToken, "POST", "/v2.0/trunks", map[string]any{"trunk": map[string]any{"port_id": altPort,
		"sub_ports": []any{vlan(busy, 5)}}}, nil).fault(t, 404, "PortNotFound")

	// Filters and update.
	if l := tc.doAs(t, tc.demoToken, "GET", "/v2.0/trunks?port_id="+parent, nil, nil).want(t, 200).list("trunks"); len(l) != 1 {
		t.Errorf("port_id filter %v", l)
	}
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/trunks/"+tid, map[string]any{"trunk": map[string]any{"port_id": sub2}}, nil).
		fault(t, 400, "HTTPBadRequest")
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/trunks/"+tid, map[string]any{"trunk": map[string]any{"name": "renamed"}}, nil).want(t, 200)

	// Binding the parent to a host with the Linux bridge agent: the driver gets the
	// trunk with its subports and the trunk goes ACTIVE.
	tc.do(t, "PUT", "/v2.0/ports/"+parent, map[string]any{"port": map[string]any{"binding:host_id": "host1"}}).want(t, 200)
	ctx := context.Background()
	if err := tc.svc.ApplyOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tc.svc.ApplyOnce(ctx); err != nil {
		t.Fatal(err)
	}
	var seen bool
	for _, p := range tc.driver.Last().Ports {
		if p.ID == parent {
			seen = p.Trunk != nil && p.Trunk.ID == tid && len(p.Trunk.SubPorts) == 3 && p.Trunk.SubPorts[0].NetworkID == nid &&
				p.Trunk.SubPorts[0].SegmentationType == "vlan" && p.Trunk.SubPorts[0].MACAddress != ""
		}
	}
	if !seen {
		t.Errorf("desired state lacks the trunk: %+v", tc.driver.Last().Ports)
	}
	if st := tc.doAs(t, tc.demoToken, "GET", "/v2.0/trunks/"+tid, nil, nil).want(t, 200).obj("trunk")["status"]; st != "ACTIVE" {
		t.Errorf("trunk status %v", st)
	}
	// The wired trunk's subports are bound with the parent and reported ACTIVE.
	if err := tc.svc.ApplyOnce(ctx); err != nil {
		t.Fatal(err)
	}
	sp := tc.do(t, "GET", "/v2.0/ports/"+sub1, nil).want(t, 200).obj("port")
	if sp["binding:host_id"] != "host1" || sp["device_owner"] != "trunk:subport" || sp["status"] != "ACTIVE" {
		t.Errorf("subport %v %v %v", sp["binding:host_id"], sp["device_owner"], sp["status"])
	}

	// Removing subports: unknown ones 404, known ones go and the trunk is DOWN again.
	rm := "/v2.0/trunks/" + tid + "/remove_subports"
	tc.doAs(t, tc.demoToken, "PUT", rm, subportBody(map[string]any{"port_id": busy}), nil).fault(t, 404, "SubPortNotFound")
	r = tc.doAs(t, tc.demoToken, "PUT", rm, subportBody(map[string]any{"port_id": sub1}), nil).want(t, 200)
	if len(r.body["sub_ports"].([]any)) != 2 || r.body["status"] != "DOWN" {
		t.Errorf("remove_subports %v", r.raw)
	}
	if sp := tc.do(t, "GET", "/v2.0/ports/"+sub1, nil).want(t, 200).obj("port"); sp["binding:host_id"] != "" || sp["status"] != "DOWN" {
		t.Errorf("removed subport still bound: %v %v", sp["binding:host_id"], sp["status"])
	}
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/ports/"+sub1, nil, nil).want(t, 204)

	// A disabled trunk cannot be managed.
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/trunks/"+tid, map[string]any{"trunk": map[string]any{"admin_state_up": false}}, nil).want(t, 200)
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/trunks/"+tid, nil, nil).fault(t, 409, "TrunkDisabled")
	tc.doAs(t, tc.demoToken, "PUT", rm, subportBody(map[string]any{"port_id": sub2}), nil).fault(t, 409, "TrunkDisabled")
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/trunks/"+tid, map[string]any{"trunk": map[string]any{"admin_state_up": true}}, nil).want(t, 200)
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/trunks/"+tid, nil, nil).want(t, 204)
	tc.doAs(t, tc.demoToken, "GET", "/v2.0/trunks/"+tid, nil, nil).fault(t, 404, "TrunkNotFound")
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/ports/"+parent, nil, nil).want(t, 204)
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/ports/"+sub2, nil, nil).want(t, 204)
}

func TestTrunkValidationAndBinding(t *testing.T) {
	tc := newTestCloud(t)
	nid, _ := tc.portNet(t, tc.demoToken, "10.40.0.0/24", nil)
	parent := tc.mkPort(t, tc.demoToken, map[string]any{"network_id": nid})["id"].(string)
	for _, c := range []struct {
		body map[string]any
		typ  string
	}{
		{map[string]any{}, "HTTPBadRequest"},
		{map[string]any{"port_id": "x"}, "HTTPBadRequest"},
		{map[string]any{"port_id": parent, "sub_ports": "x"}, "HTTPBadRequest"},
		{map[string]any{"port_id": parent, "sub_ports": []any{1}}, "HTTPBadRequest"},
		{map[string]any{"port_id": parent, "sub_ports": []any{map[string]any{"segmentation_id": 1}}}, "HTTPBadRequest"},
		{map[string]any{"port_id": parent, "status": "ACTIVE"}, "HTTPBadRequest"},
		{map[string]any{"port_id": parent, "admin_state_up": "maybe"}, "HTTPBadRequest"},
	} {
		tc.doAs(t, tc.demoToken, "POST", "/v2.0/trunks", map[string]any{"trunk": c.body}, nil).fault(t, 400, c.typ)
	}
	// A parent bound where no trunk-capable agent runs cannot be trunked.
	tc.do(t, "PUT", "/v2.0/ports/"+parent, map[string]any{"port": map[string]any{"binding:host_id": "elsewhere"}}).want(t, 200)
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/trunks", map[string]any{"trunk": map[string]any{"port_id": parent}}, nil).
		fault(t, 409, "ParentPortInUse")
	// Subports on a network with a larger MTU than the parent's are refused.
	small := tc.mkNetwork(t, tc.demoToken, map[string]any{"name": "small", "mtu": 1400})["id"].(string)
	tc.mkSubnet(t, tc.demoToken, map[string]any{"network_id": small, "ip_version": 4, "cidr": "10.41.0.0/24"})
	p2 := tc.mkPort(t, tc.demoToken, map[string]any{"network_id": small})["id"].(string)
	big := tc.mkPort(t, tc.demoToken, map[string]any{"network_id": nid})["id"].(string)
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/trunks", map[string]any{"trunk": map[string]any{"port_id": p2,
		"sub_ports": []any{vlan(big, 10)}}}, nil).fault(t, 409, "SubPortMtuGreaterThanTrunkPortMtu")
	// inherit takes the subport network's VLAN.
	vnet := tc.mkNetwork(t, tc.adminToken, map[string]any{"name": "v", "provider:network_type": "vlan",
		"provider:physical_network": "physnet1", "provider:segmentation_id": 321, "mtu": 1400, "shared": true})["id"].(string)
	tc.mkSubnet(t, tc.adminToken, map[string]any{"network_id": vnet, "ip_version": 4, "cidr": "10.42.0.0/24"})
	vp := tc.mkPort(t, tc.demoToken, map[string]any{"network_id": vnet})["id"].(string)
	tr := tc.doAs(t, tc.demoToken, "POST", "/v2.0/trunks", map[string]any{"trunk": map[string]any{"port_id": p2,
		"sub_ports": []any{map[string]any{"port_id": vp, "segmentation_type": "inherit"}}}}, nil).want(t, 201).obj("trunk")
	sp := tr["sub_ports"].([]any)[0].(map[string]any)
	if sp["segmentation_type"] != "vlan" || sp["segmentation_id"] != float64(321) {
		t.Errorf("inherited subport %v", sp)
	}
	// Members may not see or manage another project's trunk even by id.
	tc.doAs(t, tc.altToken, "DELETE", "/v2.0/trunks/"+tr["id"].(string), nil, nil).fault(t, 404, "TrunkNotFound")
	tc.doAs(t, tc.altToken, "GET", "/v2.0/trunks/"+tr["id"].(string)+"/get_subports", nil, nil).fault(t, 404, "TrunkNotFound")
	// Admins see every trunk.
	if l := tc.do(t, "GET", "/v2.0/trunks", nil).want(t, 200).list("trunks"); len(l) != 1 {
		t.Errorf("admin list %v", l)
	}
}
