package policy

import (
	"math"
	"testing"
)

// eval evaluates one rule text, registered as rule "r", with extra rules.
func eval(t *testing.T, rule string, creds Credentials, target Target, extra map[string]string) bool {
	t.Helper()
	rules := map[string]string{"r": rule}
	for k, v := range extra {
		rules[k] = v
	}
	e := New(nil, nil)
	if err := e.RegisterDefaults(rules); err != nil {
		t.Fatalf("RegisterDefaults: %v", err)
	}
	return e.Enforce("r", creds, target)
}

// dict returns credentials whose PolicyValues carry m, for tests mirroring oslo's, which
// pass arbitrary credential dictionaries.
func dict(m map[string]any) Credentials { return Credentials{Extra: m} }

// projectScopedToken is the part of oslo.policy's PROJECT_SCOPED_TOKEN_FIXTURE that its
// generic check tests read. It is under "fixture", not "token": Credentials build the
// token themselves.
var projectScopedToken = map[string]any{
	"fixture": map[string]any{
		"catalog": []any{
			map[string]any{"endpoints": []any{
				map[string]any{"id": "3b5e554bcf114f2483e8a1be7a0506d1", "interface": "admin"},
				map[string]any{"id": "54abd2dc463c4ba4a72915498f8ecad1", "interface": "public"},
			}},
			map[string]any{"endpoints": []any{
				map[string]any{"id": "1a5faf9d6a264ca49e6a8a7a3e2c58e9", "interface": "public"},
			}},
		},
		"roles": []any{
			map[string]any{"id": "f03fda8f8a3249b2a70fb1f176a7b631", "name": "role1"},
			map[string]any{"id": "f03fda8f8a3249b2a70fb1f176a7b632", "name": "role2"},
		},
	},
}

