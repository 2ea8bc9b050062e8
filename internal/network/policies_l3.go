package network

// Neutron's default policies for the resources of the L3 and security part (security
// groups, address groups, routers, floating IPs, agents, availability zones, QoS,
// trunks), check strings verbatim from neutron/conf/policies/*.py. Rules referencing
// Neutron's unregistered "owner" (admin_owner_or_sg_owner) are left out; nothing uses them.

// securityGroupPolicies are neutron/conf/policies/security_group.py.
var securityGroupPolicies = map[string]string{
	"admin_or_sg_owner":          "rule:context_is_admin or project_id:%(security_group:project_id)s",
	"shared_security_group":      "field:security_groups:shared=True",
	"rule_default_sg":            "field:security_group_rules:belongs_to_default_sg=True",
	"create_security_group":      "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"create_security_group:tags": "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"get_security_group":         "(rule:admin_only) or (role:reader and project_id:%(project_id)s) or rule:shared_security_group",
	"get_security_group:tags":    "(rule:admin_only) or (role:reader and project_id:%(project_id)s) or rule:shared_security_group",
	"update_security_group":      "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"update_security_group:tags": "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"delete_security_group":      "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"delete_security_group:tags": "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"create_security_group_rule": "(rule:admin_only) or (role:member and rule:sg_owner)",
	"get_security_group_rule":    "(rule:admin_only) or (role:reader and rule:sg_owner)",
	"delete_security_group_rule": "(rule:admin_only) or (role:member and rule:sg_owner)",
}

// defaultSGRulePolicies are neutron/conf/policies/default_security_group_rules.py.
var defaultSGRulePolicies = map[string]string{
	"create_default_security_group_rule": "rule:admin_only",
	"get_default_security_group_rule":    "role:reader",
	"delete_default_security_group_rule": "rule:admin_only",
}

// addressGroupPolicies are neutron/conf/policies/address_group.py.
var addressGroupPolicies = map[string]string{
	"shared_address_groups": "field:address_groups:shared=True",
	"create_address_group":  "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"get_address_group":     "(rule:admin_only) or (role:reader and project_id:%(project_id)s) or rule:shared_address_groups",
	"update_address_group":  "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"delete_address_group":  "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"add_addresses":         "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"remove_addresses":      "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
}

// routerPolicies are neutron/conf/policies/router.py.
var routerPolicies = map[string]string{
	"create_router":                                                 "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"create_router:distributed":                                     "rule:admin_only",
	"create_router:ha":                                              "rule:admin_only",
	"create_router:external_gateway_info":                           "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"create_router:external_gateway_info:network_id":                "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"create_router:external_gateway_info:enable_snat":               "rule:admin_only",
	"create_router:external_gateway_info:external_fixed_ips":        "rule:admin_only",
	"create_router:enable_default_route_bfd":                        "rule:admin_only",
	"create_router:enable_default_route_ecmp":                       "rule:admin_only",
	"create_router:tags":                                            "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"get_router":                                                    "(rule:admin_only) or (role:reader and project_id:%(project_id)s)",
	"get_router:distributed":                                        "rule:admin_only",
	"get_router:ha":                                                 "rule:admin_only",
	"get_router:tags":                                               "(rule:admin_only) or (role:reader and project_id:%(project_id)s)",
	"update_router":                                                 "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"update_router:distributed":                                     "rule:admin_only",
	"update_router:ha":                                              "rule:admin_only",
	"update_router:external_gateway_info":                           "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"update_router:external_gateway_info:network_id":                "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"update_router:external_gateway_info:enable_snat":               "rule:admin_only",
	"update_router:external_gateway_info:external_fixed_ips":        "rule:admin_only",
	"update_router:enable_default_route_bfd":                        "rule:admin_only",
	"update_router:enable_default_route_ecmp":                       "rule:admin_only",
	"update_router:tags":                                            "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"delete_router":                                                 "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"delete_router:tags":                                            "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"add_router_interface":                                          "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"remove_router_interface":                                       "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"add_extraroutes":                                               "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"remove_extraroutes":                                            "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"add_external_gateways":                                         "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"add_external_gateways:external_gateways":                       "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"add_external_gateways:external_gateways:network_id":            "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"add_external_gateways:external_gateways:enable_snat":           "rule:admin_only",
	"add_external_gateways:external_gateways:external_fixed_ips":    "rule:admin_only",
	"update_external_gateways":                                      "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"update_external_gateways:external_gateways":                    "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"update_external_gateways:external_gateways:network_id":         "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"update_external_gateways:external_gateways:enable_snat":        "rule:admin_only",
	"update_external_gateways:external_gateways:external_fixed_ips": "rule:admin_only",
	"remove_external_gateways":                                      "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"remove_external_gateways:external_gateways":                    "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
}

