package image

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// namespaceInput is a submitted namespace (the Namespace model) with its content; nil
// fields and slices were not sent.
type namespaceInput struct {
	Name        string
	DisplayName *string
	Description *string
	Visibility  *string
	Protected   *bool
	Owner       *string

	Associations []*associationInput
	Objects      []*objectInput
	Tags         []string
	Properties   map[string]map[string]any
	// has records which content lists were sent, so that the response echoes them.
	has map[string]bool
}

// readNamespaceBody is the namespaces deserializer's create and update.
func readNamespaceBody(r *http.Request) (*namespaceInput, error) {
	body, err := readMetadefBody(r)
	if err != nil {
		return nil, err
	}
	if err := checkReadOnly(body, "self", "schema", "created_at", "updated_at"); err != nil {
		return nil, err
	}
	doc, err := validateBody("namespace", metadefNamespaceSchema(), body)
	if err != nil {
		return nil, err
	}
	return parseNamespace(doc)
}

// parseNamespace reads a namespace document that passed the schema through the model.
func parseNamespace(doc map[string]any) (*namespaceInput, error) {
	in := &namespaceInput{has: map[string]bool{}}
	in.Name, _ = doc["namespace"].(string)
	for _, f := range []struct {
		key string
		dst **string
	}{{"display_name", &in.DisplayName}, {"description", &in.Description}, {"visibility", &in.Visibility}, {"owner", &in.Owner}} {
		if s, ok := doc[f.key].(string); ok {
			*f.dst = &s
		}
	}
	if b, ok := doc["protected"].(bool); ok {
		in.Protected = &b
	}
	if list, ok := doc["resource_type_associations"].([]any); ok {
		in.has["resource_type_associations"] = true
		for _, e := range list {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, wrongType("resource_type_associations", e, "dict")
			}
			a, err := parseAssociation(m)
			if err != nil {
				return nil, err
			}
			in.Associations = append(in.Associations, a)
		}
	}
	if list, ok := doc["objects"].([]any); ok {
		in.has["objects"] = true
		for _, e := range list {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, wrongType("objects", e, "dict")
			}
			o, err := parseObject(m)
			if err != nil {
				return nil, err
			}
			in.Objects = append(in.Objects, o)
		}
	}
	if list, ok := doc["tags"].([]any); ok {
		in.has["tags"] = true
		for _, e := range list {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, wrongType("tags", e, "dict")
			}
			name, present := m["name"]
			if !present || name == nil {
				return nil, invalidInput("name", nil, "Mandatory field missing.")
			}
			s, ok := name.(string)
			if !ok {
				return nil, wrongType("name", name, "str")
			}
			in.Tags = append(in.Tags, s)
		}
	}
	if props, ok := doc["properties"].(map[string]any); ok {
		in.has["properties"] = true
		in.Properties = map[string]map[string]any{}
		for _, k := range sortedKeys(props) {
			m, ok := props[k].(map[string]any)
			if !ok {
				return nil, wrongType(k, props[k], "dict")
			}
			p, err := parseProperty(m)
			if err != nil {
				return nil, err
			}
			in.Properties[k] = p
		}
	}
	return in, nil
}

// namespaceSortKeys are the namespace columns a list may sort on.
var namespaceSortKeys = map[string]bool{"id": true, "namespace": true, "display_name": true, "description": true,
	"visibility": true, "protected": true, "owner": true, "created_at": true, "updated_at": true}

// sortValue is a namespace's value for a sort key, in an order-preserving text form.
func (ns *namespace) sortValue(key string) string {
	switch key {
	case "id":
		return ns.ID
	case "namespace":
		return ns.Name
	case "display_name":
		return str(ns.DisplayName)
	case "description":
		return str(ns.Description)
	case "visibility":
		return ns.Visibility
	case "protected":
		if ns.Protected {
			return "1"
		}
		return "0"
	case "owner":
		return ns.Owner
	case "updated_at":
		return store.FormatTime(ns.UpdatedAt)
	}
	return store.FormatTime(ns.CreatedAt)
}

// namespaceQuery is a parsed GET /v2/metadefs/namespaces.
type namespaceQuery struct {
	limit         int64
	marker        string
	sortKey       string
	sortDir       string
	visibility    string
	resourceTypes []string
	hasRTFilter   bool
	params        []queryParam
}