// TestChecks mirrors oslo.policy's RoleCheckTestCase and GenericCheckTestCase.
func TestChecks(t *testing.T) {
	tests := []struct {
		name   string
		rule   string
		creds  Credentials
		target Target
		want   bool
	}{
		{"role accept", "role:sPaM", Credentials{Roles: []string{"SpAm"}}, nil, true},
		{"role reject", "role:spam", Credentials{Roles: []string{}}, nil, false},
		{"role no roles", "role:spam", Credentials{}, nil, false},
		{"role format value", "role:%(target.role.name)s", Credentials{Roles: []string{"a", "b", "c"}},
			Target{"target.role.name": "a"}, true},
		{"role format value mismatch", "role:%(target.role.name)s", Credentials{Roles: []string{"a", "b", "c"}},
			Target{"target.role.name": "d"}, false},
		{"role format missing key", "role:%(target.role.name)s", Credentials{Roles: []string{"a"}},
			Target{"target": map[string]any{"role": map[string]any{}}}, false},
		{"role format value case", "role:%(r)s", Credentials{Roles: []string{"ADMIN"}}, Target{"r": "Admin"}, true},

		{"generic no cred", "name:%(name)s", dict(nil), Target{"name": "spam"}, false},
		{"generic cred mismatch", "name:%(name)s", dict(map[string]any{"name": "ham"}), Target{"name": "spam"}, false},
		{"generic accept", "name:%(name)s", dict(map[string]any{"name": "spam"}), Target{"name": "spam"}, true},
		{"generic no key in target", "name:%(name)s", dict(map[string]any{"name": "spam"}), Target{"name1": "spam"}, false},
		{"constant string mismatch", "'spam':%(name)s", dict(nil), Target{"name": "ham"}, false},
		{"constant string accept", "'spam':%(name)s", dict(nil), Target{"name": "spam"}, true},
		{"constant literal mismatch", "True:%(enabled)s", dict(nil), Target{"enabled": false}, false},
		{"constant literal accept", "True:%(enabled)s", dict(nil), Target{"enabled": true}, true},
		{"None literal accept", "None:%(domain_id)s", dict(nil), Target{"domain_id": nil}, true},
		{"None literal nil *string", "None:%(domain_id)s", dict(nil), Target{"domain_id": (*string)(nil)}, true},
		{"None literal mismatch", "None:%(domain_id)s", dict(nil), Target{"domain_id": "d1"}, false},
		{"int literal", "1:%(n)s", dict(nil), Target{"n": 1}, true},
		{"int literal vs bool", "1:%(n)s", dict(nil), Target{"n": true}, false},
		{"deep lookup", "a.b.c.d:APPLES",
			dict(map[string]any{"a": map[string]any{"b": map[string]any{"c": map[string]any{"d": "APPLES"}}}}), nil, true},
		{"lookup valid", "o.t:ORANGES", dict(map[string]any{"a": "APPLES", "o": map[string]any{"t": "ORANGES"}}), nil, true},
		{"lookup final key missing", "o.v:ORANGES", dict(map[string]any{"a": "APPLES", "o": map[string]any{"t": "ORANGES"}}), nil, false},
		{"lookup under missing map", "q.v:APPLES", dict(map[string]any{"a": "APPLES", "o": map[string]any{"t": "ORANGES"}}), nil, false},
		{"lookup through string", "a.b:APPLES", dict(map[string]any{"a": "APPLES"}), nil, false},
		{"single entry in list", "a.b.c.d:APPLES",
			dict(map[string]any{"a": map[string]any{"b": map[string]any{"c": map[string]any{"d": []any{"APPLES"}}}}}), nil, true},
		{"multiple entries in list", "a.b.c.d:APPLES",
			dict(map[string]any{"a": map[string]any{"b": map[string]any{"c": map[string]any{"d": []string{"Bananas", "APPLES", "Grapes"}}}}}), nil, true},
		{"nested list", "a.b.c.d:APPLES",
			dict(map[string]any{"a": map[string]any{"b": []any{
				map[string]any{"c": map[string]any{"d": []any{"BANANAS", "APPLES", "GRAPES"}}}, map[string]any{},
			}}}), nil, true},
		{"multiple nested lists", "a.b.c.d:APPLES",
			dict(map[string]any{"a": map[string]any{"b": []any{
				map[string]any{"a": ""},
				map[string]any{"c": map[string]any{"d": []any{"BANANAS", "APPLES", "GRAPES"}}},
				map[string]any{},
			}}}), nil, true},
		{"entry not in list", "a.b.c.d:APPLES",
			dict(map[string]any{"a": map[string]any{"b": map[string]any{"c": map[string]any{"d": []any{"PEACHES", "PEARS"}}}}}), nil, false},
		{"multiple entries one matches", "fixture.catalog.endpoints.id:1a5faf9d6a264ca49e6a8a7a3e2c58e9",
			dict(projectScopedToken), nil, true},
		{"generic role check", "fixture.roles.name:role1", dict(projectScopedToken), nil, true},
		{"generic missing role", "fixture.roles.name:missing", dict(projectScopedToken), nil, false},
		{"Extra cannot replace token", "token.catalog:x", dict(map[string]any{"token": map[string]any{"catalog": "x"}}), nil, false},
		{"list element rendered", "a:1", dict(map[string]any{"a": []any{1, 2}}), nil, true},
		{"bool leaf rendered", "a:True", dict(map[string]any{"a": true}), nil, true},
		{"None leaf rendered", "a:None", dict(map[string]any{"a": nil}), nil, true},

		{"always", "@", Credentials{}, nil, true},
		{"never", "!", Credentials{}, nil, false},
		{"empty", "", Credentials{}, nil, true},
		{"not", "not role:a", Credentials{Roles: []string{"a"}}, nil, false},
		{"not not", "not not role:a", Credentials{Roles: []string{"a"}}, nil, true},
		{"precedence or/and", "role:a or role:b and role:c", Credentials{Roles: []string{"a"}}, nil, true},
		{"precedence and/or", "role:b and role:c or role:a", Credentials{Roles: []string{"a"}}, nil, true},
		{"parentheses", "(role:a or role:b) and role:c", Credentials{Roles: []string{"a"}}, nil, false},
		{"not binds tightest", "not role:a and role:b", Credentials{Roles: []string{"b"}}, nil, true},
		{"not of group", "not (role:a and role:b)", Credentials{Roles: []string{"a", "b"}}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := eval(t, tt.rule, tt.creds, tt.target, nil); got != tt.want {
				t.Errorf("%s with %+v on %v = %v, want %v", tt.rule, tt.creds, tt.target, got, tt.want)
			}
		})
	}
}

// keystoneDefaults is a part of Keystone's default policy, used by tests and benchmarks.
var keystoneDefaults = map[string]string{
	"admin_required":    "role:admin or is_admin:1",
	"service_role":      "role:service",
	"service_or_admin":  "rule:admin_required or rule:service_role",
	"owner":             "user_id:%(user_id)s",
	"admin_or_owner":    "rule:admin_required or rule:owner",
	"token_subject":     "user_id:%(target.token.user_id)s",
	"identity:get_user": "(rule:admin_required) or (role:reader and system_scope:all) or (role:reader and token.domain.id:%(target.user.domain_id)s) or user_id:%(target.user.id)s",
	"identity:get_project": "(rule:admin_required) or (role:reader and system_scope:all) or " +
		"(role:reader and domain_id:%(target.project.domain_id)s and not None:%(target.project.domain_id)s) or " +
		"project_id:%(target.project.id)s",
	"identity:list_grants": "(rule:admin_required) or (role:reader and system_scope:all) or " +
		"(role:reader and domain_id:%(target.domain.id)s) or (role:manager and not domain_id:None)",
	"identity:get_domain": "(rule:admin_required) or (role:reader and system_scope:all) or " +
		"token.project.domain.id:%(target.domain.id)s or token.domain.id:%(target.domain.id)s",
	"identity:check_grant": "rule:admin_required or 'manager':%(target.role.name)s or 'member':%(target.role.name)s",
}

