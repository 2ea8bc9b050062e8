package network

import (
	"fmt"
	"strings"
	"testing"
)

func TestSecurityGroupDefaults(t *testing.T) {
	tc := newTestCloud(t)
	l := tc.doAs(t, tc.demoToken, "GET", "/v2.0/security-groups", nil, nil).want(t, 200).list("security_groups")
	if len(l) != 1 || l[0]["name"] != "default" || l[0]["stateful"] != true || l[0]["shared"] != false {
		t.Fatalf("groups %v", l)
	}
	def := l[0]
	rules := def["security_group_rules"].([]any)
	if len(rules) != 4 {
		t.Fatalf("default rules %v", rules)
	}
	var ingressFromSelf, egress int
	for _, r := range rules {
		m := r.(map[string]any)
		switch {
		case m["direction"] == "ingress" && m["remote_group_id"] == def["id"]:
			ingressFromSelf++
		case m["direction"] == "egress" && m["remote_group_id"] == nil && m["remote_ip_prefix"] == nil && m["protocol"] == nil:
			egress++
		}
		if m["belongs_to_default_sg"] != true || m["project_id"] != tc.demoProject {
			t.Errorf("rule %v", m)
		}
	}
	if ingressFromSelf != 2 || egress != 2 {
		t.Errorf("default rules %v", rules)
	}
	// Listing again does not create a second one; another project has its own.
	if n := len(tc.doAs(t, tc.demoToken, "GET", "/v2.0/security-groups", nil, nil).list("security_groups")); n != 1 {
		t.Errorf("%d groups", n)
	}
	alt := tc.doAs(t, tc.altToken, "GET", "/v2.0/security-groups", nil, nil).want(t, 200).list("security_groups")
	if len(alt) != 1 || alt[0]["id"] == def["id"] {
		t.Errorf("alt groups %v", alt)
	}
	tc.doAs(t, tc.altToken, "GET", "/v2.0/security-groups/"+def["id"].(string), nil, nil).fault(t, 404, "SecurityGroupNotFound")
	tc.doAs(t, tc.altToken, "DELETE", "/v2.0/security-groups/"+def["id"].(string), nil, nil).fault(t, 404, "SecurityGroupNotFound")

	// The default group can be neither renamed nor deleted by its project.
	did := def["id"].(string)
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/security-groups/"+did, map[string]any{"security_group": map[string]any{"name": "x"}}, nil).
		fault(t, 409, "SecurityGroupCannotUpdateDefault")
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/security-groups/"+did, map[string]any{"security_group": map[string]any{"description": "d"}}, nil).want(t, 200)
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/security-groups/"+did, nil, nil).fault(t, 409, "SecurityGroupCannotRemoveDefault")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": "Default"}}, nil).
		fault(t, 409, "SecurityGroupDefaultAlreadyExists")

	// A new group has the two egress rules.
	g := tc.doAs(t, tc.demoToken, "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": "web", "stateful": false}}, nil).
		want(t, 201).obj("security_group")
	if rs := g["security_group_rules"].([]any); len(rs) != 2 || rs[0].(map[string]any)["direction"] != "egress" || g["stateful"] != false {
		t.Errorf("new group %v", g)
	}
	// Rules list: the caller's only; admin sees all.
	if n := len(tc.doAs(t, tc.demoToken, "GET", "/v2.0/security-group-rules", nil, nil).want(t, 200).list("security_group_rules")); n != 6 {
		t.Errorf("demo sees %d rules", n)
	}
	if n := len(tc.doAs(t, tc.altToken, "GET", "/v2.0/security-group-rules?security_group_id="+g["id"].(string), nil, nil).want(t, 200).list("security_group_rules")); n != 0 {
		t.Errorf("alt sees %d rules of demo's group", n)
	}
	tc.do(t, "DELETE", "/v2.0/security-groups/"+did, nil).want(t, 204)
}

