package identity

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// This file holds the service catalog's logic: regions, services and endpoints as Keystone
// stores them (keystone/catalog/backends/sql.py), the catalog put into tokens, and the
// bootstrap helper that registers gostack's own services. The HTTP handlers are in
// catalog_http.go.

// region is a Keystone region. Regions form a tree through ParentRegionID.
type region struct {
	ID, Description, ParentRegionID string
	Extra                           map[string]any
}

// catalogService is a Keystone service. Keystone keeps a service's name and description
// among its extra attributes, and so does the services table.
type catalogService struct {
	ID, Type string
	Enabled  bool
	// Extra holds name, description and any other attribute the client set.
	Extra map[string]any
}

// name returns the service's name, "" when unset, as Keystone's catalog renders it.
func (sv *catalogService) name() string {
	n, _ := sv.Extra["name"].(string)
	return n
}

// endpoint is a Keystone endpoint.
type endpoint struct {
	ID, ServiceID, Interface, URL, RegionID string
	Enabled                                 bool
	Extra                                   map[string]any
}

// endpointInterfaces are the interfaces an endpoint may have.
var endpointInterfaces = []string{"admin", "internal", "public"}

// validInterface reports whether s names an endpoint interface.
func validInterface(s string) bool {
	for _, i := range endpointInterfaces {
		if s == i {
			return true
		}
	}
	return false
}

// --- regions ---

// getRegion loads a region or returns Keystone's 404.
func (s *Service) getRegion(ctx context.Context, q store.Querier, id string) (*region, error) {
	var r region
	var extra string
	err := q.QueryRowContext(ctx, `SELECT id, description, COALESCE(parent_region_id, ''), extra FROM regions WHERE id = ?`, id).
		Scan(&r.ID, &r.Description, &r.ParentRegionID, &extra)
	if store.IsNoRows(err) {
		return nil, api.NotFound("Could not find region: %s.", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get region %s: %w", id, err)
	}
	r.Extra = jsonMap(extra)
	return &r, nil
}

// regionExists reports whether a region with the id exists.
func regionExists(ctx context.Context, q store.Querier, id string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM regions WHERE id = ?`, id).Scan(&n)
	return n > 0, err
}

// listRegions returns the regions, optionally only the children of one parent.
func (s *Service) listRegions(ctx context.Context, q store.Querier, parentID string, filterParent bool) ([]*region, error) {
	query := `SELECT id, description, COALESCE(parent_region_id, ''), extra FROM regions`
	var args []any
	if filterParent {
		query += ` WHERE parent_region_id = ?`
		args = append(args, parentID)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list regions: %w", err)
	}
	defer rows.Close()
	out := []*region{}
	for rows.Next() {
		var r region
		var extra string
		if err := rows.Scan(&r.ID, &r.Description, &r.ParentRegionID, &extra); err != nil {
			return nil, fmt.Errorf("list regions: %w", err)
		}
		r.Extra = jsonMap(extra)
		out = append(out, &r)
	}
	return out, rows.Err()
}

// insertRegion stores a new region after checking its id is free and its parent exists,
// with Keystone's 409 and 404.
func insertRegion(ctx context.Context, tx *store.Tx, r *region) error {
	exists, err := regionExists(ctx, tx, r.ID)
	if err != nil {
		return fmt.Errorf("create region: %w", err)
	}
	if exists {
		return api.Conflict("Conflict occurred attempting to store region - Duplicate ID, %s.", r.ID)
	}
	if r.ParentRegionID != "" {
		ok, err := regionExists(ctx, tx, r.ParentRegionID)
		if err != nil {
			return fmt.Errorf("create region: %w", err)
		}
		if !ok {
			return api.NotFound("Could not find region: %s.", r.ParentRegionID)
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO regions (id, description, parent_region_id, extra) VALUES (?, ?, ?, ?)`,
		r.ID, r.Description, nullID(r.ParentRegionID), jsonText(r.Extra))
	return mapStoreError(err)
}

