package policy

import (
	"fmt"
	"slices"
	"strings"
)

// defaultRule is the rule oslo.policy applies to a rule name it does not know (its
// policy_default_rule option, "default" unless configured).
const defaultRule = "default"

// ruleSet is an immutable, compiled set of named rules: each rule: reference is bound to
// the entry it names, so evaluation never looks names up.
type ruleSet struct {
	rules    map[string]*entry
	fallback *entry // rules[defaultRule], or nil
}

// entry is one named, compiled rule.
type entry struct {
	name string
	root *enode
	refs []*enode // the rule: references in root, for cycle detection
}

// enode is a node of a compiled rule.
type enode struct {
	op   op
	kids []*enode
	chk  *check
	ref  *entry // for opRule: the rule referenced, or nil when that is always false
}

// lookup returns the rule to evaluate for name: the rule itself or, like oslo's
// Rules.__missing__, the default rule when name is unknown; nil when neither exists.
func (s *ruleSet) lookup(name string) *entry {
	if e, ok := s.rules[name]; ok {
		return e
	}
	return s.fallback
}

// compile builds a ruleSet from parsed rules. References that close a cycle (every
// reference between two rules of one strongly connected component) are bound to nothing,
// so they evaluate false; the cycles are returned, each as its sorted rule names.
func compile(rules map[string]*Rule) (*ruleSet, [][]string) {
	s := &ruleSet{rules: make(map[string]*entry, len(rules))}
	for name := range rules {
		s.rules[name] = &entry{name: name}
	}
	s.fallback = s.rules[defaultRule]
	for name, r := range rules {
		e := s.rules[name]
		e.root = s.build(e, r.root)
	}

	cycles := s.cycles()
	for _, members := range cycles {
		in := make(map[*entry]bool, len(members))
		for _, name := range members {
			in[s.rules[name]] = true
		}
		for e := range in {
			for _, ref := range e.refs {
				if in[ref.ref] {
					ref.ref = nil
				}
			}
		}
	}
	return s, cycles
}

func (s *ruleSet) build(e *entry, n *node) *enode {
	c := &enode{op: n.op, chk: n.chk}
	if n.op == opRule {
		c.ref = s.lookup(n.chk.match)
		if c.ref != nil {
			e.refs = append(e.refs, c)
		}
	}
	if len(n.kids) > 0 {
		c.kids = make([]*enode, len(n.kids))
		for i, k := range n.kids {
			c.kids[i] = s.build(e, k)
		}
	}
	return c
}

// cycles returns the strongly connected components of the reference graph that contain a
// cycle (more than one rule, or a rule referencing itself), using Tarjan's algorithm.
func (s *ruleSet) cycles() [][]string {
	names := make([]string, 0, len(s.rules))
	for name := range s.rules {
		names = append(names, name)
	}
	slices.Sort(names)

	type state struct{ index, low int }
	var (
		next   int
		stack  []*entry
		on     = map[*entry]bool{}
		seen   = map[*entry]*state{}
		result [][]string
		visit  func(e *entry)
	)
	visit = func(e *entry) {
		st := &state{next, next}
		next++
		seen[e] = st
		stack = append(stack, e)
		on[e] = true
		selfLoop := false
		for _, ref := range e.refs {
			w := ref.ref
			if w == e {
				selfLoop = true
			}
			if ws, ok := seen[w]; !ok {
				visit(w)
				st.low = min(st.low, seen[w].low)
			} else if on[w] {
				st.low = min(st.low, ws.index)
			}
		}
		if st.low != st.index {
			return
		}
		var comp []string
		for {
			w := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			on[w] = false
			comp = append(comp, w.name)
			if w == e {
				break
			}
		}
		if len(comp) > 1 || selfLoop {
			slices.Sort(comp)
			result = append(result, comp)
		}
	}
	for _, name := range names {
		if e := s.rules[name]; seen[e] == nil {
			visit(e)
		}
	}
	slices.SortFunc(result, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	return result
}

// cycleError describes reference cycles found by compile.
func cycleError(cycles [][]string) error {
	parts := make([]string, len(cycles))
	for i, c := range cycles {
		parts[i] = strings.Join(c, ", ")
	}
	return fmt.Errorf("rules reference each other in a cycle: %s", strings.Join(parts, "; "))
}

// evaluator evaluates compiled rules for one request. The credentials are passed to eval
// separately so that escape analysis can keep them on the caller's stack.
type evaluator struct {
	target Target
	values map[string]any // the credentials' PolicyValues, built when a check first needs it
}

func (ev *evaluator) eval(n *enode, creds *Credentials) bool {
	switch n.op {
	case opTrue:
		return true
	case opFalse:
		return false
	case opAnd:
		for _, k := range n.kids {
			if !ev.eval(k, creds) {
				return false
			}
		}
		return true
	case opOr:
		for _, k := range n.kids {
			if ev.eval(k, creds) {
				return true
			}
		}
		return false
	case opNot:
		return !ev.eval(n.kids[0], creds)
	case opRule:
		return n.ref != nil && ev.eval(n.ref.root, creds)
	case opRole:
		match, ok := n.chk.tmpl.expand(ev.target)
		if !ok {
			return false
		}
		if !n.chk.tmpl.isConst {
			match = pyLower(match)
		}
		for _, r := range creds.Roles {
			if roleEqual(r, match) {
				return true
			}
		}
		return false
	case opGeneric:
		match, ok := n.chk.tmpl.expand(ev.target)
		if !ok {
			return false
		}
		if n.chk.isLiteral {
			return match == n.chk.literal
		}
		if n.chk.field != fieldNone {
			return creds.matchField(n.chk.field, match)
		}
		if ev.values == nil {
			ev.values = creds.PolicyValues()
		}
		return findIn(ev.values, n.chk.path, match)
	}
	return false
}
