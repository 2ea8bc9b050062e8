package image

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/identity"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
	"github.com/gostack/gostack/internal/testkit"
)

// testCloud is the identity and image services over a fresh SQLite store, bootstrapped
// like a real cloud (admin, demo and alt_demo), with the shared API server in front.
type testCloud struct {
	db      *store.DB
	enf     *policy.Enforcer
	id      *identity.Service
	svc     *Service
	handler http.Handler
	dir     string
	log     *slog.Logger
	// admin, demo and alt are project-scoped tokens with their project ids; demo and alt
	// are members of their projects, admin is admin of the admin project.
	admin, demo, alt account
	cancel           context.CancelFunc
}

// account is a user's token and project.
type account struct{ token, project string }

const testPassword = "secret-password"

// newTestCloud builds the cloud; opts adjust the image Config.
func newTestCloud(t testing.TB, opts ...func(*Config)) *testCloud {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db := openTestDB(t, dir)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	enf := policy.New(nil, log)
	id, err := identity.New(ctx, db, enf, identity.Config{KeyDir: filepath.Join(dir, "keys"), BcryptCost: 4}, log)
	if err != nil {
		t.Fatal(err)
	}
	err = id.Bootstrap(ctx, identity.BootstrapConfig{
		Region:  "RegionOne",
		Admin:   identity.BootstrapAccount{UserName: "admin", ProjectName: "admin", Password: testPassword, Role: "admin"},
		Demo:    identity.BootstrapAccount{UserName: "demo", ProjectName: "demo", Password: testPassword, Role: "member"},
		AltDemo: identity.BootstrapAccount{UserName: "alt_demo", ProjectName: "alt_demo", Password: testPassword, Role: "member"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tc := &testCloud{db: db, enf: enf, id: id, dir: dir, log: log}
	tc.start(t, opts...)
	tc.admin = tc.login(t, "admin", "admin")
	tc.demo = tc.login(t, "demo", "demo")
	tc.alt = tc.login(t, "alt_demo", "alt_demo")
	return tc
}

// start builds the image service over the cloud's store, mounts it on a new API server
// and runs it; calling it again is a restart (the previous service is stopped first).
func (tc *testCloud) start(t testing.TB, opts ...func(*Config)) {
	t.Helper()
	if tc.cancel != nil {
		tc.cancel()
		tc.svc.imports.Wait()
	}
	srv := api.NewServer(tc.log, tc.id, tc.enf)
	srv.Mount(tc.id.APIService())
	cfg := Config{Dir: filepath.Join(tc.dir, "images")}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := New(context.Background(), tc.db, tc.enf, cfg, tc.log)
	if err != nil {
		t.Fatal(err)
	}
	tc.svc = svc
	srv.Mount(svc.APIService())
	tc.handler = srv
	ctx, cancel := context.WithCancel(context.Background())
	tc.cancel = cancel
	go svc.Run(ctx)
	<-svc.reconciled
	t.Cleanup(cancel)
}

// login issues a project-scoped token.
func (tc *testCloud) login(t testing.TB, user, project string) account {
	t.Helper()
	body := map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{
			"user": map[string]any{"name": user, "password": testPassword, "domain": map[string]any{"id": "default"}}}},
		"scope": map[string]any{"project": map[string]any{"name": project, "domain": map[string]any{"id": "default"}}},
	}}
	resp, out := tc.json(t, "POST", "/v3/auth/tokens", "", body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("token for %s: %d %v", user, resp.StatusCode, out)
	}
	proj := out["token"].(map[string]any)["project"].(map[string]any)["id"].(string)
	return account{token: resp.Header.Get("X-Subject-Token"), project: proj}
}

// request sends a request and returns the recorded response.
func (tc *testCloud) request(t testing.TB, method, path, token, ctype string, body io.Reader, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, "http://cloud.test"+path, body)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	tc.handler.ServeHTTP(rec, req)
	return rec
}