// updateRegionRow writes a region's mutable columns, refusing a parent that does not exist
// (404) or that would close a loop in the region tree (400), as Keystone does.
func updateRegionRow(ctx context.Context, tx *store.Tx, r *region) error {
	if r.ParentRegionID != "" {
		ok, err := regionExists(ctx, tx, r.ParentRegionID)
		if err != nil {
			return fmt.Errorf("update region: %w", err)
		}
		if !ok {
			return api.NotFound("Could not find region: %s.", r.ParentRegionID)
		}
		// Walk up from the new parent; meeting the region itself means a cycle.
		seen := map[string]bool{}
		for cur := r.ParentRegionID; cur != ""; {
			if cur == r.ID {
				return api.BadRequest("The specified parent region %s would create a circular region hierarchy.", r.ParentRegionID)
			}
			if seen[cur] {
				break
			}
			seen[cur] = true
			var parent string
			err := tx.QueryRowContext(ctx, `SELECT COALESCE(parent_region_id, '') FROM regions WHERE id = ?`, cur).Scan(&parent)
			if store.IsNoRows(err) {
				break
			}
			if err != nil {
				return fmt.Errorf("update region: %w", err)
			}
			cur = parent
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE regions SET description = ?, parent_region_id = ?, extra = ? WHERE id = ?`,
		r.Description, nullID(r.ParentRegionID), jsonText(r.Extra), r.ID)
	return mapStoreError(err)
}

// regionSubtree returns the region's descendants, breadth first.
func regionSubtree(ctx context.Context, q store.Querier, id string) ([]string, error) {
	var out []string
	seen := map[string]bool{id: true}
	frontier := []string{id}
	for len(frontier) > 0 {
		var next []string
		for _, pid := range frontier {
			rows, err := q.QueryContext(ctx, `SELECT id FROM regions WHERE parent_region_id = ? ORDER BY id`, pid)
			if err != nil {
				return nil, err
			}
			for rows.Next() {
				var c string
				if err := rows.Scan(&c); err != nil {
					rows.Close()
					return nil, err
				}
				if !seen[c] {
					seen[c] = true
					out = append(out, c)
					next = append(next, c)
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, err
			}
		}
		frontier = next
	}
	return out, nil
}

// deleteRegionTx deletes a region and, as Keystone does, all of its child regions. It
// refuses (403) when the region or a descendant still has endpoints, and (409) when
// registered limits refer to one of them.
func deleteRegionTx(ctx context.Context, tx *store.Tx, id string) error {
	if ok, err := regionExists(ctx, tx, id); err != nil {
		return fmt.Errorf("delete region: %w", err)
	} else if !ok {
		return api.NotFound("Could not find region: %s.", id)
	}
	sub, err := regionSubtree(ctx, tx, id)
	if err != nil {
		return fmt.Errorf("delete region: %w", err)
	}
	all := append([]string{id}, sub...)
	for _, rid := range all {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM endpoints WHERE region_id = ?`, rid).Scan(&n); err != nil {
			return fmt.Errorf("delete region: %w", err)
		}
		if n > 0 {
			return api.Forbidden("Unable to delete region %s because it or its child regions have associated endpoints.", id)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM registered_limits WHERE region_id = ?`, rid).Scan(&n); err != nil {
			return fmt.Errorf("delete region: %w", err)
		}
		if n > 0 {
			return api.Conflict("Unable to delete region %s because registered limits refer to it or its child regions.", id)
		}
	}
	// Children first, deepest last in `all`, so delete in reverse.
	for i := len(all) - 1; i >= 0; i-- {
		if _, err := tx.ExecContext(ctx, `DELETE FROM regions WHERE id = ?`, all[i]); err != nil {
			return fmt.Errorf("delete region: %w", err)
		}
	}
	return nil
}

// --- services ---

// getCatalogService loads a service or returns Keystone's 404.
func (s *Service) getCatalogService(ctx context.Context, q store.Querier, id string) (*catalogService, error) {
	var sv catalogService
	var extra string
	err := q.QueryRowContext(ctx, `SELECT id, type, enabled, extra FROM services WHERE id = ?`, id).
		Scan(&sv.ID, &sv.Type, &sv.Enabled, &extra)
	if store.IsNoRows(err) {
		return nil, api.NotFound("Could not find service: %s.", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get service %s: %w", id, err)
	}
	sv.Extra = jsonMap(extra)
	return &sv, nil
}

// serviceExists reports whether a service with the id exists.
func serviceExists(ctx context.Context, q store.Querier, id string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM services WHERE id = ?`, id).Scan(&n)
	return n > 0, err
}

// listCatalogServices returns the services, filtered by type and name when given.
func (s *Service) listCatalogServices(ctx context.Context, q store.Querier, typ, name string, byType, byName bool) ([]*catalogService, error) {
	query := `SELECT id, type, enabled, extra FROM services`
	var args []any
	if byType {
		query += ` WHERE type = ?`
		args = append(args, typ)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	defer rows.Close()
	out := []*catalogService{}
	for rows.Next() {
		var sv catalogService
		var extra string
		if err := rows.Scan(&sv.ID, &sv.Type, &sv.Enabled, &extra); err != nil {
			return nil, fmt.Errorf("list services: %w", err)
		}
		sv.Extra = jsonMap(extra)
		if byName && sv.name() != name {
			continue
		}
		out = append(out, &sv)
	}
	return out, rows.Err()
}

// insertCatalogService stores a new service.
func insertCatalogService(ctx context.Context, tx *store.Tx, sv *catalogService) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO services (id, type, enabled, extra) VALUES (?, ?, ?, ?)`,
		sv.ID, sv.Type, sv.Enabled, jsonText(sv.Extra))
	return mapStoreError(err)
}

// updateCatalogServiceRow writes a service's mutable columns.
func updateCatalogServiceRow(ctx context.Context, tx *store.Tx, sv *catalogService) error {
	_, err := tx.ExecContext(ctx, `UPDATE services SET type = ?, enabled = ?, extra = ? WHERE id = ?`,
		sv.Type, sv.Enabled, jsonText(sv.Extra), sv.ID)
	return mapStoreError(err)
}

// deleteCatalogServiceTx deletes a service and its endpoints, as Keystone does. Registered
// limits and limits hang off services too; a service they still refer to is kept (409).
func deleteCatalogServiceTx(ctx context.Context, tx *store.Tx, id string) error {
	if ok, err := serviceExists(ctx, tx, id); err != nil {
		return fmt.Errorf("delete service: %w", err)
	} else if !ok {
		return api.NotFound("Could not find service: %s.", id)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM registered_limits WHERE service_id = ?`, id).Scan(&n); err != nil {
		return fmt.Errorf("delete service: %w", err)
	}
	if n > 0 {
		return api.Conflict("Unable to delete service %s because registered limits refer to it.", id)
	}
	for _, stmt := range []string{
		`DELETE FROM endpoints WHERE service_id = ?`,
		`DELETE FROM services WHERE id = ?`,
	} {
		if _, err := tx.ExecContext(ctx, stmt, id); err != nil {
			return fmt.Errorf("delete service: %w", err)
		}
	}
	return nil
}

