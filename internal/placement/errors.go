package placement

import (
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"

	"github.com/gostack/gostack/internal/api"
)

// Placement's error codes (placement/errors.py), shown in the "code" field of error bodies
// from microversion 1.23. Handlers put them in api.Error.Type.
const (
	codeDefault            = "placement.undefined_code"
	codeInventoryInUse     = "placement.inventory.inuse"
	codeConcurrentUpdate   = "placement.concurrent_update"
	codeDuplicateName      = "placement.duplicate_name"
	codeProviderInUse      = "placement.resource_provider.inuse"
	codeCannotDeleteParent = "placement.resource_provider.cannot_delete_parent"
	codeProviderNotFound   = "placement.resource_provider.not_found"
	codeDuplicateQuery     = "placement.query.duplicate_key"
	codeQueryBadValue      = "placement.query.bad_value"
	codeQueryMissingValue  = "placement.query.missing_value"
)

// perr returns an error with a webob detail message and an optional Placement error code.
func perr(status int, code, format string, args ...any) *api.Error {
	return &api.Error{Status: status, Message: fmt.Sprintf(format, args...), Type: code}
}

// badRequest is a 400 with Placement's default code.
func badRequest(format string, args ...any) *api.Error {
	return perr(http.StatusBadRequest, "", format, args...)
}

// notFound is a 404 with Placement's default code.
func notFound(format string, args ...any) *api.Error {
	return perr(http.StatusNotFound, "", format, args...)
}

// conflict is a 409 with the given code ("" for the default).
func conflict(code, format string, args ...any) *api.Error {
	return perr(http.StatusConflict, code, format, args...)
}

// webobExplanations are webob's explanations for each status. Placement's JSON error
// formatter strips the HTML from webob's body template, so a detail reads
// "<explanation>\n\n <detail>  ".
var webobExplanations = map[int]string{
	400: "The server could not comply with the request since it is either malformed or otherwise incorrect.",
	401: "This server could not verify that you are authorized to access the document you requested. Either you supplied the wrong credentials (e.g., bad password), or your browser does not understand how to supply the credentials required.",
	403: "Access was denied to this resource.",
	404: "The resource could not be found.",
	405: "The method is not allowed for this resource.",
	406: "The resource could not be generated that was acceptable to your request.",
	409: "There was a conflict when trying to complete your request.",
	413: "The body of your request was too large for this server.",
	415: "The request media type is not supported by this server.",
	500: "The server has either erred or is incapable of performing the requested operation.",
}

// title returns webob's title for a status.
func title(status int) string {
	if status == http.StatusRequestEntityTooLarge {
		return "Request Entity Too Large"
	}
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "Error"
}

// fault writes an error as Placement does: {"errors": [{"status", "title", "detail",
// "code" (from 1.23), "request_id"}]}. A 401 comes from keystonemiddleware in front of
// Placement and keeps its Keystone-shaped body and WWW-Authenticate header.
func (s *Service) fault(w http.ResponseWriter, r *http.Request, e *api.Error) {
	if e.Status == http.StatusUnauthorized {
		if w.Header().Get("WWW-Authenticate") == "" {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Keystone uri=%q", api.BaseURL(r)))
		}
		api.WriteJSON(w, e.Status, map[string]any{"error": map[string]any{
			"code": e.Status, "title": "Unauthorized", "message": e.Message,
		}})
		return
	}
	explanation := webobExplanations[e.Status]
	// webob strips the HTML from its body template for the JSON formatter, which turns
	// every newline of the detail into a space.
	detail := strings.ReplaceAll(strings.ReplaceAll(e.Message, "\r", ""), "\n", " ")
	if e.Status >= 500 {
		// Never show internals.
		detail = ""
	}
	if detail == explanation {
		detail = ""
	}
	if e.Status == http.StatusMethodNotAllowed {
		explanation = "The method " + r.Method + " is not allowed for this resource. "
		if detail == "The method is not allowed for the requested URL." {
			detail = "The method specified is not allowed for this resource."
		}
	}
	if e.Status == http.StatusUnsupportedMediaType {
		explanation = "The request media type " + r.Header.Get("Content-Type") + " is not supported by this server."
	}
	if wantsHTML(r) {
		status := fmt.Sprintf("%d %s", e.Status, title(e.Status))
		body := "<html>\n <head>\n  <title>" + status + "</title>\n </head>\n <body>\n  <h1>" + status + "</h1>\n  " +
			html.EscapeString(explanation) + "<br /><br />\n" + html.EscapeString(detail) + "\n\n\n </body>\n</html>"
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(e.Status)
		if r.Method != http.MethodHead {
			_, _ = w.Write([]byte(body))
		}
		return
	}
	errBody := map[string]any{
		"status": e.Status,
		"title":  title(e.Status),
		"detail": explanation + "\n\n " + detail + "  ",
	}
	v, verr := microversions.negotiateOnly(r)
	if verr == nil && v.AtLeast(1, 23) {
		code := e.Type
		if code == "" || !strings.HasPrefix(code, "placement.") {
			code = codeDefault
		}
		errBody["code"] = code
	}
	if id := api.RequestID(r.Context()); id != "" {
		errBody["request_id"] = id
	}
	if e.Status == http.StatusNotAcceptable && verr != nil {
		errBody["max_version"] = maxVersion.String()
		errBody["min_version"] = minVersion.String()
	}
	if e.Status == http.StatusMethodNotAllowed && w.Header().Get("Allow") == "" {
		if allow := s.allowed(r.URL.Path); allow != "" {
			w.Header().Set("Allow", allow)
		}
	}
	if verr == nil {
		w.Header().Set("OpenStack-API-Version", "placement "+v.String())
		if !strings.Contains(strings.ToLower(strings.Join(w.Header().Values("Vary"), ",")), "openstack-api-version") {
			w.Header().Add("Vary", "openstack-api-version")
		}
	}
	writeJSON(w, e.Status, map[string]any{"errors": []any{errBody}})
}

// wantsHTML reports whether the request accepts HTML but not JSON, for which webob renders
// its errors as an HTML page.
func wantsHTML(r *http.Request) bool {
	accept := r.Header.Values("Accept")
	if acceptsJSON(accept) {
		return false
	}
	h := strings.ToLower(strings.Join(accept, ","))
	return strings.Contains(h, "text/html")
}
