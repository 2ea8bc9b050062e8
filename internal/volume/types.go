package volume

import (
	"context"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// defaultTypeName is the volume type Cinder creates at install and uses when neither the
// request nor a project default names one.
const defaultTypeName = "__DEFAULT__"

// Volume type rules (cinder/policies/volume_type.py, type_extra_specs.py,
// volume_access.py, default_types.py).
const (
	ruleTypeCreate           = "volume_extension:type_create"
	ruleTypeUpdate           = "volume_extension:type_update"
	ruleTypeDelete           = "volume_extension:type_delete"
	ruleTypeGet              = "volume_extension:type_get"
	ruleTypeGetAll           = "volume_extension:type_get_all"
	ruleTypeExtraSpecsAccess = "volume_extension:access_types_extra_specs"
	ruleTypeQoSAccess        = "volume_extension:access_types_qos_specs_id"
	ruleSpecsIndex           = "volume_extension:types_extra_specs:index"
	ruleSpecsCreate          = "volume_extension:types_extra_specs:create"
	ruleSpecsShow            = "volume_extension:types_extra_specs:show"
	ruleSpecsSensitive       = "volume_extension:types_extra_specs:read_sensitive"
	ruleSpecsUpdate          = "volume_extension:types_extra_specs:update"
	ruleSpecsDelete          = "volume_extension:types_extra_specs:delete"
	ruleTypeAccess           = "volume_extension:volume_type_access"
	ruleTypeAccessAdd        = "volume_extension:volume_type_access:addProjectAccess"
	ruleTypeAccessRemove     = "volume_extension:volume_type_access:removeProjectAccess"
	ruleTypeAccessList       = "volume_extension:volume_type_access:get_all_for_type"
	ruleDefaultSet           = "volume_extension:default_set_or_update"
	ruleDefaultGet           = "volume_extension:default_get"
	ruleDefaultGetAll        = "volume_extension:default_get_all"
	ruleDefaultUnset         = "volume_extension:default_unset"
)

// userVisibleSpecs are the extra specs every user may read (USER_VISIBLE_EXTRA_SPECS).
var userVisibleSpecs = []string{"RESKEY:availability_zones", "multiattach", "replication_enabled"}

// typeRoutes are /types with extra specs and access, and /default-types (3.62).
func (s *Service) typeRoutes() []route {
	return []route{
		{method: "GET", path: "/types", rule: ruleTypeGetAll, handle: s.listTypes},
		{method: "POST", path: "/types", rule: ruleTypeCreate, handle: s.createType},
		{method: "GET", path: "/types/{type_id}", rule: ruleTypeGet, handle: s.showType},
		{method: "PUT", path: "/types/{type_id}", rule: ruleTypeUpdate, handle: s.updateType},
		{method: "DELETE", path: "/types/{type_id}", rule: ruleTypeDelete, handle: s.deleteType},
		{method: "POST", path: "/types/{type_id}/action", rule: ruleTypeAccessAdd, handle: s.typeAction},
		{method: "GET", path: "/types/{type_id}/os-volume-type-access", rule: ruleTypeAccessList, handle: s.listTypeAccess},
		{method: "GET", path: "/types/{type_id}/extra_specs", rule: ruleSpecsIndex, handle: s.listSpecs},
		{method: "POST", path: "/types/{type_id}/extra_specs", rule: ruleSpecsCreate, handle: s.createSpecs},
		{method: "GET", path: "/types/{type_id}/extra_specs/{key}", rule: ruleSpecsShow, handle: s.showSpec},
		{method: "PUT", path: "/types/{type_id}/extra_specs/{key}", rule: ruleSpecsUpdate, handle: s.updateSpec},
		{method: "DELETE", path: "/types/{type_id}/extra_specs/{key}", rule: ruleSpecsDelete, handle: s.deleteSpec},
		{method: "GET", path: "/default-types", rule: ruleDefaultGetAll, minVer: v(62), handle: s.listDefaultTypes},
		{method: "GET", path: "/default-types/{target}", rule: ruleDefaultGet, minVer: v(62), handle: s.showDefaultType},
		{method: "PUT", path: "/default-types/{target}", rule: ruleDefaultSet, minVer: v(62), handle: s.setDefaultType},
		{method: "DELETE", path: "/default-types/{target}", rule: ruleDefaultUnset, minVer: v(62), handle: s.unsetDefaultType},
	}
}

// volumeType is one volume_types row with its extra specs.
type volumeType struct {
	ID, Name             string
	Description          *string
	IsPublic             bool
	QoSSpecsID           *string
	CreatedAt, UpdatedAt string
	Specs                map[string]string
}

// format is the backend format the type asks for (extra spec volume_format).
func (t *volumeType) format() string {
	if t != nil && strings.EqualFold(t.Specs["volume_format"], "raw") {
		return "raw"
	}
	return "qcow2"
}

// multiattach reports whether volumes of the type are multiattach ("<is> True").
func (t *volumeType) multiattach() bool {
	if t == nil {
		return false
	}
	v := strings.ToLower(strings.TrimSpace(t.Specs["multiattach"]))
	return v == "<is> true" || v == "true"
}

// loadType reads an undeleted type by id, or nil.
func loadType(ctx context.Context, q store.Querier, id string) (*volumeType, error) {
	return scanTypeRow(ctx, q, `WHERE id = ? AND deleted = ?`, id, false)
}

// loadTypeByName reads an undeleted type by name, or nil.
func loadTypeByName(ctx context.Context, q store.Querier, name string) (*volumeType, error) {
	return scanTypeRow(ctx, q, `WHERE name = ? AND deleted = ?`, name, false)
}

// scanTypeRow reads one type and its specs.
func scanTypeRow(ctx context.Context, q store.Querier, where string, args ...any) (*volumeType, error) {
	var t volumeType
	err := q.QueryRowContext(ctx, `SELECT id, name, description, is_public, qos_specs_id, created_at, updated_at
		FROM volume_types `+where, args...).Scan(&t.ID, &t.Name, &t.Description, &t.IsPublic, &t.QoSSpecsID,
		&t.CreatedAt, &t.UpdatedAt)
	if store.IsNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	t.Specs, err = loadSpecs(ctx, q, t.ID)
	return &t, err
}

// loadSpecs reads a type's extra specs.
func loadSpecs(ctx context.Context, q store.Querier, typeID string) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT spec_key, spec_value FROM volume_type_extra_specs WHERE type_id = ?`, typeID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}

// typeAccessible reports whether project may use the type (public, or granted).
func typeAccessible(ctx context.Context, q store.Querier, t *volumeType, project string) (bool, error) {
	if t.IsPublic {
		return true, nil
	}
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_type_projects WHERE type_id = ? AND project_id = ?`,
		t.ID, project).Scan(&n)
	return n > 0, err
}

