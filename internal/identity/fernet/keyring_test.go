package fernet

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestValidateTampered(t *testing.T) {
	k, dir := testKeyring(t)
	token, err := k.Issue(samplePayload())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := decodeToken(token)
	if err != nil {
		t.Fatal(err)
	}
	// Flip every bit of every byte: version, timestamp, IV, ciphertext, MAC.
	for i := range raw {
		for bit := range 8 {
			bad := append([]byte(nil), raw...)
			bad[i] ^= 1 << bit
			if p, err := k.Validate(encodeToken(bad)); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("byte %d bit %d flipped: Validate = %+v, %v", i, bit, p, err)
			}
		}
	}
	cases := map[string]string{
		"empty":            "",
		"uuid token":       "5b9b8c07e2a54f2c9a0c5a2d6e4f1a01",
		"truncated":        token[:len(token)-1],
		"truncated block":  encodeToken(raw[:len(raw)-16]),
		"appended":         token + "A",
		"appended block":   encodeToken(append(append([]byte(nil), raw...), make([]byte, 16)...)),
		"three pads":       token + "===",
		"space":            token + " ",
		"newline":          token[:10] + "\n" + token[10:],
		"standard base64":  strings.NewReplacer("-", "+", "_", "/").Replace(token),
		"other key":        otherKeyToken(t),
		"too long":         strings.Repeat("A", maxTokenLen+4),
		"header only":      encodeToken(raw[:headerLen]),
		"only mac":         encodeToken(raw[len(raw)-macLen:]),
		"ciphertext empty": encodeToken(append(append([]byte(nil), raw[:headerLen]...), raw[len(raw)-macLen:]...)),
	}
	if !strings.ContainsAny(token, "-_") {
		delete(cases, "standard base64")
	}
	for name, tok := range cases {
		p, err := k.Validate(tok)
		if !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: Validate = %+v, %v; want ErrInvalidToken", name, p, err)
			continue
		}
		// Messages never carry key material or the token.
		for _, id := range keyIDs(t, dir) {
			if key := strings.TrimSpace(readKey(t, dir, id)); strings.Contains(err.Error(), key) || strings.Contains(err.Error(), key[:16]) {
				t.Errorf("%s: error %q leaks key %d", name, err, id)
			}
		}
		if len(tok) > 20 && strings.Contains(err.Error(), tok[:20]) {
			t.Errorf("%s: error %q leaks the token", name, err)
		}
	}
}

// otherKeyToken issues a token with a keyring of its own.
func otherKeyToken(t *testing.T) string {
	t.Helper()
	k, _ := testKeyring(t)
	token, err := k.Issue(samplePayload())
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// TestPadding checks tokens are issued without '=' and accepted with or
// without the padding Keystone's restore_padding puts back.
func TestPadding(t *testing.T) {
	k, _ := testKeyring(t)
	seen := map[int]bool{}
	for n := range 48 { // payload lengths cover every base64 remainder
		p := samplePayload()
		p.UserID = strings.Repeat("u", n+1)
		token, err := k.Issue(p)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(token, "=") {
			t.Fatalf("token %q has padding", token)
		}
		seen[len(token)%4] = true
		padded := token + strings.Repeat("=", (4-len(token)%4)%4)
		for _, tok := range []string{token, padded} {
			got, err := k.Validate(tok)
			if err != nil || got.UserID != p.UserID {
				t.Fatalf("Validate(%q) = %+v, %v", tok, got, err)
			}
		}
		if len(token)%4 != 0 {
			if _, err := k.Validate(padded + "="); len(token)%4 == 2 && !errors.Is(err, ErrInvalidToken) {
				t.Errorf("over-padded token accepted")
			}
		}
	}
	// Raw Fernet tokens are 57 + 16n bytes, so their text is 76 + 21.33n
	// characters: all three possible remainders must have been seen.
	for _, r := range []int{0, 2, 3} {
		if !seen[r] {
			t.Errorf("no token with length %% 4 == %d", r)
		}
	}
}

// TestRotationAcceptance follows tokens through key rotations: a token stays
// valid while its key is primary or secondary, a token made with the staged
// key (by a node that rotated first) is valid, and a token whose key was
// purged is rejected.
func TestRotationAcceptance(t *testing.T) {
	k, dir := testKeyring(t)
	first, err := k.Issue(samplePayload())
	if err != nil {
		t.Fatal(err)
	}
	// Another node that already rotated issues with our staged key 0.
	staged := keyringFromKeys(t, readKey(t, dir, 0))
	early, err := staged.Issue(samplePayload())
	if err != nil {
		t.Fatal(err)
	}
	mustValidate(t, k, "staged-key token before rotation", early)

	if err := Rotate(dir, 3); err != nil { // keys 0, 1, 2
		t.Fatal(err)
	}
	if err := k.Reload(); err != nil {
		t.Fatal(err)
	}
	mustValidate(t, k, "token of the secondary key", first)
	mustValidate(t, k, "token of the new primary key", early)
	second, err := k.Issue(samplePayload())
	if err != nil {
		t.Fatal(err)
	}
	if tokenKey(t, dir, second) != 2 {
		t.Errorf("new token not issued with the new primary key 2")
	}

	if err := Rotate(dir, 3); err != nil { // keys 0, 2, 3: key 1 purged
		t.Fatal(err)
	}
	mustValidate(t, k, "token of a purged key before Reload", first)
	if err := k.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Validate(first); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("token of purged key 1: %v, want ErrInvalidToken", err)
	}
	mustValidate(t, k, "token of secondary key 2", second)
	mustValidate(t, k, "token of secondary key 2 (made as staged)", early)
}

