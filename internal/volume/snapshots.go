package volume

import (
	"context"
	"net/http"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// Snapshot rules (cinder/policies/snapshots.py, snapshot_metadata.py,
// snapshot_actions.py).
const (
	ruleSnapshotCreate      = "volume:create_snapshot"
	ruleSnapshotGet         = "volume:get_snapshot"
	ruleSnapshotGetAll      = "volume:get_all_snapshots"
	ruleSnapshotUpdate      = "volume:update_snapshot"
	ruleSnapshotDelete      = "volume:delete_snapshot"
	ruleSnapshotAttrs       = "volume_extension:extended_snapshot_attributes"
	ruleSnapshotMetaGet     = "volume:get_snapshot_metadata"
	ruleSnapshotMetaUpdate  = "volume:update_snapshot_metadata"
	ruleSnapshotMetaDelete  = "volume:delete_snapshot_metadata"
	ruleSnapshotResetStatus = "volume_extension:snapshot_admin_actions:reset_status"
	ruleSnapshotForceDelete = "volume_extension:snapshot_admin_actions:force_delete"
	ruleSnapshotUpdateStat  = "snapshot_extension:snapshot_actions:update_snapshot_status"
)

// Snapshot statuses.
const (
	snapCreating      = "creating"
	snapErrorDeleting = "error_deleting"
)

// snapshotRoutes are /snapshots with metadata and actions.
func (s *Service) snapshotRoutes() []route {
	return []route{
		{method: "GET", path: "/snapshots", rule: ruleSnapshotGetAll, handle: s.listSnapshots},
		{method: "GET", path: "/snapshots/detail", rule: ruleSnapshotGetAll, handle: s.listSnapshotsDetail},
		{method: "POST", path: "/snapshots", rule: ruleSnapshotCreate, handle: s.createSnapshot},
		{method: "GET", path: "/snapshots/{snapshot_id}", rule: ruleSnapshotGet, handle: s.showSnapshot},
		{method: "PUT", path: "/snapshots/{snapshot_id}", rule: ruleSnapshotUpdate, handle: s.updateSnapshot},
		{method: "DELETE", path: "/snapshots/{snapshot_id}", rule: ruleSnapshotDelete, handle: s.deleteSnapshot},
		{method: "POST", path: "/snapshots/{snapshot_id}/action", rule: ruleSnapshotResetStatus, handle: s.snapshotAction},
		{method: "GET", path: "/snapshots/{snapshot_id}/metadata", rule: ruleSnapshotMetaGet, handle: s.listSnapshotMeta},
		{method: "POST", path: "/snapshots/{snapshot_id}/metadata", rule: ruleSnapshotMetaUpdate, handle: s.createSnapshotMeta},
		{method: "PUT", path: "/snapshots/{snapshot_id}/metadata", rule: ruleSnapshotMetaUpdate, handle: s.replaceSnapshotMeta},
		{method: "GET", path: "/snapshots/{snapshot_id}/metadata/{key}", rule: ruleSnapshotMetaGet, handle: s.showSnapshotMetaItem},
		{method: "PUT", path: "/snapshots/{snapshot_id}/metadata/{key}", rule: ruleSnapshotMetaUpdate, handle: s.updateSnapshotMetaItem},
		{method: "DELETE", path: "/snapshots/{snapshot_id}/metadata/{key}", rule: ruleSnapshotMetaDelete, handle: s.deleteSnapshotMetaItem},
	}
}

// snapshotRec is one volume_snapshots row.
type snapshotRec struct {
	ID, VolumeID, ProjectID, UserID string
	Name, Description               *string
	Status, Progress                string
	VolumeSize                      int64
	TypeID                          string
	GroupSnapshotID                 *string
	Deleted                         bool
	CreatedAt, UpdatedAt, DeletedAt string
	Metadata                        map[string]string
}

// snapshotColumns lists the columns scanSnapshot reads.
const snapshotColumns = `id, volume_id, project_id, user_id, name, description, status, progress, volume_size, type_id,
	group_snapshot_id, deleted, created_at, updated_at, deleted_at`

// scanSnapshot reads one snapshot row.
func scanSnapshot(row scanner) (*snapshotRec, error) {
	var sn snapshotRec
	err := row.Scan(&sn.ID, &sn.VolumeID, &sn.ProjectID, &sn.UserID, &sn.Name, &sn.Description, &sn.Status, &sn.Progress,
		&sn.VolumeSize, &sn.TypeID, &sn.GroupSnapshotID, &sn.Deleted, &sn.CreatedAt, &sn.UpdatedAt, &sn.DeletedAt)
	return &sn, err
}

// loadSnapshotRow reads a snapshot (deleted ones too); nil when there is none.
func loadSnapshotRow(ctx context.Context, q store.Querier, id string) (*snapshotRec, error) {
	sn, err := scanSnapshot(q.QueryRowContext(ctx, `SELECT `+snapshotColumns+` FROM volume_snapshots WHERE id = ?`, id))
	if store.IsNoRows(err) {
		return nil, nil
	}
	return sn, err
}

// loadSnapshot reads an undeleted snapshot with its metadata.
func loadSnapshot(ctx context.Context, q store.Querier, id string) (*snapshotRec, error) {
	sn, err := loadSnapshotRow(ctx, q, id)
	if err != nil || sn == nil || sn.Deleted {
		return nil, err
	}
	sn.Metadata, err = loadMeta(ctx, q, "volume_snapshot_metadata", "snapshot_id", sn.ID)
	return sn, err
}

// volumeSnapshots lists a volume's undeleted snapshots.
func volumeSnapshots(ctx context.Context, q store.Querier, volumeID string) ([]*snapshotRec, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+snapshotColumns+` FROM volume_snapshots WHERE volume_id = ? AND deleted = ?
		ORDER BY created_at`, volumeID, false)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*snapshotRec
	for rows.Next() {
		sn, err := scanSnapshot(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sn)
	}
	return out, rows.Err()
}

