package volume

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// Quota rules (cinder/policies/quotas.py, quota_class.py, limits.py).
const (
	ruleQuotaShow        = "volume_extension:quotas:show"
	ruleQuotaUpdate      = "volume_extension:quotas:update"
	ruleQuotaDelete      = "volume_extension:quotas:delete"
	ruleQuotaClassGet    = "volume_extension:quota_classes:get"
	ruleQuotaClassUpdate = "volume_extension:quota_classes:update"
	ruleLimits           = "limits_extension:used_limits"
)

// quotaDefaults are Cinder's [DEFAULT] quota_* options; per-type resources
// (volumes_<type>, gigabytes_<type>, snapshots_<type>) default to -1.
var quotaDefaults = map[string]int64{
	"volumes":              10,
	"snapshots":            10,
	"gigabytes":            1000,
	"backups":              10,
	"backup_gigabytes":     1000,
	"per_volume_gigabytes": -1,
	"groups":               10,
}

// quotaRoutes are /os-quota-sets and /os-quota-class-sets.
func (s *Service) quotaRoutes() []route {
	return []route{
		{method: "GET", path: "/os-quota-sets/{target}", rule: ruleQuotaShow, handle: s.showQuotas},
		{method: "PUT", path: "/os-quota-sets/{target}", rule: ruleQuotaUpdate, handle: s.updateQuotas},
		{method: "DELETE", path: "/os-quota-sets/{target}", rule: ruleQuotaDelete, handle: s.deleteQuotas},
		{method: "GET", path: "/os-quota-sets/{target}/defaults", rule: ruleQuotaShow, handle: s.quotaDefaultsShow},
		{method: "GET", path: "/os-quota-class-sets/{class}", rule: ruleQuotaClassGet, handle: s.showQuotaClass},
		{method: "PUT", path: "/os-quota-class-sets/{class}", rule: ruleQuotaClassUpdate, handle: s.updateQuotaClass},
	}
}

// limitRoutes are /limits.
func (s *Service) limitRoutes() []route {
	return []route{{method: "GET", path: "/limits", rule: ruleLimits, handle: s.showLimits}}
}

// quotaResourceNames lists every quota resource: the fixed ones, then the per-type ones
// of every type, in Cinder's order.
func (s *Service) quotaResourceNames(ctx context.Context, q store.Querier) ([]string, error) {
	names := []string{"volumes", "per_volume_gigabytes", "snapshots", "gigabytes", "backups", "backup_gigabytes", "groups"}
	rows, err := q.QueryContext(ctx, `SELECT name FROM volume_types WHERE deleted = ? ORDER BY name`, false)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, "volumes_"+n, "gigabytes_"+n, "snapshots_"+n)
	}
	return names, rows.Err()
}

// quotaDefault is a resource's built-in default.
func quotaDefault(resource string) int64 {
	if v, ok := quotaDefaults[resource]; ok {
		return v
	}
	return -1
}

// classLimits reads the "default" quota class over the built-in defaults.
func (s *Service) classLimits(ctx context.Context, q store.Querier, class string, names []string) (map[string]int64, error) {
	out := map[string]int64{}
	for _, n := range names {
		out[n] = quotaDefault(n)
	}
	rows, err := q.QueryContext(ctx, `SELECT resource, hard_limit FROM volume_quota_classes WHERE class_name = ?`, class)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var r string
		var v int64
		if err := rows.Scan(&r, &v); err != nil {
			return nil, err
		}
		if _, ok := out[r]; ok {
			out[r] = v
		}
	}
	return out, rows.Err()
}

// projectLimits returns a project's limits: its own quotas over the default class.
func (s *Service) projectLimits(ctx context.Context, q store.Querier, project string) (map[string]int64, error) {
	names, err := s.quotaResourceNames(ctx, q)
	if err != nil {
		return nil, err
	}
	out, err := s.classLimits(ctx, q, "default", names)
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, `SELECT resource, hard_limit FROM volume_quotas WHERE project_id = ?`, project)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var r string
		var v int64
		if err := rows.Scan(&r, &v); err != nil {
			return nil, err
		}
		if _, ok := out[r]; ok {
			out[r] = v
		}
	}
	return out, rows.Err()
}

