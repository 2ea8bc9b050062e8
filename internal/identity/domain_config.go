package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// This file holds Keystone's domain-specific configuration (DomainConfigManager in
// keystone/resource/core.py and keystone/resource/config_backends/sql.py): per-domain
// values of the identity and ldap options that select a domain's identity driver. gostack
// stores and serves them exactly as Keystone does; its identity backend is always SQL, so
// they do not change how users authenticate. The HTTP handlers are in domain_config_http.go.

// domainConfigWhitelist holds the options a domain may set and read back, Keystone's
// whitelisted_options, in Keystone's order.
var domainConfigWhitelist = map[string][]string{
	"identity": {"driver", "list_limit"},
	"ldap": {
		"url", "user", "suffix", "query_scope", "page_size", "alias_dereferencing", "debug_level",
		"chase_referrals", "user_tree_dn", "user_filter", "user_objectclass", "user_id_attribute",
		"user_name_attribute", "user_mail_attribute", "user_description_attribute", "user_pass_attribute",
		"user_enabled_attribute", "user_enabled_invert", "user_enabled_mask", "user_enabled_default",
		"user_attribute_ignore", "user_default_project_id_attribute", "user_enabled_emulation",
		"user_enabled_emulation_dn", "user_enabled_emulation_use_group_config",
		"user_additional_attribute_mapping", "group_tree_dn", "group_filter", "group_objectclass",
		"group_id_attribute", "group_name_attribute", "group_members_are_ids", "group_member_attribute",
		"group_desc_attribute", "group_attribute_ignore", "group_additional_attribute_mapping",
		"tls_cacertfile", "tls_cacertdir", "use_tls", "tls_req_cert", "use_pool", "pool_size",
		"pool_retry_max", "pool_retry_delay", "pool_connection_timeout", "pool_connection_lifetime",
		"use_auth_pool", "auth_pool_size", "auth_pool_connection_lifetime",
	},
}

// domainConfigSensitive holds the options a domain may set but never read back, Keystone's
// sensitive_options.
var domainConfigSensitive = map[string][]string{"identity": {}, "ldap": {"password"}}

// domainConfigDefaults are Keystone's defaults for the whitelisted options
// (keystone/conf/identity.py and ldap.py); nil is an option without a default.
var domainConfigDefaults = map[string]map[string]any{
	"identity": {"driver": "sql", "list_limit": nil},
	"ldap": {
		"url": "ldap://localhost", "user": nil, "suffix": "cn=example,cn=com", "query_scope": "one",
		"page_size": 0, "alias_dereferencing": "default", "debug_level": nil, "chase_referrals": nil,
		"user_tree_dn": nil, "user_filter": nil, "user_objectclass": "inetOrgPerson",
		"user_id_attribute": "cn", "user_name_attribute": "sn", "user_mail_attribute": "mail",
		"user_description_attribute": "description", "user_pass_attribute": "userPassword",
		"user_enabled_attribute": "enabled", "user_enabled_invert": false, "user_enabled_mask": 0,
		"user_enabled_default": "True", "user_attribute_ignore": []any{"default_project_id"},
		"user_default_project_id_attribute": nil, "user_enabled_emulation": false,
		"user_enabled_emulation_dn": nil, "user_enabled_emulation_use_group_config": false,
		"user_additional_attribute_mapping": []any{}, "group_tree_dn": nil, "group_filter": nil,
		"group_objectclass": "groupOfNames", "group_id_attribute": "cn", "group_name_attribute": "ou",
		"group_members_are_ids": false, "group_member_attribute": "member",
		"group_desc_attribute": "description", "group_attribute_ignore": []any{},
		"group_additional_attribute_mapping": []any{}, "tls_cacertfile": nil, "tls_cacertdir": nil,
		"use_tls": false, "tls_req_cert": "demand", "use_pool": true, "pool_size": 10,
		"pool_retry_max": 3, "pool_retry_delay": 0.1, "pool_connection_timeout": -1,
		"pool_connection_lifetime": 600, "use_auth_pool": true, "auth_pool_size": 100,
		"auth_pool_connection_lifetime": 60,
	},
}

