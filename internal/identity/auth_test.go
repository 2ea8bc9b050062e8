package identity

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/identity/fernet"
)

// authBody builds a password auth request for a Default-domain user with a scope.
func authBody(user, password string, scope any) map[string]any {
	a := map[string]any{"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{
		"user": map[string]any{"name": user, "password": password, "domain": map[string]any{"name": "Default"}}}}}
	if scope != nil {
		a["scope"] = scope
	}
	return map[string]any{"auth": a}
}

func TestTokenIssueShapes(t *testing.T) {
	tc := newTestCloud(t)
	tests := []struct {
		name      string
		scope     any
		wantKey   string
		wantRoles []string
	}{
		{"project by name", map[string]any{"project": map[string]any{"name": "admin", "domain": map[string]any{"id": "default"}}}, "project", []string{"admin", "manager", "member", "reader"}},
		{"domain", map[string]any{"domain": map[string]any{"id": "default"}}, "domain", []string{"admin", "manager", "member", "reader"}},
		{"system", map[string]any{"system": map[string]any{"all": true}}, "system", []string{"admin", "manager", "member", "reader"}},
		{"explicitly unscoped", "unscoped", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, out := doJSON(t, tc.handler, "POST", "/v3/auth/tokens", "", authBody("admin", testAdminPassword, tt.scope))
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("status %d: %v", resp.StatusCode, out)
			}
			if resp.Header.Get("X-Subject-Token") == "" {
				t.Fatal("no X-Subject-Token")
			}
			tok := out["token"].(map[string]any)
			for _, k := range []string{"methods", "user", "audit_ids", "expires_at", "issued_at"} {
				if _, ok := tok[k]; !ok {
					t.Errorf("token lacks %q", k)
				}
			}
			if tt.wantKey == "" {
				if _, ok := tok["roles"]; ok {
					t.Errorf("unscoped token has roles")
				}
				if _, ok := tok["catalog"]; ok {
					t.Errorf("unscoped token has a catalog")
				}
				return
			}
			if _, ok := tok[tt.wantKey]; !ok {
				t.Fatalf("token lacks %q: %v", tt.wantKey, tok)
			}
			var names []string
			for _, r := range tok["roles"].([]any) {
				names = append(names, r.(map[string]any)["name"].(string))
			}
			if len(names) != len(tt.wantRoles) {
				t.Fatalf("roles %v, want %v", names, tt.wantRoles)
			}
			for i := range names {
				if names[i] != tt.wantRoles[i] {
					t.Fatalf("roles %v, want %v", names, tt.wantRoles)
				}
			}
			if _, ok := tok["catalog"]; !ok {
				t.Errorf("scoped token has no catalog")
			}
		})
	}
}

func TestTokenAuthFailures(t *testing.T) {
	tc := newTestCloud(t)
	proj := map[string]any{"project": map[string]any{"name": "admin", "domain": map[string]any{"id": "default"}}}
	tests := []struct {
		name string
		body any
		want int
	}{
		{"wrong password", authBody("admin", "nope", nil), 401},
		{"unknown user", authBody("nobody", "nope", nil), 401},
		{"no role on project", authBody("demo", testDemoPassword, proj), 401},
		{"unknown project", authBody("admin", testAdminPassword, map[string]any{"project": map[string]any{"id": "missing"}}), 401},
		{"methods missing", map[string]any{"auth": map[string]any{"identity": map[string]any{}}}, 400},
		{"identity wrong type", map[string]any{"auth": map[string]any{"identity": "x"}}, 400},
		{"unknown method", map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"totp"}}}}, 401},
		{"body not an object", []int{1}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, out := doJSON(t, tc.handler, "POST", "/v3/auth/tokens", "", tt.body)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tt.want, out)
			}
			e, ok := out["error"].(map[string]any)
			if !ok || e["code"] == nil || e["title"] == nil || e["message"] == nil {
				t.Fatalf("not a Keystone error body: %v", out)
			}
		})
	}
}

