package volume

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/driver/block"
	"github.com/gostack/gostack/internal/store"
)

// The attachments API (3.27+) is how Nova attaches volumes: create reserves the volume
// for an instance (with a connector it also returns the connection info), update gives
// the connector and gets the connection info from the block driver, complete (3.44)
// marks the volume in-use, delete detaches. The legacy os-reserve/os-attach/os-detach
// actions (actions.go) drive the same rows.

// Attachment rules (cinder/policies/attachments.py).
const (
	ruleAttachmentCreate   = "volume:attachment_create"
	ruleAttachmentUpdate   = "volume:attachment_update"
	ruleAttachmentDelete   = "volume:attachment_delete"
	ruleAttachmentComplete = "volume:attachment_complete"
)

// attachmentRoutes are /attachments.
func (s *Service) attachmentRoutes() []route {
	return []route{
		{method: "GET", path: "/attachments", rule: ruleVolumeGetAll, minVer: v(27), handle: s.listAttachments},
		{method: "GET", path: "/attachments/detail", rule: ruleVolumeGetAll, minVer: v(27), handle: s.listAttachmentsDetail},
		{method: "POST", path: "/attachments", rule: ruleAttachmentCreate, minVer: v(27), handle: s.createAttachment},
		{method: "GET", path: "/attachments/{attachment_id}", rule: ruleVolumeGet, minVer: v(27), handle: s.showAttachment},
		{method: "PUT", path: "/attachments/{attachment_id}", rule: ruleAttachmentUpdate, minVer: v(27), handle: s.updateAttachment},
		{method: "DELETE", path: "/attachments/{attachment_id}", rule: ruleAttachmentDelete, minVer: v(27), handle: s.deleteAttachment},
		{method: "POST", path: "/attachments/{attachment_id}/action", rule: ruleAttachmentComplete, minVer: v(44), handle: s.attachmentAction},
	}
}

// attachmentRec is one volume_attachments row.
type attachmentRec struct {
	ID, VolumeID                           string
	InstanceUUID, AttachedHost, Mountpoint *string
	AttachMode, AttachStatus               string
	Connector, ConnectionInfo              *string
	AttachTime, DetachTime                 string
	CreatedAt                              string
	ProjectID                              string // the volume's, for policy
	seq                                    int64
}

// attachmentColumns lists the columns scanAttachment reads.
const attachmentColumns = `a.id, a.volume_id, a.instance_uuid, a.attached_host, a.mountpoint, a.attach_mode, a.attach_status,
	a.connector, a.connection_info, a.attach_time, a.detach_time, a.created_at, v.project_id, a.seq`

// scanAttachment reads one attachment row.
func scanAttachment(row scanner) (*attachmentRec, error) {
	var a attachmentRec
	err := row.Scan(&a.ID, &a.VolumeID, &a.InstanceUUID, &a.AttachedHost, &a.Mountpoint, &a.AttachMode, &a.AttachStatus,
		&a.Connector, &a.ConnectionInfo, &a.AttachTime, &a.DetachTime, &a.CreatedAt, &a.ProjectID, &a.seq)
	return &a, err
}