func TestSecurityGroupRules(t *testing.T) {
	tc := newTestCloud(t)
	g := tc.doAs(t, tc.demoToken, "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": "allow-icmp-ssh"}}, nil).
		want(t, 201).obj("security_group")
	gid := g["id"].(string)
	mk := func(extra map[string]any) resp {
		body := map[string]any{"security_group_id": gid, "direction": "ingress"}
		for k, v := range extra {
			body[k] = v
		}
		return tc.doAs(t, tc.demoToken, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rule": body}, nil)
	}
	icmp := mk(map[string]any{"protocol": "icmp", "remote_ip_prefix": "0.0.0.0/0"}).want(t, 201).obj("security_group_rule")
	if icmp["protocol"] != "icmp" || icmp["remote_ip_prefix"] != "0.0.0.0/0" || icmp["ethertype"] != "IPv4" || icmp["port_range_min"] != nil {
		t.Errorf("icmp rule %v", icmp)
	}
	ssh := mk(map[string]any{"protocol": "tcp", "port_range_min": 22, "port_range_max": "22", "remote_ip_prefix": "10.1.2.3/24"}).want(t, 201).obj("security_group_rule")
	if ssh["port_range_min"] != float64(22) || ssh["remote_ip_prefix"] != "10.1.2.3/24" || ssh["normalized_cidr"] != "10.1.2.0/24" || ssh["belongs_to_default_sg"] != false {
		t.Errorf("ssh rule %v", ssh)
	}
	// The same rule again, by number and with the same prefix, is a duplicate.
	mk(map[string]any{"protocol": "6", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "10.1.2.3/24"}).fault(t, 409, "SecurityGroupRuleExists")
	mk(map[string]any{"protocol": "icmp"}).fault(t, 409, "SecurityGroupRuleExists") // 0.0.0.0/0 is any
	v6 := mk(map[string]any{"protocol": "icmpv6", "ethertype": "ipv6"}).want(t, 201).obj("security_group_rule")
	if v6["protocol"] != "ipv6-icmp" || v6["ethertype"] != "IPv6" {
		t.Errorf("icmpv6 rule %v", v6)
	}
	full := mk(map[string]any{"protocol": "udp", "port_range_min": 1, "port_range_max": 65535}).want(t, 201).obj("security_group_rule")
	if full["port_range_min"] != nil || full["port_range_max"] != nil {
		t.Errorf("full range kept %v", full)
	}
	for i, c := range []struct {
		body        map[string]any
		status      int
		typ         string
		withoutDir  bool
		withoutSGID bool
	}{
		{map[string]any{"protocol": "bogus"}, 400, "SecurityGroupRuleInvalidProtocol", false, false},
		{map[string]any{"protocol": 256}, 400, "SecurityGroupRuleInvalidProtocol", false, false},
		{map[string]any{"protocol": true}, 400, "SecurityGroupRuleInvalidProtocol", false, false},
		{map[string]any{"protocol": "tcp", "port_range_min": 100, "port_range_max": 10}, 400, "SecurityGroupInvalidPortRange", false, false},
		{map[string]any{"protocol": "tcp", "port_range_min": 0, "port_range_max": 10}, 400, "SecurityGroupInvalidPortValue", false, false},
		{map[string]any{"protocol": "tcp", "port_range_min": 70000}, 400, "SecurityGroupInvalidPortValue", false, false},
		{map[string]any{"protocol": "tcp", "port_range_min": "x"}, 400, "SecurityGroupInvalidPortValue", false, false},
		{map[string]any{"port_range_min": 22, "port_range_max": 22}, 400, "SecurityGroupProtocolRequiredWithPorts", false, false},
		{map[string]any{"protocol": "icmp", "port_range_min": 300}, 400, "SecurityGroupInvalidIcmpValue", false, false},
		{map[string]any{"protocol": "icmp", "port_range_max": 3}, 400, "SecurityGroupMissingIcmpType", false, false},
		{map[string]any{"protocol": "gre", "port_range_min": 3, "port_range_max": 3}, 400, "SecurityGroupInvalidProtocolForPort", false, false},
		{map[string]any{"remote_ip_prefix": "::/0"}, 400, "SecurityGroupRuleParameterConflict", false, false},
		{map[string]any{"remote_ip_prefix": "10.0.0.0/33"}, 400, "InvalidCIDR", false, false},
		{map[string]any{"protocol": "ipv6-icmp"}, 400, "SecurityGroupEthertypeConflictWithProtocol", false, false},
		{map[string]any{"ethertype": "IPv5"}, 400, "SecurityGroupRuleInvalidEtherType", false, false},
		{map[string]any{"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": gid}, 400, "SecurityGroupMultipleRemoteEntites", false, false},
		{map[string]any{"direction": "sideways"}, 400, "HTTPBadRequest", false, false},
		{map[string]any{}, 400, "HTTPBadRequest", true, false},
		{map[string]any{"bogus": 1}, 400, "HTTPBadRequest", false, false},
		{map[string]any{"remote_group_id": "nope"}, 404, "SecurityGroupNotFound", false, false},
		{map[string]any{"remote_address_group_id": "nope"}, 404, "AddressGroupNotFound", false, false},
	} {
		body := map[string]any{"security_group_id": gid, "direction": "ingress"}
		if c.withoutDir {
			delete(body, "direction")
		}
		for k, v := range c.body {
			body[k] = v
		}
		r := tc.doAs(t, tc.demoToken, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rule": body}, nil)
		if r.code != c.status {
			t.Errorf("case %d %v: %d %s", i, c.body, r.code, r.raw)
			continue
		}
		r.fault(t, c.status, c.typ)
	}
	// Another project can neither see nor add to the group.
	tc.doAs(t, tc.altToken, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rule": map[string]any{
		"security_group_id": gid, "direction": "ingress", "protocol": "tcp"}}, nil).fault(t, 404, "SecurityGroupNotFound")
	tc.doAs(t, tc.altToken, "GET", "/v2.0/security-group-rules/"+ssh["id"].(string), nil, nil).fault(t, 404, "SecurityGroupRuleNotFound")
	tc.doAs(t, tc.altToken, "DELETE", "/v2.0/security-group-rules/"+ssh["id"].(string), nil, nil).fault(t, 404, "SecurityGroupRuleNotFound")
	// Filters and paging through the generic machinery.
	l := tc.doAs(t, tc.demoToken, "GET", "/v2.0/security-group-rules?security_group_id="+gid+"&protocol=tcp&fields=id&fields=protocol", nil, nil).want(t, 200).list("security_group_rules")
	if len(l) != 1 || len(l[0]) != 2 || l[0]["id"] != ssh["id"] {
		t.Errorf("filtered %v", l)
	}
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/security-group-rules/"+ssh["id"].(string), nil, nil).want(t, 204)
	tc.doAs(t, tc.demoToken, "GET", "/v2.0/security-group-rules/"+ssh["id"].(string), nil, nil).fault(t, 404, "SecurityGroupRuleNotFound")

	// A group in use by a port cannot be deleted; ports get the default group.
	nid, _ := tc.portNet(t, tc.demoToken, "10.3.0.0/24", nil)
	p := tc.mkPort(t, tc.demoToken, map[string]any{"network_id": nid})
	sgs := p["security_groups"].([]any)
	def := tc.doAs(t, tc.demoToken, "GET", "/v2.0/security-groups?name=default", nil, nil).list("security_groups")
	if len(sgs) != 1 || len(def) != 1 || sgs[0] != def[0]["id"] {
		t.Errorf("port groups %v, default %v", sgs, ids(def))
	}
	p2 := tc.mkPort(t, tc.demoToken, map[string]any{"network_id": nid, "security_groups": []any{gid}})
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/security-groups/"+gid, nil, nil).fault(t, 409, "SecurityGroupInUse")
	altSG := tc.doAs(t, tc.altToken, "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": "a"}}, nil).want(t, 201).obj("security_group")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": nid,
		"security_groups": []any{altSG["id"]}}}, nil).fault(t, 404, "SecurityGroupNotFound")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": nid,
		"port_security_enabled": false, "security_groups": []any{gid}}}, nil).want(t, 400)
	np := tc.mkPort(t, tc.demoToken, map[string]any{"network_id": nid, "port_security_enabled": false})
	if len(np["security_groups"].([]any)) != 0 {
		t.Errorf("port without port security has groups %v", np["security_groups"])
	}
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/ports/"+p2["id"].(string), map[string]any{"port": map[string]any{"security_groups": []any{}}}, nil).want(t, 200)
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/security-groups/"+gid, nil, nil).want(t, 204)
}

