package network

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/network/ipam"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// IPv6 address modes.
const (
	modeSLAAC     = "slaac"
	modeStateful  = "dhcpv6-stateful"
	modeStateless = "dhcpv6-stateless"
)

var subnetAttrs = []string{"network_id", "ip_version", "cidr", "gateway_ip", "enable_dhcp",
	"ipv6_ra_mode", "ipv6_address_mode", "subnetpool_id", "segment_id", "dns_nameservers",
	"host_routes", "allocation_pools", "service_types", "dns_publish_fixed_ip"}

func (s *Service) subnetKind() *kind {
	return &kind{
		singular: "subnet", collection: "subnets", table: "net_subnets", hasTags: true,
		attrs:      subnetAttrs,
		unsortable: []string{"dns_nameservers", "host_routes", "allocation_pools", "service_types"},
		columns: map[string]string{"id": "id", "project_id": "project_id", "tenant_id": "project_id",
			"network_id": "network_id", "name": "name", "cidr": "cidr", "subnetpool_id": "subnetpool_id"},
		notFound: subnetNotFound,
		load:     s.loadSubnets,
		target:   childTarget,
		facts:    childFacts("subnets"),
	}
}

// childTarget is the policy target of a subnet or port: the attributes Neutron's rules
// read (owner, network, device owner; not the id, so that decisions repeat and the
// per-request memo serves them) plus its network's owner ("network:project_id",
// for rule:network_owner). It is built small because lists evaluate it per record.
func childTarget(rec record) policy.Target {
	t := policy.Target{"project_id": rec["project_id"], "tenant_id": rec["project_id"],
		"network_id": rec["network_id"], "network:project_id": rec["_net_project"],
		"network:tenant_id": rec["_net_project"]}
	if v, ok := rec["device_owner"]; ok {
		t["device_owner"] = v
	}
	return t
}

// childFacts returns the field checks of a subnet or port: its network's sharing and
// (for subnets) external flag, and for ports whether the owner is a network device.
func childFacts(plural string) func(rec record) []string {
	return func(rec record) []string {
		var f []string
		if rec["_net_shared"] == true {
			f = append(f, "networks:shared=True")
		}
		if rec["_net_external"] == true {
			f = append(f, "networks:router:external=True", plural+":router:external=True")
		}
		if owner, _ := rec["device_owner"].(string); strings.HasPrefix(owner, "network:") {
			f = append(f, "port:device_owner=~^network:")
		}
		return f
	}
}

func (s *Service) subnetRoutes() []route {
	return s.crudRoutes(s.kinds["subnets"], s.createSubnet, s.updateSubnet, s.deleteSubnet)
}

// netFacts are what a child resource's policy checks need to know about its network.
type netFacts struct {
	project          string
	shared, external bool
}

// networkFactsFor loads owner, shared (for the caller) and external for networks.
func (s *Service) networkFactsFor(ctx context.Context, q store.Querier, c *call, one string) (map[string]*netFacts, error) {
	query := `SELECT id, project_id, router_external FROM net_networks`
	var args []any
	if one != "" {
		query += ` WHERE id = ?`
		args = append(args, one)
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	out := map[string]*netFacts{}
	for rows.Next() {
		var id string
		f := &netFacts{}
		if err := rows.Scan(&id, &f.project, &f.external); err != nil {
			rows.Close()
			return nil, err
		}
		out[id] = f
	}
	rows.Close()
	query = `SELECT object_id, action FROM net_rbac_policies WHERE object_type = 'network' AND target_tenant IN ('*', ?)`
	args = []any{c.project()}
	if one != "" {
		query += ` AND object_id = ?`
		args = append(args, one)
	}
	rows, err = q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, action string
		if err := rows.Scan(&id, &action); err != nil {
			return nil, err
		}
		if f := out[id]; f != nil {
			if action == "access_as_shared" {
				f.shared = true
			} else {
				f.external = true
			}
		}
	}
	return out, rows.Err()
}

