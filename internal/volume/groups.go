package volume

import (
	"context"
	"net/http"
	"sort"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// Generic volume groups (cinder/api/v3/groups.py, 3.13+): a group has a group type and
// the volume types its volumes may have; volumes join at creation (group_id) or through
// update (add_volumes/remove_volumes); a group is deleted with its volumes
// (delete-volumes) by a task of the cinder-volume runner, and can be created from a
// group snapshot or another group (3.14), its volumes made by the runner.

// Group rules (cinder/policies/groups.py, group_actions.py).
const (
	ruleGroupGetAll        = "group:get_all"
	ruleGroupCreate        = "group:create"
	ruleGroupGet           = "group:get"
	ruleGroupUpdate        = "group:update"
	ruleGroupProjectAttr   = "group:group_project_attribute"
	ruleGroupDelete        = "group:delete"
	ruleGroupResetStatus   = "group:reset_status"
	ruleGroupEnableRepl    = "group:enable_replication"
	ruleGroupDisableRepl   = "group:disable_replication"
	ruleGroupFailoverRepl  = "group:failover_replication"
	ruleGroupListReplTargs = "group:list_replication_targets"
)

// Group statuses (Cinder's GroupStatus).
const (
	groupCreating      = "creating"
	groupAvailable     = "available"
	groupDeleting      = "deleting"
	groupError         = "error"
	groupErrorDeleting = "error_deleting"
)

// groupStatuses are the statuses reset_status accepts (GroupStatus.ALL).
var groupStatuses = map[string]bool{"error": true, "available": true, "creating": true, "deleting": true,
	"deleted": true, "updating": true, "in-use": true, "error_deleting": true}

// Volume statuses that may leave or join a group (cinder/group/api.py).
var (
	validRemoveVolumeStatus = []string{"available", "in-use", "error", "error_deleting"}
	validAddVolumeStatus    = []string{"available", "in-use"}
)

// groupRoutes are /groups and their actions.
func (s *Service) groupRoutes() []route {
	m := v(13)
	return []route{
		{method: "GET", path: "/groups", rule: ruleGroupGetAll, minVer: m, handle: s.listGroups(false)},
		{method: "GET", path: "/groups/detail", rule: ruleGroupGetAll, minVer: m, handle: s.listGroups(true)},
		{method: "POST", path: "/groups", rule: ruleGroupCreate, minVer: m, handle: s.createGroup},
		{method: "POST", path: "/groups/action", rule: ruleGroupCreate, minVer: v(14), handle: s.createGroupFromSource},
		{method: "GET", path: "/groups/{id}", rule: ruleGroupGet, minVer: m, handle: s.showGroup},
		{method: "PUT", path: "/groups/{id}", rule: ruleGroupUpdate, minVer: m, handle: s.updateGroup},
		{method: "POST", path: "/groups/{id}/action", minVer: m, handle: s.groupAction},
	}
}

// group is a volume_groups row with its volume types.
type group struct {
	ID, ProjectID, UserID string
	Name, Description     *string
	Status, AZ            string
	Host                  *string
	GroupTypeID           string
	GroupSnapshotID       *string
	SourceGroupID         *string
	ReplicationStatus     string
	CreatedAt             string
	VolumeTypes           []string
}

// groupNotFound is Cinder's GroupNotFound (404).
func groupNotFound(id string) *api.Error { return notFound("Group %s could not be found.", id) }

// invalidGroup is Cinder's InvalidGroup (400).
func invalidGroup(format string, args ...any) *api.Error {
	return badRequest("Invalid Group: "+format, args...)
}

const groupColumns = `id, project_id, user_id, name, description, status, availability_zone, host, group_type_id,
	group_snapshot_id, source_group_id, replication_status, created_at`

// scanGroup reads a row of groupColumns.
func scanGroup(sc interface{ Scan(...any) error }) (*group, error) {
	var g group
	err := sc.Scan(&g.ID, &g.ProjectID, &g.UserID, &g.Name, &g.Description, &g.Status, &g.AZ, &g.Host,
		&g.GroupTypeID, &g.GroupSnapshotID, &g.SourceGroupID, &g.ReplicationStatus, &g.CreatedAt)
	return &g, err
}

// loadGroup reads a live group the caller may see (its project's, or any for admins),
// with its volume types.
func (s *Service) loadGroup(ctx context.Context, q store.Querier, c *call, id string) (*group, error) {
	g, err := scanGroup(q.QueryRowContext(ctx, `SELECT `+groupColumns+` FROM volume_groups WHERE id = ? AND deleted = ?`,
		id, false))
	if store.IsNoRows(err) {
		return nil, groupNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	if c != nil && g.ProjectID != callerProject(c) && !s.isAdmin(c) {
		return nil, groupNotFound(id)
	}
	g.VolumeTypes, err = groupVolumeTypes(ctx, q, id)
	return g, err
}

// groupVolumeTypes are a group's volume type ids in request order.
func groupVolumeTypes(ctx context.Context, q store.Querier, id string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT type_id FROM volume_group_volume_types WHERE group_id = ? ORDER BY position`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// memberVolume is what group operations need of a volume.
type memberVolume struct {
	ID, ProjectID, Status, AttachStatus string
	Size                                int64
	TypeID                              string
	GroupID                             *string
	DiskFormat                          string
	Bootable                            bool
	SnapshotID, SourceVolID             *string
}

const memberColumns = `id, project_id, status, attach_status, size, type_id, group_id, disk_format, bootable,
	snapshot_id, source_volid`

func scanMember(sc interface{ Scan(...any) error }) (*memberVolume, error) {
	var m memberVolume
	err := sc.Scan(&m.ID, &m.ProjectID, &m.Status, &m.AttachStatus, &m.Size, &m.TypeID, &m.GroupID, &m.DiskFormat,
		&m.Bootable, &m.SnapshotID, &m.SourceVolID)
	return &m, err
}

// memberVolumes are the live volumes of a group, oldest first.
func memberVolumes(ctx context.Context, q store.Querier, groupID string) ([]*memberVolume, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+memberColumns+` FROM volume_volumes WHERE group_id = ? AND deleted = ?
		ORDER BY created_at, id`, groupID, false)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*memberVolume
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// groupView is a group's detail body at the call's microversion.
func (s *Service) groupView(ctx context.Context, r *http.Request, c *call, g *group) (map[string]any, error) {
	out := map[string]any{
		"id": g.ID, "status": g.Status, "availability_zone": g.AZ,
		"created_at": isoTime(g.CreatedAt), "name": g.Name, "description": g.Description,
		"group_type": g.GroupTypeID, "volume_types": g.VolumeTypes,
	}
	if c.at(14) {
		out["group_snapshot_id"] = g.GroupSnapshotID
		out["source_group_id"] = g.SourceGroupID
	}
	if c.at(25) {
		if list, err := queryBool(r, "list_volume"); err == nil && list {
			vols, err := memberVolumes(ctx, s.db, g.ID)
			if err != nil {
				return nil, err
			}
			ids := []string{}
			for _, v := range vols {
				ids = append(ids, v.ID)
			}
			out["volumes"] = ids
		}
	}
	if c.at(38) {
		out["replication_status"] = g.ReplicationStatus
	}
	if c.at(58) && s.can(c, ruleGroupProjectAttr, ownerTarget(g.ProjectID)) {
		out["project_id"] = g.ProjectID
	}
	return out, nil
}

func (s *Service) listGroups(detail bool) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		if err := s.authorize(c, c.rule, nil); err != nil {
			return err
		}
		page, err := api.ParsePage(r)
		if err != nil {
			return err
		}
		ctx := r.Context()
		q := r.URL.Query()
		allTenants, err := queryBool(r, "all_tenants")
		if err != nil {
			return err
		}
		query := `SELECT ` + groupColumns + ` FROM volume_groups WHERE deleted = ?`
		args := []any{false}
		if !(allTenants && s.isAdmin(c)) {
			query += ` AND project_id = ?`
			args = append(args, callerProject(c))
		}
		for _, f := range []string{"name", "status"} {
			if v := q.Get(f); v != "" {
				query += ` AND ` + f + ` = ?`
				args = append(args, v)
			}
		}
		rows, err := s.db.QueryContext(ctx, query+` ORDER BY created_at DESC, id DESC`, args...)
		if err != nil {
			return err
		}
		var all []*group
		for rows.Next() {
			g, err := scanGroup(rows)
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
		all, err = pageOf(all, func(g *group) string { return g.ID }, page, s.cfg.ListLimitMax)
		if err != nil {
			return err
		}
		list := make([]map[string]any, 0, len(all))
		for _, g := range all {
			if !detail {
				list = append(list, map[string]any{"id": g.ID, "name": g.Name})
				continue
			}
			if g.VolumeTypes, err = groupVolumeTypes(ctx, s.db, g.ID); err != nil {
				return err
			}
			view, err := s.groupView(ctx, r, c, g)
			if err != nil {
				return err
			}
			list = append(list, view)
		}
		out := map[string]any{"groups": list}
		if len(all) > 0 {
			if links := api.PageLinks(r, page, len(all), all[len(all)-1].ID); links != nil {
				out["group_links"] = links
			}
		}
		api.WriteJSON(w, http.StatusOK, out)
		return nil
	}
}

func (s *Service) showGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	g, err := s.loadGroup(ctx, s.db, c, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, ownerTarget(g.ProjectID)); err != nil {
		return err
	}
	view, err := s.groupView(ctx, r, c, g)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"group": view})
	return nil
}

// groupCreateRequest is a parsed group create body.
type groupCreateRequest struct {
	Name, Description *string
	GroupType         string
	VolumeTypes       []string
	AZ                string
}

// parseGroupCreate reads {"group": {"group_type", "volume_types", "name",
// "description", "availability_zone"}}.
func parseGroupCreate(body api.Object) (groupCreateRequest, error) {
	var req groupCreateRequest
	if err := onlyFields(body, "group"); err != nil {
		return req, err
	}
	o, present, err := body.Obj("group")
	if err != nil {
		return req, err
	}
	if !present || o == nil {
		return req, fieldError("group", nil, "'group' is a required property")
	}
	if err := onlyFields(o, "group_type", "volume_types", "name", "description", "availability_zone"); err != nil {
		return req, err
	}
	if req.Name, req.Description, err = nameAndDescription(o); err != nil {
		return req, err
	}
	gtv, ok := o["group_type"]
	if !ok {
		return req, fieldError("group_type", nil, "'group_type' is a required property")
	}
	gt, isStr := gtv.(string)
	if !isStr || strings.TrimSpace(gt) == "" || len([]rune(gt)) > 255 {
		return req, fieldError("group_type", gtv, "A valid group type name or id is required.")
	}
	req.GroupType = gt
	vtv, ok := o["volume_types"]
	if !ok {
		return req, fieldError("volume_types", nil, "'volume_types' is a required property")
	}
	arr, isArr := vtv.([]any)
	if !isArr {
		return req, fieldError("volume_types", vtv, "%s is not of type 'array'", shortValue(vtv))
	}
	if len(arr) == 0 {
		return req, fieldError("volume_types", vtv, "[] is too short")
	}
	seen := map[string]bool{}
	for _, e := range arr {
		s, isStr := e.(string)
		if !isStr || len([]rune(s)) > 255 {
			return req, fieldError("volume_types", vtv, "%s is not a valid volume type", shortValue(e))
		}
		if seen[s] {
			return req, fieldError("volume_types", vtv, "has non-unique elements")
		}
		seen[s] = true
		req.VolumeTypes = append(req.VolumeTypes, s)
	}
	if azv, ok := o["availability_zone"]; ok && azv != nil {
		az, isStr := azv.(string)
		if !isStr || az == "" || len([]rune(az)) > 255 {
			return req, fieldError("availability_zone", azv, "%s is not a valid availability zone", shortValue(azv))
		}
		req.AZ = az
	}
	return req, nil
}

// nameAndDescription reads the optional name and description of a group or group
// snapshot body (stripped, as Cinder does).
func nameAndDescription(o api.Object) (name, desc *string, err error) {
	if n, present, err := optStr(o, "name", 255); err != nil {
		return nil, nil, err
	} else if present && o["name"] != nil {
		n = strings.TrimSpace(n)
		name = &n
	}
	if d, present, err := optStr(o, "description", 255); err != nil {
		return nil, nil, err
	} else if present && o["description"] != nil {
		d = strings.TrimSpace(d)
		desc = &d
	}
	return name, desc, nil
}

// volumeTypeByNameOrID resolves a live volume type the way Cinder's get_by_name_or_id
// does: an id first, then a name.
func volumeTypeByNameOrID(ctx context.Context, q store.Querier, ref string) (string, error) {
	var id string
	err := q.QueryRowContext(ctx, `SELECT id FROM volume_types WHERE id = ? AND deleted = ?`, ref, false).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !store.IsNoRows(err) {
		return "", err
	}
	err = q.QueryRowContext(ctx, `SELECT id FROM volume_types WHERE name = ? AND deleted = ?`, ref, false).Scan(&id)
	if store.IsNoRows(err) {
		if isUUID(ref) {
			return "", typeNotFound(ref)
		}
		return "", typeNotFoundByName(ref)
	}
	return id, err
}

func (s *Service) createGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	req, err := parseGroupCreate(body)
	if err != nil {
		return err
	}
	az := s.cfg.AvailabilityZone
	if req.AZ != "" {
		if req.AZ != az {
			return invalidInput("Availability zone '%s' is invalid.", req.AZ)
		}
	}
	ctx := r.Context()
	project := callerProject(c)
	g := &group{ID: api.NewUUID(), ProjectID: project, UserID: c.caller.UserID, Name: req.Name,
		Description: req.Description, Status: groupAvailable, AZ: az, ReplicationStatus: "disabled",
		CreatedAt: store.FormatTime(now())}
	host := s.volumeHost()
	g.Host = &host
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var gt *groupType
		var err error
		if isUUID(req.GroupType) {
			gt, err = loadGroupType(ctx, tx, req.GroupType, s.isAdmin(c))
		} else {
			gt, err = loadGroupTypeByName(ctx, tx, req.GroupType, s.isAdmin(c))
		}
		if err != nil {
			return err
		}
		g.GroupTypeID = gt.ID
		for _, ref := range req.VolumeTypes {
			id, err := volumeTypeByNameOrID(ctx, tx, ref)
			if err != nil {
				return err
			}
			g.VolumeTypes = append(g.VolumeTypes, id)
		}
		if err := s.checkGroupQuota(ctx, tx, project); err != nil {
			return err
		}
		return insertGroup(ctx, tx, g)
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusAccepted, map[string]any{"group": map[string]any{"id": g.ID, "name": g.Name}})
	return nil
}

// insertGroup writes a group row and its volume types.
func insertGroup(ctx context.Context, tx *store.Tx, g *group) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO volume_groups (id, project_id, user_id, name, description, status,
		availability_zone, host, group_type_id, group_snapshot_id, source_group_id, replication_status, created_at,
		updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		g.ID, g.ProjectID, g.UserID, g.Name, g.Description, g.Status, g.AZ, g.Host, g.GroupTypeID, g.GroupSnapshotID,
		g.SourceGroupID, g.ReplicationStatus, g.CreatedAt, g.CreatedAt); err != nil {
		return err
	}
	seen := map[string]bool{}
	pos := 0
	for _, t := range g.VolumeTypes {
		if seen[t] {
			// A name and the id of the same type resolve to one mapping.
			continue
		}
		seen[t] = true
		if _, err := tx.ExecContext(ctx, `INSERT INTO volume_group_volume_types (group_id, type_id, position)
			VALUES (?, ?, ?)`, g.ID, t, pos); err != nil {
			return err
		}
		pos++
	}
	return nil
}

// groupUpdateRequest is a parsed group update body.
type groupUpdateRequest struct {
	Name, Description *string
	Add, Remove       []string
}

// parseGroupUpdate reads {"group": {"name", "description", "add_volumes",
// "remove_volumes"}}: at least one of them; the volume lists are comma-separated ids.
func parseGroupUpdate(body api.Object) (groupUpdateRequest, error) {
	var req groupUpdateRequest
	if err := onlyFields(body, "group"); err != nil {
		return req, err
	}
	o, present, err := body.Obj("group")
	if err != nil {
		return req, err
	}
	if !present || o == nil {
		return req, fieldError("group", nil, "'group' is a required property")
	}
	if err := onlyFields(o, "name", "description", "add_volumes", "remove_volumes"); err != nil {
		return req, err
	}
	if len(o) == 0 {
		return req, fieldError("group", "{}", "{} is not valid under any of the given schemas")
	}
	if req.Name, req.Description, err = nameAndDescription(o); err != nil {
		return req, err
	}
	for _, f := range []struct {
		key string
		dst *[]string
	}{{"add_volumes", &req.Add}, {"remove_volumes", &req.Remove}} {
		s, present, err := optStr(o, f.key, 255)
		if err != nil {
			return req, err
		}
		if !present || s == "" {
			continue
		}
		for _, id := range strings.Split(strings.Trim(s, ","), ",") {
			if id != "" {
				*f.dst = append(*f.dst, id)
			}
		}
	}
	var both []string
	for _, a := range req.Add {
		for _, rm := range req.Remove {
			if a == rm {
				both = append(both, a)
			}
		}
	}
	if len(both) > 0 {
		return req, invalidVolume("UUIDs %s are in both add and remove volume list.", pyList(both))
	}
	return req, nil
}

// pyList renders ids as Python prints a list of strings, as Cinder's messages do.
func pyList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = "'" + s + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func (s *Service) updateGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	req, err := parseGroupUpdate(body)
	if err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		g, err := s.loadGroup(ctx, tx, c, id)
		if err != nil {
			return err
		}
		if err := s.authorize(c, c.rule, ownerTarget(g.ProjectID)); err != nil {
			return err
		}
		name, desc := req.Name, req.Description
		if name != nil && g.Name != nil && *name == *g.Name {
			name = nil
		}
		if desc != nil && g.Description != nil && *desc == *g.Description {
			desc = nil
		}
		members, err := memberVolumes(ctx, tx, g.ID)
		if err != nil {
			return err
		}
		inGroup := map[string]*memberVolume{}
		for _, m := range members {
			inGroup[m.ID] = m
		}
		var add, remove []string
		for _, vid := range req.Add {
			if inGroup[vid] != nil {
				continue
			}
			if err := s.checkAddVolume(ctx, tx, g, vid); err != nil {
				return err
			}
			add = append(add, vid)
		}
		for _, vid := range req.Remove {
			m := inGroup[vid]
			if m == nil {
				return invalidVolume("Cannot remove volume %s from group %s because it is not in the group.", vid, g.ID)
			}
			if !contains(validRemoveVolumeStatus, m.Status) {
				return invalidVolume("Cannot remove volume %s from group %s because volume is in an invalid state: %s. Valid states are: %s.",
					vid, g.ID, m.Status, pyTuple(validRemoveVolumeStatus))
			}
			remove = append(remove, vid)
		}
		if name == nil && desc == nil && len(add) == 0 && len(remove) == 0 {
			return invalidGroup("Cannot update group %s because no valid name, description, add_volumes, or remove_volumes were provided.", g.ID)
		}
		if (len(add) > 0 || len(remove) > 0) && g.Status != groupAvailable {
			return invalidGroup("Group status must be available.")
		}
		ts := store.FormatTime(now())
		if name != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE volume_groups SET name = ? WHERE id = ?`, *name, g.ID); err != nil {
				return err
			}
		}
		if desc != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE volume_groups SET description = ? WHERE id = ?`, *desc, g.ID); err != nil {
				return err
			}
		}
		// Adding and removing volumes is bookkeeping for the file backend (Cinder's
		// generic update_group does the same in its manager), so it is done here and
		// the group stays available.
		for _, vid := range add {
			if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET group_id = ?, updated_at = ? WHERE id = ?`,
				g.ID, ts, vid); err != nil {
				return err
			}
		}
		for _, vid := range remove {
			if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET group_id = NULL, updated_at = ? WHERE id = ?`,
				ts, vid); err != nil {
				return err
			}
		}
		status := g.Status
		if len(add) == 0 && len(remove) == 0 {
			// Cinder sets a name or description-only update available.
			status = groupAvailable
		}
		_, err = tx.ExecContext(ctx, `UPDATE volume_groups SET status = ?, updated_at = ? WHERE id = ?`, status, ts, g.ID)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// checkAddVolume applies Cinder's _validate_add_volumes to one volume.
func (s *Service) checkAddVolume(ctx context.Context, tx *store.Tx, g *group, vid string) error {
	m, err := scanMember(tx.QueryRowContext(ctx, `SELECT `+memberColumns+` FROM volume_volumes WHERE id = ? AND deleted = ?`,
		vid, false))
	if store.IsNoRows(err) {
		return invalidVolume("Cannot add volume %s to group %s because volume cannot be found.", vid, g.ID)
	}
	if err != nil {
		return err
	}
	if m.GroupID != nil && *m.GroupID != "" {
		return invalidVolume("Cannot add volume %s to group %s because it is already in group %s.", vid, g.ID, *m.GroupID)
	}
	if m.ProjectID != g.ProjectID {
		return invalidVolume("Cannot add volume %s to group %s as they belong to different projects.", vid, g.ID)
	}
	if m.TypeID == "" {
		return invalidVolume("Cannot add volume %s to group %s because it has no volume type.", vid, g.ID)
	}
	if !contains(g.VolumeTypes, m.TypeID) {
		return invalidVolume("Cannot add volume %s to group %s because volume type %s is not supported by the group.",
			vid, g.ID, m.TypeID)
	}
	if !contains(validAddVolumeStatus, m.Status) {
		return invalidVolume("Cannot add volume %s to group %s because volume is in an invalid state: %s. Valid states are: %s.",
			vid, g.ID, m.Status, pyTuple(validAddVolumeStatus))
	}
	return nil
}

// pyTuple renders statuses as Python prints a tuple of strings.
func pyTuple(items []string) string {
	l := pyList(items)
	return "(" + l[1:len(l)-1] + ")"
}

// CheckVolumeGroup is what the core's volume create asks when a request names a
// group_id: the group must exist for the caller, be available, and accept the volume's
// type (Cinder's volume API checks the same). It runs inside the create transaction.
func (s *Service) checkVolumeGroup(ctx context.Context, tx *store.Tx, c *call, groupID, typeID string) error {
	g, err := s.loadGroup(ctx, tx, c, groupID)
	if err != nil {
		return err
	}
	if g.Status != groupAvailable {
		return invalidInput("Group %s status must be available, but current status is: %s.", g.ID, g.Status)
	}
	if !contains(g.VolumeTypes, typeID) {
		return invalidInput("Invalid volume_type provided: %s (requested type must be supported by this group).", typeID)
	}
	return nil
}

// groupActionBody reads the single action of a POST /groups/{id}/action body.
func groupActionBody(body api.Object) (string, any, error) {
	if len(body) != 1 {
		return "", nil, badRequest("Malformed request body")
	}
	for k, v := range body {
		return k, v, nil
	}
	return "", nil, badRequest("Malformed request body")
}

func (s *Service) groupAction(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	action, arg, err := groupActionBody(body)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	switch action {
	case "delete":
		return s.deleteGroup(w, r, c, id, arg)
	case "reset_status":
		if !c.at(20) {
			break
		}
		return s.resetGroupStatus(w, r, c, id, arg)
	case "enable_replication", "disable_replication", "failover_replication", "list_replication_targets":
		if !c.at(38) {
			break
		}
		return s.groupReplication(w, r, c, id, action)
	}
	return badRequest("There is no such action: %s", action)
}

// parseGroupDelete reads the "delete" action's argument: {"delete-volumes": bool}.
func parseGroupDelete(arg any) (bool, error) {
	o, ok := arg.(map[string]any)
	if !ok {
		return false, fieldError("delete", arg, "%s is not of type 'object'", shortValue(arg))
	}
	if err := onlyFields(o, "delete-volumes"); err != nil {
		return false, err
	}
	v, ok := o["delete-volumes"]
	if !ok {
		return false, nil
	}
	return schemaBool("delete-volumes", v)
}

func (s *Service) deleteGroup(w http.ResponseWriter, r *http.Request, c *call, id string, arg any) error {
	delVols, err := parseGroupDelete(arg)
	if err != nil {
		return err
	}
	ctx := r.Context()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		g, err := s.loadGroup(ctx, tx, c, id)
		if err != nil {
			return err
		}
		if err := s.authorize(c, ruleGroupDelete, ownerTarget(g.ProjectID)); err != nil {
			return err
		}
		if !delVols && g.Status != groupAvailable && g.Status != groupError {
			return invalidGroup("Group status must be available or error, but current status is: %s", g.Status)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_group_snapshots WHERE group_id = ? AND deleted = ?`,
			g.ID, false).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return invalidGroup("Group has existing snapshots.")
		}
		members, err := memberVolumes(ctx, tx, g.ID)
		if err != nil {
			return err
		}
		if len(members) > 0 && !delVols {
			return invalidGroup("Group %s still contains volumes. The delete-volumes flag is required to delete it.", g.ID)
		}
		for _, m := range members {
			if m.AttachStatus == "attached" {
				return invalidGroup("Volume in group %s is attached. Need to detach first.", g.ID)
			}
			var snaps int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_snapshots WHERE volume_id = ? AND deleted = ?`,
				m.ID, false).Scan(&snaps); err != nil {
				return err
			}
			if snaps > 0 {
				return invalidGroup("Volume in group still has dependent snapshots.")
			}
		}
		var creating int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_groups WHERE deleted = ? AND status = ?
			AND source_group_id = ?`, false, groupCreating, g.ID).Scan(&creating); err != nil {
			return err
		}
		if creating > 0 {
			return invalidGroup("Cannot delete group %s. Group status must be available or error and must not have dependent group snapshots, and it cannot be the source for an ongoing group or group snapshot creation.", g.ID)
		}
		ts := store.FormatTime(now())
		for _, m := range members {
			if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, updated_at = ? WHERE id = ?`,
				"deleting", ts, m.ID); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE volume_groups SET status = ?, updated_at = ? WHERE id = ?`,
			groupDeleting, ts, g.ID); err != nil {
			return err
		}
		return enqueue(ctx, tx, s.volumeQueue(), taskDeleteGroup, g.ID, nil)
	})
	if err != nil {
		return err
	}
	s.wake.notify()
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// parseStatusArg reads a reset_status argument {"status": "..."}, lowercased, and
// checks it against valid.
func parseStatusArg(arg any, valid map[string]bool, invalid func(string) *api.Error) (string, error) {
	o, ok := arg.(map[string]any)
	if !ok {
		return "", fieldError("reset_status", arg, "%s is not of type 'object'", shortValue(arg))
	}
	if err := onlyFields(o, "status"); err != nil {
		return "", err
	}
	v, ok := o["status"]
	if !ok {
		return "", fieldError("status", nil, "'status' is a required property")
	}
	st, isStr := v.(string)
	if !isStr {
		return "", fieldError("status", v, "%s is not of type 'string'", shortValue(v))
	}
	st = strings.ToLower(st)
	if !valid[st] {
		return "", invalid(st)
	}
	return st, nil
}

