package network

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestVersionsAndExtensions(t *testing.T) {
	tc := newTestCloud(t)
	r := tc.doAs(t, "", "GET", "/", nil, nil).want(t, 200)
	v := r.list("versions")
	if len(v) != 1 || v[0]["id"] != "v2.0" || v[0]["status"] != "CURRENT" {
		t.Fatalf("versions %s", r.raw)
	}
	r = tc.do(t, "GET", "/v2.0", nil).want(t, 200)
	var colls []string
	for _, res := range r.list("resources") {
		colls = append(colls, res["collection"].(string))
	}
	for _, want := range []string{"networks", "subnets", "ports", "subnetpools"} {
		if !slices.Contains(colls, want) {
			t.Errorf("resources lack %s: %v", want, colls)
		}
	}
	r = tc.do(t, "GET", "/v2.0/extensions", nil).want(t, 200)
	var aliases []string
	for _, e := range r.list("extensions") {
		aliases = append(aliases, e["alias"].(string))
	}
	for _, want := range []string{"standard-attr-tag", "revision-if-match", "provider", "external-net", "quotas", "security-group", "address-group",
		"rbac-policies", "binding", "extra_dhcp_opt", "allowed-address-pairs", "subnet_allocation", "pagination"} {
		if !slices.Contains(aliases, want) {
			t.Errorf("extensions lack %s", want)
		}
	}
	for _, not := range []string{"l3-flavors", "floating-ip-port-forwarding", "bgp"} {
		if slices.Contains(aliases, not) {
			t.Errorf("extension %s is listed but not implemented", not)
		}
	}
	tc.svc.RegisterExtensions(Extension{Alias: "router", Name: "Neutron L3 Router"})
	tc.do(t, "GET", "/v2.0/extensions/router", nil).want(t, 200)
	tc.do(t, "GET", "/v2.0/extensions/nope", nil).fault(t, 404, "HTTPNotFound")
	tc.doAs(t, "", "GET", "/v2.0/networks", nil, nil).want(t, 401)
}

var stampRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

func TestNetworkCRUD(t *testing.T) {
	tc := newTestCloud(t)
	n := tc.mkNetwork(t, tc.demoToken, map[string]any{"name": "intnet", "description": "d", "tags": []string{"b", "a"}})
	for k, want := range map[string]any{"name": "intnet", "description": "d", "admin_state_up": true, "status": "ACTIVE",
		"shared": false, "router:external": false, "mtu": float64(1450), "port_security_enabled": true,
		"revision_number": float64(0), "project_id": tc.demoProject, "tenant_id": tc.demoProject, "is_default": false} {
		if n[k] != want {
			t.Errorf("%s = %v, want %v", k, n[k], want)
		}
	}
	if !stampRE.MatchString(n["created_at"].(string)) || !stampRE.MatchString(n["updated_at"].(string)) {
		t.Errorf("timestamps %v %v", n["created_at"], n["updated_at"])
	}
	if _, ok := n["provider:network_type"]; ok {
		t.Errorf("member sees provider attributes: %v", n)
	}
	if tags := n["tags"].([]any); len(tags) != 2 || tags[0] != "a" {
		t.Errorf("tags %v", tags)
	}
	id := n["id"].(string)
	adm := tc.do(t, "GET", "/v2.0/networks/"+id, nil).want(t, 200).obj("network")
	if adm["provider:network_type"] != "vxlan" || adm["provider:segmentation_id"] != float64(1) || adm["provider:physical_network"] != nil {
		t.Errorf("provider attributes %v", adm)
	}
	// Another project cannot see it.
	tc.doAs(t, tc.altToken, "GET", "/v2.0/networks/"+id, nil, nil).fault(t, 404, "NetworkNotFound")
	if l := tc.doAs(t, tc.altToken, "GET", "/v2.0/networks", nil, nil).want(t, 200).list("networks"); len(l) != 0 {
		t.Errorf("alt sees %v", ids(l))
	}
	tc.doAs(t, tc.altToken, "PUT", "/v2.0/networks/"+id, map[string]any{"network": map[string]any{"name": "x"}}, nil).fault(t, 404, "NetworkNotFound")
	// Update bumps the revision; If-Match guards it.
	u := tc.doAs(t, tc.demoToken, "PUT", "/v2.0/networks/"+id, map[string]any{"network": map[string]any{"name": "renamed", "mtu": 1400}}, nil).want(t, 200).obj("network")
	if u["name"] != "renamed" || u["mtu"] != float64(1400) || u["revision_number"] != float64(1) {
		t.Errorf("updated %v", u)
	}
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/networks/"+id, map[string]any{"network": map[string]any{"name": "y"}},
		map[string]string{"If-Match": "revision_number=0"}).fault(t, 412, "RevisionNumberConstraintFailed")
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/networks/"+id, map[string]any{"network": map[string]any{"name": "y"}},
		map[string]string{"If-Match": "revision_number=1"}).want(t, 200)
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/networks/"+id, map[string]any{"network": map[string]any{"name": "y"}},
		map[string]string{"If-Match": "revision_number=x"}).fault(t, 400, "BadRequest")
	// Member may not set admin-only attributes.
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/networks/"+id, map[string]any{"network": map[string]any{"shared": true}}, nil).fault(t, 403, "PolicyNotAuthorized")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"provider:network_type": "flat"}}, nil).fault(t, 403, "PolicyNotAuthorized")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"router:external": true}}, nil).fault(t, 403, "PolicyNotAuthorized")
	tc.doAs(t, tc.demoToken, "PUT", "/v2.0/networks/"+id, map[string]any{"network": map[string]any{"status": "DOWN"}}, nil).fault(t, 400, "HTTPBadRequest")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"bogus": 1}}, nil).fault(t, 400, "HTTPBadRequest")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/networks", `{"network": `, nil).fault(t, 400, "HTTPBadRequest")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"admin_state_up": "maybe"}}, nil).fault(t, 400, "HTTPBadRequest")
	tc.doAs(t, tc.demoToken, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": strings.Repeat("x", 256)}}, nil).fault(t, 400, "HTTPBadRequest")
	tc.doAs(t, tc.altToken, "DELETE", "/v2.0/networks/"+id, nil, nil).fault(t, 404, "NetworkNotFound")
	tc.doAs(t, tc.demoToken, "DELETE", "/v2.0/networks/"+id, nil, nil).want(t, 204)
	tc.do(t, "GET", "/v2.0/networks/"+id, nil).fault(t, 404, "NetworkNotFound")
}