// snapshotFor loads a snapshot the caller may act on under rule (404 for other
// projects' snapshots unless admin).
func (s *Service) snapshotFor(ctx context.Context, c *call, id, rule string) (*snapshotRec, error) {
	sn, err := loadSnapshot(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if sn == nil || (sn.ProjectID != c.caller.ProjectID && !s.isAdmin(c)) {
		return nil, snapshotNotFound(id)
	}
	if err := s.authorize(c, rule, ownerTarget(sn.ProjectID)); err != nil {
		return nil, err
	}
	return sn, nil
}

// snapshotView is Cinder's snapshot view; with ext (show and the detail list, which the
// extended-attributes extension extends) the progress and project id as policy allows.
func (s *Service) snapshotView(c *call, sn *snapshotRec, ext bool) map[string]any {
	out := map[string]any{"id": sn.ID, "created_at": isoTime(sn.CreatedAt), "updated_at": isoTime(sn.UpdatedAt),
		"name": strOrNil(sn.Name), "description": strOrNil(sn.Description), "volume_id": sn.VolumeID,
		"status": sn.Status, "size": sn.VolumeSize, "metadata": orEmpty(sn.Metadata)}
	if ext && s.can(c, ruleSnapshotAttrs, ownerTarget(sn.ProjectID)) {
		out["os-extended-snapshot-attributes:progress"] = sn.Progress
		out["os-extended-snapshot-attributes:project_id"] = sn.ProjectID
	}
	if c.at(14) {
		out["group_snapshot_id"] = strOrNil(sn.GroupSnapshotID)
	}
	if c.at(41) {
		out["user_id"] = sn.UserID
	}
	if c.at(65) {
		out["consumes_quota"] = true
	}
	return out
}

// listSnapshots is GET /snapshots.
func (s *Service) listSnapshots(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.writeSnapshotList(w, r, c, false)
}

// listSnapshotsDetail is GET /snapshots/detail.
func (s *Service) listSnapshotsDetail(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.writeSnapshotList(w, r, c, true)
}

// writeSnapshotList answers a snapshot list (summary and detail show the same fields).
func (s *Service) writeSnapshotList(w http.ResponseWriter, r *http.Request, c *call, detail bool) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	ctx := r.Context()
	q := r.URL.Query()
	where := `WHERE deleted = ?`
	args := []any{false}
	switch {
	case s.isAdmin(c) && q.Get("project_id") != "":
		where += ` AND project_id = ?`
		args = append(args, q.Get("project_id"))
	case s.isAdmin(c) && allTenants(q):
	default:
		where += ` AND project_id = ?`
		args = append(args, c.caller.ProjectID)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+snapshotColumns+` FROM volume_snapshots `+where, args...)
	if err != nil {
		return err
	}
	var snaps []*snapshotRec
	for rows.Next() {
		sn, err := scanSnapshot(rows)
		if err != nil {
			rows.Close()
			return err
		}
		snaps = append(snaps, sn)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	ids := make([]string, len(snaps))
	for i, sn := range snaps {
		ids[i] = sn.ID
	}
	meta, err := loadMetaMany(ctx, s.db, "volume_snapshot_metadata", "snapshot_id", ids)
	if err != nil {
		return err
	}
	var metaFilter map[string]string
	if m := q.Get("metadata"); m != "" {
		if metaFilter, err = parseDictFilter(m); err != nil {
			return err
		}
	}
	var filtered []*snapshotRec
	for _, sn := range snaps {
		sn.Metadata = meta[sn.ID]
		if v := q.Get("status"); v != "" && sn.Status != v {
			continue
		}
		if v := q.Get("volume_id"); v != "" && sn.VolumeID != v {
			continue
		}
		if v, ok := q["name"]; ok && (sn.Name == nil || *sn.Name != v[0]) {
			continue
		}
		if v, ok := q["name~"]; ok && c.at(34) && (sn.Name == nil || !strings.Contains(strings.ToLower(*sn.Name), strings.ToLower(v[0]))) {
			continue
		}
		skip := false
		for k, v := range metaFilter {
			if sn.Metadata[k] != v {
				skip = true
			}
		}
		if !skip {
			filtered = append(filtered, sn)
		}
	}
	keys, err := parseSort(q, map[string]bool{"id": true, "status": true, "volume_id": true, "created_at": true,
		"updated_at": true, "display_name": true, "volume_size": true, "size": true, "project_id": true})
	if err != nil {
		return err
	}
	sortRows(filtered, keys, func(sn *snapshotRec, k string) any {
		switch k {
		case "id":
			return sn.ID
		case "status":
			return sn.Status
		case "volume_id":
			return sn.VolumeID
		case "updated_at":
			return sn.UpdatedAt
		case "display_name":
			if sn.Name == nil {
				return nil
			}
			return *sn.Name
		case "volume_size", "size":
			return sn.VolumeSize
		case "project_id":
			return sn.ProjectID
		}
		return sn.CreatedAt
	})
	total := len(filtered)
	limit, err := s.pageLimit(q)
	if err != nil {
		return err
	}
	filtered, err = paginate(s, filtered, func(sn *snapshotRec) string { return sn.ID }, q, limit)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(filtered))
	for _, sn := range filtered {
		out = append(out, s.snapshotView(c, sn, detail))
	}
	body := map[string]any{"snapshots": out}
	coll := "snapshots"
	if detail {
		coll = "snapshots/detail"
	}
	if len(filtered) > 0 {
		if links := s.collectionLinks(r, coll, len(filtered), limit, filtered[len(filtered)-1].ID); links != nil {
			body["snapshots_links"] = links
		}
	}
	if c.at(45) {
		if b, ok := boolValue(q.Get("with_count")); ok && b {
			body["count"] = total
		}
	}
	api.WriteJSON(w, http.StatusOK, body)
	return nil
}

