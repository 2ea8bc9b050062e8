package network

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// quotaRegistry holds the resources with a quota, their default limits and how to count
// a project's usage. Later parts (routers, floating IPs, security groups) register theirs
// with RegisterQuotaResource.
type quotaRegistry struct {
	mu        sync.RWMutex
	defaults  map[string]int64
	counters  map[string]QuotaCounter
	overrides map[string]int64
}

// QuotaCounter counts a project's usage of one resource inside a transaction.
type QuotaCounter func(ctx context.Context, q store.Querier, projectID string) (int64, error)

// neutronQuotaDefaults are [QUOTAS] quota_* defaults (neutron/conf/quota.py).
var neutronQuotaDefaults = map[string]int64{
	"network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50,
	"security_group": 10, "security_group_rule": 100, "subnetpool": -1, "rbac_policy": 10,
}

// countTable counts a project's rows in a table.
func countTable(table string) QuotaCounter {
	return func(ctx context.Context, q store.Querier, projectID string) (int64, error) {
		var n int64
		err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE project_id = ?`, projectID).Scan(&n)
		return n, err
	}
}

// zeroCount is the counter of resources not built yet.
func zeroCount(context.Context, store.Querier, string) (int64, error) { return 0, nil }

func newQuotaRegistry(overrides map[string]int64) *quotaRegistry {
	r := &quotaRegistry{defaults: map[string]int64{}, counters: map[string]QuotaCounter{}, overrides: overrides}
	for name, lim := range neutronQuotaDefaults {
		if v, ok := overrides[name]; ok {
			lim = v
		}
		r.defaults[name] = lim
		r.counters[name] = zeroCount
	}
	r.counters["network"] = countTable("net_networks")
	r.counters["subnet"] = countTable("net_subnets")
	r.counters["port"] = countTable("net_ports")
	r.counters["subnetpool"] = countTable("net_subnetpools")
	r.counters["rbac_policy"] = countTable("net_rbac_policies")
	return r
}

// RegisterQuotaResource adds (or replaces the counter of) a resource with a quota.
// defaultLimit applies unless the configuration overrides it.
func (s *Service) RegisterQuotaResource(name string, defaultLimit int64, count QuotaCounter) {
	r := s.quotaResources
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.overrides[name]; ok {
		defaultLimit = v
	}
	if _, ok := r.defaults[name]; !ok {
		r.defaults[name] = defaultLimit
	}
	r.counters[name] = count
}

func (r *quotaRegistry) names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.defaults))
	for n := range r.defaults {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// limits returns a project's limits: defaults overridden by its net_quotas rows.
func (s *Service) limits(ctx context.Context, q store.Querier, projectID string) (map[string]int64, error) {
	s.quotaResources.mu.RLock()
	out := make(map[string]int64, len(s.quotaResources.defaults))
	for k, v := range s.quotaResources.defaults {
		out[k] = v
	}
	s.quotaResources.mu.RUnlock()
	rows, err := q.QueryContext(ctx, `SELECT resource, hard_limit FROM net_quotas WHERE project_id = ?`, projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var lim int64
		if err := rows.Scan(&name, &lim); err != nil {
			return nil, err
		}
		if _, ok := out[name]; ok {
			out[name] = lim
		}
	}
	return out, rows.Err()
}

// lockProject takes the project's quota lock row inside tx: on PostgreSQL the UPDATE's
// row lock queues other creating transactions of the project until commit; SQLite
// transactions are IMMEDIATE and so already one at a time.
func lockProject(ctx context.Context, tx *store.Tx, projectID string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO net_quota_locks (project_id, version) VALUES (?, 0)
		ON CONFLICT (project_id) DO NOTHING`, projectID); err != nil {
		return fmt.Errorf("quota lock: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE net_quota_locks SET version = version + 1 WHERE project_id = ?`, projectID); err != nil {
		return fmt.Errorf("quota lock: %w", err)
	}
	return nil
}

// checkQuota takes the project's lock and refuses (OverQuota, 409) adding delta of a
// resource beyond its limit. It runs first in the transaction that inserts the rows, so
// concurrent creates cannot overshoot.
func (s *Service) checkQuota(ctx context.Context, tx *store.Tx, projectID, resource string, delta int64) error {
	if err := lockProject(ctx, tx, projectID); err != nil {
		return err
	}
	lims, err := s.limits(ctx, tx, projectID)
	if err != nil {
		return err
	}
	lim, ok := lims[resource]
	if !ok || lim < 0 {
		return nil
	}
	s.quotaResources.mu.RLock()
	count := s.quotaResources.counters[resource]
	s.quotaResources.mu.RUnlock()
	used, err := count(ctx, tx, projectID)
	if err != nil {
		return err
	}
	if used+delta > lim {
		return overQuota(resource)
	}
	return nil
}

// quotaRoutes are /v2.0/quotas (quotas, quota_details).
func (s *Service) quotaRoutes() []route {
	return []route{
		{"GET", "/v2.0/quotas", "get_quota", s.listQuotas},
		{"GET", "/v2.0/quotas/{project_id}", "get_quota", s.showQuota},
		{"GET", "/v2.0/quotas/{project_id}/default", "get_quota", s.showQuotaDefault},
		{"GET", "/v2.0/quotas/{project_id}/details.json", "get_quota", s.showQuotaDetails},
		{"GET", "/v2.0/quotas/{project_id}/details", "get_quota", s.showQuotaDetails},
		{"PUT", "/v2.0/quotas/{project_id}", "update_quota", s.updateQuota},
		{"DELETE", "/v2.0/quotas/{project_id}", "delete_quota", s.deleteQuota},
	}
}

// authorizeQuota checks a quota rule for the project in the path.
func (s *Service) authorizeQuota(c *call, projectID string) error {
	if !s.enforce(c, c.rule, policy.Target{"project_id": projectID}, nil) {
		if c.rule == "get_quota" {
			return nerr(http.StatusForbidden, "HTTPForbidden", "Only admin is authorized to access quotas for another tenant")
		}
		return nerr(http.StatusForbidden, "AdminRequired", "User does not have admin privileges: Only admin can view or configure quota.")
	}
	return nil
}

func quotaBody(lims map[string]int64) map[string]any {
	out := make(map[string]any, len(lims))
	for k, v := range lims {
		out[k] = v
	}
	return out
}

func (s *Service) listQuotas(w http.ResponseWriter, r *http.Request, c *call) error {
	if !s.isAdmin(c) {
		return nerr(http.StatusForbidden, "AdminRequired", "User does not have admin privileges: Only admin can view or configure quota.")
	}
	rows, err := s.db.QueryContext(r.Context(), `SELECT DISTINCT project_id FROM net_quotas ORDER BY project_id`)
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
	out := []any{}
	for _, p := range projects {
		lims, err := s.limits(r.Context(), s.db, p)
		if err != nil {
			return err
		}
		b := quotaBody(lims)
		b["project_id"], b["tenant_id"] = p, p
		out = append(out, b)
	}
	writeBody(w, http.StatusOK, map[string]any{"quotas": out})
	return nil
}

func (s *Service) showQuota(w http.ResponseWriter, r *http.Request, c *call) error {
	pid := r.PathValue("project_id")
	if err := s.authorizeQuota(c, pid); err != nil {
		return err
	}
	lims, err := s.limits(r.Context(), s.db, pid)
	if err != nil {
		return err
	}
	writeBody(w, http.StatusOK, map[string]any{"quota": quotaBody(lims)})
	return nil
}

func (s *Service) showQuotaDefault(w http.ResponseWriter, r *http.Request, c *call) error {
	pid := r.PathValue("project_id")
	if err := s.authorizeQuota(c, pid); err != nil {
		return err
	}
	s.quotaResources.mu.RLock()
	lims := quotaBody(s.quotaResources.defaults)
	s.quotaResources.mu.RUnlock()
	writeBody(w, http.StatusOK, map[string]any{"quota": lims})
	return nil
}

func (s *Service) showQuotaDetails(w http.ResponseWriter, r *http.Request, c *call) error {
	pid := r.PathValue("project_id")
	if err := s.authorizeQuota(c, pid); err != nil {
		return err
	}
	lims, err := s.limits(r.Context(), s.db, pid)
	if err != nil {
		return err
	}
	out := map[string]any{}
	for name, lim := range lims {
		s.quotaResources.mu.RLock()
		count := s.quotaResources.counters[name]
		s.quotaResources.mu.RUnlock()
		used, err := count(r.Context(), s.db, pid)
		if err != nil {
			return err
		}
		out[name] = map[string]any{"limit": lim, "used": used, "reserved": 0}
	}
	writeBody(w, http.StatusOK, map[string]any{"quota": out})
	return nil
}

func (s *Service) updateQuota(w http.ResponseWriter, r *http.Request, c *call) error {
	pid := r.PathValue("project_id")
	if err := s.authorizeQuota(c, pid); err != nil {
		return err
	}
	body, err := api.DecodeObject(r, "quota")
	if err != nil {
		return badRequest("%s", err.(*api.Error).Message)
	}
	lims, err := s.limits(r.Context(), s.db, pid)
	if err != nil {
		return err
	}
	set := map[string]int64{}
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "check_limit" || k == "force" {
			continue
		}
		if _, ok := lims[k]; !ok {
			return badRequest("Unrecognized attribute(s) '%s'", truncate(k, 64))
		}
		n, _, err := body.Int(k)
		if err != nil || n < -1 {
			return invalidAttr(k, fmt.Sprintf("'%v' is not a valid quota limit: must be an integer greater than or equal to -1", describeValue(body[k])))
		}
		set[k] = n
	}
	check, _, _ := body.Bool("check_limit")
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := lockProject(r.Context(), tx, pid); err != nil {
			return err
		}
		for _, k := range keys {
			n, ok := set[k]
			if !ok {
				continue
			}
			if check && n >= 0 {
				s.quotaResources.mu.RLock()
				count := s.quotaResources.counters[k]
				s.quotaResources.mu.RUnlock()
				used, err := count(r.Context(), tx, pid)
				if err != nil {
					return err
				}
				if used > n {
					return nerr(http.StatusBadRequest, "InvalidQuotaValue",
						"Change would make usage less than 0 for the following resources: ['%s'].", k)
				}
			}
			if _, err := tx.ExecContext(r.Context(), `INSERT INTO net_quotas (project_id, resource, hard_limit) VALUES (?, ?, ?)
				ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit`, pid, k, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	lims, err = s.limits(r.Context(), s.db, pid)
	if err != nil {
		return err
	}
	writeBody(w, http.StatusOK, map[string]any{"quota": quotaBody(lims)})
	return nil
}

func (s *Service) deleteQuota(w http.ResponseWriter, r *http.Request, c *call) error {
	pid := r.PathValue("project_id")
	if err := s.authorizeQuota(c, pid); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(r.Context(), `DELETE FROM net_quotas WHERE project_id = ?`, pid); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// describeValue renders a JSON value for a message.
func describeValue(v any) string {
	if s, ok := v.(string); ok {
		return truncate(s, 64)
	}
	return truncate(fmt.Sprint(v), 64)
}
