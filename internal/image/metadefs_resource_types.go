package image

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// listResourceTypes is GET /v2/metadefs/resource_types: every resource type, associated
// with a namespace or not.
func (m *metadefs) listResourceTypes(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	if err := c.enforceMetadef(c.rule, nil); err != nil {
		return err
	}
	rows, err := m.s.db.QueryContext(r.Context(), `SELECT name, created_at, updated_at FROM image_metadef_resource_types
		ORDER BY created_at, name`)
	if err != nil {
		return fmt.Errorf("list metadef resource types: %w", err)
	}
	defer rows.Close()
	out := []map[string]any{}
	for rows.Next() {
		var name, created, updated string
		if err := rows.Scan(&name, &created, &updated); err != nil {
			return err
		}
		out = append(out, map[string]any{"name": name, "created_at": isoTime(store.ParseTime(created)),
			"updated_at": isoTime(store.ParseTime(updated))})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"resource_types": out})
	return nil
}

// listAssociations is GET /v2/metadefs/namespaces/{namespace}/resource_types.
func (m *metadefs) listAssociations(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	ctx := r.Context()
	ns, err := c.findNamespace(ctx, m.s.db, r.PathValue("namespace"))
	if err != nil {
		return err
	}
	if err := c.enforceMetadef(c.rule, ns); err != nil {
		return err
	}
	assocs, err := loadAssociations(ctx, m.s.db, []string{ns.ID})
	if err != nil {
		return err
	}
	out := []map[string]any{}
	if c.checkMetadef("get_metadef_resource_type", ns) {
		for _, a := range assocs[ns.ID] {
			out = append(out, a.view())
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"resource_type_associations": out})
	return nil
}

// associationInput is a submitted association (the ResourceTypeAssociation model).
type associationInput struct {
	Name             string
	Prefix           *string
	PropertiesTarget *string
}

// parseAssociation reads an association document through the model.
func parseAssociation(doc map[string]any) (*associationInput, error) {
	a := &associationInput{}
	name, ok := doc["name"]
	if !ok || name == nil {
		return nil, invalidInput("name", nil, "Mandatory field missing.")
	}
	s, ok := name.(string)
	if !ok {
		return nil, wrongType("name", name, "str")
	}
	a.Name = s
	for _, f := range []struct {
		key string
		dst **string
	}{{"prefix", &a.Prefix}, {"properties_target", &a.PropertiesTarget}} {
		v, ok := doc[f.key]
		if !ok || v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return nil, wrongType(f.key, v, "str")
		}
		*f.dst = &s
	}
	return a, nil
}

// echo renders a submitted association as the model does: only what was set.
func (a *associationInput) echo() map[string]any {
	v := map[string]any{"name": a.Name}
	if a.Prefix != nil {
		v["prefix"] = *a.Prefix
	}
	if a.PropertiesTarget != nil {
		v["properties_target"] = *a.PropertiesTarget
	}
	return v
}

// insertAssociation associates ns with a resource type, creating the type if it is new.
func insertAssociation(ctx context.Context, tx *store.Tx, ns *namespace, a *associationInput, at string) error {
	if err := ensureResourceType(ctx, tx, a.Name, false, at); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO image_metadef_namespace_resource_types
		(namespace_id, resource_type, prefix, properties_target, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		ns.ID, a.Name, a.Prefix, a.PropertiesTarget, at, at)
	if store.IsUniqueViolation(err) {
		return errorf(http.StatusConflict, "The metadata definition resource-type association of resource-type=%s to "+
			"namespace=%s already exists.", a.Name, ns.Name)
	}
	if err != nil {
		return fmt.Errorf("create metadef resource type association: %w", err)
	}
	return nil
}

// createAssociation is POST /v2/metadefs/namespaces/{namespace}/resource_types.
func (m *metadefs) createAssociation(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := readMetadefBody(r)
	if err != nil {
		return err
	}
	if err := checkReadOnly(body, "created_at", "updated_at"); err != nil {
		return err
	}
	doc, err := validateBody("resource_type_association", metadefResourceTypeSchema(), body)
	if err != nil {
		return err
	}
	in, err := parseAssociation(doc)
	if err != nil {
		return err
	}
	ctx := r.Context()
	t := now()
	err = m.s.db.InTx(ctx, func(tx *store.Tx) error {
		ns, err := c.findNamespace(ctx, tx, r.PathValue("namespace"))
		if err != nil {
			return err
		}
		if err := c.enforceMetadef(c.rule, ns); err != nil {
			return err
		}
		return insertAssociation(ctx, tx, ns, in, store.FormatTime(t))
	})
	if err != nil {
		return err
	}
	v := in.echo()
	v["created_at"], v["updated_at"] = isoTime(t), isoTime(t)
	api.WriteJSON(w, http.StatusCreated, v)
	return nil
}

// deleteAssociation is DELETE /v2/metadefs/namespaces/{namespace}/resource_types/{resource_type}.
func (m *metadefs) deleteAssociation(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	ctx := r.Context()
	name := r.PathValue("resource_type")
	err := m.s.db.InTx(ctx, func(tx *store.Tx) error {
		ns, err := c.findNamespace(ctx, tx, r.PathValue("namespace"))
		if err != nil {
			return err
		}
		if err := c.enforceMetadef(c.rule, ns); err != nil {
			return err
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM image_metadef_namespace_resource_types WHERE namespace_id = ? AND resource_type = ?`,
			ns.ID, name).Scan(&one)
		if store.IsNoRows(err) {
			return errorf(http.StatusNotFound, "Failed to find resource type %s to delete", name)
		}
		if err != nil {
			return fmt.Errorf("load metadef resource type association: %w", err)
		}
		if ns.Protected {
			return errorf(http.StatusForbidden, "Metadata definition resource-type-association %s is protected and cannot be deleted.", name)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM image_metadef_namespace_resource_types WHERE namespace_id = ? AND resource_type = ?`,
			ns.ID, name); err != nil {
			return fmt.Errorf("delete metadef resource type association: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// loadAssociation is the resource-type repository's get: the association of ns with the
// named resource type, or Glance's 404 for a missing type or association.
func loadAssociation(ctx context.Context, q store.Querier, ns *namespace, name string) (*association, error) {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM image_metadef_resource_types WHERE name = ?`, name).Scan(&one)
	if store.IsNoRows(err) {
		return nil, errorf(http.StatusNotFound, "The metadata definition resource-type with name=%s, was not found.", name)
	}
	if err != nil {
		return nil, fmt.Errorf("load metadef resource type: %w", err)
	}
	a := &association{Name: name}
	var prefix, target sql.NullString
	var created, updated string
	err = q.QueryRowContext(ctx, `SELECT prefix, properties_target, created_at, updated_at FROM image_metadef_namespace_resource_types
		WHERE namespace_id = ? AND resource_type = ?`, ns.ID, name).Scan(&prefix, &target, &created, &updated)
	if store.IsNoRows(err) {
		return nil, errorf(http.StatusNotFound, "The metadata definition resource-type association of resource-type=%s to "+
			"namespace=%s, was not found.", name, ns.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("load metadef resource type association: %w", err)
	}
	a.Prefix, a.PropertiesTarget = nullStr(prefix), nullStr(target)
	a.CreatedAt, a.UpdatedAt = store.ParseTime(created), store.ParseTime(updated)
	return a, nil
}
