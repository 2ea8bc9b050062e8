package identity

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/ec2tokens"
)

// ec2Golden is testdata/ec2_signatures.json: signatures computed by
// python-keystoneclient's Ec2Signer and Keystone's s3tokens code
// (testdata/ec2_signatures.py regenerates it).
type ec2Golden struct {
	Secret string `json:"secret"`
	EC2    []struct {
		Name      string         `json:"name"`
		Creds     map[string]any `json:"creds"`
		Signature string         `json:"signature"`
	} `json:"ec2"`
	S3 []struct {
		Name      string `json:"name"`
		Token     string `json:"token"`
		Signature string `json:"signature"`
	} `json:"s3"`
}

func loadEC2Golden(t *testing.T) ec2Golden {
	t.Helper()
	b, err := os.ReadFile("testdata/ec2_signatures.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var g ec2Golden
	if err := dec.Decode(&g); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestEC2SignaturesMatchKeystone(t *testing.T) {
	g := loadEC2Golden(t)
	for _, c := range g.EC2 {
		t.Run(c.Name, func(t *testing.T) {
			got, err := ec2Signature(g.Secret, c.Creds)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.Signature {
				t.Errorf("signature %q, want %q", got, c.Signature)
			}
			if _, err := ec2Signature("other", c.Creds); err != nil {
				t.Fatal(err)
			}
			if sig, _ := ec2Signature("other", c.Creds); sig == c.Signature {
				t.Error("another secret gives the same signature")
			}
		})
	}
	for _, c := range g.S3 {
		t.Run(c.Name, func(t *testing.T) {
			if err := checkS3Signature(g.Secret, map[string]any{"token": c.Token, "signature": c.Signature}); err != nil {
				t.Errorf("valid signature refused: %v", err)
			}
			if err := checkS3Signature("other", map[string]any{"token": c.Token, "signature": c.Signature}); err == nil {
				t.Error("signature accepted with another secret")
			}
		})
	}
}

func TestEC2SignatureErrors(t *testing.T) {
	for name, creds := range map[string]map[string]any{
		"no params":         {},
		"params not object": {"params": []any{}},
		"unknown version":   {"params": map[string]any{"SignatureVersion": "3"}},
		"no version":        {"params": map[string]any{}},
		"v0 without action": {"params": map[string]any{"SignatureVersion": "0"}},
		"v2 without verb":   {"params": map[string]any{"SignatureVersion": "2"}, "host": "h", "path": "/"},
		"v4 bad credential": {"params": map[string]any{}, "verb": "GET", "path": "/", "body_hash": "x",
			"headers": map[string]any{"Authorization": "AWS4-HMAC-SHA256 Credential=AK, SignedHeaders=host", "X-Amz-Date": "20260101T000000Z"}},
		"v4 date mismatch": {"params": map[string]any{}, "verb": "GET", "path": "/", "body_hash": "x",
			"headers": map[string]any{"Authorization": "AWS4-HMAC-SHA256 Credential=AK/20260102/r/s3/aws4_request, SignedHeaders=host", "X-Amz-Date": "20260101T000000Z"}},
		"v4 headers not object": {"params": map[string]any{"X-Amz-Algorithm": "AWS4-HMAC-SHA256"}, "headers": "x"},
	} {
		if _, err := ec2Signature("secret", creds); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseISO8601(t *testing.T) {
	for in, want := range map[string]string{
		"2026-01-02T03:04:05Z":        "2026-01-02T03:04:05Z",
		"20260102T030405Z":            "2026-01-02T03:04:05Z",
		"2026-01-02T03:04:05.5+01:00": "2026-01-02T02:04:05.5Z",
		"2026-01-02 03:04:05":         "2026-01-02T03:04:05Z",
		"2026-01-02":                  "2026-01-02T00:00:00Z",
	} {
		got, err := parseISO8601(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if s := got.Format(time.RFC3339Nano); s != want {
			t.Errorf("%s: %s, want %s", in, s, want)
		}
	}
	for _, in := range []string{"", "yesterday", "2026-02-30T00:00:00Z", "2026-13-01", "2026-01-01T25:00:00"} {
		if _, err := parseISO8601(in); err == nil {
			t.Errorf("%q parsed", in)
		}
	}
}

// ec2Fixture is a test cloud with an EC2 credential of the demo user on the demo
// project.
type ec2Fixture struct {
	tc                              *testCloud
	demoID, demoProject             string
	access, secret                  string
	adminID, adminProject, altToken string
}

func newEC2Fixture(t *testing.T) *ec2Fixture {
	t.Helper()
	tc := newTestCloud(t)
	f := &ec2Fixture{tc: tc, access: "AKIA-demo", secret: "demo-ec2-secret",
		demoID: lookupID(t, tc.svc, "users", "demo"), demoProject: lookupID(t, tc.svc, "projects", "demo"),
		adminID: lookupID(t, tc.svc, "users", "admin"), adminProject: lookupID(t, tc.svc, "projects", "admin")}
	f.addCredential(t, f.demoID, f.demoProject, f.access, f.secret)
	return f
}

// addCredential stores an EC2 credential through the credentials API.
func (f *ec2Fixture) addCredential(t *testing.T, userID, projectID, access, secret string) {
	t.Helper()
	blob, _ := json.Marshal(map[string]string{"access": access, "secret": secret})
	status, out := postCredential(t, f.tc, f.tc.adminToken, map[string]any{
		"type": "ec2", "user_id": userID, "project_id": projectID, "blob": string(blob)})
	if status != http.StatusCreated {
		t.Fatalf("create credential: %d %v", status, out)
	}
}

// gopherBody builds a signed request body with gophercloud's ec2tokens package, as
// gophercloud's Create (ec2) or ValidateS3Token (s3) send it.
func gopherBody(t *testing.T, opts ec2tokens.AuthOptions, s3 bool) map[string]any {
	t.Helper()
	b, err := opts.ToTokenV3CreateMap(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Round-trip through JSON, as the request does ([]byte signatures become base64).
	raw, _ := json.Marshal(b)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	c := out["credentials"].(map[string]any)
	if s3 {
		for _, k := range []string{"body_hash", "headers", "host", "params", "path", "verb"} {
			delete(c, k)
		}
	} else {
		delete(c, "token")
	}
	return out
}

// post sends an ec2tokens or s3tokens request.
func (f *ec2Fixture) post(t *testing.T, path, token string, body any) (*http.Response, map[string]any) {
	t.Helper()
	return doJSON(t, f.tc.handler, "POST", path, token, body)
}

// tokenOf returns the "token" object of a token body.
func tokenOf(t *testing.T, out map[string]any) map[string]any {
	t.Helper()
	tok, ok := out["token"].(map[string]any)
	if !ok {
		t.Fatalf("no token in %v", out)
	}
	return tok
}

func TestEC2TokensIssueProjectToken(t *testing.T) {
	f := newEC2Fixture(t)
	tc := f.tc
	for name, opts := range map[string]ec2tokens.AuthOptions{
		"v4": {Access: f.access, Secret: f.secret, Region: "RegionOne", Service: "ec2", Verb: "GET", Path: "/"},
		"v2": {Access: f.access, Secret: f.secret, Host: "ec2.example.com", Verb: "GET", Path: "/services/Cloud",
			Params: map[string]string{"SignatureVersion": "2", "SignatureMethod": "HmacSHA256", "Action": "DescribeInstances"}},
	} {
		t.Run(name, func(t *testing.T) {
			resp, out := f.post(t, "/v3/ec2tokens", tc.adminToken, gopherBody(t, opts, false))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %v", resp.StatusCode, out)
			}
			subject := resp.Header.Get("X-Subject-Token")
			if subject == "" {
				t.Fatal("no X-Subject-Token")
			}
			tok := tokenOf(t, out)
			if m := tok["methods"].([]any); len(m) != 1 || m[0] != "ec2credential" {
				t.Errorf("methods %v, want [ec2credential]", m)
			}
			if u := tok["user"].(map[string]any); u["id"] != f.demoID {
				t.Errorf("user %v, want demo", u)
			}
			if p := tok["project"].(map[string]any); p["id"] != f.demoProject {
				t.Errorf("project %v, want demo", p)
			}
			if _, ok := tok["catalog"].([]any); !ok {
				t.Error("no catalog")
			}
			if names := roleNames(tok["roles"]); len(names) == 0 {
				t.Error("no roles")
			}
			// The token validates; its method bitmask cannot carry ec2credential, so, as
			// in Keystone, validation shows no method.
			req := httptest.NewRequest("GET", "/v3/auth/tokens", nil)
			req.Header.Set("X-Auth-Token", tc.adminToken)
			req.Header.Set("X-Subject-Token", subject)
			rec := httptest.NewRecorder()
			tc.handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("validate: %d %s", rec.Code, rec.Body)
			}
			var v map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &v)
			if m := tokenOf(t, v)["methods"].([]any); len(m) != 0 {
				t.Errorf("validated methods %v, want []", m)
			}
			// The token works for the demo user.
			resp, out = doJSON(t, tc.handler, "GET", "/v3/users/"+f.demoID, subject, nil)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("use token: %d %v", resp.StatusCode, out)
			}
		})
	}
}

func TestS3TokensIssueProjectToken(t *testing.T) {
	f := newEC2Fixture(t)
	for name, opts := range map[string]ec2tokens.AuthOptions{
		"v4 s3":  {Access: f.access, Secret: f.secret, Service: "s3"},
		"v4 sts": {Access: f.access, Secret: f.secret, Service: "sts", Region: "RegionOne"},
	} {
		t.Run(name, func(t *testing.T) {
			resp, out := f.post(t, "/v3/s3tokens", f.tc.adminToken, gopherBody(t, opts, true))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %v", resp.StatusCode, out)
			}
			if h := resp.Header.Get("X-Subject-Token"); h != "" {
				t.Errorf("s3tokens sent X-Subject-Token %q", h)
			}
			tok := tokenOf(t, out)
			if u := tok["user"].(map[string]any); u["id"] != f.demoID {
				t.Errorf("user %v, want demo", u)
			}
			if m := tok["methods"].([]any); len(m) != 1 || m[0] != "ec2credential" {
				t.Errorf("methods %v", m)
			}
		})
	}
	// An S3 v1 string to sign, with a URL-safe base64 token.
	sts := []byte("GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/bucket/key")
	body := map[string]any{"credentials": map[string]any{"access": f.access,
		"token": base64.URLEncoding.EncodeToString(sts), "signature": base64HMAC(sha1.New, f.secret, sts)}}
	if resp, out := f.post(t, "/v3/s3tokens", f.tc.adminToken, body); resp.StatusCode != http.StatusOK {
		t.Errorf("v1: %d %v", resp.StatusCode, out)
	}
}

func TestEC2TokensFailures(t *testing.T) {
	f := newEC2Fixture(t)
	tc := f.tc
	v4 := gopherBody(t, ec2tokens.AuthOptions{Access: f.access, Secret: f.secret, Service: "ec2", Verb: "GET", Path: "/"}, false)
	badSig := gopherBody(t, ec2tokens.AuthOptions{Access: f.access, Secret: "wrong", Service: "ec2", Verb: "GET", Path: "/"}, false)
	unknown := gopherBody(t, ec2tokens.AuthOptions{Access: "nobody", Secret: f.secret, Service: "ec2", Verb: "GET", Path: "/"}, false)
	noSig := gopherBody(t, ec2tokens.AuthOptions{Access: f.access, Secret: f.secret, Service: "ec2"}, false)
	delete(noSig["credentials"].(map[string]any), "signature")
	old := time.Now().Add(-time.Hour)
	expired := gopherBody(t, ec2tokens.AuthOptions{Access: f.access, Secret: f.secret, Service: "ec2", Timestamp: &old}, false)
	recent := time.Now().Add(-10 * time.Minute)
	fresh := gopherBody(t, ec2tokens.AuthOptions{Access: f.access, Secret: f.secret, Service: "ec2", Timestamp: &recent}, false)
	s3Bad := gopherBody(t, ec2tokens.AuthOptions{Access: f.access, Secret: "wrong", Service: "s3"}, true)
	s3WrongService := gopherBody(t, ec2tokens.AuthOptions{Access: f.access, Secret: f.secret, Service: "ec2"}, true)

	for _, c := range []struct {
		name, path, token string
		body              any
		want              int
		message           string
	}{
		{"no token", "/v3/ec2tokens", "", v4, http.StatusUnauthorized, ""},
		{"member may not", "/v3/ec2tokens", tc.demoToken, v4, http.StatusForbidden, ""},
		{"member may not s3", "/v3/s3tokens", tc.demoToken, v4, http.StatusForbidden, ""},
		{"empty body", "/v3/ec2tokens", tc.adminToken, nil, http.StatusBadRequest, "request must include a request body"},
		{"empty object", "/v3/ec2tokens", tc.adminToken, map[string]any{}, http.StatusBadRequest, "request must include a request body"},
		{"no access", "/v3/ec2tokens", tc.adminToken, map[string]any{"credentials": map[string]any{"signature": "x"}}, http.StatusUnauthorized, "The request you have made requires authentication."},
		{"unknown access", "/v3/ec2tokens", tc.adminToken, unknown, http.StatusNotFound, "EC2 access key not found."},
		{"wrong secret", "/v3/ec2tokens", tc.adminToken, badSig, http.StatusUnauthorized, "The request you have made requires authentication."},
		{"no signature", "/v3/ec2tokens", tc.adminToken, noSig, http.StatusUnauthorized, ""},
		{"expired", "/v3/ec2tokens", tc.adminToken, expired, http.StatusUnauthorized, ""},
		{"within auth_ttl", "/v3/ec2tokens", tc.adminToken, fresh, http.StatusOK, ""},
		{"s3 wrong secret", "/v3/s3tokens", tc.adminToken, s3Bad, http.StatusUnauthorized, ""},
		{"s3 service not allowed", "/v3/s3tokens", tc.adminToken, s3WrongService, http.StatusUnauthorized, ""},
		{"s3 without token", "/v3/s3tokens", tc.adminToken, map[string]any{"credentials": map[string]any{"access": f.access, "signature": "x"}}, http.StatusUnauthorized, ""},
		{"ec2 body on s3tokens", "/v3/s3tokens", tc.adminToken, v4, http.StatusUnauthorized, ""},
		{"legacy key", "/v3/ec2tokens", tc.adminToken, map[string]any{"ec2Credentials": v4["credentials"]}, http.StatusOK, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, out := f.post(t, c.path, c.token, c.body)
			if resp.StatusCode != c.want {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, c.want, out)
			}
			if c.message != "" {
				if msg, _ := out["error"].(map[string]any)["message"].(string); msg != c.message {
					t.Errorf("message %q, want %q", msg, c.message)
				}
			}
		})
	}
	// GET is not allowed.
	if resp, _ := doJSON(t, tc.handler, "GET", "/v3/ec2tokens", tc.adminToken, nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}

	// A disabled user, and a user without a role on the credential's project, get 401.
	resp, out := doJSON(t, tc.handler, "PATCH", "/v3/users/"+f.demoID, tc.adminToken, map[string]any{"user": map[string]any{"enabled": false}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("disable: %d %v", resp.StatusCode, out)
	}
	if resp, out := f.post(t, "/v3/ec2tokens", tc.adminToken, v4); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("disabled user: %d %v", resp.StatusCode, out)
	}
	f.addCredential(t, f.demoID, f.adminProject, "AKIA-norole", "s")
	doJSON(t, tc.handler, "PATCH", "/v3/users/"+f.demoID, tc.adminToken, map[string]any{"user": map[string]any{"enabled": true}})
	noRole := gopherBody(t, ec2tokens.AuthOptions{Access: "AKIA-norole", Secret: "s", Service: "ec2"}, false)
	if resp, out := f.post(t, "/v3/ec2tokens", tc.adminToken, noRole); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no role on project: %d %v", resp.StatusCode, out)
	}
	if resp, out := f.post(t, "/v3/ec2tokens", tc.adminToken, v4); resp.StatusCode != http.StatusOK {
		t.Errorf("re-enabled user: %d %v", resp.StatusCode, out)
	}
}

