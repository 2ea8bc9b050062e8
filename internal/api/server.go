package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gostack/gostack/internal/policy"
)

// HandlerFunc is a handler that reports failure by returning an error; the Server writes
// it with the service's fault body.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// TargetFunc builds the policy target for a request, typically by loading the resource the
// request acts on. Returning an error (for instance a 404) stops the request.
type TargetFunc func(r *http.Request) (policy.Target, error)

// Route is one entry of a service's route table.
type Route struct {
	// Method is the HTTP method; GET routes also answer HEAD.
	Method string
	// Path is a net/http pattern path relative to the service prefix, such as
	// "/v3/users/{user_id}".
	Path string
	// Policy is the policy rule checked before the handler runs; "" means no check.
	Policy string
	// Target builds the policy target; nil means the path values plus the caller's ids.
	Target TargetFunc
	// Public routes run without a token (version documents, token issue).
	Public bool
	// Handler serves the request.
	Handler HandlerFunc
}

// Service is a mountable API: a path prefix, its fault body and its routes.
type Service struct {
	// Name names the service in logs ("identity", "compute", ...).
	Name string
	// Prefix is where the service lives on the shared listener ("" for the root).
	Prefix string
	// Fault writes the service's error body.
	Fault FaultFunc
	// Routes is the route table.
	Routes []Route
	// AuthHeader, when set, is sent as WWW-Authenticate on 401 responses.
	AuthHeader string
	// TrailingSlashNotFound makes a request for a known path with a trailing slash and an
	// unsupported method a 404 rather than a 405 (Nova: DELETE /images/ names no image).
	TrailingSlashNotFound bool
}

// TokenValidator turns a token into a Caller. It returns a 401 *Error for tokens that are
// invalid, expired or revoked; implementations cache as they see fit but must honour
// revocation on the next request.
type TokenValidator interface {
	ValidateToken(ctx context.Context, token string) (*Caller, error)
}

// Server is the single HTTP listener's handler: it routes to services and applies request
// ids, access logging, authentication and policy around every route.
type Server struct {
	mux      *http.ServeMux
	log      *slog.Logger
	tokens   TokenValidator
	enforcer *policy.Enforcer
}

// NewServer returns a Server that authenticates with tokens and authorizes with enforcer.
func NewServer(log *slog.Logger, tokens TokenValidator, enforcer *policy.Enforcer) *Server {
	return &Server{mux: http.NewServeMux(), log: log, tokens: tokens, enforcer: enforcer}
}

// SetTokenValidator replaces the token validator; the identity service is built after the
// Server in some wirings.
func (s *Server) SetTokenValidator(v TokenValidator) { s.tokens = v }

// Mount registers a service's routes. Paths that exist but not for the request's method
// answer 405, and unknown paths under the prefix answer 404, both in the service's fault
// shape. The 405 handlers are registered per method rather than as method-less patterns so
// that a literal path ("/v3/limits/model") can sit beside a wildcard one
// ("/v3/limits/{limit_id}") without the router calling them conflicting.
func (s *Server) Mount(svc Service) {
	methods := map[string]map[string]bool{}
	var order []string
	for _, rt := range svc.Routes {
		rt := rt
		full := svc.Prefix + rt.Path
		s.mux.HandleFunc(rt.Method+" "+full, s.wrap(svc, rt))
		if methods[full] == nil {
			methods[full] = map[string]bool{}
			order = append(order, full)
		}
		methods[full][rt.Method] = true
	}
	notAllowed := func(w http.ResponseWriter, r *http.Request) {
		if p, _, _ := strings.Cut(r.RequestURI, "?"); svc.TrailingSlashNotFound && strings.HasSuffix(p, "/") {
			s.fail(w, r, svc, NotFound("The resource could not be found."))
			return
		}
		s.fail(w, r, svc, Errorf(http.StatusMethodNotAllowed, "The method is not allowed for the requested URL."))
	}
	for _, p := range order {
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if !methods[p][m] {
				s.mux.HandleFunc(m+" "+p, notAllowed)
			}
		}
	}
	catchAll := svc.Prefix + "/"
	if methods[catchAll] == nil {
		s.mux.HandleFunc(catchAll, func(w http.ResponseWriter, r *http.Request) {
			s.fail(w, r, svc, NotFound("The resource could not be found."))
		})
	}
}

