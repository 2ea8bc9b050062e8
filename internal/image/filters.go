package image

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// listQuery is a parsed GET /v2/images request: Glance's RequestDeserializer.index and
// the conditions glance.db.sqlalchemy.api._make_conditions_from_filters builds, as SQL.
type listQuery struct {
	limit        int
	marker       string
	hasMarker    bool
	memberStatus string
	sortKeys     []string
	sortDirs     []string
	// visibility is the visibility filter ("" for none, "all").
	visibility string
	// conds are SQL conditions on the images table (alias i) with their arguments.
	conds []string
	args  []any
	// params are the request's query parameters in order, last value per key, for the
	// "first" and "next" links.
	params []queryParam
}

// queryParam is one query parameter.
type queryParam struct{ key, value string }

// sortKeys are Glance's _available_sort_keys with the SQL each sorts on; NULLs sort as
// the column type's default, as Glance's pagination compares them.
var sortColumns = map[string]string{
	"name":             "COALESCE(i.name, '')",
	"status":           "i.status",
	"container_format": "COALESCE(i.container_format, '')",
	"disk_format":      "COALESCE(i.disk_format, '')",
	"size":             "COALESCE(i.size, 0)",
	"id":               "i.id",
	"created_at":       "i.created_at",
	"updated_at":       "i.updated_at",
}

// sortKeyOrder lists the sort keys as Glance's error message does.
const sortKeyOrder = "name, status, container_format, disk_format, size, id, created_at, updated_at"

// intColumns are the integer columns filters may compare (exactly, or with _min/_max).
var intColumns = map[string]bool{"size": true, "virtual_size": true, "min_disk": true, "min_ram": true}

// strColumns are text columns a filter of the same name matches exactly.
var strColumns = map[string]bool{"owner": true, "checksum": true, "os_hash_value": true, "os_hash_algo": true}

// opColumns take Glance's "in:" and "eq:" operators.
var opColumns = map[string]bool{"name": true, "id": true, "status": true, "container_format": true, "disk_format": true}

