package volume

import (
	"context"
	"net/http"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// Backup rules (cinder/policies/backups.py, backup_actions.py).
const (
	ruleBackupGetAll       = "backup:get_all"
	ruleBackupGet          = "backup:get"
	ruleBackupCreate       = "backup:create"
	ruleBackupUpdate       = "backup:update"
	ruleBackupDelete       = "backup:delete"
	ruleBackupRestore      = "backup:restore"
	ruleBackupProjectAttr  = "backup:backup_project_attribute"
	ruleBackupExport       = "backup:export-import"
	ruleBackupImport       = "backup:backup-import"
	ruleBackupResetStatus  = "volume_extension:backup_admin_actions:reset_status"
	ruleBackupForceDelete  = "volume_extension:backup_admin_actions:force_delete"
	backupCreating         = "creating"
	backupRestoring        = "restoring"
	backupErrorDeleting    = "error_deleting"
	backupDefaultContainer = "volumebackups"
)

// backupRoutes are /backups.
func (s *Service) backupRoutes() []route {
	return []route{
		{method: "GET", path: "/backups", rule: ruleBackupGetAll, handle: s.listBackups},
		{method: "GET", path: "/backups/detail", rule: ruleBackupGetAll, handle: s.listBackupsDetail},
		{method: "POST", path: "/backups", rule: ruleBackupCreate, handle: s.createBackup},
		{method: "POST", path: "/backups/import_record", rule: ruleBackupImport, handle: s.importBackupRecord},
		{method: "GET", path: "/backups/{backup_id}", rule: ruleBackupGet, handle: s.showBackup},
		{method: "PUT", path: "/backups/{backup_id}", rule: ruleBackupUpdate, minVer: v(9), handle: s.updateBackup},
		{method: "DELETE", path: "/backups/{backup_id}", rule: ruleBackupDelete, handle: s.deleteBackup},
		{method: "POST", path: "/backups/{backup_id}/restore", rule: ruleBackupRestore, handle: s.restoreBackup},
		{method: "POST", path: "/backups/{backup_id}/action", rule: ruleBackupResetStatus, handle: s.backupAction},
		{method: "GET", path: "/backups/{backup_id}/export_record", rule: ruleBackupExport, handle: s.exportBackupRecord},
	}
}

// backupRec is one volume_backups row.
type backupRec struct {
	ID, VolumeID                    string
	SnapshotID                      *string
	ProjectID, UserID               string
	Name, Description               *string
	Status                          string
	FailReason                      *string
	AZ                              string
	Container, Host                 *string
	Size, ObjectCount, StoredBytes  int64
	IsIncremental                   bool
	ParentID, RestoreVolumeID       *string
	DataTimestamp                   string
	Deleted                         bool
	CreatedAt, UpdatedAt, DeletedAt string
	Metadata                        map[string]string
	HasDependents                   bool
}

// backupColumns lists the columns scanBackup reads.
const backupColumns = `b.id, b.volume_id, b.snapshot_id, b.project_id, b.user_id, b.name, b.description, b.status,
	b.fail_reason, b.availability_zone, b.container, b.host, b.size, b.object_count, b.stored_bytes, b.is_incremental,
	b.parent_id, b.restore_volume_id, b.data_timestamp, b.deleted, b.created_at, b.updated_at, b.deleted_at,
	EXISTS (SELECT 1 FROM volume_backups d WHERE d.parent_id = b.id AND d.deleted = FALSE)`

// scanBackup reads one backup row.
func scanBackup(row scanner) (*backupRec, error) {
	var b backupRec
	err := row.Scan(&b.ID, &b.VolumeID, &b.SnapshotID, &b.ProjectID, &b.UserID, &b.Name, &b.Description, &b.Status,
		&b.FailReason, &b.AZ, &b.Container, &b.Host, &b.Size, &b.ObjectCount, &b.StoredBytes, &b.IsIncremental,
		&b.ParentID, &b.RestoreVolumeID, &b.DataTimestamp, &b.Deleted, &b.CreatedAt, &b.UpdatedAt, &b.DeletedAt,
		&b.HasDependents)
	return &b, err
}

// loadBackupRow reads a backup (deleted ones too); nil when none.
func loadBackupRow(ctx context.Context, q store.Querier, id string) (*backupRec, error) {
	b, err := scanBackup(q.QueryRowContext(ctx, `SELECT `+backupColumns+` FROM volume_backups b WHERE b.id = ?`, id))
	if store.IsNoRows(err) {
		return nil, nil
	}
	return b, err
}

// loadBackup reads an undeleted backup with its metadata.
func loadBackup(ctx context.Context, q store.Querier, id string) (*backupRec, error) {
	b, err := loadBackupRow(ctx, q, id)
	if err != nil || b == nil || b.Deleted {
		return nil, err
	}
	b.Metadata, err = loadMeta(ctx, q, "volume_backup_metadata", "backup_id", id)
	return b, err
}

// backupFor loads a backup the caller may act on under rule.
func (s *Service) backupFor(ctx context.Context, c *call, id, rule string) (*backupRec, error) {
	b, err := loadBackup(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if b == nil || (b.ProjectID != c.caller.ProjectID && !s.isAdmin(c)) {
		return nil, backupNotFound(id)
	}
	if err := s.authorize(c, rule, ownerTarget(b.ProjectID)); err != nil {
		return nil, err
	}
	return b, nil
}

// backupView is Cinder's detailed backup view.
func (s *Service) backupView(r *http.Request, c *call, b *backupRec) map[string]any {
	out := map[string]any{"id": b.ID, "status": b.Status, "size": b.Size, "object_count": b.ObjectCount,
		"availability_zone": b.AZ, "container": strOrNil(b.Container), "created_at": isoTime(b.CreatedAt),
		"updated_at": isoTime(b.UpdatedAt), "name": strOrNil(b.Name), "description": strOrNil(b.Description),
		"fail_reason": strOrNil(b.FailReason), "volume_id": b.VolumeID, "links": s.resourceLinks(r, "backups", b.ID),
		"is_incremental": b.IsIncremental, "has_dependent_backups": b.HasDependents,
		"snapshot_id": strOrNil(b.SnapshotID), "data_timestamp": isoTime(b.DataTimestamp)}
	if c.at(18) && s.can(c, ruleBackupProjectAttr, ownerTarget(b.ProjectID)) {
		out["os-backup-project-attr:project_id"] = b.ProjectID
	}
	if c.at(43) {
		out["metadata"] = orEmpty(b.Metadata)
	}
	if c.at(56) {
		out["user_id"] = b.UserID
	}
	if c.at(64) {
		out["encryption_key_id"] = nil
	}
	return out
}

// listBackups is GET /backups.
func (s *Service) listBackups(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.writeBackupList(w, r, c, false)
}

// listBackupsDetail is GET /backups/detail.
func (s *Service) listBackupsDetail(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.writeBackupList(w, r, c, true)
}

// writeBackupList answers a backup list (filters name, status, volume_id).
func (s *Service) writeBackupList(w http.ResponseWriter, r *http.Request, c *call, detail bool) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	ctx := r.Context()
	q := r.URL.Query()
	where := `WHERE b.deleted = ?`
	args := []any{false}
	if !(s.isAdmin(c) && allTenants(q)) {
		where += ` AND b.project_id = ?`
		args = append(args, c.caller.ProjectID)
	}
	for _, k := range []string{"status", "volume_id", "name"} {
		if v, ok := q[k]; ok {
			where += ` AND b.` + k + ` = ?`
			args = append(args, v[0])
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+backupColumns+` FROM volume_backups b `+where, args...)
	if err != nil {
		return err
	}
	var list []*backupRec
	for rows.Next() {
		b, err := scanBackup(rows)
		if err != nil {
			rows.Close()
			return err
		}
		list = append(list, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	ids := make([]string, len(list))
	for i, b := range list {
		ids[i] = b.ID
	}
	meta, err := loadMetaMany(ctx, s.db, "volume_backup_metadata", "backup_id", ids)
	if err != nil {
		return err
	}
	for _, b := range list {
		b.Metadata = meta[b.ID]
	}
	keys, err := parseSort(q, map[string]bool{"id": true, "status": true, "created_at": true, "updated_at": true,
		"display_name": true, "size": true, "volume_id": true})
	if err != nil {
		return err
	}
	sortRows(list, keys, func(b *backupRec, k string) any {
		switch k {
		case "id":
			return b.ID
		case "status":
			return b.Status
		case "updated_at":
			return b.UpdatedAt
		case "display_name":
			if b.Name == nil {
				return nil
			}
			return *b.Name
		case "size":
			return b.Size
		case "volume_id":
			return b.VolumeID
		}
		return b.CreatedAt
	})
	total := len(list)
	limit, err := s.pageLimit(q)
	if err != nil {
		return err
	}
	list, err = paginate(s, list, func(b *backupRec) string { return b.ID }, q.Get("marker"), limit)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, b := range list {
		if detail {
			out = append(out, s.backupView(r, c, b))
		} else {
			out = append(out, map[string]any{"id": b.ID, "name": strOrNil(b.Name), "links": s.resourceLinks(r, "backups", b.ID)})
		}
	}
	body := map[string]any{"backups": out}
	coll := "backups"
	if detail {
		coll = "backups/detail"
	}
	if len(list) > 0 {
		if links := s.collectionLinks(r, coll, len(list), limit, list[len(list)-1].ID); links != nil {
			body["backups_links"] = links
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

// showBackup is GET /backups/{backup_id}.
func (s *Service) showBackup(w http.ResponseWriter, r *http.Request, c *call) error {
	b, err := s.backupFor(r.Context(), c, r.PathValue("backup_id"), c.rule)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"backup": s.backupView(r, c, b)})
	return nil
}

// backupServiceQueue is the queue of an up and enabled cinder-backup service, "" when
// there is none.
func (s *Service) backupServiceQueue(ctx context.Context) (string, error) {
	rows, err := s.loadServices(ctx, "", binaryBackup)
	if err != nil {
		return "", err
	}
	for _, sv := range rows {
		if !sv.disabled && s.up(sv) {
			return "backup:" + sv.host, nil
		}
	}
	return "", nil
}

// backupParams are the create_backup task's params.
type backupParams struct {
	PreviousStatus string `json:"previous_status"`
	ParentID       string `json:"parent_id,omitempty"`
}

// createBackup is POST /backups: full or incremental, from an available volume (in-use
// with force) or from a snapshot.
func (s *Service) createBackup(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := api.DecodeObject(r, "backup")
	if err != nil {
		return err
	}
	volID, _, err := body.Str("volume_id", false)
	if err != nil || volID == "" {
		return badRequest("Invalid input for field/attribute backup. Value: %s. 'volume_id' is a required property", showValue(map[string]any(body)))
	}
	name, _, err := optString(body, "name", 255)
	if err != nil {
		return err
	}
	desc, _, err := optString(body, "description", 255)
	if err != nil {
		return err
	}
	container, _, err := optString(body, "container", 255)
	if err != nil {
		return err
	}
	boolOpt := func(k string) (bool, error) {
		v, ok := body[k]
		if !ok || v == nil {
			return false, nil
		}
		b, valid := boolValue(v)
		if !valid {
			return false, schemaError(k, v, "Invalid boolean")
		}
		return b, nil
	}
	incremental, err := boolOpt("incremental")
	if err != nil {
		return err
	}
	force, err := boolOpt("force")
	if err != nil {
		return err
	}
	snapRef, _, err := optString(body, "snapshot_id", 255)
	if err != nil {
		return err
	}
	var meta map[string]string
	if c.at(43) {
		if meta, _, err = metadataField(body, "metadata", true); err != nil {
			return err
		}
	}
	ctx := r.Context()
	vol, err := s.volumeFor(ctx, c, volID, ruleVolumeGet)
	if err != nil {
		return err
	}
	if err := s.authorize(c, ruleBackupCreate, ownerTarget(vol.ProjectID)); err != nil {
		return err
	}
	var snap *snapshotRec
	if snapRef != nil && *snapRef != "" {
		if snap, err = s.snapshotFor(ctx, c, *snapRef, ruleSnapshotGet); err != nil {
			return err
		}
		if snap.VolumeID != vol.ID {
			return invalidVolume("Volume %s does not match with snapshot.volume_id %s.", vol.ID, snap.VolumeID)
		}
	}
	queue, err := s.backupServiceQueue(ctx)
	if err != nil {
		return err
	}
	if queue == "" {
		return api.Errorf(http.StatusServiceUnavailable, "Service cinder-backup could not be found.")
	}
	if container == nil {
		container = ptr(backupDefaultContainer)
	}
	b := &backupRec{ID: api.NewUUID(), VolumeID: vol.ID, ProjectID: c.caller.ProjectID, UserID: c.caller.UserID,
		Name: name, Description: desc, Status: backupCreating, AZ: s.cfg.AvailabilityZone, Container: container,
		Host: ptr(s.cfg.Host), Size: vol.Size, Metadata: orEmpty(meta)}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := loadVolumeRow(ctx, tx, vol.ID)
		if err != nil {
			return err
		}
		if snap != nil {
			sn, err := loadSnapshotRow(ctx, tx, snap.ID)
			if err != nil {
				return err
			}
			if sn.Status != stAvailable {
				return invalidSnapshot("Snapshot to be backed up must be available, but the current status is \"%s\".", sn.Status)
			}
			b.SnapshotID = &sn.ID
			b.DataTimestamp = sn.CreatedAt
		} else {
			if cur.Status != stAvailable && cur.Status != stInUse {
				return invalidVolume("Volume to be backed up must be available or in-use, but the current status is \"%s\".", cur.Status)
			}
			if cur.Status == stInUse && !force {
				return invalidVolume("Backing up an in-use volume must use the force flag.")
			}
		}
		if err := s.checkQuota(ctx, tx, b.ProjectID, quotaDelta{backups: 1, backupGigabytes: cur.Size}); err != nil {
			return err
		}
		params := backupParams{PreviousStatus: cur.Status}
		if incremental {
			parent, err := latestBackup(ctx, tx, vol.ID, b.DataTimestamp)
			if err != nil {
				return err
			}
			if parent == "" {
				return invalidBackup("No backups available to do an incremental backup.")
			}
			b.ParentID, b.IsIncremental, params.ParentID = &parent, true, parent
		}
		ts := store.FormatTime(now())
		b.CreatedAt, b.UpdatedAt = ts, ts
		if b.DataTimestamp == "" {
			b.DataTimestamp = ts
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO volume_backups (id, volume_id, snapshot_id, project_id, user_id, name,
			description, status, availability_zone, container, host, size, is_incremental, parent_id, data_timestamp,
			created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, b.ID, b.VolumeID,
			b.SnapshotID, b.ProjectID, b.UserID, b.Name, b.Description, b.Status, b.AZ, b.Container, b.Host, b.Size,
			b.IsIncremental, b.ParentID, b.DataTimestamp, ts, ts); err != nil {
			return err
		}
		if err := setMeta(ctx, tx, "volume_backup_metadata", "backup_id", b.ID, meta, false); err != nil {
			return err
		}
		if snap != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE volume_snapshots SET status = ?, updated_at = ? WHERE id = ?`,
				stBackingUp, ts, snap.ID); err != nil {
				return err
			}
		} else if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, previous_status = ?, updated_at = ?
			WHERE id = ?`, stBackingUp, cur.Status, ts, cur.ID); err != nil {
			return err
		}
		return enqueue(ctx, tx, queue, taskCreateBackup, b.ID, params)
	})
	if err != nil {
		return err
	}
	s.wake.notify()
	out := map[string]any{"id": b.ID, "name": strOrNil(b.Name), "links": s.resourceLinks(r, "backups", b.ID)}
	if c.at(43) {
		out["metadata"] = b.Metadata
	}
	api.WriteJSON(w, http.StatusAccepted, map[string]any{"backup": out})
	return nil
}

// latestBackup is the newest available backup of a volume taken before before (any
// time when ""), the parent of an incremental one.
func latestBackup(ctx context.Context, q store.Querier, volID, before string) (string, error) {
	query := `SELECT id FROM volume_backups WHERE volume_id = ? AND deleted = ? AND status = ?`
	args := []any{volID, false, stAvailable}
	if before != "" {
		query += ` AND data_timestamp < ?`
		args = append(args, before)
	}
	var id string
	err := q.QueryRowContext(ctx, query+` ORDER BY data_timestamp DESC, created_at DESC LIMIT 1`, args...).Scan(&id)
	if store.IsNoRows(err) {
		return "", nil
	}
	return id, err
}

// updateBackup is PUT /backups/{backup_id} (3.9): name, description, metadata (3.43).
func (s *Service) updateBackup(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := api.DecodeObject(r, "backup")
	if err != nil {
		return err
	}
	for k := range body {
		switch k {
		case "name", "description":
		case "metadata":
			if c.at(43) {
				continue
			}
			fallthrough
		default:
			return badRequest("Invalid input for field/attribute backup. Additional properties are not allowed ('%s' was unexpected)", k)
		}
	}
	ctx := r.Context()
	b, err := s.backupFor(ctx, c, r.PathValue("backup_id"), c.rule)
	if err != nil {
		return err
	}
	if v, given, err := optString(body, "name", 255); err != nil {
		return err
	} else if given {
		b.Name = v
	}
	if v, given, err := optString(body, "description", 255); err != nil {
		return err
	} else if given {
		b.Description = v
	}
	meta, metaGiven, err := metadataField(body, "metadata", true)
	if err != nil {
		return err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		b.UpdatedAt = store.FormatTime(now())
		if _, err := tx.ExecContext(ctx, `UPDATE volume_backups SET name = ?, description = ?, updated_at = ? WHERE id = ?`,
			b.Name, b.Description, b.UpdatedAt, b.ID); err != nil {
			return err
		}
		if metaGiven {
			b.Metadata = meta
			return setMeta(ctx, tx, "volume_backup_metadata", "backup_id", b.ID, meta, true)
		}
		return nil
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"backup": s.backupView(r, c, b)})
	return nil
}

// deleteBackup is DELETE /backups/{backup_id} (202).
func (s *Service) deleteBackup(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	b, err := s.backupFor(ctx, c, r.PathValue("backup_id"), c.rule)
	if err != nil {
		return err
	}
	if err := s.startBackupDelete(ctx, b.ID, false); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// startBackupDelete marks a backup deleting and queues the delete.
func (s *Service) startBackupDelete(ctx context.Context, id string, force bool) error {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		b, err := loadBackup(ctx, tx, id)
		if err != nil {
			return err
		}
		if b == nil {
			return backupNotFound(id)
		}
		if !force && b.Status != stAvailable && b.Status != stError {
			return invalidBackup("Backup status must be available or error")
		}
		if force && (b.Status == backupCreating || b.Status == backupRestoring) {
			return badRequest("force delete of a backup in status %s is not supported.", b.Status)
		}
		if b.HasDependents {
			return invalidBackup("Incremental backups exist for this backup.")
		}
		queue := "backup:" + s.cfg.Host
		if b.Host != nil && *b.Host != "" {
			queue = "backup:" + *b.Host
		}
		if _, err := tx.ExecContext(ctx, `UPDATE volume_backups SET status = ?, updated_at = ? WHERE id = ?`,
			stDeleting, store.FormatTime(now()), b.ID); err != nil {
			return err
		}
		return enqueue(ctx, tx, queue, taskDeleteBackup, b.ID, nil)
	})
	if err != nil {
		return err
	}
	s.wake.notify()
	return nil
}

// restoreParams are the restore_backup task's params (its resource is the volume).
type restoreParams struct {
	BackupID string `json:"backup_id"`
	// NewVolume says the restore creates the volume's data first.
	NewVolume bool `json:"new_volume,omitempty"`
}

// restoreBackup is POST /backups/{backup_id}/restore {"restore": {volume_id?, name?}}:
// to an existing available volume at least as large, or to a new one.
func (s *Service) restoreBackup(w http.ResponseWriter, r *http.Request, c *call) error {
	top, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	body, present, err := top.Obj("restore")
	if err != nil {
		return err
	}
	if !present {
		return badRequest("Invalid input for field/attribute restore. Value: None. 'restore' is a required property")
	}
	if body == nil {
		body = api.Object{}
	}
	volRef, _, err := optString(body, "volume_id", 255)
	if err != nil {
		return err
	}
	name, _, err := optString(body, "name", 255)
	if err != nil {
		return err
	}
	ctx := r.Context()
	b, err := s.backupFor(ctx, c, r.PathValue("backup_id"), c.rule)
	if err != nil {
		return err
	}
	if b.Status != stAvailable {
		return invalidBackup("Backup status must be available")
	}
	queue, err := s.backupServiceQueue(ctx)
	if err != nil {
		return err
	}
	if queue == "" {
		return api.Errorf(http.StatusServiceUnavailable, "Service cinder-backup could not be found.")
	}
	var target *volumeRec
	if volRef != nil && *volRef != "" {
		if target, err = s.volumeFor(ctx, c, *volRef, ruleVolumeGet); err != nil {
			return err
		}
	}
	var volID, volName string
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		params := restoreParams{BackupID: b.ID}
		if target == nil {
			vt, err := s.defaultTypeFor(ctx, tx, c.caller.ProjectID)
			if err != nil {
				return err
			}
			if err := s.checkQuota(ctx, tx, c.caller.ProjectID, quotaDelta{volumes: 1, gigabytes: b.Size, typeName: vt.Name,
				volumeSize: b.Size}); err != nil {
				return err
			}
			if name == nil {
				name = ptr("restore_backup_" + b.ID)
			}
			ts := store.FormatTime(now())
			nv := &volumeRec{ID: api.NewUUID(), ProjectID: c.caller.ProjectID, UserID: c.caller.UserID, Name: name,
				Description: ptr("auto-created_from_restore_from_backup"), Size: b.Size, Status: stRestoringBackup,
				AttachStatus: attachDetached, AZ: s.cfg.AvailabilityZone, Host: ptr(s.poolHost()), TypeID: vt.ID,
				Multiattach: vt.multiattach(), ConsumesQuota: true, DiskFormat: vt.format(), CreatedAt: ts, UpdatedAt: ts}
			if err := insertVolume(ctx, tx, nv); err != nil {
				return err
			}
			volID, volName, params.NewVolume = nv.ID, *name, true
		} else {
			cur, err := loadVolumeRow(ctx, tx, target.ID)
			if err != nil {
				return err
			}
			if cur.Status != stAvailable {
				return invalidVolume("Volume to be restored to must be available")
			}
			if b.Size > cur.Size {
				return invalidVolume("volume size %d is too small to restore backup of size %d.", cur.Size, b.Size)
			}
			if _, err := casStatus(ctx, tx, cur.ID, []string{stAvailable}, stRestoringBackup, ""); err != nil {
				return err
			}
			volID = cur.ID
			if cur.Name != nil {
				volName = *cur.Name
			}
		}
		ts := store.FormatTime(now())
		if _, err := tx.ExecContext(ctx, `UPDATE volume_backups SET status = ?, restore_volume_id = ?, updated_at = ?
			WHERE id = ?`, backupRestoring, volID, ts, b.ID); err != nil {
			return err
		}
		return enqueue(ctx, tx, queue, taskRestoreBackup, volID, params)
	})
	if err != nil {
		return err
	}
	s.wake.notify()
	api.WriteJSON(w, http.StatusAccepted, map[string]any{"restore": map[string]any{"backup_id": b.ID, "volume_id": volID,
		"volume_name": volName}})
	return nil
}

