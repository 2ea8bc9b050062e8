package compute

import (
	"slices"
	"strings"
	"testing"
)

// sgCreate creates a Nova security group as token at 2.35 and returns its view.
func (tc *testCloud) sgCreate(t *testing.T, token, name string) map[string]any {
	t.Helper()
	return tc.doAs(t, token, "2.35", "POST", "/v2.1/os-security-groups", map[string]any{"security_group": map[string]any{
		"name": name, "description": "d " + name}}).want(t, 200).obj("security_group")
}

func TestNovaSecurityGroupsCRUD(t *testing.T) {
	tc := newTestCloud(t)
	g := tc.sgCreate(t, tc.demoToken, "web")
	id := g["id"].(string)
	if g["name"] != "web" || g["description"] != "d web" || g["tenant_id"] != tc.demoProjectID || len(g["rules"].([]any)) != 0 {
		t.Fatalf("create view %v", g)
	}
	for _, k := range []string{"id", "name", "description", "tenant_id", "rules"} {
		if _, ok := g[k]; !ok {
			t.Fatalf("view lacks %s: %v", k, g)
		}
	}
	if len(g) != 5 {
		t.Fatalf("view has extra keys: %v", g)
	}
	got := tc.doAs(t, tc.demoToken, "2.35", "GET", "/v2.1/os-security-groups/"+id, nil).want(t, 200).obj("security_group")
	if got["id"] != id || got["name"] != "web" {
		t.Fatalf("show %v", got)
	}
	// The list has the project's default group (created by Neutron on first use) and
	// ours, sorted by project and name.
	list := tc.doAs(t, tc.demoToken, "2.35", "GET", "/v2.1/os-security-groups", nil).want(t, 200).list("security_groups")
	var names []string
	for _, g := range list {
		names = append(names, g["name"].(string))
	}
	if strings.Join(names, ",") != "default,web" {
		t.Fatalf("list names %v", names)
	}
	// The default group's ingress rule from itself is shown with its source group; its
	// egress rules are not.
	for _, g := range list {
		if g["name"] != "default" {
			continue
		}
		for _, r := range g["rules"].([]any) {
			rule := r.(map[string]any)
			if rule["group"].(map[string]any)["name"] != "default" || rule["parent_group_id"] != g["id"] {
				t.Fatalf("default rule %v", rule)
			}
		}
	}
	// limit and offset page Neutron's order (then the page is sorted).
	if l := tc.doAs(t, tc.demoToken, "2.35", "GET", "/v2.1/os-security-groups?limit=1&offset=1", nil).want(t, 200).list("security_groups"); len(l) != 1 {
		t.Fatalf("limit/offset %v", l)
	}
	if l := tc.doAs(t, tc.demoToken, "2.35", "GET", "/v2.1/os-security-groups?offset=2", nil).want(t, 200).body["security_groups"].([]any); len(l) != 0 {
		t.Fatalf("offset past the end %v", l)
	}
	tc.doAs(t, tc.demoToken, "2.35", "GET", "/v2.1/os-security-groups?limit=-1", nil).want(t, 400)
	// all_tenants: an admin sees every project's groups, a member only its own.
	all := tc.doAs(t, tc.adminToken, "2.35", "GET", "/v2.1/os-security-groups?all_tenants=1", nil).want(t, 200).list("security_groups")
	found := false
	for _, g := range all {
		found = found || g["id"] == id
	}
	if !found {
		t.Fatalf("admin all_tenants lacks demo's group: %v", all)
	}
	own := tc.doAs(t, tc.adminToken, "2.35", "GET", "/v2.1/os-security-groups", nil).want(t, 200).list("security_groups")
	for _, g := range own {
		if g["id"] == id {
			t.Fatal("admin list without all_tenants shows demo's group")
		}
	}
	if l := tc.doAs(t, tc.altToken, "2.35", "GET", "/v2.1/os-security-groups?all_tenants=1", nil).want(t, 200).list("security_groups"); len(l) != 1 {
		t.Fatalf("member all_tenants %v", l)
	}
	up := tc.doAs(t, tc.demoToken, "2.35", "PUT", "/v2.1/os-security-groups/"+id, map[string]any{"security_group": map[string]any{
		"name": "web2", "description": "new"}}).want(t, 200).obj("security_group")
	if up["name"] != "web2" || up["description"] != "new" {
		t.Fatalf("update %v", up)
	}

	long := strings.Repeat("x", 256)
	nonexistent := "8c5d3a1e-9a4b-4c1e-8f3b-000000000000"
	for _, tt := range []struct {
		name, method, path string
		body               any
		status             int
		msg                string
	}{
		{"create without name", "POST", "/v2.1/os-security-groups", map[string]any{"security_group": map[string]any{"description": "d"}}, 400, "'name' is a required property"},
		{"create without description", "POST", "/v2.1/os-security-groups", map[string]any{"security_group": map[string]any{"name": "n"}}, 400, "'description' is a required property"},
		{"create long name", "POST", "/v2.1/os-security-groups", map[string]any{"security_group": map[string]any{"name": long, "description": ""}}, 400, "is too long"},
		{"create long description", "POST", "/v2.1/os-security-groups", map[string]any{"security_group": map[string]any{"name": "n", "description": long}}, 400, "is too long"},
		{"create number name", "POST", "/v2.1/os-security-groups", map[string]any{"security_group": map[string]any{"name": 1, "description": ""}}, 400, "is not of type 'string'"},
		{"create no body key", "POST", "/v2.1/os-security-groups", map[string]any{"x": 1}, 400, "'security_group' is a required property"},
		{"show invalid id", "GET", "/v2.1/os-security-groups/abc", nil, 400, "Security group id should be uuid"},
		{"show nonexistent", "GET", "/v2.1/os-security-groups/" + nonexistent, nil, 404, ""},
		{"update nonexistent", "PUT", "/v2.1/os-security-groups/" + nonexistent, map[string]any{"security_group": map[string]any{"name": "a", "description": "b"}}, 404, ""},
		{"delete nonexistent", "DELETE", "/v2.1/os-security-groups/" + nonexistent, nil, 404, ""},
		{"delete without id", "DELETE", "/v2.1/os-security-groups/", nil, 404, ""},
		{"gone at 2.36", "GET", "/v2.1/os-security-groups", nil, 404, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ver := "2.35"
			if strings.Contains(tt.name, "2.36") {
				ver = "2.36"
			}
			r := tc.doAs(t, tc.demoToken, ver, tt.method, tt.path, tt.body).want(t, tt.status)
			if tt.msg != "" && !strings.Contains(r.raw, tt.msg) {
				t.Fatalf("message %s, want %q", r.raw, tt.msg)
			}
		})
	}
	// The default group cannot be deleted (Neutron's 409, Nova's 400).
	for _, g := range list {
		if g["name"] == "default" {
			tc.doAs(t, tc.demoToken, "2.35", "DELETE", "/v2.1/os-security-groups/"+g["id"].(string), nil).want(t, 400)
		}
	}
	tc.doAs(t, tc.demoToken, "2.35", "DELETE", "/v2.1/os-security-groups/"+id, nil).want(t, 202)
	tc.doAs(t, tc.demoToken, "2.35", "GET", "/v2.1/os-security-groups/"+id, nil).want(t, 404)
	// Readers may list; the policy names are Nova's.
	if got := defaultPolicies()["os_compute_api:os-security-groups:create"]; got != ruleMemberOrAdmin {
		t.Fatalf("create policy %q", got)
	}
}

