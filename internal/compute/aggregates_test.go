package compute

import (
	"context"
	"strings"
	"testing"
)

func TestAggregates(t *testing.T) {
	tc := newTestCloud(t)
	tc.addHost(t, "cmp1", 8, 16384, 100)
	tc.addHost(t, "cmp2", 8, 16384, 100)
	agg := func(ver, method, path string, body any) resp {
		t.Helper()
		return tc.do(t, ver, method, "/v2.1/os-aggregates"+path, body)
	}
	action := func(id, name string, body map[string]any) resp {
		t.Helper()
		return agg("2.41", "POST", "/"+id+"/action", map[string]any{name: body})
	}
	full := []string{"availability_zone", "created_at", "deleted", "deleted_at", "hosts", "id", "metadata", "name", "updated_at"}

	created := agg("2.1", "POST", "", map[string]any{"aggregate": map[string]any{"name": "rack1", "availability_zone": "az1"}}).want(t, 200).obj("aggregate")
	wantKeys(t, "create 2.1", created, "availability_zone", "created_at", "deleted", "deleted_at", "id", "name", "updated_at")
	id1 := jsonID(created["id"])
	c241 := agg("2.41", "POST", "", map[string]any{"aggregate": map[string]any{"name": "  rack2  "}})
	wantFault(t, c241, 400) // create names may not have leading or trailing spaces
	c241 = agg("2.41", "POST", "", map[string]any{"aggregate": map[string]any{"name": "rack2", "availability_zone": nil}}).want(t, 200)
	wantKeys(t, "create 2.41", c241.obj("aggregate"), "availability_zone", "created_at", "deleted", "deleted_at", "id", "name", "updated_at", "uuid")
	id2 := jsonID(c241.obj("aggregate")["id"])

	t.Run("create refusals", func(t *testing.T) {
		for _, tt := range []struct {
			body   any
			status int
		}{
			{map[string]any{"aggregate": map[string]any{"name": "rack1"}}, 409},
			{map[string]any{"aggregate": map[string]any{"name": ""}}, 400},
			{map[string]any{"aggregate": map[string]any{"name": strings.Repeat("n", 256)}}, 400},
			{map[string]any{"aggregate": map[string]any{"name": "x", "availability_zone": "a:b"}}, 400},
			{map[string]any{"aggregate": map[string]any{"name": "x", "availability_zone": strings.Repeat("z", 256)}}, 400},
			{map[string]any{"aggregate": map[string]any{"name": "x", "foo": 1}}, 400},
			{map[string]any{"aggregate": map[string]any{"availability_zone": "z"}}, 400},
			{map[string]any{"aggregate": map[string]any{"name": 5}}, 400},
			{map[string]any{"aggregate": map[string]any{"name": "bad\u0007name"}}, 400},
			{map[string]any{"aggregate": "x"}, 400},
			{map[string]any{}, 400},
			{map[string]any{"aggregate": map[string]any{"name": "x"}, "extra": 1}, 400},
		} {
			wantFault(t, agg("2.1", "POST", "", tt.body), tt.status)
		}
		wantFault(t, tc.doAs(t, tc.demoToken, "2.1", "POST", "/v2.1/os-aggregates", map[string]any{"aggregate": map[string]any{"name": "x"}}), 403)
		wantFault(t, tc.doAs(t, tc.demoToken, "2.1", "GET", "/v2.1/os-aggregates", nil), 403)
	})

	t.Run("show and list", func(t *testing.T) {
		a := agg("2.1", "GET", "/"+id1, nil).want(t, 200).obj("aggregate")
		wantKeys(t, "show", a, full...)
		if a["availability_zone"] != "az1" || a["metadata"].(map[string]any)["availability_zone"] != "az1" || a["deleted"] != false {
			t.Fatal(a)
		}
		if !strings.Contains(a["created_at"].(string), "T") || strings.HasSuffix(a["created_at"].(string), "Z") {
			t.Fatalf("created_at %v", a["created_at"])
		}
		list := agg("2.41", "GET", "", nil).want(t, 200).list("aggregates")
		if len(list) != 2 || list[0]["name"] != "rack1" || list[1]["availability_zone"] != nil {
			t.Fatal(list)
		}
		wantKeys(t, "list 2.41", list[0], append(full, "uuid")...)
		wantFault(t, agg("2.1", "GET", "/abc", nil), 400)
		wantFault(t, agg("2.1", "GET", "/9999", nil), 404)
	})

	t.Run("hosts and zones", func(t *testing.T) {
		a := action(id1, "add_host", map[string]any{"host": "cmp1"}).want(t, 200).obj("aggregate")
		if hosts := a["hosts"].([]any); len(hosts) != 1 || hosts[0] != "cmp1" {
			t.Fatal(a)
		}
		wantFault(t, action(id1, "add_host", map[string]any{"host": "cmp1"}), 409)     // already there
		wantFault(t, action(id1, "add_host", map[string]any{"host": "nowhere"}), 404)  // unknown host
		wantFault(t, action("9999", "add_host", map[string]any{"host": "cmp1"}), 404)  // unknown aggregate
		wantFault(t, action(id1, "add_host", map[string]any{"host": "bad host"}), 400) // schema
		wantFault(t, action(id1, "add_host", map[string]any{"host": "cmp1", "x": 1}), 400)
		wantFault(t, agg("2.1", "POST", "/"+id1+"/action", map[string]any{"frob": map[string]any{}}), 400)
		// rack2 gets zone az2: cmp1 cannot join it since it is in az1.
		action(id2, "set_metadata", map[string]any{"metadata": map[string]any{"availability_zone": "az2", "ssd": "true"}}).want(t, 200)
		msg := wantFault(t, action(id2, "add_host", map[string]any{"host": "cmp1"}), 409)
		if !strings.Contains(msg, "already in availability zone(s)") {
			t.Fatal(msg)
		}
		action(id2, "add_host", map[string]any{"host": "cmp2"}).want(t, 200)
		// The zone of an aggregate whose host is in another zone cannot take that zone's
		// name away from it either.
		wantFault(t, agg("2.1", "PUT", "/"+id1, map[string]any{"aggregate": map[string]any{"availability_zone": ""}}), 400)
		wantFault(t, action(id1, "set_metadata", map[string]any{"metadata": map[string]any{"availability_zone": nil}}), 400)
		zones, err := tc.svc.hostZones(context.Background(), tc.db)
		if err != nil || zones["cmp1"] != "az1" || zones["cmp2"] != "az2" {
			t.Fatalf("zones %v %v", zones, err)
		}
		// A host with instances cannot change zone.
		tc.addInstance(t, instanceOpts{host: "cmp2"})
		msg = wantFault(t, action(id2, "remove_host", map[string]any{"host": "cmp2"}), 409)
		if !strings.Contains(msg, "would change from 'az2' to 'None'") {
			t.Fatal(msg)
		}
		msg = wantFault(t, agg("2.1", "PUT", "/"+id2, map[string]any{"aggregate": map[string]any{"availability_zone": "az3"}}), 400)
		if !strings.Contains(msg, "contain instances") {
			t.Fatal(msg)
		}
		// Same zone is fine.
		agg("2.1", "PUT", "/"+id2, map[string]any{"aggregate": map[string]any{"availability_zone": "az2"}}).want(t, 200)
		// Deleting an aggregate with hosts is refused.
		wantFault(t, agg("2.1", "DELETE", "/"+id1, nil), 400)
		// Nova checks the zone move before membership.
		wantFault(t, action(id1, "remove_host", map[string]any{"host": "cmp2"}), 409)
		wantFault(t, action(id2, "remove_host", map[string]any{"host": "cmp1"}), 404)
		wantFault(t, action(id1, "remove_host", map[string]any{"host": "nowhere"}), 404)
		a = action(id1, "remove_host", map[string]any{"host": "cmp1"}).want(t, 200).obj("aggregate")
		if len(a["hosts"].([]any)) != 0 {
			t.Fatal(a)
		}
		agg("2.1", "DELETE", "/"+id1, nil).want(t, 200)
		wantFault(t, agg("2.1", "DELETE", "/"+id1, nil), 404)
	})

	t.Run("update and metadata", func(t *testing.T) {
		a := agg("2.41", "PUT", "/"+id2, map[string]any{"aggregate": map[string]any{"name": "  renamed "}}).want(t, 200).obj("aggregate")
		if a["name"] != "renamed" || a["updated_at"] == nil {
			t.Fatal(a)
		}
		agg("2.1", "POST", "", map[string]any{"aggregate": map[string]any{"name": "other"}}).want(t, 200)
		wantFault(t, agg("2.1", "PUT", "/"+id2, map[string]any{"aggregate": map[string]any{"name": "other"}}), 409)
		wantFault(t, agg("2.1", "PUT", "/"+id2, map[string]any{"aggregate": map[string]any{}}), 400)
		wantFault(t, agg("2.1", "PUT", "/9999", map[string]any{"aggregate": map[string]any{"name": "n"}}), 404)
		a = action(id2, "set_metadata", map[string]any{"metadata": map[string]any{"ssd": nil, "gpu": "1", "gone": nil}}).want(t, 200).obj("aggregate")
		md := a["metadata"].(map[string]any)
		if _, ok := md["ssd"]; ok || md["gpu"] != "1" || md["availability_zone"] != "az2" {
			t.Fatal(md)
		}
		for _, body := range []map[string]any{
			{"metadata": map[string]any{"bad/key": "v"}},
			{"metadata": map[string]any{"k": 5}},
			{"metadata": map[string]any{"k": strings.Repeat("v", 256)}},
			{"metadata": "x"},
			{},
		} {
			wantFault(t, action(id2, "set_metadata", body), 400)
		}
	})

	t.Run("images", func(t *testing.T) {
		img := map[string]any{"cache": []any{map[string]any{"id": api0UUID}}}
		wantFault(t, agg("2.80", "POST", "/"+id2+"/images", img), 404)
		agg("2.81", "POST", "/"+id2+"/images", img).want(t, 202)
		wantFault(t, agg("2.81", "POST", "/9999/images", img), 404)
		wantFault(t, agg("2.81", "POST", "/"+id2+"/images", map[string]any{"cache": []any{}}), 400)
		wantFault(t, agg("2.81", "POST", "/"+id2+"/images", map[string]any{"cache": []any{map[string]any{"id": "nope"}}}), 400)
		dup := map[string]any{"cache": []any{map[string]any{"id": api0UUID}, map[string]any{"id": api0UUID}}}
		wantFault(t, agg("2.81", "POST", "/"+id2+"/images", dup), 400)
	})
}

