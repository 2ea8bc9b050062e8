package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
)

// One service calls another in process by making an HTTP request against the shared
// Server's handler, so that the callee's validation, policy and views apply exactly as
// for a client. The caller is handed over in the request's context rather than as a
// token: background work (a build running after a restart) has no token, and external
// requests cannot put values into a context, so a trusted caller can only come from
// code in this process.

// trustedCallerKey is the context key for a trusted in-process caller.
type trustedCallerKey struct{}

// WithTrustedCaller returns a context whose in-process requests are made as c: the
// Server uses c instead of validating X-Auth-Token, and policy still applies to c.
func WithTrustedCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, trustedCallerKey{}, c)
}

// trustedCallerFrom returns the trusted caller of ctx, or nil.
func trustedCallerFrom(ctx context.Context) *Caller {
	c, _ := ctx.Value(trustedCallerKey{}).(*Caller)
	return c
}

// CallError is an in-process call's answer with an error status (4xx, 5xx); Body is
// the callee's fault body, for callers that translate it.
type CallError struct {
	Status int
	Body   []byte
}

// Error implements error.
func (e *CallError) Error() string {
	return fmt.Sprintf("in-process call answered %d: %s", e.Status, bytes.TrimSpace(e.Body))
}

// CallRequest is one in-process request.
type CallRequest struct {
	Method, Path string
	// ContentType defaults to application/json when Body is set.
	ContentType string
	// Body is marshalled as JSON (nil: no body).
	Body any
	// Header holds extra request headers (microversions, If-Match, ...).
	Header http.Header
	// Host is the Host the callee sees (and builds links with); empty keeps
	// httptest's placeholder.
	Host string
}

// Call makes req against h as caller (nil: unauthenticated) and decodes a 2xx JSON
// answer into out (nil: ignore the body). An answer of 400 or more returns its status
// and a *CallError.
func Call(ctx context.Context, h http.Handler, caller *Caller, req CallRequest, out any) (int, error) {
	var rd io.Reader
	if req.Body != nil {
		b, err := json.Marshal(req.Body)
		if err != nil {
			return 0, fmt.Errorf("in-process call: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	if caller != nil {
		ctx = WithTrustedCaller(ctx, caller)
	}
	hr := httptest.NewRequest(req.Method, req.Path, rd).WithContext(ctx)
	if req.Host != "" {
		hr.Host = req.Host
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	if req.Body != nil {
		ct := req.ContentType
		if ct == "" {
			ct = "application/json"
		}
		hr.Header.Set("Content-Type", ct)
	}
	hr.Header.Set("Accept", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, hr)
	if rec.Code >= 400 {
		return rec.Code, &CallError{Status: rec.Code, Body: rec.Body.Bytes()}
	}
	if out != nil && rec.Code < 300 && rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			return rec.Code, fmt.Errorf("in-process call %s %s: decode answer: %w", req.Method, req.Path, err)
		}
	}
	return rec.Code, nil
}

// CallJSON makes a JSON request against h as caller and decodes the answer into out;
// see Call.
func CallJSON(ctx context.Context, h http.Handler, caller *Caller, method, path string, body, out any) (int, error) {
	return Call(ctx, h, caller, CallRequest{Method: method, Path: path, Body: body}, out)
}
