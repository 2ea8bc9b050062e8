package compute

import (
	"net/http"
	"strings"

	"github.com/gostack/gostack/internal/api"
)

// apiVersion is one entry of Nova's version documents (nova/api/openstack/compute/versions.py).
type apiVersion struct {
	id, status, version, minVersion, updated, mediaType string
}

// apiVersions are the versions Nova advertises, sorted by id as Nova sorts them: the
// deprecated v2.0 (the v2.1 API in v2 compatibility mode) and v2.1 with its microversion
// range.
var apiVersions = []apiVersion{
	{id: "v2.0", status: "DEPRECATED", updated: "2025-07-04T12:00:00Z",
		mediaType: "application/vnd.openstack.compute+json;version=2"},
	{id: "v2.1", status: "CURRENT", version: maxVersion.String(), minVersion: minVersion.String(),
		updated: "2013-07-23T11:33:21Z", mediaType: "application/vnd.openstack.compute+json;version=2.1"},
}

// versionRoutes serves the version documents, which need no token, and the extension
// list.
func (s *Service) versionRoutes() []route {
	return append([]route{
		{method: "GET", path: "", public: true, unversioned: true, handle: s.listVersions},
		{method: "GET", path: "/v2.1", public: true, handle: s.showVersion},
		// Nova's /v2 is the v2.1 API in v2 compatibility mode; gostack serves its version
		// document (clients follow every version's self link) but not the legacy API.
		{method: "GET", path: "/v2", public: true, unversioned: true, handle: s.showVersion},
	}, s.extensionRoutes()...)
}

// prefixURL is the absolute URL of the API mount point, as Nova's application_url.
func (s *Service) prefixURL(r *http.Request) string { return api.BaseURL(r) + s.cfg.Prefix }

// versionHref is Nova's generate_href: the version's root with a trailing slash
// ("v2" for v2.0).
func (s *Service) versionHref(r *http.Request, id string) string {
	n := "v2"
	if id == "v2.1" {
		n = "v2.1"
	}
	return s.prefixURL(r) + "/" + n + "/"
}

// listVersions is GET / (Nova's Versions.index).
func (s *Service) listVersions(w http.ResponseWriter, r *http.Request, c *call) error {
	out := make([]map[string]any, 0, len(apiVersions))
	for _, v := range apiVersions {
		out = append(out, map[string]any{
			"id": v.id, "status": v.status, "version": v.version, "min_version": v.minVersion,
			"updated": v.updated,
			"links":   []map[string]string{{"rel": "self", "href": s.versionHref(r, v.id)}},
		})
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"versions": out})
	return nil
}

// showVersion is GET /v2.1 or /v2 (Nova's VersionsController.show): the full document
// of the version with its self link first.
func (s *Service) showVersion(w http.ResponseWriter, r *http.Request, c *call) error {
	v := apiVersions[1]
	if p := strings.TrimSuffix(r.URL.Path, "/"); strings.HasSuffix(p, "/v2") {
		v = apiVersions[0]
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"version": map[string]any{
		"id": v.id, "status": v.status, "version": v.version, "min_version": v.minVersion,
		"updated": v.updated,
		"links": []map[string]string{
			{"rel": "self", "href": s.versionHref(r, v.id)},
			{"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
		},
		"media-types": []map[string]string{{"base": "application/json", "type": v.mediaType}},
	}})
	return nil
}
