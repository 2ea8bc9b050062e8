package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// LogName is the file in the data directory that receives the process's stdout and stderr.
const LogName = "gostack-test.log"

// Default passwords of the bootstrapped users; Start passes them to gostack up.
const (
	DefaultAdminPassword = "admin-secret"
	DefaultDemoPassword  = "demo-secret"
)

// Timeouts used while driving the process.
const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 15 * time.Second
	cliTimeout   = 2 * time.Minute
)

var (
	buildOnce sync.Once
	buildPath string
	buildDir  string
	buildErr  error
)

// Main runs the tests of a package that uses testkit and removes the binary Build compiled.
// Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// Build returns the path of a gostack binary: $GOSTACK_BIN when set, otherwise ./cmd/gostack
// compiled once per test process into a temporary directory.
func Build(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("GOSTACK_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatalf("testkit: GOSTACK_BIN: %v", err)
		}
		if _, err := os.Stat(abs); err != nil {
			t.Fatalf("testkit: GOSTACK_BIN=%s: %v", p, err)
		}
		return abs
	}
	buildOnce.Do(func() { buildPath, buildErr = build() })
	if buildErr != nil {
		t.Fatalf("testkit: %v", buildErr)
	}
	return buildPath
}

func build() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		if gr := os.Getenv("GOROOT"); gr != "" {
			goBin = filepath.Join(gr, "bin", "go")
		} else {
			return "", fmt.Errorf("build gostack: go not on PATH: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "gostack-testkit-")
	if err != nil {
		return "", fmt.Errorf("build gostack: %w", err)
	}
	buildDir = dir
	out := filepath.Join(dir, "gostack")
	cmd := exec.Command(goBin, "build", "-o", out, "./cmd/gostack")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/gostack: %w\n%s", err, b)
	}
	return out, nil
}

// moduleRoot walks up from the working directory to the directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Option changes how Start runs gostack.
type Option func(*config)

type config struct {
	adminPassword string
	demoPassword  string
	args          []string
	env           []string
	files         map[string]string
}

// WithPasswords sets the admin and demo passwords passed to gostack up.
func WithPasswords(admin, demo string) Option {
	return func(c *config) { c.adminPassword, c.demoPassword = admin, demo }
}

// WithArgs appends arguments to gostack up.
func WithArgs(args ...string) Option {
	return func(c *config) { c.args = append(c.args, args...) }
}

// WithEnv adds KEY=VALUE entries to the process's environment.
func WithEnv(kv ...string) Option {
	return func(c *config) { c.env = append(c.env, kv...) }
}

// WithFile writes a file into the data directory before the first start; name is relative
// to the data directory (for example "policy.yaml").
func WithFile(name, content string) Option {
	return func(c *config) {
		if c.files == nil {
			c.files = map[string]string{}
		}
		c.files[name] = content
	}
}