// loadAttachmentsMany reads the live attachments of volumes, in creation order.
func loadAttachmentsMany(ctx context.Context, q store.Querier, ids []string) (map[string][]*attachmentRec, error) {
	out := map[string][]*attachmentRec{}
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		args := []any{false}
		for _, id := range chunk {
			args = append(args, id)
		}
		rows, err := q.QueryContext(ctx, `SELECT `+attachmentColumns+` FROM volume_attachments a
			JOIN volume_volumes v ON v.id = a.volume_id WHERE a.deleted = ? AND a.volume_id IN (`+
			strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")+`) ORDER BY a.seq`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			a, err := scanAttachment(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out[a.VolumeID] = append(out[a.VolumeID], a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// loadAttachment reads a live attachment; nil when none.
func loadAttachment(ctx context.Context, q store.Querier, id string) (*attachmentRec, error) {
	a, err := scanAttachment(q.QueryRowContext(ctx, `SELECT `+attachmentColumns+` FROM volume_attachments a
		JOIN volume_volumes v ON v.id = a.volume_id WHERE a.id = ? AND a.deleted = ?`, id, false))
	if store.IsNoRows(err) {
		return nil, nil
	}
	return a, err
}

// attachmentFor loads an attachment the caller may act on under rule.
func (s *Service) attachmentFor(ctx context.Context, c *call, id, rule string) (*attachmentRec, error) {
	a, err := loadAttachment(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if a == nil || (a.ProjectID != c.caller.ProjectID && !s.isAdmin(c)) {
		return nil, attachmentNotFound(id)
	}
	if err := s.authorize(c, rule, ownerTarget(a.ProjectID)); err != nil {
		return nil, err
	}
	return a, nil
}

// attachmentView is Cinder's attachment view (detail adds times, mode and connection).
func attachmentView(a *attachmentRec, detail bool) map[string]any {
	out := map[string]any{"id": a.ID, "status": a.AttachStatus, "instance": strOrNil(a.InstanceUUID), "volume_id": a.VolumeID}
	if detail {
		out["attached_at"] = isoTimeOrEmpty(a.AttachTime)
		out["detached_at"] = isoTimeOrEmpty(a.DetachTime)
		out["attach_mode"] = a.AttachMode
		var ci any = map[string]any{}
		if a.ConnectionInfo != nil && *a.ConnectionInfo != "" {
			var m map[string]any
			if json.Unmarshal([]byte(*a.ConnectionInfo), &m) == nil {
				ci = m
			}
		}
		out["connection_info"] = ci
	}
	return out
}

// isoTimeOrEmpty is the attachment view's time: "" when unset (Cinder's _normalize).
func isoTimeOrEmpty(stored string) any {
	if t := isoTime(stored); t != nil {
		return t
	}
	return ""
}

// listAttachments is GET /attachments.
func (s *Service) listAttachments(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.writeAttachmentList(w, r, c, false)
}

// listAttachmentsDetail is GET /attachments/detail.
func (s *Service) listAttachmentsDetail(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.writeAttachmentList(w, r, c, true)
}

// writeAttachmentList answers an attachment list (filters volume_id, status,
// instance_id, attach_status).
func (s *Service) writeAttachmentList(w http.ResponseWriter, r *http.Request, c *call, detail bool) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	q := r.URL.Query()
	where := `WHERE a.deleted = ?`
	args := []any{false}
	if !(s.isAdmin(c) && q.Has("all_tenants")) {
		where += ` AND v.project_id = ?`
		args = append(args, c.caller.ProjectID)
	}
	if v := q.Get("volume_id"); v != "" {
		where += ` AND a.volume_id = ?`
		args = append(args, v)
	}
	if v := q.Get("instance_id"); v != "" {
		where += ` AND a.instance_uuid = ?`
		args = append(args, v)
	}
	for _, k := range []string{"status", "attach_status"} {
		if v := q.Get(k); v != "" {
			where += ` AND a.attach_status = ?`
			args = append(args, v)
		}
	}
	rows, err := s.db.QueryContext(r.Context(), `SELECT `+attachmentColumns+` FROM volume_attachments a
		JOIN volume_volumes v ON v.id = a.volume_id `+where+` ORDER BY a.seq DESC`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var list []*attachmentRec
	for rows.Next() {
		a, err := scanAttachment(rows)
		if err != nil {
			return err
		}
		list = append(list, a)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	limit, err := s.pageLimit(q)
	if err != nil {
		return err
	}
	list, err = paginate(s, list, func(a *attachmentRec) string { return a.ID }, q.Get("marker"), limit)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, a := range list {
		out = append(out, attachmentView(a, detail))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"attachments": out})
	return nil
}

// showAttachment is GET /attachments/{attachment_id}.
func (s *Service) showAttachment(w http.ResponseWriter, r *http.Request, c *call) error {
	a, err := s.attachmentFor(r.Context(), c, r.PathValue("attachment_id"), c.rule)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"attachment": attachmentView(a, true)})
	return nil
}

// createAttachment is POST /attachments: reserve the volume for an instance, and with a
// connector connect it at once (200, the detail view).
func (s *Service) createAttachment(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := api.DecodeObject(r, "attachment")
	if err != nil {
		return err
	}
	for k := range body {
		switch k {
		case "instance_uuid", "connector", "volume_uuid":
		case "mode":
			if c.at(54) {
				continue
			}
			fallthrough
		default:
			return badRequest("Invalid input for field/attribute attachment. Additional properties are not allowed ('%s' was unexpected)", k)
		}
	}
	volID, _, err := body.Str("volume_uuid", false)
	if err != nil || volID == "" || !isUUID(volID) {
		return schemaError("volume_uuid", body["volume_uuid"], "'volume_uuid' is a required property")
	}
	instance, _, err := optString(body, "instance_uuid", 255)
	if err != nil {
		return err
	}
	if instance != nil && !isUUID(*instance) {
		return schemaError("instance_uuid", *instance, "'"+*instance+"' is not a 'uuid'")
	}
	connector, _, err := body.Obj("connector")
	if err != nil {
		return schemaError("connector", body["connector"], showValue(body["connector"])+" is not of type 'object', 'null'")
	}
	mode := "null"
	if c.at(54) {
		if m, given, err := body.Str("mode", false); err != nil {
			return err
		} else if given {
			if m != "rw" && m != "ro" {
				return schemaError("mode", m, "'"+m+"' is not one of ['rw', 'ro']")
			}
			mode = m
		}
	}
	ctx := r.Context()
	vol, err := s.volumeFor(ctx, c, volID, ruleVolumeGet)
	if err != nil {
		return err
	}
	if err := s.authorize(c, ruleAttachmentCreate, ownerTarget(vol.ProjectID)); err != nil {
		return err
	}
	a, err := s.reserveVolume(ctx, vol.ID, instance, mode)
	if err != nil {
		return err
	}
	if len(connector) > 0 {
		if a, err = s.connectAttachment(ctx, a.ID, connector); err != nil {
			return err
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"attachment": attachmentView(a, true)})
	return nil
}

// reserveVolume is Cinder's _attachment_reserve: the volume must be available (or
// in-use/reserved when multiattach, or already attached to the same instance) and goes
// to "reserved" with a new attachment row.
func (s *Service) reserveVolume(ctx context.Context, volID string, instance *string, mode string) (*attachmentRec, error) {
	id := api.NewUUID()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		v, err := loadVolume(ctx, tx, volID)
		if err != nil {
			return err
		}
		if v == nil {
			return volumeNotFound(volID)
		}
		if strings.Contains(v.Status, "error") {
			return invalidVolume("Volume attachments can not be created if the volume is in an error state. The Volume %s currently has a status of: %s ", v.ID, v.Status)
		}
		expected := []string{stAvailable, stDownloading}
		if v.Multiattach {
			expected = []string{stAvailable, stInUse, stReserved, stDownloading}
		}
		if !contains(expected, v.Status) {
			override := false
			if instance != nil && (v.Status == stInUse || v.Status == stReserved) {
				for _, a := range v.Attachments {
					if a.InstanceUUID != nil && *a.InstanceUUID == *instance {
						override = true
					}
				}
			}
			if !override {
				return invalidVolume("Volume %s status must be %s to reserve, but the current status is %s.",
					v.ID, buildOr(expected), v.Status)
			}
		}
		if v.Status != stDownloading {
			if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, updated_at = ? WHERE id = ?`,
				stReserved, store.FormatTime(now()), v.ID); err != nil {
				return err
			}
		}
		if v.AdminMeta["readonly"] == "True" {
			mode = "ro"
		}
		return insertAttachment(ctx, tx, id, v.ID, instance, mode, attachReserved)
	})
	if err != nil {
		return nil, err
	}
	return loadAttachment(ctx, s.db, id)
}

// buildOr joins statuses as Cinder's build_or_str does ("a or b").
func buildOr(list []string) string { return strings.Join(list, " or ") }

// insertAttachment writes a new attachment row.
func insertAttachment(ctx context.Context, tx *store.Tx, id, volID string, instance *string, mode, status string) error {
	seq, err := nextID(ctx, tx, "attachments")
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO volume_attachments (id, seq, volume_id, instance_uuid, attach_mode,
		attach_status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id, seq, volID, instance, mode, status,
		store.FormatTime(now()), store.FormatTime(now()))
	return err
}

// connectAttachment is the volume manager's attachment_update: the driver's connection
// info for the connector (flattened as Cinder returns it, with attachment_id), the
// attachment "attaching" and the volume "attaching".
func (s *Service) connectAttachment(ctx context.Context, attID string, connector api.Object) (*attachmentRec, error) {
	a, err := loadAttachment(ctx, s.db, attID)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, attachmentNotFound(attID)
	}
	v, err := loadVolume(ctx, s.db, a.VolumeID)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, volumeNotFound(a.VolumeID)
	}
	if strings.Contains(v.Status, "error") {
		return nil, conflict("Volume attachments can not be updated if the volume is in an error state. The Volume %s currently has a status of: %s ", v.ID, v.Status)
	}
	host, _ := connector["host"].(string)
	if !v.Multiattach && len(v.Attachments) > 1 {
		for _, o := range v.Attachments {
			if o.ID != a.ID && o.ConnectionInfo != nil {
				return nil, conflict("duplicate connectors detected on volume %s", v.ID)
			}
		}
	}
	info, err := s.connectionInfo(ctx, v)
	if err != nil {
		return nil, err
	}
	mode := a.AttachMode
	if mode == "null" {
		if m, _ := connector["mode"].(string); m == "ro" || m == "rw" {
			mode = m
		} else {
			mode = "rw"
		}
	}
	info["access_mode"] = mode
	info["attachment_id"] = a.ID
	em, _ := connector["enforce_multipath"].(bool)
	info["enforce_multipath"] = em
	ci, _ := json.Marshal(info)
	cb, _ := json.Marshal(map[string]any(connector))
	mount, _ := connector["mountpoint"].(string)
	if mount == "" {
		mount = "na"
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		ts := store.FormatTime(now())
		if _, err := tx.ExecContext(ctx, `UPDATE volume_attachments SET attach_status = ?, connector = ?, connection_info = ?,
			attached_host = ?, mountpoint = ?, attach_mode = ?, attach_time = ?, updated_at = ? WHERE id = ? AND deleted = ?`,
			attachAttaching, string(cb), string(ci), host, mount, mode, ts, ts, a.ID, false); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, attach_status = ?, updated_at = ?
			WHERE id = ? AND status IN (?, ?, ?)`, stAttaching, attachAttaching, ts, v.ID, stReserved, stAvailable, stAttaching)
		return err
	})
	if err != nil {
		return nil, err
	}
	return loadAttachment(ctx, s.db, a.ID)
}

