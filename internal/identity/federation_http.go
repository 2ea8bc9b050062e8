package identity

import (
	"net/http"
	"regexp"
	"sort"
	"unicode/utf8"

	"github.com/gostack/gostack/internal/api"
)

// federationPolicies are Keystone's current defaults for OS-FEDERATION
// (keystone/common/policies/mapping.py, identity_provider.py, protocol.py and
// service_provider.py): admins manage, system readers read.
func federationPolicies() map[string]string {
	const adminOrSystemReader = "rule:admin_required or (role:reader and system_scope:all)"
	out := map[string]string{}
	for _, kind := range []struct{ one, many string }{
		{"mapping", "mappings"}, {"identity_provider", "identity_providers"},
		{"protocol", "protocols"}, {"service_provider", "service_providers"},
	} {
		out["identity:create_"+kind.one] = "rule:admin_required"
		out["identity:update_"+kind.one] = "rule:admin_required"
		out["identity:delete_"+kind.one] = "rule:admin_required"
		out["identity:get_"+kind.one] = adminOrSystemReader
		out["identity:list_"+kind.many] = adminOrSystemReader
	}
	return out
}

// federationRoutes is the route table of /v3/OS-FEDERATION's administrative resources
// (keystone/api/os_federation.py). The federated authentication endpoints (.../auth,
// /auth/OS-FEDERATION/..., saml2) are not served.
func (s *Service) federationRoutes() []api.Route {
	const (
		mappings  = "/v3/OS-FEDERATION/mappings"
		mapping   = mappings + "/{mapping_id}"
		idps      = "/v3/OS-FEDERATION/identity_providers"
		idp       = idps + "/{idp_id}"
		protocols = idp + "/protocols"
		protocol  = protocols + "/{protocol_id}"
		sps       = "/v3/OS-FEDERATION/service_providers"
		sp        = sps + "/{sp_id}"
	)
	return []api.Route{
		{Method: "GET", Path: mappings, Policy: "identity:list_mappings", Handler: s.handleListMappings},
		{Method: "GET", Path: mapping, Policy: "identity:get_mapping", Handler: s.handleGetMapping},
		{Method: "PUT", Path: mapping, Policy: "identity:create_mapping", Handler: s.handleCreateMapping},
		{Method: "PATCH", Path: mapping, Policy: "identity:update_mapping", Handler: s.handleUpdateMapping},
		{Method: "DELETE", Path: mapping, Policy: "identity:delete_mapping", Handler: s.handleDeleteMapping},

		{Method: "GET", Path: idps, Policy: "identity:list_identity_providers", Handler: s.handleListIdPs},
		{Method: "GET", Path: idp, Policy: "identity:get_identity_provider", Handler: s.handleGetIdP},
		{Method: "PUT", Path: idp, Policy: "identity:create_identity_provider", Handler: s.handleCreateIdP},
		{Method: "PATCH", Path: idp, Policy: "identity:update_identity_provider", Handler: s.handleUpdateIdP},
		{Method: "DELETE", Path: idp, Policy: "identity:delete_identity_provider", Handler: s.handleDeleteIdP},

		{Method: "GET", Path: protocols, Policy: "identity:list_protocols", Handler: s.handleListProtocols},
		{Method: "GET", Path: protocol, Policy: "identity:get_protocol", Handler: s.handleGetProtocol},
		{Method: "PUT", Path: protocol, Policy: "identity:create_protocol", Handler: s.handleCreateProtocol},
		{Method: "PATCH", Path: protocol, Policy: "identity:update_protocol", Handler: s.handleUpdateProtocol},
		{Method: "DELETE", Path: protocol, Policy: "identity:delete_protocol", Handler: s.handleDeleteProtocol},

		{Method: "GET", Path: sps, Policy: "identity:list_service_providers", Handler: s.handleListSPs},
		{Method: "GET", Path: sp, Policy: "identity:get_service_provider", Handler: s.handleGetSP},
		{Method: "PUT", Path: sp, Policy: "identity:create_service_provider", Handler: s.handleCreateSP},
		{Method: "PATCH", Path: sp, Policy: "identity:update_service_provider", Handler: s.handleUpdateSP},
		{Method: "DELETE", Path: sp, Policy: "identity:delete_service_provider", Handler: s.handleDeleteSP},
	}
}