func TestSecurityGroupQuotasAndTemplates(t *testing.T) {
	tc := newTestCloud(t)
	tc.do(t, "PUT", "/v2.0/quotas/"+tc.demoProject, map[string]any{"quota": map[string]any{"security_group": 3, "security_group_rule": 9}}).want(t, 200)
	// default (4 rules) + 2 groups (2 rules each) = 3 groups, 8 rules.
	var last string
	for i := range 2 {
		last = tc.doAs(t, tc.demoToken, "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": fmt.Sprint("g", i)}}, nil).
			want(t, 201).obj("security_group")["id"].(string)
	}
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": "g3"}}, nil).fault(t, 409, "OverQuota")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rule": map[string]any{
		"security_group_id": last, "direction": "ingress", "protocol": "tcp"}}, nil).want(t, 201)
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rule": map[string]any{
		"security_group_id": last, "direction": "ingress", "protocol": "udp"}}, nil).fault(t, 409, "OverQuota")
	d := tc.do(t, "GET", "/v2.0/quotas/"+tc.demoProject+"/details", nil).want(t, 200).obj("quota")
	if sg := d["security_group"].(map[string]any); sg["used"] != float64(3) || sg["limit"] != float64(3) {
		t.Errorf("details %v", d)
	}

	// Default rule templates: members read, admins write; new groups follow them.
	l := tc.doAs(t, tc.demoToken, "GET", "/v2.0/default-security-group-rules", nil, nil).want(t, 200).list("default_security_group_rules")
	if len(l) != 4 {
		t.Fatalf("templates %v", l)
	}
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/default-security-group-rules", map[string]any{"default_security_group_rule": map[string]any{
		"direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}}, nil).fault(t, 403, "PolicyNotAuthorized")
	tpl := tc.do(t, "POST", "/v2.0/default-security-group-rules", map[string]any{"default_security_group_rule": map[string]any{
		"direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}}).want(t, 201).obj("default_security_group_rule")
	if tpl["used_in_default_sg"] != false || tpl["used_in_non_default_sg"] != true {
		t.Errorf("template %v", tpl)
	}
	tc.do(t, "POST", "/v2.0/default-security-group-rules", map[string]any{"default_security_group_rule": map[string]any{
		"direction": "ingress", "protocol": "6", "port_range_min": 22, "port_range_max": 22}}).fault(t, 409, "DefaultSecurityGroupRuleExists")
	g := tc.doAs(t, tc.altToken, "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": "x"}}, nil).want(t, 201).obj("security_group")
	if n := len(g["security_group_rules"].([]any)); n != 3 {
		t.Errorf("group from templates has %d rules", n)
	}
	tc.do(t, "DELETE", "/v2.0/default-security-group-rules/"+tpl["id"].(string), nil).want(t, 204)
	tc.do(t, "GET", "/v2.0/default-security-group-rules/"+tpl["id"].(string), nil).fault(t, 404, "DefaultSecurityGroupRuleNotFound")
}