func TestTokenValidateAndRevoke(t *testing.T) {
	tc := newTestCloud(t)
	h := tc.handler
	req := func(method, subject string) *http.Response {
		r, _ := http.NewRequest(method, "/v3/auth/tokens", nil)
		r.Header.Set("X-Auth-Token", tc.adminToken)
		r.Header.Set("X-Subject-Token", subject)
		rec := newRecorder()
		h.ServeHTTP(rec, r)
		return rec.Result()
	}
	if got := req("GET", tc.demoToken).StatusCode; got != 200 {
		t.Fatalf("validate: %d", got)
	}
	if got := req("HEAD", tc.demoToken).StatusCode; got != 200 {
		t.Fatalf("check: %d", got)
	}
	if got := req("GET", "garbage").StatusCode; got != 404 {
		t.Fatalf("validate garbage: %d, want 404", got)
	}
	if got := req("DELETE", tc.demoToken).StatusCode; got != 204 {
		t.Fatalf("revoke: %d", got)
	}
	if got := req("GET", tc.demoToken).StatusCode; got != 404 {
		t.Fatalf("validate revoked: %d, want 404", got)
	}
	resp, _ := doJSON(t, h, "GET", "/v3/auth/projects", tc.demoToken, nil)
	if resp.StatusCode != 401 {
		t.Fatalf("revoked token used: %d, want 401", resp.StatusCode)
	}
	// A new token for the same user works right away: revocation is by audit id.
	fresh := tc.passwordToken(t, "demo", testDemoPassword, "demo")
	if resp, out := doJSON(t, h, "GET", "/v3/auth/projects", fresh, nil); resp.StatusCode != 200 {
		t.Fatalf("fresh token: %d %v", resp.StatusCode, out)
	}
}

func TestTamperedAndExpiredTokens(t *testing.T) {
	tc := newTestCloud(t)
	tampered := []byte(tc.adminToken)
	tampered[len(tampered)/2] ^= 1
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/auth/projects", string(tampered), nil); resp.StatusCode != 401 {
		t.Fatalf("tampered token: %d", resp.StatusCode)
	}
	var adminID string
	if err := tc.svc.db.QueryRowContext(context.Background(), `SELECT id FROM users WHERE name = 'admin'`).Scan(&adminID); err != nil {
		t.Fatal(err)
	}
	expired, err := tc.svc.keys.Issue(fernet.Payload{UserID: adminID, Methods: []string{"password"},
		ExpiresAt: time.Now().Add(-time.Minute), AuditIDs: []string{fernet.NewAuditID()}})
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/auth/projects", expired, nil); resp.StatusCode != 401 {
		t.Fatalf("expired token: %d", resp.StatusCode)
	}
	r, _ := http.NewRequest("GET", "/v3/auth/tokens?allow_expired=1", nil)
	r.Header.Set("X-Auth-Token", tc.adminToken)
	r.Header.Set("X-Subject-Token", expired)
	rec := newRecorder()
	tc.handler.ServeHTTP(rec, r)
	if rec.Code != 200 {
		t.Fatalf("allow_expired validation: %d %s", rec.Code, rec.Body)
	}
}

func TestRescopeKeepsExpiryAndChain(t *testing.T) {
	tc := newTestCloud(t)
	resp, out := doJSON(t, tc.handler, "POST", "/v3/auth/tokens", "", authBody("admin", testAdminPassword, "unscoped"))
	if resp.StatusCode != 201 {
		t.Fatal(out)
	}
	unscoped := resp.Header.Get("X-Subject-Token")
	first := out["token"].(map[string]any)
	body := map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"token"}, "token": map[string]any{"id": unscoped}},
		"scope":    map[string]any{"project": map[string]any{"name": "demo", "domain": map[string]any{"id": "default"}}},
	}}
	resp, out = doJSON(t, tc.handler, "POST", "/v3/auth/tokens", "", body)
	if resp.StatusCode != 201 {
		t.Fatalf("rescope: %d %v", resp.StatusCode, out)
	}
	tok := out["token"].(map[string]any)
	if tok["expires_at"] != first["expires_at"] {
		t.Errorf("expires_at %v, want %v", tok["expires_at"], first["expires_at"])
	}
	audit := tok["audit_ids"].([]any)
	if len(audit) != 2 || audit[1] != first["audit_ids"].([]any)[0] {
		t.Errorf("audit_ids %v do not chain to %v", audit, first["audit_ids"])
	}
}

