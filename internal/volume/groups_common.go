package volume

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// This file holds what the QoS specs, group types, groups, group snapshots and
// transfers share: Cinder's JSON-schema checks for the fields they take, resource links,
// the groups quota and the dispatch of their tasks.

// fieldError is Cinder's ValidationError (400) for a field that fails its schema.
func fieldError(field string, value any, format string, args ...any) *api.Error {
	return badRequest("Invalid input for field/attribute %s. Value: %v. %s", field, shortValue(value),
		fmt.Sprintf(format, args...))
}

// shortValue renders a request value for an error message, bounded in length.
func shortValue(v any) string {
	s := fmt.Sprint(v)
	if v == nil {
		s = "None"
	}
	if utf8.RuneCountInString(s) > 64 {
		s = string([]rune(s)[:64]) + "..."
	}
	return s
}

// cinderTrue and cinderFalse are the values of Cinder's parameter_types.boolean.
var (
	cinderTrue  = map[string]bool{"True": true, "TRUE": true, "true": true, "1": true, "ON": true, "On": true, "on": true, "YES": true, "Yes": true, "yes": true, "y": true, "t": true}
	cinderFalse = map[string]bool{"False": true, "FALSE": true, "false": true, "0": true, "OFF": true, "Off": true, "off": true, "NO": true, "No": true, "no": true, "n": true, "f": true}
)

// schemaBool reads a parameter_types.boolean field: a JSON boolean or one of the strings
// Cinder's schema lists.
func schemaBool(field string, v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		if cinderTrue[x] {
			return true, nil
		}
		if cinderFalse[x] {
			return false, nil
		}
	}
	return false, fieldError(field, v, "%s is not one of the allowed boolean values.", shortValue(v))
}

// queryBool is Cinder's utils.get_bool_param for a query parameter (strict
// bool_from_string: anything else is a 400).
func queryBool(r *http.Request, key string) (bool, error) {
	v, ok := r.URL.Query()[key]
	if !ok || len(v) == 0 {
		return false, nil
	}
	s := strings.ToLower(strings.TrimSpace(v[len(v)-1]))
	switch s {
	case "1", "t", "true", "on", "y", "yes":
		return true, nil
	case "0", "f", "false", "off", "n", "no", "":
		return false, nil
	}
	return false, invalidInput("Invalid value '%s' for %s", v[len(v)-1], key)
}

// optStr reads an optional string field that may be null (description,
// name_allow_zero_min_length): at most maxLen characters.
func optStr(o api.Object, field string, maxLen int) (s string, present bool, err error) {
	v, ok := o[field]
	if !ok {
		return "", false, nil
	}
	if v == nil {
		return "", true, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", true, fieldError(field, v, "%s is not of type 'string', 'null'", shortValue(v))
	}
	if utf8.RuneCountInString(s) > maxLen {
		return "", true, fieldError(field, v, "'%s' is too long", shortValue(v))
	}
	return s, true, nil
}

// reqName reads a required parameter_types.name field: a string of 1 to 255 characters
// that is not only spaces and has no leading or trailing ones once stripped (Cinder
// strips it).
func reqName(o api.Object, field string) (string, error) {
	v, ok := o[field]
	if !ok {
		return "", fieldError(field, nil, "'%s' is a required property", field)
	}
	s, isStr := v.(string)
	if !isStr {
		return "", fieldError(field, v, "%s is not of type 'string'", shortValue(v))
	}
	if strings.TrimSpace(s) == "" {
		return "", fieldError(field, v, "Name has only whitespace or is empty.")
	}
	if utf8.RuneCountInString(s) > 255 {
		return "", fieldError(field, v, "'%s' is too long", shortValue(v))
	}
	return strings.TrimSpace(s), nil
}

// onlyFields refuses properties of o outside allowed (additionalProperties: False).
func onlyFields(o api.Object, allowed ...string) error {
	ok := make(map[string]bool, len(allowed))
	for _, a := range allowed {
		ok[a] = true
	}
	for k := range o {
		if !ok[k] {
			return badRequest("Additional properties are not allowed ('%s' was unexpected)", k)
		}
	}
	return nil
}

// specKeyPattern is the key pattern of parameter_types.extra_specs.
var specKeyPattern = regexp.MustCompile(`^[a-zA-Z0-9\-_:. /]{1,255}$`)

// groupSpecKeyPattern is the stricter key pattern of group specs (no spaces or slashes).
var groupSpecKeyPattern = regexp.MustCompile(`^[a-zA-Z0-9\-_:.]{1,255}$`)

