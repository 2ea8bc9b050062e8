package network

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// record is one resource rendered as Neutron shows it. Keys starting with "_" carry
// facts the policy checks need (the network's owner, whether it is shared) and never
// reach the client.
type record map[string]any

// kind describes one resource type to the generic machinery: its names, table, the
// attributes clients may filter and sort on, and how to load and authorize records.
type kind struct {
	// singular and collection are Neutron's names ("network", "networks"); the
	// collection is also the URL path under /v2.0 ("qos/policies").
	singular, collection string
	// listKey is the body key of a list when it is not the collection with underscores
	// ("policies" for qos/policies).
	listKey string
	// table holds the resource's rows with the standard attribute columns.
	table string
	// attrs are the filterable and sortable attributes (beyond the standard ones).
	attrs []string
	// unsortable attributes can be filtered but not sorted on (lists).
	unsortable []string
	// columns maps attributes to the column an equality filter can be pushed down to.
	columns map[string]string
	// custom are filters with their own matching (fixed_ips=ip_address=...).
	custom map[string]func(rec record, values []string) (bool, error)
	// notFound is the resource's NotFound exception.
	notFound func(id string) *api.Error
	// load returns the records matching the pushed-down filters (nil: all).
	load func(ctx context.Context, q store.Querier, c *call, pre sqlFilter) ([]record, error)
	// target builds the policy target of a record (default: the record itself).
	target func(rec record) policy.Target
	// facts lists the Neutron field checks that hold for a record.
	facts func(rec record) []string
	// hasTags is false for resources without standard attributes (quotas, RBAC ...).
	hasTags bool
	// tagless resources have standard attributes but no tags (security group rules).
	tagless bool
	// readRules are the attributes with a get_<singular>:<attr> policy rule.
	readRules []string
	// sqlPaging names the id column when the loader honours pushed-down pages
	// (sqlFilter.paging): forward pages in id order are then cut in SQL.
	sqlPaging string
	// policyKey, when set, renders exactly the record values target and facts read, so
	// that a list's per-record policy decisions are memoised without building the
	// target (thousands of records share a handful of keys).
	policyKey func(rec record) string
}

// standardAttrs are the attributes every resource with standard attributes has.
var standardAttrs = []string{"id", "project_id", "tenant_id", "name", "description",
	"revision_number", "created_at", "updated_at"}

// filterable reports whether clients may filter on attr.
func (k *kind) filterable(attr string) bool {
	if _, ok := k.custom[attr]; ok {
		return true
	}
	if attr == "changed_since" && k.hasTags {
		return true
	}
	return slices.Contains(k.attrs, attr) || (k.hasTags && slices.Contains(standardAttrs, attr))
}

// sortable reports whether clients may sort on attr.
func (k *kind) sortable(attr string) bool {
	if slices.Contains(k.unsortable, attr) {
		return false
	}
	return slices.Contains(k.attrs, attr) || (k.hasTags && slices.Contains(standardAttrs, attr))
}

// registerKind adds a resource to the generic machinery.
func (s *Service) registerKind(k *kind) {
	if k.target == nil {
		k.target = ownerTarget
	}
	prefix := "get_" + k.singular + ":"
	for name := range s.rules {
		if strings.HasPrefix(name, prefix) && name != prefix+"tags" {
			k.readRules = append(k.readRules, strings.TrimPrefix(name, prefix))
		}
	}
	slices.Sort(k.readRules)
	s.kinds[k.collection] = k
}

// sqlFilter is the part of a list query a loader can push down to SQL: equality
// filters on plain columns, ANDed, each with ORed values.
type sqlFilter map[string][]string

// where renders the filter as a WHERE fragment (starting with " AND ") for the columns
// the kind maps, with its arguments.
func (f sqlFilter) where(k *kind, alias string) (string, []any) {
	var b strings.Builder
	var args []any
	keys := make([]string, 0, len(f))
	for a := range f {
		keys = append(keys, a)
	}
	slices.Sort(keys)
	for _, attr := range keys {
		col, ok := k.columns[attr]
		if !ok {
			continue
		}
		vals := f[attr]
		if len(vals) == 0 {
			continue
		}
		b.WriteString(" AND " + alias + col + " IN (")
		for i, v := range vals {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("?")
			args = append(args, v)
		}
		b.WriteString(")")
	}
	return b.String(), args
}

