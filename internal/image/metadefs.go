package image

// Glance's metadata definitions catalog ("metadefs", glance/api/v2/metadef_*.py): namespaces
// of property, object and tag definitions that tell clients (Horizon's "Update Metadata"
// dialogs, the CLI) which keys images, flavors, volumes and other resources understand,
// associated with the resource types they apply to. Writes are for admins; a namespace is
// visible to admins, to its owner's project and, when public, to everyone.
//
// The handlers follow Glance's controllers step by step (namespace lookup, policy check,
// database call), because each step decides which error a client sees: a namespace the
// caller may not see is a 404, never a 403, and the wording of each 404 depends on where
// the lookup failed. The standard catalog Glance ships (etc/metadefs) is loaded once per
// database, as DevStack's glance-manage db_load_metadefs does, the first time the API is
// used (metadefs_catalog.go).

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// metadefs serves the metadata definitions API of one route table and remembers whether
// the standard catalog is known to be in the database.
type metadefs struct {
	s *Service

	catalogMu     sync.Mutex
	catalogLoaded bool
}

// metadefRoutes are the metadata definitions routes, in the order of Glance's router so
// that the 405 answers carry its Allow headers, and the metadefs schema documents.
func (s *Service) metadefRoutes() []route {
	m := &metadefs{s: s}
	h := m.withCatalog
	const ns = "/v2/metadefs/namespaces/{namespace}"
	return []route{
		{method: "GET", path: "/v2/metadefs/resource_types", rule: "list_metadef_resource_types", handle: h(m.listResourceTypes)},
		{method: "GET", path: ns + "/resource_types", rule: "list_metadef_resource_types", handle: h(m.listAssociations)},
		{method: "POST", path: ns + "/resource_types", rule: "add_metadef_resource_type_association", handle: h(m.createAssociation)},
		{method: "DELETE", path: ns + "/resource_types/{resource_type}", rule: "remove_metadef_resource_type_association", handle: h(m.deleteAssociation)},

		{method: "GET", path: "/v2/metadefs/namespaces", rule: "get_metadef_namespaces", handle: h(m.listNamespaces)},
		{method: "POST", path: "/v2/metadefs/namespaces", rule: "add_metadef_namespace", handle: h(m.createNamespace)},
		{method: "GET", path: ns, rule: "get_metadef_namespace", handle: h(m.showNamespace)},
		{method: "PUT", path: ns, rule: "modify_metadef_namespace", handle: h(m.updateNamespace)},
		{method: "DELETE", path: ns, rule: "delete_metadef_namespace", handle: h(m.deleteNamespace)},

		{method: "GET", path: ns + "/properties", rule: "get_metadef_properties", handle: h(m.listProperties)},
		{method: "POST", path: ns + "/properties", rule: "add_metadef_property", handle: h(m.createProperty)},
		{method: "DELETE", path: ns + "/properties", rule: "delete_metadef_namespace", handle: h(m.deleteNamespaceContent(contentProperties))},
		{method: "GET", path: ns + "/properties/{property_name}", rule: "get_metadef_property", handle: h(m.showProperty)},
		{method: "PUT", path: ns + "/properties/{property_name}", rule: "modify_metadef_property", handle: h(m.updateProperty)},
		{method: "DELETE", path: ns + "/properties/{property_name}", rule: "remove_metadef_property", handle: h(m.deleteProperty)},

		{method: "GET", path: ns + "/objects", rule: "get_metadef_objects", handle: h(m.listObjects)},
		{method: "POST", path: ns + "/objects", rule: "add_metadef_object", handle: h(m.createObject)},
		{method: "DELETE", path: ns + "/objects", rule: "delete_metadef_namespace", handle: h(m.deleteNamespaceContent(contentObjects))},
		{method: "GET", path: ns + "/objects/{object_name}", rule: "get_metadef_object", handle: h(m.showObject)},
		{method: "PUT", path: ns + "/objects/{object_name}", rule: "modify_metadef_object", handle: h(m.updateObject)},
		{method: "DELETE", path: ns + "/objects/{object_name}", rule: "delete_metadef_object", handle: h(m.deleteObject)},

		{method: "GET", path: ns + "/tags", rule: "get_metadef_tags", handle: h(m.listTags)},
		{method: "POST", path: ns + "/tags", rule: "add_metadef_tags", handle: h(m.createTags)},
		{method: "DELETE", path: ns + "/tags", rule: "delete_metadef_namespace", handle: h(m.deleteNamespaceContent(contentTags))},
		{method: "GET", path: ns + "/tags/{tag_name}", rule: "get_metadef_tag", handle: h(m.showTag)},
		{method: "POST", path: ns + "/tags/{tag_name}", rule: "add_metadef_tag", handle: h(m.createTag)},
		{method: "PUT", path: ns + "/tags/{tag_name}", rule: "modify_metadef_tag", handle: h(m.updateTag)},
		{method: "DELETE", path: ns + "/tags/{tag_name}", rule: "delete_metadef_tag", handle: h(m.deleteTag)},

		{method: "GET", path: "/v2/schemas/metadefs/namespace", handle: serveSchema(metadefNamespaceSchema)},
		{method: "GET", path: "/v2/schemas/metadefs/namespaces", handle: serveSchema(metadefNamespacesSchema)},
		{method: "GET", path: "/v2/schemas/metadefs/resource_type", handle: serveSchema(metadefResourceTypeSchema)},
		{method: "GET", path: "/v2/schemas/metadefs/resource_types", handle: serveSchema(metadefResourceTypesSchema)},
		{method: "GET", path: "/v2/schemas/metadefs/property", handle: serveSchema(metadefPropertySchema)},
		{method: "GET", path: "/v2/schemas/metadefs/properties", handle: serveSchema(metadefPropertiesSchema)},
		{method: "GET", path: "/v2/schemas/metadefs/object", handle: serveSchema(metadefObjectSchema)},
		{method: "GET", path: "/v2/schemas/metadefs/objects", handle: serveSchema(metadefObjectsSchema)},
		{method: "GET", path: "/v2/schemas/metadefs/tag", handle: serveSchema(metadefTagSchema)},
		{method: "GET", path: "/v2/schemas/metadefs/tags", handle: serveSchema(metadefTagsSchema)},
	}
}

