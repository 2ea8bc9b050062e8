package policy

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestRegisterDefaultsErrors(t *testing.T) {
	tests := []struct {
		name  string
		rules map[string]string
		want  string
	}{
		{"bad rule", map[string]string{"a": "role:admin or", "b": "foo"}, "rule a"},
		{"cycle", map[string]string{"a": "rule:b", "b": "role:x or rule:a"}, "cycle: a, b"},
		{"self cycle", map[string]string{"a": "role:x or rule:a"}, "cycle: a"},
		{"default cycle", map[string]string{"default": "rule:missing"}, "cycle: default"},
	}
	for _, tt := range tests {
		err := New(nil, nil).RegisterDefaults(tt.rules)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: RegisterDefaults error = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestNewPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "rule a") {
			t.Errorf("New with a bad default: recovered %v", r)
		}
	}()
	New(map[string]string{"a": "role:admin or"}, nil)
}

func TestRegisterDefaults(t *testing.T) {
	e := New(map[string]string{"admin_required": "role:admin"}, nil)
	// The same rule again, written differently, is fine.
	if err := e.RegisterDefaults(map[string]string{"admin_required": "(role:admin)", "compute:x": "rule:admin_required"}); err != nil {
		t.Fatalf("RegisterDefaults: %v", err)
	}
	// A different rule under a registered name is a conflict, and nothing is registered.
	err := e.RegisterDefaults(map[string]string{"admin_required": "role:root", "compute:y": "@"})
	if err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("conflicting RegisterDefaults error = %v", err)
	}
	if e.Enforce("compute:y", Credentials{}, nil) {
		t.Error("compute:y registered despite the conflict")
	}
	admin := Credentials{Roles: []string{"admin"}}
	if !e.Enforce("compute:x", admin, nil) {
		t.Error("compute:x denies admin")
	}
}

func TestDefaultRule(t *testing.T) {
	rules := map[string]string{"a": "rule:missing", "b": "not rule:missing"}
	e := New(rules, nil)
	// Without a default rule, unknown names and references deny.
	for _, name := range []string{"a", "unknown", ""} {
		if e.Enforce(name, Credentials{}, nil) {
			t.Errorf("Enforce(%q) allowed without a default rule", name)
		}
	}
	if !e.Enforce("b", Credentials{}, nil) {
		t.Error("not rule:missing denied")
	}
	// With one, both fall back to it, as oslo's Rules.__missing__ does.
	if err := e.RegisterDefaults(map[string]string{"default": "role:fallback"}); err != nil {
		t.Fatal(err)
	}
	fb := Credentials{Roles: []string{"fallback"}}
	for _, name := range []string{"a", "unknown", ""} {
		if !e.Enforce(name, fb, nil) || e.Enforce(name, Credentials{}, nil) {
			t.Errorf("Enforce(%q) does not apply the default rule", name)
		}
	}
	if e.Enforce("b", fb, nil) {
		t.Error("not rule:missing allowed although the default rule allows")
	}
}

func TestCycleReferencesDeny(t *testing.T) {
	e := New(map[string]string{"a": "role:x", "b": "rule:a or role:y", "c": "rule:b"}, nil)
	// An override closing a cycle is refused by the file loader; compile it directly to
	// check how cyclic references evaluate.
	overrides, err := parseRules(map[string]string{"a": "rule:c or role:z"})
	if err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	e.overrides = overrides
	e.rebuildLocked()
	e.mu.Unlock()
	for _, name := range []string{"a", "b", "c"} {
		if e.Enforce(name, Credentials{Roles: []string{"x"}}, nil) {
			t.Errorf("%s allowed role x", name)
		}
	}
	if !e.Enforce("a", Credentials{Roles: []string{"z"}}, nil) {
		t.Error("a denied role z: only the cyclic reference should be false")
	}
	if !e.Enforce("b", Credentials{Roles: []string{"y"}}, nil) {
		t.Error("b denied role y")
	}
}

func TestAuthorize(t *testing.T) {
	e := New(map[string]string{"identity:get_user": "role:admin"}, nil)
	if err := e.Authorize("identity:get_user", Credentials{Roles: []string{"admin"}}, nil); err != nil {
		t.Errorf("Authorize(admin) = %v", err)
	}
	err := e.Authorize("identity:get_user", Credentials{}, nil)
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "identity:get_user") {
		t.Errorf("Authorize(nobody) = %v, want ErrForbidden naming the rule", err)
	}
}

func TestEnforceConcurrent(t *testing.T) {
	e := New(keystoneDefaults, nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				if !e.Enforce("identity:get_user", projMember, Target{"target.user.id": "u-pm"}) {
					t.Error("denied")
					return
				}
				if i == 0 && j%20 == 0 {
					_ = e.RegisterDefaults(map[string]string{"extra": "@"})
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkEnforce measures a typical Keystone check: identity:get_user for a project
// member reading another user, which evaluates every branch of the rule.
func BenchmarkEnforce(b *testing.B) {
	e := New(keystoneDefaults, nil)
	if err := e.SetOverrideFile(b.TempDir() + "/policy.yaml"); err != nil {
		b.Fatal(err)
	}
	target := Target{"target.user.id": "u-other", "target.user.domain_id": "d1", "user_id": "u-pm", "project_id": "p1"}
	b.Run("get_user_denied", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if e.Enforce("identity:get_user", projMember, target) {
				b.Fatal("allowed")
			}
		}
	})
	b.Run("get_project_allowed", func(b *testing.B) {
		target := Target{"target.project.id": "p1", "target.project.domain_id": "d1"}
		b.ReportAllocs()
		for b.Loop() {
			if !e.Enforce("identity:get_project", projMember, target) {
				b.Fatal("denied")
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				e.Enforce("identity:get_user", projMember, target)
			}
		})
	})
}
