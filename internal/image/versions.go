package image

import (
	"net/http"

	"github.com/gostack/gostack/internal/api"
)

// imageVersions is the list Glance's versions controller gives with multiple stores
// enabled and no image cache: 2.15 (the quota usage API, Yoga's CURRENT) is the newest
// version gostack serves in full. 2.14, 2.16 and 2.18 are the cache API and 2.17 the
// service-to-service location API, which gostack does not offer.
var imageVersions = []struct{ id, status string }{
	{"v2.15", "CURRENT"},
	{"v2.13", "SUPPORTED"}, {"v2.12", "SUPPORTED"}, {"v2.11", "SUPPORTED"}, {"v2.10", "SUPPORTED"},
	{"v2.9", "SUPPORTED"}, {"v2.8", "SUPPORTED"},
	{"v2.7", "SUPPORTED"}, {"v2.6", "SUPPORTED"}, {"v2.5", "SUPPORTED"}, {"v2.4", "SUPPORTED"},
	{"v2.3", "SUPPORTED"}, {"v2.2", "SUPPORTED"}, {"v2.1", "SUPPORTED"}, {"v2.0", "SUPPORTED"},
}

// versionRoutes serve the version list without a token, as Glance's version negotiation
// does before authentication: 300 at the root (and for any URL without a known version,
// see rejectRoutes), 200 at /versions, whatever the method.
func (s *Service) versionRoutes() []route {
	var rs []route
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		rs = append(rs,
			route{method: m, path: "", public: true, handle: func(w http.ResponseWriter, r *http.Request, _ *call) error {
				s.writeVersions(w, r, http.StatusMultipleChoices)
				return nil
			}},
			route{method: m, path: "/versions", public: true, handle: func(w http.ResponseWriter, r *http.Request, _ *call) error {
				s.writeVersions(w, r, http.StatusOK)
				return nil
			}},
		)
	}
	return rs
}

// writeVersions writes the version list with links under the service's public URL.
func (s *Service) writeVersions(w http.ResponseWriter, r *http.Request, status int) {
	href := api.BaseURL(r) + s.cfg.Prefix + "/v2/"
	out := make([]map[string]any, 0, len(imageVersions))
	for _, v := range imageVersions {
		out = append(out, map[string]any{
			"id": v.id, "status": v.status,
			"links": []map[string]string{{"rel": "self", "href": href}},
		})
	}
	api.WriteJSON(w, status, map[string]any{"versions": out})
}
