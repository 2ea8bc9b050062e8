package compute

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gostack/gostack/internal/store"
	"github.com/gostack/gostack/internal/testkit"
)

func openStore(t *testing.T) *store.DB {
	return testkit.OpenDB(t, t.TempDir())
}

func TestInstanceRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	desc := "a server"
	host := "host1"
	launched := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in := &Instance{
		UUID: "5b1c7a0e-0000-4000-8000-000000000001", ProjectID: "p", UserID: "u", Name: "vm1",
		Description: &desc, Hostname: "vm1", ImageRef: "img",
		Flavor:    FlavorSnapshot{ID: "1", Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, RootGB: 1, ExtraSpecs: map[string]string{"a": "b"}},
		NewFlavor: &FlavorSnapshot{ID: "2", Name: "m1.small", VCPUs: 1, MemoryMB: 2048, RootGB: 20, ExtraSpecs: map[string]string{}},
		VMState:   VMBuilding, TaskState: TaskScheduling, Host: &host, LaunchedAt: &launched,
		Request:        RequestSpec{AvailabilityZone: "nova", SameHost: []string{"x"}},
		SystemMetadata: map[string]string{"image_min_disk": "1"},
		CreatedAt:      launched,
	}
	err := db.InTx(ctx, func(tx *store.Tx) error {
		id, err := nextID(ctx, tx, "instances")
		if err != nil {
			return err
		}
		in.ID = id
		return insertInstance(ctx, tx, in)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, found, err := loadInstance(ctx, db, in.UUID)
	if err != nil || !found {
		t.Fatalf("load: %v %v", found, err)
	}
	in.NetworkInfo = got.NetworkInfo
	if diff := cmp.Diff(in, got); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	if got.Status() != "BUILD" || got.InstanceName() != "instance-00000001" {
		t.Fatalf("status %s name %s", got.Status(), got.InstanceName())
	}
	got.VMState, got.TaskState = VMActive, ""
	ok, err := updateInstance(ctx, db, got, []string{TaskSpawning})
	if err != nil || ok {
		t.Fatalf("update with a stale expected task state: ok=%v err=%v", ok, err)
	}
	ok, err = updateInstance(ctx, db, got, []string{TaskScheduling})
	if err != nil || !ok {
		t.Fatalf("update: ok=%v err=%v", ok, err)
	}
	again, _, _ := loadInstance(ctx, db, in.UUID)
	if again.Status() != "ACTIVE" {
		t.Fatalf("status after update %s", again.Status())
	}
}

func TestStatus(t *testing.T) {
	for _, tc := range []struct{ vm, task, want string }{
		{VMActive, "", "ACTIVE"},
		{VMActive, TaskRebootingHard, "HARD_REBOOT"},
		{VMActive, TaskPoweringOff, "ACTIVE"},
		{VMStopped, TaskResizePrep, "RESIZE"},
		{VMResized, TaskResizeReverting, "REVERT_RESIZE"},
		{VMBuilding, TaskSpawning, "BUILD"},
		{"bogus", "", "UNKNOWN"},
	} {
		if got := Status(tc.vm, tc.task); got != tc.want {
			t.Errorf("Status(%q, %q) = %q, want %q", tc.vm, tc.task, got, tc.want)
		}
	}
	vms, tasks, ok := StatesForStatus("HARD_REBOOT")
	if !ok || len(vms) != 1 || vms[0] != VMActive || len(tasks) != 3 {
		t.Fatalf("StatesForStatus(HARD_REBOOT) = %v %v %v", vms, tasks, ok)
	}
}

func TestFormatUptime(t *testing.T) {
	at := time.Date(2026, 1, 2, 17, 37, 14, 0, time.UTC)
	for _, tc := range []struct {
		up   time.Duration
		want string
	}{
		{2*time.Hour + 33*time.Minute, " 17:37:14 up  2:33,  0 users,  load average: 0.33, 0.36, 0.34"},
		{50*time.Hour + 5*time.Minute, " 17:37:14 up 2 days,  2:05,  0 users,  load average: 0.33, 0.36, 0.34"},
	} {
		if got := formatUptime(at, tc.up, "0.33", "0.36", "0.34"); got != tc.want {
			t.Errorf("formatUptime(%v) = %q, want %q", tc.up, got, tc.want)
		}
	}
	if _, err := localUptime(at); err != nil {
		t.Fatalf("localUptime: %v", err)
	}
}
