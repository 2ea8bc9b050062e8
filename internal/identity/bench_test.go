package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/store"
)

// benchServer serves a bootstrapped identity service over real HTTP on loopback.
func benchServer(b *testing.B) (*testCloud, *httptest.Server) {
	tc := newTestCloud(b)
	srv := httptest.NewServer(tc.handler)
	b.Cleanup(srv.Close)
	return tc, srv
}

// benchDo sends one request and drains the reply, failing on an unexpected status.
func benchDo(b *testing.B, c *http.Client, req *http.Request, want int) {
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Fatalf("%s %s: status %d, want %d", req.Method, req.URL.Path, resp.StatusCode, want)
	}
}

// reportLatency adds p50 and p99 metrics from per-request durations.
func reportLatency(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkTokenValidateHTTP measures GET /v3/auth/tokens (validation of a subject token
// by an admin) over HTTP, the call every other service's middleware makes.
func BenchmarkTokenValidateHTTP(b *testing.B) {
	tc, srv := benchServer(b)
	c := srv.Client()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest("GET", srv.URL+"/v3/auth/tokens?nocatalog", nil)
		req.Header.Set("X-Auth-Token", tc.adminToken)
		req.Header.Set("X-Subject-Token", tc.demoToken)
		t0 := time.Now()
		benchDo(b, c, req, 200)
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportLatency(b, lat)
}

// BenchmarkTokenValidateHTTPParallel measures validation throughput with concurrent
// clients.
func BenchmarkTokenValidateHTTPParallel(b *testing.B) {
	tc, srv := benchServer(b)
	c := srv.Client()
	c.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", srv.URL+"/v3/auth/tokens?nocatalog", nil)
			req.Header.Set("X-Auth-Token", tc.adminToken)
			req.Header.Set("X-Subject-Token", tc.demoToken)
			benchDo(b, c, req, 200)
		}
	})
}

// BenchmarkPasswordTokenIssueHTTP measures POST /v3/auth/tokens with a password and a
// project scope, at the production bcrypt cost (12) unless -short.
func BenchmarkPasswordTokenIssueHTTP(b *testing.B) {
	tc, srv := benchServer(b)
	cost := 12
	if testing.Short() {
		cost = 4
	}
	tc.svc.cfg.BcryptCost = cost
	ctx := context.Background()
	// Re-hash the demo password at the chosen cost.
	var demoID string
	if err := tc.svc.db.QueryRowContext(ctx, `SELECT id FROM users WHERE name = 'demo'`).Scan(&demoID); err != nil {
		b.Fatal(err)
	}
	if err := tc.svc.write(ctx, func(tx *store.Tx) error { return tc.svc.setPasswordTx(ctx, tx, demoID, testDemoPassword) }); err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(authBody("demo", testDemoPassword, map[string]any{"project": map[string]any{"name": "demo", "domain": map[string]any{"id": "default"}}}))
	c := srv.Client()
	lat := make([]time.Duration, 0, b.N)
	b.ReportMetric(float64(cost), "bcrypt-cost")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest("POST", srv.URL+"/v3/auth/tokens", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		t0 := time.Now()
		benchDo(b, c, req, 201)
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportLatency(b, lat)
}

// BenchmarkListProjects1000HTTP measures GET /v3/projects with 1,000 projects.
func BenchmarkListProjects1000HTTP(b *testing.B) {
	tc, srv := benchServer(b)
	ctx := context.Background()
	err := tc.svc.write(ctx, func(tx *store.Tx) error {
		for i := 0; i < 1000; i++ {
			p := &project{ID: fmt.Sprintf("%032x", i+1), Name: fmt.Sprintf("bench-%04d", i), DomainID: DefaultDomainID,
				ParentID: DefaultDomainID, Enabled: true, Tags: []string{"bench"}}
			if err := insertProject(ctx, tx, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	c := srv.Client()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest("GET", srv.URL+"/v3/projects", nil)
		req.Header.Set("X-Auth-Token", tc.adminToken)
		t0 := time.Now()
		benchDo(b, c, req, 200)
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportLatency(b, lat)
}