// showSnapshot is GET /snapshots/{snapshot_id}.
func (s *Service) showSnapshot(w http.ResponseWriter, r *http.Request, c *call) error {
	sn, err := s.snapshotFor(r.Context(), c, r.PathValue("snapshot_id"), c.rule)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"snapshot": s.snapshotView(c, sn, true)})
	return nil
}

// createSnapshot is POST /snapshots: from an available volume (in-use with force, or
// from 3.66 without), taking quota, queued to the volume's backend.
func (s *Service) createSnapshot(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := api.DecodeObject(r, "snapshot")
	if err != nil {
		return err
	}
	if body.IsNull("volume_id") {
		// Cinder looks the volume up before anything else: a null id is not found.
		return volumeNotFound("None")
	}
	volID, _, err := body.Str("volume_id", false)
	if err != nil || volID == "" {
		return badRequest("Invalid input for field/attribute snapshot. Value: %s. 'volume_id' is a required property", showValue(map[string]any(body)))
	}
	name, _, err := optString(body, "name", 255)
	if err != nil {
		return err
	}
	if name == nil {
		if name, _, err = optString(body, "display_name", 255); err != nil {
			return err
		}
	}
	desc, _, err := optString(body, "description", 255)
	if err != nil {
		return err
	}
	if desc == nil {
		if desc, _, err = optString(body, "display_description", 255); err != nil {
			return err
		}
	}
	if name != nil {
		*name = strings.TrimSpace(*name)
	}
	if desc != nil {
		*desc = strings.TrimSpace(*desc)
	}
	meta, _, err := metadataField(body, "metadata", true)
	if err != nil {
		return err
	}
	force := false
	if v, ok := body["force"]; ok && v != nil {
		b, valid := boolValue(v)
		if !valid {
			return schemaError("force", v, "Invalid boolean")
		}
		force = b
		if c.at(66) && !b {
			return badRequest("Since microversion 3.66 the 'force' flag is invalid for this request.  For backward compatability, however, when the 'force' flag is passed with a value evaluating to True, it is silently ignored.")
		}
	}
	ctx := r.Context()
	vol, err := s.volumeFor(ctx, c, volID, ruleVolumeGet)
	if err != nil {
		return err
	}
	if err := s.authorize(c, ruleSnapshotCreate, ownerTarget(vol.ProjectID)); err != nil {
		return err
	}
	sn := &snapshotRec{ID: api.NewUUID(), VolumeID: vol.ID, ProjectID: c.caller.ProjectID, UserID: c.caller.UserID,
		Name: name, Description: desc, Status: snapCreating, Progress: "0%", VolumeSize: vol.Size, TypeID: vol.TypeID,
		Metadata: orEmpty(meta)}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		v, err := loadVolumeRow(ctx, tx, vol.ID)
		if err != nil {
			return err
		}
		if v == nil || v.Deleted {
			return volumeNotFound(vol.ID)
		}
		if v.Host == nil || *v.Host == "" {
			return invalidVolume("The snapshot cannot be created because volume has not been scheduled to any host.")
		}
		if v.MigrationStatus != nil && *v.MigrationStatus != "" && *v.MigrationStatus != "success" && *v.MigrationStatus != "error" {
			return invalidVolume("Snapshot cannot be created while volume is migrating.")
		}
		if v.Status == stError {
			return invalidVolume("The snapshot cannot be created when the volume is in error status.")
		}
		valid := []string{stAvailable}
		if force || c.at(66) {
			valid = append(valid, stInUse)
		}
		if !contains(valid, v.Status) {
			return invalidVolume("Volume %s status must be %s, but current status is: %s.", v.ID, strings.Join(valid, ", "), v.Status)
		}
		if err := s.checkQuota(ctx, tx, sn.ProjectID, quotaDelta{snapshots: 1, gigabytes: v.Size, typeName: v.TypeName}); err != nil {
			return err
		}
		ts := store.FormatTime(now())
		sn.CreatedAt, sn.UpdatedAt = ts, ts
		if _, err := tx.ExecContext(ctx, `INSERT INTO volume_snapshots (id, volume_id, project_id, user_id, name,
			description, status, progress, volume_size, type_id, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, sn.ID, sn.VolumeID, sn.ProjectID, sn.UserID, sn.Name,
			sn.Description, sn.Status, sn.Progress, sn.VolumeSize, sn.TypeID, ts, ts); err != nil {
			return err
		}
		if err := setMeta(ctx, tx, "volume_snapshot_metadata", "snapshot_id", sn.ID, meta, false); err != nil {
			return err
		}
		return enqueue(ctx, tx, s.queueOf(v), taskCreateSnapshot, sn.ID, nil)
	})
	if err != nil {
		return err
	}
	s.wake.notify()
	api.WriteJSON(w, http.StatusAccepted, map[string]any{"snapshot": s.snapshotView(c, sn, false)})
	return nil
}

// updateSnapshot is PUT /snapshots/{snapshot_id}: name and description.
func (s *Service) updateSnapshot(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := api.DecodeObject(r, "snapshot")
	if err != nil {
		return err
	}
	for k := range body {
		switch k {
		case "name", "description", "display_name", "display_description":
		default:
			return badRequest("Invalid input for field/attribute snapshot. Additional properties are not allowed ('%s' was unexpected)", k)
		}
	}
	if len(body) == 0 {
		return badRequest("Invalid input for field/attribute snapshot. Value: {}. {} does not have enough properties")
	}
	ctx := r.Context()
	sn, err := s.snapshotFor(ctx, c, r.PathValue("snapshot_id"), c.rule)
	if err != nil {
		return err
	}
	for _, k := range []string{"name", "display_name"} {
		if v, given, err := optString(body, k, 255); err != nil {
			return err
		} else if given {
			if v != nil {
				*v = strings.TrimSpace(*v)
			}
			sn.Name = v
		}
	}
	for _, k := range []string{"description", "display_description"} {
		if v, given, err := optString(body, k, 255); err != nil {
			return err
		} else if given {
			if v != nil {
				*v = strings.TrimSpace(*v)
			}
			sn.Description = v
		}
	}
	sn.UpdatedAt = store.FormatTime(now())
	if _, err := s.db.ExecContext(ctx, `UPDATE volume_snapshots SET name = ?, description = ?, updated_at = ? WHERE id = ?`,
		sn.Name, sn.Description, sn.UpdatedAt, sn.ID); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"snapshot": s.snapshotView(c, sn, false)})
	return nil
}

// deleteSnapshot is DELETE /snapshots/{snapshot_id} (202).
func (s *Service) deleteSnapshot(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	sn, err := s.snapshotFor(ctx, c, r.PathValue("snapshot_id"), c.rule)
	if err != nil {
		return err
	}
	if err := s.startSnapshotDelete(ctx, sn.ID, false); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// startSnapshotDelete marks a snapshot deleting and queues the delete; without force it
// must be available or error, and not the source of a volume being created.
func (s *Service) startSnapshotDelete(ctx context.Context, id string, force bool) error {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		sn, err := loadSnapshot(ctx, tx, id)
		if err != nil {
			return err
		}
		if sn == nil {
			return snapshotNotFound(id)
		}
		if sn.GroupSnapshotID != nil {
			return invalidSnapshot("Snapshot status must be available or error and must not be part of a group.")
		}
		if !force && sn.Status != stAvailable && sn.Status != stError {
			return invalidSnapshot("Snapshot status must be available or error and must not be part of a group.")
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_volumes WHERE snapshot_id = ? AND deleted = ?
			AND status = ?`, sn.ID, false, stCreating).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return invalidSnapshot("Snapshot status must be available or error and must not be part of a group.")
		}
		ts := store.FormatTime(now())
		if _, err := tx.ExecContext(ctx, `UPDATE volume_snapshots SET status = ?, updated_at = ? WHERE id = ?`,
			stDeleting, ts, sn.ID); err != nil {
			return err
		}
		queue := s.volumeQueue()
		if v, err := loadVolumeRow(ctx, tx, sn.VolumeID); err != nil {
			return err
		} else if v != nil {
			queue = s.queueOf(v)
		}
		return enqueue(ctx, tx, queue, taskDeleteSnapshot, sn.ID, nil)
	})
	if err != nil {
		return err
	}
	s.wake.notify()
	return nil
}

