package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"gopkg.in/yaml.v3"
)

// overrideFile is the state of the watched override file.
type overrideFile struct {
	path    string
	info    fs.FileInfo // the version last read (good or broken); nil when none was read
	missing bool        // the file was absent when last checked
	lastErr string      // the error last logged, so that a lasting problem is logged once
}

// SetOverrideFile makes the Enforcer read rule overrides from the policy file at path, a
// YAML (or JSON, as policy.json) map of rule name to rule text, and "" stops using one.
// Rules in the file replace defaults of the same name and may add rules of their own.
//
// The file is read now and read again, at most once a second and only when its
// modification time, size or identity has changed, by the next Enforce call; a change
// thus takes effect within about a second. A file that does not exist means no
// overrides. A file that does not parse, has a rule that does not parse or creates a
// reference cycle is logged and ignored, keeping the rules last read successfully; the
// error is also returned when it is found by SetOverrideFile itself.
func (e *Enforcer) SetOverrideFile(path string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.file = overrideFile{path: path}
	e.overrides = nil
	var err error
	if path != "" {
		err = e.refreshLocked()
	}
	e.rebuildLocked()
	e.nextCheck.Store(int64(e.clock()) + int64(reloadInterval))
	e.watching.Store(path != "")
	return err
}

// refreshLocked reads the override file if it changed since it was last read, and
// publishes the new rules when it is valid.
func (e *Enforcer) refreshLocked() error {
	f := &e.file
	if f.path == "" {
		return nil
	}
	info, err := os.Stat(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		if f.missing {
			return nil
		}
		f.missing, f.info, f.lastErr = true, nil, ""
		if e.overrides != nil {
			e.log.Warn("policy override file is gone; using default rules", "path", f.path)
			e.overrides = nil
			e.rebuildLocked()
		}
		return nil
	}
	if err != nil {
		return e.overrideErrorLocked(err)
	}
	if prev := f.info; prev != nil && os.SameFile(prev, info) &&
		prev.ModTime().Equal(info.ModTime()) && prev.Size() == info.Size() {
		return nil
	}
	f.missing, f.info = false, info

	data, err := os.ReadFile(f.path)
	if err != nil {
		f.info = nil // read again on the next check
	} else {
		var rules map[string]*Rule
		if rules, err = parseOverrides(data); err == nil {
			if _, cycles := compile(e.effectiveLocked(rules)); len(cycles) > 0 {
				err = cycleError(cycles)
			} else {
				e.overrides = rules
				f.lastErr = ""
				e.rebuildLocked()
				e.log.Info("policy override file loaded", "path", f.path, "rules", len(rules))
				return nil
			}
		}
	}
	return e.overrideErrorLocked(err)
}

// overrideErrorLocked logs a problem with the override file, unless it is the problem
// logged last, and returns it.
func (e *Enforcer) overrideErrorLocked(err error) error {
	if msg := err.Error(); msg != e.file.lastErr {
		e.file.lastErr = msg
		e.log.Error("cannot use policy override file; keeping the rules last loaded",
			"path", e.file.path, "err", err)
	}
	return fmt.Errorf("policy override file: %w", err)
}

// parseOverrides parses the contents of a policy file: a YAML or JSON map of rule name to
// rule text. As in oslo.policy, an empty file has no rules and a null rule is the empty
// rule, which always allows.
func parseOverrides(data []byte) (map[string]*Rule, error) {
	var raw map[string]any
	var err error
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		// policy.json: encoding/json is stricter about JSON than YAML parsers are.
		err = json.Unmarshal(trimmed, &raw)
	} else {
		err = yaml.Unmarshal(data, &raw)
	}
	if err != nil {
		return nil, err
	}
	texts := make(map[string]string, len(raw))
	var errs []error
	for _, name := range sortedKeys(raw) {
		switch v := raw[name].(type) {
		case string:
			texts[name] = v
		case nil:
			texts[name] = ""
		default:
			errs = append(errs, fmt.Errorf("rule %s: value must be a string, not %T", name, v))
		}
	}
	rules, err := parseRules(texts)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return rules, nil
}