// subnetRow is a subnet as stored.
type subnetRow struct {
	stdAttrs
	NetworkID, CIDR                              string
	IPVersion                                    int64
	Gateway, RAMode, AddrMode, PoolID, SegmentID *string
	EnableDHCP, PublishFixedIP                   bool
	DNS, Routes, Pools, ServiceTypes             string
	prefix                                       netip.Prefix
	pools                                        []ipam.Pool
	gateway                                      netip.Addr
}

const subnetCols = `id, project_id, name, description, revision_number, created_at, updated_at, network_id, cidr,
	ip_version, gateway_ip, ipv6_ra_mode, ipv6_address_mode, subnetpool_id, segment_id, enable_dhcp,
	dns_publish_fixed_ip, dns_nameservers, host_routes, allocation_pools, service_types`

func (r *subnetRow) dest() []any {
	return append(r.stdAttrs.dest(), &r.NetworkID, &r.CIDR, &r.IPVersion, &r.Gateway, &r.RAMode, &r.AddrMode,
		&r.PoolID, &r.SegmentID, &r.EnableDHCP, &r.PublishFixedIP, &r.DNS, &r.Routes, &r.Pools, &r.ServiceTypes)
}

// parse fills the parsed prefix, pools and gateway.
func (r *subnetRow) parse() {
	r.prefix, _ = netip.ParsePrefix(r.CIDR)
	var pools []map[string]string
	_ = json.Unmarshal([]byte(r.Pools), &pools)
	for _, p := range pools {
		a, _ := netip.ParseAddr(p["start"])
		b, _ := netip.ParseAddr(p["end"])
		r.pools = append(r.pools, ipam.Pool{Start: a, End: b})
	}
	if r.Gateway != nil {
		r.gateway, _ = netip.ParseAddr(*r.Gateway)
	}
}

// loadSubnetRows reads subnets by a WHERE fragment.
func loadSubnetRows(ctx context.Context, q store.Querier, where string, args ...any) ([]*subnetRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+subnetCols+` FROM net_subnets WHERE 1=1`+where+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*subnetRow
	for rows.Next() {
		sr := &subnetRow{}
		if err := rows.Scan(sr.dest()...); err != nil {
			return nil, err
		}
		sr.parse()
		out = append(out, sr)
	}
	return out, rows.Err()
}

func (s *Service) loadSubnets(ctx context.Context, q store.Querier, c *call, pre sqlFilter) ([]record, error) {
	k := s.kinds["subnets"]
	where, args := pre.where(k, "")
	vis, vargs := s.visibleNetworkSQL(c, "network_id")
	if vis != "" {
		vis = ` AND (project_id = ? OR ` + strings.TrimPrefix(vis, " AND ") + `)`
		vargs = append([]any{c.project()}, vargs...)
	}
	rows, err := loadSubnetRows(ctx, q, where+vis, append(args, vargs...)...)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	one := ""
	if len(rows) == 1 {
		one = rows[0].NetworkID
	}
	nets, err := s.networkFactsFor(ctx, q, c, one)
	if err != nil {
		return nil, err
	}
	tags, err := loadTags(ctx, q, "subnets", pre)
	if err != nil {
		return nil, err
	}
	out := make([]record, 0, len(rows))
	for _, sr := range rows {
		out = append(out, renderSubnet(sr, nets[sr.NetworkID], tags))
	}
	return out, nil
}