// parseNamespaceQuery is the namespaces deserializer's index.
func (m *metadefs) parseNamespaceQuery(r *http.Request) (*namespaceQuery, error) {
	pairs, err := orderedQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "The query string could not be parsed.")
	}
	first := map[string]string{}
	last := map[string]string{}
	q := &namespaceQuery{sortKey: "created_at", sortDir: "desc"}
	for _, p := range pairs {
		if _, seen := last[p.key]; !seen {
			first[p.key] = p.value
			q.params = append(q.params, queryParam{key: p.key})
		}
		last[p.key] = p.value
	}
	for i := range q.params {
		q.params[i].value = last[q.params[i].key]
	}
	q.limit = int64(m.s.cfg.ListLimitDefault)
	if v, ok := first["limit"]; ok {
		n, err := pyInt(v)
		if err != nil {
			return nil, err
		}
		q.limit = n
	}
	q.limit = min(q.limit, int64(m.s.cfg.ListLimitMax))
	q.marker = first["marker"]
	if v, ok := first["sort_key"]; ok {
		q.sortKey = v
	}
	if v, ok := first["sort_dir"]; ok {
		q.sortDir = v
	}
	if err := checkSortDir(q.sortDir); err != nil {
		return nil, err
	}
	if v := last["visibility"]; v != "" && v != "public" && v != "private" {
		return nil, errorf(http.StatusBadRequest, "Invalid visibility value: %s", v)
	}
	q.visibility = first["visibility"]
	if q.limit < 0 {
		return nil, errorf(http.StatusBadRequest, "limit param must be positive")
	}
	if v, ok := last["resource_types"]; ok {
		q.hasRTFilter = true
		q.resourceTypes = strings.Split(v, ",")
	}
	return q, nil
}

