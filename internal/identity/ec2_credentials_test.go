package identity

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// ec2Path is the OS-EC2 collection of a user.
func ec2Path(userID string) string { return "/v3/users/" + userID + "/credentials/OS-EC2" }

// ec2Call sends a request and fails the test unless the status is want.
func ec2Call(t *testing.T, tc *testCloud, token, method, path string, body any, want int) map[string]any {
	t.Helper()
	resp, out := doJSON(t, tc.handler, method, path, token, body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %v", method, path, resp.StatusCode, want, out)
	}
	return out
}

func TestEC2Credentials(t *testing.T) {
	tc := newTestCloud(t)
	demo := lookupID(t, tc.svc, "users", "demo")
	demoProject := lookupID(t, tc.svc, "projects", "demo")
	admin := lookupID(t, tc.svc, "users", "admin")

	cred := ec2Call(t, tc, tc.demoToken, "POST", ec2Path(demo), map[string]any{"tenant_id": demoProject}, http.StatusCreated)["credential"].(map[string]any)
	access, _ := cred["access"].(string)
	if access == "" || cred["secret"] == "" || cred["user_id"] != demo || cred["tenant_id"] != demoProject || cred["trust_id"] != nil {
		t.Fatalf("created: %v", cred)
	}
	if self, _ := cred["links"].(map[string]any)["self"].(string); !strings.HasSuffix(self, ec2Path(demo)+"/"+access) {
		t.Errorf("links.self %q", self)
	}

	// It is a credential of type ec2 whose id is the hash of the access key.
	stored, err := tc.svc.getCredential(t.Context(), tc.svc.db, ec2CredentialID(access))
	if err != nil {
		t.Fatal(err)
	}
	var blob map[string]any
	if err := json.Unmarshal([]byte(stored.Blob), &blob); err != nil || stored.Type != "ec2" || blob["access"] != access || blob["secret"] != cred["secret"] {
		t.Errorf("stored credential %+v (%v)", stored, err)
	}

	shown := ec2Call(t, tc, tc.demoToken, "GET", ec2Path(demo)+"/"+access, nil, http.StatusOK)["credential"].(map[string]any)
	for _, k := range []string{"access", "secret", "user_id", "tenant_id"} {
		if shown[k] != cred[k] {
			t.Errorf("shown %s = %v, want %v", k, shown[k], cred[k])
		}
	}
	ec2Call(t, tc, tc.demoToken, "HEAD", ec2Path(demo)+"/"+access, nil, http.StatusOK)
	list := ec2Call(t, tc, tc.demoToken, "GET", ec2Path(demo), nil, http.StatusOK)
	if items := list["credentials"].([]any); len(items) != 1 || items[0].(map[string]any)["access"] != access {
		t.Errorf("list: %v", list)
	}
	if _, ok := list["links"].(map[string]any); !ok {
		t.Errorf("list without links: %v", list)
	}

	// Others' EC2 credentials are out of reach of members; admins reach them.
	alt := tc.passwordToken(t, "alt_demo", testDemoPassword, "alt_demo")
	ec2Call(t, tc, alt, "GET", ec2Path(demo)+"/"+access, nil, http.StatusForbidden)
	ec2Call(t, tc, alt, "GET", ec2Path(demo), nil, http.StatusForbidden)
	ec2Call(t, tc, alt, "POST", ec2Path(demo), map[string]any{"tenant_id": demoProject}, http.StatusForbidden)
	ec2Call(t, tc, alt, "DELETE", ec2Path(demo)+"/"+access, nil, http.StatusForbidden)
	ec2Call(t, tc, tc.adminToken, "GET", ec2Path(demo)+"/"+access, nil, http.StatusOK)

	for _, tt := range []struct {
		name, user string
		body       map[string]any
		want       int
	}{
		{"no tenant", demo, map[string]any{}, http.StatusNotFound},
		{"unknown tenant", demo, map[string]any{"tenant_id": "nowhere"}, http.StatusNotFound},
		{"tenant not a string", demo, map[string]any{"tenant_id": 5}, http.StatusBadRequest},
		{"unknown user", "nobody", map[string]any{"tenant_id": demoProject}, http.StatusNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ec2Call(t, tc, tc.adminToken, "POST", ec2Path(tt.user), tt.body, tt.want)
		})
	}
	ec2Call(t, tc, tc.adminToken, "GET", ec2Path("nobody"), nil, http.StatusNotFound)

	// A credential of another type under an access key's hash is refused.
	raExec(t, tc.svc, `INSERT INTO credentials (id, user_id, project_id, type, blob) VALUES (?, ?, ?, ?, ?)`,
		ec2CredentialID("totp-key"), admin, nil, "totp", "secret")
	ec2Call(t, tc, tc.adminToken, "GET", ec2Path(admin)+"/totp-key", nil, http.StatusUnauthorized)
	if items := ec2Call(t, tc, tc.adminToken, "GET", ec2Path(admin), nil, http.StatusOK)["credentials"].([]any); len(items) != 0 {
		t.Errorf("non-EC2 credential listed: %v", items)
	}

	ec2Call(t, tc, tc.demoToken, "DELETE", ec2Path(demo)+"/"+access, nil, http.StatusNoContent)
	ec2Call(t, tc, tc.demoToken, "GET", ec2Path(demo)+"/"+access, nil, http.StatusNotFound)
	ec2Call(t, tc, tc.demoToken, "DELETE", ec2Path(demo)+"/"+access, nil, http.StatusNotFound)
}