// projectUsage counts a project's usage from the live rows: volumes and their sizes,
// snapshots (whose sizes count against gigabytes too, as Cinder's default
// no_snapshot_gb_quota=False does), backups and their sizes, per type.
func (s *Service) projectUsage(ctx context.Context, q store.Querier, project string) (map[string]int64, error) {
	use := map[string]int64{}
	rows, err := q.QueryContext(ctx, `SELECT t.name, COUNT(*), COALESCE(SUM(v.size), 0) FROM volume_volumes v
		JOIN volume_types t ON t.id = v.type_id WHERE v.project_id = ? AND v.deleted = ? AND v.consumes_quota = ?
		GROUP BY t.name`, project, false, true)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var name string
		var n, gb int64
		if err := rows.Scan(&name, &n, &gb); err != nil {
			rows.Close()
			return nil, err
		}
		use["volumes"] += n
		use["gigabytes"] += gb
		use["volumes_"+name] += n
		use["gigabytes_"+name] += gb
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = q.QueryContext(ctx, `SELECT COALESCE(t.name, ''), COUNT(*), COALESCE(SUM(s.volume_size), 0)
		FROM volume_snapshots s LEFT JOIN volume_types t ON t.id = s.type_id
		WHERE s.project_id = ? AND s.deleted = ? AND s.consumes_quota = ? GROUP BY t.name`, project, false, true)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var name string
		var n, gb int64
		if err := rows.Scan(&name, &n, &gb); err != nil {
			rows.Close()
			return nil, err
		}
		use["snapshots"] += n
		use["gigabytes"] += gb
		if name != "" {
			use["snapshots_"+name] += n
			use["gigabytes_"+name] += gb
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var n, gb int64
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(size), 0) FROM volume_backups
		WHERE project_id = ? AND deleted = ?`, project, false).Scan(&n, &gb); err != nil {
		return nil, err
	}
	use["backups"], use["backup_gigabytes"] = n, gb
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_groups WHERE project_id = ? AND deleted = ?`,
		project, false).Scan(&n); err != nil {
		return nil, err
	}
	use["groups"] = n
	return use, nil
}

