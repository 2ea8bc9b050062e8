package compute

import (
	"fmt"
	"net/http"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
)

// flavorRoutes serves flavors, os-flavor-manage, os-flavor-extra-specs and
// os-flavor-access. Listing and showing flavors has no policy in Nova.
func (s *Service) flavorRoutes() []route {
	const (
		coll  = "/v2.1/flavors"
		item  = coll + "/{flavor_id}"
		specs = item + "/os-extra_specs"
	)
	return []route{
		{method: "GET", path: coll, handle: s.handleListFlavors},
		{method: "GET", path: coll + "/detail", handle: s.handleListFlavorsDetail},
		{method: "GET", path: item, handle: s.handleShowFlavor},
		{method: "POST", path: coll, rule: ruleFlavorCreate, handle: s.handleCreateFlavor},
		{method: "PUT", path: item, rule: ruleFlavorUpdate, minVer: v(55), handle: s.handleUpdateFlavor},
		{method: "DELETE", path: item, rule: ruleFlavorDelete, handle: s.handleDeleteFlavor},
		{method: "GET", path: specs, rule: ruleExtraSpecsIndex, handle: s.handleListExtraSpecs},
		{method: "POST", path: specs, rule: ruleExtraSpecsCreate, handle: s.handleCreateExtraSpecs},
		{method: "GET", path: specs + "/{key}", rule: ruleExtraSpecsShow, handle: s.handleShowExtraSpec},
		{method: "PUT", path: specs + "/{key}", rule: ruleExtraSpecsUpdate, handle: s.handleUpdateExtraSpec},
		{method: "DELETE", path: specs + "/{key}", rule: ruleExtraSpecsDelete, handle: s.handleDeleteExtraSpec},
		{method: "GET", path: item + "/os-flavor-access", rule: ruleFlavorAccess, handle: s.handleListFlavorAccess},
		// The action's rule depends on the action in the body: addTenantAccess checks
		// ruleFlavorAccessAdd, removeTenantAccess ruleFlavorAccessRemove.
		{method: "POST", path: item + "/action", rule: ruleFlavorAccessAdd, handle: s.handleFlavorAction},
	}
}

// flavorView renders a flavor as Nova's flavor view builder: brief (id, name, links,
// 2.55 description) or full, with 2.61 extra specs when allowed and 2.75's integer swap.
func (s *Service) flavorView(r *http.Request, c *call, f *flavor, full, withSpecs bool) map[string]any {
	out := map[string]any{
		"id":    f.FlavorID,
		"name":  f.Name,
		"links": s.resourceLinks(r, "flavors", f.FlavorID),
	}
	if c.at(55) {
		if f.Description != nil {
			out["description"] = *f.Description
		} else {
			out["description"] = nil
		}
	}
	if !full {
		return out
	}
	out["ram"] = f.MemoryMB
	out["disk"] = f.RootGB
	out["vcpus"] = f.VCPUs
	out["OS-FLV-EXT-DATA:ephemeral"] = f.EphemeralGB
	out["OS-FLV-DISABLED:disabled"] = f.Disabled
	out["os-flavor-access:is_public"] = f.IsPublic
	if f.RxtxFactor != 0 {
		out["rxtx_factor"] = f.RxtxFactor
	} else {
		out["rxtx_factor"] = ""
	}
	switch {
	case c.at(75):
		out["swap"] = f.Swap
	case f.Swap == 0:
		out["swap"] = ""
	default:
		out["swap"] = f.Swap
	}
	if withSpecs {
		specs := f.ExtraSpecs
		if specs == nil {
			specs = map[string]string{}
		}
		out["extra_specs"] = specs
	}
	return out
}

// includeSpecs is Nova's 2.61 rule: extra specs show in flavor bodies when the caller
// may list them.
func (s *Service) includeSpecs(c *call) bool {
	return c.at(61) && s.can(c, ruleExtraSpecsIndex, nil)
}

func (s *Service) handleListFlavors(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.writeFlavorList(w, r, c, false)
}

func (s *Service) handleListFlavorsDetail(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.writeFlavorList(w, r, c, true)
}