func TestAddressGroups(t *testing.T) {
	tc := newTestCloud(t)
	ag := tc.doAs(t, tc.demoToken, "POST", "/v2.0/address-groups", map[string]any{"address_group": map[string]any{
		"name": "ag", "addresses": []any{"10.0.0.1", "10.1.0.5/16"}}}, nil).want(t, 201).obj("address_group")
	id := ag["id"].(string)
	if fmt.Sprint(ag["addresses"]) != "[10.0.0.1/32 10.1.0.0/16]" {
		t.Errorf("addresses %v", ag["addresses"])
	}
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/address-groups/"+id+"/add_addresses", map[string]any{"addresses": []any{"10.0.0.1/32"}}, nil).
		fault(t, 400, "AddressesAlreadyExist")
	u := tc.doAs(t, tc.demoToken, "PUT", "/v2.0/address-groups/"+id+"/add_addresses", map[string]any{"addresses": []any{"fd00::/64"}}, nil).
		want(t, 200).obj("address_group")
	if len(u["addresses"].([]any)) != 3 {
		t.Errorf("after add %v", u)
	}
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/address-groups/"+id+"/remove_addresses", map[string]any{"addresses": []any{"10.9.0.0/16"}}, nil).
		fault(t, 404, "AddressesNotFound")
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/address-groups/"+id+"/remove_addresses", map[string]any{"addresses": []any{"10.0.0.1"}}, nil).want(t, 200)
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/address-groups", map[string]any{"address_group": map[string]any{"addresses": []any{"x"}}}, nil).fault(t, 400, "HTTPBadRequest")
	tc.doAs(t, tc.altToken, "GET", "/v2.0/address-groups/"+id, nil, nil).fault(t, 404, "AddressGroupNotFound")
	tc.doAs(t, tc.altToken, "PUT", "/v2.0/address-groups/"+id+"/add_addresses", map[string]any{"addresses": []any{"1.2.3.4"}}, nil).fault(t, 404, "AddressGroupNotFound")
	// A rule naming the group keeps it.
	g := tc.doAs(t, tc.demoToken, "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": "s"}}, nil).want(t, 201).obj("security_group")
	rule := tc.doAs(t, tc.demoToken, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rule": map[string]any{
		"security_group_id": g["id"], "direction": "ingress", "remote_address_group_id": id}}, nil).want(t, 201).obj("security_group_rule")
	if rule["remote_address_group_id"] != id {
		t.Errorf("rule %v", rule)
	}
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/address-groups/"+id, nil, nil).fault(t, 409, "AddressGroupInUse")
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/security-group-rules/"+rule["id"].(string), nil, nil).want(t, 204)
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/address-groups/"+id, map[string]any{"address_group": map[string]any{"name": "renamed"}}, nil).want(t, 200)
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/address-groups/"+id, nil, nil).want(t, 204)
}

