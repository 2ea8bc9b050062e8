package volume

// Cinder's default policies (cinder/policies/*.py, the Xena-style defaults every current
// release ships), one block per policy module. The policy namespace is shared with the
// other services: Cinder's "admin_api" and "admin_or_owner" differ from Nova's and
// Keystone's rules of the same names, so they are registered as volume_admin_api and
// volume_admin_or_owner and Cinder's rules refer to those; an operator's policy.yaml
// overrides the volume rules under these names. The groups, group types, QoS specs and
// transfer rules are here too so that the whole Cinder policy is in one place.
var cinderPolicies = map[string]map[string]string{
	"attachments": {
		"volume:attachment_create":           "rule:xena_system_admin_or_project_member",
		"volume:attachment_update":           "rule:xena_system_admin_or_project_member",
		"volume:attachment_delete":           "rule:xena_system_admin_or_project_member",
		"volume:attachment_complete":         "rule:xena_system_admin_or_project_member",
		"volume:multiattach_bootable_volume": "rule:xena_system_admin_or_project_member",
	},
	"backup_actions": {
		"volume_extension:backup_admin_actions:reset_status": "rule:volume_admin_api",
		"volume_extension:backup_admin_actions:force_delete": "rule:volume_admin_api",
	},
	"backups": {
		"backup:get_all":                  "rule:xena_system_admin_or_project_reader",
		"backup:backup_project_attribute": "rule:volume_admin_api",
		"backup:create":                   "rule:xena_system_admin_or_project_member",
		"backup:get":                      "rule:xena_system_admin_or_project_reader",
		"backup:update":                   "rule:xena_system_admin_or_project_member",
		"backup:delete":                   "rule:xena_system_admin_or_project_member",
		"backup:restore":                  "rule:xena_system_admin_or_project_member",
		"backup:backup-import":            "rule:volume_admin_api",
		"backup:export-import":            "rule:volume_admin_api",
	},
	"base": {
		"volume_admin_or_owner":               "is_admin:True or (role:admin and is_admin_project:True) or project_id:%(project_id)s",
		"system_or_domain_or_project_admin":   "(role:admin and system_scope:all) or (role:admin and domain_id:%(domain_id)s) or (role:admin and project_id:%(project_id)s)",
		"context_is_admin":                    "role:admin",
		"volume_admin_api":                    "is_admin:True or (role:admin and is_admin_project:True)",
		"xena_system_admin_or_project_reader": "(role:admin) or (role:reader and project_id:%(project_id)s)",
		"xena_system_admin_or_project_member": "(role:admin) or (role:member and project_id:%(project_id)s)",
	},
	"capabilities": {
		"volume_extension:capabilities": "rule:volume_admin_api",
	},
	"clusters": {
		"clusters:get_all": "rule:volume_admin_api",
		"clusters:get":     "rule:volume_admin_api",
		"clusters:update":  "rule:volume_admin_api",
	},
	"default_types": {
		"volume_extension:default_set_or_update": "rule:volume_admin_api",
		"volume_extension:default_get":           "rule:volume_admin_api",
		"volume_extension:default_get_all":       "rule:volume_admin_api",
		"volume_extension:default_unset":         "rule:volume_admin_api",
	},
	"group_actions": {
		"group:delete":                   "rule:xena_system_admin_or_project_member",
		"group:reset_status":             "rule:volume_admin_api",
		"group:enable_replication":       "rule:xena_system_admin_or_project_member",
		"group:disable_replication":      "rule:xena_system_admin_or_project_member",
		"group:failover_replication":     "rule:xena_system_admin_or_project_member",
		"group:list_replication_targets": "rule:xena_system_admin_or_project_member",
	},
	"group_snapshot_actions": {
		"group:reset_group_snapshot_status": "rule:volume_admin_api",
	},
	"group_snapshots": {
		"group:get_all_group_snapshots":          "rule:xena_system_admin_or_project_reader",
		"group:create_group_snapshot":            "rule:xena_system_admin_or_project_member",
		"group:get_group_snapshot":               "rule:xena_system_admin_or_project_reader",
		"group:delete_group_snapshot":            "rule:xena_system_admin_or_project_member",
		"group:update_group_snapshot":            "rule:xena_system_admin_or_project_member",
		"group:group_snapshot_project_attribute": "rule:volume_admin_api",
	},
	"group_types": {
		"group:group_types:create":        "rule:volume_admin_api",
		"group:group_types:update":        "rule:volume_admin_api",
		"group:group_types:delete":        "rule:volume_admin_api",
		"group:access_group_types_specs":  "rule:volume_admin_api",
		"group:group_types_specs:get":     "rule:volume_admin_api",
		"group:group_types_specs:get_all": "rule:volume_admin_api",
		"group:group_types_specs:create":  "rule:volume_admin_api",
		"group:group_types_specs:update":  "rule:volume_admin_api",
		"group:group_types_specs:delete":  "rule:volume_admin_api",
	},
	"groups": {
		"group:get_all":                 "rule:xena_system_admin_or_project_reader",
		"group:create":                  "rule:xena_system_admin_or_project_member",
		"group:get":                     "rule:xena_system_admin_or_project_reader",
		"group:update":                  "rule:xena_system_admin_or_project_member",
		"group:group_project_attribute": "rule:volume_admin_api",
	},
	"hosts": {
		"volume_extension:hosts": "rule:volume_admin_api",
	},
	"limits": {
		"limits_extension:used_limits": "rule:xena_system_admin_or_project_reader",
	},
	"manageable_snapshots": {
		"snapshot_extension:list_manageable":   "rule:volume_admin_api",
		"snapshot_extension:snapshot_manage":   "rule:volume_admin_api",
		"snapshot_extension:snapshot_unmanage": "rule:volume_admin_api",
	},
	"manageable_volumes": {
		"volume_extension:list_manageable": "rule:volume_admin_api",
		"volume_extension:volume_manage":   "rule:volume_admin_api",
		"volume_extension:volume_unmanage": "rule:volume_admin_api",
	},
	"messages": {
		"message:get_all": "rule:xena_system_admin_or_project_reader",
		"message:get":     "rule:xena_system_admin_or_project_reader",
		"message:delete":  "rule:xena_system_admin_or_project_member",
	},
	"qos_specs": {
		"volume_extension:qos_specs_manage:get_all": "rule:volume_admin_api",
		"volume_extension:qos_specs_manage:get":     "rule:volume_admin_api",
		"volume_extension:qos_specs_manage:create":  "rule:volume_admin_api",
		"volume_extension:qos_specs_manage:update":  "rule:volume_admin_api",
		"volume_extension:qos_specs_manage:delete":  "rule:volume_admin_api",
	},
	"quota_class": {
		"volume_extension:quota_classes:get":    "rule:volume_admin_api",
		"volume_extension:quota_classes:update": "rule:volume_admin_api",
	},
	"quotas": {
		"volume_extension:quotas:show":   "rule:xena_system_admin_or_project_reader",
		"volume_extension:quotas:update": "rule:volume_admin_api",
		"volume_extension:quotas:delete": "rule:volume_admin_api",
	},
	"scheduler_stats": {
		"scheduler_extension:scheduler_stats:get_pools": "rule:volume_admin_api",
	},
	"services": {
		"volume_extension:services:index":  "rule:volume_admin_api",
		"volume_extension:services:update": "rule:volume_admin_api",
		"volume:freeze_host":               "rule:volume_admin_api",
		"volume:thaw_host":                 "rule:volume_admin_api",
		"volume:failover_host":             "rule:volume_admin_api",
	},
	"snapshot_actions": {
		"volume_extension:snapshot_admin_actions:reset_status":       "rule:volume_admin_api",
		"snapshot_extension:snapshot_actions:update_snapshot_status": "rule:xena_system_admin_or_project_member",
		"volume_extension:snapshot_admin_actions:force_delete":       "rule:volume_admin_api",
	},
	"snapshot_metadata": {
		"volume:get_snapshot_metadata":    "rule:xena_system_admin_or_project_reader",
		"volume:update_snapshot_metadata": "rule:xena_system_admin_or_project_member",
		"volume:delete_snapshot_metadata": "rule:xena_system_admin_or_project_member",
	},
	"snapshots": {
		"volume:get_all_snapshots":                      "rule:xena_system_admin_or_project_reader",
		"volume_extension:extended_snapshot_attributes": "rule:xena_system_admin_or_project_reader",
		"volume:create_snapshot":                        "rule:xena_system_admin_or_project_member",
		"volume:get_snapshot":                           "rule:xena_system_admin_or_project_reader",
		"volume:update_snapshot":                        "rule:xena_system_admin_or_project_member",
		"volume:delete_snapshot":                        "rule:xena_system_admin_or_project_member",
	},
	"type_extra_specs": {
		"volume_extension:types_extra_specs:index":          "rule:xena_system_admin_or_project_reader",
		"volume_extension:types_extra_specs:create":         "rule:volume_admin_api",
		"volume_extension:types_extra_specs:show":           "rule:xena_system_admin_or_project_reader",
		"volume_extension:types_extra_specs:read_sensitive": "rule:volume_admin_api",
		"volume_extension:types_extra_specs:update":         "rule:volume_admin_api",
		"volume_extension:types_extra_specs:delete":         "rule:volume_admin_api",
	},
	"volume_access": {
		"volume_extension:volume_type_access":                     "rule:xena_system_admin_or_project_member",
		"volume_extension:volume_type_access:addProjectAccess":    "rule:volume_admin_api",
		"volume_extension:volume_type_access:removeProjectAccess": "rule:volume_admin_api",
		"volume_extension:volume_type_access:get_all_for_type":    "rule:volume_admin_api",
	},
	"volume_actions": {
		"volume:extend":                 "rule:xena_system_admin_or_project_member",
		"volume:extend_attached_volume": "rule:xena_system_admin_or_project_member",
		"volume_extension:volume_admin_actions:extend_volume_completion": "rule:volume_admin_api",
		"volume:revert_to_snapshot":                                      "rule:xena_system_admin_or_project_member",
		"volume_extension:volume_admin_actions:reset_status":             "rule:volume_admin_api",
		"volume:retype":                                                   "rule:xena_system_admin_or_project_member",
		"volume:update_readonly_flag":                                     "rule:xena_system_admin_or_project_member",
		"volume_extension:volume_admin_actions:force_delete":              "rule:volume_admin_api",
		"volume_extension:volume_actions:upload_public":                   "rule:volume_admin_api",
		"volume_extension:volume_actions:upload_image":                    "rule:xena_system_admin_or_project_member",
		"volume_extension:volume_admin_actions:force_detach":              "rule:volume_admin_api",
		"volume_extension:volume_admin_actions:migrate_volume":            "rule:volume_admin_api",
		"volume_extension:volume_admin_actions:migrate_volume_completion": "rule:volume_admin_api",
		"volume_extension:volume_actions:initialize_connection":           "rule:xena_system_admin_or_project_member",
		"volume_extension:volume_actions:terminate_connection":            "rule:xena_system_admin_or_project_member",
		"volume_extension:volume_actions:roll_detaching":                  "rule:xena_system_admin_or_project_member",
		"volume_extension:volume_actions:reserve":                         "rule:xena_system_admin_or_project_member",
		"volume_extension:volume_actions:unreserve":                       "rule:xena_system_admin_or_project_member",
		"volume_extension:volume_actions:begin_detaching":                 "rule:xena_system_admin_or_project_member",
		"volume_extension:volume_actions:attach":                          "rule:xena_system_admin_or_project_member",
		"volume_extension:volume_actions:detach":                          "rule:xena_system_admin_or_project_member",
		"volume:reimage":                                                  "rule:xena_system_admin_or_project_member",
		"volume:reimage_reserved":                                         "rule:xena_system_admin_or_project_member",
	},
	"volume_metadata": {
		"volume:get_volume_metadata":                    "rule:xena_system_admin_or_project_reader",
		"volume:create_volume_metadata":                 "rule:xena_system_admin_or_project_member",
		"volume:update_volume_metadata":                 "rule:xena_system_admin_or_project_member",
		"volume:delete_volume_metadata":                 "rule:xena_system_admin_or_project_member",
		"volume_extension:volume_image_metadata:show":   "rule:xena_system_admin_or_project_reader",
		"volume_extension:volume_image_metadata:set":    "rule:xena_system_admin_or_project_member",
		"volume_extension:volume_image_metadata:remove": "rule:xena_system_admin_or_project_member",
		"volume:update_volume_admin_metadata":           "rule:volume_admin_api",
	},
	"volume_transfer": {
		"volume:get_all_transfers": "rule:xena_system_admin_or_project_reader",
		"volume:create_transfer":   "rule:xena_system_admin_or_project_member",
		"volume:get_transfer":      "rule:xena_system_admin_or_project_reader",
		"volume:accept_transfer":   "rule:xena_system_admin_or_project_member",
		"volume:delete_transfer":   "rule:xena_system_admin_or_project_member",
	},
	"volume_type": {
		"volume_extension:type_create":                   "rule:volume_admin_api",
		"volume_extension:type_update":                   "rule:volume_admin_api",
		"volume_extension:type_delete":                   "rule:volume_admin_api",
		"volume_extension:type_get":                      "rule:xena_system_admin_or_project_reader",
		"volume_extension:type_get_all":                  "rule:xena_system_admin_or_project_reader",
		"volume_extension:access_types_extra_specs":      "rule:xena_system_admin_or_project_reader",
		"volume_extension:access_types_qos_specs_id":     "rule:volume_admin_api",
		"volume_extension:volume_type_encryption":        "rule:volume_admin_api",
		"volume_extension:volume_type_encryption:create": "rule:volume_admin_api",
		"volume_extension:volume_type_encryption:get":    "rule:volume_admin_api",
		"volume_extension:volume_type_encryption:update": "rule:volume_admin_api",
		"volume_extension:volume_type_encryption:delete": "rule:volume_admin_api",
	},
	"volumes": {
		"volume:create":                                "rule:xena_system_admin_or_project_member",
		"volume:create_from_image":                     "rule:xena_system_admin_or_project_member",
		"volume:get":                                   "rule:xena_system_admin_or_project_reader",
		"volume:get_all":                               "rule:xena_system_admin_or_project_reader",
		"volume:update":                                "rule:xena_system_admin_or_project_member",
		"volume:delete":                                "rule:xena_system_admin_or_project_member",
		"volume:force_delete":                          "rule:volume_admin_api",
		"volume_extension:volume_host_attribute":       "rule:volume_admin_api",
		"volume_extension:volume_tenant_attribute":     "rule:xena_system_admin_or_project_reader",
		"volume_extension:volume_mig_status_attribute": "rule:volume_admin_api",
		"volume_extension:volume_encryption_metadata":  "rule:xena_system_admin_or_project_reader",
		"volume:multiattach":                           "rule:xena_system_admin_or_project_member",
	},
	"workers": {
		"workers:cleanup": "rule:volume_admin_api",
	},
}

// defaultPolicies flattens cinderPolicies for the enforcer.
func defaultPolicies() map[string]string {
	out := map[string]string{}
	for _, rules := range cinderPolicies {
		for k, v := range rules {
			out[k] = v
		}
	}
	return out
}
