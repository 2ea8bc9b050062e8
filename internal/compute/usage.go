package compute

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
)

// os-simple-tenant-usage: per-project server hours and the vCPU, memory and disk hours
// they add up to over a period, computed from the instances' launch and termination
// times and the flavors they run (Nova's SimpleTenantUsageController).

// usageQuery is the usage APIs' query schema at the call's version (index adds
// "detailed").
func usageQuery(c *call, index bool) querySchema {
	p := map[string]queryParam{"start": {kind: qString}, "end": {kind: qString}}
	if index {
		p["detailed"] = queryParam{kind: qString}
	}
	if c.at(40) {
		p["limit"] = queryParam{kind: qNonNegInt}
		p["marker"] = queryParam{kind: qString}
	}
	return querySchema{params: p, strict: c.at(75)}
}

// usageTimePattern matches the three formats Nova's _parse_datetime accepts
// ("%Y-%m-%dT%H:%M:%S", the same with ".%f", and "%Y-%m-%d %H:%M:%S.%f"); like
// strptime it takes one or two digits for the month, day and time fields.
var usageTimePattern = regexp.MustCompile(`^(\d{4})-(\d{1,2})-(\d{1,2})(?:T(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,6}))?| (\d{1,2}):(\d{1,2}):(\d{1,2})\.(\d{1,6}))$`)

// parseUsageTime reads a start or end parameter; "" is now.
func parseUsageTime(s string) (time.Time, error) {
	if s == "" {
		return now(), nil
	}
	m := usageTimePattern.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, badRequest("Invalid datetime string: Datetime is in invalid format")
	}
	f := m[4:8]
	if m[4] == "" {
		f = m[8:12]
	}
	atoi := func(x string) int { n, _ := strconv.Atoi(x); return n }
	year, month, day := atoi(m[1]), atoi(m[2]), atoi(m[3])
	hour, minute, sec := atoi(f[0]), atoi(f[1]), atoi(f[2])
	nsec := 0
	if f[3] != "" {
		nsec = atoi((f[3] + "000000")[:6]) * 1000
	}
	if year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || sec > 61 {
		return time.Time{}, badRequest("Invalid datetime string: Datetime is in invalid format")
	}
	if sec > 59 {
		// strptime accepts leap seconds in the pattern, datetime() then refuses them.
		return time.Time{}, badRequest("Invalid datetime string: Datetime is in invalid format")
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), nil
}

// usagePeriod reads start, end and detailed as Nova's _parse_qs_params: the first value
// of each; the end is capped at now.
func usagePeriod(q url.Values) (start, stop time.Time, detailed bool, err error) {
	first := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if start, err = parseUsageTime(first("start")); err != nil {
		return
	}
	if stop, err = parseUsageTime(first("end")); err != nil {
		return
	}
	if !start.Before(stop) {
		err = badRequest("Invalid start time. The start time cannot occur after the end time.")
		return
	}
	detailed = first("detailed") == "1"
	if t := now(); stop.After(t) {
		stop = t
	}
	return
}

// usageInstanceRow is what usage needs of an instance.
type usageInstanceRow struct {
	uuid, projectID, name, vmState string
	flavor                         FlavorSnapshot
	launched                       time.Time
	ended                          *time.Time
}

