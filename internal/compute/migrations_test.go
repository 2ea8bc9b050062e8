package compute

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

func TestMigrations(t *testing.T) {
	tc := newTestCloud(t)
	tc.addHost(t, "cmp1", 8, 16384, 100)
	tc.addHost(t, "cmp2", 8, 16384, 100)
	tc.exec(t, `INSERT INTO compute_flavors (flavorid, id, name, vcpus, memory_mb) VALUES ('1', 7, 'm1.tiny', 1, 512), ('2', 8, 'm1.small', 2, 2048)`)
	inst := tc.addInstance(t, instanceOpts{host: "cmp1"})
	other := tc.addInstance(t, instanceOpts{host: "cmp2", project: "otherproject"})
	gone := tc.addInstance(t, instanceOpts{host: "cmp2", deleted: true})
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	add := func(id int, instUUID, typ, status, src, dst, project string, updatedMin int) string {
		uuid := fmt.Sprintf("b0000000-0000-4000-8000-%012d", id)
		created := store.FormatTime(base.Add(time.Duration(id) * time.Minute))
		updated := ""
		if updatedMin >= 0 {
			updated = store.FormatTime(base.Add(time.Duration(updatedMin) * time.Minute))
		}
		tc.exec(t, `INSERT INTO compute_migrations (id, uuid, instance_uuid, migration_type, status, source_compute,
			source_node, dest_compute, dest_node, dest_host, old_flavor_id, new_flavor_id, project_id, user_id, created_at,
			updated_at, memory_total) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '192.0.2.2', '1', '2', ?, 'u', ?, ?, 1024)`,
			id, uuid, instUUID, typ, status, src, src, dst, dst, project, created, updated)
		return uuid
	}
	add(1, inst.UUID, "resize", "confirmed", "cmp1", "cmp2", tc.demoProjectID, 10)
	add(2, inst.UUID, "live-migration", "running", "cmp1", "cmp2", tc.demoProjectID, 20)
	add(3, other.UUID, "migration", "finished", "cmp2", "cmp1", "otherproject", -1)
	add(4, gone.UUID, "resize", "confirmed", "cmp2", "cmp1", tc.demoProjectID, 40)
	add(5, inst.UUID, "live-migration", "completed", "cmp2", "cmp1", tc.demoProjectID, 50)

	list := func(ver, q string) resp {
		t.Helper()
		return tc.do(t, ver, "GET", "/v2.1/os-migrations"+q, nil)
	}
	ids := func(r resp) string {
		var out []string
		for _, m := range r.list("migrations") {
			out = append(out, jsonID(m["id"]))
		}
		return strings.Join(out, ",")
	}

	t.Run("versions", func(t *testing.T) {
		base := []string{"created_at", "dest_compute", "dest_host", "dest_node", "id", "instance_uuid",
			"new_instance_type_id", "old_instance_type_id", "source_compute", "source_node", "status", "updated_at"}
		r := list("2.1", "").want(t, 200)
		if ids(r) != "1,2,3,5" {
			t.Fatalf("ids %s (migrations of deleted servers are hidden)", ids(r))
		}
		ms := r.list("migrations")
		wantKeys(t, "2.1", ms[0], base...)
		if ms[0]["old_instance_type_id"] != float64(7) || ms[0]["new_instance_type_id"] != float64(8) || ms[0]["source_compute"] != "cmp1" {
			t.Fatal(ms[0])
		}
		if ms[2]["updated_at"] != nil {
			t.Fatal(ms[2])
		}
		ms = list("2.23", "").want(t, 200).list("migrations")
		wantKeys(t, "2.23", ms[0], append(base, "migration_type")...)
		wantKeys(t, "2.23 live", ms[1], append(base, "migration_type", "links")...)
		link := ms[1]["links"].([]any)[0].(map[string]any)["href"].(string)
		if !strings.HasSuffix(link, "/compute/v2.1/servers/"+inst.UUID+"/migrations/2") {
			t.Fatal(link)
		}
		r = list("2.59", "").want(t, 200)
		if ids(r) != "5,3,2,1" {
			t.Fatalf("2.59 order %s", ids(r))
		}
		wantKeys(t, "2.59", r.list("migrations")[0], append(base, "migration_type", "uuid")...)
		wantKeys(t, "2.80", list("2.80", "").list("migrations")[0], append(base, "migration_type", "uuid", "user_id", "project_id")...)
	})

	t.Run("filters", func(t *testing.T) {
		for _, tt := range []struct {
			ver, q, want string
		}{
			{"2.1", "?host=cmp2", "1,2,3,5"},
			{"2.1", "?source_compute=cmp2", "3,5"},
			{"2.1", "?status=running", "2"},
			{"2.1", "?migration_type=resize", "1"},
			{"2.1", "?instance_uuid=" + other.UUID, "3"},
			{"2.1", "?hidden=1", ""},
			{"2.1", "?user_id=nobody", "1,2,3,5"}, // unknown before 2.80: ignored
			{"2.1", "?changes-since=2026-03-01T00:30:00Z", "1,2,3,5"},
			{"2.59", "?changes-since=2026-03-01T00:15:00Z", "5,2"},
			{"2.66", "?changes-before=2026-03-01T00:15:00Z", "1"},
			{"2.66", "?changes-since=2026-03-01T00:15:00%2B00:00&changes-before=2026-03-01T00:45:00", "2"},
			{"2.80", "?project_id=otherproject", "3"},
			{"2.80", "?user_id=u&migration_type=live-migration", "5,2"},
		} {
			if got := ids(list(tt.ver, tt.q).want(t, 200)); got != tt.want {
				t.Errorf("%s %s: %s, want %s", tt.ver, tt.q, got, tt.want)
			}
		}
		for _, tt := range []struct{ ver, q string }{
			{"2.59", "?changes-since=yesterday"},
			{"2.59", "?changes-before=2026-03-01T00:00:00Z"},
			{"2.66", "?changes-since=2026-03-02T00:00:00Z&changes-before=2026-03-01T00:00:00Z"},
			{"2.59", "?limit=-1"},
			{"2.59", "?limit=1&limit=2"},
			{"2.59", "?marker=nope"},
			{"2.59", "?foo=1"},
			{"2.79", "?project_id=x"},
		} {
			wantFault(t, list(tt.ver, tt.q), 400)
		}
	})

	t.Run("paging", func(t *testing.T) {
		r := list("2.59", "?limit=2").want(t, 200)
		if ids(r) != "5,3" {
			t.Fatal(ids(r))
		}
		links := r.body["migrations_links"].([]any)
		u, _ := url.Parse(links[0].(map[string]any)["href"].(string))
		r = list("2.59", "?"+u.RawQuery).want(t, 200)
		if ids(r) != "2,1" || r.body["migrations_links"] == nil {
			t.Fatalf("%s %s", ids(r), r.raw)
		}
		last := r.list("migrations")[1]["uuid"].(string)
		r = list("2.59", "?limit=2&marker="+last).want(t, 200)
		if ids(r) != "" || r.body["migrations_links"] != nil {
			t.Fatal(r.raw)
		}
		if ids(list("2.59", "?limit=0")) != "" {
			t.Fatal("limit 0")
		}
	})

	t.Run("policy", func(t *testing.T) {
		// Members may not list migrations; project managers only their own project's,
		// without hosts.
		wantFault(t, tc.doAs(t, tc.demoToken, "2.80", "GET", "/v2.1/os-migrations?project_id="+tc.demoProjectID, nil), 403)
		wantFault(t, tc.doAs(t, tc.demoToken, "2.23", "GET", "/v2.1/servers/"+inst.UUID+"/migrations", nil), 403)
	})

	t.Run("server migrations", func(t *testing.T) {
		path := "/v2.1/servers/" + inst.UUID + "/migrations"
		wantFault(t, tc.do(t, "2.22", "GET", path, nil), 404)
		ms := tc.do(t, "2.23", "GET", path, nil).want(t, 200).list("migrations")
		if len(ms) != 1 || ms[0]["id"] != float64(2) {
			t.Fatal(ms)
		}
		keys := []string{"created_at", "dest_compute", "dest_host", "dest_node", "disk_processed_bytes", "disk_remaining_bytes",
			"disk_total_bytes", "id", "memory_processed_bytes", "memory_remaining_bytes", "memory_total_bytes", "server_uuid",
			"source_compute", "source_node", "status", "updated_at"}
		wantKeys(t, "server migration", ms[0], keys...)
		if ms[0]["memory_total_bytes"] != float64(1024) || ms[0]["disk_total_bytes"] != nil || ms[0]["source_compute"] != "cmp1" {
			t.Fatal(ms[0])
		}
		m := tc.do(t, "2.80", "GET", path+"/2", nil).want(t, 200).obj("migration")
		wantKeys(t, "server migration 2.80", m, append(keys, "uuid", "user_id", "project_id")...)
		for _, id := range []string{"1", "3", "5", "99", "abc"} {
			wantFault(t, tc.do(t, "2.23", "GET", path+"/"+id, nil), 404)
		}
		if n := len(tc.do(t, "2.23", "GET", "/v2.1/servers/"+other.UUID+"/migrations", nil).want(t, 200).list("migrations")); n != 0 {
			t.Fatal(n)
		}
		wantFault(t, tc.do(t, "2.23", "GET", "/v2.1/servers/"+gone.UUID+"/migrations", nil), 404)
		wantFault(t, tc.do(t, "2.23", "GET", "/v2.1/servers/"+api0UUID+"/migrations", nil), 404)
		wantFault(t, tc.doAs(t, tc.demoToken, "2.23", "GET", "/v2.1/servers/"+other.UUID+"/migrations", nil), 404)
	})
}

