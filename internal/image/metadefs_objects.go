package image

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// objectInput is a submitted object (the MetadefObject model); nil fields were not sent.
type objectInput struct {
	Name        string
	Description *string
	Required    []string
	HasRequired bool
	Properties  map[string]map[string]any
}

// parseObject reads an object document that passed the schema through the model.
func parseObject(doc map[string]any) (*objectInput, error) {
	o := &objectInput{}
	name, present := doc["name"]
	if !present || name == nil {
		return nil, invalidInput("name", nil, "Mandatory field missing.")
	}
	s, ok := name.(string)
	if !ok {
		return nil, wrongType("name", name, "str")
	}
	o.Name = s
	if v, ok := doc["description"]; ok && v != nil {
		d, ok := v.(string)
		if !ok {
			return nil, wrongType("description", v, "str")
		}
		o.Description = &d
	}
	if v, ok := doc["required"]; ok && v != nil {
		list, err := convertAttr("required", kindTextList, v)
		if err != nil {
			return nil, err
		}
		o.HasRequired = true
		for _, e := range list.([]any) {
			o.Required = append(o.Required, e.(string))
		}
		if o.Required == nil {
			o.Required = []string{}
		}
	}
	if v, ok := doc["properties"]; ok && v != nil {
		props, ok := v.(map[string]any)
		if !ok {
			return nil, wrongType("properties", v, "dict")
		}
		o.Properties = map[string]map[string]any{}
		for _, k := range sortedKeys(props) {
			pm, ok := props[k].(map[string]any)
			if !ok {
				return nil, wrongType(k, props[k], "dict")
			}
			p, err := parseProperty(pm)
			if err != nil {
				return nil, err
			}
			o.Properties[k] = p
		}
	}
	return o, nil
}

// echo renders a submitted object as Glance's model does: only what was set.
func (o *objectInput) echo() map[string]any {
	v := map[string]any{"name": o.Name}
	if o.Description != nil {
		v["description"] = *o.Description
	}
	if o.HasRequired {
		v["required"] = o.Required
	}
	if o.Properties != nil {
		v["properties"] = o.Properties
	}
	return v
}

// requiredColumn stores an object's required list (NULL when empty, as Glance does).
func (o *objectInput) requiredColumn() any {
	if len(o.Required) == 0 {
		return nil
	}
	return strings.Join(o.Required, ",")
}

// propertiesColumn stores an object's properties.
func (o *objectInput) propertiesColumn() string {
	if o.Properties == nil {
		return "{}"
	}
	return encodeJSON(o.Properties)
}

// insertObject stores a new object of ns.
func insertObject(ctx context.Context, tx *store.Tx, ns *namespace, o *objectInput, at string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO image_metadef_objects (id, namespace_id, name, description, required, json_schema,
		created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		api.NewUUID(), ns.ID, o.Name, o.Description, o.requiredColumn(), o.propertiesColumn(), at, at)
	if store.IsUniqueViolation(err) {
		return errorf(http.StatusConflict, "A metadata definition object with name=%s already exists in namespace=%s.", o.Name, ns.Name)
	}
	if err != nil {
		return fmt.Errorf("create metadef object: %w", err)
	}
	return nil
}

// loadObject returns a namespace's object, nil when there is none.
func loadObject(ctx context.Context, q store.Querier, nsID, name string) (*metadefObject, error) {
	o, err := scanObject(q.QueryRowContext(ctx, `SELECT `+objectColumns+` FROM image_metadef_objects WHERE namespace_id = ? AND name = ?`,
		nsID, name))
	if store.IsNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load metadef object: %w", err)
	}
	return o, nil
}