// --- endpoints ---

// endpointColumns is the column list scanEndpoint reads.
const endpointColumns = `id, service_id, interface, url, COALESCE(region_id, ''), enabled, extra`

// scanEndpoint reads one row selected with endpointColumns.
func scanEndpoint(row interface{ Scan(...any) error }) (*endpoint, error) {
	var e endpoint
	var extra string
	if err := row.Scan(&e.ID, &e.ServiceID, &e.Interface, &e.URL, &e.RegionID, &e.Enabled, &extra); err != nil {
		return nil, err
	}
	e.Extra = jsonMap(extra)
	return &e, nil
}

// getEndpoint loads an endpoint or returns Keystone's 404.
func (s *Service) getEndpoint(ctx context.Context, q store.Querier, id string) (*endpoint, error) {
	e, err := scanEndpoint(q.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM endpoints WHERE id = ?`, id))
	if store.IsNoRows(err) {
		return nil, api.NotFound("Could not find endpoint: %s.", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get endpoint %s: %w", id, err)
	}
	return e, nil
}

// endpointFilter selects endpoints in a list; empty fields do not filter.
type endpointFilter struct {
	Interface, ServiceID, RegionID string
}

// listEndpoints returns the endpoints matching f. The region filter matches the region
// itself only, not its children, as in Keystone.
func (s *Service) listEndpoints(ctx context.Context, q store.Querier, f endpointFilter) ([]*endpoint, error) {
	var where []string
	var args []any
	if f.Interface != "" {
		where = append(where, `interface = ?`)
		args = append(args, f.Interface)
	}
	if f.ServiceID != "" {
		where = append(where, `service_id = ?`)
		args = append(args, f.ServiceID)
	}
	if f.RegionID != "" {
		where = append(where, `region_id = ?`)
		args = append(args, f.RegionID)
	}
	query := `SELECT ` + endpointColumns + ` FROM endpoints`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	defer rows.Close()
	out := []*endpoint{}
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("list endpoints: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// checkEndpointRefs returns Keystone's 400s for an endpoint whose service or region does
// not exist.
func checkEndpointRefs(ctx context.Context, q store.Querier, e *endpoint) error {
	ok, err := serviceExists(ctx, q, e.ServiceID)
	if err != nil {
		return fmt.Errorf("check endpoint service: %w", err)
	}
	if !ok {
		return validationError("endpoint service_id", "service table")
	}
	if e.RegionID != "" {
		ok, err := regionExists(ctx, q, e.RegionID)
		if err != nil {
			return fmt.Errorf("check endpoint region: %w", err)
		}
		if !ok {
			return validationError("endpoint region_id", "region table")
		}
	}
	return nil
}

// insertEndpoint stores a new endpoint.
func insertEndpoint(ctx context.Context, tx *store.Tx, e *endpoint) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO endpoints (id, service_id, interface, url, region_id, enabled, extra) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.ServiceID, e.Interface, e.URL, nullID(e.RegionID), e.Enabled, jsonText(e.Extra))
	return mapStoreError(err)
}

// updateEndpointRow writes an endpoint's mutable columns.
func updateEndpointRow(ctx context.Context, tx *store.Tx, e *endpoint) error {
	_, err := tx.ExecContext(ctx, `UPDATE endpoints SET service_id = ?, interface = ?, url = ?, region_id = ?, enabled = ?, extra = ? WHERE id = ?`,
		e.ServiceID, e.Interface, e.URL, nullID(e.RegionID), e.Enabled, jsonText(e.Extra), e.ID)
	return mapStoreError(err)
}

// ensureRegionTx creates the region id (without parent or description) if it does not
// exist, as Keystone does for an endpoint given the legacy "region" attribute.
func ensureRegionTx(ctx context.Context, tx *store.Tx, id string) error {
	ok, err := regionExists(ctx, tx, id)
	if err != nil || ok {
		return err
	}
	return insertRegion(ctx, tx, &region{ID: id, Extra: map[string]any{}})
}

// --- the token catalog ---

// catalog returns the service catalog Keystone puts in tokens and serves at
// /v3/auth/catalog: every enabled service with its enabled endpoints, URLs substituted for
// the project. With projectID "" (domain- and system-scoped tokens, unscoped catalogs),
// endpoints whose URL needs the project are left out. Like Keystone, an enabled service
// appears even when none of its endpoints do.
func (s *Service) catalog(ctx context.Context, q store.Querier, projectID string) ([]map[string]any, error) {
	return s.catalogFor(ctx, q, "", projectID)
}

// catalogFor is catalog with the user known too, for URLs that name $(user_id)s; with
// userID "" such endpoints are left out.
func (s *Service) catalogFor(ctx context.Context, q store.Querier, userID, projectID string) ([]map[string]any, error) {
	snap, err := s.catalogSnapshot(ctx, q)
	if err != nil {
		return nil, err
	}
	cat := snap.render(userID, projectID)
	if projectID == "" {
		return cat, nil
	}
	// OS-EP-FILTER: a project with endpoint associations sees only those endpoints.
	allowed, err := s.projectEndpointFilter(ctx, q, projectID)
	if err != nil {
		return nil, err
	}
	return filterCatalog(cat, allowed), nil
}

// catalogSnap is the catalog read from the database, with URL templates parsed. It is
// immutable once built and shared by every token issued until the next identity write.
type catalogSnap struct {
	gen      uint64
	services []snapService
}

// snapService is one enabled service in a catalogSnap.
type snapService struct {
	id, typ, name string
	endpoints     []snapEndpoint
}

// snapEndpoint is one enabled endpoint in a catalogSnap.
type snapEndpoint struct {
	id, iface, regionID string
	url                 urlTemplate
	extra               map[string]any
}

// catalogSlot returns where s caches its catalog snapshot.
func (s *Service) catalogSlot() *atomic.Pointer[catalogSnap] { return &s.catalogCache }

// catalogSnapshot returns the catalog as of the current identity generation, reading it
// from the database only after a write. Reads through a transaction (which may hold
// uncommitted changes) bypass the cache.
func (s *Service) catalogSnapshot(ctx context.Context, q store.Querier) (*catalogSnap, error) {
	if db, ok := q.(*store.DB); !ok || db != s.db {
		return loadCatalogSnap(ctx, q, 0)
	}
	slot := s.catalogSlot()
	gen := s.generation.Load()
	if snap := slot.Load(); snap != nil && snap.gen == gen {
		return snap, nil
	}
	// The generation is read before the rows, so a write that lands meanwhile moves it
	// past the snapshot's and the next call reloads.
	snap, err := loadCatalogSnap(ctx, q, gen)
	if err != nil {
		return nil, err
	}
	slot.Store(snap)
	return snap, nil
}

// loadCatalogSnap reads the enabled services and endpoints.
func loadCatalogSnap(ctx context.Context, q store.Querier, gen uint64) (*catalogSnap, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, type, extra FROM services WHERE enabled = ? ORDER BY type, id`, true)
	if err != nil {
		return nil, fmt.Errorf("load catalog: %w", err)
	}
	snap := &catalogSnap{gen: gen}
	index := map[string]int{}
	for rows.Next() {
		var id, typ, extra string
		if err := rows.Scan(&id, &typ, &extra); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load catalog: %w", err)
		}
		name, _ := jsonMap(extra)["name"].(string)
		index[id] = len(snap.services)
		snap.services = append(snap.services, snapService{id: id, typ: typ, name: name})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load catalog: %w", err)
	}
	rows, err = q.QueryContext(ctx, `SELECT `+endpointColumns+` FROM endpoints WHERE enabled = ? ORDER BY interface, id`, true)
	if err != nil {
		return nil, fmt.Errorf("load catalog: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("load catalog: %w", err)
		}
		i, ok := index[e.ServiceID]
		if !ok {
			continue
		}
		delete(e.Extra, "region") // always rendered from region_id
		snap.services[i].endpoints = append(snap.services[i].endpoints, snapEndpoint{
			id: e.ID, iface: e.Interface, regionID: e.RegionID, url: parseURLTemplate(e.URL), extra: e.Extra,
		})
	}
	return snap, rows.Err()
}

