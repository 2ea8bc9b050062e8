package network

import (
	"context"
	"slices"
	"testing"
)

// mkQos creates a QoS policy as admin for project and returns it.
func (tc *testCloud) mkQos(t testing.TB, project string, body map[string]any) map[string]any {
	t.Helper()
	b := map[string]any{"project_id": project}
	for k, v := range body {
		b[k] = v
	}
	return tc.do(t, "POST", "/v2.0/qos/policies", map[string]any{"policy": b}).want(t, 201).obj("policy")
}

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestQoSPolicyCRUDAndVisibility(t *testing.T) {
	tc := newTestCloud(t)
	// Neutron's default: creating a policy takes the manager role (members cannot).
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/qos/policies", map[string]any{"policy": map[string]any{"name": "x"}}, nil).
		fault(t, 403, "PolicyNotAuthorized")
	p := tc.mkQos(t, tc.demoProject, map[string]any{"name": "10Mbit", "description": "d", "tags": []any{"a"}})
	pid := p["id"].(string)
	want := []string{"created_at", "description", "id", "is_default", "name", "project_id", "revision_number", "rules",
		"shared", "tags", "tenant_id", "updated_at"}
	if got := keysOf(p); !slices.Equal(got, want) {
		t.Errorf("policy keys %v, want %v", got, want)
	}
	if p["shared"] != false || p["is_default"] != false || len(p["rules"].([]any)) != 0 || p["project_id"] != tc.demoProject {
		t.Errorf("policy %v", p)
	}
	// The owner (a reader) sees it; another project does not.
	tc.doAs(t, tc.demoToken, "GET", "/v2.0/qos/policies/"+pid, nil, nil).want(t, 200)
	tc.doAs(t, tc.altToken, "GET", "/v2.0/qos/policies/"+pid, nil, nil).fault(t, 404, "QosPolicyNotFound")
	if l := tc.doAs(t, tc.altToken, "GET", "/v2.0/qos/policies", nil, nil).want(t, 200).list("policies"); len(l) != 0 {
		t.Errorf("alt lists %v", l)
	}
	// Members may not update their project's policy (manager).
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/qos/policies/"+pid, map[string]any{"policy": map[string]any{"name": "y"}}, nil).
		fault(t, 403, "PolicyNotAuthorized")
	sh := tc.mkQos(t, tc.adminProject, map[string]any{"name": "shared", "shared": true})
	l := tc.doAs(t, tc.altToken, "GET", "/v2.0/qos/policies?shared=true", nil, nil).want(t, 200).list("policies")
	if len(l) != 1 || l[0]["id"] != sh["id"] {
		t.Errorf("alt shared list %v", l)
	}
	// Filters, tags and update with If-Match.
	if l := tc.do(t, "GET", "/v2.0/qos/policies?tags=a", nil).want(t, 200).list("policies"); len(l) != 1 || l[0]["id"] != pid {
		t.Errorf("tag filter %v", l)
	}
	tc.do(t, "PUT", "/v2.0/qos/policies/"+pid+"/tags/b", nil).want(t, 201)
	up := tc.doAs(t, tc.adminToken, "PUT", "/v2.0/qos/policies/"+pid, map[string]any{"policy": map[string]any{"name": "20Mbit"}},
		map[string]string{"If-Match": "revision_number=0"})
	up.fault(t, 412, "RevisionNumberConstraintFailed")
	up = tc.do(t, "PUT", "/v2.0/qos/policies/"+pid, map[string]any{"policy": map[string]any{"name": "20Mbit", "description": ""}}).want(t, 200)
	if up.obj("policy")["name"] != "20Mbit" {
		t.Errorf("update %v", up.raw)
	}
	for _, bad := range []map[string]any{{"rules": []any{}}, {"project_id": "x"}} {
		tc.do(t, "PUT", "/v2.0/qos/policies/"+pid, map[string]any{"policy": bad}).fault(t, 400, "HTTPBadRequest")
	}
	tc.do(t, "POST", "/v2.0/qos/policies", map[string]any{"policy": map[string]any{"shared": "maybe"}}).fault(t, 400, "HTTPBadRequest")
	tc.do(t, "POST", "/v2.0/qos/policies", map[string]any{"policy": map[string]any{"bogus": 1}}).fault(t, 400, "HTTPBadRequest")

	// One default per project (qos-default).
	d1 := tc.mkQos(t, tc.demoProject, map[string]any{"name": "d1", "is_default": true})
	if d1["is_default"] != true {
		t.Errorf("default %v", d1)
	}
	tc.do(t, "POST", "/v2.0/qos/policies", map[string]any{"policy": map[string]any{"project_id": tc.demoProject, "is_default": true}}).
		fault(t, 409, "QoSPolicyDefaultAlreadyExists")
	tc.do(t, "PUT", "/v2.0/qos/policies/"+pid, map[string]any{"policy": map[string]any{"is_default": true}}).
		fault(t, 409, "QoSPolicyDefaultAlreadyExists")
	// A new network of the project gets its default policy.
	n := tc.mkNetwork(t, tc.demoToken, map[string]any{"name": "n"})
	if n["qos_policy_id"] != d1["id"] {
		t.Errorf("network qos %v, want default %v", n["qos_policy_id"], d1["id"])
	}
	tc.do(t, "DELETE", "/v2.0/qos/policies/"+d1["id"].(string), nil).fault(t, 409, "QosPolicyInUse")
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/networks/"+n["id"].(string), map[string]any{"network": map[string]any{"qos_policy_id": nil}}, nil).want(t, 200)
	tc.do(t, "DELETE", "/v2.0/qos/policies/"+d1["id"].(string), nil).want(t, 204)
	tc.do(t, "GET", "/v2.0/qos/policies/"+d1["id"].(string), nil).fault(t, 404, "QosPolicyNotFound")
	tc.do(t, "DELETE", "/v2.0/qos/policies/"+pid, nil).want(t, 204)
}

