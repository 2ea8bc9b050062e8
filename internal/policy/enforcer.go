package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// ErrForbidden is the error Authorize wraps when policy does not allow an action.
var ErrForbidden = errors.New("forbidden by policy")

// Target describes the object of an API action for generic checks' "%(key)s"
// substitutions. Keys are flat, even when dotted ("target.user.domain_id"), as Keystone
// flattens its targets. A nil value (or nil *string) is Python's None; a missing key makes
// every check that substitutes it false.
type Target map[string]any

// reloadInterval is how often at most the override file's metadata is checked. It is zero
// so that a policy.yaml change applies to the very next request; the check is one stat
// call (about a microsecond), small next to the request itself.
const reloadInterval = 0 * time.Second

// Enforcer decides whether callers may perform actions. It holds the default rules the
// services register and the rules of an optional override file, which take precedence.
// An Enforcer is safe for concurrent use. Enforce takes no lock, except in the one call a
// second that checks whether the override file has changed.
type Enforcer struct {
	log *slog.Logger

	set       atomic.Pointer[ruleSet]
	watching  atomic.Bool  // an override file is configured
	nextCheck atomic.Int64 // clock reading (ns) after which the file may be checked again
	clock     func() time.Duration

	mu        sync.Mutex // serialises changes to the fields below and to set
	defaults  map[string]*Rule
	overrides map[string]*Rule
	file      overrideFile
}

// New returns an Enforcer with the given default rules (rule name to rule text; may be
// nil), logging to logger, which the caller scopes; nil discards log output. Defaults are
// part of the program, so New panics if they do not parse or reference each other in a
// cycle, as regexp.MustCompile does; RegisterDefaults reports the same problems as errors.
func New(defaults map[string]string, logger *slog.Logger) *Enforcer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	e := &Enforcer{
		log:      logger,
		clock:    func() time.Duration { return time.Since(start) },
		defaults: map[string]*Rule{},
	}
	e.set.Store(&ruleSet{rules: map[string]*entry{}})
	if err := e.RegisterDefaults(defaults); err != nil {
		panic("policy.New: " + err.Error())
	}
	return e
}

// RegisterDefaults adds default rules (rule name to rule text), as each service does for
// its own actions. Services share one namespace: registering a name again with a rule
// that is not the same (in canonical form) is an error, as is a rule that does not parse
// or a reference cycle among the defaults. On error nothing is registered.
func (e *Enforcer) RegisterDefaults(defaults map[string]string) error {
	parsed, err := parseRules(defaults)
	if err != nil {
		return fmt.Errorf("register policy defaults: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()

	merged := maps.Clone(e.defaults)
	var conflicts []error
	for _, name := range sortedKeys(parsed) {
		r := parsed[name]
		if old, ok := merged[name]; ok && old.String() != r.String() {
			conflicts = append(conflicts, fmt.Errorf("rule %s is already registered as %q, not %q", name, old, r))
			continue
		}
		merged[name] = r
	}
	if len(conflicts) > 0 {
		return fmt.Errorf("register policy defaults: %w", errors.Join(conflicts...))
	}
	if _, cycles := compile(merged); len(cycles) > 0 {
		return fmt.Errorf("register policy defaults: %w", cycleError(cycles))
	}
	e.defaults = merged
	e.rebuildLocked()
	return nil
}

// rebuildLocked compiles the defaults with the overrides and publishes the result.
func (e *Enforcer) rebuildLocked() {
	set, cycles := compile(e.effectiveLocked(e.overrides))
	if len(cycles) > 0 {
		e.log.Error("policy override rules reference each other in a cycle; those references deny",
			"err", cycleError(cycles))
	}
	e.set.Store(set)
}

// effectiveLocked returns the defaults with overrides applied.
func (e *Enforcer) effectiveLocked(overrides map[string]*Rule) map[string]*Rule {
	rules := maps.Clone(e.defaults)
	maps.Copy(rules, overrides)
	return rules
}

// Enforce reports whether the rule named rule allows the caller with creds to act on
// target. An unknown rule name is evaluated as the rule named "default", as oslo.policy
// does; without a "default" rule it is denied.
func (e *Enforcer) Enforce(rule string, creds Credentials, target Target) bool {
	ent := e.rules().lookup(rule)
	if ent == nil {
		return false
	}
	ev := evaluator{target: target}
	return ev.eval(ent.root, &creds)
}

// Authorize is Enforce returning an error that wraps ErrForbidden and names the rule when
// the action is not allowed.
func (e *Enforcer) Authorize(rule string, creds Credentials, target Target) error {
	if e.Enforce(rule, creds, target) {
		return nil
	}
	if e.log.Enabled(context.Background(), slog.LevelDebug) {
		e.log.Debug("policy denied", "rule", rule, "user_id", creds.UserID,
			"project_id", creds.ProjectID, "domain_id", creds.DomainID, "system", creds.System)
	}
	return fmt.Errorf("rule %s: %w", rule, ErrForbidden)
}

// rules returns the current rule set, first reloading the override file if it is time to
// check it and it has changed.
func (e *Enforcer) rules() *ruleSet {
	if e.watching.Load() {
		now := int64(e.clock())
		next := e.nextCheck.Load()
		if now >= next && e.nextCheck.CompareAndSwap(next, now+int64(reloadInterval)) {
			e.mu.Lock()
			_ = e.refreshLocked() // refreshLocked logs its errors
			e.mu.Unlock()
		}
	}
	return e.set.Load()
}

// parseRules parses a map of rule texts, reporting every rule that does not parse.
func parseRules(texts map[string]string) (map[string]*Rule, error) {
	rules := make(map[string]*Rule, len(texts))
	var errs []error
	for _, name := range sortedKeys(texts) {
		r, err := Parse(texts[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %s: %w", name, err))
			continue
		}
		rules[name] = r
	}
	return rules, errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