func TestEC2CredentialsWithDelegatedTokens(t *testing.T) {
	f := newTrustFixture(t)
	tc := f.tc
	demoProject := lookupID(t, tc.svc, "projects", "demo")
	// The trustor needs the member role on the project for the create rule.
	f.call(t, tc.adminToken, "PUT", "/v3/projects/"+f.projectID+"/users/"+f.trustorID+"/roles/"+raRoleID(t, tc.svc, "member"), nil, http.StatusNoContent)
	tr := f.createTrust(t, map[string]any{"impersonation": true, "roles": []any{map[string]any{"name": "member"}}})
	_, tok, out := f.trustToken(t, tr["id"].(string))
	if tok == "" {
		t.Fatalf("trust token: %v", out)
	}
	// A trust token records its trust and reaches only its project.
	cred := ec2Call(t, tc, tok, "POST", ec2Path(f.trustorID), map[string]any{"tenant_id": f.projectID}, http.StatusCreated)["credential"].(map[string]any)
	if cred["trust_id"] != tr["id"] {
		t.Errorf("trust_id %v, want %v", cred["trust_id"], tr["id"])
	}
	ec2Call(t, tc, tok, "POST", ec2Path(f.trustorID), map[string]any{"tenant_id": demoProject}, http.StatusForbidden)
	other := ec2Call(t, tc, tc.adminToken, "POST", ec2Path(f.trustorID), map[string]any{"tenant_id": demoProject}, http.StatusCreated)["credential"].(map[string]any)
	ec2Call(t, tc, tok, "GET", ec2Path(f.trustorID)+"/"+other["access"].(string), nil, http.StatusForbidden)
	items := ec2Call(t, tc, tok, "GET", ec2Path(f.trustorID), nil, http.StatusOK)["credentials"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["access"] != cred["access"] {
		t.Errorf("trust token lists %v, want only its project's credential", items)
	}

	// A restricted application credential may not make EC2 credentials.
	ac := createAppCredOK(t, tc, f.trustorToken, f.trustorID, map[string]any{"name": "restricted"})
	_, acTok, _ := appCredToken(t, tc, map[string]any{"id": ac["id"], "secret": ac["secret"]})
	ec2Call(t, tc, acTok, "POST", ec2Path(f.trustorID), map[string]any{"tenant_id": f.projectID}, http.StatusForbidden)
}