func mustValidate(t *testing.T, k *Keyring, what, token string) {
	t.Helper()
	if _, err := k.Validate(token); err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

// tokenKey returns the number of the key file that validates token.
func tokenKey(t *testing.T, dir, token string) int {
	t.Helper()
	for _, id := range keyIDs(t, dir) {
		if _, err := keyringFromKeys(t, readKey(t, dir, id)).Validate(token); err == nil {
			return id
		}
	}
	return -1
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Load of a missing directory succeeded")
	}
	empty := t.TempDir()
	if _, err := Load(empty); !errors.Is(err, ErrNoKeys) {
		t.Errorf("Load of an empty directory: %v, want ErrNoKeys", err)
	}
	// Keystone ignores empty and non-numeric files.
	for name, content := range map[string]string{"2": "", "~1": "x", "99.bak": "x", "01": "x"} {
		if err := os.WriteFile(filepath.Join(empty, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Load(empty); !errors.Is(err, ErrNoKeys) {
		t.Errorf("Load of ignored files only: %v, want ErrNoKeys", err)
	}
	const secret = "c2VjcmV0IGJ1dCBub3QgYSBrZXk="
	if err := os.WriteFile(filepath.Join(empty, "1"), []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(empty)
	if err == nil {
		t.Fatal("Load accepted an invalid key")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error %q leaks the key file content", err)
	}
}

func TestReloadKeepsKeysOnError(t *testing.T) {
	k, dir := testKeyring(t)
	token, err := k.Issue(samplePayload())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range keyIDs(t, dir) {
		if err := os.Remove(filepath.Join(dir, strconv.Itoa(id))); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.Reload(); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("Reload: %v, want ErrNoKeys", err)
	}
	mustValidate(t, k, "token after failed Reload", token)
}

// TestConcurrent issues, validates, rotates and reloads at once; run with
// -race.
func TestConcurrent(t *testing.T) {
	k, dir := testKeyring(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				token, err := k.Issue(samplePayload())
				if err != nil {
					t.Error(err)
					return
				}
				// Between Issue and Validate at most two rotations
				// happen below, and three keys are kept, so the token
				// can be missing only if its key was purged.
				if _, err := k.Validate(token); err != nil && !errors.Is(err, ErrInvalidToken) {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if err := Rotate(dir, 3); err != nil {
				t.Error(err)
				return
			}
			if err := k.Reload(); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
}

func TestZeroKeyring(t *testing.T) {
	var k Keyring
	if _, err := k.Issue(samplePayload()); !errors.Is(err, ErrNoKeys) {
		t.Errorf("Issue: %v, want ErrNoKeys", err)
	}
	if _, err := k.Validate(otherKeyToken(t)); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Validate: %v, want ErrInvalidToken", err)
	}
}
