package console

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// backend is a console server stand-in: it greets like a VNC server, then echoes.
type backend struct {
	path    string
	accepts atomic.Int32
}

func newBackend(t *testing.T) *backend {
	t.Helper()
	b := &backend{path: filepath.Join(t.TempDir(), "vnc.sock")}
	ln, err := net.Listen("unix", b.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.accepts.Add(1)
			go func() {
				defer c.Close()
				if _, err := io.WriteString(c, "RFB 003.008\n"); err != nil {
					return
				}
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return b
}

// testProxy serves a proxy at /vnc whose tokens are "good" (the backend), "gone" (a
// socket nobody listens on), "broken" (the resolver fails) and anything else (invalid).
func testProxy(t *testing.T, b *backend, webDir string) (*Proxy, *httptest.Server) {
	t.Helper()
	resolve := func(ctx context.Context, token string) (Target, error) {
		switch token {
		case "good":
			return Target{InstanceUUID: "i1", Network: "unix", Address: b.path,
				AccessURLBase: "http://cloud.test/vnc/vnc_lite.html?path=vnc%2Fwebsockify", Expires: time.Now().Add(time.Minute)}, nil
		case "gone":
			return Target{InstanceUUID: "i2", Network: "unix", Address: b.path + ".missing", AccessURLBase: "http://x/"}, nil
		case "broken":
			return Target{}, errors.New("database is down")
		}
		return Target{}, ErrInvalidToken
	}
	p, err := New(Config{Resolve: resolve, Prefix: "/vnc/", WebDir: webDir, AllowedOrigins: []string{"dashboard.test"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(func() {
		p.Close()
		srv.Close()
	})
	return p, srv
}

func wsURL(srv *httptest.Server, query string) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/vnc/websockify" + query
}

func TestProxyRelay(t *testing.T) {
	b := newBackend(t)
	_, srv := testProxy(t, b, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, tc := range []struct {
		name  string
		query string
		hdr   http.Header
	}{
		{"query token", "?token=good", nil},
		{"cookie token (noVNC before 1.1)", "", http.Header{"Cookie": {"token=good"}}},
		{"same-host origin", "?token=good", http.Header{"Origin": {srv.URL}}},
		{"allowed origin", "?token=good", http.Header{"Origin": {"http://dashboard.test:8080"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, resp, err := websocket.Dial(ctx, wsURL(srv, tc.query), &websocket.DialOptions{
				Subprotocols: []string{"binary"}, HTTPHeader: tc.hdr})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if resp.StatusCode != http.StatusSwitchingProtocols || c.Subprotocol() != "binary" {
				t.Fatalf("status %d subprotocol %q", resp.StatusCode, c.Subprotocol())
			}
			typ, msg, err := c.Read(ctx)
			if err != nil || typ != websocket.MessageBinary || string(msg) != "RFB 003.008\n" {
				t.Fatalf("greeting %v %q %v", typ, msg, err)
			}
			if err := c.Write(ctx, websocket.MessageBinary, []byte("RFB 003.008\n")); err != nil {
				t.Fatal(err)
			}
			if _, msg, err := c.Read(ctx); err != nil || string(msg) != "RFB 003.008\n" {
				t.Fatalf("echo %q %v", msg, err)
			}
			c.Close(websocket.StatusNormalClosure, "")
		})
	}
}

func TestProxyRefusesBeforeConnecting(t *testing.T) {
	b := newBackend(t)
	_, srv := testProxy(t, b, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name   string
		query  string
		hdr    http.Header
		status int
	}{
		{"no token", "", nil, 403},
		{"bad token", "?token=bad", nil, 403},
		{"expired token", "?token=expired", nil, 403},
		{"resolver failure", "?token=broken", nil, 403},
		{"foreign origin", "?token=good", http.Header{"Origin": {"http://evil.test"}}, 403},
		{"origin scheme", "?token=good", http.Header{"Origin": {"https://127.0.0.1"}}, 403},
		{"origin without host", "?token=good", http.Header{"Origin": {"null"}}, 403},
		{"console gone", "?token=gone", nil, 502},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := b.accepts.Load()
			_, resp, err := websocket.Dial(ctx, wsURL(srv, tc.query), &websocket.DialOptions{HTTPHeader: tc.hdr})
			if err == nil || resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("dial: %v (response %v)", err, resp)
			}
			if n := b.accepts.Load(); n != before {
				t.Fatalf("the console server saw %d connections", n-before)
			}
		})
	}
}

// rawUpgrade sends the websocket upgrade tempest's test_novnc sends (path from the
// noVNC URL, token also as a cookie) and returns the response head and the connection.
func rawUpgrade(t *testing.T, srv *httptest.Server, path string) (string, *bufio.Reader, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /" + path + " HTTP/1.1\r\nHost: " + strings.TrimPrefix(srv.URL, "http://") + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nCookie: path=" + path + "\r\n" +
		"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	var head strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("response head: %v (%q)", err, head.String())
		}
		head.WriteString(line)
		if line == "\r\n" {
			return head.String(), r, c
		}
	}
}

func TestProxyTempestClient(t *testing.T) {
	b := newBackend(t)
	_, srv := testProxy(t, b, "")

	head, r, _ := rawUpgrade(t, srv, "vnc/websockify?token=good")
	if !strings.HasPrefix(head, "HTTP/1.1 101 Switching Protocols") || !strings.Contains(strings.ToLower(head), "upgrade: websocket") {
		t.Fatalf("upgrade response %q", head)
	}
	// One unmasked binary frame with the greeting, short enough for tempest's reader.
	frame := make([]byte, 14)
	if _, err := io.ReadFull(r, frame); err != nil {
		t.Fatal(err)
	}
	if frame[0] != 0x82 || frame[1] != 12 || string(frame[2:]) != "RFB 003.008\n" {
		t.Fatalf("first frame % x", frame)
	}

	// A bad token: no upgrade, no byte of data, the connection closed.
	head, r, _ = rawUpgrade(t, srv, "vnc/websockify?token=badgood")
	if !strings.HasPrefix(head, "HTTP/1.1 403") {
		t.Fatalf("bad token response %q", head)
	}
	if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
		t.Fatalf("after the refusal: %q %v", rest, err)
	}
}