// snapshotAction is POST /snapshots/{snapshot_id}/action: os-reset_status,
// os-force_delete and os-update_snapshot_status.
func (s *Service) snapshotAction(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("snapshot_id")
	switch {
	case body.Has("os-reset_status"):
		inner, _, err := body.Obj("os-reset_status")
		if err != nil || inner == nil {
			return badRequest("Invalid input for field/attribute os-reset_status.")
		}
		status, _, err := inner.Str("status", false)
		if err != nil || status == "" {
			return badRequest("Invalid input for field/attribute os-reset_status. Value: %s. 'status' is a required property", showValue(map[string]any(inner)))
		}
		valid := []string{"creating", "available", "deleting", "error", "error_deleting", "unmanaging", "backing-up", "restoring"}
		if !contains(valid, strings.ToLower(status)) {
			return badRequest("Snapshot status: %s is invalid, valid statuses are: %s.", status, strings.Join(valid, ", "))
		}
		sn, err := s.snapshotFor(ctx, c, id, ruleSnapshotGet)
		if err != nil {
			return err
		}
		if err := s.authorize(c, ruleSnapshotResetStatus, ownerTarget(sn.ProjectID)); err != nil {
			return err
		}
		if _, err := s.db.ExecContext(ctx, `UPDATE volume_snapshots SET status = ?, updated_at = ? WHERE id = ?`,
			strings.ToLower(status), store.FormatTime(now()), sn.ID); err != nil {
			return err
		}
	case body.Has("os-force_delete"):
		sn, err := s.snapshotFor(ctx, c, id, ruleSnapshotGet)
		if err != nil {
			return err
		}
		if err := s.authorize(c, ruleSnapshotForceDelete, ownerTarget(sn.ProjectID)); err != nil {
			return err
		}
		if err := s.startSnapshotDelete(ctx, sn.ID, true); err != nil {
			return err
		}
	case body.Has("os-unmanage"):
		return s.unmanageSnapshot(w, r, c, id, body["os-unmanage"])
	case body.Has("os-update_snapshot_status"):
		inner, _, err := body.Obj("os-update_snapshot_status")
		if err != nil || inner == nil {
			return badRequest("Invalid input for field/attribute os-update_snapshot_status.")
		}
		sn, err := s.snapshotFor(ctx, c, id, ruleSnapshotGet)
		if err != nil {
			return err
		}
		if err := s.authorize(c, ruleSnapshotUpdateStat, ownerTarget(sn.ProjectID)); err != nil {
			return err
		}
		status, _, _ := inner.Str("status", false)
		allowed := map[string][]string{snapCreating: {snapCreating, stAvailable, stError},
			stDeleting: {stDeleting, snapErrorDeleting}}
		if !contains(allowed[sn.Status], status) {
			return invalidSnapshot("Provided snapshot status %s not allowed for snapshot with status %s.", status, sn.Status)
		}
		progress, _, _ := inner.Str("progress", false)
		if progress == "" {
			progress = sn.Progress
		}
		if _, err := s.db.ExecContext(ctx, `UPDATE volume_snapshots SET status = ?, progress = ?, updated_at = ? WHERE id = ?`,
			status, progress, store.FormatTime(now()), sn.ID); err != nil {
			return err
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	default:
		return badRequest("There is no such action: %s", firstKey(body))
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// listSnapshotMeta is GET /snapshots/{snapshot_id}/metadata.
func (s *Service) listSnapshotMeta(w http.ResponseWriter, r *http.Request, c *call) error {
	sn, err := s.snapshotFor(r.Context(), c, r.PathValue("snapshot_id"), c.rule)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"metadata": orEmpty(sn.Metadata)})
	return nil
}

// showSnapshotMetaItem is GET /snapshots/{snapshot_id}/metadata/{key}.
func (s *Service) showSnapshotMetaItem(w http.ResponseWriter, r *http.Request, c *call) error {
	sn, err := s.snapshotFor(r.Context(), c, r.PathValue("snapshot_id"), c.rule)
	if err != nil {
		return err
	}
	key := r.PathValue("key")
	v, ok := sn.Metadata[key]
	if !ok {
		return notFound("Snapshot %s has no metadata with key %s.", sn.ID, key)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"meta": map[string]string{key: v}})
	return nil
}