func renderSubnet(sr *subnetRow, nf *netFacts, tags map[string][]string) record {
	rec := record{"network_id": sr.NetworkID, "ip_version": sr.IPVersion, "cidr": sr.CIDR,
		"gateway_ip": strPtr(sr.Gateway), "ipv6_ra_mode": strPtr(sr.RAMode), "ipv6_address_mode": strPtr(sr.AddrMode),
		"subnetpool_id": strPtr(sr.PoolID), "segment_id": strPtr(sr.SegmentID), "enable_dhcp": sr.EnableDHCP,
		"dns_publish_fixed_ip": sr.PublishFixedIP}
	var dns []string
	_ = json.Unmarshal([]byte(sr.DNS), &dns)
	if dns == nil {
		dns = []string{}
	}
	rec["dns_nameservers"] = dns
	var routes []any
	_ = json.Unmarshal([]byte(sr.Routes), &routes)
	if routes == nil {
		routes = []any{}
	}
	rec["host_routes"] = routes
	pools := make([]any, 0, len(sr.pools))
	for _, p := range sr.pools {
		pools = append(pools, map[string]any{"start": p.Start.String(), "end": p.End.String()})
	}
	rec["allocation_pools"] = pools
	var st []string
	_ = json.Unmarshal([]byte(sr.ServiceTypes), &st)
	if st == nil {
		st = []string{}
	}
	rec["service_types"] = st
	sr.stdAttrs.render(rec, tags)
	if nf != nil {
		rec["_net_project"], rec["_net_shared"], rec["_net_external"] = nf.project, nf.shared, nf.external
	}
	return rec
}

func strPtr(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// subnetSpec is a validated subnet create request.
type subnetSpec struct {
	id, project, name, description, networkID string
	ipVersion                                 int64
	prefix                                    netip.Prefix
	hasCIDR                                   bool
	gateway                                   netip.Addr
	gatewayMode                               string // "auto", "none" or "explicit"
	pools                                     []ipam.Pool
	hasPools                                  bool
	dns                                       []string
	routes                                    []map[string]string
	enableDHCP                                bool
	raMode, addrMode                          string
	poolID, segmentID                         string
	useDefaultPool                            bool
	prefixlen                                 int64
	hasPrefixlen                              bool
	serviceTypes                              []string
	publishFixedIP                            bool
	tags                                      []string
}

var subnetCreateAttrs = []string{"name", "description", "network_id", "ip_version", "cidr", "gateway_ip",
	"allocation_pools", "dns_nameservers", "host_routes", "enable_dhcp", "ipv6_ra_mode", "ipv6_address_mode",
	"subnetpool_id", "use_default_subnetpool", "prefixlen", "segment_id", "service_types", "project_id",
	"tenant_id", "tags", "dns_publish_fixed_ip"}

func (s *Service) createSubnet(w http.ResponseWriter, r *http.Request, c *call) error {
	b, err := decode(r, "subnet")
	if err != nil {
		return err
	}
	spec, err := s.parseSubnetCreate(c, b)
	if err != nil {
		return err
	}
	net, err := s.networkOf(r.Context(), s.db, c, spec.networkID)
	if err != nil {
		return err
	}
	k := s.kinds["subnets"]
	target := policy.Target{"project_id": spec.project, "network_id": spec.networkID,
		"network:project_id": net["project_id"], "network:tenant_id": net["project_id"]}
	facts := networkFacts(net)
	if net["router:external"] == true {
		facts = append(facts, "subnets:router:external=True")
	}
	if !s.enforce(c, "create_subnet", target, facts) {
		return policyNotAuthorized("create_subnet")
	}
	if err := s.authorizeAttrs(c, k, "create", b.Object, target, facts); err != nil {
		return err
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.checkQuota(r.Context(), tx, spec.project, "subnet", 1); err != nil {
			return err
		}
		if err := s.resolveSubnetPool(r.Context(), tx, c, spec); err != nil {
			return err
		}
		if err := s.finishSubnetSpec(r.Context(), tx, spec); err != nil {
			return err
		}
		return s.insertSubnet(r.Context(), tx, spec)
	})
	if err != nil {
		return err
	}
	s.notify()
	return s.writeOne(w, c, k, http.StatusCreated, spec.id, r.Context())
}

