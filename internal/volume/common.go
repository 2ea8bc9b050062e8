package volume

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// This file holds what every resource file shares: body-field validation with Cinder's
// jsonschema messages, metadata tables, links, list paging and sorting.

// schemaError is the 400 Cinder's validator answers for a field that fails its schema.
func schemaError(field string, value any, reason string) *api.Error {
	return badRequest("Invalid input for field/attribute %s. Value: %s. %s", field, showValue(value), reason)
}

// showValue renders a JSON value as Python would in a message (None, True, 'text').
func showValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		if len(x) > 64 {
			x = x[:64] + "..."
		}
		return x
	case json.Number:
		return x.String()
	case map[string]any:
		return "{...}"
	case []any:
		return "[...]"
	}
	return fmt.Sprint(v)
}

// optString reads an optional string-or-null field of at most maxLen characters;
// present is false when absent, and a null gives nil.
func optString(o api.Object, k string, maxLen int) (val *string, present bool, err error) {
	v, ok := o[k]
	if !ok {
		return nil, false, nil
	}
	if v == nil {
		return nil, true, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, true, schemaError(k, v, fmt.Sprintf("%s is not of type 'string', 'null'", showValue(v)))
	}
	if maxLen > 0 && utf8.RuneCountInString(s) > maxLen {
		return nil, true, invalidInput("%s has more than %d characters.", k, maxLen)
	}
	return &s, true, nil
}

// sizeField reads Cinder's volume_size: an integer or a string of digits, at least 1.
// present is false when absent or null (when allowNull).
func sizeField(o api.Object, k string, allowNull bool) (n int64, present bool, err error) {
	v, ok := o[k]
	if !ok || (v == nil && allowNull) {
		return 0, false, nil
	}
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = x
		if s == "" || strings.TrimLeft(s, "0123456789") != "" {
			return 0, true, schemaError(k, v, fmt.Sprintf("'%s' does not match '^[0-9]+$'", s))
		}
	default:
		return 0, true, schemaError(k, v, fmt.Sprintf("%s is not of type 'integer', 'string'", showValue(v)))
	}
	i, perr := strconv.ParseInt(s, 10, 64)
	if perr != nil {
		if f, ferr := strconv.ParseFloat(s, 64); ferr == nil && f == math.Trunc(f) && f < math.MaxInt32 {
			i = int64(f)
		} else {
			return 0, true, schemaError(k, v, fmt.Sprintf("%s is not of type 'integer', 'string'", showValue(v)))
		}
	}
	if i < 1 {
		return 0, true, schemaError(k, v, fmt.Sprintf("%d is less than the minimum of 1", i))
	}
	if i > math.MaxInt32 {
		return 0, true, schemaError(k, v, fmt.Sprintf("%d is greater than the maximum of %d", i, math.MaxInt32))
	}
	return i, true, nil
}

// boolValue parses Cinder's boolean parameters (strutils.bool_from_string, strict): a
// JSON boolean or one of the accepted strings.
func boolValue(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "1", "t", "true", "on", "y", "yes":
			return true, true
		case "0", "f", "false", "off", "n", "no":
			return false, true
		}
	case json.Number:
		switch x.String() {
		case "1":
			return true, true
		case "0":
			return false, true
		}
	}
	return false, false
}

// metadataField reads a metadata object: string keys of 1–255 characters and string
// values of at most 255 (Cinder's extra_specs / metadata schema). present is false when
// absent; a null gives an empty map when allowNull.
func metadataField(o api.Object, k string, allowNull bool) (map[string]string, bool, error) {
	v, ok := o[k]
	if !ok {
		return nil, false, nil
	}
	if v == nil && allowNull {
		return map[string]string{}, true, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, true, schemaError(k, v, fmt.Sprintf("%s is not of type 'object'", showValue(v)))
	}
	out, err := stringMap(k, m)
	return out, true, err
}