// withCatalog makes sure the standard catalog is in the database before h runs.
func (m *metadefs) withCatalog(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		if err := m.ensureCatalog(r.Context()); err != nil {
			return err
		}
		return h(w, r, c)
	}
}

// namespace is a metadef namespace row.
type namespace struct {
	ID          string
	Name        string
	DisplayName *string
	Description *string
	Visibility  string
	Protected   bool
	Owner       string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const namespaceColumns = `id, namespace, display_name, description, visibility, protected, owner, created_at, updated_at`

// scanNamespace reads a row selected with namespaceColumns.
func scanNamespace(row interface{ Scan(...any) error }) (*namespace, error) {
	var ns namespace
	var display, desc sql.NullString
	var created, updated string
	if err := row.Scan(&ns.ID, &ns.Name, &display, &desc, &ns.Visibility, &ns.Protected, &ns.Owner, &created, &updated); err != nil {
		return nil, err
	}
	ns.DisplayName, ns.Description = nullStr(display), nullStr(desc)
	ns.CreatedAt, ns.UpdatedAt = store.ParseTime(created), store.ParseTime(updated)
	return &ns, nil
}

// loadNamespace returns the namespace called name, nil when there is none.
func loadNamespace(ctx context.Context, q store.Querier, name string) (*namespace, error) {
	ns, err := scanNamespace(q.QueryRowContext(ctx, `SELECT `+namespaceColumns+` FROM image_metadef_namespaces WHERE namespace = ?`, name))
	if store.IsNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load metadef namespace: %w", err)
	}
	return ns, nil
}

// visibleTo is glance.db.sqlalchemy.metadef_api.namespace._is_namespace_visible.
func (ns *namespace) visibleTo(c *call) bool {
	return c.admin || ns.Visibility == "public" || (c.project() != "" && ns.Owner == c.project())
}