// Cloud is a running (or stopped) gostack process owned by one test.
type Cloud struct {
	// URL is the base URL of the listener, such as http://127.0.0.1:40123; the identity
	// API is at URL + "/v3".
	URL string
	// Addr is the listen address, host:port.
	Addr string
	// DataDir is the process's data directory.
	DataDir string
	// LogFile is where the process's stdout and stderr go.
	LogFile string
	// AdminPassword and DemoPassword are the passwords passed to gostack up.
	AdminPassword string
	DemoPassword  string

	t    testing.TB
	bin  string
	cfg  config
	mu   sync.Mutex
	proc *process
	pgid []int
	runs int
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// running reports whether p is still running.
func (p *process) running() bool {
	if p == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Start builds (once) and starts gostack up on a free loopback port with a fresh data
// directory, waits until GET /v3 answers 200 and registers the cleanup that stops it.
func Start(t testing.TB, opts ...Option) *Cloud {
	t.Helper()
	cfg := config{adminPassword: DefaultAdminPassword, demoPassword: DefaultDemoPassword}
	for _, o := range opts {
		o(&cfg)
	}
	c := &Cloud{
		DataDir:       t.TempDir(),
		AdminPassword: cfg.adminPassword,
		DemoPassword:  cfg.demoPassword,
		t:             t,
		bin:           Build(t),
		cfg:           cfg,
	}
	c.LogFile = filepath.Join(c.DataDir, LogName)
	for name, content := range cfg.files {
		p := filepath.Join(c.DataDir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(c.cleanup)

	// A port picked by listening on :0 can be taken by someone else before gostack binds
	// it; try a few ports before giving up.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var port int
		port, err = freePort()
		if err != nil {
			t.Fatalf("testkit: %v", err)
		}
		c.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		c.URL = "http://" + c.Addr
		err = c.start()
		if err == nil {
			return c
		}
		if !strings.Contains(c.LogTail(20), "address already in use") {
			break
		}
	}
	t.Fatalf("testkit: %v\n--- %s (tail) ---\n%s", err, c.LogFile, c.LogTail(60))
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Args returns the arguments passed to the binary.
func (c *Cloud) Args() []string {
	args := []string{"up",
		"--data-dir", c.DataDir,
		"--listen", c.Addr,
		"--admin-password", c.AdminPassword,
		"--demo-password", c.DemoPassword,
	}
	return append(args, c.cfg.args...)
}

// start launches the process and waits until it serves GET /v3.
func (c *Cloud) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc.running() {
		return errors.New("gostack is already running")
	}
	logf, err := os.OpenFile(c.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	c.runs++
	args := c.Args()
	fmt.Fprintf(logf, "=== testkit: start %d: %s %s\n", c.runs, c.bin, strings.Join(args, " "))

	cmd := exec.Command(c.bin, args...)
	cmd.Dir = c.DataDir
	cmd.Env = append(CleanEnv(), c.cfg.env...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", c.bin, err)
	}
	c.pgid = append(c.pgid, cmd.Process.Pid)
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	c.proc = p

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("gostack up exited before it was ready: %v", p.err)
		default:
		}
		resp, err := client.Get(c.URL + "/v3")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Not ready: kill it so the caller does not leak the process.
	cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("GET %s/v3 did not answer 200 within %s (last: %s)", c.URL, readyTimeout, last)
}

// Stop sends SIGTERM and waits for the process to exit. An exit status other than 0, or no
// exit within 15 s (the process is then killed), is reported as a test error.
func (c *Cloud) Stop() {
	c.t.Helper()
	c.mu.Lock()
	p := c.proc
	c.mu.Unlock()
	if !p.running() {
		return
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.t.Errorf("testkit: SIGTERM gostack: %v", err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			c.t.Errorf("testkit: gostack did not exit cleanly after SIGTERM: %v\n--- %s (tail) ---\n%s",
				p.err, c.LogFile, c.LogTail(40))
		}
	case <-time.After(stopTimeout):
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		c.t.Errorf("testkit: gostack did not exit within %s after SIGTERM; killed\n--- %s (tail) ---\n%s",
			stopTimeout, c.LogFile, c.LogTail(40))
	}
}

// Kill sends SIGKILL to the process (only the gostack process, as a crash would) and
// waits for it to die.
func (c *Cloud) Kill() {
	c.mu.Lock()
	p := c.proc
	c.mu.Unlock()
	if !p.running() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Restart stops the process if it runs and starts it again with the same data directory,
// port and arguments, waiting until it is ready.
func (c *Cloud) Restart() error {
	c.Stop()
	if err := c.start(); err != nil {
		return fmt.Errorf("restart: %w\n--- %s (tail) ---\n%s", err, c.LogFile, c.LogTail(60))
	}
	return nil
}

// Running reports whether the process is running.
func (c *Cloud) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proc.running()
}

// cleanup stops the process, kills anything left in its process groups and, when the test
// failed, logs the tail of the process's output.
func (c *Cloud) cleanup() {
	c.Stop()
	for _, pg := range c.pgid {
		syscall.Kill(-pg, syscall.SIGKILL)
	}
	killGuests(c.DataDir)
	if c.t.Failed() {
		c.t.Logf("--- %s (tail) ---\n%s", c.LogFile, c.LogTail(80))
	}
}

// LogTail returns the last n lines of the process's output.
func (c *Cloud) LogTail(n int) string {
	b, err := os.ReadFile(c.LogFile)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// AuthURL returns the identity v3 URL (URL + "/v3").
func (c *Cloud) AuthURL() string { return c.URL + "/v3" }

// CloudsYAML returns the path of the clouds.yaml gostack wrote.
func (c *Cloud) CloudsYAML() string { return filepath.Join(c.DataDir, "clouds.yaml") }

// Env returns the environment entries that select cloud from the clouds.yaml gostack wrote
// (OS_CLIENT_CONFIG_FILE and OS_CLOUD).
func (c *Cloud) Env(cloud string) []string {
	return []string{"OS_CLIENT_CONFIG_FILE=" + c.CloudsYAML(), "OS_CLOUD=" + cloud}
}

// OpenRC returns the OS_* variables that sourcing DataDir/<name>-openrc (name is admin,
// demo or alt_demo) sets, by sourcing it with bash.
func (c *Cloud) OpenRC(name string) (map[string]string, error) {
	path := filepath.Join(c.DataDir, name+"-openrc")
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	cmd := exec.Command("bash", "-c", `set -e; . "$1"; env -0`, "bash", path)
	cmd.Env = CleanEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("source %s: %w: %s", path, err, stderr.String())
	}
	vars := map[string]string{}
	for _, kv := range strings.Split(string(out), "\x00") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, "OS_") {
			vars[k] = v
		}
	}
	return vars, nil
}

// CleanEnv returns the test process's environment without OS_* variables, so a developer's
// own cloud settings never leak into a test.
func CleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OS_") {
			env = append(env, kv)
		}
	}
	return env
}

