package volume

import (
	"context"
	"net/http"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// User messages (/messages, 3.3): the failures Cinder records for users to read, built
// from a resource type, an action and a detail (cinder/message/message_field.py).

// Message rules (cinder/policies/messages.py).
const (
	ruleMessageGetAll = "message:get_all"
	ruleMessageGet    = "message:get"
	ruleMessageDelete = "message:delete"
)

// Message resource types.
const (
	resVolume   = "VOLUME"
	resSnapshot = "VOLUME_SNAPSHOT"
	resBackup   = "VOLUME_BACKUP"
)

// msgPart is an action or a detail: its id and its text.
type msgPart struct{ id, text string }

// The actions and details gostack records.
var (
	actionScheduleAllocate = msgPart{"001", "schedule allocate volume"}
	actionAttach           = msgPart{"002", "attach volume"}
	actionCopyToImage      = msgPart{"003", "copy volume to image"}
	actionUpdateAttachment = msgPart{"004", "update attachment"}
	actionCopyImage        = msgPart{"005", "copy image to volume"}
	actionUnmanageVolume   = msgPart{"006", "unmanage volume"}
	actionExtend           = msgPart{"007", "extend volume"}
	actionManageExisting   = msgPart{"008", "create volume from backend storage"}
	actionSnapshotCreate   = msgPart{"009", "create snapshot"}
	actionSnapshotDelete   = msgPart{"010", "delete snapshot"}
	actionBackupCreate     = msgPart{"013", "create backup"}
	actionBackupDelete     = msgPart{"014", "delete backup"}
	actionBackupRestore    = msgPart{"015", "restore backup"}
	actionReimage          = msgPart{"016", "reimage volume"}

	detailUnknown         = msgPart{"001", "An unknown error occurred."}
	detailNoBackend       = msgPart{"003", "Could not find any available weighted backend."}
	detailUploadFailed    = msgPart{"004", "Failed to upload volume to image at backend."}
	detailQuotaExceeded   = msgPart{"006", "Not enough quota resource for operation."}
	detailImageNoSpace    = msgPart{"007", "Image used for creating volume exceeds available space."}
	detailExtendFailed    = msgPart{"010", "Volume Driver failed to extend volume."}
	detailCreateFailed    = msgPart{"012", "Driver failed to create the volume."}
	detailSnapshotCreate  = msgPart{"013", "Snapshot failed to create."}
	detailSnapshotDelete  = msgPart{"016", "Snapshot failed to delete."}
	detailBackupCreate    = msgPart{"020", "Backup driver failed to create backup."}
	detailBackupDelete    = msgPart{"025", "Backup driver failed to delete backup."}
	detailBackupRestore   = msgPart{"026", "Backup driver failed to restore backup."}
	detailAttachFailed    = msgPart{"021", "Failed to attach volume."}
	detailInvalidVolState = msgPart{"027", "Volume status is invalid."}
	detailReimageFailed   = msgPart{"028", "Compute service failed to reimage volume."}
)

// messageRoutes are /messages.
func (s *Service) messageRoutes() []route {
	return []route{
		{method: "GET", path: "/messages", rule: ruleMessageGetAll, minVer: v(3), handle: s.listMessages},
		{method: "GET", path: "/messages/{message_id}", rule: ruleMessageGet, minVer: v(3), handle: s.showMessage},
		{method: "DELETE", path: "/messages/{message_id}", rule: ruleMessageDelete, minVer: v(3), handle: s.deleteMessage},
	}
}

// recordMessage stores a user message inside tx.
func (s *Service) recordMessage(ctx context.Context, tx *store.Tx, project, resType, resID string, action, detail msgPart) error {
	t := now()
	_, err := tx.ExecContext(ctx, `INSERT INTO volume_messages (id, project_id, request_id, resource_type, resource_uuid,
		event_id, action_id, detail_id, message_level, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		api.NewUUID(), project, api.RequestID(ctx), resType, resID, "VOLUME_"+resType+"_"+action.id+"_"+detail.id,
		action.id, detail.id, "ERROR", store.FormatTime(t), store.FormatTime(t.Add(s.cfg.MessageTTL)))
	return err
}

// messageTexts maps action and detail ids back to their texts.
var messageTexts = func() (actions, details map[string]string) {
	actions, details = map[string]string{}, map[string]string{}
	for _, a := range []msgPart{actionScheduleAllocate, actionAttach, actionCopyToImage, actionUpdateAttachment,
		actionCopyImage, actionExtend, actionSnapshotCreate, actionSnapshotDelete, actionBackupCreate,
		actionBackupDelete, actionBackupRestore, actionReimage, actionUnmanageVolume, actionManageExisting} {
		actions[a.id] = a.text
	}
	for _, d := range []msgPart{detailUnknown, detailNoBackend, detailUploadFailed, detailImageNoSpace,
		detailExtendFailed, detailCreateFailed, detailSnapshotCreate, detailSnapshotDelete, detailBackupCreate,
		detailBackupDelete, detailBackupRestore, detailAttachFailed, detailInvalidVolState, detailReimageFailed,
		detailQuotaExceeded} {
		details[d.id] = d.text
	}
	return actions, details
}

// messageRec is one volume_messages row.
type messageRec struct {
	id, project, requestID, resType, eventID, actionID, detailID, level, createdAt, expiresAt string
	resUUID                                                                                   *string
}

// messageView is Cinder's message view.
func (s *Service) messageView(r *http.Request, m *messageRec) map[string]any {
	actions, details := messageTexts()
	out := map[string]any{"id": m.id, "event_id": m.eventID,
		"user_message": actions[m.actionID] + ": " + details[m.detailID], "message_level": m.level,
		"created_at": isoTime(m.createdAt), "guaranteed_until": isoTime(m.expiresAt), "request_id": m.requestID,
		"links": s.resourceLinks(r, "messages", m.id), "resource_type": m.resType}
	if m.resUUID != nil {
		out["resource_uuid"] = *m.resUUID
	}
	return out
}

// loadMessages reads the live messages of a project (all projects when project is "").
func (s *Service) loadMessages(ctx context.Context, project, id string) ([]*messageRec, error) {
	q := `SELECT id, project_id, request_id, resource_type, resource_uuid, event_id, action_id, detail_id, message_level,
		created_at, expires_at FROM volume_messages WHERE deleted = ? AND expires_at > ?`
	args := []any{false, store.FormatTime(now())}
	if project != "" {
		q += ` AND project_id = ?`
		args = append(args, project)
	}
	if id != "" {
		q += ` AND id = ?`
		args = append(args, id)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY created_at DESC, id DESC`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*messageRec
	for rows.Next() {
		var m messageRec
		if err := rows.Scan(&m.id, &m.project, &m.requestID, &m.resType, &m.resUUID, &m.eventID, &m.actionID,
			&m.detailID, &m.level, &m.createdAt, &m.expiresAt); err != nil {
			return nil, err
		}
		out = append(out, &m)
	}
	return out, rows.Err()
}

// listMessages is GET /messages.
func (s *Service) listMessages(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	project := c.caller.ProjectID
	if s.isAdmin(c) && allTenants(r.URL.Query()) {
		project = ""
	}
	msgs, err := s.loadMessages(r.Context(), project, "")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var filtered []*messageRec
	for _, m := range msgs {
		if v := q.Get("resource_type"); v != "" && m.resType != v {
			continue
		}
		if v := q.Get("resource_uuid"); v != "" && (m.resUUID == nil || *m.resUUID != v) {
			continue
		}
		if v := q.Get("event_id"); v != "" && m.eventID != v {
			continue
		}
		if v := q.Get("message_level"); v != "" && m.level != v {
			continue
		}
		filtered = append(filtered, m)
	}
	limit, err := s.pageLimit(q)
	if err != nil {
		return err
	}
	filtered, err = paginate(s, filtered, func(m *messageRec) string { return m.id }, q, limit)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(filtered))
	for _, m := range filtered {
		out = append(out, s.messageView(r, m))
	}
	body := map[string]any{"messages": out}
	if len(filtered) > 0 {
		if links := s.collectionLinks(r, "messages", len(filtered), limit, filtered[len(filtered)-1].id); links != nil {
			body["messages_links"] = links
		}
	}
	api.WriteJSON(w, http.StatusOK, body)
	return nil
}

// messageFor loads a message the caller may see.
func (s *Service) messageFor(ctx context.Context, c *call, id, rule string) (*messageRec, error) {
	msgs, err := s.loadMessages(ctx, "", id)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 || (msgs[0].project != c.caller.ProjectID && !s.isAdmin(c)) {
		return nil, notFound("Message %s could not be found.", id)
	}
	if err := s.authorize(c, rule, ownerTarget(msgs[0].project)); err != nil {
		return nil, err
	}
	return msgs[0], nil
}

// showMessage is GET /messages/{message_id}.
func (s *Service) showMessage(w http.ResponseWriter, r *http.Request, c *call) error {
	m, err := s.messageFor(r.Context(), c, r.PathValue("message_id"), c.rule)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"message": s.messageView(r, m)})
	return nil
}

// deleteMessage is DELETE /messages/{message_id} (204).
func (s *Service) deleteMessage(w http.ResponseWriter, r *http.Request, c *call) error {
	m, err := s.messageFor(r.Context(), c, r.PathValue("message_id"), c.rule)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(r.Context(), `UPDATE volume_messages SET deleted = ? WHERE id = ?`, true, m.id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
