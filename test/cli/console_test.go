package cli_test

import (
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestConsoleURL is issue 7's console walkthrough against gostack with the fake driver:
// `openstack console url show` answers a noVNC URL; a websocket client that follows it
// (as noVNC does: ws://<host>/<path parameter>) gets the guest's RFB greeting and can
// finish the VNC handshake through gostack's proxy; the noVNC page is served when the
// novnc package is installed; a forged token and the token of a deleted server are
// refused without a byte of console data.
func TestConsoleURL(t *testing.T) {
	t.Parallel()
	c := computeCloud(t, 1)
	uploadTinyImage(t, c, "testvm")
	s := osJSON[server](t, c, "gostack", "server", "create", "--flavor", "m1.tiny", "--image", "testvm",
		"--network", "none", "--wait", "vm1")
	if s.Status != "ACTIVE" {
		t.Fatalf("server create --wait: status %s", s.Status)
	}

	con := osJSON[row](t, c, "gostack", "console", "url", "show", "vm1")
	raw := str(con, "url")
	prefix := c.URL + "/vnc/vnc_lite.html?path=vnc%2Fwebsockify%3Ftoken%3D"
	if str(con, "type") != "novnc" || !strings.HasPrefix(raw, prefix) {
		t.Fatalf("console url show: %v (want a url starting %s)", con, prefix)
	}
	ws := websocketURL(t, raw)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	// A browser on the noVNC page sends the page's origin.
	conn, resp, err := websocket.Dial(ctx, ws, &websocket.DialOptions{Subprotocols: []string{"binary"},
		HTTPHeader: http.Header{"Origin": {c.URL}}})
	if err != nil {
		t.Fatalf("websocket through %s: %v", ws, err)
	}
	defer conn.CloseNow()
	if conn.Subprotocol() != "binary" || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %d, subprotocol %q", resp.StatusCode, conn.Subprotocol())
	}
	_, greeting, err := conn.Read(ctx)
	if err != nil || string(greeting) != "RFB 003.008\n" {
		t.Fatalf("greeting %q: %v", greeting, err)
	}
	t.Logf("websocket connect to RFB greeting: %v", time.Since(start))
	// The rest of the handshake, as tempest's test_novnc does it.
	send := func(b []byte) {
		t.Helper()
		if err := conn.Write(ctx, websocket.MessageBinary, b); err != nil {
			t.Fatal(err)
		}
	}
	read := func() []byte {
		t.Helper()
		_, b, err := conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	send(greeting)
	if types := read(); len(types) < 2 || types[0] != 1 || types[1] != 1 {
		t.Fatalf("security types % x", types)
	}
	send([]byte{1})
	if res := read(); string(res) != "\x00\x00\x00\x00" {
		t.Fatalf("security result % x", res)
	}
	send([]byte{1})
	init := read()
	if len(init) <= 24 || int(binary.BigEndian.Uint32(init[20:24]))+24 != len(init) ||
		!strings.HasPrefix(string(init[24:]), "QEMU (instance-") {
		t.Fatalf("server init % x", init)
	}
	conn.Close(websocket.StatusNormalClosure, "")

	// The noVNC page itself, when the web client is installed.
	page, code := get(t, raw)
	if _, err := os.Stat("/usr/share/novnc/vnc_lite.html"); err == nil {
		if code != 200 || !strings.Contains(page, "noVNC") || !strings.Contains(page, "<script") {
			t.Fatalf("noVNC page: %d %.200q", code, page)
		}
	} else if code != 404 || !strings.Contains(page, "novnc") {
		t.Fatalf("page without noVNC installed: %d %.200q", code, page)
	}

	// A forged token is refused before the upgrade.
	bad := strings.Replace(ws, "token=", "token=bad", 1)
	if _, resp, err := websocket.Dial(ctx, bad, nil); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("forged token: %v %v", err, resp)
	}
	// So is a page on another site.
	if _, resp, err := websocket.Dial(ctx, ws, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"http://evil.example"}}}); err == nil ||
		resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: %v %v", err, resp)
	}

	// Another project's user cannot get the server's console.
	if _, err := c.OpenStack(t, "gostack-alt", "console", "url", "show", s.ID); err == nil || !strings.Contains(err.Error(), "No Server found") {
		t.Fatalf("console url show of another project's server: %v", err)
	}

	// Deleting the server ends its console URLs.
	osRun(t, c, "gostack", "server", "delete", "--wait", "vm1")
	if _, resp, err := websocket.Dial(ctx, ws, nil); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("token of a deleted server: %v %v", err, resp)
	}
}

// websocketURL is what noVNC's vnc_lite.html connects to for a console URL: the page's
// host and the "path" query parameter.
func websocketURL(t *testing.T, consoleURL string) string {
	t.Helper()
	u, err := url.Parse(consoleURL)
	if err != nil {
		t.Fatal(err)
	}
	scheme := "ws"
	if u.Scheme == "https" {
		scheme = "wss"
	}
	return scheme + "://" + u.Host + "/" + u.Query().Get("path")
}

// get fetches a URL and returns its body and status.
func get(t *testing.T, u string) (string, int) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), resp.StatusCode
}