// listNamespaces is GET /v2/metadefs/namespaces.
func (m *metadefs) listNamespaces(w http.ResponseWriter, r *http.Request, c *call) error {
	q, err := m.parseNamespaceQuery(r)
	if err != nil {
		return err
	}
	if err := c.enforceMetadef(c.rule, nil); err != nil {
		return err
	}
	if err := c.enforceMetadef("list_metadef_resource_types", nil); err != nil {
		return err
	}
	ctx := r.Context()
	var marker *namespace
	if q.marker != "" {
		if marker, err = loadNamespace(ctx, m.s.db, q.marker); err != nil {
			return err
		}
		if marker == nil {
			return errNamespaceMissing(q.marker)
		}
		if !marker.visibleTo(c) {
			return errorf(http.StatusForbidden, "Forbidding request, metadata definition namespace=%s is not visible.", q.marker)
		}
	}
	nss, err := m.queryNamespaces(ctx, c, q, marker)
	if err != nil {
		return err
	}
	var shown []*namespace
	for _, ns := range nss {
		if c.checkMetadef("get_metadef_namespace", ns) {
			shown = append(shown, ns)
		}
	}
	ids := make([]string, len(shown))
	for i, ns := range shown {
		ids[i] = ns.ID
	}
	assocs, err := loadAssociations(ctx, m.s.db, ids)
	if err != nil {
		return err
	}
	views := make([]map[string]any, 0, len(shown))
	for _, ns := range shown {
		v := ns.view()
		if as := assocs[ns.ID]; len(as) > 0 {
			av := make([]map[string]any, len(as))
			for i, a := range as {
				av[i] = a.view()
			}
			v["resource_type_associations"] = av
		}
		views = append(views, v)
	}
	var rest []queryParam
	for _, p := range q.params {
		if p.key != "marker" {
			rest = append(rest, p)
		}
	}
	out := map[string]any{"namespaces": views, "schema": "/v2/schemas/metadefs/namespaces", "first": "/v2/metadefs/namespaces"}
	if len(rest) > 0 {
		out["first"] = "/v2/metadefs/namespaces?" + encodeParams(rest)
	}
	if len(views) != 0 && int64(len(views)) == q.limit {
		out["next"] = "/v2/metadefs/namespaces?" + encodeParams(append(rest, queryParam{"marker", shown[len(shown)-1].Name}))
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// queryNamespaces is the database's namespace listing: the namespaces the caller may see
// (all of them for an admin), filtered, sorted, after the marker and up to the limit.
func (m *metadefs) queryNamespaces(ctx context.Context, c *call, q *namespaceQuery, marker *namespace) ([]*namespace, error) {
	if !namespaceSortKeys[q.sortKey] {
		return nil, errorf(http.StatusBadRequest, "Sort key supplied is invalid: %s", q.sortKey)
	}
	query := `SELECT ` + namespaceColumns + ` FROM image_metadef_namespaces n WHERE 1 = 1`
	var args []any
	if !c.admin {
		query += ` AND (n.owner = ? OR n.visibility = 'public')`
		args = append(args, c.project())
	}
	if q.visibility != "" {
		query += ` AND n.visibility = ?`
		args = append(args, q.visibility)
	}
	if q.hasRTFilter {
		query += ` AND EXISTS (SELECT 1 FROM image_metadef_namespace_resource_types a WHERE a.namespace_id = n.id
			AND a.resource_type IN (` + placeholders(len(q.resourceTypes)) + `))`
		for _, rt := range q.resourceTypes {
			args = append(args, rt)
		}
	}
	rows, err := m.s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list metadef namespaces: %w", err)
	}
	defer rows.Close()
	var nss []*namespace
	for rows.Next() {
		ns, err := scanNamespace(rows)
		if err != nil {
			return nil, err
		}
		nss = append(nss, ns)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// oslo.db's paginate_query: the sort key, then created_at and id as tie-breakers, all
	// in the one direction.
	keys := []string{"created_at", "id"}
	if q.sortKey != "created_at" && q.sortKey != "id" {
		keys = append([]string{q.sortKey}, keys...)
	}
	cmp := func(a, b *namespace) int {
		for _, k := range keys {
			x, y := a.sortValue(k), b.sortValue(k)
			if x != y {
				if (x < y) == (q.sortDir == "asc") {
					return -1
				}
				return 1
			}
		}
		return 0
	}
	sort.SliceStable(nss, func(i, j int) bool { return cmp(nss[i], nss[j]) < 0 })
	if marker != nil {
		var after []*namespace
		for _, ns := range nss {
			if cmp(ns, marker) > 0 {
				after = append(after, ns)
			}
		}
		nss = after
	}
	if int64(len(nss)) > q.limit {
		nss = nss[:q.limit]
	}
	return nss, nil
}

// createNamespace is POST /v2/metadefs/namespaces: the namespace with any resource-type
// associations, objects, tags and properties it is given, all or nothing.
func (m *metadefs) createNamespace(w http.ResponseWriter, r *http.Request, c *call) error {
	in, err := readNamespaceBody(r)
	if err != nil {
		return err
	}
	for _, chk := range []struct {
		rule string
		need bool
	}{
		{c.rule, true},
		{"add_metadef_resource_type_association", len(in.Associations) > 0},
		{"add_metadef_object", len(in.Objects) > 0},
		{"add_metadef_property", len(in.Properties) > 0},
		{"add_metadef_tag", len(in.Tags) > 0},
	} {
		if chk.need {
			if err := c.enforceMetadef(chk.rule, nil); err != nil {
				return err
			}
		}
	}
	t := now()
	ns := &namespace{ID: api.NewUUID(), Name: in.Name, DisplayName: in.DisplayName, Description: in.Description,
		Visibility: "private", Owner: c.project(), CreatedAt: t, UpdatedAt: t}
	if in.Visibility != nil && *in.Visibility != "" {
		ns.Visibility = *in.Visibility
	}
	if in.Protected != nil {
		ns.Protected = *in.Protected
	}
	if in.Owner != nil {
		ns.Owner = *in.Owner
	}
	ctx := r.Context()
	at := store.FormatTime(t)
	err = m.s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := insertNamespace(ctx, tx, ns); err != nil {
			return err
		}
		for _, a := range in.Associations {
			if err := insertAssociation(ctx, tx, ns, a, at); err != nil {
				return err
			}
		}
		for i, o := range in.Objects {
			if err := insertObject(ctx, tx, ns, o, store.FormatTime(spread(t, i, len(in.Objects), time.Microsecond))); err != nil {
				return err
			}
		}
		for i, tag := range in.Tags {
			if err := insertTag(ctx, tx, ns, tag, store.FormatTime(spread(t, i, len(in.Tags), time.Microsecond))); err != nil {
				return err
			}
		}
		for _, name := range sortedKeys(in.Properties) {
			p := &metadefProperty{ID: api.NewUUID(), Name: name, Schema: in.Properties[name]}
			if err := insertProperty(ctx, tx, ns, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	v := ns.view()
	if in.has["resource_type_associations"] {
		list := make([]map[string]any, len(in.Associations))
		for i, a := range in.Associations {
			list[i] = a.echo()
		}
		v["resource_type_associations"] = list
	}
	if in.has["objects"] {
		list := make([]map[string]any, len(in.Objects))
		for i, o := range in.Objects {
			list[i] = o.echo()
		}
		v["objects"] = list
	}
	if in.has["tags"] {
		list := make([]map[string]any, len(in.Tags))
		for i, tag := range in.Tags {
			list[i] = map[string]any{"name": tag}
		}
		v["tags"] = list
	}
	if in.has["properties"] {
		v["properties"] = in.Properties
	}
	w.Header().Set("Location", api.BaseURL(r)+m.s.cfg.Prefix+namespaceHref(ns.Name))
	api.WriteJSON(w, http.StatusCreated, v)
	return nil
}

// insertNamespace stores a new namespace.
func insertNamespace(ctx context.Context, tx *store.Tx, ns *namespace) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO image_metadef_namespaces (`+namespaceColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ns.ID, ns.Name, ns.DisplayName, ns.Description, ns.Visibility, ns.Protected, ns.Owner,
		store.FormatTime(ns.CreatedAt), store.FormatTime(ns.UpdatedAt))
	if store.IsUniqueViolation(err) {
		return errorf(http.StatusConflict, "The metadata definition namespace=%s already exists.", ns.Name)
	}
	if err != nil {
		return fmt.Errorf("create metadef namespace: %w", err)
	}
	return nil
}

// showNamespace is GET /v2/metadefs/namespaces/{namespace}: the namespace with its
// objects, resource-type associations, properties and tags. With ?resource_type=, the
// property names carry that association's prefix.
func (m *metadefs) showNamespace(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	if v := lastQueryValue(r, "visibility"); v != "" && v != "public" && v != "private" {
		return errorf(http.StatusBadRequest, "Invalid visibility value: %s", v)
	}
	ctx := r.Context()
	name := r.PathValue("namespace")
	ns, err := loadNamespace(ctx, m.s.db, name)
	if err != nil {
		return err
	}
	if ns == nil {
		return errNamespaceMissing(name)
	}
	if !ns.visibleTo(c) {
		return notFound()
	}
	for _, rule := range []string{c.rule, "list_metadef_resource_types", "get_metadef_objects", "get_metadef_properties", "get_metadef_tags"} {
		if err := c.enforceMetadef(rule, ns); err != nil {
			return err
		}
	}
	v := ns.view()
	objs, err := listObjectRows(ctx, m.s.db, ns.ID)
	if err != nil {
		return err
	}
	assocs, err := loadAssociations(ctx, m.s.db, []string{ns.ID})
	if err != nil {
		return err
	}
	props, err := listPropertyRows(ctx, m.s.db, ns.ID)
	if err != nil {
		return err
	}
	tags, err := listTagRows(ctx, m.s.db, ns.ID)
	if err != nil {
		return err
	}
	prefix := ""
	if rt := lastQueryValue(r, "resource_type"); rt != "" {
		for _, a := range assocs[ns.ID] {
			if a.Name == rt {
				prefix = str(a.Prefix)
				break
			}
		}
	}
	if len(objs) > 0 {
		list := make([]map[string]any, len(objs))
		for i, o := range objs {
			if prefix != "" {
				o.Properties = prefixedKeys(o.Properties, prefix)
				for j, req := range o.Required {
					o.Required[j] = prefix + req
				}
			}
			list[i] = o.view(ns.Name)
		}
		v["objects"] = list
	}
	if as := assocs[ns.ID]; len(as) > 0 {
		list := make([]map[string]any, len(as))
		for i, a := range as {
			list[i] = a.view()
		}
		v["resource_type_associations"] = list
	}
	if len(props) > 0 {
		if prefix != "" {
			props = prefixedKeys(props, prefix)
		}
		v["properties"] = props
	}
	if len(tags) > 0 {
		v["tags"] = tagNames(tags)
	}
	api.WriteJSON(w, http.StatusOK, v)
	return nil
}

// prefixedKeys returns m with prefix before every key.
func prefixedKeys[V any](m map[string]V, prefix string) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[prefix+k] = v
	}
	return out
}

// updateNamespace is PUT /v2/metadefs/namespaces/{namespace}: the document replaces the
// namespace's attributes (those left out take their defaults) and may rename it; its
// content is untouched.
func (m *metadefs) updateNamespace(w http.ResponseWriter, r *http.Request, c *call) error {
	in, err := readNamespaceBody(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	name := r.PathValue("namespace")
	var ns *namespace
	err = m.s.db.InTx(ctx, func(tx *store.Tx) error {
		ns, err = c.findNamespace(ctx, tx, name)
		if err != nil {
			return err
		}
		if err := c.enforceMetadef(c.rule, ns); err != nil {
			return err
		}
		ns.Name, ns.DisplayName, ns.Description = in.Name, in.DisplayName, in.Description
		ns.Visibility, ns.Protected, ns.Owner = "private", false, c.project()
		if in.Visibility != nil && *in.Visibility != "" {
			ns.Visibility = *in.Visibility
		}
		if in.Protected != nil {
			ns.Protected = *in.Protected
		}
		if in.Owner != nil && *in.Owner != "" {
			ns.Owner = *in.Owner
		}
		ns.UpdatedAt = now()
		_, err := tx.ExecContext(ctx, `UPDATE image_metadef_namespaces SET namespace = ?, display_name = ?, description = ?,
			visibility = ?, protected = ?, owner = ?, updated_at = ? WHERE id = ?`,
			ns.Name, ns.DisplayName, ns.Description, ns.Visibility, ns.Protected, ns.Owner, store.FormatTime(ns.UpdatedAt), ns.ID)
		if store.IsUniqueViolation(err) {
			return errorf(http.StatusConflict, "Invalid update. It would result in a duplicate metadata definition namespace "+
				"with the same name of %s", ns.Name)
		}
		if err != nil {
			return fmt.Errorf("update metadef namespace: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, ns.view())
	return nil
}

// deleteNamespace is DELETE /v2/metadefs/namespaces/{namespace}, with everything in it.
func (m *metadefs) deleteNamespace(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	ctx := r.Context()
	name := r.PathValue("namespace")
	err := m.s.db.InTx(ctx, func(tx *store.Tx) error {
		ns, err := c.findNamespace(ctx, tx, name)
		if err != nil {
			return err
		}
		if err := c.enforceMetadef(c.rule, ns); err != nil {
			return err
		}
		if ns.Protected {
			return errNamespaceProtected(ns.Name)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM image_metadef_namespaces WHERE id = ?`, ns.ID); err != nil {
			return fmt.Errorf("delete metadef namespace: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// errNamespaceProtected is ProtectedMetadefNamespaceDelete.
func errNamespaceProtected(name string) error {
	return errorf(http.StatusForbidden, "Metadata definition namespace %s is protected and cannot be deleted.", name)
}

// namespaceContent names what DELETE on a namespace's collection removes.
type namespaceContent string

const (
	contentObjects    namespaceContent = "image_metadef_objects"
	contentProperties namespaceContent = "image_metadef_properties"
	contentTags       namespaceContent = "image_metadef_tags"
)

// deleteNamespaceContent is DELETE /v2/metadefs/namespaces/{namespace}/objects,
// /properties or /tags: everything of that kind in the namespace goes. Glance checks
// delete_metadef_namespace (and, for tags, delete_metadef_tags) and refuses for a
// protected namespace.
func (m *metadefs) deleteNamespaceContent(table namespaceContent) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		ctx := r.Context()
		name := r.PathValue("namespace")
		err := m.s.db.InTx(ctx, func(tx *store.Tx) error {
			ns, err := c.findNamespace(ctx, tx, name)
			if err != nil {
				return err
			}
			if err := c.enforceMetadef(c.rule, ns); err != nil {
				return err
			}
			if table == contentTags {
				if err := c.enforceMetadef("delete_metadef_tags", ns); err != nil {
					return err
				}
			}
			if ns.Protected {
				return errNamespaceProtected(ns.Name)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+string(table)+` WHERE namespace_id = ?`, ns.ID); err != nil {
				return fmt.Errorf("delete metadef namespace content: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}
