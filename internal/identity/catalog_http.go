package identity

import (
	"net/http"
	"regexp"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// catalogRoutes are /v3/regions, /v3/services and /v3/endpoints (keystone/api/regions.py,
// services.py, endpoints.py).
func (s *Service) catalogRoutes() []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/v3/regions", Policy: "identity:list_regions", Handler: s.handleListRegions},
		{Method: "POST", Path: "/v3/regions", Policy: "identity:create_region", Handler: s.handleCreateRegion},
		{Method: "GET", Path: "/v3/regions/{region_id}", Policy: "identity:get_region", Handler: s.handleGetRegion},
		{Method: "PUT", Path: "/v3/regions/{region_id}", Policy: "identity:create_region", Handler: s.handleCreateRegion},
		{Method: "PATCH", Path: "/v3/regions/{region_id}", Policy: "identity:update_region", Handler: s.handleUpdateRegion},
		{Method: "DELETE", Path: "/v3/regions/{region_id}", Policy: "identity:delete_region", Handler: s.handleDeleteRegion},

		{Method: "GET", Path: "/v3/services", Policy: "identity:list_services", Handler: s.handleListServices},
		{Method: "POST", Path: "/v3/services", Policy: "identity:create_service", Handler: s.handleCreateService},
		{Method: "GET", Path: "/v3/services/{service_id}", Policy: "identity:get_service", Handler: s.handleGetService},
		{Method: "PATCH", Path: "/v3/services/{service_id}", Policy: "identity:update_service", Handler: s.handleUpdateService},
		{Method: "DELETE", Path: "/v3/services/{service_id}", Policy: "identity:delete_service", Handler: s.handleDeleteService},

		{Method: "GET", Path: "/v3/endpoints", Policy: "identity:list_endpoints", Handler: s.handleListEndpoints},
		{Method: "POST", Path: "/v3/endpoints", Policy: "identity:create_endpoint", Handler: s.handleCreateEndpoint},
		{Method: "GET", Path: "/v3/endpoints/{endpoint_id}", Policy: "identity:get_endpoint", Handler: s.handleGetEndpoint},
		{Method: "PATCH", Path: "/v3/endpoints/{endpoint_id}", Policy: "identity:update_endpoint", Handler: s.handleUpdateEndpoint},
		{Method: "DELETE", Path: "/v3/endpoints/{endpoint_id}", Policy: "identity:delete_endpoint", Handler: s.handleDeleteEndpoint},
	}
}

// catalogPolicies are Keystone's current defaults for regions, services, endpoints
// (keystone/common/policies/region.py, service.py, endpoint.py), registered limits and
// limits (registered_limit.py, limit.py).
func catalogPolicies() map[string]string {
	const adminOrSystemReader = "rule:admin_required or (role:reader and system_scope:all)"
	out := map[string]string{
		"identity:get_region":    "",
		"identity:list_regions":  "",
		"identity:create_region": "rule:admin_required",
		"identity:update_region": "rule:admin_required",
		"identity:delete_region": "rule:admin_required",

		"identity:get_service":    adminOrSystemReader,
		"identity:list_services":  adminOrSystemReader,
		"identity:create_service": "rule:admin_required",
		"identity:update_service": "rule:admin_required",
		"identity:delete_service": "rule:admin_required",

		"identity:get_endpoint":    adminOrSystemReader,
		"identity:list_endpoints":  adminOrSystemReader,
		"identity:create_endpoint": "rule:admin_required",
		"identity:update_endpoint": "rule:admin_required",
		"identity:delete_endpoint": "rule:admin_required",
	}
	for k, v := range limitPolicies() {
		out[k] = v
	}
	return out
}

// requireProperties is the 400 for an update body without attributes (minProperties 1).
func requireProperties(o api.Object, key string) error {
	if len(o) == 0 {
		return api.BadRequest("Invalid input for field '%s': {} does not have enough properties.", key)
	}
	return nil
}

// requireMatchingID is Keystone's _require_matching_id: an update may repeat the id but
// not change it.
func requireMatchingID(o api.Object, pathID string) error {
	if v, ok := o["id"]; ok && v != nil && v != pathID {
		return api.BadRequest("Cannot change ID")
	}
	return nil
}

