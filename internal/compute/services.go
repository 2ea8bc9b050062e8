package compute

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// Service binaries gostack runs. The host agent reports as nova-compute, the conductor
// as nova-conductor and, since it schedules, as nova-scheduler too, so that clients and
// tempest find the services they expect.
const (
	BinaryCompute   = "nova-compute"
	BinaryConductor = "nova-conductor"
	BinaryScheduler = "nova-scheduler"
)

// internalZone is Nova's [DEFAULT] internal_service_availability_zone: the zone every
// service but nova-compute is in.
const internalZone = "internal"

// computeService is a row of compute_services: a Nova service record.
type computeService struct {
	ID             int64
	UUID           string
	Host           string
	Binary         string
	Topic          string
	Disabled       bool
	DisabledReason *string
	ForcedDown     bool
	LastSeenUp     *time.Time
	ReportCount    int64
	Version        int
	CreatedAt      time.Time
	UpdatedAt      *time.Time
}

// serviceColumns lists the columns scanService reads.
const serviceColumns = `id, uuid, host, service_binary, topic, disabled, disabled_reason, forced_down,
	last_seen_up, report_count, version, created_at, updated_at`

// scanService reads one compute_services row.
func scanService(row rowScanner) (*computeService, error) {
	var (
		sv               computeService
		lastSeen         sql.NullString
		created, updated string
	)
	err := row.Scan(&sv.ID, &sv.UUID, &sv.Host, &sv.Binary, &sv.Topic, &sv.Disabled, &sv.DisabledReason,
		&sv.ForcedDown, &lastSeen, &sv.ReportCount, &sv.Version, &created, &updated)
	if err != nil {
		return nil, err
	}
	sv.LastSeenUp = optTime(lastSeen)
	sv.CreatedAt = store.ParseTime(created)
	if updated != "" {
		t := store.ParseTime(updated)
		sv.UpdatedAt = &t
	}
	return &sv, nil
}

// serviceTopic is the RPC topic Nova gives a binary ("nova-compute" → "compute").
func serviceTopic(binary string) string {
	return strings.TrimPrefix(binary, "nova-")
}

// heartbeat records that a service is alive: the host agents (nova-compute) and the
// conductor (nova-conductor, nova-scheduler) call it periodically, more often than
// Config.ServiceDownTime. The first report creates the service record (new id and uuid,
// enabled); later ones bump last_seen_up and report_count. A record deleted through the
// API is created again, as a restarted Nova service would.
func (s *Service) heartbeat(ctx context.Context, host, binary string) error {
	if host == "" || binary == "" {
		return fmt.Errorf("heartbeat: host and binary are required")
	}
	ts := store.FormatTime(now())
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE compute_services SET last_seen_up = ?, updated_at = ?,
			report_count = report_count + 1 WHERE host = ? AND service_binary = ?`, ts, ts, host, binary)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		id, err := nextID(ctx, tx, "services")
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO compute_services (id, uuid, host, service_binary, topic,
			disabled, forced_down, last_seen_up, report_count, version, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, FALSE, FALSE, ?, 1, 0, ?, ?)`,
			id, api.NewUUID(), host, binary, serviceTopic(binary), ts, ts, ts)
		return err
	})
	if err != nil && store.IsUniqueViolation(err) {
		// Another replica created the record between our update and insert: count
		// this report on it.
		_, err = s.db.ExecContext(ctx, `UPDATE compute_services SET last_seen_up = ?, updated_at = ?,
			report_count = report_count + 1 WHERE host = ? AND service_binary = ?`, ts, ts, host, binary)
	}
	if err != nil {
		return fmt.Errorf("service heartbeat %s/%s: %w", host, binary, err)
	}
	return nil
}

// serviceUp is Nova's servicegroup service_is_up with the database driver: a service
// is up when it was seen within ServiceDownTime (its creation counts as a sighting) and
// has not been forced down.
func (s *Service) serviceUp(sv *computeService) bool {
	if sv.ForcedDown {
		return false
	}
	last := sv.CreatedAt
	if sv.LastSeenUp != nil {
		last = *sv.LastSeenUp
	}
	elapsed := now().Sub(last)
	if elapsed < 0 {
		elapsed = -elapsed
	}
	return elapsed <= s.cfg.ServiceDownTime
}

