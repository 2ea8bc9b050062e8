package compute

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// computeNode is a row of compute_nodes: a hypervisor and the capacity its driver
// reports. Usage is not stored; hypervisorUsage computes it from the instances.
type computeNode struct {
	ID                  int64
	UUID                string // also the node's Placement resource provider uuid
	Host                string
	HypervisorHostname  string
	HypervisorType      string
	HypervisorVersion   int64
	HostIP              string
	VCPUs               int64
	MemoryMB            int64
	LocalGB             int64
	CPUInfo             string // JSON object
	CPUAllocationRatio  float64
	RAMAllocationRatio  float64
	DiskAllocationRatio float64
	ReservedHostMemMB   int64
	ReservedHostDiskMB  int64
	ReservedHostCPUs    int64
	// Uptime is the host's `uptime` line; nil when the driver cannot tell.
	Uptime    *string
	CreatedAt time.Time
	UpdatedAt *time.Time
}

// nodeColumns lists the columns scanNode reads.
const nodeColumns = `id, uuid, host, hypervisor_hostname, hypervisor_type, hypervisor_version, host_ip,
	vcpus, memory_mb, local_gb, cpu_info, cpu_allocation_ratio, ram_allocation_ratio,
	disk_allocation_ratio, reserved_host_memory_mb, reserved_host_disk_mb, reserved_host_cpus,
	uptime, created_at, updated_at`

// scanNode reads one compute_nodes row.
func scanNode(row rowScanner) (*computeNode, error) {
	var (
		n                computeNode
		created, updated string
	)
	err := row.Scan(&n.ID, &n.UUID, &n.Host, &n.HypervisorHostname, &n.HypervisorType, &n.HypervisorVersion,
		&n.HostIP, &n.VCPUs, &n.MemoryMB, &n.LocalGB, &n.CPUInfo, &n.CPUAllocationRatio, &n.RAMAllocationRatio,
		&n.DiskAllocationRatio, &n.ReservedHostMemMB, &n.ReservedHostDiskMB, &n.ReservedHostCPUs, &n.Uptime,
		&created, &updated)
	if err != nil {
		return nil, err
	}
	n.CreatedAt = store.ParseTime(created)
	if updated != "" {
		t := store.ParseTime(updated)
		n.UpdatedAt = &t
	}
	return &n, nil
}

// upsertComputeNode records a hypervisor's identity and capacity: the host agent calls
// it at start and whenever what its driver reports changes. The node is keyed by
// HypervisorHostname; the first report creates it with a new id and, unless n.UUID is
// set, a new uuid (the node's Placement resource provider uuid). n.ID, n.UUID and the
// timestamps are filled in from the stored row. Zero allocation ratios take Nova's
// defaults (16, 1.5, 1); an empty CPUInfo is "{}".
func (s *Service) upsertComputeNode(ctx context.Context, n *computeNode) error {
	if n.Host == "" || n.HypervisorHostname == "" {
		return fmt.Errorf("compute node: host and hypervisor hostname are required")
	}
	if n.HypervisorType == "" {
		n.HypervisorType = "QEMU"
	}
	if n.CPUInfo == "" {
		n.CPUInfo = "{}"
	}
	if n.CPUAllocationRatio == 0 {
		n.CPUAllocationRatio = 16
	}
	if n.RAMAllocationRatio == 0 {
		n.RAMAllocationRatio = 1.5
	}
	if n.DiskAllocationRatio == 0 {
		n.DiskAllocationRatio = 1
	}
	ts := store.FormatTime(now())
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE compute_nodes SET host = ?, hypervisor_type = ?,
			hypervisor_version = ?, host_ip = ?, vcpus = ?, memory_mb = ?, local_gb = ?, cpu_info = ?,
			cpu_allocation_ratio = ?, ram_allocation_ratio = ?, disk_allocation_ratio = ?,
			reserved_host_memory_mb = ?, reserved_host_disk_mb = ?, reserved_host_cpus = ?, uptime = ?,
			updated_at = ? WHERE hypervisor_hostname = ?`,
			n.Host, n.HypervisorType, n.HypervisorVersion, n.HostIP, n.VCPUs, n.MemoryMB, n.LocalGB, n.CPUInfo,
			n.CPUAllocationRatio, n.RAMAllocationRatio, n.DiskAllocationRatio, n.ReservedHostMemMB,
			n.ReservedHostDiskMB, n.ReservedHostCPUs, n.Uptime, ts, n.HypervisorHostname)
		if err != nil {
			return err
		}
		if k, err := res.RowsAffected(); err != nil || k > 0 {
			return err
		}
		id, err := nextID(ctx, tx, "compute_nodes")
		if err != nil {
			return err
		}
		uuid := n.UUID
		if uuid == "" {
			uuid = api.NewUUID()
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO compute_nodes (id, uuid, host, hypervisor_hostname,
			hypervisor_type, hypervisor_version, host_ip, vcpus, memory_mb, local_gb, cpu_info,
			cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio, reserved_host_memory_mb,
			reserved_host_disk_mb, reserved_host_cpus, uptime, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '')`,
			id, uuid, n.Host, n.HypervisorHostname, n.HypervisorType, n.HypervisorVersion, n.HostIP, n.VCPUs,
			n.MemoryMB, n.LocalGB, n.CPUInfo, n.CPUAllocationRatio, n.RAMAllocationRatio, n.DiskAllocationRatio,
			n.ReservedHostMemMB, n.ReservedHostDiskMB, n.ReservedHostCPUs, n.Uptime, ts)
		return err
	})
	if err != nil {
		return fmt.Errorf("compute node %s: %w", n.HypervisorHostname, err)
	}
	stored, found, err := loadNodeWhere(ctx, s.db, `hypervisor_hostname = ?`, n.HypervisorHostname)
	if err != nil || !found {
		return fmt.Errorf("compute node %s: reload: %w", n.HypervisorHostname, err)
	}
	*n = *stored
	return nil
}