// render builds the catalog for one user and project. Every call returns fresh maps, so
// callers may change what they get.
func (snap *catalogSnap) render(userID, projectID string) []map[string]any {
	out := make([]map[string]any, 0, len(snap.services))
	for i := range snap.services {
		sv := &snap.services[i]
		eps := make([]map[string]any, 0, len(sv.endpoints))
		for j := range sv.endpoints {
			e := &sv.endpoints[j]
			u, ok := e.url.expand(userID, projectID)
			if !ok {
				continue
			}
			m := make(map[string]any, 5+len(e.extra))
			for k, v := range e.extra {
				m[k] = v
			}
			var reg any
			if e.regionID != "" {
				reg = e.regionID
			}
			m["id"], m["interface"], m["region"], m["region_id"], m["url"] = e.id, e.iface, reg, reg, u
			eps = append(eps, m)
		}
		out = append(out, map[string]any{"id": sv.id, "type": sv.typ, "name": sv.name, "endpoints": eps})
	}
	return out
}

// urlSubstitutions are the names an endpoint URL may substitute, Keystone's
// WHITELISTED_PROPERTIES.
var urlSubstitutions = map[string]bool{
	"tenant_id": true, "project_id": true, "user_id": true, "compute_host": true, "public_endpoint": true,
}

