package compute

import (
	"context"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gostack/gostack/internal/api"
)

// The server list: Nova's query schema per microversion (servers.py index_query*), the
// filters a non-admin may use (_get_server_search_options), status to state mapping,
// sorting and keyset paging. Filters the database can answer become SQL; Nova's regular
// expression filters (name, ip, ...) are applied in Go while the rows stream in, so a
// page is still read in one ordered pass.

// knownListParams are the query parameters of index_query (2.1), without the ones added
// later, which listParamAllowed handles.
var knownListParams = map[string]bool{
	"user_id": true, "project_id": true, "tenant_id": true, "launch_index": true, "image_ref": true,
	"image": true, "kernel_id": true, "ramdisk_id": true, "hostname": true, "key_name": true,
	"power_state": true, "vm_state": true, "task_state": true, "host": true, "node": true, "flavor": true,
	"reservation_id": true, "launched_at": true, "terminated_at": true, "availability_zone": true,
	"name": true, "display_name": true, "description": true, "display_description": true,
	"locked_by": true, "uuid": true, "root_device_name": true, "config_drive": true,
	"access_ip_v4": true, "access_ip_v6": true, "auto_disk_config": true, "progress": true,
	"sort_key": true, "sort_dir": true, "all_tenants": true, "soft_deleted": true, "deleted": true,
	"status": true, "changes-since": true, "ip": true, "ip6": true, "created_at": true,
	"limit": true, "marker": true,
	// Joined tables: known to the schema so that they reach the 400 below.
	"block_device_mapping": true, "services": true, "metadata": true, "system_metadata": true,
	"info_cache": true, "security_groups": true, "pci_devices": true,
}

// joinedTableParams are refused with "Invalid filter field".
var joinedTableParams = map[string]bool{"block_device_mapping": true, "services": true, "metadata": true,
	"system_metadata": true, "info_cache": true, "security_groups": true, "pci_devices": true}

var tagFilters = []string{"tags", "tags-any", "not-tags", "not-tags-any"}

// knownAt reports whether the query schema of the microversion has param.
func knownAt(ver api.Version, param string) bool {
	if knownListParams[param] || strings.HasPrefix(param, "_") {
		return true
	}
	switch {
	case slices.Contains(tagFilters, param):
		return ver.AtLeast(2, 26)
	case param == "changes-before":
		return ver.AtLeast(2, 66)
	case param == "locked":
		return ver.AtLeast(2, 73)
	}
	return false
}

// nonAdminFilters is _get_server_search_options: what a caller without
// allow_all_filters may filter by at the microversion.
func nonAdminFilters(ver api.Version) map[string]bool {
	out := map[string]bool{}
	for _, k := range []string{"reservation_id", "name", "status", "image", "flavor", "ip", "changes-since", "all_tenants"} {
		out[k] = true
	}
	add := func(minor int, ks ...string) {
		if ver.AtLeast(2, minor) {
			for _, k := range ks {
				out[k] = true
			}
		}
	}
	add(5, "ip6")
	add(26, tagFilters...)
	add(66, "changes-before")
	add(73, "locked")
	add(83, "availability_zone", "config_drive", "key_name", "created_at", "launched_at", "terminated_at",
		"power_state", "task_state", "vm_state", "progress", "user_id")
	add(90, "hostname")
	return out
}

// sortColumns maps Nova's sort keys to SQL expressions. Nullable columns are coalesced
// so that ordering and keyset comparisons agree on both engines. Keys with no column
// here (kernel_id, ramdisk_id, ...) are accepted and have no effect.
var sortColumns = map[string]string{
	"access_ip_v4": "access_ip_v4", "access_ip_v6": "access_ip_v6",
	"availability_zone": "COALESCE(availability_zone, '')", "config_drive": "config_drive",
	"created_at": "created_at", "display_description": "COALESCE(description, '')", "display_name": "name",
	"host": "COALESCE(host, '')", "hostname": "hostname", "image_ref": "image_ref",
	"key_name": "COALESCE(key_name, '')", "launch_index": "launch_index",
	"launched_at": "COALESCE(launched_at, '')", "locked_by": "COALESCE(locked_by, '')",
	"node": "COALESCE(node, '')", "power_state": "power_state", "progress": "progress",
	"project_id": "project_id", "root_device_name": "COALESCE(root_device_name, '')",
	"task_state": "COALESCE(task_state, '')", "terminated_at": "COALESCE(terminated_at, '')",
	"updated_at": "updated_at", "user_id": "user_id", "uuid": "uuid", "vm_state": "vm_state",
	"locked": "locked", "id": "id",
}

