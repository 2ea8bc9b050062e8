package testkit

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Response is an answer of an in-process request: its status, headers, raw body and, when
// the body is a JSON object, that object decoded.
type Response struct {
	Code   int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// Serve sends one request to h in process: a string body is sent as is, any other non-nil
// body as JSON (with its Content-Type), with the given headers. A JSON-object answer that
// does not decode fails the test.
func Serve(t testing.TB, h http.Handler, method, path string, header map[string]string, body any) Response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			enc, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			rd = bytes.NewReader(enc)
		}
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	out := Response{Code: rec.Code, Header: rec.Header(), Raw: rec.Body.String()}
	if b := bytes.TrimSpace(rec.Body.Bytes()); len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &out.Body); err != nil {
			t.Fatalf("%s %s: response is not JSON: %q", method, path, b)
		}
	}
	return out
}

// IssueToken issues a project-scoped password token for a Default-domain user through
// h's POST /v3/auth/tokens and returns it with the token's user and project ids; any
// status but 201 fails the test.
func IssueToken(t testing.TB, h http.Handler, user, password, project string) (token, userID, projectID string) {
	t.Helper()
	r := Serve(t, h, "POST", "/v3/auth/tokens", nil, map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{
			"user": map[string]any{"name": user, "password": password, "domain": map[string]any{"id": "default"}}}},
		"scope": map[string]any{"project": map[string]any{"name": project, "domain": map[string]any{"id": "default"}}},
	}})
	if r.Code != http.StatusCreated {
		t.Fatalf("token for %s: status %d: %s", user, r.Code, r.Raw)
	}
	tok, _ := r.Body["token"].(map[string]any)
	u, _ := tok["user"].(map[string]any)
	p, _ := tok["project"].(map[string]any)
	userID, _ = u["id"].(string)
	projectID, _ = p["id"].(string)
	return r.Header.Get("X-Subject-Token"), userID, projectID
}