// byID is the filter that loads one record.
func byID(id string) sqlFilter { return sqlFilter{"id": {id}} }

// visible reports whether the caller may see rec (get_<singular>).
func (s *Service) visible(c *call, k *kind, rec record) bool {
	return s.allowed(c, k, "get_"+k.singular, rec, "")
}

// allowed evaluates rule on a record, through the kind's policyKey memo when it has one.
// fast is the record's policyKey when the caller computed it already.
func (s *Service) allowed(c *call, k *kind, rule string, rec record, fast string) bool {
	if k.policyKey == nil {
		return s.enforce(c, rule, k.target(rec), factsOf(k, rec))
	}
	if fast == "" {
		fast = k.policyKey(rec)
	}
	key := "\x03" + rule + "\x00" + fast
	if v, ok := c.memo[key]; ok {
		return v
	}
	v := s.enforce(c, rule, k.target(rec), factsOf(k, rec))
	if c.memo == nil {
		c.memo = map[string]bool{}
	}
	c.memo[key] = v
	return v
}

func factsOf(k *kind, rec record) []string {
	if k.facts == nil {
		return nil
	}
	return k.facts(rec)
}

// present strips what the caller may not read (get_<singular>:<attr> rules, "_" keys)
// and, when fields is not empty, everything but those fields. It edits rec in place:
// records are built per request.
func (s *Service) present(c *call, k *kind, rec record, fields []string) map[string]any {
	if len(k.readRules) > 0 && k.policyKey != nil {
		fast := k.policyKey(rec)
		for _, attr := range k.readRules {
			if _, ok := rec[attr]; ok && !s.allowed(c, k, "get_"+k.singular+":"+attr, rec, fast) {
				delete(rec, attr)
			}
		}
	} else if len(k.readRules) > 0 {
		target, facts := k.target(rec), factsOf(k, rec)
		base := ""
		for _, attr := range k.readRules {
			if _, ok := rec[attr]; !ok {
				continue
			}
			if base == "" {
				base = memoKey(target, facts)
			}
			if !s.enforceKeyed(c, "get_"+k.singular+":"+attr, target, facts, base) {
				delete(rec, attr)
			}
		}
	}
	for key := range rec {
		if key[0] == '_' || (len(fields) > 0 && !slices.Contains(fields, key)) {
			delete(rec, key)
		}
	}
	return rec
}

// loadVisible loads the records of k matching pre that the caller may see.
func (s *Service) loadVisible(ctx context.Context, q store.Querier, c *call, k *kind, pre sqlFilter) ([]record, error) {
	recs, err := k.load(ctx, q, c, pre)
	if err != nil {
		return nil, err
	}
	out := recs[:0]
	for _, rec := range recs {
		if s.visible(c, k, rec) {
			out = append(out, rec)
		}
	}
	return out, nil
}

// loadOne loads one record the caller may see, or the kind's NotFound.
func (s *Service) loadOne(ctx context.Context, q store.Querier, c *call, k *kind, id string) (record, error) {
	recs, err := s.loadVisible(ctx, q, c, k, byID(id))
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, k.notFound(id)
	}
	return recs[0], nil
}

