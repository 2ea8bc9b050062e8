// Package identity is gostack's Keystone v3: authentication and Fernet tokens, domains,
// projects, users, groups, roles and assignments, the service catalog, application
// credentials, credentials and limits. Other services use it through api.TokenValidator.
//
// Every write goes through Service.write, which runs it in one transaction and bumps the
// identity revision; the token cache keys its entries on that revision, so any change that
// can alter what a token means (a role removed, a user disabled) is seen on the next request,
// by this process at once and by other replicas within a poll interval.
package identity

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/identity/fernet"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// RootDomainID is the domain_id of domain rows, as in Keystone.
const RootDomainID = "<<keystone.domain.root>>"

// NullDomainID is the domain_id of global roles, as in Keystone.
const NullDomainID = "<<null>>"

// DefaultDomainID is the id of the Default domain.
const DefaultDomainID = "default"

// Config holds identity settings; zero values take Keystone's defaults.
type Config struct {
	// KeyDir is the Fernet key repository.
	KeyDir string
	// TokenExpiration is a token's life (Keystone [token] expiration, 1 h).
	TokenExpiration time.Duration
	// AllowExpiredWindow is how long after expiry allow_expired still validates (48 h).
	AllowExpiredWindow time.Duration
	// BcryptCost is the bcrypt work factor for passwords (12).
	BcryptCost int
	// KeyRotationInterval rotates the Fernet keys when the primary key is this old (0: only
	// by `gostack keys rotate`); the number of keys kept follows from it.
	KeyRotationInterval time.Duration
	// Security holds the PCI-DSS options, all off by default.
	Security SecurityConfig
}

// SecurityConfig holds Keystone's [security_compliance] options.
type SecurityConfig struct {
	// LockoutFailureAttempts locks a user after this many failed password attempts (0: off).
	LockoutFailureAttempts int
	// LockoutDuration is how long a lockout lasts (0 with attempts set: until reset).
	LockoutDuration time.Duration
	// PasswordExpiresDays makes passwords expire after this many days (0: never).
	PasswordExpiresDays int
	// UniqueLastPasswordCount refuses reuse of this many previous passwords (0: off).
	UniqueLastPasswordCount int
	// MinimumPasswordAge is the number of days before a password may change again (0: off).
	MinimumPasswordAge int
	// PasswordRegex must match new passwords ("" : any).
	PasswordRegex string
	// PasswordRegexDescription explains PasswordRegex to users.
	PasswordRegexDescription string
	// ChangePasswordUponFirstUse forces a change of admin-set passwords.
	ChangePasswordUponFirstUse bool
}

// Service is the identity service.
type Service struct {
	db       *store.DB
	log      *slog.Logger
	cfg      Config
	keys     *fernet.Keyring
	enforcer *policy.Enforcer

	// generation counts identity writes seen by this process (its own, and other replicas'
	// via the stored revision); cached token validations carry the generation they were
	// made at and are discarded when it moves.
	generation atomic.Uint64
	// storedRevision is the last identity revision read from or written to the database.
	storedRevision atomic.Int64

	tokenCache tokenCache
	// catalogCache holds the catalog as of one generation (catalog.go).
	catalogCache atomic.Pointer[catalogSnap]

	revMu       sync.Mutex
	revEvents   []revocationEvent
	revEventGen uint64
	revLoaded   bool
}

// New returns the identity service over db, creating the Fernet key repository if needed.
func New(ctx context.Context, db *store.DB, enforcer *policy.Enforcer, cfg Config, log *slog.Logger) (*Service, error) {
	if cfg.TokenExpiration == 0 {
		cfg.TokenExpiration = time.Hour
	}
	if cfg.AllowExpiredWindow == 0 {
		cfg.AllowExpiredWindow = 48 * time.Hour
	}
	if cfg.BcryptCost == 0 {
		cfg.BcryptCost = 12
	}
	if err := fernet.Setup(cfg.KeyDir); err != nil {
		return nil, err
	}
	keys, err := fernet.Load(cfg.KeyDir)
	if err != nil {
		return nil, err
	}
	s := &Service{db: db, log: log, cfg: cfg, keys: keys, enforcer: enforcer}
	s.tokenCache.init(10000)
	enforcer.RegisterDefaults(defaultPolicies())
	if rev, err := s.readRevision(ctx); err == nil {
		s.storedRevision.Store(rev)
	}
	return s, nil
}