// securityComplianceGroup is the config group served from gostack's own
// [security_compliance] settings rather than from stored domain config.
const securityComplianceGroup = "security_compliance"

// domainConfigOption is one stored option.
type domainConfigOption struct {
	Group, Option string
	Value         any
	Sensitive     bool
}

// invalidDomainConfig is Keystone's InvalidDomainConfig, a 403.
func invalidDomainConfig(format string, args ...any) error {
	return api.Forbidden("Invalid domain specific configuration: %s.", fmt.Sprintf(format, args...))
}

// domainConfigNotFound is Keystone's DomainConfigNotFound for what a request named.
func domainConfigNotFound(domainID, group, option string) error {
	what := "any options"
	switch {
	case option != "":
		what = fmt.Sprintf("option %s in group %s", option, group)
	case group != "":
		what = "group " + group
	}
	return api.NotFound("Could not find %s in domain configuration for domain %s.", what, domainID)
}

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkDomainConfigGroupOption is Keystone's _assert_valid_group_and_option: a group, if
// given, must be supported, and so must an option within it.
func checkDomainConfigGroupOption(group, option string) error {
	if group == "" {
		return nil
	}
	_, white := domainConfigWhitelist[group]
	_, sens := domainConfigSensitive[group]
	if !white && !sens {
		return invalidDomainConfig("Group %s is not supported for domain specific configurations", group)
	}
	if option != "" && !contains(domainConfigWhitelist[group], option) && !contains(domainConfigSensitive[group], option) {
		return invalidDomainConfig("Option %s in group %s is not supported for domain specific configurations", option, group)
	}
	return nil
}

// checkDomainConfig is Keystone's _assert_valid_config for a create or update body.
func checkDomainConfig(config api.Object) error {
	if len(config) == 0 {
		return invalidDomainConfig("No options specified")
	}
	for _, group := range sortedObjectKeys(config) {
		opts, ok := config[group].(map[string]any)
		if !ok || len(opts) == 0 {
			return invalidDomainConfig("The value of group %s specified in the config should be a dictionary of options", group)
		}
		for _, option := range sortedObjectKeys(opts) {
			if err := checkDomainConfigGroupOption(group, option); err != nil {
				return err
			}
		}
	}
	return nil
}

// sortedObjectKeys returns a JSON object's keys in order, so that errors are stable.
func sortedObjectKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// configOptions flattens a config body into options, marking the sensitive ones.
func configOptions(config api.Object) []domainConfigOption {
	var out []domainConfigOption
	for _, group := range sortedObjectKeys(config) {
		opts, _ := config[group].(map[string]any)
		for _, option := range sortedObjectKeys(opts) {
			out = append(out, domainConfigOption{Group: group, Option: option, Value: opts[option],
				Sensitive: contains(domainConfigSensitive[group], option)})
		}
	}
	return out
}

// configFromOptions is Keystone's _list_to_config: with reqOption the single option's
// {option: value}, otherwise {group: {option: value}}.
func configFromOptions(opts []domainConfigOption, reqOption string) map[string]any {
	if reqOption != "" {
		for _, o := range opts {
			if o.Option == reqOption {
				return map[string]any{o.Option: o.Value}
			}
		}
		return map[string]any{}
	}
	out := map[string]any{}
	for _, o := range opts {
		g, _ := out[o.Group].(map[string]any)
		if g == nil {
			g = map[string]any{}
			out[o.Group] = g
		}
		g[o.Option] = o.Value
	}
	return out
}

// Which stored options listDomainConfig returns.
const (
	whitelistedOptions = iota
	sensitiveOptions
	allOptions
)

