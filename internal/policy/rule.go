package policy

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Rule is a parsed policy rule. It is immutable and safe for concurrent use.
type Rule struct {
	root *node
}

// op is the kind of a node in a parsed rule.
type op uint8

const (
	opTrue    op = iota // "@" or the empty rule
	opFalse             // "!"
	opAnd               // kids joined by "and"
	opOr                // kids joined by "or"
	opNot               // "not" kids[0]
	opRule              // rule:name
	opRole              // role:name
	opGeneric           // left:right
)

// node is one node of a parsed rule; checks (rule, role, generic) carry a *check.
type node struct {
	op   op
	kids []*node
	chk  *check
}

// Parse parses text in the oslo.policy rule language. The empty string is the rule that
// always allows. Parse reports an error wherever oslo.policy would log one and fall back
// to a rule that never allows, and for the constructs this package does not support.
func Parse(text string) (*Rule, error) {
	if text == "" {
		return &Rule{root: &node{op: opTrue}}, nil
	}
	var p parser
	if err := tokenize(text, p.shift); err != nil {
		return nil, fmt.Errorf("parse rule %q: %w", text, err)
	}
	root, err := p.result()
	if err != nil {
		return nil, fmt.Errorf("parse rule %q: %w", text, err)
	}
	return &Rule{root: root}, nil
}

// String returns the rule in canonical form: oslo.policy's own rendering, in which every
// "and" and "or" group is parenthesised. Parsing the canonical form gives back a rule
// with the same canonical form.
func (r *Rule) String() string {
	var b strings.Builder
	r.root.write(&b)
	return b.String()
}

func (n *node) write(b *strings.Builder) {
	switch n.op {
	case opTrue:
		b.WriteByte('@')
	case opFalse:
		b.WriteByte('!')
	case opAnd, opOr:
		sep := " and "
		if n.op == opOr {
			sep = " or "
		}
		b.WriteByte('(')
		for i, k := range n.kids {
			if i > 0 {
				b.WriteString(sep)
			}
			k.write(b)
		}
		b.WriteByte(')')
	case opNot:
		b.WriteString("not ")
		n.kids[0].write(b)
	default:
		text := n.chk.kind + ":" + n.chk.match
		// A check that is quoted from end to end (such as 'a:b') would be read back as a
		// quoted string; parentheses keep it a check.
		if isQuoted(text) {
			b.WriteByte('(')
			b.WriteString(text)
			b.WriteByte(')')
		} else {
			b.WriteString(text)
		}
	}
}

// isQuoted reports whether oslo's tokenizer would take tok for a quoted string.
func isQuoted(tok string) bool {
	return len(tok) >= 2 && (tok[0] == '\'' || tok[0] == '"') && tok[len(tok)-1] == tok[0]
}

// tokKind is the kind of a token on the parser's stack, after oslo's Token classes.
type tokKind uint8

const (
	tokCheck tokKind = iota
	tokAndExpr
	tokOrExpr
	tokAnd
	tokOr
	tokNot
	tokLParen
	tokRParen
	tokString
)

type token struct {
	kind tokKind
	n    *node
}

var errQuotedString = errors.New("quoted string where a check was expected")

// tokenize splits text the way oslo.policy's _parse_tokenize does and hands each token to
// emit: whitespace separates tokens, leading "(" and trailing ")" are split off a token,
// "and", "or" and "not" are operators in any case, a token quoted from end to end is a
// string and anything else is a check.
func tokenize(text string, emit func(token)) error {
	for len(text) > 0 {
		i := strings.IndexFunc(text, func(r rune) bool { return !isSpace(r) })
		if i < 0 {
			break
		}
		text = text[i:]
		j := strings.IndexFunc(text, isSpace)
		if j < 0 {
			j = len(text)
		}
		tok := text[:j]
		text = text[j:]

		clean := strings.TrimLeft(tok, "(")
		for range len(tok) - len(clean) {
			emit(token{kind: tokLParen})
		}
		if clean == "" {
			continue
		}
		tok = clean
		clean = strings.TrimRight(tok, ")")
		trail := len(tok) - len(clean)
		switch {
		case asciiFold(clean, "and"):
			emit(token{kind: tokAnd})
		case asciiFold(clean, "or"):
			emit(token{kind: tokOr})
		case asciiFold(clean, "not"):
			emit(token{kind: tokNot})
		case clean == "":
		case isQuoted(tok):
			// oslo yields a string token here, which no reduction consumes, so the
			// whole rule fails to parse.
			return fmt.Errorf("%w: %s", errQuotedString, tok)
		default:
			n, err := parseCheck(clean)
			if err != nil {
				return err
			}
			emit(token{kind: tokCheck, n: n})
		}
		for range trail {
			emit(token{kind: tokRParen})
		}
	}
	return nil
}