// urlTemplate is an endpoint URL parsed for Keystone's substitutions: "$(name)s" or
// "%(name)s" is replaced by a value, "%%" is a literal "%".
type urlTemplate struct {
	// parts alternate literal text (even indexes) and substitution names (odd indexes).
	parts []string
	// malformed is set when Python's %-formatting would fail on the URL; Keystone leaves
	// such endpoints out of the catalog.
	malformed bool
}

// parseURLTemplate parses an endpoint URL the way Keystone's format_url reads it:
// `url.replace('$(', '%(') % substitutions`.
func parseURLTemplate(raw string) urlTemplate {
	s := strings.ReplaceAll(raw, "$(", "%(")
	if !strings.Contains(s, "%") {
		return urlTemplate{parts: []string{s}}
	}
	var t urlTemplate
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			lit.WriteByte(c)
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			lit.WriteByte('%')
			i++
			continue
		}
		if i+1 >= len(s) || s[i+1] != '(' {
			return urlTemplate{malformed: true}
		}
		end := strings.IndexByte(s[i+2:], ')')
		if end < 0 {
			return urlTemplate{malformed: true}
		}
		name := s[i+2 : i+2+end]
		j := i + 2 + end + 1
		// Only the plain string conversion is meaningful for URL parts; anything else
		// (flags, widths, %d of a string) makes Python raise.
		if j >= len(s) || s[j] != 's' {
			return urlTemplate{malformed: true}
		}
		t.parts = append(t.parts, lit.String(), name)
		lit.Reset()
		i = j
	}
	t.parts = append(t.parts, lit.String())
	return t
}