// sortableKeys are VALID_SORT_KEYS (2.1–2.72); ignoredSortKeys the ones Nova accepts and
// drops.
var (
	sortableKeys = []string{"access_ip_v4", "access_ip_v6", "auto_disk_config", "availability_zone",
		"config_drive", "created_at", "display_description", "display_name", "host", "hostname",
		"image_ref", "instance_type_id", "kernel_id", "key_name", "launch_index", "launched_at",
		"locked_by", "node", "power_state", "progress", "project_id", "ramdisk_id",
		"root_device_name", "task_state", "terminated_at", "updated_at", "user_id", "uuid", "vm_state"}
	ignoredSortKeys = []string{"architecture", "cell_name", "cleaned", "default_ephemeral_device",
		"default_swap_device", "deleted", "deleted_at", "disable_terminate", "ephemeral_gb",
		"ephemeral_key_uuid", "id", "key_data", "launched_on", "locked", "memory_mb", "os_type",
		"reservation_id", "root_gb", "shutdown_terminate", "user_data", "vcpus", "vm_mode"}
)

// sortKey is one ORDER BY term.
type sortKey struct {
	expr string
	desc bool
}

// goFilter is a filter applied to decoded rows.
type goFilter func(inst *Instance) bool

// serverQuery is a parsed server list request.
type serverQuery struct {
	conds      []string
	args       []any
	filters    []goFilter
	sort       []sortKey
	limit      int
	marker     string
	allTenants bool
	// empty is set when the answer is known to be an empty list (an unknown status
	// before 2.38, a flavor that does not exist, limit=0).
	empty bool
	// flavor is the flavor filter, checked for existence by the handler.
	flavor string
}

// listParams are the parameters of the query after Nova's preprocessing.
type listParams struct {
	ver             api.Version
	admin           bool // context.is_admin
	allowAllFilters bool // os_compute_api:servers:allow_all_filters
	projectID       string
	userID          string
	maxLimit        int
}

