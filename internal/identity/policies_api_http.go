package identity

import (
	"net/http"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// policyRoutes are /v3/policies and the OS-ENDPOINT-POLICY associations
// (keystone/api/policy.py, and the endpoint side in keystone/api/endpoints.py).
func (s *Service) policyRoutes() []api.Route {
	const ep = "/v3/policies/{policy_id}/OS-ENDPOINT-POLICY"
	return []api.Route{
		{Method: "GET", Path: "/v3/policies", Policy: "identity:list_policies", Handler: s.handleListPolicies},
		{Method: "POST", Path: "/v3/policies", Policy: "identity:create_policy", Handler: s.handleCreatePolicy},
		{Method: "GET", Path: "/v3/policies/{policy_id}", Policy: "identity:get_policy", Handler: s.handleGetPolicy},
		{Method: "PATCH", Path: "/v3/policies/{policy_id}", Policy: "identity:update_policy", Handler: s.handleUpdatePolicy},
		{Method: "DELETE", Path: "/v3/policies/{policy_id}", Policy: "identity:delete_policy", Handler: s.handleDeletePolicy},

		{Method: "GET", Path: ep + "/endpoints", Policy: "identity:list_endpoints_for_policy", Handler: s.handleListPolicyEndpoints},
		{Method: "GET", Path: ep + "/endpoints/{endpoint_id}", Policy: "identity:check_policy_association_for_endpoint", Handler: s.policyAssociation(checkAssoc)},
		{Method: "PUT", Path: ep + "/endpoints/{endpoint_id}", Policy: "identity:create_policy_association_for_endpoint", Handler: s.policyAssociation(createAssoc)},
		{Method: "DELETE", Path: ep + "/endpoints/{endpoint_id}", Policy: "identity:delete_policy_association_for_endpoint", Handler: s.policyAssociation(deleteAssoc)},
		{Method: "GET", Path: ep + "/services/{service_id}", Policy: "identity:check_policy_association_for_service", Handler: s.policyAssociation(checkAssoc)},
		{Method: "PUT", Path: ep + "/services/{service_id}", Policy: "identity:create_policy_association_for_service", Handler: s.policyAssociation(createAssoc)},
		{Method: "DELETE", Path: ep + "/services/{service_id}", Policy: "identity:delete_policy_association_for_service", Handler: s.policyAssociation(deleteAssoc)},
		{Method: "GET", Path: ep + "/services/{service_id}/regions/{region_id}", Policy: "identity:check_policy_association_for_region_and_service", Handler: s.policyAssociation(checkAssoc)},
		{Method: "PUT", Path: ep + "/services/{service_id}/regions/{region_id}", Policy: "identity:create_policy_association_for_region_and_service", Handler: s.policyAssociation(createAssoc)},
		{Method: "DELETE", Path: ep + "/services/{service_id}/regions/{region_id}", Policy: "identity:delete_policy_association_for_region_and_service", Handler: s.policyAssociation(deleteAssoc)},
		{Method: "GET", Path: "/v3/endpoints/{endpoint_id}/OS-ENDPOINT-POLICY/policy", Policy: "identity:get_policy_for_endpoint", Handler: s.handleGetEndpointPolicy},
	}
}

// policyAPIPolicies are Keystone's current defaults for /v3/policies and
// OS-ENDPOINT-POLICY (keystone/common/policies/policy.py and policy_association.py).
func policyAPIPolicies() map[string]string {
	const adminOrSystemReader = "rule:admin_required or (role:reader and system_scope:all)"
	return map[string]string{
		"identity:get_policy":    adminOrSystemReader,
		"identity:list_policies": adminOrSystemReader,
		"identity:create_policy": "rule:admin_required",
		"identity:update_policy": "rule:admin_required",
		"identity:delete_policy": "rule:admin_required",

		"identity:create_policy_association_for_endpoint":           "rule:admin_required",
		"identity:check_policy_association_for_endpoint":            adminOrSystemReader,
		"identity:delete_policy_association_for_endpoint":           "rule:admin_required",
		"identity:create_policy_association_for_service":            "rule:admin_required",
		"identity:check_policy_association_for_service":             adminOrSystemReader,
		"identity:delete_policy_association_for_service":            "rule:admin_required",
		"identity:create_policy_association_for_region_and_service": "rule:admin_required",
		"identity:check_policy_association_for_region_and_service":  adminOrSystemReader,
		"identity:delete_policy_association_for_region_and_service": "rule:admin_required",
		"identity:get_policy_for_endpoint":                          adminOrSystemReader,
		"identity:list_endpoints_for_policy":                        adminOrSystemReader,
	}
}

// policyKnown are the policy attributes that are not extra.
var policyKnown = []string{"id", "type", "blob", "links"}

// policyJSON renders a policy as Keystone does: its extra attributes, id, type, blob and
// links.
func policyJSON(r *http.Request, p *policyBlob) map[string]any {
	m := make(map[string]any, len(p.Extra)+4)
	for k, v := range p.Extra {
		m[k] = v
	}
	m["id"], m["type"], m["blob"] = p.ID, p.Type, p.Blob
	m["links"] = map[string]any{"self": api.BaseURL(r) + "/v3/policies/" + p.ID}
	return m
}

// readPolicyFields validates blob and type (Keystone's policy schema) and applies them.
func readPolicyFields(o api.Object, p *policyBlob, create bool) error {
	blob, hasBlob, err := o.Str("blob", false)
	if err != nil {
		return err
	}
	typ, hasType, err := stringField(o, "type", false, 0, 255)
	if err != nil {
		return err
	}
	if create && !hasBlob {
		return api.BadRequest("Invalid input for field 'policy': 'blob' is a required property.")
	}
	if create && !hasType {
		return api.BadRequest("Invalid input for field 'policy': 'type' is a required property.")
	}
	if hasBlob {
		p.Blob = blob
	}
	if hasType {
		p.Type = typ
	}
	return nil
}

// handleListPolicies serves GET /v3/policies with the type filter.
func (s *Service) handleListPolicies(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	ps, err := s.listPolicyBlobs(r.Context(), s.db, q.Get("type"), q.Has("type"))
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(ps))
	for _, p := range ps {
		if matchInexact(q, "type", p.Type) {
			out = append(out, policyJSON(r, p))
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"policies": out, "links": api.KeystoneLinks(r)})
	return nil
}