// createSnapshotMeta is POST /snapshots/{snapshot_id}/metadata (merge).
func (s *Service) createSnapshotMeta(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.writeSnapshotMeta(w, r, c, false)
}

// replaceSnapshotMeta is PUT /snapshots/{snapshot_id}/metadata (replace).
func (s *Service) replaceSnapshotMeta(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.writeSnapshotMeta(w, r, c, true)
}

// writeSnapshotMeta merges or replaces a snapshot's metadata.
func (s *Service) writeSnapshotMeta(w http.ResponseWriter, r *http.Request, c *call, replace bool) error {
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	meta, present, err := metadataField(body, "metadata", false)
	if err != nil {
		return err
	}
	if !present {
		return badRequest("Invalid input for field/attribute metadata. Value: None. 'metadata' is a required property")
	}
	ctx := r.Context()
	sn, err := s.snapshotFor(ctx, c, r.PathValue("snapshot_id"), c.rule)
	if err != nil {
		return err
	}
	var out map[string]string
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := setMeta(ctx, tx, "volume_snapshot_metadata", "snapshot_id", sn.ID, meta, replace); err != nil {
			return err
		}
		var err error
		out, err = loadMeta(ctx, tx, "volume_snapshot_metadata", "snapshot_id", sn.ID)
		return err
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"metadata": out})
	return nil
}