// mergeExtra returns cur with the attributes of o not named in known set over it.
func mergeExtra(cur map[string]any, o api.Object, known ...string) map[string]any {
	out := make(map[string]any, len(cur)+len(o))
	for k, v := range cur {
		out[k] = v
	}
	for k, v := range o.Extra(known...) {
		out[k] = v
	}
	return out
}

// --- regions ---

// regionKnown are the region attributes that are not extra.
var regionKnown = []string{"id", "description", "parent_region_id", "links"}

// regionJSON renders a region as Keystone does: its extra attributes, id, description,
// parent_region_id (null for a top region) and links.
func regionJSON(r *http.Request, rg *region) map[string]any {
	m := make(map[string]any, len(rg.Extra)+4)
	for k, v := range rg.Extra {
		m[k] = v
	}
	var parent any
	if rg.ParentRegionID != "" {
		parent = rg.ParentRegionID
	}
	m["id"], m["description"], m["parent_region_id"] = rg.ID, rg.Description, parent
	m["links"] = map[string]any{"self": api.BaseURL(r) + "/v3/regions/" + rg.ID}
	return m
}

// handleListRegions serves GET /v3/regions.
func (s *Service) handleListRegions(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	parent, byParent := q.Get("parent_region_id"), q.Has("parent_region_id")
	if byParent && (parent == "" || len(parent) > 255) {
		return api.BadRequest("Invalid input for field 'parent_region_id': expected a region id of 1 to 255 characters.")
	}
	regions, err := s.listRegions(r.Context(), s.db, parent, byParent)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(regions))
	for _, rg := range regions {
		out = append(out, regionJSON(r, rg))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"regions": out, "links": api.KeystoneLinks(r)})
	return nil
}

// handleGetRegion serves GET /v3/regions/{region_id}.
func (s *Service) handleGetRegion(w http.ResponseWriter, r *http.Request) error {
	rg, err := s.getRegion(r.Context(), s.db, r.PathValue("region_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"region": regionJSON(r, rg)})
	return nil
}

// handleCreateRegion serves POST /v3/regions (the id is taken from the body or generated)
// and PUT /v3/regions/{region_id} (the id is the path's).
func (s *Service) handleCreateRegion(w http.ResponseWriter, r *http.Request) error {
	o, err := api.DecodeObject(r, "region")
	if err != nil {
		return err
	}
	o = normalizeAttrNames(o)
	id, _, err := stringField(o, "id", true, 0, 255)
	if err != nil {
		return err
	}
	if pathID := r.PathValue("region_id"); r.Method == http.MethodPut {
		if len(pathID) > 255 {
			return api.BadRequest("Invalid input for field 'id': the value is longer than 255 characters.")
		}
		if o.Has("id") && (o.IsNull("id") || id != pathID) {
			return api.BadRequest("Conflicting region IDs specified: \"%s\" != \"%s\"", pathID, id)
		}
		id = pathID
	}
	if id == "" {
		id = api.NewID()
	}
	desc, _, err := stringField(o, "description", true, 0, 255)
	if err != nil {
		return err
	}
	parent, _, err := stringField(o, "parent_region_id", true, 1, 255)
	if err != nil {
		return err
	}
	rg := &region{ID: id, Description: desc, ParentRegionID: parent, Extra: o.Extra(regionKnown...)}
	if err := s.write(r.Context(), func(tx *store.Tx) error { return insertRegion(r.Context(), tx, rg) }); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"region": regionJSON(r, rg)})
	return nil
}

// handleUpdateRegion serves PATCH /v3/regions/{region_id}.
func (s *Service) handleUpdateRegion(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("region_id")
	o, err := api.DecodeObject(r, "region")
	if err != nil {
		return err
	}
	if err := requireProperties(o, "region"); err != nil {
		return err
	}
	if _, _, err := stringField(o, "id", true, 1, 255); err != nil {
		return err
	}
	desc, hasDesc, err := stringField(o, "description", true, 0, 255)
	if err != nil {
		return err
	}
	parent, hasParent, err := stringField(o, "parent_region_id", true, 1, 255)
	if err != nil {
		return err
	}
	if err := requireMatchingID(o, id); err != nil {
		return err
	}
	var rg *region
	err = s.write(r.Context(), func(tx *store.Tx) error {
		var err error
		if rg, err = s.getRegion(r.Context(), tx, id); err != nil {
			return err
		}
		if hasDesc {
			rg.Description = desc
		}
		if hasParent {
			rg.ParentRegionID = parent
		}
		rg.Extra = mergeExtra(rg.Extra, o, regionKnown...)
		return updateRegionRow(r.Context(), tx, rg)
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"region": regionJSON(r, rg)})
	return nil
}

