package image

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// propKind is how Glance's PropertyType model (glance/api/v2/model/metadef_property_type.py)
// types one attribute.
type propKind int

const (
	kindText propKind = iota
	kindTextList
	kindBool
	kindInt
	kindAny
	kindItems
)

// propertyAttrs are PropertyType's attributes. A property document keeps exactly these:
// Glance reads stored and submitted documents through the model, which drops any other
// key. default is typed as bytes in the model; it is kept as whatever JSON value was
// given, since the standard catalog's integer defaults are meant to be shown.
var propertyAttrs = map[string]propKind{
	"name": kindText, "type": kindText, "title": kindText, "description": kindText,
	"operators": kindTextList, "default": kindAny, "readonly": kindBool,
	"minimum": kindInt, "maximum": kindInt, "enum": kindTextList, "pattern": kindText,
	"minLength": kindInt, "maxLength": kindInt, "confidential": kindBool,
	"items": kindItems, "uniqueItems": kindBool, "minItems": kindInt, "maxItems": kindInt,
	"additionalItems": kindBool,
}

// pyClass names a decoded JSON value's Python class, for wsme's type errors.
func pyClass(v any) string {
	switch x := v.(type) {
	case nil:
		return "NoneType"
	case string:
		return "str"
	case bool:
		return "bool"
	case json.Number:
		if _, err := x.Int64(); err == nil || !strings.ContainsAny(x.String(), ".eE") {
			return "int"
		}
		return "float"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	}
	return "object"
}

// wrongType is wsme's validation error for a value of the wrong type.
func wrongType(field string, v any, want string) error {
	return invalidInput(field, v, fmt.Sprintf("Wrong type. Expected '<class '%s'>', got '<class '%s'>'", want, pyClass(v)))
}

// convertAttr checks one attribute value against its kind, returning it as it is stored.
func convertAttr(field string, kind propKind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch kind {
	case kindText:
		if _, ok := v.(string); !ok {
			return nil, wrongType(field, v, "str")
		}
	case kindBool:
		if _, ok := v.(bool); !ok {
			return nil, wrongType(field, v, "bool")
		}
	case kindInt:
		n, ok := v.(json.Number)
		if !ok || pyClass(v) != "int" {
			return nil, wrongType(field, v, "int")
		}
		return n, nil
	case kindTextList:
		list, ok := v.([]any)
		if !ok {
			return nil, wrongType(field, v, "list")
		}
		for _, e := range list {
			if _, ok := e.(string); !ok {
				return nil, wrongType(field, e, "str")
			}
		}
	case kindItems:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, wrongType(field, v, "dict")
		}
		out := map[string]any{}
		t, present := m["type"]
		if !present {
			return nil, invalidInput("type", nil, "Mandatory field missing.")
		}
		tv, err := convertAttr("type", kindText, t)
		if err != nil {
			return nil, err
		}
		out["type"] = tv
		if e, ok := m["enum"]; ok {
			ev, err := convertAttr("enum", kindTextList, e)
			if err != nil {
				return nil, err
			}
			out["enum"] = ev
		}
		return out, nil
	}
	return v, nil
}