// serveList answers GET /v2.0/<collection>: filters, tag filters, sorting, pagination
// with <collection>_links, fields=.
func (s *Service) serveList(w http.ResponseWriter, r *http.Request, c *call, k *kind) error {
	lq, err := parseListQuery(r.URL.Query(), k)
	if err != nil {
		return err
	}
	pre := sqlFilter{}
	for _, attr := range lq.filterOrder {
		if _, ok := k.columns[attr]; ok {
			pre[attr] = lq.filters[attr]
		}
	}
	var page []record
	var links []map[string]string
	if k.sqlPaging != "" && s.sqlPageable(k, lq) {
		page, links, err = s.sqlPage(r, c, k, lq, pre)
		if err != nil {
			return err
		}
	}
	if page == nil {
		recs, err := s.loadVisible(r.Context(), s.db, c, k, pre)
		if err != nil {
			return err
		}
		items, err := s.filterRecords(c, k, recs, lq)
		if err != nil {
			return err
		}
		sortRecords(items, lq.sorts)
		page, links, err = paginate(r, k, items, lq)
		if err != nil {
			return err
		}
	}
	out := make([]map[string]any, len(page))
	for i, rec := range page {
		out[i] = s.present(c, k, rec, lq.fields)
	}
	// URLs use dashes (rbac-policies), bodies underscores (rbac_policies).
	key := strings.ReplaceAll(k.collection, "-", "_")
	if k.listKey != "" {
		key = k.listKey
	}
	body := map[string]any{key: out}
	if links != nil {
		body[key+"_links"] = links
	}
	writeBody(w, http.StatusOK, body)
	return nil
}

// sqlPageable reports whether a list's page can be cut in SQL: a forward page in id
// order whose filters are all plain columns.
func (s *Service) sqlPageable(k *kind, lq *listQuery) bool {
	if lq.limit <= 0 || lq.pageReverse || len(lq.sorts) > 0 || len(lq.tagsAll)+len(lq.tagsAny)+len(lq.notTags)+len(lq.notTagsAny) > 0 {
		return false
	}
	for _, attr := range lq.filterOrder {
		if _, ok := k.columns[attr]; !ok || slices.Contains(k.readRules, attr) {
			return false
		}
	}
	return true
}