// handleDeleteRegion serves DELETE /v3/regions/{region_id}.
func (s *Service) handleDeleteRegion(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("region_id")
	if err := s.write(r.Context(), func(tx *store.Tx) error { return deleteRegionTx(r.Context(), tx, id) }); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// --- services ---

// serviceKnown are the service attributes that are not extra. name and description are
// kept in extra, as Keystone keeps them.
var serviceKnown = []string{"id", "type", "enabled", "links"}

// serviceJSON renders a service as Keystone does: its extra attributes (name always
// present, description when set), id, type, enabled and links.
func serviceJSON(r *http.Request, sv *catalogService) map[string]any {
	m := make(map[string]any, len(sv.Extra)+5)
	for k, v := range sv.Extra {
		m[k] = v
	}
	if _, ok := m["name"]; !ok {
		m["name"] = ""
	}
	m["id"], m["type"], m["enabled"] = sv.ID, sv.Type, sv.Enabled
	m["links"] = map[string]any{"self": api.BaseURL(r) + "/v3/services/" + sv.ID}
	return m
}

// handleListServices serves GET /v3/services.
func (s *Service) handleListServices(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	svcs, err := s.listCatalogServices(r.Context(), s.db, q.Get("type"), q.Get("name"), q.Has("type"), q.Has("name"))
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(svcs))
	for _, sv := range svcs {
		out = append(out, serviceJSON(r, sv))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"services": out, "links": api.KeystoneLinks(r)})
	return nil
}

// handleGetService serves GET /v3/services/{service_id}.
func (s *Service) handleGetService(w http.ResponseWriter, r *http.Request) error {
	sv, err := s.getCatalogService(r.Context(), s.db, r.PathValue("service_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"service": serviceJSON(r, sv)})
	return nil
}

// readServiceFields validates the typed service attributes present in o.
func readServiceFields(o api.Object, sv *catalogService, create bool) error {
	typ, hasType, err := stringField(o, "type", false, 1, 255)
	if err != nil {
		return err
	}
	if create && !hasType {
		return api.BadRequest("Invalid input for field 'type': 'type' is a required property.")
	}
	if hasType {
		sv.Type = typ
	}
	if _, _, err := stringField(o, "name", false, 1, 255); err != nil {
		return err
	}
	enabled, hasEnabled, err := o.Bool("enabled")
	if err != nil {
		return err
	}
	if hasEnabled {
		sv.Enabled = enabled
	}
	return nil
}

// handleCreateService serves POST /v3/services.
func (s *Service) handleCreateService(w http.ResponseWriter, r *http.Request) error {
	o, err := api.DecodeObject(r, "service")
	if err != nil {
		return err
	}
	o = normalizeAttrNames(o)
	sv := &catalogService{ID: api.NewID(), Enabled: true}
	if err := readServiceFields(o, sv, true); err != nil {
		return err
	}
	sv.Extra = o.Extra(serviceKnown...)
	if _, ok := sv.Extra["name"]; !ok {
		sv.Extra["name"] = ""
	}
	if err := s.write(r.Context(), func(tx *store.Tx) error { return insertCatalogService(r.Context(), tx, sv) }); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"service": serviceJSON(r, sv)})
	return nil
}

