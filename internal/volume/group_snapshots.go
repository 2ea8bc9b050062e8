package volume

import (
	"context"
	"net/http"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// Group snapshots (cinder/api/v3/group_snapshots.py, 3.14+): a snapshot of every volume
// of a group, taken together by a task of the cinder-volume runner; the member
// snapshots are ordinary snapshots with group_snapshot_id set.

// Group snapshot rules (cinder/policies/group_snapshots.py, group_snapshot_actions.py).
const (
	ruleGroupSnapshotGetAll      = "group:get_all_group_snapshots"
	ruleGroupSnapshotCreate      = "group:create_group_snapshot"
	ruleGroupSnapshotGet         = "group:get_group_snapshot"
	ruleGroupSnapshotDelete      = "group:delete_group_snapshot"
	ruleGroupSnapshotProjectAttr = "group:group_snapshot_project_attribute"
	ruleGroupSnapshotResetStatus = "group:reset_group_snapshot_status"
)

// groupSnapshotStatuses are the statuses reset_status accepts (GroupSnapshotStatus.ALL).
var groupSnapshotStatuses = map[string]bool{"error": true, "available": true, "creating": true, "deleting": true,
	"deleted": true, "updating": true, "error_deleting": true}

// groupSnapshotRoutes are /group_snapshots and their actions.
func (s *Service) groupSnapshotRoutes() []route {
	m := v(14)
	return []route{
		{method: "GET", path: "/group_snapshots", rule: ruleGroupSnapshotGetAll, minVer: m, handle: s.listGroupSnapshots(false)},
		{method: "GET", path: "/group_snapshots/detail", rule: ruleGroupSnapshotGetAll, minVer: m, handle: s.listGroupSnapshots(true)},
		{method: "POST", path: "/group_snapshots", rule: ruleGroupSnapshotCreate, minVer: m, handle: s.createGroupSnapshot},
		{method: "GET", path: "/group_snapshots/{id}", rule: ruleGroupSnapshotGet, minVer: m, handle: s.showGroupSnapshot},
		{method: "DELETE", path: "/group_snapshots/{id}", rule: ruleGroupSnapshotDelete, minVer: m, handle: s.deleteGroupSnapshot},
		{method: "POST", path: "/group_snapshots/{id}/action", rule: ruleGroupSnapshotResetStatus, minVer: v(19), handle: s.groupSnapshotAction},
	}
}

// groupSnapshot is a volume_group_snapshots row.
type groupSnapshot struct {
	ID, GroupID, ProjectID, UserID string
	Name, Description              *string
	Status, GroupTypeID, CreatedAt string
}

// groupSnapshotNotFound is Cinder's GroupSnapshotNotFound (404).
func groupSnapshotNotFound(id string) *api.Error {
	return notFound("GroupSnapshot %s could not be found.", id)
}

const groupSnapshotColumns = `id, group_id, project_id, user_id, name, description, status, group_type_id, created_at`

func scanGroupSnapshot(sc interface{ Scan(...any) error }) (*groupSnapshot, error) {
	var g groupSnapshot
	err := sc.Scan(&g.ID, &g.GroupID, &g.ProjectID, &g.UserID, &g.Name, &g.Description, &g.Status, &g.GroupTypeID,
		&g.CreatedAt)
	return &g, err
}

// loadGroupSnapshot reads a live group snapshot the caller may see.
func (s *Service) loadGroupSnapshot(ctx context.Context, q store.Querier, c *call, id string) (*groupSnapshot, error) {
	g, err := scanGroupSnapshot(q.QueryRowContext(ctx, `SELECT `+groupSnapshotColumns+` FROM volume_group_snapshots
		WHERE id = ? AND deleted = ?`, id, false))
	if store.IsNoRows(err) {
		return nil, groupSnapshotNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	if c != nil && g.ProjectID != callerProject(c) && !s.isAdmin(c) {
		return nil, groupSnapshotNotFound(id)
	}
	return g, nil
}

// memberSnapshot is what group snapshot operations need of a snapshot.
type memberSnapshot struct {
	ID, VolumeID, Status, TypeID string
	VolumeSize                   int64
}

// groupSnapshotMembers are the live snapshots of a group snapshot.
func groupSnapshotMembers(ctx context.Context, q store.Querier, gsID string) ([]*memberSnapshot, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, volume_id, status, type_id, volume_size FROM volume_snapshots
		WHERE group_snapshot_id = ? AND deleted = ? ORDER BY created_at, id`, gsID, false)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*memberSnapshot
	for rows.Next() {
		var m memberSnapshot
		if err := rows.Scan(&m.ID, &m.VolumeID, &m.Status, &m.TypeID, &m.VolumeSize); err != nil {
			return nil, err
		}
		out = append(out, &m)
	}
	return out, rows.Err()
}

// groupSnapshotView is a group snapshot's detail body.
func (s *Service) groupSnapshotView(c *call, g *groupSnapshot) map[string]any {
	out := map[string]any{"id": g.ID, "group_id": g.GroupID, "group_type_id": g.GroupTypeID, "status": g.Status,
		"created_at": isoTime(g.CreatedAt), "name": g.Name, "description": g.Description}
	if c.at(58) && s.can(c, ruleGroupSnapshotProjectAttr, ownerTarget(g.ProjectID)) {
		out["project_id"] = g.ProjectID
	}
	return out
}

func (s *Service) listGroupSnapshots(detail bool) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		if err := s.authorize(c, c.rule, nil); err != nil {
			return err
		}
		var page api.Page
		ctx := r.Context()
		query := `SELECT ` + groupSnapshotColumns + ` FROM volume_group_snapshots WHERE deleted = ?`
		args := []any{false}
		allTenants := false
		if c.at(29) {
			// Filters, sorting and paging came with 3.29.
			var err error
			if page, err = api.ParsePage(r); err != nil {
				return err
			}
			if allTenants, err = queryBool(r, "all_tenants"); err != nil {
				return err
			}
			q := r.URL.Query()
			for _, f := range []string{"name", "status", "group_id"} {
				if v := q.Get(f); v != "" {
					query += ` AND ` + f + ` = ?`
					args = append(args, v)
				}
			}
		}
		if !(allTenants && s.isAdmin(c)) {
			query += ` AND project_id = ?`
			args = append(args, callerProject(c))
		}
		rows, err := s.db.QueryContext(ctx, query+` ORDER BY created_at DESC, id DESC`, args...)
		if err != nil {
			return err
		}
		var all []*groupSnapshot
		for rows.Next() {
			g, err := scanGroupSnapshot(rows)
			if err != nil {
				rows.Close()
				return err
			}
			all = append(all, g)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		all, err = pageOf(all, func(g *groupSnapshot) string { return g.ID }, page, s.cfg.ListLimitMax)
		if err != nil {
			return err
		}
		list := make([]map[string]any, 0, len(all))
		for _, g := range all {
			if detail {
				list = append(list, s.groupSnapshotView(c, g))
			} else {
				list = append(list, map[string]any{"id": g.ID, "name": g.Name})
			}
		}
		out := map[string]any{"group_snapshots": list}
		if len(all) > 0 {
			if links := api.PageLinks(r, page, len(all), all[len(all)-1].ID); links != nil {
				out["group_snapshot_links"] = links
			}
		}
		api.WriteJSON(w, http.StatusOK, out)
		return nil
	}
}

func (s *Service) showGroupSnapshot(w http.ResponseWriter, r *http.Request, c *call) error {
	g, err := s.loadGroupSnapshot(r.Context(), s.db, c, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, ownerTarget(g.ProjectID)); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"group_snapshot": s.groupSnapshotView(c, g)})
	return nil
}

// groupSnapshotCreateRequest is a parsed group snapshot create body.
type groupSnapshotCreateRequest struct {
	GroupID           string
	Name, Description *string
}

// parseGroupSnapshotCreate reads {"group_snapshot": {"group_id", "name",
// "description"}}.
func parseGroupSnapshotCreate(body api.Object) (groupSnapshotCreateRequest, error) {
	var req groupSnapshotCreateRequest
	if err := onlyFields(body, "group_snapshot"); err != nil {
		return req, err
	}
	o, present, err := body.Obj("group_snapshot")
	if err != nil {
		return req, err
	}
	if !present || o == nil {
		return req, fieldError("group_snapshot", nil, "'group_snapshot' is a required property")
	}
	if err := onlyFields(o, "group_id", "name", "description"); err != nil {
		return req, err
	}
	v, ok := o["group_id"]
	if !ok {
		return req, fieldError("group_id", nil, "'group_id' is a required property")
	}
	id, isStr := v.(string)
	if !isStr || !isUUID(id) {
		return req, fieldError("group_id", v, "%s is not a 'uuid'", shortValue(v))
	}
	req.GroupID = id
	req.Name, req.Description, err = nameAndDescription(o)
	return req, err
}

func (s *Service) createGroupSnapshot(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	req, err := parseGroupSnapshotCreate(body)
	if err != nil {
		return err
	}
	ctx := r.Context()
	project := callerProject(c)
	ts := store.FormatTime(now())
	gs := &groupSnapshot{ID: api.NewUUID(), GroupID: req.GroupID, ProjectID: project, UserID: c.caller.UserID,
		Name: req.Name, Description: req.Description, Status: "creating", CreatedAt: ts}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		g, err := s.loadGroup(ctx, tx, c, req.GroupID)
		if err != nil {
			return err
		}
		if err := s.authorize(c, c.rule, ownerTarget(g.ProjectID)); err != nil {
			return err
		}
		if g.Status != groupAvailable {
			return invalidGroup("Group %s status must be available, but current status is: %s.", g.ID, g.Status)
		}
		gs.GroupTypeID = g.GroupTypeID
		gs.ProjectID = g.ProjectID
		members, err := memberVolumes(ctx, tx, g.ID)
		if err != nil {
			return err
		}
		usage := map[string]typeUsage{}
		for _, m := range members {
			if m.Status != "available" && m.Status != "in-use" {
				return invalidVolume("Volume %s status must be available or in-use, but current status is: %s.", m.ID, m.Status)
			}
			u := usage[m.TypeID]
			u.count, u.gigabytes = u.count+1, u.gigabytes+m.Size
			usage[m.TypeID] = u
		}
		if err := s.checkTypedQuota(ctx, tx, gs.ProjectID, usage, true); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO volume_group_snapshots (id, group_id, project_id, user_id, name,
			description, status, group_type_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			gs.ID, gs.GroupID, gs.ProjectID, gs.UserID, gs.Name, gs.Description, gs.Status, gs.GroupTypeID, ts, ts); err != nil {
			return err
		}
		for _, m := range members {
			// Cinder names the member snapshots after the group snapshot.
			if _, err := tx.ExecContext(ctx, `INSERT INTO volume_snapshots (id, volume_id, project_id, user_id, name,
				description, status, progress, volume_size, type_id, group_snapshot_id, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				api.NewUUID(), m.ID, gs.ProjectID, gs.UserID, gs.Name, gs.Description, "creating", "0%", m.Size, m.TypeID,
				gs.ID, ts, ts); err != nil {
				return err
			}
		}
		return enqueue(ctx, tx, s.volumeQueue(), taskCreateGroupSnapshot, gs.ID, nil)
	})
	if err != nil {
		return err
	}
	s.wake.notify()
	api.WriteJSON(w, http.StatusAccepted, map[string]any{"group_snapshot": map[string]any{
		"id": gs.ID, "name": gs.Name, "group_type_id": gs.GroupTypeID}})
	return nil
}

