package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Version is an API microversion such as compute 2.79.
type Version struct {
	Major, Minor int
}

// String renders the version as "X.Y".
func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Less reports whether v is older than o.
func (v Version) Less(o Version) bool {
	return v.Major < o.Major || (v.Major == o.Major && v.Minor < o.Minor)
}

// AtLeast reports whether v is o or newer; handlers use it to shape responses.
func (v Version) AtLeast(major, minor int) bool { return !v.Less(Version{major, minor}) }

// ParseVersion parses "X.Y" with non-negative integers and no extra characters.
func ParseVersion(s string) (Version, error) {
	maj, min, ok := strings.Cut(strings.TrimSpace(s), ".")
	if !ok {
		return Version{}, fmt.Errorf("version %q is not of the form X.Y", s)
	}
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if err1 != nil || err2 != nil || a < 0 || b < 0 || len(maj) > 4 || len(min) > 4 ||
		strings.HasPrefix(maj, "+") || strings.HasPrefix(min, "+") {
		return Version{}, fmt.Errorf("version %q is not of the form X.Y", s)
	}
	return Version{a, b}, nil
}

// Microversions describes one service's microversion range and headers.
type Microversions struct {
	// Service is the name used in the OpenStack-API-Version header ("compute", "volume",
	// "placement").
	Service string
	// LegacyHeader is the service-specific header some services also accept, such as
	// X-OpenStack-Nova-API-Version; "" when none.
	LegacyHeader string
	// Min and Max bound the supported range; requests without a version get Min.
	Min, Max Version
}

// Negotiate returns the microversion a request asks for: Min when it names none, Max for
// "latest", and a 406 *Error when the version is outside [Min, Max]; a malformed version is
// a 400. It also sets the response headers that echo the chosen version.
func (m Microversions) Negotiate(w http.ResponseWriter, r *http.Request) (Version, error) {
	requested := ""
	for _, h := range r.Header.Values("OpenStack-API-Version") {
		for _, part := range strings.Split(h, ",") {
			svc, ver, ok := strings.Cut(strings.TrimSpace(part), " ")
			if ok && strings.EqualFold(svc, m.Service) {
				requested = strings.TrimSpace(ver)
			}
		}
	}
	if requested == "" && m.LegacyHeader != "" {
		requested = strings.TrimSpace(r.Header.Get(m.LegacyHeader))
	}
	v := m.Min
	switch {
	case requested == "":
	case strings.EqualFold(requested, "latest"):
		v = m.Max
	default:
		p, err := ParseVersion(requested)
		if err != nil {
			return Version{}, BadRequest("Invalid API version request string: %q.", requested)
		}
		if p.Less(m.Min) || m.Max.Less(p) {
			return Version{}, Errorf(http.StatusNotAcceptable,
				"Version %s is not supported by the API. Minimum is %s and maximum is %s.", p, m.Min, m.Max)
		}
		v = p
	}
	w.Header().Set("OpenStack-API-Version", m.Service+" "+v.String())
	w.Header().Add("Vary", "OpenStack-API-Version")
	if m.LegacyHeader != "" {
		w.Header().Set(m.LegacyHeader, v.String())
		w.Header().Add("Vary", m.LegacyHeader)
	}
	return v, nil
}