// TestSQLPaging walks ports and rules page by page (pages cut in SQL) and compares
// with the full lists, including a filter, and an unknown marker.
func TestSQLPaging(t *testing.T) {
	tc := newTestCloud(t)
	nid, _ := tc.portNet(t, tc.demoToken, "10.7.0.0/24", nil)
	for i := range 7 {
		tc.mkPort(t, tc.demoToken, map[string]any{"network_id": nid, "name": fmt.Sprint(i % 2)})
	}
	tc.mkPort(t, tc.altToken, map[string]any{"network_id": tc.mkNetwork(t, tc.altToken, map[string]any{"name": "a"})["id"]})
	for _, c := range []struct{ coll, query string }{
		{"ports", ""}, {"ports", "&name=1"}, {"security_group_rules", ""}, {"security_group_rules", "&direction=egress"},
	} {
		path := "/v2.0/" + strings.ReplaceAll(c.coll, "_", "-")
		full := ids(tc.doAs(t, tc.demoToken, "GET", path+"?sort_key=id&sort_dir=asc"+strings.ReplaceAll(c.query, "&", "&"), nil, nil).want(t, 200).list(c.coll))
		var walked []string
		next := path + "?limit=3" + c.query
		for next != "" && len(walked) <= len(full) {
			r := tc.doAs(t, tc.demoToken, "GET", next, nil, nil).want(t, 200)
			walked = append(walked, ids(r.list(c.coll))...)
			next = ""
			for _, l := range r.list(c.coll + "_links") {
				if l["rel"] == "next" {
					next = strings.TrimPrefix(l["href"].(string), "http://example.com/networking")
				}
			}
		}
		if fmt.Sprint(walked) != fmt.Sprint(full) {
			t.Errorf("%s%s: paged %v, full %v", c.coll, c.query, walked, full)
		}
	}
	tc.doAs(t, tc.demoToken, "GET", "/v2.0/ports?limit=2&marker=nope", nil, nil).fault(t, 404, "PortNotFound")
}
