// Package compute is gostack's Nova: the compute API v2.1 with microversions 2.1–2.96
// (servers and their actions, flavors, keypairs, server groups, hypervisors, services,
// aggregates, availability zones, quotas, usage, migrations), the conductor that
// schedules servers through Placement, and the persisted tasks that carry every server
// operation to the host that runs it.
//
// The database is the source of truth. An API call validates, writes the desired state
// and a task row in one transaction and answers at once (202 with BUILD, as Nova does).
// The conductor (conductor.go) runs tasks that need scheduling; the host agent serving a
// host (host.go) runs the tasks for its instances through a compute driver
// (internal/driver/compute). A task found running after a restart is run again: every step
// is idempotent, so kill -9 at any moment leaves nothing stuck.
package compute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/compute/scheduler"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// minVersion and maxVersion bound the compute microversions gostack serves.
var (
	minVersion = api.Version{Major: 2, Minor: 1}
	maxVersion = api.Version{Major: 2, Minor: 96}
)

// microversions negotiates the compute microversion of a request.
var microversions = api.Microversions{
	Service:      "compute",
	LegacyHeader: "X-OpenStack-Nova-API-Version",
	Min:          minVersion,
	Max:          maxVersion,
}

// Config holds compute settings; zero values take Nova's defaults.
type Config struct {
	// Prefix is where the API is mounted on the shared listener ("/compute", as DevStack).
	Prefix string
	// ControlHost is the host name this process reports its conductor and scheduler
	// services under (default: the machine's host name).
	ControlHost string
	// DefaultAvailabilityZone is the zone of hosts in no zoned aggregate ("nova").
	DefaultAvailabilityZone string
	// ServiceDownTime is how long a service may stay silent before it shows "down"
	// ([DEFAULT] service_down_time, 60 s).
	ServiceDownTime time.Duration
	// ListLimitMax is [api] max_limit (1000).
	ListLimitMax int
	// TaskPollInterval is how often the conductor and host agents look for tasks they
	// were not woken for (1 s).
	TaskPollInterval time.Duration
	// SchedulerWeights are the weigher multipliers (nil: Nova's defaults, all 1.0).
	SchedulerWeights *scheduler.Weights
	// MaxBuildAttempts is [scheduler] max_attempts (3): how many hosts a build tries
	// before the server goes to ERROR.
	MaxBuildAttempts int
	// ConductorWorkers bounds the tasks the conductor runs at once (8).
	ConductorWorkers int
	// DefaultFloatingPool is [neutron] default_floating_pool: the external network
	// os-floating-ips allocates from when no pool is named ("public", as DevStack sets it).
	DefaultFloatingPool string
	// Consoles configures remote consoles (consoles.go).
	Consoles ConsoleConfig
}

// Deps are the other services compute works with.
type Deps struct {
	// Images looks up and creates Glance images (server create, createImage, rebuild).
	Images Images
	// Placement claims resources for servers and hosts report inventory to it.
	Placement Placement
}

// Service is the compute service.
type Service struct {
	db       *store.DB
	enforcer *policy.Enforcer
	cfg      Config
	deps     Deps
	log      *slog.Logger
	// wake is signalled after a transaction that added tasks, so that the conductor and
	// the host agents pick them up without waiting for their next poll.
	wake *waker
	// imageAPI and imagePrefix are the image service's HTTP API the images proxy calls
	// (SetImageAPI).
	imageAPI    http.Handler
	imagePrefix string
	// networkAPI and networkPrefix are the networking service's HTTP API servers' ports
	// come from (SetNetworkAPI).
	networkAPI    http.Handler
	networkPrefix string
	// volumeAPI and volumePrefix are the volume service's HTTP API (SetVolumeAPI).
	volumeAPI    http.Handler
	volumePrefix string
	// rt is the conductor's and host agents' runtime state (conductor.go, host.go).
	rt runtime
}

// New returns the compute service over db and registers Nova's default policies on
// enforcer.
func New(ctx context.Context, db *store.DB, enforcer *policy.Enforcer, cfg Config, deps Deps, log *slog.Logger) (*Service, error) {
	if db == nil || enforcer == nil {
		return nil, errors.New("compute: store and policy enforcer are required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/compute"
	}
	if cfg.DefaultAvailabilityZone == "" {
		cfg.DefaultAvailabilityZone = "nova"
	}
	if cfg.ServiceDownTime == 0 {
		cfg.ServiceDownTime = 60 * time.Second
	}
	if cfg.DefaultFloatingPool == "" {
		cfg.DefaultFloatingPool = "public"
	}
	if cfg.ListLimitMax == 0 {
		cfg.ListLimitMax = 1000
	}
	if cfg.TaskPollInterval == 0 {
		cfg.TaskPollInterval = time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := enforcer.RegisterDefaults(defaultPolicies()); err != nil {
		return nil, fmt.Errorf("compute: %w", err)
	}
	return &Service{db: db, enforcer: enforcer, cfg: cfg, deps: deps, log: log, wake: newWaker()}, nil
}

// APIService returns the compute API ready to mount on the shared listener.
func (s *Service) APIService() api.Service {
	return api.Service{Name: "compute", Prefix: s.cfg.Prefix, Fault: fault, Routes: s.Routes(), TrailingSlashNotFound: true}
}

// call is what a handler knows about its request beyond the request itself.
type call struct {
	// ver is the negotiated microversion.
	ver api.Version
	// caller is the authenticated caller (nil on public routes).
	caller *api.Caller
	// rule is the policy rule the route table names for this verb.
	rule string
}

// at reports whether the request's microversion is at least 2.minor.
func (c *call) at(minor int) bool { return c.ver.AtLeast(2, minor) }

// authorize checks rule for the caller against target (nil: the caller's own project
// and user), answering Nova's 403 when policy refuses.
func (s *Service) authorize(c *call, rule string, target policy.Target) error {
	if c.caller == nil {
		return policyForbidden(rule)
	}
	if target == nil {
		target = policy.Target{"project_id": c.caller.ProjectID, "user_id": c.caller.UserID}
	}
	if !s.enforcer.Enforce(rule, c.caller.PolicyCredentials(), target) {
		return policyForbidden(rule)
	}
	return nil
}

// can reports whether the caller passes rule against target, for checks that shape a
// response rather than refuse it (admin-only attributes, all_tenants).
func (s *Service) can(c *call, rule string, target policy.Target) bool {
	return s.authorize(c, rule, target) == nil
}

// handler serves one route.
type handler func(w http.ResponseWriter, r *http.Request, c *call) error

// now is the clock; tests replace it.
var now = func() time.Time { return time.Now().UTC() }
