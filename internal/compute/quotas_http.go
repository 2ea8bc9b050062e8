package compute

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// quotaRoutes serves os-quota-sets, os-quota-class-sets and limits.
func (s *Service) quotaRoutes() []route {
	const qs = "/v2.1/os-quota-sets/{project_id}"
	const qc = "/v2.1/os-quota-class-sets/{id}"
	return []route{
		{method: "GET", path: qs, rule: ruleQuotaShow, handle: s.handleShowQuotas},
		{method: "PUT", path: qs, rule: ruleQuotaUpdate, handle: s.handleUpdateQuotas},
		{method: "DELETE", path: qs, rule: ruleQuotaDelete, handle: s.handleDeleteQuotas},
		{method: "GET", path: qs + "/defaults", rule: ruleQuotaDefaults, handle: s.handleQuotaDefaults},
		{method: "GET", path: qs + "/detail", rule: ruleQuotaDetail, handle: s.handleQuotaDetail},
		{method: "GET", path: qc, rule: ruleQuotaClassShow, handle: s.handleShowQuotaClass},
		{method: "PUT", path: qc, rule: ruleQuotaClassUpdate, handle: s.handleUpdateQuotaClass},
		{method: "GET", path: "/v2.1/limits", rule: ruleLimits, handle: s.handleLimits},
	}
}

// quotaHidden returns the resources a quota-set response leaves out at the request's
// microversion: network quotas from 2.36 (from networkFrom for quota classes), file
// quotas from 2.57.
func quotaHidden(c *call, networkFrom int) []string {
	var out []string
	if c.at(networkFrom) {
		out = append(out, quotaNetworkResources...)
	}
	if c.at(57) {
		out = append(out, quotaFileResources...)
	}
	return out
}

// quotaSetBody renders limits (or detail entries) in Nova's resource order without the
// hidden ones, with "id" when id is set.
func quotaSetBody(id string, values map[string]any, hidden []string) map[string]any {
	out := map[string]any{}
	if id != "" {
		out["id"] = id
	}
	for _, r := range quotaResources {
		if slices.Contains(hidden, r.name) {
			continue
		}
		if v, ok := values[r.name]; ok {
			out[r.name] = v
		}
	}
	return out
}

// quotaUserParam reads the user_id query parameter (the first value), refusing unknown
// parameters from 2.75.
func quotaUserParam(c *call, q url.Values) (string, error) {
	if c.at(75) {
		if err := checkQuery(q, "user_id"); err != nil {
			return "", err
		}
	}
	if vs := q["user_id"]; len(vs) > 0 {
		return vs[0], nil
	}
	return "", nil
}

// limitsFor returns the project's limits, or the user's when userID is set.
func limitsFor(ctx context.Context, q querier, projectID, userID string) (map[string]int64, error) {
	if userID != "" {
		return userLimits(ctx, q, projectID, userID)
	}
	return projectLimits(ctx, q, projectID)
}

// anyMap converts limits for rendering.
func anyMap(m map[string]int64) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (s *Service) handleShowQuotas(w http.ResponseWriter, r *http.Request, c *call) error {
	project := r.PathValue("project_id")
	if err := s.authorize(c, c.rule, policy.Target{"project_id": project}); err != nil {
		return err
	}
	userID, err := quotaUserParam(c, r.URL.Query())
	if err != nil {
		return err
	}
	limits, err := limitsFor(r.Context(), s.db, project, userID)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"quota_set": quotaSetBody(project, anyMap(limits), quotaHidden(c, 36))})
	return nil
}

func (s *Service) handleQuotaDetail(w http.ResponseWriter, r *http.Request, c *call) error {
	project := r.PathValue("project_id")
	if err := s.authorize(c, c.rule, policy.Target{"project_id": project}); err != nil {
		return err
	}
	userID, err := quotaUserParam(c, r.URL.Query())
	if err != nil {
		return err
	}
	limits, err := limitsFor(r.Context(), s.db, project, userID)
	if err != nil {
		return err
	}
	use, err := quotaUsage(r.Context(), s.db, project, userID)
	if err != nil {
		return err
	}
	values := map[string]any{}
	for k, lim := range limits {
		values[k] = map[string]any{"limit": lim, "in_use": use[k], "reserved": 0}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"quota_set": quotaSetBody(project, values, quotaHidden(c, 36))})
	return nil
}