// connectionInfo asks the block driver how this host reaches the volume, flattened as
// Cinder's _connection_create returns it (the data keys next to driver_volume_type).
func (s *Service) connectionInfo(ctx context.Context, v *volumeRec) (map[string]any, error) {
	d, _ := s.backend()
	if d == nil {
		return nil, api.Errorf(http.StatusInternalServerError, "Unable to update the attachment.")
	}
	conn, err := d.Connection(ctx, block.Volume{ID: v.ID, SizeGB: v.Size, Format: v.DiskFormat})
	if errors.Is(err, block.ErrNotFound) {
		return nil, invalidVolume("Volume %s has no data on its backend.", v.ID)
	}
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for k, val := range conn.Data {
		out[k] = val
	}
	out["driver_volume_type"] = conn.DriverVolumeType
	return out, nil
}

// updateAttachment is PUT /attachments/{attachment_id} {"attachment": {"connector": {...}}}.
func (s *Service) updateAttachment(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := api.DecodeObject(r, "attachment")
	if err != nil {
		return err
	}
	connector, present, err := body.Obj("connector")
	if err != nil || !present || len(connector) == 0 {
		return badRequest("Invalid input for field/attribute attachment. Value: %s. 'connector' is a required property", showValue(map[string]any(body)))
	}
	for k := range body {
		if k != "connector" {
			return badRequest("Invalid input for field/attribute attachment. Additional properties are not allowed ('%s' was unexpected)", k)
		}
	}
	ctx := r.Context()
	a, err := s.attachmentFor(ctx, c, r.PathValue("attachment_id"), c.rule)
	if err != nil {
		return err
	}
	if a, err = s.connectAttachment(ctx, a.ID, connector); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"attachment": attachmentView(a, true)})
	return nil
}

