package volume

import (
	"context"
	"net/http"
	"regexp"
	"strings"

	"github.com/gostack/gostack/internal/api"
)

// route is one entry of the volume route table. path is relative to the project root
// ("/volumes/{volume_id}" is served at /v3/{project_id}/volumes/{volume_id} and, as
// Cinder does from 3.67, at /v3/volumes/{volume_id}); rule is the policy rule guarding
// the verb, which the handler checks (against the resource it loads) through call.rule,
// so that this table is the one place saying which rule guards which verb. minVer and
// maxVer bound the microversions the route exists at (zero: no bound); outside them
// Cinder answers 404.
type route struct {
	method, path string
	rule         string
	// root routes are mounted at path itself, not under /v3/{project_id} (version
	// documents); public ones need no token.
	root, public bool
	// unversioned routes are outside microversion control (the root version list).
	unversioned    bool
	minVer, maxVer api.Version
	handle         handler
}

// v returns microversion 3.minor.
func v(minor int) api.Version { return api.Version{Major: 3, Minor: minor} }

// routeGroups returns the route table, one group per resource. A new resource adds its
// group here.
func (s *Service) routeGroups() [][]route {
	return [][]route{
		s.versionRoutes(),
		s.extensionRoutes(),
		s.serviceRoutes(),
		s.availabilityZoneRoutes(),
		s.limitRoutes(),
		s.quotaRoutes(),
		s.typeRoutes(),
		s.encryptionRoutes(),
		s.volumeRoutes(),
		s.volumeActionRoutes(),
		s.attachmentRoutes(),
		s.snapshotRoutes(),
		s.backupRoutes(),
		s.messageRoutes(),
		s.schedulerStatsRoutes(),
		s.hostRoutes(),
		// Extras (issue 6 helper): QoS specs, group types, groups, group snapshots, transfers.
		s.qosSpecsRoutes(),
		s.groupTypeRoutes(),
		s.groupRoutes(),
		s.groupSnapshotRoutes(),
		s.transferRoutes(),
		// Manage and unmanage (issue 7 helper).
		s.manageRoutes(),
	}
}

// projectIDPattern is Cinder's project_id_regex: a path segment matching it after /v3
// is a project id, anything else starts a project-less path (3.67).
var projectIDPattern = regexp.MustCompile(`^[0-9a-f\-]+$`)

// Routes returns the volume API's routes for the shared server: every project route at
// /v3/{project_id}/..., the root routes, and one catch-all per method that serves the
// project-less form of the project routes (Go's router cannot hold both forms side by
// side, since "/v3/volumes/{id}" and "/v3/{project_id}/types" overlap).
func (s *Service) Routes() []api.Route {
	var out []api.Route
	inner := http.NewServeMux()
	methods := map[string]bool{}
	for _, group := range s.routeGroups() {
		for _, rt := range group {
			h := s.apiHandler(rt)
			if rt.root {
				out = append(out, api.Route{Method: rt.method, Path: rt.path, Public: rt.public, Handler: h})
				continue
			}
			path := "/v3/{project_id}" + rt.path
			out = append(out, api.Route{Method: rt.method, Path: path, Handler: h})
			inner.HandleFunc(rt.method+" "+s.cfg.Prefix+path, func(w http.ResponseWriter, r *http.Request) {
				if slot, ok := r.Context().Value(errSlotKey{}).(*errSlot); ok {
					slot.err = h(w, r)
				}
			})
			methods[rt.method] = true
		}
	}
	for m := range methods {
		out = append(out, api.Route{Method: m, Path: "/v3/{rest...}", Handler: s.projectless(inner)})
	}
	return out
}

// errSlot carries a handler's error back out of the inner router.
type errSlot struct{ err error }

// errSlotKey is the context key of the errSlot.
type errSlotKey struct{}

// projectless serves /v3/<collection>/... by the project route of the caller's project.
func (s *Service) projectless(inner *http.ServeMux) api.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		rest := r.PathValue("rest")
		first, _, _ := strings.Cut(rest, "/")
		caller := api.CallerFrom(r.Context())
		if rest == "" || projectIDPattern.MatchString(first) || caller == nil {
			return notFound("The resource could not be found.")
		}
		project := caller.ProjectID
		if project == "" {
			// A system- or domain-scoped caller has no project to put in the path;
			// any segment serves, since handlers use the caller's scope.
			project = "-"
		}
		r2 := r.Clone(context.WithValue(context.WithValue(r.Context(), errSlotKey{}, &errSlot{}), projectlessKey{}, true))
		r2.URL.Path = s.cfg.Prefix + "/v3/" + project + "/" + rest
		r2.URL.RawPath = ""
		if _, pattern := inner.Handler(r2); pattern == "" {
			return notFound("The resource could not be found.")
		}
		inner.ServeHTTP(w, r2)
		return r2.Context().Value(errSlotKey{}).(*errSlot).err
	}
}

// apiHandler adapts a route to the shared server: microversion negotiation (406 outside
// the range, 404 when the route does not exist at the requested version), then the
// handler with its call.
func (s *Service) apiHandler(rt route) api.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		caller := api.CallerFrom(r.Context())
		// Cinder's router has no resource paths with a trailing slash beyond the version
		// documents: "/volumes/" names an empty id and is a 404. (The shared server
		// strips the slash from the URL; the request line keeps it.)
		if p, _, _ := strings.Cut(r.RequestURI, "?"); strings.HasSuffix(p, "/") && !rt.root {
			return notFound("The resource could not be found.")
		}
		if rt.unversioned {
			return rt.handle(w, r, &call{ver: minVersion, caller: caller, rule: rt.rule})
		}
		ver, err := microversions.Negotiate(w, r)
		if err != nil {
			return err
		}
		if (rt.minVer != api.Version{} && ver.Less(rt.minVer)) ||
			(rt.maxVer != api.Version{} && rt.maxVer.Less(ver)) {
			return notFound("The resource could not be found.")
		}
		return rt.handle(w, r, &call{ver: ver, caller: caller, rule: rt.rule})
	}
}
