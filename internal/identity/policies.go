package identity

// basePolicies are Keystone's shared rules (keystone/common/policies/base.py) that the
// per-resource defaults build on. Like current Keystone, a project-scoped admin is an
// admin everywhere (rule:admin_required); readers need system scope or a matching domain.
func basePolicies() map[string]string {
	return map[string]string{
		"admin_required":                 "role:admin or is_admin:1",
		"service_role":                   "role:service",
		"service_or_admin":               "rule:admin_required or rule:service_role",
		"owner":                          "user_id:%(user_id)s",
		"admin_or_owner":                 "rule:admin_required or rule:owner",
		"token_subject":                  "user_id:%(target.token.user_id)s",
		"admin_or_token_subject":         "rule:admin_required or rule:token_subject",
		"service_admin_or_token_subject": "rule:service_or_admin or rule:token_subject",
	}
}

// defaultPolicies merges every identity default rule.
func defaultPolicies() map[string]string {
	out := basePolicies()
	for _, m := range []map[string]string{
		tokenPolicies(), projectPolicies(), userPolicies(), rolePolicies(),
		catalogPolicies(), appCredPolicies(), delegationPolicies(),
		endpointFilterPolicies(), policyAPIPolicies(), oauth1ConsumerPolicies(), oauth1TokenPolicies(), domainConfigPolicies(),
		federationPolicies(), ec2TokenPolicies(),
	} {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
