package compute

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// os-migrations and the server migrations list: read-only views of compute_migrations,
// which the conductor and host agents write as they resize, migrate, live-migrate and
// evacuate servers.

// liveMigrationInProgress are the statuses Nova treats as a live migration in progress.
var liveMigrationInProgress = []string{"queued", "preparing", "running", "post-migrating"}

// migrationRecord is a compute_migrations row as the admin views read it.
type migrationRecord struct {
	ID                                            int64
	UUID, InstanceUUID, MigrationType, Status     string
	SourceCompute, SourceNode, DestCompute        *string
	DestNode, DestHost                            *string
	OldFlavorID, NewFlavorID                      *int64
	ProjectID, UserID                             string
	CreatedAt                                     time.Time
	UpdatedAt                                     *time.Time
	MemoryTotal, MemoryProcessed, MemoryRemaining *int64
	DiskTotal, DiskProcessed, DiskRemaining       *int64
}

// migrationSelect reads migrationRecords; old and new flavor ids (stored as the flavors'
// API ids) are resolved to Nova's integer flavor ids; migrations of deleted instances are
// left out, as Nova soft-deletes them with the instance.
const migrationSelect = `SELECT m.id, m.uuid, m.instance_uuid, m.migration_type, m.status, m.source_compute,
	m.source_node, m.dest_compute, m.dest_node, m.dest_host, m.old_flavor_id, m.new_flavor_id,
	fo.id, fn.id, m.project_id, m.user_id, m.created_at, m.updated_at, m.memory_total, m.memory_processed,
	m.memory_remaining, m.disk_total, m.disk_processed, m.disk_remaining
	FROM compute_migrations m
	LEFT JOIN compute_instances i ON i.uuid = m.instance_uuid
	LEFT JOIN compute_flavors fo ON fo.flavorid = m.old_flavor_id
	LEFT JOIN compute_flavors fn ON fn.flavorid = m.new_flavor_id
	WHERE (i.deleted IS NULL OR i.deleted = FALSE)`

// scanMigration reads one row of migrationSelect.
func scanMigration(row rowScanner) (*migrationRecord, error) {
	var (
		m                migrationRecord
		oldRaw, newRaw   sql.NullString
		oldID, newID     sql.NullInt64
		created, updated string
	)
	err := row.Scan(&m.ID, &m.UUID, &m.InstanceUUID, &m.MigrationType, &m.Status, &m.SourceCompute,
		&m.SourceNode, &m.DestCompute, &m.DestNode, &m.DestHost, &oldRaw, &newRaw, &oldID, &newID,
		&m.ProjectID, &m.UserID, &created, &updated, &m.MemoryTotal, &m.MemoryProcessed, &m.MemoryRemaining,
		&m.DiskTotal, &m.DiskProcessed, &m.DiskRemaining)
	if err != nil {
		return nil, err
	}
	m.OldFlavorID = flavorIntID(oldRaw, oldID)
	m.NewFlavorID = flavorIntID(newRaw, newID)
	m.CreatedAt = store.ParseTime(created)
	if updated != "" {
		t := store.ParseTime(updated)
		m.UpdatedAt = &t
	}
	return &m, nil
}

// flavorIntID is the integer flavor id a migration shows: the flavor's internal id when
// the flavor still exists, else the stored id when it is an integer, else null.
func flavorIntID(raw sql.NullString, resolved sql.NullInt64) *int64 {
	if resolved.Valid {
		return &resolved.Int64
	}
	if raw.Valid {
		if n, err := strconv.ParseInt(raw.String, 10, 64); err == nil {
			return &n
		}
	}
	return nil
}