// handleCreatePolicy serves POST /v3/policies. Like Keystone, any id in the body is
// replaced by a new one.
func (s *Service) handleCreatePolicy(w http.ResponseWriter, r *http.Request) error {
	o, err := api.DecodeObject(r, "policy")
	if err != nil {
		return err
	}
	p := &policyBlob{ID: api.NewID()}
	if err := readPolicyFields(o, p, true); err != nil {
		return err
	}
	p.Extra = normalizeAttrNames(o).Extra(policyKnown...)
	if err := s.write(r.Context(), func(tx *store.Tx) error { return insertPolicyBlob(r.Context(), tx, p) }); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"policy": policyJSON(r, p)})
	return nil
}

// handleGetPolicy serves GET /v3/policies/{policy_id}.
func (s *Service) handleGetPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := s.getPolicyBlob(r.Context(), s.db, r.PathValue("policy_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"policy": policyJSON(r, p)})
	return nil
}

// handleUpdatePolicy serves PATCH /v3/policies/{policy_id}.
func (s *Service) handleUpdatePolicy(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("policy_id")
	o, err := api.DecodeObject(r, "policy")
	if err != nil {
		return err
	}
	if err := requireProperties(o, "policy"); err != nil {
		return err
	}
	if err := readPolicyFields(o, &policyBlob{}, false); err != nil {
		return err
	}
	if v, ok := o["id"]; ok && v != id {
		return api.BadRequest("Cannot change policy ID")
	}
	var p *policyBlob
	err = s.write(r.Context(), func(tx *store.Tx) error {
		var err error
		if p, err = s.getPolicyBlob(r.Context(), tx, id); err != nil {
			return err
		}
		if err := readPolicyFields(o, p, false); err != nil {
			return err
		}
		p.Extra = mergeExtra(p.Extra, o, policyKnown...)
		return updatePolicyBlobRow(r.Context(), tx, p)
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"policy": policyJSON(r, p)})
	return nil
}

// handleDeletePolicy serves DELETE /v3/policies/{policy_id}.
func (s *Service) handleDeletePolicy(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("policy_id")
	if err := s.write(r.Context(), func(tx *store.Tx) error { return deletePolicyBlobTx(r.Context(), tx, id) }); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleListPolicyEndpoints serves GET /v3/policies/{policy_id}/OS-ENDPOINT-POLICY/endpoints.
func (s *Service) handleListPolicyEndpoints(w http.ResponseWriter, r *http.Request) error {
	p, err := s.getPolicyBlob(r.Context(), s.db, r.PathValue("policy_id"))
	if err != nil {
		return err
	}
	eps, err := s.endpointsForPolicy(r.Context(), s.db, p.ID)
	if err != nil {
		return err
	}
	writeEndpoints(w, r, eps)
	return nil
}

// assocOp is what a policy association request does.
type assocOp int

// The policy association operations.
const (
	checkAssoc assocOp = iota
	createAssoc
	deleteAssoc
)

// policyAssociation returns the handler for one OS-ENDPOINT-POLICY association route: it
// checks that the policy and whatever the path names (endpoint, service, region) exist,
// as Keystone does, then checks (204 or 404), creates or deletes the association (204).
func (s *Service) policyAssociation(op assocOp) api.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		t := policyTarget{EndpointID: r.PathValue("endpoint_id"), ServiceID: r.PathValue("service_id"), RegionID: r.PathValue("region_id")}
		policyID := r.PathValue("policy_id")
		refs := func(q store.Querier) error {
			if _, err := s.getPolicyBlob(r.Context(), q, policyID); err != nil {
				return err
			}
			if t.EndpointID != "" {
				if _, err := s.getEndpoint(r.Context(), q, t.EndpointID); err != nil {
					return err
				}
			}
			if t.ServiceID != "" {
				if _, err := s.getCatalogService(r.Context(), q, t.ServiceID); err != nil {
					return err
				}
			}
			if t.RegionID != "" {
				if _, err := s.getRegion(r.Context(), q, t.RegionID); err != nil {
					return err
				}
			}
			return nil
		}
		var err error
		switch op {
		case checkAssoc:
			if err = refs(s.db); err == nil {
				err = checkPolicyAssociation(r.Context(), s.db, policyID, t)
			}
		case createAssoc:
			err = s.write(r.Context(), func(tx *store.Tx) error {
				if err := refs(tx); err != nil {
					return err
				}
				return createPolicyAssociation(r.Context(), tx, policyID, t)
			})
		case deleteAssoc:
			err = s.write(r.Context(), func(tx *store.Tx) error {
				if err := refs(tx); err != nil {
					return err
				}
				return deletePolicyAssociation(r.Context(), tx, policyID, t)
			})
		}
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// handleGetEndpointPolicy serves GET /v3/endpoints/{endpoint_id}/OS-ENDPOINT-POLICY/policy,
// the policy in effect for an endpoint.
func (s *Service) handleGetEndpointPolicy(w http.ResponseWriter, r *http.Request) error {
	e, err := s.getEndpoint(r.Context(), s.db, r.PathValue("endpoint_id"))
	if err != nil {
		return err
	}
	p, err := s.policyForEndpoint(r.Context(), s.db, e)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"policy": policyJSON(r, p)})
	return nil
}
