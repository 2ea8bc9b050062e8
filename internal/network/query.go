package network

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// listQuery is a parsed Neutron list request: filters on any attribute (repeated values
// are alternatives), tag filters, fields=, sort keys and pagination.
type listQuery struct {
	filters map[string][]string
	// filterOrder keeps the filter names in a stable order for deterministic errors.
	filterOrder                           []string
	tagsAll, tagsAny, notTags, notTagsAny []string
	fields                                []string
	sorts                                 []sortKey
	limit                                 int
	marker                                string
	pageReverse                           bool
}

// sortKey is one sort_key with its direction.
type sortKey struct {
	key string
	asc bool
}

// listParams are the query parameters that are never attribute filters.
var listParams = map[string]bool{
	"fields": true, "sort_key": true, "sort_dir": true, "limit": true, "marker": true,
	"page_reverse": true, "tags": true, "tags-any": true, "not-tags": true, "not-tags-any": true,
}

// parseListQuery parses a list request's query against a resource's attributes: filter
// names must be filterable attributes (Neutron's filter-validation), sort keys sortable,
// sort_key and sort_dir paired, limit a non-negative integer.
func parseListQuery(q url.Values, k *kind) (*listQuery, error) {
	lq := &listQuery{filters: map[string][]string{}}
	var invalid []string
	keys := make([]string, 0, len(q))
	for key := range q {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	for _, key := range keys {
		if listParams[key] {
			continue
		}
		if !k.filterable(key) {
			invalid = append(invalid, key)
			continue
		}
		lq.filters[key] = q[key]
		lq.filterOrder = append(lq.filterOrder, key)
	}
	if len(invalid) > 0 {
		return nil, badRequest("%s is invalid attribute for filtering", pyList(invalid))
	}
	for _, f := range q["fields"] {
		if f != "" {
			lq.fields = append(lq.fields, f)
		}
	}
	lq.tagsAll = tagList(q["tags"])
	lq.tagsAny = tagList(q["tags-any"])
	lq.notTags = tagList(q["not-tags"])
	lq.notTagsAny = tagList(q["not-tags-any"])

	keysIn := nonEmpty(q["sort_key"])
	dirs := nonEmpty(q["sort_dir"])
	if len(keysIn) != len(dirs) {
		return nil, badRequest("The number of sort_keys and sort_dirs must be same")
	}
	var absent, badDirs []string
	for i, key := range keysIn {
		if !k.sortable(key) {
			absent = append(absent, key)
		}
		asc := true
		if i < len(dirs) {
			switch dirs[i] {
			case "asc":
			case "desc":
				asc = false
			default:
				badDirs = append(badDirs, dirs[i])
			}
		}
		lq.sorts = append(lq.sorts, sortKey{key, asc})
	}
	if len(absent) > 0 {
		return nil, badRequest("%s is invalid attribute for sort_keys", pyList(absent))
	}
	if len(badDirs) > 0 {
		return nil, badRequest("%s is invalid value for sort_dirs, valid value is 'asc' and 'desc'", pyList(badDirs))
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return nil, badResourceRequest("limit", fmt.Sprintf("Limit must be an integer 0 or greater and not '%s'", truncate(s, 64)))
		}
		lq.limit = n
	}
	lq.marker = q.Get("marker")
	lq.pageReverse = strings.EqualFold(q.Get("page_reverse"), "true")
	return lq, nil
}

// tagList splits comma-separated tag filters; repeated parameters add up.
func tagList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, t := range strings.Split(v, ",") {
			if t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

func nonEmpty(vals []string) []string {
	var out []string
	for _, v := range vals {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// pyList renders names as Python prints a list of strings, as Neutron's messages do.
func pyList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = "'" + truncate(s, 64) + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// matchValue reports whether a rendered attribute value matches one filter value,
// converting the filter text to the attribute's type as Neutron's convert_to does.
// Lists match when they contain the value. ok is false when the text cannot be converted
// (a malformed boolean or number), which the caller answers with 400.
func matchValue(v any, want string) (match, ok bool) {
	switch x := v.(type) {
	case nil:
		return want == "" || want == "None", true
	case string:
		return x == want, true
	case bool:
		b, ok := parseBool(want)
		return ok && b == x, ok
	case int:
		n, err := strconv.ParseInt(want, 10, 64)
		return err == nil && int64(x) == n, err == nil
	case int64:
		n, err := strconv.ParseInt(want, 10, 64)
		return err == nil && x == n, err == nil
	case json.Number:
		return x.String() == want, true
	case []string:
		return slices.Contains(x, want), true
	case []any:
		for _, e := range x {
			if m, _ := matchValue(e, want); m {
				return true, true
			}
		}
		return false, true
	}
	return false, true
}

// parseBool is oslo's strict boolean conversion for filters.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes", "on", "t", "y":
		return true, true
	case "false", "0", "no", "off", "f", "n":
		return false, true
	}
	return false, false
}

// compareValues orders two rendered attribute values of one attribute: nil first, then
// by type (booleans false before true, numbers numerically, strings bytewise).
func compareValues(a, b any) int {
	if a == nil || b == nil {
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return -1
		default:
			return 1
		}
	}
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y)
		}
	case bool:
		if y, ok := b.(bool); ok {
			switch {
			case x == y:
				return 0
			case !x:
				return -1
			default:
				return 1
			}
		}
	case int:
		if y, ok := b.(int); ok {
			return cmpInt(int64(x), int64(y))
		}
	case int64:
		if y, ok := b.(int64); ok {
			return cmpInt(x, y)
		}
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
