package image

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// errDuplicateTag is MetadefDuplicateTag.
func errDuplicateTag(name, ns string) error {
	return errorf(http.StatusConflict, "A metadata tag with name=%s already exists in namespace=%s. "+
		"(Please note that metadata tag names are case insensitive).", name, ns)
}

// insertTag stores a new tag of ns.
func insertTag(ctx context.Context, tx *store.Tx, ns *namespace, name, at string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO image_metadef_tags (id, namespace_id, name, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?)`, api.NewUUID(), ns.ID, name, at, at)
	if store.IsUniqueViolation(err) {
		return errDuplicateTag(name, ns.Name)
	}
	if err != nil {
		return fmt.Errorf("create metadef tag: %w", err)
	}
	return nil
}

// loadTag returns a namespace's tag, nil when there is none.
func loadTag(ctx context.Context, q store.Querier, nsID, name string) (*metadefTag, error) {
	t := &metadefTag{}
	var created, updated string
	err := q.QueryRowContext(ctx, `SELECT id, name, created_at, updated_at FROM image_metadef_tags WHERE namespace_id = ? AND name = ?`,
		nsID, name).Scan(&t.ID, &t.Name, &created, &updated)
	if store.IsNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load metadef tag: %w", err)
	}
	t.CreatedAt, t.UpdatedAt = store.ParseTime(created), store.ParseTime(updated)
	return t, nil
}

// errNoTag is the tag repository's NotFound.
func errNoTag(name string) error {
	return errorf(http.StatusNotFound, "Could not find metadata tag %s", name)
}

// createTag is POST /v2/metadefs/namespaces/{namespace}/tags/{tag_name}.
func (m *metadefs) createTag(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	ctx := r.Context()
	nsName, name := r.PathValue("namespace"), r.PathValue("tag_name")
	t := now()
	err := m.s.db.InTx(ctx, func(tx *store.Tx) error {
		ns, err := c.findNamespace(ctx, tx, nsName)
		if err != nil {
			return err
		}
		if err := validateSchema("tag", metadefTagSchema(), map[string]any{"name": name}); err != nil {
			return err
		}
		if err := c.enforceMetadef(c.rule, ns); err != nil {
			return err
		}
		return insertTag(ctx, tx, ns, name, store.FormatTime(t))
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, (&metadefTag{Name: name, CreatedAt: t, UpdatedAt: t}).view())
	return nil
}

// createTags is POST /v2/metadefs/namespaces/{namespace}/tags: the tags replace the
// namespace's, or are added to them with "X-Openstack-Append: true". An empty list
// changes nothing.
func (m *metadefs) createTags(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := readMetadefBody(r)
	if err != nil {
		return err
	}
	if err := checkReadOnly(body, "created_at", "updated_at"); err != nil {
		return err
	}
	doc, err := validateBody("tags", metadefTagsBodySchema(), body)
	if err != nil {
		return err
	}
	var names []string
	if list, ok := doc["tags"].([]any); ok {
		for _, e := range list {
			m, _ := e.(map[string]any)
			name, _ := m["name"].(string)
			names = append(names, name)
		}
	}
	ctx := r.Context()
	nsName := r.PathValue("namespace")
	appendTags := boolFromString(r.Header.Get("X-Openstack-Append"))
	t := now()
	err = m.s.db.InTx(ctx, func(tx *store.Tx) error {
		ns, err := c.findNamespace(ctx, tx, nsName)
		if err != nil {
			return err
		}
		if err := c.enforceMetadef(c.rule, ns); err != nil {
			return err
		}
		if len(names) == 0 {
			return nil
		}
		if !appendTags {
			if _, err := tx.ExecContext(ctx, `DELETE FROM image_metadef_tags WHERE namespace_id = ?`, ns.ID); err != nil {
				return fmt.Errorf("delete metadef tags: %w", err)
			}
		}
		for i, name := range names {
			at := store.FormatTime(spread(t, i, len(names), time.Microsecond))
			if err := insertTag(ctx, tx, ns, name, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	out := make([]map[string]any, len(names))
	for i, n := range names {
		out[i] = map[string]any{"name": n}
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"tags": out})
	return nil
}

// tagSortKeys are the metadef_tags columns a list may sort on.
var tagSortKeys = map[string]bool{"id": true, "namespace_id": true, "name": true, "created_at": true, "updated_at": true}

// listTags is GET /v2/metadefs/namespaces/{namespace}/tags.
func (m *metadefs) listTags(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	sortDir := q.Get("sort_dir")
	if err := checkSortDir(sortDir); err != nil {
		return err
	}
	if sortDir == "" {
		sortDir = "desc"
	}
	sortKey := "created_at"
	if vals, ok := q["sort_key"]; ok {
		sortKey = vals[0]
	}
	if v := lastValue(q["visibility"]); v != "" && v != "public" && v != "private" && v != "shared" {
		return errorf(http.StatusBadRequest, "Invalid visibility value: %s", v)
	}
	limit := int64(-1)
	if v := q.Get("limit"); v != "" {
		n, err := pyInt(v)
		if err != nil {
			return err
		}
		if n < 0 {
			return errorf(http.StatusBadRequest, "limit param must be positive")
		}
		limit = n
	}
	marker := q.Get("marker")

	ctx := r.Context()
	ns, err := c.findNamespace(ctx, m.s.db, r.PathValue("namespace"))
	if err != nil {
		return err
	}
	if err := c.enforceMetadef(c.rule, ns); err != nil {
		return err
	}
	if !tagSortKeys[sortKey] {
		return errorf(http.StatusBadRequest, "Sort key supplied is invalid: %s", sortKey)
	}
	tags, err := listTagRows(ctx, m.s.db, ns.ID)
	if err != nil {
		return err
	}
	key := func(t *metadefTag, k string) string {
		switch k {
		case "id":
			return t.ID
		case "namespace_id":
			return ns.ID
		case "name":
			return t.Name
		case "updated_at":
			return store.FormatTime(t.UpdatedAt)
		}
		return store.FormatTime(t.CreatedAt)
	}
	keys := []string{sortKey, "created_at", "id"}
	if sortKey == "created_at" || sortKey == "id" {
		keys = []string{"created_at", "id"}
	}
	cmp := func(a, b *metadefTag) int {
		for _, k := range keys {
			x, y := key(a, k), key(b, k)
			if x != y {
				if (x < y) == (sortDir == "asc") {
					return -1
				}
				return 1
			}
		}
		return 0
	}
	sort.SliceStable(tags, func(i, j int) bool { return cmp(tags[i], tags[j]) < 0 })
	if marker != "" {
		mk, err := loadTag(ctx, m.s.db, ns.ID, marker)
		if err != nil {
			return err
		}
		if mk == nil {
			return errNoTag(marker)
		}
		var after []*metadefTag
		for _, t := range tags {
			if cmp(t, mk) > 0 {
				after = append(after, t)
			}
		}
		tags = after
	}
	if limit >= 0 && int64(len(tags)) > limit {
		tags = tags[:limit]
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"tags": tagNames(tags)})
	return nil
}

// showTag is GET /v2/metadefs/namespaces/{namespace}/tags/{tag_name}.
func (m *metadefs) showTag(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	ctx := r.Context()
	name := r.PathValue("tag_name")
	ns, err := c.findNamespace(ctx, m.s.db, r.PathValue("namespace"))
	if err != nil {
		return err
	}
	if err := c.enforceMetadef(c.rule, ns); err != nil {
		return err
	}
	t, err := loadTag(ctx, m.s.db, ns.ID, name)
	if err != nil {
		return err
	}
	if t == nil {
		return errNoTag(name)
	}
	api.WriteJSON(w, http.StatusOK, t.view())
	return nil
}

// updateTag is PUT /v2/metadefs/namespaces/{namespace}/tags/{tag_name}, a rename.
func (m *metadefs) updateTag(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := readMetadefBody(r)
	if err != nil {
		return err
	}
	if err := checkReadOnly(body, "created_at", "updated_at"); err != nil {
		return err
	}
	doc, err := validateBody("tag", metadefTagSchema(), body)
	if err != nil {
		return err
	}
	newName, _ := doc["name"].(string)
	ctx := r.Context()
	name := r.PathValue("tag_name")
	var out *metadefTag
	err = m.s.db.InTx(ctx, func(tx *store.Tx) error {
		ns, err := c.findNamespace(ctx, tx, r.PathValue("namespace"))
		if err != nil {
			return err
		}
		if err := c.enforceMetadef(c.rule, ns); err != nil {
			return err
		}
		t, err := loadTag(ctx, tx, ns.ID, name)
		if err != nil {
			return err
		}
		if t == nil {
			return errNoTag(name)
		}
		t.Name, t.UpdatedAt = newName, now()
		_, err = tx.ExecContext(ctx, `UPDATE image_metadef_tags SET name = ?, updated_at = ? WHERE id = ?`,
			t.Name, store.FormatTime(t.UpdatedAt), t.ID)
		if store.IsUniqueViolation(err) {
			return errDuplicateTag(newName, ns.Name)
		}
		if err != nil {
			return fmt.Errorf("update metadef tag: %w", err)
		}
		out = t
		return nil
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out.view())
	return nil
}

// deleteTag is DELETE /v2/metadefs/namespaces/{namespace}/tags/{tag_name}.
func (m *metadefs) deleteTag(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	ctx := r.Context()
	name := r.PathValue("tag_name")
	err := m.s.db.InTx(ctx, func(tx *store.Tx) error {
		ns, err := c.findNamespace(ctx, tx, r.PathValue("namespace"))
		if err != nil {
			return err
		}
		if err := c.enforceMetadef(c.rule, ns); err != nil {
			return err
		}
		t, err := loadTag(ctx, tx, ns.ID, name)
		if err != nil {
			return err
		}
		if t == nil {
			return errNoTag(name)
		}
		if ns.Protected {
			return errorf(http.StatusForbidden, "Metadata definition tag %s is protected and cannot be deleted.", name)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM image_metadef_tags WHERE id = ?`, t.ID); err != nil {
			return fmt.Errorf("delete metadef tag: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