func TestProxyCloseEndsSessions(t *testing.T) {
	b := newBackend(t)
	p, srv := testProxy(t, b, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, wsURL(srv, "?token=good"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, _, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("Close did not end the session")
	}
	if _, _, err := c.Read(ctx); err == nil {
		t.Fatal("session still open after Close")
	}
}

func TestProxyWebClient(t *testing.T) {
	b := newBackend(t)
	dir := t.TempDir()
	page := "<html lang=\"en\"><script src=\"app/ui.js\"></script>noVNC</html>"
	if err := os.WriteFile(filepath.Join(dir, "vnc_lite.html"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	p, srv := testProxy(t, b, dir)
	if !p.WebClient() {
		t.Fatal("web client not detected")
	}
	get := func(path string) (int, string, http.Header) {
		t.Helper()
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), resp.Header
	}
	if code, body, _ := get("/vnc/vnc_lite.html?path=vnc%2Fwebsockify%3Ftoken%3Dgood"); code != 200 || body != page {
		t.Fatalf("page: %d %q", code, body)
	}
	if code, _, h := get("/vnc/"); code != http.StatusFound || h.Get("Location") != "/vnc/vnc_lite.html" {
		t.Fatalf("index: %d %v", code, h)
	}
	for _, path := range []string{"/vnc/app", "/vnc/app/", "/vnc/../etc/passwd", "/vnc/nope.js", "/vncx/vnc_lite.html"} {
		if code, _, _ := get(path); code != 404 {
			t.Fatalf("%s: %d", path, code)
		}
	}
	if code, body, _ := get("/vnc/websockify?token=good"); code != http.StatusBadRequest || !strings.Contains(body, "WebSocket") {
		t.Fatalf("plain GET of the websocket: %d %q", code, body)
	}

	// Without the web client the page says how to get it.
	p2, srv2 := testProxy(t, b, filepath.Join(dir, "missing"))
	if p2.WebClient() {
		t.Fatal("web client detected in a missing directory")
	}
	resp, err := http.Get(srv2.URL + "/vnc/vnc_lite.html")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(body), "apt-get install novnc") {
		t.Fatalf("missing client: %d %q", resp.StatusCode, body)
	}
}

func TestCheckOrigin(t *testing.T) {
	const base = "http://cloud.test:5000/vnc/vnc_lite.html"
	for _, tc := range []struct {
		origin, host, proto, base string
		ok                        bool
	}{
		{"", "anything", "", base, true},
		{"http://cloud.test:5000", "cloud.test:5000", "", base, true},
		{"http://CLOUD.test", "cloud.test:5000", "", base, true},
		{"http://cloud.test:9999", "cloud.test:5000", "", base, true}, // host names, not ports, as Nova
		{"http://[::1]:5000", "[::1]:5000", "", base, true},
		{"http://dashboard.test", "cloud.test", "", base, true},
		{"https://cloud.test", "cloud.test", "", base, false},
		{"https://cloud.test", "cloud.test", "", "https://cloud.test/vnc_lite.html", true},
		{"http://cloud.test", "cloud.test", "https", "https://cloud.test/vnc_lite.html", true},
		{"https://cloud.test", "cloud.test", "", "wss://cloud.test/", true},
		{"http://cloud.test", "cloud.test", "", "ws://cloud.test/", true},
		{"http://evil.test", "cloud.test", "", base, false},
		{"null", "cloud.test", "", base, false},
		{"http://", "cloud.test", "", base, false},
		{"://cloud.test", "cloud.test", "", base, false},
		{"http://cloud.test", "cloud.test", "", "", false},
	} {
		err := checkOrigin(tc.origin, tc.host, tc.proto, tc.base, []string{"dashboard.test"})
		if (err == nil) != tc.ok {
			t.Errorf("checkOrigin(%q, host %q, proto %q, base %q) = %v, want ok %v", tc.origin, tc.host, tc.proto, tc.base, err, tc.ok)
		}
	}
}

func FuzzCheckOrigin(f *testing.F) {
	f.Add("http://cloud.test:5000", "cloud.test:5000", "", "http://cloud.test/vnc_lite.html")
	f.Add("https://[::1]", "[::1]:80", "https", "wss://x/")
	f.Add("%zz", "h", "", ":")
	f.Fuzz(func(t *testing.T, origin, host, proto, base string) {
		err := checkOrigin(origin, host, proto, base, nil)
		if origin == "" && err != nil {
			t.Fatalf("no origin refused: %v", err)
		}
		if err == nil && origin != "" && !strings.Contains(strings.ToLower(origin), strings.ToLower(hostOnly(host))) {
			t.Fatalf("origin %q accepted for host %q", origin, host)
		}
	})
}