// sqlPage loads one page (limit+1 rows after the marker, in id order) through the
// kind's loader. It returns a nil page when policy hid some of the rows SQL returned,
// and the caller falls back to filtering the whole collection, so pages are always
// exactly what the full path would cut.
func (s *Service) sqlPage(r *http.Request, c *call, k *kind, lq *listQuery, pre sqlFilter) ([]record, []map[string]string, error) {
	if lq.marker != "" {
		var n int
		if err := s.db.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM `+k.table+` WHERE id = ?`, lq.marker).Scan(&n); err != nil {
			return nil, nil, err
		}
		if n == 0 {
			return nil, nil, k.notFound(lq.marker)
		}
	}
	paged := sqlFilter{}
	for key, v := range pre {
		paged[key] = v
	}
	paged[pageLimitKey] = []string{strconv.Itoa(lq.limit + 1)}
	paged[pageMarkerKey] = []string{lq.marker}
	recs, err := k.load(r.Context(), s.db, c, paged)
	if err != nil {
		return nil, nil, err
	}
	for _, rec := range recs {
		if !s.visible(c, k, rec) {
			return nil, nil, nil
		}
	}
	if recs == nil {
		recs = []record{}
	}
	more := len(recs) > lq.limit
	if more {
		recs = recs[:lq.limit]
	}
	var links []map[string]string
	if more || len(recs) == lq.limit {
		links = append(links, map[string]string{"rel": "next", "href": pageLink(r, recs, false)})
	}
	links = append(links, map[string]string{"rel": "previous", "href": pageLink(r, recs, true)})
	return recs, links, nil
}

// Keys of a sqlFilter that carry a pushed-down page rather than attribute filters.
const (
	pageLimitKey  = "\x00limit"
	pageMarkerKey = "\x00marker"
)

// paging renders a pushed-down page as a WHERE fragment on idCol and an ORDER BY/LIMIT
// tail ("" when the filter carries no page).
func (f sqlFilter) paging(idCol string) (where string, args []any, tail string) {
	lim, ok := f[pageLimitKey]
	if !ok {
		return "", nil, ""
	}
	if m := f[pageMarkerKey]; len(m) == 1 && m[0] != "" {
		where, args = ` AND `+idCol+` > ?`, []any{m[0]}
	}
	return where, args, ` LIMIT ` + lim[0]
}

// filterRecords keeps the records that match every filter. Attributes the caller may not
// read never match, so filters cannot probe hidden values.
func (s *Service) filterRecords(c *call, k *kind, recs []record, lq *listQuery) ([]record, error) {
	hidden := map[string]bool{}
	for _, attr := range lq.filterOrder {
		if slices.Contains(k.readRules, attr) && !s.isAdmin(c) {
			hidden[attr] = true
		}
	}
	out := make([]record, 0, len(recs))
	for _, rec := range recs {
		ok := true
		for _, attr := range lq.filterOrder {
			vals := lq.filters[attr]
			if fn, custom := k.custom[attr]; custom {
				m, err := fn(rec, vals)
				if err != nil {
					return nil, err
				}
				ok = m
			} else if attr == "changed_since" {
				ok = changedSince(rec, vals)
			} else if hidden[attr] {
				ok = false
			} else {
				v := rec[attr]
				if attr == "tenant_id" {
					v = rec["project_id"]
				}
				any := false
				for _, want := range vals {
					m, valid := matchValue(v, want)
					if !valid {
						return nil, badRequest("Invalid input for %s. Reason: '%s' cannot be converted.", attr, truncate(want, 64))
					}
					any = any || m
				}
				ok = any
			}
			if !ok {
				break
			}
		}
		if ok && k.hasTags {
			ok = matchTags(rec, lq)
		}
		if ok {
			out = append(out, rec)
		}
	}
	return out, nil
}

// changedSince keeps records updated at or after the given time.
func changedSince(rec record, vals []string) bool {
	u, _ := rec["updated_at"].(string)
	for _, v := range vals {
		if u >= v {
			return true
		}
	}
	return false
}

// matchTags applies tags (all of), tags-any, not-tags (not all of) and not-tags-any.
func matchTags(rec record, lq *listQuery) bool {
	tags, _ := rec["tags"].([]string)
	has := func(t string) bool { return slices.Contains(tags, t) }
	for _, t := range lq.tagsAll {
		if !has(t) {
			return false
		}
	}
	if len(lq.tagsAny) > 0 && !slices.ContainsFunc(lq.tagsAny, has) {
		return false
	}
	if len(lq.notTags) > 0 {
		all := true
		for _, t := range lq.notTags {
			all = all && has(t)
		}
		if all {
			return false
		}
	}
	if slices.ContainsFunc(lq.notTagsAny, has) {
		return false
	}
	return true
}

// sortRecords orders records by the sort keys, then by id so that pages are stable.
// Loaders mostly return id order already; a linear check skips the sort then.
func sortRecords(recs []record, sorts []sortKey) {
	if len(sorts) == 0 && slices.IsSortedFunc(recs, func(a, b record) int {
		x, _ := a["id"].(string)
		y, _ := b["id"].(string)
		return strings.Compare(x, y)
	}) {
		return
	}
	keys := append(slices.Clone(sorts), sortKey{"id", true})
	slices.SortStableFunc(recs, func(a, b record) int {
		for _, sk := range keys {
			ka, kb := sk.key, sk.key
			if ka == "tenant_id" {
				ka, kb = "project_id", "project_id"
			}
			c := compareValues(a[ka], b[kb])
			if !sk.asc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
}

// paginate cuts the page limit/marker/page_reverse select and builds Neutron's links: a
// "next" link unless the page came up short going forward, a "previous" link unless it
// came up short going backward.
func paginate(r *http.Request, k *kind, items []record, lq *listQuery) ([]record, []map[string]string, error) {
	if lq.limit == 0 && lq.marker == "" {
		return items, nil, nil
	}
	start := 0
	if lq.marker != "" {
		idx := slices.IndexFunc(items, func(rec record) bool { return rec["id"] == lq.marker })
		if idx < 0 {
			return nil, nil, k.notFound(lq.marker)
		}
		start = idx + 1
		if lq.pageReverse {
			start = idx
		}
	}
	var page []record
	if lq.pageReverse {
		end := start
		if lq.marker == "" {
			end = len(items)
		}
		begin := 0
		if lq.limit > 0 && end-lq.limit > 0 {
			begin = end - lq.limit
		}
		page = items[begin:end]
	} else {
		end := len(items)
		if lq.limit > 0 && start+lq.limit < end {
			end = start + lq.limit
		}
		page = items[start:end]
	}
	if lq.limit == 0 {
		return page, nil, nil
	}
	var links []map[string]string
	if !(len(page) < lq.limit && !lq.pageReverse) {
		links = append(links, map[string]string{"rel": "next", "href": pageLink(r, page, false)})
	}
	if !(len(page) < lq.limit && lq.pageReverse) {
		links = append(links, map[string]string{"rel": "previous", "href": pageLink(r, page, true)})
	}
	return page, links, nil
}

// pageLink is the request's own URL with the marker moved to the page's last (next) or
// first (previous) item.
func pageLink(r *http.Request, page []record, previous bool) string {
	q := url.Values{}
	for key, vals := range r.URL.Query() {
		if key == "marker" || key == "page_reverse" {
			continue
		}
		q[key] = vals
	}
	if len(page) > 0 {
		item := page[len(page)-1]
		if previous {
			item = page[0]
		}
		q.Set("marker", item["id"].(string))
	}
	if previous {
		q.Set("page_reverse", "True")
	}
	return api.BaseURL(r) + r.URL.Path + "?" + q.Encode()
}

// serveShow answers GET /v2.0/<collection>/{id} with fields=.
func (s *Service) serveShow(w http.ResponseWriter, r *http.Request, c *call, k *kind) error {
	rec, err := s.loadOne(r.Context(), s.db, c, k, r.PathValue("id"))
	if err != nil {
		return err
	}
	var fields []string
	for _, f := range r.URL.Query()["fields"] {
		if f != "" {
			fields = append(fields, f)
		}
	}
	writeBody(w, http.StatusOK, map[string]any{k.singular: s.present(c, k, rec, fields)})
	return nil
}

// writeOne answers a create or update with the resource as the caller may read it.
func (s *Service) writeOne(w http.ResponseWriter, c *call, k *kind, status int, id string, ctx context.Context) error {
	recs, err := k.load(ctx, s.db, c, byID(id))
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return k.notFound(id)
	}
	writeBody(w, status, map[string]any{k.singular: s.present(c, k, recs[0], nil)})
	return nil
}

// authorizeOn checks an update or delete rule against a record the caller can see:
// refused → 403, except that a caller who may not even show it gets 404, as Neutron.
func (s *Service) authorizeOn(c *call, k *kind, rule string, rec record) error {
	if s.enforce(c, rule, k.target(rec), factsOf(k, rec)) {
		return nil
	}
	if !s.visible(c, k, rec) {
		return hiddenNotFound()
	}
	return policyNotAuthorized(rule)
}

// authorizeAttrs checks the per-attribute rules (<action>_<singular>:<attr>) for every
// attribute present in body.
func (s *Service) authorizeAttrs(c *call, k *kind, action string, body api.Object, target policy.Target, facts []string) error {
	keys := make([]string, 0, len(body))
	for key := range body {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	for _, key := range keys {
		rule := action + "_" + k.singular + ":" + key
		if _, ok := s.rules[rule]; !ok {
			continue
		}
		if !s.enforce(c, rule, target, facts) {
			return policyNotAuthorized(rule)
		}
	}
	return nil
}

// ifMatch parses the If-Match header's revision_number=<n> constraint (nil: none).
func ifMatch(r *http.Request) (*int64, error) {
	var out *int64
	for _, part := range strings.Split(r.Header.Get("If-Match"), ",") {
		e := strings.Trim(strings.TrimSpace(part), `"`)
		if !strings.HasPrefix(e, "revision_number=") {
			continue
		}
		if out != nil {
			return nil, badResourceRequest("if-match", "Multiple revision_number etags are not supported.")
		}
		n, err := strconv.ParseInt(strings.TrimPrefix(e, "revision_number="), 10, 64)
		if err != nil {
			return nil, badResourceRequest("if-match", "Revision number etag must be in the format of revision_number=<int>")
		}
		out = &n
	}
	return out, nil
}

