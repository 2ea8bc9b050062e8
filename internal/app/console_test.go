package app

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNoVNCBaseURL(t *testing.T) {
	for _, tc := range []struct{ root, want string }{
		{"http://127.0.0.1:5000", "http://127.0.0.1:5000/vnc/vnc_lite.html?path=vnc%2Fwebsockify"},
		{"https://cloud.example/", "https://cloud.example/vnc/vnc_lite.html?path=vnc%2Fwebsockify"},
		{"https://cloud.example/os", "https://cloud.example/os/vnc/vnc_lite.html?path=os%2Fvnc%2Fwebsockify"},
		{"ftp://x", ""},
		{"127.0.0.1:5000", ""},
		{"http://", ""},
	} {
		got, err := noVNCBaseURL(tc.root)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("noVNCBaseURL(%q) = %q, %v; want %q", tc.root, got, err, tc.want)
		}
	}
}

func TestConsoleConfigFile(t *testing.T) {
	dir := t.TempDir()
	toml := "[console]\nbase_url = 'https://console.example'\ntoken_ttl = '90s'\nallowed_origins = ['dash.example']\n"
	if err := os.WriteFile(filepath.Join(dir, "gostack.toml"), []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{DataDir: dir}
	if err := cfg.loadFileConfig(); err != nil {
		t.Fatal(err)
	}
	if cfg.Console.BaseURL != "https://console.example" || cfg.Console.TokenTTL != 90*time.Second ||
		len(cfg.Console.AllowedOrigins) != 1 || cfg.Console.AllowedOrigins[0] != "dash.example" {
		t.Fatalf("console config %+v", cfg.Console)
	}
	cc, err := computeConsoleConfig(cfg, "http://127.0.0.1:5000")
	if err != nil || cc.NoVNCBaseURL != "https://console.example/vnc/vnc_lite.html?path=vnc%2Fwebsockify" || cc.TokenTTL != 90*time.Second {
		t.Fatalf("compute console config %+v %v", cc, err)
	}
	cfg.Console.Disabled = true
	if cc, _ := computeConsoleConfig(cfg, "http://127.0.0.1:5000"); cc.NoVNCBaseURL != "" {
		t.Fatalf("disabled consoles: %+v", cc)
	}
}

func TestUpServesConsoleProxy(t *testing.T) {
	addr := freeAddr(t)
	base := "http://" + addr
	cfg := Config{DataDir: t.TempDir(), Listen: addr, Identity: identityTestConfig(),
		Console: ConsoleConfig{WebDir: filepath.Join(t.TempDir(), "no-novnc")}}
	runUp(t, cfg, http.DefaultClient, base)
	// A websocket request with a bad token is refused, empty, before any upgrade.
	req, _ := http.NewRequest("GET", base+"/vnc/websockify?token=nope", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "x3JJHMbDL1EzLkh9GBhXDw==")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.ContentLength != 0 {
		t.Fatalf("bad token: %d (%d bytes)", resp.StatusCode, resp.ContentLength)
	}
	resp, err = http.Get(base + "/vnc/vnc_lite.html")
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4096)
	n, _ := resp.Body.Read(b)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(b[:n]), "novnc") {
		t.Fatalf("page without the web client: %d %q", resp.StatusCode, b[:n])
	}
}
