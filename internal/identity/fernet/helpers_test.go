package fernet

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// Fixed IDs used across tests.
const (
	uuidUser    = "5b9b8c07e2a54f2c9a0c5a2d6e4f1a01"
	uuidProject = "0c1d2e3f405162738495a6b7c8d9eaf1"
	uuidDomain  = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
	uuidTrust   = "00112233445566778899aabbccddeeff"
	uuidAppCred = "ffeeddccbbaa99887766554433221100"
	auditA      = "AAECAwQFBgcICQoLDA0ODw"
	auditB      = "EBESExQVFhcYGRobHB0eHw"
)

// testKeyring sets up a key repository in a temporary directory and loads it.
func testKeyring(t testing.TB) (*Keyring, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fernet-keys")
	if err := Setup(dir); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	k, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return k, dir
}

// keyringFromKeys writes keys (primary first, as Keystone's load_keys returns
// them) into a repository and loads it.
func keyringFromKeys(t testing.TB, keys ...string) *Keyring {
	t.Helper()
	dir := t.TempDir()
	for i, key := range keys {
		name := strconv.Itoa(len(keys) - 1 - i)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(key), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	k, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return k
}

// keyIDs lists the key numbers in dir, ascending, as Keystone's tests do.
func keyIDs(t testing.TB, dir string) []int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, e := range entries {
		id, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// readKey returns the text of key file id in dir.
func readKey(t testing.TB, dir string, id int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(id)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ksTime formats t the way Keystone's validate_token reports times
// (isotime with subsecond=True drops the microseconds).
func ksTime(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05.000000Z")
}

// exactTime formats t with microseconds.
func exactTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

// samplePayload is a project scoped payload with fixed values.
func samplePayload() Payload {
	return Payload{
		UserID:    uuidUser,
		Methods:   []string{"password"},
		ExpiresAt: time.Date(2026, 7, 18, 14, 14, 56, 123456000, time.UTC),
		AuditIDs:  []string{auditA},
		ProjectID: uuidProject,
		IssuedAt:  time.Date(2026, 7, 18, 13, 14, 56, 0, time.UTC),
	}
}
