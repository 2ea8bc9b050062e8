package identity

import (
	"net/http"
	"sort"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// endpointFilterRoutes are Keystone's OS-EP-FILTER routes (keystone/api/os_ep_filter.py).
func (s *Service) endpointFilterRoutes() []api.Route {
	const p = "/v3/OS-EP-FILTER"
	return []api.Route{
		{Method: "GET", Path: p + "/endpoint_groups", Policy: "identity:list_endpoint_groups", Handler: s.handleListEndpointGroups},
		{Method: "POST", Path: p + "/endpoint_groups", Policy: "identity:create_endpoint_group", Handler: s.handleCreateEndpointGroup},
		{Method: "GET", Path: p + "/endpoint_groups/{endpoint_group_id}", Policy: "identity:get_endpoint_group", Handler: s.handleGetEndpointGroup},
		{Method: "PATCH", Path: p + "/endpoint_groups/{endpoint_group_id}", Policy: "identity:update_endpoint_group", Handler: s.handleUpdateEndpointGroup},
		{Method: "DELETE", Path: p + "/endpoint_groups/{endpoint_group_id}", Policy: "identity:delete_endpoint_group", Handler: s.handleDeleteEndpointGroup},
		{Method: "GET", Path: p + "/endpoint_groups/{endpoint_group_id}/projects", Policy: "identity:list_projects_associated_with_endpoint_group", Handler: s.handleListEndpointGroupProjects},
		{Method: "GET", Path: p + "/endpoint_groups/{endpoint_group_id}/endpoints", Policy: "identity:list_endpoints_associated_with_endpoint_group", Handler: s.handleListEndpointGroupEndpoints},
		{Method: "GET", Path: p + "/endpoint_groups/{endpoint_group_id}/projects/{project_id}", Policy: "identity:get_endpoint_group_in_project", Handler: s.handleGetEndpointGroupInProject},
		{Method: "PUT", Path: p + "/endpoint_groups/{endpoint_group_id}/projects/{project_id}", Policy: "identity:add_endpoint_group_to_project", Handler: s.handleAddEndpointGroupToProject},
		{Method: "DELETE", Path: p + "/endpoint_groups/{endpoint_group_id}/projects/{project_id}", Policy: "identity:remove_endpoint_group_from_project", Handler: s.handleRemoveEndpointGroupFromProject},
		{Method: "GET", Path: p + "/projects/{project_id}/endpoint_groups", Policy: "identity:list_endpoint_groups_for_project", Handler: s.handleListProjectEndpointGroups},

		{Method: "GET", Path: p + "/projects/{project_id}/endpoints", Policy: "identity:list_endpoints_for_project", Handler: s.handleListProjectEndpoints},
		{Method: "GET", Path: p + "/projects/{project_id}/endpoints/{endpoint_id}", Policy: "identity:check_endpoint_in_project", Handler: s.handleCheckProjectEndpoint},
		{Method: "PUT", Path: p + "/projects/{project_id}/endpoints/{endpoint_id}", Policy: "identity:add_endpoint_to_project", Handler: s.handleAddProjectEndpoint},
		{Method: "DELETE", Path: p + "/projects/{project_id}/endpoints/{endpoint_id}", Policy: "identity:remove_endpoint_from_project", Handler: s.handleRemoveProjectEndpoint},
		{Method: "GET", Path: p + "/endpoints/{endpoint_id}/projects", Policy: "identity:list_projects_for_endpoint", Handler: s.handleListEndpointProjects},
	}
}

// endpointFilterPolicies are Keystone's current defaults for OS-EP-FILTER
// (keystone/common/policies/project_endpoint.py and endpoint_group.py).
func endpointFilterPolicies() map[string]string {
	const adminOrSystemReader = "rule:admin_required or (role:reader and system_scope:all)"
	return map[string]string{
		"identity:list_projects_for_endpoint":   adminOrSystemReader,
		"identity:add_endpoint_to_project":      "rule:admin_required",
		"identity:check_endpoint_in_project":    adminOrSystemReader,
		"identity:list_endpoints_for_project":   adminOrSystemReader,
		"identity:remove_endpoint_from_project": "rule:admin_required",

		"identity:create_endpoint_group":                         "rule:admin_required",
		"identity:list_endpoint_groups":                          adminOrSystemReader,
		"identity:get_endpoint_group":                            adminOrSystemReader,
		"identity:update_endpoint_group":                         "rule:admin_required",
		"identity:delete_endpoint_group":                         "rule:admin_required",
		"identity:list_projects_associated_with_endpoint_group":  adminOrSystemReader,
		"identity:list_endpoints_associated_with_endpoint_group": adminOrSystemReader,
		"identity:get_endpoint_group_in_project":                 adminOrSystemReader,
		"identity:list_endpoint_groups_for_project":              adminOrSystemReader,
		"identity:add_endpoint_group_to_project":                 "rule:admin_required",
		"identity:remove_endpoint_group_from_project":            "rule:admin_required",
	}
}

// endpointGroupJSON renders an endpoint group as Keystone does: id, name, description
// (null when unset), filters and links.
func endpointGroupJSON(r *http.Request, g *endpointGroup) map[string]any {
	var desc any
	if g.Description != nil {
		desc = *g.Description
	}
	filters := g.Filters
	if filters == nil {
		filters = map[string]any{}
	}
	return map[string]any{
		"id": g.ID, "name": g.Name, "description": desc, "filters": filters,
		"links": map[string]any{"self": api.BaseURL(r) + "/v3/OS-EP-FILTER/endpoint_groups/" + g.ID},
	}
}

// endpointGroupFields are the attributes of Keystone's endpoint group schema, which
// allows no others.
var endpointGroupFields = map[string]bool{"name": true, "description": true, "filters": true}

// readEndpointGroup validates an endpoint group body against Keystone's schema and
// applies it to g. On create, name and non-empty filters are required.
func readEndpointGroup(o api.Object, g *endpointGroup, create bool) error {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !endpointGroupFields[k] {
			return api.BadRequest("Invalid input for field 'endpoint_group': Additional properties are not allowed ('%s' was unexpected).", k)
		}
	}
	if !create && len(o) == 0 {
		return api.BadRequest("Invalid input for field 'endpoint_group': {} does not have enough properties.")
	}
	name, hasName, err := o.Name("name", create, 255)
	if err != nil {
		return err
	}
	if hasName {
		g.Name = name
	}
	if o.Has("description") {
		d, _, err := o.Str("description", true)
		if err != nil {
			return err
		}
		if o.IsNull("description") {
			g.Description = nil
		} else {
			g.Description = &d
		}
	}
	filters, hasFilters, err := o.Obj("filters")
	if err != nil {
		return err
	}
	if hasFilters && filters == nil {
		return api.BadRequest("Invalid input for field 'filters': None is not of type 'object'.")
	}
	if create && !hasFilters {
		return api.BadRequest("Invalid input for field 'endpoint_group': 'filters' is a required property.")
	}
	if !hasFilters {
		return nil
	}
	if err := validateEndpointGroupFilters(filters); err != nil {
		return err
	}
	if create && len(filters) == 0 {
		return api.BadRequest("filters field is required and cannot be empty")
	}
	g.Filters = map[string]any(filters)
	return nil
}

