package compute

import (
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
)

// os-instance_usage_audit_log reports Nova's periodic instance usage audit per compute
// host. gostack does not run that audit (Nova's instance_usage_audit defaults to off
// too), so every compute host shows as not run for the period, as Nova shows hosts that
// have not reported.

// auditQuery is the audit log query schema: anything goes before 2.102.
var auditQuery = querySchema{params: map[string]queryParam{}}

// auditTimestampPattern is strptime's "%Y-%m-%d %H:%M:%S" with an optional ".%f".
var auditTimestampPattern = regexp.MustCompile(`^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,6}))?$`)

// parseAuditTimestamp reads the {before_timestamp} path segment.
func parseAuditTimestamp(s string) (time.Time, bool) {
	m := auditTimestampPattern.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	n := make([]int, 7)
	for i := 1; i <= 6; i++ {
		n[i], _ = strconv.Atoi(m[i])
	}
	usec := 0
	if m[7] != "" {
		usec, _ = strconv.Atoi((m[7] + "000000")[:6])
	}
	if n[1] < 1 || n[2] < 1 || n[2] > 12 || n[3] < 1 || n[3] > daysIn(n[1], n[2]) || n[4] > 23 || n[5] > 59 || n[6] > 59 {
		return time.Time{}, false
	}
	return time.Date(n[1], time.Month(n[2]), n[3], n[4], n[5], n[6], usec*1000, time.UTC), true
}

// lastAuditPeriod is Nova's utils.last_completed_audit_period for the default monthly
// period: the last whole month that ended before t.
func lastAuditPeriod(t time.Time) (begin, end time.Time) {
	end = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	if !end.Before(t) {
		end = end.AddDate(0, -1, 0)
	}
	return end.AddDate(0, -1, 0), end
}

// auditReport is the audit log of the period that ended last before t.
func (s *Service) auditReport(r *http.Request, t time.Time) (map[string]any, error) {
	svcs, err := listServiceRecords(r.Context(), s.db)
	if err != nil {
		return nil, err
	}
	hosts := []string{}
	for _, sv := range svcs {
		if sv.Topic == "compute" && !slices.Contains(hosts, sv.Host) {
			hosts = append(hosts, sv.Host)
		}
	}
	slices.Sort(hosts)
	begin, end := lastAuditPeriod(t)
	status := "0 of " + strconv.Itoa(len(hosts)) + " hosts done. 0 errors."
	if len(hosts) == 0 {
		status = "ALL hosts done. 0 errors."
	}
	return map[string]any{
		"period_beginning":  begin.Format("2006-01-02 15:04:05"),
		"period_ending":     end.Format("2006-01-02 15:04:05"),
		"num_hosts":         len(hosts),
		"num_hosts_done":    0,
		"num_hosts_running": 0,
		"num_hosts_not_run": len(hosts),
		"hosts_not_run":     hosts,
		"total_instances":   0,
		"total_errors":      0,
		"overall_status":    status,
		"log":               map[string]any{},
	}, nil
}

// listUsageAudit is GET /os-instance_usage_audit_log.
func (s *Service) listUsageAudit(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := auditQuery.validate(r.URL.Query()); err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	report, err := s.auditReport(r, now())
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"instance_usage_audit_logs": report})
	return nil
}

// showUsageAudit is GET /os-instance_usage_audit_log/{before_timestamp}.
func (s *Service) showUsageAudit(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := auditQuery.validate(r.URL.Query()); err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	id := r.PathValue("before_timestamp")
	before, ok := parseAuditTimestamp(id)
	if !ok {
		return badRequest("Invalid timestamp for date %s", id)
	}
	report, err := s.auditReport(r, before)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"instance_usage_audit_log": report})
	return nil
}
