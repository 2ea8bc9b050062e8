// Package network is gostack's Neutron: the networking API v2.0 (networks and segments,
// subnets, subnet pools, address scopes, ports with IP address management, RBAC
// policies, quotas, network IP availability, security groups, routers and floating IPs,
// QoS policies and rules, trunks, agents, tags and the extensions list), the desired
// state each host's network driver realises, and the DevStack default topology.
//
// The database is the source of truth. An API call validates and writes in one short
// transaction; Run hands every host's desired state to the network driver
// (internal/driver/network) and writes back what it reports (ports ACTIVE). Every
// resource goes through one generic machinery (resource.go, query.go): standard
// attributes, tags, revision numbers with If-Match, filters on any attribute, fields=,
// sorting and pagination with links, and visibility by policy.
package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gostack/gostack/internal/api"
	netdriver "github.com/gostack/gostack/internal/driver/network"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// Config holds networking settings; zero values take Neutron's (and DevStack's) defaults.
type Config struct {
	// Prefix is where the API is mounted on the shared listener ("/networking", as DevStack).
	Prefix string
	// BaseMAC is the three-octet prefix of generated MAC addresses ("fa:16:3e").
	BaseMAC string
	// GlobalPhysnetMTU is [DEFAULT] global_physnet_mtu (1500); tunnel networks subtract
	// their overhead (VXLAN 50, Geneve 58).
	GlobalPhysnetMTU int
	// TenantNetworkType is the type of networks projects create ([ml2]
	// tenant_network_types, "vxlan").
	TenantNetworkType string
	// FlatNetworks are the physical networks flat networks may use ([ml2_type_flat]
	// flat_networks; default "public" and "physnet1").
	FlatNetworks []string
	// VLANRanges maps each physical network to its VLAN id ranges ([ml2_type_vlan]
	// network_vlan_ranges; default 1–4094 on "public" and "physnet1").
	VLANRanges map[string][][2]int
	// VNIRanges and GeneveRanges are the tunnel id ranges (1–65535).
	VNIRanges, GeneveRanges [][2]int
	// MaxDNSNameservers and MaxSubnetHostRoutes are Neutron's per-subnet limits (5, 20).
	MaxDNSNameservers, MaxSubnetHostRoutes int
	// DefaultQuotas overrides Neutron's default quota of a resource ([QUOTAS] quota_*).
	DefaultQuotas map[string]int64
	// AvailabilityZone is the one zone networks land in ("nova").
	AvailabilityZone string
	// Driver realises the desired state of Host; nil leaves ports DOWN (API only).
	Driver netdriver.Driver
	// Host is the host name the in-process driver serves (bindings with this host id).
	Host string
	// ApplyInterval is how often Run re-applies the desired state when nothing woke it (5 s).
	ApplyInterval time.Duration
}

// Service is the networking service.
type Service struct {
	db       *store.DB
	enforcer *policy.Enforcer
	cfg      Config
	log      *slog.Logger
	// rules are the policy defaults this service registered, so that per-attribute checks
	// know which attributes have a rule.
	rules map[string]string
	// kinds are the resources of the generic machinery, by collection name.
	kinds map[string]*kind
	// extensions lists the aliases /v2.0/extensions advertises; resources append to it.
	extensions *extensionRegistry
	// quotaResources are the resources with a quota, with their default limits.
	quotaResources *quotaRegistry
	// portSecurityGroups is the hook security groups plug into (nil: ids are stored
	// unchecked and ports get no default group).
	sgMu         sync.RWMutex
	securityHook SecurityGroupHook
	// wake is signalled when desired state changes, so Run applies it at once.
	wake chan struct{}
}