// typeFor finds a type by id, then by name, as the caller may see it (admins see every
// type; others public ones and private ones granted to their project); nil when none.
func (s *Service) typeFor(ctx context.Context, q store.Querier, c *call, ref string) (*volumeType, error) {
	t, err := loadType(ctx, q, ref)
	if err != nil {
		return nil, err
	}
	if t == nil {
		if t, err = loadTypeByName(ctx, q, ref); err != nil || t == nil {
			return nil, err
		}
	}
	if s.isAdmin(c) {
		return t, nil
	}
	ok, err := typeAccessible(ctx, q, t, c.caller.ProjectID)
	if err != nil || !ok {
		return nil, err
	}
	return t, nil
}

// defaultTypeFor returns the default type of a project: its default-types entry (3.62),
// else [DEFAULT] default_volume_type.
func (s *Service) defaultTypeFor(ctx context.Context, q store.Querier, project string) (*volumeType, error) {
	var id string
	err := q.QueryRowContext(ctx, `SELECT type_id FROM volume_default_types WHERE project_id = ?`, project).Scan(&id)
	switch {
	case err == nil:
		if t, err := loadType(ctx, q, id); err != nil || t != nil {
			return t, err
		}
	case !store.IsNoRows(err):
		return nil, err
	}
	t, err := loadTypeByName(ctx, q, s.cfg.DefaultVolumeType)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, api.Errorf(http.StatusInternalServerError,
			"The request cannot be fulfilled as the default volume type %s cannot be found.", s.cfg.DefaultVolumeType)
	}
	return t, nil
}

