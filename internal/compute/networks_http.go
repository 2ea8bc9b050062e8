package compute

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gostack/gostack/internal/api"
	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/store"
)

// networkProxyRoutes are Nova's network proxy APIs backed by the networking service
// (os-networks, os-tenant-networks: list and show until 2.35) and the nova-network APIs
// Nova removed, which answer 410 Gone at every version they existed.
func (s *Service) networkProxyRoutes() []route {
	gone := func(w http.ResponseWriter, r *http.Request, c *call) error {
		return api.Errorf(http.StatusGone, "Gone")
	}
	return []route{
		{method: "GET", path: "/v2.1/os-networks", rule: "os_compute_api:os-networks:list", maxVer: v(35), handle: s.listNovaNetworks(false)},
		{method: "GET", path: "/v2.1/os-networks/{id}", rule: "os_compute_api:os-networks:show", maxVer: v(35), handle: s.showNovaNetwork(false)},
		{method: "POST", path: "/v2.1/os-networks", maxVer: v(35), handle: gone},
		{method: "POST", path: "/v2.1/os-networks/add", maxVer: v(35), handle: gone},
		{method: "DELETE", path: "/v2.1/os-networks/{id}", maxVer: v(35), handle: gone},
		{method: "POST", path: "/v2.1/os-networks/{id}/action", maxVer: v(35), handle: gone},
		{method: "GET", path: "/v2.1/os-tenant-networks", rule: "os_compute_api:os-tenant-networks:list", maxVer: v(35), handle: s.listNovaNetworks(true)},
		{method: "GET", path: "/v2.1/os-tenant-networks/{id}", rule: "os_compute_api:os-tenant-networks:show", maxVer: v(35), handle: s.showNovaNetwork(true)},
		{method: "POST", path: "/v2.1/os-tenant-networks", maxVer: v(35), handle: gone},
		{method: "DELETE", path: "/v2.1/os-tenant-networks/{id}", maxVer: v(35), handle: gone},
		{method: "GET", path: "/v2.1/os-fping", handle: gone},
		{method: "GET", path: "/v2.1/os-fping/{id}", handle: gone},
		{method: "GET", path: "/v2.1/os-floating-ips-bulk", handle: gone},
		{method: "POST", path: "/v2.1/os-floating-ips-bulk", handle: gone},
		{method: "GET", path: "/v2.1/os-floating-ips-bulk/{id}", handle: gone},
		{method: "PUT", path: "/v2.1/os-floating-ips-bulk/{id}", handle: gone},
	}
}

// networkProxyPolicies are Nova's defaults for the network proxy APIs.
func networkProxyPolicies() map[string]string {
	return map[string]string{
		"os_compute_api:os-networks:list":        ruleReaderOrAdmin,
		"os_compute_api:os-networks:show":        ruleReaderOrAdmin,
		"os_compute_api:os-tenant-networks:list": ruleReaderOrAdmin,
		"os_compute_api:os-tenant-networks:show": ruleReaderOrAdmin,
	}
}

// novaNetworkView is Nova's view of a Neutron network: os-tenant-networks shows id,
// cidr (the string "None", as Nova always has) and label; os-networks shows Nova's
// nova-network fields, all null but id and label, with the admin-only ones for admins.
func novaNetworkView(c *call, n *neutronNetwork, tenant bool) map[string]any {
	if tenant {
		return map[string]any{"id": n.ID, "cidr": "None", "label": n.Name}
	}
	fields := []string{"id", "cidr", "netmask", "gateway", "broadcast", "dns1", "dns2", "cidr_v6", "gateway_v6",
		"label", "netmask_v6"}
	if isAdmin(c) {
		fields = append(fields, "created_at", "updated_at", "deleted_at", "deleted", "injected", "bridge", "vlan",
			"vpn_public_address", "vpn_public_port", "vpn_private_address", "dhcp_start", "project_id", "host",
			"bridge_interface", "multi_host", "priority", "rxtx_base", "mtu", "dhcp_server", "enable_dhcp",
			"share_address")
	}
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		out[f] = nil
	}
	out["id"], out["label"] = n.ID, n.Name
	return out
}

// listNovaNetworks is GET /os-networks and /os-tenant-networks: the networks the caller
// sees in the networking service.
func (s *Service) listNovaNetworks(tenant bool) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		if err := s.authorize(c, c.rule, nil); err != nil {
			return err
		}
		out := []map[string]any{}
		if s.networkAPI != nil {
			nets, err := s.listNetworks(r.Context(), c.caller, url.Values{})
			if err != nil {
				return err
			}
			for i := range nets {
				out = append(out, novaNetworkView(c, &nets[i], tenant))
			}
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"networks": out})
		return nil
	}
}

// showNovaNetwork is GET /os-networks/{id} and /os-tenant-networks/{id}.
func (s *Service) showNovaNetwork(tenant bool) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		if err := s.authorize(c, c.rule, nil); err != nil {
			return err
		}
		if s.networkAPI == nil {
			return notFound("Network not found")
		}
		n, found, err := s.getNetwork(r.Context(), c.caller, r.PathValue("id"))
		if err != nil {
			return err
		}
		if !found {
			return notFound("Network not found")
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"network": novaNetworkView(c, n, tenant)})
		return nil
	}
}

