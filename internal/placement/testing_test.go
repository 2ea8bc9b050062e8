package placement

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/identity"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
	"github.com/gostack/gostack/internal/testkit"
)

// testCloud is identity plus Placement over a fresh store, with the HTTP handler and
// tokens for the bootstrap accounts.
type testCloud struct {
	svc     *Service
	db      *store.DB
	handler http.Handler
	// adminToken and demoToken are project-scoped tokens of the admin and demo users.
	adminToken, demoToken string
	// serviceToken is a token of a user with the service role on a "service" project, as
	// Nova's placement client uses.
	serviceToken string
	// systemToken is a system-scoped token of the admin.
	systemToken string
}

// newTestCloud builds and bootstraps identity, then Placement, as app.Up does.
func newTestCloud(t testing.TB) *testCloud {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db := openTestDB(t, dir)
	// PLACEMENT_TEST_LOG=1 shows the service's error logs (the causes of 5xx answers).
	logOut := io.Discard
	if os.Getenv("PLACEMENT_TEST_LOG") != "" {
		logOut = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelError}))
	enf := policy.New(nil, log)
	idSvc, err := identity.New(ctx, db, enf, identity.Config{KeyDir: filepath.Join(dir, "keys"), BcryptCost: 4}, log)
	if err != nil {
		t.Fatal(err)
	}
	err = idSvc.Bootstrap(ctx, identity.BootstrapConfig{
		Region:  "RegionOne",
		Admin:   identity.BootstrapAccount{UserName: "admin", ProjectName: "admin", Password: "admin-secret", Role: "admin"},
		Demo:    identity.BootstrapAccount{UserName: "demo", ProjectName: "demo", Password: "demo-secret", Role: "member"},
		AltDemo: identity.BootstrapAccount{UserName: "alt_demo", ProjectName: "alt_demo", Password: "demo-secret", Role: "member"},
		Catalog: []identity.CatalogEntryConfig{identity.CatalogEntry("placement", "placement", "Placement", "RegionOne",
			map[string]string{"public": "http://example.test/placement"})},
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(ctx, db, enf, Config{}, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer(log, idSvc, enf)
	srv.Mount(idSvc.APIService())
	srv.Mount(svc.APIService())
	tc := &testCloud{svc: svc, db: db, handler: srv}
	tc.adminToken = tc.passwordToken(t, "admin", "admin-secret", "admin")
	tc.demoToken = tc.passwordToken(t, "demo", "demo-secret", "demo")
	tc.serviceToken = tc.makeServiceUser(t)
	tc.systemToken = tc.systemScopedToken(t)
	return tc
}

// identity sends an identity API request as the admin and decodes the reply.
func (tc *testCloud) identity(t testing.TB, method, path string, body any) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Auth-Token", tc.adminToken)
	rec := httptest.NewRecorder()
	tc.handler.ServeHTTP(rec, req)
	if rec.Code >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
	}
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return out
}

// makeServiceUser creates a "nova" user with the service role on a "service" project and
// returns its token.
func (tc *testCloud) makeServiceUser(t testing.TB) string {
	t.Helper()
	var pid string
	if ps := tc.identity(t, "GET", "/v3/projects?name=service", nil)["projects"].([]any); len(ps) > 0 {
		pid = ps[0].(map[string]any)["id"].(string)
	} else {
		p := tc.identity(t, "POST", "/v3/projects", map[string]any{"project": map[string]any{"name": "service", "domain_id": "default"}})
		pid = p["project"].(map[string]any)["id"].(string)
	}
	u := tc.identity(t, "POST", "/v3/users", map[string]any{"user": map[string]any{"name": "nova", "password": "nova-secret", "domain_id": "default"}})
	roles := tc.identity(t, "GET", "/v3/roles?name=service", nil)["roles"].([]any)
	uid := u["user"].(map[string]any)["id"].(string)
	rid := roles[0].(map[string]any)["id"].(string)
	tc.identity(t, "PUT", "/v3/projects/"+pid+"/users/"+uid+"/roles/"+rid, nil)
	return tc.passwordToken(t, "nova", "nova-secret", "service")
}

// systemScopedToken issues a system-scoped token for the admin.
func (tc *testCloud) systemScopedToken(t testing.TB) string {
	t.Helper()
	body := map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{
			"user": map[string]any{"name": "admin", "password": "admin-secret", "domain": map[string]any{"id": "default"}}}},
		"scope": map[string]any{"system": map[string]any{"all": true}},
	}}
	b, _ := json.Marshal(body)
	req := httptest.NewRequest("POST", "/v3/auth/tokens", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	tc.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		t.Fatalf("system token: %d %s", rec.Code, rec.Body)
	}
	return rec.Header().Get("X-Subject-Token")
}

// passwordToken issues a project-scoped token for a Default-domain user.
func (tc *testCloud) passwordToken(t testing.TB, user, password, project string) string {
	t.Helper()
	body := map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{
			"user": map[string]any{"name": user, "password": password, "domain": map[string]any{"id": "default"}}}},
		"scope": map[string]any{"project": map[string]any{"name": project, "domain": map[string]any{"id": "default"}}},
	}}
	b, _ := json.Marshal(body)
	req := httptest.NewRequest("POST", "/v3/auth/tokens", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	tc.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		t.Fatalf("token for %s: status %d: %s", user, rec.Code, rec.Body)
	}
	return rec.Header().Get("X-Subject-Token")
}

