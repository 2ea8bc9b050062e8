package compute

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gostack/gostack/internal/console"
	computedriver "github.com/gostack/gostack/internal/driver/compute"
)

// consoleBase is the noVNC base URL the console tests configure.
const consoleBase = "http://console.test:6080/vnc/vnc_lite.html?path=vnc%2Fwebsockify"

// consoleCloud is a server fixture with one fake host, VNC consoles on and an ACTIVE
// server of the demo project.
func consoleCloud(t *testing.T, ttl time.Duration) (*serverFixture, string) {
	t.Helper()
	f := newServerCloud(t)
	drivers := f.startCompute(t, 1)
	t.Cleanup(func() {
		for _, d := range drivers {
			d.Close()
		}
	})
	f.svc.cfg.Consoles = ConsoleConfig{NoVNCBaseURL: consoleBase, TokenTTL: ttl}
	id := f.createServer(t, f.demoToken, "2.37", nil)
	f.waitStatus(t, id, "ACTIVE")
	return f, id
}

// tokenFromURL extracts the token from a noVNC console URL, checking its shape.
func tokenFromURL(t *testing.T, raw string) string {
	t.Helper()
	prefix := "http://console.test:6080/vnc/vnc_lite.html?path=vnc%2Fwebsockify%3Ftoken%3D"
	if !strings.HasPrefix(raw, prefix) {
		t.Fatalf("console url %q lacks %q", raw, prefix)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	_, tok, ok := strings.Cut(u.Query().Get("path"), "?token=")
	if !ok || len(tok) != 36 {
		t.Fatalf("token in %q", raw)
	}
	return tok
}

// readGreeting dials a console target and reads the RFB greeting.
func readGreeting(t *testing.T, ct ConsoleTarget) string {
	t.Helper()
	c, err := net.DialTimeout(ct.Network, ct.Address, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 12)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRemoteConsoleFlow(t *testing.T) {
	f, id := consoleCloud(t, time.Minute)
	ctx := context.Background()
	path := "/v2.1/servers/" + id + "/remote-consoles"
	body := map[string]any{"remote_console": map[string]any{"protocol": "vnc", "type": "novnc"}}

	r := f.doAs(t, f.demoToken, "2.6", "POST", path, body).want(t, 200)
	rc := r.obj("remote_console")
	if rc["protocol"] != "vnc" || rc["type"] != "novnc" || len(rc) != 3 {
		t.Fatalf("remote_console %v", rc)
	}
	tok := tokenFromURL(t, rc["url"].(string))

	// The token is stored hashed, never as is.
	var hash, inst string
	var expires int64
	if err := f.db.QueryRowContext(ctx, `SELECT token_hash, instance_uuid, expires FROM compute_console_auth_tokens`).
		Scan(&hash, &inst, &expires); err != nil {
		t.Fatal(err)
	}
	if hash != hashConsoleToken(tok) || len(hash) != 64 || inst != id {
		t.Fatalf("stored %s for %s", hash, inst)
	}
	if d := time.Until(time.Unix(expires, 0)); d < 55*time.Second || d > 61*time.Second {
		t.Fatalf("token expires in %v, want the TTL", d)
	}

	// The proxy's view: the fake host's VNC socket, which greets with RFB 3.8.
	ct, err := f.svc.ResolveConsole(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if ct.InstanceUUID != id || ct.Network != "unix" || ct.ConsoleType != "novnc" || ct.AccessURLBase != consoleBase {
		t.Fatalf("target %+v", ct)
	}
	if g := readGreeting(t, ct); g != "RFB 003.008\n" {
		t.Fatalf("greeting %q", g)
	}
	for _, bad := range []string{"", "x", tok + "x", strings.ToUpper(tok), strings.Repeat("a", 10000)} {
		if _, err := f.svc.ResolveConsole(ctx, bad); !errors.Is(err, ErrConsoleTokenInvalid) {
			t.Fatalf("token %.40q: %v", bad, err)
		}
	}

	// os-console-auth-tokens: admin only, 2.31+.
	r = f.do(t, "2.31", "GET", "/v2.1/os-console-auth-tokens/"+tok, nil).want(t, 200)
	c := r.obj("console")
	if c["instance_uuid"] != id || c["host"] != "fake-host-1" || c["port"] != float64(0) || c["internal_access_path"] != nil || len(c) != 4 {
		t.Fatalf("console auth token %v", c)
	}
	if !strings.Contains(f.do(t, "2.30", "GET", "/v2.1/os-console-auth-tokens/"+tok, nil).want(t, 400).raw, "could not comply") {
		t.Fatal("2.30 answer")
	}
	f.doAs(t, f.demoToken, "2.31", "GET", "/v2.1/os-console-auth-tokens/"+tok, nil).want(t, 403)
	if !strings.Contains(f.do(t, "2.31", "GET", "/v2.1/os-console-auth-tokens/nope", nil).want(t, 404).raw, "Token not found") {
		t.Fatal("unknown token answer")
	}

	// Legacy action (2.1–2.5).
	r = f.doAs(t, f.demoToken, "2.1", "POST", "/v2.1/servers/"+id+"/action",
		map[string]any{"os-getVNCConsole": map[string]any{"type": "novnc"}}).want(t, 200)
	if lc := r.obj("console"); lc["type"] != "novnc" || len(lc) != 2 {
		t.Fatalf("legacy console %v", lc)
	} else if ct2, err := f.svc.ResolveConsole(ctx, tokenFromURL(t, lc["url"].(string))); err != nil || ct2.Address != ct.Address {
		t.Fatalf("legacy token: %+v %v", ct2, err)
	}

	// Stopping the server makes the console unavailable and its tokens useless.
	f.doAs(t, f.demoToken, "2.1", "POST", "/v2.1/servers/"+id+"/action", map[string]any{"os-stop": nil}).want(t, 202)
	f.waitStatus(t, id, "SHUTOFF")
	if !strings.Contains(f.doAs(t, f.demoToken, "2.6", "POST", path, body).want(t, 409).raw, "Instance "+id+" is not ready") {
		t.Fatal("console of a stopped server")
	}
	if _, err := f.svc.ResolveConsole(ctx, tok); !errors.Is(err, ErrConsoleTokenInvalid) {
		t.Fatalf("token of a stopped server: %v", err)
	}
	f.doAs(t, f.demoToken, "2.1", "POST", "/v2.1/servers/"+id+"/action", map[string]any{"os-start": nil}).want(t, 202)
	f.waitStatus(t, id, "ACTIVE")
	tok = tokenFromURL(t, f.doAs(t, f.demoToken, "2.6", "POST", path, body).want(t, 200).obj("remote_console")["url"].(string))
	if _, err := f.svc.ResolveConsole(ctx, tok); err != nil {
		t.Fatal(err)
	}

	// Deleting the server deletes its tokens.
	f.doAs(t, f.demoToken, "2.6", "DELETE", "/v2.1/servers/"+id, nil).want(t, 204)
	waitUntil(t, "server deleted", func() bool { return f.inst(t, id).Deleted })
	var n int
	if err := f.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM compute_console_auth_tokens WHERE instance_uuid = ?`, id).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d tokens left after delete (%v)", n, err)
	}
	if _, err := f.svc.ResolveConsole(ctx, tok); !errors.Is(err, ErrConsoleTokenInvalid) {
		t.Fatalf("token of a deleted server: %v", err)
	}
}

func TestRemoteConsoleErrors(t *testing.T) {
	f, id := consoleCloud(t, time.Minute)
	path := "/v2.1/servers/" + id + "/remote-consoles"
	rc := func(protocol, typ string) map[string]any {
		return map[string]any{"remote_console": map[string]any{"protocol": protocol, "type": typ}}
	}
	action := "/v2.1/servers/" + id + "/action"
	for _, tc := range []struct {
		name, ver, method, path string
		body                    any
		status                  int
		msg                     string
	}{
		{"before 2.6", "2.5", "POST", path, rc("vnc", "novnc"), 404, ""},
		{"mks before 2.8", "2.6", "POST", path, rc("mks", "webmks"), 400, "'mks' is not one of"},
		{"mks", "2.8", "POST", path, rc("mks", "webmks"), 400, "Unavailable console type webmks."},
		{"spice", "2.6", "POST", path, rc("spice", "spice-html5"), 400, "Unavailable console type spice-html5."},
		{"spice-direct is 2.99", "2.96", "POST", path, rc("spice", "spice-direct"), 400, "'spice-direct' is not one of"},
		{"serial", "2.6", "POST", path, rc("serial", "serial"), 400, "Unavailable console type serial."},
		{"rdp", "2.6", "POST", path, rc("rdp", "rdp-html5"), 400, "Unavailable console type rdp."},
		{"xvpvnc", "2.6", "POST", path, rc("vnc", "xvpvnc"), 400, "Invalid console type xvpvnc"},
		{"vnc with a spice type", "2.6", "POST", path, rc("vnc", "spice-html5"), 400, "Invalid console type spice-html5"},
		{"bad protocol", "2.6", "POST", path, rc("telnet", "novnc"), 400, "'telnet' is not one of"},
		{"no type", "2.6", "POST", path, map[string]any{"remote_console": map[string]any{"protocol": "vnc"}}, 400, "'type' is a required property"},
		{"extra key", "2.6", "POST", path, map[string]any{"remote_console": map[string]any{"protocol": "vnc", "type": "novnc", "x": 1}}, 400, "Additional properties are not allowed"},
		{"not an object", "2.6", "POST", path, map[string]any{"remote_console": "vnc"}, 400, "is not of type 'object'"},
		{"no body key", "2.6", "POST", path, map[string]any{}, 400, "'remote_console' is a required property"},
		{"unknown server", "2.6", "POST", "/v2.1/servers/00000000-0000-4000-8000-000000000000/remote-consoles", rc("vnc", "novnc"), 404, "could not be found"},
		{"legacy bad type", "2.1", "POST", action, map[string]any{"os-getVNCConsole": map[string]any{"type": "spice-html5"}}, 400, "'spice-html5' is not one of"},
		{"legacy no type", "2.1", "POST", action, map[string]any{"os-getVNCConsole": map[string]any{}}, 400, "'type' is a required property"},
		{"legacy xvpvnc", "2.1", "POST", action, map[string]any{"os-getVNCConsole": map[string]any{"type": "xvpvnc"}}, 400, "Invalid console type xvpvnc"},
		{"legacy spice", "2.1", "POST", action, map[string]any{"os-getSPICEConsole": map[string]any{"type": "spice-html5"}}, 400, "Unavailable console type spice-html5."},
		{"legacy serial", "2.5", "POST", action, map[string]any{"os-getSerialConsole": map[string]any{"type": "serial"}}, 400, "Unavailable console type serial."},
		{"legacy rdp", "2.1", "POST", action, map[string]any{"os-getRDPConsole": map[string]any{"type": "rdp-html5"}}, 400, "could not comply"},
		{"legacy at 2.6", "2.6", "POST", action, map[string]any{"os-getVNCConsole": map[string]any{"type": "novnc"}}, 404, "There is no such action"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.doAs(t, f.demoToken, tc.ver, tc.method, tc.path, tc.body).want(t, tc.status)
			if !strings.Contains(r.raw, tc.msg) {
				t.Fatalf("body %s lacks %q", r.raw, tc.msg)
			}
		})
	}

	// Another project's server does not exist for the caller.
	f.doAs(t, f.altToken, "2.6", "POST", path, rc("vnc", "novnc")).want(t, 404)
	f.doAs(t, f.altToken, "2.1", "POST", action, map[string]any{"os-getVNCConsole": map[string]any{"type": "novnc"}}).want(t, 404)

	// A server being deleted, or one with no host yet.
	f.setState(t, id, VMActive, TaskDeleting, PowerRunning, "fake-host-1")
	if r := f.doAs(t, f.demoToken, "2.6", "POST", path, rc("vnc", "novnc")).want(t, 409); !strings.Contains(r.raw,
		"Cannot 'get_vnc_console' instance "+id+" while it is in task_state deleting") {
		t.Fatal(r.raw)
	}
	f.setState(t, id, VMActive, "", PowerRunning, "fake-host-1")
	building := f.createServer(t, f.demoToken, "2.37", map[string]any{"name": "b"})
	f.setState(t, building, VMBuilding, TaskScheduling, PowerNoState, "")
	if r := f.doAs(t, f.demoToken, "2.6", "POST", "/v2.1/servers/"+building+"/remote-consoles", rc("vnc", "novnc")).want(t, 409); !strings.Contains(r.raw, "is not ready") {
		t.Fatal(r.raw)
	}

	// Policy: an operator's policy.yaml can take consoles away.
	if err := os.WriteFile(filepath.Join(f.dir, "policy.yaml"), []byte("\"os_compute_api:os-remote-consoles\": \"!\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.enforcer.SetOverrideFile(filepath.Join(f.dir, "policy.yaml")); err != nil {
		t.Fatal(err)
	}
	f.doAs(t, f.demoToken, "2.6", "POST", path, rc("vnc", "novnc")).want(t, 403)
	f.doAs(t, f.demoToken, "2.1", "POST", action, map[string]any{"os-getVNCConsole": map[string]any{"type": "novnc"}}).want(t, 403)
	if err := os.WriteFile(filepath.Join(f.dir, "policy.yaml"), []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.enforcer.SetOverrideFile(filepath.Join(f.dir, "policy.yaml")); err != nil {
		t.Fatal(err)
	}
	f.doAs(t, f.demoToken, "2.6", "POST", path, rc("vnc", "novnc")).want(t, 200)

	// VNC consoles switched off: Nova's [vnc] enabled = false.
	f.svc.cfg.Consoles.NoVNCBaseURL = ""
	if r := f.doAs(t, f.demoToken, "2.6", "POST", path, rc("vnc", "novnc")).want(t, 400); !strings.Contains(r.raw, "Unavailable console type novnc.") {
		t.Fatal(r.raw)
	}
}

// noConsoleDriver is a driver without the Consoler ability.
type noConsoleDriver struct{ computedriver.Driver }

func TestRemoteConsoleDriverErrors(t *testing.T) {
	f, id := consoleCloud(t, time.Minute)
	ctx := context.Background()
	inst := f.inst(t, id)
	drv, _ := f.svc.hostDriver("fake-host-1")
	if err := f.svc.AddHost("plain-host", noConsoleDriver{drv}, HostOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.driverConsole(ctx, "plain-host", inst, "vnc"); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("driver without consoles: %v", err)
	}
	if _, err := f.svc.driverConsole(ctx, "fake-host-1", inst, "spice"); err == nil || !strings.Contains(err.Error(), "Unavailable console type spice.") {
		t.Fatalf("protocol the driver lacks: %v", err)
	}
	if _, err := f.svc.driverConsole(ctx, "elsewhere", inst, "vnc"); err == nil || !strings.Contains(err.Error(), "is not ready") {
		t.Fatalf("host served by another process: %v", err)
	}
	gone := *inst
	gone.UUID = "00000000-0000-4000-8000-000000000001"
	if _, err := f.svc.driverConsole(ctx, "fake-host-1", &gone, "vnc"); err == nil || !strings.Contains(err.Error(), "could not be found") {
		t.Fatalf("guest missing on the hypervisor: %v", err)
	}
	gone.VMState = VMBuilding
	if _, err := f.svc.driverConsole(ctx, "fake-host-1", &gone, "vnc"); err == nil || !strings.Contains(err.Error(), "is not ready") {
		t.Fatalf("guest still building: %v", err)
	}
}

func TestConsoleTokenExpiry(t *testing.T) {
	f, id := consoleCloud(t, time.Second)
	ctx := context.Background()
	r := f.doAs(t, f.demoToken, "2.6", "POST", "/v2.1/servers/"+id+"/remote-consoles",
		map[string]any{"remote_console": map[string]any{"protocol": "vnc", "type": "novnc"}}).want(t, 200)
	tok := tokenFromURL(t, r.obj("remote_console")["url"].(string))
	if _, err := f.svc.ResolveConsole(ctx, tok); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "token expiry", func() bool {
		_, err := f.svc.ResolveConsole(ctx, tok)
		return errors.Is(err, ErrConsoleTokenInvalid)
	})
	f.do(t, "2.31", "GET", "/v2.1/os-console-auth-tokens/"+tok, nil).want(t, 404)
	if n, err := f.svc.PurgeExpiredConsoleTokens(ctx); err != nil || n != 1 {
		t.Fatalf("purged %d (%v), want 1", n, err)
	}
	if n, err := f.svc.PurgeExpiredConsoleTokens(ctx); err != nil || n != 0 {
		t.Fatalf("purged %d again (%v)", n, err)
	}
}

func TestNoVNCAccessURL(t *testing.T) {
	for _, tc := range []struct{ base, want string }{
		{consoleBase, "http://console.test:6080/vnc/vnc_lite.html?path=vnc%2Fwebsockify%3Ftoken%3Dt0k"},
		// Nova's default base has no path: the websocket is at the site root.
		{"http://127.0.0.1:6080/vnc_lite.html", "http://127.0.0.1:6080/vnc_lite.html?path=%3Ftoken%3Dt0k"},
		{"https://h/cloud/vnc/vnc.html?path=cloud%2Fvnc%2Fwebsockify&autoconnect=true",
			"https://h/cloud/vnc/vnc.html?autoconnect=true&path=cloud%2Fvnc%2Fwebsockify%3Ftoken%3Dt0k"},
	} {
		got, err := noVNCAccessURL(tc.base, "t0k")
		if err != nil || got != tc.want {
			t.Errorf("noVNCAccessURL(%q) = %q, %v; want %q", tc.base, got, err, tc.want)
		}
	}
}

func FuzzRemoteConsoleBody(f *testing.F) {
	f.Add([]byte(`{"remote_console": {"protocol": "vnc", "type": "novnc"}}`))
	f.Add([]byte(`{"remote_console": {"protocol": "mks", "type": "webmks", "x": null}}`))
	f.Add([]byte(`{"remote_console": []}`))
	f.Add([]byte(`{"os-getVNCConsole": {"type": 1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, ok := decodeFuzzBody(b)
		if !ok {
			return
		}
		for _, ver := range fuzzVersions {
			c := &call{ver: ver}
			p, typ, err := parseRemoteConsole(o, c)
			wantClientError(t, err)
			if err == nil && (p == "" || typ == "") {
				t.Fatalf("accepted %s without protocol or type", b)
			}
		}
		for _, protocol := range []string{"vnc", "spice", "serial"} {
			typ, err := parseLegacyConsole(protocol, o["os-getVNCConsole"])
			wantClientError(t, err)
			if err == nil && typ == "" {
				t.Fatalf("accepted %s without type", b)
			}
		}
	})
}

// TestConsoleProxyEndToEnd runs the console API, the websocket proxy and the fake
// driver's VNC server together in process: the URL the API answers leads a websocket
// client to the guest's RFB greeting.
func TestConsoleProxyEndToEnd(t *testing.T) {
	f, id := consoleCloud(t, time.Minute)
	p, err := console.New(console.Config{Prefix: "/vnc", WebDir: t.TempDir(),
		Resolve: func(ctx context.Context, token string) (console.Target, error) {
			ct, err := f.svc.ResolveConsole(ctx, token)
			if err != nil {
				return console.Target{}, err
			}
			return console.Target{InstanceUUID: ct.InstanceUUID, Network: ct.Network, Address: ct.Address,
				AccessURLBase: ct.AccessURLBase, Expires: ct.Expires}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	defer srv.Close()
	defer p.Close()
	r := f.doAs(t, f.demoToken, "2.6", "POST", "/v2.1/servers/"+id+"/remote-consoles",
		map[string]any{"remote_console": map[string]any{"protocol": "vnc", "type": "novnc"}}).want(t, 200)
	u, _ := url.Parse(r.obj("remote_console")["url"].(string))
	ws := "ws" + strings.TrimPrefix(srv.URL, "http") + "/" + u.Query().Get("path")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, ws, &websocket.DialOptions{Subprotocols: []string{"binary"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, b, err := c.Read(ctx); err != nil || string(b) != "RFB 003.008\n" {
		t.Fatalf("greeting %q %v", b, err)
	}
	c.Close(websocket.StatusNormalClosure, "")
	// A token one character off never reaches the guest.
	if _, resp, err := websocket.Dial(ctx, ws+"0", nil); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("altered token: %v %v", err, resp)
	}
}