// usageInstances reads the instances (deleted ones included) that ran during the period,
// in (project, uuid) order after the marker instance, at most limit of them.
func usageInstances(ctx context.Context, q querier, start, stop time.Time, project string, limit int, marker string, hasMarker bool) ([]usageInstanceRow, error) {
	query := `SELECT uuid, project_id, name, vm_state, flavor, launched_at, terminated_at, deleted, deleted_at
		FROM compute_instances WHERE launched_at IS NOT NULL AND launched_at <> '' AND launched_at < ?
		AND (terminated_at IS NULL OR terminated_at = '' OR terminated_at > ?)`
	args := []any{fmtStoreTime(stop), fmtStoreTime(start)}
	if project != "" {
		query += ` AND project_id = ?`
		args = append(args, project)
	}
	if hasMarker {
		var mProject string
		err := q.QueryRowContext(ctx, `SELECT project_id FROM compute_instances WHERE uuid = ?`, marker).Scan(&mProject)
		if err == sql.ErrNoRows {
			return nil, badRequest("Marker %s could not be found.", marker)
		}
		if err != nil {
			return nil, err
		}
		query += ` AND (project_id > ? OR (project_id = ? AND uuid > ?))`
		args = append(args, mProject, mProject, marker)
	}
	query += ` ORDER BY project_id, uuid LIMIT ?`
	args = append(args, limit)
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []usageInstanceRow
	for rows.Next() {
		var (
			r                     usageInstanceRow
			flavor                string
			launched              string
			terminated, deletedAt sql.NullString
			deleted               bool
		)
		if err := rows.Scan(&r.uuid, &r.projectID, &r.name, &r.vmState, &flavor, &launched, &terminated, &deleted, &deletedAt); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(flavor), &r.flavor); err != nil {
			return nil, fmt.Errorf("instance %s flavor: %w", r.uuid, err)
		}
		r.launched = optTime(sql.NullString{String: launched, Valid: true}).UTC()
		r.ended = optTime(terminated)
		if r.ended == nil && deleted {
			// A deleted instance stopped counting when it was deleted.
			r.ended = optTime(deletedAt)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// fmtStoreTime is a time as stored, for comparisons in SQL.
func fmtStoreTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// hoursIn is Nova's _hours_for: the hours an instance ran within the period.
func hoursIn(r usageInstanceRow, start, stop time.Time) float64 {
	if r.ended != nil && r.ended.Before(start) {
		return 0
	}
	if r.launched.After(stop) {
		return 0
	}
	from := r.launched
	if start.After(from) {
		from = start
	}
	to := stop
	if r.ended != nil && r.ended.Before(stop) {
		to = *r.ended
	}
	return to.Sub(from).Seconds() / 3600
}

// tenantUsages computes the summaries (in project order) and the server usages.
func tenantUsages(rows []usageInstanceRow, start, stop time.Time, detailed bool) ([]map[string]any, []map[string]any) {
	var (
		order   []string
		byProj  = map[string]map[string]any{}
		servers []map[string]any
		t       = now()
	)
	for _, r := range rows {
		hours := hoursIn(r, start, stop)
		info := map[string]any{
			"hours":       hours,
			"flavor":      r.flavor.Name,
			"instance_id": r.uuid,
			"name":        r.name,
			"tenant_id":   r.projectID,
			"memory_mb":   r.flavor.MemoryMB,
			"local_gb":    r.flavor.RootGB + r.flavor.EphemeralGB,
			"vcpus":       r.flavor.VCPUs,
			"started_at":  adminTimestamp(r.launched),
			"ended_at":    adminOptTimestamp(r.ended),
		}
		var up time.Duration
		if r.ended != nil {
			info["state"] = "terminated"
			up = r.ended.Sub(r.launched)
		} else {
			info["state"] = r.vmState
			up = t.Sub(r.launched)
		}
		info["uptime"] = max(int64(up.Seconds()), 0)
		sum, ok := byProj[r.projectID]
		if !ok {
			sum = map[string]any{
				"tenant_id":             r.projectID,
				"total_local_gb_usage":  0.0,
				"total_vcpus_usage":     0.0,
				"total_memory_mb_usage": 0.0,
				"total_hours":           0.0,
				"start":                 adminTimestamp(start),
				"stop":                  adminTimestamp(stop),
			}
			if detailed {
				sum["server_usages"] = []map[string]any{}
			}
			byProj[r.projectID] = sum
			order = append(order, r.projectID)
		}
		sum["total_local_gb_usage"] = sum["total_local_gb_usage"].(float64) + float64(r.flavor.RootGB+r.flavor.EphemeralGB)*hours
		sum["total_vcpus_usage"] = sum["total_vcpus_usage"].(float64) + float64(r.flavor.VCPUs)*hours
		sum["total_memory_mb_usage"] = sum["total_memory_mb_usage"].(float64) + float64(r.flavor.MemoryMB)*hours
		sum["total_hours"] = sum["total_hours"].(float64) + hours
		servers = append(servers, info)
		if detailed {
			sum["server_usages"] = append(sum["server_usages"].([]map[string]any), info)
		}
	}
	out := make([]map[string]any, 0, len(order))
	for _, p := range order {
		out = append(out, byProj[p])
	}
	return out, servers
}

// usagePage reads the paging parameters: from 2.40 limit and marker, before it the
// whole period up to [api] max_limit instances.
func (s *Service) usagePage(c *call, q url.Values) (limit int, marker string, hasMarker bool, err error) {
	if !c.at(40) {
		return s.cfg.ListLimitMax, "", false, nil
	}
	return s.limitAndMarker(q)
}

// listTenantUsage is GET /os-simple-tenant-usage: every project's usage.
func (s *Service) listTenantUsage(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	if err := usageQuery(c, true).validate(q); err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	start, stop, detailed, err := usagePeriod(q)
	if err != nil {
		return err
	}
	limit, marker, hasMarker, err := s.usagePage(c, q)
	if err != nil {
		return err
	}
	rows, err := usageInstances(r.Context(), s.db, start, stop, "", limit, marker, hasMarker)
	if err != nil {
		return err
	}
	usages, servers := tenantUsages(rows, start, stop, detailed)
	body := map[string]any{"tenant_usages": usages}
	if c.at(40) && len(servers) > 0 {
		if l := s.collectionNext(r, len(servers), servers[len(servers)-1]["instance_id"].(string)); l != nil {
			body["tenant_usages_links"] = l
		}
	}
	api.WriteJSON(w, http.StatusOK, body)
	return nil
}

// showTenantUsage is GET /os-simple-tenant-usage/{tenant_id}: one project's usage, with
// every server (an empty object when nothing ran).
func (s *Service) showTenantUsage(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	if err := usageQuery(c, false).validate(q); err != nil {
		return err
	}
	tenant := r.PathValue("tenant_id")
	if err := s.authorize(c, c.rule, policy.Target{"project_id": tenant}); err != nil {
		return err
	}
	start, stop, _, err := usagePeriod(q)
	if err != nil {
		return err
	}
	limit, marker, hasMarker, err := s.usagePage(c, q)
	if err != nil {
		return err
	}
	rows, err := usageInstances(r.Context(), s.db, start, stop, tenant, limit, marker, hasMarker)
	if err != nil {
		return err
	}
	usages, servers := tenantUsages(rows, start, stop, true)
	var usage any = map[string]any{}
	if len(usages) > 0 {
		usage = usages[0]
	}
	body := map[string]any{"tenant_usage": usage}
	if c.at(40) && len(servers) > 0 {
		if l := s.collectionNext(r, len(servers), servers[len(servers)-1]["instance_id"].(string)); l != nil {
			body["tenant_usage_links"] = l
		}
	}
	api.WriteJSON(w, http.StatusOK, body)
	return nil
}
