package policy

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock drives an Enforcer's reload checks.
type fakeClock struct {
	mu  sync.Mutex
	now time.Duration
}

func (c *fakeClock) read() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now += d
	c.mu.Unlock()
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newWatched returns an Enforcer with a fake clock and a log buffer, watching path.
func newWatched(t *testing.T, path string) (*Enforcer, *fakeClock, *syncBuffer) {
	t.Helper()
	var logs syncBuffer
	e := New(map[string]string{
		"admin_required":    "role:admin",
		"identity:get_user": "rule:admin_required",
	}, slog.New(slog.NewTextHandler(&logs, nil)))
	clock := &fakeClock{}
	e.clock = clock.read
	if err := e.SetOverrideFile(path); err != nil {
		t.Fatalf("SetOverrideFile: %v", err)
	}
	return e, clock, &logs
}

// write writes the file and gives it modification time base+n seconds, so that every
// write is seen as a change without sleeping.
func write(t *testing.T, path, content string, n int) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2024, 1, 1, 0, 0, n, 0, time.UTC)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func TestOverrideFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	write(t, path, "# operators let readers see users\n\"identity:get_user\": \"role:reader\"\n", 1)
	e, clock, logs := newWatched(t, path)

	reader := Credentials{Roles: []string{"reader"}}
	admin := Credentials{Roles: []string{"admin"}}
	if !e.Enforce("identity:get_user", reader, nil) || e.Enforce("identity:get_user", admin, nil) {
		t.Fatal("override not applied")
	}

	// A change is seen by the very next request.
	write(t, path, "identity:get_user: role:admin or role:reader\n", 2)
	if !e.Enforce("identity:get_user", admin, nil) || !e.Enforce("identity:get_user", reader, nil) {
		t.Fatal("changed override not applied")
	}

	// Overrides can redefine the rules others reference.
	write(t, path, "admin_required: role:root\n", 3)
	clock.advance(time.Second)
	if e.Enforce("identity:get_user", admin, nil) || !e.Enforce("identity:get_user", Credentials{Roles: []string{"root"}}, nil) {
		t.Fatal("override of a referenced rule not applied")
	}

	// A broken file keeps the last good rules and is logged once.
	for i, broken := range []string{
		"admin_required: [role:x]\n",
		"admin_required: role:x or\n",
		"admin_required: 'unterminated\n",
		"admin_required: rule:identity:get_user\n", // a cycle
	} {
		write(t, path, broken, 10+i)
		clock.advance(time.Second)
		if !e.Enforce("identity:get_user", Credentials{Roles: []string{"root"}}, nil) {
			t.Fatalf("broken file %q replaced the last good rules", broken)
		}
		clock.advance(time.Second)
		e.Enforce("identity:get_user", admin, nil)
	}
	if n := strings.Count(logs.String(), "cannot use policy override file"); n != 4 {
		t.Errorf("logged %d errors for 4 broken files:\n%s", n, logs)
	}

	// JSON works too (policy.json).
	write(t, path, "{\n\t\"admin_required\": \"role:json\"\n}\n", 20)
	clock.advance(time.Second)
	if !e.Enforce("identity:get_user", Credentials{Roles: []string{"json"}}, nil) {
		t.Fatal("JSON override not applied")
	}

	// Removing the file restores the defaults.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Second)
	if !e.Enforce("identity:get_user", admin, nil) {
		t.Fatal("defaults not restored after the file was removed")
	}

	// And a new file is picked up again.
	write(t, path, "identity:get_user: '@'\n", 30)
	clock.advance(time.Second)
	if !e.Enforce("identity:get_user", Credentials{}, nil) {
		t.Fatal("recreated file not applied")
	}
}

func TestSetOverrideFile(t *testing.T) {
	dir := t.TempDir()

	// A missing file is no error and means no overrides.
	e, _, _ := newWatched(t, filepath.Join(dir, "missing.yaml"))
	if !e.Enforce("identity:get_user", Credentials{Roles: []string{"admin"}}, nil) {
		t.Error("defaults not used without a file")
	}

	// A broken file is reported, and the defaults apply.
	bad := filepath.Join(dir, "bad.yaml")
	write(t, bad, "identity:get_user: http://example.com\n", 1)
	if err := e.SetOverrideFile(bad); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("SetOverrideFile(bad) = %v", err)
	}
	if !e.Enforce("identity:get_user", Credentials{Roles: []string{"admin"}}, nil) {
		t.Error("defaults not used with a broken file")
	}

	// Empty files and null rules follow oslo: no rules, and the empty rule.
	empty := filepath.Join(dir, "empty.yaml")
	write(t, empty, "", 1)
	if err := e.SetOverrideFile(empty); err != nil {
		t.Errorf("SetOverrideFile(empty) = %v", err)
	}
	null := filepath.Join(dir, "null.yaml")
	write(t, null, "identity:get_user:\n", 1)
	if err := e.SetOverrideFile(null); err != nil {
		t.Fatal(err)
	}
	if !e.Enforce("identity:get_user", Credentials{}, nil) {
		t.Error("null rule does not allow")
	}

	// "" stops using the file.
	if err := e.SetOverrideFile(""); err != nil {
		t.Fatal(err)
	}
	if e.Enforce("identity:get_user", Credentials{}, nil) {
		t.Error("override still applied after SetOverrideFile(\"\")")
	}
}

// TestOverrideReloadConcurrent runs requests while the file changes, for the race
// detector.
func TestOverrideReloadConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	write(t, path, "identity:get_user: role:reader\n", 1)
	e, clock, _ := newWatched(t, path)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 500 {
				e.Enforce("identity:get_user", Credentials{Roles: []string{"reader"}}, nil)
			}
		})
	}
	for i := range 20 {
		write(t, path, "identity:get_user: role:reader or role:r"+strings.Repeat("x", i)+"\n", 2+i)
		clock.advance(time.Second)
	}
	wg.Wait()
	clock.advance(time.Second)
	if !e.Enforce("identity:get_user", Credentials{Roles: []string{"r" + strings.Repeat("x", 19)}}, nil) {
		t.Error("last version of the file not applied")
	}
}