func TestDisablingProjectRevokesItsTokens(t *testing.T) {
	tc := newTestCloud(t)
	ctx := context.Background()
	var demoID string
	if err := tc.svc.db.QueryRowContext(ctx, `SELECT id FROM projects WHERE name = 'demo'`).Scan(&demoID); err != nil {
		t.Fatal(err)
	}
	resp, out := doJSON(t, tc.handler, "PATCH", "/v3/projects/"+demoID, tc.adminToken, map[string]any{"project": map[string]any{"enabled": false}})
	if resp.StatusCode != 200 {
		t.Fatalf("disable: %d %v", resp.StatusCode, out)
	}
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/auth/projects", tc.demoToken, nil); resp.StatusCode != 401 {
		t.Fatalf("token of a disabled project: %d", resp.StatusCode)
	}
	doJSON(t, tc.handler, "PATCH", "/v3/projects/"+demoID, tc.adminToken, map[string]any{"project": map[string]any{"enabled": true}})
	// Tokens issued before the disable stay revoked; new ones work.
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/auth/projects", tc.demoToken, nil); resp.StatusCode != 401 {
		t.Fatalf("old token after re-enable: %d", resp.StatusCode)
	}
	fresh := tc.passwordToken(t, "demo", testDemoPassword, "demo")
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/auth/projects", fresh, nil); resp.StatusCode != 200 {
		t.Fatalf("new token: %d", resp.StatusCode)
	}
}

