package network

import (
	"net/http"
	"slices"
	"sync"

	"github.com/gostack/gostack/internal/api"
)

// versionRoutes are the version documents and the extensions list.
func (s *Service) versionRoutes() []route {
	return []route{
		{"GET", "", "", s.listVersions},
		{"GET", "/v2.0", "regular_user", s.showVersion},
		{"GET", "/v2.0/extensions", "regular_user", s.listExtensions},
		{"GET", "/v2.0/extensions/{alias}", "regular_user", s.showExtension},
	}
}

// listVersions answers GET /networking/ with Neutron's version list.
func (s *Service) listVersions(w http.ResponseWriter, r *http.Request, c *call) error {
	writeBody(w, http.StatusOK, map[string]any{"versions": []any{map[string]any{
		"id": "v2.0", "status": "CURRENT",
		"links": []any{map[string]any{"href": api.BaseURL(r) + s.cfg.Prefix + "/v2.0/", "rel": "self"}},
	}}})
	return nil
}

// showVersion answers GET /networking/v2.0 with the top-level collections.
func (s *Service) showVersion(w http.ResponseWriter, r *http.Request, c *call) error {
	base := api.BaseURL(r) + s.cfg.Prefix + "/v2.0/"
	var res []any
	for _, coll := range []string{"subnets", "networks", "ports", "subnetpools", "address-scopes",
		"segments", "rbac-policies", "quotas", "network-ip-availabilities"} {
		name := map[string]string{"subnets": "subnet", "networks": "network", "ports": "port",
			"subnetpools": "subnetpool", "address-scopes": "address_scope", "segments": "segment",
			"rbac-policies": "rbac_policy", "quotas": "quota", "network-ip-availabilities": "network_ip_availability"}[coll]
		res = append(res, map[string]any{"name": name, "collection": coll,
			"links": []any{map[string]any{"href": base + coll, "rel": "self"}}})
	}
	writeBody(w, http.StatusOK, map[string]any{"resources": res})
	return nil
}

// Extension is one entry of /v2.0/extensions, as neutron-lib's API definitions describe it.
type Extension struct {
	Alias, Name, Description, Updated string
}

// extensionRegistry is the list of implemented extensions. Each resource registers the
// aliases it implements when it is built, so the list is exactly what is served.
type extensionRegistry struct {
	mu   sync.RWMutex
	exts map[string]Extension
}

func newExtensionRegistry() *extensionRegistry {
	return &extensionRegistry{exts: map[string]Extension{}}
}

// RegisterExtensions adds implemented extensions to /v2.0/extensions; later parts of the
// networking service (routers, floating IPs, security groups, QoS, trunks) call it for
// the aliases they serve. An alias registered twice keeps its first description.
func (s *Service) RegisterExtensions(exts ...Extension) {
	s.extensions.mu.Lock()
	defer s.extensions.mu.Unlock()
	for _, e := range exts {
		if _, ok := s.extensions.exts[e.Alias]; !ok {
			s.extensions.exts[e.Alias] = e
		}
	}
}

// HasExtension reports whether an alias is registered.
func (s *Service) HasExtension(alias string) bool {
	s.extensions.mu.RLock()
	defer s.extensions.mu.RUnlock()
	_, ok := s.extensions.exts[alias]
	return ok
}

func (e Extension) body() map[string]any {
	return map[string]any{"alias": e.Alias, "name": e.Name, "description": e.Description,
		"updated": e.Updated, "links": []any{}}
}

func (s *Service) listExtensions(w http.ResponseWriter, r *http.Request, c *call) error {
	s.extensions.mu.RLock()
	aliases := make([]string, 0, len(s.extensions.exts))
	for a := range s.extensions.exts {
		aliases = append(aliases, a)
	}
	slices.Sort(aliases)
	out := make([]any, 0, len(aliases))
	for _, a := range aliases {
		out = append(out, s.extensions.exts[a].body())
	}
	s.extensions.mu.RUnlock()
	writeBody(w, http.StatusOK, map[string]any{"extensions": out})
	return nil
}

func (s *Service) showExtension(w http.ResponseWriter, r *http.Request, c *call) error {
	s.extensions.mu.RLock()
	e, ok := s.extensions.exts[r.PathValue("alias")]
	s.extensions.mu.RUnlock()
	if !ok {
		return nerr(http.StatusNotFound, "HTTPNotFound", "Extension with alias %s does not exist", truncate(r.PathValue("alias"), 64))
	}
	writeBody(w, http.StatusOK, map[string]any{"extension": e.body()})
	return nil
}

