package identity

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/oauth1"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
)

// oauthFixture is a test cloud served over HTTP, so that gophercloud's own OAuth1 client
// code signs the requests, with a consumer made by the admin.
type oauthFixture struct {
	tc                 *testCloud
	srv                *httptest.Server
	admin, anon        *gophercloud.ServiceClient
	adminID, projectID string
	consumer           *oauth1.Consumer
}

func newOAuthFixture(t *testing.T) *oauthFixture {
	t.Helper()
	tc := newTestCloud(t)
	srv := httptest.NewServer(tc.handler)
	t.Cleanup(srv.Close)
	f := &oauthFixture{tc: tc, srv: srv, adminID: lookupID(t, tc.svc, "users", "admin"),
		projectID: lookupID(t, tc.svc, "projects", "admin")}
	f.admin, f.anon = f.client(tc.adminToken), f.client("")
	c, err := oauth1.CreateConsumer(context.Background(), f.admin, oauth1.CreateConsumerOpts{Description: "test"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	f.consumer = c
	return f
}

// client is a gophercloud identity client of the fixture's server with token.
func (f *oauthFixture) client(token string) *gophercloud.ServiceClient {
	pc := &gophercloud.ProviderClient{IdentityBase: f.srv.URL + "/", IdentityEndpoint: f.srv.URL + "/v3/", TokenID: token}
	return &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: f.srv.URL + "/v3/"}
}

// requestToken asks for a request token on the admin project.
func (f *oauthFixture) requestToken(method oauth1.SignatureMethod, c *oauth1.Consumer) (*oauth1.Token, error) {
	return oauth1.RequestToken(context.Background(), f.anon, oauth1.RequestTokenOpts{
		OAuthConsumerKey: c.ID, OAuthConsumerSecret: c.Secret, OAuthSignatureMethod: method,
		RequestedProjectID: f.projectID}).Extract()
}

// accessToken trades a request token for an access token.
func (f *oauthFixture) accessToken(method oauth1.SignatureMethod, c *oauth1.Consumer, rt *oauth1.Token, verifier string) (*oauth1.Token, error) {
	return oauth1.CreateAccessToken(context.Background(), f.anon, oauth1.CreateAccessTokenOpts{
		OAuthConsumerKey: c.ID, OAuthConsumerSecret: c.Secret, OAuthToken: rt.OAuthToken,
		OAuthTokenSecret: rt.OAuthTokenSecret, OAuthVerifier: verifier, OAuthSignatureMethod: method}).Extract()
}

// delegate runs the whole flow as the admin and returns the access token.
func (f *oauthFixture) delegate(t *testing.T, method oauth1.SignatureMethod, roles ...oauth1.Role) *oauth1.Token {
	t.Helper()
	rt, err := f.requestToken(method, f.consumer)
	if err != nil {
		t.Fatalf("request token: %v", err)
	}
	auth, err := oauth1.AuthorizeToken(context.Background(), f.admin, rt.OAuthToken, oauth1.AuthorizeTokenOpts{Roles: roles}).Extract()
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	at, err := f.accessToken(method, f.consumer, rt, auth.OAuthVerifier)
	if err != nil {
		t.Fatalf("access token: %v", err)
	}
	return at
}

// oauthToken authenticates with the access token as gophercloud's AuthenticateV3 does.
func (f *oauthFixture) oauthToken(method oauth1.SignatureMethod, c *oauth1.Consumer, at *oauth1.Token) tokens.CreateResult {
	return oauth1.Create(context.Background(), f.anon, &oauth1.AuthOptions{
		OAuthConsumerKey: c.ID, OAuthConsumerSecret: c.Secret, OAuthToken: at.OAuthToken,
		OAuthTokenSecret: at.OAuthTokenSecret, OAuthSignatureMethod: method})
}

// mustOAuthToken authenticates and returns the token id and its body.
func (f *oauthFixture) mustOAuthToken(t *testing.T, method oauth1.SignatureMethod, at *oauth1.Token) (string, map[string]any) {
	t.Helper()
	res := f.oauthToken(method, f.consumer, at)
	if res.Err != nil {
		t.Fatalf("oauth1 token: %v", res.Err)
	}
	id, err := res.ExtractTokenID()
	if err != nil || id == "" {
		t.Fatalf("token id %q: %v", id, err)
	}
	body, _ := res.Body.(map[string]any)
	tok, _ := body["token"].(map[string]any)
	return id, tok
}

// statusOf is the HTTP status of a gophercloud error (0 for success or another error).
func statusOf(err error) int {
	for _, code := range []int{400, 401, 403, 404, 405, 409, 500} {
		if gophercloud.ResponseCodeIs(err, code) {
			return code
		}
	}
	return 0
}

// validateAs validates tok with auth as X-Auth-Token and returns the status.
func (f *oauthFixture) validateAs(t *testing.T, auth, tok string) int {
	t.Helper()
	req := httptest.NewRequest("GET", "/v3/auth/tokens", nil)
	req.Header.Set("X-Auth-Token", auth)
	req.Header.Set("X-Subject-Token", tok)
	rec := httptest.NewRecorder()
	f.tc.handler.ServeHTTP(rec, req)
	return rec.Code
}

// TestOAuth1Flow runs the acceptance test's flow with gophercloud's client code for each
// signature method gophercloud offers: request token, authorization by id and by name,
// access token, its listing and roles, and a token from it.
func TestOAuth1Flow(t *testing.T) {
	f := newOAuthFixture(t)
	ctx := context.Background()
	adminRole := lookupID(t, f.tc.svc, "roles", "admin")
	for _, method := range []oauth1.SignatureMethod{oauth1.HMACSHA1, oauth1.PLAINTEXT} {
		t.Run(string(method), func(t *testing.T) {
			rt, err := f.requestToken(method, f.consumer)
			if err != nil {
				t.Fatal(err)
			}
			if len(rt.OAuthToken) != 32 || len(rt.OAuthTokenSecret) != 32 || rt.OAuthExpiresAt == nil ||
				time.Until(*rt.OAuthExpiresAt) < 7*time.Hour {
				t.Errorf("request token %+v", rt)
			}
			auth, err := oauth1.AuthorizeToken(ctx, f.admin, rt.OAuthToken, oauth1.AuthorizeTokenOpts{
				Roles: []oauth1.Role{{ID: adminRole}, {Name: "member"}}}).Extract()
			if err != nil {
				t.Fatal(err)
			}
			if !validVerifier(auth.OAuthVerifier) {
				t.Errorf("verifier %q", auth.OAuthVerifier)
			}
			at, err := f.accessToken(method, f.consumer, rt, auth.OAuthVerifier)
			if err != nil {
				t.Fatal(err)
			}
			if at.OAuthToken == rt.OAuthToken || at.OAuthExpiresAt == nil || time.Until(*at.OAuthExpiresAt) < 23*time.Hour {
				t.Errorf("access token %+v", at)
			}
			// The request token is used up.
			if _, err := f.accessToken(method, f.consumer, rt, auth.OAuthVerifier); statusOf(err) != 404 {
				t.Errorf("second exchange: %v, want 404", err)
			}

			got, err := oauth1.GetAccessToken(ctx, f.admin, f.adminID, at.OAuthToken).Extract()
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != at.OAuthToken || got.ConsumerID != f.consumer.ID || got.AuthorizingUserID != f.adminID ||
				got.ProjectID != f.projectID || got.ExpiresAt == nil {
				t.Errorf("access token %+v", got)
			}
			pages, err := oauth1.ListAccessTokens(f.admin, f.adminID).AllPages(ctx)
			if err != nil {
				t.Fatal(err)
			}
			list, _ := oauth1.ExtractAccessTokens(pages)
			if len(list) != 1 || !reflect.DeepEqual(list[0], *got) {
				t.Errorf("list %+v, want [%+v]", list, *got)
			}
			pages, err = oauth1.ListAccessTokenRoles(f.admin, f.adminID, at.OAuthToken).AllPages(ctx)
			if err != nil {
				t.Fatal(err)
			}
			roles, _ := oauth1.ExtractAccessTokenRoles(pages)
			var names []string
			for _, r := range roles {
				names = append(names, r.Name)
			}
			slices.Sort(names)
			if !slices.Equal(names, []string{"admin", "member"}) {
				t.Errorf("access token roles %v", names)
			}
			role, err := oauth1.GetAccessTokenRole(ctx, f.admin, f.adminID, at.OAuthToken, adminRole).Extract()
			if err != nil || role.ID != adminRole || role.Name != "admin" {
				t.Errorf("access token role %+v, %v", role, err)
			}

			tok, body := f.mustOAuthToken(t, method, at)
			if m, _ := body["methods"].([]any); len(m) != 1 || m[0] != "oauth1" {
				t.Errorf("methods %v", body["methods"])
			}
			if p, _ := body["project"].(map[string]any); p["id"] != f.projectID {
				t.Errorf("project %v", body["project"])
			}
			if u, _ := body["user"].(map[string]any); u["id"] != f.adminID {
				t.Errorf("user %v", body["user"])
			}
			// admin and member were delegated; manager and reader come with them as implied roles.
			if got := roleNames(body["roles"]); !slices.Equal(got, []string{"admin", "manager", "member", "reader"}) {
				t.Errorf("token roles %v", got)
			}
			want := map[string]any{"access_token_id": at.OAuthToken, "consumer_id": f.consumer.ID}
			if o, _ := body["OS-OAUTH1"].(map[string]any); o["access_token_id"] != want["access_token_id"] || o["consumer_id"] != want["consumer_id"] {
				t.Errorf("OS-OAUTH1 %v, want %v", body["OS-OAUTH1"], want)
			}
			if body["catalog"] == nil {
				t.Error("no catalog")
			}

			// The token validates with itself, as the acceptance test's tokens.Get does.
			var ext struct {
				tokens.Token
				oauth1.TokenExt
			}
			res := tokens.Get(ctx, f.client(tok), tok)
			if err := res.ExtractInto(&ext); err != nil {
				t.Fatal(err)
			}
			if ext.OAuth1.AccessTokenID != at.OAuthToken || ext.OAuth1.ConsumerID != f.consumer.ID {
				t.Errorf("validated OS-OAUTH1 %+v", ext.OAuth1)
			}

			if err := oauth1.RevokeAccessToken(ctx, f.admin, f.adminID, at.OAuthToken).ExtractErr(); err != nil {
				t.Fatal(err)
			}
			if code := f.validateAs(t, f.tc.adminToken, tok); code != http.StatusNotFound {
				t.Errorf("token of a deleted access token validates: %d", code)
			}
			if res := f.oauthToken(method, f.consumer, at); statusOf(res.Err) != 404 {
				t.Errorf("auth with a deleted access token: %v", res.Err)
			}
		})
	}
}

// TestOAuth1DelegatedTokenLimits checks what an OAuth-scoped token may not do: rescope,
// authorize request tokens, manage access tokens.
func TestOAuth1DelegatedTokenLimits(t *testing.T) {
	f := newOAuthFixture(t)
	ctx := context.Background()
	at := f.delegate(t, oauth1.HMACSHA1, oauth1.Role{Name: "admin"})
	tok, _ := f.mustOAuthToken(t, oauth1.HMACSHA1, at)

	body := map[string]any{"auth": map[string]any{"identity": map[string]any{
		"methods": []string{"token"}, "token": map[string]any{"id": tok}}}}
	if resp, out := doJSON(t, f.tc.handler, "POST", "/v3/auth/tokens", "", body); resp.StatusCode != http.StatusForbidden {
		t.Errorf("rescope: %d %v", resp.StatusCode, out)
	}
	rt, err := f.requestToken(oauth1.HMACSHA1, f.consumer)
	if err != nil {
		t.Fatal(err)
	}
	_, err = oauth1.AuthorizeToken(ctx, f.client(tok), rt.OAuthToken, oauth1.AuthorizeTokenOpts{Roles: []oauth1.Role{{Name: "admin"}}}).Extract()
	if statusOf(err) != 403 || !strings.Contains(err.Error(), "delegation") {
		t.Errorf("authorize with an oauth token: %v", err)
	}
	if _, err := oauth1.ListAccessTokens(f.client(tok), f.adminID).AllPages(ctx); statusOf(err) != 403 {
		t.Errorf("list with an oauth token: %v", err)
	}
	if err := oauth1.RevokeAccessToken(ctx, f.client(tok), f.adminID, at.OAuthToken).ExtractErr(); statusOf(err) != 403 {
		t.Errorf("delete with an oauth token: %v", err)
	}
	// The token still works for ordinary calls.
	if code := f.validateAs(t, tok, tok); code != http.StatusOK {
		t.Errorf("validate own token: %d", code)
	}
}

// TestOAuth1RequestTokenErrors covers the request token endpoint's failures.
func TestOAuth1RequestTokenErrors(t *testing.T) {
	f := newOAuthFixture(t)
	post := func(header string, project string) (int, string) {
		req := httptest.NewRequest("POST", "http://example.com/v3/OS-OAUTH1/request_token", nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		if project != "" {
			req.Header.Set("Requested-Project-Id", project)
		}
		rec := httptest.NewRecorder()
		f.tc.handler.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	c := f.consumer
	sign := func(mod func(p map[string]string), secret string) string {
		p := map[string]string{
			"oauth_consumer_key": c.ID, "oauth_nonce": "123", "oauth_signature_method": "HMAC-SHA1",
			"oauth_timestamp": strconv.FormatInt(time.Now().Unix(), 10), "oauth_version": "1.0", "oauth_callback": "oob",
		}
		if mod != nil {
			mod(p)
		}
		return signHeader(p, "POST", "http://example.com/v3/OS-OAUTH1/request_token", secret, "")
	}
	if code, body := post(sign(nil, c.Secret), f.projectID); code != http.StatusCreated {
		t.Fatalf("hand-signed request: %d %s", code, body)
	}
	tests := []struct {
		name, header, project string
		want                  int
	}{
		{"no header", "", f.projectID, 400},
		{"not oauth", "Basic Zm9vOmJhcg==", f.projectID, 400},
		{"no project", sign(nil, c.Secret), "", 400},
		{"unknown project", sign(nil, c.Secret), "nope", 404},
		{"no consumer key", sign(func(p map[string]string) { delete(p, "oauth_consumer_key") }, c.Secret), f.projectID, 400},
		{"unknown consumer", sign(func(p map[string]string) { p["oauth_consumer_key"] = strings.Repeat("a", 32) }, c.Secret), f.projectID, 404},
		{"wrong secret", sign(nil, "wrong"), f.projectID, 401},
		{"no callback", sign(func(p map[string]string) { delete(p, "oauth_callback") }, c.Secret), f.projectID, 400},
		{"no nonce", sign(func(p map[string]string) { delete(p, "oauth_nonce") }, c.Secret), f.projectID, 400},
		{"bad nonce", sign(func(p map[string]string) { p["oauth_nonce"] = "a b" }, c.Secret), f.projectID, 400},
		{"old timestamp", sign(func(p map[string]string) {
			p["oauth_timestamp"] = strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
		}, c.Secret), f.projectID, 400},
		{"short timestamp", sign(func(p map[string]string) { p["oauth_timestamp"] = "12345" }, c.Secret), f.projectID, 400},
		{"bad version", sign(func(p map[string]string) { p["oauth_version"] = "2.0" }, c.Secret), f.projectID, 400},
		{"unknown method", sign(func(p map[string]string) { p["oauth_signature_method"] = "MD5" }, c.Secret), f.projectID, 400},
		{"rsa never verifies", sign(func(p map[string]string) { p["oauth_signature_method"] = "RSA-SHA1" }, c.Secret), f.projectID, 401},
		{"duplicate", sign(nil, c.Secret) + `, oauth_nonce="123"`, f.projectID, 400},
		{"bad escape", `OAuth oauth_consumer_key="%zz"`, f.projectID, 400},
	}
	for _, tt := range tests {
		if code, body := post(tt.header, tt.project); code != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, code, body, tt.want)
		}
	}
	// A signature over another URL does not verify.
	req := httptest.NewRequest("POST", "http://example.com/v3/OS-OAUTH1/request_token?x=1", nil)
	req.Header.Set("Authorization", sign(nil, c.Secret))
	req.Header.Set("Requested-Project-Id", f.projectID)
	rec := httptest.NewRecorder()
	f.tc.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("unsigned query parameter: %d %s", rec.Code, rec.Body)
	}
	// GET is not allowed.
	if resp, _ := doJSON(t, f.tc.handler, "GET", "/v3/OS-OAUTH1/request_token", "", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET request_token: %d", resp.StatusCode)
	}
}