// validateEndpointGroupFilters applies the filters schema and Keystone's
// _require_valid_filter.
func validateEndpointGroupFilters(f api.Object) error {
	if v, ok, err := f.Str("interface", false); err != nil {
		return err
	} else if ok && !validInterface(v) {
		return interfaceError(v)
	}
	if _, _, err := f.Str("service_id", false); err != nil {
		return err
	}
	if _, _, err := f.Str("region_id", true); err != nil {
		return err
	}
	if _, _, err := f.Bool("enabled"); err != nil {
		return err
	}
	for k := range f {
		valid := false
		for _, vk := range endpointGroupFilterKeys {
			valid = valid || k == vk
		}
		if !valid {
			return validationError("service_id or region_id or interface", "endpoint_group")
		}
	}
	return nil
}

// handleListEndpointGroups serves GET /v3/OS-EP-FILTER/endpoint_groups with the name
// filter, the only query parameter Keystone's schema allows.
func (s *Service) handleListEndpointGroups(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for k := range q {
		if k != "name" {
			return api.BadRequest("Invalid input for field 'query': Additional properties are not allowed ('%s' was unexpected).", truncateRunes(k, 64))
		}
	}
	name, byName := q.Get("name"), q.Has("name")
	if byName {
		if _, _, err := (api.Object{"name": name}).Name("name", true, 255); err != nil {
			return err
		}
	}
	groups, err := s.listEndpointGroups(r.Context(), s.db, name, byName)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(groups))
	for _, g := range groups {
		out = append(out, endpointGroupJSON(r, g))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"endpoint_groups": out, "links": api.KeystoneLinks(r)})
	return nil
}

// handleCreateEndpointGroup serves POST /v3/OS-EP-FILTER/endpoint_groups.
func (s *Service) handleCreateEndpointGroup(w http.ResponseWriter, r *http.Request) error {
	o, err := api.DecodeObject(r, "endpoint_group")
	if err != nil {
		return err
	}
	g := &endpointGroup{ID: api.NewID()}
	if err := readEndpointGroup(o, g, true); err != nil {
		return err
	}
	if err := s.write(r.Context(), func(tx *store.Tx) error { return insertEndpointGroup(r.Context(), tx, g) }); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"endpoint_group": endpointGroupJSON(r, g)})
	return nil
}