// parseSubnetCreate validates the attributes of a subnet create body that do not need
// the database.
func (s *Service) parseSubnetCreate(c *call, b body) (*subnetSpec, error) {
	if err := b.known(subnetCreateAttrs...); err != nil {
		return nil, err
	}
	spec := &subnetSpec{id: api.NewUUID(), enableDHCP: true, gatewayMode: "auto"}
	var err error
	if spec.project, err = b.owner(c); err != nil {
		return nil, err
	}
	if spec.name, spec.description, _, _, err = b.nameAndDescription(); err != nil {
		return nil, err
	}
	var ok bool
	if spec.networkID, ok, err = b.str("network_id", 36, false); err != nil {
		return nil, err
	} else if !ok {
		return nil, badRequest("Failed to parse request. Required attribute 'network_id' not specified")
	}
	if spec.ipVersion, ok, err = b.integer("ip_version"); err != nil {
		return nil, err
	} else if !ok {
		return nil, badRequest("Failed to parse request. Required attribute 'ip_version' not specified")
	}
	if spec.ipVersion != 4 && spec.ipVersion != 6 {
		return nil, invalidAttr("ip_version", fmt.Sprintf("%d is not in [4, 6]", spec.ipVersion))
	}
	if cidr, has, err := b.str("cidr", 0, true); err != nil {
		return nil, err
	} else if has && cidr != "" {
		written, masked, perr := ipam.ParseCIDR(cidr)
		if perr != nil {
			return nil, invalidAttr("cidr", perr.Error())
		}
		if written != masked {
			return nil, invalidAttr("cidr", fmt.Sprintf("'%s' isn't a recommended CIDR, it should be specified as '%s'", cidr, masked))
		}
		if masked.Bits() == 0 {
			return nil, invalidInput("0 is not allowed as CIDR prefix length")
		}
		if (masked.Addr().Is4() && spec.ipVersion != 4) || (masked.Addr().Is6() && spec.ipVersion != 6) {
			return nil, invalidInput("Cannot use CIDR %s with IP version %d", masked, spec.ipVersion)
		}
		spec.prefix, spec.hasCIDR = masked, true
	}
	if b.Has("gateway_ip") {
		if b.IsNull("gateway_ip") {
			spec.gatewayMode = "none"
		} else {
			g, _, err := b.str("gateway_ip", 64, false)
			if err != nil {
				return nil, err
			}
			a, perr := ipam.ParseIP(g)
			if perr != nil {
				return nil, invalidAttr("gateway_ip", perr.Error())
			}
			spec.gateway, spec.gatewayMode = a, "explicit"
		}
	}
	if spec.enableDHCP, ok, err = b.boolean("enable_dhcp"); err != nil {
		return nil, err
	} else if !ok {
		spec.enableDHCP = true
	}
	if spec.publishFixedIP, _, err = b.boolean("dns_publish_fixed_ip"); err != nil {
		return nil, err
	}
	if spec.pools, spec.hasPools, err = parsePools(b); err != nil {
		return nil, err
	}
	if spec.dns, _, err = s.parseDNS(b); err != nil {
		return nil, err
	}
	if spec.routes, _, err = s.parseRoutes(b); err != nil {
		return nil, err
	}
	if spec.raMode, _, err = b.str("ipv6_ra_mode", 0, true); err != nil {
		return nil, err
	}
	if spec.addrMode, _, err = b.str("ipv6_address_mode", 0, true); err != nil {
		return nil, err
	}
	for _, m := range []struct{ key, v string }{{"ipv6_ra_mode", spec.raMode}, {"ipv6_address_mode", spec.addrMode}} {
		if m.v != "" && m.v != modeSLAAC && m.v != modeStateful && m.v != modeStateless {
			return nil, invalidAttr(m.key, fmt.Sprintf("'%s' is not in ['dhcpv6-stateful', 'dhcpv6-stateless', 'slaac', None]", truncate(m.v, 64)))
		}
	}
	if spec.poolID, _, err = b.str("subnetpool_id", 36, true); err != nil {
		return nil, err
	}
	if spec.useDefaultPool, _, err = b.boolean("use_default_subnetpool"); err != nil {
		return nil, err
	}
	if b.Has("prefixlen") && !b.IsNull("prefixlen") {
		if spec.prefixlen, spec.hasPrefixlen, err = b.integer("prefixlen"); err != nil {
			return nil, err
		}
	}
	if spec.segmentID, _, err = b.str("segment_id", 36, true); err != nil {
		return nil, err
	}
	if st, ok, err := b.strList("service_types"); err != nil {
		return nil, err
	} else if ok {
		for _, t := range st {
			if !strings.Contains(t, ":") || len(t) > 255 {
				return nil, invalidAttr("service_types", fmt.Sprintf("Invalid service type %s", truncate(t, 64)))
			}
		}
		spec.serviceTypes = st
	}
	if spec.tags, err = createTags(b.Object); err != nil {
		return nil, err
	}
	if !spec.hasCIDR && spec.poolID == "" && !spec.useDefaultPool {
		return nil, badResourceRequest("subnets", "a subnetpool must be specified in the absence of a cidr")
	}
	return spec, nil
}