func TestOSHosts(t *testing.T) {
	tc := newTestCloud(t)
	tc.addHost(t, "cmp1", 8, 16384, 100)
	if err := tc.svc.heartbeat(t.Context(), "ctl", BinaryConductor); err != nil {
		t.Fatal(err)
	}
	tc.addInstance(t, instanceOpts{host: "cmp1", flavor: smallFlavor})
	tc.addInstance(t, instanceOpts{host: "cmp1", project: "p2"})
	hs := tc.do(t, "2.42", "GET", "/v2.1/os-hosts", nil).want(t, 200).list("hosts")
	if len(hs) != 2 || hs[0]["zone"] != "nova" || hs[0]["service"] != "compute" || hs[1]["zone"] != "internal" {
		t.Fatal(hs)
	}
	if n := len(tc.do(t, "2.1", "GET", "/v2.1/os-hosts?zone=internal", nil).want(t, 200).list("hosts")); n != 1 {
		t.Fatal(n)
	}
	wantFault(t, tc.do(t, "2.43", "GET", "/v2.1/os-hosts", nil), 404)
	res := tc.do(t, "2.1", "GET", "/v2.1/os-hosts/cmp1", nil).want(t, 200).list("host")
	if len(res) != 5 {
		t.Fatal(res)
	}
	want := map[string][3]float64{"(total)": {8, 16384, 100}, "(used_now)": {3, 512 + 2560, 24}, "(used_max)": {3, 2560, 23}, "p2": {1, 512, 1}}
	for _, r := range res {
		r := r["resource"].(map[string]any)
		if w, ok := want[r["project"].(string)]; ok && (r["cpu"] != w[0] || r["memory_mb"] != w[1] || r["disk_gb"] != w[2]) {
			t.Errorf("%v, want %v", r, w)
		}
	}
	wantFault(t, tc.do(t, "2.1", "GET", "/v2.1/os-hosts/nowhere", nil), 404)
	wantFault(t, tc.doAs(t, tc.demoToken, "2.1", "GET", "/v2.1/os-hosts", nil), 403)
}

