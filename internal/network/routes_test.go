package network

import (
	"strings"
	"testing"
)

// TestNoServerErrors sends malformed and odd bodies to every route of the table, as
// admin and as a member: nothing may answer 5xx.
func TestNoServerErrors(t *testing.T) {
	tc := newTestCloud(t)
	nid, sid := tc.portNet(t, tc.demoToken, "10.20.0.0/24", nil)
	pid := tc.mkPort(t, tc.demoToken, map[string]any{"network_id": nid})["id"].(string)
	qos := tc.mkQos(t, tc.demoProject, map[string]any{"name": "q"})["id"].(string)
	rule := tc.do(t, "POST", "/v2.0/qos/policies/"+qos+"/bandwidth_limit_rules",
		map[string]any{"bandwidth_limit_rule": map[string]any{"max_kbps": 100}}).want(t, 201).obj("bandwidth_limit_rule")["id"].(string)
	sub := tc.mkPort(t, tc.demoToken, map[string]any{"network_id": nid})["id"].(string)
	trunk := tc.doAs(t, tc.demoToken, "POST", "/v2.0/trunks", map[string]any{"trunk": map[string]any{"port_id": pid,
		"sub_ports": []any{vlan(sub, 10)}}}, nil).want(t, 201).obj("trunk")["id"].(string)
	bodies := []any{`{`, `[]`, `null`, `{"network": null}`, `{"x": 1}`, map[string]any{}}
	for _, key := range []string{"network", "subnet", "port", "subnetpool", "address_scope", "rbac_policy", "quota", "segment",
		"policy", "trunk", "bandwidth_limit_rule", "dscp_marking_rule", "minimum_bandwidth_rule", "alias_bandwidth_limit_rule"} {
		bodies = append(bodies,
			map[string]any{key: map[string]any{"name": 1, "network_id": nid, "ip_version": "x", "cidr": []any{}, "fixed_ips": "x",
				"allowed_address_pairs": []any{1}, "extra_dhcp_opts": map[string]any{}, "prefixes": []any{"zz"}, "tags": "x"}},
			map[string]any{key: map[string]any{"network_id": nid, "ip_version": 6, "cidr": "fd00::/127", "gateway_ip": "::",
				"allocation_pools": []any{map[string]any{"start": "fd00::1", "end": "10.0.0.1"}}, "host_routes": []any{map[string]any{"destination": "::/0"}},
				"fixed_ips": []any{map[string]any{"subnet_id": sid, "ip_address": "fd00::1"}}, "mac_address": 5, "binding:profile": "x",
				"object_type": "network", "object_id": nid, "action": "access_as_shared", "target_tenant": strings.Repeat("x", 300),
				"provider:network_type": "vlan", "provider:segmentation_id": "x", "mtu": 1e30}}, `{"port": {"network_id": "x", "mtu": 1e999}}`,
			map[string]any{key: map[string]any{"max_kbps": 1e30, "max_burst_kbps": "x", "min_kbps": []any{}, "dscp_mark": nil,
				"direction": 5, "is_default": "x", "shared": nil, "port_id": sub, "qos_policy_id": qos,
				"sub_ports": []any{map[string]any{"port_id": sub, "segmentation_type": "inherit"}, 5}}},
			map[string]any{key: map[string]any{"max_kbps": -1, "min_kbps": 1, "dscp_mark": 1.5, "direction": "ingress",
				"port_id": pid, "qos_policy_id": "x", "sub_ports": "x"}},
		)
	}
	bodies = append(bodies,
		map[string]any{"sub_ports": []any{vlan(sub, "1e3"), map[string]any{"port_id": nil}, []any{}}},
		map[string]any{"sub_ports": []any{map[string]any{"port_id": sub, "segmentation_type": "inherit"}, map[string]any{}}},
		map[string]any{"sub_ports": nil}, map[string]any{"sub_ports": []any{vlan(pid, 1.5)}})
	ids := map[string]string{"{id}": pid, "{project_id}": tc.demoProject, "{tag}": "t", "{alias}": "x", "{rule_id}": rule}
	sent := 0
	for _, rt := range tc.svc.Routes() {
		path := strings.TrimPrefix(rt.Path, "")
		for k, v := range ids {
			path = strings.ReplaceAll(path, k, v)
		}
		if strings.Contains(rt.Path, "networks/{id}") || strings.Contains(rt.Path, "network-ip-availabilities/{id}") {
			path = strings.ReplaceAll(rt.Path, "{id}", nid)
		} else if strings.Contains(rt.Path, "subnets/{id}") {
			path = strings.ReplaceAll(rt.Path, "{id}", sid)
		} else if strings.Contains(rt.Path, "qos/policies/{id}") {
			path = strings.ReplaceAll(rt.Path, "{id}", qos)
		} else if strings.Contains(rt.Path, "trunks/{id}") {
			path = strings.ReplaceAll(rt.Path, "{id}", trunk)
		}
		for k, v := range ids {
			path = strings.ReplaceAll(path, k, v)
		}
		for _, tok := range []string{tc.adminToken, tc.demoToken} {
			if rt.Method == "GET" || rt.Method == "DELETE" {
				for _, q := range []string{"", "?limit=x", "?sort_key=id&sort_dir=asc&limit=1&marker=zz", "?fields=id&tags=a,b"} {
					sent++
					if r := tc.doAs(t, tok, rt.Method, path+q, nil, nil); r.code >= 500 {
						t.Errorf("%s %s%s: %d %s", rt.Method, path, q, r.code, r.raw)
					}
				}
				continue
			}
			for _, b := range bodies {
				sent++
				if r := tc.doAs(t, tok, rt.Method, path, b, map[string]string{"If-Match": "revision_number=9999"}); r.code >= 500 {
					t.Errorf("%s %s %v: %d %s", rt.Method, path, b, r.code, r.raw)
				}
			}
		}
	}
	if sent < 500 {
		t.Fatalf("only %d requests sent", sent)
	}
}