// updateSnapshotMetaItem is PUT /snapshots/{snapshot_id}/metadata/{key}.
func (s *Service) updateSnapshotMetaItem(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	meta, present, err := metadataField(body, "meta", false)
	if err != nil {
		return err
	}
	if !present {
		return badRequest("Malformed request body")
	}
	key := r.PathValue("key")
	if len(meta) > 1 {
		return badRequest("Request body contains too many items")
	}
	if _, ok := meta[key]; !ok {
		return badRequest("Request body and URI mismatch")
	}
	ctx := r.Context()
	sn, err := s.snapshotFor(ctx, c, r.PathValue("snapshot_id"), c.rule)
	if err != nil {
		return err
	}
	if err := s.db.InTx(ctx, func(tx *store.Tx) error {
		return setMeta(ctx, tx, "volume_snapshot_metadata", "snapshot_id", sn.ID, meta, false)
	}); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"meta": meta})
	return nil
}

// deleteSnapshotMetaItem is DELETE /snapshots/{snapshot_id}/metadata/{key}.
func (s *Service) deleteSnapshotMetaItem(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	sn, err := s.snapshotFor(ctx, c, r.PathValue("snapshot_id"), c.rule)
	if err != nil {
		return err
	}
	key := r.PathValue("key")
	if _, ok := sn.Metadata[key]; !ok {
		return notFound("Snapshot %s has no metadata with key %s.", sn.ID, key)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM volume_snapshot_metadata WHERE snapshot_id = ? AND meta_key = ?`,
		sn.ID, key); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