// bump records a change to a resource: revision_number+1 and updated_at, refusing with
// 412 when the If-Match revision is stale. The compare and the increment are one UPDATE,
// so two writers holding the same revision cannot both pass.
func (s *Service) bump(ctx context.Context, tx *store.Tx, k *kind, id string, match *int64) error {
	ts := store.FormatTime(now())
	if match == nil {
		_, err := tx.ExecContext(ctx, `UPDATE `+k.table+` SET revision_number = revision_number + 1, updated_at = ? WHERE id = ?`, ts, id)
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE `+k.table+` SET revision_number = revision_number + 1, updated_at = ?
		WHERE id = ? AND revision_number = ?`, ts, id, *match)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var cur int64
		if err := tx.QueryRowContext(ctx, `SELECT revision_number FROM `+k.table+` WHERE id = ?`, id).Scan(&cur); err != nil {
			if store.IsNoRows(err) {
				return k.notFound(id)
			}
			return err
		}
		return revisionFailed(*match, cur)
	}
	return nil
}

// checkRevision refuses a delete whose If-Match revision is stale.
func (s *Service) checkRevision(ctx context.Context, q store.Querier, k *kind, id string, match *int64) error {
	if match == nil {
		return nil
	}
	var cur int64
	if err := q.QueryRowContext(ctx, `SELECT revision_number FROM `+k.table+` WHERE id = ?`, id).Scan(&cur); err != nil {
		if store.IsNoRows(err) {
			return k.notFound(id)
		}
		return err
	}
	if cur != *match {
		return revisionFailed(*match, cur)
	}
	return nil
}

// stdAttrs are the standard attribute columns of a row.
type stdAttrs struct {
	ID, ProjectID, Name, Description string
	Revision                         int64
	CreatedAt, UpdatedAt             string
}

// stdCols lists the standard attribute columns in stdAttrs.dest order.
const stdCols = "id, project_id, name, description, revision_number, created_at, updated_at"

// dest returns scan destinations for stdCols.
func (a *stdAttrs) dest() []any {
	return []any{&a.ID, &a.ProjectID, &a.Name, &a.Description, &a.Revision, &a.CreatedAt, &a.UpdatedAt}
}

// render writes the standard attributes into rec.
func (a *stdAttrs) render(rec record, tags map[string][]string) {
	rec["id"] = a.ID
	rec["project_id"] = a.ProjectID
	rec["tenant_id"] = a.ProjectID
	rec["name"] = a.Name
	rec["description"] = a.Description
	rec["revision_number"] = a.Revision
	rec["created_at"] = stamp(a.CreatedAt)
	rec["updated_at"] = stamp(a.UpdatedAt)
	t := tags[a.ID]
	if t == nil {
		t = []string{}
	}
	rec["tags"] = t
}

// loadTags returns the tags of a resource type by resource id; with one id it reads only
// that resource's tags.
func loadTags(ctx context.Context, q store.Querier, resType string, pre sqlFilter) (map[string][]string, error) {
	query := `SELECT resource_id, tag FROM net_tags WHERE resource_type = ?`
	args := []any{resType}
	if ids := pre["id"]; len(ids) == 1 {
		query += ` AND resource_id = ?`
		args = append(args, ids[0])
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY resource_id, tag`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var id, tag string
		if err := rows.Scan(&id, &tag); err != nil {
			return nil, err
		}
		out[id] = append(out[id], tag)
	}
	return out, rows.Err()
}

// deleteTags removes a deleted resource's tags.
func deleteTags(ctx context.Context, tx *store.Tx, resType, id string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM net_tags WHERE resource_type = ? AND resource_id = ?`, resType, id)
	return err
}

// ownerTarget is the default policy target: the record's id and owner, which is all
// Neutron's default rules for top-level resources read.
func ownerTarget(rec record) policy.Target {
	return policy.Target{"project_id": rec["project_id"], "tenant_id": rec["project_id"]}
}