// parseServerQuery turns a raw query string into a serverQuery, with Nova's 400s and
// 403s for bad input.
func parseServerQuery(raw string, p listParams) (*serverQuery, error) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, badRequest("Invalid query string.")
	}
	q := &serverQuery{limit: p.maxLimit}
	if p.ver.AtLeast(2, 75) {
		keys := make([]string, 0, len(vals))
		for k := range vals {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !knownAt(p.ver, k) {
				return nil, badRequest("Additional properties are not allowed ('%s' was unexpected)", k)
			}
		}
	}
	// Paging.
	if vs, ok := vals["limit"]; ok {
		s := vs[len(vs)-1]
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return nil, badRequest("Invalid input for query parameters limit. Value: %s. %q does not match '^[0-9]*$'", s, s)
		}
		if n > 0 && n < p.maxLimit {
			q.limit = n
		}
		// min(max_limit, 0) is a zero LIMIT in Nova's query: an empty page.
		if n == 0 {
			q.empty = true
		}
	}
	if vs, ok := vals["marker"]; ok {
		q.marker = vs[len(vs)-1]
	}
	// Sorting (validated before the filters are stripped, as the schema does).
	sortKeys, sortDirs := vals["sort_key"], vals["sort_dir"]
	allowed := append(slices.Clone(sortableKeys), ignoredSortKeys...)
	if p.ver.AtLeast(2, 73) {
		allowed = append(allowed, "locked")
	}
	if p.ver.AtLeast(2, 75) {
		allowed = append(slices.Clone(sortableKeys), "locked")
	}
	for _, k := range sortKeys {
		if !slices.Contains(allowed, k) {
			return nil, badRequest("Invalid input for query parameters sort_key. Value: %s. %q is not one of %s", k, k, pyList(allowed))
		}
	}
	if err := q.parseSort(p, sortKeys, sortDirs); err != nil {
		return nil, err
	}

	// Filters: the last value of each, as webob's MultiDict lookup gives.
	opts := map[string]string{}
	for k, vs := range vals {
		switch k {
		case "limit", "marker", "sort_key", "sort_dir":
			continue
		}
		opts[k] = vs[len(vs)-1]
	}
	if !p.allowAllFilters {
		ok := nonAdminFilters(p.ver)
		for k := range opts {
			if !ok[k] {
				delete(opts, k)
			}
		}
	}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if joinedTableParams[k] || strings.HasPrefix(k, "_") {
			return nil, badRequest("Invalid filter field: %s.", k)
		}
	}

	// status → vm_state / task_state.
	if _, ok := vals["status"]; ok {
		if _, kept := opts["status"]; kept {
			delete(opts, "status")
			vmStates, taskStates, anyTask := statesForStatuses(vals["status"])
			if len(vmStates) == 0 {
				if p.ver.AtLeast(2, 38) {
					return nil, badRequest("Invalid status value")
				}
				q.empty = true
				return q, nil
			}
			if len(vmStates) == 1 && vmStates[0] == VMDeleted {
				if !p.admin {
					return nil, forbidden("Only administrators may list deleted instances")
				}
				opts["deleted"] = "true"
			}
			q.in("vm_state", vmStates)
			if !anyTask {
				q.inNullable("task_state", taskStates)
			}
		}
	}
	var since, before time.Time
	if v, ok := opts["changes-since"]; ok {
		t, ok := parseISO(v)
		if !ok {
			return nil, badRequest("Invalid input for query parameters changes-since. Value: %s. '%s' is not a 'date-time'", v, v)
		}
		since = t
		q.cond("updated_at >= ?", formatStored(t))
	}
	if v, ok := opts["changes-before"]; ok {
		t, ok := parseISO(v)
		if !ok {
			return nil, badRequest("Invalid input for query parameters changes-before. Value: %s. '%s' is not a 'date-time'", v, v)
		}
		before = t
		if !since.IsZero() && before.Before(since) {
			return nil, badRequest("The value of changes-since must be less than or equal to changes-before.")
		}
		q.cond("updated_at <= ?", formatStored(t))
	}
	if v, ok := opts["deleted"]; ok {
		q.cond("deleted = ?", boolFromString(v))
	} else if _, s := opts["changes-since"]; !s {
		if _, b := opts["changes-before"]; !b {
			q.cond("deleted = ?", false)
		}
	}
	// Tenancy.
	if v, ok := opts["all_tenants"]; ok && v == "" {
		// Nova's is_all_tenants: the bare parameter (?all_tenants) enables it.
		q.allTenants = true
	} else if ok {
		b, valid := strictBool(v)
		if !valid {
			return nil, badRequest("Unrecognized value '%s', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'", v)
		}
		q.allTenants = b
	}
	if q.allTenants {
		if v, ok := opts["project_id"]; ok {
			q.cond("project_id = ?", v)
		} else if v, ok := opts["tenant_id"]; ok {
			q.cond("project_id = ?", v)
		}
	} else if p.projectID != "" {
		q.cond("project_id = ?", p.projectID)
	} else {
		q.cond("user_id = ?", p.userID)
	}
	if v, ok := opts["user_id"]; ok {
		q.cond("user_id = ?", v)
	}
	if v, ok := opts["locked"]; ok {
		b, valid := strictBool(v)
		if !valid {
			return nil, badRequest("Unrecognized value '%s', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'", v)
		}
		q.cond("locked = ?", b)
	}
	for _, k := range []string{"image", "image_ref"} {
		if v, ok := opts[k]; ok {
			q.cond("image_ref = ?", idFromHref(v))
		}
	}
	if v, ok := opts["uuid"]; ok {
		q.cond("uuid = ?", v)
	}
	if v, ok := opts["host"]; ok {
		q.cond("host = ?", v)
	}
	if v, ok := opts["vm_state"]; ok {
		q.cond("vm_state = ?", v)
	}
	if v, ok := opts["task_state"]; ok {
		q.cond("task_state = ?", v)
	}
	if v, ok := opts["flavor"]; ok {
		q.flavor = idFromHref(v)
		id := q.flavor
		q.filters = append(q.filters, func(i *Instance) bool { return i.Flavor.ID == id })
	}
	// Tags (2.26): comma-separated lists.
	if p.ver.AtLeast(2, 26) {
		if v, ok := opts["tags"]; ok {
			for _, t := range strings.Split(v, ",") {
				q.cond("EXISTS (SELECT 1 FROM compute_instance_tags t WHERE t.instance_uuid = compute_instances.uuid AND t.tag = ?)", t)
			}
		}
		if v, ok := opts["tags-any"]; ok {
			in, args := inClause(strings.Split(v, ","))
			q.cond("EXISTS (SELECT 1 FROM compute_instance_tags t WHERE t.instance_uuid = compute_instances.uuid AND t.tag IN "+in+")", args...)
		}
		if v, ok := opts["not-tags"]; ok {
			tags := strings.Split(v, ",")
			var parts []string
			var args []any
			for _, t := range tags {
				parts = append(parts, "EXISTS (SELECT 1 FROM compute_instance_tags t WHERE t.instance_uuid = compute_instances.uuid AND t.tag = ?)")
				args = append(args, t)
			}
			q.cond("NOT ("+strings.Join(parts, " AND ")+")", args...)
		}
		if v, ok := opts["not-tags-any"]; ok {
			in, args := inClause(strings.Split(v, ","))
			q.cond("NOT EXISTS (SELECT 1 FROM compute_instance_tags t WHERE t.instance_uuid = compute_instances.uuid AND t.tag IN "+in+")", args...)
		}
	}
	// Regular-expression filters (Python re.search semantics).
	regexFields := []struct {
		key string
		get func(*Instance) []string
	}{
		{"name", func(i *Instance) []string { return []string{i.Name} }},
		{"display_name", func(i *Instance) []string { return []string{i.Name} }},
		{"reservation_id", func(i *Instance) []string { return []string{i.ReservationID} }},
		{"hostname", func(i *Instance) []string { return []string{i.Hostname} }},
		{"key_name", func(i *Instance) []string { return optStrs(i.KeyName) }},
		{"node", func(i *Instance) []string { return optStrs(i.Node) }},
		{"availability_zone", func(i *Instance) []string { return optStrs(i.AvailabilityZone) }},
		{"description", func(i *Instance) []string { return optStrs(i.Description) }},
		{"display_description", func(i *Instance) []string { return optStrs(i.Description) }},
		{"locked_by", func(i *Instance) []string { return optStrs(i.LockedBy) }},
		{"root_device_name", func(i *Instance) []string { return optStrs(i.RootDeviceName) }},
		{"config_drive", func(i *Instance) []string { return []string{i.ConfigDrive} }},
		{"access_ip_v4", func(i *Instance) []string { return []string{i.AccessIPv4} }},
		{"access_ip_v6", func(i *Instance) []string { return []string{i.AccessIPv6} }},
		{"power_state", func(i *Instance) []string { return []string{strconv.Itoa(i.PowerState)} }},
		{"progress", func(i *Instance) []string { return []string{strconv.Itoa(i.Progress)} }},
		{"launch_index", func(i *Instance) []string { return []string{strconv.Itoa(i.LaunchIndex)} }},
		{"created_at", func(i *Instance) []string { return []string{pyTime(&i.CreatedAt)} }},
		{"launched_at", func(i *Instance) []string { return optStrs(ptrIf(pyTime(i.LaunchedAt))) }},
		{"terminated_at", func(i *Instance) []string { return optStrs(ptrIf(pyTime(i.TerminatedAt))) }},
		{"ip", func(i *Instance) []string { v4, _ := ipStrings(i); return v4 }},
		{"ip6", func(i *Instance) []string { _, v6 := ipStrings(i); return v6 }},
	}
	for _, f := range regexFields {
		v, ok := opts[f.key]
		if !ok {
			continue
		}
		re, err := regexp.Compile(v)
		if err != nil {
			return nil, badRequest("Invalid regular expression in filter %s.", f.key)
		}
		get := f.get
		q.filters = append(q.filters, func(i *Instance) bool {
			for _, s := range get(i) {
				if re.MatchString(s) {
					return true
				}
			}
			return false
		})
	}
	return q, nil
}