// floatingIPPolicies are neutron/conf/policies/floatingip.py.
var floatingIPPolicies = map[string]string{
	"create_floatingip":                     "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"create_floatingip:floating_ip_address": "(rule:admin_only) or (role:manager and project_id:%(project_id)s)",
	"create_floatingip:tags":                "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"get_floatingip":                        "(rule:admin_only) or (role:reader and project_id:%(project_id)s)",
	"get_floatingip:tags":                   "(rule:admin_only) or (role:reader and project_id:%(project_id)s)",
	"update_floatingip":                     "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"update_floatingip:tags":                "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"delete_floatingip":                     "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"delete_floatingip:tags":                "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
}

// agentPolicies are neutron/conf/policies/agent.py.
var agentPolicies = map[string]string{
	"create_agent":        "rule:admin_only",
	"get_agent":           "rule:admin_only",
	"update_agent":        "rule:admin_only",
	"delete_agent":        "rule:admin_only",
	"create_dhcp-network": "rule:admin_only",
	"get_dhcp-networks":   "rule:admin_only",
	"delete_dhcp-network": "rule:admin_only",
	"create_l3-router":    "rule:admin_only",
	"get_l3-routers":      "rule:admin_only",
	"update_l3-router":    "rule:admin_only",
	"delete_l3-router":    "rule:admin_only",
	"get_dhcp-agents":     "rule:admin_only",
	"get_l3-agents":       "rule:admin_only",
}

// availabilityZonePolicies are neutron/conf/policies/availability_zone.py.
var availabilityZonePolicies = map[string]string{
	"get_availability_zone": "role:reader",
}