// ensureDefaultType creates the __DEFAULT__ type on first start, as Cinder's migration
// does.
func (s *Service) ensureDefaultType(ctx context.Context) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		t, err := loadTypeByName(ctx, tx, defaultTypeName)
		if err != nil || t != nil {
			return err
		}
		ts := store.FormatTime(now())
		_, err = tx.ExecContext(ctx, `INSERT INTO volume_types (id, name, description, is_public, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)`, api.NewUUID(), defaultTypeName, "Default Volume Type", true, ts, ts)
		return err
	})
}

// Volume type views: Cinder's extensions extend some actions only.
const (
	typeViewShow   = iota // show and list: access is_public, qos_specs_id (admins)
	typeViewCreate        // create: access is_public
	typeViewUpdate        // update: neither
)

// typeView is Cinder's volume type view; extra specs are filtered for non-admins.
func (s *Service) typeView(c *call, t *volumeType, mode int) map[string]any {
	out := map[string]any{"id": t.ID, "name": t.Name, "is_public": t.IsPublic, "description": strOrNil(t.Description)}
	if mode != typeViewUpdate {
		out["os-volume-type-access:is_public"] = t.IsPublic
	}
	ext := mode == typeViewShow
	if s.can(c, ruleTypeExtraSpecsAccess, ownerTarget(c.caller.ProjectID)) {
		out["extra_specs"] = s.visibleSpecs(c, t.Specs)
	}
	if ext && s.can(c, ruleTypeQoSAccess, ownerTarget(c.caller.ProjectID)) {
		out["qos_specs_id"] = strOrNil(t.QoSSpecsID)
	}
	return out
}

// visibleSpecs returns the specs the caller may read.
func (s *Service) visibleSpecs(c *call, specs map[string]string) map[string]string {
	if s.can(c, ruleSpecsSensitive, ownerTarget(c.caller.ProjectID)) {
		return specs
	}
	out := map[string]string{}
	for _, k := range userVisibleSpecs {
		if v, ok := specs[k]; ok {
			out[k] = v
		}
	}
	return out
}

