package identity

import (
	"context"
	"net/http"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// domainRoutes is the route table for domains.
func (s *Service) domainRoutes() []api.Route {
	dt := s.domainTarget
	return []api.Route{
		{Method: "GET", Path: "/v3/domains", Policy: "identity:list_domains", Handler: s.listDomains},
		{Method: "POST", Path: "/v3/domains", Policy: "identity:create_domain", Handler: s.createDomain},
		{Method: "GET", Path: "/v3/domains/{domain_id}", Policy: "identity:get_domain", Target: dt, Handler: s.showDomain},
		{Method: "PATCH", Path: "/v3/domains/{domain_id}", Policy: "identity:update_domain", Target: dt, Handler: s.updateDomain},
		{Method: "DELETE", Path: "/v3/domains/{domain_id}", Policy: "identity:delete_domain", Target: dt, Handler: s.deleteDomain},
	}
}

// domainTarget loads the domain named in the path for policy checks.
func (s *Service) domainTarget(r *http.Request) (policy.Target, error) {
	d, err := s.getDomain(r.Context(), s.db, r.PathValue("domain_id"))
	if err != nil {
		return nil, err
	}
	return policy.Target{"target.domain.id": d.ID}, nil
}

// domainJSON renders a domain as Keystone does.
func domainJSON(r *http.Request, d *project) map[string]any {
	m := map[string]any{}
	for k, v := range d.Extra {
		m[k] = v
	}
	tags := d.Tags
	if tags == nil {
		tags = []string{}
	}
	opts := d.Options
	if opts == nil {
		opts = map[string]any{}
	}
	m["id"], m["name"], m["description"], m["enabled"] = d.ID, d.Name, d.Description, d.Enabled
	m["tags"], m["options"] = tags, opts
	m["links"] = map[string]any{"self": api.BaseURL(r) + "/v3/domains/" + d.ID}
	return m
}

// listDomains handles GET /v3/domains with the name and enabled filters.
func (s *Service) listDomains(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	where := []string{"is_domain = ?"}
	args := []any{true}
	if e, ok, err := api.QueryBool(q, "enabled"); err != nil {
		return err
	} else if ok {
		where, args = append(where, "enabled = ?"), append(args, e)
	}
	w2, a2 := nameFilters(q)
	where, args = append(where, w2...), append(args, a2...)
	ds, err := s.queryProjects(r.Context(), strings.Join(where, " AND "), args...)
	if err != nil {
		return err
	}
	ds = filterByTags(ds, q)
	out := make([]any, 0, len(ds))
	for _, d := range ds {
		out = append(out, domainJSON(r, d))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"domains": out, "links": api.KeystoneLinks(r)})
	return nil
}

// createDomain handles POST /v3/domains; a client may choose the id (explicit_domain_id).
func (s *Service) createDomain(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	o, err := api.DecodeObject(r, "domain")
	if err != nil {
		return err
	}
	if _, _, err := o.Name("name", true, 64); err != nil {
		return err
	}
	d := &project{ID: api.NewID(), DomainID: RootDomainID, IsDomain: true, Enabled: true,
		Extra: map[string]any{}, Options: map[string]any{}, Tags: []string{}}
	if id, ok, err := o.Str("explicit_domain_id", false); err != nil {
		return err
	} else if ok {
		if !isHexID(id) {
			return api.BadRequest("Invalid input for field 'explicit_domain_id': must be a 32-character hexadecimal id.")
		}
		d.ID = id
	}
	delete(o, "explicit_domain_id")
	if err := readProjectFields(o, d); err != nil {
		return err
	}
	if err := s.write(ctx, func(tx *store.Tx) error { return insertProject(ctx, tx, d) }); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"domain": domainJSON(r, d)})
	return nil
}