// handleUpdateService serves PATCH /v3/services/{service_id}.
func (s *Service) handleUpdateService(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("service_id")
	o, err := api.DecodeObject(r, "service")
	if err != nil {
		return err
	}
	if err := requireProperties(o, "service"); err != nil {
		return err
	}
	if err := readServiceFields(o, &catalogService{}, false); err != nil {
		return err
	}
	if err := requireMatchingID(o, id); err != nil {
		return err
	}
	var sv *catalogService
	err = s.write(r.Context(), func(tx *store.Tx) error {
		var err error
		if sv, err = s.getCatalogService(r.Context(), tx, id); err != nil {
			return err
		}
		if err := readServiceFields(o, sv, false); err != nil {
			return err
		}
		sv.Extra = mergeExtra(sv.Extra, o, serviceKnown...)
		return updateCatalogServiceRow(r.Context(), tx, sv)
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"service": serviceJSON(r, sv)})
	return nil
}

// handleDeleteService serves DELETE /v3/services/{service_id}.
func (s *Service) handleDeleteService(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("service_id")
	if err := s.write(r.Context(), func(tx *store.Tx) error { return deleteCatalogServiceTx(r.Context(), tx, id) }); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// --- endpoints ---

// endpointKnown are the endpoint attributes that are not extra. "region" is the legacy
// spelling of region_id and is never stored.
var endpointKnown = []string{"id", "interface", "service_id", "url", "region_id", "region", "enabled", "links"}

// endpointURLPattern is the URL pattern of Keystone's endpoint schema.
var endpointURLPattern = regexp.MustCompile(`^[a-zA-Z0-9+.-]+:.+`)

// endpointJSON renders an endpoint as Keystone does: its extra attributes, id, interface,
// region_id and its legacy twin region, service_id, url, enabled and links.
func endpointJSON(r *http.Request, e *endpoint) map[string]any {
	m := make(map[string]any, len(e.Extra)+8)
	for k, v := range e.Extra {
		m[k] = v
	}
	var reg any
	if e.RegionID != "" {
		reg = e.RegionID
	}
	m["id"], m["interface"], m["service_id"], m["url"], m["enabled"] = e.ID, e.Interface, e.ServiceID, e.URL, e.Enabled
	m["region_id"], m["region"] = reg, reg
	m["links"] = map[string]any{"self": api.BaseURL(r) + "/v3/endpoints/" + e.ID}
	return m
}

// interfaceError is the schema's 400 for an interface outside the enum.
func interfaceError(v string) error {
	return api.BadRequest("Invalid input for field 'interface': '%s' is not one of ['admin', 'internal', 'public'].", truncateRunes(v, 64))
}

// handleListEndpoints serves GET /v3/endpoints.
func (s *Service) handleListEndpoints(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := endpointFilter{Interface: q.Get("interface"), ServiceID: q.Get("service_id"), RegionID: q.Get("region_id")}
	if q.Has("interface") && !validInterface(f.Interface) {
		return interfaceError(f.Interface)
	}
	eps, err := s.listEndpoints(r.Context(), s.db, f)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(eps))
	for _, e := range eps {
		out = append(out, endpointJSON(r, e))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"endpoints": out, "links": api.KeystoneLinks(r)})
	return nil
}