func TestQoSRules(t *testing.T) {
	tc := newTestCloud(t)
	p := tc.mkQos(t, tc.demoProject, map[string]any{"name": "p"})
	pid := p["id"].(string)
	base := "/v2.0/qos/policies/" + pid
	bw := tc.do(t, "POST", base+"/bandwidth_limit_rules", map[string]any{"bandwidth_limit_rule": map[string]any{"max_kbps": 10000}}).
		want(t, 201).obj("bandwidth_limit_rule")
	if got := keysOf(bw); !slices.Equal(got, []string{"direction", "id", "max_burst_kbps", "max_kbps"}) || bw["direction"] != "egress" ||
		bw["max_burst_kbps"] != float64(0) || bw["max_kbps"] != float64(10000) {
		t.Errorf("bandwidth rule %v", bw)
	}
	bwID := bw["id"].(string)
	// One rule per type and direction.
	tc.do(t, "POST", base+"/bandwidth_limit_rules", map[string]any{"bandwidth_limit_rule": map[string]any{"max_kbps": 5, "direction": "egress"}}).
		fault(t, 409, "QoSRulesConflict")
	tc.do(t, "POST", base+"/bandwidth_limit_rules", map[string]any{"bandwidth_limit_rule": map[string]any{"max_kbps": "2000", "max_burst_kbps": 100, "direction": "ingress"}}).
		want(t, 201)
	for _, c := range []struct {
		body map[string]any
		typ  string
	}{
		{map[string]any{"max_kbps": 1, "direction": "sideways"}, "HTTPBadRequest"},
		{map[string]any{"max_kbps": -1}, "HTTPBadRequest"},
		{map[string]any{"max_kbps": 2147483648}, "HTTPBadRequest"},
		{map[string]any{"max_kbps": "lots"}, "InvalidInput"},
		{map[string]any{"max_burst_kbps": 1}, "HTTPBadRequest"},
		{map[string]any{"max_kbps": 1, "dscp_mark": 8}, "HTTPBadRequest"},
	} {
		tc.do(t, "POST", base+"/bandwidth_limit_rules", map[string]any{"bandwidth_limit_rule": c.body}).fault(t, 400, c.typ)
	}
	// DSCP marks must be valid ones; one DSCP rule per policy.
	tc.do(t, "POST", base+"/dscp_marking_rules", map[string]any{"dscp_marking_rule": map[string]any{"dscp_mark": 9}}).fault(t, 400, "HTTPBadRequest")
	ds := tc.do(t, "POST", base+"/dscp_marking_rules", map[string]any{"dscp_marking_rule": map[string]any{"dscp_mark": 26}}).want(t, 201).obj("dscp_marking_rule")
	if got := keysOf(ds); !slices.Equal(got, []string{"dscp_mark", "id"}) {
		t.Errorf("dscp rule %v", ds)
	}
	tc.do(t, "POST", base+"/dscp_marking_rules", map[string]any{"dscp_marking_rule": map[string]any{"dscp_mark": 10}}).fault(t, 409, "QoSRulesConflict")
	// A minimum above the same-direction limit conflicts.
	tc.do(t, "POST", base+"/minimum_bandwidth_rules", map[string]any{"minimum_bandwidth_rule": map[string]any{"min_kbps": 20000}}).
		fault(t, 409, "QoSRuleParameterConflict")
	mb := tc.do(t, "POST", base+"/minimum_bandwidth_rules", map[string]any{"minimum_bandwidth_rule": map[string]any{"min_kbps": 5000}}).
		want(t, 201).obj("minimum_bandwidth_rule")
	tc.do(t, "PUT", base+"/bandwidth_limit_rules/"+bwID, map[string]any{"bandwidth_limit_rule": map[string]any{"max_kbps": 1000}}).
		fault(t, 409, "QoSRuleParameterConflict")

	// The policy lists its rules with type and policy id; its revision moved.
	pol := tc.do(t, "GET", base, nil).want(t, 200).obj("policy")
	rules := pol["rules"].([]any)
	if len(rules) != 4 || pol["revision_number"].(float64) < 4 {
		t.Fatalf("policy rules %v rev %v", rules, pol["revision_number"])
	}
	for _, r := range rules {
		m := r.(map[string]any)
		if m["qos_policy_id"] != pid || m["type"] == nil {
			t.Errorf("rule %v", m)
		}
	}
	// List with filters and sorting, show, update, delete.
	l := tc.do(t, "GET", base+"/bandwidth_limit_rules?sort_key=max_kbps&sort_dir=desc", nil).want(t, 200).list("bandwidth_limit_rules")
	if len(l) != 2 || l[0]["max_kbps"] != float64(10000) {
		t.Errorf("list %v", l)
	}
	if l := tc.do(t, "GET", base+"/bandwidth_limit_rules?direction=ingress", nil).want(t, 200).list("bandwidth_limit_rules"); len(l) != 1 {
		t.Errorf("filtered list %v", l)
	}
	tc.do(t, "GET", base+"/bandwidth_limit_rules?nope=1", nil).fault(t, 400, "HTTPBadRequest")
	tc.do(t, "GET", base+"/bandwidth_limit_rules/"+bwID, nil).want(t, 200)
	tc.do(t, "GET", base+"/dscp_marking_rules/"+bwID, nil).fault(t, 404, "QosRuleNotFound")
	up := tc.do(t, "PUT", base+"/bandwidth_limit_rules/"+bwID, map[string]any{"bandwidth_limit_rule": map[string]any{"max_kbps": 8000}}).want(t, 200)
	if up.obj("bandwidth_limit_rule")["max_kbps"] != float64(8000) {
		t.Errorf("update %v", up.raw)
	}
	tc.do(t, "PUT", base+"/bandwidth_limit_rules/"+bwID, map[string]any{"bandwidth_limit_rule": map[string]any{"direction": "ingress"}}).
		fault(t, 409, "QoSRulesConflict")
	// The alias API reaches a rule by its id alone.
	al := tc.do(t, "GET", "/v2.0/qos/alias-bandwidth-limit-rules/"+bwID, nil).want(t, 200).obj("alias_bandwidth_limit_rule")
	if al["max_kbps"] != float64(8000) {
		t.Errorf("alias %v", al)
	}
	tc.do(t, "PUT", "/v2.0/qos/alias-minimum-bandwidth-rules/"+mb["id"].(string), map[string]any{"alias_minimum_bandwidth_rule": map[string]any{"min_kbps": 100}}).
		want(t, 200)
	tc.do(t, "GET", "/v2.0/qos/alias-dscp-marking-rules/"+bwID, nil).fault(t, 404, "QosRuleNotFound")
	tc.do(t, "DELETE", "/v2.0/qos/alias-dscp-marking-rules/"+ds["id"].(string), nil).want(t, 204)
	tc.do(t, "DELETE", base+"/bandwidth_limit_rules/"+bwID, nil).want(t, 204)
	tc.do(t, "DELETE", base+"/bandwidth_limit_rules/"+bwID, nil).fault(t, 404, "QosRuleNotFound")

	// Readers of the policy's project read rules; members may not write them
	// (manager); other projects see nothing.
	tc.doAs(t, tc.demoToken, "GET", base+"/minimum_bandwidth_rules/"+mb["id"].(string), nil, nil).want(t, 200)
	tc.doAs(t, tc.demoToken, "POST", base+"/dscp_marking_rules", map[string]any{"dscp_marking_rule": map[string]any{"dscp_mark": 8}}, nil).
		fault(t, 403, "PolicyNotAuthorized")
	tc.doAs(t, tc.altToken, "GET", base+"/minimum_bandwidth_rules", nil, nil).fault(t, 404, "QosPolicyNotFound")
	tc.doAs(t, tc.altToken, "GET", "/v2.0/qos/alias-minimum-bandwidth-rules/"+mb["id"].(string), nil, nil).fault(t, 404, "QosPolicyNotFound")
	tc.doAs(t, tc.altToken, "POST", base+"/dscp_marking_rules", map[string]any{"dscp_marking_rule": map[string]any{"dscp_mark": 8}}, nil).
		fault(t, 404, "QosPolicyNotFound")
}

