package network

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/driver/network/fake"
	"github.com/gostack/gostack/internal/identity"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
	"github.com/gostack/gostack/internal/testkit"
)

// testCloud is identity and networking over a fresh store, wired as app.Up wires them,
// with tokens for the bootstrap accounts.
type testCloud struct {
	svc     *Service
	db      *store.DB
	driver  *fake.Driver
	handler http.Handler
	// adminToken, demoToken and altToken are project-scoped tokens of admin, demo
	// (member) and alt_demo (member).
	adminToken, demoToken, altToken       string
	adminProject, demoProject, altProject string
}

// newTestCloud builds the services. NETWORK_TEST_LOG=1 shows error logs.
func newTestCloud(t testing.TB) *testCloud {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db := testkit.OpenDB(t, dir)
	logOut := io.Discard
	if os.Getenv("NETWORK_TEST_LOG") != "" {
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
	})
	if err != nil {
		t.Fatal(err)
	}
	drv := fake.New()
	svc, err := New(ctx, db, enf, Config{Driver: drv, Host: "host1"}, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer(log, idSvc, enf)
	srv.Mount(idSvc.APIService())
	srv.Mount(svc.APIService())
	tc := &testCloud{svc: svc, db: db, driver: drv, handler: srv}
	tc.adminToken, tc.adminProject = tc.passwordToken(t, "admin", "admin-secret", "admin")
	tc.demoToken, tc.demoProject = tc.passwordToken(t, "demo", "demo-secret", "demo")
	tc.altToken, tc.altProject = tc.passwordToken(t, "alt_demo", "demo-secret", "alt_demo")
	return tc
}

// passwordToken issues a project-scoped token and returns it with the project id.
func (tc *testCloud) passwordToken(t testing.TB, user, password, project string) (string, string) {
	t.Helper()
	tok, _, projectID := testkit.IssueToken(t, tc.handler, user, password, project)
	return tok, projectID
}

// resp is a decoded response.
type resp struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

// do sends a networking request as the admin; path is relative to /networking.
func (tc *testCloud) do(t testing.TB, method, path string, body any) resp {
	t.Helper()
	return tc.doAs(t, tc.adminToken, method, path, body, nil)
}

// doAs sends a networking request with the given token and extra headers.
func (tc *testCloud) doAs(t testing.TB, token, method, path string, body any, hdr map[string]string) resp {
	t.Helper()
	h := map[string]string{"X-Auth-Token": token}
	for k, v := range hdr {
		h[k] = v
	}
	r := testkit.Serve(t, tc.handler, method, "/networking"+path, h, body)
	return resp{code: r.Code, header: r.Header, body: r.Body, raw: r.Raw}
}

// want fails the test unless the response has the status.
func (r resp) want(t testing.TB, status int) resp {
	t.Helper()
	if r.code != status {
		t.Fatalf("status %d, want %d: %s", r.code, status, r.raw)
	}
	return r
}

// fault fails unless the response is a NeutronError of the status and type.
func (r resp) fault(t testing.TB, status int, typ string) resp {
	t.Helper()
	r.want(t, status)
	ne, _ := r.body["NeutronError"].(map[string]any)
	if ne == nil || ne["type"] != typ || ne["detail"] != "" {
		t.Fatalf("fault body %s, want type %s", r.raw, typ)
	}
	return r
}

// obj returns body[key] as an object.
func (r resp) obj(key string) map[string]any {
	m, _ := r.body[key].(map[string]any)
	return m
}

// list returns body[key] as a list of objects.
func (r resp) list(key string) []map[string]any {
	var out []map[string]any
	arr, _ := r.body[key].([]any)
	for _, v := range arr {
		out = append(out, v.(map[string]any))
	}
	return out
}

// ids returns the ids of a list.
func ids(items []map[string]any) []string {
	var out []string
	for _, it := range items {
		out = append(out, it["id"].(string))
	}
	return out
}

// mkNetwork creates a network as token and returns it.
func (tc *testCloud) mkNetwork(t testing.TB, token string, body map[string]any) map[string]any {
	t.Helper()
	return tc.doAs(t, token, "POST", "/v2.0/networks", map[string]any{"network": body}, nil).want(t, 201).obj("network")
}

// mkSubnet creates a subnet as token and returns it.
func (tc *testCloud) mkSubnet(t testing.TB, token string, body map[string]any) map[string]any {
	t.Helper()
	return tc.doAs(t, token, "POST", "/v2.0/subnets", map[string]any{"subnet": body}, nil).want(t, 201).obj("subnet")
}

// mkPort creates a port as token and returns it.
func (tc *testCloud) mkPort(t testing.TB, token string, body map[string]any) map[string]any {
	t.Helper()
	return tc.doAs(t, token, "POST", "/v2.0/ports", map[string]any{"port": body}, nil).want(t, 201).obj("port")
}
