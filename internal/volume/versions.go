package volume

import (
	"net/http"
	"strings"

	"github.com/gostack/gostack/internal/api"
)

// versionUpdated is Cinder's api_version_request.UPDATED.
const versionUpdated = "2023-08-31T00:00:00Z"

// versionRoutes serve the version documents, which need no token: GET / lists every
// version with 300 Multiple Choices (Cinder's Versions.all), GET /v3 the same list with
// 200 (VersionsController.index).
func (s *Service) versionRoutes() []route {
	return []route{
		{method: "GET", path: "", root: true, public: true, unversioned: true, handle: s.listVersions},
		{method: "GET", path: "/v3", root: true, public: true, handle: s.showVersion},
	}
}

// versionDoc is the v3.0 entry of Cinder's _KNOWN_VERSIONS with its links.
func (s *Service) versionDoc(r *http.Request) map[string]any {
	base := strings.TrimRight(api.BaseURL(r)+s.cfg.Prefix, "/")
	return map[string]any{
		"id": "v3.0", "status": "CURRENT", "version": maxVersion.String(), "min_version": minVersion.String(),
		"updated": versionUpdated,
		"links": []map[string]string{
			{"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
			{"rel": "self", "href": base + "/v3/"},
		},
		"media-types": []map[string]string{{"base": "application/json",
			"type": "application/vnd.openstack.volume+json;version=3"}},
	}
}

// listVersions is GET / (300 Multiple Choices, as Cinder).
func (s *Service) listVersions(w http.ResponseWriter, r *http.Request, c *call) error {
	api.WriteJSON(w, http.StatusMultipleChoices, map[string]any{"versions": []any{s.versionDoc(r)}})
	return nil
}

// showVersion is GET /v3.
func (s *Service) showVersion(w http.ResponseWriter, r *http.Request, c *call) error {
	api.WriteJSON(w, http.StatusOK, map[string]any{"versions": []any{s.versionDoc(r)}})
	return nil
}
