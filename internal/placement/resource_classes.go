package placement

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// resourceClass is a resource class row.
type resourceClass struct {
	Name                 string
	Standard             bool
	CreatedAt, UpdatedAt time.Time
}

// requireResourceClass returns Placement's ResourceClassNotFound (a 404 whose message
// handlers wrap) when the class does not exist.
func requireResourceClass(ctx context.Context, q store.Querier, name string) error {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM placement_resource_classes WHERE name = ?`, name).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return notFound("No such resource class %s.", name)
	}
	return nil
}

// getResourceClass loads one class; a missing one is a 404.
func getResourceClass(ctx context.Context, q store.Querier, name string) (*resourceClass, error) {
	var rc resourceClass
	var created, updated string
	err := q.QueryRowContext(ctx, `SELECT name, standard, created_at, updated_at FROM placement_resource_classes WHERE name = ?`,
		name).Scan(&rc.Name, &rc.Standard, &created, &updated)
	if store.IsNoRows(err) {
		return nil, notFound("No such resource class %s.", name)
	}
	if err != nil {
		return nil, err
	}
	rc.CreatedAt, rc.UpdatedAt = store.ParseTime(created), store.ParseTime(updated)
	return &rc, nil
}

// listResourceClasses returns every class: the standard ones in os-resource-classes order,
// then the custom ones in creation order, as Placement's ids order them.
func listResourceClasses(ctx context.Context, q store.Querier) ([]*resourceClass, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, standard, created_at, updated_at FROM placement_resource_classes`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*resourceClass
	for rows.Next() {
		var rc resourceClass
		var created, updated string
		if err := rows.Scan(&rc.Name, &rc.Standard, &created, &updated); err != nil {
			return nil, err
		}
		rc.CreatedAt, rc.UpdatedAt = store.ParseTime(created), store.ParseTime(updated)
		out = append(out, &rc)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		ia, oka := standardRCIndex[a.Name]
		ib, okb := standardRCIndex[b.Name]
		switch {
		case oka && okb:
			return ia < ib
		case oka != okb:
			return oka
		case !a.CreatedAt.Equal(b.CreatedAt):
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.Name < b.Name
	})
	return out, nil
}

// resourceClassRoutes are the resource class routes (microversion 1.2 and later).
func (s *Service) resourceClassRoutes() []route {
	return []route{
		{method: "GET", path: "/resource_classes", rule: policyRCList, minVer: v(2), handle: s.listResourceClassesHTTP},
		{method: "POST", path: "/resource_classes", rule: policyRCCreate, minVer: v(2), body: true, handle: s.createResourceClass},
		{method: "GET", path: "/resource_classes/{name}", rule: policyRCShow, minVer: v(2), handle: s.showResourceClass},
		{method: "PUT", path: "/resource_classes/{name}", rule: policyRCUpdate, minVer: v(2), handle: s.putResourceClass},
		{method: "DELETE", path: "/resource_classes/{name}", rule: policyRCDelete, minVer: v(2), handle: s.deleteResourceClass},
	}
}

// postRCSchema is the body of POST /resource_classes and of PUT before 1.7.
var postRCSchema = obj("name", str().matching(customPattern).lenRange(0, 255)).req("name").strict()

// rcURL is a class's relative URL.
func (s *Service) rcURL(name string) string { return s.cfg.Prefix + "/resource_classes/" + name }

// rcJSON serializes a class.
func (s *Service) rcJSON(name string) map[string]any {
	return map[string]any{"name": name, "links": []any{map[string]any{"rel": "self", "href": s.rcURL(name)}}}
}

// listResourceClassesHTTP handles GET /resource_classes.
func (s *Service) listResourceClassesHTTP(w http.ResponseWriter, r *http.Request, c *call) error {
	rcs, err := listResourceClasses(r.Context(), s.db)
	if err != nil {
		return err
	}
	out := make([]any, 0, len(rcs))
	for _, rc := range rcs {
		out = append(out, s.rcJSON(rc.Name))
	}
	setLastModified(w, c, time.Now())
	writeJSON(w, http.StatusOK, map[string]any{"resource_classes": out})
	return nil
}

// createResourceClass handles POST /resource_classes.
func (s *Service) createResourceClass(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := api.ReadBody(r, 0)
	if err != nil {
		return err
	}
	data, err := extractJSON(body, postRCSchema)
	if err != nil {
		return err
	}
	name := data.(map[string]any)["name"].(string)
	created, err := s.insertResourceClass(r.Context(), name)
	if err != nil {
		return err
	}
	if !created {
		return conflict("", "Conflicting resource class already exists: %s", name)
	}
	setLocation(w, r, s.rcURL(name))
	noContent(w, http.StatusCreated)
	return nil
}

