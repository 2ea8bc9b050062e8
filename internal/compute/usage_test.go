package compute

import (
	"math"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTenantUsage(t *testing.T) {
	tc := newTestCloud(t)
	// A fixed window in the past: 2026-01-01 00:00 to 2026-01-02 00:00.
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(h float64) *time.Time { x := day.Add(time.Duration(h * float64(time.Hour))); return &x }
	// In the window for 24 h, 6 h (ended), 12 h (launched at noon) and 2 h (deleted
	// without a termination time); outside it: one that ended before, one never launched.
	a := tc.addInstance(t, instanceOpts{name: "a", launched: at(-10)})
	tc.addInstance(t, instanceOpts{name: "b", launched: at(-1), terminated: at(6), flavor: smallFlavor})
	tc.addInstance(t, instanceOpts{name: "c", launched: at(12)})
	del := tc.addInstance(t, instanceOpts{name: "d", launched: at(1), deleted: true})
	tc.exec(t, `UPDATE compute_instances SET deleted_at = ? WHERE uuid = ?`, fmtStoreTime(*at(3)), del.UUID)
	tc.addInstance(t, instanceOpts{name: "e", launched: at(-5), terminated: at(-2)})
	tc.addInstance(t, instanceOpts{name: "f", vmState: VMBuilding})
	alt := tc.addInstance(t, instanceOpts{name: "g", project: "otherproject", launched: at(0)})

	q := "?start=2026-01-01T00:00:00&end=2026-01-02T00:00:00"
	t.Run("show", func(t *testing.T) {
		u := tc.doAs(t, tc.demoToken, "2.1", "GET", "/v2.1/os-simple-tenant-usage/"+tc.demoProjectID+q, nil).want(t, 200).obj("tenant_usage")
		wantKeys(t, "usage", u, "server_usages", "start", "stop", "tenant_id", "total_hours", "total_local_gb_usage",
			"total_memory_mb_usage", "total_vcpus_usage")
		approx := func(what string, got any, want float64) {
			t.Helper()
			if math.Abs(got.(float64)-want) > 1e-6 {
				t.Errorf("%s = %v, want %v", what, got, want)
			}
		}
		approx("total_hours", u["total_hours"], 24+6+12+2)
		approx("total_vcpus_usage", u["total_vcpus_usage"], 24+2*6+12+2)
		approx("total_memory_mb_usage", u["total_memory_mb_usage"], 512*24+2048*6+512*12+512*2)
		approx("total_local_gb_usage", u["total_local_gb_usage"], 1*24+22*6+1*12+1*2)
		if u["start"] != "2026-01-01T00:00:00.000000" || u["stop"] != "2026-01-02T00:00:00.000000" {
			t.Fatal(u["start"], u["stop"])
		}
		servers := u["server_usages"].([]any)
		if len(servers) != 4 {
			t.Fatalf("%d servers", len(servers))
		}
		for _, s := range servers {
			s := s.(map[string]any)
			wantKeys(t, "server usage", s, "ended_at", "flavor", "hours", "instance_id", "local_gb", "memory_mb", "name",
				"started_at", "state", "tenant_id", "uptime", "vcpus")
			switch s["name"] {
			case "a":
				if s["state"] != "active" || s["ended_at"] != nil {
					t.Fatal(s)
				}
			case "b", "d":
				if s["state"] != "terminated" || s["ended_at"] == nil {
					t.Fatal(s)
				}
			}
			if s["name"] == "b" && s["uptime"] != float64(7*3600) {
				t.Fatal(s)
			}
		}
		// Another project's usage is refused to a member and empty when nothing ran.
		wantFault(t, tc.doAs(t, tc.demoToken, "2.1", "GET", "/v2.1/os-simple-tenant-usage/otherproject"+q, nil), 403)
		e := tc.do(t, "2.1", "GET", "/v2.1/os-simple-tenant-usage/nobody"+q, nil).want(t, 200)
		if len(e.obj("tenant_usage")) != 0 {
			t.Fatal(e.raw)
		}
	})

	t.Run("index", func(t *testing.T) {
		wantFault(t, tc.doAs(t, tc.demoToken, "2.1", "GET", "/v2.1/os-simple-tenant-usage"+q, nil), 403)
		us := tc.do(t, "2.1", "GET", "/v2.1/os-simple-tenant-usage"+q, nil).want(t, 200).list("tenant_usages")
		if len(us) != 2 {
			t.Fatal(us)
		}
		for _, u := range us {
			if _, ok := u["server_usages"]; ok {
				t.Fatal("server_usages without detailed=1")
			}
		}
		us = tc.do(t, "2.1", "GET", "/v2.1/os-simple-tenant-usage"+q+"&detailed=1", nil).want(t, 200).list("tenant_usages")
		if _, ok := us[0]["server_usages"]; !ok {
			t.Fatal(us[0])
		}
	})

	t.Run("paging", func(t *testing.T) {
		r := tc.do(t, "2.40", "GET", "/v2.1/os-simple-tenant-usage"+q+"&limit=3&detailed=1", nil).want(t, 200)
		links, _ := r.body["tenant_usages_links"].([]any)
		if len(links) != 1 {
			t.Fatal(r.raw)
		}
		href := links[0].(map[string]any)["href"].(string)
		u, err := url.Parse(href)
		if err != nil || u.Query().Get("marker") == "" || u.Query().Get("limit") != "3" || u.Query().Get("start") == "" {
			t.Fatal(href)
		}
		r2 := tc.do(t, "2.40", "GET", "/v2.1/os-simple-tenant-usage?"+u.RawQuery, nil).want(t, 200)
		seen := 0
		for _, page := range []resp{r, r2} {
			for _, tu := range page.list("tenant_usages") {
				seen += len(tu["server_usages"].([]any))
			}
		}
		if seen != 5 {
			t.Fatalf("paged %d servers, want 5", seen)
		}
		if r2.body["tenant_usages_links"] != nil {
			t.Fatal(r2.raw)
		}
		wantFault(t, tc.do(t, "2.40", "GET", "/v2.1/os-simple-tenant-usage"+q+"&marker="+api0UUID, nil), 400)
		tc.do(t, "2.40", "GET", "/v2.1/os-simple-tenant-usage"+q+"&marker="+alt.UUID, nil).want(t, 200)
		s := tc.do(t, "2.40", "GET", "/v2.1/os-simple-tenant-usage/"+tc.demoProjectID+q+"&limit=1", nil).want(t, 200)
		if l, _ := s.body["tenant_usage_links"].([]any); len(l) != 1 || !strings.Contains(l[0].(map[string]any)["href"].(string), "/os-simple-tenant-usage/"+tc.demoProjectID+"?") {
			t.Fatal(s.raw)
		}
		_ = a
	})

	t.Run("parameters", func(t *testing.T) {
		for _, tt := range []struct {
			ver, q string
			status int
		}{
			{"2.1", "?start=2026-01-02T00:00:00&end=2026-01-01T00:00:00", 400},
			{"2.1", "?start=yesterday", 400},
			{"2.1", "?start=2026-01-01%2000:00:00.5&end=2026-1-2T0:0:0", 200},
			{"2.1", "?start=2026-01-01T00:00:00.123456", 200},
			{"2.1", "?start=2026-02-30T00:00:00", 400},
			{"2.1", "?end=2026-01-02T00:00:00&foo=bar", 400}, // start defaults to now, after the end
			{"2.74", q + "&foo=bar", 200},
			{"2.75", q + "&foo=bar", 400},
			{"2.40", q + "&limit=x", 400},
			{"2.39", q + "&limit=x", 200},
		} {
			wantFault := tt.status != 200
			r := tc.do(t, tt.ver, "GET", "/v2.1/os-simple-tenant-usage"+tt.q, nil)
			if (r.code != 200) != wantFault || (wantFault && r.code != tt.status) {
				t.Errorf("%s %s: %d %s", tt.ver, tt.q, r.code, r.raw)
			}
		}
	})
}

func FuzzParseUsageTime(f *testing.F) {
	for _, s := range []string{"2026-01-01T00:00:00", "2026-01-01T00:00:00.123456", "2026-1-1 1:2:3.4", "", "x", "2026-13-01T00:00:00", "9999-12-31T23:59:61"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseUsageTime(s)
		if err != nil {
			return
		}
		if s != "" && (got.Year() < 1 || got.Location() != time.UTC) {
			t.Fatalf("%q parsed to %v", s, got)
		}
	})
}