// signHeader signs params (without oauth_signature) with HMAC-SHA1 the RFC 5849 way and
// returns the Authorization header.
func signHeader(params map[string]string, method, uri, consumerSecret, tokenSecret string) string {
	u, _ := url.Parse(uri)
	o := &oauthRequest{Method: method, BaseURI: u.Scheme + "://" + u.Host + u.Path}
	for k, v := range params {
		o.Signed = append(o.Signed, [2]string{k, v})
	}
	mac := hmac.New(sha1.New, []byte(oauthEncode(consumerSecret)+"&"+oauthEncode(tokenSecret)))
	mac.Write([]byte(o.baseString()))
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	var parts []string
	for k, v := range params {
		parts = append(parts, k+`="`+oauthEncode(v)+`"`)
	}
	parts = append(parts, `oauth_signature="`+oauthEncode(sig)+`"`)
	return "OAuth " + strings.Join(parts, ", ")
}

// TestOAuth1AuthorizeErrors covers authorization failures.
func TestOAuth1AuthorizeErrors(t *testing.T) {
	f := newOAuthFixture(t)
	ctx := context.Background()
	rt, err := f.requestToken(oauth1.HMACSHA1, f.consumer)
	if err != nil {
		t.Fatal(err)
	}
	path := "/v3/OS-OAUTH1/authorize/" + rt.OAuthToken
	tests := []struct {
		name  string
		token string
		body  any
		want  int
	}{
		{"not admin", f.tc.demoToken, map[string]any{"roles": []any{map[string]any{"name": "member"}}}, 403},
		{"role not held", f.tc.adminToken, map[string]any{"roles": []any{map[string]any{"id": strings.Repeat("f", 32)}}}, 401},
		{"unknown role name", f.tc.adminToken, map[string]any{"roles": []any{map[string]any{"name": "nope"}}}, 404},
		{"both id and name", f.tc.adminToken, map[string]any{"roles": []any{map[string]any{"name": "admin", "id": "x"}}}, 400},
		{"bad id", f.tc.adminToken, map[string]any{"roles": []any{map[string]any{"id": "a b"}}}, 400},
		{"other property", f.tc.adminToken, map[string]any{"roles": []any{map[string]any{"x": "a"}}}, 400},
		{"roles not a list", f.tc.adminToken, map[string]any{"roles": "admin"}, 400},
		{"roles null", f.tc.adminToken, map[string]any{"roles": nil}, 400},
	}
	for _, tt := range tests {
		if resp, out := doJSON(t, f.tc.handler, "PUT", path, tt.token, tt.body); resp.StatusCode != tt.want {
			t.Errorf("%s: %d %v, want %d", tt.name, resp.StatusCode, out, tt.want)
		}
	}
	if resp, _ := doJSON(t, f.tc.handler, "PUT", "/v3/OS-OAUTH1/authorize/"+strings.Repeat("0", 32), f.tc.adminToken,
		map[string]any{"roles": []any{}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown request token: %d", resp.StatusCode)
	}
	// An unauthorized request token cannot be exchanged: no verifier matches.
	if _, err := f.accessToken(oauth1.HMACSHA1, f.consumer, rt, "abcdefgh"); statusOf(err) != 401 {
		t.Errorf("exchange before authorization: %v", err)
	}
	// An expired request token can be neither authorized nor exchanged.
	if _, err := f.tc.svc.db.ExecContext(ctx, `UPDATE oauth1_request_tokens SET expires_at = ? WHERE id = ?`,
		"2000-01-01T00:00:00.000000Z", rt.OAuthToken); err != nil {
		t.Fatal(err)
	}
	if resp, _ := doJSON(t, f.tc.handler, "PUT", path, f.tc.adminToken, map[string]any{"roles": []any{}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("authorize expired: %d", resp.StatusCode)
	}
	if _, err := f.accessToken(oauth1.HMACSHA1, f.consumer, rt, "abcdefgh"); statusOf(err) != 401 {
		t.Errorf("exchange expired: %v", err)
	}
	// The next request token sweeps expired ones away.
	if _, err := f.requestToken(oauth1.HMACSHA1, f.consumer); err != nil {
		t.Fatal(err)
	}
	if resp, _ := doJSON(t, f.tc.handler, "PUT", path, f.tc.adminToken, map[string]any{"roles": []any{}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("authorize swept: %d", resp.StatusCode)
	}
}

// TestOAuth1AccessTokenErrors covers the exchange's failures.
func TestOAuth1AccessTokenErrors(t *testing.T) {
	f := newOAuthFixture(t)
	ctx := context.Background()
	other, err := oauth1.CreateConsumer(ctx, f.admin, oauth1.CreateConsumerOpts{}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	rt, err := f.requestToken(oauth1.HMACSHA1, f.consumer)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := oauth1.AuthorizeToken(ctx, f.admin, rt.OAuthToken, oauth1.AuthorizeTokenOpts{Roles: []oauth1.Role{{Name: "member"}}}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	wrongVerifier := "abcdefgh"
	if auth.OAuthVerifier == wrongVerifier {
		wrongVerifier = "hgfedcba"
	}
	bad := *rt
	bad.OAuthTokenSecret = "wrong"
	missing := *rt
	missing.OAuthToken = strings.Repeat("0", 32)
	tests := []struct {
		name     string
		c        *oauth1.Consumer
		rt       *oauth1.Token
		verifier string
		want     int
	}{
		{"wrong verifier", f.consumer, rt, wrongVerifier, 401},
		{"malformed verifier", f.consumer, rt, "abc", 400},
		{"other consumer", other, rt, auth.OAuthVerifier, 401},
		{"wrong token secret", f.consumer, &bad, auth.OAuthVerifier, 401},
		{"unknown request token", f.consumer, &missing, auth.OAuthVerifier, 404},
	}
	for _, tt := range tests {
		if _, err := f.accessToken(oauth1.HMACSHA1, tt.c, tt.rt, tt.verifier); statusOf(err) != tt.want {
			t.Errorf("%s: %v, want %d", tt.name, err, tt.want)
		}
	}
	// The failures did not use the request token up.
	at, err := f.accessToken(oauth1.HMACSHA1, f.consumer, rt, auth.OAuthVerifier)
	if err != nil {
		t.Fatal(err)
	}
	// Authentication failures.
	badAT := *at
	badAT.OAuthTokenSecret = "wrong"
	if res := f.oauthToken(oauth1.HMACSHA1, f.consumer, &badAT); statusOf(res.Err) != 401 {
		t.Errorf("wrong access secret: %v", res.Err)
	}
	if res := f.oauthToken(oauth1.HMACSHA1, other, at); statusOf(res.Err) != 401 {
		t.Errorf("other consumer's access token: %v", res.Err)
	}
	if res := f.oauthToken(oauth1.PLAINTEXT, f.consumer, &badAT); statusOf(res.Err) != 401 {
		t.Errorf("wrong plaintext signature: %v", res.Err)
	}
	body := map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"oauth1"}, "oauth1": map[string]any{}}}}
	if resp, _ := doJSON(t, f.tc.handler, "POST", "/v3/auth/tokens", "", body); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("oauth1 without a header: %d", resp.StatusCode)
	}
	body = map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"oauth1", "password"}}}}
	if resp, _ := doJSON(t, f.tc.handler, "POST", "/v3/auth/tokens", "", body); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("oauth1 with password: %d", resp.StatusCode)
	}
	// An expired access token no longer authenticates.
	if _, err := f.tc.svc.db.ExecContext(ctx, `UPDATE oauth1_access_tokens SET expires_at = ? WHERE id = ?`,
		"2000-01-01T00:00:00.000000Z", at.OAuthToken); err != nil {
		t.Fatal(err)
	}
	if res := f.oauthToken(oauth1.HMACSHA1, f.consumer, at); statusOf(res.Err) != 401 {
		t.Errorf("expired access token: %v", res.Err)
	}
}