// validate reports whether Keystone's check_endpoint_url accepts the URL: it parses and
// substitutes only whitelisted names.
func (t urlTemplate) validate() bool {
	if t.malformed {
		return false
	}
	for i := 1; i < len(t.parts); i += 2 {
		if !urlSubstitutions[t.parts[i]] {
			return false
		}
	}
	return true
}

// expand substitutes the template; ok is false when the endpoint must be left out of the
// catalog: the URL is malformed, names something unknown, or needs a project or user the
// catalog is not for.
func (t urlTemplate) expand(userID, projectID string) (string, bool) {
	if t.malformed {
		return "", false
	}
	if len(t.parts) == 1 {
		return t.parts[0], true
	}
	var b strings.Builder
	for i, p := range t.parts {
		if i%2 == 0 {
			b.WriteString(p)
			continue
		}
		var v string
		switch p {
		case "project_id", "tenant_id":
			v = projectID
		case "user_id":
			v = userID
		case "public_endpoint":
			// Keystone substitutes its [DEFAULT] public_endpoint option, unset (None)
			// unless configured.
			v = "None"
		default:
			return "", false
		}
		if v == "" {
			return "", false
		}
		b.WriteString(v)
	}
	return b.String(), true
}

// --- bootstrap ---

// ensureCatalogEntry makes the catalog hold e: its region, a service of its type and name
// (created if none exists; an existing one is left as the operator set it) and one
// endpoint per interface in the region, created or pointed at the given URL. Calling it
// again with the same entry changes nothing.
func (s *Service) ensureCatalogEntry(ctx context.Context, tx *store.Tx, e catalogEntry) error {
	if e.Type == "" {
		return fmt.Errorf("ensure catalog entry: empty service type")
	}
	if e.Region != "" {
		if err := ensureRegionTx(ctx, tx, e.Region); err != nil {
			return fmt.Errorf("ensure region %s: %w", e.Region, err)
		}
	}
	svcs, err := s.listCatalogServices(ctx, tx, e.Type, e.Name, true, true)
	if err != nil {
		return fmt.Errorf("ensure service %s: %w", e.Type, err)
	}
	var serviceID string
	if len(svcs) > 0 {
		serviceID = svcs[0].ID
	} else {
		sv := &catalogService{ID: api.NewID(), Type: e.Type, Enabled: true, Extra: map[string]any{"name": e.Name}}
		if e.Description != "" {
			sv.Extra["description"] = e.Description
		}
		if err := insertCatalogService(ctx, tx, sv); err != nil {
			return fmt.Errorf("ensure service %s: %w", e.Type, err)
		}
		serviceID = sv.ID
	}
	ifaces := make([]string, 0, len(e.URLs))
	for iface := range e.URLs {
		ifaces = append(ifaces, iface)
	}
	sort.Strings(ifaces)
	for _, iface := range ifaces {
		url := e.URLs[iface]
		if !validInterface(iface) {
			return fmt.Errorf("ensure endpoint for %s: bad interface %q", e.Type, iface)
		}
		var id, cur string
		err := tx.QueryRowContext(ctx, `SELECT id, url FROM endpoints WHERE service_id = ? AND interface = ? AND COALESCE(region_id, '') = ? ORDER BY id`,
			serviceID, iface, e.Region).Scan(&id, &cur)
		switch {
		case store.IsNoRows(err):
			ep := &endpoint{ID: api.NewID(), ServiceID: serviceID, Interface: iface, URL: url, RegionID: e.Region,
				Enabled: true, Extra: map[string]any{}}
			if err := insertEndpoint(ctx, tx, ep); err != nil {
				return fmt.Errorf("ensure %s endpoint for %s: %w", iface, e.Type, err)
			}
		case err != nil:
			return fmt.Errorf("ensure %s endpoint for %s: %w", iface, e.Type, err)
		case cur != url:
			if _, err := tx.ExecContext(ctx, `UPDATE endpoints SET url = ? WHERE id = ?`, url, id); err != nil {
				return fmt.Errorf("ensure %s endpoint for %s: %w", iface, e.Type, err)
			}
		}
	}
	return nil
}

