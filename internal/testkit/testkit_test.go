package testkit

import (
	"context"
	"flag"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestMain turns the test binary into a fake gostack when TESTKIT_FAKE_GOSTACK is set, so
// the process handling of Start, Stop, Kill and Restart is tested without the real server.
func TestMain(m *testing.M) {
	if os.Getenv("TESTKIT_FAKE_GOSTACK") == "1" {
		fakeGostack(os.Args[1:])
		return
	}
	Main(m)
}

// fakeGostack serves GET /v3 on --listen until SIGTERM, then exits 0.
func fakeGostack(args []string) {
	if len(args) == 0 || args[0] != "up" {
		os.Exit(2)
	}
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	listen := fs.String("listen", "", "")
	fs.String("data-dir", "", "")
	fs.String("admin-password", "", "")
	fs.String("demo-password", "", "")
	fs.Parse(args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Addr: *listen, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v3" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"version":{"id":"v3.14","status":"stable"}}`))
	})}
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	println("fake gostack listening on", *listen)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		println(err.Error())
		os.Exit(1)
	}
	println("fake gostack stopped")
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestStartStopKillRestart(t *testing.T) {
	t.Setenv("GOSTACK_BIN", os.Args[0])
	c := Start(t, WithEnv("TESTKIT_FAKE_GOSTACK=1"), WithFile("policy.yaml", "{}\n"))
	if got := get(t, c.AuthURL()); got != http.StatusOK {
		t.Fatalf("GET %s: %d, want 200", c.AuthURL(), got)
	}
	if b, err := os.ReadFile(filepath.Join(c.DataDir, "policy.yaml")); err != nil || string(b) != "{}\n" {
		t.Errorf("WithFile: %q, %v", b, err)
	}
	url := c.URL

	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	if c.URL != url || get(t, c.AuthURL()) != http.StatusOK {
		t.Fatalf("after Restart: URL %s (was %s)", c.URL, url)
	}

	c.Kill()
	if c.Running() {
		t.Fatal("running after Kill")
	}
	if get(t, c.AuthURL()) != 0 {
		t.Fatal("still answering after Kill")
	}
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	c.Stop()
	if c.Running() {
		t.Fatal("running after Stop")
	}
	log := c.LogTail(100)
	for _, want := range []string{"testkit: start 3:", "--listen " + c.Addr, "fake gostack stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestOpenRC(t *testing.T) {
	c := &Cloud{DataDir: t.TempDir()}
	rc := "# comment\nexport OS_AUTH_URL=http://127.0.0.1:5000/v3\nexport OS_PASSWORD='s3cr\"et'\n" +
		"export OS_PROJECT_NAME=\"admin\"\nunset OS_TENANT_NAME\nexport OS_IDENTITY_API_VERSION=3\n"
	if err := os.WriteFile(filepath.Join(c.DataDir, "admin-openrc"), []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OS_CLOUD", "leaks-in")
	vars, err := c.OpenRC("admin")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"OS_AUTH_URL":             "http://127.0.0.1:5000/v3",
		"OS_PASSWORD":             `s3cr"et`,
		"OS_PROJECT_NAME":         "admin",
		"OS_IDENTITY_API_VERSION": "3",
	}
	if len(vars) != len(want) {
		t.Errorf("got %v, want %v", vars, want)
	}
	for k, v := range want {
		if vars[k] != v {
			t.Errorf("%s=%q, want %q", k, vars[k], v)
		}
	}
	if _, err := c.OpenRC("missing"); err == nil {
		t.Error("OpenRC of a missing file: no error")
	}
}

func TestCleanEnv(t *testing.T) {
	t.Setenv("OS_PASSWORD", "x")
	t.Setenv("TESTKIT_KEEP", "y")
	env := strings.Join(CleanEnv(), "\n")
	if strings.Contains(env, "OS_PASSWORD=") || !strings.Contains(env, "TESTKIT_KEEP=y") {
		t.Errorf("CleanEnv kept OS_* or dropped others:\n%s", env)
	}
	c := &Cloud{DataDir: "/d"}
	if got := strings.Join(c.Env("gostack"), " "); got != "OS_CLIENT_CONFIG_FILE=/d/clouds.yaml OS_CLOUD=gostack" {
		t.Errorf("Env: %s", got)
	}
}