// listTypes is GET /types: public types (admins: all, or by ?is_public).
func (s *Service) listTypes(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	ctx := r.Context()
	q := r.URL.Query()
	admin := s.isAdmin(c)
	where := `WHERE deleted = ?`
	args := []any{false}
	if admin {
		switch strings.ToLower(q.Get("is_public")) {
		case "", "true", "1", "t", "yes", "y":
			where += ` AND (is_public = ? OR id IN (SELECT type_id FROM volume_type_projects WHERE project_id = ?))`
			args = append(args, true, c.caller.ProjectID)
			if q.Get("is_public") != "" {
				where = `WHERE deleted = ? AND is_public = ?`
				args = []any{false, true}
			}
		case "none":
		case "false", "0", "f", "no", "n":
			where += ` AND is_public = ?`
			args = append(args, false)
		default:
			return invalidInput("Invalid is_public filter [%s]", q.Get("is_public"))
		}
	} else {
		where += ` AND (is_public = ? OR id IN (SELECT type_id FROM volume_type_projects WHERE project_id = ?))`
		args = append(args, true, c.caller.ProjectID)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM volume_types `+where, args...)
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
	var types []*volumeType
	for _, id := range ids {
		t, err := loadType(ctx, s.db, id)
		if err != nil {
			return err
		}
		if t != nil {
			types = append(types, t)
		}
	}
	keys, err := parseSort(q, map[string]bool{"id": true, "display_name": true, "created_at": true,
		"updated_at": true, "is_public": true, "description": true})
	if err != nil {
		return err
	}
	sortRows(types, keys, func(t *volumeType, k string) any {
		switch k {
		case "id":
			return t.ID
		case "display_name":
			return t.Name
		case "is_public":
			return t.IsPublic
		case "description":
			if t.Description == nil {
				return nil
			}
			return *t.Description
		case "updated_at":
			return t.UpdatedAt
		}
		return t.CreatedAt
	})
	limit, err := s.pageLimit(q)
	if err != nil {
		return err
	}
	types, err = paginate(s, types, func(t *volumeType) string { return t.ID }, q, limit)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(types))
	for _, t := range types {
		out = append(out, s.typeView(c, t, typeViewShow))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"volume_types": out})
	return nil
}

// showType is GET /types/{type_id} ("default" names the caller's default type).
func (s *Service) showType(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	id := r.PathValue("type_id")
	var t *volumeType
	var err error
	if id == "default" {
		t, err = s.defaultTypeFor(ctx, s.db, c.caller.ProjectID)
		if ae := api.AsError(err); err != nil && ae.Status == http.StatusInternalServerError {
			return notFound("Default volume type can not be found.")
		}
	} else {
		t, err = s.typeFor(ctx, s.db, c, id)
	}
	if err != nil {
		return err
	}
	if t == nil {
		return typeNotFound(id)
	}
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"volume_type": s.typeView(c, t, typeViewShow)})
	return nil
}

// typeName validates a type name (Cinder's parameter_types.name: 1–255, not blank).
func typeName(o api.Object, k string, required bool) (string, bool, error) {
	v, ok := o[k]
	if !ok {
		if required {
			return "", false, badRequest("Invalid input for field/attribute volume_type. Value: %s. '%s' is a required property", showValue(map[string]any(o)), k)
		}
		return "", false, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", true, schemaError(k, v, showValue(v)+" is not of type 'string'")
	}
	if strings.TrimSpace(s) == "" {
		return "", true, badRequest("Volume type name can not be empty.")
	}
	if utf8.RuneCountInString(s) > 255 {
		return "", true, schemaError(k, v, "It is too long (maximum length is 255).")
	}
	return s, true, nil
}

// createType is POST /types.
func (s *Service) createType(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	body, err := api.DecodeObject(r, "volume_type")
	if err != nil {
		return err
	}
	for k := range body {
		switch k {
		case "name", "description", "extra_specs", "os-volume-type-access:is_public":
		default:
			return badRequest("Additional properties are not allowed ('%s' was unexpected)", k)
		}
	}
	name, _, err := typeName(body, "name", true)
	if err != nil {
		return err
	}
	desc, _, err := optString(body, "description", 255)
	if err != nil {
		return err
	}
	specs, _, err := metadataField(body, "extra_specs", true)
	if err != nil {
		return err
	}
	public := true
	if v, ok := body["os-volume-type-access:is_public"]; ok {
		b, valid := boolValue(v)
		if !valid {
			return schemaError("os-volume-type-access:is_public", v, "Invalid boolean")
		}
		public = b
	}
	ctx := r.Context()
	t := &volumeType{ID: api.NewUUID(), Name: name, Description: desc, IsPublic: public, Specs: specs}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		old, err := loadTypeByName(ctx, tx, name)
		if err != nil {
			return err
		}
		if old != nil {
			return conflict("Volume Type %s already exists.", name)
		}
		ts := store.FormatTime(now())
		t.CreatedAt, t.UpdatedAt = ts, ts
		if _, err := tx.ExecContext(ctx, `INSERT INTO volume_types (id, name, description, is_public, created_at,
			updated_at) VALUES (?, ?, ?, ?, ?, ?)`, t.ID, name, desc, public, ts, ts); err != nil {
			return err
		}
		return setSpecs(ctx, tx, t.ID, specs)
	})
	if err != nil {
		return err
	}
	if t.Specs == nil {
		t.Specs = map[string]string{}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"volume_type": s.typeView(c, t, typeViewCreate)})
	return nil
}

// setSpecs creates or updates extra specs inside tx.
func setSpecs(ctx context.Context, tx *store.Tx, typeID string, specs map[string]string) error {
	for k, v := range specs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO volume_type_extra_specs (type_id, spec_key, spec_value)
			VALUES (?, ?, ?) ON CONFLICT (type_id, spec_key) DO UPDATE SET spec_value = excluded.spec_value`,
			typeID, k, v); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE volume_types SET updated_at = ? WHERE id = ?`, store.FormatTime(now()), typeID)
	return err
}

// updateType is PUT /types/{type_id}: name, description, is_public.
func (s *Service) updateType(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	body, err := api.DecodeObject(r, "volume_type")
	if err != nil {
		return err
	}
	for k := range body {
		switch k {
		case "name", "description", "is_public":
		default:
			return badRequest("Additional properties are not allowed ('%s' was unexpected)", k)
		}
	}
	var name *string
	if v, ok := body["name"]; ok && v != nil {
		n, _, err := typeName(body, "name", false)
		if err != nil {
			return err
		}
		name = &n
	}
	desc, descGiven, err := optString(body, "description", 255)
	if err != nil {
		return err
	}
	var public *bool
	if v, ok := body["is_public"]; ok && v != nil {
		b, valid := boolValue(v)
		if !valid {
			return schemaError("is_public", v, "Invalid boolean")
		}
		public = &b
	}
	if name == nil && !descGiven && public == nil {
		return badRequest("Specify volume type name, description, is_public or a combination thereof.")
	}
	ctx := r.Context()
	id := r.PathValue("type_id")
	var t *volumeType
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if t, err = loadType(ctx, tx, id); err != nil {
			return err
		}
		if t == nil {
			return typeNotFound(id)
		}
		if name != nil && *name != t.Name {
			if t.Name == defaultTypeName {
				return badRequest("The volume type %s is the default volume type and cannot be renamed.", t.ID)
			}
			other, err := loadTypeByName(ctx, tx, *name)
			if err != nil {
				return err
			}
			if other != nil {
				return conflict("Volume Type %s already exists.", *name)
			}
			t.Name = *name
		}
		if descGiven {
			t.Description = desc
		}
		if public != nil {
			t.IsPublic = *public
		}
		t.UpdatedAt = store.FormatTime(now())
		_, err = tx.ExecContext(ctx, `UPDATE volume_types SET name = ?, description = ?, is_public = ?, updated_at = ?
			WHERE id = ?`, t.Name, t.Description, t.IsPublic, t.UpdatedAt, t.ID)
		return err
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"volume_type": s.typeView(c, t, typeViewUpdate)})
	return nil
}

// deleteType is DELETE /types/{type_id} (202): refused while volumes use it, for the
// default type and for the last type.
func (s *Service) deleteType(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("type_id")
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		t, err := loadType(ctx, tx, id)
		if err != nil {
			return err
		}
		if t == nil {
			return typeNotFound(id)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_volumes WHERE type_id = ? AND deleted = ?`,
			t.ID, false).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return badRequest("Target volume type is still in use.")
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_group_volume_types gt
			JOIN volume_groups g ON g.id = gt.group_id WHERE gt.type_id = ? AND g.deleted = ?`, t.ID, false).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return badRequest("Target volume type is still in use.")
		}
		if t.Name == s.cfg.DefaultVolumeType {
			return badRequest("The volume type %s is a default volume type and cannot be deleted.", t.ID)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_default_types WHERE type_id = ?`, t.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return badRequest("The volume type %s is a default volume type and cannot be deleted.", t.ID)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_types WHERE deleted = ?`, false).Scan(&n); err != nil {
			return err
		}
		if n <= 1 {
			return badRequest("The volume type %s is the only currently defined volume type and cannot be deleted.", t.ID)
		}
		ts := store.FormatTime(now())
		_, err = tx.ExecContext(ctx, `UPDATE volume_types SET deleted = ?, deleted_at = ?, updated_at = ? WHERE id = ?`,
			true, ts, ts, t.ID)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// typeForSpecs loads a type for the extra-specs routes (404 when the caller may not see it).
func (s *Service) typeForSpecs(r *http.Request, c *call) (*volumeType, error) {
	id := r.PathValue("type_id")
	t, err := s.typeFor(r.Context(), s.db, c, id)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, typeNotFound(id)
	}
	return t, nil
}

// specsInUse refuses spec changes on a type volumes use ("Volume Type is currently in use.").
func (s *Service) specsInUse(ctx context.Context, typeID string) error {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_volumes WHERE type_id = ? AND deleted = ?`,
		typeID, false).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return badRequest("Volume Type is currently in use.")
	}
	return nil
}