func FuzzQuerySchema(f *testing.F) {
	for _, s := range []string{"limit=1&marker=x", "limit=-1", "with_servers=True", "hypervisor_hostname_pattern=a%20b",
		"changes-since=2026-01-01T00:00:00Z", "changes-since=2026-13-01", "foo=1&bar=2", "limit=1&limit=2", "%ff=1", "a=%ff"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, raw string, strict bool) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		schema := querySchema{strict: strict, params: map[string]queryParam{
			"limit":                       {kind: qNonNegInt, single: true},
			"marker":                      {kind: qString, single: true},
			"with_servers":                {kind: qBool, single: true},
			"hypervisor_hostname_pattern": {kind: qFQDN, single: true},
			"changes-since":               {kind: qDateTime, single: true},
			"status":                      {kind: qString},
		}}
		err = schema.validate(q)
		if err == nil {
			// Whatever passed must be usable by the readers.
			if v, ok := queryLast(q, "limit"); ok {
				if _, _, _, lerr := (&Service{cfg: Config{ListLimitMax: 1000}}).limitAndMarker(q); lerr != nil {
					t.Fatalf("limit %q passed the schema but not the reader: %v", v, lerr)
				}
			}
			if v, ok := queryLast(q, "changes-since"); ok {
				if _, perr := parseISOTime(v); perr != nil {
					t.Fatalf("changes-since %q passed", v)
				}
			}
			return
		}
		if e := api.AsError(err); e == nil || e.Status != 400 {
			t.Fatalf("%q: %v is not a 400", raw, err)
		}
	})
}