// openTestDB opens a fresh store (testkit.OpenDB: SQLite, or PostgreSQL when
// GOSTACK_TEST_POSTGRES is set).
func openTestDB(t testing.TB, dir string) *store.DB { return testkit.OpenDB(t, dir) }

// resp is a decoded response.
type resp struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

// do sends a request as the admin at microversion ver ("" for none) and decodes the
// reply.
func (tc *testCloud) do(t testing.TB, ver, method, path string, body any) resp {
	t.Helper()
	return tc.doAs(t, tc.adminToken, ver, method, path, body)
}

// doAs sends a request with the given token.
func (tc *testCloud) doAs(t testing.TB, token, ver, method, path string, body any) resp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			enc, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			rd = bytes.NewReader(enc)
		}
	}
	req := httptest.NewRequest(method, "/placement"+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	if ver != "" {
		req.Header.Set("OpenStack-API-Version", "placement "+ver)
	}
	rec := httptest.NewRecorder()
	tc.handler.ServeHTTP(rec, req)
	out := resp{code: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if b := bytes.TrimSpace(rec.Body.Bytes()); len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &out.body); err != nil {
			t.Fatalf("%s %s: response is not JSON: %q", method, path, b)
		}
	}
	return out
}

// want fails the test unless the response has the status.
func (r resp) want(t testing.TB, code int) resp {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d: %s", r.code, code, r.raw)
	}
	return r
}

// detail returns the first error's detail.
func (r resp) detail() string {
	errs, _ := r.body["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	d, _ := errs[0].(map[string]any)["detail"].(string)
	return d
}

// code returns the first error's code.
func (r resp) errCode() string {
	errs, _ := r.body["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	d, _ := errs[0].(map[string]any)["code"].(string)
	return d
}

// num reads a JSON number at a path of keys.
func (r resp) num(keys ...string) float64 {
	var v any = r.body
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	f, _ := v.(float64)
	return f
}

// get reads a value at a path of keys.
func (r resp) get(keys ...string) any {
	var v any = r.body
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// createProvider creates a provider (with a parent when given) and returns its uuid.
func (tc *testCloud) createProvider(t testing.TB, name, parent string) string {
	t.Helper()
	body := map[string]any{"name": name}
	if parent != "" {
		body["parent_provider_uuid"] = parent
	}
	r := tc.do(t, "1.20", "POST", "/resource_providers", body).want(t, http.StatusOK)
	return r.body["uuid"].(string)
}

// generation returns a provider's generation.
func (tc *testCloud) generation(t testing.TB, uuid string) int {
	t.Helper()
	return int(tc.do(t, "1.20", "GET", "/resource_providers/"+uuid, nil).want(t, http.StatusOK).num("generation"))
}

// setInventory replaces a provider's inventory.
func (tc *testCloud) setInventory(t testing.TB, uuid string, invs map[string]any) {
	t.Helper()
	tc.do(t, "1.26", "PUT", "/resource_providers/"+uuid+"/inventories", map[string]any{
		"resource_provider_generation": tc.generation(t, uuid), "inventories": invs,
	}).want(t, http.StatusOK)
}

// setTraits replaces a provider's traits, creating custom ones as needed.
func (tc *testCloud) setTraits(t testing.TB, uuid string, traits ...string) {
	t.Helper()
	for _, tr := range traits {
		if strings.HasPrefix(tr, "CUSTOM_") {
			tc.do(t, "1.6", "PUT", "/traits/"+tr, nil)
		}
	}
	tc.do(t, "1.6", "PUT", "/resource_providers/"+uuid+"/traits", map[string]any{
		"resource_provider_generation": tc.generation(t, uuid), "traits": traits,
	}).want(t, http.StatusOK)
}

// allocate writes a consumer's allocations at 1.38 and returns the status.
func (tc *testCloud) allocate(t testing.TB, consumer string, gen any, allocs map[string]map[string]int) resp {
	t.Helper()
	a := map[string]any{}
	for rp, res := range allocs {
		a[rp] = map[string]any{"resources": res}
	}
	return tc.do(t, "1.38", "PUT", "/allocations/"+consumer, map[string]any{
		"allocations": a, "project_id": "p1", "user_id": "u1", "consumer_generation": gen, "consumer_type": "INSTANCE",
	})
}

// inv is an inventory body with the given total and options.
func inv(total int, opts ...any) map[string]any {
	m := map[string]any{"total": total}
	for i := 0; i+1 < len(opts); i += 2 {
		m[opts[i].(string)] = opts[i+1]
	}
	return m
}

// doRaw sends a raw body with the given Content-Type ("" for none) as the admin.
func (tc *testCloud) doRaw(t testing.TB, ver, method, path, contentType, body string) resp {
	t.Helper()
	req := httptest.NewRequest(method, "/placement"+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("X-Auth-Token", tc.adminToken)
	if ver != "" {
		req.Header.Set("OpenStack-API-Version", "placement "+ver)
	}
	rec := httptest.NewRecorder()
	tc.handler.ServeHTTP(rec, req)
	out := resp{code: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if b := bytes.TrimSpace(rec.Body.Bytes()); len(b) > 0 && b[0] == '{' {
		_ = json.Unmarshal(b, &out.body)
	}
	return out
}

// decodeBody decodes (v non-nil) or drains a response body and closes it.
func decodeBody(r *http.Response, v any) error {
	defer r.Body.Close()
	if v == nil {
		_, err := io.Copy(io.Discard, r.Body)
		return err
	}
	return json.NewDecoder(r.Body).Decode(v)
}

// stringsReader returns a reader over s.
func stringsReader(s string) io.Reader { return strings.NewReader(s) }
