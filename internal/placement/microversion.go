package placement

import (
	"net/http"
	"strings"

	"github.com/gostack/gostack/internal/api"
)

// The microversion range gostack's Placement serves: 1.0 (Newton) to 1.39 (Yoga and every
// release since, including 2024.x).
var (
	minVersion = api.Version{Major: 1, Minor: 0}
	maxVersion = api.Version{Major: 1, Minor: 39}
)

// microversions negotiates `OpenStack-API-Version: placement X.Y`.
var microversions = placementVersions{api.Microversions{Service: "placement", Min: minVersion, Max: maxVersion}}

// placementVersions is api.Microversions with the error wording of Placement's
// microversion_parse middleware.
type placementVersions struct {
	api.Microversions
}

// negotiate returns the request's microversion and sets the response headers. Outside the
// range it is a 406 "Invalid microversion: Unacceptable version header: X.Y"; a malformed
// version is a 400 "Invalid microversion: invalid version string: ...".
func (m placementVersions) negotiate(w http.ResponseWriter, r *http.Request) (api.Version, error) {
	v, err := m.Negotiate(w, r)
	if err == nil {
		return v, nil
	}
	requested := requestedVersion(r)
	if e := api.AsError(err); e.Status == http.StatusNotAcceptable {
		return v, perr(http.StatusNotAcceptable, "", "Invalid microversion: Unacceptable version header: %s", requested)
	}
	return v, badRequest("Invalid microversion: invalid version string: %s", requested)
}

// negotiateOnly returns the request's microversion without touching a response.
func (m placementVersions) negotiateOnly(r *http.Request) (api.Version, error) {
	return m.Negotiate(discardWriter{h: http.Header{}}, r)
}

// requestedVersion returns the placement version named in the request's headers, the last
// one when several are given, as microversion_parse reads them.
func requestedVersion(r *http.Request) string {
	requested := ""
	for _, h := range r.Header.Values("OpenStack-API-Version") {
		for _, part := range strings.Split(h, ",") {
			svc, ver, ok := strings.Cut(strings.TrimSpace(part), " ")
			if ok && strings.EqualFold(svc, "placement") {
				requested = strings.TrimSpace(ver)
			}
		}
	}
	return requested
}

// discardWriter is a ResponseWriter that keeps headers and drops everything else.
type discardWriter struct{ h http.Header }

// Header returns the headers.
func (d discardWriter) Header() http.Header { return d.h }

// Write discards b.
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// WriteHeader does nothing.
func (d discardWriter) WriteHeader(int) {}
