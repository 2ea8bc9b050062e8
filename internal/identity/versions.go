package identity

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gostack/gostack/internal/api"
)

// apiVersion is the Keystone v3 minor version gostack implements (Keystone 2023.1+).
const apiVersion = "v3.14"

// versionRoutes serves the version discovery documents and JSON-home.
func (s *Service) versionRoutes() []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/{$}", Public: true, Handler: s.versions},
		{Method: "GET", Path: "/v3", Public: true, Handler: s.version},
	}
}

// versionJSON is the v3 entry of the discovery documents.
func versionJSON(r *http.Request) map[string]any {
	return map[string]any{
		"id":      apiVersion,
		"status":  "stable",
		"updated": "2020-04-07T00:00:00Z",
		"links":   []any{map[string]any{"rel": "self", "href": api.BaseURL(r) + "/v3/"}},
		"media-types": []any{map[string]any{
			"base": "application/json", "type": "application/vnd.openstack.identity-v3+json",
		}},
	}
}

// versions handles GET /: Keystone answers 300 Multiple Choices with the version list.
func (s *Service) versions(w http.ResponseWriter, r *http.Request) error {
	if wantsJSONHome(r) {
		return s.jsonHome(w, r)
	}
	api.WriteJSON(w, http.StatusMultipleChoices, map[string]any{"versions": map[string]any{"values": []any{versionJSON(r)}}})
	return nil
}

// version handles GET /v3, or the JSON-home document when asked for one.
func (s *Service) version(w http.ResponseWriter, r *http.Request) error {
	if wantsJSONHome(r) {
		return s.jsonHome(w, r)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"version": versionJSON(r)})
	return nil
}

// wantsJSONHome reports whether the client asked for application/json-home.
func wantsJSONHome(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json-home")
}

// jsonHome writes a JSON-home document (RFC draft) listing the identity resources, built
// from the route table so it never drifts from what is served.
func (s *Service) jsonHome(w http.ResponseWriter, r *http.Request) error {
	resources := map[string]any{}
	for _, rt := range s.Routes() {
		if !strings.HasPrefix(rt.Path, "/v3/") {
			continue
		}
		rel := "https://docs.openstack.org/api/openstack-identity/3/rel/" + relName(rt.Path)
		if strings.Contains(rt.Path, "{") {
			vars := map[string]any{}
			for _, part := range strings.Split(rt.Path, "/") {
				if strings.HasPrefix(part, "{") {
					name := strings.Trim(part, "{}")
					vars[name] = "https://docs.openstack.org/api/openstack-identity/3/param/" + name
				}
			}
			resources[rel] = map[string]any{"href-template": rt.Path, "href-vars": vars}
		} else {
			resources[rel] = map[string]any{"href": rt.Path}
		}
	}
	b, err := json.Marshal(map[string]any{"resources": resources})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json-home")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}

// relName derives a JSON-home relation name from a route path.
func relName(path string) string {
	var parts []string
	for _, p := range strings.Split(strings.TrimPrefix(path, "/v3/"), "/") {
		if !strings.HasPrefix(p, "{") {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "_")
}
