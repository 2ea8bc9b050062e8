package compute

// Nova's base rules (nova/policies/base.py). Nova's own "admin_api" is "is_admin:True";
// Placement leaves the name to Nova since the namespace is shared. Keystone, sharing the
// namespace too, already registers "admin_or_owner" (user-owned, which Nova's current
// defaults never reference) and "service_or_admin" ("rule:admin_required or
// rule:service_role", the same check as Nova's), so those two are left to it.
var basePolicies = map[string]string{
	"context_is_admin":         "role:admin",
	"admin_api":                "is_admin:True",
	"project_manager_api":      "role:manager and project_id:%(project_id)s",
	"project_member_api":       "role:member and project_id:%(project_id)s",
	"project_reader_api":       "role:reader and project_id:%(project_id)s",
	"service_api":              "role:service",
	"project_manager_or_admin": "rule:project_manager_api or rule:context_is_admin",
	"project_member_or_admin":  "rule:project_member_api or rule:context_is_admin",
	"project_reader_or_admin":  "rule:project_reader_api or rule:context_is_admin",
}

// Shorthands for the check strings Nova's policies use.
const (
	ruleAdmin          = "rule:context_is_admin"
	ruleManagerOrAdmin = "rule:project_manager_or_admin"
	ruleMemberOrAdmin  = "rule:project_member_or_admin"
	ruleReaderOrAdmin  = "rule:project_reader_or_admin"
	ruleServiceOrAdmin = "rule:service_api or rule:context_is_admin"
	ruleAny            = "@"
)

// defaultPolicies gathers every compute default rule; each resource file contributes its
// own (nova/policies/*.py).
func defaultPolicies() map[string]string {
	out := map[string]string{}
	for _, m := range []map[string]string{
		basePolicies,
		resourcePolicies(),
		serverPolicies(),
		adminPolicies(),
		networkProxyPolicies(),
		securityGroupPolicies(),
		floatingIPPolicies(),
		volumeProxyPolicies(),
		consolePolicies(),
	} {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