func (s *Service) deleteGroupSnapshot(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	id := r.PathValue("id")
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		gs, err := s.loadGroupSnapshot(ctx, tx, c, id)
		if err != nil {
			return err
		}
		if err := s.authorize(c, c.rule, ownerTarget(gs.ProjectID)); err != nil {
			return err
		}
		var creating int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_groups WHERE deleted = ? AND status = ?
			AND group_snapshot_id = ?`, false, groupCreating, gs.ID).Scan(&creating); err != nil {
			return err
		}
		if (gs.Status != "available" && gs.Status != "error") || creating > 0 {
			return badRequest("Invalid GroupSnapshot: GroupSnapshot status must be available or error, and no Group can be currently using it as source for its creation.")
		}
		ts := store.FormatTime(now())
		if _, err := tx.ExecContext(ctx, `UPDATE volume_snapshots SET status = ?, updated_at = ?
			WHERE group_snapshot_id = ? AND deleted = ?`, "deleting", ts, gs.ID, false); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE volume_group_snapshots SET status = ?, updated_at = ? WHERE id = ?`,
			"deleting", ts, gs.ID); err != nil {
			return err
		}
		return enqueue(ctx, tx, s.volumeQueue(), taskDeleteGroupSnapshot, gs.ID, nil)
	})
	if err != nil {
		return err
	}
	s.wake.notify()
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Service) groupSnapshotAction(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	action, arg, err := groupActionBody(body)
	if err != nil {
		return err
	}
	if action != "reset_status" {
		return badRequest("There is no such action: %s", action)
	}
	status, err := parseStatusArg(arg, groupSnapshotStatuses, func(st string) *api.Error {
		return fieldError("status", st, "Group snapshot status must be one of: %s",
			strings.Join(sortedKeys(groupSnapshotStatuses), ", "))
	})
	if err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		gs, err := s.loadGroupSnapshot(ctx, tx, c, id)
		if err != nil {
			return err
		}
		if err := s.authorize(c, c.rule, ownerTarget(gs.ProjectID)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE volume_group_snapshots SET status = ?, updated_at = ? WHERE id = ?`,
			status, store.FormatTime(now()), gs.ID)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