// --- shared helpers ---

// nullID maps "" to SQL NULL for nullable id columns.
func nullID(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// validationError is Keystone's ValidationError: a 400 saying what it expected where.
func validationError(attribute, target string) error {
	return api.BadRequest("Expecting to find %s in %s. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.", attribute, target)
}

// normalizeAttrNames renames attributes the way Keystone's _normalize_dict does on create:
// ':' and '-' in names become '_'.
func normalizeAttrNames(o api.Object) api.Object {
	out := make(api.Object, len(o))
	for k, v := range o {
		out[keyNormalizer.Replace(k)] = v
	}
	return out
}

// keyNormalizer is the replacement normalizeAttrNames applies.
var keyNormalizer = strings.NewReplacer(":", "_", "-", "_")

// stringField reads an optional string attribute with Keystone's schema limits: a type
// error or a length outside [minLen, maxLen] (maxLen 0: unbounded) is a 400. A null value
// is accepted as "" when nullable.
func stringField(o api.Object, k string, nullable bool, minLen, maxLen int) (string, bool, error) {
	v, present, err := o.Str(k, nullable)
	if err != nil || !present || (nullable && o.IsNull(k)) {
		return v, present, err
	}
	n := utf8.RuneCountInString(v)
	if n < minLen {
		if minLen == 1 {
			return "", true, api.BadRequest("Invalid input for field '%s': the value must not be empty.", k)
		}
		return "", true, api.BadRequest("Invalid input for field '%s': the value is shorter than %d characters.", k, minLen)
	}
	if maxLen > 0 && n > maxLen {
		return "", true, api.BadRequest("Invalid input for field '%s': the value is longer than %d characters.", k, maxLen)
	}
	return v, true, nil
}
