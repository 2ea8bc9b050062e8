package compute

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// waitHosts waits until n compute hosts are registered with their Placement inventory.
func (tc *testCloud) waitHosts(t testing.TB, n int) {
	t.Helper()
	waitUntil(t, "hosts registered", func() bool {
		var got int
		_ = tc.db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM compute_nodes n
			JOIN placement_inventories i ON i.provider_uuid = n.uuid AND i.resource_class = 'MEMORY_MB'`).Scan(&got)
		return got >= n
	})
}

// waitUntil polls cond every few milliseconds for up to 20 seconds.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(3 * time.Millisecond)
	}
}

// bootOpts shape a test server.
type bootOpts struct {
	name     string
	flavor   FlavorSnapshot
	meta     map[string]string
	request  RequestSpec
	group    string // server group uuid to join
	imageRef string
}

// conductorFlavor is a 1 vCPU, 512 MiB, 1 GiB flavor.
var conductorFlavor = FlavorSnapshot{ID: "1", Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, RootGB: 1, ExtraSpecs: map[string]string{}}

// boot inserts a server and its build task the way the servers API does (instance in
// BUILD/scheduling, a create action, the task) and wakes the conductor.
func (tc *testCloud) boot(t testing.TB, o bootOpts) string {
	t.Helper()
	ctx := context.Background()
	if o.flavor.ID == "" {
		o.flavor = conductorFlavor
	}
	if o.name == "" {
		o.name = "vm"
	}
	if o.imageRef == "" {
		if tc.imageID == "" {
			tc.imageID = tc.uploadImage(t, "conductor-image")
		}
		o.imageRef = tc.imageID
	}
	inst := &Instance{UUID: api.NewUUID(), ProjectID: "p1", UserID: "u1", Name: o.name, Hostname: o.name, ImageRef: o.imageRef,
		Flavor: o.flavor, VMState: VMBuilding, TaskState: TaskScheduling, Request: o.request, CreatedAt: now(),
		SystemMetadata: map[string]string{"image_disk_format": "raw", "image_container_format": "bare"}}
	err := tc.db.InTx(ctx, func(tx *store.Tx) error {
		id, err := nextID(ctx, tx, "instances")
		if err != nil {
			return err
		}
		inst.ID = id
		if err := insertInstance(ctx, tx, inst); err != nil {
			return err
		}
		for k, v := range o.meta {
			if _, err := tx.ExecContext(ctx, `INSERT INTO compute_instance_metadata (instance_uuid, key, value) VALUES (?, ?, ?)`,
				inst.UUID, k, v); err != nil {
				return err
			}
		}
		if o.group != "" {
			if _, err := tx.ExecContext(ctx, `INSERT INTO compute_server_group_members (group_uuid, instance_uuid) VALUES (?, ?)`,
				o.group, inst.UUID); err != nil {
				return err
			}
		}
		actionID, err := startAction(ctx, tx, inst.UUID, ActionCreate, "req-"+api.NewUUID(), "u1", "p1")
		if err != nil {
			return err
		}
		_, err = enqueueTask(ctx, tx, &Task{InstanceUUID: inst.UUID, Kind: TaskBuild, ActionID: actionID})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	tc.svc.wake.notify()
	return inst.UUID
}

// act queues an operation the way the server action APIs do: the task state Nova's API
// sets, an instance action and the task for the instance's host ("" when it has none, or
// for the kinds the conductor schedules), then wakes the runners.
func (tc *testCloud) act(t testing.TB, uuid string, kind TaskKind, action, taskState string, params map[string]any, mutate func(i *Instance)) {
	t.Helper()
	ctx := context.Background()
	err := tc.db.InTx(ctx, func(tx *store.Tx) error {
		inst, _, err := loadInstance(ctx, tx, uuid)
		if err != nil {
			return err
		}
		inst.TaskState = taskState
		if mutate != nil {
			mutate(inst)
		}
		if _, err := updateInstance(ctx, tx, inst, nil); err != nil {
			return err
		}
		actionID, err := startAction(ctx, tx, uuid, action, "req-"+api.NewUUID(), "u1", "p1")
		if err != nil {
			return err
		}
		host := deref(inst.Host)
		switch kind {
		case TaskResize, TaskMigrate, TaskUnshelve, TaskLiveMigrate, TaskEvacuate:
			host = ""
		}
		var p json.RawMessage
		if params != nil {
			p = json.RawMessage(mustJSON(params))
		}
		_, err = enqueueTask(ctx, tx, &Task{InstanceUUID: uuid, Kind: kind, Host: host, ActionID: actionID, Params: p})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	tc.svc.wake.notify()
}

// inst loads an instance.
func (tc *testCloud) inst(t testing.TB, uuid string) *Instance {
	t.Helper()
	i, found, err := loadInstance(context.Background(), tc.db, uuid)
	if err != nil || !found {
		t.Fatalf("load instance %s: %v %v", uuid, found, err)
	}
	return i
}

// waitStatus waits until the instance has the API status (and no task state).
func (tc *testCloud) waitStatus(t testing.TB, uuid, status string) *Instance {
	t.Helper()
	var last *Instance
	deadline := time.Now().Add(20 * time.Second)
	for {
		last = tc.inst(t, uuid)
		if last.Status() == status && last.TaskState == "" {
			return last
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s: status %s (vm %s, task %q), want %s; fault %q", uuid, last.Status(), last.VMState,
				last.TaskState, status, tc.fault(t, uuid))
		}
		time.Sleep(3 * time.Millisecond)
	}
}

// fault returns the newest fault message of an instance.
func (tc *testCloud) fault(t testing.TB, uuid string) string {
	var msg string
	_ = tc.db.QueryRowContext(context.Background(), `SELECT message FROM compute_instance_faults WHERE instance_uuid = ?
		ORDER BY id DESC LIMIT 1`, uuid).Scan(&msg)
	return msg
}

// events returns "name:result" of every event of the instance's actions, in order.
func (tc *testCloud) events(t testing.TB, uuid string) []string {
	t.Helper()
	rows, err := tc.db.QueryContext(context.Background(), `SELECT e.event, COALESCE(e.result, '') FROM compute_instance_action_events e
		JOIN compute_instance_actions a ON a.id = e.action_id WHERE a.instance_uuid = ? ORDER BY e.id`, uuid)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var e, r string
		if err := rows.Scan(&e, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, e+":"+r)
	}
	return out
}

// usage returns a host's Placement usage of a class.
func (tc *testCloud) usage(t testing.TB, host, rc string) int64 {
	t.Helper()
	var n int64
	err := tc.db.QueryRowContext(context.Background(), `SELECT i.used FROM placement_inventories i JOIN compute_nodes n
		ON n.uuid = i.provider_uuid WHERE n.host = ? AND i.resource_class = ?`, host, rc).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkUsageMatches fails unless every compute provider's usage is exactly the sum of
// the allocations of live instances and unfinished migrations.
func (tc *testCloud) checkUsageMatches(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	rows, err := tc.db.QueryContext(ctx, `SELECT i.provider_uuid, i.resource_class, i.used,
		COALESCE((SELECT SUM(a.used) FROM placement_allocations a WHERE a.provider_uuid = i.provider_uuid
			AND a.resource_class = i.resource_class AND (
				a.consumer_uuid IN (SELECT uuid FROM compute_instances WHERE deleted = ?)
				OR a.consumer_uuid IN (SELECT uuid FROM compute_migrations WHERE status NOT IN ('confirmed', 'reverted', 'error', 'completed', 'done', 'failed')))), 0)
		FROM placement_inventories i`, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var rp, rc string
		var used, sum int64
		if err := rows.Scan(&rp, &rc, &used, &sum); err != nil {
			t.Fatal(err)
		}
		if used != sum {
			t.Errorf("provider %s %s: usage %d, live allocations %d", rp, rc, used, sum)
		}
	}
}

func TestBuildAndLifecycle(t *testing.T) {
	tc := newTestCloud(t)
	drivers := tc.startCompute(t, 1)
	d := drivers["fake-host-1"]
	uuid := tc.boot(t, bootOpts{name: "web1"})
	inst := tc.waitStatus(t, uuid, "ACTIVE")
	if deref(inst.Host) != "fake-host-1" || deref(inst.Node) != "fake-host-1" || deref(inst.AvailabilityZone) != "nova" ||
		inst.PowerState != PowerRunning || inst.LaunchedAt == nil {
		t.Fatalf("built instance host %v node %v zone %v power %d launched %v", deref(inst.Host), deref(inst.Node),
			deref(inst.AvailabilityZone), inst.PowerState, inst.LaunchedAt)
	}
	if got := tc.usage(t, "fake-host-1", "MEMORY_MB"); got != 512 {
		t.Fatalf("MEMORY_MB usage %d", got)
	}
	if g, ok := d.Guest(uuid); !ok || g.Name != inst.InstanceName() {
		t.Fatalf("guest %+v %v", g, ok)
	}
	if ev := tc.events(t, uuid); strings.Join(ev, ",") != "conductor_schedule_and_build_instances:Success,compute__do_build_and_run_instance:Success" {
		t.Fatalf("events %v", ev)
	}
	var svcUp bool
	up, err := tc.svc.hostServiceUp(context.Background(), "fake-host-1")
	svcUp = up && err == nil
	if !svcUp {
		t.Fatalf("service not up: %v", err)
	}
	if drv, ok := tc.svc.hostDriver("fake-host-1"); !ok || drv == nil {
		t.Fatal("hostDriver does not know the host")
	}

	steps := []struct {
		kind        TaskKind
		action      string
		taskState   string
		params      map[string]any
		status      string
		power       int
		event       string
		driverState string
	}{
		{TaskStop, ActionStop, TaskPoweringOff, nil, "SHUTOFF", PowerShutdown, "compute_stop_instance", ""},
		{TaskStart, ActionStart, TaskPoweringOn, nil, "ACTIVE", PowerRunning, "compute_start_instance", ""},
		{TaskReboot, ActionReboot, TaskRebootingHard, map[string]any{"type": "HARD"}, "ACTIVE", PowerRunning, "compute_reboot_instance", ""},
		{TaskPause, ActionPause, TaskPausing, nil, "PAUSED", PowerPaused, "compute_pause_instance", ""},
		{TaskUnpause, ActionUnpause, TaskUnpausing, nil, "ACTIVE", PowerRunning, "compute_unpause_instance", ""},
		{TaskSuspend, ActionSuspend, TaskSuspending, nil, "SUSPENDED", PowerSuspended, "compute_suspend_instance", ""},
		{TaskResume, ActionResume, TaskResuming, nil, "ACTIVE", PowerRunning, "compute_resume_instance", ""},
		{TaskRescue, ActionRescue, TaskRescuing, nil, "RESCUE", PowerRunning, "compute_rescue_instance", ""},
		{TaskUnrescue, ActionUnrescue, TaskUnrescuing, nil, "ACTIVE", PowerRunning, "compute_unrescue_instance", ""},
		{TaskCrashDump, ActionTriggerCrashDump, "", nil, "ACTIVE", PowerRunning, "compute_trigger_crash_dump", ""},
		{TaskRebuild, ActionRebuild, TaskRebuilding, map[string]any{"image_ref": "img-2"}, "ACTIVE", PowerRunning, "compute_rebuild_instance", ""},
	}
	for _, st := range steps {
		tc.act(t, uuid, st.kind, st.action, st.taskState, st.params, nil)
		waitUntil(t, string(st.kind)+" event", func() bool {
			for _, e := range tc.events(t, uuid) {
				if e == st.event+":Success" {
					return true
				}
			}
			return false
		})
		got := tc.waitStatus(t, uuid, st.status)
		if got.PowerState != st.power {
			t.Fatalf("%s: power %d, want %d", st.kind, got.PowerState, st.power)
		}
	}
	if got := tc.inst(t, uuid); got.ImageRef != "img-2" {
		t.Fatalf("rebuild kept image %s", got.ImageRef)
	}
	out, _ := d.ConsoleOutput(context.Background(), nil2(uuid), 0)
	if !strings.Contains(out, "NMI") || !strings.Contains(out, "web1 login:") {
		t.Fatalf("console:\n%s", out)
	}

	tc.act(t, uuid, TaskDelete, ActionDelete, TaskDeleting, nil, nil)
	waitUntil(t, "deleted", func() bool { return tc.inst(t, uuid).Deleted })
	if _, ok := d.Guest(uuid); ok {
		t.Fatal("guest survived the delete")
	}
	if got := tc.usage(t, "fake-host-1", "MEMORY_MB"); got != 0 {
		t.Fatalf("usage after delete %d", got)
	}
	tc.checkUsageMatches(t)
}

// nil2 is a driver instance with only the uuid, for fake lookups.
func nil2(uuid string) *computeDriverInstance { return &computeDriverInstance{UUID: uuid} }

func TestNoValidHostAndRescheduleFailures(t *testing.T) {
	tc := newTestCloud(t)
	tc.startCompute(t, 2)
	big := FlavorSnapshot{ID: "9", Name: "huge", VCPUs: 1, MemoryMB: 1 << 20, RootGB: 1, ExtraSpecs: map[string]string{}}
	uuid := tc.boot(t, bootOpts{flavor: big})
	inst := tc.waitStatus(t, uuid, "ERROR")
	if inst.Host != nil {
		t.Fatalf("failed build kept host %v", deref(inst.Host))
	}
	if f := tc.fault(t, uuid); f != "No valid host was found. There are not enough hosts available." {
		t.Fatalf("fault %q", f)
	}
	if ev := tc.events(t, uuid); len(ev) != 1 || ev[0] != "conductor_schedule_and_build_instances:Error" {
		t.Fatalf("events %v", ev)
	}
	// Unknown zone, unknown requested host.
	for _, req := range []RequestSpec{{AvailabilityZone: "nowhere"}, {Host: "no-such-host"}} {
		u := tc.boot(t, bootOpts{request: req})
		tc.waitStatus(t, u, "ERROR")
	}
	// A spawn failing everywhere is rescheduled once per host, then ERROR.
	bad := tc.boot(t, bootOpts{meta: map[string]string{"fake:fail": "spawn"}})
	tc.waitStatus(t, bad, "ERROR")
	if f := tc.fault(t, bad); !strings.HasPrefix(f, "Exceeded maximum number of retries.") {
		t.Fatalf("fault %q", f)
	}
	var builds int
	for _, e := range tc.events(t, bad) {
		if e == "compute__do_build_and_run_instance:Error" {
			builds++
		}
	}
	if builds != 2 {
		t.Fatalf("build attempts %d, want one per host: %v", builds, tc.events(t, bad))
	}
	// A requested host works.
	ok := tc.boot(t, bootOpts{request: RequestSpec{Host: "fake-host-2"}})
	if got := tc.waitStatus(t, ok, "ACTIVE"); deref(got.Host) != "fake-host-2" {
		t.Fatalf("requested host ignored: %s", deref(got.Host))
	}
	// A failing operation reverts the task state and records a fault.
	stop := tc.boot(t, bootOpts{meta: map[string]string{"fake:fail": "power_off,reboot"}})
	tc.waitStatus(t, stop, "ACTIVE")
	tc.act(t, stop, TaskStop, ActionStop, TaskPoweringOff, nil, nil)
	waitUntil(t, "stop failure", func() bool { return strings.Contains(tc.fault(t, stop), "scripted failure") })
	tc.waitStatus(t, stop, "ACTIVE")
	tc.act(t, stop, TaskReboot, ActionReboot, TaskRebooting, nil, nil)
	tc.waitStatus(t, stop, "ERROR")
	tc.checkUsageMatches(t)
}

func TestConcurrentBuildsNeverOvercommit(t *testing.T) {
	tc := newTestCloud(t)
	tc.startCompute(t, 2)
	// Each fake host has 32768 MiB * 1.5 - 512 reserved... use a flavor so that only
	// 3 fit per host: capacity (32768-512)*1.5 = 48384.
	f := FlavorSnapshot{ID: "8", Name: "big", VCPUs: 1, MemoryMB: 16000, RootGB: 1, ExtraSpecs: map[string]string{}}
	var uuids []string
	for i := range 10 {
		uuids = append(uuids, tc.boot(t, bootOpts{name: fmt.Sprintf("vm%d", i), flavor: f}))
	}
	active := 0
	for _, u := range uuids {
		waitUntil(t, "settled", func() bool { s := tc.inst(t, u); return s.VMState != VMBuilding })
		if tc.inst(t, u).VMState == VMActive {
			active++
		}
	}
	if active != 6 {
		t.Fatalf("%d active, want 6 (3 per host)", active)
	}
	for _, h := range []string{"fake-host-1", "fake-host-2"} {
		if got := tc.usage(t, h, "MEMORY_MB"); got != 48000 {
			t.Fatalf("%s usage %d", h, got)
		}
	}
	tc.checkUsageMatches(t)
}

func TestServerGroupAntiAffinityUnderConcurrency(t *testing.T) {
	tc := newTestCloud(t)
	tc.startCompute(t, 3)
	ctx := context.Background()
	for n, g := range []struct{ uuid, policy, rules string }{
		{"g-anti", "anti-affinity", "{}"}, {"g-aff", "affinity", "{}"}, {"g-two", "anti-affinity", `{"max_server_per_host": 2}`}} {
		if _, err := tc.db.ExecContext(ctx, `INSERT INTO compute_server_groups (uuid, id, name, project_id, user_id, policy, rules,
			created_at) VALUES (?, ?, ?, 'p1', 'u1', ?, ?, ?)`, g.uuid, n+1, g.uuid, g.policy, g.rules, store.FormatTime(now())); err != nil {
			t.Fatal(err)
		}
	}
	hostsOf := func(uuids []string) map[string]int {
		out := map[string]int{}
		for _, u := range uuids {
			if i := tc.inst(t, u); i.VMState == VMActive {
				out[deref(i.Host)]++
			}
		}
		return out
	}
	settle := func(uuids []string) {
		for _, u := range uuids {
			waitUntil(t, "settled", func() bool { return tc.inst(t, u).VMState != VMBuilding })
		}
	}
	var anti, aff, two []string
	for i := range 4 {
		anti = append(anti, tc.boot(t, bootOpts{name: fmt.Sprint("anti", i), group: "g-anti"}))
		aff = append(aff, tc.boot(t, bootOpts{name: fmt.Sprint("aff", i), group: "g-aff"}))
	}
	for i := range 7 {
		two = append(two, tc.boot(t, bootOpts{name: fmt.Sprint("two", i), group: "g-two"}))
	}
	settle(anti)
	settle(aff)
	settle(two)
	if h := hostsOf(anti); len(h) != 3 || h["fake-host-1"] != 1 || h["fake-host-2"] != 1 || h["fake-host-3"] != 1 {
		t.Fatalf("anti-affinity placement %v", h)
	}
	errors := 0
	for _, u := range anti {
		if tc.inst(t, u).VMState == VMError {
			errors++
		}
	}
	if errors != 1 {
		t.Fatalf("%d anti-affinity members failed, want 1", errors)
	}
	if h := hostsOf(aff); len(h) != 1 {
		t.Fatalf("affinity placement %v", h)
	}
	for host, n := range hostsOf(two) {
		if n > 2 {
			t.Fatalf("max_server_per_host 2 exceeded on %s: %d", host, n)
		}
	}
}

func TestResizeMigrateShelveSnapshot(t *testing.T) {
	tc := newTestCloud(t)
	imgs := newFakeImages()
	tc.svc.deps.Images = imgs
	drivers := tc.startCompute(t, 2)
	uuid := tc.boot(t, bootOpts{name: "mover"})
	first := deref(tc.waitStatus(t, uuid, "ACTIVE").Host)
	small := FlavorSnapshot{ID: "2", Name: "m1.small", VCPUs: 2, MemoryMB: 2048, RootGB: 2, ExtraSpecs: map[string]string{}}

	// Resize (may land on either host), revert.
	tc.act(t, uuid, TaskResize, ActionResize, TaskResizePrep, nil, func(i *Instance) { f := small; i.NewFlavor = &f })
	got := tc.waitStatus(t, uuid, "VERIFY_RESIZE")
	if got.Flavor.ID != "2" || got.OldFlavor == nil || got.OldFlavor.ID != "1" {
		t.Fatalf("resized flavors %+v old %+v", got.Flavor, got.OldFlavor)
	}
	tc.checkUsageMatches(t)
	tc.act(t, uuid, TaskRevertResize, ActionRevertResize, TaskResizeReverting, nil, nil)
	got = tc.waitStatus(t, uuid, "ACTIVE")
	if got.Flavor.ID != "1" || got.OldFlavor != nil || deref(got.Host) != first {
		t.Fatalf("reverted flavor %s old %+v host %s", got.Flavor.ID, got.OldFlavor, deref(got.Host))
	}
	if tc.usage(t, first, "MEMORY_MB") != 512 {
		t.Fatalf("usage after revert %d", tc.usage(t, first, "MEMORY_MB"))
	}
	tc.checkUsageMatches(t)

	// Cold migration goes to the other host; confirm frees the source.
	tc.act(t, uuid, TaskMigrate, ActionMigrate, TaskResizePrep, nil, nil)
	got = tc.waitStatus(t, uuid, "VERIFY_RESIZE")
	second := deref(got.Host)
	if second == first {
		t.Fatalf("migration stayed on %s", first)
	}
	if tc.usage(t, first, "MEMORY_MB") != 512 || tc.usage(t, second, "MEMORY_MB") != 512 {
		t.Fatal("a migration holds both hosts until confirmed")
	}
	tc.act(t, uuid, TaskConfirmResize, ActionConfirmResize, "", nil, nil)
	waitUntil(t, "confirmed", func() bool { return tc.usage(t, first, "MEMORY_MB") == 0 })
	tc.waitStatus(t, uuid, "ACTIVE")
	if _, ok := drivers[first].Guest(uuid); ok {
		t.Fatal("source kept the guest after confirm")
	}
	var status string
	_ = tc.db.QueryRowContext(context.Background(), `SELECT status FROM compute_migrations WHERE instance_uuid = ? ORDER BY id DESC LIMIT 1`,
		uuid).Scan(&status)
	if status != "confirmed" {
		t.Fatalf("migration status %s", status)
	}
	tc.checkUsageMatches(t)

	// Live migration back.
	tc.act(t, uuid, TaskLiveMigrate, ActionLiveMigration, TaskMigrating, map[string]any{"host": first}, nil)
	got = tc.waitStatus(t, uuid, "ACTIVE")
	if deref(got.Host) != first || tc.usage(t, second, "MEMORY_MB") != 0 {
		t.Fatalf("live migration: host %s", deref(got.Host))
	}
	if _, ok := drivers[first].Guest(uuid); !ok {
		t.Fatal("destination has no guest")
	}

	// Snapshot.
	tc.act(t, uuid, TaskSnapshot, ActionCreateImage, TaskImageSnapshot, map[string]any{"image_id": "snap-1"}, nil)
	tc.waitStatus(t, uuid, "ACTIVE")
	if n := imgs.size("snap-1"); n != 64*1024 {
		t.Fatalf("snapshot uploaded %d bytes", n)
	}

	// Shelve (offloaded at once), unshelve.
	tc.act(t, uuid, TaskShelve, ActionShelve, TaskShelving, map[string]any{"image_id": "shelved-1"}, nil)
	got = tc.waitStatus(t, uuid, "SHELVED_OFFLOADED")
	if got.Host != nil || got.SystemMetadata["shelved_image_id"] != "shelved-1" || tc.usage(t, first, "MEMORY_MB") != 0 {
		t.Fatalf("offloaded host %v sysmeta %v", deref(got.Host), got.SystemMetadata)
	}
	tc.act(t, uuid, TaskUnshelve, ActionUnshelve, TaskUnshelving, nil, nil)
	got = tc.waitStatus(t, uuid, "ACTIVE")
	if got.Host == nil || got.SystemMetadata["shelved_image_id"] != "" || imgs.size("shelved-1") != -1 {
		t.Fatalf("unshelved host %v sysmeta %v", deref(got.Host), got.SystemMetadata)
	}
	tc.checkUsageMatches(t)

	// Evacuate: the host is declared down, the instance is rebuilt elsewhere.
	src := deref(got.Host)
	if _, err := tc.db.ExecContext(context.Background(), `UPDATE compute_services SET forced_down = ? WHERE host = ?`, true, src); err != nil {
		t.Fatal(err)
	}
	tc.act(t, uuid, TaskEvacuate, ActionEvacuate, TaskRebuilding, nil, nil)
	got = tc.waitStatus(t, uuid, "ACTIVE")
	if deref(got.Host) == src || tc.usage(t, src, "MEMORY_MB") != 0 {
		t.Fatalf("evacuated to %s", deref(got.Host))
	}
	tc.checkUsageMatches(t)
}

func TestPowerSyncStopsGuestsThatShutDown(t *testing.T) {
	tc := newTestCloud(t)
	drivers := tc.startCompute(t, 1)
	uuid := tc.boot(t, bootOpts{})
	tc.waitStatus(t, uuid, "ACTIVE")
	if err := drivers["fake-host-1"].SetPowerState(uuid, 4); err != nil {
		t.Fatal(err)
	}
	a := tc.svc.rt.agents["fake-host-1"]
	if err := a.syncPower(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := tc.waitStatus(t, uuid, "SHUTOFF")
	if got.PowerState != PowerShutdown {
		t.Fatalf("power %d", got.PowerState)
	}
	if ev := tc.events(t, uuid); ev[len(ev)-1] != "compute_stop_instance:Success" {
		t.Fatalf("events %v", ev)
	}
}

func TestRecoveryAfterKill(t *testing.T) {
	tc := newTestCloud(t)
	stateDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var drivers []*fakeDriver
	for i := 1; i <= 3; i++ {
		d, err := newFake(fmt.Sprintf("fake-host-%d", i), stateDir)
		if err != nil {
			t.Fatal(err)
		}
		drivers = append(drivers, d)
		if err := tc.svc.AddHost(d.Host(), d, HostOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { defer close(done); tc.svc.Run(ctx) }()
	tc.waitHosts(t, 3)
	var uuids []string
	for i := range 30 {
		meta := map[string]string{"fake:delay": "5ms"}
		if i%7 == 0 {
			meta["fake:fail"] = "spawn"
		}
		uuids = append(uuids, tc.boot(t, bootOpts{name: fmt.Sprint("k", i), meta: meta}))
	}
	// Kill mid-flight.
	time.Sleep(20 * time.Millisecond)
	cancel()
	<-done
	_ = drivers

	// A new process over the same database and hypervisor state.
	svc2, err := New(context.Background(), tc.db, tc.svc.enforcer, Config{}, tc.svc.deps, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		d, err := newFake(fmt.Sprintf("fake-host-%d", i), stateDir)
		if err != nil {
			t.Fatal(err)
		}
		if err := svc2.AddHost(d.Host(), d, HostOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan struct{})
	go func() { defer close(done2); svc2.Run(ctx2) }()
	defer func() { cancel2(); <-done2 }()
	tc.svc = svc2
	var mu sync.Mutex
	counts := map[string]int{}
	for _, u := range uuids {
		waitUntil(t, "settled after restart", func() bool {
			i := tc.inst(t, u)
			return (i.VMState == VMActive || i.VMState == VMError) && i.TaskState == ""
		})
		mu.Lock()
		counts[tc.inst(t, u).VMState]++
		mu.Unlock()
	}
	if counts[VMActive] == 0 || counts[VMActive]+counts[VMError] != len(uuids) {
		t.Fatalf("states after restart %v", counts)
	}
	var pending int
	_ = tc.db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM compute_tasks WHERE state IN ('pending', 'running')`).Scan(&pending)
	if pending != 0 {
		t.Fatalf("%d tasks left", pending)
	}
	tc.checkUsageMatches(t)
}