// parseListQuery parses the query of an image list request. The limit is capped at
// limitMax; without one it is limitDefault.
func parseListQuery(rawQuery string, limitDefault, limitMax int) (*listQuery, error) {
	pairs, err := orderedQuery(rawQuery)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "The query string could not be parsed.")
	}
	q := &listQuery{memberStatus: "accepted", limit: limitDefault}
	// Last value wins, first position kept, as dict(webob MultiDict) does.
	last := map[string]string{}
	var keys []string
	var tags, sortKeyVals, sortDirVals []string
	for _, p := range pairs {
		switch p.key {
		case "tag":
			tags = append(tags, strings.TrimSpace(p.value))
		case "sort_key":
			sortKeyVals = append(sortKeyVals, p.value)
		case "sort_dir":
			sortDirVals = append(sortDirVals, p.value)
		}
		if _, seen := last[p.key]; !seen {
			keys = append(keys, p.key)
		}
		last[p.key] = p.value
	}
	for _, k := range keys {
		q.params = append(q.params, queryParam{k, last[k]})
	}
	filters := map[string]string{}
	var filterKeys []string
	for _, k := range keys {
		switch k {
		case "limit", "marker", "member_status", "tag", "sort", "sort_key", "sort_dir":
			continue
		}
		filters[k] = last[k]
		filterKeys = append(filterKeys, k)
	}
	if v, ok := last["limit"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "limit param must be an integer")
		}
		if n < 0 {
			return nil, errorf(http.StatusBadRequest, "limit param must be positive")
		}
		q.limit = n
	}
	if q.limit > limitMax {
		q.limit = limitMax
	}
	if v, ok := last["marker"]; ok {
		q.marker, q.hasMarker = v, true
	}
	if v, ok := last["member_status"]; ok {
		switch v {
		case "pending", "accepted", "rejected", "all":
			q.memberStatus = v
		default:
			return nil, errorf(http.StatusBadRequest, "Invalid status: %s", v)
		}
	}
	if v := filters["visibility"]; v != "" {
		switch v {
		case "community", "public", "private", "shared", "all":
		default:
			return nil, errorf(http.StatusBadRequest, "Invalid visibility value: %s", v)
		}
	}
	if filters["changes-since"] != "" {
		return nil, errorf(http.StatusBadRequest, `The "changes-since" filter is no longer available on v2.`)
	}
	if err := q.parseSort(last, sortKeyVals, sortDirVals); err != nil {
		return nil, err
	}
	hidden := "false"
	if v, ok := filters["os_hidden"]; ok {
		hidden = strings.ToLower(v)
	}
	if hidden != "true" && hidden != "false" {
		return nil, errorf(http.StatusBadRequest, "Invalid value '%s' for 'os_hidden' filter. Valid values are 'true' or 'false'.", hidden)
	}
	q.add("i.os_hidden = ?", hidden == "true")
	if v, ok := filters["protected"]; ok {
		if v != "true" && v != "false" {
			return nil, errorf(http.StatusBadRequest, "Invalid value '%s' for 'protected' filter. Valid values are 'true' or 'false'.", v)
		}
		q.add("i.protected = ?", v == "true")
	}
	// Killed images are never listed.
	q.add("i.status <> ?", statusKilled)
	for _, t := range tags {
		q.add("EXISTS (SELECT 1 FROM image_tags t WHERE t.image_id = i.id AND t.value = ?)", t)
	}
	for _, k := range filterKeys {
		v := filters[k]
		switch {
		case k == "visibility":
			q.visibility = v
		case k == "os_hidden", k == "protected", k == "deleted":
		case strings.HasSuffix(k, "_min") || strings.HasSuffix(k, "_max"):
			col := k[:len(k)-4]
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return nil, errorf(http.StatusBadRequest, "Unable to filter on a range with a non-numeric value.")
			}
			if !intColumns[col] {
				return nil, errorf(http.StatusBadRequest, "Unable to filter on a range: %s is not a numeric attribute.", col)
			}
			if strings.HasSuffix(k, "_min") {
				q.add("i."+col+" >= ?", n)
			} else {
				q.add("i."+col+" <= ?", n)
			}
		case k == "created_at" || k == "updated_at":
			op, val := splitFilterOp(v)
			t, ok := parseISOTime(val)
			if !ok {
				return nil, errorf(http.StatusBadRequest, `Bad "%s" query filter format. Use ISO 8601 DateTime notation.`, k)
			}
			sqlOp, ok := map[string]string{"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "neq": "<>", "eq": "="}[op]
			if !ok {
				return nil, errorf(http.StatusBadRequest, "Unable to filter on a unknown operator.")
			}
			// Glance stores seconds; compare at that precision.
			q.add("SUBSTR(i."+k+", 1, 19) "+sqlOp+" ?", t.UTC().Format("2006-01-02T15:04:05"))
		case opColumns[k]:
			op, val := splitFilterOp(v)
			switch op {
			case "eq":
				q.add("i."+k+" = ?", val)
			case "in":
				vals, err := splitQuoted(val)
				if err != nil {
					return nil, err
				}
				if len(vals) == 0 {
					q.add("1 = 0")
					continue
				}
				args := make([]any, len(vals))
				for i, x := range vals {
					args[i] = x
				}
				q.add("i."+k+" IN ("+strings.TrimSuffix(strings.Repeat("?,", len(vals)), ",")+")", args...)
			default:
				return nil, errorf(http.StatusBadRequest, "Unable to filter by unknown operator '%s'.", op)
			}
		case intColumns[k]:
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return nil, errorf(http.StatusBadRequest, "Invalid filter value %s for %s: an integer is required.", truncate(v, 64), k)
			}
			q.add("i."+k+" = ?", n)
		case strColumns[k]:
			q.add("i."+k+" = ?", v)
		default:
			// Anything else filters on a free-form property.
			q.add("EXISTS (SELECT 1 FROM image_properties p WHERE p.image_id = i.id AND p.name = ? AND p.value = ?)", k, v)
		}
	}
	return q, nil
}

