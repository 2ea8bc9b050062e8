package identity

import (
	"net/http"
	"sort"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// limitRoutes are /v3/registered_limits and /v3/limits (keystone/api/registered_limits.py
// and limits.py).
//
// GET /v3/limits/model is served by the /v3/limits/{limit_id} route: a separate
// "/v3/limits/model" pattern would conflict in net/http's mux with the method-specific
// PATCH and DELETE patterns of /v3/limits/{limit_id}, so that handler checks the rule of
// whichever resource the request names.
func (s *Service) limitRoutes() []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/v3/registered_limits", Policy: "identity:list_registered_limits", Handler: s.handleListRegisteredLimits},
		{Method: "POST", Path: "/v3/registered_limits", Policy: "identity:create_registered_limits", Handler: s.handleCreateRegisteredLimits},
		{Method: "GET", Path: "/v3/registered_limits/{registered_limit_id}", Policy: "identity:get_registered_limit", Handler: s.handleGetRegisteredLimit},
		{Method: "PATCH", Path: "/v3/registered_limits/{registered_limit_id}", Policy: "identity:update_registered_limit", Handler: s.handleUpdateRegisteredLimit},
		{Method: "DELETE", Path: "/v3/registered_limits/{registered_limit_id}", Policy: "identity:delete_registered_limit", Handler: s.handleDeleteRegisteredLimit},

		{Method: "GET", Path: "/v3/limits", Policy: "identity:list_limits", Handler: s.handleListLimits},
		{Method: "POST", Path: "/v3/limits", Policy: "identity:create_limits", Handler: s.handleCreateLimits},
		// Policy is checked by the handler: identity:get_limit or identity:get_limit_model.
		{Method: "GET", Path: "/v3/limits/{limit_id}", Handler: s.handleGetLimit},
		{Method: "PATCH", Path: "/v3/limits/{limit_id}", Policy: "identity:update_limit", Handler: s.handleUpdateLimit},
		{Method: "DELETE", Path: "/v3/limits/{limit_id}", Policy: "identity:delete_limit", Handler: s.handleDeleteLimit},
	}
}

// limitPolicies are Keystone's current defaults for registered limits and limits
// (keystone/common/policies/registered_limit.py and limit.py).
func limitPolicies() map[string]string {
	const adminOrSystemOrDomainOrProjectUser = "rule:admin_required or (role:reader and system_scope:all) or " +
		"(domain_id:%(target.limit.domain.id)s or domain_id:%(target.limit.project.domain_id)s) or " +
		"(project_id:%(target.limit.project_id)s and not None:%(target.limit.project_id)s)"
	return map[string]string{
		"identity:get_registered_limit":     "",
		"identity:list_registered_limits":   "",
		"identity:create_registered_limits": "rule:admin_required",
		"identity:update_registered_limit":  "rule:admin_required",
		"identity:delete_registered_limit":  "rule:admin_required",

		"identity:get_limit_model": "",
		"identity:get_limit":       adminOrSystemOrDomainOrProjectUser,
		"identity:list_limits":     "",
		"identity:create_limits":   "rule:admin_required",
		"identity:update_limit":    "rule:admin_required",
		"identity:delete_limit":    "rule:admin_required",
	}
}

// orNull renders "" as JSON null, as Keystone renders its unset nullable columns.
func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// registeredLimitJSON renders a registered limit as Keystone does.
func registeredLimitJSON(r *http.Request, rl *registeredLimit) map[string]any {
	return map[string]any{
		"id":            rl.ID,
		"service_id":    rl.ServiceID,
		"region_id":     orNull(rl.RegionID),
		"resource_name": rl.ResourceName,
		"default_limit": rl.DefaultLimit,
		"description":   orNull(rl.Description),
		"links":         map[string]any{"self": api.BaseURL(r) + "/v3/registered_limits/" + rl.ID},
	}
}

// limitJSON renders a limit as Keystone does.
func limitJSON(r *http.Request, l *limit) map[string]any {
	return map[string]any{
		"id":             l.ID,
		"project_id":     orNull(l.ProjectID),
		"domain_id":      orNull(l.DomainID),
		"service_id":     l.ServiceID,
		"region_id":      orNull(l.RegionID),
		"resource_name":  l.ResourceName,
		"resource_limit": l.ResourceLimit,
		"description":    orNull(l.Description),
		"links":          map[string]any{"self": api.BaseURL(r) + "/v3/limits/" + l.ID},
	}
}