// readObjectBody is the objects deserializer: no read-only attributes, the object schema,
// and (on create) the property schema for each of the object's properties.
func readObjectBody(r *http.Request, checkProperties bool) (*objectInput, error) {
	body, err := readMetadefBody(r)
	if err != nil {
		return nil, err
	}
	if err := checkReadOnly(body, "self", "schema", "created_at", "updated_at"); err != nil {
		return nil, err
	}
	doc, err := validateBody("object", metadefObjectSchema(), body)
	if err != nil {
		return nil, err
	}
	if props, ok := doc["properties"].(map[string]any); ok && checkProperties {
		for _, k := range sortedKeys(props) {
			if err := validateSchema("property", metadefPropertySchemaFor(false), props[k]); err != nil {
				return nil, err
			}
		}
	}
	return parseObject(doc)
}

// createObject is POST /v2/metadefs/namespaces/{namespace}/objects.
func (m *metadefs) createObject(w http.ResponseWriter, r *http.Request, c *call) error {
	in, err := readObjectBody(r, true)
	if err != nil {
		return err
	}
	ctx := r.Context()
	nsName := r.PathValue("namespace")
	t := now()
	err = m.s.db.InTx(ctx, func(tx *store.Tx) error {
		ns, err := c.findNamespaceStrict(ctx, tx, nsName)
		if err != nil {
			return err
		}
		if err := c.enforceMetadef(c.rule, ns); err != nil {
			return err
		}
		return insertObject(ctx, tx, ns, in, store.FormatTime(t))
	})
	if err != nil {
		return err
	}
	v := in.echo()
	v["created_at"], v["updated_at"] = isoTime(t), isoTime(t)
	v["self"], v["schema"] = objectHref(nsName, in.Name), "/v2/schemas/metadefs/object"
	api.WriteJSON(w, http.StatusCreated, v)
	return nil
}

// parseObjectsQuery is the objects deserializer's index: its parameters are checked,
// although Glance then lists every object.
func parseObjectsQuery(r *http.Request) error {
	q := r.URL.Query()
	if err := checkSortDir(q.Get("sort_dir")); err != nil {
		return err
	}
	if v := lastValue(q["visibility"]); v != "" && v != "public" && v != "private" && v != "shared" {
		return errorf(http.StatusBadRequest, "Invalid visibility value: %s", v)
	}
	if vals, ok := q["limit"]; ok {
		// params.pop takes the first value.
		n, err := pyInt(vals[0])
		if err != nil {
			return err
		}
		if n <= 0 {
			return errorf(http.StatusBadRequest, "limit param must be positive")
		}
	}
	return nil
}

// listObjects is GET /v2/metadefs/namespaces/{namespace}/objects.
func (m *metadefs) listObjects(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := parseObjectsQuery(r); err != nil {
		return err
	}
	ctx := r.Context()
	nsName := r.PathValue("namespace")
	ns, err := c.findNamespaceStrict(ctx, m.s.db, nsName)
	if err != nil {
		return err
	}
	if err := c.enforceMetadef(c.rule, ns); err != nil {
		return err
	}
	objs, err := listObjectRows(ctx, m.s.db, ns.ID)
	if err != nil {
		return err
	}
	views := []map[string]any{}
	if c.checkMetadef("get_metadef_object", ns) {
		for _, o := range objs {
			views = append(views, o.view(nsName))
		}
	}
	// Glance's serializer sets this link without the leading slash.
	api.WriteJSON(w, http.StatusOK, map[string]any{"objects": views, "schema": "v2/schemas/metadefs/objects"})
	return nil
}

// showObject is GET /v2/metadefs/namespaces/{namespace}/objects/{object_name}.
func (m *metadefs) showObject(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	ctx := r.Context()
	nsName, name := r.PathValue("namespace"), r.PathValue("object_name")
	ns, err := c.findNamespaceStrict(ctx, m.s.db, nsName)
	if err != nil {
		return err
	}
	if err := c.enforceMetadef(c.rule, ns); err != nil {
		return err
	}
	o, err := loadObject(ctx, m.s.db, ns.ID, name)
	if err != nil {
		return err
	}
	if o == nil {
		return errorf(http.StatusNotFound, "Could not find metadata object %s", name)
	}
	api.WriteJSON(w, http.StatusOK, o.view(nsName))
	return nil
}