// add appends a condition.
func (q *listQuery) add(cond string, args ...any) {
	q.conds = append(q.conds, cond)
	q.args = append(q.args, args...)
}

// parseSort is RequestDeserializer._get_sorting_params: sort=k1:dir,k2 or repeated
// sort_key/sort_dir, never both; created_at desc by default.
func (q *listQuery) parseSort(last map[string]string, keys, dirs []string) error {
	validKey := func(k string) error {
		if _, ok := sortColumns[k]; !ok {
			return errorf(http.StatusBadRequest, "Invalid sort key: %s. It must be one of the following: %s.", k, sortKeyOrder)
		}
		return nil
	}
	validDir := func(d string) error {
		if d != "asc" && d != "desc" {
			return errorf(http.StatusBadRequest, "Invalid sort direction: %s", d)
		}
		return nil
	}
	if sort, ok := last["sort"]; ok {
		if len(keys) > 0 || len(dirs) > 0 {
			return errorf(http.StatusBadRequest, "Old and new sorting syntax cannot be combined")
		}
		for _, part := range strings.Split(strings.TrimSpace(sort), ",") {
			k, d, _ := strings.Cut(part, ":")
			k, d = strings.TrimSpace(k), strings.TrimSpace(d)
			if d == "" {
				d = "desc"
			}
			if err := validKey(k); err != nil {
				return err
			}
			if err := validDir(d); err != nil {
				return err
			}
			q.sortKeys = append(q.sortKeys, k)
			q.sortDirs = append(q.sortDirs, d)
		}
	} else {
		for _, k := range keys {
			k = strings.TrimSpace(k)
			if err := validKey(k); err != nil {
				return err
			}
			q.sortKeys = append(q.sortKeys, k)
		}
		for _, d := range dirs {
			d = strings.TrimSpace(d)
			if err := validDir(d); err != nil {
				return err
			}
			q.sortDirs = append(q.sortDirs, d)
		}
		if len(q.sortDirs) > 1 && len(q.sortDirs) != len(q.sortKeys) {
			return errorf(http.StatusBadRequest, "Number of sort dirs does not match the number of sort keys")
		}
	}
	if len(q.sortKeys) == 0 {
		q.sortKeys = []string{"created_at"}
	}
	if len(q.sortDirs) == 0 {
		q.sortDirs = []string{"desc"}
	}
	// _image_get_all: one direction applies to every key; created_at and id are appended
	// as tie-breakers with the default direction.
	def := "desc"
	if len(q.sortDirs) == 1 {
		def = q.sortDirs[0]
		for len(q.sortDirs) < len(q.sortKeys) {
			q.sortDirs = append(q.sortDirs, def)
		}
	}
	for _, k := range []string{"created_at", "id"} {
		if !contains(q.sortKeys, k) {
			q.sortKeys = append(q.sortKeys, k)
			q.sortDirs = append(q.sortDirs, def)
		}
	}
	return nil
}

// splitFilterOp is glance.common.utils.split_filter_op: "op:value", where a value that
// is itself an ISO 8601 time keeps its colons.
func splitFilterOp(expr string) (op, value string) {
	left, right, ok := strings.Cut(expr, ":")
	if !ok {
		return "eq", expr
	}
	if _, isTime := parseISOTime(expr); isTime {
		return "eq", expr
	}
	return left, right
}

// isoTimeRE matches what oslo_utils.timeutils.parse_isotime (iso8601) accepts.
var isoTimeRE = regexp.MustCompile(`^(\d{4})(?:-?(\d{2})(?:-?(\d{2})(?:[T ](\d{2})(?::?(\d{2})(?::?(\d{2})(?:[.,](\d+))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?$`)

