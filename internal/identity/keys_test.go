package identity

import (
	"testing"
	"time"
)

func TestKeyRotationKeepsLiveTokens(t *testing.T) {
	tc := newTestCloud(t)
	tc.svc.cfg.KeyRotationInterval = 24 * time.Hour
	if got := tc.svc.maxActiveKeys(); got != 5 {
		t.Fatalf("maxActiveKeys = %d, want 5 for 1h tokens, a 48h window and daily rotation", got)
	}
	old := tc.adminToken
	for i := 0; i < tc.svc.maxActiveKeys()-2; i++ {
		if err := tc.svc.RotateKeys(); err != nil {
			t.Fatal(err)
		}
		if resp, out := doJSON(t, tc.handler, "GET", "/v3/auth/projects", old, nil); resp.StatusCode != 200 {
			t.Fatalf("after %d rotations the old token fails: %d %v", i+1, resp.StatusCode, out)
		}
	}
	// New tokens are signed with the new primary and validate too.
	fresh := tc.passwordToken(t, "admin", testAdminPassword, "admin")
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/auth/projects", fresh, nil); resp.StatusCode != 200 {
		t.Fatal("fresh token after rotation fails")
	}
	// Once the signing key is rotated out, the token no longer validates.
	for i := 0; i < 3; i++ {
		if err := tc.svc.RotateKeys(); err != nil {
			t.Fatal(err)
		}
	}
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/auth/projects", old, nil); resp.StatusCode != 401 {
		t.Fatalf("token from a purged key: %d, want 401", resp.StatusCode)
	}
}
