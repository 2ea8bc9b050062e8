package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/gostack/gostack/internal/api"
	netdriver "github.com/gostack/gostack/internal/driver/network"
	netfake "github.com/gostack/gostack/internal/driver/network/fake"
	"github.com/gostack/gostack/internal/identity"
	"github.com/gostack/gostack/internal/network"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// NetworkConfig holds the networking settings of `gostack up` ([network] in gostack.toml).
type NetworkConfig struct {
	// PublicCIDR is the external network's subnet (floating IPs); default 172.24.4.0/24
	// as DevStack, or the first of a few alternatives that no host interface uses.
	PublicCIDR string
	// PrivateCIDR and PrivateV6CIDR are the demo project's private subnets (default
	// 10.0.0.0/26 and fd00:0:0:1::/64, with the same collision check).
	PrivateCIDR, PrivateV6CIDR string
}

// Candidate default ranges, in order of preference: the first that overlaps no address
// of this host is used, so that the default topology never shadows a host network.
var (
	publicCIDRCandidates  = []string{"172.24.4.0/24", "172.24.5.0/24", "172.31.250.0/24", "192.168.233.0/24"}
	privateCIDRCandidates = []string{"10.0.0.0/26", "10.254.0.0/26", "172.31.251.0/26", "192.168.234.0/26"}
	privateV6Candidates   = []string{"fd00:0:0:1::/64", "fd00:6f73:7461:636b::/64"}
)

// newNetwork builds the networking service: the local host's network driver (the fake
// one until the Linux data plane lands) realises the ports bound to this host name.
func newNetwork(ctx context.Context, db *store.DB, enforcer *policy.Enforcer, log *slog.Logger) (*network.Service, string, error) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	svc, err := network.New(ctx, db, enforcer, network.Config{Driver: freshFakeNetDriver{},
		Host: host, ApplyInterval: 5 * time.Second}, log)
	if err != nil {
		return nil, "", err
	}
	return svc, host, nil
}

// bootstrapNetwork creates the DevStack topology (public, private) once; the network
// service records what it made, so later starts (and existing data directories that had
// no networking yet) create only what is missing.
func bootstrapNetwork(ctx context.Context, svc *network.Service, ids *identity.Service, cfg NetworkConfig) error {
	admin, err := ids.ProjectIDByName(ctx, identity.DefaultDomainID, "admin")
	if err != nil {
		return fmt.Errorf("network bootstrap: %w", err)
	}
	demo, err := ids.ProjectIDByName(ctx, identity.DefaultDomainID, "demo")
	if err != nil {
		return fmt.Errorf("network bootstrap: %w", err)
	}
	hostPrefixes := hostAddresses()
	bc := network.BootstrapConfig{AdminProjectID: admin, DemoProjectID: demo,
		PublicCIDR:      pickCIDR(cfg.PublicCIDR, publicCIDRCandidates, hostPrefixes),
		PrivateCIDR:     pickCIDR(cfg.PrivateCIDR, privateCIDRCandidates, hostPrefixes),
		PrivateIPv6CIDR: pickCIDR(cfg.PrivateV6CIDR, privateV6Candidates, hostPrefixes)}
	for _, c := range []string{bc.PublicCIDR, bc.PrivateCIDR, bc.PrivateIPv6CIDR} {
		if _, err := netip.ParsePrefix(c); err != nil {
			return fmt.Errorf("network: invalid range %q: %w", c, err)
		}
	}
	return svc.Bootstrap(ctx, bc)
}

// hostAddresses are the prefixes of this host's interface addresses.
func hostAddresses() []netip.Prefix {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// pickCIDR returns the configured range, or the first candidate that overlaps none of
// the host's prefixes (the first candidate when all do).
func pickCIDR(configured string, candidates []string, host []netip.Prefix) string {
	if configured != "" {
		return configured
	}
	for _, c := range candidates {
		p := netip.MustParsePrefix(c)
		free := true
		for _, h := range host {
			if h.Overlaps(p) {
				free = false
				break
			}
		}
		if free {
			return c
		}
	}
	return candidates[0]
}

// freshFakeNetDriver is the fake network driver without its memory: the fake records
// every state it is handed (for tests), which a long-running cloud must not accumulate,
// so each Apply uses a new one.
type freshFakeNetDriver struct{}

var _ netdriver.Driver = freshFakeNetDriver{}

// Apply implements netdriver.Driver.
func (freshFakeNetDriver) Apply(ctx context.Context, st *netdriver.State) (*netdriver.Report, error) {
	return netfake.New().Apply(ctx, st)
}

// simulatedHostPorts realises the ports bound to the simulated compute hosts
// (fake-host-N): their guests live in this process, so their ports are wired (fakely)
// here too. It applies each host's state when the networking API changed something and
// every interval otherwise, skipping hosts whose state revision is unchanged.
type simulatedHostPorts struct {
	svc   *network.Service
	hosts []string
	log   *slog.Logger
	wake  chan struct{}
	seen  map[string]int64
}

// newSimulatedHostPorts returns the loop for hosts.
func newSimulatedHostPorts(svc *network.Service, hosts []string, log *slog.Logger) *simulatedHostPorts {
	return &simulatedHostPorts{svc: svc, hosts: hosts, log: log, wake: make(chan struct{}, 1), seen: map[string]int64{}}
}

// notify wakes the loop.
func (p *simulatedHostPorts) notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// wrapAPI returns the networking API with every write waking the loop, so that a port
// bound to a simulated host goes ACTIVE at once, as an agent would report it.
func (p *simulatedHostPorts) wrapAPI(svc api.Service) api.Service {
	routes := make([]api.Route, len(svc.Routes))
	for i, rt := range svc.Routes {
		if rt.Method != http.MethodGet && rt.Handler != nil {
			h := rt.Handler
			rt.Handler = func(w http.ResponseWriter, r *http.Request) error {
				err := h(w, r)
				p.notify()
				return err
			}
		}
		routes[i] = rt
	}
	svc.Routes = routes
	return svc
}

// run applies the simulated hosts' states until ctx ends.
func (p *simulatedHostPorts) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for _, h := range p.hosts {
			if err := p.applyHost(ctx, h); err != nil && ctx.Err() == nil {
				p.log.Warn("simulated host network apply failed", "host", h, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-t.C:
		}
	}
}

// applyHost hands one host's state to a fake driver and records the port statuses.
func (p *simulatedHostPorts) applyHost(ctx context.Context, host string) error {
	st, err := p.svc.DesiredState(ctx, host)
	if err != nil {
		return err
	}
	if rev, ok := p.seen[host]; ok && rev == st.Revision {
		return nil
	}
	rep, err := netfake.New().Apply(ctx, st)
	if err != nil {
		return err
	}
	for id, status := range rep.PortStatus {
		if err := p.svc.SetPortStatus(ctx, id, status); err != nil {
			return err
		}
	}
	// Statuses that changed moved the revision, so the next round applies once more (a
	// no-op) and records the settled revision; a change made meanwhile is never skipped.
	p.seen[host] = st.Revision
	return nil
}
