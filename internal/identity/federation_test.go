package identity

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// fedCall sends a request and fails the test unless the status is want.
func fedCall(t *testing.T, tc *testCloud, token, method, path string, body any, want int) map[string]any {
	t.Helper()
	resp, out := doJSON(t, tc.handler, method, path, token, body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %v", method, path, resp.StatusCode, want, out)
	}
	return out
}

// fedMessage returns the message of an error body.
func fedMessage(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// gopherMapping is the mapping of gophercloud's federation acceptance test.
func gopherMapping(anyOf bool) map[string]any {
	remote := map[string]any{"type": "orgPersonType", "not_any_of": []any{"Contractor", "Guest"}}
	if anyOf {
		remote = map[string]any{"type": "orgPersonType", "any_one_of": []any{"Contractor", "SubContractor"}}
	}
	return map[string]any{"rules": []any{map[string]any{
		"local":  []any{map[string]any{"user": map[string]any{"name": "{0}"}}, map[string]any{"group": map[string]any{"id": "0cd5e9"}}},
		"remote": []any{map[string]any{"type": "UserName"}, remote},
	}}}
}

const mappingsPath = "/v3/OS-FEDERATION/mappings"

func TestFederationMappingCRUD(t *testing.T) {
	tc := newTestCloud(t)
	path := mappingsPath + "/acme-mapping"
	created := fedCall(t, tc, tc.adminToken, "PUT", path, map[string]any{"mapping": gopherMapping(false)}, http.StatusCreated)["mapping"].(map[string]any)
	if created["id"] != "acme-mapping" || created["schema_version"] != "1.0" {
		t.Errorf("created %v", created)
	}
	if !reflect.DeepEqual(created["rules"], gopherMapping(false)["rules"]) {
		t.Errorf("rules %v, want them as given", created["rules"])
	}
	if self := created["links"].(map[string]any)["self"]; !strings.HasSuffix(self.(string), "/v3/OS-FEDERATION/mappings/acme-mapping") {
		t.Errorf("self link %v", self)
	}
	got := fedCall(t, tc, tc.adminToken, "GET", path, nil, http.StatusOK)["mapping"].(map[string]any)
	if !reflect.DeepEqual(got["rules"], created["rules"]) {
		t.Errorf("get rules %v", got["rules"])
	}
	list := fedCall(t, tc, tc.adminToken, "GET", mappingsPath, nil, http.StatusOK)
	if items := list["mappings"].([]any); len(items) != 1 {
		t.Errorf("list %v", items)
	}
	if _, ok := list["links"].(map[string]any); !ok {
		t.Error("list without links")
	}
	out := fedCall(t, tc, tc.adminToken, "PUT", path, map[string]any{"mapping": gopherMapping(false)}, http.StatusConflict)
	if !strings.Contains(fedMessage(out), "Duplicate entry") {
		t.Errorf("conflict message %q", fedMessage(out))
	}

	// An update replaces the rules; without a schema_version it resets to the default.
	v2 := gopherMapping(true)
	v2["schema_version"] = "2.0"
	updated := fedCall(t, tc, tc.adminToken, "PATCH", path, map[string]any{"mapping": v2}, http.StatusOK)["mapping"].(map[string]any)
	if updated["schema_version"] != "2.0" || !reflect.DeepEqual(updated["rules"], v2["rules"]) {
		t.Errorf("updated %v", updated)
	}
	updated = fedCall(t, tc, tc.adminToken, "PATCH", path, map[string]any{"mapping": gopherMapping(true)}, http.StatusOK)["mapping"].(map[string]any)
	if updated["schema_version"] != "1.0" {
		t.Errorf("schema_version %v after an update without one, want 1.0", updated["schema_version"])
	}
	fedCall(t, tc, tc.adminToken, "PATCH", mappingsPath+"/nope", map[string]any{"mapping": gopherMapping(true)}, http.StatusNotFound)
	fedCall(t, tc, tc.adminToken, "PATCH", mappingsPath+"/nope", map[string]any{"mapping": map[string]any{}}, http.StatusBadRequest)

	// Readers and members may not manage mappings.
	fedCall(t, tc, tc.demoToken, "GET", mappingsPath, nil, http.StatusForbidden)
	fedCall(t, tc, tc.demoToken, "PUT", mappingsPath+"/x", map[string]any{"mapping": gopherMapping(false)}, http.StatusForbidden)

	fedCall(t, tc, tc.adminToken, "DELETE", path, nil, http.StatusNoContent)
	out = fedCall(t, tc, tc.adminToken, "GET", path, nil, http.StatusNotFound)
	if fedMessage(out) != "Could not find mapping: acme-mapping." {
		t.Errorf("404 message %q", fedMessage(out))
	}
	fedCall(t, tc, tc.adminToken, "DELETE", path, nil, http.StatusNotFound)
}

func TestFederationMappingValidation(t *testing.T) {
	tc := newTestCloud(t)
	rule := func(local, remote any) map[string]any {
		return map[string]any{"rules": []any{map[string]any{"local": local, "remote": remote}}}
	}
	user := []any{map[string]any{"user": map[string]any{"name": "{0}"}}}
	typ := []any{map[string]any{"type": "UserName"}}
	// Keystone's keystone/tests/unit/mapping_fixtures.py, and a few more.
	bad := map[string]any{
		"empty":                 map[string]any{},
		"no rules":              map[string]any{"rules": []any{}},
		"rules not list":        map[string]any{"rules": map[string]any{}},
		"bad requirement":       rule([]any{map[string]any{"user": "name"}}, []any{map[string]any{"type": "UserName", "bad_requirement": []any{"Young"}}}),
		"bad value":             rule(user, []any{map[string]any{"type": "UserName", "any_one_of": "should_be_list"}}),
		"no remote":             rule(user, []any{}),
		"missing local":         map[string]any{"rules": []any{map[string]any{"remote": typ}}},
		"wrong type":            rule(user, []any{map[string]any{"not_type": "UserName"}}),
		"missing type":          rule(user, []any{map[string]any{}}),
		"extra remote not_any":  rule(user, []any{map[string]any{"type": "x", "not_any_of": []any{"a"}, "invalid_type": "xyz"}}),
		"extra remote just typ": rule(user, []any{map[string]any{"type": "x", "invalid_type": "xyz"}}),
		"extra rule property":   map[string]any{"rules": []any{map[string]any{"local": user, "remote": typ, "invalid_type": map[string]any{"id": "xyz"}}}},
		"white and black list":  rule([]any{map[string]any{"groups": "{0}"}}, []any{map[string]any{"type": "x", "blacklist": []any{"a"}, "whitelist": []any{"b"}}}),
		"bad user type":         rule([]any{map[string]any{"user": map[string]any{"name": "{0}", "type": "robot"}}}, typ),
		"projects without role": rule([]any{map[string]any{"projects": []any{map[string]any{"name": "a"}}}}, typ),
		"group by id and name":  rule([]any{map[string]any{"group": map[string]any{"id": "x", "name": "y", "domain": map[string]any{"id": "d"}}}}, typ),
		"group name no domain":  rule([]any{map[string]any{"group": map[string]any{"name": "y"}}}, typ),
		"unknown local":         rule([]any{map[string]any{"role": "x"}}, typ),
		"regex not bool":        rule(user, []any{map[string]any{"type": "x", "any_one_of": []any{"a"}, "regex": "yes"}}),
		"regex without list":    rule(user, []any{map[string]any{"type": "x", "regex": true}}),
		"unknown version":       map[string]any{"rules": []any{map[string]any{"local": user, "remote": typ}}, "schema_version": "9.0"},
		"version not string":    map[string]any{"rules": []any{map[string]any{"local": user, "remote": typ}}, "schema_version": 2},
		"project domain in 1.0": rule([]any{map[string]any{"projects": []any{map[string]any{"name": "a", "roles": []any{map[string]any{"name": "r"}}, "domain": map[string]any{"id": "d"}}}}}, typ),
		"projects_json in 2.0": map[string]any{"schema_version": "2.0",
			"rules": []any{map[string]any{"local": []any{map[string]any{"projects_json": "{0}"}}, "remote": typ}}},
	}
	for name, m := range bad {
		t.Run(name, func(t *testing.T) {
			out := fedCall(t, tc, tc.adminToken, "PUT", mappingsPath+"/m", map[string]any{"mapping": m}, http.StatusBadRequest)
			if fedMessage(out) == "" {
				t.Error("no message")
			}
		})
	}
	fedCall(t, tc, tc.adminToken, "PUT", mappingsPath+"/m", map[string]any{"mapping": "x"}, http.StatusBadRequest)
	fedCall(t, tc, tc.adminToken, "PUT", mappingsPath+"/m", []any{}, http.StatusBadRequest)
	fedCall(t, tc, tc.adminToken, "PUT", mappingsPath+"/"+strings.Repeat("m", 65), map[string]any{"mapping": gopherMapping(false)}, http.StatusBadRequest)

	good := map[string]map[string]any{
		"local user and domain": rule([]any{map[string]any{"user": map[string]any{"name": "{0}", "type": "local", "domain": map[string]any{"name": "Default"}}}}, typ),
		"ephemeral with groups": rule([]any{map[string]any{"user": map[string]any{"name": "{0}", "type": "ephemeral"}}, map[string]any{"groups": "{1}", "domain": map[string]any{"id": "d"}}},
			[]any{map[string]any{"type": "UserName"}, map[string]any{"type": "Groups", "whitelist": []any{"a"}, "regex": false}}),
		"projects with roles": rule([]any{map[string]any{"user": map[string]any{"name": "{0}"}, "projects": []any{
			map[string]any{"name": "p", "roles": []any{map[string]any{"name": "member"}}}}}}, typ),
		"group by name": rule([]any{map[string]any{"group": map[string]any{"name": "g", "domain": map[string]any{"name": "Default"}}}}, typ),
		"version 2.0 project domain": map[string]any{"schema_version": "2.0", "rules": []any{map[string]any{"remote": typ,
			"local": []any{map[string]any{"projects": []any{map[string]any{"name": "a", "roles": []any{}, "domain": map[string]any{"id": "d"}}}}}}}},
		"version 3.0 projects_json": map[string]any{"schema_version": "3.0",
			"rules": []any{map[string]any{"local": []any{map[string]any{"projects_json": "{0}"}}, "remote": typ}}},
		"empty local list":    rule([]any{}, typ),
		"extra top-level key": map[string]any{"rules": []any{map[string]any{"local": user, "remote": typ}}, "name": "ignored"},
	}
	for name, m := range good {
		t.Run(name, func(t *testing.T) {
			out := fedCall(t, tc, tc.adminToken, "PUT", mappingsPath+"/"+strings.ReplaceAll(name, " ", "-"), map[string]any{"mapping": m}, http.StatusCreated)
			if !reflect.DeepEqual(out["mapping"].(map[string]any)["rules"], m["rules"]) {
				t.Errorf("rules %v", out["mapping"])
			}
		})
	}
}

const idpsPath = "/v3/OS-FEDERATION/identity_providers"

func TestFederationIdentityProviders(t *testing.T) {
	tc := newTestCloud(t)
	countDomains := func() int {
		return len(fedCall(t, tc, tc.adminToken, "GET", "/v3/domains", nil, http.StatusOK)["domains"].([]any))
	}
	domains := countDomains()

	// Without a domain, one is created for the identity provider; it starts disabled.
	idp := fedCall(t, tc, tc.adminToken, "PUT", idpsPath+"/acme", nil, http.StatusCreated)["identity_provider"].(map[string]any)
	if idp["enabled"] != false || idp["description"] != nil || idp["authorization_ttl"] != nil {
		t.Errorf("defaults %v", idp)
	}
	if ids := idp["remote_ids"].([]any); len(ids) != 0 {
		t.Errorf("remote_ids %v", ids)
	}
	links := idp["links"].(map[string]any)
	if !strings.HasSuffix(links["self"].(string), idpsPath+"/acme") || links["protocols"] != links["self"].(string)+"/protocols" {
		t.Errorf("links %v", links)
	}
	domainID := idp["domain_id"].(string)
	d := fedCall(t, tc, tc.adminToken, "GET", "/v3/domains/"+domainID, nil, http.StatusOK)["domain"].(map[string]any)
	if d["description"] != "Auto generated federated domain for Identity Provider: acme" || d["name"] != domainID {
		t.Errorf("auto domain %v", d)
	}
	if countDomains() != domains+1 {
		t.Error("no domain created")
	}

	// A duplicate id is a conflict that leaves no new domain behind.
	out := fedCall(t, tc, tc.adminToken, "PUT", idpsPath+"/acme", map[string]any{"identity_provider": map[string]any{}}, http.StatusConflict)
	if !strings.Contains(fedMessage(out), "Duplicate entry") {
		t.Errorf("message %q", fedMessage(out))
	}
	if countDomains() != domains+1 {
		t.Error("conflicting create left a domain behind")
	}

	// Given a domain, it must exist; several providers may share it.
	fedCall(t, tc, tc.adminToken, "PUT", idpsPath+"/ghost", map[string]any{"identity_provider": map[string]any{"domain_id": "nowhere"}}, http.StatusNotFound)
	body := map[string]any{"identity_provider": map[string]any{"domain_id": domainID, "enabled": true, "description": "Beta",
		"remote_ids": []any{"https://idp.example.com/z", "https://idp.example.com/a"}, "authorization_ttl": 10080}}
	beta := fedCall(t, tc, tc.adminToken, "PUT", idpsPath+"/beta", body, http.StatusCreated)["identity_provider"].(map[string]any)
	if beta["domain_id"] != domainID || beta["enabled"] != true || beta["description"] != "Beta" || beta["authorization_ttl"] != float64(10080) {
		t.Errorf("beta %v", beta)
	}
	if !reflect.DeepEqual(beta["remote_ids"], []any{"https://idp.example.com/a", "https://idp.example.com/z"}) {
		t.Errorf("remote_ids %v", beta["remote_ids"])
	}

	// Remote ids are unique across providers.
	out = fedCall(t, tc, tc.adminToken, "PUT", idpsPath+"/gamma", map[string]any{"identity_provider": map[string]any{"remote_ids": []any{"https://idp.example.com/a"}}}, http.StatusConflict)
	if !strings.Contains(fedMessage(out), "Duplicate remote ID") {
		t.Errorf("message %q", fedMessage(out))
	}
	out = fedCall(t, tc, tc.adminToken, "PATCH", idpsPath+"/acme", map[string]any{"identity_provider": map[string]any{"remote_ids": []any{"https://idp.example.com/z"}}}, http.StatusConflict)
	if !strings.Contains(fedMessage(out), "Duplicate remote ID") {
		t.Errorf("message %q", fedMessage(out))
	}

	for name, b := range map[string]any{
		"unknown attribute": map[string]any{"identity_provider": map[string]any{"name": "x"}},
		"top-level extra":   map[string]any{"identity_provider": map[string]any{}, "x": 1},
		"enabled not bool":  map[string]any{"identity_provider": map[string]any{"enabled": "maybe"}},
		"enabled null":      map[string]any{"identity_provider": map[string]any{"enabled": nil}},
		"negative ttl":      map[string]any{"identity_provider": map[string]any{"authorization_ttl": -1}},
		"ttl not integer":   map[string]any{"identity_provider": map[string]any{"authorization_ttl": "1"}},
		"repeated remote":   map[string]any{"identity_provider": map[string]any{"remote_ids": []any{"a", "a"}}},
		"long remote":       map[string]any{"identity_provider": map[string]any{"remote_ids": []any{strings.Repeat("r", 65)}}},
		"bad domain id":     map[string]any{"identity_provider": map[string]any{"domain_id": "a b"}},
	} {
		if resp, out := doJSON(t, tc.handler, "PUT", idpsPath+"/bad", tc.adminToken, b); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d: %v", name, resp.StatusCode, out)
		}
	}
	// Keystone's boolean strings are accepted.
	if p := fedCall(t, tc, tc.adminToken, "PUT", idpsPath+"/delta", map[string]any{"identity_provider": map[string]any{"enabled": "yes", "remote_ids": nil}}, http.StatusCreated)["identity_provider"].(map[string]any); p["enabled"] != true {
		t.Errorf("enabled %v", p["enabled"])
	}

	// Updates: mutable attributes change, the domain does not.
	fedCall(t, tc, tc.adminToken, "PATCH", idpsPath+"/acme", map[string]any{"identity_provider": map[string]any{"domain_id": "default"}}, http.StatusBadRequest)
	fedCall(t, tc, tc.adminToken, "PATCH", idpsPath+"/acme", map[string]any{"identity_provider": map[string]any{}}, http.StatusBadRequest)
	fedCall(t, tc, tc.adminToken, "PATCH", idpsPath+"/acme", map[string]any{}, http.StatusBadRequest)
	fedCall(t, tc, tc.adminToken, "PATCH", idpsPath+"/nope", map[string]any{"identity_provider": map[string]any{"enabled": true}}, http.StatusNotFound)
	up := fedCall(t, tc, tc.adminToken, "PATCH", idpsPath+"/acme", map[string]any{"identity_provider": map[string]any{
		"enabled": true, "description": "Acme", "remote_ids": []any{"r2", "r1"}, "authorization_ttl": 5}}, http.StatusOK)["identity_provider"].(map[string]any)
	if up["enabled"] != true || up["description"] != "Acme" || !reflect.DeepEqual(up["remote_ids"], []any{"r1", "r2"}) || up["authorization_ttl"] != float64(5) {
		t.Errorf("updated %v", up)
	}
	up = fedCall(t, tc, tc.adminToken, "PATCH", idpsPath+"/acme", map[string]any{"identity_provider": map[string]any{"authorization_ttl": nil, "remote_ids": []any{}}}, http.StatusOK)["identity_provider"].(map[string]any)
	if up["authorization_ttl"] != nil || len(up["remote_ids"].([]any)) != 0 || up["description"] != "Acme" {
		t.Errorf("updated %v", up)
	}
	got := fedCall(t, tc, tc.adminToken, "GET", idpsPath+"/acme", nil, http.StatusOK)["identity_provider"].(map[string]any)
	if !reflect.DeepEqual(got, up) {
		t.Errorf("get %v, want %v", got, up)
	}
	// The released remote id is free again.
	fedCall(t, tc, tc.adminToken, "PATCH", idpsPath+"/delta", map[string]any{"identity_provider": map[string]any{"remote_ids": []any{"r1"}}}, http.StatusOK)

	// Lists filter by id and enabled.
	ids := func(q string) []string {
		var out []string
		for _, p := range fedCall(t, tc, tc.adminToken, "GET", idpsPath+q, nil, http.StatusOK)["identity_providers"].([]any) {
			out = append(out, p.(map[string]any)["id"].(string))
		}
		return out
	}
	if got := ids(""); !reflect.DeepEqual(got, []string{"acme", "beta", "delta"}) {
		t.Errorf("list %v", got)
	}
	if got := ids("?id=beta"); !reflect.DeepEqual(got, []string{"beta"}) {
		t.Errorf("id filter %v", got)
	}
	fedCall(t, tc, tc.adminToken, "PATCH", idpsPath+"/beta", map[string]any{"identity_provider": map[string]any{"enabled": false}}, http.StatusOK)
	if got := ids("?enabled=False"); !reflect.DeepEqual(got, []string{"beta"}) {
		t.Errorf("enabled filter %v", got)
	}
	if got := ids("?enabled=true"); !reflect.DeepEqual(got, []string{"acme", "delta"}) {
		t.Errorf("enabled filter %v", got)
	}
	fedCall(t, tc, tc.adminToken, "GET", idpsPath+"?enabled=perhaps", nil, http.StatusBadRequest)
	fedCall(t, tc, tc.demoToken, "GET", idpsPath, nil, http.StatusForbidden)
	fedCall(t, tc, tc.demoToken, "PATCH", idpsPath+"/acme", map[string]any{"identity_provider": map[string]any{"enabled": true}}, http.StatusForbidden)

	// Deleting a provider keeps its domain; deleting the domain removes its providers.
	fedCall(t, tc, tc.adminToken, "DELETE", idpsPath+"/acme", nil, http.StatusNoContent)
	out = fedCall(t, tc, tc.adminToken, "GET", idpsPath+"/acme", nil, http.StatusNotFound)
	if fedMessage(out) != "Could not find Identity Provider: acme." {
		t.Errorf("404 message %q", fedMessage(out))
	}
	fedCall(t, tc, tc.adminToken, "DELETE", idpsPath+"/acme", nil, http.StatusNotFound)
	fedCall(t, tc, tc.adminToken, "GET", "/v3/domains/"+domainID, nil, http.StatusOK)
	fedCall(t, tc, tc.adminToken, "PATCH", "/v3/domains/"+domainID, map[string]any{"domain": map[string]any{"enabled": false}}, http.StatusOK)
	fedCall(t, tc, tc.adminToken, "DELETE", "/v3/domains/"+domainID, nil, http.StatusNoContent)
	fedCall(t, tc, tc.adminToken, "GET", idpsPath+"/beta", nil, http.StatusNotFound)
	// Its remote ids went with it.
	fedCall(t, tc, tc.adminToken, "PUT", idpsPath+"/epsilon", map[string]any{"identity_provider": map[string]any{"remote_ids": []any{"https://idp.example.com/a"}}}, http.StatusCreated)
}