func (s *Service) handleQuotaDefaults(w http.ResponseWriter, r *http.Request, c *call) error {
	project := r.PathValue("project_id")
	if err := s.authorize(c, c.rule, policy.Target{"project_id": project}); err != nil {
		return err
	}
	limits, err := quotaClassLimits(r.Context(), s.db, "default")
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"quota_set": quotaSetBody(project, anyMap(limits), quotaHidden(c, 36))})
	return nil
}

func (s *Service) handleDeleteQuotas(w http.ResponseWriter, r *http.Request, c *call) error {
	project := r.PathValue("project_id")
	if err := s.authorize(c, c.rule, policy.Target{"project_id": project}); err != nil {
		return err
	}
	userID, err := quotaUserParam(c, r.URL.Query())
	if err != nil {
		return err
	}
	// Deleting a project's quotas drops its users' quotas too (Nova's
	// destroy_all_by_project); deleting a user's drops only those.
	if userID != "" {
		_, err = s.db.ExecContext(r.Context(), `DELETE FROM compute_quotas WHERE project_id = ? AND user_id = ?`, project, userID)
	} else {
		_, err = s.db.ExecContext(r.Context(), `DELETE FROM compute_quotas WHERE project_id = ?`, project)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// quotaUpdateResources are the resources a quota-set update accepts at the request's
// microversion.
func quotaUpdateResources(c *call, networkFrom int) []string {
	hidden := quotaHidden(c, networkFrom)
	var out []string
	for _, r := range quotaResources {
		if !slices.Contains(hidden, r.name) {
			out = append(out, r.name)
		}
	}
	return out
}

// parseQuotaValues validates the resource values of a quota-set or quota-class-set
// update: integers or integer strings from -1 to 2^31-1. Null and empty values are
// skipped, as Nova skips them.
func parseQuotaValues(field string, o api.Object, allowed []string) (map[string]int64, error) {
	if err := checkObject(o, field, nil, allowed); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for k, v := range o {
		if k == "force" {
			continue
		}
		var n int64
		switch x := v.(type) {
		case nil:
			continue
		case string:
			p, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				return nil, invalidInput(k, v, fmt.Sprintf("'%s' does not match '^-?[0-9]+$'", x))
			}
			n = p
		default:
			p, err := intValue(k, v, -1, maxFlavorInt)
			if err != nil {
				return nil, err
			}
			n = p
		}
		if n < -1 {
			return nil, invalidInput(k, v, fmt.Sprintf("%d is less than the minimum of -1", n))
		}
		if n > maxFlavorInt {
			return nil, invalidInput(k, v, fmt.Sprintf("%d is greater than the maximum of %d", n, maxFlavorInt))
		}
		out[k] = n
	}
	return out, nil
}

func (s *Service) handleUpdateQuotas(w http.ResponseWriter, r *http.Request, c *call) error {
	project := r.PathValue("project_id")
	if err := s.authorize(c, c.rule, policy.Target{"project_id": project}); err != nil {
		return err
	}
	userID, err := quotaUserParam(c, r.URL.Query())
	if err != nil {
		return err
	}
	body, err := decodeBody(r, []string{"quota_set"}, "quota_set")
	if err != nil {
		return err
	}
	qo, err := subObject(body, "quota_set")
	if err != nil {
		return err
	}
	values, err := parseQuotaValues("quota_set", qo, append(quotaUpdateResources(c, 36), "force"))
	if err != nil {
		return err
	}
	force, _, err := boolField(qo, "force")
	if err != nil {
		return err
	}
	ctx := r.Context()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := lockQuota(ctx, tx, project); err != nil {
			return err
		}
		if !force {
			if err := checkSettable(ctx, tx, project, userID, values); err != nil {
				return err
			}
		}
		ts := store.FormatTime(now())
		for res, lim := range values {
			if _, err := tx.ExecContext(ctx, `INSERT INTO compute_quotas (project_id, user_id, resource, hard_limit, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, '') ON CONFLICT (project_id, user_id, resource)
				DO UPDATE SET hard_limit = excluded.hard_limit, updated_at = ?`, project, userID, res, lim, ts, ts); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	limits, err := limitsFor(ctx, s.db, project, userID)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"quota_set": quotaSetBody("", anyMap(limits), quotaHidden(c, 36))})
	return nil
}

