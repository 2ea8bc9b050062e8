package compute

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// addTestInstance stores a live (or deleted) instance with the given size for usage
// counting.
func addTestInstance(t *testing.T, tc *testCloud, project, user string, vcpus, ram int64, deleted bool) string {
	t.Helper()
	ctx := context.Background()
	uuid := api.NewUUID()
	err := tc.db.InTx(ctx, func(tx *store.Tx) error {
		id, err := nextID(ctx, tx, "instances")
		if err != nil {
			return err
		}
		return insertInstance(ctx, tx, &Instance{UUID: uuid, ID: id, ProjectID: project, UserID: user, Name: "vm",
			Flavor: FlavorSnapshot{ID: "x", Name: "x", VCPUs: vcpus, MemoryMB: ram}, VMState: "active",
			Deleted: deleted, CreatedAt: now()})
	})
	if err != nil {
		t.Fatal(err)
	}
	return uuid
}

func TestQuotaSetsShapes(t *testing.T) {
	tc := newTestCloud(t)
	p := tc.demoProjectID
	cases := []struct {
		ver  string
		keys int
	}{{"2.1", 14}, {"2.35", 14}, {"2.36", 10}, {"2.57", 7}, {"2.96", 7}}
	for _, c := range cases {
		qs := tc.doAs(t, tc.demoToken, c.ver, "GET", "/v2.1/os-quota-sets/"+p, nil).want(t, 200).obj("quota_set")
		if len(qs) != c.keys+1 || qs["id"] != p || qs["instances"].(float64) != 10 || qs["cores"].(float64) != 20 ||
			qs["ram"].(float64) != 51200 || qs["key_pairs"].(float64) != 100 || qs["server_group_members"].(float64) != 10 {
			t.Errorf("%s: %v", c.ver, qs)
		}
		d := tc.doAs(t, tc.demoToken, c.ver, "GET", "/v2.1/os-quota-sets/"+p+"/defaults", nil).want(t, 200).obj("quota_set")
		if len(d) != c.keys+1 {
			t.Errorf("%s defaults: %v", c.ver, d)
		}
	}
	qs := tc.doAs(t, tc.demoToken, "2.1", "GET", "/v2.1/os-quota-sets/"+p, nil).obj("quota_set")
	if qs["injected_files"].(float64) != 5 || qs["floating_ips"].(float64) != -1 || qs["metadata_items"].(float64) != 128 {
		t.Errorf("legacy %v", qs)
	}
	// Another project's quotas are not the demo user's to read.
	tc.doAs(t, tc.altToken, "2.1", "GET", "/v2.1/os-quota-sets/"+p, nil).want(t, 403)
	tc.doAs(t, tc.altToken, "2.1", "GET", "/v2.1/os-quota-sets/"+p+"/defaults", nil).want(t, 200)
	tc.doAs(t, tc.demoToken, "2.75", "GET", "/v2.1/os-quota-sets/"+p+"?bogus=1", nil).want(t, 400)
}