// parseSort is get_sort_params, remove_invalid_sort_keys and process_sort_params.
func (q *serverQuery) parseSort(p listParams, keys, dirs []string) error {
	keys, dirs = slices.Clone(keys), slices.Clone(dirs)
	ignored := ignoredSortKeys
	if p.ver.AtLeast(2, 73) {
		ignored = slices.DeleteFunc(slices.Clone(ignoredSortKeys), func(k string) bool { return k == "locked" })
	}
	for i := 0; i < len(keys); {
		k := keys[i]
		switch {
		case slices.Contains(ignored, k):
			if len(dirs) > i {
				dirs = slices.Delete(dirs, i, i+1)
			}
			keys = slices.Delete(keys, i, i+1)
			continue
		case (k == "host" || k == "node") && !p.admin:
			return forbidden("Only administrators can sort servers by %s", k)
		}
		i++
	}
	if len(dirs) > len(keys) && len(keys) > 0 {
		return badRequest("Sort direction size exceeds sort key size")
	}
	for _, d := range dirs {
		if d != "asc" && d != "desc" {
			return badRequest("Unknown sort direction, must be 'desc' or 'asc'")
		}
	}
	def := "desc"
	if len(dirs) > 0 {
		def = dirs[0]
	}
	seen := map[string]bool{}
	add := func(k, d string) {
		expr, ok := sortColumns[k]
		if !ok || seen[expr] {
			return
		}
		seen[expr] = true
		q.sort = append(q.sort, sortKey{expr: expr, desc: d == "desc"})
	}
	for i, k := range keys {
		d := def
		if i < len(dirs) {
			d = dirs[i]
		}
		add(k, d)
	}
	add("created_at", def)
	add("id", def)
	return nil
}

