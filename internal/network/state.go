package network

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
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
			PortSecurity: p.PortSec, SecurityGroupIDs: sgs[p.ID], VNICType: p.VNIC}
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
	// TODO(routers): add Routers and FloatingIPs once the router and floating IP
	// resources exist; the contract already carries them.
	var rev int64
	_ = s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(revision_number), 0) + COUNT(*) FROM net_ports WHERE binding_host_id = ?`, host).Scan(&rev)
	st.Revision = rev
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
	return nil
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

var _ = store.FormatTime
