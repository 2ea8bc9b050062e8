package image

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// metadefCatalogJSON is the standard metadata definitions catalog Glance ships in
// etc/metadefs (Apache-2.0), one namespace document per file, gathered here into one
// array in file-name order from openstack/glance at c76abb08e2bc. DevStack loads it with
// glance-manage db_load_metadefs; Horizon's "Update Metadata" dialogs and the CLI's
// "image metadef" commands show it.
//
//go:embed metadefs_catalog.json
var metadefCatalogJSON []byte

// metadefCatalogName identifies the catalog in image_metadef_catalogs.
const metadefCatalogName = "glance-etc-metadefs"

// catalogNamespace is one namespace document of the catalog.
type catalogNamespace struct {
	Namespace    string  `json:"namespace"`
	DisplayName  *string `json:"display_name"`
	Description  *string `json:"description"`
	Visibility   *string `json:"visibility"`
	Protected    *bool   `json:"protected"`
	Owner        *string `json:"owner"`
	Associations []struct {
		Name             string  `json:"name"`
		Prefix           *string `json:"prefix"`
		PropertiesTarget *string `json:"properties_target"`
	} `json:"resource_type_associations"`
	Properties map[string]json.RawMessage `json:"properties"`
	Objects    []struct {
		Name        string          `json:"name"`
		Description *string         `json:"description"`
		Properties  json.RawMessage `json:"properties"`
	} `json:"objects"`
	Tags []struct {
		Name string `json:"name"`
	} `json:"tags"`
}

// ensureCatalog loads the standard catalog into the database unless this route table has
// already seen it there.
func (m *metadefs) ensureCatalog(ctx context.Context) error {
	m.catalogMu.Lock()
	defer m.catalogMu.Unlock()
	if m.catalogLoaded {
		return nil
	}
	n, err := loadMetadefCatalog(ctx, m.s.db, metadefCatalogJSON, now())
	if err != nil {
		return fmt.Errorf("load the metadata definitions catalog: %w", err)
	}
	if n > 0 {
		m.s.log.Info("loaded the standard metadata definitions catalog", "namespaces", n)
	}
	m.catalogLoaded = true
	return nil
}

// loadMetadefCatalog loads a catalog in one transaction, once per database, as
// glance-manage db_load_metadefs does: namespaces are owned by "admin", a namespace that
// already exists is skipped, resource types it names are created protected, and property
// documents are stored as written. Namespaces are dated a millisecond apart and their
// objects and tags a microsecond apart (spread), so that lists keep the catalog's order. It returns how many namespaces it added.
func loadMetadefCatalog(ctx context.Context, db *store.DB, catalog []byte, t time.Time) (int, error) {
	var docs []catalogNamespace
	dec := json.NewDecoder(bytes.NewReader(catalog))
	if err := dec.Decode(&docs); err != nil {
		return 0, fmt.Errorf("parse catalog: %w", err)
	}
	added := 0
	err := db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO image_metadef_catalogs (name, loaded_at) VALUES (?, ?) ON CONFLICT DO NOTHING`,
			metadefCatalogName, store.FormatTime(t))
		if err != nil {
			return fmt.Errorf("record catalog: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		for i, d := range docs {
			ok, err := loadCatalogNamespace(ctx, tx, &d, spread(t, i, len(docs), time.Millisecond))
			if err != nil {
				return fmt.Errorf("namespace %s: %w", d.Namespace, err)
			}
			if ok {
				added++
			}
		}
		return nil
	})
	return added, err
}

// loadCatalogNamespace adds one catalog namespace with its content, reporting false when
// a namespace of that name already exists.
func loadCatalogNamespace(ctx context.Context, tx *store.Tx, d *catalogNamespace, t time.Time) (bool, error) {
	at := store.FormatTime(t)
	ns := &namespace{ID: api.NewUUID(), Name: d.Namespace, DisplayName: d.DisplayName, Description: d.Description,
		Visibility: "private", Owner: "admin"}
	if d.Visibility != nil && *d.Visibility != "" {
		ns.Visibility = *d.Visibility
	}
	if d.Protected != nil {
		ns.Protected = *d.Protected
	}
	if d.Owner != nil {
		ns.Owner = *d.Owner
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO image_metadef_namespaces (`+namespaceColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, ns.ID, ns.Name, ns.DisplayName, ns.Description, ns.Visibility, ns.Protected, ns.Owner, at, at)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	for _, a := range d.Associations {
		if err := ensureResourceType(ctx, tx, a.Name, true, at); err != nil {
			return false, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO image_metadef_namespace_resource_types
			(namespace_id, resource_type, prefix, properties_target, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, ns.ID, a.Name, a.Prefix, a.PropertiesTarget, at, at); err != nil {
			return false, err
		}
	}
	for _, name := range sortedKeys(d.Properties) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO image_metadef_properties (id, namespace_id, name, json_schema, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, api.NewUUID(), ns.ID, name, compactJSON(d.Properties[name]), at, at); err != nil {
			return false, err
		}
	}
	for i, o := range d.Objects {
		oat := store.FormatTime(spread(t, i, len(d.Objects), time.Microsecond))
		props := compactJSON(o.Properties)
		if props == "null" || props == "" {
			props = "{}"
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO image_metadef_objects (id, namespace_id, name, description, required, json_schema,
			created_at, updated_at) VALUES (?, ?, ?, ?, NULL, ?, ?, ?) ON CONFLICT DO NOTHING`,
			api.NewUUID(), ns.ID, o.Name, o.Description, props, oat, oat); err != nil {
			return false, err
		}
	}
	for i, tag := range d.Tags {
		tat := store.FormatTime(spread(t, i, len(d.Tags), time.Microsecond))
		if _, err := tx.ExecContext(ctx, `INSERT INTO image_metadef_tags (id, namespace_id, name, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, api.NewUUID(), ns.ID, tag.Name, tat, tat); err != nil {
			return false, err
		}
	}
	return true, nil
}

// compactJSON renders a raw JSON document without insignificant space.
func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "{}"
	}
	return b.String()
}
