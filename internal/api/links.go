package api

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// BaseURL returns the scheme and host the client used to reach the server, honouring
// X-Forwarded-Proto/Host from a TLS-terminating proxy.
func BaseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	host := r.Host
	if h := r.Header.Get("X-Forwarded-Host"); h != "" {
		host = h
	}
	return scheme + "://" + host
}

// SelfURL returns the absolute URL of the request itself, with its query.
func SelfURL(r *http.Request) string {
	u := BaseURL(r) + r.URL.Path
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	return u
}

// Page holds the limit/marker parameters of a list request.
type Page struct {
	// Limit is the page size; 0 means no limit.
	Limit int
	// Marker is the id of the last item of the previous page.
	Marker string
}

// ParsePage reads limit and marker from the query. A negative or non-numeric limit is a 400.
func ParsePage(r *http.Request) (Page, error) {
	q := r.URL.Query()
	p := Page{Marker: q.Get("marker")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return Page{}, BadRequest("Invalid input for field/attribute limit. Value: %s. Value must be a non-negative integer.", truncate(s, 32))
		}
		p.Limit = n
	}
	return p, nil
}

// NextURL returns the URL of the page after one ending with lastID, keeping the request's
// other query parameters.
func NextURL(r *http.Request, lastID string) string {
	q := r.URL.Query()
	q.Set("marker", lastID)
	return BaseURL(r) + r.URL.Path + "?" + q.Encode()
}

// PageLinks returns the `<resource>_links` list Nova, Neutron, Glance and Cinder put on a
// list response: a "next" link when the page was full.
func PageLinks(r *http.Request, p Page, n int, lastID string) []map[string]string {
	if p.Limit == 0 || n < p.Limit || lastID == "" {
		return nil
	}
	return []map[string]string{{"rel": "next", "href": NextURL(r, lastID)}}
}

// KeystoneLinks returns the links object Keystone puts on list responses.
func KeystoneLinks(r *http.Request) map[string]any {
	return map[string]any{"self": SelfURL(r), "previous": nil, "next": nil}
}

// truncate shortens s for safe inclusion in messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// QueryBool parses an OpenStack-style boolean query parameter ("true", "1", "yes", ...).
// present is false when the parameter is absent.
func QueryBool(q url.Values, key string) (val, present bool, err error) {
	if !q.Has(key) {
		return false, false, nil
	}
	switch strings.ToLower(q.Get(key)) {
	case "", "true", "1", "yes", "on", "t", "y":
		// Keystone treats a bare flag (?enabled) as true.
		return true, true, nil
	case "false", "0", "no", "off", "f", "n":
		return false, true, nil
	}
	return false, true, BadRequest("Invalid value for '%s': expected a boolean.", key)
}