func TestNovaSecurityGroupRules(t *testing.T) {
	tc := newTestCloud(t)
	g := tc.sgCreate(t, tc.demoToken, "web")
	src := tc.sgCreate(t, tc.demoToken, "src")
	gid, srcID := g["id"].(string), src["id"].(string)
	create := func(rule map[string]any) resp {
		t.Helper()
		return tc.doAs(t, tc.demoToken, "2.35", "POST", "/v2.1/os-security-group-rules", map[string]any{"security_group_rule": rule})
	}
	neutronRule := func(id string) map[string]any {
		t.Helper()
		return tc.raw(t, tc.demoToken, "", "GET", "/networking/v2.0/security-group-rules/"+id, nil).want(t, 200).obj("security_group_rule")
	}

	// A cidr rule: Nova's view, and an ingress Neutron rule with the ports.
	r := create(map[string]any{"parent_group_id": gid, "ip_protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "10.0.0.0/8"}).want(t, 200).obj("security_group_rule")
	if r["ip_protocol"] != "tcp" || r["from_port"] != float64(22) || r["to_port"] != float64(22) || r["parent_group_id"] != gid ||
		r["ip_range"].(map[string]any)["cidr"] != "10.0.0.0/8" || len(r["group"].(map[string]any)) != 0 || len(r) != 7 {
		t.Fatalf("tcp rule view %v", r)
	}
	nr := neutronRule(r["id"].(string))
	if nr["direction"] != "ingress" || nr["ethertype"] != "IPv4" || nr["port_range_min"] != float64(22) ||
		nr["port_range_max"] != float64(22) || nr["remote_ip_prefix"] != "10.0.0.0/8" || nr["protocol"] != "tcp" {
		t.Fatalf("neutron rule %v", nr)
	}
	// The same rule again is Nova's 400.
	dup := create(map[string]any{"parent_group_id": gid, "ip_protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "10.0.0.0/8"}).want(t, 400)
	if !strings.Contains(dup.raw, "This rule already exists in group "+gid) {
		t.Fatalf("duplicate %s", dup.raw)
	}
	// ICMP any type: -1 ports are not sent to Neutron and come back as -1.
	ic := create(map[string]any{"parent_group_id": gid, "ip_protocol": "icmp", "from_port": -1, "to_port": -1}).want(t, 200).obj("security_group_rule")
	if ic["from_port"] != float64(-1) || ic["to_port"] != float64(-1) || ic["ip_range"].(map[string]any)["cidr"] != "0.0.0.0/0" {
		t.Fatalf("icmp view %v", ic)
	}
	if nr := neutronRule(ic["id"].(string)); nr["port_range_min"] != nil || nr["port_range_max"] != nil {
		t.Fatalf("icmp neutron rule %v", nr)
	}
	// A source group rule without ports opens the whole range and shows the group.
	gr := create(map[string]any{"parent_group_id": gid, "ip_protocol": "udp", "group_id": srcID}).want(t, 200).obj("security_group_rule")
	if gr["from_port"] != float64(1) || gr["to_port"] != float64(65535) || len(gr["ip_range"].(map[string]any)) != 0 ||
		gr["group"].(map[string]any)["name"] != "src" || gr["group"].(map[string]any)["tenant_id"] != tc.demoProjectID {
		t.Fatalf("group rule view %v", gr)
	}
	// (Neutron stores the whole range as no range.)
	if nr := neutronRule(gr["id"].(string)); nr["remote_group_id"] != srcID || nr["protocol"] != "udp" {
		t.Fatalf("group neutron rule %v", nr)
	}
	// IPv6 cidrs make IPv6 rules.
	v6 := create(map[string]any{"parent_group_id": gid, "ip_protocol": "tcp", "from_port": "80", "to_port": "81", "cidr": "2001:db8::/32"}).want(t, 200).obj("security_group_rule")
	if nr := neutronRule(v6["id"].(string)); nr["ethertype"] != "IPv6" || nr["port_range_min"] != float64(80) {
		t.Fatalf("v6 neutron rule %v", nr)
	}
	// A Neutron-made rule without ports (tcp: 1-65535) shows translated; egress rules not.
	tc.raw(t, tc.demoToken, "", "POST", "/networking/v2.0/security-group-rules", map[string]any{"security_group_rule": map[string]any{
		"security_group_id": gid, "direction": "ingress", "protocol": "tcp", "remote_ip_prefix": "192.168.0.0/16"}}).want(t, 201)
	show := tc.doAs(t, tc.demoToken, "2.35", "GET", "/v2.1/os-security-groups/"+gid, nil).want(t, 200).obj("security_group")
	rules := show["rules"].([]any)
	if len(rules) != 5 {
		t.Fatalf("group rules %v", rules)
	}
	wholeRange := false
	for _, x := range rules {
		m := x.(map[string]any)
		if m["ip_range"].(map[string]any)["cidr"] == "192.168.0.0/16" {
			wholeRange = m["from_port"] == float64(1) && m["to_port"] == float64(65535)
		}
	}
	if !wholeRange {
		t.Fatalf("neutron rule without ports not translated: %v", rules)
	}

	nonexistent := "8c5d3a1e-9a4b-4c1e-8f3b-000000000000"
	for _, tt := range []struct {
		name   string
		rule   map[string]any
		status int
		msg    string
	}{
		{"invalid protocol", map[string]any{"parent_group_id": gid, "ip_protocol": "tempest-999", "from_port": 1, "to_port": 2}, 400, "Invalid IP protocol tempest-999."},
		{"from port too big", map[string]any{"parent_group_id": gid, "ip_protocol": "tcp", "from_port": 65536, "to_port": 65536}, 400, "Valid TCP ports should be between 1-65535"},
		{"to port too big", map[string]any{"parent_group_id": gid, "ip_protocol": "tcp", "from_port": 22, "to_port": 65536}, 400, "Invalid port range 22:65536"},
		{"reversed range", map[string]any{"parent_group_id": gid, "ip_protocol": "tcp", "from_port": 22, "to_port": 21}, 400, "Former value cannot be greater than the later"},
		{"icmp out of range", map[string]any{"parent_group_id": gid, "ip_protocol": "icmp", "from_port": 256, "to_port": 0}, 400, "For ICMP, the type:code must be valid"},
		{"port not integer", map[string]any{"parent_group_id": gid, "ip_protocol": "tcp", "from_port": "a", "to_port": 2}, 400, "To and From ports must be integers"},
		{"icmp not integer", map[string]any{"parent_group_id": gid, "ip_protocol": "icmp", "from_port": "a", "to_port": 2}, 400, "Type and Code must be integers"},
		{"invalid cidr", map[string]any{"parent_group_id": gid, "ip_protocol": "tcp", "from_port": 1, "to_port": 2, "cidr": "10.0.0.0"}, 400, "10.0.0.0 is not a valid IP network."},
		{"bad prefix", map[string]any{"parent_group_id": gid, "ip_protocol": "tcp", "from_port": 1, "to_port": 2, "cidr": "10.0.0.0/0"}, 400, "Bad prefix for network in cidr 10.0.0.0/0"},
		{"not enough parameters", map[string]any{"parent_group_id": gid, "cidr": "10.0.0.0/8"}, 400, "Not enough parameters to build a valid rule."},
		{"invalid parent id", map[string]any{"parent_group_id": "abc", "ip_protocol": "tcp", "from_port": 1, "to_port": 2}, 400, "is not a 'uuid'"},
		{"no parent", map[string]any{"ip_protocol": "tcp"}, 400, "'parent_group_id' is a required property"},
		{"nonexistent parent", map[string]any{"parent_group_id": nonexistent, "ip_protocol": "tcp", "from_port": 1, "to_port": 2}, 404, ""},
		{"nonexistent source", map[string]any{"parent_group_id": gid, "group_id": nonexistent, "ip_protocol": "tcp"}, 404, ""},
		{"invalid group id", map[string]any{"parent_group_id": gid, "group_id": 5}, 400, "is not of type 'string', 'null'"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := create(tt.rule).want(t, tt.status)
			if tt.msg != "" && !strings.Contains(r.raw, tt.msg) {
				t.Fatalf("message %s, want %q", r.raw, tt.msg)
			}
		})
	}
	// Another project cannot add rules to the group.
	tc.doAs(t, tc.altToken, "2.35", "POST", "/v2.1/os-security-group-rules", map[string]any{"security_group_rule": map[string]any{
		"parent_group_id": gid, "ip_protocol": "tcp", "from_port": 1, "to_port": 2}}).want(t, 404)

	tc.doAs(t, tc.demoToken, "2.35", "DELETE", "/v2.1/os-security-group-rules/"+r["id"].(string), nil).want(t, 202)
	tc.raw(t, tc.demoToken, "", "GET", "/networking/v2.0/security-group-rules/"+r["id"].(string), nil).want(t, 404)
	tc.doAs(t, tc.demoToken, "2.35", "DELETE", "/v2.1/os-security-group-rules/"+r["id"].(string), nil).want(t, 404)
	tc.doAs(t, tc.demoToken, "2.35", "DELETE", "/v2.1/os-security-group-rules/abc", nil).want(t, 400)
	tc.doAs(t, tc.demoToken, "2.36", "DELETE", "/v2.1/os-security-group-rules/"+ic["id"].(string), nil).want(t, 404)
}

func TestServerSecurityGroups(t *testing.T) {
	f := newNetFixture(t)
	web := f.sgCreate(t, f.demoToken, "web")
	id := f.bootDemo(t, "2.35", nil)
	portSGs := func() []string {
		t.Helper()
		var out []string
		for _, p := range f.ports(t, id) {
			for _, g := range p["security_groups"].([]any) {
				out = append(out, g.(string))
			}
		}
		return out
	}
	sgNames := func() []string {
		t.Helper()
		srv := f.doAs(t, f.demoToken, "2.35", "GET", "/v2.1/servers/"+id, nil).want(t, 200).obj("server")
		list, ok := srv["security_groups"].([]any)
		if !ok {
			return nil
		}
		var out []string
		for _, g := range list {
			out = append(out, g.(map[string]any)["name"].(string))
		}
		slices.Sort(out) // in the ports' order, which is Neutron's
		return out
	}
	if got := sgNames(); strings.Join(got, ",") != "default" {
		t.Fatalf("server security groups %v", got)
	}
	action := func(key, name string) resp {
		t.Helper()
		return f.doAs(t, f.demoToken, "2.35", "POST", "/v2.1/servers/"+id+"/action", map[string]any{key: map[string]any{"name": name}})
	}
	action("addSecurityGroup", "web").want(t, 202)
	if sgs := portSGs(); len(sgs) != 2 || !slices.Contains(sgs, web["id"].(string)) {
		t.Fatalf("port groups %v", sgs)
	}
	if got := sgNames(); strings.Join(got, ",") != "default,web" {
		t.Fatalf("server security groups after add %v", got)
	}
	// The detailed list shows them too.
	for _, s := range f.doAs(t, f.demoToken, "2.35", "GET", "/v2.1/servers/detail", nil).want(t, 200).list("servers") {
		if s["id"] == id && len(s["security_groups"].([]any)) != 2 {
			t.Fatalf("detail security groups %v", s["security_groups"])
		}
	}
	list := f.doAs(t, f.demoToken, "2.35", "GET", "/v2.1/servers/"+id+"/os-security-groups", nil).want(t, 200).list("security_groups")
	if len(list) != 2 || list[0]["name"] != "default" || list[1]["name"] != "web" || list[1]["id"] != web["id"] {
		t.Fatalf("server groups %v", list)
	}
	// In use: Neutron's 409 is Nova's 400.
	f.doAs(t, f.demoToken, "2.35", "DELETE", "/v2.1/os-security-groups/"+web["id"].(string), nil).want(t, 400)
	for _, tt := range []struct {
		name, key, group string
		status           int
		msg              string
	}{
		{"add again", "addSecurityGroup", "web", 400, "Duplicate items"},
		{"add unknown", "addSecurityGroup", "nope", 404, "Security group nope is not found for project " + f.demoProjectID},
		{"remove unknown", "removeSecurityGroup", "nope", 404, "is not found for project"},
		{"blank name", "addSecurityGroup", "  ", 400, "Security group name cannot be empty"},
		{"empty name", "addSecurityGroup", "", 400, "is too short"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := action(tt.key, tt.group).want(t, tt.status)
			if !strings.Contains(r.raw, tt.msg) {
				t.Fatalf("message %s, want %q", r.raw, tt.msg)
			}
		})
	}
	f.doAs(t, f.demoToken, "2.35", "POST", "/v2.1/servers/"+id+"/action", map[string]any{"addSecurityGroup": map[string]any{"name": "web", "x": 1}}).want(t, 400)
	f.doAs(t, f.altToken, "2.35", "POST", "/v2.1/servers/"+id+"/action", map[string]any{"addSecurityGroup": map[string]any{"name": "web"}}).want(t, 404)
	action("removeSecurityGroup", "web").want(t, 202)
	if r := action("removeSecurityGroup", "web").want(t, 404); !strings.Contains(r.raw, "not associated with the instance "+id) {
		t.Fatalf("remove again %s", r.raw)
	}
	// Without any group the server shows none, as Nova leaves the key out.
	action("removeSecurityGroup", "default").want(t, 202)
	if got := sgNames(); got != nil {
		t.Fatalf("security groups after removing all %v", got)
	}
	f.doAs(t, f.demoToken, "2.35", "DELETE", "/v2.1/os-security-groups/"+web["id"].(string), nil).want(t, 202)

	// A server without ports cannot get groups.
	bare := f.createServer(t, f.demoToken, "2.37", map[string]any{"networks": "none"})
	r := f.doAs(t, f.demoToken, "2.35", "POST", "/v2.1/servers/"+bare+"/action", map[string]any{"addSecurityGroup": map[string]any{"name": "default"}}).want(t, 404)
	if !strings.Contains(r.raw, "could not be found as device id on any ports") {
		t.Fatalf("no ports %s", r.raw)
	}
	// Creating a server with an unknown group is a 400, with or without networks.
	for _, nets := range []any{"auto", "none"} {
		r := f.doAs(t, f.demoToken, "2.37", "POST", "/v2.1/servers", map[string]any{"server": map[string]any{
			"name": "x", "imageRef": f.imageID, "flavorRef": "1", "networks": nets,
			"security_groups": []any{map[string]any{"name": "does_not_exist"}}}}).want(t, 400)
		if !strings.Contains(r.raw, "Security group does_not_exist not found for project "+f.demoProjectID+".") {
			t.Fatalf("unknown group %s", r.raw)
		}
	}
}
