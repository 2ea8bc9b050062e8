package compute

import (
	"net/http"
	"strings"

	"github.com/gostack/gostack/internal/api"
)

// route is one entry of the compute route table. rule is the policy rule guarding the
// verb; the handler checks it (against the resource it loads) through call.rule, so that
// this table is the one place saying which rule guards which verb. minVer and maxVer bound
// the microversions the route exists at (zero: no bound); outside them Nova answers 404.
type route struct {
	method, path string
	rule         string
	public       bool
	// unversioned routes (the root version list) are outside microversion control, as
	// Nova's root Versions resource is: no negotiation, no version headers.
	unversioned    bool
	minVer, maxVer api.Version
	handle         handler
}

// v returns microversion 2.minor.
func v(minor int) api.Version { return api.Version{Major: 2, Minor: minor} }

// Routes returns the compute API's route table, one group per resource.
func (s *Service) Routes() []api.Route {
	var rs []route
	for _, group := range [][]route{
		s.versionRoutes(),
		s.flavorRoutes(),
		s.keypairRoutes(),
		s.serverRoutes(),
		s.serverActionRoutes(),
		s.serverGroupRoutes(),
		s.adminRoutes(),
		s.quotaRoutes(),
		s.imageRoutes(),
		s.externalEventRoutes(),
		s.networkProxyRoutes(),
		s.securityGroupRoutes(),
		s.floatingIPRoutes(),
		s.volumeProxyRoutes(),
		s.consoleRoutes(),
	} {
		rs = append(rs, group...)
	}
	out := make([]api.Route, 0, len(rs))
	for _, rt := range rs {
		out = append(out, s.apiRoute(rt))
	}
	return out
}

// apiRoute adapts a route to the shared server: microversion negotiation (406 outside
// the range, 404 when the route does not exist at the requested version), then the
// handler with its call.
func (s *Service) apiRoute(rt route) api.Route {
	return api.Route{
		Method: rt.method,
		Path:   rt.path,
		Public: rt.public,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			// Nova answers its request id under its legacy name too; clients (tempest's
			// instance-action tests, novaclient) read it from there.
			if id := api.RequestID(r.Context()); id != "" {
				w.Header().Set("X-Compute-Request-Id", id)
			}
			// Nova's router has no routes with a trailing slash beyond the version
			// documents: "/os-simple-tenant-usage/" (an empty id) is a 404.
			// (The shared server strips the slash from the URL; the request line keeps it.)
			if p, _, _ := strings.Cut(r.RequestURI, "?"); strings.HasSuffix(p, "/") && !strings.HasSuffix(p, s.cfg.Prefix+"/") &&
				!strings.HasSuffix(p, s.cfg.Prefix+"/v2.1/") && !strings.HasSuffix(p, s.cfg.Prefix+"/v2/") {
				return notFound("The resource could not be found.")
			}
			if rt.unversioned {
				return rt.handle(w, r, &call{ver: minVersion, caller: api.CallerFrom(r.Context()), rule: rt.rule})
			}
			ver, err := microversions.Negotiate(w, r)
			if err != nil {
				return err
			}
			if (rt.minVer != api.Version{} && ver.Less(rt.minVer)) ||
				(rt.maxVer != api.Version{} && rt.maxVer.Less(ver)) {
				return notFound("The resource could not be found.")
			}
			c := &call{ver: ver, caller: api.CallerFrom(r.Context()), rule: rt.rule}
			return rt.handle(w, r, c)
		},
	}
}
