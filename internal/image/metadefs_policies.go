package image

// Glance's metadef rules (glance/policies/metadef.py) as current Glance ships them: admins
// write, and readers of a project read the public namespaces and their own project's.
const (
	ruleMetadefAdmin       = "rule:metadef_admin"
	adminOrReaderNamespace = ruleAdmin + " or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))"
)

// metadefPolicies are the metadef default rules. metadef_default is Glance's empty check,
// which no default refers to any more; it is kept so that policy files naming it load.
func metadefPolicies() map[string]string {
	rules := map[string]string{
		"metadef_default":        "",
		"metadef_admin":          ruleAdmin,
		"get_metadef_namespaces": adminOrProjectReader,
	}
	for _, name := range []string{
		"get_metadef_namespace", "get_metadef_object", "get_metadef_objects", "list_metadef_resource_types",
		"get_metadef_resource_type", "get_metadef_property", "get_metadef_properties", "get_metadef_tag", "get_metadef_tags",
	} {
		rules[name] = adminOrReaderNamespace
	}
	for _, name := range []string{
		"add_metadef_namespace", "modify_metadef_namespace", "delete_metadef_namespace",
		"add_metadef_object", "modify_metadef_object", "delete_metadef_object",
		"add_metadef_resource_type_association", "remove_metadef_resource_type_association",
		"add_metadef_property", "modify_metadef_property", "remove_metadef_property",
		"add_metadef_tag", "add_metadef_tags", "modify_metadef_tag", "delete_metadef_tag", "delete_metadef_tags",
	} {
		rules[name] = ruleMetadefAdmin
	}
	return rules
}

// withMetadefPolicies adds the metadef rules to the image API's.
func withMetadefPolicies(rules map[string]string) map[string]string {
	for k, v := range metadefPolicies() {
		rules[k] = v
	}
	return rules
}