func TestFederationProtocols(t *testing.T) {
	tc := newTestCloud(t)
	fedCall(t, tc, tc.adminToken, "PUT", mappingsPath+"/m1", map[string]any{"mapping": gopherMapping(false)}, http.StatusCreated)
	fedCall(t, tc, tc.adminToken, "PUT", mappingsPath+"/m2", map[string]any{"mapping": gopherMapping(true)}, http.StatusCreated)
	fedCall(t, tc, tc.adminToken, "PUT", idpsPath+"/acme", nil, http.StatusCreated)
	fedCall(t, tc, tc.adminToken, "PUT", idpsPath+"/beta", nil, http.StatusCreated)
	protocols := idpsPath + "/acme/protocols"

	// The mapping must exist (400) before the provider is looked for (404).
	out := fedCall(t, tc, tc.adminToken, "PUT", idpsPath+"/ghost/protocols/saml2", map[string]any{"protocol": map[string]any{"mapping_id": "nope"}}, http.StatusBadRequest)
	if fedMessage(out) != "Invalid mapping id: nope" {
		t.Errorf("message %q", fedMessage(out))
	}
	out = fedCall(t, tc, tc.adminToken, "PUT", idpsPath+"/ghost/protocols/saml2", map[string]any{"protocol": map[string]any{"mapping_id": "m1"}}, http.StatusNotFound)
	if fedMessage(out) != "Could not find Identity Provider: ghost." {
		t.Errorf("message %q", fedMessage(out))
	}

	p := fedCall(t, tc, tc.adminToken, "PUT", protocols+"/saml2", map[string]any{"protocol": map[string]any{"mapping_id": "m1", "remote_id_attribute": "Shib-Identity-Provider"}}, http.StatusCreated)["protocol"].(map[string]any)
	if p["id"] != "saml2" || p["mapping_id"] != "m1" {
		t.Errorf("protocol %v", p)
	}
	if _, ok := p["remote_id_attribute"]; ok {
		t.Errorf("single protocol shows remote_id_attribute: %v", p)
	}
	links := p["links"].(map[string]any)
	if !strings.HasSuffix(links["self"].(string), protocols+"/saml2") || !strings.HasSuffix(links["identity_provider"].(string), idpsPath+"/acme") {
		t.Errorf("links %v", links)
	}
	// The same protocol id may serve another provider, but not twice the same.
	fedCall(t, tc, tc.adminToken, "PUT", idpsPath+"/beta/protocols/saml2", map[string]any{"protocol": map[string]any{"mapping_id": "m1"}}, http.StatusCreated)
	out = fedCall(t, tc, tc.adminToken, "PUT", protocols+"/saml2", map[string]any{"protocol": map[string]any{"mapping_id": "m1"}}, http.StatusConflict)
	if !strings.Contains(fedMessage(out), "Duplicate entry") {
		t.Errorf("message %q", fedMessage(out))
	}
	fedCall(t, tc, tc.adminToken, "PUT", protocols+"/openid", map[string]any{"protocol": map[string]any{"mapping_id": "m2"}}, http.StatusCreated)

	for name, b := range map[string]any{
		"no protocol":      map[string]any{},
		"no mapping":       map[string]any{"protocol": map[string]any{}},
		"extra":            map[string]any{"protocol": map[string]any{"mapping_id": "m1", "idp_id": "x"}},
		"top extra":        map[string]any{"protocol": map[string]any{"mapping_id": "m1"}, "x": 1},
		"empty mapping id": map[string]any{"protocol": map[string]any{"mapping_id": ""}},
		"long attribute":   map[string]any{"protocol": map[string]any{"mapping_id": "m1", "remote_id_attribute": strings.Repeat("a", 65)}},
	} {
		if resp, out := doJSON(t, tc.handler, "PUT", protocols+"/x", tc.adminToken, b); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d: %v", name, resp.StatusCode, out)
		}
	}

	// Lists show idp_id and remote_id_attribute; an unknown provider has none.
	list := fedCall(t, tc, tc.adminToken, "GET", protocols, nil, http.StatusOK)["protocols"].([]any)
	if len(list) != 2 {
		t.Fatalf("list %v", list)
	}
	openid, saml := list[0].(map[string]any), list[1].(map[string]any)
	if openid["id"] != "openid" || openid["idp_id"] != "acme" || openid["remote_id_attribute"] != nil {
		t.Errorf("openid %v", openid)
	}
	if saml["remote_id_attribute"] != "Shib-Identity-Provider" || saml["mapping_id"] != "m1" {
		t.Errorf("saml2 %v", saml)
	}
	if l := fedCall(t, tc, tc.adminToken, "GET", idpsPath+"/ghost/protocols", nil, http.StatusOK)["protocols"].([]any); len(l) != 0 {
		t.Errorf("ghost protocols %v", l)
	}

	// Updates need a known mapping; remote_id_attribute may change but not to null.
	fedCall(t, tc, tc.adminToken, "PATCH", protocols+"/saml2", map[string]any{"protocol": map[string]any{"remote_id_attribute": "x"}}, http.StatusBadRequest)
	fedCall(t, tc, tc.adminToken, "PATCH", protocols+"/saml2", map[string]any{"protocol": map[string]any{"mapping_id": "m2", "remote_id_attribute": nil}}, http.StatusBadRequest)
	fedCall(t, tc, tc.adminToken, "PATCH", protocols+"/saml2", map[string]any{"protocol": map[string]any{"mapping_id": "nope"}}, http.StatusBadRequest)
	out = fedCall(t, tc, tc.adminToken, "PATCH", protocols+"/nope", map[string]any{"protocol": map[string]any{"mapping_id": "m2"}}, http.StatusNotFound)
	if fedMessage(out) != "Could not find federated protocol nope for Identity Provider: acme." {
		t.Errorf("message %q", fedMessage(out))
	}
	up := fedCall(t, tc, tc.adminToken, "PATCH", protocols+"/saml2", map[string]any{"protocol": map[string]any{"mapping_id": "m2"}}, http.StatusOK)["protocol"].(map[string]any)
	if up["mapping_id"] != "m2" {
		t.Errorf("updated %v", up)
	}
	got := fedCall(t, tc, tc.adminToken, "GET", protocols+"/saml2", nil, http.StatusOK)["protocol"].(map[string]any)
	if got["mapping_id"] != "m2" {
		t.Errorf("get %v", got)
	}
	list = fedCall(t, tc, tc.adminToken, "GET", protocols, nil, http.StatusOK)["protocols"].([]any)
	if attr := list[1].(map[string]any)["remote_id_attribute"]; attr != "Shib-Identity-Provider" {
		t.Errorf("remote_id_attribute %v after a mapping-only update", attr)
	}
	// A mapping in use may be deleted, as in Keystone.
	fedCall(t, tc, tc.adminToken, "DELETE", mappingsPath+"/m2", nil, http.StatusNoContent)

	fedCall(t, tc, tc.demoToken, "GET", protocols, nil, http.StatusForbidden)
	fedCall(t, tc, tc.adminToken, "DELETE", protocols+"/openid", nil, http.StatusNoContent)
	fedCall(t, tc, tc.adminToken, "GET", protocols+"/openid", nil, http.StatusNotFound)
	fedCall(t, tc, tc.adminToken, "DELETE", protocols+"/openid", nil, http.StatusNotFound)
	fedCall(t, tc, tc.adminToken, "DELETE", protocols, nil, http.StatusMethodNotAllowed)

	// Deleting the provider deletes its protocols.
	fedCall(t, tc, tc.adminToken, "DELETE", idpsPath+"/acme", nil, http.StatusNoContent)
	if l := fedCall(t, tc, tc.adminToken, "GET", protocols, nil, http.StatusOK)["protocols"].([]any); len(l) != 0 {
		t.Errorf("protocols of a deleted provider: %v", l)
	}
	fedCall(t, tc, tc.adminToken, "PUT", idpsPath+"/acme", nil, http.StatusCreated)
	fedCall(t, tc, tc.adminToken, "PUT", protocols+"/saml2", map[string]any{"protocol": map[string]any{"mapping_id": "m1"}}, http.StatusCreated)
}