// sortedKeys are a set's members in order, for messages.
func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s *Service) resetGroupStatus(w http.ResponseWriter, r *http.Request, c *call, id string, arg any) error {
	status, err := parseStatusArg(arg, groupStatuses, func(st string) *api.Error {
		return fieldError("status", st, "Group status must be one of: %s", strings.Join(sortedKeys(groupStatuses), ", "))
	})
	if err != nil {
		return err
	}
	ctx := r.Context()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		g, err := s.loadGroup(ctx, tx, c, id)
		if err != nil {
			return err
		}
		if err := s.authorize(c, ruleGroupResetStatus, ownerTarget(g.ProjectID)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE volume_groups SET status = ?, updated_at = ? WHERE id = ?`,
			status, store.FormatTime(now()), g.ID)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// groupReplication answers the replication actions: the file backend has no
// replication, so no group type is a replication one (Cinder's _check_type).
func (s *Service) groupReplication(w http.ResponseWriter, r *http.Request, c *call, id, action string) error {
	rules := map[string]string{"enable_replication": ruleGroupEnableRepl, "disable_replication": ruleGroupDisableRepl,
		"failover_replication": ruleGroupFailoverRepl, "list_replication_targets": ruleGroupListReplTargs}
	ctx := r.Context()
	g, err := s.loadGroup(ctx, s.db, c, id)
	if err != nil {
		return err
	}
	if err := s.authorize(c, rules[action], ownerTarget(g.ProjectID)); err != nil {
		return err
	}
	if action == "list_replication_targets" {
		api.WriteJSON(w, http.StatusOK, map[string]any{"replication_targets": []any{}})
		return nil
	}
	return badRequest("Invalid group type: Group %s is not a replication group type.", g.ID)
}

// groupSourceRequest is a parsed create-from-src body.
type groupSourceRequest struct {
	Name, Description              *string
	GroupSnapshotID, SourceGroupID string
}

// parseGroupFromSource reads {"create-from-src": {"name", "description",
// "group_snapshot_id" | "source_group_id"}}: exactly one source, a uuid.
func parseGroupFromSource(body api.Object) (groupSourceRequest, error) {
	var req groupSourceRequest
	if err := onlyFields(body, "create-from-src"); err != nil {
		return req, err
	}
	o, present, err := body.Obj("create-from-src")
	if err != nil {
		return req, err
	}
	if !present || o == nil {
		return req, fieldError("create-from-src", nil, "'create-from-src' is a required property")
	}
	if err := onlyFields(o, "name", "description", "group_snapshot_id", "source_group_id"); err != nil {
		return req, err
	}
	if req.Name, req.Description, err = nameAndDescription(o); err != nil {
		return req, err
	}
	_, hasSnap := o["group_snapshot_id"]
	_, hasGroup := o["source_group_id"]
	if hasSnap == hasGroup {
		return req, fieldError("create-from-src", shortValue(map[string]any(o)),
			"is valid under each of {'required': ['source_group_id']}, {'required': ['group_snapshot_id']}")
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"group_snapshot_id", &req.GroupSnapshotID}, {"source_group_id", &req.SourceGroupID}} {
		v, ok := o[f.key]
		if !ok {
			continue
		}
		s, isStr := v.(string)
		if !isStr || !isUUID(s) {
			return req, fieldError(f.key, v, "%s is not a 'uuid'", shortValue(v))
		}
		*f.dst = s
	}
	return req, nil
}

func (s *Service) createGroupFromSource(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	req, err := parseGroupFromSource(body)
	if err != nil {
		return err
	}
	ctx := r.Context()
	project := callerProject(c)
	ts := store.FormatTime(now())
	host := s.volumeHost()
	g := &group{ID: api.NewUUID(), ProjectID: project, UserID: c.caller.UserID, Name: req.Name,
		Description: req.Description, Status: groupCreating, Host: &host, ReplicationStatus: "disabled", CreatedAt: ts}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		// newVol is one volume of the new group and where its data comes from.
		type newVol struct {
			size                    int64
			typeID, format          string
			bootable                bool
			snapshotID, sourceVolID *string
		}
		var vols []newVol
		if req.GroupSnapshotID != "" {
			gs, err := s.loadGroupSnapshot(ctx, tx, c, req.GroupSnapshotID)
			if err != nil {
				return err
			}
			if gs.Status != "available" {
				return invalidGroup("Group snapshot %s status must be available, but current status is: %s.", gs.ID, gs.Status)
			}
			src, err := s.loadGroup(ctx, tx, nil, gs.GroupID)
			if err != nil {
				return err
			}
			snaps, err := groupSnapshotMembers(ctx, tx, gs.ID)
			if err != nil {
				return err
			}
			if len(snaps) == 0 {
				return invalidGroup("Group snapshot is empty. No group will be created.")
			}
			for _, sn := range snaps {
				id := sn.ID
				nv := newVol{size: sn.VolumeSize, typeID: sn.TypeID, format: "qcow2", snapshotID: &id}
				if srcVol, err := scanMember(tx.QueryRowContext(ctx, `SELECT `+memberColumns+` FROM volume_volumes
					WHERE id = ?`, sn.VolumeID)); err == nil {
					nv.format, nv.bootable = srcVol.DiskFormat, srcVol.Bootable
					if nv.typeID == "" {
						nv.typeID = srcVol.TypeID
					}
				} else if !store.IsNoRows(err) {
					return err
				}
				vols = append(vols, nv)
			}
			g.GroupTypeID, g.AZ, g.VolumeTypes = gs.GroupTypeID, src.AZ, src.VolumeTypes
			g.GroupSnapshotID = &gs.ID
		} else {
			src, err := s.loadGroup(ctx, tx, c, req.SourceGroupID)
			if err != nil {
				return err
			}
			if src.Status != groupAvailable {
				return invalidGroup("Source group %s status must be available, but current status is: %s.", src.ID, src.Status)
			}
			members, err := memberVolumes(ctx, tx, src.ID)
			if err != nil {
				return err
			}
			if len(members) == 0 {
				return invalidGroup("Source Group is empty. No group will be created.")
			}
			for _, m := range members {
				if m.Status != "available" && m.Status != "in-use" {
					return invalidVolume("Volume %s status must be available or in-use, but current status is: %s.", m.ID, m.Status)
				}
				id := m.ID
				vols = append(vols, newVol{size: m.Size, typeID: m.TypeID, format: m.DiskFormat, bootable: m.Bootable,
					sourceVolID: &id})
			}
			g.GroupTypeID, g.AZ, g.VolumeTypes = src.GroupTypeID, src.AZ, src.VolumeTypes
			g.SourceGroupID = &src.ID
		}
		if err := s.checkGroupQuota(ctx, tx, project); err != nil {
			return err
		}
		usage := map[string]typeUsage{}
		for _, nv := range vols {
			u := usage[nv.typeID]
			u.count, u.gigabytes = u.count+1, u.gigabytes+nv.size
			usage[nv.typeID] = u
		}
		if err := s.checkTypedQuota(ctx, tx, project, usage, false); err != nil {
			return err
		}
		if err := insertGroup(ctx, tx, g); err != nil {
			return err
		}
		poolHost := s.poolHost()
		for _, nv := range vols {
			if _, err := tx.ExecContext(ctx, `INSERT INTO volume_volumes (id, project_id, user_id, size, status,
				availability_zone, host, type_id, snapshot_id, source_volid, group_id, bootable, disk_format, created_at,
				updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				api.NewUUID(), project, c.caller.UserID, nv.size, "creating", g.AZ, poolHost, nv.typeID, nv.snapshotID,
				nv.sourceVolID, g.ID, nv.bootable, nv.format, ts, ts); err != nil {
				return err
			}
		}
		return enqueue(ctx, tx, s.volumeQueue(), taskCreateGroupFromSource, g.ID, nil)
	})
	if err != nil {
		return err
	}
	s.wake.notify()
	api.WriteJSON(w, http.StatusAccepted, map[string]any{"group": map[string]any{"id": g.ID, "name": g.Name}})
	return nil
}