func TestProjectsAndDomains(t *testing.T) {
	tc := newTestCloud(t)
	h, tok := tc.handler, tc.adminToken
	resp, out := doJSON(t, h, "POST", "/v3/projects", tok, map[string]any{"project": map[string]any{"name": "p1", "description": "d", "tags": []string{"a", "b"}, "color": "blue"}})
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %v", resp.StatusCode, out)
	}
	p := out["project"].(map[string]any)
	if p["domain_id"] != "default" || p["parent_id"] != "default" || p["color"] != "blue" || p["enabled"] != true {
		t.Fatalf("project: %v", p)
	}
	id := p["id"].(string)
	if resp, _ := doJSON(t, h, "POST", "/v3/projects", tok, map[string]any{"project": map[string]any{"name": "p1"}}); resp.StatusCode != 409 {
		t.Fatalf("duplicate: %d", resp.StatusCode)
	}
	if resp, _ := doJSON(t, h, "POST", "/v3/projects", tok, map[string]any{"project": map[string]any{"name": 5}}); resp.StatusCode != 400 {
		t.Fatalf("bad name type: %d", resp.StatusCode)
	}
	long := make([]byte, 65)
	for i := range long {
		long[i] = 'x'
	}
	if resp, _ := doJSON(t, h, "POST", "/v3/projects", tok, map[string]any{"project": map[string]any{"name": string(long)}}); resp.StatusCode != 400 {
		t.Fatalf("long name: %d", resp.StatusCode)
	}
	resp, out = doJSON(t, h, "POST", "/v3/projects", tok, map[string]any{"project": map[string]any{"name": "child", "parent_id": id}})
	if resp.StatusCode != 201 {
		t.Fatalf("child: %d %v", resp.StatusCode, out)
	}
	childID := out["project"].(map[string]any)["id"].(string)
	if resp, _ := doJSON(t, h, "DELETE", "/v3/projects/"+id, tok, nil); resp.StatusCode != 403 {
		t.Fatalf("delete non-leaf: %d", resp.StatusCode)
	}
	resp, out = doJSON(t, h, "GET", "/v3/projects/"+childID+"?parents_as_ids", tok, nil)
	if resp.StatusCode != 200 {
		t.Fatal(out)
	}
	parents := out["project"].(map[string]any)["parents"].(map[string]any)
	if _, ok := parents[id]; !ok {
		t.Fatalf("parents_as_ids: %v", parents)
	}
	resp, out = doJSON(t, h, "GET", "/v3/projects?tags=a,b", tok, nil)
	if resp.StatusCode != 200 || len(out["projects"].([]any)) != 1 {
		t.Fatalf("tags filter: %v", out)
	}
	resp, out = doJSON(t, h, "GET", "/v3/projects?name__icontains=CHI", tok, nil)
	if resp.StatusCode != 200 || len(out["projects"].([]any)) != 1 {
		t.Fatalf("name__icontains: %v", out)
	}
	if resp, _ := doJSON(t, h, "PUT", "/v3/projects/"+id+"/tags/c", tok, nil); resp.StatusCode != 201 {
		t.Fatalf("add tag: %d", resp.StatusCode)
	}
	if resp, _ := doJSON(t, h, "GET", "/v3/projects/"+id+"/tags/c", tok, nil); resp.StatusCode != 204 {
		t.Fatalf("check tag: %d", resp.StatusCode)
	}
	if resp, _ := doJSON(t, h, "PUT", "/v3/projects/"+id+"/tags/a,b", tok, nil); resp.StatusCode != 400 {
		t.Fatalf("bad tag: %d", resp.StatusCode)
	}
	if resp, _ := doJSON(t, h, "GET", "/v3/projects/nope", tok, nil); resp.StatusCode != 404 {
		t.Fatalf("unknown project: %d", resp.StatusCode)
	}
	// Domains: must be disabled before deletion.
	resp, out = doJSON(t, h, "POST", "/v3/domains", tok, map[string]any{"domain": map[string]any{"name": "d1"}})
	if resp.StatusCode != 201 {
		t.Fatalf("domain: %d %v", resp.StatusCode, out)
	}
	did := out["domain"].(map[string]any)["id"].(string)
	if resp, _ := doJSON(t, h, "DELETE", "/v3/domains/"+did, tok, nil); resp.StatusCode != 403 {
		t.Fatalf("delete enabled domain: %d", resp.StatusCode)
	}
	doJSON(t, h, "PATCH", "/v3/domains/"+did, tok, map[string]any{"domain": map[string]any{"enabled": false}})
	if resp, _ := doJSON(t, h, "DELETE", "/v3/domains/"+did, tok, nil); resp.StatusCode != 204 {
		t.Fatalf("delete domain: %d", resp.StatusCode)
	}
	// The demo user is refused.
	if resp, _ := doJSON(t, h, "POST", "/v3/projects", tc.demoToken, map[string]any{"project": map[string]any{"name": "x"}}); resp.StatusCode != 403 {
		t.Fatalf("demo create project: %d", resp.StatusCode)
	}
	if resp, _ := doJSON(t, h, "GET", "/v3/projects", tc.demoToken, nil); resp.StatusCode != 403 {
		t.Fatalf("demo list projects: %d", resp.StatusCode)
	}
}

func TestOversizeBodyIs413(t *testing.T) {
	tc := newTestCloud(t)
	big := make([]byte, 120000)
	for i := range big {
		big[i] = 'a'
	}
	resp, out := doJSON(t, tc.handler, "POST", "/v3/projects", tc.adminToken, map[string]any{"project": map[string]any{"name": "x", "description": string(big)}})
	if resp.StatusCode != 413 {
		t.Fatalf("status %d: %v", resp.StatusCode, out)
	}
}

func TestVersionDocuments(t *testing.T) {
	tc := newTestCloud(t)
	resp, out := doJSON(t, tc.handler, "GET", "/", "", nil)
	if resp.StatusCode != 300 || out["versions"] == nil {
		t.Fatalf("GET /: %d %v", resp.StatusCode, out)
	}
	resp, out = doJSON(t, tc.handler, "GET", "/v3", "", nil)
	if resp.StatusCode != 200 || out["version"].(map[string]any)["id"] != apiVersion {
		t.Fatalf("GET /v3: %d %v", resp.StatusCode, out)
	}
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/nothing-here", tc.adminToken, nil); resp.StatusCode != 404 {
		t.Fatalf("unknown path: %d", resp.StatusCode)
	}
	if resp, _ := doJSON(t, tc.handler, "PUT", "/v3/projects", tc.adminToken, nil); resp.StatusCode != 405 {
		t.Fatalf("wrong method: %d", resp.StatusCode)
	}
}