// parseProperty reads a submitted property document into PropertyType: unknown keys are
// dropped, known ones must have the model's types, and type and title are mandatory.
func parseProperty(doc map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for _, k := range sortedKeys(doc) {
		kind, known := propertyAttrs[k]
		if !known {
			continue
		}
		v, err := convertAttr(k, kind, doc[k])
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	for _, k := range []string{"type", "title"} {
		if _, ok := out[k]; !ok {
			return nil, invalidInput(k, nil, "Mandatory field missing.")
		}
	}
	return out, nil
}

// readProperty reads a stored property document back through PropertyType, dropping what
// the model would not keep.
func readProperty(doc map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range doc {
		kind, known := propertyAttrs[k]
		if !known {
			continue
		}
		if cv, err := convertAttr(k, kind, v); err == nil {
			out[k] = cv
		}
	}
	return out
}

// encodeJSON renders a stored document.
func encodeJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// metadefProperty is a metadef property row.
type metadefProperty struct {
	ID     string
	Name   string
	Schema map[string]any
}

// loadProperty returns a namespace's property, nil when there is none.
func loadProperty(ctx context.Context, q store.Querier, nsID, name string) (*metadefProperty, error) {
	p := &metadefProperty{}
	var doc string
	err := q.QueryRowContext(ctx, `SELECT id, name, json_schema FROM image_metadef_properties WHERE namespace_id = ? AND name = ?`,
		nsID, name).Scan(&p.ID, &p.Name, &doc)
	if store.IsNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load metadef property: %w", err)
	}
	var raw map[string]any
	_ = json.Unmarshal([]byte(doc), &raw)
	p.Schema = readProperty(raw)
	return p, nil
}

// view is the controller's _to_model: the stored document with the row's name.
func (p *metadefProperty) view() map[string]any {
	v := make(map[string]any, len(p.Schema)+1)
	for k, x := range p.Schema {
		v[k] = x
	}
	v["name"] = p.Name
	return v
}

// readPropertyBody is the properties deserializer's create and update: the body must not
// carry timestamps and must match the property schema.
func readPropertyBody(r *http.Request) (map[string]any, error) {
	body, err := readMetadefBody(r)
	if err != nil {
		return nil, err
	}
	if err := checkReadOnly(body, "created_at", "updated_at"); err != nil {
		return nil, err
	}
	doc, err := validateBody("property", metadefPropertySchema(), body)
	if err != nil {
		return nil, err
	}
	return parseProperty(doc)
}

// listProperties is GET /v2/metadefs/namespaces/{namespace}/properties.
func (m *metadefs) listProperties(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	ns, err := c.findNamespace(r.Context(), m.s.db, r.PathValue("namespace"))
	if err != nil {
		return err
	}
	if err := c.enforceMetadef(c.rule, ns); err != nil {
		return err
	}
	props, err := listPropertyRows(r.Context(), m.s.db, ns.ID)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"properties": props})
	return nil
}

// showProperty is GET /v2/metadefs/namespaces/{namespace}/properties/{property_name}. With
// ?resource_type=, the name carries the association's prefix, which is removed first.
func (m *metadefs) showProperty(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	name := r.PathValue("property_name")
	ns, err := c.findNamespace(ctx, m.s.db, r.PathValue("namespace"))
	if err != nil {
		return err
	}
	if err := c.enforceMetadef(c.rule, ns); err != nil {
		return err
	}
	if rt := lastQueryValue(r, "resource_type"); rt != "" {
		if err := c.enforceMetadef("get_metadef_resource_type", ns); err != nil {
			return err
		}
		a, err := loadAssociation(ctx, m.s.db, ns, rt)
		if err != nil {
			return err
		}
		prefix := "None"
		if a.Prefix != nil {
			prefix = *a.Prefix
		}
		if a.Prefix == nil || *a.Prefix == "" || !strings.HasPrefix(name, *a.Prefix) {
			return errorf(http.StatusNotFound, "Property %s does not start with the expected resource type association prefix of '%s'.",
				name, prefix)
		}
		name = name[len(*a.Prefix):]
	}
	p, err := loadProperty(ctx, m.s.db, ns.ID, name)
	if err != nil {
		return err
	}
	if p == nil {
		return errorf(http.StatusNotFound, "Could not find property %s", name)
	}
	api.WriteJSON(w, http.StatusOK, p.view())
	return nil
}

