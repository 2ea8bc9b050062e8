package image

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// maxJSONBody bounds JSON request bodies (properties are at most 128 of 64 KiB text,
// patches as many operations); larger bodies get a 413.
const maxJSONBody = 1 << 20

// readJSON is Glance's JSONRequestDeserializer.default plus _get_request_body: the body
// must be a JSON object or array.
func readJSON(r *http.Request) (any, error) {
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
	switch v.(type) {
	case map[string]any, []any:
		return v, nil
	}
	return nil, errorf(http.StatusBadRequest, "Unexpected body type. Expected list/dict.")
}

// Attributes that clients may not set (RequestDeserializer and ImageFactory).
var (
	disallowedOnCreate = []string{"direct_url", "self", "file", "schema", "stores"}
	readOnlyAttrs      = map[string]bool{"created_at": true, "updated_at": true, "status": true, "checksum": true,
		"size": true, "virtual_size": true, "direct_url": true, "self": true, "file": true, "schema": true, "id": true,
		"os_hash_algo": true, "os_hash_value": true, "stores": true}
	reservedAttrs = map[string]bool{"location": true, "deleted": true, "deleted_at": true}
	// baseAttrs are the image attributes (not free-form properties).
	baseAttrs = map[string]bool{"checksum": true, "created_at": true, "container_format": true, "disk_format": true,
		"id": true, "min_disk": true, "min_ram": true, "name": true, "size": true, "virtual_size": true, "status": true,
		"tags": true, "owner": true, "updated_at": true, "visibility": true, "protected": true, "os_hidden": true}
	// factoryReserved are the free-form names ImageFactory refuses.
	factoryReserved = map[string]bool{"owner": true, "locations": true, "deleted": true, "deleted_at": true,
		"direct_url": true, "self": true, "file": true, "schema": true}
)

// reservedNamespace is glance.api.common.GLANCE_RESERVED_NS.
const reservedNamespace = "os_glance"

// maxPropertyValue bounds a property value (Glance's column is a MySQL TEXT).
const maxPropertyValue = 65535