var (
	systemAdmin  = Credentials{UserID: "u-admin", UserDomainID: "default", System: "all", Roles: []string{"admin", "member", "reader"}}
	systemReader = Credentials{UserID: "u-sr", UserDomainID: "default", System: "all", Roles: []string{"reader"}}
	domainReader = Credentials{UserID: "u-dr", UserDomainID: "d1", DomainID: "d1", Roles: []string{"reader"}}
	domainMgr    = Credentials{UserID: "u-dm", UserDomainID: "d1", DomainID: "d1", Roles: []string{"manager", "member", "reader"}}
	projMember   = Credentials{UserID: "u-pm", UserDomainID: "d1", ProjectID: "p1", ProjectDomainID: "d1", Roles: []string{"member", "reader"}}
	otherMember  = Credentials{UserID: "u-om", UserDomainID: "d2", ProjectID: "p2", ProjectDomainID: "d2", Roles: []string{"member", "reader"}}
)

func TestKeystoneRules(t *testing.T) {
	e := New(keystoneDefaults, nil)
	userTarget := func(id, domain string) Target {
		return Target{"target.user.id": id, "target.user.domain_id": domain}
	}
	projTarget := func(id string, domain any) Target {
		return Target{"target.project.id": id, "target.project.domain_id": domain}
	}
	tests := []struct {
		rule   string
		creds  Credentials
		target Target
		want   bool
	}{
		{"identity:get_user", systemAdmin, userTarget("x", "d9"), true},
		{"identity:get_user", systemReader, userTarget("x", "d9"), true},
		{"identity:get_user", domainReader, userTarget("x", "d1"), true},
		{"identity:get_user", domainReader, userTarget("x", "d2"), false},
		{"identity:get_user", projMember, userTarget("u-pm", "d1"), true},
		{"identity:get_user", projMember, userTarget("u-other", "d1"), false},
		{"identity:get_user", projMember, Target{}, false},
		{"identity:get_project", projMember, projTarget("p1", "d1"), true},
		{"identity:get_project", otherMember, projTarget("p1", "d1"), false},
		{"identity:get_project", domainReader, projTarget("p1", "d1"), true},
		// A domain reader has domain_id d1; a project without a domain (None) is not theirs.
		{"identity:get_project", domainReader, projTarget("p1", nil), false},
		{"identity:list_grants", domainMgr, Target{"target.domain.id": "d9"}, true},
		{"identity:list_grants", projMember, Target{"target.domain.id": "d9"}, false},
		{"identity:get_domain", projMember, Target{"target.domain.id": "d1"}, true},
		{"identity:get_domain", domainReader, Target{"target.domain.id": "d1"}, true},
		{"identity:get_domain", otherMember, Target{"target.domain.id": "d1"}, false},
		{"identity:check_grant", projMember, Target{"target.role.name": "member"}, true},
		{"identity:check_grant", projMember, Target{"target.role.name": "admin"}, false},
		{"admin_or_owner", projMember, Target{"user_id": "u-pm"}, true},
		{"admin_or_owner", projMember, Target{"user_id": "u-x"}, false},
		// is_admin:1 never matches a boolean, as in oslo (str(True) is "True").
		{"admin_required", Credentials{IsAdmin: true}, nil, false},
		{"unknown_rule", systemAdmin, nil, false},
	}
	for _, tt := range tests {
		if got := e.Enforce(tt.rule, tt.creds, tt.target); got != tt.want {
			t.Errorf("%s for %s on %v = %v, want %v", tt.rule, tt.creds.UserID, tt.target, got, tt.want)
		}
	}
}

func TestCredentialChecks(t *testing.T) {
	tests := []struct {
		rule  string
		creds Credentials
		want  bool
	}{
		{"system_scope:all", systemReader, true},
		{"system_scope:all", projMember, false},
		{"system:all", systemReader, true},
		{"system:all", projMember, false},
		{"system_scope:None", projMember, true},
		{"domain_id:None", projMember, true},
		{"not domain_id:None", domainReader, true},
		{"project_id:None", domainReader, true},
		{"token.system.all:True", systemReader, true},
		{"token.system.all:True", projMember, false},
		{"token.domain.id:d1", domainReader, true},
		{"token.domain.id:None", projMember, false},
		{"token.project.id:p1", projMember, true},
		{"token.project.domain.id:d1", projMember, true},
		{"token.project.domain.id:d1", domainReader, false},
		{"token.user.id:u-pm", projMember, true},
		{"token.user.domain.id:d1", projMember, true},
		{"token.roles.name:member", projMember, true},
		{"token.roles.name:admin", projMember, false},
		{"roles:member", projMember, true},
		{"is_admin:True", Credentials{IsAdmin: true}, true},
		{"is_admin:False", Credentials{}, true},
		{"is_admin:1", Credentials{IsAdmin: true}, false},
		{"is_admin:1", Credentials{Extra: map[string]any{"is_admin": 1}}, false}, // fields win over Extra
		{"is_admin_project:True", Credentials{Extra: map[string]any{"is_admin_project": true}}, true},
		{"user_id:spoof", Credentials{UserID: "real", Extra: map[string]any{"user_id": "spoof"}}, false},
	}
	for _, tt := range tests {
		if got := eval(t, tt.rule, tt.creds, nil, nil); got != tt.want {
			t.Errorf("%s for %+v = %v, want %v", tt.rule, tt.creds, got, tt.want)
		}
	}
}