// writeFlavorList serves GET /flavors and /flavors/detail.
func (s *Service) writeFlavorList(w http.ResponseWriter, r *http.Request, c *call, full bool) error {
	fq, err := s.parseFlavorQuery(r.URL.Query(), c.ver, s.isAdminCaller(c))
	if err != nil {
		return err
	}
	withSpecs := full && s.includeSpecs(c)
	flavors, err := s.listFlavors(r.Context(), c, fq, withSpecs)
	if err != nil {
		return err
	}
	items := make([]map[string]any, 0, len(flavors))
	for _, f := range flavors {
		items = append(items, s.flavorView(r, c, f, full, withSpecs))
	}
	out := map[string]any{"flavors": items}
	coll := "flavors"
	if full {
		coll = "flavors/detail"
	}
	last := ""
	if len(flavors) > 0 {
		last = flavors[len(flavors)-1].FlavorID
	}
	if links := s.collectionLinks(r, coll, fq.limit, len(flavors), last); links != nil {
		out["flavors_links"] = links
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Service) handleShowFlavor(w http.ResponseWriter, r *http.Request, c *call) error {
	f, err := s.visibleFlavor(r.Context(), c, r.PathValue("flavor_id"))
	if err != nil {
		return err
	}
	withSpecs := s.includeSpecs(c)
	api.WriteJSON(w, http.StatusOK, map[string]any{"flavor": s.flavorView(r, c, f, true, withSpecs)})
	return nil
}

func (s *Service) handleCreateFlavor(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	body, err := decodeBody(r, []string{"flavor"}, "flavor")
	if err != nil {
		return err
	}
	f, err := parseFlavorCreate(body, c.ver)
	if err != nil {
		return err
	}
	if err := s.createFlavor(r.Context(), f); err != nil {
		return err
	}
	withSpecs := s.includeSpecs(c)
	api.WriteJSON(w, http.StatusOK, map[string]any{"flavor": s.flavorView(r, c, f, true, withSpecs)})
	return nil
}

func (s *Service) handleUpdateFlavor(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	body, err := decodeBody(r, []string{"flavor"}, "flavor")
	if err != nil {
		return err
	}
	fo, err := subObject(body, "flavor")
	if err != nil {
		return err
	}
	if err := checkObject(fo, "flavor", []string{"description"}, []string{"description"}); err != nil {
		return err
	}
	desc, err := flavorDescription(fo)
	if err != nil {
		return err
	}
	id := r.PathValue("flavor_id")
	if err := s.updateFlavorDescription(r.Context(), id, desc); err != nil {
		return err
	}
	f, found, err := loadFlavor(r.Context(), s.db, id)
	if err != nil {
		return err
	}
	if !found {
		return flavorNotFound(id)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"flavor": s.flavorView(r, c, f, true, s.includeSpecs(c))})
	return nil
}

func (s *Service) handleDeleteFlavor(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	if err := s.deleteFlavor(r.Context(), r.PathValue("flavor_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Service) handleListExtraSpecs(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	f, err := s.visibleFlavor(r.Context(), c, r.PathValue("flavor_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"extra_specs": f.ExtraSpecs})
	return nil
}

func (s *Service) handleShowExtraSpec(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	id, key := r.PathValue("flavor_id"), r.PathValue("key")
	f, err := s.visibleFlavor(r.Context(), c, id)
	if err != nil {
		return err
	}
	v, ok := f.ExtraSpecs[key]
	if !ok {
		return notFound("Flavor %s has no extra specs with key %s.", id, key)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{key: v})
	return nil
}

func (s *Service) handleCreateExtraSpecs(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	body, err := decodeBody(r, []string{"extra_specs"}, "extra_specs")
	if err != nil {
		return err
	}
	specs, err := parseExtraSpecs("extra_specs", body["extra_specs"], c.ver)
	if err != nil {
		return err
	}
	id := r.PathValue("flavor_id")
	if _, err := s.visibleFlavor(r.Context(), c, id); err != nil {
		return err
	}
	if err := s.setExtraSpecs(r.Context(), id, specs); err != nil {
		return err
	}
	// Nova answers with the body as given (numbers stay numbers).
	api.WriteJSON(w, http.StatusOK, map[string]any{"extra_specs": body["extra_specs"]})
	return nil
}