// Run polls the stored identity revision so that writes by other replicas invalidate this
// process's caches, and prunes expired revocation events. It returns when ctx ends.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	keys := time.NewTicker(time.Minute)
	defer keys.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rev, err := s.readRevision(ctx)
			if err == nil && rev != s.storedRevision.Load() {
				s.storedRevision.Store(rev)
				s.generation.Add(1)
			}
		case <-prune.C:
			s.pruneRevocations(ctx)
		case <-keys.C:
			s.maintainKeys(ctx)
		}
	}
}

// readRevision reads the identity revision counter.
func (s *Service) readRevision(ctx context.Context) (int64, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = 'identity_revision'`).Scan(&v)
	if store.IsNoRows(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

// write runs fn in a transaction and, when it commits, bumps the identity revision so that
// every cached token validation is redone. All identity writes go through here.
func (s *Service) write(ctx context.Context, fn func(tx *store.Tx) error) error {
	var rev int64
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		var cur string
		err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = 'identity_revision'`).Scan(&cur)
		switch {
		case store.IsNoRows(err):
			rev = 1
			_, err = tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES ('identity_revision', '1')`)
		case err == nil:
			n, _ := strconv.ParseInt(cur, 10, 64)
			rev = n + 1
			_, err = tx.ExecContext(ctx, `UPDATE settings SET value = ? WHERE name = 'identity_revision'`, strconv.FormatInt(rev, 10))
		}
		return err
	})
	if err != nil {
		return mapStoreError(err)
	}
	s.storedRevision.Store(rev)
	s.generation.Add(1)
	return nil
}

// mapStoreError turns constraint violations into the 409 Keystone returns.
func mapStoreError(err error) error {
	if store.IsUniqueViolation(err) {
		return api.Conflict("Conflict occurred attempting to store the entity - Duplicate entry.")
	}
	return err
}

// Routes returns the identity route table, one group per resource.
func (s *Service) Routes() []api.Route {
	var rs []api.Route
	for _, group := range [][]api.Route{
		s.versionRoutes(),
		s.authRoutes(),
		s.domainRoutes(),
		s.projectRoutes(),
		s.userRoutes(),
		s.groupRoutes(),
		s.roleRoutes(),
		s.grantRoutes(),
		s.roleAssignmentRoutes(),
		s.catalogRoutes(),
		s.appCredRoutes(),
		s.credentialRoutes(),
		s.limitRoutes(),
		s.endpointFilterRoutes(),
		s.policyRoutes(),
		s.oauth1ConsumerRoutes(),
		s.oauth1Routes(),
		s.domainConfigRoutes(),
		s.ec2CredentialRoutes(),
		s.trustRoutes(),
		s.federationRoutes(),
		s.ec2TokenRoutes(),
	} {
		rs = append(rs, group...)
	}
	return rs
}

// APIService returns the identity API ready to mount at the root of the listener.
func (s *Service) APIService() api.Service {
	return api.Service{Name: "identity", Fault: api.KeystoneFault, Routes: s.Routes()}
}

// jsonText encodes a JSON document column.
func jsonText(v any) string {
	if v == nil {
		return "{}"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// jsonMap decodes a JSON document column into a map; bad or empty text gives an empty map.
func jsonMap(s string) map[string]any {
	m := map[string]any{}
	if s != "" {
		_ = json.Unmarshal([]byte(s), &m)
	}
	return m
}

// now returns the current time, truncated to microseconds as stored.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// caller returns the request's caller; routes that reach handlers are authenticated.
func caller(ctx context.Context) *api.Caller {
	if c := api.CallerFrom(ctx); c != nil {
		return c
	}
	return &api.Caller{}
}