// federationURL is the URL of an OS-FEDERATION resource.
func federationURL(r *http.Request, parts ...string) string {
	u := api.BaseURL(r) + "/v3/OS-FEDERATION"
	for _, p := range parts {
		u += "/" + p
	}
	return u
}

// decodeFederationBody reads a request body of the form {"<key>": {...}} as Keystone's
// federation request schemas do. An empty body reads as {}. required makes the key
// mandatory; closed refuses other top-level keys (additionalProperties: false).
func decodeFederationBody(r *http.Request, key string, required, closed bool) (api.Object, error) {
	b, err := api.ReadBody(r, 0)
	if err != nil {
		return nil, err
	}
	top := map[string]any{}
	if len(trimSpace(b)) > 0 {
		var v any
		if err := api.Unmarshal(b, &v); err != nil {
			return nil, err
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, api.BadRequest("%s is not of type 'object'", pyRepr(v))
		}
		top = m
	}
	if closed {
		for k := range top {
			if k != key {
				return nil, api.BadRequest("Additional properties are not allowed (%s was unexpected)", pyRepr(k))
			}
		}
	}
	inner, present := top[key]
	if !present {
		if required {
			return nil, api.BadRequest("'%s' is a required property", key)
		}
		return api.Object{}, nil
	}
	m, ok := inner.(map[string]any)
	if !ok {
		return nil, api.BadRequest("Invalid input for field '%s': %s is not of type 'object'", key, pyRepr(inner))
	}
	return api.Object(m), nil
}

// trimSpace trims JSON whitespace.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// checkPathID refuses an id longer than Keystone's id columns.
func checkPathID(id string) error {
	if utf8.RuneCountInString(id) > federationIDMaxLen {
		return api.BadRequest("Invalid input for field 'id': the value is longer than %d characters.", federationIDMaxLen)
	}
	return nil
}

// nullableStringField reads an optional string-or-null field; set reports whether it
// was present and val is nil for null.
func nullableStringField(o api.Object, k string, maxLen int) (val *string, set bool, err error) {
	s, present, err := stringField(o, k, true, 0, maxLen)
	if err != nil || !present {
		return nil, present, err
	}
	if o.IsNull(k) {
		return nil, true, nil
	}
	return &s, true, nil
}

// listFilters reads the id and enabled list filters of identity and service providers.
func listFilters(r *http.Request) (id *string, enabled *bool, err error) {
	q := r.URL.Query()
	if q.Has("id") {
		v := q.Get("id")
		id = &v
	}
	if q.Has("enabled") {
		v := q.Get("enabled")
		b, ok := keystoneBoolStrings[v]
		if !ok {
			return nil, nil, api.BadRequest("Invalid input for query parameter 'enabled': %s is not one of the allowed boolean values.", pyRepr(v))
		}
		enabled = &b
	}
	return id, enabled, nil
}

// --- mappings ---

// mappingJSON renders a mapping as Keystone does.
func mappingJSON(r *http.Request, m *fedMapping) map[string]any {
	return map[string]any{
		"id": m.ID, "rules": m.Rules, "schema_version": m.SchemaVersion,
		"links": map[string]any{"self": federationURL(r, "mappings", m.ID)},
	}
}

// decodeMapping reads a mapping body: Keystone takes body.get("mapping", {}) without a
// request schema and validates the mapping itself.
func decodeMapping(r *http.Request) (api.Object, error) {
	return decodeFederationBody(r, "mapping", false, false)
}

// handleListMappings serves GET /v3/OS-FEDERATION/mappings.
func (s *Service) handleListMappings(w http.ResponseWriter, r *http.Request) error {
	ms, err := listMappings(r.Context(), s.db)
	if err != nil {
		return err
	}
	out := make([]any, 0, len(ms))
	for _, m := range ms {
		out = append(out, mappingJSON(r, m))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"mappings": out, "links": api.KeystoneLinks(r)})
	return nil
}