// queryMigrations runs migrationSelect with extra conditions and ordering.
func queryMigrations(ctx context.Context, q querier, where string, order string, args ...any) ([]*migrationRecord, error) {
	rows, err := q.QueryContext(ctx, migrationSelect+where+order, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*migrationRecord
	for rows.Next() {
		m, err := scanMigration(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// migrationsQuery is os-migrations' query schema at the call's version.
func migrationsQuery(c *call) querySchema {
	p := map[string]queryParam{
		"hidden": {kind: qString}, "host": {kind: qString}, "instance_uuid": {kind: qString},
		"source_compute": {kind: qString}, "status": {kind: qString}, "migration_type": {kind: qString},
	}
	if !c.at(59) {
		return querySchema{params: p}
	}
	p["limit"] = queryParam{kind: qNonNegInt, single: true}
	p["marker"] = queryParam{kind: qString, single: true}
	p["changes-since"] = queryParam{kind: qDateTime, single: true}
	if c.at(66) {
		p["changes-before"] = queryParam{kind: qDateTime, single: true}
	}
	if c.at(80) {
		p["user_id"] = queryParam{kind: qString, single: true}
		p["project_id"] = queryParam{kind: qString, single: true}
	}
	return querySchema{params: p, strict: true}
}

// migrationFilters turns os-migrations' filters into SQL conditions (Nova's
// migration_get_all_by_filters); the parameters the schema of the version does not know
// were already refused or are ignored here.
func migrationFilters(c *call, q url.Values, schema querySchema) (where string, args []any, err error) {
	var conds []string
	get := func(k string) (string, bool) {
		if _, known := schema.params[k]; !known {
			return "", false
		}
		return queryLast(q, k)
	}
	if v, ok := get("status"); ok {
		conds, args = append(conds, "m.status = ?"), append(args, v)
	}
	if v, ok := get("host"); ok {
		conds, args = append(conds, "(m.source_compute = ? OR m.dest_compute = ?)"), append(args, v, v)
	} else if v, ok := get("source_compute"); ok {
		conds, args = append(conds, "m.source_compute = ?"), append(args, v)
	}
	if v, ok := get("migration_type"); ok {
		conds, args = append(conds, "m.migration_type = ?"), append(args, v)
	}
	if v, ok := get("hidden"); ok && novaBooleans[v] {
		// No gostack migration is hidden (Nova hides only cross-cell bookkeeping).
		conds = append(conds, "1 = 0")
	}
	if v, ok := get("instance_uuid"); ok {
		conds, args = append(conds, "m.instance_uuid = ?"), append(args, v)
	}
	if v, ok := get("user_id"); ok {
		conds, args = append(conds, "m.user_id = ?"), append(args, v)
	}
	if v, ok := get("project_id"); ok {
		conds, args = append(conds, "m.project_id = ?"), append(args, v)
	}
	var since, before time.Time
	if v, ok := get("changes-since"); ok {
		since, _ = parseISOTime(v)
		conds, args = append(conds, "m.updated_at <> '' AND m.updated_at >= ?"), append(args, store.FormatTime(since))
	}
	if v, ok := get("changes-before"); ok {
		before, _ = parseISOTime(v)
		if !since.IsZero() && before.Before(since) {
			return "", nil, badRequest("The value of changes-since must be less than or equal to changes-before.")
		}
		conds, args = append(conds, "m.updated_at <> '' AND m.updated_at <= ?"), append(args, store.FormatTime(before))
	}
	if len(conds) > 0 {
		where = " AND " + strings.Join(conds, " AND ")
	}
	return where, args, nil
}

// apiRoot is the compute API root URL the client used ("http://host/compute/v2.1").
func (s *Service) apiRoot(r *http.Request) string {
	return apiBase(r) + s.cfg.Prefix + "/v2.1"
}

// listMigrations is GET /os-migrations.
func (s *Service) listMigrations(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	schema := migrationsQuery(c)
	if err := schema.validate(q); err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	project, _ := queryLast(q, "project_id")
	if !c.at(80) || project == "" || project != c.caller.ProjectID {
		if err := s.authorize(c, c.rule+":all_projects", nil); err != nil {
			return err
		}
	}
	withHosts := s.can(c, c.rule+":host", nil)
	where, args, err := migrationFilters(c, q, schema)
	if err != nil {
		return err
	}
	ctx := r.Context()
	order := " ORDER BY m.id"
	paged := c.at(59)
	if paged {
		limit, marker, hasMarker, err := s.limitAndMarker(q)
		if err != nil {
			return err
		}
		if hasMarker && marker != "" {
			var (
				mCreated string
				mID      int64
			)
			err := s.db.QueryRowContext(ctx, `SELECT created_at, id FROM compute_migrations WHERE uuid = ?`, marker).Scan(&mCreated, &mID)
			if store.IsNoRows(err) {
				return badRequest("Marker %s could not be found.", marker)
			}
			if err != nil {
				return err
			}
			where += " AND (m.created_at < ? OR (m.created_at = ? AND m.id < ?))"
			args = append(args, mCreated, mCreated, mID)
		}
		order = " ORDER BY m.created_at DESC, m.id DESC LIMIT ?"
		args = append(args, limit)
	}
	migs, err := queryMigrations(ctx, s.db, where, order, args...)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(migs))
	for _, m := range migs {
		out = append(out, s.migrationListView(r, c, m, withHosts))
	}
	body := map[string]any{"migrations": out}
	if paged && len(out) > 0 {
		if l := s.collectionNext(r, len(out), migs[len(migs)-1].UUID); l != nil {
			body["migrations_links"] = l
		}
	}
	api.WriteJSON(w, http.StatusOK, body)
	return nil
}

// migrationListView renders a migration as os-migrations shows it at the call's
// version.
func (s *Service) migrationListView(r *http.Request, c *call, m *migrationRecord, withHosts bool) map[string]any {
	out := map[string]any{
		"id":                   m.ID,
		"instance_uuid":        m.InstanceUUID,
		"status":               m.Status,
		"created_at":           adminTimestamp(m.CreatedAt),
		"updated_at":           adminOptTimestamp(m.UpdatedAt),
		"old_instance_type_id": m.OldFlavorID,
		"new_instance_type_id": m.NewFlavorID,
		"source_compute":       nil,
		"source_node":          nil,
		"dest_compute":         nil,
		"dest_node":            nil,
		"dest_host":            nil,
	}
	if withHosts {
		out["source_compute"] = m.SourceCompute
		out["source_node"] = m.SourceNode
		out["dest_compute"] = m.DestCompute
		out["dest_node"] = m.DestNode
		out["dest_host"] = m.DestHost
	}
	if c.at(23) {
		out["migration_type"] = m.MigrationType
		if m.MigrationType == "live-migration" && slicesContains(liveMigrationInProgress, m.Status) {
			path := "/servers/" + m.InstanceUUID + "/migrations/" + strconv.FormatInt(m.ID, 10)
			out["links"] = []map[string]string{
				{"rel": "self", "href": s.apiRoot(r) + path},
				{"rel": "bookmark", "href": apiBase(r) + s.cfg.Prefix + path},
			}
		}
	}
	if c.at(59) {
		out["uuid"] = m.UUID
	}
	if c.at(80) {
		out["user_id"] = m.UserID
		out["project_id"] = m.ProjectID
	}
	return out
}

// slicesContains reports whether list holds v.
func slicesContains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// migrationServer loads the server a server-migrations request names, as Nova's
// common.get_instance sees it: deleted servers and, for callers who are not admins,
// other projects' servers are 404.
func (s *Service) migrationServer(r *http.Request, c *call) (*Instance, error) {
	id := r.PathValue("server_id")
	inst, found, err := loadInstance(r.Context(), s.db, id)
	if err != nil {
		return nil, err
	}
	if !found || inst.Deleted || (!s.can(c, "context_is_admin", nil) && inst.ProjectID != c.caller.ProjectID) {
		return nil, instanceNotFound(id)
	}
	return inst, nil
}

// serverMigrationView renders an in-progress live migration as the server migrations
// API shows it.
func serverMigrationView(c *call, m *migrationRecord, withHosts bool) map[string]any {
	updated := m.CreatedAt
	if m.UpdatedAt != nil {
		updated = *m.UpdatedAt
	}
	out := map[string]any{
		"id":                     m.ID,
		"server_uuid":            m.InstanceUUID,
		"status":                 m.Status,
		"created_at":             adminTimestamp(m.CreatedAt),
		"updated_at":             adminTimestamp(updated),
		"memory_total_bytes":     m.MemoryTotal,
		"memory_processed_bytes": m.MemoryProcessed,
		"memory_remaining_bytes": m.MemoryRemaining,
		"disk_total_bytes":       m.DiskTotal,
		"disk_processed_bytes":   m.DiskProcessed,
		"disk_remaining_bytes":   m.DiskRemaining,
		"source_compute":         nil,
		"source_node":            nil,
		"dest_compute":           nil,
		"dest_node":              nil,
		"dest_host":              nil,
	}
	if withHosts {
		out["source_compute"] = m.SourceCompute
		out["source_node"] = m.SourceNode
		out["dest_compute"] = m.DestCompute
		out["dest_node"] = m.DestNode
		out["dest_host"] = m.DestHost
	}
	if c.at(59) {
		out["uuid"] = m.UUID
	}
	if c.at(80) {
		out["user_id"] = m.UserID
		out["project_id"] = m.ProjectID
	}
	return out
}

// inProgressLiveCondition selects a server's in-progress live migrations.
const inProgressLiveCondition = ` AND m.instance_uuid = ? AND m.migration_type = 'live-migration'
	AND m.status IN ('queued', 'preparing', 'running', 'post-migrating')`

// listServerMigrations is GET /servers/{server_id}/migrations (2.23): the server's
// live migrations in progress.
func (s *Service) listServerMigrations(w http.ResponseWriter, r *http.Request, c *call) error {
	inst, err := s.migrationServer(r, c)
	if err != nil {
		return err
	}
	target := policy.Target{"project_id": inst.ProjectID}
	if err := s.authorize(c, c.rule, target); err != nil {
		return err
	}
	withHosts := s.can(c, c.rule+":host", target)
	migs, err := queryMigrations(r.Context(), s.db, inProgressLiveCondition, " ORDER BY m.id", inst.UUID)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(migs))
	for _, m := range migs {
		out = append(out, serverMigrationView(c, m, withHosts))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"migrations": out})
	return nil
}

// showServerMigration is GET /servers/{server_id}/migrations/{migration_id} (2.23):
// one live migration in progress; any other migration is 404.
func (s *Service) showServerMigration(w http.ResponseWriter, r *http.Request, c *call) error {
	inst, err := s.migrationServer(r, c)
	if err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, policy.Target{"project_id": inst.ProjectID}); err != nil {
		return err
	}
	id := r.PathValue("migration_id")
	missing := notFound("In-progress live migration %s is not found for server %s.", id, inst.UUID)
	mid, perr := strconv.ParseInt(id, 10, 64)
	if perr != nil {
		return missing
	}
	migs, err := queryMigrations(r.Context(), s.db, ` AND m.id = ? AND m.instance_uuid = ?`, "", mid, inst.UUID)
	if err != nil {
		return err
	}
	if len(migs) == 0 {
		return missing
	}
	m := migs[0]
	if m.MigrationType != "live-migration" {
		return notFound("Migration %s for server %s is not live-migration.", id, inst.UUID)
	}
	if !slicesContains(liveMigrationInProgress, m.Status) {
		return notFound("Live migration %s for server %s is not in progress.", id, inst.UUID)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"migration": serverMigrationView(c, m, true)})
	return nil
}
