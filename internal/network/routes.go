package network

import (
	"net/http"
	"slices"

	"github.com/gostack/gostack/internal/api"
)

// route is one entry of the networking route table. rule is the Neutron policy rule that
// guards the verb; handlers check it against the resource they load (Neutron decides
// most rules on the object, not the URL), so this table is the one place saying which
// rule guards which verb. Public routes (the version documents) carry no rule.
type route struct {
	method, path string
	rule         string
	handle       handler
}

// Routes returns the networking API's route table.
func (s *Service) Routes() []api.Route {
	var rs []route
	for _, group := range [][]route{
		s.versionRoutes(),
		s.networkRoutes(),
		s.segmentRoutes(),
		s.subnetRoutes(),
		s.subnetpoolRoutes(),
		s.addressScopeRoutes(),
		s.portRoutes(),
		s.rbacRoutes(),
		s.securityGroupRoutes(),
		s.routerRoutes(),
		s.floatingIPRoutes(),
		s.agentRoutes(),
		s.quotaRoutes(),
		s.availabilityRoutes(),
		s.qosRoutes(),
		s.trunkRoutes(),
		s.tagRoutes(),
	} {
		rs = append(rs, group...)
	}
	out := make([]api.Route, 0, len(rs))
	for _, rt := range rs {
		rt := rt
		out = append(out, api.Route{
			Method: rt.method,
			Path:   rt.path,
			Public: rt.rule == "",
			Handler: func(w http.ResponseWriter, r *http.Request) error {
				return rt.handle(w, r, &call{caller: api.CallerFrom(r.Context()), rule: rt.rule, memo: map[string]bool{}})
			},
		})
	}
	return out
}

// crudRoutes are the five standard routes of a collection with Neutron's rule per verb.
func (s *Service) crudRoutes(k *kind, create, update, del handler) []route {
	base := "/v2.0/" + k.collection
	rs := []route{
		{"GET", base, "get_" + k.singular, func(w http.ResponseWriter, r *http.Request, c *call) error {
			return s.serveList(w, r, c, k)
		}},
		{"GET", base + "/{id}", "get_" + k.singular, func(w http.ResponseWriter, r *http.Request, c *call) error {
			return s.serveShow(w, r, c, k)
		}},
	}
	if create != nil {
		if del != nil {
			create = s.bulkCreate(k, create, del)
		}
		rs = append(rs, route{"POST", base, "create_" + k.singular, create})
	}
	if update != nil {
		rs = append(rs, route{"PUT", base + "/{id}", "update_" + k.singular, update})
	}
	if del != nil {
		rs = append(rs, route{"DELETE", base + "/{id}", "delete_" + k.singular, del})
	}
	return rs
}

// sortedKinds returns the collection names in order, for a deterministic route table.
func sortedKinds(m map[string]*kind) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