// handleGetEndpointGroup serves GET /v3/OS-EP-FILTER/endpoint_groups/{endpoint_group_id}.
func (s *Service) handleGetEndpointGroup(w http.ResponseWriter, r *http.Request) error {
	g, err := s.getEndpointGroup(r.Context(), s.db, r.PathValue("endpoint_group_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"endpoint_group": endpointGroupJSON(r, g)})
	return nil
}

// handleUpdateEndpointGroup serves PATCH /v3/OS-EP-FILTER/endpoint_groups/{endpoint_group_id}.
func (s *Service) handleUpdateEndpointGroup(w http.ResponseWriter, r *http.Request) error {
	o, err := api.DecodeObject(r, "endpoint_group")
	if err != nil {
		return err
	}
	if err := readEndpointGroup(o, &endpointGroup{}, false); err != nil {
		return err
	}
	var g *endpointGroup
	err = s.write(r.Context(), func(tx *store.Tx) error {
		var err error
		if g, err = s.getEndpointGroup(r.Context(), tx, r.PathValue("endpoint_group_id")); err != nil {
			return err
		}
		if err := readEndpointGroup(o, g, false); err != nil {
			return err
		}
		return updateEndpointGroupRow(r.Context(), tx, g)
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"endpoint_group": endpointGroupJSON(r, g)})
	return nil
}

// handleDeleteEndpointGroup serves DELETE /v3/OS-EP-FILTER/endpoint_groups/{endpoint_group_id}.
func (s *Service) handleDeleteEndpointGroup(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("endpoint_group_id")
	if err := s.write(r.Context(), func(tx *store.Tx) error { return deleteEndpointGroupTx(r.Context(), tx, id) }); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// writeProjects writes a Keystone project collection.
func writeProjects(w http.ResponseWriter, r *http.Request, ps []*project) {
	out := make([]map[string]any, 0, len(ps))
	for _, p := range ps {
		out = append(out, projectJSON(r, p))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"projects": out, "links": api.KeystoneLinks(r)})
}

// writeEndpoints writes a Keystone endpoint collection.
func writeEndpoints(w http.ResponseWriter, r *http.Request, eps []*endpoint) {
	out := make([]map[string]any, 0, len(eps))
	for _, e := range eps {
		out = append(out, endpointJSON(r, e))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"endpoints": out, "links": api.KeystoneLinks(r)})
}

// handleListEndpointGroupProjects serves GET .../endpoint_groups/{endpoint_group_id}/projects.
// Like Keystone it does not check that the group exists: an unknown group has no projects.
func (s *Service) handleListEndpointGroupProjects(w http.ResponseWriter, r *http.Request) error {
	ids, err := stringColumn(r.Context(), s.db, `SELECT project_id FROM project_endpoint_groups WHERE endpoint_group_id = ?`,
		r.PathValue("endpoint_group_id"))
	if err != nil {
		return err
	}
	ps, err := s.projectsByIDs(r.Context(), s.db, ids)
	if err != nil {
		return err
	}
	writeProjects(w, r, ps)
	return nil
}

// handleListEndpointGroupEndpoints serves GET .../endpoint_groups/{endpoint_group_id}/endpoints.
func (s *Service) handleListEndpointGroupEndpoints(w http.ResponseWriter, r *http.Request) error {
	g, err := s.getEndpointGroup(r.Context(), s.db, r.PathValue("endpoint_group_id"))
	if err != nil {
		return err
	}
	eps, err := s.endpointsInGroup(r.Context(), s.db, g)
	if err != nil {
		return err
	}
	writeEndpoints(w, r, eps)
	return nil
}

// groupAndProject checks, in Keystone's order, that the path's project and endpoint group
// exist.
func (s *Service) groupAndProject(r *http.Request, q store.Querier) (groupID, projectID string, err error) {
	groupID, projectID = r.PathValue("endpoint_group_id"), r.PathValue("project_id")
	if _, err := s.getProject(r.Context(), q, projectID); err != nil {
		return "", "", err
	}
	if _, err := s.getEndpointGroup(r.Context(), q, groupID); err != nil {
		return "", "", err
	}
	return groupID, projectID, nil
}

// handleGetEndpointGroupInProject serves GET .../endpoint_groups/{id}/projects/{project_id}.
func (s *Service) handleGetEndpointGroupInProject(w http.ResponseWriter, r *http.Request) error {
	groupID, projectID, err := s.groupAndProject(r, s.db)
	if err != nil {
		return err
	}
	if err := checkEndpointGroupInProject(r.Context(), s.db, groupID, projectID); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"project_endpoint_group": map[string]any{
		"endpoint_group_id": groupID, "project_id": projectID,
		"links": map[string]any{"self": api.BaseURL(r) + "/v3/OS-EP-FILTER/endpoint_groups/" + groupID + "/projects/" + projectID},
	}})
	return nil
}

