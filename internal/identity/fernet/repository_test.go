package fernet

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSetup(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "fernet-keys")
	if err := Setup(dir); err != nil {
		t.Fatal(err)
	}
	if got := keyIDs(t, dir); !cmp.Equal(got, []int{0, 1}) {
		t.Fatalf("keys after Setup = %v, want [0 1]", got)
	}
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o700 {
		t.Errorf("directory mode %o, want 700", perm)
	}
	for _, id := range []int{0, 1} {
		info, err := os.Stat(filepath.Join(dir, strconv.Itoa(id)))
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("key %d mode %o, want 600", id, perm)
		}
		text := readKey(t, dir, id)
		if len(text) != 44 || strings.ContainsAny(text, "+/\n") {
			t.Errorf("key %d = %d bytes %q..., want 44 url-safe base64 characters", id, len(text), text[:4])
		}
		if _, err := parseKey(text); err != nil {
			t.Errorf("key %d: %v", id, err)
		}
	}
	if readKey(t, dir, 0) == readKey(t, dir, 1) {
		t.Error("keys 0 and 1 are equal")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("repository holds %d files, want 2", len(entries))
	}

	// Idempotent: a second Setup changes nothing.
	before := signature(t, dir)
	if err := Setup(dir); err != nil {
		t.Fatal(err)
	}
	if signature(t, dir) != before {
		t.Error("second Setup changed the keys")
	}

	// A lost staged key is recreated without touching the others.
	primary := readKey(t, dir, 1)
	if err := os.Remove(filepath.Join(dir, "0")); err != nil {
		t.Fatal(err)
	}
	if err := Setup(dir); err != nil {
		t.Fatal(err)
	}
	if got := keyIDs(t, dir); !cmp.Equal(got, []int{0, 1}) || readKey(t, dir, 1) != primary {
		t.Errorf("after repair keys = %v", got)
	}

	// An empty staged key counts as missing, as Keystone ignores it.
	if err := os.WriteFile(filepath.Join(dir, "0"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Setup(dir); err != nil {
		t.Fatal(err)
	}
	if readKey(t, dir, 0) == "" {
		t.Error("empty staged key not replaced")
	}
}

func TestSetupExistingDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := Setup(dir); err != nil {
		t.Fatal(err)
	}
	if got := keyIDs(t, dir); !cmp.Equal(got, []int{0, 1}) {
		t.Errorf("keys = %v", got)
	}
}

// TestRotateSequence pins the key file names after each rotation to those of
// keystone-manage fernet_rotate (keystone/common/fernet_utils.py rotate_keys).
func TestRotateSequence(t *testing.T) {
	tests := []struct {
		maxActive int
		want      [][]int // after Setup, then after each Rotate
	}{
		{2, [][]int{{0, 1}, {0, 2}, {0, 3}, {0, 4}}},
		{3, [][]int{{0, 1}, {0, 1, 2}, {0, 2, 3}, {0, 3, 4}, {0, 4, 5}}},
		{0, [][]int{{0, 1}, {0, 1, 2}, {0, 2, 3}, {0, 3, 4}}}, // 0 means 3
		{4, [][]int{{0, 1}, {0, 1, 2}, {0, 1, 2, 3}, {0, 2, 3, 4}, {0, 3, 4, 5}}},
		{5, [][]int{{0, 1}, {0, 1, 2}, {0, 1, 2, 3}, {0, 1, 2, 3, 4}, {0, 2, 3, 4, 5}, {0, 3, 4, 5, 6}}},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		if err := Setup(dir); err != nil {
			t.Fatal(err)
		}
		for i, want := range tt.want {
			if i > 0 {
				staged := readKey(t, dir, 0)
				if err := Rotate(dir, tt.maxActive); err != nil {
					t.Fatal(err)
				}
				// The staged key became the primary key.
				if got := readKey(t, dir, slices.Max(want)); got != staged {
					t.Errorf("max %d rotation %d: primary is not the old staged key", tt.maxActive, i)
				}
			}
			if got := keyIDs(t, dir); !cmp.Equal(got, want) {
				t.Errorf("max %d after %d rotations: keys %v, want %v", tt.maxActive, i, got, want)
			}
		}
	}
}

// TestRotateLikeKeystone is Keystone's TestFernetKeyRotation.test_rotation:
// every max_active_keys from 2 to 52, filling the repository and rotating ten
// more times, with a unique set of keys after every step.
func TestRotateLikeKeystone(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: syncs thousands of files")
	}
	for maxActive := 2; maxActive <= 52; maxActive++ {
		dir := t.TempDir()
		if err := Setup(dir); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{signature(t, dir): true}
		exp := []int{0, 1}
		next := 2
		check := func() {
			t.Helper()
			if got := keyIDs(t, dir); !cmp.Equal(got, exp) {
				t.Fatalf("max %d: keys %v, want %v", maxActive, got, exp)
			}
			sig := signature(t, dir)
			if seen[sig] {
				t.Fatalf("max %d: repository state repeated", maxActive)
			}
			seen[sig] = true
		}
		for range maxActive - 2 {
			if err := Rotate(dir, maxActive); err != nil {
				t.Fatal(err)
			}
			exp = append(exp, next)
			next++
			check()
		}
		for range 10 {
			if err := Rotate(dir, maxActive); err != nil {
				t.Fatal(err)
			}
			exp = append(slices.Delete(exp, 1, 2), next)
			next++
			check()
		}
	}
}

