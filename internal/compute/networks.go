package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"

	"github.com/gostack/gostack/internal/api"
	computedriver "github.com/gostack/gostack/internal/driver/compute"
)

// Compute works with networking as Nova works with Neutron: through the Neutron API. Each
// call is an in-process request against the networking API's HTTP handler (api.Call), so
// Neutron's validation, IPAM, policy and quotas apply unchanged. API-side checks are made
// as the requesting user; the build, delete and interface steps are made as the
// instance's project with the admin role (a trusted caller), as Nova's service user acts
// on the project's behalf to set binding:host_id.

// SetNetworkAPI gives compute the networking service's HTTP handler and its mount prefix
// ("/networking"). Without it servers get no network interfaces and the proxy APIs answer
// as if no network existed.
func (s *Service) SetNetworkAPI(h http.Handler, prefix string) {
	s.networkAPI, s.networkPrefix = h, prefix
}

// neutronPort is the part of a Neutron port compute reads.
type neutronPort struct {
	ID          string `json:"id"`
	NetworkID   string `json:"network_id"`
	ProjectID   string `json:"project_id"`
	MACAddress  string `json:"mac_address"`
	DeviceID    string `json:"device_id"`
	DeviceOwner string `json:"device_owner"`
	Status      string `json:"status"`
	FixedIPs    []struct {
		SubnetID  string `json:"subnet_id"`
		IPAddress string `json:"ip_address"`
	} `json:"fixed_ips"`
	SecurityGroups []string `json:"security_groups"`
}

// neutronNetwork is the part of a Neutron network compute reads.
type neutronNetwork struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	ProjectID string   `json:"project_id"`
	Shared    bool     `json:"shared"`
	External  bool     `json:"router:external"`
	MTU       int      `json:"mtu"`
	Subnets   []string `json:"subnets"`
	AdminUp   bool     `json:"admin_state_up"`
}

// neutronSubnet is the part of a Neutron subnet compute reads.
type neutronSubnet struct {
	ID             string   `json:"id"`
	NetworkID      string   `json:"network_id"`
	CIDR           string   `json:"cidr"`
	GatewayIP      *string  `json:"gateway_ip"`
	IPVersion      int      `json:"ip_version"`
	DNSNameservers []string `json:"dns_nameservers"`
	EnableDHCP     bool     `json:"enable_dhcp"`
	HostRoutes     []struct {
		Destination string `json:"destination"`
		NextHop     string `json:"nexthop"`
	} `json:"host_routes"`
	IPv6AddressMode *string `json:"ipv6_address_mode"`
}

// errNeutron marks a networking answer compute cannot use (a 5xx or an undecodable body).
var errNeutron = errors.New("networking service error")

// neutronFault is a Neutron error body's content.
type neutronFault struct {
	Type, Message string
}

