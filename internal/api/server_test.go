package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gostack/gostack/internal/policy"
)

// fixedTokens accepts one token.
type fixedTokens struct{}

func (fixedTokens) ValidateToken(_ context.Context, tok string) (*Caller, error) {
	if tok == "good" {
		return &Caller{UserID: "u1", ProjectID: "p1", Roles: []string{"member"}}, nil
	}
	return nil, Unauthorized(ErrAuthRequired)
}

func newTestServer(t *testing.T) *Server {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	enf := policy.New(map[string]string{"svc:admin_only": "role:admin", "svc:member": "role:member"}, log)
	s := NewServer(log, fixedTokens{}, enf)
	ok := func(w http.ResponseWriter, r *http.Request) error {
		WriteJSON(w, 200, map[string]string{"id": r.PathValue("id")})
		return nil
	}
	s.Mount(Service{Name: "svc", Prefix: "/svc", Fault: KeystoneFault, AuthHeader: `Keystone uri="x"`, Routes: []Route{
		{Method: "GET", Path: "/things/{id}", Policy: "svc:member", Handler: ok},
		{Method: "GET", Path: "/things/special", Policy: "svc:member", Handler: ok},
		{Method: "PATCH", Path: "/things/{id}", Policy: "svc:admin_only", Handler: ok},
		{Method: "GET", Path: "/public", Public: true, Handler: ok},
		{Method: "GET", Path: "/boom", Public: true, Handler: func(http.ResponseWriter, *http.Request) error { panic("boom") }},
		{Method: "POST", Path: "/echo", Public: true, Handler: func(w http.ResponseWriter, r *http.Request) error {
			var v map[string]any
			if err := DecodeJSON(r, &v); err != nil {
				return err
			}
			WriteJSON(w, 200, v)
			return nil
		}},
	}})
	return s
}

func TestServerPipeline(t *testing.T) {
	s := newTestServer(t)
	tests := []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"no token", "GET", "/svc/things/1", "", "", 401},
		{"bad token", "GET", "/svc/things/1", "bad", "", 401},
		{"allowed", "GET", "/svc/things/1", "good", "", 200},
		{"literal beside wildcard", "GET", "/svc/things/special", "good", "", 200},
		{"trailing slash", "GET", "/svc/things/1/", "good", "", 200},
		{"denied by policy", "PATCH", "/svc/things/1", "good", "", 403},
		{"wrong method", "DELETE", "/svc/things/1", "good", "", 405},
		{"unknown path", "GET", "/svc/nothing", "good", "", 404},
		{"public", "GET", "/svc/public", "", "", 200},
		{"panic is a 500", "GET", "/svc/boom", "", "", 500},
		{"malformed json", "POST", "/svc/echo", "", "{", 400},
		{"empty body", "POST", "/svc/echo", "", "", 400},
		{"oversize", "POST", "/svc/echo", "", `{"a":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			if tt.token != "" {
				r.Header.Set("X-Auth-Token", tt.token)
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if !strings.HasPrefix(w.Header().Get("X-Openstack-Request-Id"), "req-") {
				t.Errorf("no request id")
			}
			if tt.want >= 400 {
				var body struct {
					Error struct {
						Code    int    `json:"code"`
						Title   string `json:"title"`
						Message string `json:"message"`
					} `json:"error"`
				}
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code != tt.want || body.Error.Message == "" {
					t.Fatalf("fault body %q (%v)", w.Body, err)
				}
				if strings.Contains(w.Body.String(), "boom") {
					t.Fatalf("internal detail leaked: %s", w.Body)
				}
			}
			if tt.want == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}
}

func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{`{"user": {"name": "x", "enabled": true}}`, `{"user": 1}`, `[]`, `{`, `{"user": {"a": [1, {"b": null}]}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		o, err := DecodeObject(r, "user")
		if err != nil {
			if AsError(err).Status >= 500 {
				t.Fatalf("decode error is a %d", AsError(err).Status)
			}
			return
		}
		for k := range o {
			_, _, _ = o.Str(k, true)
			_, _, _ = o.Bool(k)
			_, _, _ = o.Int(k)
			_, _, _ = o.StrList(k)
			_, _, _ = o.Obj(k)
			_, _, _ = o.List(k)
			_, _, _ = o.Name(k, true, 10)
		}
	})
}
