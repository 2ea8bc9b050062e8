package app

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// parseURL parses an absolute URL.
func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute URL", raw)
	}
	return u, nil
}

// cloudEntry is one cloud of clouds.yaml.
type cloudEntry struct {
	name, user, password, project string
	system                        bool
}

// writeClientFiles writes clouds.yaml and the openrc files for the bootstrap accounts, with
// the CA to trust when TLS uses the local CA. They are rewritten at every start so that a
// changed address or password is picked up.
func writeClientFiles(dir, authURL, region, caFile string, s *secrets) error {
	clouds := []cloudEntry{
		{"gostack-admin", "admin", s.AdminPassword, "admin", false},
		{"gostack", "demo", s.DemoPassword, "demo", false},
		{"gostack-alt", "alt_demo", s.AltDemoPassword, "alt_demo", false},
		{"gostack-system-admin", "admin", s.AdminPassword, "", true},
		{"devstack-admin", "admin", s.AdminPassword, "admin", false},
		{"devstack", "demo", s.DemoPassword, "demo", false},
		{"devstack-alt", "alt_demo", s.AltDemoPassword, "alt_demo", false},
		{"devstack-system-admin", "admin", s.AdminPassword, "", true},
	}
	var b strings.Builder
	b.WriteString("# Written by gostack at every start; edits are overwritten.\nclouds:\n")
	for _, c := range clouds {
		fmt.Fprintf(&b, "  %s:\n    auth:\n", c.name)
		fmt.Fprintf(&b, "      auth_url: %s\n      username: %s\n      password: %s\n      user_domain_id: default\n", yamlQuote(authURL), yamlQuote(c.user), yamlQuote(c.password))
		if c.system {
			b.WriteString("      system_scope: all\n")
		} else {
			fmt.Fprintf(&b, "      project_name: %s\n      project_domain_id: default\n", yamlQuote(c.project))
		}
		// compute_api_version 2.latest lets the CLI negotiate the newest compute microversion
		// (python-openstackclient otherwise speaks 2.1, where `server create --network
		// none` cannot be expressed).
		fmt.Fprintf(&b, "    region_name: %s\n    interface: public\n    identity_api_version: 3\n    compute_api_version: 2.latest\n", yamlQuote(region))
		if caFile != "" {
			fmt.Fprintf(&b, "    cacert: %s\n", yamlQuote(caFile))
		}
	}
	if err := writeFileAtomic(filepath.Join(dir, "clouds.yaml"), []byte(b.String()), 0o600); err != nil {
		return err
	}
	for _, c := range clouds[:3] {
		var o strings.Builder
		o.WriteString("# Source this file to use gostack with the openstack CLI.\n")
		env := [][2]string{
			{"OS_AUTH_URL", authURL}, {"OS_AUTH_TYPE", "password"}, {"OS_USERNAME", c.user},
			{"OS_PASSWORD", c.password}, {"OS_PROJECT_NAME", c.project},
			{"OS_USER_DOMAIN_ID", "default"}, {"OS_PROJECT_DOMAIN_ID", "default"},
			{"OS_REGION_NAME", region}, {"OS_INTERFACE", "public"}, {"OS_IDENTITY_API_VERSION", "3"},
			{"OS_COMPUTE_API_VERSION", "2.latest"},
		}
		if caFile != "" {
			env = append(env, [2]string{"OS_CACERT", caFile})
		}
		o.WriteString("unset OS_CLOUD OS_TOKEN OS_SYSTEM_SCOPE OS_DOMAIN_ID OS_DOMAIN_NAME\n")
		for _, kv := range env {
			fmt.Fprintf(&o, "export %s=%s\n", kv[0], shellQuote(kv[1]))
		}
		if err := writeFileAtomic(filepath.Join(dir, c.user+"-openrc"), []byte(o.String()), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// yamlQuote renders s as a single-quoted YAML scalar.
func yamlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// shellQuote renders s as a single-quoted shell word.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