// neutronError decodes the NeutronError of an in-process call's error.
func neutronError(err error) (int, neutronFault, bool) {
	var ce *api.CallError
	if !errors.As(err, &ce) {
		return 0, neutronFault{}, false
	}
	var body struct {
		NeutronError struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"NeutronError"`
	}
	_ = json.Unmarshal(ce.Body, &body)
	return ce.Status, neutronFault{Type: body.NeutronError.Type, Message: body.NeutronError.Message}, true
}

// neutron makes one networking API request as caller; path is below the prefix
// ("/v2.0/ports").
func (s *Service) neutron(ctx context.Context, caller *api.Caller, method, path string, body, out any) (int, error) {
	if s.networkAPI == nil {
		return 0, fmt.Errorf("%w: no networking service", errNeutron)
	}
	return api.CallJSON(ctx, s.networkAPI, caller, method, s.networkPrefix+path, body, out)
}

// instanceCaller is who compute acts as for an instance's ports: its project and user,
// with the admin role that binding:host_id needs.
func instanceCaller(inst *Instance) *api.Caller {
	return &api.Caller{UserID: inst.UserID, ProjectID: inst.ProjectID, Roles: []string{"admin", "member", "reader"}}
}

// getNetwork reads one network as caller; found is false for a 404 (or one the caller
// cannot see).
func (s *Service) getNetwork(ctx context.Context, caller *api.Caller, id string) (*neutronNetwork, bool, error) {
	var out struct {
		Network neutronNetwork `json:"network"`
	}
	code, err := s.neutron(ctx, caller, "GET", "/v2.0/networks/"+url.PathEscape(id), nil, &out)
	if code == http.StatusNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get network %s: %w", id, err)
	}
	return &out.Network, true, nil
}

// getPort reads one port as caller; found is false for a 404.
func (s *Service) getPort(ctx context.Context, caller *api.Caller, id string) (*neutronPort, bool, error) {
	var out struct {
		Port neutronPort `json:"port"`
	}
	code, err := s.neutron(ctx, caller, "GET", "/v2.0/ports/"+url.PathEscape(id), nil, &out)
	if code == http.StatusNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get port %s: %w", id, err)
	}
	return &out.Port, true, nil
}

// listPorts lists the ports matching query as caller.
func (s *Service) listPorts(ctx context.Context, caller *api.Caller, query url.Values) ([]neutronPort, error) {
	var out struct {
		Ports []neutronPort `json:"ports"`
	}
	if _, err := s.neutron(ctx, caller, "GET", "/v2.0/ports?"+query.Encode(), nil, &out); err != nil {
		return nil, fmt.Errorf("list ports: %w", err)
	}
	return out.Ports, nil
}

// listNetworks lists the networks matching query as caller.
func (s *Service) listNetworks(ctx context.Context, caller *api.Caller, query url.Values) ([]neutronNetwork, error) {
	var out struct {
		Networks []neutronNetwork `json:"networks"`
	}
	if _, err := s.neutron(ctx, caller, "GET", "/v2.0/networks?"+query.Encode(), nil, &out); err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	return out.Networks, nil
}

// getSubnet reads one subnet as caller.
func (s *Service) getSubnet(ctx context.Context, caller *api.Caller, id string) (*neutronSubnet, bool, error) {
	var out struct {
		Subnet neutronSubnet `json:"subnet"`
	}
	code, err := s.neutron(ctx, caller, "GET", "/v2.0/subnets/"+url.PathEscape(id), nil, &out)
	if code == http.StatusNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get subnet %s: %w", id, err)
	}
	return &out.Subnet, true, nil
}

// requestedNIC is one resolved entry of a server's requested networks, as persisted in
// RequestSpec.Networks (Nova's NetworkRequest).
type requestedNIC struct {
	NetworkID string `json:"uuid,omitempty"`
	PortID    string `json:"port,omitempty"`
	FixedIP   string `json:"fixed_ip,omitempty"`
	Tag       string `json:"tag,omitempty"`
}

// requestedNICs reads the persisted request: a list of NICs, or nothing for "none",
// "auto" left unresolved and old records.
func requestedNICs(raw json.RawMessage) []requestedNIC {
	var out []requestedNIC
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &out) != nil {
		return nil
	}
	return out
}

// availableNetworks are the networks a project's server may use without naming one
// (Nova's _get_available_networks): the project's own and the shared ones, not external.
func (s *Service) availableNetworks(ctx context.Context, caller *api.Caller, project string) ([]neutronNetwork, error) {
	own, err := s.listNetworks(ctx, caller, url.Values{"project_id": {project}, "shared": {"false"}})
	if err != nil {
		return nil, err
	}
	shared, err := s.listNetworks(ctx, caller, url.Values{"shared": {"true"}})
	if err != nil {
		return nil, err
	}
	var out []neutronNetwork
	seen := map[string]bool{}
	for _, n := range append(own, shared...) {
		if n.External || seen[n.ID] {
			continue
		}
		seen[n.ID] = true
		out = append(out, n)
	}
	return out, nil
}

// resolveNetworks validates the requested networks of a create request against the
// networking service as the caller (Nova's validate_networks) and sets what the build
// will allocate. Without a networking service it refuses any named network or port.
func (s *Service) resolveNetworks(ctx context.Context, c *call, req *createRequest) error {
	if s.networkAPI == nil {
		for _, n := range req.netList {
			if p, _ := n["port"].(string); p != "" {
				return badRequest("Port id %s could not be found.", p)
			}
			id, _ := n["uuid"].(string)
			return badRequest("Network %s could not be found.", id)
		}
		return nil
	}
	project := c.caller.ProjectID
	var nics []requestedNIC
	switch req.networks {
	case "none":
		req.rawNetworks, _ = json.Marshal("none")
		return s.checkSecurityGroups(ctx, c, req)
	case "list":
		for _, o := range req.netList {
			nic := requestedNIC{}
			nic.NetworkID, _ = o["uuid"].(string)
			nic.PortID, _ = o["port"].(string)
			nic.FixedIP, _ = o["fixed_ip"].(string)
			nic.Tag, _ = o["tag"].(string)
			if nic.PortID != "" {
				if req.maxCount > 1 {
					return badRequest("Unable to launch multiple instances with a single configured port ID. Please launch your instance one by one with different ports.")
				}
				p, found, err := s.getPort(ctx, c.caller, nic.PortID)
				if err != nil {
					return err
				}
				if !found {
					return badRequest("Port id %s could not be found.", nic.PortID)
				}
				if p.DeviceID != "" {
					return conflict("Port %s is still in use.", nic.PortID)
				}
				if len(p.FixedIPs) == 0 {
					return badRequest("Port %s requires a FixedIP in order to be used.", nic.PortID)
				}
				nic.NetworkID = p.NetworkID
				nics = append(nics, nic)
				continue
			}
			n, found, err := s.getNetwork(ctx, c.caller, nic.NetworkID)
			if err != nil {
				return err
			}
			if !found {
				return badRequest("Network %s could not be found.", nic.NetworkID)
			}
			if n.External && !n.Shared {
				if err := s.authorize(c, "network:attach_external_network", nil); err != nil {
					return forbidden("It is not allowed to create an interface on external network %s", n.ID)
				}
			}
			if nic.FixedIP != "" {
				ok, err := s.ipInNetwork(ctx, c.caller, n, nic.FixedIP)
				if err != nil {
					return err
				}
				if !ok {
					return badRequest("Fixed IP %s is not a valid ip address for network %s.", nic.FixedIP, n.ID)
				}
				if req.maxCount > 1 {
					return badRequest("max_count cannot be greater than 1 if an fixed_ip is specified.")
				}
			}
			if len(n.Subnets) == 0 {
				return badRequest("Network %s requires a subnet in order to boot instances on.", n.ID)
			}
			nics = append(nics, nic)
		}
	default: // "auto" (2.37+) or not given (before 2.37)
		nets, err := s.availableNetworks(ctx, c.caller, project)
		if err != nil {
			return err
		}
		switch {
		case len(nets) > 1:
			return conflict("Multiple possible networks found, use a Network ID to be more specific.")
		case len(nets) == 1:
			nics = []requestedNIC{{NetworkID: nets[0].ID}}
		case req.networks == "auto":
			return badRequest("Unable to automatically allocate a network for project %s", project)
		}
	}
	if err := s.checkSecurityGroups(ctx, c, req); err != nil {
		return err
	}
	if nics == nil {
		nics = []requestedNIC{}
	}
	req.rawNetworks, _ = json.Marshal(nics)
	return nil
}

// ipInNetwork reports whether ip falls in one of n's subnets.
func (s *Service) ipInNetwork(ctx context.Context, caller *api.Caller, n *neutronNetwork, ip string) (bool, error) {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false, nil
	}
	for _, id := range n.Subnets {
		sn, found, err := s.getSubnet(ctx, caller, id)
		if err != nil {
			return false, err
		}
		if !found {
			continue
		}
		if p, err := netip.ParsePrefix(sn.CIDR); err == nil && p.Contains(addr) {
			return true, nil
		}
	}
	return false, nil
}

// securityGroupsSupported reports whether the networking service has security groups.
func (s *Service) securityGroupsSupported(ctx context.Context, caller *api.Caller) bool {
	code, _ := s.neutron(ctx, caller, "GET", "/v2.0/security-groups?limit=1", nil, nil)
	return code == http.StatusOK
}

// checkSecurityGroups checks that every requested security group exists for the
// project (by name or id). Until the networking service has security groups only
// "default" is accepted.
func (s *Service) checkSecurityGroups(ctx context.Context, c *call, req *createRequest) error {
	if len(req.secGroups) == 0 {
		return nil
	}
	project := c.caller.ProjectID
	if !s.securityGroupsSupported(ctx, c.caller) {
		for _, n := range req.secGroups {
			if n != "default" {
				return badRequest("Security group %s not found for project %s.", n, project)
			}
		}
		return nil
	}
	for _, n := range req.secGroups {
		if n == "default" {
			// Nova's _check_requested_secgroups leaves "default" to the port create.
			continue
		}
		if _, err := s.findSecurityGroup(ctx, c.caller, project, n); err != nil {
			return err
		}
	}
	return nil
}

// findSecurityGroup resolves a security group name (or id) of project to its id, as
// Nova's validate_name does through neutronclient: an unknown group is a 400, an
// ambiguous name a 409.
func (s *Service) findSecurityGroup(ctx context.Context, caller *api.Caller, project, nameOrID string) (string, error) {
	id, found, err := s.resolveSecurityGroup(ctx, caller, project, nameOrID)
	if err != nil {
		return "", err
	}
	if !found {
		return "", badRequest("Security group %s not found for project %s.", nameOrID, project)
	}
	return id, nil
}

// netVIF is one entry of Instance.NetworkInfo: Nova's network info model
// (nova/network/model.py VIF), which servers_view.go's vif reads.
type netVIF struct {
	ID               string     `json:"id"`
	Address          string     `json:"address"`
	Network          netVIFNet  `json:"network"`
	Type             string     `json:"type"`
	Devname          string     `json:"devname"`
	OVSInterfaceID   string     `json:"ovs_interfaceid"`
	QbhParams        any        `json:"qbh_params"`
	QbgParams        any        `json:"qbg_params"`
	Active           bool       `json:"active"`
	VNICType         string     `json:"vnic_type"`
	Profile          any        `json:"profile"`
	PreserveOnDelete bool       `json:"preserve_on_delete"`
	Meta             netVIFMeta `json:"meta"`
	Details          any        `json:"details"`
	Tag              string     `json:"tag,omitempty"`
}

// netVIFMeta is a VIF's meta.
type netVIFMeta struct {
	MTU int `json:"mtu,omitempty"`
}

// netVIFNet is a VIF's network.
type netVIFNet struct {
	ID      string         `json:"id"`
	Bridge  string         `json:"bridge"`
	Label   string         `json:"label"`
	Subnets []netVIFSubnet `json:"subnets"`
	Meta    netVIFNetMeta  `json:"meta"`
}

// netVIFNetMeta is a VIF network's meta.
type netVIFNetMeta struct {
	Injected  bool   `json:"injected"`
	TenantID  string `json:"tenant_id"`
	MTU       int    `json:"mtu,omitempty"`
	Physnet   any    `json:"physical_network"`
	Tunneled  bool   `json:"tunneled"`
	Integrity string `json:"-"`
}

// netVIFSubnet is one subnet of a VIF's network, with the port's addresses in it.
type netVIFSubnet struct {
	CIDR    string         `json:"cidr"`
	DNS     []netVIFIP     `json:"dns"`
	Gateway netVIFIP       `json:"gateway"`
	IPs     []netVIFAddr   `json:"ips"`
	Routes  []any          `json:"routes"`
	Version int            `json:"version"`
	Meta    map[string]any `json:"meta"`
}

// netVIFIP is an address with its version (gateway, DNS).
type netVIFIP struct {
	Address *string        `json:"address"`
	Type    string         `json:"type"`
	Version *int           `json:"version"`
	Meta    map[string]any `json:"meta"`
}

// netVIFAddr is one fixed address of a port.
type netVIFAddr struct {
	Address     string         `json:"address"`
	Type        string         `json:"type"`
	Version     int            `json:"version"`
	FloatingIPs []any          `json:"floating_ips"`
	Meta        map[string]any `json:"meta"`
}

// devName is the tap device of a port, as Nova names it.
func devName(portID string) string {
	if len(portID) > 11 {
		portID = portID[:11]
	}
	return "tap" + portID
}

// loadVIFs reads an instance's network info.
func loadVIFs(inst *Instance) []netVIF {
	var vifs []netVIF
	if len(inst.NetworkInfo) > 0 {
		_ = json.Unmarshal(inst.NetworkInfo, &vifs)
	}
	return vifs
}

// vifFor builds the network info entry of a port.
func (s *Service) vifFor(ctx context.Context, caller *api.Caller, p *neutronPort, preserve bool, tag string) (netVIF, error) {
	v := netVIF{ID: p.ID, Address: p.MACAddress, Type: "ovs", Devname: devName(p.ID), OVSInterfaceID: p.ID,
		VNICType: "normal", Profile: map[string]any{}, PreserveOnDelete: preserve, Details: map[string]any{},
		Active: p.Status == "ACTIVE", Tag: tag}
	n, found, err := s.getNetwork(ctx, caller, p.NetworkID)
	if err != nil {
		return v, err
	}
	v.Network = netVIFNet{ID: p.NetworkID, Bridge: "br-int", Subnets: []netVIFSubnet{}}
	if found {
		v.Network.Label = n.Name
		v.Network.Meta = netVIFNetMeta{TenantID: n.ProjectID, MTU: n.MTU, Tunneled: true}
		v.Meta.MTU = n.MTU
	}
	bySubnet := map[string]int{}
	for _, f := range p.FixedIPs {
		i, ok := bySubnet[f.SubnetID]
		if !ok {
			sn, found, err := s.getSubnet(ctx, caller, f.SubnetID)
			if err != nil {
				return v, err
			}
			sub := netVIFSubnet{DNS: []netVIFIP{}, IPs: []netVIFAddr{}, Routes: []any{}, Meta: map[string]any{}}
			if found {
				sub.CIDR, sub.Version = sn.CIDR, sn.IPVersion
				ver := sn.IPVersion
				sub.Gateway = netVIFIP{Address: sn.GatewayIP, Type: "gateway", Version: &ver, Meta: map[string]any{}}
				for _, d := range sn.DNSNameservers {
					d := d
					sub.DNS = append(sub.DNS, netVIFIP{Address: &d, Type: "dns", Version: &ver, Meta: map[string]any{}})
				}
				if sn.EnableDHCP {
					sub.Meta["dhcp_server"] = nil
					sub.Meta["enable_dhcp"] = true
				}
				if sn.IPVersion == 6 && sn.IPv6AddressMode != nil && *sn.IPv6AddressMode != "" {
					sub.Meta["ipv6_address_mode"] = *sn.IPv6AddressMode
				}
				for _, r := range sn.HostRoutes {
					nh := r.NextHop
					sub.Routes = append(sub.Routes, map[string]any{"cidr": r.Destination,
						"gateway":   map[string]any{"address": nh, "type": "gateway", "version": ver, "meta": map[string]any{}},
						"interface": nil, "meta": map[string]any{}})
				}
			}
			v.Network.Subnets = append(v.Network.Subnets, sub)
			i = len(v.Network.Subnets) - 1
			bySubnet[f.SubnetID] = i
		}
		ver := 4
		if a, err := netip.ParseAddr(f.IPAddress); err == nil && a.Is6() {
			ver = 6
		}
		v.Network.Subnets[i].IPs = append(v.Network.Subnets[i].IPs, netVIFAddr{Address: f.IPAddress, Type: "fixed",
			Version: ver, FloatingIPs: []any{}, Meta: map[string]any{}})
	}
	return v, nil
}

// portOwner is the device_owner compute gives its ports.
func portOwner(inst *Instance) string {
	az := deref(inst.AvailabilityZone)
	if az == "" {
		az = "nova"
	}
	return "compute:" + az
}

// errPortAllocation is a build's failure to get a port (no addresses left, a fixed IP
// taken, quota): the build fails with a fault instead of retrying.
type errPortAllocation struct{ msg string }

func (e *errPortAllocation) Error() string { return e.msg }

// allocateNetworks gives a scheduled instance its ports on its host (Nova's
// allocate_for_instance) and returns its network info. It is idempotent: ports already
// carrying the instance's id are reused, so a build run again after a crash creates
// nothing twice.
func (s *Service) allocateNetworks(ctx context.Context, inst *Instance) (json.RawMessage, error) {
	if s.networkAPI == nil {
		return inst.NetworkInfo, nil
	}
	nics := requestedNICs(inst.Request.Networks)
	caller := instanceCaller(inst)
	host := deref(inst.Host)
	existing, err := s.listPorts(ctx, caller, url.Values{"device_id": {inst.UUID}})
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	vifs := []netVIF{}
	bind := map[string]any{"device_id": inst.UUID, "device_owner": portOwner(inst), "binding:host_id": host}
	for _, nic := range nics {
		var port *neutronPort
		preserve := false
		if nic.PortID != "" {
			preserve = true
			p, found, err := s.getPort(ctx, caller, nic.PortID)
			if err != nil {
				return nil, err
			}
			if !found {
				return nil, &errPortAllocation{msg: fmt.Sprintf("Port id %s could not be found.", nic.PortID)}
			}
			if p.DeviceID != "" && p.DeviceID != inst.UUID {
				return nil, &errPortAllocation{msg: fmt.Sprintf("Port %s is still in use.", nic.PortID)}
			}
			port = p
		} else {
			for i := range existing {
				e := &existing[i]
				if used[e.ID] || e.NetworkID != nic.NetworkID || slices.ContainsFunc(nics, func(n requestedNIC) bool { return n.PortID == e.ID }) {
					continue
				}
				if nic.FixedIP != "" && !slices.ContainsFunc(e.FixedIPs, func(f struct {
					SubnetID  string `json:"subnet_id"`
					IPAddress string `json:"ip_address"`
				}) bool {
					return f.IPAddress == nic.FixedIP
				}) {
					continue
				}
				port = e
				break
			}
			if port == nil {
				p, err := s.createPort(ctx, inst, caller, nic, bind)
				if err != nil {
					return nil, err
				}
				port = p
			}
		}
		used[port.ID] = true
		if port.DeviceID != inst.UUID || port.DeviceOwner != portOwner(inst) {
			if err := s.updatePort(ctx, caller, port.ID, bind); err != nil {
				return nil, err
			}
		} else if err := s.updatePort(ctx, caller, port.ID, map[string]any{"binding:host_id": host}); err != nil {
			// The build may run on another host after a reschedule: bind there.
			return nil, err
		}
		v, err := s.vifFor(ctx, caller, port, preserve, nic.Tag)
		if err != nil {
			return nil, err
		}
		vifs = append(vifs, v)
	}
	return json.Marshal(vifs)
}

// createPort creates the port of a requested network for inst.
func (s *Service) createPort(ctx context.Context, inst *Instance, caller *api.Caller, nic requestedNIC, bind map[string]any) (*neutronPort, error) {
	body := map[string]any{"network_id": nic.NetworkID}
	for k, v := range bind {
		body[k] = v
	}
	if nic.FixedIP != "" {
		body["fixed_ips"] = []any{map[string]any{"ip_address": nic.FixedIP}}
	}
	if s.securityGroupsSupported(ctx, caller) && len(inst.Request.SecurityGroups) > 0 {
		ids := []string{}
		for _, n := range inst.Request.SecurityGroups {
			id, err := s.findSecurityGroup(ctx, caller, inst.ProjectID, n)
			if err != nil {
				return nil, &errPortAllocation{msg: api.AsError(err).Message}
			}
			ids = append(ids, id)
		}
		body["security_groups"] = ids
	}
	var out struct {
		Port neutronPort `json:"port"`
	}
	_, err := s.neutron(ctx, caller, "POST", "/v2.0/ports", map[string]any{"port": body}, &out)
	if status, nf, ok := neutronError(err); ok && status < 500 {
		msg := nf.Message
		if msg == "" {
			msg = "Failed to allocate the network(s), not rescheduling."
		}
		return nil, &errPortAllocation{msg: msg}
	}
	if err != nil {
		return nil, fmt.Errorf("create port: %w", err)
	}
	return &out.Port, nil
}

// updatePort changes a port's attributes as caller.
func (s *Service) updatePort(ctx context.Context, caller *api.Caller, id string, set map[string]any) error {
	code, err := s.neutron(ctx, caller, "PUT", "/v2.0/ports/"+url.PathEscape(id), map[string]any{"port": set}, nil)
	if code == http.StatusNotFound {
		return &errPortAllocation{msg: fmt.Sprintf("Port id %s could not be found.", id)}
	}
	if err != nil {
		return fmt.Errorf("update port %s: %w", id, err)
	}
	return nil
}

// deallocateNetworks deletes the ports compute created for inst and unbinds the ones the
// user gave (Nova's deallocate_for_instance). Ports already gone are fine, so it can run
// again.
func (s *Service) deallocateNetworks(ctx context.Context, inst *Instance) error {
	if s.networkAPI == nil {
		return nil
	}
	caller := instanceCaller(inst)
	ports, err := s.listPorts(ctx, caller, url.Values{"device_id": {inst.UUID}})
	if err != nil {
		return err
	}
	preserve := map[string]bool{}
	for _, v := range loadVIFs(inst) {
		if v.PreserveOnDelete {
			preserve[v.ID] = true
		}
	}
	for _, n := range requestedNICs(inst.Request.Networks) {
		if n.PortID != "" {
			preserve[n.PortID] = true
		}
	}
	for _, p := range ports {
		if err := s.releasePort(ctx, caller, p.ID, preserve[p.ID]); err != nil {
			return err
		}
	}
	return nil
}

// releasePort deletes a port compute made, or unbinds one the user gave.
func (s *Service) releasePort(ctx context.Context, caller *api.Caller, id string, preserve bool) error {
	if preserve {
		code, err := s.neutron(ctx, caller, "PUT", "/v2.0/ports/"+url.PathEscape(id), map[string]any{"port": map[string]any{
			"device_id": "", "device_owner": "", "binding:host_id": ""}}, nil)
		if err != nil && code != http.StatusNotFound {
			return fmt.Errorf("unbind port %s: %w", id, err)
		}
		return nil
	}
	code, err := s.neutron(ctx, caller, "DELETE", "/v2.0/ports/"+url.PathEscape(id), nil, nil)
	if err != nil && code != http.StatusNotFound {
		return fmt.Errorf("delete port %s: %w", id, err)
	}
	return nil
}

// driverNICs are the network interfaces of an instance for its driver.
func driverNICs(inst *Instance) []computedriver.NIC {
	var out []computedriver.NIC
	for _, v := range loadVIFs(inst) {
		out = append(out, nicOf(v))
	}
	return out
}

// nicOf is the driver's view of one network info entry.
func nicOf(v netVIF) computedriver.NIC {
	return computedriver.NIC{PortID: v.ID, MACAddress: v.Address, NetworkID: v.Network.ID,
		DeviceName: devName(v.ID), MTU: v.Meta.MTU}
}

// neutronProblem turns a networking failure into the compute API's answer: Neutron's
// 4xx keep their status and message, anything else is a 500.
func neutronProblem(err error) error {
	if status, nf, ok := neutronError(err); ok && status < 500 {
		msg := nf.Message
		if msg == "" {
			msg = http.StatusText(status)
		}
		return api.Errorf(status, "%s", msg)
	}
	var pa *errPortAllocation
	if errors.As(err, &pa) {
		return badRequest("%s", pa.msg)
	}
	if ae, ok := err.(*api.Error); ok {
		return ae
	}
	return err
}