// handleGetMapping serves GET /v3/OS-FEDERATION/mappings/{mapping_id}.
func (s *Service) handleGetMapping(w http.ResponseWriter, r *http.Request) error {
	m, err := getMapping(r.Context(), s.db, r.PathValue("mapping_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"mapping": mappingJSON(r, m)})
	return nil
}

// handleCreateMapping serves PUT /v3/OS-FEDERATION/mappings/{mapping_id}.
func (s *Service) handleCreateMapping(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("mapping_id")
	o, err := decodeMapping(r)
	if err != nil {
		return err
	}
	m, err := validateMapping(id, o)
	if err != nil {
		return err
	}
	if err := checkPathID(id); err != nil {
		return err
	}
	if err := s.createMapping(r.Context(), m); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"mapping": mappingJSON(r, m)})
	return nil
}

// handleUpdateMapping serves PATCH /v3/OS-FEDERATION/mappings/{mapping_id}. As in
// Keystone, the rules are replaced and a missing schema_version resets to the default.
func (s *Service) handleUpdateMapping(w http.ResponseWriter, r *http.Request) error {
	o, err := decodeMapping(r)
	if err != nil {
		return err
	}
	m, err := validateMapping(r.PathValue("mapping_id"), o)
	if err != nil {
		return err
	}
	if err := s.updateMapping(r.Context(), m); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"mapping": mappingJSON(r, m)})
	return nil
}