// CLIError is a failed run of the openstack CLI.
type CLIError struct {
	Args     []string
	ExitCode int
	Stdout   string
	Stderr   string
	Err      error
}

func (e *CLIError) Error() string {
	return fmt.Sprintf("openstack %s: %v (exit %d)\nstderr: %s", strings.Join(e.Args, " "), e.Err,
		e.ExitCode, strings.TrimSpace(e.Stderr))
}

func (e *CLIError) Unwrap() error { return e.Err }

// RequireCLI skips the test when the openstack CLI is not installed, or fails it when
// $GOSTACK_REQUIRE_CLI is set, and returns the CLI's path.
func RequireCLI(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("openstack")
	if err != nil {
		if os.Getenv("GOSTACK_REQUIRE_CLI") != "" {
			t.Fatalf("openstack CLI not found and GOSTACK_REQUIRE_CLI is set; run scripts/deps")
		}
		t.Skip("openstack CLI not installed (apt-get install python3-openstackclient, or run scripts/deps)")
	}
	return p
}

// OpenStack runs the openstack CLI against cloud (an entry of the clouds.yaml gostack
// wrote, such as "gostack-admin" or "gostack") and returns its stdout. Pass "-f", "json"
// in args to get JSON. A failure is returned as a *CLIError carrying stderr.
func (c *Cloud) OpenStack(t testing.TB, cloud string, args ...string) (string, error) {
	t.Helper()
	return RunOpenStack(t, c.Env(cloud), args...)
}

// OpenStackJSON runs the openstack CLI with "-f json" appended and decodes its output into v.
func (c *Cloud) OpenStackJSON(t testing.TB, cloud string, v any, args ...string) error {
	t.Helper()
	out, err := c.OpenStack(t, cloud, append(args, "-f", "json")...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("openstack %s: decode output: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// RunOpenStack runs the openstack CLI with the test's environment minus OS_* variables,
// plus env, and returns its stdout.
func RunOpenStack(t testing.TB, env []string, args ...string) (string, error) {
	t.Helper()
	bin := RequireCLI(t)
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(CleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("$ openstack %s  (%.1fs)", strings.Join(args, " "), time.Since(start).Seconds())
	if err != nil {
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		return stdout.String(), &CLIError{Args: args, ExitCode: code, Stdout: stdout.String(),
			Stderr: stderr.String(), Err: err}
	}
	return stdout.String(), nil
}

// Request sends an HTTP request to the cloud (path is relative to URL, such as
// "/v3/auth/tokens") with the given headers and JSON body (nil for none) and returns the
// status, the response headers and the body.
func (c *Cloud) Request(t testing.TB, method, path string, header map[string]string, body any) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// PasswordToken issues a project-scoped token for a user of the Default domain through
// POST /v3/auth/tokens and returns it; the test fails if the status is not 201.
func (c *Cloud) PasswordToken(t testing.TB, user, password, project string) string {
	t.Helper()
	body := map[string]any{"auth": map[string]any{
		"identity": map[string]any{
			"methods": []string{"password"},
			"password": map[string]any{"user": map[string]any{
				"name": user, "password": password, "domain": map[string]any{"id": "default"},
			}},
		},
		"scope": map[string]any{"project": map[string]any{
			"name": project, "domain": map[string]any{"id": "default"},
		}},
	}}
	status, hdr, b := c.Request(t, http.MethodPost, "/v3/auth/tokens", nil, body)
	if status != http.StatusCreated {
		t.Fatalf("POST /v3/auth/tokens as %s: status %d, want 201: %s", user, status, b)
	}
	tok := hdr.Get("X-Subject-Token")
	if tok == "" {
		t.Fatalf("POST /v3/auth/tokens as %s: no X-Subject-Token header", user)
	}
	return tok
}