// The two ways Glance words a namespace it cannot find: the database's
// MetadefNamespaceNotFound, and the controllers' message for a namespace that is missing
// or that the caller may not see.
func errNamespaceMissing(name string) error {
	return errorf(http.StatusNotFound, "Metadata definition namespace=%s was not found.", name)
}

func errNamespaceNotFound(name string) error {
	return errorf(http.StatusNotFound, "Namespace %s not found", name)
}

// findNamespace is ns_repo.get as most controllers call it: a namespace that is missing or
// that the caller may not see is "Namespace %s not found".
func (c *call) findNamespace(ctx context.Context, q store.Querier, name string) (*namespace, error) {
	ns, err := loadNamespace(ctx, q, name)
	if err != nil {
		return nil, err
	}
	if ns == nil || !ns.visibleTo(c) {
		return nil, errNamespaceNotFound(name)
	}
	return ns, nil
}

// findNamespaceStrict is ns_repo.get as the objects controller calls it: only a namespace
// the caller may not see becomes "Namespace %s not found"; a missing one keeps the
// database's message.
func (c *call) findNamespaceStrict(ctx context.Context, q store.Querier, name string) (*namespace, error) {
	ns, err := loadNamespace(ctx, q, name)
	if err != nil {
		return nil, err
	}
	if ns == nil {
		return nil, errNamespaceMissing(name)
	}
	if !ns.visibleTo(c) {
		return nil, errNamespaceNotFound(name)
	}
	return ns, nil
}

// metadefTarget is MetadefAPIPolicy's target: the namespace's owner and visibility, or
// the caller's project for checks that concern no namespace.
func (c *call) metadefTarget(ns *namespace) policy.Target {
	if ns == nil {
		return policy.Target{"project_id": c.project()}
	}
	return policy.Target{"project_id": ns.Owner, "visibility": ns.Visibility}
}

// enforceMetadef is MetadefAPIPolicy._enforce: a denial is a bare 404 when the caller may
// not even read the namespace (or the rule is get_metadef_namespace), so that private
// namespaces are not revealed, and Glance's 403 otherwise.
func (c *call) enforceMetadef(rule string, ns *namespace) error {
	t := c.metadefTarget(ns)
	if c.allowed(rule, t) {
		return nil
	}
	if rule == "get_metadef_namespace" || !c.allowed("get_metadef_namespace", t) {
		return notFound()
	}
	return errForbiddenAction(rule)
}

// checkMetadef is MetadefAPIPolicy.check, the soft form of enforceMetadef.
func (c *call) checkMetadef(rule string, ns *namespace) bool {
	return c.enforceMetadef(rule, ns) == nil
}

// namespaceHref is get_namespace_href: a path without the API prefix, as Glance shows it.
func namespaceHref(name string) string { return "/v2/metadefs/namespaces/" + name }

// view is Namespace.to_wsme_model: the namespace's own attributes, without its content.
func (ns *namespace) view() map[string]any {
	v := map[string]any{
		"namespace":  ns.Name,
		"visibility": ns.Visibility,
		"protected":  ns.Protected,
		"owner":      ns.Owner,
		"created_at": isoTime(ns.CreatedAt),
		"updated_at": isoTime(ns.UpdatedAt),
		"self":       namespaceHref(ns.Name),
		"schema":     "/v2/schemas/metadefs/namespace",
	}
	if ns.DisplayName != nil {
		v["display_name"] = *ns.DisplayName
	}
	if ns.Description != nil {
		v["description"] = *ns.Description
	}
	return v
}