func TestQuotaUpdateAndDetail(t *testing.T) {
	tc := newTestCloud(t)
	p := tc.demoProjectID
	put := func(ver, q string, body any) resp {
		return tc.do(t, ver, "PUT", "/v2.1/os-quota-sets/"+p+q, body)
	}
	tc.doAs(t, tc.demoToken, "2.1", "PUT", "/v2.1/os-quota-sets/"+p, map[string]any{"quota_set": map[string]any{"instances": 5}}).want(t, 403)
	r := put("2.1", "", map[string]any{"quota_set": map[string]any{"instances": 5, "cores": "8", "floating_ips": 3, "ram": nil}}).want(t, 200)
	qs := r.obj("quota_set")
	if _, ok := qs["id"]; ok || qs["instances"].(float64) != 5 || qs["cores"].(float64) != 8 || qs["floating_ips"].(float64) != 3 {
		t.Errorf("update %v", qs)
	}
	for _, b := range []map[string]any{
		{"quota_set": map[string]any{"instances": -2}},
		{"quota_set": map[string]any{"instances": "x"}},
		{"quota_set": map[string]any{"instances": 1.5}},
		{"quota_set": map[string]any{"bogus": 1}},
		{"quota_set": map[string]any{"instances": 2147483648}},
		{"quota_set": map[string]any{"force": "maybe"}},
		{"other": 1},
	} {
		put("2.1", "", b).want(t, 400)
	}
	put("2.36", "", map[string]any{"quota_set": map[string]any{"floating_ips": 1}}).want(t, 400)
	put("2.57", "", map[string]any{"quota_set": map[string]any{"injected_files": 1}}).want(t, 400)
	// Usage bounds the limit unless forced.
	addTestInstance(t, tc, p, tc.demoUserID, 2, 1024, false)
	addTestInstance(t, tc, p, tc.demoUserID, 2, 1024, false)
	addTestInstance(t, tc, p, tc.demoUserID, 8, 4096, true)
	put("2.1", "", map[string]any{"quota_set": map[string]any{"instances": 1}}).want(t, 400)
	put("2.1", "", map[string]any{"quota_set": map[string]any{"instances": -1}}).want(t, 200)
	put("2.1", "", map[string]any{"quota_set": map[string]any{"instances": 1, "force": true}}).want(t, 200)
	d := tc.doAs(t, tc.demoToken, "2.1", "GET", "/v2.1/os-quota-sets/"+p+"/detail", nil).want(t, 200).obj("quota_set")
	inst := d["instances"].(map[string]any)
	cores := d["cores"].(map[string]any)
	ram := d["ram"].(map[string]any)
	if inst["in_use"].(float64) != 2 || inst["limit"].(float64) != 1 || inst["reserved"].(float64) != 0 ||
		cores["in_use"].(float64) != 4 || ram["in_use"].(float64) != 2048 {
		t.Errorf("detail %v", d)
	}
	// Per-user quotas: bounded by what the project has left.
	put("2.1", "", map[string]any{"quota_set": map[string]any{"cores": 10}}).want(t, 200)
	put("2.1", "?user_id="+tc.demoUserID, map[string]any{"quota_set": map[string]any{"cores": 11}}).want(t, 400)
	put("2.1", "?user_id="+tc.demoUserID, map[string]any{"quota_set": map[string]any{"cores": 3}}).want(t, 400)
	put("2.1", "?user_id="+tc.demoUserID, map[string]any{"quota_set": map[string]any{"cores": 6}}).want(t, 200)
	u := tc.do(t, "2.1", "GET", "/v2.1/os-quota-sets/"+p+"?user_id="+tc.demoUserID, nil).want(t, 200).obj("quota_set")
	if u["cores"].(float64) != 6 || u["instances"].(float64) != 1 {
		t.Errorf("user quotas %v", u)
	}
	// The project may not drop below its users' sum.
	put("2.1", "", map[string]any{"quota_set": map[string]any{"cores": 5}}).want(t, 400)
	tc.do(t, "2.1", "DELETE", "/v2.1/os-quota-sets/"+p+"?user_id="+tc.demoUserID, nil).want(t, 202)
	u = tc.do(t, "2.1", "GET", "/v2.1/os-quota-sets/"+p+"?user_id="+tc.demoUserID, nil).want(t, 200).obj("quota_set")
	if u["cores"].(float64) != 10 {
		t.Errorf("after user delete %v", u)
	}
	tc.doAs(t, tc.demoToken, "2.1", "DELETE", "/v2.1/os-quota-sets/"+p, nil).want(t, 403)
	tc.do(t, "2.1", "DELETE", "/v2.1/os-quota-sets/"+p, nil).want(t, 202)
	qs = tc.do(t, "2.1", "GET", "/v2.1/os-quota-sets/"+p, nil).want(t, 200).obj("quota_set")
	if qs["cores"].(float64) != 20 || qs["instances"].(float64) != 10 {
		t.Errorf("after delete %v", qs)
	}
}

func TestQuotaClasses(t *testing.T) {
	tc := newTestCloud(t)
	tc.doAs(t, tc.demoToken, "2.1", "GET", "/v2.1/os-quota-class-sets/default", nil).want(t, 403)
	for _, c := range []struct {
		ver  string
		keys int
	}{{"2.1", 12}, {"2.50", 10}, {"2.57", 7}} {
		q := tc.do(t, c.ver, "GET", "/v2.1/os-quota-class-sets/default", nil).want(t, 200).obj("quota_class_set")
		if len(q) != c.keys+1 || q["id"] != "default" {
			t.Errorf("%s: %d %v", c.ver, len(q), q)
		}
	}
	r := tc.do(t, "2.57", "PUT", "/v2.1/os-quota-class-sets/default", map[string]any{"quota_class_set": map[string]any{"instances": 3, "server_groups": 2}}).want(t, 200)
	if q := r.obj("quota_class_set"); q["instances"].(float64) != 3 || q["server_groups"].(float64) != 2 {
		t.Errorf("class update %v", q)
	}
	tc.do(t, "2.57", "PUT", "/v2.1/os-quota-class-sets/default", map[string]any{"quota_class_set": map[string]any{"injected_files": 3}}).want(t, 400)
	tc.do(t, "2.49", "PUT", "/v2.1/os-quota-class-sets/default", map[string]any{"quota_class_set": map[string]any{"fixed_ips": 3}}).want(t, 200)
	// The default class is every project's default.
	qs := tc.doAs(t, tc.demoToken, "2.1", "GET", "/v2.1/os-quota-sets/"+tc.demoProjectID, nil).want(t, 200).obj("quota_set")
	if qs["instances"].(float64) != 3 || qs["fixed_ips"].(float64) != 3 {
		t.Errorf("defaults from class %v", qs)
	}
}