// New returns the networking service over db and registers Neutron's default policies
// on enforcer.
func New(ctx context.Context, db *store.DB, enforcer *policy.Enforcer, cfg Config, log *slog.Logger) (*Service, error) {
	if db == nil || enforcer == nil {
		return nil, errors.New("network: store and policy enforcer are required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/networking"
	}
	if cfg.BaseMAC == "" {
		cfg.BaseMAC = "fa:16:3e"
	}
	if cfg.GlobalPhysnetMTU == 0 {
		cfg.GlobalPhysnetMTU = 1500
	}
	if cfg.TenantNetworkType == "" {
		cfg.TenantNetworkType = "vxlan"
	}
	if cfg.FlatNetworks == nil {
		cfg.FlatNetworks = []string{"public", "physnet1"}
	}
	if cfg.VLANRanges == nil {
		cfg.VLANRanges = map[string][][2]int{"public": {{1, 4094}}, "physnet1": {{1, 4094}}}
	}
	if cfg.VNIRanges == nil {
		cfg.VNIRanges = [][2]int{{1, 65535}}
	}
	if cfg.GeneveRanges == nil {
		cfg.GeneveRanges = [][2]int{{1, 65535}}
	}
	if cfg.MaxDNSNameservers == 0 {
		cfg.MaxDNSNameservers = 5
	}
	if cfg.MaxSubnetHostRoutes == 0 {
		cfg.MaxSubnetHostRoutes = 20
	}
	if cfg.AvailabilityZone == "" {
		cfg.AvailabilityZone = "nova"
	}
	if cfg.ApplyInterval == 0 {
		cfg.ApplyInterval = 5 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rules := defaultPolicies()
	if err := enforcer.RegisterDefaults(rules); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	s := &Service{db: db, enforcer: enforcer, cfg: cfg, log: log, rules: rules,
		kinds: map[string]*kind{}, extensions: newExtensionRegistry(),
		quotaResources: newQuotaRegistry(cfg.DefaultQuotas), wake: make(chan struct{}, 1)}
	s.registerResources()
	return s, nil
}

// APIService returns the networking API ready to mount on the shared listener.
func (s *Service) APIService() api.Service {
	return api.Service{Name: "network", Prefix: s.cfg.Prefix, Fault: fault, Routes: s.Routes()}
}

// call is what a handler knows about its request beyond the request itself.
type call struct {
	caller *api.Caller
	// rule is the policy rule the route table names for this verb.
	rule string
	// memo caches policy decisions within the request: a list evaluates the same rules
	// against thousands of records whose targets mostly repeat. The key is the whole
	// input (rule, target, facts), so a cached answer is exactly what the engine says.
	memo map[string]bool
}

// project is the caller's project id.
func (c *call) project() string {
	if c.caller == nil {
		return ""
	}
	return c.caller.ProjectID
}

// handler serves one route.
type handler func(w http.ResponseWriter, r *http.Request, c *call) error

// enforce evaluates rule for the caller against target; facts are the Neutron field
// checks (field:networks:shared=True, ...) that hold for the target, which oslo's generic
// check finds in the credentials' "field" list.
func (s *Service) enforce(c *call, rule string, target policy.Target, facts []string) bool {
	return s.enforceKeyed(c, rule, target, facts, "")
}

// enforceKeyed is enforce with the memo key of (target, facts) computed by the caller
// once for several rules ("" computes it here).
func (s *Service) enforceKeyed(c *call, rule string, target policy.Target, facts []string, base string) bool {
	if c.caller == nil {
		return false
	}
	if target == nil {
		target = policy.Target{}
	}
	if _, ok := target["project_id"]; !ok {
		target["project_id"] = c.caller.ProjectID
	}
	if _, ok := target["tenant_id"]; !ok {
		target["tenant_id"] = target["project_id"]
	}
	if base == "" {
		base = memoKey(target, facts)
	}
	key := rule + "\x00" + base
	if v, ok := c.memo[key]; ok {
		return v
	}
	creds := c.caller.PolicyCredentials()
	if len(facts) > 0 {
		creds.Extra = map[string]any{"field": facts}
	}
	v := s.enforcer.Enforce(rule, creds, target)
	if c.memo == nil {
		c.memo = map[string]bool{}
	}
	c.memo[key] = v
	return v
}

// memoKey renders a policy target and facts as a cache key.
func memoKey(target policy.Target, facts []string) string {
	keys := make([]string, 0, len(target))
	for k := range target {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte('=')
		switch v := target[k].(type) {
		case string:
			b.WriteString(v)
		case nil:
			b.WriteString("\x02")
		case bool:
			b.WriteString(strconv.FormatBool(v))
		default:
			fmt.Fprintf(&b, "%T:%v", v, v)
		}
	}
	for _, f := range facts {
		b.WriteByte(1)
		b.WriteString(f)
	}
	return b.String()
}

// isAdmin reports whether the caller passes context_is_admin.
func (s *Service) isAdmin(c *call) bool {
	return s.enforce(c, "context_is_admin", policy.Target{}, nil)
}

// notify wakes Run after a change to the desired state.
func (s *Service) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// now is the clock; tests replace it.
var now = func() time.Time { return time.Now().UTC() }

// stamp renders a time as Neutron does ("2026-01-02T03:04:05Z").
func stamp(stored string) string {
	// Stored times are store.TimeFormat ("2006-01-02T15:04:05.000000Z", always UTC):
	// the rendering is its first 19 characters and "Z", without parsing.
	if len(stored) == len(store.TimeFormat) && stored[10] == 'T' && stored[19] == '.' && stored[26] == 'Z' {
		return stored[:19] + "Z"
	}
	t := store.ParseTime(stored)
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}