// loadNodeWhere reads one compute node by a unique column.
func loadNodeWhere(ctx context.Context, q querier, where string, args ...any) (*computeNode, bool, error) {
	n, err := scanNode(q.QueryRowContext(ctx, `SELECT `+nodeColumns+` FROM compute_nodes WHERE `+where, args...))
	if store.IsNoRows(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return n, true, nil
}

// listNodes reads compute nodes in id order, after afterID (0: from the start), at most
// limit of them (0: all).
func listNodes(ctx context.Context, q querier, afterID int64, limit int) ([]*computeNode, error) {
	query := `SELECT ` + nodeColumns + ` FROM compute_nodes WHERE id > ? ORDER BY id`
	args := []any{afterID}
	if limit > 0 {
		query += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*computeNode
	for rows.Next() {
		n, err := scanNode(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// nodeUsage is what a hypervisor's instances use, as Nova's resource tracker counts it.
type nodeUsage struct {
	VCPUsUsed    int64
	MemoryMBUsed int64
	// localGB is fractional while summing (swap is in MiB); Nova stores it truncated.
	localGB    float64
	RunningVMs int64
	Workload   int64
}

// LocalGBUsed is the disk used in whole GiB, truncated as Nova's integer field stores it.
func (u *nodeUsage) LocalGBUsed() int64 { return int64(u.localGB) }

// add counts a flavor against the node.
func (u *nodeUsage) add(f FlavorSnapshot) {
	u.VCPUsUsed += f.VCPUs
	u.MemoryMBUsed += f.MemoryMB
	u.localGB += float64(f.RootGB+f.EphemeralGB) + float64(f.Swap)/1024
}

// usageInstance is the part of an instance resource accounting needs.
type usageInstance struct {
	host, vmState, taskState string
	flavor                   FlavorSnapshot
	oldFlavor, newFlavor     *FlavorSnapshot
}

// hypervisorUsage computes each host's usage from its live instances, counting them as
// Placement holds their allocations: an instance is counted on its host, except while
// a migration of it is unfinished, when its old flavor is counted on the source and its
// new flavor on the destination. Reserved host resources are included, as Nova does.
func hypervisorUsage(ctx context.Context, q querier, nodes []*computeNode) (map[string]*nodeUsage, error) {
	out := map[string]*nodeUsage{}
	for _, n := range nodes {
		out[n.Host] = &nodeUsage{
			VCPUsUsed:    n.ReservedHostCPUs,
			MemoryMBUsed: n.ReservedHostMemMB,
			localGB:      float64(n.ReservedHostDiskMB) / 1024,
		}
	}
	if len(out) == 0 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT uuid, host, vm_state, task_state, flavor, old_flavor, new_flavor
		FROM compute_instances WHERE deleted = FALSE AND host IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	insts := map[string]*usageInstance{}
	for rows.Next() {
		var (
			uuid, host, vmState, flavor     string
			taskState, oldFlavor, newFlavor sql.NullString
		)
		if err := rows.Scan(&uuid, &host, &vmState, &taskState, &flavor, &oldFlavor, &newFlavor); err != nil {
			rows.Close()
			return nil, err
		}
		ui := &usageInstance{host: host, vmState: vmState, taskState: taskState.String}
		if err := json.Unmarshal([]byte(flavor), &ui.flavor); err != nil {
			rows.Close()
			return nil, fmt.Errorf("instance %s flavor: %w", uuid, err)
		}
		for _, f := range []struct {
			src sql.NullString
			dst **FlavorSnapshot
		}{{oldFlavor, &ui.oldFlavor}, {newFlavor, &ui.newFlavor}} {
			if f.src.Valid && f.src.String != "" {
				var fs FlavorSnapshot
				if err := json.Unmarshal([]byte(f.src.String), &fs); err == nil {
					*f.dst = &fs
				}
			}
		}
		insts[uuid] = ui
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Unfinished migrations of live instances.
	args := make([]any, 0, len(finalMigrationStatuses))
	for _, st := range finalMigrationStatuses {
		args = append(args, st)
	}
	mrows, err := q.QueryContext(ctx, `SELECT instance_uuid, source_compute, dest_compute FROM compute_migrations
		WHERE status NOT IN (?`+strings.Repeat(", ?", len(finalMigrationStatuses)-1)+`) ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	migrating := map[string][2]string{}
	for mrows.Next() {
		var (
			uuid     string
			src, dst sql.NullString
		)
		if err := mrows.Scan(&uuid, &src, &dst); err != nil {
			mrows.Close()
			return nil, err
		}
		if _, ok := insts[uuid]; ok {
			migrating[uuid] = [2]string{src.String, dst.String}
		}
	}
	mrows.Close()
	if err := mrows.Err(); err != nil {
		return nil, err
	}
	for uuid, ui := range insts {
		removable := ui.vmState == VMDeleted || (ui.vmState == VMShelvedOffloaded && ui.taskState != TaskSpawning)
		if u := out[ui.host]; u != nil && !removable {
			u.RunningVMs++
			if ui.taskState != "" {
				u.Workload++
			}
		}
		if removable {
			continue
		}
		if m, ok := migrating[uuid]; ok {
			oldF, newF := ui.flavor, ui.flavor
			if ui.oldFlavor != nil {
				oldF = *ui.oldFlavor
			}
			if ui.newFlavor != nil {
				newF = *ui.newFlavor
			}
			if u := out[m[0]]; u != nil {
				u.add(oldF)
			}
			if u := out[m[1]]; u != nil {
				u.add(newF)
			}
			continue
		}
		if u := out[ui.host]; u != nil {
			u.add(ui.flavor)
		}
	}
	return out, nil
}

// hostServers lists the live instances on a host (name and uuid), as Nova's
// instance_get_all_by_host returns them for with_servers.
func hostServers(ctx context.Context, q querier, host string) ([]map[string]any, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, uuid FROM compute_instances WHERE host = ? AND deleted = FALSE
		ORDER BY created_at, uuid`, host)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var name, uuid string
		if err := rows.Scan(&name, &uuid); err != nil {
			return nil, err
		}
		out = append(out, map[string]any{"name": name, "uuid": uuid})
	}
	return out, rows.Err()
}

// likeMatch reports whether s contains pattern, with SQL LIKE's wildcards ('_' one
// character, '%' any run) and case folded, as Nova's
// hypervisor_hostname LIKE '%pattern%' matches on the databases it runs on.
func likeMatch(s, pattern string) bool {
	return likeHere([]rune(strings.ToLower(s)), []rune("%"+strings.ToLower(pattern)+"%"))
}

// likeHere matches s against a LIKE pattern from the start.
func likeHere(s, p []rune) bool {
	// Iterative matching with backtracking over the last '%'.
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '_' || p[pi] == s[si]):
			si++
			pi++
		case pi < len(p) && p[pi] == '%':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '%' {
		pi++
	}
	return pi == len(p)
}
