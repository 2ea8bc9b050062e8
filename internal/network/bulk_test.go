package network

import "testing"

func TestBulkCreate(t *testing.T) {
	tc := newTestCloud(t)
	nid, _ := tc.portNet(t, tc.demoToken, "10.7.0.0/24", nil)
	r := tc.doAs(t, tc.demoToken, "POST", "/v2.0/ports", map[string]any{"ports": []any{
		map[string]any{"network_id": nid, "name": "b1"},
		map[string]any{"network_id": nid, "name": "b2"},
	}}, nil)
	if r.code != 201 {
		t.Fatalf("bulk create: %d %s", r.code, r.raw)
	}
	ports := r.body["ports"].([]any)
	if len(ports) != 2 || ports[0].(map[string]any)["name"] != "b1" || ports[1].(map[string]any)["name"] != "b2" {
		t.Fatalf("bulk create answer: %v", ports)
	}
	// All or nothing: the second item's bad address undoes the first.
	before := len(tc.do(t, "GET", "/v2.0/ports?network_id="+nid, nil).body["ports"].([]any))
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/ports", map[string]any{"ports": []any{
		map[string]any{"network_id": nid, "name": "b3"},
		map[string]any{"network_id": nid, "fixed_ips": []any{map[string]any{"ip_address": "10.8.0.9"}}},
	}}, nil).fault(t, 400, "InvalidIpForNetwork")
	if after := len(tc.do(t, "GET", "/v2.0/ports?network_id="+nid, nil).body["ports"].([]any)); after != before {
		t.Fatalf("failed bulk create left %d ports, had %d", after, before)
	}
	nets := tc.doAs(t, tc.demoToken, "POST", "/v2.0/networks", map[string]any{"networks": []any{
		map[string]any{"name": "n1"}, map[string]any{"name": "n2"}}}, nil)
	if nets.code != 201 || len(nets.body["networks"].([]any)) != 2 {
		t.Fatalf("bulk networks: %d %s", nets.code, nets.raw)
	}
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/networks", map[string]any{"networks": []any{}}, nil).want(t, 400)
}

func TestPortRefusesDuplicateSecurityGroups(t *testing.T) {
	tc := newTestCloud(t)
	nid, _ := tc.portNet(t, tc.demoToken, "10.7.1.0/24", nil)
	sgs := tc.doAs(t, tc.demoToken, "GET", "/v2.0/security-groups?name=default", nil, nil).want(t, 200).body["security_groups"].([]any)
	sg := sgs[0].(map[string]any)["id"].(string)
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": nid,
		"security_groups": []any{sg, sg}}}, nil).fault(t, 400, "HTTPBadRequest")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": nid,
		"security_groups": []any{sg}}}, nil).want(t, 201)
}
