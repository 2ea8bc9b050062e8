// Package volume is gostack's Cinder: the block-storage API v3 with microversions
// 3.0–3.70 (volumes and their actions, attachments, volume types, snapshots, backups,
// quotas, limits, services, availability zones, user messages), the scheduler that
// places volumes on a backend by capacity, and the runners that carry every volume
// operation out through a block driver (internal/driver/block) and backups through a
// backup store.
//
// The database is the source of truth. An API call validates, writes the desired state
// and a task row in one transaction and answers at once (202 with "creating", as Cinder
// does). The cinder-volume runner of the backend (host@backend) and the cinder-backup
// runner pick their tasks up at once (they are woken after the commit) and write the
// final status back. A task found running after a restart is run again: driver calls
// are idempotent, so kill -9 at any moment leaves nothing stuck.
package volume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/driver/block"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// minVersion and maxVersion bound the volume microversions gostack serves.
var (
	minVersion = api.Version{Major: 3, Minor: 0}
	maxVersion = api.Version{Major: 3, Minor: 70}
)

// microversions negotiates the volume microversion of a request
// (OpenStack-API-Version: volume 3.x).
var microversions = api.Microversions{Service: "volume", Min: minVersion, Max: maxVersion}

// Config holds volume settings; zero values take Cinder's defaults.
type Config struct {
	// Prefix is where the API is mounted on the shared listener ("/volume", as DevStack).
	Prefix string
	// Host is the host name the services report under (default: the machine's name).
	Host string
	// AvailabilityZone is [DEFAULT] storage_availability_zone ("nova"), the zone of the
	// volume service and of volumes created without one.
	AvailabilityZone string
	// DefaultVolumeType is [DEFAULT] default_volume_type ("__DEFAULT__").
	DefaultVolumeType string
	// ServiceDownTime is how long a service may stay silent before it shows "down" (60 s).
	ServiceDownTime time.Duration
	// ReportInterval is how often the services heartbeat (10 s).
	ReportInterval time.Duration
	// ListLimitMax is [DEFAULT] osapi_max_limit (1000).
	ListLimitMax int
	// TaskPollInterval is how often the runners look for tasks they were not woken for
	// (1 s); wakes make them start at once.
	TaskPollInterval time.Duration
	// MaxOverSubscriptionRatio is the backend's max_over_subscription_ratio (20.0) for
	// thin provisioning; ReservedPercentage its reserved_percentage (0).
	MaxOverSubscriptionRatio float64
	ReservedPercentage       float64
	// MessageTTL is how long user messages live ([message] message_ttl, 30 days).
	MessageTTL time.Duration
	// Workers bounds the tasks each runner runs at once (4).
	Workers int
}

// Service is the volume service.
type Service struct {
	db       *store.DB
	enforcer *policy.Enforcer
	cfg      Config
	deps     Deps
	log      *slog.Logger
	// wake is signalled after a transaction that added tasks, so that the runners pick
	// them up without waiting for their next poll.
	wake *waker

	mu sync.Mutex
	// driver and backups are the backend of this host's cinder-volume and cinder-backup
	// services (SetBackend); nil until set, and then no task runs.
	driver  block.Driver
	backups block.BackupStore
	// computeAPI and computePrefix are the compute service's HTTP API the extend of an
	// in-use volume notifies (SetComputeAPI); nil when not wired.
	computeAPI    http.Handler
	computePrefix string
	// copier copies in-use volumes through their server's hypervisor
	// (SetVolumeCopier); nil when not wired.
	copier VolumeCopier
	// running is set while Run runs.
	running bool
	// onReady, when set (tests), is called once Run has recovered and registered.
	onReady func()
}

// New returns the volume service over db and registers Cinder's default policies on
// enforcer.
func New(ctx context.Context, db *store.DB, enforcer *policy.Enforcer, cfg Config, deps Deps, log *slog.Logger) (*Service, error) {
	if db == nil || enforcer == nil {
		return nil, errors.New("volume: store and policy enforcer are required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/volume"
	}
	if cfg.Host == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		cfg.Host = h
	}
	if cfg.AvailabilityZone == "" {
		cfg.AvailabilityZone = "nova"
	}
	if cfg.DefaultVolumeType == "" {
		cfg.DefaultVolumeType = defaultTypeName
	}
	if cfg.ServiceDownTime == 0 {
		cfg.ServiceDownTime = 60 * time.Second
	}
	if cfg.ReportInterval == 0 {
		cfg.ReportInterval = 10 * time.Second
	}
	if cfg.ListLimitMax == 0 {
		cfg.ListLimitMax = 1000
	}
	if cfg.TaskPollInterval == 0 {
		cfg.TaskPollInterval = time.Second
	}
	if cfg.MaxOverSubscriptionRatio == 0 {
		cfg.MaxOverSubscriptionRatio = 20
	}
	if cfg.MessageTTL == 0 {
		cfg.MessageTTL = 30 * 24 * time.Hour
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := enforcer.RegisterDefaults(defaultPolicies()); err != nil {
		return nil, fmt.Errorf("volume: %w", err)
	}
	s := &Service{db: db, enforcer: enforcer, cfg: cfg, deps: deps, log: log, wake: newWaker()}
	if err := s.ensureDefaultType(ctx); err != nil {
		return nil, fmt.Errorf("volume: %w", err)
	}
	return s, nil
}

// SetBackend gives this process's cinder-volume service its block driver and its
// cinder-backup service its backup store (either may be nil: that service is not run
// here). It is the host-side hook: the runners started by Run carry out the tasks
// queued for host@driver.Name() and for the backup host through them.
func (s *Service) SetBackend(d block.Driver, b block.BackupStore) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.driver, s.backups = d, b
}

// backend returns the block driver and backup store (nil when not set).
func (s *Service) backend() (block.Driver, block.BackupStore) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.driver, s.backups
}

// backendName is the backend of this host's cinder-volume ("file" when no driver).
func (s *Service) backendName() string {
	if d, _ := s.backend(); d != nil {
		return d.Name()
	}
	return "file"
}

// volumeHost is the cinder-volume service host ("host@backend").
func (s *Service) volumeHost() string { return s.cfg.Host + "@" + s.backendName() }

// poolHost is a volume's os-vol-host-attr:host ("host@backend#pool").
func (s *Service) poolHost() string { return s.volumeHost() + "#" + s.backendName() }

// APIService returns the volume API ready to mount on the shared listener.
func (s *Service) APIService() api.Service {
	return api.Service{Name: "volume", Prefix: s.cfg.Prefix, Fault: fault, Routes: s.Routes(), TrailingSlashNotFound: true}
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

// at reports whether the request's microversion is at least 3.minor.
func (c *call) at(minor int) bool { return c.ver.AtLeast(3, minor) }

// authorize checks rule for the caller against target (nil: the caller's own project
// and user), answering Cinder's 403 when policy refuses.
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

// isAdmin reports whether the caller passes Cinder's context_is_admin.
func (s *Service) isAdmin(c *call) bool { return s.can(c, "context_is_admin", policy.Target{}) }

// ownerTarget is the policy target of a resource owned by project.
func ownerTarget(project string) policy.Target { return policy.Target{"project_id": project} }

// handler serves one route.
type handler func(w http.ResponseWriter, r *http.Request, c *call) error

// now is the clock; tests replace it.
var now = func() time.Time { return time.Now().UTC() }