const spsPath = "/v3/OS-FEDERATION/service_providers"

func TestFederationServiceProviders(t *testing.T) {
	tc := newTestCloud(t)
	body := map[string]any{"service_provider": map[string]any{
		"auth_url": "https://sp.example.com/v3/OS-FEDERATION/identity_providers/acme/protocols/saml2/auth",
		"sp_url":   "https://sp.example.com/Shibboleth.sso/SAML2/ECP"}}
	sp := fedCall(t, tc, tc.adminToken, "PUT", spsPath+"/sp1", body, http.StatusCreated)["service_provider"].(map[string]any)
	if sp["enabled"] != false || sp["relay_state_prefix"] != "ss:mem:" || sp["description"] != nil || sp["id"] != "sp1" {
		t.Errorf("defaults %v", sp)
	}
	if !strings.HasSuffix(sp["links"].(map[string]any)["self"].(string), spsPath+"/sp1") {
		t.Errorf("links %v", sp["links"])
	}
	out := fedCall(t, tc, tc.adminToken, "PUT", spsPath+"/sp1", body, http.StatusConflict)
	if !strings.Contains(fedMessage(out), "Duplicate entry") {
		t.Errorf("message %q", fedMessage(out))
	}
	for name, b := range map[string]any{
		"no body":        nil,
		"no sp_url":      map[string]any{"service_provider": map[string]any{"auth_url": "https://a"}},
		"bad url":        map[string]any{"service_provider": map[string]any{"auth_url": "not a url", "sp_url": "https://b"}},
		"long url":       map[string]any{"service_provider": map[string]any{"auth_url": "https://" + strings.Repeat("a", 220), "sp_url": "https://b"}},
		"unknown":        map[string]any{"service_provider": map[string]any{"auth_url": "https://a", "sp_url": "https://b", "name": "x"}},
		"enabled string": map[string]any{"service_provider": map[string]any{"auth_url": "https://a", "sp_url": "https://b", "enabled": "sure"}},
	} {
		if resp, out := doJSON(t, tc.handler, "PUT", spsPath+"/bad", tc.adminToken, b); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d: %v", name, resp.StatusCode, out)
		}
	}
	sp2 := fedCall(t, tc, tc.adminToken, "PUT", spsPath+"/sp2", map[string]any{"service_provider": map[string]any{
		"auth_url": "http://b/auth", "sp_url": "http://b/sp", "enabled": true, "description": "B", "relay_state_prefix": "ss:b:"}}, http.StatusCreated)["service_provider"].(map[string]any)
	if sp2["enabled"] != true || sp2["description"] != "B" || sp2["relay_state_prefix"] != "ss:b:" {
		t.Errorf("sp2 %v", sp2)
	}

	up := fedCall(t, tc, tc.adminToken, "PATCH", spsPath+"/sp1", map[string]any{"service_provider": map[string]any{"enabled": true, "sp_url": "https://sp.example.com/new"}}, http.StatusOK)["service_provider"].(map[string]any)
	if up["enabled"] != true || up["sp_url"] != "https://sp.example.com/new" || up["auth_url"] != sp["auth_url"] {
		t.Errorf("updated %v", up)
	}
	fedCall(t, tc, tc.adminToken, "PATCH", spsPath+"/sp1", map[string]any{"service_provider": map[string]any{}}, http.StatusBadRequest)
	fedCall(t, tc, tc.adminToken, "PATCH", spsPath+"/sp1", map[string]any{"service_provider": map[string]any{"id": "x"}}, http.StatusBadRequest)
	fedCall(t, tc, tc.adminToken, "PATCH", spsPath+"/nope", map[string]any{"service_provider": map[string]any{"enabled": true}}, http.StatusNotFound)
	got := fedCall(t, tc, tc.adminToken, "GET", spsPath+"/sp1", nil, http.StatusOK)["service_provider"].(map[string]any)
	if !reflect.DeepEqual(got, up) {
		t.Errorf("get %v, want %v", got, up)
	}

	fedCall(t, tc, tc.adminToken, "PATCH", spsPath+"/sp2", map[string]any{"service_provider": map[string]any{"enabled": false}}, http.StatusOK)
	if l := fedCall(t, tc, tc.adminToken, "GET", spsPath+"?enabled=false", nil, http.StatusOK)["service_providers"].([]any); len(l) != 1 || l[0].(map[string]any)["id"] != "sp2" {
		t.Errorf("enabled filter %v", l)
	}
	if l := fedCall(t, tc, tc.adminToken, "GET", spsPath, nil, http.StatusOK)["service_providers"].([]any); len(l) != 2 {
		t.Errorf("list %v", l)
	}
	sps, err := tc.svc.enabledServiceProviders(t.Context(), tc.svc.db)
	if err != nil || len(sps) != 1 || sps[0].(map[string]any)["id"] != "sp1" {
		t.Errorf("enabled service providers %v %v", sps, err)
	}
	fedCall(t, tc, tc.demoToken, "GET", spsPath, nil, http.StatusForbidden)
	fedCall(t, tc, tc.adminToken, "DELETE", spsPath+"/sp1", nil, http.StatusNoContent)
	out = fedCall(t, tc, tc.adminToken, "GET", spsPath+"/sp1", nil, http.StatusNotFound)
	if fedMessage(out) != "Could not find Service Provider: sp1." {
		t.Errorf("message %q", fedMessage(out))
	}
	fedCall(t, tc, tc.adminToken, "DELETE", spsPath+"/sp1", nil, http.StatusNotFound)
}
