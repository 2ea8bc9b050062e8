package compute

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The admin and host APIs: os-services, os-hypervisors, os-aggregates,
// os-availability-zone, os-simple-tenant-usage, os-migrations (and the server migrations
// list), os-instance_usage_audit_log and the deprecated os-hosts. Each lives in its own
// file; this one holds their route table, their policies and the query-string and body
// validation they share.

// adminRoutes is the route table of the admin and host APIs.
func (s *Service) adminRoutes() []route {
	const (
		svcRule = "os_compute_api:os-services:"
		hypRule = "os_compute_api:os-hypervisors:"
		aggRule = "os_compute_api:os-aggregates:"
		azRule  = "os_compute_api:os-availability-zone:"
		stuRule = "os_compute_api:os-simple-tenant-usage:"
		migRule = "os_compute_api:os-migrations:"
		smRule  = "os_compute_api:servers:migrations:"
		hstRule = "os_compute_api:os-hosts:"
		iuaRule = "os_compute_api:os-instance-usage-audit-log:"
	)
	return []route{
		{method: "GET", path: "/v2.1/os-services", rule: svcRule + "list", handle: s.listServices},
		// Before 2.53 the id is an action (enable, disable, disable-log-reason,
		// force-down); from 2.53 it is the service uuid.
		{method: "PUT", path: "/v2.1/os-services/{id}", rule: svcRule + "update", handle: s.updateService},
		{method: "DELETE", path: "/v2.1/os-services/{id}", rule: svcRule + "delete", handle: s.deleteService},

		{method: "GET", path: "/v2.1/os-hypervisors", rule: hypRule + "list", handle: s.listHypervisors},
		{method: "GET", path: "/v2.1/os-hypervisors/detail", rule: hypRule + "list-detail", handle: s.listHypervisorsDetail},
		{method: "GET", path: "/v2.1/os-hypervisors/statistics", rule: hypRule + "statistics", maxVer: v(87), handle: s.hypervisorStatistics},
		{method: "GET", path: "/v2.1/os-hypervisors/{id}", rule: hypRule + "show", handle: s.showHypervisor},
		{method: "GET", path: "/v2.1/os-hypervisors/{id}/uptime", rule: hypRule + "uptime", maxVer: v(87), handle: s.hypervisorUptime},
		{method: "GET", path: "/v2.1/os-hypervisors/{id}/search", rule: hypRule + "search", maxVer: v(52), handle: s.searchHypervisors},
		{method: "GET", path: "/v2.1/os-hypervisors/{id}/servers", rule: hypRule + "servers", maxVer: v(52), handle: s.hypervisorServers},

		{method: "GET", path: "/v2.1/os-aggregates", rule: aggRule + "index", handle: s.listAggregates},
		{method: "POST", path: "/v2.1/os-aggregates", rule: aggRule + "create", handle: s.createAggregate},
		{method: "GET", path: "/v2.1/os-aggregates/{id}", rule: aggRule + "show", handle: s.showAggregate},
		{method: "PUT", path: "/v2.1/os-aggregates/{id}", rule: aggRule + "update", handle: s.updateAggregate},
		{method: "DELETE", path: "/v2.1/os-aggregates/{id}", rule: aggRule + "delete", handle: s.deleteAggregate},
		// The action's own rule (add_host, remove_host, set_metadata) is chosen by the
		// handler from the body; the table names the prefix they share.
		{method: "POST", path: "/v2.1/os-aggregates/{id}/action", rule: aggRule, handle: s.aggregateAction},
		{method: "POST", path: "/v2.1/os-aggregates/{id}/images", rule: "compute:aggregates:images", minVer: v(81), handle: s.aggregateImages},

		{method: "GET", path: "/v2.1/os-availability-zone", rule: azRule + "list", handle: s.listAvailabilityZones},
		{method: "GET", path: "/v2.1/os-availability-zone/detail", rule: azRule + "detail", handle: s.detailAvailabilityZones},

		{method: "GET", path: "/v2.1/os-simple-tenant-usage", rule: stuRule + "list", handle: s.listTenantUsage},
		{method: "GET", path: "/v2.1/os-simple-tenant-usage/{tenant_id}", rule: stuRule + "show", handle: s.showTenantUsage},

		{method: "GET", path: "/v2.1/os-migrations", rule: migRule + "index", handle: s.listMigrations},
		{method: "GET", path: "/v2.1/servers/{server_id}/migrations", rule: smRule + "index", minVer: v(23), handle: s.listServerMigrations},
		{method: "GET", path: "/v2.1/servers/{server_id}/migrations/{migration_id}", rule: smRule + "show", minVer: v(23), handle: s.showServerMigration},

		{method: "GET", path: "/v2.1/os-hosts", rule: hstRule + "list", maxVer: v(42), handle: s.listHosts},
		{method: "GET", path: "/v2.1/os-hosts/{host_name}", rule: hstRule + "show", maxVer: v(42), handle: s.showHost},
		{method: "PUT", path: "/v2.1/os-hosts/{host_name}", rule: hstRule + "update", maxVer: v(42), handle: s.updateHost},
		{method: "GET", path: "/v2.1/os-hosts/{host_name}/reboot", rule: hstRule + "reboot", maxVer: v(42), handle: s.hostPowerAction},
		{method: "GET", path: "/v2.1/os-hosts/{host_name}/shutdown", rule: hstRule + "shutdown", maxVer: v(42), handle: s.hostPowerAction},
		{method: "GET", path: "/v2.1/os-hosts/{host_name}/startup", rule: hstRule + "start", maxVer: v(42), handle: s.hostPowerAction},

		{method: "GET", path: "/v2.1/os-instance_usage_audit_log", rule: iuaRule + "list", handle: s.listUsageAudit},
		{method: "GET", path: "/v2.1/os-instance_usage_audit_log/{before_timestamp}", rule: iuaRule + "show", handle: s.showUsageAudit},
	}
}

