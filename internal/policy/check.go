package policy

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// check is a leaf of a rule: rule:name, role:name or a generic left:right check.
type check struct {
	kind  string // the text before the first colon, as written
	match string // the text after it, as written

	tmpl template // the right side, for role and generic checks

	// Generic checks compare the expanded right side with either a literal or the
	// credential value at path.
	literal   string
	isLiteral bool
	path      []string
	field     credField // a Credentials field that path names directly, if any
}

// parseCheck parses one check token, as oslo.policy's _parse_check does.
func parseCheck(text string) (*node, error) {
	switch text {
	case "!":
		return &node{op: opFalse}, nil
	case "@":
		return &node{op: opTrue}, nil
	}
	kind, match, ok := strings.Cut(text, ":")
	if !ok {
		return nil, fmt.Errorf("check %q has no kind (expected kind:match, @ or !)", text)
	}
	c := &check{kind: kind, match: match}
	switch kind {
	case "rule":
		return &node{op: opRule, chk: c}, nil
	case "http", "https":
		return nil, fmt.Errorf("check %q: %s checks are not supported", text, kind)
	}
	tmpl, err := parseTemplate(match)
	if err != nil {
		return nil, fmt.Errorf("check %q: %w", text, err)
	}
	c.tmpl = tmpl
	if kind == "role" {
		if tmpl.isConst {
			tmpl.lit = pyLower(tmpl.lit)
			c.tmpl = tmpl
		}
		return &node{op: opRole, chk: c}, nil
	}
	if err := c.parseLeft(); err != nil {
		return nil, fmt.Errorf("check %q: %w", text, err)
	}
	return &node{op: opGeneric, chk: c}, nil
}

// parseLeft classifies a generic check's left side the way oslo's ast.literal_eval call
// does: True, False, None, integers and quoted strings are literals compared as Python's
// str() renders them, and a dotted name is a path into the credentials. Left sides on
// which literal_eval would raise SyntaxError (making oslo fail at enforcement time) are
// rejected, as are literals this package does not evaluate (floats, escapes, ...).
func (c *check) parseLeft() error {
	k := c.kind
	switch k {
	case "True", "False", "None":
		c.literal, c.isLiteral = k, true
		return nil
	case "":
		return errors.New("empty left side")
	}
	if k[0] == '\'' || k[0] == '"' {
		q := k[0]
		inner := ""
		if len(k) >= 2 && k[len(k)-1] == q {
			inner = k[1 : len(k)-1]
		}
		if len(k) < 2 || k[len(k)-1] != q || strings.IndexByte(inner, q) >= 0 || strings.IndexByte(inner, '\\') >= 0 {
			return fmt.Errorf("unsupported string literal %s", k)
		}
		c.literal, c.isLiteral = inner, true
		return nil
	}
	digits := strings.TrimLeft(k, "+-")
	if len(k)-len(digits) <= 1 && digits != "" && '0' <= digits[0] && digits[0] <= '9' {
		v, ok := pyInt(digits)
		if !ok {
			return fmt.Errorf("unsupported numeric literal %s", k)
		}
		if k[0] == '-' && v != "0" {
			v = "-" + v
		}
		c.literal, c.isLiteral = v, true
		return nil
	}
	path := strings.Split(k, ".")
	for _, seg := range path {
		if seg == "" || strings.IndexFunc(seg, func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '-'
		}) >= 0 {
			return fmt.Errorf("left side %q is neither a literal nor a dotted name", k)
		}
	}
	c.path = path
	c.field = credFieldFor(k)
	return nil
}

// pyInt returns str(int(digits)) for a Python decimal integer literal: either all zeros
// or digits without a leading zero.
func pyInt(digits string) (string, bool) {
	for i := range len(digits) {
		if digits[i] < '0' || digits[i] > '9' {
			return "", false
		}
	}
	if trimmed := strings.TrimLeft(digits, "0"); trimmed == "" {
		return "0", true
	} else if len(trimmed) != len(digits) {
		return "", false
	}
	return digits, true
}

// template is the right side of a role or generic check: text in which "%(key)s" is
// replaced by the target's value for key, as Python's "%" operator does with a dict.
type template struct {
	isConst bool   // no substitutions: lit is the whole text
	lit     string // the text, when isConst
	keyOnly bool   // the whole text is one "%(key)s"
	key     string
	parts   []tmplPart
}

type tmplPart struct {
	text  string
	isKey bool
}

// parseTemplate parses the right side of a check. Only "%(key)s" and "%%" are accepted:
// any other use of "%" would make Python raise or format the whole target.
func parseTemplate(s string) (template, error) {
	if strings.IndexByte(s, '%') < 0 {
		return template{isConst: true, lit: s}, nil
	}
	var parts []tmplPart
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			lit.WriteByte('%')
			i++
			continue
		}
		if i+1 >= len(s) || s[i+1] != '(' {
			return template{}, fmt.Errorf("unsupported substitution in %q: only %%(name)s is allowed", s)
		}
		// Python finds the key's closing parenthesis by counting nested ones.
		depth, end := 1, -1
		for j := i + 2; j < len(s) && end < 0; j++ {
			switch s[j] {
			case '(':
				depth++
			case ')':
				if depth--; depth == 0 {
					end = j
				}
			}
		}
		if end < 0 || end+1 >= len(s) || s[end+1] != 's' {
			return template{}, fmt.Errorf("unsupported substitution in %q: only %%(name)s is allowed", s)
		}
		if lit.Len() > 0 {
			parts = append(parts, tmplPart{text: lit.String()})
			lit.Reset()
		}
		parts = append(parts, tmplPart{text: s[i+2 : end], isKey: true})
		i = end + 1
	}
	if lit.Len() > 0 {
		parts = append(parts, tmplPart{text: lit.String()})
	}
	t := template{parts: parts}
	switch {
	case len(parts) == 1 && parts[0].isKey:
		t.keyOnly, t.key = true, parts[0].text
	case !slices.ContainsFunc(parts, func(p tmplPart) bool { return p.isKey }):
		// Only "%%" escapes: the text is constant.
		t.isConst = true
		if len(parts) == 1 {
			t.lit = parts[0].text
		}
	}
	return t, nil
}