// listDomainConfig returns a domain's stored options, narrowed to a group and an option
// when given.
func listDomainConfig(ctx context.Context, q store.Querier, domainID, group, option string, which int) ([]domainConfigOption, error) {
	conds := []string{"domain_id = ?"}
	args := []any{domainID}
	if group != "" {
		conds, args = append(conds, "config_group = ?"), append(args, group)
		if option != "" {
			conds, args = append(conds, "config_option = ?"), append(args, option)
		}
	}
	switch which {
	case whitelistedOptions:
		conds, args = append(conds, "sensitive = ?"), append(args, false)
	case sensitiveOptions:
		conds, args = append(conds, "sensitive = ?"), append(args, true)
	}
	rows, err := q.QueryContext(ctx, `SELECT config_group, config_option, value, sensitive FROM domain_configs WHERE `+
		strings.Join(conds, " AND ")+` ORDER BY config_group, config_option`, args...)
	if err != nil {
		return nil, fmt.Errorf("list domain config: %w", err)
	}
	defer rows.Close()
	var out []domainConfigOption
	for rows.Next() {
		var o domainConfigOption
		var value string
		if err := rows.Scan(&o.Group, &o.Option, &value, &o.Sensitive); err != nil {
			return nil, fmt.Errorf("list domain config: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader([]byte(value)))
		dec.UseNumber()
		if err := dec.Decode(&o.Value); err != nil {
			return nil, fmt.Errorf("list domain config: option %s.%s: %w", o.Group, o.Option, err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// putDomainConfigOptions writes options, replacing any stored under the same names.
func putDomainConfigOptions(ctx context.Context, tx *store.Tx, domainID string, opts []domainConfigOption) error {
	for _, o := range opts {
		b, err := json.Marshal(o.Value)
		if err != nil {
			return api.BadRequest("Invalid input for field 'config': the value of %s.%s is not valid JSON.", o.Group, o.Option)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM domain_configs WHERE domain_id = ? AND config_group = ? AND config_option = ?`,
			domainID, o.Group, o.Option); err != nil {
			return fmt.Errorf("store domain config: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO domain_configs (domain_id, config_group, config_option, value, sensitive) VALUES (?, ?, ?, ?, ?)`,
			domainID, o.Group, o.Option, string(b), o.Sensitive); err != nil {
			return fmt.Errorf("store domain config: %w", mapStoreError(err))
		}
	}
	return nil
}

// getDomainConfig is Keystone's get_config: the domain's whitelisted options, narrowed to
// a group or an option, or a 404 when nothing matches.
func getDomainConfig(ctx context.Context, q store.Querier, domainID, group, option string) (map[string]any, error) {
	if err := checkDomainConfigGroupOption(group, option); err != nil {
		return nil, err
	}
	opts, err := listDomainConfig(ctx, q, domainID, group, option, whitelistedOptions)
	if err != nil {
		return nil, err
	}
	if len(opts) == 0 {
		return nil, domainConfigNotFound(domainID, group, option)
	}
	return configFromOptions(opts, option), nil
}

// createDomainConfig is Keystone's create_config: it replaces the domain's whole config
// and returns the whitelisted part. created is false when a config existed before.
func createDomainConfig(ctx context.Context, tx *store.Tx, domainID string, config api.Object) (out map[string]any, created bool, err error) {
	if err := checkDomainConfig(config); err != nil {
		return nil, false, err
	}
	before, err := listDomainConfig(ctx, tx, domainID, "", "", allOptions)
	if err != nil {
		return nil, false, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM domain_configs WHERE domain_id = ?`, domainID); err != nil {
		return nil, false, fmt.Errorf("create domain config: %w", err)
	}
	if err := putDomainConfigOptions(ctx, tx, domainID, configOptions(config)); err != nil {
		return nil, false, err
	}
	opts, err := listDomainConfig(ctx, tx, domainID, "", "", whitelistedOptions)
	if err != nil {
		return nil, false, err
	}
	return configFromOptions(opts, ""), len(before) == 0, nil
}

// updateDomainConfig is Keystone's update_config: it merges config into the domain's
// options. With a group (and option) the body must hold that group (or, with an option,
// just {option: value}) and nothing else, and the group or option must already be set.
func updateDomainConfig(ctx context.Context, tx *store.Tx, domainID string, config api.Object, group, option string) (map[string]any, error) {
	update := config
	if group != "" && option != "" {
		update = api.Object{group: map[string]any(config)}
	}
	if err := checkDomainConfig(update); err != nil {
		return nil, err
	}
	if err := checkDomainConfigGroupOption(group, option); err != nil {
		return nil, err
	}
	if group != "" {
		opts, _ := update[group].(map[string]any)
		if len(update) != 1 || (option != "" && len(opts) != 1) {
			if option != "" {
				return nil, invalidDomainConfig("Trying to update option %s in group %s, so that, and only that, option must be specified  in the config", option, group)
			}
			return nil, invalidDomainConfig("Trying to update group %s, so that, and only that, group must be specified in the config", group)
		}
		if _, ok := update[group]; !ok {
			return nil, invalidDomainConfig("request to update group %s, but config provided contains group %s instead", group, sortedObjectKeys(update)[0])
		}
		if _, ok := opts[option]; option != "" && !ok {
			return nil, invalidDomainConfig("Trying to update option %s in group %s, but config provided contains option %s instead", option, group, sortedObjectKeys(opts)[0])
		}
		existing, err := listDomainConfig(ctx, tx, domainID, group, option, allOptions)
		if err != nil {
			return nil, err
		}
		if len(existing) == 0 {
			return nil, domainConfigNotFound(domainID, group, option)
		}
	}
	if err := putDomainConfigOptions(ctx, tx, domainID, configOptions(update)); err != nil {
		return nil, err
	}
	return getDomainConfig(ctx, tx, domainID, "", "")
}

// deleteDomainConfig is Keystone's delete_config: the whole config (always succeeds), one
// group or one option (each must be set, or 404).
func deleteDomainConfig(ctx context.Context, tx *store.Tx, domainID, group, option string) error {
	if err := checkDomainConfigGroupOption(group, option); err != nil {
		return err
	}
	conds := []string{"domain_id = ?"}
	args := []any{domainID}
	if group != "" {
		existing, err := listDomainConfig(ctx, tx, domainID, group, "", allOptions)
		if err != nil {
			return err
		}
		if len(existing) == 0 {
			return domainConfigNotFound(domainID, group, "")
		}
		conds, args = append(conds, "config_group = ?"), append(args, group)
		if option != "" {
			found := false
			for _, o := range existing {
				found = found || o.Option == option
			}
			if !found {
				return domainConfigNotFound(domainID, group, option)
			}
			conds, args = append(conds, "config_option = ?"), append(args, option)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM domain_configs WHERE `+strings.Join(conds, " AND "), args...); err != nil {
		return fmt.Errorf("delete domain config: %w", err)
	}
	return nil
}

// defaultDomainConfig is Keystone's get_config_default: the default values of the
// whitelisted options, for every group, one group or one option.
func defaultDomainConfig(group, option string) (map[string]any, error) {
	if err := checkDomainConfigGroupOption(group, option); err != nil {
		return nil, err
	}
	var opts []domainConfigOption
	add := func(g, o string) {
		opts = append(opts, domainConfigOption{Group: g, Option: o, Value: domainConfigDefaults[g][o]})
	}
	switch {
	case option != "":
		if !contains(domainConfigWhitelist[group], option) {
			return nil, invalidDomainConfig("Reading the default for option %s in group %s is not supported", option, group)
		}
		add(group, option)
	case group != "":
		for _, o := range domainConfigWhitelist[group] {
			add(group, o)
		}
	default:
		for _, g := range []string{"identity", "ldap"} {
			for _, o := range domainConfigWhitelist[g] {
				add(g, o)
			}
		}
	}
	return configFromOptions(opts, option), nil
}

// securityComplianceConfig is Keystone's get_security_compliance_config: the password
// rules of the default domain, the only ones users may read.
func (s *Service) securityComplianceConfig(domainID, option string) (map[string]any, error) {
	if domainID != DefaultDomainID {
		return nil, invalidDomainConfig("Reading security compliance information for any domain other than the default domain is not allowed or supported.")
	}
	values := map[string]any{"password_regex": nil, "password_regex_description": nil}
	if v := s.cfg.Security.PasswordRegex; v != "" {
		values["password_regex"] = v
	}
	if v := s.cfg.Security.PasswordRegexDescription; v != "" {
		values["password_regex_description"] = v
	}
	if option != "" {
		v, ok := values[option]
		if !ok {
			return nil, invalidDomainConfig("Reading security compliance values other than password_regex and password_regex_description is not allowed.")
		}
		return map[string]any{option: v}, nil
	}
	return map[string]any{securityComplianceGroup: values}, nil
}
