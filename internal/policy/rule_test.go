package policy

import (
	"strings"
	"testing"
)

// TestParseCanonical mirrors oslo.policy's ParseTextRuleTestCase: the canonical form of
// each rule is what oslo's str() gives for the parsed rule.
func TestParseCanonical(t *testing.T) {
	tests := []struct {
		rules []string
		want  string
	}{
		{[]string{""}, "@"},
		{[]string{"@"}, "@"},
		{[]string{"!"}, "!"},
		{[]string{"role:admin", "(role:admin)", "((role:admin))", " ( ( role:admin ) ) "}, "role:admin"},
		{[]string{"@ or ! or @"}, "(@ or ! or @)"},
		{[]string{"@ or ! and @"}, "(@ or (! and @))"},
		{[]string{"@ and ! or @"}, "((@ and !) or @)"},
		{[]string{"@ and ! and @"}, "(@ and ! and @)"},
		{[]string{"@ or ! or @ or !"}, "(@ or ! or @ or !)"},
		{[]string{"@ or ! or @ and !"}, "(@ or ! or (@ and !))"},
		{[]string{"@ or ! and @ or !"}, "(@ or (! and @) or !)"},
		{[]string{"@ or ! and @ and !"}, "(@ or (! and @ and !))"},
		{[]string{"@ and ! or @ or !"}, "((@ and !) or @ or !)"},
		{[]string{"@ and ! or @ and !"}, "((@ and !) or (@ and !))"},
		{[]string{"@ and ! and @ or !"}, "((@ and ! and @) or !)"},
		{[]string{"@ and ! and @ and !"}, "(@ and ! and @ and !)"},
		{[]string{"not @ and ! or @"}, "((not @ and !) or @)"},
		{[]string{"@ and not ! or @"}, "((@ and not !) or @)"},
		{[]string{"@ and ! or not @"}, "((@ and !) or not @)"},
		{[]string{
			"( @ ) and ! or @", "@ and ( ! ) or @", "@ and ! or ( @ )", "( @ ) and ! or ( @ )",
			"@ and ( ! ) or ( @ )", "( @ ) and ( ! ) or ( @ )", "( @ and ! ) or @",
			"( ( @ ) and ! ) or @", "( @ and ( ! ) ) or @", "( ( @ and ! ) ) or @", "( @ and ! or @ )",
		}, "((@ and !) or @)"},
		{[]string{"@ and ( ! or @ )"}, "(@ and (! or @))"},
		{[]string{
			"not ( @ ) and ! or @", "not @ and ( ! ) or @", "not @ and ! or ( @ )",
			"( not @ ) and ! or @", "( not @ and ! ) or @", "( not @ and ! or @ )",
		}, "((not @ and !) or @)"},
		{[]string{"not @ and ( ! or @ )"}, "(not @ and (! or @))"},
		{[]string{"not ( @ and ! or @ )"}, "not ((@ and !) or @)"},
		{[]string{
			"( @ ) and not ! or @", "@ and ( not ! ) or @", "@ and not ( ! ) or @",
			"@ and not ! or ( @ )", "( @ and not ! ) or @", "( @ and not ! or @ )",
		}, "((@ and not !) or @)"},
		{[]string{"@ and ( not ! or @ )"}, "(@ and (not ! or @))"},
		{[]string{"@ and not ( ! or @ )"}, "(@ and not (! or @))"},
		{[]string{
			"( @ ) and ! or not @", "@ and ( ! ) or not @", "@ and ! or not ( @ )",
			"@ and ! or ( not @ )", "( @ and ! ) or not @", "( @ and ! or not @ )",
		}, "((@ and !) or not @)"},
		{[]string{"@ and ( ! or not @ )"}, "(@ and (! or not @))"},
		// Operators are case-insensitive; parentheses stick to checks.
		{[]string{"role:a AND role:b Or NOT role:c", "(role:a and role:b) or (not role:c)"},
			"((role:a and role:b) or not role:c)"},
		{[]string{"not not role:a"}, "not not role:a"},
		// oslo extends an "and" group taken from a parenthesised operand of "or".
		{[]string{"role:a or (role:b and role:c) and role:d"}, "(role:a or (role:b and role:c and role:d))"},
		{[]string{"(role:a or role:b) and role:c"}, "((role:a or role:b) and role:c)"},
		{[]string{"(role:a and role:b) and role:c"}, "((role:a and role:b) and role:c)"},
		// Checks keep their text as written.
		{[]string{"project_id:%(project_id)s"}, "project_id:%(project_id)s"},
		{[]string{"'member':%(target.role.name)s"}, "'member':%(target.role.name)s"},
		{[]string{"rule:identity:get_user"}, "rule:identity:get_user"},
		{[]string{"role:Admin"}, "role:Admin"},
		{[]string{"is_admin:1 or is_admin:True"}, "(is_admin:1 or is_admin:True)"},
		// A check quoted from end to end is parenthesised so that it reads back as a check.
		{[]string{"('a':b')", "( 'a':b')"}, "('a':b')"},
		{[]string{"role:x and ('a':b')"}, "(role:x and ('a':b'))"},
		{[]string{"not ('a':b')"}, "not ('a':b')"},
		// Keystone's real rules.
		{[]string{"(role:admin or is_admin:1) or (role:reader and system_scope:all) or " +
			"(role:reader and token.domain.id:%(target.user.domain_id)s) or user_id:%(target.user.id)s"},
			"((role:admin or is_admin:1) or (role:reader and system_scope:all) or " +
				"(role:reader and token.domain.id:%(target.user.domain_id)s) or user_id:%(target.user.id)s)"},
	}
	for _, tt := range tests {
		for _, text := range tt.rules {
			r, err := Parse(text)
			if err != nil {
				t.Errorf("Parse(%q): %v", text, err)
				continue
			}
			if got := r.String(); got != tt.want {
				t.Errorf("Parse(%q).String() = %q, want %q", text, got, tt.want)
			}
			r2, err := Parse(r.String())
			if err != nil || r2.String() != tt.want {
				t.Errorf("Parse(%q) of canonical form = %v, %v", r.String(), r2, err)
			}
		}
	}
}

