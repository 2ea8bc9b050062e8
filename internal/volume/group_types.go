package volume

import (
	"context"
	"net/http"
	"sort"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// Group types and group specs (cinder/api/v3/group_types.py, group_specs.py, 3.11+):
// admins create, update and delete them; everyone lists the public ones and shows the
// ones they may see. Private group types are visible to admins only (Cinder has no API
// to grant them to projects).

// Group type rules (cinder/policies/group_types.py).
const (
	ruleGroupTypeCreate      = "group:group_types:create"
	ruleGroupTypeUpdate      = "group:group_types:update"
	ruleGroupTypeDelete      = "group:group_types:delete"
	ruleGroupTypeSpecsAccess = "group:access_group_types_specs"
	ruleGroupSpecsGet        = "group:group_types_specs:get"
	ruleGroupSpecsGetAll     = "group:group_types_specs:get_all"
	ruleGroupSpecsCreate     = "group:group_types_specs:create"
	ruleGroupSpecsUpdate     = "group:group_types_specs:update"
	ruleGroupSpecsDelete     = "group:group_types_specs:delete"
)

// groupTypeRoutes are /group_types and their group_specs.
func (s *Service) groupTypeRoutes() []route {
	m := v(11)
	return []route{
		{method: "GET", path: "/group_types", minVer: m, handle: s.listGroupTypes},
		{method: "POST", path: "/group_types", rule: ruleGroupTypeCreate, minVer: m, handle: s.createGroupType},
		{method: "GET", path: "/group_types/{id}", minVer: m, handle: s.showGroupType},
		{method: "PUT", path: "/group_types/{id}", rule: ruleGroupTypeUpdate, minVer: m, handle: s.updateGroupType},
		{method: "DELETE", path: "/group_types/{id}", rule: ruleGroupTypeDelete, minVer: m, handle: s.deleteGroupType},
		{method: "GET", path: "/group_types/{id}/group_specs", rule: ruleGroupSpecsGetAll, minVer: m, handle: s.listGroupSpecs},
		{method: "POST", path: "/group_types/{id}/group_specs", rule: ruleGroupSpecsCreate, minVer: m, handle: s.createGroupSpecs},
		{method: "GET", path: "/group_types/{id}/group_specs/{key}", rule: ruleGroupSpecsGet, minVer: m, handle: s.showGroupSpec},
		{method: "PUT", path: "/group_types/{id}/group_specs/{key}", rule: ruleGroupSpecsUpdate, minVer: m, handle: s.updateGroupSpec},
		{method: "DELETE", path: "/group_types/{id}/group_specs/{key}", rule: ruleGroupSpecsDelete, minVer: m, handle: s.deleteGroupSpec},
	}
}

// groupType is a group type row with its specs.
type groupType struct {
	ID, Name    string
	Description *string
	IsPublic    bool
	CreatedAt   string
	Specs       map[string]string
}

// groupTypeNotFound is Cinder's GroupTypeNotFound (404).
func groupTypeNotFound(id string) *api.Error {
	return notFound("Group type %s could not be found.", id)
}

// loadGroupType reads a group type by id; private ones only for admins (seeAll).
func loadGroupType(ctx context.Context, q store.Querier, id string, seeAll bool) (*groupType, error) {
	var gt groupType
	err := q.QueryRowContext(ctx, `SELECT id, name, description, is_public, created_at FROM volume_group_types
		WHERE id = ?`, id).Scan(&gt.ID, &gt.Name, &gt.Description, &gt.IsPublic, &gt.CreatedAt)
	if store.IsNoRows(err) || (err == nil && !gt.IsPublic && !seeAll) {
		return nil, groupTypeNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	gt.Specs, err = readPairs(ctx, q, `SELECT spec_key, spec_value FROM volume_group_type_specs WHERE group_type_id = ?`, id)
	if err != nil {
		return nil, err
	}
	return &gt, nil
}

// loadGroupTypeByName reads a group type by name (group create accepts names).
func loadGroupTypeByName(ctx context.Context, q store.Querier, name string, seeAll bool) (*groupType, error) {
	var id string
	err := q.QueryRowContext(ctx, `SELECT id FROM volume_group_types WHERE name = ?`, name).Scan(&id)
	if store.IsNoRows(err) {
		return nil, notFound("Group type with name %s could not be found.", name)
	}
	if err != nil {
		return nil, err
	}
	gt, err := loadGroupType(ctx, q, id, seeAll)
	if err != nil {
		return nil, notFound("Group type with name %s could not be found.", name)
	}
	return gt, nil
}

// groupTypeView is a group type's body; group_specs only for callers passing
// group:access_group_types_specs.
func (s *Service) groupTypeView(c *call, gt *groupType) map[string]any {
	out := map[string]any{"id": gt.ID, "name": gt.Name, "description": gt.Description, "is_public": gt.IsPublic}
	if s.can(c, ruleGroupTypeSpecsAccess, nil) {
		specs := map[string]any{}
		for k, v := range gt.Specs {
			specs[k] = v
		}
		out["group_specs"] = specs
	}
	return out
}

// groupTypeCreateRequest is a parsed group type create body.
type groupTypeCreateRequest struct {
	Name        string
	Description *string
	IsPublic    bool
	Specs       map[string]string
}

// parseGroupTypeCreate reads {"group_type": {"name", "description", "is_public",
// "group_specs"}} as Cinder's schema does.
func parseGroupTypeCreate(body api.Object) (groupTypeCreateRequest, error) {
	var req groupTypeCreateRequest
	if err := onlyFields(body, "group_type"); err != nil {
		return req, err
	}
	o, present, err := body.Obj("group_type")
	if err != nil {
		return req, err
	}
	if !present || o == nil {
		return req, fieldError("group_type", nil, "'group_type' is a required property")
	}
	if err := onlyFields(o, "name", "description", "is_public", "group_specs"); err != nil {
		return req, err
	}
	if req.Name, err = reqName(o, "name"); err != nil {
		return req, err
	}
	if d, present, err := optStr(o, "description", 255); err != nil {
		return req, err
	} else if present && o["description"] != nil {
		req.Description = &d
	}
	req.IsPublic = true
	if v, ok := o["is_public"]; ok {
		if req.IsPublic, err = schemaBool("is_public", v); err != nil {
			return req, err
		}
	}
	req.Specs = map[string]string{}
	if v, ok := o["group_specs"]; ok && v != nil {
		if req.Specs, _, err = specMap("group_specs", v, specKeyPattern, false); err != nil {
			return req, err
		}
	}
	return req, nil
}

// groupTypeUpdateRequest is a parsed group type update body; nil fields are unchanged.
type groupTypeUpdateRequest struct {
	Name, Description *string
	IsPublic          *bool
}

// parseGroupTypeUpdate reads {"group_type": {"name", "description", "is_public"}}.
func parseGroupTypeUpdate(body api.Object) (groupTypeUpdateRequest, error) {
	var req groupTypeUpdateRequest
	if err := onlyFields(body, "group_type"); err != nil {
		return req, err
	}
	o, present, err := body.Obj("group_type")
	if err != nil {
		return req, err
	}
	if !present || o == nil {
		return req, fieldError("group_type", nil, "'group_type' is a required property")
	}
	if err := onlyFields(o, "name", "description", "is_public"); err != nil {
		return req, err
	}
	if n, present, err := optStr(o, "name", 255); err != nil {
		return req, err
	} else if present && o["name"] != nil {
		if strings.TrimSpace(n) == "" {
			return req, badRequest("Group type name can not be empty.")
		}
		n = strings.TrimSpace(n)
		req.Name = &n
	}
	if d, present, err := optStr(o, "description", 255); err != nil {
		return req, err
	} else if present && o["description"] != nil {
		req.Description = &d
	}
	if v, ok := o["is_public"]; ok {
		b, err := schemaBool("is_public", v)
		if err != nil {
			return req, err
		}
		req.IsPublic = &b
	}
	if req.Name == nil && req.Description == nil && req.IsPublic == nil {
		return req, badRequest("Specify group type name, description or a combination thereof.")
	}
	return req, nil
}

func (s *Service) listGroupTypes(w http.ResponseWriter, r *http.Request, c *call) error {
	page, err := api.ParsePage(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	admin := s.isAdmin(c)
	// Cinder shows public types by default; admins may ask for private ones
	// (is_public=false) or all (is_public=none).
	var want *bool
	pub := true
	want = &pub
	if admin {
		if v, ok := r.URL.Query()["is_public"]; ok && len(v) > 0 {
			switch strings.ToLower(v[0]) {
			case "none":
				want = nil
			case "1", "t", "true", "on", "y", "yes":
			case "0", "f", "false", "off", "n", "no":
				f := false
				want = &f
			default:
				return badRequest("Invalid is_public filter [%s]", v[0])
			}
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM volume_group_types`)
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var all []*groupType
	for _, id := range ids {
		gt, err := loadGroupType(ctx, s.db, id, true)
		if err != nil {
			continue
		}
		if want != nil && gt.IsPublic != *want {
			continue
		}
		all = append(all, gt)
	}
	// sort=key[:dir] (or sort_key/sort_dir): name, id or created_at; Cinder's default is
	// created_at descending.
	key, desc := "created_at", true
	q := r.URL.Query()
	if v := q.Get("sort"); v != "" {
		k, d, _ := strings.Cut(strings.Split(v, ",")[0], ":")
		key, desc = k, d != "asc"
	} else if v := q.Get("sort_key"); v != "" {
		key, desc = v, q.Get("sort_dir") != "asc"
	}
	field := func(g *groupType) string {
		switch key {
		case "name":
			return g.Name
		case "id":
			return g.ID
		}
		return g.CreatedAt
	}
	switch key {
	case "name", "id", "created_at":
	default:
		return badRequest("Invalid input received: Invalid sort key %s", key)
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := field(all[i]), field(all[j])
		if a == b {
			a, b = all[i].ID, all[j].ID
		}
		if desc {
			return a > b
		}
		return a < b
	})
	all, err = pageOf(all, func(g *groupType) string { return g.ID }, page, s.cfg.ListLimitMax)
	if err != nil {
		return err
	}
	list := make([]map[string]any, 0, len(all))
	for _, gt := range all {
		list = append(list, s.groupTypeView(c, gt))
	}
	out := map[string]any{"group_types": list}
	if len(all) > 0 {
		if links := api.PageLinks(r, page, len(all), all[len(all)-1].ID); links != nil {
			out["group_type_links"] = links
		}
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Service) showGroupType(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	if id == "default" {
		// gostack has no [DEFAULT] default_group_type, as a fresh Cinder.
		return notFound("Default group type can not be found.")
	}
	gt, err := loadGroupType(r.Context(), s.db, id, s.isAdmin(c))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"group_type": s.groupTypeView(c, gt)})
	return nil
}

func (s *Service) createGroupType(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	req, err := parseGroupTypeCreate(body)
	if err != nil {
		return err
	}
	ctx := r.Context()
	ts := store.FormatTime(now())
	gt := &groupType{ID: api.NewUUID(), Name: req.Name, Description: req.Description, IsPublic: req.IsPublic,
		CreatedAt: ts, Specs: req.Specs}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := groupTypeNameFree(ctx, tx, req.Name, ""); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO volume_group_types (id, name, description, is_public, created_at,
			updated_at) VALUES (?, ?, ?, ?, ?, ?)`, gt.ID, gt.Name, gt.Description, gt.IsPublic, ts, ts); err != nil {
			if store.IsUniqueViolation(err) {
				return conflict("Group Type %s already exists.", req.Name)
			}
			return err
		}
		return writeGroupSpecs(ctx, tx, gt.ID, req.Specs)
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusAccepted, map[string]any{"group_type": s.groupTypeView(c, gt)})
	return nil
}

// groupTypeNameFree refuses a name another group type has (Cinder's GroupTypeExists).
func groupTypeNameFree(ctx context.Context, tx *store.Tx, name, except string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_group_types WHERE name = ? AND id <> ?`,
		name, except).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return conflict("Group Type %s already exists.", name)
	}
	return nil
}

// writeGroupSpecs sets group specs (insert or replace).
func writeGroupSpecs(ctx context.Context, tx *store.Tx, id string, specs map[string]string) error {
	for k, v := range specs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO volume_group_type_specs (group_type_id, spec_key, spec_value)
			VALUES (?, ?, ?) ON CONFLICT (group_type_id, spec_key) DO UPDATE SET spec_value = excluded.spec_value`,
			id, k, v); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) updateGroupType(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	req, err := parseGroupTypeUpdate(body)
	if err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	var gt *groupType
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := loadGroupType(ctx, tx, id, true); err != nil {
			return err
		}
		ts := store.FormatTime(now())
		if req.Name != nil {
			if err := groupTypeNameFree(ctx, tx, *req.Name, id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE volume_group_types SET name = ?, updated_at = ? WHERE id = ?`,
				*req.Name, ts, id); err != nil {
				if store.IsUniqueViolation(err) {
					return conflict("Group Type %s already exists.", *req.Name)
				}
				return err
			}
		}
		if req.Description != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE volume_group_types SET description = ?, updated_at = ? WHERE id = ?`,
				*req.Description, ts, id); err != nil {
				return err
			}
		}
		if req.IsPublic != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE volume_group_types SET is_public = ?, updated_at = ? WHERE id = ?`,
				*req.IsPublic, ts, id); err != nil {
				return err
			}
		}
		var err error
		gt, err = loadGroupType(ctx, tx, id, true)
		return err
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"group_type": s.groupTypeView(c, gt)})
	return nil
}

func (s *Service) deleteGroupType(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := loadGroupType(ctx, tx, id, true); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_groups WHERE group_type_id = ? AND deleted = ?`,
			id, false).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return badRequest("Target group type is still in use.")
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM volume_group_types WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// parseGroupSpecsCreate reads {"group_specs": {<key>: <value or null>}}.
func parseGroupSpecsCreate(body api.Object) (map[string]string, error) {
	if err := onlyFields(body, "group_specs"); err != nil {
		return nil, err
	}
	v, ok := body["group_specs"]
	if !ok {
		return nil, fieldError("group_specs", nil, "'group_specs' is a required property")
	}
	specs, _, err := specMap("group_specs", v, groupSpecKeyPattern, true)
	return specs, err
}

// parseGroupSpecUpdate reads {<key>: <value or null>} with exactly one property, which
// must be the key of the URL.
func parseGroupSpecUpdate(body api.Object, key string) (map[string]string, error) {
	if len(body) != 1 {
		return nil, fieldError("body", shortValue(map[string]any(body)), "must have exactly one property")
	}
	specs, _, err := specMap("body", map[string]any(body), groupSpecKeyPattern, true)
	if err != nil {
		return nil, err
	}
	if _, ok := specs[key]; !ok {
		return nil, badRequest("Request body and URI mismatch")
	}
	return specs, nil
}

func (s *Service) listGroupSpecs(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	gt, err := loadGroupType(r.Context(), s.db, r.PathValue("id"), true)
	if err != nil {
		return err
	}
	specs := map[string]any{}
	for k, v := range gt.Specs {
		specs[k] = v
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"group_specs": specs})
	return nil
}

func (s *Service) createGroupSpecs(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	specs, err := parseGroupSpecsCreate(body)
	if err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := loadGroupType(ctx, tx, id, true); err != nil {
			return err
		}
		return writeGroupSpecs(ctx, tx, id, specs)
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusAccepted, map[string]any{"group_specs": body["group_specs"]})
	return nil
}

func (s *Service) showGroupSpec(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	id, key := r.PathValue("id"), r.PathValue("key")
	gt, err := loadGroupType(r.Context(), s.db, id, true)
	if err != nil {
		return err
	}
	v, ok := gt.Specs[key]
	if !ok {
		return notFound("Group Type %s has no extra spec with key %s.", id, key)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{key: v})
	return nil
}

func (s *Service) updateGroupSpec(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	ctx := r.Context()
	id, key := r.PathValue("id"), r.PathValue("key")
	if _, err := loadGroupType(ctx, s.db, id, true); err != nil {
		return err
	}
	specs, err := parseGroupSpecUpdate(body, key)
	if err != nil {
		return err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := loadGroupType(ctx, tx, id, true); err != nil {
			return err
		}
		return writeGroupSpecs(ctx, tx, id, specs)
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any(body))
	return nil
}

func (s *Service) deleteGroupSpec(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	ctx := r.Context()
	id, key := r.PathValue("id"), r.PathValue("key")
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := loadGroupType(ctx, tx, id, true); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM volume_group_type_specs WHERE group_type_id = ? AND spec_key = ?`, id, key)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("Group Type %s has no specs with key %s.", id, key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
