// Package placement is gostack's Placement API (openstack/placement 2024.x, microversions
// 1.0 to 1.39): resource providers in trees, resource classes, traits, inventories,
// aggregates, allocations with consumer generations, usages, allocation candidates and the
// reshaper. Nova's scheduler claims resources through it.
//
// Every write runs in one transaction. Writers first lock what they change, in one order
// (consumers, then providers by uuid, by bumping or touching their rows), which on
// PostgreSQL serializes concurrent claims against a provider without deadlocks; SQLite runs
// one writer at a time. Capacity is then checked against inventory rows whose `used`
// column is kept equal to the sum of their allocations in the same transaction, so two
// concurrent claims can never overcommit a provider.
//
// Allocation candidates are computed in memory over a snapshot of the provider structure
// (snapshot.go), reloaded only when a structural write moved the placement revision, and
// the live usage.
//
// Policy follows Placement's 2024.x defaults with scope enforcement: admins and services
// (project-scoped tokens only) may do everything except reshape (services only), and a
// project's readers may read their project's usages.
package placement

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// DefaultIncompleteConsumerID is the project and user id Placement records for
// allocations written before microversion 1.8, which did not carry them.
const DefaultIncompleteConsumerID = "00000000-0000-0000-0000-000000000000"

// Config holds Placement settings; zero values take Placement's defaults.
type Config struct {
	// Prefix is where the API is mounted on the shared listener ("/placement").
	Prefix string
	// IncompleteConsumerProjectID and IncompleteConsumerUserID fill in consumers created
	// before microversion 1.8 ([placement] incomplete_consumer_project_id / _user_id).
	IncompleteConsumerProjectID, IncompleteConsumerUserID string
	// MaxAllocationCandidates bounds the candidates generated for one request
	// ([placement] max_allocation_candidates); 0 or negative means no bound.
	MaxAllocationCandidates int
}

// Service is the Placement service.
type Service struct {
	db       *store.DB
	log      *slog.Logger
	cfg      Config
	enforcer *policy.Enforcer
	routes   []route

	// snap is the provider structure at the last revision read (snapshot.go).
	snap   atomic.Pointer[snapshot]
	snapMu sync.Mutex
}

// New returns the Placement service over db. It registers Placement's default policies on
// the shared enforcer and makes sure every standard resource class (os-resource-classes)
// and trait (os-traits) exists.
func New(ctx context.Context, db *store.DB, enforcer *policy.Enforcer, cfg Config, log *slog.Logger) (*Service, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "/placement"
	}
	if cfg.IncompleteConsumerProjectID == "" {
		cfg.IncompleteConsumerProjectID = DefaultIncompleteConsumerID
	}
	if cfg.IncompleteConsumerUserID == "" {
		cfg.IncompleteConsumerUserID = DefaultIncompleteConsumerID
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := enforcer.RegisterDefaults(defaultPolicies()); err != nil {
		return nil, fmt.Errorf("placement: %w", err)
	}
	s := &Service{db: db, log: log, cfg: cfg, enforcer: enforcer}
	if err := s.syncStandards(ctx); err != nil {
		return nil, fmt.Errorf("placement: sync standard resource classes and traits: %w", err)
	}
	s.routes = s.routeTable()
	return s, nil
}

// syncStandards inserts the standard resource classes and traits that are missing, as
// Placement does at start; other replicas doing the same at the same time are harmless.
func (s *Service) syncStandards(ctx context.Context) error {
	ts := store.FormatTime(now())
	return s.write(ctx, func(tx *store.Tx) error {
		have := map[string]bool{}
		rows, err := tx.QueryContext(ctx, `SELECT name FROM placement_resource_classes WHERE standard = ?`, true)
		if err != nil {
			return err
		}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			have[n] = true
		}
		rows.Close()
		for _, rc := range standardResourceClasses {
			if have[rc] {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO placement_resource_classes (name, standard, created_at, updated_at)
				VALUES (?, ?, ?, '') ON CONFLICT DO NOTHING`, rc, true, ts); err != nil {
				return err
			}
		}
		have = map[string]bool{}
		rows, err = tx.QueryContext(ctx, `SELECT name FROM placement_traits WHERE standard = ?`, true)
		if err != nil {
			return err
		}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			have[n] = true
		}
		rows.Close()
		for _, t := range standardTraits() {
			if have[t] {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO placement_traits (name, standard, created_at, updated_at)
				VALUES (?, ?, ?, '') ON CONFLICT DO NOTHING`, t, true, ts); err != nil {
				return err
			}
		}
		return nil
	})
}

