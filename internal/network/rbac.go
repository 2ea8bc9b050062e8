package network

import (
	"context"
	"net/http"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// rbacActions are the RBAC actions per object type.
var rbacActions = map[string][]string{"network": {"access_as_shared", "access_as_external"}}

func (s *Service) rbacKind() *kind {
	return &kind{
		singular: "rbac_policy", collection: "rbac-policies", table: "net_rbac_policies",
		attrs: []string{"id", "project_id", "tenant_id", "object_type", "object_id", "action", "target_tenant", "target_project"},
		columns: map[string]string{"id": "id", "project_id": "project_id", "tenant_id": "project_id",
			"object_type": "object_type", "object_id": "object_id", "action": "action", "target_tenant": "target_tenant",
			"target_project": "target_tenant"},
		notFound: func(id string) *api.Error {
			return nerr(http.StatusNotFound, "RbacPolicyNotFound", "RBAC policy of type %s with ID %s not found", "network", id)
		},
		load:  s.loadRBAC,
		facts: rbacFacts,
	}
}

// rbacFacts are the field checks of restrict_wildcard and the target_* rules.
func rbacFacts(rec record) []string {
	if rec["target_tenant"] == "*" {
		return []string{"rbac_policy:target_tenant=*", "rbac_policy:target_project=*"}
	}
	return nil
}

func (s *Service) rbacRoutes() []route {
	return s.crudRoutes(s.kinds["rbac-policies"], s.createRBAC, s.updateRBAC, s.deleteRBAC)
}

func (s *Service) loadRBAC(ctx context.Context, q store.Querier, c *call, pre sqlFilter) ([]record, error) {
	where, args := pre.where(s.kinds["rbac-policies"], "")
	rows, err := q.QueryContext(ctx, `SELECT id, project_id, object_type, object_id, action, target_tenant
		FROM net_rbac_policies WHERE 1=1`+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []record
	for rows.Next() {
		var id, project, typ, obj, action, target string
		if err := rows.Scan(&id, &project, &typ, &obj, &action, &target); err != nil {
			return nil, err
		}
		out = append(out, record{"id": id, "project_id": project, "tenant_id": project, "object_type": typ,
			"object_id": obj, "action": action, "target_tenant": target, "target_project": target})
	}
	return out, rows.Err()
}

// insertRBAC adds an RBAC entry.
func insertRBAC(ctx context.Context, tx *store.Tx, project, typ, obj, action, target string) error {
	ts := store.FormatTime(now())
	_, err := tx.ExecContext(ctx, `INSERT INTO net_rbac_policies (id, project_id, object_type, object_id, action,
		target_tenant, revision_number, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)`,
		api.NewUUID(), project, typ, obj, action, target, ts, ts)
	return err
}

// insertRBACIfMissing adds an RBAC entry unless an equal one exists.
func insertRBACIfMissing(ctx context.Context, tx *store.Tx, project, typ, obj, action, target string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM net_rbac_policies WHERE object_type = ? AND object_id = ?
		AND action = ? AND target_tenant = ?`, typ, obj, action, target).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	return insertRBAC(ctx, tx, project, typ, obj, action, target)
}

func (s *Service) createRBAC(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["rbac-policies"]
	b, err := decode(r, "rbac_policy")
	if err != nil {
		return err
	}
	if err := b.known("object_type", "object_id", "action", "target_tenant", "target_project", "project_id", "tenant_id"); err != nil {
		return err
	}
	project, err := b.owner(c)
	if err != nil {
		return err
	}
	typ, _, err := b.str("object_type", 255, false)
	if err != nil {
		return err
	}
	obj, _, err := b.str("object_id", 36, false)
	if err != nil {
		return err
	}
	action, _, err := b.str("action", 255, false)
	if err != nil {
		return err
	}
	target, hasTarget, err := b.str("target_tenant", 255, false)
	if err != nil {
		return err
	}
	if tp, ok, err := b.str("target_project", 255, false); err != nil {
		return err
	} else if ok {
		target, hasTarget = tp, true
	}
	for _, req := range []struct{ key, v string }{{"object_type", typ}, {"object_id", obj}, {"action", action}} {
		if req.v == "" {
			return badRequest("Failed to parse request. Required attribute '%s' not specified", req.key)
		}
	}
	if !hasTarget || target == "" {
		return badRequest("Failed to parse request. Required attribute 'target_tenant' not specified")
	}
	actions, ok := rbacActions[typ]
	if !ok {
		return invalidAttr("object_type", "'"+truncate(typ, 64)+"' is not in ['network']")
	}
	valid := false
	for _, a := range actions {
		valid = valid || a == action
	}
	if !valid {
		return invalidAttr("action", "'"+truncate(action, 64)+"' is not in "+pyList(actions))
	}
	rec := record{"project_id": project, "target_tenant": target}
	facts := rbacFacts(rec)
	ptarget := policy.Target{"project_id": project, "target_tenant": target, "target_project": target}
	if !s.enforce(c, "create_rbac_policy", ptarget, facts) {
		return policyNotAuthorized("create_rbac_policy")
	}
	for _, rule := range []string{"create_rbac_policy:target_tenant", "create_rbac_policy:target_project"} {
		if !s.enforce(c, rule, ptarget, facts) {
			return policyNotAuthorized(rule)
		}
	}
	// The object must be a network the caller owns (or any, for admins).
	net, err := s.loadNetworks(r.Context(), s.db, c, byID(obj))
	if err != nil {
		return err
	}
	if len(net) == 0 || (!s.isAdmin(c) && net[0]["project_id"] != c.project()) {
		return nerr(http.StatusNotFound, "RbacPolicyNotFound", "RBAC policy of type %s with ID %s not found", typ, obj)
	}
	id := api.NewUUID()
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.checkQuota(r.Context(), tx, project, "rbac_policy", 1); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM net_rbac_policies WHERE object_type = ? AND object_id = ?
			AND action = ? AND target_tenant = ?`, typ, obj, action, target).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nerr(http.StatusConflict, "DuplicateRbacPolicy", "An RBAC policy already exists with those values.")
		}
		ts := store.FormatTime(now())
		if _, err := tx.ExecContext(r.Context(), `INSERT INTO net_rbac_policies (id, project_id, object_type, object_id, action,
			target_tenant, revision_number, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)`,
			id, project, typ, obj, action, target, ts, ts); err != nil {
			return err
		}
		if action == "access_as_external" && target == "*" {
			_, err := tx.ExecContext(r.Context(), `UPDATE net_networks SET router_external = ? WHERE id = ?`, true, obj)
			return err
		}
		return nil
	})
	if err != nil {
		if store.IsUniqueViolation(err) {
			return nerr(http.StatusConflict, "DuplicateRbacPolicy", "An RBAC policy already exists with those values.")
		}
		return err
	}
	s.notify()
	return s.writeOne(w, c, k, http.StatusCreated, id, r.Context())
}