// expand substitutes the target's values into t. It reports false when a key is missing
// from the target, which makes oslo's check false.
func (t *template) expand(target Target) (string, bool) {
	if t.isConst {
		return t.lit, true
	}
	if t.keyOnly {
		v, ok := target[t.key]
		if !ok {
			return "", false
		}
		return pyStr(v), true
	}
	var b strings.Builder
	for _, p := range t.parts {
		if !p.isKey {
			b.WriteString(p.text)
			continue
		}
		v, ok := target[p.text]
		if !ok {
			return "", false
		}
		b.WriteString(pyStr(v))
	}
	return b.String(), true
}

// pyLower lowers s as Python's str.lower does for all but a few special-cased
// characters, without allocating when s is already lower-case ASCII.
func pyLower(s string) string { return strings.ToLower(s) }

// roleEqual reports whether pyLower(role) == lower.
func roleEqual(role, lower string) bool {
	if len(role) != len(lower) {
		// Lowering can change the length of non-ASCII text.
		for i := range len(role) {
			if role[i] >= 0x80 {
				return pyLower(role) == lower
			}
		}
		return false
	}
	for i := range len(role) {
		c, l := role[i], lower[i]
		if c >= 0x80 || l >= 0x80 {
			return pyLower(role) == lower
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != l {
			return false
		}
	}
	return true
}

// pyStr renders v as Python's str() would render the equivalent Python value: strings
// as themselves, nil (and a nil *string) as None, booleans as True and False, numbers
// in Python's notation and lists and maps in Python's repr notation.
func pyStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case *string:
		if x == nil {
			return "None"
		}
		return *x
	}
	var b strings.Builder
	writePy(&b, v, false)
	return b.String()
}

// writePy writes str(v), or repr(v) when repr is set, to b.
func writePy(b *strings.Builder, v any, repr bool) {
	switch x := v.(type) {
	case nil:
		b.WriteString("None")
	case string:
		if repr {
			writePyRepr(b, x)
		} else {
			b.WriteString(x)
		}
	case *string:
		if x == nil {
			b.WriteString("None")
		} else {
			writePy(b, *x, repr)
		}
	case bool:
		if x {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case int:
		b.WriteString(strconv.FormatInt(int64(x), 10))
	case int8:
		b.WriteString(strconv.FormatInt(int64(x), 10))
	case int16:
		b.WriteString(strconv.FormatInt(int64(x), 10))
	case int32:
		b.WriteString(strconv.FormatInt(int64(x), 10))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case uint:
		b.WriteString(strconv.FormatUint(uint64(x), 10))
	case uint8:
		b.WriteString(strconv.FormatUint(uint64(x), 10))
	case uint16:
		b.WriteString(strconv.FormatUint(uint64(x), 10))
	case uint32:
		b.WriteString(strconv.FormatUint(uint64(x), 10))
	case uint64:
		b.WriteString(strconv.FormatUint(x, 10))
	case float32:
		b.WriteString(pyFloat(float64(x)))
	case float64:
		b.WriteString(pyFloat(x))
	case []string:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyRepr(b, e)
		}
		b.WriteByte(']')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writePy(b, e, true)
		}
		b.WriteByte(']')
	case map[string]any:
		writePyDict(b, x)
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, v := range x {
			m[k] = v
		}
		writePyDict(b, m)
	case fmt.Stringer:
		writePy(b, x.String(), repr)
	default:
		writePy(b, fmt.Sprint(x), repr)
	}
}

// writePyDict writes a dict's repr. Python keeps insertion order, which a Go map does not
// have; keys are sorted instead.
func writePyDict(b *strings.Builder, m map[string]any) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		writePyRepr(b, k)
		b.WriteString(": ")
		writePy(b, m[k], true)
	}
	b.WriteByte('}')
}

// writePyRepr writes Python's repr of a string: single quotes unless the string holds a
// single quote and no double quote, with backslash escapes for the quote, backslash and
// non-printable characters.
func writePyRepr(b *strings.Builder, s string) {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(b, `\x%02x`, r)
		case r >= 0x80 && !unicode.IsPrint(r):
			switch {
			case r <= 0xff:
				fmt.Fprintf(b, `\x%02x`, r)
			case r <= 0xffff:
				fmt.Fprintf(b, `\u%04x`, r)
			default:
				fmt.Fprintf(b, `\U%08x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
}

// pyFloat renders f as Python's repr(float): the shortest digits that round-trip, in
// positional notation with at least one decimal when the exponent is in [-4, 16) and in
// scientific notation otherwise.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	_, exp, _ := strings.Cut(e, "e")
	x, _ := strconv.Atoi(exp)
	if x < -4 || x >= 16 {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}
