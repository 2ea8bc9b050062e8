package network

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	netdriver "github.com/gostack/gostack/internal/driver/network"
	"github.com/gostack/gostack/internal/store"
)

// DesiredState builds what host must realise: the ports bound to it, their networks
// with segments and subnets, their security group ids, and the DHCP entries of those
// subnets. Routers and floating IPs join the state when those resources exist.
func (s *Service) DesiredState(ctx context.Context, host string) (*netdriver.State, error) {
	st := &netdriver.State{Host: host, Metadata: true}
	rows, ips, sgs, err := loadPortRows(ctx, s.db, ` AND binding_host_id = ?`, []any{host}, "")
	if err != nil {
		return nil, fmt.Errorf("desired state: %w", err)
	}
	netIDs := map[string]bool{}
	for _, p := range rows {
		netIDs[p.NetworkID] = true
	}
	trunks, err := s.trunksOn(ctx, rows)
	if err != nil {
		return nil, fmt.Errorf("desired state: %w", err)
	}
	for _, t := range trunks {
		for _, sp := range t.SubPorts {
			netIDs[sp.NetworkID] = true
		}
	}
	// DHCP ports of those networks are realised where their network's ports are.
	if err := s.attachNetworks(ctx, st, netIDs); err != nil {
		return nil, err
	}
	mtu := map[string]int{}
	for _, n := range st.Networks {
		mtu[n.ID] = n.MTU
	}
	for _, p := range rows {
		port := netdriver.Port{ID: p.ID, NetworkID: p.NetworkID, ProjectID: p.ProjectID, DeviceID: p.DeviceID,
			DeviceOwner: p.DeviceOwner, MACAddress: p.MAC, AdminStateUp: p.Admin, MTU: mtu[p.NetworkID],
			PortSecurity: p.PortSec, SecurityGroupIDs: sgs[p.ID], VNICType: p.VNIC, Trunk: trunks[p.ID]}
		for _, f := range ips[p.ID] {
			port.FixedIPs = append(port.FixedIPs, netdriver.FixedIP{SubnetID: f.SubnetID, IPAddress: f.IP})
		}
		var pairs []map[string]string
		_ = json.Unmarshal([]byte(p.Pairs), &pairs)
		for _, pr := range pairs {
			port.AllowedAddressPairs = append(port.AllowedAddressPairs, netdriver.AddressPair{IPAddress: pr["ip_address"], MACAddress: pr["mac_address"]})
		}
		_ = json.Unmarshal([]byte(p.Profile), &port.Profile)
		st.Ports = append(st.Ports, port)
		for _, id := range port.SecurityGroupIDs {
			if !slices.ContainsFunc(st.SecurityGroups, func(g netdriver.SecurityGroup) bool { return g.ID == id }) {
				st.SecurityGroups = append(st.SecurityGroups, netdriver.SecurityGroup{ID: id, Stateful: true})
			}
		}
	}
	if err := s.attachDHCP(ctx, st, netIDs); err != nil {
		return nil, err
	}
	if err := s.attachSecurityGroups(ctx, st); err != nil {
		return nil, err
	}
	if err := s.attachQoS(ctx, st); err != nil {
		return nil, err
	}
	if host == s.cfg.Host {
		if err := s.attachRouters(ctx, st); err != nil {
			return nil, err
		}
	}
	var rev int64
	_ = s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(revision_number), 0) + COUNT(*) FROM net_ports WHERE binding_host_id = ?`, host).Scan(&rev)
	// QoS rule changes bump their policy, subport changes their trunk.
	var extra int64
	_ = s.db.QueryRowContext(ctx, `SELECT (SELECT COALESCE(SUM(revision_number), 0) + COUNT(*) FROM net_qos_policies)
		+ (SELECT COALESCE(SUM(revision_number), 0) + COUNT(*) FROM net_trunks) + (SELECT COUNT(*) FROM net_qos_bindings)`).Scan(&extra)
	st.Revision = rev + extra
	return st, nil
}

// attachNetworks adds the networks (with segments and subnets) of ids to st.
func (s *Service) attachNetworks(ctx context.Context, st *netdriver.State, ids map[string]bool) error {
	if len(ids) == 0 {
		return nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT n.id, n.name, n.project_id, n.admin_state_up, n.mtu, n.router_external,
		g.network_type, g.physical_network, g.segmentation_id FROM net_networks n JOIN net_segments g ON g.network_id = n.id
		ORDER BY n.id, g.segment_index`)
	if err != nil {
		return err
	}
	idx := map[string]int{}
	for rows.Next() {
		var n netdriver.Network
		var seg netdriver.Segment
		if err := rows.Scan(&n.ID, &n.Name, &n.ProjectID, &n.AdminStateUp, &n.MTU, &n.External, &seg.NetworkType,
			&seg.PhysicalNetwork, &seg.SegmentationID); err != nil {
			rows.Close()
			return err
		}
		if !ids[n.ID] {
			continue
		}
		i, ok := idx[n.ID]
		if !ok {
			st.Networks = append(st.Networks, n)
			i = len(st.Networks) - 1
			idx[n.ID] = i
		}
		st.Networks[i].Segments = append(st.Networks[i].Segments, seg)
	}
	rows.Close()
	subnets, err := loadSubnetRows(ctx, s.db, "")
	if err != nil {
		return err
	}
	for _, sr := range subnets {
		i, ok := idx[sr.NetworkID]
		if !ok {
			continue
		}
		sub := netdriver.Subnet{ID: sr.ID, CIDR: sr.CIDR, IPVersion: int(sr.IPVersion), EnableDHCP: sr.EnableDHCP}
		if sr.Gateway != nil {
			sub.GatewayIP = *sr.Gateway
		}
		if sr.RAMode != nil {
			sub.IPv6RAMode = *sr.RAMode
		}
		if sr.AddrMode != nil {
			sub.IPv6AddressMode = *sr.AddrMode
		}
		_ = json.Unmarshal([]byte(sr.DNS), &sub.DNSNameservers)
		var routes []map[string]string
		_ = json.Unmarshal([]byte(sr.Routes), &routes)
		for _, r := range routes {
			sub.HostRoutes = append(sub.HostRoutes, netdriver.Route{Destination: r["destination"], NextHop: r["nexthop"]})
		}
		st.Networks[i].Subnets = append(st.Networks[i].Subnets, sub)
	}
	return nil
}

