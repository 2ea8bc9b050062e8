package volume

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/driver/block/fake"
	"github.com/gostack/gostack/internal/identity"
	"github.com/gostack/gostack/internal/image"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
	"github.com/gostack/gostack/internal/testkit"
)

// testCloud is identity, image and volume over a fresh store, wired as app.Up wires
// them, with tokens for the bootstrap accounts and a fake block backend.
type testCloud struct {
	svc     *Service
	db      *store.DB
	images  *image.Service
	enf     *policy.Enforcer
	log     *slog.Logger
	handler http.Handler
	dir     string
	driver  *fake.Driver
	backups *fake.BackupStore
	// adminToken, demoToken and altToken are project-scoped tokens of admin (admin
	// project), demo (demo project, member) and alt_demo (alt_demo project, member).
	adminToken, demoToken, altToken string
	// adminProjectID, demoProjectID, altProjectID and demoUserID identify the accounts.
	adminProjectID, demoProjectID, altProjectID, demoUserID string
	// stop ends the runners started by start.
	stop func()
}

// testOptions tune newTestCloud.
type testOptions struct {
	cfg  Config
	hook func(ctx context.Context, op, id string) error
	// noRun leaves the runners stopped (tests that inspect queued tasks).
	noRun bool
}

// newTestCloud builds and bootstraps the services and starts the volume runners.
// VOLUME_TEST_LOG=1 shows error logs.
func newTestCloud(t testing.TB, opts ...testOptions) *testCloud {
	t.Helper()
	var o testOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	ctx := context.Background()
	dir := t.TempDir()
	db := testkit.OpenDB(t, dir)
	logOut := io.Discard
	if os.Getenv("VOLUME_TEST_LOG") != "" {
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
	imgSvc, err := image.New(ctx, db, enf, image.Config{Dir: filepath.Join(dir, "images")}, log)
	if err != nil {
		t.Fatal(err)
	}
	cfg := o.cfg
	if cfg.Host == "" {
		cfg.Host = "testhost"
	}
	svc, err := New(ctx, db, enf, cfg, Deps{Images: testImages{imgSvc}}, log)
	if err != nil {
		t.Fatal(err)
	}
	drv := fake.New(fake.Config{Name: "file", Hook: o.hook})
	bs := fake.NewBackupStore()
	bs.Hook = o.hook
	svc.SetBackend(drv, bs)
	srv := api.NewServer(log, idSvc, enf)
	srv.Mount(idSvc.APIService())
	srv.Mount(imgSvc.APIService())
	srv.Mount(svc.APIService())
	imgCtx, stopImages := context.WithCancel(context.Background())
	t.Cleanup(stopImages)
	go imgSvc.Run(imgCtx)
	tc := &testCloud{svc: svc, db: db, images: imgSvc, enf: enf, log: log, handler: srv, dir: dir, driver: drv, backups: bs}
	tc.adminToken, _, tc.adminProjectID = testkit.IssueToken(t, srv, "admin", "admin-secret", "admin")
	tc.demoToken, tc.demoUserID, tc.demoProjectID = testkit.IssueToken(t, srv, "demo", "demo-secret", "demo")
	tc.altToken, _, tc.altProjectID = testkit.IssueToken(t, srv, "alt_demo", "demo-secret", "alt_demo")
	if !o.noRun {
		tc.start(t)
	}
	return tc
}

// start runs the volume service's runners until the test ends (or stop is called).
func (tc *testCloud) start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	ready := make(chan struct{})
	tc.svc.onReady = func() { close(ready) }
	go func() {
		defer close(done)
		tc.svc.Run(ctx)
	}()
	var once bool
	tc.stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		<-done
	}
	t.Cleanup(tc.stop)
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		t.Fatal("volume service did not come up")
	}
}

// testImages adapts the image service as app does.
type testImages struct{ svc *image.Service }

func (g testImages) info(s *image.Summary) *ImageInfo {
	return &ImageInfo{ID: s.ID, Name: s.Name, Status: s.Status, DiskFormat: s.DiskFormat,
		ContainerFormat: s.ContainerFormat, Size: s.Size, MinDisk: s.MinDisk, MinRAM: s.MinRAM, Properties: s.Properties}
}

func (g testImages) Image(ctx context.Context, caller *api.Caller, id string) (*ImageInfo, error) {
	s, err := g.svc.ImageFor(ctx, caller, id)
	if errors.Is(err, image.ErrImageNotFound) {
		return nil, ErrImageNotFound
	}
	if err != nil {
		return nil, err
	}
	return g.info(s), nil
}

func (g testImages) OpenImage(ctx context.Context, id string) (io.ReadCloser, error) {
	return g.svc.OpenImageData(ctx, id)
}

func (g testImages) CreateImage(ctx context.Context, caller *api.Caller, name string, props map[string]string) (*ImageInfo, error) {
	s, err := g.svc.CreateImageFor(ctx, caller, name, props)
	if err != nil {
		return nil, err
	}
	return g.info(s), nil
}

func (g testImages) UploadImage(ctx context.Context, id, diskFormat, containerFormat string, data io.Reader) error {
	return g.svc.UploadImageData(ctx, id, diskFormat, containerFormat, data)
}

func (g testImages) DeleteImage(ctx context.Context, id string) error {
	return g.svc.DeleteImageByID(ctx, id)
}

// resp is a decoded response.
type resp struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

// do sends a volume request as the admin at microversion ver ("" for none); path is
// relative to the project root ("/volumes" is /volume/v3/<admin project>/volumes).
func (tc *testCloud) do(t testing.TB, ver, method, path string, body any) resp {
	t.Helper()
	return tc.doAs(t, tc.adminToken, ver, method, path, body)
}

// doAs sends a volume request with the given token under the token's project.
func (tc *testCloud) doAs(t testing.TB, token, ver, method, path string, body any) resp {
	t.Helper()
	project := tc.adminProjectID
	switch token {
	case tc.demoToken:
		project = tc.demoProjectID
	case tc.altToken:
		project = tc.altProjectID
	}
	return tc.raw(t, token, ver, method, "/volume/v3/"+project+path, body)
}

// raw sends a request to any service path.
func (tc *testCloud) raw(t testing.TB, token, ver, method, path string, body any) resp {
	t.Helper()
	hdr := map[string]string{"X-Auth-Token": token}
	if ver != "" {
		hdr["OpenStack-API-Version"] = "volume " + ver
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
	arr, _ := r.body[key].([]any)
	for _, v := range arr {
		out = append(out, v.(map[string]any))
	}
	return out
}

// faultMessage returns the message of a Cinder fault body with the given name.
func (r resp) faultMessage(name string) string {
	m, _ := r.obj(name)["message"].(string)
	return m
}
