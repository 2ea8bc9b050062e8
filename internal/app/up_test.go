package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// freeAddr returns a loopback address with a free port.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// runUp starts Up in the background and returns when GET /v3 answers 200 through client.
func runUp(t *testing.T, cfg Config, client *http.Client, base string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Up(ctx, cfg, io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Up returned %v", err)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(base + "/v3")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case err := <-done:
			t.Fatalf("Up exited early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gostack did not answer on %s: %v", base, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestUpWritesClientFilesAndReusesState(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := Config{DataDir: dir, Listen: addr, AdminPassword: "pw-admin", Identity: identityTestConfig(), Compute: ComputeConfig{Driver: "fake"}}
	runUp(t, cfg, http.DefaultClient, "http://"+addr)
	for _, f := range []string{"clouds.yaml", "admin-openrc", "demo-openrc", "alt_demo-openrc", "secrets.json"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	clouds, _ := os.ReadFile(filepath.Join(dir, "clouds.yaml"))
	for _, want := range []string{"gostack-admin:", "gostack:", "devstack-admin:", "devstack:", "devstack-alt:",
		"auth_url: 'http://" + addr + "/v3'", "password: 'pw-admin'"} {
		if !strings.Contains(string(clouds), want) {
			t.Errorf("clouds.yaml lacks %q", want)
		}
	}
	rc, _ := os.ReadFile(filepath.Join(dir, "demo-openrc"))
	if !strings.Contains(string(rc), "export OS_USERNAME='demo'") || !strings.Contains(string(rc), "OS_PROJECT_NAME='demo'") {
		t.Errorf("demo-openrc: %s", rc)
	}
	// The generated demo password authenticates.
	var sec secrets
	b, _ := os.ReadFile(filepath.Join(dir, "secrets.json"))
	if err := json.Unmarshal(b, &sec); err != nil || len(sec.DemoPassword) != 20 {
		t.Fatalf("secrets: %v %q", err, sec.DemoPassword)
	}
	body := `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "demo", "domain": {"id": "default"}, "password": "` + sec.DemoPassword + `"}}}}}`
	resp, err := http.Post("http://"+addr+"/v3/auth/tokens", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("demo login: %v %v", err, resp)
	}
	resp.Body.Close()
}

func TestUpTLSAuto(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := Config{DataDir: dir, Listen: addr, TLS: "auto", Identity: identityTestConfig(), Compute: ComputeConfig{Driver: "fake"}}
	// The CA is created by Up; build the client once it exists.
	pool := x509.NewCertPool()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	go func() {
		for i := 0; i < 400; i++ {
			if b, err := os.ReadFile(filepath.Join(dir, "tls", "ca.crt")); err == nil && pool.AppendCertsFromPEM(b) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	runUp(t, cfg, client, "https://"+addr)
	clouds, _ := os.ReadFile(filepath.Join(dir, "clouds.yaml"))
	if !strings.Contains(string(clouds), "auth_url: 'https://"+addr+"/v3'") || !strings.Contains(string(clouds), "cacert: '"+filepath.Join(dir, "tls", "ca.crt")+"'") {
		t.Fatalf("clouds.yaml does not point at https with the CA:\n%s", clouds)
	}
	rc, _ := os.ReadFile(filepath.Join(dir, "admin-openrc"))
	if !strings.Contains(string(rc), "OS_CACERT=") {
		t.Fatalf("admin-openrc lacks OS_CACERT:\n%s", rc)
	}
	// The catalog advertises https endpoints.
	var sec secrets
	b, _ := os.ReadFile(filepath.Join(dir, "secrets.json"))
	_ = json.Unmarshal(b, &sec)
	body := `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": "` + sec.AdminPassword + `"}}}, "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}`
	resp, err := client.Post("https://"+addr+"/v3/auth/tokens", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 || !strings.Contains(string(out), `"url":"https://`+addr+`/v3"`) {
		t.Fatalf("token over TLS: %d %s", resp.StatusCode, out)
	}
}
