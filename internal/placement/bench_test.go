package placement

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/store"
)

// benchFleet fills the store with n compute node providers (VCPU, MEMORY_MB, DISK_GB,
// ten traits, one of eight aggregates), each with numaChildren NUMA children holding the
// VCPUs when numaChildren > 0, written directly for speed.
func benchFleet(b *testing.B, tc *testCloud, n, numaChildren int) []string {
	b.Helper()
	ctx := context.Background()
	traits := []string{"COMPUTE_NODE", "HW_CPU_X86_AVX", "HW_CPU_X86_AVX2", "HW_CPU_X86_SSE42", "HW_CPU_X86_AESNI",
		"COMPUTE_VOLUME_MULTI_ATTACH", "COMPUTE_NET_ATTACH_INTERFACE", "COMPUTE_IMAGE_TYPE_QCOW2", "COMPUTE_IMAGE_TYPE_RAW",
		"COMPUTE_STATUS_DISABLED"}
	var roots []string
	ts := store.FormatTime(now())
	err := tc.db.InTx(ctx, func(tx *store.Tx) error {
		addInv := func(uuid, rc string, total int64, ratio float64, reserved int64) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO placement_inventories (provider_uuid, resource_class, total, reserved, min_unit,
				max_unit, step_size, allocation_ratio, used, created_at) VALUES (?, ?, ?, ?, 1, ?, 1, ?, 0, ?)`,
				uuid, rc, total, reserved, total, ratio, ts)
			return err
		}
		for i := range n {
			root := fmt.Sprintf("%08d-0000-4000-8000-000000000000", i)
			roots = append(roots, root)
			if _, err := tx.ExecContext(ctx, `INSERT INTO placement_resource_providers (uuid, name, generation, root_uuid, created_at)
				VALUES (?, ?, 1, ?, ?)`, root, fmt.Sprintf("compute-%04d", i), root, ts); err != nil {
				return err
			}
			if err := addInv(root, "MEMORY_MB", 65536, 1.5, 512); err != nil {
				return err
			}
			if err := addInv(root, "DISK_GB", 1000, 1.0, 0); err != nil {
				return err
			}
			if numaChildren == 0 {
				if err := addInv(root, "VCPU", 32, 16.0, 0); err != nil {
					return err
				}
			}
			for j := range numaChildren {
				child := fmt.Sprintf("%08d-%04d-4000-8000-000000000001", i, j)
				if _, err := tx.ExecContext(ctx, `INSERT INTO placement_resource_providers (uuid, name, generation, parent_uuid,
					root_uuid, created_at) VALUES (?, ?, 1, ?, ?, ?)`, child, fmt.Sprintf("compute-%04d-numa%d", i, j), root, root, ts); err != nil {
					return err
				}
				if err := addInv(child, "VCPU", 16, 4.0, 0); err != nil {
					return err
				}
			}
			for k, t := range traits {
				if k < 9 || i%2 == 0 {
					if _, err := tx.ExecContext(ctx, `INSERT INTO placement_provider_traits (provider_uuid, trait) VALUES (?, ?)`, root, t); err != nil {
						return err
					}
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO placement_provider_aggregates (provider_uuid, aggregate_uuid) VALUES (?, ?)`,
				root, fmt.Sprintf("aaaaaaaa-0000-4000-8000-%012d", i%8)); err != nil {
				return err
			}
		}
		return bumpRevision(ctx, tx)
	})
	if err != nil {
		b.Fatal(err)
	}
	return roots
}