// listSpecs is GET /types/{type_id}/extra_specs.
func (s *Service) listSpecs(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	t, err := s.typeForSpecs(r, c)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"extra_specs": s.visibleSpecs(c, t.Specs)})
	return nil
}

// createSpecs is POST /types/{type_id}/extra_specs (answers the body).
func (s *Service) createSpecs(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	raw, ok := body["extra_specs"].(map[string]any)
	if !ok {
		if _, present := body["extra_specs"]; !present {
			return badRequest("Invalid input for field/attribute extra_specs. Value: None. 'extra_specs' is a required property")
		}
		return schemaError("extra_specs", body["extra_specs"], "It is not of type 'object'")
	}
	specs, err := stringMap("extra_specs", raw)
	if err != nil {
		return err
	}
	t, err := s.typeForSpecs(r, c)
	if err != nil {
		return err
	}
	if err := s.specsInUse(r.Context(), t.ID); err != nil {
		return err
	}
	if err := s.db.InTx(r.Context(), func(tx *store.Tx) error { return setSpecs(r.Context(), tx, t.ID, specs) }); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"extra_specs": specs})
	return nil
}

// showSpec is GET /types/{type_id}/extra_specs/{key}.
func (s *Service) showSpec(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	t, err := s.typeForSpecs(r, c)
	if err != nil {
		return err
	}
	key := r.PathValue("key")
	v, ok := s.visibleSpecs(c, t.Specs)[key]
	if !ok {
		return notFound("Volume Type %s has no extra specs with key %s.", t.ID, key)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{key: v})
	return nil
}