// checkSettable is Nova's get_settable_quotas and _validate_quota_limit: a project limit
// may not go below what is in use nor below the sum of its users' limits; a user limit
// may not go below the user's usage nor above what the project has left to give out plus
// the user's current limit.
func checkSettable(ctx context.Context, tx *store.Tx, project, userID string, values map[string]int64) error {
	projLimits, err := projectLimits(ctx, tx, project)
	if err != nil {
		return err
	}
	use, err := quotaUsage(ctx, tx, project, userID)
	if err != nil {
		return err
	}
	// Usage of key_pairs and server_group_members does not bound their limits (Nova
	// counts them as 0 here).
	use["key_pairs"], use["server_group_members"] = 0, 0
	userSums := map[string]int64{}
	rows, err := tx.QueryContext(ctx, `SELECT resource, hard_limit FROM compute_quotas WHERE project_id = ? AND user_id <> ''`, project)
	if err != nil {
		return err
	}
	for rows.Next() {
		var res string
		var lim int64
		if err := rows.Scan(&res, &lim); err != nil {
			rows.Close()
			return err
		}
		userSums[res] += lim
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var own map[string]int64
	if userID != "" {
		if own, err = storedQuotas(ctx, tx, project, userID); err != nil {
			return err
		}
	}
	inf := func(v int64) float64 {
		if v == -1 {
			return 1e300
		}
		return float64(v)
	}
	for _, r := range quotaResources {
		lim, ok := values[r.name]
		if !ok {
			continue
		}
		minimum, maximum := use[r.name], int64(-1)
		if userID == "" {
			minimum = max(userSums[r.name], use[r.name])
		} else if projLimits[r.name] != -1 {
			maximum = projLimits[r.name] - userSums[r.name] + own[r.name]
		}
		if inf(lim) < inf(minimum) {
			return badRequest("Quota limit %d for %s must be greater than or equal to already used and reserved %d.", lim, r.name, minimum)
		}
		if inf(lim) > inf(maximum) {
			return badRequest("Quota limit %d for %s must be less than or equal to %d.", lim, r.name, maximum)
		}
	}
	return nil
}

func (s *Service) handleShowQuotaClass(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	class := r.PathValue("id")
	limits, err := quotaClassLimits(r.Context(), s.db, class)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"quota_class_set": quotaSetBody(class, anyMap(limits), quotaClassHidden(c))})
	return nil
}

// quotaClassHidden is what quota-class responses leave out: server group quotas before
// 2.50, network quotas from 2.50, file quotas from 2.57.
func quotaClassHidden(c *call) []string {
	hidden := quotaHidden(c, 50)
	if !c.at(50) {
		hidden = append(hidden, "server_groups", "server_group_members")
	}
	return hidden
}

func (s *Service) handleUpdateQuotaClass(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	class := r.PathValue("id")
	body, err := decodeBody(r, []string{"quota_class_set"}, "quota_class_set")
	if err != nil {
		return err
	}
	qo, err := subObject(body, "quota_class_set")
	if err != nil {
		return err
	}
	values, err := parseQuotaValues("quota_class_set", qo, quotaUpdateResources(c, 50))
	if err != nil {
		return err
	}
	if n := len([]rune(class)); n < 1 || n > 255 {
		return badRequest("Invalid input received: quota_class_name has a length outside 1 to 255.")
	}
	ctx := r.Context()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		for res, lim := range values {
			if _, err := tx.ExecContext(ctx, `INSERT INTO compute_quota_classes (class_name, resource, hard_limit) VALUES (?, ?, ?)
				ON CONFLICT (class_name, resource) DO UPDATE SET hard_limit = excluded.hard_limit`, class, res, lim); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	limits, err := quotaClassLimits(ctx, s.db, class)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"quota_class_set": quotaSetBody("", anyMap(limits), quotaClassHidden(c))})
	return nil
}