// wrap applies authentication, policy and error mapping around one route's handler.
func (s *Server) wrap(svc Service, rt Route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if info := requestInfoFrom(r.Context()); info != nil {
			info.service = svc.Name
		}
		if tc := trustedCallerFrom(r.Context()); tc != nil && !rt.Public {
			// An in-process call (WithTrustedCaller): the caller was established by
			// this process, not by a token.
			if info := requestInfoFrom(r.Context()); info != nil {
				info.user, info.project = tc.UserID, tc.ProjectID
			}
			r = r.WithContext(WithCaller(r.Context(), tc))
		} else if !rt.Public {
			tok := r.Header.Get("X-Auth-Token")
			if tok == "" {
				s.fail(w, r, svc, Unauthorized(ErrAuthRequired))
				return
			}
			if s.tokens == nil {
				s.fail(w, r, svc, Unauthorized(ErrAuthRequired))
				return
			}
			caller, err := s.tokens.ValidateToken(r.Context(), tok)
			if err != nil {
				s.fail(w, r, svc, err)
				return
			}
			if info := requestInfoFrom(r.Context()); info != nil {
				info.user, info.project = caller.UserID, caller.ProjectID
			}
			r = r.WithContext(WithCaller(r.Context(), caller))
		}
		if rt.Policy != "" {
			if err := s.authorize(r, rt); err != nil {
				s.fail(w, r, svc, err)
				return
			}
		}
		if err := rt.Handler(w, r); err != nil {
			s.fail(w, r, svc, err)
		}
	}
}

// authorize checks the route's policy rule for the request's caller.
func (s *Server) authorize(r *http.Request, rt Route) error {
	caller := CallerFrom(r.Context())
	var target policy.Target
	if rt.Target != nil {
		t, err := rt.Target(r)
		if err != nil {
			return err
		}
		target = t
	}
	if target == nil {
		target = policy.Target{}
	}
	var creds policy.Credentials
	if caller != nil {
		creds = caller.PolicyCredentials()
		if _, ok := target["project_id"]; !ok {
			target["project_id"] = caller.ProjectID
		}
		if _, ok := target["user_id"]; !ok {
			target["user_id"] = caller.UserID
		}
	}
	return s.Authorize(rt.Policy, creds, target)
}

// Authorize checks one policy rule; handlers call it for checks that depend on the body.
// A denial is a 403 *Error naming the rule, as Keystone words it.
func (s *Server) Authorize(rule string, creds policy.Credentials, target policy.Target) error {
	if s.enforcer == nil || s.enforcer.Enforce(rule, creds, target) {
		return nil
	}
	return Forbidden("You are not authorized to perform the requested action: %s.", rule)
}

// Enforcer returns the policy enforcer shared by every service.
func (s *Server) Enforcer() *policy.Enforcer { return s.enforcer }

// fail writes err with the service's fault writer and logs server-side failures.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, svc Service, err error) {
	e := AsError(err)
	if e.Status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "service", svc.Name, "method", r.Method,
			"path", r.URL.Path, "request_id", RequestID(r.Context()), "err", err)
	}
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if e.Status == http.StatusUnauthorized && svc.AuthHeader != "" && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", svc.AuthHeader)
	}
	fault := svc.Fault
	if fault == nil {
		fault = KeystoneFault
	}
	fault(w, r, e)
}

// ServeHTTP gives every request a request id, strips a trailing slash (OpenStack's WSGI
// stacks accept both forms), recovers from panics as a 500, and writes the access log.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := "req-" + newUUID()
	info := &requestInfo{id: id}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
	w.Header().Set("X-Openstack-Request-Id", id)
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	if len(r.URL.Path) > 1 && strings.HasSuffix(r.URL.Path, "/") {
		r.URL.Path = strings.TrimRight(r.URL.Path, "/")
		if r.URL.Path == "" {
			r.URL.Path = "/"
		}
		r.URL.RawPath = ""
	}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.ErrorContext(r.Context(), "panic serving request", "request_id", id, "panic", p)
			if !rec.wrote {
				KeystoneFault(rec, r, AsError(errors.New("panic")))
			}
		}
		s.log.InfoContext(r.Context(), "request", "request_id", id, "service", info.service,
			"method", r.Method, "path", r.URL.Path, "status", rec.status, "user_id", info.user,
			"project_id", info.project, "duration_ms", float64(time.Since(start).Microseconds())/1000)
	}()
	s.mux.ServeHTTP(rec, r)
}

// requestInfo collects what the access log reports about a request.
type requestInfo struct {
	id, service, user, project string
}

// requestInfoKey is the context key for requestInfo.
type requestInfoKey struct{}

// requestInfoFrom returns the request's info, or nil outside a Server.
func requestInfoFrom(ctx context.Context) *requestInfo {
	i, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return i
}

// RequestID returns the request's X-Openstack-Request-Id.
func RequestID(ctx context.Context) string {
	if i := requestInfoFrom(ctx); i != nil {
		return i.id
	}
	return ""
}

// statusRecorder remembers the status written, for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

// WriteHeader records the status.
func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200.
func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// newUUID returns a random RFC 4122 version 4 UUID in its dashed form.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// NewID returns a new resource id: a random UUID in its 32-hex-digit form, as Keystone
// uses for its ids.
func NewID() string { return strings.ReplaceAll(newUUID(), "-", "") }

// NewUUID returns a new dashed UUID, as Nova, Neutron, Glance and Cinder use for ids.
func NewUUID() string { return newUUID() }