// qosPolicies are neutron/conf/policies/qos.py.
var qosPolicies = map[string]string{
	"shared_qos_policy":                      "field:policies:shared=True",
	"get_policy":                             "(rule:admin_only) or (role:reader and project_id:%(project_id)s) or rule:shared_qos_policy",
	"get_policy:tags":                        "(rule:admin_only) or (role:reader and project_id:%(project_id)s) or rule:shared_qos_policy",
	"create_policy":                          "(rule:admin_only) or (role:manager and project_id:%(project_id)s)",
	"create_policy:tags":                     "(rule:admin_only) or (role:manager and project_id:%(project_id)s)",
	"update_policy":                          "(rule:admin_only) or (role:manager and project_id:%(project_id)s)",
	"update_policy:tags":                     "(rule:admin_only) or (role:manager and project_id:%(project_id)s)",
	"delete_policy":                          "(rule:admin_only) or (role:manager and project_id:%(project_id)s)",
	"delete_policy:tags":                     "(rule:admin_only) or (role:manager and project_id:%(project_id)s)",
	"get_rule_type":                          "role:reader",
	"get_policy_bandwidth_limit_rule":        "(rule:admin_only) or (role:reader and rule:ext_parent_owner)",
	"create_policy_bandwidth_limit_rule":     "(rule:admin_only) or (role:manager and rule:ext_parent_owner)",
	"update_policy_bandwidth_limit_rule":     "(rule:admin_only) or (role:manager and rule:ext_parent_owner)",
	"delete_policy_bandwidth_limit_rule":     "(rule:admin_only) or (role:manager and rule:ext_parent_owner)",
	"get_policy_packet_rate_limit_rule":      "(rule:admin_only) or (role:reader and rule:ext_parent_owner)",
	"create_policy_packet_rate_limit_rule":   "(rule:admin_only) or (role:manager and rule:ext_parent_owner)",
	"update_policy_packet_rate_limit_rule":   "(rule:admin_only) or (role:manager and rule:ext_parent_owner)",
	"delete_policy_packet_rate_limit_rule":   "(rule:admin_only) or (role:manager and rule:ext_parent_owner)",
	"get_policy_dscp_marking_rule":           "(rule:admin_only) or (role:reader and rule:ext_parent_owner)",
	"create_policy_dscp_marking_rule":        "(rule:admin_only) or (role:manager and rule:ext_parent_owner)",
	"update_policy_dscp_marking_rule":        "(rule:admin_only) or (role:manager and rule:ext_parent_owner)",
	"delete_policy_dscp_marking_rule":        "(rule:admin_only) or (role:manager and rule:ext_parent_owner)",
	"get_policy_minimum_bandwidth_rule":      "(rule:admin_only) or (role:reader and rule:ext_parent_owner)",
	"create_policy_minimum_bandwidth_rule":   "(rule:admin_only) or (role:manager and rule:ext_parent_owner)",
	"update_policy_minimum_bandwidth_rule":   "(rule:admin_only) or (role:manager and rule:ext_parent_owner)",
	"delete_policy_minimum_bandwidth_rule":   "(rule:admin_only) or (role:manager and rule:ext_parent_owner)",
	"get_policy_minimum_packet_rate_rule":    "(rule:admin_only) or (role:reader and rule:ext_parent_owner)",
	"create_policy_minimum_packet_rate_rule": "(rule:admin_only) or (role:manager and rule:ext_parent_owner)",
	"update_policy_minimum_packet_rate_rule": "(rule:admin_only) or (role:manager and rule:ext_parent_owner)",
	"delete_policy_minimum_packet_rate_rule": "(rule:admin_only) or (role:manager and rule:ext_parent_owner)",
	"get_alias_bandwidth_limit_rule":         "(rule:admin_only) or (role:reader and rule:ext_parent_owner)",
	"update_alias_bandwidth_limit_rule":      "(rule:admin_only) or (role:manager and rule:ext_parent_owner)",
	"delete_alias_bandwidth_limit_rule":      "(rule:admin_only) or (role:manager and rule:ext_parent_owner)",
	"get_alias_dscp_marking_rule":            "(rule:admin_only) or (role:reader and rule:ext_parent_owner)",
	"update_alias_dscp_marking_rule":         "(rule:admin_only) or (role:manager and rule:ext_parent_owner)",
	"delete_alias_dscp_marking_rule":         "(rule:admin_only) or (role:manager and rule:ext_parent_owner)",
	"get_alias_minimum_bandwidth_rule":       "(rule:admin_only) or (role:reader and rule:ext_parent_owner)",
	"update_alias_minimum_bandwidth_rule":    "(rule:admin_only) or (role:manager and rule:ext_parent_owner)",
	"delete_alias_minimum_bandwidth_rule":    "(rule:admin_only) or (role:manager and rule:ext_parent_owner)",
	"get_alias_minimum_packet_rate_rule":     "rule:get_policy_minimum_packet_rate_rule",
	"update_alias_minimum_packet_rate_rule":  "rule:update_policy_minimum_packet_rate_rule",
	"delete_alias_minimum_packet_rate_rule":  "rule:delete_policy_minimum_packet_rate_rule",
}

// trunkPolicies are neutron/conf/policies/trunk.py.
var trunkPolicies = map[string]string{
	"create_trunk":      "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"create_trunk:tags": "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"get_trunk":         "(rule:admin_only) or (role:reader and project_id:%(project_id)s)",
	"get_trunk:tags":    "(rule:admin_only) or (role:reader and project_id:%(project_id)s)",
	"update_trunk":      "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"update_trunk:tags": "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"delete_trunk":      "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"delete_trunk:tags": "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"get_subports":      "(rule:admin_only) or (role:reader and project_id:%(project_id)s)",
	"add_subports":      "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
	"remove_subports":   "(rule:admin_only) or (role:member and project_id:%(project_id)s)",
}