// Extensions implemented by the foundation, with neutron-lib's names, descriptions and
// update stamps.
var (
	extFramework = []Extension{
		{"standard-attr-tag", "Tag support for resources with standard attribute: subnet, trunk, network_segment_range, router, network, policy, subnetpool, port, security_group, floatingip", "Enables to set tag on resources with standard attribute.", "2017-01-01T00:00:00-00:00"},
		{"standard-attr-description", "standard-attr-description", "Extension to add descriptions to standard attributes", "2016-02-10T10:00:00-00:00"},
		{"standard-attr-revisions", "Resource revision numbers", "This extension will display the revision number of neutron resources.", "2016-04-11T10:00:00-00:00"},
		{"standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.", "2016-09-12T10:00:00-00:00"},
		{"revision-if-match", "If-Match constraints based on revision_number", "Extension indicating that If-Match based on revision_number is supported.", "2016-12-11T00:00:00-00:00"},
		{"project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled.", "2016-09-09T09:09:09-09:09"},
		{"pagination", "Pagination support", "Extension that indicates that pagination is enabled.", "2016-06-12T00:00:00-00:00"},
		{"sorting", "Sorting support", "Extension that indicates that sorting is enabled.", "2016-06-12T00:00:00-00:00"},
		{"filter-validation", "Filter parameters validation", "Provides validation on filter parameters.", "2018-07-04T10:00:00-00:00"},
		{"empty-string-filtering", "Empty String Filtering Extension", "Allow filtering by attributes with empty string value", "2018-05-01T10:00:00-00:00"},
	}
	extNetwork = []Extension{
		{"external-net", "Neutron external network", "Adds external network attribute to network resource.", "2013-01-14T10:00:00-00:00"},
		{"provider", "Provider Network", "Expose mapping of virtual networks to physical networks", "2012-09-07T10:00:00-00:00"},
		{"net-mtu", "Network MTU", "Provides MTU attribute for a network resource.", "2015-03-25T10:00:00-00:00"},
		{"net-mtu-writable", "Network MTU (writable)", "Provides a writable MTU attribute for a network resource.", "2017-07-12T00:00:00-00:00"},
		{"availability_zone", "Availability Zone", "The availability zone extension.", "2015-01-01T10:00:00-00:00"},
		{"network_availability_zone", "Network Availability Zone", "Availability zone support for network.", "2015-01-01T10:00:00-00:00"},
		{"dns-integration", "DNS Integration", "Provides integration with DNS.", "2015-08-15T18:00:00-00:00"},
		{"segment", "Segment", "Segments extension.", "2016-02-24T17:00:00-00:00"},
		{"standard-attr-segment", "Standard Attribute Segment Extension", "Add standard attributes to Segment resource", "2018-04-09T10:00:00-00:00"},
		{"network-ip-availability", "Network IP Availability", "Provides IP availability data for each network and subnet.", "2015-09-24T00:00:00-00:00"},
		{"rbac-policies", "RBAC Policies", "Allows creation and modification of policies that control tenant access to resources.", "2015-06-17T12:15:12-00:00"},
		{"quotas", "Quota management support", "Expose functions for quotas management per tenant", "2012-07-29T10:00:00-00:00"},
		{"quota_details", "Quota details management support", "Expose functions for quotas usage statistics per project", "2017-02-10T10:00:00-00:00"},
	}
	extSubnet = []Extension{
		{"subnet_allocation", "Subnet Allocation", "Enables allocation of subnets from a subnet pool", "2015-03-30T10:00:00-00:00"},
		{"address-scope", "Address scope", "Address scopes extension.", "2015-07-26T10:00:00-00:00"},
		{"default-subnetpools", "Default Subnetpools", "Provides ability to mark and use a subnetpool as the default.", "2016-02-18T18:00:00-00:00"},
		{"subnet-service-types", "Subnet service types", "Provides ability to set the subnet service_types field", "2016-03-15T18:00:00-00:00"},
		{"subnetpool-prefix-ops", "Subnet Pool Prefix Operations", "Provides support for adjusting the prefix list of subnet pools", "2019-02-08T10:00:00-00:00"},
	}
	extPort = []Extension{
		{"port-security", "Port Security", "Provides port security", "2012-07-23T10:00:00-00:00"},
		{"allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs", "2013-07-23T10:00:00-00:00"},
		{"extra_dhcp_opt", "Neutron Extra DHCP options", "Extra options configuration for DHCP. For example PXE boot options to DHCP clients can be specified (e.g. tftp-server, server-ip-address, bootfile-name)", "2013-03-17T12:00:00-00:00"},
		{"binding", "Port Binding", "Expose port bindings of a virtual port to external application", "2014-02-03T10:00:00-00:00"},
		{"data-plane-status", "Port data plane status extension", "Expose status of underlying data plane", "2017-01-24T10:00:00-00:00"},
		{"uplink-status-propagation", "Uplink status propagation extension", "Provides ability to propagate port uplink status.", "2018-05-31T18:00:00-00:00"},
		{"ip_allocation", "IP Allocation", "IP allocation extension.", "2016-06-10T23:00:00-00:00"},
		{"dns-domain-ports", "dns_domain for ports", "Allows the DNS domain to be specified for a network port.", "2017-04-24T10:00:00-00:00"},
		{"ip-substring-filtering", "IP address substring filtering", "Provides IP address substring filtering when listing ports", "2017-11-28T09:00:00-00:00"},
	}
)