// listServiceRecords reads every service record in id order.
func listServiceRecords(ctx context.Context, q querier) ([]*computeService, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+serviceColumns+` FROM compute_services ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*computeService
	for rows.Next() {
		sv, err := scanService(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sv)
	}
	return out, rows.Err()
}

// loadServiceWhere reads one service record by a unique column; found is false when
// there is none.
func loadServiceWhere(ctx context.Context, q querier, where string, args ...any) (*computeService, bool, error) {
	sv, err := scanService(q.QueryRowContext(ctx, `SELECT `+serviceColumns+` FROM compute_services WHERE `+where, args...))
	if store.IsNoRows(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return sv, true, nil
}

// computeServiceOf reads the nova-compute service of a host.
func computeServiceOf(ctx context.Context, q querier, host string) (*computeService, bool, error) {
	return loadServiceWhere(ctx, q, `host = ? AND service_binary = ?`, host, BinaryCompute)
}

// serviceZone is the availability zone Nova shows for a service: the host's zone for
// nova-compute, "internal" for everything else.
func (s *Service) serviceZone(sv *computeService, zones map[string]string) string {
	if sv.Topic != "compute" {
		return internalZone
	}
	if z, ok := zones[sv.Host]; ok {
		return z
	}
	return s.cfg.DefaultAvailabilityZone
}

// saveServiceState writes the operator-controlled fields of a service record.
func saveServiceState(ctx context.Context, q querier, sv *computeService) error {
	t := now()
	sv.UpdatedAt = &t
	_, err := q.ExecContext(ctx, `UPDATE compute_services SET disabled = ?, disabled_reason = ?,
		forced_down = ?, updated_at = ? WHERE id = ?`, sv.Disabled, sv.DisabledReason, sv.ForcedDown,
		store.FormatTime(t), sv.ID)
	return err
}

// hostInstanceCount counts the non-deleted instances on a host (Nova's
// InstanceList.get_count_by_hosts).
func hostInstanceCount(ctx context.Context, q querier, host string) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM compute_instances WHERE host = ? AND deleted = FALSE`, host).Scan(&n)
	return n, err
}

// finalMigrationStatuses are the statuses of finished migrations; Nova's
// MigrationList.get_in_progress_by_host_and_node treats every other one as in progress.
var finalMigrationStatuses = []string{"confirmed", "reverted", "error", "failed", "completed", "cancelled", "done"}

// hostMigrationsInProgress counts the migrations from or to a host that are not
// finished.
func hostMigrationsInProgress(ctx context.Context, q querier, host string) (int, error) {
	args := []any{host, host}
	for _, st := range finalMigrationStatuses {
		args = append(args, st)
	}
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM compute_migrations m
		LEFT JOIN compute_instances i ON i.uuid = m.instance_uuid
		WHERE (m.source_compute = ? OR m.dest_compute = ?)
		AND m.status NOT IN (?`+strings.Repeat(", ?", len(finalMigrationStatuses)-1)+`)
		AND (i.deleted IS NULL OR i.deleted = FALSE)`, args...).Scan(&n)
	return n, err
}

// deleteServiceRecord removes a service. For nova-compute it refuses (409) while the
// host has instances or unfinished migrations, as Nova does, and otherwise also removes
// the host from its aggregates and drops its compute node.
func (s *Service) deleteServiceRecord(ctx context.Context, sv *computeService) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if sv.Binary == BinaryCompute {
			n, err := hostInstanceCount(ctx, tx, sv.Host)
			if err != nil {
				return err
			}
			if n > 0 {
				return conflict("Unable to delete compute service that is hosting instances. Migrate or delete the instances first.")
			}
			n, err = hostMigrationsInProgress(ctx, tx, sv.Host)
			if err != nil {
				return err
			}
			if n > 0 {
				return conflict("Unable to delete compute service that has in-progress migrations. Complete the migrations or delete the instances first.")
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM compute_aggregate_hosts WHERE host = ?`, sv.Host); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM compute_nodes WHERE host = ?`, sv.Host); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM compute_services WHERE id = ?`, sv.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return notFound("Service %s not found.", sv.UUID)
		}
		return err
	})
}

// evacuationsDone reports whether a host still has evacuations away from it marked
// "done" (Nova refuses to force such a host up until its agent has cleaned them up).
func evacuationsDone(ctx context.Context, q querier, host string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM compute_migrations WHERE source_compute = ?
		AND status = 'done' AND migration_type = 'evacuation'`, host).Scan(&n)
	return n > 0, err
}
