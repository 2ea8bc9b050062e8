package compute

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// Fixtures for the admin API tests: hosts as their agents would report them and
// instances written straight into the store.

// addHost reports a nova-compute service and its hypervisor for host.
func (tc *testCloud) addHost(t *testing.T, host string, vcpus, memMB, diskGB int64) *computeNode {
	t.Helper()
	ctx := context.Background()
	if err := tc.svc.heartbeat(ctx, host, BinaryCompute); err != nil {
		t.Fatal(err)
	}
	up := " 10:00:00 up 1 day,  2:03,  0 users,  load average: 0.00, 0.01, 0.05"
	n := &computeNode{Host: host, HypervisorHostname: host, HypervisorType: "QEMU", HypervisorVersion: 8002000,
		HostIP: "192.0.2.10", VCPUs: vcpus, MemoryMB: memMB, LocalGB: diskGB, ReservedHostMemMB: 512,
		CPUInfo: `{"arch": "x86_64", "model": "qemu64"}`, Uptime: &up}
	if err := tc.svc.upsertComputeNode(ctx, n); err != nil {
		t.Fatal(err)
	}
	return n
}

// instanceOpts describes a test instance.
type instanceOpts struct {
	project, user, name, host, vmState, taskState string
	flavor                                        FlavorSnapshot
	launched, terminated                          *time.Time
	deleted                                       bool
}

// tinyFlavor is m1.tiny-like.
var tinyFlavor = FlavorSnapshot{ID: "1", Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, RootGB: 1, ExtraSpecs: map[string]string{}}

// smallFlavor is m1.small-like, with swap and ephemeral disk.
var smallFlavor = FlavorSnapshot{ID: "2", Name: "m1.small", VCPUs: 2, MemoryMB: 2048, RootGB: 20, EphemeralGB: 2, Swap: 1536, ExtraSpecs: map[string]string{}}

// addInstance writes an instance row.
func (tc *testCloud) addInstance(t *testing.T, o instanceOpts) *Instance {
	t.Helper()
	ctx := context.Background()
	if o.project == "" {
		o.project = tc.demoProjectID
	}
	if o.user == "" {
		o.user = tc.demoUserID
	}
	if o.vmState == "" {
		o.vmState = VMActive
	}
	if o.flavor.Name == "" {
		o.flavor = tinyFlavor
	}
	if o.name == "" {
		o.name = "vm"
	}
	inst := &Instance{UUID: api.NewUUID(), ProjectID: o.project, UserID: o.user, Name: o.name, Hostname: o.name,
		Flavor: o.flavor, VMState: o.vmState, TaskState: o.taskState, LaunchedAt: o.launched,
		TerminatedAt: o.terminated, Deleted: o.deleted, CreatedAt: now()}
	if o.host != "" {
		h := o.host
		inst.Host, inst.Node = &h, &h
	}
	if o.deleted {
		d := now()
		inst.DeletedAt = &d
		inst.VMState = VMDeleted
	}
	err := tc.db.InTx(ctx, func(tx *store.Tx) error {
		id, err := nextID(ctx, tx, "instances")
		if err != nil {
			return err
		}
		inst.ID = id
		return insertInstance(ctx, tx, inst)
	})
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// exec runs a statement against the test store.
func (tc *testCloud) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := tc.db.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// wantKeys fails unless m has exactly the keys (Nova's schemas are
// additionalProperties False with every property required).
func wantKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	want := slices.Clone(keys)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s keys:\n got %v\nwant %v", what, got, want)
	}
}

// wantFault fails unless r is a Nova fault with the status.
func wantFault(t *testing.T, r resp, status int) string {
	t.Helper()
	r.want(t, status)
	name := faultNames[status]
	f := r.obj(name)
	if f == nil || f["code"] != float64(status) {
		t.Fatalf("fault body %s", r.raw)
	}
	msg, _ := f["message"].(string)
	return msg
}