// isSpace reports whether Python's re module treats r as whitespace (\s): Unicode
// White_Space plus the ASCII information separators U+001C to U+001F.
func isSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// asciiFold reports whether s equals the lower-case ASCII word w in any case. Python's
// str.lower maps no non-ASCII character onto the letters of "and", "or" or "not", so an
// ASCII comparison is exact.
func asciiFold(s, w string) bool {
	if len(s) != len(w) {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != w[i] {
			return false
		}
	}
	return true
}

// parser is oslo.policy's ParseState: a greedy shift-reduce parser whose reductions
// give "not" precedence over "and" and "and" over "or".
type parser struct {
	stack []token
}

func (p *parser) shift(t token) {
	p.stack = append(p.stack, t)
	p.reduce()
}

// reduce applies oslo's reductions to the top of the stack until none applies. Three-token
// patterns are tried before the two-token "not" pattern, as in oslo.
func (p *parser) reduce() {
	for {
		s := p.stack
		n := len(s)
		if n >= 3 && p.reduce3(s[n-3], s[n-2], s[n-1]) {
			continue
		}
		if n >= 2 && s[n-2].kind == tokNot && s[n-1].kind == tokCheck {
			p.replace(2, token{kind: tokCheck, n: &node{op: opNot, kids: []*node{s[n-1].n}}})
			continue
		}
		return
	}
}

func (p *parser) reduce3(a, b, c token) bool {
	switch {
	case a.kind == tokLParen && c.kind == tokRParen &&
		(b.kind == tokCheck || b.kind == tokAndExpr || b.kind == tokOrExpr):
		// A parenthesised expression becomes a check.
		p.replace(3, token{kind: tokCheck, n: b.n})
	case a.kind == tokCheck && b.kind == tokAnd && c.kind == tokCheck:
		p.replace(3, token{kind: tokAndExpr, n: &node{op: opAnd, kids: []*node{a.n, c.n}}})
	case a.kind == tokAndExpr && b.kind == tokAnd && c.kind == tokCheck:
		a.n.kids = append(a.n.kids, c.n)
		p.replace(3, a)
	case a.kind == tokOrExpr && b.kind == tokAnd && c.kind == tokCheck:
		// "A or B and C": the "and" takes the last operand of the "or".
		last := a.n.kids[len(a.n.kids)-1]
		if last.op == opAnd {
			last.kids = append(last.kids, c.n)
		} else {
			a.n.kids[len(a.n.kids)-1] = &node{op: opAnd, kids: []*node{last, c.n}}
		}
		p.replace(3, a)
	case (a.kind == tokCheck || a.kind == tokAndExpr) && b.kind == tokOr && c.kind == tokCheck:
		p.replace(3, token{kind: tokOrExpr, n: &node{op: opOr, kids: []*node{a.n, c.n}}})
	case a.kind == tokOrExpr && b.kind == tokOr && c.kind == tokCheck:
		a.n.kids = append(a.n.kids, c.n)
		p.replace(3, a)
	default:
		return false
	}
	return true
}

// replace replaces the top k tokens of the stack with t.
func (p *parser) replace(k int, t token) {
	p.stack = append(p.stack[:len(p.stack)-k], t)
}

// result returns the parsed rule, or an error when the tokens did not reduce to one
// expression.
func (p *parser) result() (*node, error) {
	if len(p.stack) == 1 {
		switch t := p.stack[0]; t.kind {
		case tokCheck, tokAndExpr, tokOrExpr:
			return t.n, nil
		}
	}
	if len(p.stack) == 0 {
		return nil, errors.New("rule has no checks")
	}
	opens, closes := 0, 0
	for _, t := range p.stack {
		switch t.kind {
		case tokLParen:
			opens++
		case tokRParen:
			closes++
		}
	}
	if opens != closes {
		return nil, errors.New("unbalanced parentheses")
	}
	return nil, errors.New("misplaced operator or parenthesis")
}