func (s *Service) handleUpdateExtraSpec(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	body, err := decodeBody(r, nil)
	if err != nil {
		return err
	}
	if len(body) != 1 {
		reason := "does not have enough properties"
		if len(body) > 1 {
			reason = "has too many properties"
		}
		return invalidInput("root", map[string]any(body), fmt.Sprintf("%s %s", reprValue(map[string]any(body)), reason))
	}
	specs, err := parseExtraSpecs("root", map[string]any(body), c.ver)
	if err != nil {
		return err
	}
	id, key := r.PathValue("flavor_id"), r.PathValue("key")
	if _, ok := specs[key]; !ok {
		return badRequest("Request body and URI mismatch")
	}
	if _, err := s.visibleFlavor(r.Context(), c, id); err != nil {
		return err
	}
	if err := s.setExtraSpecs(r.Context(), id, specs); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any(body))
	return nil
}

func (s *Service) handleDeleteExtraSpec(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	id := r.PathValue("flavor_id")
	if _, err := s.visibleFlavor(r.Context(), c, id); err != nil {
		return err
	}
	if err := s.deleteExtraSpec(r.Context(), id, r.PathValue("key")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Service) handleListFlavorAccess(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	f, err := s.visibleFlavor(r.Context(), c, r.PathValue("flavor_id"))
	if err != nil {
		return err
	}
	if f.IsPublic {
		return notFound("Access list not available for public flavors.")
	}
	return s.writeFlavorAccess(w, r, f.FlavorID, http.StatusOK)
}

// writeFlavorAccess answers with a flavor's access list.
func (s *Service) writeFlavorAccess(w http.ResponseWriter, r *http.Request, id string, status int) error {
	projects, err := flavorProjects(r.Context(), s.db, id)
	if err != nil {
		return err
	}
	items := make([]map[string]string, 0, len(projects))
	for _, p := range projects {
		items = append(items, map[string]string{"flavor_id": id, "tenant_id": p})
	}
	api.WriteJSON(w, status, map[string]any{"flavor_access": items})
	return nil
}

// handleFlavorAction is POST /flavors/{id}/action: addTenantAccess and
// removeTenantAccess.
func (s *Service) handleFlavorAction(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := decodeBody(r, nil)
	if err != nil {
		return err
	}
	var action, rule string
	switch {
	case body.Has("addTenantAccess"):
		action, rule = "addTenantAccess", ruleFlavorAccessAdd
	case body.Has("removeTenantAccess"):
		action, rule = "removeTenantAccess", ruleFlavorAccessRemove
	default:
		return notFound("The resource could not be found.")
	}
	if err := s.authorize(c, rule, policy.Target{}); err != nil {
		return err
	}
	if err := checkObject(body, "root", []string{action}, []string{action}); err != nil {
		return err
	}
	ao, err := subObject(body, action)
	if err != nil {
		return err
	}
	if err := checkObject(ao, action, []string{"tenant"}, []string{"tenant"}); err != nil {
		return err
	}
	tenant, ok := ao["tenant"].(string)
	if !ok {
		return invalidInput("tenant", ao["tenant"], fmt.Sprintf("%s is not of type 'string'", reprValue(ao["tenant"])))
	}
	if n := len([]rune(tenant)); n < 1 || n > maxFlavorAccessTenantLen {
		return invalidInput("tenant", tenant, "length must be between 1 and 255")
	}
	id := r.PathValue("flavor_id")
	f, err := s.visibleFlavor(r.Context(), c, id)
	if err != nil {
		return err
	}
	if action == "addTenantAccess" {
		if c.at(7) && f.IsPublic {
			return conflict("Can not add access to a public flavor.")
		}
		err = s.addFlavorAccess(r.Context(), id, tenant)
	} else {
		err = s.removeFlavorAccess(r.Context(), id, tenant)
	}
	if err != nil {
		return err
	}
	return s.writeFlavorAccess(w, r, id, http.StatusOK)
}
