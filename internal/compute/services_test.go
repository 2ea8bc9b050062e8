package compute

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/store"
)

func TestServices(t *testing.T) {
	tc := newTestCloud(t)
	ctx := context.Background()
	tc.addHost(t, "cmp1", 8, 16384, 100)
	tc.addHost(t, "cmp2", 8, 16384, 100)
	for _, b := range []string{BinaryConductor, BinaryScheduler} {
		if err := tc.svc.heartbeat(ctx, "ctl", b); err != nil {
			t.Fatal(err)
		}
	}
	// A second report bumps the count rather than adding a record.
	if err := tc.svc.heartbeat(ctx, "cmp1", BinaryCompute); err != nil {
		t.Fatal(err)
	}
	var count int64
	if err := tc.db.QueryRowContext(ctx, `SELECT report_count FROM compute_services WHERE host = 'cmp1'`).Scan(&count); err != nil || count != 2 {
		t.Fatalf("report_count %d, %v", count, err)
	}
	// cmp2 went silent long ago.
	tc.exec(t, `UPDATE compute_services SET last_seen_up = ? WHERE host = 'cmp2'`, store.FormatTime(now().Add(-time.Hour)))
	// cmp1 is in zone az1 through an aggregate.
	agg := tc.do(t, "2.1", "POST", "/v2.1/os-aggregates", map[string]any{"aggregate": map[string]any{"name": "a1", "availability_zone": "az1"}}).want(t, 200).obj("aggregate")
	tc.do(t, "2.1", "POST", "/v2.1/os-aggregates/"+jsonID(agg["id"])+"/action", map[string]any{"add_host": map[string]any{"host": "cmp1"}}).want(t, 200)

	t.Run("list per version", func(t *testing.T) {
		base := []string{"binary", "disabled_reason", "host", "id", "state", "status", "updated_at", "zone"}
		for _, tt := range []struct {
			ver  string
			keys []string
			uuid bool
		}{
			{"2.1", base, false},
			{"2.11", append(base, "forced_down"), false},
			{"2.53", append(base, "forced_down"), true},
			{"2.96", append(base, "forced_down"), true},
		} {
			svcs := tc.do(t, tt.ver, "GET", "/v2.1/os-services", nil).want(t, 200).list("services")
			if len(svcs) != 4 {
				t.Fatalf("%s: %d services", tt.ver, len(svcs))
			}
			for _, sv := range svcs {
				wantKeys(t, tt.ver+" service", sv, tt.keys...)
				_, isString := sv["id"].(string)
				if isString != tt.uuid {
					t.Fatalf("%s: id %v", tt.ver, sv["id"])
				}
			}
		}
		byHost := map[string]map[string]any{}
		for _, sv := range tc.do(t, "2.53", "GET", "/v2.1/os-services", nil).list("services") {
			byHost[sv["host"].(string)+"/"+sv["binary"].(string)] = sv
		}
		for key, want := range map[string][2]string{
			"cmp1/nova-compute":  {"up", "az1"},
			"cmp2/nova-compute":  {"down", "nova"},
			"ctl/nova-conductor": {"up", "internal"},
			"ctl/nova-scheduler": {"up", "internal"},
		} {
			sv := byHost[key]
			if sv == nil || sv["state"] != want[0] || sv["zone"] != want[1] || sv["status"] != "enabled" {
				t.Fatalf("%s: %v", key, sv)
			}
		}
	})

	t.Run("filters", func(t *testing.T) {
		if n := len(tc.do(t, "2.1", "GET", "/v2.1/os-services?host=ctl", nil).want(t, 200).list("services")); n != 2 {
			t.Fatalf("host filter: %d", n)
		}
		if n := len(tc.do(t, "2.1", "GET", "/v2.1/os-services?binary=nova-compute&host=cmp2", nil).want(t, 200).list("services")); n != 1 {
			t.Fatalf("host+binary filter: %d", n)
		}
		// Unknown parameters are ignored before 2.75 and refused after.
		tc.do(t, "2.74", "GET", "/v2.1/os-services?foo=1", nil).want(t, 200)
		wantFault(t, tc.do(t, "2.75", "GET", "/v2.1/os-services?foo=1", nil), 400)
	})

	t.Run("policy", func(t *testing.T) {
		wantFault(t, tc.doAs(t, tc.demoToken, "2.1", "GET", "/v2.1/os-services", nil), 403)
		wantFault(t, tc.doAs(t, tc.demoToken, "2.53", "PUT", "/v2.1/os-services/"+api0UUID, map[string]any{"status": "disabled"}), 403)
		wantFault(t, tc.doAs(t, tc.demoToken, "2.53", "DELETE", "/v2.1/os-services/"+api0UUID, nil), 403)
	})

	t.Run("legacy actions", func(t *testing.T) {
		body := map[string]any{"host": "cmp1", "binary": "nova-compute"}
		r := tc.do(t, "2.1", "PUT", "/v2.1/os-services/disable", body).want(t, 200).obj("service")
		wantKeys(t, "disable", r, "host", "binary", "status")
		if r["status"] != "disabled" {
			t.Fatal(r)
		}
		r = tc.do(t, "2.1", "PUT", "/v2.1/os-services/disable-log-reason",
			map[string]any{"host": "cmp1", "binary": "nova-compute", "disabled_reason": "maintenance"}).want(t, 200).obj("service")
		if r["disabled_reason"] != "maintenance" {
			t.Fatal(r)
		}
		wantFault(t, tc.do(t, "2.1", "PUT", "/v2.1/os-services/disable-log-reason", body), 400)
		r = tc.do(t, "2.1", "PUT", "/v2.1/os-services/enable", body).want(t, 200).obj("service")
		if r["status"] != "enabled" {
			t.Fatal(r)
		}
		// force-down exists from 2.11.
		fd := map[string]any{"host": "cmp1", "binary": "nova-compute", "forced_down": true}
		wantFault(t, tc.do(t, "2.10", "PUT", "/v2.1/os-services/force-down", fd), 400) // forced_down unknown to the schema
		r = tc.do(t, "2.11", "PUT", "/v2.1/os-services/force-down", fd).want(t, 200).obj("service")
		wantKeys(t, "force-down", r, "host", "binary", "forced_down")
		if r["forced_down"] != true {
			t.Fatal(r)
		}
		sv := tc.do(t, "2.11", "GET", "/v2.1/os-services?host=cmp1", nil).list("services")[0]
		if sv["state"] != "down" || sv["forced_down"] != true {
			t.Fatalf("forced down service: %v", sv)
		}
		fd["forced_down"] = "false"
		tc.do(t, "2.11", "PUT", "/v2.1/os-services/force-down", fd).want(t, 200)
		for _, tt := range []struct {
			ver, action string
			body        map[string]any
			status      int
		}{
			{"2.1", "bogus", body, 404},
			{"2.10", "force-down", map[string]any{"host": "cmp1", "binary": "nova-compute"}, 404},
			{"2.11", "force-down", body, 400},
			{"2.1", "enable", map[string]any{"host": "cmp1"}, 400},
			{"2.1", "enable", map[string]any{"host": "cmp1", "binary": "nova-compute", "x": 1}, 400},
			{"2.1", "enable", map[string]any{"host": "bad host!", "binary": "nova-compute"}, 400},
			{"2.1", "enable", map[string]any{"host": "ctl", "binary": "nova-conductor"}, 400},
			{"2.1", "enable", map[string]any{"host": "nowhere", "binary": "nova-compute"}, 404},
		} {
			wantFault(t, tc.do(t, tt.ver, "PUT", "/v2.1/os-services/"+tt.action, tt.body), tt.status)
		}
	})

	t.Run("2.53 update", func(t *testing.T) {
		var id, ctlID string
		for _, sv := range tc.do(t, "2.53", "GET", "/v2.1/os-services", nil).list("services") {
			switch sv["host"].(string) + "/" + sv["binary"].(string) {
			case "cmp1/nova-compute":
				id = sv["id"].(string)
			case "ctl/nova-conductor":
				ctlID = sv["id"].(string)
			}
		}
		r := tc.do(t, "2.53", "PUT", "/v2.1/os-services/"+id, map[string]any{"status": "disabled", "disabled_reason": "test"}).want(t, 200).obj("service")
		wantKeys(t, "2.53 update", r, "binary", "disabled_reason", "host", "id", "state", "status", "updated_at", "zone", "forced_down")
		if r["status"] != "disabled" || r["disabled_reason"] != "test" || r["zone"] != "az1" {
			t.Fatal(r)
		}
		r = tc.do(t, "2.53", "PUT", "/v2.1/os-services/"+id, map[string]any{"status": "enabled"}).want(t, 200).obj("service")
		if r["status"] != "enabled" || r["disabled_reason"] != nil {
			t.Fatal(r)
		}
		r = tc.do(t, "2.53", "PUT", "/v2.1/os-services/"+id, map[string]any{"forced_down": true}).want(t, 200).obj("service")
		if r["forced_down"] != true || r["state"] != "down" {
			t.Fatal(r)
		}
		// A done evacuation away from the host keeps it from being forced up.
		tc.exec(t, `INSERT INTO compute_migrations (id, uuid, instance_uuid, migration_type, status, source_compute,
			project_id, user_id, created_at) VALUES (900, 'e0000000-0000-4000-8000-000000000900', 'x', 'evacuation', 'done', 'cmp1', 'p', 'u', ?)`,
			store.FormatTime(now()))
		msg := wantFault(t, tc.do(t, "2.53", "PUT", "/v2.1/os-services/"+id, map[string]any{"forced_down": false}), 400)
		if !strings.Contains(msg, "evacuation") {
			t.Fatal(msg)
		}
		tc.exec(t, `DELETE FROM compute_migrations WHERE id = 900`)
		tc.do(t, "2.53", "PUT", "/v2.1/os-services/"+id, map[string]any{"forced_down": false}).want(t, 200)
		for _, tt := range []struct {
			id     string
			body   any
			status int
		}{
			{id, map[string]any{}, 400},
			{id, map[string]any{"disabled_reason": "x"}, 400},
			{id, map[string]any{"status": "enabled", "disabled_reason": "x"}, 400},
			{id, map[string]any{"status": "off"}, 400},
			{id, map[string]any{"forced_down": "maybe"}, 400},
			{id, map[string]any{"status": "disabled", "disabled_reason": ""}, 400},
			{id, map[string]any{"status": "disabled", "disabled_reason": strings.Repeat("r", 256)}, 400},
			{id, map[string]any{"host": "cmp1"}, 400},
			{id, `[]`, 400},
			{id, `{`, 400},
			{"not-a-uuid", map[string]any{"status": "disabled"}, 400},
			{api0UUID, map[string]any{"status": "disabled"}, 404},
			{ctlID, map[string]any{"status": "disabled"}, 400},
		} {
			wantFault(t, tc.do(t, "2.53", "PUT", "/v2.1/os-services/"+tt.id, tt.body), tt.status)
		}
	})

	t.Run("delete", func(t *testing.T) {
		svcs := tc.do(t, "2.52", "GET", "/v2.1/os-services?host=cmp2", nil).list("services")
		intID := jsonID(svcs[0]["id"])
		inst := tc.addInstance(t, instanceOpts{host: "cmp2"})
		msg := wantFault(t, tc.do(t, "2.52", "DELETE", "/v2.1/os-services/"+intID, nil), 409)
		if !strings.Contains(msg, "hosting instances") {
			t.Fatal(msg)
		}
		tc.exec(t, `UPDATE compute_instances SET deleted = TRUE WHERE uuid = ?`, inst.UUID)
		wantFault(t, tc.do(t, "2.52", "DELETE", "/v2.1/os-services/abc", nil), 400)
		wantFault(t, tc.do(t, "2.53", "DELETE", "/v2.1/os-services/"+intID, nil), 400)
		wantFault(t, tc.do(t, "2.53", "DELETE", "/v2.1/os-services/"+api0UUID, nil), 404)
		wantFault(t, tc.do(t, "2.52", "DELETE", "/v2.1/os-services/99999", nil), 404)
		tc.do(t, "2.52", "DELETE", "/v2.1/os-services/"+intID, nil).want(t, 204)
		if n := len(tc.do(t, "2.1", "GET", "/v2.1/os-services?host=cmp2", nil).list("services")); n != 0 {
			t.Fatalf("deleted service still listed")
		}
		// Its hypervisor went with it.
		var n int
		_ = tc.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM compute_nodes WHERE host = 'cmp2'`).Scan(&n)
		if n != 0 {
			t.Fatalf("compute node left behind")
		}
		// The conductor can be deleted by uuid at 2.53; its next report creates it again.
		for _, sv := range tc.do(t, "2.53", "GET", "/v2.1/os-services?binary=nova-conductor", nil).list("services") {
			tc.do(t, "2.53", "DELETE", "/v2.1/os-services/"+sv["id"].(string), nil).want(t, 204)
		}
		if err := tc.svc.heartbeat(ctx, "ctl", BinaryConductor); err != nil {
			t.Fatal(err)
		}
		if n := len(tc.do(t, "2.53", "GET", "/v2.1/os-services?binary=nova-conductor", nil).list("services")); n != 1 {
			t.Fatalf("conductor not back: %d", n)
		}
	})
}

// api0UUID is a well-formed uuid nothing has.
const api0UUID = "00000000-0000-4000-8000-000000000000"

// itoa renders a JSON number id.
func jsonID(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatInt(int64(f), 10)
	}
	return ""
}