// handleAddEndpointGroupToProject serves PUT .../endpoint_groups/{id}/projects/{project_id}.
func (s *Service) handleAddEndpointGroupToProject(w http.ResponseWriter, r *http.Request) error {
	err := s.write(r.Context(), func(tx *store.Tx) error {
		groupID, projectID, err := s.groupAndProject(r, tx)
		if err != nil {
			return err
		}
		return addEndpointGroupToProject(r.Context(), tx, groupID, projectID)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleRemoveEndpointGroupFromProject serves DELETE .../endpoint_groups/{id}/projects/{project_id}.
func (s *Service) handleRemoveEndpointGroupFromProject(w http.ResponseWriter, r *http.Request) error {
	err := s.write(r.Context(), func(tx *store.Tx) error {
		groupID, projectID, err := s.groupAndProject(r, tx)
		if err != nil {
			return err
		}
		return removeEndpointGroupFromProject(r.Context(), tx, groupID, projectID)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleListProjectEndpointGroups serves GET /v3/OS-EP-FILTER/projects/{project_id}/endpoint_groups.
func (s *Service) handleListProjectEndpointGroups(w http.ResponseWriter, r *http.Request) error {
	projectID := r.PathValue("project_id")
	if _, err := s.getProject(r.Context(), s.db, projectID); err != nil {
		return err
	}
	groups, err := s.endpointGroupsForProject(r.Context(), s.db, projectID)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(groups))
	for _, g := range groups {
		out = append(out, endpointGroupJSON(r, g))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"endpoint_groups": out, "links": api.KeystoneLinks(r)})
	return nil
}

// handleListProjectEndpoints serves GET /v3/OS-EP-FILTER/projects/{project_id}/endpoints:
// the endpoints associated directly and through endpoint groups.
func (s *Service) handleListProjectEndpoints(w http.ResponseWriter, r *http.Request) error {
	projectID := r.PathValue("project_id")
	if _, err := s.getProject(r.Context(), s.db, projectID); err != nil {
		return err
	}
	eps, err := s.endpointsForProject(r.Context(), s.db, projectID)
	if err != nil {
		return err
	}
	writeEndpoints(w, r, eps)
	return nil
}

// handleCheckProjectEndpoint serves GET/HEAD /v3/OS-EP-FILTER/projects/{project_id}/endpoints/{endpoint_id}.
func (s *Service) handleCheckProjectEndpoint(w http.ResponseWriter, r *http.Request) error {
	projectID, endpointID := r.PathValue("project_id"), r.PathValue("endpoint_id")
	if _, err := s.getEndpoint(r.Context(), s.db, endpointID); err != nil {
		return err
	}
	if _, err := s.getProject(r.Context(), s.db, projectID); err != nil {
		return err
	}
	if err := checkEndpointInProject(r.Context(), s.db, endpointID, projectID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleAddProjectEndpoint serves PUT /v3/OS-EP-FILTER/projects/{project_id}/endpoints/{endpoint_id}.
func (s *Service) handleAddProjectEndpoint(w http.ResponseWriter, r *http.Request) error {
	projectID, endpointID := r.PathValue("project_id"), r.PathValue("endpoint_id")
	err := s.write(r.Context(), func(tx *store.Tx) error {
		return s.addEndpointToProject(r.Context(), tx, endpointID, projectID)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleRemoveProjectEndpoint serves DELETE /v3/OS-EP-FILTER/projects/{project_id}/endpoints/{endpoint_id}.
func (s *Service) handleRemoveProjectEndpoint(w http.ResponseWriter, r *http.Request) error {
	projectID, endpointID := r.PathValue("project_id"), r.PathValue("endpoint_id")
	err := s.write(r.Context(), func(tx *store.Tx) error {
		return removeEndpointFromProject(r.Context(), tx, endpointID, projectID)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleListEndpointProjects serves GET /v3/OS-EP-FILTER/endpoints/{endpoint_id}/projects.
func (s *Service) handleListEndpointProjects(w http.ResponseWriter, r *http.Request) error {
	endpointID := r.PathValue("endpoint_id")
	if _, err := s.getEndpoint(r.Context(), s.db, endpointID); err != nil {
		return err
	}
	ids, err := stringColumn(r.Context(), s.db, `SELECT project_id FROM project_endpoints WHERE endpoint_id = ?`, endpointID)
	if err != nil {
		return err
	}
	ps, err := s.projectsByIDs(r.Context(), s.db, ids)
	if err != nil {
		return err
	}
	writeProjects(w, r, ps)
	return nil
}