// updateSpec is PUT /types/{type_id}/extra_specs/{key} with {key: value}.
func (s *Service) updateSpec(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	key := r.PathValue("key")
	if len(body) > 1 {
		return schemaError("body", map[string]any(body), "has too many properties")
	}
	specs, err := stringMap("extra_specs", body)
	if err != nil {
		return err
	}
	if _, ok := specs[key]; !ok {
		return badRequest("Request body and URI mismatch")
	}
	t, err := s.typeForSpecs(r, c)
	if err != nil {
		return err
	}
	if err := s.specsInUse(r.Context(), t.ID); err != nil {
		return err
	}
	if err := s.db.InTx(r.Context(), func(tx *store.Tx) error { return setSpecs(r.Context(), tx, t.ID, specs) }); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{key: specs[key]})
	return nil
}

// deleteSpec is DELETE /types/{type_id}/extra_specs/{key} (202).
func (s *Service) deleteSpec(w http.ResponseWriter, r *http.Request, c *call) error {
	t, err := s.typeForSpecs(r, c)
	if err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	if err := s.specsInUse(r.Context(), t.ID); err != nil {
		return err
	}
	key := r.PathValue("key")
	if _, ok := t.Specs[key]; !ok {
		return notFound("Volume Type %s has no extra specs with key %s.", t.ID, key)
	}
	if _, err := s.db.ExecContext(r.Context(), `DELETE FROM volume_type_extra_specs WHERE type_id = ? AND spec_key = ?`,
		t.ID, key); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// listTypeAccess is GET /types/{type_id}/os-volume-type-access (private types only).
func (s *Service) listTypeAccess(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("type_id")
	t, err := loadType(ctx, s.db, id)
	if err != nil {
		return err
	}
	if t == nil {
		return typeNotFound(id)
	}
	if t.IsPublic {
		return notFound("Access list not available for public volume types.")
	}
	rows, err := s.db.QueryContext(ctx, `SELECT project_id FROM volume_type_projects WHERE type_id = ? ORDER BY project_id`, t.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	out := []map[string]any{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return err
		}
		out = append(out, map[string]any{"volume_type_id": t.ID, "project_id": p})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"volume_type_access": out})
	return nil
}

