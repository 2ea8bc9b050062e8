package network

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/network/ipam"
	"github.com/gostack/gostack/internal/store"
)

// BootstrapConfig is the DevStack default topology: an external flat network "public"
// with a floating IP subnet, and a "private" network of the demo project with an IPv4
// and an IPv6 SLAAC subnet. Zero values take the defaults, chosen not to collide with
// host networks (172.24.4.0/24 as DevStack, 10.0.0.0/26, fd00:…/64).
type BootstrapConfig struct {
	// AdminProjectID owns the public network; DemoProjectID owns the private one.
	AdminProjectID, DemoProjectID string
	// PublicPhysnet is the physical network of the flat public network ("public").
	PublicPhysnet string
	// PublicCIDR, PublicPoolStart/End and PublicGateway address the public subnet
	// (172.24.4.0/24, .2–.254, .1).
	PublicCIDR, PublicPoolStart, PublicPoolEnd, PublicGateway string
	// PrivateCIDR is the demo project's IPv4 subnet (10.0.0.0/26).
	PrivateCIDR string
	// PrivateIPv6CIDR is the demo project's IPv6 SLAAC subnet (fd00:0:0:1::/64 unless set).
	PrivateIPv6CIDR string
	// DNSNameservers are given to the private IPv4 subnet (none by default).
	DNSNameservers []string
}

// Bootstrap creates the default topology once: each object is recorded in
// net_bootstrap, so a restart (or a second call) finds it and creates nothing. Objects a
// user deleted since are not recreated. router1 (the demo project's, gateway on public,
// interfaces on both private subnets) completes it.
func (s *Service) Bootstrap(ctx context.Context, cfg BootstrapConfig) error {
	if cfg.AdminProjectID == "" || cfg.DemoProjectID == "" {
		return fmt.Errorf("network bootstrap: admin and demo project ids are required")
	}
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&cfg.PublicPhysnet, "public")
	def(&cfg.PublicCIDR, "172.24.4.0/24")
	def(&cfg.PrivateCIDR, "10.0.0.0/26")
	def(&cfg.PrivateIPv6CIDR, "fd00:0:0:1::/64")
	pub, err := netip.ParsePrefix(cfg.PublicCIDR)
	if err != nil {
		return fmt.Errorf("network bootstrap: public cidr: %w", err)
	}
	first, last, _ := ipam.Usable(pub.Masked())
	def(&cfg.PublicGateway, first.String())
	def(&cfg.PublicPoolStart, first.Next().String())
	def(&cfg.PublicPoolEnd, last.String())
	admin := &call{caller: &api.Caller{ProjectID: cfg.AdminProjectID, Roles: []string{"admin", "member", "reader"}}}

	publicNet, err := s.ensure(ctx, "network:public", func() (string, error) {
		spec := &netSpec{id: api.NewUUID(), project: cfg.AdminProjectID, name: "public", admin: true, psec: true,
			external: true, isDefault: true, azHints: []string{},
			seg: segRequest{Type: "flat", Physnet: cfg.PublicPhysnet}}
		return spec.id, s.insertNetwork(ctx, spec)
	})
	if err != nil {
		return err
	}
	_, err = s.ensure(ctx, "subnet:public", func() (string, error) {
		return s.bootstrapSubnet(ctx, admin, &subnetSpec{id: api.NewUUID(), project: cfg.AdminProjectID,
			name: "public-subnet", networkID: publicNet, ipVersion: 4, enableDHCP: false, gatewayMode: "explicit",
			gateway: netip.MustParseAddr(cfg.PublicGateway), hasPools: true,
			pools: []ipam.Pool{{Start: netip.MustParseAddr(cfg.PublicPoolStart), End: netip.MustParseAddr(cfg.PublicPoolEnd)}}},
			cfg.PublicCIDR)
	})
	if err != nil {
		return err
	}
	privateNet, err := s.ensure(ctx, "network:private", func() (string, error) {
		spec := &netSpec{id: api.NewUUID(), project: cfg.DemoProjectID, name: "private", admin: true, psec: true, azHints: []string{}}
		return spec.id, s.insertNetwork(ctx, spec)
	})
	if err != nil {
		return err
	}
	demo := &call{caller: &api.Caller{ProjectID: cfg.DemoProjectID, Roles: []string{"member", "reader"}}}
	v4, err := s.ensure(ctx, "subnet:private", func() (string, error) {
		return s.bootstrapSubnet(ctx, demo, &subnetSpec{id: api.NewUUID(), project: cfg.DemoProjectID,
			name: "private-subnet", networkID: privateNet, ipVersion: 4, enableDHCP: true, gatewayMode: "auto",
			dns: cfg.DNSNameservers}, cfg.PrivateCIDR)
	})
	if err != nil {
		return err
	}
	v6, err := s.ensure(ctx, "subnet:ipv6-private", func() (string, error) {
		return s.bootstrapSubnet(ctx, demo, &subnetSpec{id: api.NewUUID(), project: cfg.DemoProjectID,
			name: "ipv6-private-subnet", networkID: privateNet, ipVersion: 6, enableDHCP: true, gatewayMode: "auto",
			raMode: modeSLAAC, addrMode: modeSLAAC}, cfg.PrivateIPv6CIDR)
	})
	if err != nil {
		return err
	}
	_, err = s.ensure(ctx, "router:router1", func() (string, error) {
		return s.bootstrapRouter(ctx, cfg.AdminProjectID, cfg.DemoProjectID, publicNet, v4, v6)
	})
	return err
}

// ensure runs create unless net_bootstrap already records name, and records its id.
func (s *Service) ensure(ctx context.Context, name string, create func() (string, error)) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT object_id FROM net_bootstrap WHERE name = ?`, name).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !store.IsNoRows(err) {
		return "", fmt.Errorf("network bootstrap %s: %w", name, err)
	}
	id, err = create()
	if err != nil {
		return "", fmt.Errorf("network bootstrap %s: %w", name, err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO net_bootstrap (name, object_id) VALUES (?, ?)
		ON CONFLICT (name) DO NOTHING`, name, id); err != nil {
		return "", fmt.Errorf("network bootstrap %s: %w", name, err)
	}
	return id, nil
}

// bootstrapSubnet validates and writes a bootstrap subnet as the API would.
func (s *Service) bootstrapSubnet(ctx context.Context, c *call, spec *subnetSpec, cidr string) (string, error) {
	_, masked, err := ipam.ParseCIDR(cidr)
	if err != nil {
		return "", err
	}
	spec.prefix, spec.hasCIDR = masked, true
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.finishSubnetSpec(ctx, tx, spec); err != nil {
			return err
		}
		return s.insertSubnet(ctx, tx, spec)
	})
	return spec.id, err
}