// decodeStrict reads a body {"<key>": <value>} that may hold nothing else, as the limit
// schemas (additionalProperties false) require.
func decodeStrict(r *http.Request, key string) (api.Object, error) {
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return nil, err
	}
	if !body.Has(key) {
		return nil, api.BadRequest("Invalid input for field '%s': '%s' is a required property.", key, key)
	}
	if err := onlyProperties(body, "body", key); err != nil {
		return nil, err
	}
	return body, nil
}

// onlyProperties is the 400 for attributes outside allowed (additionalProperties false).
func onlyProperties(o api.Object, field string, allowed ...string) error {
	ok := make(map[string]bool, len(allowed))
	for _, a := range allowed {
		ok[a] = true
	}
	var extra []string
	for k := range o {
		if !ok[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	return api.BadRequest("Invalid input for field '%s': Additional properties are not allowed ('%s' was unexpected).", field, truncateRunes(strings.Join(extra, "', '"), 128))
}

// limitValue reads a limit amount: an integer from -1 (unlimited) to 2^31-1.
func limitValue(o api.Object, k string) (int64, bool, error) {
	n, present, err := o.Int(k)
	if err != nil || !present {
		return n, present, err
	}
	if n < -1 || n > limitMax {
		return 0, true, api.BadRequest("Invalid input for field '%s': %d is not between -1 and %d.", k, n, limitMax)
	}
	return n, true, nil
}

// resourceName reads a resource_name: 1 to 255 characters, not all blank.
func resourceName(o api.Object) (string, bool, error) {
	return o.Name("resource_name", false, 255)
}

// limitItems reads the non-empty list of objects under key.
func limitItems(body api.Object, key string) ([]api.Object, error) {
	items, _, err := body.List(key)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, api.BadRequest("Invalid input for field '%s': [] is too short.", key)
	}
	return items, nil
}

// queryFilter returns a pointer to the query parameter's value, or nil when absent.
func queryFilter(r *http.Request, k string) *string {
	q := r.URL.Query()
	if !q.Has(k) {
		return nil
	}
	v := q.Get(k)
	return &v
}

// --- registered limits ---

// registeredLimitFields are the attributes a registered limit body may hold.
var registeredLimitFields = []string{"service_id", "region_id", "resource_name", "default_limit", "description"}

// readRegisteredLimit validates a registered limit body and applies it to rl; create
// requires service_id, resource_name and default_limit.
func readRegisteredLimit(o api.Object, field string, rl *registeredLimit, create bool) error {
	if err := onlyProperties(o, field, registeredLimitFields...); err != nil {
		return err
	}
	svc, hasSvc, err := o.Str("service_id", false)
	if err != nil {
		return err
	}
	reg, hasReg, err := stringField(o, "region_id", true, 1, 255)
	if err != nil {
		return err
	}
	name, hasName, err := resourceName(o)
	if err != nil {
		return err
	}
	def, hasDef, err := limitValue(o, "default_limit")
	if err != nil {
		return err
	}
	desc, hasDesc, err := stringField(o, "description", true, 0, 255)
	if err != nil {
		return err
	}
	if create {
		for _, f := range []struct {
			name    string
			present bool
		}{{"service_id", hasSvc}, {"resource_name", hasName}, {"default_limit", hasDef}} {
			if !f.present {
				return api.BadRequest("Invalid input for field '%s': '%s' is a required property.", f.name, f.name)
			}
		}
	}
	if hasSvc {
		rl.ServiceID = svc
	}
	if hasReg {
		rl.RegionID = reg
	}
	if hasName {
		rl.ResourceName = name
	}
	if hasDef {
		rl.DefaultLimit = def
	}
	if hasDesc {
		rl.Description = desc
	}
	return nil
}

// handleListRegisteredLimits serves GET /v3/registered_limits.
func (s *Service) handleListRegisteredLimits(w http.ResponseWriter, r *http.Request) error {
	f := limitFilter{ServiceID: queryFilter(r, "service_id"), RegionID: queryFilter(r, "region_id"), ResourceName: queryFilter(r, "resource_name")}
	rls, err := s.listRegisteredLimits(r.Context(), s.db, f)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(rls))
	for _, rl := range rls {
		out = append(out, registeredLimitJSON(r, rl))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"registered_limits": out, "links": api.KeystoneLinks(r)})
	return nil
}

