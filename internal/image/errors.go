package image

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gostack/gostack/internal/api"
)

// Glance raises webob HTTP exceptions and lets webob render them. The body depends on the
// request's Accept header: JSON ({"message", "code", "title"}), an HTML page, or plain
// text, with the message built from webob's template
// "${explanation}<br /><br />\n${detail}\n${html_comment}\n". Glance passes its message
// either as the explanation (keyword explanation=) or as the detail (positional), which
// changes the text; errors made with detailErr keep the class's own explanation and put
// their message in the detail, as webob does.

// detailType marks an *api.Error whose Message is webob's detail rather than its
// explanation.
const detailType = "webob.detail"

// errorf returns an error whose message is webob's explanation.
func errorf(status int, format string, args ...any) *api.Error {
	return api.Errorf(status, format, args...)
}

// detailErr returns an error whose message is webob's detail, under the status's default
// explanation ("Access was denied to this resource.<br /><br />\n<detail>").
func detailErr(status int, format string, args ...any) *api.Error {
	return &api.Error{Status: status, Message: fmt.Sprintf(format, args...), Type: detailType}
}

// notFound is a bare webob HTTPNotFound, as Glance raises when policy hides an image.
func notFound() *api.Error {
	return errorf(http.StatusNotFound, "The resource could not be found.")
}

// webobExplanations are webob's class-level explanations, used when an error carries
// only a detail.
var webobExplanations = map[int]string{
	400: "The server could not comply with the request since\r\nit is either malformed or otherwise incorrect.\r\n",
	401: "This server could not verify that you are authorized to\r\naccess the document you requested.  Either you supplied the\r\nwrong credentials (e.g., bad password), or your browser\r\ndoes not understand how to supply the credentials required.\r\n",
	403: "Access was denied to this resource.",
	404: "The resource could not be found.",
	409: "There was a conflict when trying to complete your request.",
	410: "This resource is no longer available.  No forwarding address is given.",
	413: "The body of your request was too large for this server.",
	416: "The Range requested is not available.",
	500: "The server has either erred or is incapable of performing\r\nthe requested operation.\r\n",
	503: "The server is currently unavailable. Please try again at a later time.",
}

// webobTitles are the reason phrases webob uses, which differ from Go's for a few codes.
var webobTitles = map[int]string{
	413: "Request Entity Too Large",
	416: "Request Range Not Satisfiable",
}

// statusTitle returns webob's title for a status.
func statusTitle(code int) string {
	if t, ok := webobTitles[code]; ok {
		return t
	}
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "Error"
}

// webobBody renders webob's body template for e; escape html-escapes the substituted
// values (for the HTML form).
func webobBody(r *http.Request, e *api.Error, escape func(string) string) string {
	explanation, detail := e.Message, ""
	if e.Type == detailType {
		explanation, detail = webobExplanations[e.Status], e.Message
	}
	switch e.Status {
	case http.StatusMethodNotAllowed:
		// HTTPMethodNotAllowed has its own template naming the method.
		return "The method " + escape(r.Method) + " is not allowed for this resource. <br /><br />\n" + escape(detail)
	case http.StatusUnsupportedMediaType:
		// Glance always passes its reason for a 415 as the detail.
		return "The request media type " + escape(r.Header.Get("Content-Type")) +
			" is not supported by this server.\n<br /><br />\n" + escape(e.Message)
	}
	return escape(explanation) + "<br /><br />\n" + escape(detail) + "\n\n"
}

var (
	brRE      = regexp.MustCompile(`(?is)<br.*?>`)
	commentRE = regexp.MustCompile(`<!--|-->`)
	tagRE     = regexp.MustCompile(`(?s)<.*?>`)
)

// stripTags is webob's strip_tags, used for the plain-text body.
func stripTags(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "\r", "")
	s = brRE.ReplaceAllString(s, "\n")
	s = commentRE.ReplaceAllString(s, "")
	return tagRE.ReplaceAllString(s, "")
}

// fault writes e as Glance does. A 401 is keystonemiddleware's JSON body with its
// WWW-Authenticate header, since auth_token rejects the request before Glance sees it;
// every other error is webob's rendering for the request's Accept header.
func fault(w http.ResponseWriter, r *http.Request, e *api.Error) {
	if e.Status == http.StatusUnauthorized {
		if w.Header().Get("WWW-Authenticate") == "" {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Keystone uri=%q", api.BaseURL(r)))
		}
		api.WriteJSON(w, e.Status, map[string]any{"error": map[string]any{
			"code": e.Status, "title": "Unauthorized", "message": e.Message,
		}})
		return
	}
	status := fmt.Sprintf("%d %s", e.Status, statusTitle(e.Status))
	var body []byte
	var ctype string
	switch acceptedErrorType(r.Header.Values("Accept")) {
	case "text/html":
		ctype = "text/html; charset=UTF-8"
		body = []byte("<html>\n <head>\n  <title>" + status + "</title>\n </head>\n <body>\n  <h1>" + status +
			"</h1>\n  " + webobBody(r, e, html.EscapeString) + "\n </body>\n</html>")
	case "application/json":
		ctype = "application/json"
		body, _ = json.Marshal(map[string]any{
			"message": webobBody(r, e, func(s string) string { return s }),
			"code":    status, "title": statusTitle(e.Status),
		})
	default:
		ctype = "text/plain; charset=UTF-8"
		body = []byte(status + "\n\n" + stripTags(webobBody(r, e, func(s string) string { return s })))
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// acceptedErrorType is webob's choice between text/html and application/json for an
// error body (Accept.acceptable_offers, first offer wins ties), "" (plain text) when the
// request accepts neither.
//
// One deliberate difference: webob answers a request with a missing or empty Accept
// header in plain text, which openstacksdk does not parse, so `openstack image create`
// would report a refused upload only as "Unsupported Media Type". The SDK sends
// "Accept: " on uploads and patches; such requests get webob's JSON body instead, whose
// message the SDK shows, so a user learns why the data was refused.
func acceptedErrorType(values []string) string {
	header := strings.Join(values, ",")
	if strings.TrimSpace(header) == "" {
		return "application/json"
	}
	type offer struct {
		typ   string
		q     float64
		spec  int
		index int
	}
	offers := []offer{{typ: "text/html", q: -1, spec: -1, index: 0}, {typ: "application/json", q: -1, spec: -1, index: 1}}
	for _, part := range strings.Split(header, ",") {
		fields := strings.Split(part, ";")
		mr := strings.ToLower(strings.TrimSpace(fields[0]))
		if mr == "" {
			continue
		}
		q := 1.0
		for _, p := range fields[1:] {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || f < 0 || f > 1 {
					// An invalid header makes webob accept every offer; HTML comes first.
					return "text/html"
				}
				q = f
			}
		}
		typ, sub, ok := strings.Cut(mr, "/")
		if !ok {
			return "text/html"
		}
		for i := range offers {
			ot, os, _ := strings.Cut(offers[i].typ, "/")
			spec := -1
			switch {
			case typ == ot && sub == os:
				spec = 2
			case typ == ot && sub == "*":
				spec = 1
			case typ == "*" && sub == "*":
				spec = 0
			}
			if spec > offers[i].spec {
				offers[i].spec, offers[i].q = spec, q
			}
		}
	}
	sort.SliceStable(offers, func(i, j int) bool { return offers[i].q > offers[j].q })
	if offers[0].spec < 0 || offers[0].q <= 0 {
		return ""
	}
	return offers[0].typ
}