func (s *Service) updateRBAC(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["rbac-policies"]
	id := r.PathValue("id")
	b, err := decode(r, "rbac_policy")
	if err != nil {
		return err
	}
	if err := b.readOnly("id", "object_type", "object_id", "action", "project_id", "tenant_id"); err != nil {
		return err
	}
	if err := b.known("target_tenant", "target_project"); err != nil {
		return err
	}
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "update_rbac_policy", rec); err != nil {
		return err
	}
	target, ok, err := b.str("target_tenant", 255, false)
	if err != nil {
		return err
	}
	if tp, has, err := b.str("target_project", 255, false); err != nil {
		return err
	} else if has {
		target, ok = tp, true
	}
	if !ok || target == rec["target_tenant"] {
		return s.writeOne(w, c, k, http.StatusOK, id, r.Context())
	}
	newRec := record{"target_tenant": target}
	facts := rbacFacts(newRec)
	for _, rule := range []string{"update_rbac_policy:target_tenant", "update_rbac_policy:target_project"} {
		if !s.enforce(c, rule, policy.Target{"project_id": rec["project_id"], "target_tenant": target}, facts) {
			return policyNotAuthorized(rule)
		}
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.rbacInUse(r.Context(), tx, rec, target); err != nil {
			return err
		}
		_, err := tx.ExecContext(r.Context(), `UPDATE net_rbac_policies SET target_tenant = ?, updated_at = ? WHERE id = ?`,
			target, store.FormatTime(now()), id)
		return err
	})
	if err != nil {
		if store.IsUniqueViolation(err) {
			return nerr(http.StatusConflict, "DuplicateRbacPolicy", "An RBAC policy already exists with those values.")
		}
		return err
	}
	s.notify()
	return s.writeOne(w, c, k, http.StatusOK, id, r.Context())
}

// rbacInUse refuses (RbacPolicyInUse) removing a share that another project's ports
// still depend on: projects other than the owner with ports on the network that no
// remaining access_as_shared entry (other than this one, or newTarget when it is
// re-targeted) covers.
func (s *Service) rbacInUse(ctx context.Context, tx *store.Tx, rec record, newTarget string) error {
	if rec["action"] != "access_as_shared" || newTarget == "*" {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT p.project_id FROM net_ports p JOIN net_networks n ON n.id = p.network_id
		WHERE p.network_id = ? AND p.project_id <> n.project_id`, rec["object_id"])
	if err != nil {
		return err
	}
	var projects []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return err
		}
		projects = append(projects, p)
	}
	rows.Close()
	for _, p := range projects {
		if p == newTarget {
			continue
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM net_rbac_policies WHERE object_type = 'network' AND object_id = ?
			AND action = 'access_as_shared' AND id <> ? AND target_tenant IN ('*', ?)`, rec["object_id"], rec["id"], p).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return nerr(http.StatusConflict, "RbacPolicyInUse",
				"RBAC policy on object %s cannot be removed because other objects depend on it.\nDetails: Callback neutron.plugins.ml2.plugin.Ml2Plugin.validate_network_rbac_policy_change failed with \"Unable to reconfigure sharing settings for network %s. Multiple tenants are using it.\"",
				rec["object_id"], rec["object_id"])
		}
	}
	return nil
}

func (s *Service) deleteRBAC(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["rbac-policies"]
	id := r.PathValue("id")
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "delete_rbac_policy", rec); err != nil {
		return err
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.rbacInUse(r.Context(), tx, rec, ""); err != nil {
			return err
		}
		if rec["action"] == "access_as_external" && rec["target_tenant"] == "*" {
			if _, err := tx.ExecContext(r.Context(), `UPDATE net_networks SET router_external = ? WHERE id = ?`, false, rec["object_id"]); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(r.Context(), `DELETE FROM net_rbac_policies WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return err
	}
	s.notify()
	w.WriteHeader(http.StatusNoContent)
	return nil
}