// backupStatuses are the statuses os-reset_status accepts for a backup.
var backupStatuses = []string{"available", "error"}

// backupAction is POST /backups/{backup_id}/action: os-reset_status, os-force_delete.
func (s *Service) backupAction(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("backup_id")
	switch {
	case body.Has("os-reset_status"):
		inner, _, err := body.Obj("os-reset_status")
		if err != nil || inner == nil {
			return badRequest("Invalid input for field/attribute os-reset_status.")
		}
		status, _, _ := inner.Str("status", false)
		status = strings.ToLower(status)
		if !contains(backupStatuses, status) {
			return badRequest("Backup status: %s is invalid, valid statuses are: %s.", status, strings.Join(backupStatuses, ", "))
		}
		b, err := s.backupFor(ctx, c, id, ruleBackupGet)
		if err != nil {
			return err
		}
		if err := s.authorize(c, ruleBackupResetStatus, ownerTarget(b.ProjectID)); err != nil {
			return err
		}
		if _, err := s.db.ExecContext(ctx, `UPDATE volume_backups SET status = ?, updated_at = ? WHERE id = ?`,
			status, store.FormatTime(now()), b.ID); err != nil {
			return err
		}
	case body.Has("os-force_delete"):
		b, err := s.backupFor(ctx, c, id, ruleBackupGet)
		if err != nil {
			return err
		}
		if err := s.authorize(c, ruleBackupForceDelete, ownerTarget(b.ProjectID)); err != nil {
			return err
		}
		if err := s.startBackupDelete(ctx, b.ID, true); err != nil {
			return err
		}
	default:
		return badRequest("There is no such action: %s", firstKey(body))
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// exportBackupRecord is GET /backups/{backup_id}/export_record: the file backup store
// keeps its data under this cloud's data directory only, so records are not portable.
func (s *Service) exportBackupRecord(w http.ResponseWriter, r *http.Request, c *call) error {
	if _, err := s.backupFor(r.Context(), c, r.PathValue("backup_id"), c.rule); err != nil {
		return err
	}
	return badRequest("Invalid backup: Backup export and import are not supported by this cloud's backup store.")
}

// importBackupRecord is POST /backups/import_record (not supported, see export).
func (s *Service) importBackupRecord(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	return badRequest("Invalid backup: Backup export and import are not supported by this cloud's backup store.")
}