// attachDHCP adds a DHCP entry for every port with an address on a DHCP-enabled subnet
// of the networks in ids.
func (s *Service) attachDHCP(ctx context.Context, st *netdriver.State, ids map[string]bool) error {
	if len(ids) == 0 {
		return nil
	}
	for _, n := range st.Networks {
		rows, ips, _, err := loadPortRows(ctx, s.db, ` AND network_id = ?`, []any{n.ID}, "")
		if err != nil {
			return err
		}
		for _, sub := range n.Subnets {
			if !sub.EnableDHCP {
				continue
			}
			ds := netdriver.DHCPSubnet{NetworkID: n.ID, SubnetID: sub.ID}
			for _, p := range rows {
				for _, f := range ips[p.ID] {
					if f.SubnetID != sub.ID {
						continue
					}
					if p.DeviceOwner == "network:dhcp" {
						ds.ServerIP = f.IP
						continue
					}
					e := netdriver.DHCPEntry{PortID: p.ID, MACAddress: p.MAC, IPAddress: f.IP, Hostname: p.DNSName}
					var opts []map[string]any
					_ = json.Unmarshal([]byte(p.DHCPOpts), &opts)
					for _, o := range opts {
						v, _ := o["opt_value"].(string)
						ver, _ := o["ip_version"].(float64)
						e.Options = append(e.Options, netdriver.DHCPOption{Name: fmt.Sprint(o["opt_name"]), Value: v, IPVersion: int(ver)})
					}
					ds.Entries = append(ds.Entries, e)
				}
			}
			st.DHCP = append(st.DHCP, ds)
		}
	}
	return nil
}