// handleDeleteMapping serves DELETE /v3/OS-FEDERATION/mappings/{mapping_id}.
func (s *Service) handleDeleteMapping(w http.ResponseWriter, r *http.Request) error {
	if err := s.deleteMapping(r.Context(), r.PathValue("mapping_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// --- identity providers ---

// idpJSON renders an identity provider as Keystone does, with links to itself and to
// its protocols.
func idpJSON(r *http.Request, p *identityProvider) map[string]any {
	var desc, ttl any
	if p.Description != nil {
		desc = *p.Description
	}
	if p.AuthorizationTTL != nil {
		ttl = *p.AuthorizationTTL
	}
	remote := p.RemoteIDs
	if remote == nil {
		remote = []string{}
	}
	self := federationURL(r, "identity_providers", p.ID)
	return map[string]any{
		"id": p.ID, "domain_id": p.DomainID, "enabled": p.Enabled, "description": desc,
		"remote_ids": remote, "authorization_ttl": ttl,
		"links": map[string]any{"self": self, "protocols": self + "/protocols"},
	}
}

// idpFields reads the attributes an identity provider body may set
// (keystone/federation/schema.py _identity_provider_properties).
func idpFields(o api.Object) (u idpUpdate, err error) {
	if b, present, err := readKeystoneBool(o, "enabled"); err != nil {
		return u, err
	} else if present {
		u.Enabled = &b
	}
	if u.Description, u.HasDescription, err = nullableStringField(o, "description", 0); err != nil {
		return u, err
	}
	if o.Has("authorization_ttl") {
		u.HasAuthorizationTTL = true
		if !o.IsNull("authorization_ttl") {
			n, _, err := o.Int("authorization_ttl")
			if err != nil {
				return u, err
			}
			if n < 0 {
				return u, api.BadRequest("Invalid input for field 'authorization_ttl': %d is less than the minimum of 0", n)
			}
			u.AuthorizationTTL = &n
		}
	}
	if o.Has("remote_ids") {
		u.RemoteIDs = []string{}
		if !o.IsNull("remote_ids") {
			ids, _, err := o.StrList("remote_ids")
			if err != nil {
				return u, err
			}
			seen := map[string]bool{}
			for _, id := range ids {
				if utf8.RuneCountInString(id) > 64 {
					return u, api.BadRequest("Invalid input for field 'remote_ids': %s is too long", pyRepr(id))
				}
				if seen[id] {
					return u, api.BadRequest("Invalid input for field 'remote_ids': %s has non-unique elements", pyRepr(anyStrings(ids)))
				}
				seen[id] = true
			}
			u.RemoteIDs = ids
		}
	}
	return u, nil
}

// anyStrings converts a string list for pyRepr.
func anyStrings(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// handleListIdPs serves GET /v3/OS-FEDERATION/identity_providers, filtered by id and
// enabled.
func (s *Service) handleListIdPs(w http.ResponseWriter, r *http.Request) error {
	id, enabled, err := listFilters(r)
	if err != nil {
		return err
	}
	ps, err := listIdPs(r.Context(), s.db, id, enabled)
	if err != nil {
		return err
	}
	out := make([]any, 0, len(ps))
	for _, p := range ps {
		out = append(out, idpJSON(r, p))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"identity_providers": out, "links": api.KeystoneLinks(r)})
	return nil
}

// handleGetIdP serves GET /v3/OS-FEDERATION/identity_providers/{idp_id}.
func (s *Service) handleGetIdP(w http.ResponseWriter, r *http.Request) error {
	p, err := getIdP(r.Context(), s.db, r.PathValue("idp_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"identity_provider": idpJSON(r, p)})
	return nil
}

// handleCreateIdP serves PUT /v3/OS-FEDERATION/identity_providers/{idp_id}. An
// identity provider starts disabled unless told otherwise.
func (s *Service) handleCreateIdP(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("idp_id")
	o, err := decodeFederationBody(r, "identity_provider", false, true)
	if err != nil {
		return err
	}
	if err := onlyProperties(o, "identity_provider", "enabled", "description", "authorization_ttl", "remote_ids", "domain_id"); err != nil {
		return err
	}
	u, err := idpFields(o)
	if err != nil {
		return err
	}
	p := &identityProvider{ID: id, Description: u.Description, AuthorizationTTL: u.AuthorizationTTL, RemoteIDs: u.RemoteIDs}
	if u.Enabled != nil {
		p.Enabled = *u.Enabled
	}
	if o.Has("domain_id") && !o.IsNull("domain_id") {
		if p.DomainID, _, err = readDomainIDField(o); err != nil {
			return err
		}
	}
	if err := checkPathID(id); err != nil {
		return err
	}
	if err := s.createIdP(r.Context(), p); err != nil {
		return err
	}
	sort.Strings(p.RemoteIDs)
	api.WriteJSON(w, http.StatusCreated, map[string]any{"identity_provider": idpJSON(r, p)})
	return nil
}

// handleUpdateIdP serves PATCH /v3/OS-FEDERATION/identity_providers/{idp_id}; the
// domain cannot change.
func (s *Service) handleUpdateIdP(w http.ResponseWriter, r *http.Request) error {
	o, err := decodeFederationBody(r, "identity_provider", true, false)
	if err != nil {
		return err
	}
	if err := requireProperties(o, "identity_provider"); err != nil {
		return err
	}
	if err := onlyProperties(o, "identity_provider", "enabled", "description", "authorization_ttl", "remote_ids"); err != nil {
		return err
	}
	u, err := idpFields(o)
	if err != nil {
		return err
	}
	p, err := s.updateIdP(r.Context(), r.PathValue("idp_id"), u)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"identity_provider": idpJSON(r, p)})
	return nil
}

// handleDeleteIdP serves DELETE /v3/OS-FEDERATION/identity_providers/{idp_id}.
func (s *Service) handleDeleteIdP(w http.ResponseWriter, r *http.Request) error {
	if err := s.deleteIdP(r.Context(), r.PathValue("idp_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// --- protocols ---

// protocolJSON renders a protocol. Keystone shows id, mapping_id and links for one
// protocol, and adds idp_id and remote_id_attribute in lists.
func protocolJSON(r *http.Request, p *fedProtocol, inList bool) map[string]any {
	idp := federationURL(r, "identity_providers", p.IdPID)
	m := map[string]any{
		"id": p.ID, "mapping_id": p.MappingID,
		"links": map[string]any{"self": idp + "/protocols/" + p.ID, "identity_provider": idp},
	}
	if inList {
		var attr any
		if p.RemoteIDAttribute != nil {
			attr = *p.RemoteIDAttribute
		}
		m["idp_id"], m["remote_id_attribute"] = p.IdPID, attr
	}
	return m
}

// mappingIDPattern checks Keystone's protocol mapping_id: a string of 1 to 64
// characters.
var mappingIDPattern = regexp.MustCompile(`^(?s).{1,64}$`)

// protocolFields reads a protocol body's mapping_id (required) and remote_id_attribute,
// which may be null only on create.
func protocolFields(o api.Object, create bool) (mappingID string, attr *string, err error) {
	if err := onlyProperties(o, "protocol", "mapping_id", "remote_id_attribute"); err != nil {
		return "", nil, err
	}
	if !o.Has("mapping_id") {
		return "", nil, api.BadRequest("Invalid input for field 'protocol': 'mapping_id' is a required property")
	}
	mappingID, _, err = o.Str("mapping_id", false)
	if err != nil {
		return "", nil, err
	}
	if !mappingIDPattern.MatchString(mappingID) {
		return "", nil, api.BadRequest("Invalid input for field 'mapping_id': %s must be 1 to 64 characters long", pyRepr(mappingID))
	}
	attr, _, err = nullableStringField(o, "remote_id_attribute", 64)
	if err != nil {
		return "", nil, err
	}
	if !create && o.IsNull("remote_id_attribute") {
		return "", nil, api.BadRequest("Invalid input for field 'remote_id_attribute': None is not of type 'string'")
	}
	return mappingID, attr, nil
}

// handleListProtocols serves GET /v3/OS-FEDERATION/identity_providers/{idp_id}/protocols.
func (s *Service) handleListProtocols(w http.ResponseWriter, r *http.Request) error {
	ps, err := listProtocols(r.Context(), s.db, r.PathValue("idp_id"))
	if err != nil {
		return err
	}
	out := make([]any, 0, len(ps))
	for _, p := range ps {
		out = append(out, protocolJSON(r, p, true))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"protocols": out, "links": api.KeystoneLinks(r)})
	return nil
}

// handleGetProtocol serves GET .../identity_providers/{idp_id}/protocols/{protocol_id}.
func (s *Service) handleGetProtocol(w http.ResponseWriter, r *http.Request) error {
	p, err := getProtocol(r.Context(), s.db, r.PathValue("idp_id"), r.PathValue("protocol_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"protocol": protocolJSON(r, p, false)})
	return nil
}

// handleCreateProtocol serves PUT .../identity_providers/{idp_id}/protocols/{protocol_id}.
func (s *Service) handleCreateProtocol(w http.ResponseWriter, r *http.Request) error {
	o, err := decodeFederationBody(r, "protocol", true, true)
	if err != nil {
		return err
	}
	mappingID, attr, err := protocolFields(o, true)
	if err != nil {
		return err
	}
	p := &fedProtocol{IdPID: r.PathValue("idp_id"), ID: r.PathValue("protocol_id"), MappingID: mappingID, RemoteIDAttribute: attr}
	if err := checkPathID(p.ID); err != nil {
		return err
	}
	if err := s.createProtocol(r.Context(), p); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"protocol": protocolJSON(r, p, false)})
	return nil
}

// handleUpdateProtocol serves PATCH .../identity_providers/{idp_id}/protocols/{protocol_id}.
func (s *Service) handleUpdateProtocol(w http.ResponseWriter, r *http.Request) error {
	o, err := decodeFederationBody(r, "protocol", true, true)
	if err != nil {
		return err
	}
	mappingID, attr, err := protocolFields(o, false)
	if err != nil {
		return err
	}
	p, err := s.updateProtocol(r.Context(), r.PathValue("idp_id"), r.PathValue("protocol_id"), mappingID, attr)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"protocol": protocolJSON(r, p, false)})
	return nil
}

// handleDeleteProtocol serves DELETE .../identity_providers/{idp_id}/protocols/{protocol_id}.
func (s *Service) handleDeleteProtocol(w http.ResponseWriter, r *http.Request) error {
	if err := s.deleteProtocol(r.Context(), r.PathValue("idp_id"), r.PathValue("protocol_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// --- service providers ---

// spJSON renders a service provider as Keystone does.
func spJSON(r *http.Request, p *serviceProvider) map[string]any {
	var desc any
	if p.Description != nil {
		desc = *p.Description
	}
	return map[string]any{
		"id": p.ID, "enabled": p.Enabled, "description": desc, "auth_url": p.AuthURL,
		"sp_url": p.SPURL, "relay_state_prefix": p.RelayStatePrefix,
		"links": map[string]any{"self": federationURL(r, "service_providers", p.ID)},
	}
}

// spURLPattern is Keystone's url parameter type: a scheme, a colon and something more.
var spURLPattern = regexp.MustCompile(`^[a-zA-Z0-9+.-]+:.+`)

// spURLField reads auth_url or sp_url.
func spURLField(o api.Object, k string) (string, bool, error) {
	v, present, err := stringField(o, k, false, 0, 225)
	if err != nil || !present {
		return "", present, err
	}
	if !spURLPattern.MatchString(v) {
		return "", true, api.BadRequest("Invalid input for field '%s': %s does not match '^[a-zA-Z0-9+.-]+:.+'", k, pyRepr(v))
	}
	return v, true, nil
}

// applySPFields validates a service provider body and applies it to p.
func applySPFields(o api.Object, p *serviceProvider) error {
	if err := onlyProperties(o, "service_provider", "auth_url", "sp_url", "description", "enabled", "relay_state_prefix"); err != nil {
		return err
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"auth_url", &p.AuthURL}, {"sp_url", &p.SPURL}} {
		v, present, err := spURLField(o, f.key)
		if err != nil {
			return err
		}
		if present {
			*f.dst = v
		}
	}
	desc, set, err := nullableStringField(o, "description", 0)
	if err != nil {
		return err
	}
	if set {
		p.Description = desc
	}
	if b, present, err := readKeystoneBool(o, "enabled"); err != nil {
		return err
	} else if present {
		p.Enabled = b
	}
	// A null relay_state_prefix takes the configured default, which is what the
	// NOT NULL column will hold.
	prefix, set, err := nullableStringField(o, "relay_state_prefix", 0)
	if err != nil {
		return err
	}
	if set {
		p.RelayStatePrefix = defaultRelayStatePrefix
		if prefix != nil {
			p.RelayStatePrefix = *prefix
		}
	}
	return nil
}

// handleListSPs serves GET /v3/OS-FEDERATION/service_providers, filtered by id and
// enabled.
func (s *Service) handleListSPs(w http.ResponseWriter, r *http.Request) error {
	id, enabled, err := listFilters(r)
	if err != nil {
		return err
	}
	ps, err := listSPs(r.Context(), s.db, id, enabled)
	if err != nil {
		return err
	}
	out := make([]any, 0, len(ps))
	for _, p := range ps {
		out = append(out, spJSON(r, p))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"service_providers": out, "links": api.KeystoneLinks(r)})
	return nil
}

// handleGetSP serves GET /v3/OS-FEDERATION/service_providers/{sp_id}.
func (s *Service) handleGetSP(w http.ResponseWriter, r *http.Request) error {
	p, err := getSP(r.Context(), s.db, r.PathValue("sp_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"service_provider": spJSON(r, p)})
	return nil
}

// handleCreateSP serves PUT /v3/OS-FEDERATION/service_providers/{sp_id}: auth_url and
// sp_url are required, enabled defaults to false and relay_state_prefix to [saml]'s.
func (s *Service) handleCreateSP(w http.ResponseWriter, r *http.Request) error {
	o, err := decodeFederationBody(r, "service_provider", true, true)
	if err != nil {
		return err
	}
	for _, k := range []string{"auth_url", "sp_url"} {
		if !o.Has(k) {
			return api.BadRequest("Invalid input for field 'service_provider': '%s' is a required property", k)
		}
	}
	p := &serviceProvider{ID: r.PathValue("sp_id"), RelayStatePrefix: defaultRelayStatePrefix}
	if err := applySPFields(o, p); err != nil {
		return err
	}
	if err := checkPathID(p.ID); err != nil {
		return err
	}
	if err := s.createSP(r.Context(), p); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"service_provider": spJSON(r, p)})
	return nil
}

// handleUpdateSP serves PATCH /v3/OS-FEDERATION/service_providers/{sp_id}.
func (s *Service) handleUpdateSP(w http.ResponseWriter, r *http.Request) error {
	o, err := decodeFederationBody(r, "service_provider", true, true)
	if err != nil {
		return err
	}
	if err := requireProperties(o, "service_provider"); err != nil {
		return err
	}
	if err := applySPFields(o, &serviceProvider{}); err != nil {
		return err
	}
	p, err := s.updateSP(r.Context(), r.PathValue("sp_id"), func(p *serviceProvider) { _ = applySPFields(o, p) })
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"service_provider": spJSON(r, p)})
	return nil
}

// handleDeleteSP serves DELETE /v3/OS-FEDERATION/service_providers/{sp_id}.
func (s *Service) handleDeleteSP(w http.ResponseWriter, r *http.Request) error {
	if err := s.deleteSP(r.Context(), r.PathValue("sp_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
