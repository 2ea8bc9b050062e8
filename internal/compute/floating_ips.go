package compute

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gostack/gostack/internal/api"
)

// Nova's floating IP APIs (os-floating-ip-pools, os-floating-ips, addFloatingIp and
// removeFloatingIp) are proxies to Neutron's floating IPs, made as the requesting user
// (nova/network/neutron.py's floating IP half). After an association changes, the
// instance's network info is refreshed so that its addresses show the floating IP.

// neutronFIP is the part of a Neutron floating IP compute reads.
type neutronFIP struct {
	ID                string  `json:"id"`
	FloatingIPAddress string  `json:"floating_ip_address"`
	FixedIPAddress    *string `json:"fixed_ip_address"`
	PortID            *string `json:"port_id"`
	FloatingNetworkID string  `json:"floating_network_id"`
	PortDetails       *struct {
		DeviceID string `json:"device_id"`
	} `json:"port_details"`
}

// fipView is Nova's floating IP view; pool is the external network's name (or id).
func fipView(f *neutronFIP, pool string) map[string]any {
	var instance any
	if f.PortDetails != nil {
		instance = f.PortDetails.DeviceID
	}
	return map[string]any{"id": f.ID, "ip": f.FloatingIPAddress, "fixed_ip": f.FixedIPAddress,
		"instance_id": instance, "pool": pool}
}

// poolName is the floating IP's pool as Nova names it: its network's name, else its id.
func (s *Service) poolName(ctx context.Context, caller *api.Caller, netID string, cache map[string]string) (string, error) {
	if n, ok := cache[netID]; ok {
		return n, nil
	}
	n, found, err := s.getNetwork(ctx, caller, netID)
	if err != nil {
		return "", err
	}
	name := netID
	if found && n.Name != "" {
		name = n.Name
	}
	if cache != nil {
		cache[netID] = name
	}
	return name, nil
}

// listFIPs lists the floating IPs matching query as caller.
func (s *Service) listFIPs(ctx context.Context, caller *api.Caller, query url.Values) ([]neutronFIP, error) {
	var out struct {
		FloatingIPs []neutronFIP `json:"floatingips"`
	}
	code, err := s.neutron(ctx, caller, "GET", "/v2.0/floatingips?"+query.Encode(), nil, &out)
	if code == http.StatusNotFound {
		return nil, nil // no L3 API: no floating IPs
	}
	if err != nil {
		return nil, fmt.Errorf("list floating IPs: %w", err)
	}
	return out.FloatingIPs, nil
}

// getFIP reads one floating IP as caller; found is false for a 404.
func (s *Service) getFIP(ctx context.Context, caller *api.Caller, id string) (*neutronFIP, bool, error) {
	var out struct {
		FloatingIP neutronFIP `json:"floatingip"`
	}
	code, err := s.neutron(ctx, caller, "GET", "/v2.0/floatingips/"+url.PathEscape(id), nil, &out)
	if code == http.StatusNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get floating IP %s: %w", id, err)
	}
	return &out.FloatingIP, true, nil
}

// fipByAddress is _get_floating_ip_by_address: none is a 404 with notFoundMsg (Nova's
// callers word it differently), several a 409.
func (s *Service) fipByAddress(ctx context.Context, caller *api.Caller, address, notFoundMsg string) (*neutronFIP, error) {
	if address == "" {
		return nil, notFound("%s", notFoundMsg)
	}
	fips, err := s.listFIPs(ctx, caller, url.Values{"floating_ip_address": {address}})
	if err != nil {
		return nil, err
	}
	switch len(fips) {
	case 0:
		return nil, notFound("%s", notFoundMsg)
	case 1:
		return &fips[0], nil
	}
	return nil, conflict("Multiple floating IPs are found for address %s.", address)
}

// fipInstanceID is get_instance_id_by_floating_address: the device of the floating IP's
// port ("" when it has none or the port is gone).
func (s *Service) fipInstanceID(ctx context.Context, caller *api.Caller, f *neutronFIP) (string, error) {
	if f.PortID == nil || *f.PortID == "" {
		return "", nil
	}
	p, found, err := s.getPort(ctx, caller, *f.PortID)
	if err != nil || !found {
		return "", err
	}
	return p.DeviceID, nil
}

// refreshFloatingIPs rewrites the floating addresses in an instance's network info from
// the floating IPs on its ports (Nova's refresh_cache after (dis)association).
func (s *Service) refreshFloatingIPs(ctx context.Context, inst *Instance) error {
	if s.networkAPI == nil {
		return nil
	}
	vifs := loadVIFs(inst)
	if len(vifs) == 0 {
		return nil
	}
	q := url.Values{}
	for _, v := range vifs {
		q.Add("port_id", v.ID)
	}
	fips, err := s.listFIPs(ctx, instanceCaller(inst), q)
	if err != nil {
		return err
	}
	return s.setVIFs(ctx, inst.UUID, func(vifs []netVIF) []netVIF {
		for i := range vifs {
			for j := range vifs[i].Network.Subnets {
				for k := range vifs[i].Network.Subnets[j].IPs {
					ip := &vifs[i].Network.Subnets[j].IPs[k]
					ip.FloatingIPs = []any{}
					for _, f := range fips {
						if f.PortID != nil && *f.PortID == vifs[i].ID && f.FixedIPAddress != nil && *f.FixedIPAddress == ip.Address {
							ip.FloatingIPs = append(ip.FloatingIPs, map[string]any{"address": f.FloatingIPAddress,
								"type": "floating", "version": 4, "meta": map[string]any{}})
						}
					}
				}
			}
		}
		return vifs
	})
}