// handleCreateRegisteredLimits serves POST /v3/registered_limits.
func (s *Service) handleCreateRegisteredLimits(w http.ResponseWriter, r *http.Request) error {
	body, err := decodeStrict(r, "registered_limits")
	if err != nil {
		return err
	}
	items, err := limitItems(body, "registered_limits")
	if err != nil {
		return err
	}
	rls := make([]*registeredLimit, 0, len(items))
	for _, o := range items {
		rl := &registeredLimit{ID: api.NewID()}
		if err := readRegisteredLimit(o, "registered_limits", rl, true); err != nil {
			return err
		}
		rls = append(rls, rl)
	}
	if err := s.write(r.Context(), func(tx *store.Tx) error { return s.createRegisteredLimitsTx(r.Context(), tx, rls) }); err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(rls))
	for _, rl := range rls {
		out = append(out, registeredLimitJSON(r, rl))
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"registered_limits": out})
	return nil
}

// handleGetRegisteredLimit serves GET /v3/registered_limits/{registered_limit_id}.
func (s *Service) handleGetRegisteredLimit(w http.ResponseWriter, r *http.Request) error {
	rl, err := s.getRegisteredLimit(r.Context(), s.db, r.PathValue("registered_limit_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"registered_limit": registeredLimitJSON(r, rl)})
	return nil
}

// handleUpdateRegisteredLimit serves PATCH /v3/registered_limits/{registered_limit_id}.
func (s *Service) handleUpdateRegisteredLimit(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("registered_limit_id")
	body, err := decodeStrict(r, "registered_limit")
	if err != nil {
		return err
	}
	o, _, err := body.Obj("registered_limit")
	if err != nil {
		return err
	}
	if o == nil {
		return api.BadRequest("Invalid input for field 'registered_limit': None is not of type 'object'.")
	}
	if err := readRegisteredLimit(o, "registered_limit", &registeredLimit{}, false); err != nil {
		return err
	}
	var rl *registeredLimit
	err = s.write(r.Context(), func(tx *store.Tx) error {
		old, err := s.getRegisteredLimit(r.Context(), tx, id)
		if err != nil {
			return err
		}
		next := *old
		if err := readRegisteredLimit(o, "registered_limit", &next, false); err != nil {
			return err
		}
		rl = &next
		return s.updateRegisteredLimitTx(r.Context(), tx, old, rl)
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"registered_limit": registeredLimitJSON(r, rl)})
	return nil
}

// handleDeleteRegisteredLimit serves DELETE /v3/registered_limits/{registered_limit_id}.
func (s *Service) handleDeleteRegisteredLimit(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("registered_limit_id")
	if err := s.write(r.Context(), func(tx *store.Tx) error { return s.deleteRegisteredLimitTx(r.Context(), tx, id) }); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// --- limits ---

// limitCreateFields are the attributes a new limit may hold.
var limitCreateFields = []string{"project_id", "domain_id", "service_id", "region_id", "resource_name", "resource_limit", "description"}

// readNewLimit validates one limit of a create body.
func readNewLimit(o api.Object) (*limit, error) {
	if err := onlyProperties(o, "limits", limitCreateFields...); err != nil {
		return nil, err
	}
	l := &limit{ID: api.NewID()}
	var err error
	var present bool
	if l.ServiceID, present, err = o.Str("service_id", false); err != nil {
		return nil, err
	} else if !present {
		return nil, api.BadRequest("Invalid input for field 'service_id': 'service_id' is a required property.")
	}
	if l.ResourceName, present, err = resourceName(o); err != nil {
		return nil, err
	} else if !present {
		return nil, api.BadRequest("Invalid input for field 'resource_name': 'resource_name' is a required property.")
	}
	if l.ResourceLimit, present, err = limitValue(o, "resource_limit"); err != nil {
		return nil, err
	} else if !present {
		return nil, api.BadRequest("Invalid input for field 'resource_limit': 'resource_limit' is a required property.")
	}
	if l.RegionID, _, err = stringField(o, "region_id", true, 1, 255); err != nil {
		return nil, err
	}
	if l.Description, _, err = stringField(o, "description", true, 0, 255); err != nil {
		return nil, err
	}
	if l.ProjectID, _, err = stringField(o, "project_id", true, 1, 64); err != nil {
		return nil, err
	}
	if l.DomainID, _, err = stringField(o, "domain_id", true, 1, 64); err != nil {
		return nil, err
	}
	// The schema's oneOf: a limit is on a project or on a domain, never both.
	if o.Has("project_id") == o.Has("domain_id") {
		return nil, api.BadRequest("Invalid input for field 'limits': a limit needs exactly one of 'project_id' and 'domain_id'.")
	}
	if l.ProjectID == "" && l.DomainID == "" {
		return nil, api.BadRequest("Invalid input for field 'limits': a limit needs a project_id or a domain_id.")
	}
	return l, nil
}

// handleListLimits serves GET /v3/limits. As in Keystone, admins, service users and
// system-scoped callers see every limit, domain-scoped callers their domain's and its
// projects', and project-scoped callers their project's.
func (s *Service) handleListLimits(w http.ResponseWriter, r *http.Request) error {
	f := limitFilter{
		ServiceID: queryFilter(r, "service_id"), RegionID: queryFilter(r, "region_id"),
		ResourceName: queryFilter(r, "resource_name"), ProjectID: queryFilter(r, "project_id"),
		DomainID: queryFilter(r, "domain_id"),
	}
	c := caller(r.Context())
	superuser := c.System != "" || c.HasRole("admin") || c.HasRole("service")
	out := []map[string]any{}
	switch {
	case superuser || c.DomainID != "":
		ls, err := s.listLimits(r.Context(), s.db, f)
		if err != nil {
			return err
		}
		var inDomain map[string]bool
		if !superuser {
			if inDomain, err = projectIDsInDomain(r.Context(), s.db, c.DomainID); err != nil {
				return err
			}
		}
		for _, l := range ls {
			if superuser || (l.ProjectID != "" && inDomain[l.ProjectID]) || (l.ProjectID == "" && l.DomainID == c.DomainID) {
				out = append(out, limitJSON(r, l))
			}
		}
	case c.ProjectID != "":
		if f.ProjectID != nil && *f.ProjectID != c.ProjectID {
			break
		}
		f.ProjectID = &c.ProjectID
		ls, err := s.listLimits(r.Context(), s.db, f)
		if err != nil {
			return err
		}
		for _, l := range ls {
			out = append(out, limitJSON(r, l))
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"limits": out, "links": api.KeystoneLinks(r)})
	return nil
}

// handleCreateLimits serves POST /v3/limits.
func (s *Service) handleCreateLimits(w http.ResponseWriter, r *http.Request) error {
	body, err := decodeStrict(r, "limits")
	if err != nil {
		return err
	}
	items, err := limitItems(body, "limits")
	if err != nil {
		return err
	}
	ls := make([]*limit, 0, len(items))
	for _, o := range items {
		l, err := readNewLimit(o)
		if err != nil {
			return err
		}
		ls = append(ls, l)
	}
	if err := s.write(r.Context(), func(tx *store.Tx) error { return s.createLimitsTx(r.Context(), tx, ls) }); err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(ls))
	for _, l := range ls {
		out = append(out, limitJSON(r, l))
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"limits": out})
	return nil
}

// limitTarget is the policy target of identity:get_limit: the limit's attributes and its
// project's or domain's, under Keystone's target.limit keys. An unknown limit gives an
// empty target; the handler reports the 404 once policy allows it.
func (s *Service) limitTarget(r *http.Request, id string) (policy.Target, *limit, error) {
	t := policy.Target{}
	l, err := s.getLimit(r.Context(), s.db, id)
	if err != nil {
		if api.AsError(err).Status == http.StatusNotFound {
			return t, nil, nil
		}
		return nil, nil, err
	}
	for k, v := range map[string]any{
		"id": l.ID, "project_id": orNull(l.ProjectID), "domain_id": orNull(l.DomainID),
		"service_id": l.ServiceID, "region_id": orNull(l.RegionID), "resource_name": l.ResourceName,
		"resource_limit": l.ResourceLimit, "description": orNull(l.Description),
	} {
		t["target.limit."+k] = v
	}
	var owner *project
	prefix := ""
	switch {
	case l.ProjectID != "":
		prefix = "target.limit.project."
		if p, err := s.getProject(r.Context(), s.db, l.ProjectID); err == nil {
			owner = p
		}
	case l.DomainID != "":
		prefix = "target.limit.domain."
		if d, err := s.getDomain(r.Context(), s.db, l.DomainID); err == nil {
			owner = d
		}
	}
	if owner != nil {
		t[prefix+"id"], t[prefix+"name"], t[prefix+"domain_id"] = owner.ID, owner.Name, owner.DomainID
		t[prefix+"enabled"], t[prefix+"is_domain"] = owner.Enabled, owner.IsDomain
		t[prefix+"parent_id"] = orNull(owner.ParentID)
	}
	return t, l, nil
}

// authorizeLimit checks a rule for the request's caller, as the server does for routes
// that name their rule.
func (s *Service) authorizeLimit(r *http.Request, rule string, target policy.Target) error {
	if s.enforcer == nil {
		return nil
	}
	c := caller(r.Context())
	if _, ok := target["project_id"]; !ok {
		target["project_id"] = c.ProjectID
	}
	if _, ok := target["user_id"]; !ok {
		target["user_id"] = c.UserID
	}
	if !s.enforcer.Enforce(rule, c.PolicyCredentials(), target) {
		return api.Forbidden("You are not authorized to perform the requested action: %s.", rule)
	}
	return nil
}

// handleGetLimit serves GET /v3/limits/{limit_id} and GET /v3/limits/model.
func (s *Service) handleGetLimit(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("limit_id")
	if id == "model" {
		if err := s.authorizeLimit(r, "identity:get_limit_model", policy.Target{}); err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"model": map[string]any{
			"name": limitModelName, "description": limitModelDescription,
		}})
		return nil
	}
	target, l, err := s.limitTarget(r, id)
	if err != nil {
		return err
	}
	if err := s.authorizeLimit(r, "identity:get_limit", target); err != nil {
		return err
	}
	if l == nil {
		return api.NotFound("Could not find limit for %s.", id)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"limit": limitJSON(r, l)})
	return nil
}