// association is a namespace's resource-type association.
type association struct {
	Name             string
	Prefix           *string
	PropertiesTarget *string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// view is ResourceTypeAssociation.to_wsme_model.
func (a *association) view() map[string]any {
	v := map[string]any{"name": a.Name, "created_at": isoTime(a.CreatedAt), "updated_at": isoTime(a.UpdatedAt)}
	if a.Prefix != nil {
		v["prefix"] = *a.Prefix
	}
	if a.PropertiesTarget != nil {
		v["properties_target"] = *a.PropertiesTarget
	}
	return v
}

// loadAssociations returns the resource types the namespaces with the given ids are
// associated with, by namespace id.
func loadAssociations(ctx context.Context, q store.Querier, ids []string) (map[string][]*association, error) {
	out := map[string][]*association{}
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := q.QueryContext(ctx, `SELECT namespace_id, resource_type, prefix, properties_target, created_at, updated_at
		FROM image_metadef_namespace_resource_types WHERE namespace_id IN (`+placeholders(len(ids))+`)
		ORDER BY created_at, resource_type`, args...)
	if err != nil {
		return nil, fmt.Errorf("list metadef resource type associations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var nsID, created, updated string
		var prefix, target sql.NullString
		a := &association{}
		if err := rows.Scan(&nsID, &a.Name, &prefix, &target, &created, &updated); err != nil {
			return nil, err
		}
		a.Prefix, a.PropertiesTarget = nullStr(prefix), nullStr(target)
		a.CreatedAt, a.UpdatedAt = store.ParseTime(created), store.ParseTime(updated)
		out[nsID] = append(out[nsID], a)
	}
	return out, rows.Err()
}

// placeholders returns n comma-separated question marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// metadefObject is a metadef object row.
type metadefObject struct {
	ID          string
	Name        string
	Description *string
	Required    []string
	Properties  map[string]map[string]any
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const objectColumns = `id, name, description, required, json_schema, created_at, updated_at`

// scanObject reads a row selected with objectColumns.
func scanObject(row interface{ Scan(...any) error }) (*metadefObject, error) {
	var o metadefObject
	var desc, required sql.NullString
	var schema, created, updated string
	if err := row.Scan(&o.ID, &o.Name, &desc, &required, &schema, &created, &updated); err != nil {
		return nil, err
	}
	o.Description = nullStr(desc)
	o.Required = []string{}
	if required.Valid && required.String != "" {
		o.Required = strings.Split(required.String, ",")
	}
	o.Properties = decodePropertyMap(schema)
	o.CreatedAt, o.UpdatedAt = store.ParseTime(created), store.ParseTime(updated)
	return &o, nil
}

// decodePropertyMap reads a stored {name: property} document, each property as
// PropertyType reads it back.
func decodePropertyMap(doc string) map[string]map[string]any {
	var raw map[string]any
	_ = json.Unmarshal([]byte(doc), &raw)
	out := make(map[string]map[string]any, len(raw))
	for k, v := range raw {
		if m, ok := v.(map[string]any); ok {
			out[k] = readProperty(m)
		}
	}
	return out
}

// objectHref is get_object_href.
func objectHref(ns, name string) string { return namespaceHref(ns) + "/objects/" + name }

// view is MetadefObject.to_wsme_model for an object read from the database.
func (o *metadefObject) view(ns string) map[string]any {
	v := map[string]any{
		"name":       o.Name,
		"required":   o.Required,
		"properties": o.Properties,
		"created_at": isoTime(o.CreatedAt),
		"updated_at": isoTime(o.UpdatedAt),
		"self":       objectHref(ns, o.Name),
		"schema":     "/v2/schemas/metadefs/object",
	}
	if o.Description != nil {
		v["description"] = *o.Description
	}
	return v
}

// listObjectRows returns a namespace's objects.
func listObjectRows(ctx context.Context, q store.Querier, nsID string) ([]*metadefObject, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+objectColumns+` FROM image_metadef_objects WHERE namespace_id = ?
		ORDER BY created_at, name`, nsID)
	if err != nil {
		return nil, fmt.Errorf("list metadef objects: %w", err)
	}
	defer rows.Close()
	var out []*metadefObject
	for rows.Next() {
		o, err := scanObject(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// listPropertyRows returns a namespace's properties by name, each as PropertyType reads
// it back.
func listPropertyRows(ctx context.Context, q store.Querier, nsID string) (map[string]map[string]any, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, json_schema FROM image_metadef_properties WHERE namespace_id = ?`, nsID)
	if err != nil {
		return nil, fmt.Errorf("list metadef properties: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]any{}
	for rows.Next() {
		var name, doc string
		if err := rows.Scan(&name, &doc); err != nil {
			return nil, err
		}
		var raw map[string]any
		_ = json.Unmarshal([]byte(doc), &raw)
		out[name] = readProperty(raw)
	}
	return out, rows.Err()
}

// metadefTag is a metadef tag row.
type metadefTag struct {
	ID        string
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// view is MetadefTag.to_wsme_model.
func (t *metadefTag) view() map[string]any {
	return map[string]any{"name": t.Name, "created_at": isoTime(t.CreatedAt), "updated_at": isoTime(t.UpdatedAt)}
}

// listTagRows returns a namespace's tags, oldest first.
func listTagRows(ctx context.Context, q store.Querier, nsID string) ([]*metadefTag, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, name, created_at, updated_at FROM image_metadef_tags WHERE namespace_id = ?
		ORDER BY created_at, id`, nsID)
	if err != nil {
		return nil, fmt.Errorf("list metadef tags: %w", err)
	}
	defer rows.Close()
	var out []*metadefTag
	for rows.Next() {
		t := &metadefTag{}
		var created, updated string
		if err := rows.Scan(&t.ID, &t.Name, &created, &updated); err != nil {
			return nil, err
		}
		t.CreatedAt, t.UpdatedAt = store.ParseTime(created), store.ParseTime(updated)
		out = append(out, t)
	}
	return out, rows.Err()
}

// tagNames renders tags as Glance's collections do, by name only.
func tagNames(tags []*metadefTag) []map[string]any {
	out := make([]map[string]any, len(tags))
	for i, t := range tags {
		out[i] = map[string]any{"name": t.Name}
	}
	return out
}

// ensureResourceType creates a resource type unless it exists, as associating a namespace
// with a new name does.
func ensureResourceType(ctx context.Context, tx *store.Tx, name string, protected bool, at string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO image_metadef_resource_types (name, protected, created_at, updated_at)
		VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, name, protected, at, at)
	if err != nil {
		return fmt.Errorf("create metadef resource type: %w", err)
	}
	return nil
}

// readMetadefBody is Glance's JSONRequestDeserializer for the metadefs controllers: a body
// is required and must be JSON, of any type (the schema check that follows words the
// type error).
func readMetadefBody(r *http.Request) (any, error) {
	b, err := api.ReadBody(r, maxJSONBody)
	if err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, errorf(http.StatusBadRequest, "Body expected in request.")
	}
	var v any
	if err := api.Unmarshal(b, &v); err != nil {
		return nil, errorf(http.StatusBadRequest, "Malformed JSON in request body.")
	}
	return v, nil
}

// checkReadOnly is the deserializers' _check_allowed: these attributes may not be sent.
// Glance tests membership with "in", which for a string body is a substring test.
func checkReadOnly(body any, keys ...string) error {
	for _, k := range keys {
		found := false
		switch b := body.(type) {
		case map[string]any:
			_, found = b[k]
		case string:
			found = strings.Contains(b, k)
		case []any:
			for _, e := range b {
				if s, ok := e.(string); ok && s == k {
					found = true
				}
			}
		}
		if found {
			return errorf(http.StatusForbidden, "Attribute '%s' is read-only.", k)
		}
	}
	return nil
}

// invalidInput is wsme's InvalidInput, raised when a body that passed the schema does not
// fit Glance's model (a missing mandatory field, a value of the wrong type).
func invalidInput(field string, value any, msg string) error {
	return errorf(http.StatusBadRequest, "Invalid input for field/attribute %s. Value: '%s'. %s", field, pyStrValue(value), msg)
}

// pyStrValue renders a value as Python's str does.
func pyStrValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return pyRepr(v)
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// spread is the time of the i-th of n rows written together: a unit apart, in order, the
// last at t, so that lists keep the order they were written in and no row is dated after
// the request that wrote it.
func spread(t time.Time, i, n int, unit time.Duration) time.Time {
	return t.Add(-time.Duration(n-1-i) * unit)
}

// boolFromString is oslo_utils.strutils.bool_from_string with its default of False.
func boolFromString(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "on", "y", "yes":
		return true
	}
	return false
}
