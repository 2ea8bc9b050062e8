package identity

import (
	"net/http"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// domainConfigRoutes are the domain configuration routes of keystone/api/domains.py.
//
// Keystone serves both /v3/domains/{domain_id}/config/{group} and
// /v3/domains/config/{group}/default (and likewise one level deeper). Go's ServeMux
// refuses that pair: both match /v3/domains/config/config/default and neither is more
// specific. So the five- and six-segment shapes are each one wildcard route that
// dispatches on the literal segments (domainConfigPath) and checks the policy of the
// operation it resolves to. Every more specific route under /v3/domains (the grant
// routes) still wins over these.
func (s *Service) domainConfigRoutes() []api.Route {
	const five = "/v3/domains/{p1}/{p2}/{p3}"
	const six = "/v3/domains/{p1}/{p2}/{p3}/{p4}"
	routes := []api.Route{
		{Method: "GET", Path: "/v3/domains/config/default", Policy: "identity:get_domain_config_default", Handler: s.handleDefaultDomainConfig},
		{Method: "GET", Path: "/v3/domains/{domain_id}/config", Policy: "identity:get_domain_config", Handler: s.handleGetDomainConfig},
		{Method: "PUT", Path: "/v3/domains/{domain_id}/config", Policy: "identity:create_domain_config", Handler: s.handleCreateDomainConfig},
		{Method: "PATCH", Path: "/v3/domains/{domain_id}/config", Policy: "identity:update_domain_config", Handler: s.handleUpdateDomainConfig},
		{Method: "DELETE", Path: "/v3/domains/{domain_id}/config", Policy: "identity:delete_domain_config", Handler: s.handleDeleteDomainConfig},
	}
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		routes = append(routes,
			api.Route{Method: m, Path: five, Handler: s.handleDomainConfigPath},
			api.Route{Method: m, Path: six, Handler: s.handleDomainConfigPath})
	}
	return routes
}

// domainConfigPolicies are Keystone's current defaults for domain configuration
// (keystone/common/policies/domain_config.py).
func domainConfigPolicies() map[string]string {
	const adminOrSystemReader = "rule:admin_required or (role:reader and system_scope:all)"
	return map[string]string{
		"identity:create_domain_config":                  "rule:admin_required",
		"identity:get_domain_config":                     adminOrSystemReader,
		"identity:get_security_compliance_domain_config": "",
		"identity:update_domain_config":                  "rule:admin_required",
		"identity:delete_domain_config":                  "rule:admin_required",
		"identity:get_domain_config_default":             adminOrSystemReader,
	}
}

// domainConfigPath is what a five- or six-segment path under /v3/domains names: a domain's
// config group or option, or the default of a group or option.
type domainConfigPath struct {
	// Default is set for /v3/domains/config/{group}[/{option}]/default.
	Default                 bool
	DomainID, Group, Option string
}

// parseDomainConfigPath resolves the wildcard segments after /v3/domains/; ok is false
// for paths that name nothing. Like Keystone (whose router prefers the route with more
// literal segments), /v3/domains/config/config/default is the default of group "config".
func parseDomainConfigPath(segs []string) (p domainConfigPath, ok bool) {
	switch {
	case len(segs) == 3 && segs[0] == "config" && segs[2] == "default":
		return domainConfigPath{Default: true, Group: segs[1]}, true
	case len(segs) == 4 && segs[0] == "config" && segs[3] == "default":
		return domainConfigPath{Default: true, Group: segs[1], Option: segs[2]}, true
	case len(segs) == 3 && segs[1] == "config":
		return domainConfigPath{DomainID: segs[0], Group: segs[2]}, true
	case len(segs) == 4 && segs[1] == "config":
		return domainConfigPath{DomainID: segs[0], Group: segs[2], Option: segs[3]}, true
	}
	return domainConfigPath{}, false
}

// handleDomainConfigPath serves the five- and six-segment domain config paths.
func (s *Service) handleDomainConfigPath(w http.ResponseWriter, r *http.Request) error {
	segs := []string{r.PathValue("p1"), r.PathValue("p2"), r.PathValue("p3")}
	if p4 := r.PathValue("p4"); p4 != "" {
		segs = append(segs, p4)
	}
	p, ok := parseDomainConfigPath(segs)
	if !ok {
		return api.NotFound("The resource could not be found.")
	}
	notAllowed := api.Errorf(http.StatusMethodNotAllowed, "The method is not allowed for the requested URL.")
	ctx := r.Context()
	if p.Default {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return notAllowed
		}
		if err := s.authorizeFor(ctx, "identity:get_domain_config_default", policy.Target{}); err != nil {
			return err
		}
		cfg, err := defaultDomainConfig(p.Group, p.Option)
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"config": cfg})
		return nil
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return s.getDomainConfigAt(w, r, p.DomainID, p.Group, p.Option)
	case http.MethodPatch:
		if err := s.authorizeFor(ctx, "identity:update_domain_config", policy.Target{}); err != nil {
			return err
		}
		return s.updateDomainConfigAt(w, r, p.DomainID, p.Group, p.Option)
	case http.MethodDelete:
		if err := s.authorizeFor(ctx, "identity:delete_domain_config", policy.Target{}); err != nil {
			return err
		}
		return s.deleteDomainConfigAt(w, r, p.DomainID, p.Group, p.Option)
	}
	return notAllowed
}