// specMap reads an extra_specs-like object: keys matching pattern, string values of at
// most 255 characters, or nulls when allowNull (a null value reads as ""; nulls reports
// the keys that were null).
func specMap(field string, v any, pattern *regexp.Regexp, allowNull bool) (specs map[string]string, nulls []string, err error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, nil, fieldError(field, v, "%s is not of type 'object'", shortValue(v))
	}
	specs = make(map[string]string, len(m))
	for k, val := range m {
		if !pattern.MatchString(k) {
			return nil, nil, fieldError(field, v, "Additional properties are not allowed ('%s' was unexpected)", k)
		}
		if val == nil {
			if !allowNull {
				return nil, nil, fieldError(field+"/"+k, val, "None is not of type 'string'")
			}
			nulls = append(nulls, k)
			specs[k] = ""
			continue
		}
		s, isStr := val.(string)
		if !isStr {
			return nil, nil, fieldError(field+"/"+k, val, "%s is not of type 'string'", shortValue(val))
		}
		if utf8.RuneCountInString(s) > 255 {
			return nil, nil, fieldError(field+"/"+k, val, "'%s' is too long", shortValue(val))
		}
		specs[k] = s
	}
	return specs, nulls, nil
}

// resourceLinks are Cinder's self and bookmark links of a resource in collection.
func resourceLinks(r *http.Request, prefix, project, collection, id string) []map[string]string {
	base := api.BaseURL(r) + prefix
	return []map[string]string{
		{"rel": "self", "href": base + "/v3/" + project + "/" + collection + "/" + id},
		{"rel": "bookmark", "href": base + "/" + project + "/" + collection + "/" + id},
	}
}

// callerProject is the project a handler works in: the caller's project.
func callerProject(c *call) string {
	if c.caller == nil {
		return ""
	}
	return c.caller.ProjectID
}

// checkGroupQuota refuses, with Cinder's GroupLimitExceeded (413), one more group than
// the project's groups quota allows. It takes the project's quota lock (the core's
// lockQuota) so that counting and inserting is race-free.
func (s *Service) checkGroupQuota(ctx context.Context, tx *store.Tx, project string) error {
	if err := lockQuota(ctx, tx, project); err != nil {
		return fmt.Errorf("lock quota: %w", err)
	}
	limits, err := s.projectLimits(ctx, tx, project)
	if err != nil {
		return err
	}
	limit, ok := limits["groups"]
	if !ok || limit < 0 {
		return nil
	}
	var used int64
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_groups WHERE project_id = ? AND deleted = ?`,
		project, false).Scan(&used); err != nil {
		return fmt.Errorf("count groups: %w", err)
	}
	if used+1 > limit {
		return overLimit("Maximum number of groups allowed (%d) exceeded", limit)
	}
	return nil
}

// typeUsage is what an operation adds of one volume type: volumes (or snapshots) and
// their gigabytes.
type typeUsage struct{ count, gigabytes int64 }

// checkTypedQuota checks, through the core's checkQuota, what an operation on several
// volumes takes: the totals once, then each volume type's own quotas. snapshots says the
// counts are snapshots rather than volumes.
func (s *Service) checkTypedQuota(ctx context.Context, tx *store.Tx, project string, usage map[string]typeUsage, snapshots bool) error {
	var total quotaDelta
	ids := make([]string, 0, len(usage))
	for id, u := range usage {
		ids = append(ids, id)
		total.gigabytes += u.gigabytes
		if snapshots {
			total.snapshots += u.count
		} else {
			total.volumes += u.count
		}
	}
	if err := s.checkQuota(ctx, tx, project, total); err != nil {
		return err
	}
	sort.Strings(ids)
	for _, id := range ids {
		var name string
		err := tx.QueryRowContext(ctx, `SELECT name FROM volume_types WHERE id = ?`, id).Scan(&name)
		if store.IsNoRows(err) {
			continue
		}
		if err != nil {
			return err
		}
		u := usage[id]
		d := quotaDelta{gigabytes: u.gigabytes, typeName: name, typeOnly: true}
		if snapshots {
			d.snapshots = u.count
		} else {
			d.volumes = u.count
		}
		if err := s.checkQuota(ctx, tx, project, d); err != nil {
			return err
		}
	}
	return nil
}

// groupTaskFuncs returns how the cinder-volume runner carries out the group and group
// snapshot tasks (groups_tasks.go); the core's volumeTaskFuncs falls through to it.
func (s *Service) groupTaskFuncs(k taskKind) (taskFuncs, bool) {
	switch k {
	case taskCreateGroupFromSource:
		return taskFuncs{run: s.runCreateGroupFromSource, fail: s.failCreateGroupFromSource}, true
	case taskDeleteGroup:
		return taskFuncs{run: s.runDeleteGroup, fail: s.failDeleteGroup}, true
	case taskCreateGroupSnapshot:
		return taskFuncs{run: s.runCreateGroupSnapshot, fail: s.failCreateGroupSnapshot}, true
	case taskDeleteGroupSnapshot:
		return taskFuncs{run: s.runDeleteGroupSnapshot, fail: s.failDeleteGroupSnapshot}, true
	}
	return taskFuncs{}, false
}
