package identity

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// tempestDomainConfig is the config tempest's domain configuration tests use.
func tempestDomainConfig() map[string]any {
	return map[string]any{
		"identity": map[string]any{"driver": "ldap"},
		"ldap":     map[string]any{"url": "ldap://myldap.com:389/", "user_tree_dn": "ou=Users,dc=my_new_root,dc=org"},
	}
}

func TestDomainConfigCRUD(t *testing.T) {
	tc := newTestCloud(t)
	d := domainFixture(t, tc, "cfgdomain")
	base := "/v3/domains/" + d + "/config"

	// Nothing yet.
	out := extAdmin(t, tc, "GET", base, nil, http.StatusNotFound)
	if want := "Could not find any options in domain configuration for domain " + d + "."; extMessage(out) != want {
		t.Errorf("message = %q", extMessage(out))
	}

	// PUT creates (201) and returns the config; again replaces (200).
	body := map[string]any{"config": tempestDomainConfig()}
	got := extAdmin(t, tc, "PUT", base, body, http.StatusCreated)["config"]
	if !reflect.DeepEqual(got, tempestDomainConfig()) {
		t.Errorf("created = %v", got)
	}
	extAdmin(t, tc, "PUT", base, body, http.StatusOK)
	if got := extAdmin(t, tc, "GET", base, nil, http.StatusOK)["config"]; !reflect.DeepEqual(got, tempestDomainConfig()) {
		t.Errorf("get = %v", got)
	}

	// Groups and options.
	if got := extAdmin(t, tc, "GET", base+"/ldap", nil, http.StatusOK)["config"]; !reflect.DeepEqual(got, map[string]any{"ldap": tempestDomainConfig()["ldap"]}) {
		t.Errorf("group = %v", got)
	}
	if got := extAdmin(t, tc, "GET", base+"/ldap/url", nil, http.StatusOK)["config"]; !reflect.DeepEqual(got, map[string]any{"url": "ldap://myldap.com:389/"}) {
		t.Errorf("option = %v", got)
	}
	extAdmin(t, tc, "HEAD", base+"/ldap/url", nil, http.StatusOK)
	out = extAdmin(t, tc, "GET", base+"/ldap/user_filter", nil, http.StatusNotFound)
	if want := "Could not find option user_filter in group ldap in domain configuration for domain " + d + "."; extMessage(out) != want {
		t.Errorf("message = %q", extMessage(out))
	}

	// PATCH the whole config merges.
	got = extAdmin(t, tc, "PATCH", base, map[string]any{"config": map[string]any{"ldap": map[string]any{"url": "ldap://other/"}}}, http.StatusOK)["config"]
	if got.(map[string]any)["ldap"].(map[string]any)["url"] != "ldap://other/" || got.(map[string]any)["identity"] == nil {
		t.Errorf("patched = %v", got)
	}

	// PATCH a group: new options may be added, numbers round-trip.
	got = extAdmin(t, tc, "PATCH", base+"/identity", map[string]any{"config": map[string]any{"identity": map[string]any{"driver": "d2", "list_limit": 42}}}, http.StatusOK)["config"]
	ident := got.(map[string]any)["identity"].(map[string]any)
	if ident["driver"] != "d2" || !jsonEqual(ident["list_limit"], 42) {
		t.Errorf("patched group = %v", got)
	}
	// PATCH an option.
	got = extAdmin(t, tc, "PATCH", base+"/identity/driver", map[string]any{"config": map[string]any{"driver": "d3"}}, http.StatusOK)["config"]
	if got.(map[string]any)["identity"].(map[string]any)["driver"] != "d3" {
		t.Errorf("patched option = %v", got)
	}

	// Update errors: other group in body, several options, option not yet set.
	extAdmin(t, tc, "PATCH", base+"/identity", map[string]any{"config": map[string]any{"ldap": map[string]any{"url": "x"}}}, http.StatusForbidden)
	extAdmin(t, tc, "PATCH", base+"/identity/driver", map[string]any{"config": map[string]any{"driver": "a", "list_limit": 1}}, http.StatusForbidden)
	extAdmin(t, tc, "PATCH", base+"/identity/driver", map[string]any{"config": map[string]any{"list_limit": 1}}, http.StatusForbidden)
	extAdmin(t, tc, "PATCH", base+"/ldap/user_filter", map[string]any{"config": map[string]any{"user_filter": "x"}}, http.StatusNotFound)

	// Delete an option, then its group.
	extAdmin(t, tc, "DELETE", base+"/identity/driver", nil, http.StatusNoContent)
	extAdmin(t, tc, "GET", base+"/identity/driver", nil, http.StatusNotFound)
	extAdmin(t, tc, "DELETE", base+"/identity/driver", nil, http.StatusNotFound)
	extAdmin(t, tc, "DELETE", base+"/identity", nil, http.StatusNoContent)
	out = extAdmin(t, tc, "GET", base+"/identity", nil, http.StatusNotFound)
	if want := "Could not find group identity in domain configuration for domain " + d + "."; extMessage(out) != want {
		t.Errorf("message = %q", extMessage(out))
	}
	extAdmin(t, tc, "DELETE", base+"/identity", nil, http.StatusNotFound)

	// Delete the whole config.
	extAdmin(t, tc, "DELETE", base, nil, http.StatusNoContent)
	extAdmin(t, tc, "GET", base, nil, http.StatusNotFound)
	extAdmin(t, tc, "PUT", base, body, http.StatusCreated)

	// The config goes with its domain.
	extAdmin(t, tc, "PATCH", "/v3/domains/"+d, map[string]any{"domain": map[string]any{"enabled": false}}, http.StatusOK)
	extAdmin(t, tc, "DELETE", "/v3/domains/"+d, nil, http.StatusNoContent)
	var n int
	if err := tc.svc.db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM domain_configs`).Scan(&n); err != nil || n != 0 {
		t.Errorf("config rows after domain delete: %d, %v", n, err)
	}
}

func TestDomainConfigValidation(t *testing.T) {
	tc := newTestCloud(t)
	d := domainFixture(t, tc, "cfgdomain")
	base := "/v3/domains/" + d + "/config"

	for name, cfg := range map[string]any{
		"empty":            map[string]any{},
		"unknown group":    map[string]any{"nova": map[string]any{"x": 1}},
		"unknown option":   map[string]any{"ldap": map[string]any{"colour": "x"}},
		"group not object": map[string]any{"ldap": "x"},
		"empty group":      map[string]any{"ldap": map[string]any{}},
	} {
		resp, out := doJSON(t, tc.handler, "PUT", base, tc.adminToken, map[string]any{"config": cfg})
		if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(extMessage(out), "Invalid domain specific configuration: ") {
			t.Errorf("%s: status %d: %v", name, resp.StatusCode, out)
		}
	}
	extAdmin(t, tc, "PUT", base, map[string]any{}, http.StatusForbidden)
	extAdmin(t, tc, "PUT", base, map[string]any{"config": "x"}, http.StatusBadRequest)
	extAdmin(t, tc, "GET", base+"/nova", nil, http.StatusForbidden)
	extAdmin(t, tc, "GET", base+"/ldap/colour", nil, http.StatusForbidden)

	// The sensitive password is stored but never shown.
	got := extAdmin(t, tc, "PUT", base, map[string]any{"config": map[string]any{"ldap": map[string]any{"url": "ldap://x", "password": "s3cret"}}}, http.StatusCreated)["config"]
	if !reflect.DeepEqual(got, map[string]any{"ldap": map[string]any{"url": "ldap://x"}}) {
		t.Errorf("created with password = %v", got)
	}
	extAdmin(t, tc, "GET", base+"/ldap/password", nil, http.StatusNotFound)
	// It counts as set for a group update and can be deleted.
	extAdmin(t, tc, "PATCH", base+"/ldap/password", map[string]any{"config": map[string]any{"password": "n3w"}}, http.StatusOK)
	extAdmin(t, tc, "DELETE", base+"/ldap/password", nil, http.StatusNoContent)

	// Unknown domain: 404; methods Keystone lacks: 405; members: 403.
	out := extAdmin(t, tc, "GET", "/v3/domains/nope/config", nil, http.StatusNotFound)
	if extMessage(out) != "Could not find domain: nope." {
		t.Errorf("message = %q", extMessage(out))
	}
	extAdmin(t, tc, "PUT", "/v3/domains/nope/config", map[string]any{"config": tempestDomainConfig()}, http.StatusNotFound)
	extAdmin(t, tc, "PATCH", "/v3/domains/nope/config/ldap", map[string]any{"config": map[string]any{"ldap": map[string]any{"url": "x"}}}, http.StatusNotFound)
	extAdmin(t, tc, "PUT", base+"/ldap", map[string]any{}, http.StatusMethodNotAllowed)
	extAdmin(t, tc, "POST", base+"/ldap/url", map[string]any{}, http.StatusMethodNotAllowed)
	extAdmin(t, tc, "POST", base, map[string]any{}, http.StatusMethodNotAllowed)
	extCall(t, tc, tc.demoToken, "PUT", base, map[string]any{"config": tempestDomainConfig()}, http.StatusForbidden)
	extCall(t, tc, tc.demoToken, "GET", base+"/ldap", nil, http.StatusForbidden)
	extCall(t, tc, tc.demoToken, "PATCH", base+"/ldap/url", map[string]any{"config": map[string]any{"url": "x"}}, http.StatusForbidden)
	extCall(t, tc, tc.demoToken, "DELETE", base+"/ldap", nil, http.StatusForbidden)
}

func TestDomainConfigDefaults(t *testing.T) {
	tc := newTestCloud(t)
	all := extAdmin(t, tc, "GET", "/v3/domains/config/default", nil, http.StatusOK)["config"].(map[string]any)
	ident := all["identity"].(map[string]any)
	if ident["driver"] != "sql" || ident["list_limit"] != nil || len(ident) != 2 {
		t.Errorf("identity defaults = %v", ident)
	}
	ldap := all["ldap"].(map[string]any)
	if ldap["url"] != "ldap://localhost" || !jsonEqual(ldap["pool_size"], 10) || len(ldap) != len(domainConfigWhitelist["ldap"]) {
		t.Errorf("ldap defaults = %v", ldap)
	}
	if _, ok := ldap["password"]; ok {
		t.Errorf("defaults show the sensitive password")
	}
	if got := extAdmin(t, tc, "GET", "/v3/domains/config/ldap/default", nil, http.StatusOK)["config"]; !reflect.DeepEqual(got, map[string]any{"ldap": ldap}) {
		t.Errorf("ldap group default = %v", got)
	}
	for _, opt := range domainConfigWhitelist["ldap"] {
		got := extAdmin(t, tc, "GET", "/v3/domains/config/ldap/"+opt+"/default", nil, http.StatusOK)["config"].(map[string]any)
		if _, ok := got[opt]; !ok || len(got) != 1 {
			t.Errorf("default of %s = %v", opt, got)
		}
	}
	extAdmin(t, tc, "GET", "/v3/domains/config/identity/list_limit/default", nil, http.StatusOK)
	extAdmin(t, tc, "GET", "/v3/domains/config/ldap/password/default", nil, http.StatusForbidden)
	extAdmin(t, tc, "GET", "/v3/domains/config/nova/default", nil, http.StatusForbidden)
	extAdmin(t, tc, "GET", "/v3/domains/config/ldap/colour/default", nil, http.StatusForbidden)
	extAdmin(t, tc, "PATCH", "/v3/domains/config/ldap/default", map[string]any{}, http.StatusMethodNotAllowed)
	extCall(t, tc, tc.demoToken, "GET", "/v3/domains/config/default", nil, http.StatusForbidden)
	extCall(t, tc, tc.demoToken, "GET", "/v3/domains/config/ldap/url/default", nil, http.StatusForbidden)
}

func TestDomainConfigSecurityCompliance(t *testing.T) {
	tc := newTestCloud(t)
	tc.svc.cfg.Security.PasswordRegex = `^.{8,}$`
	// Any user may read the default domain's password rules.
	got := extCall(t, tc, tc.demoToken, "GET", "/v3/domains/default/config/security_compliance", nil, http.StatusOK)["config"]
	want := map[string]any{"security_compliance": map[string]any{"password_regex": `^.{8,}$`, "password_regex_description": nil}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("security compliance = %v", got)
	}
	got = extCall(t, tc, tc.demoToken, "GET", "/v3/domains/default/config/security_compliance/password_regex", nil, http.StatusOK)["config"]
	if !reflect.DeepEqual(got, map[string]any{"password_regex": `^.{8,}$`}) {
		t.Errorf("password_regex = %v", got)
	}
	extCall(t, tc, tc.demoToken, "GET", "/v3/domains/default/config/security_compliance/lockout_duration", nil, http.StatusForbidden)
	d := domainFixture(t, tc, "other")
	extAdmin(t, tc, "GET", "/v3/domains/"+d+"/config/security_compliance", nil, http.StatusForbidden)
	extAdmin(t, tc, "PATCH", "/v3/domains/default/config/security_compliance", map[string]any{"config": map[string]any{"security_compliance": map[string]any{"password_regex": "x"}}}, http.StatusForbidden)
}

// TestDomainConfigRoutesCoexist checks that the wildcard routes that carry the config paths
// leave the other /v3/domains routes alone and answer unknown paths with 404.
func TestDomainConfigRoutesCoexist(t *testing.T) {
	tc := newTestCloud(t)
	adminID := lookupID(t, tc.svc, "users", "admin")
	extAdmin(t, tc, "GET", "/v3/domains/default/users/"+adminID+"/roles", nil, http.StatusOK)
	extAdmin(t, tc, "GET", "/v3/domains/default", nil, http.StatusOK)
	extAdmin(t, tc, "GET", "/v3/domains/default/foo/bar", nil, http.StatusNotFound)
	extAdmin(t, tc, "POST", "/v3/domains/default/foo/bar", map[string]any{}, http.StatusNotFound)
	extAdmin(t, tc, "GET", "/v3/domains/default/foo/bar/baz", nil, http.StatusNotFound)
	// /v3/domains/config/config/default is the default of group "config", which is not
	// a supported group.
	extAdmin(t, tc, "GET", "/v3/domains/config/config/default", nil, http.StatusForbidden)
}

func TestParseDomainConfigPath(t *testing.T) {
	for _, tt := range []struct {
		segs []string
		want domainConfigPath
		ok   bool
	}{
		{[]string{"d1", "config", "ldap"}, domainConfigPath{DomainID: "d1", Group: "ldap"}, true},
		{[]string{"d1", "config", "ldap", "url"}, domainConfigPath{DomainID: "d1", Group: "ldap", Option: "url"}, true},
		{[]string{"config", "ldap", "default"}, domainConfigPath{Default: true, Group: "ldap"}, true},
		{[]string{"config", "ldap", "url", "default"}, domainConfigPath{Default: true, Group: "ldap", Option: "url"}, true},
		{[]string{"config", "config", "default"}, domainConfigPath{Default: true, Group: "config"}, true},
		{[]string{"config", "config", "ldap"}, domainConfigPath{DomainID: "config", Group: "ldap"}, true},
		{[]string{"d1", "users", "u1"}, domainConfigPath{}, false},
		{[]string{"d1", "users", "u1", "roles"}, domainConfigPath{}, false},
	} {
		got, ok := parseDomainConfigPath(tt.segs)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseDomainConfigPath(%v) = %+v, %v; want %+v, %v", tt.segs, got, ok, tt.want, tt.ok)
		}
	}
}
