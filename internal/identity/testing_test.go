package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
	"github.com/gostack/gostack/internal/testkit"
)

// testCloud is an identity service over a fresh SQLite store, bootstrapped like a real
// cloud, with its HTTP handler.
type testCloud struct {
	svc     *Service
	handler http.Handler
	// adminToken and demoToken are project-scoped tokens of the bootstrap accounts.
	adminToken, demoToken string
}

// Bootstrap passwords used by the test cloud.
const (
	testAdminPassword = "admin-secret"
	testDemoPassword  = "demo-secret"
)

// newTestService returns a bootstrapped identity service with a low bcrypt cost.
func newTestService(t testing.TB) *Service {
	return newTestCloud(t).svc
}

// newTestCloud builds the service, bootstraps it and issues admin and demo tokens.
func newTestCloud(t testing.TB) *testCloud {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db := openTestDB(t, dir)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	enf := policy.New(nil, log)
	svc, err := New(ctx, db, enf, Config{KeyDir: filepath.Join(dir, "keys"), BcryptCost: 4}, log)
	if err != nil {
		t.Fatal(err)
	}
	err = svc.Bootstrap(ctx, BootstrapConfig{
		Region:  "RegionOne",
		Admin:   BootstrapAccount{UserName: "admin", ProjectName: "admin", Password: testAdminPassword, Role: "admin"},
		Demo:    BootstrapAccount{UserName: "demo", ProjectName: "demo", Password: testDemoPassword, Role: "member"},
		AltDemo: BootstrapAccount{UserName: "alt_demo", ProjectName: "alt_demo", Password: testDemoPassword, Role: "member"},
		Catalog: []CatalogEntryConfig{CatalogEntry("identity", "keystone", "Identity", "RegionOne",
			map[string]string{"public": "http://example.test/v3", "internal": "http://example.test/v3", "admin": "http://example.test/v3"})},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer(log, svc, enf)
	srv.Mount(svc.APIService())
	tc := &testCloud{svc: svc, handler: srv}
	tc.adminToken = tc.passwordToken(t, "admin", testAdminPassword, "admin")
	tc.demoToken = tc.passwordToken(t, "demo", testDemoPassword, "demo")
	return tc
}

// passwordToken issues a project-scoped token for a Default-domain user.
func (tc *testCloud) passwordToken(t testing.TB, user, password, project string) string {
	t.Helper()
	body := map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{
			"user": map[string]any{"name": user, "password": password, "domain": map[string]any{"id": "default"}}}},
		"scope": map[string]any{"project": map[string]any{"name": project, "domain": map[string]any{"id": "default"}}},
	}}
	resp, out := doJSON(t, tc.handler, "POST", "/v3/auth/tokens", "", body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("token for %s: status %d: %v", user, resp.StatusCode, out)
	}
	return resp.Header.Get("X-Subject-Token")
}

// newRecorder returns an httptest recorder.
func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

// openTestDB opens a fresh store (testkit.OpenDB: SQLite, or PostgreSQL when
// GOSTACK_TEST_POSTGRES is set).
func openTestDB(t testing.TB, dir string) *store.DB { return testkit.OpenDB(t, dir) }

// doJSON sends a request with an optional JSON body and token and decodes the JSON reply
// (nil for an empty body).
func doJSON(t testing.TB, h http.Handler, method, path, token string, body any) (*http.Response, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	var out map[string]any
	if b := rec.Body.Bytes(); len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: response is not JSON: %q", method, path, b)
		}
	}
	return resp, out
}