// benchGet measures one GET over real HTTP on loopback (request to last byte of the
// answer) and reports p50/p99 latency.
func benchGet(b *testing.B, tc *testCloud, ver, path string) {
	srv := httptest.NewServer(tc.handler)
	b.Cleanup(srv.Close)
	c := srv.Client()
	lat := make([]time.Duration, 0, b.N)
	var n int
	// One request first loads the snapshot of the provider structure (as the first search
	// after a structural write does); the benchmark measures the searches after it.
	warm, _ := http.NewRequest("GET", srv.URL+"/placement"+path, nil)
	warm.Header.Set("X-Auth-Token", tc.adminToken)
	warm.Header.Set("OpenStack-API-Version", "placement "+ver)
	t0 := time.Now()
	if resp, err := c.Do(warm); err == nil {
		_ = decodeBody(resp, nil)
	}
	cold := time.Since(t0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest("GET", srv.URL+"/placement"+path, nil)
		req.Header.Set("X-Auth-Token", tc.adminToken)
		req.Header.Set("OpenStack-API-Version", "placement "+ver)
		t0 := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		// Decode the first answer to count the candidates; afterwards only drain the body,
		// so that the client's JSON decoding is not measured.
		var body struct {
			AllocationRequests []any `json:"allocation_requests"`
		}
		var err2 error
		if i == 0 {
			err2 = decodeBody(resp, &body)
			n = len(body.AllocationRequests)
		} else {
			err2 = decodeBody(resp, nil)
		}
		if err2 != nil || resp.StatusCode != 200 {
			b.Fatalf("status %d: %v", resp.StatusCode, err2)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	b.ReportMetric(float64(cold.Microseconds())/1000, "cold-ms")
	b.ReportMetric(float64(n), "candidates")
	reportLatency(b, lat)
}

// reportLatency adds p50 and p99 metrics from per-request durations.
func reportLatency(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkCandidates1000 is Nova's scheduling query against 1,000 flat compute nodes:
// every node fits, all 1,000 candidates and summaries (with traits) come back.
func BenchmarkCandidates1000(b *testing.B) {
	tc := newTestCloud(b)
	benchFleet(b, tc, 1000, 0)
	benchGet(b, tc, "1.36", "/allocation_candidates?resources=VCPU:2,MEMORY_MB:2048,DISK_GB:20&limit=1000")
}

// BenchmarkCandidates1000Traits adds a required and a forbidden trait and an aggregate.
func BenchmarkCandidates1000Traits(b *testing.B) {
	tc := newTestCloud(b)
	benchFleet(b, tc, 1000, 0)
	benchGet(b, tc, "1.36", "/allocation_candidates?resources=VCPU:2,MEMORY_MB:2048,DISK_GB:20"+
		"&required=HW_CPU_X86_AVX2,!COMPUTE_STATUS_DISABLED&member_of=in:aaaaaaaa-0000-4000-8000-000000000001,aaaaaaaa-0000-4000-8000-000000000002")
}

// BenchmarkCandidates1000Nested is the same query against 1,000 nodes whose VCPUs are in
// two NUMA children each (3,000 providers), so that every candidate spans a tree.
func BenchmarkCandidates1000Nested(b *testing.B) {
	tc := newTestCloud(b)
	benchFleet(b, tc, 1000, 2)
	benchGet(b, tc, "1.36", "/allocation_candidates?resources=VCPU:2,MEMORY_MB:2048,DISK_GB:20&limit=1000")
}

// BenchmarkClaims1000 measures allocation claims (PUT /allocations/{uuid}, 1.38) spread
// over 1,000 providers, from parallel clients.
func BenchmarkClaims1000(b *testing.B) {
	tc := newTestCloud(b)
	roots := benchFleet(b, tc, 1000, 0)
	srv := httptest.NewServer(tc.handler)
	b.Cleanup(srv.Close)
	c := srv.Client()
	c.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	var seq atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := seq.Add(1)
			consumer := fmt.Sprintf("cccccccc-0000-4000-8000-%012d", i)
			rp := roots[int(i)%len(roots)]
			body := fmt.Sprintf(`{"allocations": {"%s": {"resources": {"VCPU": 1, "MEMORY_MB": 128, "DISK_GB": 1}}},
				"project_id": "p", "user_id": "u", "consumer_generation": null, "consumer_type": "INSTANCE"}`, rp)
			req, _ := http.NewRequest("PUT", srv.URL+"/placement/allocations/"+consumer, stringsReader(body))
			req.Header.Set("X-Auth-Token", tc.adminToken)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("OpenStack-API-Version", "placement 1.38")
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_ = decodeBody(resp, nil)
			if resp.StatusCode != http.StatusNoContent {
				b.Fatalf("claim: status %d", resp.StatusCode)
			}
		}
	})
}