func TestEC2TokensHostWithoutPort(t *testing.T) {
	f := newEC2Fixture(t)
	// The client signed for "ec2.example.com" but reports the host with its port.
	body := gopherBody(t, ec2tokens.AuthOptions{Access: f.access, Secret: f.secret, Host: "ec2.example.com", Verb: "GET", Path: "/",
		Params: map[string]string{"SignatureVersion": "2", "SignatureMethod": "HmacSHA256"}}, false)
	body["credentials"].(map[string]any)["host"] = "ec2.example.com:8773"
	if resp, out := f.post(t, "/v3/ec2tokens", f.tc.adminToken, body); resp.StatusCode != http.StatusOK {
		t.Errorf("status %d: %v", resp.StatusCode, out)
	}
	body["credentials"].(map[string]any)["host"] = "other.example.com:8773"
	if resp, out := f.post(t, "/v3/ec2tokens", f.tc.adminToken, body); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("other host: status %d: %v", resp.StatusCode, out)
	}
}

func TestEC2TokensDelegated(t *testing.T) {
	tf := newTrustFixture(t)
	tc := tf.tc
	tf.call(t, tc.adminToken, "PUT", "/v3/projects/"+tf.projectID+"/users/"+tf.trustorID+"/roles/"+raRoleID(t, tc.svc, "member"), nil, http.StatusNoContent)
	tr := tf.createTrust(t, map[string]any{"impersonation": true, "roles": []any{map[string]any{"name": "member"}}})
	_, trustTok, out := tf.trustToken(t, tr["id"].(string))
	if trustTok == "" {
		t.Fatalf("trust token: %v", out)
	}
	cred := ec2Call(t, tc, trustTok, "POST", ec2Path(tf.trustorID), map[string]any{"tenant_id": tf.projectID}, http.StatusCreated)["credential"].(map[string]any)
	body := gopherBody(t, ec2tokens.AuthOptions{Access: cred["access"].(string), Secret: cred["secret"].(string), Service: "ec2"}, false)
	resp, out := doJSON(t, tc.handler, "POST", "/v3/ec2tokens", tc.adminToken, body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("trust: %d %v", resp.StatusCode, out)
	}
	tok := tokenOf(t, out)
	trust, ok := tok["OS-TRUST:trust"].(map[string]any)
	if !ok || trust["id"] != tr["id"] {
		t.Errorf("OS-TRUST:trust %v, want trust %v", tok["OS-TRUST:trust"], tr["id"])
	}
	if u := tok["user"].(map[string]any); u["id"] != tf.trustorID {
		t.Errorf("impersonating trust token for %v, want the trustor", u["id"])
	}
	if names := roleNames(tok["roles"]); !strings.Contains(strings.Join(names, ","), "member") {
		t.Errorf("roles %v, want the delegated member", names)
	}
	// Deleting the trust makes the credential useless.
	tf.call(t, tc.adminToken, "DELETE", "/v3/OS-TRUST/trusts/"+tr["id"].(string), nil, http.StatusNoContent)
	if resp, out := doJSON(t, tc.handler, "POST", "/v3/ec2tokens", tc.adminToken, body); resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Errorf("deleted trust: %d %v", resp.StatusCode, out)
	}

	// An unrestricted application credential's EC2 credential yields a token of that
	// application credential.
	ac := createAppCredOK(t, tc, tf.trustorToken, tf.trustorID, map[string]any{"name": "unrestricted", "unrestricted": true})
	_, acTok, _ := appCredToken(t, tc, map[string]any{"id": ac["id"], "secret": ac["secret"]})
	acCred := ec2Call(t, tc, acTok, "POST", ec2Path(tf.trustorID), map[string]any{"tenant_id": tf.projectID}, http.StatusCreated)["credential"].(map[string]any)
	body = gopherBody(t, ec2tokens.AuthOptions{Access: acCred["access"].(string), Secret: acCred["secret"].(string), Service: "s3"}, true)
	resp, out = doJSON(t, tc.handler, "POST", "/v3/s3tokens", tc.adminToken, body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("application credential: %d %v", resp.StatusCode, out)
	}
	if got, ok := tokenOf(t, out)["application_credential"].(map[string]any); !ok || got["id"] != ac["id"] {
		t.Errorf("application_credential %v, want %v", tokenOf(t, out)["application_credential"], ac["id"])
	}
}