// lockQuota serializes the quota-taking transactions of a project: usage is counted
// from live rows, so two concurrent creates must not both see the old count. On
// PostgreSQL the row lock does it; SQLite's IMMEDIATE transactions already serialize.
func lockQuota(ctx context.Context, tx *store.Tx, project string) error {
	ts := store.FormatTime(now())
	if _, err := tx.ExecContext(ctx, `INSERT INTO volume_quota_locks (project_id, updated_at) VALUES (?, ?)
		ON CONFLICT (project_id) DO NOTHING`, project, ts); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE volume_quota_locks SET updated_at = ? WHERE project_id = ?`, ts, project)
	return err
}

// quotaDelta is what an operation takes.
type quotaDelta struct {
	volumes, gigabytes, snapshots, backups, backupGigabytes int64
	// typeName is the volume type the volumes, gigabytes and snapshots count against.
	typeName string
	// volumeSize is checked against per_volume_gigabytes (0: no check).
	volumeSize int64
	// typeOnly checks only the per-type quotas (a retype moves usage between types).
	typeOnly bool
}

// checkQuota locks the project's quota and refuses with Cinder's 413 what would go over
// a limit; it must run inside the transaction that inserts the rows it counts.
func (s *Service) checkQuota(ctx context.Context, tx *store.Tx, project string, d quotaDelta) error {
	if err := lockQuota(ctx, tx, project); err != nil {
		return err
	}
	limits, err := s.projectLimits(ctx, tx, project)
	if err != nil {
		return err
	}
	if pv := limits["per_volume_gigabytes"]; d.volumeSize > 0 && pv >= 0 && d.volumeSize > pv {
		return overLimit("Requested volume size %dG is larger than maximum allowed limit %dG.", d.volumeSize, pv)
	}
	use, err := s.projectUsage(ctx, tx, project)
	if err != nil {
		return err
	}
	over := func(res string, delta int64) (bool, int64, int64) {
		lim, ok := limits[res]
		if !ok || lim < 0 || delta <= 0 {
			return false, lim, use[res]
		}
		return use[res]+delta > lim, lim, use[res]
	}
	gbCheck := func(res string, delta int64) error {
		if o, lim, u := over(res, delta); o {
			return overLimit("Requested volume or snapshot exceeds allowed %s quota. Requested %dG, quota is %dG and %dG has been consumed.",
				res, delta, lim, u)
		}
		return nil
	}
	if !d.typeOnly {
		if err := gbCheck("gigabytes", d.gigabytes); err != nil {
			return err
		}
	}
	if d.typeName != "" {
		if err := gbCheck("gigabytes_"+d.typeName, d.gigabytes); err != nil {
			return err
		}
	}
	for _, res := range []string{"volumes", "volumes_" + d.typeName} {
		if res == "volumes_" || (d.typeOnly && res == "volumes") {
			continue
		}
		if o, lim, _ := over(res, d.volumes); o {
			return overLimit("Maximum number of volumes allowed (%d) exceeded for quota '%s'.", lim, res)
		}
	}
	for _, res := range []string{"snapshots", "snapshots_" + d.typeName} {
		if res == "snapshots_" || (d.typeOnly && res == "snapshots") {
			continue
		}
		if o, lim, _ := over(res, d.snapshots); o {
			return overLimit("Maximum number of snapshots allowed (%d) exceeded", lim)
		}
	}
	if o, lim, _ := over("backups", d.backups); o {
		return overLimit("Maximum number of backups allowed (%d) exceeded", lim)
	}
	if o, lim, u := over("backup_gigabytes", d.backupGigabytes); o {
		return overLimit("Requested backup exceeds allowed Backup gigabytes quota. Requested %dG, quota is %dG and %dG has been consumed.",
			d.backupGigabytes, lim, u)
	}
	return nil
}

// quotaTarget is the policy target of a quota request for project.
func quotaTarget(project string) policy.Target { return policy.Target{"project_id": project} }

// showQuotas is GET /os-quota-sets/{project}[?usage=true].
func (s *Service) showQuotas(w http.ResponseWriter, r *http.Request, c *call) error {
	project := r.PathValue("target")
	if err := s.authorize(c, c.rule, quotaTarget(project)); err != nil {
		return err
	}
	ctx := r.Context()
	limits, err := s.projectLimits(ctx, s.db, project)
	if err != nil {
		return err
	}
	out := map[string]any{"id": project}
	usage := false
	if r.URL.Query().Has("usage") {
		b, ok := boolValue(r.URL.Query().Get("usage"))
		if !ok {
			return invalidInput("Invalid value '%s' for usage", r.URL.Query().Get("usage"))
		}
		usage = b
	}
	if usage {
		use, err := s.projectUsage(ctx, s.db, project)
		if err != nil {
			return err
		}
		for k, v := range limits {
			out[k] = map[string]any{"limit": v, "in_use": use[k], "reserved": 0, "allocated": 0}
		}
	} else {
		for k, v := range limits {
			out[k] = v
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"quota_set": out})
	return nil
}

// quotaDefaultsShow is GET /os-quota-sets/{project}/defaults.
func (s *Service) quotaDefaultsShow(w http.ResponseWriter, r *http.Request, c *call) error {
	project := r.PathValue("target")
	if err := s.authorize(c, c.rule, quotaTarget(project)); err != nil {
		return err
	}
	ctx := r.Context()
	names, err := s.quotaResourceNames(ctx, s.db)
	if err != nil {
		return err
	}
	limits, err := s.classLimits(ctx, s.db, "default", names)
	if err != nil {
		return err
	}
	out := map[string]any{"id": project}
	for k, v := range limits {
		out[k] = v
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"quota_set": out})
	return nil
}

// quotaValues validates a quota_set body: known resources, integers from -1 to
// 2147483647 (Cinder's quota schema), "id" ignored.
func (s *Service) quotaValues(ctx context.Context, body api.Object, what string) (map[string]int64, error) {
	names, err := s.quotaResourceNames(ctx, s.db)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, n := range names {
		known[n] = true
	}
	var bad []string
	out := map[string]int64{}
	for k, v := range body {
		if k == "id" || k == "tenant_id" {
			continue
		}
		if !known[k] {
			bad = append(bad, k)
			continue
		}
		var n int64
		switch x := v.(type) {
		case json.Number:
			i, err := x.Int64()
			if err != nil {
				return nil, schemaError(k, v, fmt.Sprintf("%s is not of type 'integer', 'string'", showValue(v)))
			}
			n = i
		case string:
			var i int64
			if _, err := fmt.Sscanf(x, "%d", &i); err != nil || fmt.Sprint(i) != strings.TrimSpace(x) {
				return nil, schemaError(k, v, fmt.Sprintf("'%s' does not match '^-?[0-9]+$'", x))
			}
			n = i
		default:
			return nil, schemaError(k, v, fmt.Sprintf("%s is not of type 'integer', 'string'", showValue(v)))
		}
		if n < -1 {
			return nil, schemaError(k, v, fmt.Sprintf("%d is less than the minimum of -1", n))
		}
		if n > math.MaxInt32 {
			return nil, schemaError(k, v, fmt.Sprintf("%d is greater than the maximum of %d", n, math.MaxInt32))
		}
		out[k] = n
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return nil, invalidInput("Bad key(s) in %s: %s", what, strings.Join(bad, ", "))
	}
	return out, nil
}

// updateQuotas is PUT /os-quota-sets/{project}: a limit below current usage is a 400.
func (s *Service) updateQuotas(w http.ResponseWriter, r *http.Request, c *call) error {
	project := r.PathValue("target")
	if err := s.authorize(c, c.rule, quotaTarget(project)); err != nil {
		return err
	}
	if len(project) > 255 {
		return invalidInput("quota_set_name has more than 255 characters.")
	}
	body, err := api.DecodeObject(r, "quota_set")
	if err != nil {
		return err
	}
	ctx := r.Context()
	values, err := s.quotaValues(ctx, body, "quota set")
	if err != nil {
		return err
	}
	var limits map[string]int64
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := lockQuota(ctx, tx, project); err != nil {
			return err
		}
		use, err := s.projectUsage(ctx, tx, project)
		if err != nil {
			return err
		}
		keys := make([]string, 0, len(values))
		for k := range values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := values[k]
			if k != "per_volume_gigabytes" && v != -1 && v < use[k] {
				return badRequest("Quota %s limit must be equal or greater than existing resources. Current usage is %d and the requested limit is %d.",
					k, use[k], v)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO volume_quotas (project_id, resource, hard_limit) VALUES (?, ?, ?)
				ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit`, project, k, v); err != nil {
				return err
			}
		}
		limits, err = s.projectLimits(ctx, tx, project)
		return err
	})
	if err != nil {
		return err
	}
	out := map[string]any{}
	for k, v := range limits {
		out[k] = v
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"quota_set": out})
	return nil
}

