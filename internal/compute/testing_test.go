package compute

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/driver/compute/fake"
	"github.com/gostack/gostack/internal/identity"
	"github.com/gostack/gostack/internal/image"
	"github.com/gostack/gostack/internal/network"
	"github.com/gostack/gostack/internal/placement"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
	"github.com/gostack/gostack/internal/testkit"
)

// testCloud is identity, image, Placement and compute over a fresh store, wired as
// app.Up wires them, with tokens for the bootstrap accounts.
type testCloud struct {
	svc       *Service
	db        *store.DB
	images    *image.Service
	placement *placement.Service
	network   *network.Service
	handler   http.Handler
	dir       string
	// enf and log are the shared policy enforcer and logger, for services tests add.
	enf *policy.Enforcer
	log *slog.Logger
	// imageID is an active image conductor tests boot from (uploaded on first use).
	imageID string
	// adminToken, demoToken and altToken are project-scoped tokens of admin (admin
	// project), demo (demo project, member) and alt_demo (alt_demo project, member).
	adminToken, demoToken, altToken string
	// demoProjectID and demoUserID identify the demo account.
	demoProjectID, demoUserID string
}

// newTestCloud builds and bootstraps the services. COMPUTE_TEST_LOG=1 shows error logs.
func newTestCloud(t testing.TB) *testCloud {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db := testkit.OpenDB(t, dir)
	logOut := io.Discard
	if os.Getenv("COMPUTE_TEST_LOG") != "" {
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
		Catalog: []identity.CatalogEntryConfig{identity.CatalogEntry("compute", "nova", "Compute", "RegionOne",
			map[string]string{"public": "http://example.test/compute/v2.1"})},
	})
	if err != nil {
		t.Fatal(err)
	}
	imgSvc, err := image.New(ctx, db, enf, image.Config{Dir: filepath.Join(dir, "images")}, log)
	if err != nil {
		t.Fatal(err)
	}
	plSvc, err := placement.New(ctx, db, enf, placement.Config{}, log)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(ctx, db, enf, Config{}, testDeps(imgSvc, plSvc), log)
	if err != nil {
		t.Fatal(err)
	}
	// Networking with the DevStack topology: "public" (external, admin project) and
	// "private" (the demo project's), so the demo user's servers get a port by default
	// and the admin's get none.
	netSvc, err := network.New(ctx, db, enf, network.Config{}, log)
	if err != nil {
		t.Fatal(err)
	}
	adminProject, err := idSvc.ProjectIDByName(ctx, identity.DefaultDomainID, "admin")
	if err != nil {
		t.Fatal(err)
	}
	demoProject, err := idSvc.ProjectIDByName(ctx, identity.DefaultDomainID, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if err := netSvc.Bootstrap(ctx, network.BootstrapConfig{AdminProjectID: adminProject, DemoProjectID: demoProject,
		PrivateCIDR: "10.0.0.0/22"}); err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer(log, idSvc, enf)
	srv.Mount(idSvc.APIService())
	srv.Mount(imgSvc.APIService())
	srv.Mount(plSvc.APIService())
	srv.Mount(svc.APIService())
	srv.Mount(netSvc.APIService())
	svc.SetImageAPI(srv, "/image")
	svc.SetNetworkAPI(srv, "/networking")
	// The image service's reconciler must run for uploads to complete.
	imgCtx, stopImages := context.WithCancel(context.Background())
	t.Cleanup(stopImages)
	go imgSvc.Run(imgCtx)
	tc := &testCloud{svc: svc, db: db, images: imgSvc, placement: plSvc, network: netSvc, handler: srv, dir: dir, enf: enf, log: log}
	tc.adminToken = tc.passwordToken(t, "admin", "admin-secret", "admin")
	tc.demoToken = tc.passwordToken(t, "demo", "demo-secret", "demo")
	tc.altToken = tc.passwordToken(t, "alt_demo", "demo-secret", "alt_demo")
	return tc
}

// testDeps wires compute to the image and Placement services as app.Up does.
func testDeps(img *image.Service, pl *placement.Service) Deps {
	return Deps{Images: testImages{img}, Placement: pl}
}

// startCompute runs the conductor and hosts fake hosts (fake-host-1..N, each with the
// fake driver's default capacity, state in a temporary directory) until the test ends.
// It returns the fake drivers by host name; tests that inspect them type-assert.
func (tc *testCloud) startCompute(t testing.TB, hosts int) map[string]*fake.Driver {
	t.Helper()
	drivers := map[string]*fake.Driver{}
	stateDir := filepath.Join(tc.dir, "fake-hosts")
	for i := 1; i <= hosts; i++ {
		name := fmt.Sprintf("fake-host-%d", i)
		d, err := fake.New(fake.Config{Host: name, StateDir: stateDir})
		if err != nil {
			t.Fatal(err)
		}
		if err := tc.svc.AddHost(name, d, HostOptions{}); err != nil {
			t.Fatal(err)
		}
		drivers[name] = d
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tc.svc.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	tc.waitHosts(t, hosts)
	return drivers
}

// passwordToken issues a project-scoped token for a Default-domain user (and remembers
// the demo account's ids).
func (tc *testCloud) passwordToken(t testing.TB, user, password, project string) string {
	t.Helper()
	tok, userID, projectID := testkit.IssueToken(t, tc.handler, user, password, project)
	if user == "demo" {
		tc.demoUserID, tc.demoProjectID = userID, projectID
	}
	return tok
}

// resp is a decoded response.
type resp struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

// do sends a compute request as the admin at microversion ver ("" for none); path is
// relative to the API root ("/v2.1/servers").
func (tc *testCloud) do(t testing.TB, ver, method, path string, body any) resp {
	t.Helper()
	return tc.doAs(t, tc.adminToken, ver, method, path, body)
}

// doAs sends a compute request with the given token; a string body is sent as is.
func (tc *testCloud) doAs(t testing.TB, token, ver, method, path string, body any) resp {
	t.Helper()
	return tc.raw(t, token, ver, method, "/compute"+path, body)
}

// raw sends a request to any service path.
func (tc *testCloud) raw(t testing.TB, token, ver, method, path string, body any) resp {
	t.Helper()
	hdr := map[string]string{"X-Auth-Token": token}
	if ver != "" {
		hdr["OpenStack-API-Version"] = "compute " + ver
	}
	r := testkit.Serve(t, tc.handler, method, path, hdr, body)
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

// obj returns body[key] as an object.
func (r resp) obj(key string) map[string]any {
	m, _ := r.body[key].(map[string]any)
	return m
}

// list returns body[key] as a list of objects.
func (r resp) list(key string) []map[string]any {
	var out []map[string]any
	for _, v := range r.body[key].([]any) {
		out = append(out, v.(map[string]any))
	}
	return out
}
