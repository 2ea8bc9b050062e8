package image

import (
	"net/http"
	"strings"

	"github.com/gostack/gostack/internal/api"
)

// handler serves one route; it reports failures by returning an error.
type handler func(w http.ResponseWriter, r *http.Request, c *call) error

// route is one entry of the image route table. rule is the policy rule the handler
// enforces (against the image it loads, or the caller's project for collection
// routes); the handler reads it from call.rule so that the table is the one place that
// says which rule guards which verb.
type route struct {
	method, path string
	rule         string
	public       bool
	handle       handler
}

// Routes returns the image API's route table, one group per resource, plus the 405
// answers Glance's router gives for known paths and the catch-alls.
func (s *Service) Routes() []api.Route {
	var rs []route
	for _, group := range [][]route{
		s.versionRoutes(),
		s.imageRoutes(),
		s.imageDataRoutes(),
		s.tagRoutes(),
		s.memberRoutes(),
		s.importRoutes(),
		s.taskRoutes(),
		s.schemaRoutes(),
		s.metadefRoutes(),
	} {
		rs = append(rs, group...)
	}
	out := make([]api.Route, 0, len(rs)+32)
	for _, rt := range rs {
		out = append(out, s.apiRoute(rt))
	}
	out = append(out, s.rejectRoutes(rs)...)
	return out
}

// imageRoutes are the image resource's routes (images_http.go).
func (s *Service) imageRoutes() []route {
	return []route{
		{method: "GET", path: "/v2/images", rule: "get_images", handle: s.listImages},
		{method: "POST", path: "/v2/images", rule: "add_image", handle: s.createImage},
		{method: "GET", path: "/v2/images/{image_id}", rule: "get_image", handle: s.showImage},
		{method: "PATCH", path: "/v2/images/{image_id}", rule: "modify_image", handle: s.updateImage},
		{method: "DELETE", path: "/v2/images/{image_id}", rule: "delete_image", handle: s.deleteImage},
		{method: "POST", path: "/v2/images/{image_id}/actions/deactivate", rule: "deactivate", handle: s.deactivateImage},
		{method: "POST", path: "/v2/images/{image_id}/actions/reactivate", rule: "reactivate", handle: s.reactivateImage},
	}
}

// apiRoute adapts a route to the shared server: the caller's call is built, the raw
// path is checked for a trailing slash (Glance's router matches none, so /v2/images/
// is a 404 although the server strips the slash), and the route's rule is handed on.
func (s *Service) apiRoute(rt route) api.Route {
	h := rt.handle
	rule := rt.rule
	return api.Route{
		Method: rt.method,
		Path:   rt.path,
		Public: rt.public,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if trailingSlash(r, s.cfg.Prefix) {
				return notFound()
			}
			c := s.newCall(r)
			c.rule = rule
			return h(w, r, c)
		},
	}
}

// trailingSlash reports whether the request's raw path under /v2 ended with a slash.
func trailingSlash(r *http.Request, prefix string) bool {
	raw := r.RequestURI
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		raw = raw[:i]
	}
	if strings.HasPrefix(raw, "http://") || strings.HasPrefix(raw, "https://") {
		// Absolute-form request target: keep only the path.
		if i := strings.Index(raw[8:], "/"); i >= 0 {
			raw = raw[8+i:]
		}
	}
	return strings.HasPrefix(raw, prefix+"/v2/") && strings.HasSuffix(raw, "/") && len(raw) > len(prefix+"/v2/")
}

// rejectRoutes answers the methods a known path does not serve with Glance's 405 and
// its Allow header (wsgi.RejectMethodController), and adds the catch-alls: unknown
// paths under /v2 are 404s, and anything else under the prefix gets the version list,
// as Glance's version negotiation answers URLs without a known version.
func (s *Service) rejectRoutes(rs []route) []api.Route {
	allowed := map[string][]string{}
	var order []string
	for _, rt := range rs {
		if _, ok := allowed[rt.path]; !ok {
			order = append(order, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	var out []api.Route
	for _, p := range order {
		methods := allowed[p]
		allow := strings.Join(methods, ", ")
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if contains(methods, m) {
				continue
			}
			out = append(out, api.Route{Method: m, Path: p,
				Handler: func(w http.ResponseWriter, r *http.Request) error {
					if trailingSlash(r, s.cfg.Prefix) {
						return notFound()
					}
					e := detailErr(http.StatusMethodNotAllowed, "")
					e.Header = http.Header{"Allow": {allow}}
					return e
				}})
		}
	}
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		out = append(out,
			// "/v2" itself is registered too: without it the router would redirect it to
			// "/v2/", which the server strips back to "/v2".
			api.Route{Method: m, Path: "/v2", Handler: func(w http.ResponseWriter, r *http.Request) error {
				return notFound()
			}},
			api.Route{Method: m, Path: "/v2/", Handler: func(w http.ResponseWriter, r *http.Request) error {
				return notFound()
			}},
			api.Route{Method: m, Path: "/", Public: true, Handler: func(w http.ResponseWriter, r *http.Request) error {
				s.writeVersions(w, r, http.StatusMultipleChoices)
				return nil
			}},
		)
	}
	return out
}

// contains reports whether list holds v.
func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// rejectBody is Glance's body_reject: GET, DELETE and the actions take no body.
func rejectBody(r *http.Request) error {
	if r.ContentLength > 0 {
		return errorf(http.StatusBadRequest, "A body is not expected with this request.")
	}
	return nil
}