// interfaceView is Nova's interfaceAttachment view of a port.
func interfaceView(c *call, p *neutronPort, tag string) map[string]any {
	ips := []map[string]any{}
	for _, f := range p.FixedIPs {
		ips = append(ips, map[string]any{"subnet_id": f.SubnetID, "ip_address": f.IPAddress})
	}
	out := map[string]any{"port_state": p.Status, "fixed_ips": ips, "port_id": p.ID, "net_id": p.NetworkID,
		"mac_addr": p.MACAddress}
	if c.at(70) {
		if tag == "" {
			out["tag"] = nil
		} else {
			out["tag"] = tag
		}
	}
	return out
}

// vifTags maps an instance's port ids to their device tags.
func vifTags(inst *Instance) map[string]string {
	out := map[string]string{}
	for _, v := range loadVIFs(inst) {
		out[v.ID] = v.Tag
	}
	return out
}

// listInterfaces is GET /servers/{id}/os-interface: the server's ports.
func (s *Service) listInterfaces(w http.ResponseWriter, r *http.Request, c *call) error {
	inst, err := s.getServer(r.Context(), s.db, c, r.PathValue("server_id"), c.rule)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	if s.networkAPI != nil {
		ports, err := s.listPorts(r.Context(), instanceCaller(inst), url.Values{"device_id": {inst.UUID}})
		if err != nil {
			return err
		}
		tags := vifTags(inst)
		for i := range ports {
			out = append(out, interfaceView(c, &ports[i], tags[ports[i].ID]))
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"interfaceAttachments": out})
	return nil
}

// showInterface is GET /servers/{id}/os-interface/{port_id}.
func (s *Service) showInterface(w http.ResponseWriter, r *http.Request, c *call) error {
	inst, err := s.getServer(r.Context(), s.db, c, r.PathValue("server_id"), c.rule)
	if err != nil {
		return err
	}
	portID := r.PathValue("port_id")
	if s.networkAPI == nil {
		return notFound("Port %s is not attached", portID)
	}
	p, found, err := s.getPort(r.Context(), instanceCaller(inst), portID)
	if err != nil {
		return err
	}
	if !found {
		return notFound("Port id %s could not be found.", portID)
	}
	if p.DeviceID != inst.UUID {
		return notFound("Instance %s does not have a port %s attached", inst.UUID, portID)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"interfaceAttachment": interfaceView(c, p, vifTags(inst)[p.ID])})
	return nil
}

