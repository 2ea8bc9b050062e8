package api

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

func TestCallJSONTrustedCaller(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	member := &Caller{UserID: "u2", ProjectID: "p2", Roles: []string{"member"}}
	admin := &Caller{UserID: "u3", ProjectID: "p3", Roles: []string{"admin"}}
	tests := []struct {
		name         string
		caller       *Caller
		method, path string
		body         any
		want         int
		wantID       string
	}{
		{"trusted member reads", member, "GET", "/svc/things/7", nil, 200, "7"},
		{"policy still applies", member, "PATCH", "/svc/things/7", map[string]any{}, 403, ""},
		{"trusted admin patches", admin, "PATCH", "/svc/things/8", map[string]any{}, 200, "8"},
		{"no caller is unauthenticated", nil, "GET", "/svc/things/7", nil, 401, ""},
		{"public route", nil, "GET", "/svc/public", nil, 200, ""},
		{"unknown path", member, "GET", "/svc/nothing/here", nil, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out map[string]string
			code, err := CallJSON(ctx, s, tt.caller, tt.method, tt.path, tt.body, &out)
			if code != tt.want {
				t.Fatalf("status %d, want %d (err %v)", code, tt.want, err)
			}
			var ce *CallError
			if tt.want >= 400 {
				if !errors.As(err, &ce) || ce.Status != tt.want || len(ce.Body) == 0 {
					t.Fatalf("err = %v, want a *CallError with the fault body", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out["id"] != tt.wantID {
				t.Errorf("id = %q, want %q", out["id"], tt.wantID)
			}
		})
	}
}

func TestTrustedCallerNotFromHeaders(t *testing.T) {
	// An external request carrying no token stays unauthenticated whatever it sends.
	s := newTestServer(t)
	code, _ := Call(context.Background(), s, nil, CallRequest{Method: "GET", Path: "/svc/things/1",
		Header: http.Header{"X-Trusted-Caller": {"admin"}}}, nil)
	if code != 401 {
		t.Fatalf("status %d, want 401", code)
	}
	// A token still works for in-process calls without a trusted caller.
	var out map[string]string
	code, err := Call(context.Background(), s, nil, CallRequest{Method: "POST", Path: "/svc/echo",
		Body: map[string]string{"a": "b"}}, &out)
	if code != 200 || err != nil || out["a"] != "b" {
		t.Fatalf("echo: %d %v %v", code, err, out)
	}
}