// updateObject is PUT /v2/metadefs/namespaces/{namespace}/objects/{object_name}: the
// document replaces the object (attributes left out are cleared) and may rename it.
func (m *metadefs) updateObject(w http.ResponseWriter, r *http.Request, c *call) error {
	in, err := readObjectBody(r, false)
	if err != nil {
		return err
	}
	ctx := r.Context()
	nsName, name := r.PathValue("namespace"), r.PathValue("object_name")
	var created string
	t := now()
	err = m.s.db.InTx(ctx, func(tx *store.Tx) error {
		ns, err := c.findNamespaceStrict(ctx, tx, nsName)
		if err != nil {
			return err
		}
		if err := c.enforceMetadef(c.rule, ns); err != nil {
			return err
		}
		o, err := loadObject(ctx, tx, ns.ID, name)
		if err != nil {
			return err
		}
		if o == nil {
			return errorf(http.StatusNotFound, "Could not find metadata object %s", name)
		}
		created = isoTime(o.CreatedAt)
		_, err = tx.ExecContext(ctx, `UPDATE image_metadef_objects SET name = ?, description = ?, required = ?, json_schema = ?,
			updated_at = ? WHERE id = ?`, in.Name, in.Description, in.requiredColumn(), in.propertiesColumn(), store.FormatTime(t), o.ID)
		if store.IsUniqueViolation(err) {
			return errorf(http.StatusConflict, "Invalid update. It would result in a duplicate metadata definition object "+
				"with the same name=%s in namespace=%s.", in.Name, ns.Name)
		}
		if err != nil {
			return fmt.Errorf("update metadef object: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	v := in.echo()
	v["created_at"], v["updated_at"] = created, isoTime(t)
	v["self"], v["schema"] = objectHref(nsName, in.Name), "/v2/schemas/metadefs/object"
	api.WriteJSON(w, http.StatusOK, v)
	return nil
}

// deleteObject is DELETE /v2/metadefs/namespaces/{namespace}/objects/{object_name}.
func (m *metadefs) deleteObject(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	ctx := r.Context()
	nsName, name := r.PathValue("namespace"), r.PathValue("object_name")
	err := m.s.db.InTx(ctx, func(tx *store.Tx) error {
		ns, err := c.findNamespaceStrict(ctx, tx, nsName)
		if err != nil {
			return err
		}
		if err := c.enforceMetadef(c.rule, ns); err != nil {
			return err
		}
		o, err := loadObject(ctx, tx, ns.ID, name)
		if err != nil {
			return err
		}
		if o == nil {
			return errorf(http.StatusNotFound, "Could not find metadata object %s", name)
		}
		if ns.Protected {
			return errorf(http.StatusForbidden, "Metadata definition object %s is protected and cannot be deleted.", name)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM image_metadef_objects WHERE id = ?`, o.ID); err != nil {
			return fmt.Errorf("delete metadef object: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkSortDir is the deserializers' _validate_sort_dir ("" is the default, desc).
func checkSortDir(dir string) error {
	if dir != "" && dir != "asc" && dir != "desc" {
		return errorf(http.StatusBadRequest, "Invalid sort direction: %s", dir)
	}
	return nil
}

// pyInt is Python's int() of a query parameter: surrounding whitespace, a sign and
// underscores between digits are accepted.
func pyInt(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t != "" && !strings.HasPrefix(t, "_") && !strings.HasSuffix(t, "_") && !strings.Contains(t, "__") {
		t = strings.ReplaceAll(t, "_", "")
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			if strings.HasPrefix(t, "-") {
				return -1 << 63, nil
			}
			return 1<<63 - 1, nil
		}
		return 0, errorf(http.StatusBadRequest, "limit param must be an integer")
	}
	return n, nil
}

// lastValue is the last of a parameter's values ("" when there is none).
func lastValue(vals []string) string {
	if len(vals) == 0 {
		return ""
	}
	return vals[len(vals)-1]
}