// adminPolicies are Nova's defaults for the admin and host APIs (nova/policies/
// services.py, hypervisors.py, aggregates.py, availability_zone.py,
// simple_tenant_usage.py, migrations.py, servers_migrations.py, hosts.py,
// instance_usage_audit_log.py).
func adminPolicies() map[string]string {
	p := map[string]string{
		"os_compute_api:os-availability-zone:list":         ruleAny,
		"os_compute_api:os-availability-zone:detail":       ruleAdmin,
		"os_compute_api:os-simple-tenant-usage:show":       ruleReaderOrAdmin,
		"os_compute_api:os-simple-tenant-usage:list":       ruleAdmin,
		"os_compute_api:os-migrations:index":               ruleManagerOrAdmin,
		"os_compute_api:os-migrations:index:all_projects":  ruleAdmin,
		"os_compute_api:os-migrations:index:host":          ruleAdmin,
		"os_compute_api:servers:migrations:show":           ruleAdmin,
		"os_compute_api:servers:migrations:force_complete": ruleManagerOrAdmin,
		"os_compute_api:servers:migrations:delete":         ruleManagerOrAdmin,
		"os_compute_api:servers:migrations:index":          ruleManagerOrAdmin,
		"os_compute_api:servers:migrations:index:host":     ruleAdmin,
		"compute:aggregates:images":                        ruleAdmin,
	}
	for _, name := range []string{"list", "update", "delete"} {
		p["os_compute_api:os-services:"+name] = ruleAdmin
	}
	for _, name := range []string{"list", "list-detail", "statistics", "show", "uptime", "search", "servers"} {
		p["os_compute_api:os-hypervisors:"+name] = ruleAdmin
	}
	for _, name := range []string{"set_metadata", "add_host", "create", "remove_host", "update", "index", "delete", "show"} {
		p["os_compute_api:os-aggregates:"+name] = ruleAdmin
	}
	for _, name := range []string{"list", "show", "update", "reboot", "shutdown", "start"} {
		p["os_compute_api:os-hosts:"+name] = ruleAdmin
	}
	for _, name := range []string{"list", "show"} {
		p["os_compute_api:os-instance-usage-audit-log:"+name] = ruleAdmin
	}
	return p
}

// adminTimestamp renders a time as Nova's JSON encoder renders a naive datetime
// ("2012-10-29T13:42:02.000000"), which is what the admin APIs show.
func adminTimestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000")
}

// adminOptTimestamp is adminTimestamp for a nullable time (JSON null when nil or zero).
func adminOptTimestamp(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return adminTimestamp(*t)
}