// handleGetEndpoint serves GET /v3/endpoints/{endpoint_id}.
func (s *Service) handleGetEndpoint(w http.ResponseWriter, r *http.Request) error {
	e, err := s.getEndpoint(r.Context(), s.db, r.PathValue("endpoint_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"endpoint": endpointJSON(r, e)})
	return nil
}

// endpointUpdate is what a create or update body sets on an endpoint.
type endpointUpdate struct {
	e *endpoint
	// legacyRegion is a region named with the legacy "region" attribute, which Keystone
	// creates when missing.
	legacyRegion string
}

// readEndpointFields validates the typed endpoint attributes present in o and applies them
// to e.
func readEndpointFields(o api.Object, e *endpoint, create bool) (endpointUpdate, error) {
	u := endpointUpdate{e: e}
	iface, hasIface, err := o.Str("interface", false)
	if err != nil {
		return u, err
	}
	if hasIface && !validInterface(iface) {
		return u, interfaceError(iface)
	}
	svc, hasSvc, err := o.Str("service_id", false)
	if err != nil {
		return u, err
	}
	url, hasURL, err := stringField(o, "url", false, 0, 225)
	if err != nil {
		return u, err
	}
	if hasURL && !endpointURLPattern.MatchString(url) {
		return u, api.BadRequest("Invalid input for field 'url': '%s' does not match '^[a-zA-Z0-9+.-]+:.+'.", truncateRunes(url, 64))
	}
	if create {
		for _, f := range []struct {
			name    string
			present bool
		}{{"interface", hasIface}, {"service_id", hasSvc}, {"url", hasURL}} {
			if !f.present {
				return u, api.BadRequest("Invalid input for field '%s': '%s' is a required property.", f.name, f.name)
			}
		}
	}
	regionID, hasRegionID, err := o.Str("region_id", true)
	if err != nil {
		return u, err
	}
	legacy, _, err := o.Str("region", true)
	if err != nil {
		return u, err
	}
	if _, _, err := o.Str("name", false); err != nil {
		return u, err
	}
	if _, _, err := o.Str("description", true); err != nil {
		return u, err
	}
	enabled, hasEnabled, err := o.Bool("enabled")
	if err != nil {
		return u, err
	}
	if hasIface {
		e.Interface = iface
	}
	if hasSvc {
		e.ServiceID = svc
	}
	if hasURL {
		e.URL = url
	}
	if hasEnabled {
		e.Enabled = enabled
	}
	switch {
	case regionID == "" && legacy != "":
		e.RegionID, u.legacyRegion = legacy, legacy
	case hasRegionID:
		e.RegionID = regionID
	}
	return u, nil
}

// handleCreateEndpoint serves POST /v3/endpoints.
func (s *Service) handleCreateEndpoint(w http.ResponseWriter, r *http.Request) error {
	o, err := api.DecodeObject(r, "endpoint")
	if err != nil {
		return err
	}
	o = normalizeAttrNames(o)
	e := &endpoint{ID: api.NewID(), Enabled: true}
	u, err := readEndpointFields(o, e, true)
	if err != nil {
		return err
	}
	if !parseURLTemplate(e.URL).validate() {
		return api.BadRequest("Cannot create an endpoint with an invalid URL: %s.", truncateRunes(e.URL, 255))
	}
	e.Extra = o.Extra(endpointKnown...)
	err = s.write(r.Context(), func(tx *store.Tx) error {
		if u.legacyRegion != "" {
			if err := ensureRegionTx(r.Context(), tx, u.legacyRegion); err != nil {
				return err
			}
		}
		if err := checkEndpointRefs(r.Context(), tx, e); err != nil {
			return err
		}
		return insertEndpoint(r.Context(), tx, e)
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"endpoint": endpointJSON(r, e)})
	return nil
}

// handleUpdateEndpoint serves PATCH /v3/endpoints/{endpoint_id}.
func (s *Service) handleUpdateEndpoint(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("endpoint_id")
	o, err := api.DecodeObject(r, "endpoint")
	if err != nil {
		return err
	}
	if err := requireProperties(o, "endpoint"); err != nil {
		return err
	}
	if _, err := readEndpointFields(o, &endpoint{}, false); err != nil {
		return err
	}
	if err := requireMatchingID(o, id); err != nil {
		return err
	}
	var e *endpoint
	err = s.write(r.Context(), func(tx *store.Tx) error {
		var err error
		if e, err = s.getEndpoint(r.Context(), tx, id); err != nil {
			return err
		}
		u, err := readEndpointFields(o, e, false)
		if err != nil {
			return err
		}
		if u.legacyRegion != "" {
			if err := ensureRegionTx(r.Context(), tx, u.legacyRegion); err != nil {
				return err
			}
		}
		if err := checkEndpointRefs(r.Context(), tx, e); err != nil {
			return err
		}
		e.Extra = mergeExtra(e.Extra, o, endpointKnown...)
		return updateEndpointRow(r.Context(), tx, e)
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"endpoint": endpointJSON(r, e)})
	return nil
}

// handleDeleteEndpoint serves DELETE /v3/endpoints/{endpoint_id}.
func (s *Service) handleDeleteEndpoint(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("endpoint_id")
	err := s.write(r.Context(), func(tx *store.Tx) error {
		res, err := tx.ExecContext(r.Context(), `DELETE FROM endpoints WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return api.NotFound("Could not find endpoint: %s.", id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
