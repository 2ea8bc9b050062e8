package compute

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// seedServers inserts n active servers of the demo project directly, with metadata and
// tags, spread over distinct creation times.
func seedServers(tb testing.TB, tc *testCloud, n int) {
	tb.Helper()
	ctx := context.Background()
	host := "host1"
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	err := tc.db.InTx(ctx, func(tx *store.Tx) error {
		for i := range n {
			id, err := nextID(ctx, tx, "instances")
			if err != nil {
				return err
			}
			created := base.Add(time.Duration(i) * time.Second)
			inst := &Instance{UUID: api.NewUUID(), ID: id, ProjectID: tc.demoProjectID, UserID: tc.demoUserID,
				Name: fmt.Sprintf("srv-%05d", i), Hostname: fmt.Sprintf("srv-%05d", i), ImageRef: "3f1c1f4e-6d0c-4b8e-9d3e-2c7f0b3b9a11",
				Flavor:  FlavorSnapshot{ID: "1", Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, RootGB: 1, ExtraSpecs: map[string]string{}},
				VMState: VMActive, PowerState: PowerRunning, Host: &host, Node: &host, LaunchedAt: &created,
				Request:   RequestSpec{SecurityGroups: []string{"default"}},
				CreatedAt: created, UpdatedAt: created}
			if err := insertInstance(ctx, tx, inst); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO compute_instance_metadata (instance_uuid, key, value) VALUES (?, 'role', 'web')`, inst.UUID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO compute_instance_tags (instance_uuid, tag) VALUES (?, 'blue')`, inst.UUID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkServerDetailPage pages through 10,000 servers 1,000 at a time with
// GET /servers/detail (limit and marker), as the demo member at 2.96, and reports the
// median and worst server time per page (the client's decoding is not counted).
func BenchmarkServerDetailPage(b *testing.B) {
	tc := newTestCloud(b)
	seedServers(b, tc, 10000)
	var times []time.Duration
	for b.Loop() {
		marker := ""
		for {
			q := "?limit=1000"
			if marker != "" {
				q += "&marker=" + marker
			}
			req := httptest.NewRequest("GET", "/compute/v2.1/servers/detail"+q, nil)
			req.Header.Set("X-Auth-Token", tc.demoToken)
			req.Header.Set("OpenStack-API-Version", "compute 2.96")
			rec := httptest.NewRecorder()
			start := time.Now()
			tc.handler.ServeHTTP(rec, req)
			times = append(times, time.Since(start))
			b.StopTimer()
			if rec.Code != 200 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var page struct {
				Servers []struct{ ID string } `json:"servers"`
				Links   []any                 `json:"servers_links"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if len(page.Servers) == 0 || page.Links == nil {
				break
			}
			marker = page.Servers[len(page.Servers)-1].ID
		}
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms/page")
	b.ReportMetric(float64(times[len(times)-1].Microseconds())/1000, "max-ms/page")
}