func TestLimits(t *testing.T) {
	tc := newTestCloud(t)
	addTestInstance(t, tc, tc.demoProjectID, tc.demoUserID, 2, 1024, false)
	cases := []struct {
		ver     string
		present []string
		absent  []string
	}{
		{"2.1", []string{"maxTotalFloatingIps", "maxImageMeta", "maxPersonality", "maxSecurityGroups", "totalFloatingIpsUsed"}, nil},
		{"2.36", []string{"maxImageMeta", "maxPersonality"}, []string{"maxTotalFloatingIps", "maxSecurityGroups", "totalSecurityGroupsUsed"}},
		{"2.39", []string{"maxPersonality"}, []string{"maxImageMeta"}},
		{"2.57", []string{"maxServerGroupMembers", "totalServerGroupsUsed"}, []string{"maxPersonality", "maxPersonalitySize"}},
	}
	for _, c := range cases {
		r := tc.doAs(t, tc.demoToken, c.ver, "GET", "/v2.1/limits", nil).want(t, 200)
		l := r.obj("limits")
		abs := l["absolute"].(map[string]any)
		if rate, ok := l["rate"].([]any); !ok || len(rate) != 0 {
			t.Errorf("rate %v", l["rate"])
		}
		for _, k := range c.present {
			if _, ok := abs[k]; !ok {
				t.Errorf("%s lacks %s", c.ver, k)
			}
		}
		for _, k := range c.absent {
			if _, ok := abs[k]; ok {
				t.Errorf("%s has %s", c.ver, k)
			}
		}
		if abs["totalInstancesUsed"].(float64) != 1 || abs["totalCoresUsed"].(float64) != 2 || abs["totalRAMUsed"].(float64) != 1024 ||
			abs["maxTotalInstances"].(float64) != 10 || abs["maxTotalKeypairs"].(float64) != 100 {
			t.Errorf("%s absolute %v", c.ver, abs)
		}
	}
	tc.doAs(t, tc.demoToken, "2.1", "GET", "/v2.1/limits?tenant_id="+tc.demoProjectID, nil).want(t, 403)
	abs := tc.do(t, "2.1", "GET", "/v2.1/limits?tenant_id="+tc.demoProjectID, nil).want(t, 200).obj("limits")["absolute"].(map[string]any)
	if abs["totalInstancesUsed"].(float64) != 1 {
		t.Errorf("admin view %v", abs)
	}
	tc.doAs(t, tc.demoToken, "2.75", "GET", "/v2.1/limits?foo=1", nil).want(t, 400)
}

func TestCheckQuotaInstances(t *testing.T) {
	tc := newTestCloud(t)
	ctx := context.Background()
	p, u := tc.demoProjectID, tc.demoUserID
	for i := 0; i < 10; i++ {
		addTestInstance(t, tc, p, u, 1, 512, false)
	}
	check := func(deltas map[string]int64) error {
		return tc.db.InTx(ctx, func(tx *store.Tx) error { return tc.svc.checkQuota(ctx, tx, p, u, deltas) })
	}
	err := check(map[string]int64{"instances": 1, "cores": 1, "ram": 512})
	if e := api.AsError(err); e == nil || e.Status != 403 || e.Message != "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances" {
		t.Fatalf("err %v", err)
	}
	tc.do(t, "2.1", "PUT", "/v2.1/os-quota-sets/"+p, map[string]any{"quota_set": map[string]any{"instances": 20}}).want(t, 200)
	err = check(map[string]int64{"instances": 2, "cores": 11, "ram": 1024})
	if e := api.AsError(err); e == nil || e.Message != "Quota exceeded for cores: Requested 11, but already used 10 of 20 cores" {
		t.Fatalf("err %v", err)
	}
	if err := check(map[string]int64{"instances": 2, "cores": 10, "ram": 1024, "metadata_items": 128}); err != nil {
		t.Fatal(err)
	}
	if e := api.AsError(check(map[string]int64{"metadata_items": 129})); e.Status != 403 || e.Message != "Maximum number of metadata items exceeds 128" {
		t.Errorf("metadata %v", e)
	}
	if e := api.AsError(check(map[string]int64{"server_group_members": 11})); e.Status != 403 {
		t.Errorf("members %v", e)
	}
	if err := check(map[string]int64{"bogus": 1}); err == nil {
		t.Errorf("unknown resource accepted")
	}
}

func TestKeypairQuotaRace(t *testing.T) {
	tc := newTestCloud(t)
	pub, _ := testPublicKey(t)
	tc.do(t, "2.1", "PUT", "/v2.1/os-quota-sets/"+tc.demoProjectID, map[string]any{"quota_set": map[string]any{"key_pairs": 10}}).want(t, 200)
	const n = 50
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := tc.doAs(t, tc.demoToken, "2.2", "POST", "/v2.1/os-keypairs",
				map[string]any{"keypair": map[string]any{"name": fmt.Sprintf("k%02d", i), "public_key": pub}})
			codes[i] = r.code
		}()
	}
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	if count[201] != 10 || count[403] != n-10 {
		t.Fatalf("statuses %v", count)
	}
	r := tc.doAs(t, tc.demoToken, "2.2", "POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "more", "public_key": pub}}).want(t, 403)
	if msg := r.obj("forbidden")["message"]; msg != "Quota exceeded, too many key pairs." {
		t.Errorf("message %v", msg)
	}
}