// parsePools reads allocation_pools.
func parsePools(b body) ([]ipam.Pool, bool, error) {
	list, ok, err := b.List("allocation_pools")
	if err != nil {
		return nil, true, invalidAttr("allocation_pools", "Invalid data format for IP pool")
	}
	if !ok || b.IsNull("allocation_pools") {
		return nil, false, nil
	}
	var out []ipam.Pool
	for _, p := range list {
		st, _ := p["start"].(string)
		en, _ := p["end"].(string)
		if len(p) != 2 || st == "" || en == "" {
			return nil, true, invalidAttr("allocation_pools", fmt.Sprintf("Invalid data format for IP pool: '%s'", describeValue(map[string]any(p))))
		}
		a, err1 := ipam.ParseIP(st)
		z, err2 := ipam.ParseIP(en)
		if err1 != nil || err2 != nil {
			return nil, true, invalidAttr("allocation_pools", fmt.Sprintf("'%s' is not a valid IP address", truncate(st+"-"+en, 80)))
		}
		out = append(out, ipam.Pool{Start: a, End: z})
	}
	return out, true, nil
}

// parseDNS reads dns_nameservers: valid, unique addresses, at most MaxDNSNameservers.
func (s *Service) parseDNS(b body) ([]string, bool, error) {
	list, ok, err := b.strList("dns_nameservers")
	if err != nil || !ok {
		return nil, ok, err
	}
	var out []string
	for _, d := range list {
		a, perr := ipam.ParseIP(d)
		if perr != nil {
			return nil, true, invalidAttr("dns_nameservers", fmt.Sprintf("'%s' is not a valid nameserver. '%s' is not a valid IP address", truncate(d, 64), truncate(d, 64)))
		}
		if slices.Contains(out, a.String()) {
			return nil, true, invalidAttr("dns_nameservers", fmt.Sprintf("Duplicate nameserver '%s'", d))
		}
		out = append(out, a.String())
	}
	if len(out) > s.cfg.MaxDNSNameservers {
		return nil, true, badRequest("Unable to complete operation for subnet. The number of DNS nameservers exceeds the limit %d.", s.cfg.MaxDNSNameservers)
	}
	return out, true, nil
}

// parseRoutes reads host_routes: destination CIDR and nexthop address, unique, at most
// MaxSubnetHostRoutes.
func (s *Service) parseRoutes(b body) ([]map[string]string, bool, error) {
	list, ok, err := b.List("host_routes")
	if err != nil {
		return nil, true, invalidAttr("host_routes", "Invalid data format for hostroute")
	}
	if !ok || b.IsNull("host_routes") {
		return nil, ok, nil
	}
	out := []map[string]string{}
	for _, rt := range list {
		d, _ := rt["destination"].(string)
		n, _ := rt["nexthop"].(string)
		if len(rt) != 2 || d == "" || n == "" {
			return nil, true, invalidAttr("host_routes", "Invalid data format for hostroute")
		}
		_, masked, perr := ipam.ParseCIDR(d)
		if perr != nil {
			return nil, true, invalidAttr("host_routes", perr.Error())
		}
		nh, perr := ipam.ParseIP(n)
		if perr != nil {
			return nil, true, invalidAttr("host_routes", perr.Error())
		}
		e := map[string]string{"destination": masked.String(), "nexthop": nh.String()}
		for _, o := range out {
			if o["destination"] == e["destination"] && o["nexthop"] == e["nexthop"] {
				return nil, true, invalidAttr("host_routes", fmt.Sprintf("Duplicate hostroute '%s'", d))
			}
		}
		out = append(out, e)
	}
	if len(out) > s.cfg.MaxSubnetHostRoutes {
		return nil, true, badRequest("Unable to complete operation for subnet. The number of host routes exceeds the limit %d.", s.cfg.MaxSubnetHostRoutes)
	}
	return out, true, nil
}