// attachInterface is POST /servers/{id}/os-interface: a new port on a network (or a
// port the user made) is bound to the server and hot-plugged into the guest. Like
// Nova's, the call answers once the interface is attached.
func (s *Service) attachInterface(w http.ResponseWriter, r *http.Request, c *call) error {
	top, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	if err := onlyKeys(top, "", "interfaceAttachment"); err != nil {
		return err
	}
	body := api.Object{}
	if top.Has("interfaceAttachment") {
		if body, err = requiredObject(top, "interfaceAttachment"); err != nil {
			return err
		}
	}
	allowed := []string{"net_id", "port_id", "fixed_ips"}
	if c.at(49) {
		allowed = append(allowed, "tag")
	}
	if err := onlyKeys(body, "interfaceAttachment", allowed...); err != nil {
		return err
	}
	netID, _ := body["net_id"].(string)
	portID, _ := body["port_id"].(string)
	if netID != "" && portID != "" {
		return badRequest("Must not input both network_id and port_id")
	}
	for _, k := range []string{"net_id", "port_id"} {
		if v, ok := body[k]; ok {
			s, ok := v.(string)
			if !ok || !validUUID(s) {
				return invalidInput(k, v, fmt.Sprintf("%s is not a 'uuid'", pyReprAny(v)))
			}
		}
	}
	var fixedIP string
	if v, ok := body["fixed_ips"]; ok {
		list, ok := v.([]any)
		if !ok || len(list) > 1 {
			return invalidInput("fixed_ips", v, fmt.Sprintf("%s is not valid under any of the given schemas", pyReprAny(v)))
		}
		if len(list) == 1 {
			m, _ := list[0].(map[string]any)
			fixedIP, _ = m["ip_address"].(string)
			if fixedIP == "" {
				return invalidInput("fixed_ips", v, fmt.Sprintf("%s is not valid under any of the given schemas", pyReprAny(v)))
			}
		}
		if netID == "" {
			return badRequest("Fixed IP requires a network")
		}
	}
	tag := ""
	if tv, ok := body["tag"]; ok {
		if tag, err = validTag("tag", tv); err != nil {
			return err
		}
	}
	ctx := r.Context()
	inst, err := s.getServer(ctx, s.db, c, r.PathValue("server_id"), c.rule)
	if err != nil {
		return err
	}
	if err := interfaceState.check(c, inst, "attach_interface"); err != nil {
		return err
	}
	if s.networkAPI == nil {
		switch {
		case portID != "":
			return notFound("Port id %s could not be found.", portID)
		case netID != "":
			return notFound("Network %s could not be found.", netID)
		}
		return badRequest("Network could not be found: no network is available for the instance.")
	}
	// Resolve what to attach as the caller, as Nova's API does.
	nic := requestedNIC{NetworkID: netID, PortID: portID, FixedIP: fixedIP, Tag: tag}
	switch {
	case portID != "":
		p, found, err := s.getPort(ctx, c.caller, portID)
		if err != nil {
			return err
		}
		if !found {
			return notFound("Port id %s could not be found.", portID)
		}
		if p.DeviceID != "" {
			return conflict("Port %s is still in use.", portID)
		}
		nic.NetworkID = p.NetworkID
	case netID != "":
		n, found, err := s.getNetwork(ctx, c.caller, netID)
		if err != nil {
			return err
		}
		if !found {
			return notFound("Network %s could not be found.", netID)
		}
		if n.External && !n.Shared && !s.can(c, "network:attach_external_network", nil) {
			return forbidden("It is not allowed to create an interface on external network %s", n.ID)
		}
	default:
		nets, err := s.availableNetworks(ctx, c.caller, inst.ProjectID)
		if err != nil {
			return err
		}
		switch len(nets) {
		case 0:
			return badRequest("Network could not be found: no network is available for the instance.")
		case 1:
			nic.NetworkID = nets[0].ID
		default:
			return conflict("Multiple possible networks found, use a Network ID to be more specific.")
		}
	}
	caller := instanceCaller(inst)
	bind := map[string]any{"device_id": inst.UUID, "device_owner": portOwner(inst), "binding:host_id": deref(inst.Host)}
	var port *neutronPort
	if portID != "" {
		if err := s.updatePort(ctx, caller, portID, bind); err != nil {
			return neutronProblem(err)
		}
		p, _, err := s.getPort(ctx, caller, portID)
		if err != nil {
			return err
		}
		port = p
	} else {
		p, err := s.createPort(ctx, inst, caller, nic, bind)
		if err != nil {
			return neutronProblem(err)
		}
		port = p
	}
	vif, err := s.vifFor(ctx, caller, port, portID != "", tag)
	if err != nil {
		return err
	}
	if err := s.plugInterface(ctx, inst, vif, true); err != nil {
		_ = s.releasePort(ctx, caller, port.ID, portID != "")
		return conflict("Failed to attach network adapter device to %s", inst.UUID)
	}
	if err := s.setVIFs(ctx, inst.UUID, func(vifs []netVIF) []netVIF { return append(vifs, vif) }); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"interfaceAttachment": interfaceView(c, port, tag)})
	return nil
}

// detachInterface is DELETE /servers/{id}/os-interface/{port_id}: the interface is
// unplugged and its port deleted (or unbound when the user made it).
func (s *Service) detachInterface(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	inst, err := s.getServer(ctx, s.db, c, r.PathValue("server_id"), c.rule)
	if err != nil {
		return err
	}
	if err := interfaceState.check(c, inst, "detach_interface"); err != nil {
		return err
	}
	portID := r.PathValue("port_id")
	var vif *netVIF
	for _, v := range loadVIFs(inst) {
		if v.ID == portID {
			v := v
			vif = &v
		}
	}
	if vif == nil || s.networkAPI == nil {
		return notFound("Port %s is not attached", portID)
	}
	if err := s.plugInterface(ctx, inst, *vif, false); err != nil {
		return conflict("Failed to detach network adapter device from %s", inst.UUID)
	}
	if err := s.releasePort(ctx, instanceCaller(inst), portID, vif.PreserveOnDelete); err != nil {
		return err
	}
	if err := s.setVIFs(ctx, inst.UUID, func(vifs []netVIF) []netVIF {
		out := vifs[:0]
		for _, v := range vifs {
			if v.ID != portID {
				out = append(out, v)
			}
		}
		return out
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// plugInterface hot-plugs (or unplugs) an interface through the host's driver when it
// can; drivers without InterfaceAttacher pick interfaces up at the next start.
func (s *Service) plugInterface(ctx context.Context, inst *Instance, v netVIF, attach bool) error {
	d, ok := s.hostDriver(deref(inst.Host))
	if !ok {
		return nil
	}
	ia, ok := d.(computedriver.InterfaceAttacher)
	if !ok {
		return nil
	}
	di, err := s.driverInstance(ctx, inst, inst.Flavor)
	if err != nil {
		return err
	}
	nic := nicOf(v)
	if attach {
		return ia.AttachInterface(ctx, di, nic)
	}
	return ia.DetachInterface(ctx, di, nic)
}

// setVIFs rewrites an instance's network info with fn.
func (s *Service) setVIFs(ctx context.Context, uuid string, fn func([]netVIF) []netVIF) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		_, _, err := mutateInstance(ctx, tx, uuid, nil, func(i *Instance) error {
			b, err := json.Marshal(fn(loadVIFs(i)))
			if err != nil {
				return err
			}
			i.NetworkInfo = b
			return nil
		})
		return err
	})
}
