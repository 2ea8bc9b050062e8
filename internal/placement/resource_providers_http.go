package placement

import (
	"net/http"
	"time"

	"github.com/gostack/gostack/internal/api"
)

// resourceProviderRoutes are the resource provider routes.
func (s *Service) resourceProviderRoutes() []route {
	return []route{
		{method: "GET", path: "/resource_providers", rule: policyRPList, handle: s.listProvidersHTTP},
		{method: "POST", path: "/resource_providers", rule: policyRPCreate, body: true, handle: s.createProviderHTTP},
		{method: "GET", path: "/resource_providers/{uuid}", rule: policyRPShow, handle: s.showProvider},
		{method: "PUT", path: "/resource_providers/{uuid}", rule: policyRPUpdate, body: true, handle: s.updateProviderHTTP},
		{method: "DELETE", path: "/resource_providers/{uuid}", rule: policyRPDelete, handle: s.deleteProviderHTTP},
	}
}

// rootRoutes serve the version document.
func (s *Service) rootRoutes() []route {
	return []route{{method: "GET", path: "", public: true, handle: s.home}}
}

// home serves GET /placement: the one version Placement has, with its microversion range.
func (s *Service) home(w http.ResponseWriter, r *http.Request, c *call) error {
	if c.at(15) {
		setLastModified(w, c, time.Now())
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": []any{map[string]any{
		"id":          "v" + minVersion.String(),
		"max_version": maxVersion.String(),
		"min_version": minVersion.String(),
		"status":      "CURRENT",
		"links":       []any{map[string]any{"rel": "self", "href": ""}},
	}}})
	return nil
}

// Request schemas (placement/schemas/resource_provider.py).
var (
	postProviderSchema    = obj("name", str().lenRange(0, 200), "uuid", uuidFormat()).req("name").strict()
	putProviderSchema     = postProviderSchema.without("uuid")
	postProviderSchema114 = postProviderSchema.with("parent_provider_uuid", &schema{anyOf: []*schema{uuidFormat(), ofTypes("null")}})
	putProviderSchema114  = postProviderSchema114.without("uuid")

	listProvidersSchema10  = obj("name", str(), "uuid", uuidFormat()).strict()
	listProvidersSchema13  = listProvidersSchema10.with("member_of", str())
	listProvidersSchema14  = listProvidersSchema13.with("resources", str())
	listProvidersSchema114 = listProvidersSchema14.with("in_tree", uuidFormat())
	listProvidersSchema118 = listProvidersSchema114.with("required", str())
)

// providerURL is the relative URL Placement uses in links and Location headers.
func (s *Service) providerURL(uuid string) string {
	return s.cfg.Prefix + "/resource_providers/" + uuid
}

// providerJSON serializes a provider for the request's microversion.
func (s *Service) providerJSON(c *call, p *provider) map[string]any {
	url := s.providerURL(p.UUID)
	links := []any{map[string]any{"rel": "self", "href": url}}
	rels := []string{"inventories", "usages"}
	if c.at(1) {
		rels = append(rels, "aggregates")
	}
	if c.at(6) {
		rels = append(rels, "traits")
	}
	if c.at(11) {
		rels = append(rels, "allocations")
	}
	for _, rel := range rels {
		links = append(links, map[string]any{"rel": rel, "href": url + "/" + rel})
	}
	out := map[string]any{"uuid": p.UUID, "name": p.Name, "generation": p.Generation, "links": links}
	if c.at(14) {
		var parent any
		if p.ParentUUID != "" {
			parent = p.ParentUUID
		}
		out["parent_provider_uuid"] = parent
		out["root_provider_uuid"] = p.RootUUID
	}
	return out
}