// attachmentAction is POST /attachments/{attachment_id}/action {"os-complete": null}.
func (s *Service) attachmentAction(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	if !body.Has("os-complete") || len(body) != 1 {
		return badRequest("Invalid input for field/attribute body. 'os-complete' is a required property")
	}
	ctx := r.Context()
	a, err := s.attachmentFor(ctx, c, r.PathValue("attachment_id"), c.rule)
	if err != nil {
		return err
	}
	if err := s.completeAttachment(ctx, a); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// completeAttachment marks the attachment attached and the volume in-use.
func (s *Service) completeAttachment(ctx context.Context, a *attachmentRec) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		ts := store.FormatTime(now())
		attach := a.AttachTime
		if attach == "" {
			attach = ts
		}
		if _, err := tx.ExecContext(ctx, `UPDATE volume_attachments SET attach_status = ?, attach_time = ?, updated_at = ?
			WHERE id = ?`, attachAttached, attach, ts, a.ID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, attach_status = ?, updated_at = ? WHERE id = ?`,
			stInUse, attachAttached, ts, a.VolumeID)
		return err
	})
}

// deleteAttachment is DELETE /attachments/{attachment_id}: detach, answering the
// attachments still on the volume.
func (s *Service) deleteAttachment(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	a, err := s.attachmentFor(ctx, c, r.PathValue("attachment_id"), c.rule)
	if err != nil {
		return err
	}
	left, err := s.finishDetach(ctx, a.VolumeID, a.ID)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(left))
	for _, o := range left {
		out = append(out, attachmentView(o, false))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"attachments": out})
	return nil
}

// finishDetach is Cinder's Volume.finish_detach: the attachment goes (detached, soft
// deleted); the volume is available when none is left, else in-use. It returns the
// attachments left.
func (s *Service) finishDetach(ctx context.Context, volID, attID string) ([]*attachmentRec, error) {
	var left []*attachmentRec
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		ts := store.FormatTime(now())
		if _, err := tx.ExecContext(ctx, `UPDATE volume_attachments SET attach_status = ?, detach_time = ?, deleted = ?,
			deleted_at = ?, updated_at = ? WHERE id = ?`, attachDetached, ts, true, ts, ts, attID); err != nil {
			return err
		}
		all, err := loadAttachmentsMany(ctx, tx, []string{volID})
		if err != nil {
			return err
		}
		left = all[volID]
		status, attach := stAvailable, attachDetached
		if len(left) > 0 {
			status, attach = stInUse, attachAttached
			anyAttached := false
			for _, o := range left {
				if o.AttachStatus == attachAttached {
					anyAttached = true
				}
			}
			if !anyAttached {
				status, attach = stReserved, attachDetached
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, attach_status = ?, updated_at = ?
			WHERE id = ? AND status NOT IN (?, ?)`, status, attach, ts, volID, stDeleting, stErrorDeleting)
		return err
	})
	return left, err
}