// isHexID reports whether id is a 32-character hexadecimal string.
func isHexID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// showDomain handles GET /v3/domains/{id}.
func (s *Service) showDomain(w http.ResponseWriter, r *http.Request) error {
	d, err := s.getDomain(r.Context(), s.db, r.PathValue("domain_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"domain": domainJSON(r, d)})
	return nil
}

// updateDomain handles PATCH /v3/domains/{id}; disabling a domain revokes its tokens.
func (s *Service) updateDomain(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	o, err := api.DecodeObject(r, "domain")
	if err != nil {
		return err
	}
	var d *project
	err = s.write(ctx, func(tx *store.Tx) error {
		cur, err := s.getDomain(ctx, tx, r.PathValue("domain_id"))
		if err != nil {
			return err
		}
		if immutable(cur.Options) {
			if opts, ok, _ := o.Obj("options"); !ok || opts == nil || opts["immutable"] != false {
				return api.Forbidden("Unable to update immutable domain resource: `%s`.", cur.ID)
			}
		}
		if id, ok, _ := o.Str("id", false); ok && id != cur.ID {
			return api.BadRequest("Cannot change the domain id.")
		}
		wasEnabled := cur.Enabled
		if err := readProjectFields(o, cur); err != nil {
			return err
		}
		if err := updateProjectRow(ctx, tx, cur); err != nil {
			return err
		}
		if o.Has("tags") {
			if err := setTags(ctx, tx, cur.ID, cur.Tags); err != nil {
				return err
			}
		}
		if wasEnabled && !cur.Enabled {
			if err := s.revoke(ctx, tx, revocationEvent{DomainID: cur.ID}); err != nil {
				return err
			}
		}
		d = cur
		return nil
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"domain": domainJSON(r, d)})
	return nil
}

// deleteDomain handles DELETE /v3/domains/{id}; the domain must be disabled first.
func (s *Service) deleteDomain(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	err := s.write(ctx, func(tx *store.Tx) error {
		d, err := s.getDomain(ctx, tx, r.PathValue("domain_id"))
		if err != nil {
			return err
		}
		if immutable(d.Options) {
			return api.Forbidden("Unable to delete immutable domain resource: `%s`.", d.ID)
		}
		return s.deleteDomainTx(ctx, tx, d)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteDomainTx removes a disabled domain with its projects, users, groups, domain
// roles and every assignment that refers to them.
func (s *Service) deleteDomainTx(ctx context.Context, tx *store.Tx, d *project) error {
	if d.Enabled {
		return api.Forbidden("Cannot delete a domain that is enabled, please disable it first.")
	}
	// Children first: collect every project of the domain, deepest last so that parents go
	// after their children.
	ids, err := s.projectSubtreeIDs(ctx, tx, d.ID)
	if err != nil {
		return err
	}
	var inDomain []string
	rows, err := tx.QueryContext(ctx, `SELECT id FROM projects WHERE domain_id = ?`, d.ID)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		inDomain = append(inDomain, id)
	}
	rows.Close()
	seen := map[string]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	for _, id := range inDomain {
		if !seen[id] {
			ids = append(ids, id)
		}
	}
	for i := len(ids) - 1; i >= 0; i-- {
		if err := s.deleteProjectTx(ctx, tx, ids[i]); err != nil {
			return err
		}
	}
	for _, stmt := range []string{
		`DELETE FROM assignments WHERE actor_id IN (SELECT id FROM users WHERE domain_id = ?)`,
		`DELETE FROM assignments WHERE actor_id IN (SELECT id FROM groups WHERE domain_id = ?)`,
		`DELETE FROM assignments WHERE role_id IN (SELECT id FROM roles WHERE domain_id = ?)`,
		`DELETE FROM application_credentials WHERE user_id IN (SELECT id FROM users WHERE domain_id = ?)`,
		`DELETE FROM credentials WHERE user_id IN (SELECT id FROM users WHERE domain_id = ?)`,
		`DELETE FROM users WHERE domain_id = ?`,
		`DELETE FROM groups WHERE domain_id = ?`,
		`DELETE FROM roles WHERE domain_id = ?`,
		`DELETE FROM assignments WHERE target_id = ?`,
		`DELETE FROM limits WHERE domain_id = ?`,
		`DELETE FROM projects WHERE id = ?`,
	} {
		if _, err := tx.ExecContext(ctx, stmt, d.ID); err != nil {
			return err
		}
	}
	return s.revoke(ctx, tx, revocationEvent{DomainID: d.ID})
}