// handleDefaultDomainConfig serves GET /v3/domains/config/default.
func (s *Service) handleDefaultDomainConfig(w http.ResponseWriter, r *http.Request) error {
	cfg, err := defaultDomainConfig("", "")
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"config": cfg})
	return nil
}

// handleGetDomainConfig serves GET /v3/domains/{domain_id}/config.
func (s *Service) handleGetDomainConfig(w http.ResponseWriter, r *http.Request) error {
	return s.getDomainConfigAt(w, r, r.PathValue("domain_id"), "", "")
}

// getDomainConfigAt answers a GET of a domain's config, group or option. The
// security_compliance group is read from gostack's own settings under its own policy,
// which any user passes. For a group path the policy is checked here; the route checked
// it for the whole-config path.
func (s *Service) getDomainConfigAt(w http.ResponseWriter, r *http.Request, domainID, group, option string) error {
	ctx := r.Context()
	var cfg map[string]any
	var err error
	if group == securityComplianceGroup {
		if err := s.authorizeFor(ctx, "identity:get_security_compliance_domain_config", policy.Target{}); err != nil {
			return err
		}
		if _, err := s.getDomain(ctx, s.db, domainID); err != nil {
			return err
		}
		cfg, err = s.securityComplianceConfig(domainID, option)
	} else {
		if group != "" {
			if err := s.authorizeFor(ctx, "identity:get_domain_config", policy.Target{}); err != nil {
				return err
			}
		}
		if err := checkDomainConfigGroupOption(group, option); err != nil {
			return err
		}
		if _, err := s.getDomain(ctx, s.db, domainID); err != nil {
			return err
		}
		cfg, err = getDomainConfig(ctx, s.db, domainID, group, option)
	}
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"config": cfg})
	return nil
}

// decodeDomainConfig reads the "config" object of a body; a missing one is empty, which
// the config checks refuse with Keystone's 403.
func decodeDomainConfig(r *http.Request) (api.Object, error) {
	top, err := api.DecodeObject(r, "")
	if err != nil {
		return nil, err
	}
	cfg, _, err := top.Obj("config")
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		cfg = api.Object{}
	}
	return cfg, nil
}

// handleCreateDomainConfig serves PUT /v3/domains/{domain_id}/config: 201 for a new
// config, 200 when it replaced one.
func (s *Service) handleCreateDomainConfig(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	domainID := r.PathValue("domain_id")
	cfg, err := decodeDomainConfig(r)
	if err != nil {
		return err
	}
	var out map[string]any
	var created bool
	err = s.write(ctx, func(tx *store.Tx) error {
		if _, err := s.getDomain(ctx, tx, domainID); err != nil {
			return err
		}
		var err error
		out, created, err = createDomainConfig(ctx, tx, domainID, cfg)
		return err
	})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	api.WriteJSON(w, status, map[string]any{"config": out})
	return nil
}

// handleUpdateDomainConfig serves PATCH /v3/domains/{domain_id}/config.
func (s *Service) handleUpdateDomainConfig(w http.ResponseWriter, r *http.Request) error {
	return s.updateDomainConfigAt(w, r, r.PathValue("domain_id"), "", "")
}

// updateDomainConfigAt answers a PATCH of a domain's config, group or option with the
// domain's whole (whitelisted) config.
func (s *Service) updateDomainConfigAt(w http.ResponseWriter, r *http.Request, domainID, group, option string) error {
	ctx := r.Context()
	cfg, err := decodeDomainConfig(r)
	if err != nil {
		return err
	}
	var out map[string]any
	err = s.write(ctx, func(tx *store.Tx) error {
		if _, err := s.getDomain(ctx, tx, domainID); err != nil {
			return err
		}
		var err error
		out, err = updateDomainConfig(ctx, tx, domainID, cfg, group, option)
		return err
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"config": out})
	return nil
}

// handleDeleteDomainConfig serves DELETE /v3/domains/{domain_id}/config.
func (s *Service) handleDeleteDomainConfig(w http.ResponseWriter, r *http.Request) error {
	return s.deleteDomainConfigAt(w, r, r.PathValue("domain_id"), "", "")
}

// deleteDomainConfigAt answers a DELETE of a domain's config, group or option.
func (s *Service) deleteDomainConfigAt(w http.ResponseWriter, r *http.Request, domainID, group, option string) error {
	ctx := r.Context()
	err := s.write(ctx, func(tx *store.Tx) error {
		if _, err := s.getDomain(ctx, tx, domainID); err != nil {
			return err
		}
		return deleteDomainConfig(ctx, tx, domainID, group, option)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