// parseISOTime parses an ISO 8601 date or time; a time without a zone is UTC.
func parseISOTime(s string) (time.Time, bool) {
	m := isoTimeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return time.Time{}, false
	}
	num := func(x string, def int) int {
		if x == "" {
			return def
		}
		n, _ := strconv.Atoi(x)
		return n
	}
	year, month, day := num(m[1], 0), num(m[2], 1), num(m[3], 1)
	hour, minute, sec := num(m[4], 0), num(m[5], 0), num(m[6], 0)
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if m[7] != "" {
		frac := (m[7] + "000000000")[:9]
		nsec, _ = strconv.Atoi(frac)
	}
	loc := time.UTC
	if z := m[8]; z != "" && z != "Z" {
		sign := 1
		if z[0] == '-' {
			sign = -1
		}
		digits := strings.ReplaceAll(z[1:], ":", "")
		h := num(digits[:2], 0)
		mi := 0
		if len(digits) >= 4 {
			mi = num(digits[2:4], 0)
		}
		if h > 23 || mi > 59 {
			return time.Time{}, false
		}
		loc = time.FixedZone("", sign*(h*3600+mi*60))
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
	if t.Day() != day {
		return time.Time{}, false
	}
	return t, true
}

// splitQuoted is split_filter_value_for_quotes: a comma-separated list in which values
// may be double-quoted to contain commas.
func splitQuoted(v string) ([]string, error) {
	// validate_quotes: a quote must open a value or close it.
	open := true
	for i := 0; i < len(v); i++ {
		if v[i] != '"' || (i > 0 && v[i-1] == '\\') {
			continue
		}
		if open {
			if i > 0 && v[i-1] != ',' {
				return nil, errorf(http.StatusBadRequest, "Invalid filter value %s. There is no comma before opening quotation mark.", v)
			}
		} else if i+1 < len(v) && v[i+1] != ',' {
			return nil, errorf(http.StatusBadRequest, "Invalid filter value %s. There is no comma after closing quotation mark.", v)
		}
		open = !open
	}
	if !open {
		return nil, errorf(http.StatusBadRequest, "Invalid filter value %s. The quote is not closed.", v)
	}
	var out []string
	for i := 0; i < len(v); {
		switch {
		case v[i] == '"':
			j := i + 1
			var b strings.Builder
			for j < len(v) && v[j] != '"' {
				if v[j] == '\\' && j+1 < len(v) {
					b.WriteByte(v[j])
					j++
				}
				b.WriteByte(v[j])
				j++
			}
			out = append(out, b.String())
			i = j + 1
			if i < len(v) && v[i] == ',' {
				i++
			}
		case v[i] == ',':
			out = append(out, "")
			i++
		default:
			j := strings.IndexByte(v[i:], ',')
			if j < 0 {
				out = append(out, v[i:])
				i = len(v)
			} else {
				out = append(out, v[i:i+j])
				i += j + 1
			}
		}
	}
	return out, nil
}

// orderedQuery parses a raw query string keeping the order of its parameters.
func orderedQuery(raw string) ([]queryParam, error) {
	var out []queryParam
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, err
		}
		out = append(out, queryParam{key, val})
	}
	return out, nil
}

// encodeParams renders parameters as Python's urlencode does.
func encodeParams(ps []queryParam) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = url.QueryEscape(p.key) + "=" + url.QueryEscape(p.value)
	}
	return strings.Join(parts, "&")
}

// truncate shortens s for messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// pageLinks returns the "first" link and, when there is a next page, the "next" link.
func (q *listQuery) pageLinks(nextMarker string) (first, next string) {
	var rest []queryParam
	for _, p := range q.params {
		if p.key != "marker" {
			rest = append(rest, p)
		}
	}
	first = "/v2/images"
	if len(rest) > 0 {
		first += "?" + encodeParams(rest)
	}
	if nextMarker != "" {
		next = "/v2/images?" + encodeParams(append(rest, queryParam{"marker", nextMarker}))
	}
	return first, next
}