// queryKind is the JSON-schema type Nova gives a query parameter.
type queryKind int

const (
	// qString is any string (common_query_param and {'type': 'string'}).
	qString queryKind = iota
	// qNonNegInt is parameter_types.non_negative_integer.
	qNonNegInt
	// qBool is parameter_types.boolean.
	qBool
	// qDateTime is {'type': 'string', 'format': 'date-time'}.
	qDateTime
	// qFQDN is parameter_types.fqdn.
	qFQDN
)

// queryParam is one parameter of a query schema. single is Nova's single_param (at
// most one value).
type queryParam struct {
	kind   queryKind
	single bool
}

// querySchema is a Nova query-parameter schema. strict is additionalProperties False
// (2.75 and later for most APIs): unknown parameters are refused rather than ignored.
type querySchema struct {
	params map[string]queryParam
	strict bool
}

// fqdnPattern is parameter_types.fqdn's pattern.
var fqdnPattern = regexp.MustCompile(`^[a-zA-Z0-9-._]*$`)

// digitsPattern is non_negative_integer's pattern.
var digitsPattern = regexp.MustCompile(`^[0-9]*$`)

// novaBooleans are the strings parameter_types.boolean accepts.
var novaBooleans = map[string]bool{
	"True": true, "TRUE": true, "true": true, "1": true, "ON": true, "On": true, "on": true,
	"YES": true, "Yes": true, "yes": true,
	"False": false, "FALSE": false, "false": false, "0": false, "OFF": false, "Off": false,
	"off": false, "NO": false, "No": false, "no": false,
}

// pyList renders values as Python prints a list of strings, for error messages.
func pyList(vals []string) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = pyRepr(v)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// pyRepr renders a string as Python's repr does (close enough for messages).
func pyRepr(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
}