// cond adds a SQL condition.
func (q *serverQuery) cond(c string, args ...any) {
	q.conds = append(q.conds, c)
	q.args = append(q.args, args...)
}

// in adds col IN (values).
func (q *serverQuery) in(col string, values []string) {
	in, args := inClause(values)
	q.cond(col+" IN "+in, args...)
}

// inNullable adds col IN (values), "" meaning NULL.
func (q *serverQuery) inNullable(col string, values []string) {
	var vs []string
	null := false
	for _, v := range values {
		if v == "" {
			null = true
		} else {
			vs = append(vs, v)
		}
	}
	var parts []string
	var args []any
	if len(vs) > 0 {
		in, a := inClause(vs)
		parts = append(parts, col+" IN "+in)
		args = a
	}
	if null {
		parts = append(parts, col+" IS NULL")
	}
	if len(parts) == 0 {
		q.cond("1 = 0")
		return
	}
	q.cond("("+strings.Join(parts, " OR ")+")", args...)
}

// statesForStatuses is Nova's task_and_vm_state_from_status for several statuses,
// case-insensitively. anyTask is set when a status matched a vm_state as a whole (its
// "default" task state), so that no task_state filter applies.
func statesForStatuses(statuses []string) (vmStates, taskStates []string, anyTask bool) {
	want := map[string]bool{}
	for _, s := range statuses {
		want[strings.ToUpper(s)] = true
	}
	vmSeen, taskSeen := map[string]bool{}, map[string]bool{}
	for vm, m := range stateMap {
		for task, st := range m {
			if !want[st] {
				continue
			}
			if !vmSeen[vm] {
				vmSeen[vm] = true
				vmStates = append(vmStates, vm)
			}
			if task == "" {
				anyTask = true
			} else if !taskSeen[task] {
				taskSeen[task] = true
				taskStates = append(taskStates, task)
			}
		}
	}
	slices.Sort(vmStates)
	slices.Sort(taskStates)
	return vmStates, taskStates, anyTask
}