// stringMap validates a metadata object's keys and values.
func stringMap(field string, m map[string]any) (map[string]string, error) {
	out := make(map[string]string, len(m))
	for key, val := range m {
		if key == "" || utf8.RuneCountInString(key) > 255 {
			return nil, schemaError(field, m, fmt.Sprintf("'%s' does not match any of the regexes: '^[a-zA-Z0-9-_:. /]{1,255}$'", key))
		}
		s, ok := val.(string)
		if !ok {
			return nil, schemaError(field+"/"+key, val, fmt.Sprintf("%s is not of type 'string'", showValue(val)))
		}
		if utf8.RuneCountInString(s) > 255 {
			return nil, schemaError(field+"/"+key, val, "It is too long (maximum length is 255).")
		}
		out[key] = s
	}
	return out, nil
}

// loadMeta reads a key/value table for one owner.
func loadMeta(ctx context.Context, q store.Querier, table, ownerCol, id string) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT meta_key, meta_value FROM `+table+` WHERE `+ownerCol+` = ?`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}

// loadMetaMany reads a key/value table for many owners at once (lists).
func loadMetaMany(ctx context.Context, q store.Querier, table, ownerCol string, ids []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		ph := strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := q.QueryContext(ctx, `SELECT `+ownerCol+`, meta_key, meta_value FROM `+table+` WHERE `+ownerCol+
			` IN (`+ph+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, k, v string
			if err := rows.Scan(&id, &k, &v); err != nil {
				rows.Close()
				return nil, err
			}
			if out[id] == nil {
				out[id] = map[string]string{}
			}
			out[id][k] = v
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// setMeta replaces (replace) or merges metadata of one owner inside tx.
func setMeta(ctx context.Context, tx *store.Tx, table, ownerCol, id string, meta map[string]string, replace bool) error {
	if replace {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+ownerCol+` = ?`, id); err != nil {
			return err
		}
	}
	for k, v := range meta {
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (`+ownerCol+`, meta_key, meta_value) VALUES (?, ?, ?)
			ON CONFLICT (`+ownerCol+`, meta_key) DO UPDATE SET meta_value = excluded.meta_value`, id, k, v); err != nil {
			return err
		}
	}
	return nil
}

// projectlessKey marks a request that came in without a project id in its path, so
// that links leave it out too (Cinder's _get_project_id_in_url).
type projectlessKey struct{}

// linkProject is the project segment links carry: the one of the request path, "" for
// a project-less request.
func linkProject(r *http.Request) string {
	if r.Context().Value(projectlessKey{}) != nil {
		return ""
	}
	return r.PathValue("project_id")
}

// resourceLinks are Cinder's self and bookmark links of a resource.
func (s *Service) resourceLinks(r *http.Request, collection, id string) []map[string]string {
	base := api.BaseURL(r) + s.cfg.Prefix
	p := linkProject(r)
	join := func(parts ...string) string {
		var b strings.Builder
		for _, x := range parts {
			if x != "" {
				b.WriteString("/")
				b.WriteString(x)
			}
		}
		return b.String()
	}
	return []map[string]string{
		{"rel": "self", "href": base + join("v3", p, collection, id)},
		{"rel": "bookmark", "href": base + join(p, collection, id)},
	}
}

// collectionLinks is Cinder's next link: present when the page is as long as the limit
// asked for (or as osapi_max_limit when none was).
func (s *Service) collectionLinks(r *http.Request, collection string, n, limit int, lastID string) []map[string]string {
	if n == 0 || lastID == "" {
		return nil
	}
	if (limit > 0 && n < limit) || (limit == 0 && n < s.cfg.ListLimitMax) {
		return nil
	}
	q := r.URL.Query()
	q.Set("marker", lastID)
	p := linkProject(r)
	path := s.cfg.Prefix + "/v3"
	if p != "" {
		path += "/" + p
	}
	return []map[string]string{{"rel": "next", "href": api.BaseURL(r) + path + "/" + collection + "?" + q.Encode()}}
}

// sortKey is one key of a list's sort order.
type sortKey struct {
	key string
	asc bool
}

