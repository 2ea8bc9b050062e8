package identity

import (
	"context"
	"database/sql"
	"fmt"
	"sort"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// This file holds Keystone's OS-EP-FILTER extension (keystone/catalog/backends/sql.py and
// catalog/core.py): endpoints associated with projects directly, endpoint groups (a
// filter over endpoint attributes) associated with projects, and the set of endpoints a
// project may see, which narrows its token catalog. The HTTP handlers are in
// endpoint_filter_http.go.

// endpointGroup is an OS-EP-FILTER endpoint group.
type endpointGroup struct {
	ID, Name string
	// Description is nil when never set; Keystone returns it as null.
	Description *string
	// Filters maps endpoint attributes (interface, service_id, region_id) to the value an
	// endpoint must have; a null region_id matches endpoints without a region.
	Filters map[string]any
}

// endpointGroupFilterKeys are the attributes an endpoint group may filter on, Keystone's
// valid_filter_keys.
var endpointGroupFilterKeys = []string{"service_id", "region_id", "interface"}

// endpointGroupColumns is the column list scanEndpointGroup reads.
const endpointGroupColumns = `id, name, description, filters`

// scanEndpointGroup reads one row selected with endpointGroupColumns.
func scanEndpointGroup(row interface{ Scan(...any) error }) (*endpointGroup, error) {
	var g endpointGroup
	var desc sql.NullString
	var filters string
	if err := row.Scan(&g.ID, &g.Name, &desc, &filters); err != nil {
		return nil, err
	}
	if desc.Valid {
		g.Description = &desc.String
	}
	g.Filters = jsonMap(filters)
	return &g, nil
}

// getEndpointGroup loads an endpoint group or returns Keystone's 404.
func (s *Service) getEndpointGroup(ctx context.Context, q store.Querier, id string) (*endpointGroup, error) {
	g, err := scanEndpointGroup(q.QueryRowContext(ctx, `SELECT `+endpointGroupColumns+` FROM endpoint_groups WHERE id = ?`, id))
	if store.IsNoRows(err) {
		return nil, api.NotFound("Could not find Endpoint Group: %s.", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get endpoint group %s: %w", id, err)
	}
	return g, nil
}

// listEndpointGroups returns the endpoint groups, only those named name when byName.
func (s *Service) listEndpointGroups(ctx context.Context, q store.Querier, name string, byName bool) ([]*endpointGroup, error) {
	query := `SELECT ` + endpointGroupColumns + ` FROM endpoint_groups`
	var args []any
	if byName {
		query += ` WHERE name = ?`
		args = append(args, name)
	}
	return queryEndpointGroups(ctx, q, query+` ORDER BY id`, args...)
}

// queryEndpointGroups runs a query selecting endpointGroupColumns.
func queryEndpointGroups(ctx context.Context, q store.Querier, query string, args ...any) ([]*endpointGroup, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list endpoint groups: %w", err)
	}
	defer rows.Close()
	out := []*endpointGroup{}
	for rows.Next() {
		g, err := scanEndpointGroup(rows)
		if err != nil {
			return nil, fmt.Errorf("list endpoint groups: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// endpointGroupsForProject returns the endpoint groups associated with a project.
func (s *Service) endpointGroupsForProject(ctx context.Context, q store.Querier, projectID string) ([]*endpointGroup, error) {
	return queryEndpointGroups(ctx, q, `SELECT g.id, g.name, g.description, g.filters FROM endpoint_groups g
		JOIN project_endpoint_groups pg ON pg.endpoint_group_id = g.id WHERE pg.project_id = ? ORDER BY g.id`, projectID)
}

// nullableText maps a nil string pointer to SQL NULL.
func nullableText(p *string) sql.NullString {
	if p == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: *p, Valid: true}
}

// insertEndpointGroup stores a new endpoint group.
func insertEndpointGroup(ctx context.Context, tx *store.Tx, g *endpointGroup) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO endpoint_groups (id, name, description, filters) VALUES (?, ?, ?, ?)`,
		g.ID, g.Name, nullableText(g.Description), jsonText(g.Filters))
	return mapStoreError(err)
}

// updateEndpointGroupRow writes an endpoint group's mutable columns.
func updateEndpointGroupRow(ctx context.Context, tx *store.Tx, g *endpointGroup) error {
	_, err := tx.ExecContext(ctx, `UPDATE endpoint_groups SET name = ?, description = ?, filters = ? WHERE id = ?`,
		g.Name, nullableText(g.Description), jsonText(g.Filters), g.ID)
	return mapStoreError(err)
}

// deleteEndpointGroupTx deletes an endpoint group and its project associations.
func deleteEndpointGroupTx(ctx context.Context, tx *store.Tx, id string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM project_endpoint_groups WHERE endpoint_group_id = ?`, id); err != nil {
		return fmt.Errorf("delete endpoint group %s: %w", id, err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM endpoint_groups WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete endpoint group %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return api.NotFound("Could not find Endpoint Group: %s.", id)
	}
	return nil
}

// matches reports whether an endpoint passes the group's filters, as Keystone's
// get_endpoints_filtered_by_endpoint_group compares them: every filter must equal the
// endpoint's attribute.
func (g *endpointGroup) matches(e *endpoint) bool {
	for k, v := range g.Filters {
		var have any
		switch k {
		case "interface":
			have = e.Interface
		case "service_id":
			have = e.ServiceID
		case "region_id":
			if e.RegionID != "" {
				have = e.RegionID
			}
		default:
			// Keystone compares any other attribute of the endpoint dict.
			have = e.Extra[k]
		}
		if !jsonEqual(have, v) {
			return false
		}
	}
	return true
}

// endpointsInGroup returns the endpoints (enabled or not) that match the group's filters.
func (s *Service) endpointsInGroup(ctx context.Context, q store.Querier, g *endpointGroup) ([]*endpoint, error) {
	all, err := s.listEndpoints(ctx, q, endpointFilter{})
	if err != nil {
		return nil, err
	}
	out := []*endpoint{}
	for _, e := range all {
		if g.matches(e) {
			out = append(out, e)
		}
	}
	return out, nil
}

// endpointsForProject is Keystone's list_endpoints_for_project: the endpoints associated
// with the project directly, then those its endpoint groups select, each once.
func (s *Service) endpointsForProject(ctx context.Context, q store.Querier, projectID string) ([]*endpoint, error) {
	rows, err := q.QueryContext(ctx, `SELECT e.id, e.service_id, e.interface, e.url, COALESCE(e.region_id, ''), e.enabled, e.extra
		FROM endpoints e JOIN project_endpoints pe ON pe.endpoint_id = e.id WHERE pe.project_id = ? ORDER BY e.id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("list endpoints for project: %w", err)
	}
	out := []*endpoint{}
	seen := map[string]bool{}
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list endpoints for project: %w", err)
		}
		seen[e.ID] = true
		out = append(out, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list endpoints for project: %w", err)
	}
	groups, err := s.endpointGroupsForProject(ctx, q, projectID)
	if err != nil || len(groups) == 0 {
		return out, err
	}
	all, err := s.listEndpoints(ctx, q, endpointFilter{})
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		for _, e := range all {
			if !seen[e.ID] && g.matches(e) {
				seen[e.ID] = true
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// projectEndpointFilter returns the ids of the enabled endpoints a project's catalog is
// limited to, or nil when the project has no OS-EP-FILTER associations and so sees the
// whole catalog (Keystone's default, return_all_endpoints_if_no_filter). The catalog
// applies it with filterCatalog.
func (s *Service) projectEndpointFilter(ctx context.Context, q store.Querier, projectID string) (map[string]bool, error) {
	if projectID == "" {
		return nil, nil
	}
	var n int
	err := q.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM project_endpoints WHERE project_id = ?) +
		(SELECT COUNT(*) FROM project_endpoint_groups WHERE project_id = ?)`, projectID, projectID).Scan(&n)
	if err != nil {
		return nil, fmt.Errorf("endpoint filter for project %s: %w", projectID, err)
	}
	if n == 0 {
		return nil, nil
	}
	eps, err := s.endpointsForProject(ctx, q, projectID)
	if err != nil {
		return nil, err
	}
	allowed := make(map[string]bool, len(eps))
	for _, e := range eps {
		if e.Enabled {
			allowed[e.ID] = true
		}
	}
	if len(allowed) == 0 {
		// Keystone filters only when the project's associations name at least one
		// endpoint; otherwise the full catalog is returned.
		return nil, nil
	}
	return allowed, nil
}

// filterCatalog applies a projectEndpointFilter result to a rendered catalog as Keystone's
// get_v3_catalog does: endpoints not allowed are removed, and so are services left without
// endpoints. A nil allowed set returns the catalog unchanged.
func filterCatalog(catalog []map[string]any, allowed map[string]bool) []map[string]any {
	if allowed == nil {
		return catalog
	}
	out := make([]map[string]any, 0, len(catalog))
	for _, svc := range catalog {
		eps, _ := svc["endpoints"].([]map[string]any)
		kept := make([]map[string]any, 0, len(eps))
		for _, e := range eps {
			if id, _ := e["id"].(string); allowed[id] {
				kept = append(kept, e)
			}
		}
		if len(kept) == 0 {
			continue
		}
		svc["endpoints"] = kept
		out = append(out, svc)
	}
	return out
}

// projectsByIDs loads the projects with the given ids, in id order, skipping any that no
// longer exist.
func (s *Service) projectsByIDs(ctx context.Context, q store.Querier, ids []string) ([]*project, error) {
	sort.Strings(ids)
	out := []*project{}
	for _, id := range ids {
		p, err := s.getProject(ctx, q, id)
		if err != nil && isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// stringColumn runs a query selecting one text column and returns the values.
func stringColumn(ctx context.Context, q store.Querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// --- project-endpoint associations ---

// addEndpointToProject associates an endpoint with a project; both must exist. A repeat is
// Keystone's 409.
func (s *Service) addEndpointToProject(ctx context.Context, tx *store.Tx, endpointID, projectID string) error {
	if _, err := s.getEndpoint(ctx, tx, endpointID); err != nil {
		return err
	}
	if _, err := s.getProject(ctx, tx, projectID); err != nil {
		return err
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM project_endpoints WHERE endpoint_id = ? AND project_id = ?`,
		endpointID, projectID).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return api.Conflict("Conflict occurred attempting to store project_endpoint - Duplicate entry.")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO project_endpoints (endpoint_id, project_id) VALUES (?, ?)`, endpointID, projectID)
	return mapStoreError(err)
}

// projectEndpointMissing is Keystone's 404 for an absent project-endpoint association.
func projectEndpointMissing(endpointID, projectID string) error {
	return api.NotFound("Endpoint %s not found in project %s", endpointID, projectID)
}

// checkEndpointInProject returns a 404 unless the endpoint is associated with the project.
func checkEndpointInProject(ctx context.Context, q store.Querier, endpointID, projectID string) error {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM project_endpoints WHERE endpoint_id = ? AND project_id = ?`,
		endpointID, projectID).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return projectEndpointMissing(endpointID, projectID)
	}
	return nil
}

// removeEndpointFromProject removes an association, 404 when there is none.
func removeEndpointFromProject(ctx context.Context, tx *store.Tx, endpointID, projectID string) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM project_endpoints WHERE endpoint_id = ? AND project_id = ?`, endpointID, projectID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return projectEndpointMissing(endpointID, projectID)
	}
	return nil
}

// --- endpoint group-project associations ---

// endpointGroupProjectMissing is Keystone's 404 for an absent group-project association.
func endpointGroupProjectMissing() error {
	return api.NotFound("Endpoint Group Project Association not found")
}

// checkEndpointGroupInProject returns a 404 unless the group is associated with the project.
func checkEndpointGroupInProject(ctx context.Context, q store.Querier, groupID, projectID string) error {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM project_endpoint_groups WHERE endpoint_group_id = ? AND project_id = ?`,
		groupID, projectID).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return endpointGroupProjectMissing()
	}
	return nil
}

// addEndpointGroupToProject associates a group with a project; a repeat is a 409.
func addEndpointGroupToProject(ctx context.Context, tx *store.Tx, groupID, projectID string) error {
	if err := checkEndpointGroupInProject(ctx, tx, groupID, projectID); err == nil {
		return api.Conflict("Conflict occurred attempting to store project_endpoint_group - Duplicate entry.")
	} else if !isNotFound(err) {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO project_endpoint_groups (endpoint_group_id, project_id) VALUES (?, ?)`, groupID, projectID)
	return mapStoreError(err)
}

// removeEndpointGroupFromProject removes a group-project association, 404 when there is none.
func removeEndpointGroupFromProject(ctx context.Context, tx *store.Tx, groupID, projectID string) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM project_endpoint_groups WHERE endpoint_group_id = ? AND project_id = ?`, groupID, projectID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return endpointGroupProjectMissing()
	}
	return nil
}