func TestAvailabilityZones(t *testing.T) {
	tc := newTestCloud(t)
	ctx := context.Background()
	tc.addHost(t, "cmp1", 8, 16384, 100)
	tc.addHost(t, "cmp2", 8, 16384, 100)
	tc.addHost(t, "cmp3", 8, 16384, 100)
	if err := tc.svc.heartbeat(ctx, "ctl", BinaryConductor); err != nil {
		t.Fatal(err)
	}
	a := tc.do(t, "2.1", "POST", "/v2.1/os-aggregates", map[string]any{"aggregate": map[string]any{"name": "a", "availability_zone": "az1"}}).want(t, 200).obj("aggregate")
	tc.do(t, "2.1", "POST", "/v2.1/os-aggregates/"+jsonID(a["id"])+"/action", map[string]any{"add_host": map[string]any{"host": "cmp1"}}).want(t, 200)
	b := tc.do(t, "2.1", "POST", "/v2.1/os-aggregates", map[string]any{"aggregate": map[string]any{"name": "b", "availability_zone": "az2"}}).want(t, 200).obj("aggregate")
	tc.do(t, "2.1", "POST", "/v2.1/os-aggregates/"+jsonID(b["id"])+"/action", map[string]any{"add_host": map[string]any{"host": "cmp3"}}).want(t, 200)
	// cmp3's service is disabled: az2 is unavailable.
	tc.do(t, "2.1", "PUT", "/v2.1/os-services/disable", map[string]any{"host": "cmp3", "binary": "nova-compute"}).want(t, 200)

	// Everyone may list zones; hosts are never shown there.
	info := tc.doAs(t, tc.demoToken, "2.1", "GET", "/v2.1/os-availability-zone", nil).want(t, 200).list("availabilityZoneInfo")
	got := map[string]bool{}
	for _, z := range info {
		wantKeys(t, "zone", z, "zoneName", "zoneState", "hosts")
		if z["hosts"] != nil {
			t.Fatal(z)
		}
		got[z["zoneName"].(string)] = z["zoneState"].(map[string]any)["available"].(bool)
	}
	if len(got) != 3 || !got["az1"] || !got["nova"] || got["az2"] {
		t.Fatalf("zones %v", got)
	}
	if info[len(info)-1]["zoneName"] != "az2" {
		t.Fatalf("unavailable zones come last: %v", info)
	}

	wantFault(t, tc.doAs(t, tc.demoToken, "2.1", "GET", "/v2.1/os-availability-zone/detail", nil), 403)
	detail := tc.do(t, "2.1", "GET", "/v2.1/os-availability-zone/detail", nil).want(t, 200).list("availabilityZoneInfo")
	byName := map[string]map[string]any{}
	for _, z := range detail {
		byName[z["zoneName"].(string)] = z
	}
	internal := byName["internal"]
	if internal == nil {
		t.Fatalf("internal zone missing: %v", detail)
	}
	svc := internal["hosts"].(map[string]any)["ctl"].(map[string]any)["nova-conductor"].(map[string]any)
	wantKeys(t, "service", svc, "available", "active", "updated_at")
	if svc["available"] != true || svc["active"] != true {
		t.Fatal(svc)
	}
	if byName["az2"]["hosts"] != nil || byName["az2"]["zoneState"].(map[string]any)["available"] != false {
		t.Fatal(byName["az2"])
	}
	if _, ok := byName["nova"]["hosts"].(map[string]any)["cmp2"]; !ok {
		t.Fatal(byName["nova"])
	}
}