// APIService returns the Placement API ready to mount on the shared listener.
func (s *Service) APIService() api.Service {
	return api.Service{Name: "placement", Prefix: s.cfg.Prefix, Fault: s.fault, Routes: s.Routes()}
}

// handler serves one route after microversion negotiation and the policy check.
type handler func(w http.ResponseWriter, r *http.Request, c *call) error

// route is one entry of the Placement route table: the policy rule guarding the verb,
// the microversions it exists at and, outside them, the status Placement answers (404, or
// 405 for DELETE /resource_providers/{uuid}/inventories before 1.5).
type route struct {
	method, path string
	rule         string
	public       bool
	minVer       api.Version
	maxVer       api.Version // zero: the maximum
	outside      int         // status outside [minVer, maxVer]; 0 means 404
	body         bool        // the verb takes a JSON body (Content-Type must be application/json)
	handle       handler
}

// call is what a handler knows about its request beyond the request itself.
type call struct {
	// ver is the negotiated microversion.
	ver api.Version
	// caller is the authenticated caller (empty for public routes).
	caller *api.Caller
}

// at reports whether the request's microversion is at least 1.minor.
func (c *call) at(minor int) bool { return c.ver.AtLeast(1, minor) }

// v returns microversion 1.minor.
func v(minor int) api.Version { return api.Version{Major: 1, Minor: minor} }

// Routes returns the route table in the shared server's form.
func (s *Service) Routes() []api.Route {
	out := make([]api.Route, 0, len(s.routes))
	seen := map[string]bool{}
	for _, rt := range s.routes {
		out = append(out, s.apiRoute(rt))
		if !seen[rt.path] {
			seen[rt.path] = true
			// Placement's router answers any other method, OPTIONS included, with a 405.
			out = append(out, api.Route{Method: "OPTIONS", Path: rt.path, Public: rt.public,
				Handler: func(w http.ResponseWriter, r *http.Request) error {
					return &api.Error{Status: http.StatusMethodNotAllowed, Message: webobExplanations[http.StatusMethodNotAllowed]}
				}})
		}
	}
	return out
}

// routeTable lists every Placement route (placement/handler.py ROUTE_DECLARATIONS).
func (s *Service) routeTable() []route {
	var rs []route
	for _, group := range [][]route{
		s.rootRoutes(),
		s.resourceClassRoutes(),
		s.resourceProviderRoutes(),
		s.inventoryRoutes(),
		s.usageRoutes(),
		s.aggregateRoutes(),
		s.allocationRoutes(),
		s.candidateRoutes(),
		s.traitRoutes(),
		s.reshaperRoutes(),
	} {
		rs = append(rs, group...)
	}
	return rs
}

// allowed returns the Allow header value for a path under the prefix, as Placement's 405
// handler sends it.
func (s *Service) allowed(path string) string {
	rel := strings.TrimPrefix(path, s.cfg.Prefix)
	var methods []string
	for _, rt := range s.routes {
		if pathMatches(rt.path, rel) {
			methods = append(methods, rt.method)
		}
	}
	return strings.Join(methods, ", ")
}

// pathMatches reports whether a concrete path matches a route pattern with {wildcards}.
func pathMatches(pattern, path string) bool {
	pp := strings.Split(pattern, "/")
	ps := strings.Split(path, "/")
	if len(pp) != len(ps) {
		return false
	}
	for i := range pp {
		if strings.HasPrefix(pp[i], "{") {
			if ps[i] == "" {
				return false
			}
			continue
		}
		if pp[i] != ps[i] {
			return false
		}
	}
	return true
}