// parseSort reads sort=key[:dir],... or sort_key/sort_dir (Cinder's
// get_sort_params), defaulting to created_at desc; keys outside valid are a 400.
func parseSort(q url.Values, valid map[string]bool) ([]sortKey, error) {
	var keys []sortKey
	dirOf := func(d string) (bool, error) {
		switch strings.ToLower(strings.TrimSpace(d)) {
		case "", "desc":
			return false, nil
		case "asc":
			return true, nil
		}
		return false, invalidInput("Unknown sort direction, must be 'desc' or 'asc'")
	}
	if s := q.Get("sort"); s != "" {
		if q.Has("sort_key") || q.Has("sort_dir") {
			return nil, invalidInput("The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter.")
		}
		for _, part := range strings.Split(s, ",") {
			k, d, _ := strings.Cut(strings.TrimSpace(part), ":")
			asc, err := dirOf(d)
			if err != nil {
				return nil, err
			}
			keys = append(keys, sortKey{key: strings.TrimSpace(k), asc: asc})
		}
	} else if q.Has("sort_key") || q.Has("sort_dir") {
		asc, err := dirOf(q.Get("sort_dir"))
		if err != nil {
			return nil, err
		}
		k := q.Get("sort_key")
		if k == "" {
			k = "created_at"
		}
		keys = append(keys, sortKey{key: k, asc: asc})
	}
	for i, k := range keys {
		if k.key == "name" {
			keys[i].key = "display_name"
		}
		if !valid[keys[i].key] {
			return nil, invalidInput("Invalid input received: Invalid sort key %s", k.key)
		}
	}
	if len(keys) == 0 {
		keys = []sortKey{{key: "created_at"}}
	}
	return keys, nil
}

// sortRows orders rows by keys (values from get), then by id in the last key's
// direction, as Cinder's paginate_query appends the id.
func sortRows[T any](rows []T, keys []sortKey, get func(T, string) any) {
	sort.SliceStable(rows, func(i, j int) bool {
		for _, k := range append(keys, sortKey{key: "id", asc: keys[len(keys)-1].asc}) {
			c := compareValues(get(rows[i], k.key), get(rows[j], k.key))
			if c == 0 {
				continue
			}
			if k.asc {
				return c < 0
			}
			return c > 0
		}
		return false
	})
}

// compareValues orders nil first, then ints, bools and strings.
func compareValues(a, b any) int {
	if a == nil || b == nil {
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return -1
		}
		return 1
	}
	switch x := a.(type) {
	case int64:
		y, _ := b.(int64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case bool:
		y, _ := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case string:
		return strings.Compare(x, fmt.Sprint(b))
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

// pageLimit reads limit (Cinder: a non-negative integer, capped at osapi_max_limit).
func (s *Service) pageLimit(q url.Values) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, invalidInput("limit param must be an integer")
	}
	if n < 0 {
		return 0, invalidInput("limit param must be positive")
	}
	return n, nil
}

// paginate applies marker and limit to sorted rows. A marker that is not in the list
// is Cinder's MarkerNotFound (404... shown as 400 by the list APIs: InvalidInput).
func paginate[T any](s *Service, rows []T, id func(T) string, marker string, limit int) ([]T, error) {
	if marker != "" {
		idx := -1
		for i, r := range rows {
			if id(r) == marker {
				idx = i
				break
			}
		}
		if idx < 0 {
			return nil, notFound("Marker %s could not be found.", marker)
		}
		rows = rows[idx+1:]
	}
	max := s.cfg.ListLimitMax
	if limit > 0 && limit < max {
		max = limit
	}
	if len(rows) > max {
		rows = rows[:max]
	}
	return rows, nil
}

// strOrNil is nil for a nil pointer and the string otherwise, for JSON views.
func strOrNil(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// ptr returns a pointer to s.
func ptr(s string) *string { return &s }

// allTenants reads all_tenants (admin only: others are silently scoped to their project,
// as Cinder does).
func allTenants(q url.Values) bool {
	v, ok := boolValue(q.Get("all_tenants"))
	return q.Has("all_tenants") && (ok && v || q.Get("all_tenants") == "")
}