// createImage is POST /v2/images.
func (s *Service) createImage(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := readJSON(r)
	if err != nil {
		return err
	}
	doc, ok := body.(map[string]any)
	if !ok {
		return schemaError("image", fmt.Sprintf("%s is not of type 'object'", pyRepr(body)))
	}
	for _, k := range disallowedOnCreate {
		if _, ok := doc[k]; ok {
			return errorf(http.StatusForbidden, "Attribute '%s' is read-only.", k)
		}
	}
	if err := validateImageDoc(doc); err != nil {
		return err
	}
	for k := range doc {
		if baseAttrs[k] {
			continue
		}
		if len(k) > 255 {
			return errorf(http.StatusBadRequest, "Custom property should not be greater than 255 characters.")
		}
		if reservedAttrs[k] || strings.HasPrefix(k, reservedNamespace) {
			return detailErr(http.StatusForbidden, "Attribute '%s' is reserved.", k)
		}
	}

	owner := c.project()
	if v, ok := doc["owner"]; ok {
		if v == nil {
			owner = ""
		} else {
			owner = v.(string)
		}
	}
	visibility := "shared"
	if v, ok := doc["visibility"].(string); ok {
		visibility = v
	}
	target := policy.Target{"project_id": owner, "owner": owner, "visibility": visibility}
	if owner == "" {
		target["project_id"], target["owner"] = nil, nil
	}
	if !c.allowed("add_image", target) {
		if owner != c.project() {
			shown := owner
			if owner == "" {
				shown = "None"
			}
			return detailErr(http.StatusForbidden, "You are not permitted to create images owned by '%s'", shown)
		}
		return errForbiddenAction("add_image")
	}
	if err := c.enforceVisibility(visibility, target); err != nil {
		return err
	}
	for _, k := range []string{"checksum", "created_at", "size", "virtual_size", "status", "updated_at"} {
		if _, ok := doc[k]; ok {
			return errorf(http.StatusForbidden, "Attribute '%s' is read-only.", k)
		}
	}
	for k := range doc {
		if !baseAttrs[k] && factoryReserved[k] {
			return errorf(http.StatusForbidden, "Attribute '%s' is reserved.", k)
		}
	}

	t := now()
	img := &image{ID: api.NewUUID(), Status: statusQueued, Visibility: visibility, CreatedAt: t, UpdatedAt: t,
		Props: map[string]*string{}, Tags: []string{}}
	if owner != "" {
		img.Owner = ptr(owner)
	}
	if v, ok := doc["id"].(string); ok {
		img.ID = v
	}
	if v, ok := doc["name"]; ok && v != nil {
		img.Name = ptr(v.(string))
	}
	if v, ok := doc["disk_format"]; ok && v != nil {
		img.DiskFormat = ptr(v.(string))
	}
	if v, ok := doc["container_format"]; ok && v != nil {
		img.ContainerFormat = ptr(v.(string))
	}
	if v, ok := doc["protected"].(bool); ok {
		img.Protected = v
	}
	if v, ok := doc["os_hidden"].(bool); ok {
		img.Hidden = v
	}
	for _, k := range []string{"min_disk", "min_ram"} {
		v, ok := doc[k]
		if !ok {
			continue
		}
		n, _ := jsonInt(v)
		if n < 0 {
			return errorf(http.StatusBadRequest, "Invalid value '%d' for parameter '%s': Cannot be a negative value", n, k)
		}
		if k == "min_disk" {
			img.MinDisk = n
		} else {
			img.MinRAM = n
		}
	}
	if v, ok := doc["tags"].([]any); ok {
		img.Tags = tagSet(v)
	}
	for k, v := range doc {
		// os_hash_algo and os_hash_value are not base attributes of a create request;
		// Glance keeps them as properties its view then overwrites, so they have no effect.
		if baseAttrs[k] || k == "os_hash_algo" || k == "os_hash_value" {
			continue
		}
		if v == nil {
			img.Props[k] = nil
			continue
		}
		sv := v.(string)
		if len(sv) > maxPropertyValue {
			return errorf(http.StatusBadRequest, "Property %s is longer than %d bytes.", k, maxPropertyValue)
		}
		img.Props[k] = ptr(sv)
	}
	if err := s.checkLimits(img); err != nil {
		return err
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.enforceImageCount(r.Context(), tx, c.project()); err != nil {
			return err
		}
		return insertImage(r.Context(), tx, img)
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", api.BaseURL(r)+s.cfg.Prefix+"/v2/images/"+img.ID)
	w.Header().Set("OpenStack-image-import-methods", strings.Join(importMethods, ","))
	w.Header().Set("OpenStack-image-store-ids", storeID)
	sort.Strings(img.Tags)
	api.WriteJSON(w, http.StatusCreated, s.view(img))
	return nil
}

// tagSet turns a validated JSON array of tags into a sorted set.
func tagSet(v []any) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, e := range v {
		t, _ := e.(string)
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// checkLimits is Glance's quota layer for properties and tags.
func (s *Service) checkLimits(img *image) error {
	if n := len(img.Props); n > s.cfg.MaxProperties {
		return errorf(http.StatusRequestEntityTooLarge,
			"The limit has been exceeded on the number of allowed image properties. Attempted: %d, Maximum: %d", n, s.cfg.MaxProperties)
	}
	if n := len(img.Tags); n > s.cfg.MaxTags {
		return errorf(http.StatusRequestEntityTooLarge,
			"The limit has been exceeded on the number of allowed image tags. Attempted: %d, Maximum: %d", n, s.cfg.MaxTags)
	}
	return nil
}

// showImage is GET /v2/images/{image_id}.
func (s *Service) showImage(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	img, err := c.getImage(r.Context(), s.db, r.PathValue("image_id"))
	if err != nil {
		return err
	}
	if err := c.enforceImage(c.rule, img); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, s.view(img))
	return nil
}

// listImages is GET /v2/images.
func (s *Service) listImages(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	q, err := parseListQuery(r.URL.RawQuery, s.cfg.ListLimitDefault, s.cfg.ListLimitMax)
	if err != nil {
		return err
	}
	// Listing is allowed or not for the caller's project; each image is then checked
	// against get_image.
	if err := c.enforce(c.rule, c.projectTarget()); err != nil {
		return err
	}
	imgs, err := s.queryImages(r.Context(), c, q)
	if err != nil {
		return err
	}
	dbCount := len(imgs)
	views := make([]map[string]any, 0, len(imgs))
	var last string
	for _, img := range imgs {
		if !c.allowed("get_image", img.target(c)) {
			continue
		}
		views = append(views, s.view(img))
		last = img.ID
	}
	next := ""
	if len(views) > 0 && dbCount == q.limit {
		next = last
	}
	first, nextLink := q.pageLinks(next)
	out := map[string]any{"images": views, "first": first, "schema": "/v2/schemas/images"}
	if nextLink != "" {
		out["next"] = nextLink
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// queryImages runs a list query for the caller (glance.db.sqlalchemy.api._image_get_all).
func (s *Service) queryImages(ctx context.Context, c *call, q *listQuery) ([]*image, error) {
	conds := append([]string(nil), q.conds...)
	args := append([]any(nil), q.args...)
	proj := c.project()
	if !c.admin {
		member := "EXISTS (SELECT 1 FROM image_members m WHERE m.image_id = i.id AND m.member = ?"
		margs := []any{proj}
		if q.memberStatus != "all" {
			member += " AND m.status = ?"
			margs = append(margs, q.memberStatus)
		}
		member += ")"
		// "|| ''" keeps the planner (SQLite's especially) from answering the OR with three
		// index lookups and a sort of everything they find: walking images_created in
		// order and stopping at the page's end is what makes a page cheap.
		conds = append(conds, "(i.visibility || '' IN ('public', 'community') OR i.owner || '' = ? OR (i.visibility || '' = 'shared' AND "+member+"))")
		args = append(args, proj)
		args = append(args, margs...)
	}
	switch {
	case q.visibility != "" && q.visibility != "all":
		conds = append(conds, "i.visibility = ?")
		args = append(args, q.visibility)
	case q.visibility == "all":
	case proj == "":
		conds = append(conds, "i.visibility <> 'community'")
	default:
		conds = append(conds, "(i.owner = ? OR i.visibility <> 'community')")
		args = append(args, proj)
	}
	exprs := make([]string, len(q.sortKeys))
	for i, k := range q.sortKeys {
		exprs[i] = sortColumns[k]
	}
	if q.hasMarker {
		marker, err := loadImage(ctx, s.db, q.marker)
		if err != nil {
			return nil, err
		}
		visible := false
		if marker != nil {
			if visible, err = c.canSee(ctx, s.db, marker); err != nil {
				return nil, err
			}
		}
		if !visible {
			return nil, errorf(http.StatusBadRequest, "No image found with ID %s", q.marker)
		}
		vals := make([]any, len(exprs))
		ptrs := make([]any, len(exprs))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := s.db.QueryRowContext(ctx, `SELECT `+strings.Join(exprs, ", ")+` FROM images i WHERE i.id = ?`, q.marker).Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("load marker: %w", err)
		}
		var or []string
		for i := range exprs {
			var and []string
			for j := 0; j < i; j++ {
				and = append(and, exprs[j]+" = ?")
				args = append(args, vals[j])
			}
			op := "<"
			if q.sortDirs[i] == "asc" {
				op = ">"
			}
			and = append(and, exprs[i]+" "+op+" ?")
			args = append(args, vals[i])
			or = append(or, "("+strings.Join(and, " AND ")+")")
		}
		conds = append(conds, "("+strings.Join(or, " OR ")+")")
	}
	order := make([]string, len(exprs))
	for i, e := range exprs {
		order[i] = e + " " + strings.ToUpper(q.sortDirs[i])
	}
	query := `SELECT ` + prefixed(imageColumns, "i.") + ` FROM images i WHERE ` + strings.Join(conds, " AND ") +
		` ORDER BY ` + strings.Join(order, ", ") + ` LIMIT ?`
	args = append(args, q.limit)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var imgs []*image
	for rows.Next() {
		img, err := scanImage(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		imgs = append(imgs, img)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return imgs, loadDetails(ctx, s.db, imgs)
}

// prefixed qualifies a column list with a table alias.
func prefixed(cols, alias string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// deleteImage is DELETE /v2/images/{image_id}.
func (s *Service) deleteImage(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	id := r.PathValue("image_id")
	err := s.db.InTx(r.Context(), func(tx *store.Tx) error {
		img, err := c.getImage(r.Context(), tx, id)
		if err != nil {
			if api.AsError(err).Status == http.StatusNotFound {
				return api.NotFound("Failed to find image %s to delete", id)
			}
			return err
		}
		if err := c.enforceImage(c.rule, img); err != nil {
			return err
		}
		if img.Protected {
			return errorf(http.StatusForbidden, "Image %s is protected and cannot be deleted.", img.ID)
		}
		if _, err := tx.ExecContext(r.Context(), `DELETE FROM images WHERE id = ?`, img.ID); err != nil {
			return fmt.Errorf("delete image: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The row is gone; its files follow. A crash in between leaves orphans that the next
	// reconcile removes.
	s.files.removeAll(id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deactivateImage is POST /v2/images/{image_id}/actions/deactivate.
func (s *Service) deactivateImage(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.changeActivation(w, r, c, statusActive, statusDeactivated, "deactivate")
}

// reactivateImage is POST /v2/images/{image_id}/actions/reactivate.
func (s *Service) reactivateImage(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.changeActivation(w, r, c, statusDeactivated, statusActive, "reactivate")
}

// changeActivation moves an image between active and deactivated; asking for the status
// it already has is a no-op, any other status a 403.
func (s *Service) changeActivation(w http.ResponseWriter, r *http.Request, c *call, from, to, verb string) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	err := s.db.InTx(r.Context(), func(tx *store.Tx) error {
		img, err := c.getImage(r.Context(), tx, r.PathValue("image_id"))
		if err != nil {
			return err
		}
		if err := c.enforceImage(c.rule, img); err != nil {
			return err
		}
		switch img.Status {
		case to:
			return nil
		case from:
			ok, err := setStatus(r.Context(), tx, img.ID, from, to)
			if err != nil {
				return err
			}
			if !ok {
				return errTransition(img.Status, to)
			}
			return nil
		}
		return errorf(http.StatusForbidden, "Not allowed to %s image in status '%s'", verb, img.Status)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