// validate checks q against the schema as Nova's query_schema decorator does and
// answers Nova's 400 for the first violation.
func (qs querySchema) validate(q url.Values) error {
	var unknown []string
	for k, vals := range q {
		if !utf8.ValidString(k) {
			return badRequest("Query string is not UTF-8 encoded")
		}
		for _, v := range vals {
			if !utf8.ValidString(v) {
				return badRequest("Query string is not UTF-8 encoded")
			}
		}
		if _, ok := qs.params[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if qs.strict && len(unknown) > 0 {
		slices.Sort(unknown)
		quoted := make([]string, len(unknown))
		for i, k := range unknown {
			quoted[i] = pyRepr(k)
		}
		verb := "was"
		if len(unknown) > 1 {
			verb = "were"
		}
		return badRequest("Additional properties are not allowed (%s %s unexpected)", strings.Join(quoted, ", "), verb)
	}
	names := make([]string, 0, len(qs.params))
	for k := range qs.params {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, name := range names {
		p := qs.params[name]
		vals, ok := q[name]
		if !ok {
			continue
		}
		if p.single && len(vals) > 1 {
			return badRequest("Invalid input for query parameters %s. Value: %s. %s is too long", name, pyList(vals), pyList(vals))
		}
		for _, v := range vals {
			if msg := checkQueryValue(p.kind, v); msg != "" {
				return badRequest("Invalid input for query parameters %s. Value: %s. %s", name, v, msg)
			}
		}
	}
	return nil
}

// checkQueryValue returns jsonschema's complaint about v, or "".
func checkQueryValue(kind queryKind, v string) string {
	switch kind {
	case qNonNegInt:
		if v == "" {
			return "'' is too short"
		}
		if !digitsPattern.MatchString(v) {
			return fmt.Sprintf("%s does not match '^[0-9]*$'", pyRepr(v))
		}
	case qBool:
		if _, ok := novaBooleans[v]; !ok {
			return fmt.Sprintf("%s is not one of [True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', False, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no']", pyRepr(v))
		}
	case qDateTime:
		if _, err := parseISOTime(v); err != nil {
			return fmt.Sprintf("%s is not a 'date-time'", pyRepr(v))
		}
	case qFQDN:
		switch {
		case v == "":
			return "'' is too short"
		case utf8.RuneCountInString(v) > 255:
			return fmt.Sprintf("%s is too long", pyRepr(v))
		case !fqdnPattern.MatchString(v):
			return fmt.Sprintf("%s does not match '^[a-zA-Z0-9-._]*$'", pyRepr(v))
		}
	}
	return ""
}

// queryBool reads a parameter already validated as qBool (false when absent). Like
// webob, the last value wins.
func queryBool(q url.Values, name string) bool {
	vals := q[name]
	if len(vals) == 0 {
		return false
	}
	return novaBooleans[vals[len(vals)-1]]
}

// queryLast returns the last value of a parameter, as webob's req.GET[name] does, and
// whether it is present.
func queryLast(q url.Values, name string) (string, bool) {
	vals := q[name]
	if len(vals) == 0 {
		return "", false
	}
	return vals[len(vals)-1], true
}

// limitAndMarker is Nova's common.get_limit_and_marker: limit is capped at
// [api] max_limit and defaults to it; limitGiven tells whether the request had one.
func (s *Service) limitAndMarker(q url.Values) (limit int, marker string, hasMarker bool, err error) {
	limit = s.cfg.ListLimitMax
	if v, ok := queryLast(q, "limit"); ok {
		n, perr := strconv.Atoi(v)
		if perr != nil && digitsPattern.MatchString(v) && v != "" {
			// Python's int has no range; a huge limit is just more than max_limit.
			n, perr = limit, nil
		}
		if perr != nil {
			return 0, "", false, badRequest("limit param must be an integer")
		}
		if n < 0 {
			return 0, "", false, badRequest("limit param must be positive")
		}
		limit = min(n, limit)
	}
	marker, hasMarker = queryLast(q, "marker")
	return limit, marker, hasMarker, nil
}

// collectionNext is Nova's _get_collection_links: a "next" link when the page holds
// min(limit, max_limit) items; lastID is the id of the page's last item.
func (s *Service) collectionNext(r *http.Request, n int, lastID string) []map[string]string {
	maxItems := s.cfg.ListLimitMax
	if v, ok := queryLast(r.URL.Query(), "limit"); ok {
		if l, err := strconv.Atoi(v); err == nil {
			maxItems = min(l, maxItems)
		} else if !digitsPattern.MatchString(v) {
			maxItems = 0
		}
	}
	if maxItems <= 0 || n != maxItems {
		return nil
	}
	q := r.URL.Query()
	// webob's request.params is a dict: one value per name.
	for k, vals := range q {
		q[k] = vals[len(vals)-1:]
	}
	q.Set("marker", lastID)
	return []map[string]string{{"rel": "next", "href": apiBase(r) + r.URL.Path + "?" + q.Encode()}}
}

// apiBase is the scheme and host the client used.
func apiBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	host := r.Host
	if h := r.Header.Get("X-Forwarded-Host"); h != "" {
		host = h
	}
	return scheme + "://" + host
}

// isoTimePattern matches the ISO 8601 forms oslo's parse_isotime (iso8601.parse_date)
// accepts in practice: a date, optionally a time (hours and minutes at least) with a
// fraction, and a zone (Z, ±HH, ±HHMM, ±HH:MM).
var isoTimePattern = regexp.MustCompile(`^(\d{4})-?(\d{2})-?(\d{2})(?:[T ](\d{2}):?(\d{2})(?::?(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$`)

// parseISOTime parses an ISO 8601 timestamp as oslo's timeutils.parse_isotime does;
// timestamps without a zone are UTC.
func parseISOTime(s string) (time.Time, error) {
	m := isoTimePattern.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, fmt.Errorf("invalid ISO 8601 time %q", s)
	}
	atoi := func(x string) int { n, _ := strconv.Atoi(x); return n }
	year, month, day := atoi(m[1]), atoi(m[2]), atoi(m[3])
	hour, minute, sec := atoi(m[4]), atoi(m[5]), atoi(m[6])
	nsec := 0
	if m[7] != "" {
		frac := (m[7] + "000000000")[:9]
		nsec = atoi(frac)
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, fmt.Errorf("invalid ISO 8601 time %q", s)
	}
	loc := time.UTC
	if z := m[8]; z != "" && z != "Z" {
		digits := strings.ReplaceAll(z[1:], ":", "")
		off := atoi(digits[:2]) * 3600
		if len(digits) == 4 {
			off += atoi(digits[2:]) * 60
		}
		if digits[:2] > "23" || (len(digits) == 4 && digits[2:] > "59") {
			return time.Time{}, fmt.Errorf("invalid ISO 8601 zone %q", s)
		}
		if z[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc).UTC(), nil
}

// daysIn is the number of days in a month.
func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// Body validation in the manner of Nova's JSON schemas, for the small bodies of the admin
// APIs. Messages follow Nova's "Invalid input for field/attribute <name>. Value: <v>.
// <jsonschema message>".

// bodyInvalid is Nova's 400 for a body field that fails its schema.
func bodyInvalid(field string, value any, format string, args ...any) error {
	return badRequest("Invalid input for field/attribute %s. Value: %s. %s", field, pyValue(value), fmt.Sprintf(format, args...))
}

// pyValue renders a decoded JSON value roughly as Python prints it.
func pyValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		if len(x) > 64 {
			return x[:64] + "..."
		}
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case []any:
		return "[...]"
	case map[string]any:
		return "{...}"
	default:
		return fmt.Sprint(x)
	}
}