// json sends an optional JSON body (application/json, or the patch type for PATCH) and
// decodes a JSON reply.
func (tc *testCloud) json(t testing.TB, method, path, token string, body any) (*http.Response, map[string]any) {
	t.Helper()
	var rd io.Reader
	ctype := ""
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
		ctype = "application/json"
		if method == "PATCH" {
			ctype = "application/openstack-images-v2.1-json-patch"
		}
	}
	rec := tc.request(t, method, path, token, ctype, rd, "Accept", "application/json")
	return rec.Result(), decode(t, rec)
}

// decode parses a JSON response body (nil when empty).
func decode(t testing.TB, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	b := rec.Body.Bytes()
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("response is not a JSON object: %q", truncate(string(b), 300))
	}
	return out
}

// createImage creates an image and fails the test unless it gets a 201.
func (tc *testCloud) createImage(t testing.TB, token string, body map[string]any) map[string]any {
	t.Helper()
	resp, out := tc.json(t, "POST", "/image/v2/images", token, body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create image %v: %d %v", body, resp.StatusCode, out)
	}
	return out
}

// upload sends image data.
func (tc *testCloud) upload(t testing.TB, token, id string, data []byte) *httptest.ResponseRecorder {
	t.Helper()
	return tc.request(t, "PUT", "/image/v2/images/"+id+"/file", token, "application/octet-stream", bytes.NewReader(data))
}

// show returns an image as the token's owner sees it.
func (tc *testCloud) show(t testing.TB, token, id string) map[string]any {
	t.Helper()
	resp, out := tc.json(t, "GET", "/image/v2/images/"+id, token, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("show %s: %d %v", id, resp.StatusCode, out)
	}
	return out
}

// listIDs lists image ids with a query.
func (tc *testCloud) listIDs(t testing.TB, token, query string) []string {
	t.Helper()
	resp, out := tc.json(t, "GET", "/image/v2/images"+query, token, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list %s: %d %v", query, resp.StatusCode, out)
	}
	var ids []string
	for _, im := range out["images"].([]any) {
		ids = append(ids, im.(map[string]any)["id"].(string))
	}
	return ids
}

// qcow2Image returns a small valid qcow2 (version 3) of the given virtual size; backing,
// when set, is written as its backing file name.
func qcow2Image(virtualSize uint64, backing string) []byte {
	const clusterBits = 16
	b := make([]byte, 3<<clusterBits)
	be := binary.BigEndian
	copy(b, "QFI\xfb")
	be.PutUint32(b[4:], 3)
	if backing != "" {
		be.PutUint64(b[8:], 512)
		be.PutUint32(b[16:], uint32(len(backing)))
		copy(b[512:], backing)
	}
	be.PutUint32(b[20:], clusterBits)
	be.PutUint64(b[24:], virtualSize)
	be.PutUint32(b[36:], 1)     // l1_size
	be.PutUint64(b[40:], 3<<16) // l1_table_offset
	be.PutUint64(b[48:], 1<<16) // refcount_table_offset
	be.PutUint32(b[56:], 1)     // refcount_table_clusters
	be.PutUint32(b[96:], 4)     // refcount_order
	be.PutUint32(b[100:], 104)  // header_length
	return b
}

// htmlPage is what curl -o saves when the URL was a web page.
var htmlPage = []byte("<!DOCTYPE html>\n<html><head><title>Download</title></head><body>" + strings.Repeat("<p>not an image</p>", 200) + "</body></html>\n")

// storeFiles lists every file in the image store (data, staging and temporary).
func storeFiles(t testing.TB, tc *testCloud) []string {
	t.Helper()
	var out []string
	root := tc.svc.files.dir
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// openTestDB opens a fresh store (testkit.OpenDB: SQLite, or PostgreSQL when
// GOSTACK_TEST_POSTGRES is set).
func openTestDB(t testing.TB, dir string) *store.DB { return testkit.OpenDB(t, dir) }