func TestQoSRuleTypes(t *testing.T) {
	tc := newTestCloud(t)
	l := tc.doAs(t, tc.demoToken, "GET", "/v2.0/qos/rule-types", nil, nil).want(t, 200).list("rule_types")
	var types []string
	for _, rt := range l {
		types = append(types, rt["type"].(string))
	}
	if !slices.Equal(types, []string{"bandwidth_limit", "dscp_marking", "minimum_bandwidth"}) {
		t.Errorf("rule types %v", types)
	}
	if l := tc.do(t, "GET", "/v2.0/qos/rule-types?all_rules=true", nil).want(t, 200).list("rule_types"); len(l) != 5 {
		t.Errorf("all rules %v", l)
	}
	tc.do(t, "GET", "/v2.0/qos/rule-types?all_rules=perhaps", nil).fault(t, 400, "HTTPBadRequest")
	tc.do(t, "GET", "/v2.0/qos/rule-types?color=red", nil).fault(t, 400, "HTTPBadRequest")
	// Details are the plugin's admin-only view.
	tc.doAs(t, tc.demoToken, "GET", "/v2.0/qos/rule-types/bandwidth_limit", nil, nil).fault(t, 403, "NotAuthorized")
	rt := tc.do(t, "GET", "/v2.0/qos/rule-types/bandwidth_limit", nil).want(t, 200).obj("rule_type")
	drivers := rt["drivers"].([]any)
	if rt["type"] != "bandwidth_limit" || len(drivers) != 1 {
		t.Fatalf("rule type %v", rt)
	}
	params := drivers[0].(map[string]any)["supported_parameters"].([]any)
	if len(params) != 3 || params[0].(map[string]any)["parameter_name"] != "max_kbps" {
		t.Errorf("parameters %v", params)
	}
	tc.do(t, "GET", "/v2.0/qos/rule-types/warp_speed", nil).fault(t, 404, "HTTPNotFound")
	r := tc.do(t, "GET", "/v2.0/extensions", nil).want(t, 200)
	var aliases []string
	for _, e := range r.list("extensions") {
		aliases = append(aliases, e["alias"].(string))
	}
	for _, want := range []string{"qos", "qos-bw-limit-direction", "qos-default", "qos-rule-type-details", "qos-rules-alias", "trunk", "trunk-details"} {
		if !slices.Contains(aliases, want) {
			t.Errorf("extensions lack %s", want)
		}
	}
}

