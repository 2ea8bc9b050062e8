// Package policy is the oslo.policy rule language and the enforcer every gostack service
// uses to decide whether a caller may perform an API action.
//
// Rules are written exactly as in OpenStack policy files:
//
//	role:admin or (role:reader and system_scope:all) or user_id:%(target.user.id)s
//
// The grammar and its quirks follow oslo.policy's _parser and _checks modules: "not" binds
// tighter than "and", which binds tighter than "or"; "@" always allows, "!" never does and
// the empty rule allows; "role:x" compares role names case-insensitively; "rule:x"
// evaluates the rule named x or, when there is none, the rule named "default" (false
// when that does not exist either), as oslo's Rules mapping does; any other "left:right" is a generic check, whose left side
// is either a literal (True, False, None, an integer or a quoted string) or a dotted path
// looked up in the caller's credentials, and whose right side is text in which
// "%(key)s" is replaced by the target's value for key (a missing key makes the check
// false). Values are compared as Python's str() renders them, so a boolean true is
// "True" and a null is "None".
//
// Deliberate differences from oslo.policy, all of them stricter: a rule oslo would parse
// into "never" with a logged error (a check without a colon, unbalanced parentheses, a
// misplaced operator or quoted string) is a parse error here; "http:" and "https:"
// checks are not supported; left sides and substitutions that would make Python raise
// at enforcement time are rejected when the rule is parsed; the old list-of-lists rule
// syntax is not accepted; and rules that reference each other in a cycle evaluate those
// references as false instead of recursing forever. Scope types (oslo's enforce_scope)
// are not modelled: defaults express scope with checks such as system_scope:all.
//
// An Enforcer holds the default rules each service registers and an optional override
// file (policy.yaml or policy.json) that an operator may edit while gostack runs.
package policy
