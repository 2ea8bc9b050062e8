package network

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// benchCloud is a cloud with an unlimited port quota and a /18 subnet for the demo project.
func benchCloud(b *testing.B) (*testCloud, string) {
	tc := newTestCloud(b)
	tc.do(b, "PUT", "/v2.0/quotas/"+tc.demoProject, map[string]any{"quota": map[string]any{"port": -1}}).want(b, 200)
	nid, _ := tc.portNet(b, tc.demoToken, "10.64.0.0/18", nil)
	return tc, nid
}

// BenchmarkPortCreate creates ports through the API (one op = one port).
func BenchmarkPortCreate(b *testing.B) {
	tc, nid := benchCloud(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tc.doAs(b, tc.demoToken, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": nid, "name": fmt.Sprint(i)}}, nil).want(b, http.StatusCreated)
	}
}

// BenchmarkPortList5000 lists 5,000 ports as their owner (one op = one full list).
func BenchmarkPortList5000(b *testing.B) {
	tc, nid := benchCloud(b)
	for i := range 5000 {
		tc.doAs(b, tc.demoToken, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": nid, "name": fmt.Sprint(i)}}, nil).want(b, http.StatusCreated)
	}
	if n := len(tc.doAs(b, tc.demoToken, "GET", "/v2.0/ports", nil, nil).want(b, http.StatusOK).list("ports")); n != 5000 {
		b.Fatalf("%d ports", n)
	}
	// Time the server only: the response is recorded, not decoded.
	var times []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("GET", "/networking/v2.0/ports", nil)
		req.Header.Set("X-Auth-Token", tc.demoToken)
		rec := httptest.NewRecorder()
		start := time.Now()
		tc.handler.ServeHTTP(rec, req)
		times = append(times, time.Since(start))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
	b.StopTimer()
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
}