// insertResourceClass creates a custom class; created is false when it already exists.
func (s *Service) insertResourceClass(ctx context.Context, name string) (created bool, err error) {
	err = s.write(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO placement_resource_classes (name, standard, created_at, updated_at)
			VALUES (?, ?, ?, '') ON CONFLICT DO NOTHING`, name, false, store.FormatTime(now()))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		created = n == 1
		return nil
	})
	return created, err
}

// showResourceClass handles GET /resource_classes/{name}.
func (s *Service) showResourceClass(w http.ResponseWriter, r *http.Request, c *call) error {
	rc, err := getResourceClass(r.Context(), s.db, pathValue(r, "name"))
	if err != nil {
		return err
	}
	lm := rc.UpdatedAt
	if lm.IsZero() && !rc.Standard {
		lm = rc.CreatedAt
	}
	setLastModified(w, c, lm)
	writeJSON(w, http.StatusOK, s.rcJSON(rc.Name))
	return nil
}

// putResourceClass handles PUT /resource_classes/{name}, whose meaning changed in 1.7.
func (s *Service) putResourceClass(w http.ResponseWriter, r *http.Request, c *call) error {
	if c.at(7) {
		return s.ensureResourceClass(w, r, c)
	}
	if err := requireJSONBody(r); err != nil {
		return err
	}
	return s.renameResourceClass(w, r, c)
}

// renameResourceClass handles PUT /resource_classes/{name} before 1.7: it renames a custom
// class; inventories and allocations follow the new name.
func (s *Service) renameResourceClass(w http.ResponseWriter, r *http.Request, c *call) error {
	name := pathValue(r, "name")
	body, err := api.ReadBody(r, 0)
	if err != nil {
		return err
	}
	data, err := extractJSON(body, postRCSchema)
	if err != nil {
		return err
	}
	newName := data.(map[string]any)["name"].(string)
	err = s.write(r.Context(), func(tx *store.Tx) error {
		rc, err := getResourceClass(r.Context(), tx, name)
		if err != nil {
			return err
		}
		if rc.Standard {
			return badRequest("Cannot update standard resource class %s", name)
		}
		if newName == name {
			return nil
		}
		var n int
		if err := tx.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM placement_resource_classes WHERE name = ?`, newName).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return conflict("", "Resource class already exists: %s", newName)
		}
		_, err = tx.ExecContext(r.Context(), `UPDATE placement_resource_classes SET name = ?, updated_at = ? WHERE name = ?`,
			newName, store.FormatTime(now()), name)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.rcJSON(newName))
	return nil
}

// ensureResourceClass handles PUT /resource_classes/{name} from 1.7: 201 when it creates
// the custom class, 204 when it exists; a name that is not CUSTOM_* is a 400.
func (s *Service) ensureResourceClass(w http.ResponseWriter, r *http.Request, c *call) error {
	name := pathValue(r, "name")
	if msg := postRCSchema.validate(map[string]any{"name": name}); msg != "" {
		return badRequest("JSON does not validate: %s", msg)
	}
	created, err := s.insertResourceClass(r.Context(), name)
	if err != nil {
		return err
	}
	setLocation(w, r, s.rcURL(name))
	if created {
		noContent(w, http.StatusCreated)
	} else {
		noContent(w, http.StatusNoContent)
	}
	return nil
}

// deleteResourceClass handles DELETE /resource_classes/{name}.
func (s *Service) deleteResourceClass(w http.ResponseWriter, r *http.Request, c *call) error {
	name := pathValue(r, "name")
	err := s.write(r.Context(), func(tx *store.Tx) error {
		rc, err := getResourceClass(r.Context(), tx, name)
		if err != nil {
			return err
		}
		if rc.Standard {
			return badRequest("Error in delete resource class: Cannot delete standard resource class %s.", name)
		}
		var n int
		if err := tx.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM placement_inventories WHERE resource_class = ?`, name).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			if err := tx.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM placement_allocations WHERE resource_class = ?`, name).Scan(&n); err != nil {
				return err
			}
		}
		if n > 0 {
			return conflict("", "Error in delete resource class: Cannot delete resource class %s. Class is in use in inventory.", name)
		}
		_, err = tx.ExecContext(r.Context(), `DELETE FROM placement_resource_classes WHERE name = ?`, name)
		return err
	})
	if err != nil {
		return err
	}
	noContent(w, http.StatusNoContent)
	return nil
}