// typeAction is POST /types/{type_id}/action: addProjectAccess and removeProjectAccess.
func (s *Service) typeAction(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	var add bool
	var inner api.Object
	switch {
	case body.Has("addProjectAccess"):
		add = true
		inner, _, err = body.Obj("addProjectAccess")
	case body.Has("removeProjectAccess"):
		inner, _, err = body.Obj("removeProjectAccess")
	default:
		return badRequest("There is no such action: %s", firstKey(body))
	}
	if err != nil {
		return err
	}
	rule := ruleTypeAccessAdd
	if !add {
		rule = ruleTypeAccessRemove
	}
	if err := s.authorize(c, rule, nil); err != nil {
		return err
	}
	project, _, err := inner.Str("project", false)
	if err != nil || project == "" || len(project) > 255 {
		return schemaError("project", inner["project"], "'project' is a required property")
	}
	ctx := r.Context()
	id := r.PathValue("type_id")
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		t, err := loadType(ctx, tx, id)
		if err != nil {
			return err
		}
		if t == nil {
			return typeNotFound(id)
		}
		if t.IsPublic {
			return badRequest("Invalid volume type: Type access modification is not applicable to public volume type.")
		}
		if add {
			_, err := tx.ExecContext(ctx, `INSERT INTO volume_type_projects (type_id, project_id) VALUES (?, ?)`, t.ID, project)
			if store.IsUniqueViolation(err) {
				return conflict("Volume type access for %s / %s combination already exists.", t.ID, project)
			}
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM volume_type_projects WHERE type_id = ? AND project_id = ?`, t.ID, project)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("Volume type access not found for %s / %s combination.", t.ID, project)
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// firstKey returns a map's only (or some) key, for "no such action" messages.
func firstKey(m map[string]any) string {
	for k := range m {
		return k
	}
	return ""
}

// defaultTypeView is the default-types entry view.
func defaultTypeView(project, typeID string) map[string]any {
	return map[string]any{"project_id": project, "volume_type_id": typeID}
}

// listDefaultTypes is GET /default-types.
func (s *Service) listDefaultTypes(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	rows, err := s.db.QueryContext(r.Context(), `SELECT project_id, type_id FROM volume_default_types ORDER BY project_id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	out := []map[string]any{}
	for rows.Next() {
		var p, t string
		if err := rows.Scan(&p, &t); err != nil {
			return err
		}
		out = append(out, defaultTypeView(p, t))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"default_types": out})
	return nil
}

// showDefaultType is GET /default-types/{project}.
func (s *Service) showDefaultType(w http.ResponseWriter, r *http.Request, c *call) error {
	project := r.PathValue("target")
	if err := s.authorize(c, c.rule, policy.Target{"project_id": project}); err != nil {
		return err
	}
	var t string
	err := s.db.QueryRowContext(r.Context(), `SELECT type_id FROM volume_default_types WHERE project_id = ?`, project).Scan(&t)
	if store.IsNoRows(err) {
		return notFound("Default type for project %s not found.", project)
	}
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"default_type": defaultTypeView(project, t)})
	return nil
}

// setDefaultType is PUT /default-types/{project} {"default_type": {"volume_type": ...}}.
func (s *Service) setDefaultType(w http.ResponseWriter, r *http.Request, c *call) error {
	project := r.PathValue("target")
	if err := s.authorize(c, c.rule, policy.Target{"project_id": project}); err != nil {
		return err
	}
	body, err := api.DecodeObject(r, "default_type")
	if err != nil {
		return err
	}
	ref, _, err := body.Str("volume_type", false)
	if err != nil || ref == "" {
		return schemaError("volume_type", body["volume_type"], "'volume_type' is a required property")
	}
	ctx := r.Context()
	var typeID string
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		t, err := loadType(ctx, tx, ref)
		if err == nil && t == nil {
			t, err = loadTypeByName(ctx, tx, ref)
		}
		if err != nil {
			return err
		}
		if t == nil {
			return typeNotFound(ref)
		}
		typeID = t.ID
		ts := store.FormatTime(now())
		_, err = tx.ExecContext(ctx, `INSERT INTO volume_default_types (project_id, type_id, created_at, updated_at)
			VALUES (?, ?, ?, ?) ON CONFLICT (project_id) DO UPDATE SET type_id = excluded.type_id,
			updated_at = excluded.updated_at`, project, t.ID, ts, ts)
		return err
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"default_type": defaultTypeView(project, typeID)})
	return nil
}

// unsetDefaultType is DELETE /default-types/{project} (204).
func (s *Service) unsetDefaultType(w http.ResponseWriter, r *http.Request, c *call) error {
	project := r.PathValue("target")
	if err := s.authorize(c, c.rule, policy.Target{"project_id": project}); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(r.Context(), `DELETE FROM volume_default_types WHERE project_id = ?`, project); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