// TestOAuth1TokenFollowsDelegation checks that tokens carry only the delegated roles the
// user still holds and die with the consumer, the user's last delegated role, the user
// and the project.
func TestOAuth1TokenFollowsDelegation(t *testing.T) {
	f := newOAuthFixture(t)
	ctx := context.Background()
	// A role of its own on the project, granted to the admin and delegated with member.
	resp, out := doJSON(t, f.tc.handler, "POST", "/v3/roles", f.tc.adminToken, map[string]any{"role": map[string]any{"name": "extra"}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("role: %d %v", resp.StatusCode, out)
	}
	extra := out["role"].(map[string]any)["id"].(string)
	grant := "/v3/projects/" + f.projectID + "/users/" + f.adminID + "/roles/" + extra
	if resp, _ := doJSON(t, f.tc.handler, "PUT", grant, f.tc.adminToken, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("grant: %d", resp.StatusCode)
	}
	at := f.delegate(t, oauth1.HMACSHA1, oauth1.Role{ID: extra})
	tok, body := f.mustOAuthToken(t, oauth1.HMACSHA1, at)
	if got := roleNames(body["roles"]); !slices.Equal(got, []string{"extra"}) {
		t.Fatalf("roles %v", got)
	}
	if code := f.validateAs(t, f.tc.adminToken, tok); code != http.StatusOK {
		t.Fatalf("validate: %d", code)
	}
	// Without the role the user no longer delegates anything: the token is invalid.
	if resp, _ := doJSON(t, f.tc.handler, "DELETE", grant, f.tc.adminToken, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke grant: %d", resp.StatusCode)
	}
	if code := f.validateAs(t, f.tc.adminToken, tok); code != http.StatusNotFound {
		t.Errorf("token without its delegated role validates: %d", code)
	}
	if res := f.oauthToken(oauth1.HMACSHA1, f.consumer, at); statusOf(res.Err) != 401 {
		t.Errorf("auth without the delegated role: %v", res.Err)
	}

	// Deleting the consumer removes its access tokens and their tokens.
	at = f.delegate(t, oauth1.HMACSHA1, oauth1.Role{Name: "member"})
	tok, _ = f.mustOAuthToken(t, oauth1.HMACSHA1, at)
	if err := oauth1.DeleteConsumer(ctx, f.admin, f.consumer.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if code := f.validateAs(t, f.tc.adminToken, tok); code != http.StatusNotFound {
		t.Errorf("token of a deleted consumer validates: %d", code)
	}
	if pages, err := oauth1.ListAccessTokens(f.admin, f.adminID).AllPages(ctx); err != nil {
		t.Fatal(err)
	} else if list, _ := oauth1.ExtractAccessTokens(pages); len(list) != 0 {
		t.Errorf("access tokens of a deleted consumer: %+v", list)
	}

	// Deleting the user or the project removes the access tokens on it.
	f.consumer, _ = oauth1.CreateConsumer(ctx, f.admin, oauth1.CreateConsumerOpts{}).Extract()
	count := func() int {
		var n int
		if err := f.tc.svc.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM oauth1_access_tokens`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i, c := range []struct{ user, project, victim string }{
		{"demo", "demo", "/v3/users/" + lookupID(t, f.tc.svc, "users", "demo")},
		{"alt_demo", "alt_demo", "/v3/projects/" + lookupID(t, f.tc.svc, "projects", "alt_demo")},
	} {
		if _, err := f.tc.svc.db.ExecContext(ctx, `INSERT INTO oauth1_access_tokens (id, access_secret, authorizing_user_id,
			project_id, role_ids, consumer_id) VALUES (?, 's', ?, ?, '[]', ?)`, strings.Repeat(strconv.Itoa(i), 32),
			lookupID(t, f.tc.svc, "users", c.user), lookupID(t, f.tc.svc, "projects", c.project), f.consumer.ID); err != nil {
			t.Fatal(err)
		}
		before := count()
		if resp, out := doJSON(t, f.tc.handler, "DELETE", c.victim, f.tc.adminToken, nil); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("delete %s: %d %v", c.victim, resp.StatusCode, out)
		}
		if after := count(); after != before-1 {
			t.Errorf("delete %s: %d access tokens, want %d", c.victim, after, before-1)
		}
	}
}

// TestOAuth1AccessTokenOwnership checks that another user's path does not reach an access
// token, as in Keystone.
func TestOAuth1AccessTokenOwnership(t *testing.T) {
	f := newOAuthFixture(t)
	ctx := context.Background()
	at := f.delegate(t, oauth1.HMACSHA1, oauth1.Role{Name: "member"})
	demo := lookupID(t, f.tc.svc, "users", "demo")
	if _, err := oauth1.GetAccessToken(ctx, f.admin, demo, at.OAuthToken).Extract(); statusOf(err) != 404 {
		t.Errorf("get under another user: %v", err)
	}
	if _, err := oauth1.GetAccessTokenRole(ctx, f.admin, demo, at.OAuthToken, lookupID(t, f.tc.svc, "roles", "member")).Extract(); statusOf(err) != 401 {
		t.Errorf("role under another user: %v", err)
	}
	if _, err := oauth1.GetAccessTokenRole(ctx, f.admin, f.adminID, at.OAuthToken, lookupID(t, f.tc.svc, "roles", "admin")).Extract(); statusOf(err) != 404 {
		t.Errorf("role not delegated: %v", err)
	}
	if err := oauth1.RevokeAccessToken(ctx, f.admin, demo, at.OAuthToken).ExtractErr(); statusOf(err) != 401 {
		t.Errorf("delete under another user: %v", err)
	}
	if _, err := oauth1.ListAccessTokens(f.client(f.tc.demoToken), demo).AllPages(ctx); statusOf(err) != 403 {
		t.Errorf("non-admin list: %v", err)
	}
	if pages, err := oauth1.ListAccessTokens(f.admin, demo).AllPages(ctx); err != nil {
		t.Fatal(err)
	} else if list, _ := oauth1.ExtractAccessTokens(pages); len(list) != 0 {
		t.Errorf("demo's access tokens: %+v", list)
	}
	resp, out := doJSON(t, f.tc.handler, "GET", "/v3/users/"+f.adminID+"/OS-OAUTH1/access_tokens/"+at.OAuthToken, f.tc.adminToken, nil)
	tok, _ := out["access_token"].(map[string]any)
	links, _ := tok["links"].(map[string]any)
	want := "http://example.com/v3/users/" + f.adminID + "/OS-OAUTH1/access_tokens/" + at.OAuthToken
	if resp.StatusCode != 200 || links["self"] != want || links["roles"] != want+"/roles" || tok["access_secret"] != nil || tok["role_ids"] != nil {
		t.Errorf("access token body %v", out)
	}
}

// TestOAuthSignatureRFC5849 checks the base string and HMAC-SHA1 signature against the
// examples of RFC 5849 (sections 1.2 and 3.4.1.1).
func TestOAuthSignatureRFC5849(t *testing.T) {
	req := httptest.NewRequest("POST", "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b", strings.NewReader("c2&a3=2+q"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", `OAuth realm="Example", oauth_consumer_key="9djdj82h48djs9d2", oauth_token="kkk9d7dh3k39sjv7",`+
		` oauth_signature_method="HMAC-SHA1", oauth_timestamp="137131201", oauth_nonce="7d8f3e4a",`+
		` oauth_signature="bYT5CMsGcbgUdFHObYMEfcx6bsw%3D"`)
	form, err := oauthForm(req)
	if err != nil {
		t.Fatal(err)
	}
	o, err := readOAuthRequest(req, form)
	if err != nil {
		t.Fatal(err)
	}
	want := "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D" +
		"%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1" +
		"%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
	if got := o.baseString(); got != want {
		t.Errorf("base string\n got %s\nwant %s", got, want)
	}

	req = httptest.NewRequest("GET", "http://photos.example.net/photos?file=vacation.jpg&size=original", nil)
	req.Header.Set("Authorization", `OAuth realm="Photos", oauth_consumer_key="dpf43f3p2l4k3l03", oauth_token="nnch734d00sl2jdk",`+
		` oauth_signature_method="HMAC-SHA1", oauth_timestamp="137131202", oauth_nonce="chapoH",`+
		` oauth_signature="MdpQcU8iPSUjWoN%2FUDMsK2sui9I%3D"`)
	if o, err = readOAuthRequest(req, nil); err != nil {
		t.Fatal(err)
	}
	if !o.verify("kd94hf93k423kf44", "pfkkdhi9sl3r4s00") {
		t.Error("RFC 5849 section 1.2 signature does not verify")
	}
	if o.verify("kd94hf93k423kf44", "pfkkdhi9sl3r4s01") {
		t.Error("signature verifies with the wrong token secret")
	}
	// The default port is not part of the base string URI; others are.
	for host, want := range map[string]string{"example.com:80": "http://example.com/p", "Example.COM:8080": "http://example.com:8080/p"} {
		req := httptest.NewRequest("GET", "http://"+host+"/p/", nil)
		if got := oauthBaseURI(req); got != want+"/" {
			t.Errorf("base URI of %s = %s, want %s/", host, got, want)
		}
	}
}

// TestParseOAuthAuthorization covers the header grammar.
func TestParseOAuthAuthorization(t *testing.T) {
	got, err := parseOAuthAuthorization(`oauth a="1,2", b=3 ,c="x\"y", d="%41%20"`)
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"a", "1,2"}, {"b", "3"}, {"c", `x"y`}, {"d", "A "}}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, bad := range []string{"", "OAuth", "Bearer x", `OAuth a`, `OAuth =1`, `OAuth a="1", a="2"`, `OAuth a="%"`} {
		if _, err := parseOAuthAuthorization(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzOAuthAuthorization sends arbitrary Authorization headers to the three endpoints that
// read them and fails on any 5xx; a header that parses must parse the same after being
// written out again.
func FuzzOAuthAuthorization(f *testing.F) {
	tc := newTestCloud(f)
	project := lookupID(f, tc.svc, "projects", "admin")
	resp, out := doJSON(f, tc.handler, "POST", "/v3/OS-OAUTH1/consumers", tc.adminToken, map[string]any{"consumer": map[string]any{}})
	if resp.StatusCode != http.StatusCreated {
		f.Fatalf("consumer: %d %v", resp.StatusCode, out)
	}
	c := out["consumer"].(map[string]any)
	id, secret := c["id"].(string), c["secret"].(string)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	for _, s := range []string{
		signHeader(map[string]string{"oauth_consumer_key": id, "oauth_nonce": "1", "oauth_signature_method": "HMAC-SHA1",
			"oauth_timestamp": ts, "oauth_callback": "oob"}, "POST", "http://example.com/v3/OS-OAUTH1/request_token", secret, ""),
		`OAuth oauth_consumer_key="` + id + `", oauth_token="` + strings.Repeat("a", 32) + `", oauth_verifier="abcdefgh", oauth_signature_method="PLAINTEXT", oauth_signature="x", oauth_nonce="1", oauth_timestamp="` + ts + `"`,
		`OAuth realm="", oauth_version="1.0"`, `OAuth a="\`, `oauth ,,,="`, `OAuth oauth_token="%ZZ"`, "OAuth \x00=\xff",
	} {
		f.Add(0, s)
		f.Add(1, s)
		f.Add(2, s)
	}
	paths := []string{"/v3/OS-OAUTH1/request_token", "/v3/OS-OAUTH1/access_token", "/v3/auth/tokens"}
	f.Fuzz(func(t *testing.T, which int, header string) {
		if got, err := parseOAuthAuthorization(header); err == nil {
			var parts []string
			for _, kv := range got {
				parts = append(parts, oauthEncode(kv[0])+`="`+oauthEncode(kv[1])+`"`)
			}
			again, err := parseOAuthAuthorization("OAuth " + strings.Join(parts, ","))
			if err != nil || !slices.Equal(got, again) {
				t.Fatalf("%q parsed to %q, written out and parsed again to %q, %v", header, got, again, err)
			}
		}
		path := paths[(which%3+3)%3]
		var body *strings.Reader
		if path == "/v3/auth/tokens" {
			body = strings.NewReader(`{"auth": {"identity": {"methods": ["oauth1"], "oauth1": {}}}}`)
		} else {
			body = strings.NewReader("")
		}
		req := httptest.NewRequest("POST", path, body)
		req.Header.Set("Authorization", header)
		req.Header.Set("Requested-Project-Id", project)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		tc.handler.ServeHTTP(rec, req)
		if rec.Code >= http.StatusInternalServerError {
			t.Fatalf("%s with %q: status %d: %s", path, header, rec.Code, rec.Body)
		}
	})
}