// signature hashes the sorted key contents, like Keystone's
// key_repository_signature.
func signature(t *testing.T, dir string) string {
	t.Helper()
	var keys []string
	for _, id := range keyIDs(t, dir) {
		keys = append(keys, readKey(t, dir, id))
	}
	slices.Sort(keys)
	h := sha1.New()
	for _, k := range keys {
		h.Write([]byte(k))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestRotateOtherFiles mirrors Keystone's test_rotation_empty_file and
// test_non_numeric_files.
func TestRotateOtherFiles(t *testing.T) {
	dir := t.TempDir()
	if err := Setup(dir); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"2": "", "99.bak": "", "~1": "x", "0.tmp": "x"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := Rotate(dir, 3); err != nil {
		t.Fatal(err)
	}
	if readKey(t, dir, 2) == "" {
		t.Error("empty key file 2 was not overwritten by the new primary")
	}
	for _, name := range []string{"99.bak", "~1", "0.tmp"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	k, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(k.keys.Load().keys); n != 3 {
		t.Errorf("loaded %d keys, want 3", n)
	}
}

// TestRotateResumes checks a rotation interrupted after the staged key was
// copied to the new primary is finished, not repeated, by the next Rotate.
func TestRotateResumes(t *testing.T) {
	dir := t.TempDir()
	if err := Setup(dir); err != nil {
		t.Fatal(err)
	}
	oldPrimary, staged := readKey(t, dir, 1), readKey(t, dir, 0)
	// The first step of a rotation: key 0 copied to key 2.
	if err := writeKeyFile(dir, 2, staged); err != nil {
		t.Fatal(err)
	}
	if err := Rotate(dir, 3); err != nil {
		t.Fatal(err)
	}
	if got := keyIDs(t, dir); !cmp.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("keys %v, want [0 1 2]", got)
	}
	if readKey(t, dir, 1) != oldPrimary || readKey(t, dir, 2) != staged || readKey(t, dir, 0) == staged {
		t.Error("interrupted rotation not finished as one rotation")
	}
}

func TestRotateOnlyStaged(t *testing.T) {
	// Keystone promotes a lone key 0 to 1.
	dir := t.TempDir()
	key := newKey()
	if err := os.WriteFile(filepath.Join(dir, "0"), []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Rotate(dir, 3); err != nil {
		t.Fatal(err)
	}
	if got := keyIDs(t, dir); !cmp.Equal(got, []int{0, 1}) || readKey(t, dir, 1) != key {
		t.Errorf("keys %v", got)
	}
}

func TestRotateErrors(t *testing.T) {
	dir := t.TempDir()
	if err := Rotate(dir, 3); !errors.Is(err, ErrNoKeys) {
		t.Errorf("Rotate of an empty repository: %v, want ErrNoKeys", err)
	}
	if err := Rotate(filepath.Join(dir, "missing"), 3); err == nil {
		t.Error("Rotate of a missing directory succeeded")
	}
	if err := Setup(dir); err != nil {
		t.Fatal(err)
	}
	for _, maxActive := range []int{1, -1} {
		if err := Rotate(dir, maxActive); err == nil {
			t.Errorf("Rotate(max %d) succeeded", maxActive)
		}
	}
	if err := os.Remove(filepath.Join(dir, "0")); err != nil {
		t.Fatal(err)
	}
	if err := Rotate(dir, 3); err == nil {
		t.Error("Rotate without a staged key succeeded")
	}
	if err := os.WriteFile(filepath.Join(dir, "0"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Rotate(dir, 3); err == nil || strings.Contains(err.Error(), "garbage") {
		t.Errorf("Rotate with a bad staged key: %v", err)
	}
	if got := keyIDs(t, dir); !cmp.Equal(got, []int{0, 1}) {
		t.Errorf("failed rotations changed the keys: %v", got)
	}
}

func TestRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, tempPrefix+"123"+tempSuffix)
	if err := os.WriteFile(stale, []byte("half a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Setup(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file left: %v", err)
	}
	if err := Rotate(dir, 3); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), tempSuffix) {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// TestConcurrentRotate runs rotations from several goroutines; the directory
// lock makes them serial, so every rotation counts once.
func TestConcurrentRotate(t *testing.T) {
	dir := t.TempDir()
	if err := Setup(dir); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	for range 5 {
		go func() { done <- Rotate(dir, 3) }()
	}
	for range 5 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if got := keyIDs(t, dir); !cmp.Equal(got, []int{0, 5, 6}) {
		t.Errorf("keys %v, want [0 5 6]", got)
	}
}