// TestFieldsMatchPolicyValues proves that the checks read straight from Credentials fields
// give the same answers as the lookup in PolicyValues they stand for.
func TestFieldsMatchPolicyValues(t *testing.T) {
	paths := []string{
		"user_id", "user_domain_id", "project_id", "project_domain_id", "domain_id",
		"system_scope", "is_admin", "token.user.id", "token.user.domain.id",
		"token.project.id", "token.project.domain.id", "token.domain.id",
	}
	creds := []Credentials{
		{}, systemAdmin, systemReader, domainReader, projMember,
		{UserID: "u", ProjectID: "p"}, {IsAdmin: true},
	}
	matches := []string{"None", "True", "False", "", "all", "u", "p", "d1", "p1", "u-pm", "u-dr", "default"}
	for _, p := range paths {
		f := credFieldFor(p)
		if f == fieldNone {
			t.Fatalf("no field for %s", p)
		}
		path := splitPath(p)
		for _, c := range creds {
			values := c.PolicyValues()
			for _, m := range matches {
				if got, want := c.matchField(f, m), findIn(values, path, m); got != want {
					t.Errorf("%s:%s for %+v = %v, PolicyValues gives %v", p, m, c, got, want)
				}
			}
		}
	}
}

func splitPath(p string) []string {
	r, _ := Parse(p + ":x")
	return r.root.chk.path
}

func TestPolicyValues(t *testing.T) {
	v := projMember.PolicyValues()
	token := v["token"].(map[string]any)
	project := token["project"].(map[string]any)
	if project["id"] != "p1" || project["domain"].(map[string]any)["id"] != "d1" {
		t.Errorf("token.project = %v", project)
	}
	if _, ok := token["domain"]; ok {
		t.Errorf("project-scoped token has a domain: %v", token)
	}
	if v["domain_id"] != nil || v["system_scope"] != nil {
		t.Errorf("domain_id, system_scope = %v, %v; want None", v["domain_id"], v["system_scope"])
	}
	if _, ok := v["system"]; ok {
		t.Error("system set without system scope")
	}
	roles := v["roles"].([]string)
	roles[0] = "changed"
	if projMember.Roles[0] != "member" {
		t.Error("PolicyValues shares the Roles slice")
	}
}

func TestPyStr(t *testing.T) {
	s := "x"
	tests := []struct {
		v    any
		want string
	}{
		{"a", "a"},
		{nil, "None"},
		{(*string)(nil), "None"},
		{&s, "x"},
		{true, "True"},
		{false, "False"},
		{42, "42"},
		{int64(-7), "-7"},
		{uint8(7), "7"},
		{1.0, "1.0"},
		{1.5, "1.5"},
		{0.1, "0.1"},
		{1e16, "1e+16"},
		{1e15, "1000000000000000.0"},
		{1.5e-5, "1.5e-05"},
		{0.0001, "0.0001"},
		{math.Inf(-1), "-inf"},
		{[]string{"a", "it's"}, `['a', "it's"]`},
		{[]any{"a", 1, nil, true}, "['a', 1, None, True]"},
		{map[string]any{"b": 1, "a": "x"}, "{'a': 'x', 'b': 1}"},
		{[]string{"tab\there", `back\slash`}, `['tab\there', 'back\\slash']`},
	}
	for _, tt := range tests {
		if got := pyStr(tt.v); got != tt.want {
			t.Errorf("pyStr(%#v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestRoleEqual(t *testing.T) {
	tests := []struct {
		role, lower string
		want        bool
	}{
		{"admin", "admin", true},
		{"Admin", "admin", true},
		{"ADMIN", "admin", true},
		{"admins", "admin", false},
		{"ÄDMIN", "ädmin", true},
		{"Ädmin", "admin", false},
	}
	for _, tt := range tests {
		if got := roleEqual(tt.role, tt.lower); got != tt.want {
			t.Errorf("roleEqual(%q, %q) = %v", tt.role, tt.lower, got)
		}
	}
}
