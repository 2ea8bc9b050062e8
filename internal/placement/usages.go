package placement

import (
	"net/http"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
)

// usageRoutes are the usage routes.
func (s *Service) usageRoutes() []route {
	return []route{
		{method: "GET", path: "/resource_providers/{uuid}/usages", rule: policyRPUsages, handle: s.providerUsages},
		// GET /usages checks its rule against the project in the query, in the handler.
		{method: "GET", path: "/usages", minVer: v(9), handle: s.totalUsages},
	}
}

// Usage query schemas (placement/schemas/usage.py).
var (
	usagesSchema19  = obj("project_id", idSchema, "user_id", idSchema).req("project_id").strict()
	usagesSchema138 = usagesSchema19.with("consumer_type", str().matching(consumerTypeGetRE).lenRange(1, 255))
)

// providerUsages handles GET /resource_providers/{uuid}/usages: the usage of every class
// the provider has inventory of.
func (s *Service) providerUsages(w http.ResponseWriter, r *http.Request, c *call) error {
	uuid := pathValue(r, "uuid")
	p, err := getProvider(r.Context(), s.db, uuid)
	if err != nil {
		if isNoProvider(err) {
			return notFound("No resource provider with uuid %s found: %s", uuid, api.AsError(err).Message)
		}
		return err
	}
	invs, err := providerInventories(r.Context(), s.db, uuid)
	if err != nil {
		return err
	}
	usages := map[string]int64{}
	for rc, i := range invs {
		usages[rc] = i.Used
	}
	setLastModified(w, c, time.Now())
	writeJSON(w, http.StatusOK, map[string]any{"resource_provider_generation": p.Generation, "usages": usages})
	return nil
}

// totalUsages handles GET /usages?project_id=&user_id=: a project's (or user's) usage,
// from 1.38 grouped by consumer type with a consumer_count per type.
func (s *Service) totalUsages(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	project := lastValue(q, "project_id")
	var target policy.Target
	if q.Has("project_id") {
		target = policy.Target{"project_id": project}
	} else {
		target = policy.Target{"project_id": nil}
	}
	if err := s.authorize(c, policyTotalUsages, target); err != nil {
		return err
	}
	sch := usagesSchema19
	if c.at(38) {
		sch = usagesSchema138
	}
	if err := validateQuery(q, sch); err != nil {
		return err
	}
	user := lastValue(q, "user_id")
	where := ` WHERE c.project_id = ?`
	args := []any{project}
	if user != "" {
		where += ` AND c.user_id = ?`
		args = append(args, user)
	}
	from := ` FROM placement_allocations a JOIN placement_consumers c ON c.uuid = a.consumer_uuid`
	if !c.at(38) {
		rows, err := s.db.QueryContext(r.Context(), `SELECT a.resource_class, SUM(a.used)`+from+where+` GROUP BY a.resource_class`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		usages := map[string]int64{}
		for rows.Next() {
			var rc string
			var n int64
			if err := rows.Scan(&rc, &n); err != nil {
				return err
			}
			usages[rc] = n
		}
		if err := rows.Err(); err != nil {
			return err
		}
		setLastModified(w, c, time.Now())
		writeJSON(w, http.StatusOK, map[string]any{"usages": usages})
		return nil
	}
	ct := lastValue(q, "consumer_type")
	usages := map[string]map[string]int64{}
	switch ct {
	case "all", "unknown":
		if ct == "unknown" {
			where += ` AND c.consumer_type IS NULL`
		}
		var count int64
		if err := s.db.QueryRowContext(r.Context(), `SELECT COUNT(DISTINCT a.consumer_uuid)`+from+where, args...).Scan(&count); err != nil {
			return err
		}
		rows, err := s.db.QueryContext(r.Context(), `SELECT a.resource_class, SUM(a.used)`+from+where+` GROUP BY a.resource_class`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var rc string
			var n int64
			if err := rows.Scan(&rc, &n); err != nil {
				return err
			}
			if usages[ct] == nil {
				usages[ct] = map[string]int64{}
			}
			usages[ct][rc] = n
			usages[ct]["consumer_count"] = count
		}
		if err := rows.Err(); err != nil {
			return err
		}
	default:
		if ct != "" {
			where += ` AND c.consumer_type = ?`
			args = append(args, ct)
		}
		counts := map[string]int64{}
		rows, err := s.db.QueryContext(r.Context(), `SELECT COALESCE(c.consumer_type, 'unknown'), COUNT(DISTINCT a.consumer_uuid)`+
			from+where+` GROUP BY COALESCE(c.consumer_type, 'unknown')`, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var t string
			var n int64
			if err := rows.Scan(&t, &n); err != nil {
				rows.Close()
				return err
			}
			counts[t] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = s.db.QueryContext(r.Context(), `SELECT COALESCE(c.consumer_type, 'unknown'), a.resource_class, SUM(a.used)`+
			from+where+` GROUP BY COALESCE(c.consumer_type, 'unknown'), a.resource_class`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var t, rc string
			var n int64
			if err := rows.Scan(&t, &rc, &n); err != nil {
				return err
			}
			if usages[t] == nil {
				usages[t] = map[string]int64{}
			}
			usages[t][rc] = n
			usages[t]["consumer_count"] = counts[t]
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	setLastModified(w, c, time.Now())
	writeJSON(w, http.StatusOK, map[string]any{"usages": usages})
	return nil
}