// finishSubnetSpec applies the rules that need the network's other subnets: IPv6 modes,
// overlap, gateway and pools.
func (s *Service) finishSubnetSpec(ctx context.Context, tx *store.Tx, spec *subnetSpec) error {
	p := spec.prefix
	if spec.ipVersion == 4 && (spec.raMode != "" || spec.addrMode != "") {
		key := "ipv6_ra_mode"
		if spec.raMode == "" {
			key = "ipv6_address_mode"
		}
		return invalidInput("%s is not valid when ip_version is 4", key)
	}
	if spec.ipVersion == 6 {
		if !spec.enableDHCP && (spec.raMode != "" || spec.addrMode != "") {
			return invalidInput("ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False")
		}
		if spec.raMode != "" && spec.addrMode != "" && spec.raMode != spec.addrMode {
			return invalidInput("ipv6_ra_mode set to '%s' with ipv6_address_mode set to '%s' is not valid. If both attributes are set, they must be the same value",
				spec.raMode, spec.addrMode)
		}
		if (spec.addrMode == modeSLAAC || spec.addrMode == modeStateless || spec.raMode == modeSLAAC || spec.raMode == modeStateless) && p.Bits() != 64 {
			return invalidInput("Invalid CIDR %s for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64", p)
		}
	}
	if spec.ipVersion == 4 && spec.enableDHCP && p.Bits() >= 31 {
		return invalidInput("Subnet has a prefix length that is incompatible with DHCP service enabled")
	}
	others, err := loadSubnetRows(ctx, tx, ` AND network_id = ?`, spec.networkID)
	if err != nil {
		return err
	}
	for _, o := range others {
		if ipam.Overlaps(o.prefix, p) {
			return invalidInput("Requested subnet with cidr: %s for network: %s overlaps with another subnet", p, spec.networkID)
		}
	}
	if spec.segmentID != "" {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM net_segments WHERE id = ? AND network_id = ?`,
			spec.segmentID, spec.networkID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return nerr(http.StatusNotFound, "SegmentNotFound", "Segment %s could not be found.", spec.segmentID)
		}
	}
	switch spec.gatewayMode {
	case "auto":
		if first, _, ok := ipam.Usable(p); ok {
			spec.gateway = first
			if spec.hasPools && !ipam.InPools(spec.pools, first) {
				// Neutron picks the first address outside the given pools only when the
				// default would clash; keep the default otherwise.
				spec.gateway = first
			}
		}
	case "explicit":
		g := spec.gateway
		if g.BitLen() != p.Addr().BitLen() {
			return invalidInput("Gateway is not valid on subnet")
		}
		if p.Addr().Is4() && p.Contains(g) && (g == ipam.First(p) || g == ipam.Last(p)) {
			return invalidInput("Gateway is not valid on subnet")
		}
		if p.Addr().Is6() && g == ipam.First(p) && p.Bits() < 127 {
			// The subnet-router anycast address is allowed as gateway in Neutron.
		}
	}
	if spec.hasPools {
		if err := ipam.ValidatePools(p, spec.pools, spec.gateway); err != nil {
			return poolError(err)
		}
	} else {
		spec.pools = ipam.DefaultPools(p, spec.gateway)
	}
	return nil
}

// poolError maps an ipam pool error to Neutron's exception.
func poolError(err error) error {
	pe, ok := err.(*ipam.PoolError)
	if !ok {
		return err
	}
	switch pe.Kind {
	case "OverlappingAllocationPools", "GatewayConflictWithAllocationPools":
		return nerr(http.StatusConflict, pe.Kind, "%s", pe.Message)
	}
	return nerr(http.StatusBadRequest, pe.Kind, "%s", pe.Message)
}

// insertSubnet writes a validated subnet.
func (s *Service) insertSubnet(ctx context.Context, tx *store.Tx, spec *subnetSpec) error {
	ts := store.FormatTime(now())
	var gw, ra, am, pool, seg any
	if spec.gateway.IsValid() {
		gw = spec.gateway.String()
	}
	if spec.raMode != "" {
		ra = spec.raMode
	}
	if spec.addrMode != "" {
		am = spec.addrMode
	}
	if spec.poolID != "" {
		pool = spec.poolID
	}
	if spec.segmentID != "" {
		seg = spec.segmentID
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO net_subnets (id, project_id, name, description, network_id, ip_version,
		cidr, gateway_ip, enable_dhcp, ipv6_ra_mode, ipv6_address_mode, subnetpool_id, segment_id, dns_nameservers,
		host_routes, allocation_pools, service_types, dns_publish_fixed_ip, revision_number, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
		spec.id, spec.project, spec.name, spec.description, spec.networkID, spec.ipVersion, spec.prefix.String(),
		gw, spec.enableDHCP, ra, am, pool, seg, jsonText(spec.dns, "[]"), jsonText(spec.routes, "[]"),
		poolsJSON(spec.pools), jsonText(spec.serviceTypes, "[]"), spec.publishFixedIP, ts, ts)
	if err != nil {
		return err
	}
	if err := setTags(ctx, tx, "subnets", spec.id, spec.tags); err != nil {
		return err
	}
	// A new subnet changes its network (Neutron bumps the parent's revision).
	return s.bump(ctx, tx, s.kinds["networks"], spec.networkID, nil)
}

func jsonText(v any, empty string) string {
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return empty
	}
	return string(b)
}

func poolsJSON(pools []ipam.Pool) string {
	out := make([]map[string]string, 0, len(pools))
	for _, p := range pools {
		out = append(out, map[string]string{"start": p.Start.String(), "end": p.End.String()})
	}
	return jsonText(out, "[]")
}

var subnetUpdateAttrs = []string{"name", "description", "gateway_ip", "allocation_pools", "dns_nameservers",
	"host_routes", "enable_dhcp", "service_types", "segment_id", "dns_publish_fixed_ip"}

func (s *Service) updateSubnet(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["subnets"]
	id := r.PathValue("id")
	b, err := decode(r, "subnet")
	if err != nil {
		return err
	}
	if err := b.readOnly("id", "cidr", "ip_version", "network_id", "tenant_id", "project_id", "subnetpool_id",
		"ipv6_ra_mode", "ipv6_address_mode", "created_at", "updated_at", "revision_number"); err != nil {
		return err
	}
	if err := b.known(subnetUpdateAttrs...); err != nil {
		return err
	}
	match, err := ifMatch(r)
	if err != nil {
		return err
	}
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "update_subnet", rec); err != nil {
		return err
	}
	if err := s.authorizeAttrs(c, k, "update", b.Object, k.target(rec), factsOf(k, rec)); err != nil {
		return err
	}
	sets := []string{}
	var args []any
	set := func(col string, v any) { sets, args = append(sets, col+" = ?"), append(args, v) }
	name, desc, hasName, hasDesc, err := b.nameAndDescription()
	if err != nil {
		return err
	}
	if hasName {
		set("name", name)
	}
	if hasDesc {
		set("description", desc)
	}
	if v, ok, err := b.boolean("enable_dhcp"); err != nil {
		return err
	} else if ok {
		if !v && (rec["ipv6_ra_mode"] != nil || rec["ipv6_address_mode"] != nil) {
			return invalidInput("Cannot disable enable_dhcp with ipv6 attributes set")
		}
		set("enable_dhcp", v)
	}
	if v, ok, err := b.boolean("dns_publish_fixed_ip"); err != nil {
		return err
	} else if ok {
		set("dns_publish_fixed_ip", v)
	}
	if dns, ok, err := s.parseDNS(b); err != nil {
		return err
	} else if ok {
		set("dns_nameservers", jsonText(dns, "[]"))
	}
	if routes, ok, err := s.parseRoutes(b); err != nil {
		return err
	} else if ok {
		set("host_routes", jsonText(routes, "[]"))
	}
	if st, ok, err := b.strList("service_types"); err != nil {
		return err
	} else if ok {
		set("service_types", jsonText(st, "[]"))
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		rows, err := loadSubnetRows(r.Context(), tx, ` AND id = ?`, id)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return subnetNotFound(id)
		}
		sr := rows[0]
		gateway, pools := sr.gateway, sr.pools
		gwChanged := false
		if b.Has("gateway_ip") {
			gwChanged = true
			if b.IsNull("gateway_ip") {
				gateway = netip.Addr{}
			} else {
				g, _, err := b.str("gateway_ip", 64, false)
				if err != nil {
					return err
				}
				a, perr := ipam.ParseIP(g)
				if perr != nil {
					return invalidAttr("gateway_ip", perr.Error())
				}
				if a.BitLen() != sr.prefix.Addr().BitLen() || (sr.prefix.Addr().Is4() && sr.prefix.Contains(a) &&
					(a == ipam.First(sr.prefix) || a == ipam.Last(sr.prefix))) {
					return invalidInput("Gateway is not valid on subnet")
				}
				var used int
				if err := tx.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM net_ip_allocations a JOIN net_ports p ON p.id = a.port_id
					WHERE a.subnet_id = ? AND a.ip_address = ? AND p.device_owner NOT IN ('network:router_interface',
					'network:router_interface_distributed', 'network:ha_router_replicated_interface')`, id, a.String()).Scan(&used); err != nil {
					return err
				}
				if used > 0 {
					return inUse("GatewayIpInUse", "Current gateway ip %s already in use by port %s. Unable to update.", a, "")
				}
				gateway = a
			}
		}
		newPools, hasPools, err := parsePools(b)
		if err != nil {
			return err
		}
		if hasPools {
			pools = newPools
		}
		if hasPools || gwChanged {
			if err := ipam.ValidatePools(sr.prefix, pools, gateway); err != nil {
				return poolError(err)
			}
		}
		if gwChanged {
			if gateway.IsValid() {
				set("gateway_ip", gateway.String())
			} else {
				set("gateway_ip", nil)
			}
		}
		if hasPools {
			set("allocation_pools", poolsJSON(pools))
		}
		if err := s.bump(r.Context(), tx, k, id, match); err != nil {
			return err
		}
		if len(sets) > 0 {
			_, err := tx.ExecContext(r.Context(), `UPDATE net_subnets SET `+strings.Join(sets, ", ")+` WHERE id = ?`, append(args, id)...)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.notify()
	return s.writeOne(w, c, k, http.StatusOK, id, r.Context())
}

func (s *Service) deleteSubnet(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["subnets"]
	id := r.PathValue("id")
	match, err := ifMatch(r)
	if err != nil {
		return err
	}
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "delete_subnet", rec); err != nil {
		return err
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.checkRevision(r.Context(), tx, k, id, match); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM net_ip_allocations a JOIN net_ports p ON p.id = a.port_id
			WHERE a.subnet_id = ? AND p.device_owner NOT LIKE 'network:%'`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return inUse("SubnetInUse", "Unable to complete operation on subnet %s: One or more ports have an IP allocation from this subnet.", id)
		}
		for _, q := range []string{
			`DELETE FROM net_ip_allocations WHERE subnet_id = ?`,
			`DELETE FROM net_tags WHERE resource_type = 'subnets' AND resource_id = ?`,
			`DELETE FROM net_subnets WHERE id = ?`,
		} {
			if _, err := tx.ExecContext(r.Context(), q, id); err != nil {
				return err
			}
		}
		return s.bump(r.Context(), tx, s.kinds["networks"], rec["network_id"].(string), nil)
	})
	if err != nil {
		return err
	}
	s.notify()
	w.WriteHeader(http.StatusNoContent)
	return nil
}