// createProperty is POST /v2/metadefs/namespaces/{namespace}/properties.
func (m *metadefs) createProperty(w http.ResponseWriter, r *http.Request, c *call) error {
	doc, err := readPropertyBody(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	nsName := r.PathValue("namespace")
	name, _ := doc["name"].(string)
	p := &metadefProperty{ID: api.NewUUID(), Name: name, Schema: doc}
	err = m.s.db.InTx(ctx, func(tx *store.Tx) error {
		ns, err := c.findNamespace(ctx, tx, nsName)
		if err != nil {
			return err
		}
		if err := c.enforceMetadef(c.rule, ns); err != nil {
			return err
		}
		return insertProperty(ctx, tx, ns, p)
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, p.view())
	return nil
}

// insertProperty stores a new property of ns.
func insertProperty(ctx context.Context, tx *store.Tx, ns *namespace, p *metadefProperty) error {
	at := store.FormatTime(now())
	_, err := tx.ExecContext(ctx, `INSERT INTO image_metadef_properties (id, namespace_id, name, json_schema, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)`, p.ID, ns.ID, p.Name, encodeJSON(p.Schema), at, at)
	if store.IsUniqueViolation(err) {
		return errorf(http.StatusConflict, "A metadata definition property with name=%s already exists in namespace=%s.", p.Name, ns.Name)
	}
	if err != nil {
		return fmt.Errorf("create metadef property: %w", err)
	}
	return nil
}

// updateProperty is PUT /v2/metadefs/namespaces/{namespace}/properties/{property_name}:
// the document replaces the property's, and its name may rename it.
func (m *metadefs) updateProperty(w http.ResponseWriter, r *http.Request, c *call) error {
	doc, err := readPropertyBody(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	nsName, name := r.PathValue("namespace"), r.PathValue("property_name")
	var out *metadefProperty
	err = m.s.db.InTx(ctx, func(tx *store.Tx) error {
		ns, err := c.findNamespace(ctx, tx, nsName)
		if err != nil {
			return err
		}
		if err := c.enforceMetadef(c.rule, ns); err != nil {
			return err
		}
		p, err := loadProperty(ctx, tx, ns.ID, name)
		if err != nil {
			return err
		}
		if p == nil {
			return errorf(http.StatusNotFound, "Could not find property %s", name)
		}
		p.Name, _ = doc["name"].(string)
		p.Schema = doc
		_, err = tx.ExecContext(ctx, `UPDATE image_metadef_properties SET name = ?, json_schema = ?, updated_at = ? WHERE id = ?`,
			p.Name, encodeJSON(p.Schema), store.FormatTime(now()), p.ID)
		if store.IsUniqueViolation(err) {
			return errorf(http.StatusConflict, "Invalid update. It would result in a duplicate metadata definition property "+
				"with the same name=%s in namespace=%s.", p.Name, ns.Name)
		}
		if err != nil {
			return fmt.Errorf("update metadef property: %w", err)
		}
		out = p
		return nil
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out.view())
	return nil
}

// deleteProperty is DELETE /v2/metadefs/namespaces/{namespace}/properties/{property_name}.
func (m *metadefs) deleteProperty(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	nsName, name := r.PathValue("namespace"), r.PathValue("property_name")
	err := m.s.db.InTx(ctx, func(tx *store.Tx) error {
		ns, err := c.findNamespace(ctx, tx, nsName)
		if err != nil {
			return err
		}
		if err := c.enforceMetadef(c.rule, ns); err != nil {
			return err
		}
		p, err := loadProperty(ctx, tx, ns.ID, name)
		if err != nil {
			return err
		}
		if p == nil {
			return errorf(http.StatusNotFound, "Could not find property %s", name)
		}
		if ns.Protected {
			return errorf(http.StatusForbidden, "Metadata definition property %s is protected and cannot be deleted.", name)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM image_metadef_properties WHERE id = ?`, p.ID); err != nil {
			return fmt.Errorf("delete metadef property: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// lastQueryValue is the last value of a query parameter, as webob's params[key] gives.
func lastQueryValue(r *http.Request, key string) string {
	vals := r.URL.Query()[key]
	if len(vals) == 0 {
		return ""
	}
	return vals[len(vals)-1]
}