func TestQoSOnNetworksAndPorts(t *testing.T) {
	tc := newTestCloud(t)
	mine := tc.mkQos(t, tc.demoProject, map[string]any{"name": "mine"})["id"].(string)
	other := tc.mkQos(t, tc.altProject, map[string]any{"name": "other"})["id"].(string)
	shared := tc.mkQos(t, tc.adminProject, map[string]any{"name": "shared", "shared": true})["id"].(string)
	tc.do(t, "POST", "/v2.0/qos/policies/"+mine+"/bandwidth_limit_rules", map[string]any{"bandwidth_limit_rule": map[string]any{"max_kbps": 1000}}).want(t, 201)

	// Only visible policies can be named: own, shared, not another project's.
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"qos_policy_id": other}}, nil).
		fault(t, 404, "QosPolicyNotFound")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"qos_policy_id": "not-a-uuid"}}, nil).
		fault(t, 400, "HTTPBadRequest")
	n := tc.mkNetwork(t, tc.demoToken, map[string]any{"name": "q", "qos_policy_id": shared})
	nid := n["id"].(string)
	if n["qos_policy_id"] != shared {
		t.Errorf("network %v", n)
	}
	tc.mkSubnet(t, tc.demoToken, map[string]any{"network_id": nid, "ip_version": 4, "cidr": "10.9.0.0/24"})
	if l := tc.doAs(t, tc.demoToken, "GET", "/v2.0/networks?qos_policy_id="+shared, nil, nil).want(t, 200).list("networks"); len(l) != 1 {
		t.Errorf("qos filter %v", l)
	}
	p := tc.mkPort(t, tc.demoToken, map[string]any{"network_id": nid, "qos_policy_id": mine})
	pid := p["id"].(string)
	if p["qos_policy_id"] != mine || p["qos_network_policy_id"] != shared {
		t.Errorf("port qos %v / %v", p["qos_policy_id"], p["qos_network_policy_id"])
	}
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/ports/"+pid, map[string]any{"port": map[string]any{"qos_policy_id": other}}, nil).
		fault(t, 404, "QosPolicyNotFound")
	tc.do(t, "DELETE", "/v2.0/qos/policies/"+mine, nil).fault(t, 409, "QosPolicyInUse")
	tc.do(t, "DELETE", "/v2.0/qos/policies/"+shared, nil).fault(t, 409, "QosPolicyInUse")
	// Unsharing a policy another project uses is refused.
	tc.do(t, "PUT", "/v2.0/qos/policies/"+shared, map[string]any{"policy": map[string]any{"shared": false}}).fault(t, 409, "RbacPolicyInUse")

	// The bound port enforces its own policy; a network device port does not inherit.
	tc.do(t, "PUT", "/v2.0/ports/"+pid, map[string]any{"port": map[string]any{"binding:host_id": "host1"}}).want(t, 200)
	dev := tc.mkPort(t, tc.adminToken, map[string]any{"network_id": nid, "device_owner": "network:dhcp", "binding:host_id": "host1"})
	if err := tc.svc.ApplyOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := tc.driver.Last()
	got := map[string]string{}
	for _, sp := range st.Ports {
		got[sp.ID] = sp.QoSPolicyID
	}
	if got[pid] != mine || got[dev["id"].(string)] != "" {
		t.Errorf("desired qos %v", got)
	}
	var found bool
	for _, pol := range st.QoSPolicies {
		if pol.ID == mine {
			found = len(pol.Rules) == 1 && pol.Rules[0].MaxKbps == 1000 && pol.Rules[0].Direction == "egress"
		}
	}
	if !found {
		t.Errorf("desired policies %+v", st.QoSPolicies)
	}
	for _, net := range st.Networks {
		if net.ID == nid && net.QoSPolicyID != shared {
			t.Errorf("network qos in state %q", net.QoSPolicyID)
		}
	}
	// Dropping the port's policy falls back to the network's.
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/ports/"+pid, map[string]any{"port": map[string]any{"qos_policy_id": nil}}, nil).want(t, 200)
	if err := tc.svc.ApplyOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, sp := range tc.driver.Last().Ports {
		if sp.ID == pid && sp.QoSPolicyID != shared {
			t.Errorf("port falls back to %q", sp.QoSPolicyID)
		}
	}
	tc.do(t, "DELETE", "/v2.0/qos/policies/"+mine, nil).want(t, 204)
}