// boolFromString is oslo's lenient bool_from_string(default=False).
func boolFromString(s string) bool {
	b, _ := strictBool(s)
	return b
}

// parseISO parses an ISO 8601 timestamp as oslo's parse_isotime does.
func parseISO(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05Z0700",
		"2006-01-02T15:04Z07:00", "2006-01-02T15:04", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999",
		"2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// formatStored renders a time in the stored form (store.FormatTime).
func formatStored(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// idFromHref is common.get_id_from_href: the last path segment of an href, or the value.
func idFromHref(s string) string {
	if u, err := url.Parse(s); err == nil && u.Path != "" {
		p := strings.TrimRight(u.Path, "/")
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			return p[i+1:]
		}
		return p
	}
	return s
}

// optStrs is a nullable string as a list of zero or one values.
func optStrs(p *string) []string {
	if p == nil {
		return nil
	}
	return []string{*p}
}

// ptrIf is &s, nil for "".
func ptrIf(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// pyTime renders a time as Python's str(datetime), which the regex filters see.
func pyTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// queryServers runs a parsed list query: the page after the marker, in order.
func (s *Service) queryServers(ctx context.Context, q *serverQuery, admin bool, callerProject string) ([]*Instance, error) {
	if q.empty { // limit=0 and the cases above: an empty list
		return nil, nil
	}
	conds := slices.Clone(q.conds)
	args := slices.Clone(q.args)
	if q.marker != "" {
		exprs := make([]string, len(q.sort))
		for i, k := range q.sort {
			exprs[i] = k.expr
		}
		row := s.db.QueryRowContext(ctx, `SELECT project_id, `+strings.Join(exprs, ", ")+` FROM compute_instances WHERE uuid = ?`, q.marker)
		vals := make([]any, len(q.sort)+1)
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		err := row.Scan(ptrs...)
		if err == nil && !admin {
			if p, _ := vals[0].(string); p != callerProject {
				err = errMarker
			}
		}
		if err != nil {
			return nil, badRequest("marker [%s] not found", q.marker)
		}
		mv := vals[1:]
		// (k1 op m1) OR (k1 = m1 AND k2 op m2) OR ..., with a plain bound on the first
		// key so that an index on it can be used.
		var ors []string
		var orArgs []any
		for i, k := range q.sort {
			var ands []string
			var andArgs []any
			for j := 0; j < i; j++ {
				ands = append(ands, q.sort[j].expr+" = ?")
				andArgs = append(andArgs, mv[j])
			}
			op := " > ?"
			if k.desc {
				op = " < ?"
			}
			ands = append(ands, k.expr+op)
			andArgs = append(andArgs, mv[i])
			ors = append(ors, "("+strings.Join(ands, " AND ")+")")
			orArgs = append(orArgs, andArgs...)
		}
		first := q.sort[0]
		bound := " >= ?"
		if first.desc {
			bound = " <= ?"
		}
		conds = append(conds, first.expr+bound, "("+strings.Join(ors, " OR ")+")")
		args = append(args, mv[0])
		args = append(args, orArgs...)
	}
	var order []string
	for _, k := range q.sort {
		d := " ASC"
		if k.desc {
			d = " DESC"
		}
		order = append(order, k.expr+d)
	}
	query := `SELECT ` + instanceColumns + ` FROM compute_instances`
	if len(conds) > 0 {
		query += ` WHERE ` + strings.Join(conds, " AND ")
	}
	query += ` ORDER BY ` + strings.Join(order, ", ")
	if len(q.filters) == 0 && q.limit > 0 {
		query += ` LIMIT ` + strconv.Itoa(q.limit)
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Instance
	for rows.Next() {
		inst, err := scanInstance(rows)
		if err != nil {
			return nil, err
		}
		keep := true
		for _, f := range q.filters {
			if !f(inst) {
				keep = false
				break
			}
		}
		if !keep {
			continue
		}
		out = append(out, inst)
		if q.limit > 0 && len(out) >= q.limit {
			break
		}
	}
	return out, rows.Err()
}

// errMarker marks a marker the caller may not page from.
var errMarker = api.NotFound("marker")