// TestTokenize mirrors oslo.policy's test_tokenize, without its quoted strings, which
// make a rule fail to parse here.
func TestTokenize(t *testing.T) {
	var got []tokKind
	var checks []string
	err := tokenize("(( ( ((() And)) or ) (rule:context_is_admin) not)) ", func(tk token) {
		got = append(got, tk.kind)
		if tk.kind == tokCheck {
			checks = append(checks, tk.n.chk.kind+":"+tk.n.chk.match)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []tokKind{
		tokLParen, tokLParen, tokLParen, tokLParen, tokLParen, tokLParen, tokRParen,
		tokAnd, tokRParen, tokRParen, tokOr, tokRParen, tokLParen, tokCheck, tokRParen,
		tokNot, tokRParen, tokRParen,
	}
	if len(got) != len(want) {
		t.Fatalf("tokens = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("tokens = %v, want %v", got, want)
		}
	}
	if len(checks) != 1 || checks[0] != "rule:context_is_admin" {
		t.Errorf("checks = %v", checks)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		rule string
		want string // a fragment of the error
	}{
		{"foobar", "has no kind"},
		{"role:admin or foobar", "has no kind"},
		{" ", "no checks"},
		{"and", "misplaced"},
		{"not", "misplaced"},
		{"role:a or", "misplaced"},
		{"role:a and and role:b", "misplaced"},
		{"role:a role:b", "misplaced"},
		{"not role:a role:b", "misplaced"},
		{"(role:a", "unbalanced"},
		{"role:a)", "unbalanced"},
		{"()", "misplaced"},
		{"'a-string'", "quoted string"},
		{"'a':b'", "quoted string"},
		{`role:a or "b"`, "quoted string"},
		{"http://example.com/check", "not supported"},
		{"https:%(x)s", "not supported"},
		{"role:%s", "only %(name)s"},
		{"role:%(name)d", "only %(name)s"},
		{"project_id:100%", "only %(name)s"},
		{"project_id:%(unclosed", "only %(name)s"},
		{":x", "empty left side"},
		{"1.5:x", "numeric literal"},
		{"007:x", "numeric literal"},
		{"1abc:x", "numeric literal"},
		{`'a:x`, "string literal"},
		{`'a\'b':x`, "string literal"},
		{"a..b:x", "neither a literal nor a dotted name"},
		{"a$b:x", "neither a literal nor a dotted name"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.rule)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error = %v, want one containing %q", tt.rule, err, tt.want)
		}
	}
}

func TestParseLeftSide(t *testing.T) {
	tests := []struct {
		kind    string
		literal string // "" with path set means a lookup
		path    string
	}{
		{"True", "True", ""},
		{"False", "False", ""},
		{"None", "None", ""},
		{"'member'", "member", ""},
		{`"member"`, "member", ""},
		{`'it"s'`, `it"s`, ""},
		{"1", "1", ""},
		{"-0", "0", ""},
		{"+42", "42", ""},
		{"000", "0", ""},
		{"true", "", "true"},
		{"is_admin", "", "is_admin"},
		{"token.project.domain.id", "", "token.project.domain.id"},
		{"OS-TRUST", "", "OS-TRUST"},
	}
	for _, tt := range tests {
		r, err := Parse(tt.kind + ":x")
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.kind, err)
			continue
		}
		c := r.root.chk
		switch {
		case tt.path == "" && (!c.isLiteral || c.literal != tt.literal):
			t.Errorf("%s: literal = %q (%v), want %q", tt.kind, c.literal, c.isLiteral, tt.literal)
		case tt.path != "" && (c.isLiteral || strings.Join(c.path, ".") != tt.path):
			t.Errorf("%s: path = %q (literal %v), want %q", tt.kind, c.path, c.isLiteral, tt.path)
		}
	}
}

func TestTemplate(t *testing.T) {
	target := Target{"a": "A", "b.c": 1, "n": nil, "x(y)": "paren"}
	tests := []struct {
		tmpl string
		want string
		ok   bool
	}{
		{"plain", "plain", true},
		{"%(a)s", "A", true},
		{"%(b.c)s", "1", true},
		{"%(n)s", "None", true},
		{"pre-%(a)s-%(b.c)s-post", "pre-A-1-post", true},
		{"100%%", "100%", true},
		{"%%(a)s", "%(a)s", true},
		{"%(x(y))s", "paren", true},
		{"%(missing)s", "", false},
		{"%(a)s%(missing)s", "", false},
	}
	for _, tt := range tests {
		tm, err := parseTemplate(tt.tmpl)
		if err != nil {
			t.Errorf("parseTemplate(%q): %v", tt.tmpl, err)
			continue
		}
		got, ok := tm.expand(target)
		if got != tt.want || ok != tt.ok {
			t.Errorf("expand(%q) = %q, %v; want %q, %v", tt.tmpl, got, ok, tt.want, tt.ok)
		}
	}
}