func FuzzParseISOTime(f *testing.F) {
	for _, s := range []string{"2026-01-01", "2026-01-01T10:00", "2026-01-01T10:00:00.123Z", "20260101T100000+0100",
		"2026-01-01 10:00:00-05:30", "2026-02-29T00:00:00", "2024-02-29", "x", "2026-01-01T24:00:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseISOTime(s)
		if err != nil {
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("%q: not UTC", s)
		}
		// A canonical rendering parses back to the same instant.
		back, err := parseISOTime(got.Format("2006-01-02T15:04:05.999999999Z"))
		if err != nil || !back.Equal(got) {
			t.Fatalf("%q: %v round trips to %v (%v)", s, got, back, err)
		}
	})
}

func TestUsageAuditLog(t *testing.T) {
	tc := newTestCloud(t)
	tc.addHost(t, "cmp1", 8, 16384, 100)
	tc.addHost(t, "cmp2", 8, 16384, 100)
	keys := []string{"hosts_not_run", "log", "num_hosts", "num_hosts_done", "num_hosts_not_run", "num_hosts_running",
		"overall_status", "period_beginning", "period_ending", "total_errors", "total_instances"}
	l := tc.do(t, "2.1", "GET", "/v2.1/os-instance_usage_audit_log", nil).want(t, 200).obj("instance_usage_audit_logs")
	wantKeys(t, "audit", l, keys...)
	if l["num_hosts"] != float64(2) || l["overall_status"] != "0 of 2 hosts done. 0 errors." {
		t.Fatal(l)
	}
	s := tc.do(t, "2.1", "GET", "/v2.1/os-instance_usage_audit_log/2026-03-15%2010:00:00", nil).want(t, 200).obj("instance_usage_audit_log")
	if s["period_beginning"] != "2026-02-01 00:00:00" || s["period_ending"] != "2026-03-01 00:00:00" {
		t.Fatal(s)
	}
	s = tc.do(t, "2.1", "GET", "/v2.1/os-instance_usage_audit_log/2026-01-01%2000:00:00.0", nil).want(t, 200).obj("instance_usage_audit_log")
	if s["period_beginning"] != "2025-11-01 00:00:00" || s["period_ending"] != "2025-12-01 00:00:00" {
		t.Fatal(s)
	}
	wantFault(t, tc.do(t, "2.1", "GET", "/v2.1/os-instance_usage_audit_log/yesterday", nil), 400)
	wantFault(t, tc.doAs(t, tc.demoToken, "2.1", "GET", "/v2.1/os-instance_usage_audit_log", nil), 403)
}