// FuzzEC2Tokens posts arbitrary bodies to ec2tokens and s3tokens as the admin, starting
// from correctly signed ones, and fails on any 5xx: malformed signing material must
// always get a Keystone 4xx.
func FuzzEC2Tokens(f *testing.F) {
	tc := newTestCloud(f)
	demo := lookupID(f, tc.svc, "users", "demo")
	project := lookupID(f, tc.svc, "projects", "demo")
	blob, _ := json.Marshal(map[string]string{"access": "AK", "secret": "SK"})
	resp, out := doJSON(f, tc.handler, "POST", "/v3/credentials", tc.adminToken, map[string]any{"credential": map[string]any{
		"type": "ec2", "user_id": demo, "project_id": project, "blob": string(blob)}})
	if resp.StatusCode != http.StatusCreated {
		f.Fatalf("credential: %d %v", resp.StatusCode, out)
	}
	seed := func(opts ec2tokens.AuthOptions, s3 bool) string {
		b, err := opts.ToTokenV3CreateMap(nil)
		if err != nil {
			f.Fatal(err)
		}
		raw, _ := json.Marshal(b)
		return string(raw)
	}
	for _, s := range []string{
		seed(ec2tokens.AuthOptions{Access: "AK", Secret: "SK", Service: "ec2", Verb: "GET", Path: "/"}, false),
		seed(ec2tokens.AuthOptions{Access: "AK", Secret: "SK", Service: "s3"}, true),
		seed(ec2tokens.AuthOptions{Access: "AK", Secret: "SK", Host: "h:1", Verb: "GET", Path: "/",
			Params: map[string]string{"SignatureVersion": "2", "SignatureMethod": "HmacSHA256", "Timestamp": "2026-01-01T00:00:00Z"}}, false),
		`{"credentials": {"access": "AK", "params": {"SignatureVersion": "0", "Action": 1, "Timestamp": null}, "signature": "x"}}`,
		`{"credentials": {"access": "AK", "params": {"SignatureVersion": "1", "a": [1, {"b": null}]}, "signature": ["x"]}}`,
		`{"credentials": {"access": "AK", "params": {"X-Amz-Algorithm": "AWS4-HMAC-SHA256"}, "headers": {"X-Amz-Date": 5}}}`,
		`{"credentials": {"access": "AK", "token": "QVdTNA==", "signature": "x", "host": "[::1]:80"}}`,
		`{"credential": {"access": 5}}`, `{"credentials": "access"}`, `[]`, `null`, `"x"`, `{`,
	} {
		f.Add(false, s)
		f.Add(true, s)
	}
	f.Fuzz(func(t *testing.T, s3 bool, body string) {
		path := "/v3/ec2tokens"
		if s3 {
			path = "/v3/s3tokens"
		}
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("X-Auth-Token", tc.adminToken)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		tc.handler.ServeHTTP(rec, req)
		if rec.Code >= http.StatusInternalServerError {
			t.Fatalf("%s with %q: status %d: %s", path, body, rec.Code, rec.Body)
		}
	})
}
