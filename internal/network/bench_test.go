package network

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
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

// timeList times GET path as token b.N times (server only: the response is recorded,
// not decoded) and reports the median.
func timeList(b *testing.B, tc *testCloud, token, path string) {
	var times []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("GET", "/networking"+path, nil)
		req.Header.Set("X-Auth-Token", token)
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

// BenchmarkSGRuleList5000 lists 5,000 security group rules as their owner. The rules are
// written straight to the store (creating them through the API is not what is timed).
func BenchmarkSGRuleList5000(b *testing.B) {
	tc := newTestCloud(b)
	g := tc.doAs(b, tc.demoToken, "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": "big"}}, nil).
		want(b, http.StatusCreated).obj("security_group")
	ctx := context.Background()
	err := tc.db.InTx(ctx, func(tx *store.Tx) error {
		for i := range 4994 {
			lo := int64(i%60000 + 1)
			r := &sgRule{SecurityGroupID: g["id"].(string), Direction: "ingress", EtherType: "IPv4", PortMin: &lo, PortMax: &lo}
			p := "tcp"
			r.Protocol = &p
			if err := insertRule(ctx, tx, api.NewUUID(), tc.demoProject, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if n := len(tc.doAs(b, tc.demoToken, "GET", "/v2.0/security-group-rules", nil, nil).want(b, http.StatusOK).list("security_group_rules")); n != 5000 {
		b.Fatalf("%d rules", n)
	}
	timeList(b, tc, tc.demoToken, "/v2.0/security-group-rules")
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
	timeList(b, tc, tc.demoToken, "/v2.0/ports")
	timeListPage(b, tc)
}

// timeListPage reports the median of a 100-port page from the middle of the list.
func timeListPage(b *testing.B, tc *testCloud) {
	all := tc.doAs(b, tc.demoToken, "GET", "/v2.0/ports?fields=id&sort_key=id&sort_dir=asc", nil, nil).list("ports")
	marker := all[len(all)/2]["id"].(string)
	var times []time.Duration
	for range 20 {
		req := httptest.NewRequest("GET", "/networking/v2.0/ports?limit=100&marker="+marker, nil)
		req.Header.Set("X-Auth-Token", tc.demoToken)
		rec := httptest.NewRecorder()
		start := time.Now()
		tc.handler.ServeHTTP(rec, req)
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "page100-p50-ms")
}
