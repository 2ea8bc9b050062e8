package compute

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/placement"
	"github.com/gostack/gostack/internal/store"
)

// benchHosts registers n compute hosts (service, compute node, Placement provider with
// VCPU/MEMORY_MB/DISK_GB inventory) directly in one transaction, as n agents would.
func benchHosts(b *testing.B, tc *testCloud, n int) {
	b.Helper()
	ctx := context.Background()
	ts := store.FormatTime(now())
	err := tc.db.InTx(ctx, func(tx *store.Tx) error {
		for i := range n {
			host := fmt.Sprintf("bench-host-%04d", i)
			uuid := fmt.Sprintf("b0000000-0000-4000-8000-%012d", i)
			if _, err := tx.ExecContext(ctx, `INSERT INTO compute_services (id, uuid, host, service_binary, topic, last_seen_up,
				created_at) VALUES (?, ?, ?, 'nova-compute', 'compute', ?, ?)`, i+1, api.NewUUID(), host, ts, ts); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO compute_nodes (id, uuid, host, hypervisor_hostname, hypervisor_type, vcpus,
				memory_mb, local_gb, cpu_info, created_at) VALUES (?, ?, ?, ?, 'fake', 64, 262144, 2000, '{"arch": "x86_64"}', ?)`,
				i+1, uuid, host, host, ts); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO placement_resource_providers (uuid, name, generation, root_uuid, created_at)
				VALUES (?, ?, 1, ?, ?)`, uuid, host, uuid, ts); err != nil {
				return err
			}
			for _, inv := range []struct {
				rc       string
				total    int64
				reserved int64
				ratio    float64
			}{{"VCPU", 64, 0, 16}, {"MEMORY_MB", 262144, 512, 1.5}, {"DISK_GB", 2000, 0, 1}} {
				if _, err := tx.ExecContext(ctx, `INSERT INTO placement_inventories (provider_uuid, resource_class, total, reserved,
					min_unit, max_unit, step_size, allocation_ratio, used, created_at) VALUES (?, ?, ?, ?, 1, ?, 1, ?, 0, ?)`,
					uuid, inv.rc, inv.total, inv.reserved, inv.total, inv.ratio, ts); err != nil {
					return err
				}
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES ('placement_revision', ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, api.NewID())
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPlace1000Hosts measures the conductor's scheduling decision and Placement
// claim (candidates over 1,000 hosts, host states, filters and weighers, the claim
// transaction that writes the allocation and the instance's host) with 4 concurrent
// workers, as the conductor runs them. It reports placements/s and the p99 latency of
// one placement.
//
//	go test ./internal/compute -run '^$' -bench Place1000Hosts -benchtime 2000x
func BenchmarkPlace1000Hosts(b *testing.B) {
	tc := newTestCloud(b)
	benchHosts(b, tc, 1000)
	ctx := context.Background()
	insts := make([]*Instance, b.N)
	err := tc.db.InTx(ctx, func(tx *store.Tx) error {
		for i := range insts {
			id, err := nextID(ctx, tx, "instances")
			if err != nil {
				return err
			}
			insts[i] = &Instance{UUID: api.NewUUID(), ID: id, ProjectID: "p", UserID: "u", Name: "bench", ImageRef: "img",
				Flavor: smallFlavor, VMState: VMBuilding, TaskState: TaskScheduling, CreatedAt: now()}
			if err := insertInstance(ctx, tx, insts[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	const workers = 4
	lat := make([]time.Duration, b.N)
	next := make(chan int)
	var wg sync.WaitGroup
	var failed sync.Once
	b.ResetTimer()
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				inst := insts[i]
				t0 := time.Now()
				_, err := tc.svc.place(ctx, placeRequest{inst: inst, flavor: inst.Flavor}, func(tx *store.Tx, ch hostChoice) error {
					if err := tc.svc.deps.Placement.WriteAllocations(ctx, tx, []placement.ConsumerAllocations{{Consumer: inst.UUID,
						ProjectID: "p", UserID: "u", ConsumerType: placement.ConsumerTypeInstance, Allocations: ch.cand.Allocations}}); err != nil {
						return err
					}
					_, _, err := mutateInstance(ctx, tx, inst.UUID, []string{TaskScheduling}, func(i *Instance) error {
						h, n := ch.sel.Host, ch.sel.Node
						i.Host, i.Node, i.TaskState = &h, &n, TaskBlockDeviceMapping
						return nil
					})
					return err
				})
				lat[i] = time.Since(t0)
				if err != nil {
					failed.Do(func() { b.Error(err) })
				}
			}
		}()
	}
	for i := range b.N {
		next <- i
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "placements/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
}