// listProvidersHTTP handles GET /resource_providers.
func (s *Service) listProvidersHTTP(w http.ResponseWriter, r *http.Request, c *call) error {
	sch := listProvidersSchema10
	switch {
	case c.at(18):
		sch = listProvidersSchema118
	case c.at(14):
		sch = listProvidersSchema114
	case c.at(4):
		sch = listProvidersSchema14
	case c.at(3):
		sch = listProvidersSchema13
	}
	q := r.URL.Query()
	if err := validateQuery(q, sch); err != nil {
		return err
	}
	var f providerFilters
	var err error
	if q.Has("member_of") {
		if f.memberOf, f.forbiddenAggs, err = memberOfParam(q, "", c); err != nil {
			return err
		}
	}
	if q.Has("required") {
		if f.required, f.forbidden, err = requiredTraitsParam(q, "", c); err != nil {
			return err
		}
	}
	f.name, f.uuid, f.inTree = q.Get("name"), q.Get("uuid"), q.Get("in_tree")
	if q.Has("resources") {
		if f.resources, err = parseResources(lastValue(q, "resources")); err != nil {
			return err
		}
	}
	ps, err := listProviders(r.Context(), s.db, f)
	if err != nil {
		return err
	}
	out := make([]any, 0, len(ps))
	var last time.Time
	for _, p := range ps {
		out = append(out, s.providerJSON(c, p))
		if lm := p.lastModified(); lm.After(last) {
			last = lm
		}
	}
	setLastModified(w, c, last)
	writeJSON(w, http.StatusOK, map[string]any{"resource_providers": out})
	return nil
}

// lastValue returns the last value of a query parameter.
func lastValue(q map[string][]string, key string) string {
	vs := q[key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// createProviderHTTP handles POST /resource_providers: 201 with no body before 1.20, 200
// with the provider from 1.20, and a Location header either way.
func (s *Service) createProviderHTTP(w http.ResponseWriter, r *http.Request, c *call) error {
	sch := postProviderSchema
	if c.at(14) {
		sch = postProviderSchema114
	}
	body, err := api.ReadBody(r, 0)
	if err != nil {
		return err
	}
	data, err := extractJSON(body, sch)
	if err != nil {
		return err
	}
	m := data.(map[string]any)
	p := &provider{Name: m["name"].(string)}
	if u, ok := m["uuid"].(string); ok && u != "" {
		p.UUID = normalizeUUID(u)
	} else {
		p.UUID = api.NewUUID()
	}
	if par, ok := m["parent_provider_uuid"].(string); ok {
		p.ParentUUID = par
	}
	if p.Name == "" {
		return badRequest("Unable to create resource provider \"\", %s: Object action create failed because: name is required", p.UUID)
	}
	if err := s.createProvider(r.Context(), p); err != nil {
		return err
	}
	setLocation(w, r, s.providerURL(p.UUID))
	if !c.at(20) {
		noContent(w, http.StatusCreated)
		return nil
	}
	setLastModified(w, c, p.CreatedAt)
	writeJSON(w, http.StatusOK, s.providerJSON(c, p))
	return nil
}

// showProvider handles GET /resource_providers/{uuid}.
func (s *Service) showProvider(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := getProvider(r.Context(), s.db, pathValue(r, "uuid"))
	if err != nil {
		return err
	}
	setLastModified(w, c, p.lastModified())
	writeJSON(w, http.StatusOK, s.providerJSON(c, p))
	return nil
}

// updateProviderHTTP handles PUT /resource_providers/{uuid}.
func (s *Service) updateProviderHTTP(w http.ResponseWriter, r *http.Request, c *call) error {
	uuid := pathValue(r, "uuid")
	if _, err := getProvider(r.Context(), s.db, uuid); err != nil {
		return err
	}
	sch := putProviderSchema
	if c.at(14) {
		sch = putProviderSchema114
	}
	body, err := api.ReadBody(r, 0)
	if err != nil {
		return err
	}
	data, err := extractJSON(body, sch)
	if err != nil {
		return err
	}
	m := data.(map[string]any)
	var parent *string
	if v, ok := m["parent_provider_uuid"]; ok {
		pv := ""
		if sv, ok := v.(string); ok {
			pv = sv
		}
		parent = &pv
	}
	p, err := s.updateProvider(r.Context(), uuid, m["name"].(string), parent, c.at(37))
	if err != nil {
		return err
	}
	setLastModified(w, c, p.UpdatedAt)
	writeJSON(w, http.StatusOK, s.providerJSON(c, p))
	return nil
}

// deleteProviderHTTP handles DELETE /resource_providers/{uuid}.
func (s *Service) deleteProviderHTTP(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.deleteProvider(r.Context(), pathValue(r, "uuid")); err != nil {
		return err
	}
	noContent(w, http.StatusNoContent)
	return nil
}
