package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// createCredential posts a credential and returns the status and the rendered credential.
func postCredential(t testing.TB, tc *testCloud, token string, body map[string]any) (int, map[string]any) {
	t.Helper()
	resp, out := doJSON(t, tc.handler, "POST", "/v3/credentials", token, map[string]any{"credential": body})
	c, _ := out["credential"].(map[string]any)
	if c == nil {
		c = out
	}
	return resp.StatusCode, c
}

func TestCredentialCRUD(t *testing.T) {
	tc := newTestCloud(t)
	demo := lookupID(t, tc.svc, "users", "demo")

	status, c := postCredential(t, tc, tc.adminToken, map[string]any{"type": "cert", "blob": "-----BEGIN-----", "user_id": demo, "serial": "42"})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, c)
	}
	id, _ := c["id"].(string)
	if len(id) != 32 || c["user_id"] != demo || c["type"] != "cert" || c["blob"] != "-----BEGIN-----" || c["project_id"] != nil || c["serial"] != "42" {
		t.Errorf("create response = %v", c)
	}
	if self := c["links"].(map[string]any)["self"].(string); !strings.HasSuffix(self, "/v3/credentials/"+id) {
		t.Errorf("self link %q", self)
	}

	resp, out := doJSON(t, tc.handler, "GET", "/v3/credentials/"+id, tc.adminToken, nil)
	if resp.StatusCode != http.StatusOK || out["credential"].(map[string]any)["blob"] != "-----BEGIN-----" {
		t.Errorf("show: %d %v", resp.StatusCode, out)
	}

	resp, out = doJSON(t, tc.handler, "PATCH", "/v3/credentials/"+id, tc.adminToken, map[string]any{"credential": map[string]any{"blob": "new", "note": "x"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("update: %d %v", resp.StatusCode, out)
	}
	if u := out["credential"].(map[string]any); u["blob"] != "new" || u["type"] != "cert" || u["note"] != "x" || u["serial"] != "42" {
		t.Errorf("update response = %v", u)
	}
	if resp, _ := doJSON(t, tc.handler, "PATCH", "/v3/credentials/"+id, tc.adminToken, map[string]any{"credential": map[string]any{"id": "other"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("changing the id: %d, want 400", resp.StatusCode)
	}
	if resp, _ := doJSON(t, tc.handler, "PATCH", "/v3/credentials/"+id, tc.adminToken, map[string]any{"credential": map[string]any{"type": "ec2"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("becoming ec2 without a project: %d, want 400", resp.StatusCode)
	}

	postCredential(t, tc, tc.adminToken, map[string]any{"type": "totp", "blob": "seed", "user_id": demo})
	_, out = doJSON(t, tc.handler, "GET", "/v3/credentials?type=cert", tc.adminToken, nil)
	if list := out["credentials"].([]any); len(list) != 1 || list[0].(map[string]any)["id"] != id {
		t.Errorf("type filter: %v", list)
	}
	_, out = doJSON(t, tc.handler, "GET", "/v3/credentials?user_id="+demo, tc.adminToken, nil)
	if list := out["credentials"].([]any); len(list) != 2 {
		t.Errorf("user filter: %v", list)
	}
	_, out = doJSON(t, tc.handler, "GET", "/v3/credentials?user_id=nobody", tc.adminToken, nil)
	if list := out["credentials"].([]any); len(list) != 0 {
		t.Errorf("user filter for nobody: %v", list)
	}

	if resp, _ := doJSON(t, tc.handler, "DELETE", "/v3/credentials/"+id, tc.adminToken, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	resp, out = doJSON(t, tc.handler, "GET", "/v3/credentials/"+id, tc.adminToken, nil)
	if resp.StatusCode != http.StatusNotFound || out["error"].(map[string]any)["message"] != "Could not find credential: "+id+"." {
		t.Errorf("show after delete: %d %v", resp.StatusCode, out)
	}
}

func TestCredentialValidation(t *testing.T) {
	tc := newTestCloud(t)
	demo := lookupID(t, tc.svc, "users", "demo")
	project := lookupID(t, tc.svc, "projects", "demo")
	tests := []struct {
		name string
		body map[string]any
		want int
	}{
		{"missing blob", map[string]any{"type": "cert", "user_id": demo}, http.StatusBadRequest},
		{"missing type", map[string]any{"blob": "x", "user_id": demo}, http.StatusBadRequest},
		{"missing user", map[string]any{"blob": "x", "type": "cert"}, http.StatusBadRequest},
		{"blob not a string", map[string]any{"blob": map[string]any{"access": "a"}, "type": "cert", "user_id": demo}, http.StatusBadRequest},
		{"ec2 without project", map[string]any{"blob": `{"access":"a","secret":"b"}`, "type": "ec2", "user_id": demo}, http.StatusBadRequest},
		{"ec2 blob not JSON", map[string]any{"blob": "nope", "type": "ec2", "user_id": demo, "project_id": project}, http.StatusBadRequest},
		{"ec2 blob without access", map[string]any{"blob": `{"secret":"b"}`, "type": "ec2", "user_id": demo, "project_id": project}, http.StatusBadRequest},
		{"ec2 blob not an object", map[string]any{"blob": `[1]`, "type": "ec2", "user_id": demo, "project_id": project}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, out := postCredential(t, tc, tc.adminToken, tt.body); status != tt.want {
				t.Errorf("status %d, want %d: %v", status, tt.want, out)
			}
		})
	}
}

func TestEC2CredentialID(t *testing.T) {
	tc := newTestCloud(t)
	demo := lookupID(t, tc.svc, "users", "demo")
	project := lookupID(t, tc.svc, "projects", "demo")
	blob := `{"access":"181920","secret":"secretKey"}`
	status, c := postCredential(t, tc, tc.demoToken, map[string]any{"type": "ec2", "blob": blob, "user_id": demo, "project_id": project, "id": "ignored"})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, c)
	}
	// Keystone's api-ref example: access "181920" gives this id.
	const want = "3d3367228f9c7665266604462ec60029bcd83ad89614021a80b2eb879c572510"
	sum := sha256.Sum256([]byte("181920"))
	if c["id"] != want || want != hex.EncodeToString(sum[:]) || c["project_id"] != project || c["blob"] != blob {
		t.Errorf("ec2 credential = %v, want id %s", c, want)
	}
	if status, out := postCredential(t, tc, tc.demoToken, map[string]any{"type": "ec2", "blob": `{"access":"181920","secret":"other"}`, "user_id": demo, "project_id": project}); status != http.StatusConflict {
		t.Errorf("same access key again: %d %v, want 409", status, out)
	}
	// The delegation keys of an EC2 blob cannot change.
	resp, out := doJSON(t, tc.handler, "PATCH", "/v3/credentials/"+want, tc.demoToken, map[string]any{"credential": map[string]any{
		"blob": `{"access":"181920","secret":"s2","trust_id":"t"}`}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("adding trust_id: %d %v, want 400", resp.StatusCode, out)
	}
	resp, out = doJSON(t, tc.handler, "PATCH", "/v3/credentials/"+want, tc.demoToken, map[string]any{"credential": map[string]any{
		"blob": `{"access":"181920","secret":"s2"}`}})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("changing the secret: %d %v", resp.StatusCode, out)
	}
}

func TestCredentialOwnerIsolation(t *testing.T) {
	tc := newTestCloud(t)
	demo := lookupID(t, tc.svc, "users", "demo")
	admin := lookupID(t, tc.svc, "users", "admin")

	status, own := postCredential(t, tc, tc.demoToken, map[string]any{"type": "totp", "blob": "demo-seed", "user_id": demo})
	if status != http.StatusCreated {
		t.Fatalf("demo creating its own credential: %d %v", status, own)
	}
	if status, out := postCredential(t, tc, tc.demoToken, map[string]any{"type": "totp", "blob": "x", "user_id": admin}); status != http.StatusForbidden {
		t.Errorf("demo creating admin's credential: %d %v, want 403", status, out)
	}
	status, theirs := postCredential(t, tc, tc.adminToken, map[string]any{"type": "totp", "blob": "admin-seed", "user_id": admin})
	if status != http.StatusCreated {
		t.Fatalf("admin create: %d %v", status, theirs)
	}
	ownID, theirID := own["id"].(string), theirs["id"].(string)

	resp, out := doJSON(t, tc.handler, "GET", "/v3/credentials", tc.demoToken, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("demo list: %d %v", resp.StatusCode, out)
	}
	if list := out["credentials"].([]any); len(list) != 1 || list[0].(map[string]any)["id"] != ownID {
		t.Errorf("demo sees %v, want only its own credential", list)
	}
	_, out = doJSON(t, tc.handler, "GET", "/v3/credentials?user_id="+admin, tc.demoToken, nil)
	if list := out["credentials"].([]any); len(list) != 0 {
		t.Errorf("demo filtering on admin sees %v", list)
	}
	_, out = doJSON(t, tc.handler, "GET", "/v3/credentials", tc.adminToken, nil)
	if list := out["credentials"].([]any); len(list) != 2 {
		t.Errorf("admin sees %d credentials, want 2", len(list))
	}

	for _, m := range []string{"GET", "DELETE"} {
		if resp, _ := doJSON(t, tc.handler, m, "/v3/credentials/"+theirID, tc.demoToken, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("demo %s admin's credential: %d, want 403", m, resp.StatusCode)
		}
	}
	if resp, _ := doJSON(t, tc.handler, "PATCH", "/v3/credentials/"+theirID, tc.demoToken, map[string]any{"credential": map[string]any{"blob": "stolen"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("demo updating admin's credential: %d, want 403", resp.StatusCode)
	}
	// Handing one's credential to someone else is an update the owner rule refuses.
	if resp, _ := doJSON(t, tc.handler, "PATCH", "/v3/credentials/"+ownID, tc.demoToken, map[string]any{"credential": map[string]any{"user_id": admin}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("demo giving its credential to admin: %d, want 403", resp.StatusCode)
	}
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/credentials/"+ownID, tc.demoToken, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("demo reading its own credential: %d", resp.StatusCode)
	}
	if resp, _ := doJSON(t, tc.handler, "DELETE", "/v3/credentials/"+ownID, tc.demoToken, nil); resp.StatusCode != http.StatusNoContent {
		t.Errorf("demo deleting its own credential: %d", resp.StatusCode)
	}
}

func TestCredentialsFromAppCredToken(t *testing.T) {
	tc := newTestCloud(t)
	demo := lookupID(t, tc.svc, "users", "demo")
	project := lookupID(t, tc.svc, "projects", "demo")
	alt := lookupID(t, tc.svc, "projects", "alt_demo")
	restricted := createAppCredOK(t, tc, tc.demoToken, demo, map[string]any{"name": "r"})
	unrestricted := createAppCredOK(t, tc, tc.demoToken, demo, map[string]any{"name": "u", "unrestricted": true})
	_, rtok, _ := appCredToken(t, tc, map[string]any{"id": restricted["id"], "secret": restricted["secret"]})
	_, utok, _ := appCredToken(t, tc, map[string]any{"id": unrestricted["id"], "secret": unrestricted["secret"]})
	if rtok == "" || utok == "" {
		t.Fatal("no application credential tokens")
	}
	ec2 := func(access, projectID string) map[string]any {
		return map[string]any{"type": "ec2", "blob": `{"access":"` + access + `","secret":"s"}`, "user_id": demo, "project_id": projectID}
	}
	if status, out := postCredential(t, tc, rtok, ec2("a1", project)); status != http.StatusForbidden {
		t.Errorf("ec2 from a restricted credential: %d %v, want 403", status, out)
	}
	if status, out := postCredential(t, tc, utok, ec2("a2", alt)); status != http.StatusForbidden {
		t.Errorf("ec2 for another project from an application credential: %d %v, want 403", status, out)
	}
	status, c := postCredential(t, tc, utok, ec2("a3", project))
	if status != http.StatusCreated {
		t.Fatalf("ec2 from an unrestricted credential: %d %v", status, c)
	}
	var blob map[string]any
	if err := json.Unmarshal([]byte(c["blob"].(string)), &blob); err != nil || blob["app_cred_id"] != unrestricted["id"] {
		t.Errorf("blob %v does not record the application credential", c["blob"])
	}
	// Credentials without a project are out of reach of application credential tokens.
	status, totp := postCredential(t, tc, tc.demoToken, map[string]any{"type": "totp", "blob": "seed", "user_id": demo})
	if status != http.StatusCreated {
		t.Fatal(status)
	}
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/credentials/"+totp["id"].(string), utok, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("reading a project-less credential with an application credential token: %d, want 403", resp.StatusCode)
	}
	_, out := doJSON(t, tc.handler, "GET", "/v3/credentials", utok, nil)
	if list := out["credentials"].([]any); len(list) != 1 {
		t.Errorf("application credential token lists %v, want only the project's ec2 credential", list)
	}
}
