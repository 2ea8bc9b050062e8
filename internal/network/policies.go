package network

// Neutron's default policies (neutron/conf/policies/*.py) for the resources this package
// serves, check strings verbatim. Neutron's "owner", "admin_or_owner" and "default" are
// not registered: the policy namespace is shared, Keystone already owns the first two
// (user-based), and a "default" would change every service's unknown rules; none of
// Neutron's current defaults below reference them.
//
// Neutron's field checks (field:networks:shared=True, field:port:device_owner=~^network:)
// are evaluated by oslo's generic check against the "field" list the service puts in the
// credentials: the facts that hold for the target (see Service.enforce).
func defaultPolicies() map[string]string {
	out := map[string]string{}
	for _, m := range []map[string]string{
		addressScopePolicies,
		basePolicies,
		networkPolicies,
		networkIpAvailabilityPolicies,
		portPolicies,
		quotasPolicies,
		rbacPolicies,
		segmentPolicies,
		subnetPolicies,
		subnetpoolPolicies,
		securityGroupPolicies,
		defaultSGRulePolicies,
		addressGroupPolicies,
		routerPolicies,
		floatingIPPolicies,
		agentPolicies,
		availabilityZonePolicies,
		qosPolicies,
		trunkPolicies,
	} {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// addressScopePolicies are neutron/conf/policies/address_scope.py.
var addressScopePolicies = map[string]string{
	"shared_address_scopes":       "field:address_scopes:shared=True",
	"create_address_scope":        "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"create_address_scope:shared": "rule:admin_only",
	"get_address_scope":           "rule:admin_only or role:reader and project_id:%(project_id)s or rule:shared_address_scopes",
	"update_address_scope":        "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"update_address_scope:shared": "rule:admin_only",
	"delete_address_scope":        "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
}

// basePolicies are neutron/conf/policies/base.py.
var basePolicies = map[string]string{
	"context_is_admin":             "role:admin",
	"context_with_global_access":   "!",
	"service_api":                  "role:service",
	"context_is_advsvc":            "role:advsvc",
	"admin_or_network_owner":       "rule:context_is_admin or project_id:%(network:project_id)s",
	"admin_owner_or_network_owner": "rule:owner or rule:admin_or_network_owner",
	"network_owner":                "project_id:%(network:project_id)s",
	"admin_only":                   "rule:context_is_admin",
	"regular_user":                 "",
	"shared":                       "field:networks:shared=True",
	"admin_or_ext_parent_owner":    "rule:context_is_admin or project_id:%(ext_parent:project_id)s",
	"ext_parent_owner":             "project_id:%(ext_parent:project_id)s",
	"sg_owner":                     "project_id:%(security_group:project_id)s",
}

// networkPolicies are neutron/conf/policies/network.py.
var networkPolicies = map[string]string{
	"external":                                 "field:networks:router:external=True",
	"create_network":                           "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"create_network:shared":                    "rule:admin_only",
	"create_network:router:external":           "rule:admin_only",
	"create_network:is_default":                "rule:admin_only",
	"create_network:port_security_enabled":     "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"create_network:segments":                  "rule:admin_only",
	"create_network:provider:network_type":     "rule:admin_only",
	"create_network:provider:physical_network": "rule:admin_only",
	"create_network:provider:segmentation_id":  "rule:admin_only",
	"create_network:tags":                      "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"get_network":                              "(rule:admin_only) or (role:reader and project_id:%(project_id)s) or rule:service_api or rule:shared or rule:external or rule:context_is_advsvc",
	"get_network:segments":                     "rule:admin_only",
	"get_network:provider:network_type":        "rule:admin_only",
	"get_network:provider:physical_network":    "rule:admin_only",
	"get_network:provider:segmentation_id":     "rule:admin_only",
	"get_network:tags":                         "(rule:admin_only) or (role:reader and project_id:%(project_id)s) or rule:shared or rule:external or rule:context_is_advsvc",
	"update_network":                           "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"update_network:segments":                  "rule:admin_only",
	"update_network:shared":                    "rule:admin_only",
	"update_network:provider:network_type":     "rule:admin_only",
	"update_network:provider:physical_network": "rule:admin_only",
	"update_network:provider:segmentation_id":  "rule:admin_only",
	"update_network:router:external":           "rule:admin_only",
	"update_network:is_default":                "rule:admin_only",
	"update_network:port_security_enabled":     "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"update_network:tags":                      "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"delete_network":                           "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"delete_network:tags":                      "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
}

// networkIpAvailabilityPolicies are neutron/conf/policies/network_ip_availability.py.
var networkIpAvailabilityPolicies = map[string]string{
	"get_network_ip_availability": "(rule:admin_only) or (rule:service_api)",
}

// portPolicies are neutron/conf/policies/port.py.
var portPolicies = map[string]string{
	"network_device":                                "field:port:device_owner=~^network:",
	"admin_or_data_plane_int":                       "rule:context_is_admin or role:data_plane_integrator",
	"create_port":                                   "(rule:admin_only) or (rule:service_api) or role:member and rule:network_owner or rule:shared",
	"create_port:device_id":                         "(rule:admin_only) or (role:member and project_id:%(project_id)s) or rule:service_api",
	"create_port:device_owner":                      "not rule:network_device or (rule:admin_only) or (rule:service_api) or role:member and rule:network_owner",
	"create_port:mac_address":                       "(rule:admin_only) or (rule:service_api) or role:member and rule:network_owner",
	"create_port:fixed_ips":                         "(rule:admin_only) or (rule:service_api) or role:member and rule:network_owner or rule:shared",
	"create_port:fixed_ips:ip_address":              "(rule:admin_only) or (rule:service_api) or role:member and rule:network_owner",
	"create_port:fixed_ips:subnet_id":               "(rule:admin_only) or (rule:service_api) or role:member and rule:network_owner or rule:shared",
	"create_port:port_security_enabled":             "(rule:admin_only) or (rule:service_api) or role:member and rule:network_owner",
	"create_port:binding:host_id":                   "(rule:admin_only) or (rule:service_api)",
	"create_port:binding:profile":                   "rule:service_api",
	"create_port:binding:vnic_type":                 "(rule:admin_only) or (role:member and project_id:%(project_id)s) or rule:service_api",
	"create_port:allowed_address_pairs":             "(rule:admin_only) or (role:member and rule:network_owner) or rule:service_api",
	"create_port:allowed_address_pairs:mac_address": "(rule:admin_only) or (role:member and rule:network_owner) or rule:service_api",
	"create_port:allowed_address_pairs:ip_address":  "(rule:admin_only) or (role:member and rule:network_owner) or rule:service_api",
	"create_port:hints":                             "rule:admin_only",
	"create_port:trusted":                           "rule:admin_only",
	"create_port:tags":                              "(rule:admin_only) or (role:member and project_id:%(project_id)s) or rule:context_is_advsvc",
	"get_port":                                      "(rule:admin_only) or (rule:service_api) or role:reader and rule:network_owner or role:reader and project_id:%(project_id)s",
	"get_port:binding:vif_type":                     "(rule:admin_only) or (rule:service_api)",
	"get_port:binding:vif_details":                  "(rule:admin_only) or (rule:service_api)",
	"get_port:binding:host_id":                      "(rule:admin_only) or (rule:service_api)",
	"get_port:binding:profile":                      "(rule:admin_only) or (rule:service_api)",
	"get_port:resource_request":                     "rule:admin_only",
	"get_port:hints":                                "rule:admin_only",
	"get_port:trusted":                              "rule:admin_only",
	"get_port:tags":                                 "rule:context_is_advsvc or (rule:admin_only) or (role:reader and rule:network_owner) or role:reader and project_id:%(project_id)s",
	"update_port":                                   "(rule:admin_only) or (rule:service_api) or role:member and project_id:%(project_id)s",
	"update_port:device_id":                         "(rule:admin_only) or (role:member and project_id:%(project_id)s) or rule:service_api",
	"update_port:device_owner":                      "not rule:network_device or (rule:admin_only) or (rule:service_api) or role:member and rule:network_owner",
	"update_port:mac_address":                       "(rule:admin_only) or (rule:service_api) or role:manager and rule:network_owner",
	"update_port:fixed_ips":                         "(rule:admin_only) or (rule:service_api) or role:member and rule:network_owner",
	"update_port:fixed_ips:ip_address":              "(rule:admin_only) or (rule:service_api) or role:member and rule:network_owner",
	"update_port:fixed_ips:subnet_id":               "(rule:admin_only) or (rule:service_api) or role:member and rule:network_owner or rule:shared",
	"update_port:port_security_enabled":             "(rule:admin_only) or (rule:service_api) or role:member and rule:network_owner",
	"update_port:binding:host_id":                   "(rule:admin_only) or (rule:service_api)",
	"update_port:binding:profile":                   "rule:service_api",
	"update_port:binding:vnic_type":                 "(rule:admin_only) or (rule:service_api) or role:member and project_id:%(project_id)s",
	"update_port:allowed_address_pairs":             "(rule:admin_only) or (role:member and rule:network_owner) or rule:service_api",
	"update_port:allowed_address_pairs:mac_address": "(rule:admin_only) or (role:member and rule:network_owner) or rule:service_api",
	"update_port:allowed_address_pairs:ip_address":  "(rule:admin_only) or (role:member and rule:network_owner) or rule:service_api",
	"update_port:data_plane_status":                 "rule:admin_only or role:data_plane_integrator",
	"update_port:hints":                             "rule:admin_only",
	"update_port:trusted":                           "rule:admin_only",
	"update_port:tags":                              "(rule:admin_only) or (role:member and project_id:%(project_id)s) or rule:context_is_advsvc",
	"delete_port":                                   "(rule:admin_only) or (rule:service_api) or role:member and rule:network_owner or role:member and project_id:%(project_id)s",
	"delete_port:tags":                              "rule:context_is_advsvc or role:member and project_id:%(project_id)s or (rule:admin_only) or (role:member and rule:network_owner)",
}

// quotasPolicies are neutron/conf/policies/quotas.py.
var quotasPolicies = map[string]string{
	"get_quota":    "(rule:admin_only) or (role:manager and project_id:%(project_id)s)",
	"update_quota": "rule:admin_only",
	"delete_quota": "rule:admin_only",
}

// rbacPolicies are neutron/conf/policies/rbac.py.
var rbacPolicies = map[string]string{
	"restrict_wildcard":                 "(not field:rbac_policy:target_tenant=* and not field:rbac_policy:target_project=*) or rule:admin_only",
	"create_rbac_policy":                "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"create_rbac_policy:target_tenant":  "rule:admin_only or (not field:rbac_policy:target_tenant=* and not field:rbac_policy:target_project=*)",
	"create_rbac_policy:target_project": "rule:admin_only or not field:rbac_policy:target_project=*",
	"update_rbac_policy":                "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"update_rbac_policy:target_tenant":  "rule:admin_only or (not field:rbac_policy:target_tenant=* and not field:rbac_policy:target_project=*)",
	"update_rbac_policy:target_project": "rule:admin_only or not field:rbac_policy:target_project=*",
	"get_rbac_policy":                   "(rule:admin_only) or (role:reader and project_id:%(project_id)s)",
	"delete_rbac_policy":                "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
}

// segmentPolicies are neutron/conf/policies/segment.py.
var segmentPolicies = map[string]string{
	"create_segment":       "rule:admin_only",
	"create_segments_tags": "rule:admin_only",
	"get_segment":          "rule:admin_only",
	"get_segments_tags":    "rule:admin_only",
	"update_segment":       "rule:admin_only",
	"update_segments_tags": "rule:admin_only",
	"delete_segment":       "rule:admin_only",
	"delete_segments_tags": "rule:admin_only",
}

// subnetPolicies are neutron/conf/policies/subnet.py.
var subnetPolicies = map[string]string{
	"external_network":            "field:subnets:router:external=True",
	"create_subnet":               "(rule:admin_only) or (role:member and rule:network_owner)",
	"create_subnet:segment_id":    "rule:admin_only",
	"create_subnet:service_types": "rule:admin_only",
	"create_subnet:tags":          "role:member and project_id:%(project_id)s or (rule:admin_only) or (role:member and rule:network_owner)",
	"get_subnet":                  "role:reader and project_id:%(project_id)s or rule:shared or rule:external_network or (rule:admin_only) or (role:reader and rule:network_owner) or rule:service_api",
	"get_subnet:segment_id":       "rule:admin_only",
	"get_subnet:tags":             "role:reader and project_id:%(project_id)s or rule:shared or rule:external_network or (rule:admin_only) or (role:reader and rule:network_owner)",
	"update_subnet":               "role:member and project_id:%(project_id)s or (rule:admin_only) or (role:member and rule:network_owner)",
	"update_subnet:segment_id":    "rule:admin_only",
	"update_subnet:service_types": "rule:admin_only",
	"update_subnet:tags":          "role:member and project_id:%(project_id)s or (rule:admin_only) or (role:member and rule:network_owner)",
	"delete_subnet":               "role:member and project_id:%(project_id)s or (rule:admin_only) or (role:member and rule:network_owner)",
	"delete_subnet:tags":          "role:member and project_id:%(project_id)s or (rule:admin_only) or (role:member and rule:network_owner)",
}

// subnetpoolPolicies are neutron/conf/policies/subnetpool.py.
var subnetpoolPolicies = map[string]string{
	"shared_subnetpools":           "field:subnetpools:shared=True",
	"create_subnetpool":            "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"create_subnetpool:shared":     "rule:admin_only",
	"create_subnetpool:is_default": "rule:admin_only",
	"create_subnetpool:tags":       "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"get_subnetpool":               "(rule:admin_only) or (role:reader and project_id:%(project_id)s) or rule:shared_subnetpools",
	"get_subnetpool:tags":          "(rule:admin_only) or (role:reader and project_id:%(project_id)s) or rule:shared_subnetpools",
	"update_subnetpool":            "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"update_subnetpool:is_default": "rule:admin_only",
	"update_subnetpool:tags":       "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"delete_subnetpool":            "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"delete_subnetpool:tags":       "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"onboard_network_subnets":      "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"add_prefixes":                 "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"remove_prefixes":              "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
}