// deleteQuotas is DELETE /os-quota-sets/{project}: back to the defaults (200, no body).
func (s *Service) deleteQuotas(w http.ResponseWriter, r *http.Request, c *call) error {
	project := r.PathValue("target")
	if err := s.authorize(c, c.rule, quotaTarget(project)); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(r.Context(), `DELETE FROM volume_quotas WHERE project_id = ?`, project); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// showQuotaClass is GET /os-quota-class-sets/{class}.
func (s *Service) showQuotaClass(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	ctx := r.Context()
	class := r.PathValue("class")
	names, err := s.quotaResourceNames(ctx, s.db)
	if err != nil {
		return err
	}
	limits, err := s.classLimits(ctx, s.db, class, names)
	if err != nil {
		return err
	}
	out := map[string]any{"id": class}
	for k, v := range limits {
		out[k] = v
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"quota_class_set": out})
	return nil
}

// updateQuotaClass is PUT /os-quota-class-sets/{class}.
func (s *Service) updateQuotaClass(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	body, err := api.DecodeObject(r, "quota_class_set")
	if err != nil {
		return err
	}
	ctx := r.Context()
	class := r.PathValue("class")
	if class == "" || len(class) > 255 {
		return invalidInput("quota_class_name must be 1 to 255 characters.")
	}
	values, err := s.quotaValues(ctx, body, "quota class set")
	if err != nil {
		return err
	}
	var limits map[string]int64
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		for k, v := range values {
			if _, err := tx.ExecContext(ctx, `INSERT INTO volume_quota_classes (class_name, resource, hard_limit)
				VALUES (?, ?, ?) ON CONFLICT (class_name, resource) DO UPDATE SET hard_limit = excluded.hard_limit`,
				class, k, v); err != nil {
				return err
			}
		}
		names, err := s.quotaResourceNames(ctx, tx)
		if err != nil {
			return err
		}
		limits, err = s.classLimits(ctx, tx, class, names)
		return err
	})
	if err != nil {
		return err
	}
	out := map[string]any{}
	for k, v := range limits {
		out[k] = v
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"quota_class_set": out})
	return nil
}

// showLimits is GET /limits: absolute limits and usage of the caller's project (an
// admin may name another with ?project_id from 3.39).
func (s *Service) showLimits(w http.ResponseWriter, r *http.Request, c *call) error {
	project := c.caller.ProjectID
	if p := r.URL.Query().Get("project_id"); p != "" && c.at(39) && s.isAdmin(c) {
		project = p
	}
	if err := s.authorize(c, c.rule, quotaTarget(project)); err != nil {
		return err
	}
	ctx := r.Context()
	limits, err := s.projectLimits(ctx, s.db, project)
	if err != nil {
		return err
	}
	use, err := s.projectUsage(ctx, s.db, project)
	if err != nil {
		return err
	}
	abs := map[string]any{
		"maxTotalVolumes":          limits["volumes"],
		"maxTotalSnapshots":        limits["snapshots"],
		"maxTotalVolumeGigabytes":  limits["gigabytes"],
		"maxTotalBackups":          limits["backups"],
		"maxTotalBackupGigabytes":  limits["backup_gigabytes"],
		"totalVolumesUsed":         use["volumes"],
		"totalGigabytesUsed":       use["gigabytes"],
		"totalSnapshotsUsed":       use["snapshots"],
		"totalBackupsUsed":         use["backups"],
		"totalBackupGigabytesUsed": use["backup_gigabytes"],
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"limits": map[string]any{"rate": []any{}, "absolute": abs}})
	return nil
}