func TestProviderNetworks(t *testing.T) {
	tc := newTestCloud(t)
	flat := tc.mkNetwork(t, tc.adminToken, map[string]any{"name": "pub", "provider:network_type": "flat",
		"provider:physical_network": "public", "router:external": true, "shared": true})
	if flat["mtu"] != float64(1500) || flat["provider:segmentation_id"] != nil || flat["router:external"] != true || flat["shared"] != true {
		t.Errorf("flat %v", flat)
	}
	for _, tt := range []struct {
		body   map[string]any
		status int
		typ    string
	}{
		{map[string]any{"provider:network_type": "flat", "provider:physical_network": "public"}, 409, "FlatNetworkInUse"},
		{map[string]any{"provider:network_type": "flat"}, 400, "InvalidInput"},
		{map[string]any{"provider:network_type": "flat", "provider:physical_network": "nope"}, 400, "InvalidInput"},
		{map[string]any{"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 5000}, 400, "InvalidInput"},
		{map[string]any{"provider:network_type": "vxlan", "provider:physical_network": "physnet1"}, 400, "InvalidInput"},
		{map[string]any{"provider:network_type": "bogus"}, 400, "InvalidInput"},
		{map[string]any{"provider:segmentation_id": 7}, 400, "InvalidInput"},
	} {
		tc.do(t, "POST", "/v2.0/networks", map[string]any{"network": tt.body}).fault(t, tt.status, tt.typ)
	}
	v := tc.mkNetwork(t, tc.adminToken, map[string]any{"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 100})
	if v["provider:segmentation_id"] != float64(100) || v["mtu"] != float64(1500) {
		t.Errorf("vlan %v", v)
	}
	tc.do(t, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"provider:network_type": "vlan",
		"provider:physical_network": "physnet1", "provider:segmentation_id": 100}}).fault(t, 409, "VlanIdInUse")
	auto := tc.mkNetwork(t, tc.adminToken, map[string]any{"provider:network_type": "vlan", "provider:physical_network": "physnet1"})
	if auto["provider:segmentation_id"] != float64(1) {
		t.Errorf("allocated vlan %v", auto["provider:segmentation_id"])
	}
	x := tc.mkNetwork(t, tc.adminToken, map[string]any{"provider:network_type": "vxlan", "provider:segmentation_id": 42})
	tc.do(t, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"provider:network_type": "vxlan",
		"provider:segmentation_id": 42}}).fault(t, 409, "TunnelIdInUse")
	g := tc.mkNetwork(t, tc.adminToken, map[string]any{"provider:network_type": "geneve"})
	if g["mtu"] != float64(1442) {
		t.Errorf("geneve mtu %v", g["mtu"])
	}
	tc.mkNetwork(t, tc.adminToken, map[string]any{"provider:network_type": "local"})
	tc.mkNetwork(t, tc.adminToken, map[string]any{"provider:network_type": "local"})
	tc.do(t, "PUT", "/v2.0/networks/"+x["id"].(string), map[string]any{"network": map[string]any{"provider:segmentation_id": 43}}).fault(t, 400, "InvalidInput")
	tc.do(t, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"mtu": 9000}}).fault(t, 400, "InvalidInput")
	// Shared and external networks are visible to other projects.
	if l := tc.doAs(t, tc.demoToken, "GET", "/v2.0/networks", nil, nil).want(t, 200).list("networks"); len(l) != 1 || l[0]["id"] != flat["id"] {
		t.Errorf("demo sees %v", ids(l))
	}
	// Segments (admin).
	segs := tc.do(t, "GET", "/v2.0/segments?network_id="+v["id"].(string), nil).want(t, 200).list("segments")
	if len(segs) != 1 || segs[0]["network_type"] != "vlan" || segs[0]["segmentation_id"] != float64(100) {
		t.Errorf("segments %v", segs)
	}
	tc.doAs(t, tc.demoToken, "GET", "/v2.0/segments", nil, nil).want(t, http.StatusOK)
}