// ApplyOnce hands the configured host's desired state to the driver and records the
// port statuses it reports.
func (s *Service) ApplyOnce(ctx context.Context) error {
	if s.cfg.Driver == nil {
		return nil
	}
	st, err := s.DesiredState(ctx, s.cfg.Host)
	if err != nil {
		return err
	}
	rep, err := s.cfg.Driver.Apply(ctx, st)
	if err != nil {
		return fmt.Errorf("apply network state: %w", err)
	}
	if rep == nil {
		return nil
	}
	if rep.Alive {
		if err := s.Heartbeat(ctx, s.cfg.Host); err != nil {
			return err
		}
	}
	if err := s.syncTrunkStatus(ctx, rep.PortStatus); err != nil {
		return err
	}
	ids := make([]string, 0, len(rep.PortStatus))
	for id := range rep.PortStatus {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if err := s.SetPortStatus(ctx, id, rep.PortStatus[id]); err != nil {
			return err
		}
	}
	fips := make([]string, 0, len(st.FloatingIPs))
	for _, f := range st.FloatingIPs {
		fips = append(fips, f.ID)
	}
	return s.setFloatingIPStatus(ctx, fips)
}

// setFloatingIPStatus marks the floating IPs a driver realised ACTIVE and every other
// one DOWN, bumping the revision of those that change.
func (s *Service) setFloatingIPStatus(ctx context.Context, active []string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		ts := store.FormatTime(now())
		args := []any{ts}
		notIn := ""
		if len(active) > 0 {
			notIn = ` AND id NOT IN (` + placeholders(len(active)) + `)`
			for _, id := range active {
				args = append(args, id)
			}
			act := append([]any{ts}, args[1:]...)
			if _, err := tx.ExecContext(ctx, `UPDATE net_floatingips SET status = 'ACTIVE', revision_number = revision_number + 1,
				updated_at = ? WHERE status <> 'ACTIVE' AND id IN (`+placeholders(len(active))+`)`, act...); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE net_floatingips SET status = 'DOWN', revision_number = revision_number + 1,
			updated_at = ? WHERE status <> 'DOWN'`+notIn, args...)
		return err
	})
}

// attachSecurityGroups fills the rules and member addresses of the groups st's ports use.
func (s *Service) attachSecurityGroups(ctx context.Context, st *netdriver.State) error {
	if len(st.SecurityGroups) == 0 {
		return nil
	}
	ids := make([]any, 0, len(st.SecurityGroups))
	for _, g := range st.SecurityGroups {
		ids = append(ids, g.ID)
	}
	rules, err := loadRuleRows(ctx, s.db, ` AND r.security_group_id IN (`+placeholders(len(ids))+`)`, ids...)
	if err != nil {
		return err
	}
	var stateful = map[string]bool{}
	rows, err := s.db.QueryContext(ctx, `SELECT id, stateful FROM net_security_groups WHERE id IN (`+placeholders(len(ids))+`)`, ids...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id string
		var sf bool
		if err := rows.Scan(&id, &sf); err != nil {
			rows.Close()
			return err
		}
		stateful[id] = sf
	}
	rows.Close()
	addrGroups, err := addressGroupAddresses(ctx, s.db, "")
	if err != nil {
		return err
	}
	members := map[string][]string{}
	mrows, err := s.db.QueryContext(ctx, `SELECT b.security_group_id, a.ip_address FROM net_port_security_groups b
		JOIN net_ip_allocations a ON a.port_id = b.port_id WHERE b.security_group_id IN (`+placeholders(len(ids))+`)
		ORDER BY b.security_group_id, a.ip_address`, ids...)
	if err != nil {
		return err
	}
	for mrows.Next() {
		var g, ip string
		if err := mrows.Scan(&g, &ip); err != nil {
			mrows.Close()
			return err
		}
		members[g] = append(members[g], ip)
	}
	mrows.Close()
	for i := range st.SecurityGroups {
		g := &st.SecurityGroups[i]
		g.Stateful = stateful[g.ID]
		g.MemberIPs = members[g.ID]
		for _, rr := range rules {
			if rr.SGID != g.ID {
				continue
			}
			rule := netdriver.SecurityGroupRule{ID: rr.ID, Direction: rr.Direction, EtherType: rr.EtherType}
			if rr.Protocol != nil {
				rule.Protocol = *rr.Protocol
			}
			if rr.PortMin != nil {
				rule.PortRangeMin = int(*rr.PortMin)
			}
			if rr.PortMax != nil {
				rule.PortRangeMax = int(*rr.PortMax)
			}
			if rr.RemoteIP != nil {
				rule.RemoteIPPrefix = *rr.RemoteIP
			}
			if rr.RemoteGroup != nil {
				rule.RemoteGroupID = *rr.RemoteGroup
			}
			if rr.RemAG != nil {
				rule.RemoteAddressGroupCIDRs = addrGroups[*rr.RemAG]
			}
			g.Rules = append(g.Rules, rule)
		}
	}
	return nil
}

// attachRouters adds every router with its interfaces, gateway and routes, and the
// associated floating IPs.
func (s *Service) attachRouters(ctx context.Context, st *netdriver.State) error {
	routers, err := loadRouterRows(ctx, s.db, "")
	if err != nil || len(routers) == 0 {
		return err
	}
	routes, err := loadRoutes(ctx, s.db, "")
	if err != nil {
		return err
	}
	ports, ips, _, err := loadPortRows(ctx, s.db, ` AND device_owner IN (?, ?)`, []any{ownerRouterInterface, ownerRouterGateway}, "")
	if err != nil {
		return err
	}
	subnets, err := loadSubnetRows(ctx, s.db, "")
	if err != nil {
		return err
	}
	cidr := map[string]string{}
	for _, sr := range subnets {
		cidr[sr.ID] = sr.CIDR
	}
	for _, rr := range routers {
		rt := netdriver.Router{ID: rr.ID, ProjectID: rr.ProjectID, AdminStateUp: rr.Admin, Distributed: rr.Distributed, HA: rr.HA}
		for _, p := range ports {
			if p.DeviceID != rr.ID {
				continue
			}
			if p.DeviceOwner == ownerRouterGateway {
				gw := &netdriver.RouterGateway{PortID: p.ID, NetworkID: p.NetworkID, MACAddress: p.MAC, EnableSNAT: rr.SNAT}
				for _, f := range ips[p.ID] {
					gw.FixedIPs = append(gw.FixedIPs, netdriver.FixedIP{SubnetID: f.SubnetID, IPAddress: f.IP})
				}
				rt.Gateway = gw
				continue
			}
			for _, f := range ips[p.ID] {
				rt.Interfaces = append(rt.Interfaces, netdriver.RouterInterface{PortID: p.ID, NetworkID: p.NetworkID,
					SubnetID: f.SubnetID, IPAddress: f.IP, CIDR: cidr[f.SubnetID], MACAddress: p.MAC})
			}
		}
		for _, r := range routes[rr.ID] {
			rt.Routes = append(rt.Routes, netdriver.Route{Destination: r.Destination, NextHop: r.NextHop})
		}
		st.Routers = append(st.Routers, rt)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, router_id, floating_ip_address, fixed_ip_address, fixed_port_id
		FROM net_floatingips WHERE router_id IS NOT NULL ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var f netdriver.FloatingIP
		if err := rows.Scan(&f.ID, &f.RouterID, &f.FloatingIPAddress, &f.FixedIPAddress, &f.PortID); err != nil {
			return err
		}
		st.FloatingIPs = append(st.FloatingIPs, f)
	}
	return rows.Err()
}

// Run applies the desired state whenever it changes and every ApplyInterval, until ctx
// ends. Without a driver it returns at once.
func (s *Service) Run(ctx context.Context) error {
	if s.cfg.Driver == nil {
		return nil
	}
	t := time.NewTicker(s.cfg.ApplyInterval)
	defer t.Stop()
	for {
		if err := s.ApplyOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("network driver apply failed", "host", s.cfg.Host, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-t.C:
		}
	}
}

// trunksOn returns the trunks whose parent is one of ports, by parent port id, with
// their subports' ports.
func (s *Service) trunksOn(ctx context.Context, ports []*portRow) (map[string]*netdriver.Trunk, error) {
	out := map[string]*netdriver.Trunk{}
	if len(ports) == 0 {
		return out, nil
	}
	parent := map[string]bool{}
	for _, p := range ports {
		parent[p.ID] = true
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, port_id, admin_state_up FROM net_trunks ORDER BY id`)
	if err != nil {
		return nil, err
	}
	byTrunk := map[string]*netdriver.Trunk{}
	for rows.Next() {
		var id, port string
		var admin bool
		if err := rows.Scan(&id, &port, &admin); err != nil {
			rows.Close()
			return nil, err
		}
		if parent[port] {
			t := &netdriver.Trunk{ID: id, AdminStateUp: admin}
			out[port], byTrunk[id] = t, t
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(byTrunk) == 0 {
		return out, err
	}
	subs, err := loadSubports(ctx, s.db, "")
	if err != nil {
		return nil, err
	}
	for _, sp := range subs {
		t := byTrunk[sp.TrunkID]
		if t == nil {
			continue
		}
		prow, ips, _, err := loadPortRows(ctx, s.db, ` AND id = ?`, []any{sp.PortID}, sp.PortID)
		if err != nil {
			return nil, err
		}
		if len(prow) == 0 {
			continue
		}
		d := netdriver.SubPort{PortID: sp.PortID, NetworkID: prow[0].NetworkID, MACAddress: prow[0].MAC,
			SegmentationType: sp.SegType, SegmentationID: int(sp.SegID)}
		for _, f := range ips[sp.PortID] {
			d.FixedIPs = append(d.FixedIPs, netdriver.FixedIP{SubnetID: f.SubnetID, IPAddress: f.IP})
		}
		t.SubPorts = append(t.SubPorts, d)
	}
	return out, nil
}

// attachQoS sets the networks' and ports' QoS policies and adds the policies they use
// with their rules. A port enforces its own policy, else its network's unless a network
// device owns it (router gateways excepted), as Neutron's QosRule.should_apply_to_port.
func (s *Service) attachQoS(ctx context.Context, st *netdriver.State) error {
	nets, err := loadQosBindings(ctx, s.db, "network", "")
	if err != nil {
		return err
	}
	ports, err := loadQosBindings(ctx, s.db, "port", "")
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for i := range st.Networks {
		n := &st.Networks[i]
		n.QoSPolicyID = nets[n.ID]
		if n.QoSPolicyID != "" {
			used[n.QoSPolicyID] = true
		}
	}
	for i := range st.Ports {
		p := &st.Ports[i]
		pid := ports[p.ID]
		device := strings.HasPrefix(p.DeviceOwner, "network:") || strings.HasPrefix(p.DeviceOwner, "neutron:")
		if pid == "" && (!device || p.DeviceOwner == ownerRouterGateway) {
			pid = nets[p.NetworkID]
		}
		p.QoSPolicyID = pid
		if pid != "" {
			used[pid] = true
		}
	}
	if len(used) == 0 {
		return nil
	}
	rules, err := loadQosRuleRows(ctx, s.db, "")
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(used))
	for id := range used {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		pol := netdriver.QoSPolicy{ID: id}
		for _, rr := range rules {
			if rr.PolicyID != id {
				continue
			}
			rule := netdriver.QoSRule{ID: rr.ID, Type: rr.Type}
			if rr.Direction != nil {
				rule.Direction = *rr.Direction
			}
			for _, f := range []struct {
				src *int64
				dst *int64
			}{{rr.MaxKbps, &rule.MaxKbps}, {rr.MaxBurst, &rule.MaxBurstKbps}, {rr.MinKbps, &rule.MinKbps}} {
				if f.src != nil {
					*f.dst = *f.src
				}
			}
			if rr.DSCPMark != nil {
				rule.DSCPMark = int(*rr.DSCPMark)
			}
			pol.Rules = append(pol.Rules, rule)
		}
		st.QoSPolicies = append(st.QoSPolicies, pol)
	}
	return nil
}
