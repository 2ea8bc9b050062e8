package compute

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/store"
)

func TestHypervisors(t *testing.T) {
	tc := newTestCloud(t)
	n1 := tc.addHost(t, "cmp1", 8, 16384, 100)
	n2 := tc.addHost(t, "cmp2", 4, 8192, 50)
	tc.addHost(t, "other", 4, 8192, 50)
	// cmp1 runs a tiny and a small (one being rebuilt); a deleted one and a shelved
	// offloaded one do not count.
	tc.addInstance(t, instanceOpts{host: "cmp1", name: "a"})
	tc.addInstance(t, instanceOpts{host: "cmp1", name: "b", flavor: smallFlavor, taskState: TaskRebuilding})
	tc.addInstance(t, instanceOpts{host: "cmp1", deleted: true})
	tc.addInstance(t, instanceOpts{host: "cmp1", vmState: VMShelvedOffloaded})
	// A resize from cmp2 to other is unfinished: old flavor on cmp2, new on other.
	moving := tc.addInstance(t, instanceOpts{host: "cmp2", name: "m", flavor: smallFlavor, vmState: VMResized})
	tiny := tinyFlavor
	moving.OldFlavor = &tiny
	moving.NewFlavor = &smallFlavor
	if _, err := updateInstance(context.Background(), tc.db, moving, nil); err != nil {
		t.Fatal(err)
	}
	tc.exec(t, `UPDATE compute_instances SET host = 'other' WHERE uuid = ?`, moving.UUID)
	tc.exec(t, `INSERT INTO compute_migrations (id, uuid, instance_uuid, migration_type, status, source_compute,
		dest_compute, project_id, user_id, created_at) VALUES (1, ?, ?, 'resize', 'finished', 'cmp2', 'other', 'p', 'u', ?)`,
		"a0000000-0000-4000-8000-000000000001", moving.UUID, store.FormatTime(now()))

	t.Run("usage", func(t *testing.T) {
		h := tc.do(t, "2.1", "GET", "/v2.1/os-hypervisors/"+strconv.FormatInt(n1.ID, 10), nil).want(t, 200).obj("hypervisor")
		wantKeys(t, "show 2.1", h, "cpu_info", "current_workload", "disk_available_least", "free_disk_gb", "free_ram_mb",
			"host_ip", "hypervisor_hostname", "hypervisor_type", "hypervisor_version", "id", "local_gb", "local_gb_used",
			"memory_mb", "memory_mb_used", "running_vms", "service", "state", "status", "vcpus", "vcpus_used")
		want := map[string]float64{
			"vcpus": 8, "vcpus_used": 3, "memory_mb": 16384, "memory_mb_used": 512 + 512 + 2048,
			"local_gb": 100, "local_gb_used": 1 + 22 + 1, "free_ram_mb": 16384 - 3072, "free_disk_gb": 100 - 24.5,
			"running_vms": 2, "current_workload": 1,
		}
		for k, v := range want {
			if float64(int64(v)) != h[k] {
				t.Errorf("%s = %v, want %v", k, h[k], int64(v))
			}
		}
		if _, ok := h["cpu_info"].(string); !ok {
			t.Fatalf("cpu_info before 2.28 is a string: %v", h["cpu_info"])
		}
		h2 := tc.do(t, "2.28", "GET", "/v2.1/os-hypervisors/"+strconv.FormatInt(n2.ID, 10), nil).want(t, 200).obj("hypervisor")
		if ci, ok := h2["cpu_info"].(map[string]any); !ok || ci["arch"] != "x86_64" {
			t.Fatalf("cpu_info: %v", h2["cpu_info"])
		}
		if h2["vcpus_used"] != float64(1) || h2["running_vms"] != float64(0) {
			t.Fatalf("cmp2 keeps the old flavor of the resize: %v", h2)
		}
		st := tc.do(t, "2.87", "GET", "/v2.1/os-hypervisors/statistics", nil).want(t, 200).obj("hypervisor_statistics")
		if st["count"] != float64(3) || st["vcpus"] != float64(16) || st["vcpus_used"] != float64(3+1+2) || st["running_vms"] != float64(3) {
			t.Fatalf("statistics %v", st)
		}
		wantFault(t, tc.do(t, "2.88", "GET", "/v2.1/os-hypervisors/statistics", nil), 404)
	})

	t.Run("versions", func(t *testing.T) {
		l := tc.do(t, "2.1", "GET", "/v2.1/os-hypervisors", nil).want(t, 200)
		wantKeys(t, "index body", l.body, "hypervisors")
		hs := l.list("hypervisors")
		if len(hs) != 3 {
			t.Fatal(hs)
		}
		wantKeys(t, "index 2.1", hs[0], "id", "hypervisor_hostname", "state", "status")
		if _, ok := hs[0]["id"].(float64); !ok {
			t.Fatal(hs[0])
		}
		hs = tc.do(t, "2.53", "GET", "/v2.1/os-hypervisors", nil).want(t, 200).list("hypervisors")
		if hs[0]["id"] != n1.UUID {
			t.Fatal(hs[0])
		}
		d := tc.do(t, "2.88", "GET", "/v2.1/os-hypervisors/detail", nil).want(t, 200).list("hypervisors")
		wantKeys(t, "detail 2.88", d[0], "host_ip", "hypervisor_hostname", "hypervisor_type",
			"hypervisor_version", "id", "service", "state", "status", "uptime")
		if !strings.Contains(d[0]["uptime"].(string), "up 1 day") {
			t.Fatal(d[0])
		}
		svc := d[0]["service"].(map[string]any)
		wantKeys(t, "service", svc, "id", "host", "disabled_reason")
		if _, ok := svc["id"].(string); !ok {
			t.Fatal(svc)
		}
		// Uptime route exists until 2.87.
		up := tc.do(t, "2.1", "GET", "/v2.1/os-hypervisors/"+strconv.FormatInt(n1.ID, 10)+"/uptime", nil).want(t, 200).obj("hypervisor")
		wantKeys(t, "uptime", up, "id", "hypervisor_hostname", "state", "status", "uptime")
		wantFault(t, tc.do(t, "2.88", "GET", "/v2.1/os-hypervisors/"+n1.UUID+"/uptime", nil), 404)
		tc.do(t, "2.87", "GET", "/v2.1/os-hypervisors/"+n1.UUID+"/uptime", nil).want(t, 200)
		// A down host has no uptime.
		tc.exec(t, `UPDATE compute_services SET last_seen_up = ? WHERE host = 'cmp2'`, store.FormatTime(now().Add(-time.Hour)))
		wantFault(t, tc.do(t, "2.87", "GET", "/v2.1/os-hypervisors/"+n2.UUID+"/uptime", nil), 400)
		h := tc.do(t, "2.88", "GET", "/v2.1/os-hypervisors/"+n2.UUID, nil).want(t, 200).obj("hypervisor")
		if h["uptime"] != nil || h["state"] != "down" {
			t.Fatal(h)
		}
	})

	t.Run("ids", func(t *testing.T) {
		wantFault(t, tc.do(t, "2.1", "GET", "/v2.1/os-hypervisors/abc", nil), 404)
		wantFault(t, tc.do(t, "2.1", "GET", "/v2.1/os-hypervisors/999", nil), 404)
		wantFault(t, tc.do(t, "2.53", "GET", "/v2.1/os-hypervisors/1", nil), 400)
		wantFault(t, tc.do(t, "2.53", "GET", "/v2.1/os-hypervisors/"+api0UUID, nil), 404)
		wantFault(t, tc.doAs(t, tc.demoToken, "2.1", "GET", "/v2.1/os-hypervisors", nil), 403)
	})

	t.Run("search and servers", func(t *testing.T) {
		hs := tc.do(t, "2.52", "GET", "/v2.1/os-hypervisors/cmp/search", nil).want(t, 200).list("hypervisors")
		if len(hs) != 2 {
			t.Fatal(hs)
		}
		hs = tc.do(t, "2.52", "GET", "/v2.1/os-hypervisors/cmp1/servers", nil).want(t, 200).list("hypervisors")
		if srv := hs[0]["servers"].([]any); len(srv) != 3 { // a, b and the offloaded one still name the host
			t.Fatal(hs)
		}
		wantFault(t, tc.do(t, "2.52", "GET", "/v2.1/os-hypervisors/zzz/search", nil), 404)
		wantFault(t, tc.do(t, "2.53", "GET", "/v2.1/os-hypervisors/cmp/search", nil), 404)
		// 2.53: query parameters instead.
		hs = tc.do(t, "2.53", "GET", "/v2.1/os-hypervisors?hypervisor_hostname_pattern=cmp_&with_servers=true", nil).want(t, 200).list("hypervisors")
		if len(hs) != 2 || len(hs[0]["servers"].([]any)) != 3 {
			t.Fatal(hs)
		}
		if _, ok := hs[1]["servers"]; ok {
			t.Fatalf("empty servers before 2.75: %v", hs[1])
		}
		hs = tc.do(t, "2.75", "GET", "/v2.1/os-hypervisors/detail?hypervisor_hostname_pattern=cmp2&with_servers=1", nil).want(t, 200).list("hypervisors")
		if s, ok := hs[0]["servers"].([]any); !ok || len(s) != 0 {
			t.Fatalf("empty servers from 2.75: %v", hs[0])
		}
		h := tc.do(t, "2.53", "GET", "/v2.1/os-hypervisors/"+n1.UUID+"?with_servers=yes", nil).want(t, 200).obj("hypervisor")
		if len(h["servers"].([]any)) != 3 {
			t.Fatal(h)
		}
		for _, q := range []string{"with_servers=maybe", "hypervisor_hostname_pattern=a%20b", "foo=1", "limit=1&limit=2",
			"limit=-1", "hypervisor_hostname_pattern=cmp&limit=1", "marker=" + api0UUID} {
			wantFault(t, tc.do(t, "2.53", "GET", "/v2.1/os-hypervisors?"+q, nil), 400)
		}
		wantFault(t, tc.do(t, "2.53", "GET", "/v2.1/os-hypervisors?hypervisor_hostname_pattern=nomatch", nil), 404)
		wantFault(t, tc.do(t, "2.53", "GET", "/v2.1/os-hypervisors/"+n1.UUID+"?foo=1", nil), 400)
		tc.do(t, "2.52", "GET", "/v2.1/os-hypervisors?foo=1", nil).want(t, 200)
	})

	t.Run("paging", func(t *testing.T) {
		r := tc.do(t, "2.33", "GET", "/v2.1/os-hypervisors?limit=2", nil).want(t, 200)
		hs := r.list("hypervisors")
		links, _ := r.body["hypervisors_links"].([]any)
		if len(hs) != 2 || len(links) != 1 {
			t.Fatal(r.raw)
		}
		href := links[0].(map[string]any)["href"].(string)
		if !strings.Contains(href, "/compute/v2.1/os-hypervisors?") || !strings.Contains(href, "marker="+jsonID(hs[1]["id"])) {
			t.Fatal(href)
		}
		r = tc.do(t, "2.33", "GET", "/v2.1/os-hypervisors/detail?limit=2&marker="+jsonID(hs[1]["id"]), nil).want(t, 200)
		if hs2 := r.list("hypervisors"); len(hs2) != 1 || r.body["hypervisors_links"] != nil {
			t.Fatal(r.raw)
		}
		r = tc.do(t, "2.53", "GET", "/v2.1/os-hypervisors?limit=1&marker="+n1.UUID, nil).want(t, 200)
		if hs := r.list("hypervisors"); len(hs) != 1 || hs[0]["id"] != n2.UUID {
			t.Fatal(r.raw)
		}
		wantFault(t, tc.do(t, "2.33", "GET", "/v2.1/os-hypervisors?marker=999", nil), 400)
		// Before 2.33 paging parameters are ignored.
		if n := len(tc.do(t, "2.32", "GET", "/v2.1/os-hypervisors?limit=1", nil).want(t, 200).list("hypervisors")); n != 3 {
			t.Fatal(n)
		}
	})

	t.Run("node without service", func(t *testing.T) {
		tc.exec(t, `DELETE FROM compute_services WHERE host = 'other'`)
		if n := len(tc.do(t, "2.1", "GET", "/v2.1/os-hypervisors", nil).list("hypervisors")); n != 2 {
			t.Fatal(n)
		}
	})
}

func TestLikeMatch(t *testing.T) {
	for _, tt := range []struct {
		s, p string
		want bool
	}{
		{"compute1", "comp", true},
		{"compute1", "UTE", true},
		{"compute1", "c_mp", true},
		{"compute1", "c%1", true},
		{"compute1", "x", false},
		{"compute1", "", true},
		{"a", "ab", false},
		{"abcabd", "abd", true},
	} {
		if got := likeMatch(tt.s, tt.p); got != tt.want {
			t.Errorf("likeMatch(%q, %q) = %v", tt.s, tt.p, got)
		}
	}
}