// handleUpdateLimit serves PATCH /v3/limits/{limit_id}: only the amount and the
// description change.
func (s *Service) handleUpdateLimit(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("limit_id")
	body, err := decodeStrict(r, "limit")
	if err != nil {
		return err
	}
	o, _, err := body.Obj("limit")
	if err != nil {
		return err
	}
	if o == nil {
		return api.BadRequest("Invalid input for field 'limit': None is not of type 'object'.")
	}
	if err := onlyProperties(o, "limit", "resource_limit", "description"); err != nil {
		return err
	}
	amount, hasAmount, err := limitValue(o, "resource_limit")
	if err != nil {
		return err
	}
	desc, hasDesc, err := stringField(o, "description", true, 0, 255)
	if err != nil {
		return err
	}
	var l *limit
	err = s.write(r.Context(), func(tx *store.Tx) error {
		var err error
		if l, err = s.getLimit(r.Context(), tx, id); err != nil {
			return err
		}
		if hasAmount {
			l.ResourceLimit = amount
		}
		if hasDesc {
			l.Description = desc
		}
		_, err = tx.ExecContext(r.Context(), `UPDATE limits SET resource_limit = ?, description = ? WHERE id = ?`, l.ResourceLimit, l.Description, id)
		return err
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"limit": limitJSON(r, l)})
	return nil
}

// handleDeleteLimit serves DELETE /v3/limits/{limit_id}.
func (s *Service) handleDeleteLimit(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("limit_id")
	err := s.write(r.Context(), func(tx *store.Tx) error {
		res, err := tx.ExecContext(r.Context(), `DELETE FROM limits WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return api.NotFound("Could not find limit for %s.", id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
