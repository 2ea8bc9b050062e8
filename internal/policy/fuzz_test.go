package policy

import "testing"

// FuzzParse checks that Parse never panics, that the canonical form of a parsed rule
// parses to the same canonical form, and that evaluating the rule does not panic.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"",
		"@",
		"!",
		"role:admin",
		"rule:admin_required or rule:owner",
		"role:admin or (role:reader and system_scope:all) or user_id:%(target.user.id)s",
		"not (role:a and role:b) or not role:c",
		"@ or ! and @ and !",
		"role:a or (role:b and role:c) and role:d",
		"(( ( role:a ) ) and (not role:b))",
		"'member':%(target.role.name)s or None:%(target.project.domain_id)s",
		"('a':b')",
		"True:%(enabled)s and 1:%(n)s and -0:x",
		"token.project.domain.id:%(target.domain.id)s",
		"a.b.c:%(x)s-%(y)s%%",
		"http:foo",
		"role:%(a(b))s",
		"AND Or nOt",
		"role:a\u3000or\u001crole:b",
	} {
		f.Add(seed)
	}
	creds := []Credentials{
		{},
		projMember,
		{System: "all", Roles: []string{"Admin"}, IsAdmin: true, Extra: map[string]any{
			"a": map[string]any{"b": []any{map[string]any{"c": "x"}}},
		}},
	}
	target := Target{"target.user.id": "u-pm", "x": "x", "y": nil, "enabled": true, "n": 1}
	f.Fuzz(func(t *testing.T, text string) {
		r, err := Parse(text)
		if err != nil {
			return
		}
		canon := r.String()
		r2, err := Parse(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, text, err)
		}
		if got := r2.String(); got != canon {
			t.Fatalf("canonical form of %q is %q, which reparses as %q", text, canon, got)
		}
		e := New(nil, nil)
		if err := e.RegisterDefaults(map[string]string{"r": text, "s": canon, "a": "role:x"}); err != nil {
			// Only a rule referencing itself (rule:r) can fail here.
			return
		}
		for _, c := range creds {
			if e.Enforce("r", c, target) != e.Enforce("s", c, target) {
				t.Fatalf("%q and its canonical form %q disagree for %+v", text, canon, c)
			}
		}
	})
}