// apiRoute adapts a route: microversion negotiation (406/400), the microversion range of
// the route (404, or the route's status), the content checks Placement's WSGI stack makes,
// then the policy rule (403), and finally the handler.
func (s *Service) apiRoute(rt route) api.Route {
	return api.Route{
		Method: rt.method,
		Path:   rt.path,
		Public: rt.public,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			ver, err := microversions.negotiate(w, r)
			if err != nil {
				return err
			}
			lowerVary(w)
			if r.ContentLength > 0 && r.Header.Get("Content-Type") == "" {
				return badRequest("content-type header required when content-length > 0")
			}
			max := rt.maxVer
			if max == (api.Version{}) {
				max = maxVersion
			}
			if ver.Less(rt.minVer) || max.Less(ver) {
				status := rt.outside
				if status == 0 {
					status = http.StatusNotFound
				}
				return &api.Error{Status: status, Message: webobExplanations[status]}
			}
			c := &call{ver: ver, caller: api.CallerFrom(r.Context())}
			if rt.body {
				if err := requireJSONBody(r); err != nil {
					return err
				}
			} else if rt.method == "GET" && !acceptsJSON(r.Header.Values("Accept")) {
				return perr(http.StatusNotAcceptable, "", "Only application/json is provided")
			}
			if rt.rule != "" {
				if err := s.authorize(c, rt.rule, nil); err != nil {
					return err
				}
			}
			return rt.handle(w, r, c)
		},
	}
}

// authorize checks a policy rule for the caller. target defaults to the caller's own
// project and user, as Placement's RequestContext.can does. Every Placement rule has
// scope_types ['project'] and oslo.policy enforces scope by default (2024.1 and later),
// so only project-scoped tokens pass: system- and domain-scoped ones get a 403 whatever
// their roles.
func (s *Service) authorize(c *call, rule string, target policy.Target) error {
	denied := perr(http.StatusForbidden, "", "Policy does not allow %s to be performed.", rule)
	if c.caller == nil || c.caller.ProjectID == "" || c.caller.System != "" {
		return denied
	}
	creds := c.caller.PolicyCredentials()
	if target == nil {
		target = policy.Target{"project_id": c.caller.ProjectID, "user_id": c.caller.UserID}
	}
	if s.enforcer == nil || s.enforcer.Enforce(rule, creds, target) {
		return nil
	}
	return denied
}

// lowerVary writes the Vary entry api.Microversions adds as microversion_parse does:
// "vary: openstack-api-version".
func lowerVary(w http.ResponseWriter) {
	vs := w.Header().Values("Vary")
	for i, v := range vs {
		if strings.EqualFold(v, "OpenStack-API-Version") {
			vs[i] = "openstack-api-version"
		}
	}
}

// requireJSONBody is Placement's require_content('application/json'): a 415 for any other
// Content-Type.
func requireJSONBody(r *http.Request) error {
	if ct := mediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		if ct == "" {
			ct = "None"
		}
		return perr(http.StatusUnsupportedMediaType, "", "The media type %s is not supported, use application/json", ct)
	}
	return nil
}

// mediaType returns the media type of a Content-Type header, lower-cased, without
// parameters.
func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// acceptsJSON reports whether an Accept header (absent means anything) accepts
// application/json.
func acceptsJSON(values []string) bool {
	header := strings.TrimSpace(strings.Join(values, ","))
	if header == "" {
		return true
	}
	for _, part := range strings.Split(header, ",") {
		fields := strings.Split(part, ";")
		mt := strings.ToLower(strings.TrimSpace(fields[0]))
		q := "1"
		for _, p := range fields[1:] {
			k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				q = strings.TrimSpace(val)
			}
		}
		if q == "0" || q == "0.0" || q == "0.00" || q == "0.000" {
			continue
		}
		switch mt {
		case "application/json", "application/*", "*/*", "*":
			return true
		}
	}
	return false
}

// now returns the current time, truncated to microseconds as stored.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// writeJSON writes a JSON body with the status. Unlike api.WriteJSON it does not escape
// <, > and & as \u003c..., as Python's json module does not.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		api.WriteJSON(w, http.StatusInternalServerError, map[string]any{"errors": []any{map[string]any{
			"status": 500, "title": "Internal Server Error", "detail": "response encoding failed"}}})
		return
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// noContent writes an empty response with the status (204, or 201 without a body).
func noContent(w http.ResponseWriter, status int) {
	w.WriteHeader(status)
}

// setLocation sets an absolute Location header for a path under the service, as webob
// makes Placement's relative locations absolute.
func setLocation(w http.ResponseWriter, r *http.Request, path string) {
	w.Header().Set("Location", api.BaseURL(r)+path)
}

// setLastModified sets the caching headers Placement sends from microversion 1.15.
func setLastModified(w http.ResponseWriter, c *call, t time.Time) {
	if !c.at(15) {
		return
	}
	if t.IsZero() {
		t = time.Now()
	}
	w.Header().Set("Last-Modified", t.UTC().Format(http.TimeFormat))
	w.Header().Set("Cache-Control", "no-cache")
}