// pyTyped renders a value as it appears inside a jsonschema message (strings quoted).
func pyTyped(v any) string {
	if s, ok := v.(string); ok {
		return pyRepr(s)
	}
	return pyValue(v)
}

// checkBodyKeys enforces additionalProperties False and required properties on a body
// object.
func checkBodyKeys(o map[string]any, required []string, allowed ...string) error {
	var extra []string
	for k := range o {
		if !slices.Contains(allowed, k) {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		quoted := make([]string, len(extra))
		for i, k := range extra {
			quoted[i] = pyRepr(k)
		}
		verb := "was"
		if len(extra) > 1 {
			verb = "were"
		}
		return badRequest("Additional properties are not allowed (%s %s unexpected)", strings.Join(quoted, ", "), verb)
	}
	for _, k := range required {
		if _, ok := o[k]; !ok {
			return badRequest("'%s' is a required property", k)
		}
	}
	return nil
}

// stringField checks an optional string property's type, length and pattern (nil:
// any); present is false when it is absent.
func stringField(o map[string]any, name string, minLen, maxLen int, pattern *regexp.Regexp) (val string, present bool, err error) {
	raw, ok := o[name]
	if !ok {
		return "", false, nil
	}
	s, ok := raw.(string)
	if !ok {
		return "", true, bodyInvalid(name, raw, "%s is not of type 'string'", pyTyped(raw))
	}
	n := utf8.RuneCountInString(s)
	switch {
	case n < minLen:
		return "", true, bodyInvalid(name, raw, "%s is too short", pyRepr(s))
	case maxLen > 0 && n > maxLen:
		return "", true, bodyInvalid(name, raw, "%s is too long", pyRepr(s))
	case pattern != nil && !pattern.MatchString(s):
		return "", true, bodyInvalid(name, raw, "%s does not match '%s'", pyRepr(s), pattern.String())
	}
	return s, true, nil
}

// strictBoolField checks an optional parameter_types.boolean property (a JSON boolean or one
// of Nova's boolean strings).
func strictBoolField(o map[string]any, name string) (val bool, present bool, err error) {
	raw, ok := o[name]
	if !ok {
		return false, false, nil
	}
	switch x := raw.(type) {
	case bool:
		return x, true, nil
	case string:
		if b, ok := novaBooleans[x]; ok {
			return b, true, nil
		}
	}
	return false, true, bodyInvalid(name, raw, "%s is not one of [True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', False, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no']", pyTyped(raw))
}

// uuidLike is oslo's uuidutils.is_uuid_like: 32 hex digits once "urn:", "uuid:",
// braces and hyphens are removed.
func uuidLike(s string) bool {
	t := strings.ReplaceAll(s, "urn:", "")
	t = strings.ReplaceAll(t, "uuid:", "")
	t = strings.Trim(t, "{}")
	t = strings.ReplaceAll(t, "-", "")
	if len(t) != 32 {
		return false
	}
	for _, r := range t {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	// uuid.UUID also refuses hyphens in odd places only by their count; a string that
	// was mostly hyphens would not have reached 32 digits.
	return len(s) <= 45
}

// intID is Nova's utils.validate_integer for path ids: the id as an integer, or Nova's
// 400.
func intID(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, badRequest("Invalid input received: id must be an integer.")
	}
	return n, nil
}
