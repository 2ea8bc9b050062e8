package compute

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
)

// floatingIPRoutes are Nova's floating IP proxy APIs (removed at 2.36, where Nova answers
// 404); addFloatingIp and removeFloatingIp are server actions (until 2.43).
func (s *Service) floatingIPRoutes() []route {
	const fip = "/v2.1/os-floating-ips"
	return []route{
		{method: "GET", path: "/v2.1/os-floating-ip-pools", rule: "os_compute_api:os-floating-ip-pools", maxVer: v(35), handle: s.listFloatingIPPools},
		{method: "GET", path: fip, rule: "os_compute_api:os-floating-ips:list", maxVer: v(35), handle: s.listNovaFloatingIPs},
		{method: "POST", path: fip, rule: "os_compute_api:os-floating-ips:create", maxVer: v(35), handle: s.createNovaFloatingIP},
		{method: "GET", path: fip + "/{id}", rule: "os_compute_api:os-floating-ips:show", maxVer: v(35), handle: s.showNovaFloatingIP},
		{method: "DELETE", path: fip + "/{id}", rule: "os_compute_api:os-floating-ips:delete", maxVer: v(35), handle: s.deleteNovaFloatingIP},
	}
}

// floatingIPPolicies are Nova's defaults (nova/policies/floating_ips.py,
// floating_ip_pools.py).
func floatingIPPolicies() map[string]string {
	return map[string]string{
		"os_compute_api:os-floating-ip-pools":   ruleAny,
		"os_compute_api:os-floating-ips:add":    ruleMemberOrAdmin,
		"os_compute_api:os-floating-ips:remove": ruleMemberOrAdmin,
		"os_compute_api:os-floating-ips:list":   ruleReaderOrAdmin,
		"os_compute_api:os-floating-ips:create": ruleMemberOrAdmin,
		"os_compute_api:os-floating-ips:show":   ruleReaderOrAdmin,
		"os_compute_api:os-floating-ips:delete": ruleMemberOrAdmin,
	}
}

// listFloatingIPPools is GET /os-floating-ip-pools: the external networks.
func (s *Service) listFloatingIPPools(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	pools := []map[string]any{}
	if s.networkAPI != nil {
		nets, err := s.listNetworks(r.Context(), c.caller, url.Values{"router:external": {"true"}})
		if err != nil {
			return err
		}
		for _, n := range nets {
			name := n.Name
			if name == "" {
				name = n.ID
			}
			pools = append(pools, map[string]any{"name": name})
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"floating_ip_pools": pools})
	return nil
}

// listNovaFloatingIPs is GET /os-floating-ips: the caller's project's floating IPs.
func (s *Service) listNovaFloatingIPs(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	out := []map[string]any{}
	if s.networkAPI != nil {
		fips, err := s.listFIPs(r.Context(), c.caller, url.Values{"project_id": {c.caller.ProjectID}})
		if err != nil {
			return err
		}
		names := map[string]string{}
		for i := range fips {
			pool, err := s.poolName(r.Context(), c.caller, fips[i].FloatingNetworkID, names)
			if err != nil {
				return err
			}
			out = append(out, fipView(&fips[i], pool))
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"floating_ips": out})
	return nil
}

// loadNovaFIP is get_floating_ip: a 404 is Nova's "Floating IP not found for ID".
func (s *Service) loadNovaFIP(r *http.Request, c *call, id string) (*neutronFIP, error) {
	if s.networkAPI == nil {
		return nil, notFound("Floating IP not found for ID %s", id)
	}
	f, found, err := s.getFIP(r.Context(), c.caller, id)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound("Floating IP not found for ID %s", id)
	}
	return f, nil
}

// showNovaFloatingIP is GET /os-floating-ips/{id}.
func (s *Service) showNovaFloatingIP(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	f, err := s.loadNovaFIP(r, c, r.PathValue("id"))
	if err != nil {
		return err
	}
	pool, err := s.poolName(r.Context(), c.caller, f.FloatingNetworkID, nil)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"floating_ip": fipView(f, pool)})
	return nil
}

// createNovaFloatingIP is POST /os-floating-ips: a floating IP from the named pool (an
// external network's name or id), or from the default pool.
func (s *Service) createNovaFloatingIP(w http.ResponseWriter, r *http.Request, c *call) error {
	raw, err := api.ReadBody(r, 0)
	if err != nil {
		return err
	}
	var body any
	if len(raw) > 0 {
		if err := api.Unmarshal(raw, &body); err != nil {
			return err
		}
	}
	var pool *string
	switch b := body.(type) {
	case nil:
	case map[string]any:
		if v, ok := b["pool"]; ok && v != nil {
			p, ok := v.(string)
			if !ok {
				return invalidInput("pool", v, fmt.Sprintf("%s is not of type 'string', 'null'", pyReprAny(v)))
			}
			pool = &p
		}
	default:
		return invalidInput("", body, fmt.Sprintf("%s is not of type 'object', 'null'", pyReprAny(body)))
	}
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	if s.networkAPI == nil {
		return notFound("Floating IP pool not found.")
	}
	ctx := r.Context()
	name := s.cfg.DefaultFloatingPool
	if pool != nil && *pool != "" {
		name = *pool
	}
	q := url.Values{"router:external": {"true"}}
	if validUUID(name) {
		q.Set("id", name)
	} else {
		q.Set("name", name)
	}
	nets, err := s.listNetworks(ctx, c.caller, q)
	if err != nil {
		return err
	}
	switch len(nets) {
	case 0:
		return notFound("Floating IP pool not found.")
	case 1:
	default:
		return conflict("Multiple floating IP pools matches found for name '%s'", name)
	}
	var out struct {
		FloatingIP neutronFIP `json:"floatingip"`
	}
	_, err = s.neutron(ctx, c.caller, "POST", "/v2.0/floatingips",
		map[string]any{"floatingip": map[string]any{"floating_network_id": nets[0].ID}}, &out)
	if status, nf, ok := neutronError(err); ok {
		switch {
		case nf.Type == "IpAddressGenerationFailure" || nf.Type == "ExternalIpAddressExhausted":
			if pool != nil && *pool != "" {
				return notFound("No more floating IPs in pool %s.", *pool)
			}
			return notFound("No more floating IPs available.")
		case nf.Type == "OverQuota":
			if pool != nil && *pool != "" {
				return forbidden("IP allocation over quota in pool %s.", *pool)
			}
			return forbidden("IP allocation over quota.")
		case status == http.StatusBadRequest:
			return badRequest("%s", nf.Message)
		}
	}
	if err != nil {
		return neutronProblem(err)
	}
	poolName := nets[0].Name
	if poolName == "" {
		poolName = nets[0].ID
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"floating_ip": fipView(&out.FloatingIP, poolName)})
	return nil
}

// deleteNovaFloatingIP is DELETE /os-floating-ips/{id}: the floating IP is released,
// disassociated first when a server has it.
func (s *Service) deleteNovaFloatingIP(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	ctx := r.Context()
	f, err := s.loadNovaFIP(r, c, r.PathValue("id"))
	if err != nil {
		return err
	}
	instID, err := s.fipInstanceID(ctx, c.caller, f)
	if err != nil {
		return err
	}
	var inst *Instance
	if instID != "" {
		if inst, err = s.getServer(ctx, s.db, c, instID, ""); err != nil {
			return err
		}
	}
	code, err := s.neutron(ctx, c.caller, "DELETE", "/v2.0/floatingips/"+url.PathEscape(f.ID), nil, nil)
	if code == http.StatusNotFound {
		return notFound("Floating IP not found for address %s.", f.FloatingIPAddress)
	}
	if err != nil {
		return neutronProblem(err)
	}
	if inst != nil {
		if err := s.refreshFloatingIPs(ctx, inst); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// ipAddressField is parameter_types.ip_address: an IPv4 or IPv6 address string.
func ipAddressField(field string, v any) (string, error) {
	str, ok := v.(string)
	if !ok {
		return "", invalidInput(field, v, fmt.Sprintf("%s is not of type 'string'", pyReprAny(v)))
	}
	if _, err := netip.ParseAddr(str); err != nil {
		return "", invalidInput(field, v, fmt.Sprintf("%s is not valid under any of the given schemas", pyReprAny(v)))
	}
	return str, nil
}

// actionAddFloatingIP is addFloatingIp (before 2.44): the floating IP is associated
// with the server's port holding fixed_address (or its first IPv4 address).
func (s *Service) actionAddFloatingIP(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	o, err := bodyObject("addFloatingIp", body, false)
	if err != nil {
		return err
	}
	if err := onlyKeys(o, "addFloatingIp", "address", "fixed_address"); err != nil {
		return err
	}
	av, ok := o["address"]
	if !ok {
		return invalidInput("addFloatingIp", map[string]any(o), "'address' is a required property")
	}
	address, err := ipAddressField("address", av)
	if err != nil {
		return err
	}
	fixedAddress := ""
	if fv, ok := o["fixed_address"]; ok {
		if fixedAddress, err = ipAddressField("fixed_address", fv); err != nil {
			return err
		}
	}
	ctx := r.Context()
	inst, err := s.getServer(ctx, s.db, c, id, c.rule)
	if err != nil {
		return err
	}
	vifs := loadVIFs(inst)
	if len(vifs) == 0 {
		return badRequest("Instance network is not ready yet")
	}
	var fixed []string
	for _, v := range vifs {
		for _, sn := range v.Network.Subnets {
			for _, ip := range sn.IPs {
				fixed = append(fixed, ip.Address)
			}
		}
	}
	if len(fixed) == 0 {
		return badRequest("No fixed IPs associated to instance")
	}
	if fixedAddress != "" {
		found := false
		for _, a := range fixed {
			found = found || a == fixedAddress
		}
		if !found {
			return badRequest("Specified fixed address not assigned to instance")
		}
	} else {
		for _, a := range fixed {
			if ip, err := netip.ParseAddr(a); err == nil && ip.Is4() {
				fixedAddress = a
				break
			}
		}
		if fixedAddress == "" {
			return badRequest("Unable to associate floating IP %s to any fixed IPs for instance %s. Instance has no fixed IPv4 addresses to associate.", address, id)
		}
	}
	failed := func(reason string) error {
		return badRequest("Unable to associate floating IP %s to fixed IP %s for instance %s. Error: %s", address, fixedAddress, id, reason)
	}
	// _get_port_id_by_fixed_address: the instance's own port with that address.
	ports, err := s.listPorts(ctx, c.caller, url.Values{"device_id": {inst.UUID}, "device_owner": {portOwner(inst)}})
	if err != nil {
		return err
	}
	portID := ""
	for _, p := range ports {
		for _, f := range p.FixedIPs {
			if f.IPAddress == fixedAddress && portID == "" {
				portID = p.ID
			}
		}
	}
	if portID == "" {
		return failed(fmt.Sprintf("Fixed IP not found for address %s.", fixedAddress))
	}
	fips, err := s.listFIPs(ctx, c.caller, url.Values{"floating_ip_address": {address}})
	if err != nil {
		return err
	}
	switch len(fips) {
	case 0:
		return notFound("floating IP not found")
	case 1:
	default:
		return failed(fmt.Sprintf("Multiple floating IPs are found for address %s.", address))
	}
	_, err = s.neutron(ctx, c.caller, "PUT", "/v2.0/floatingips/"+url.PathEscape(fips[0].ID),
		map[string]any{"floatingip": map[string]any{"port_id": portID, "fixed_ip_address": fixedAddress}}, nil)
	if status, nf, ok := neutronError(err); ok && status < 500 {
		if status == http.StatusConflict {
			return badRequest("%s", nf.Message)
		}
		return failed(nf.Message)
	}
	if err != nil {
		return err
	}
	// The instance that had the address before (if another) loses it from its cache.
	if prev := fips[0].PortDetails; prev != nil && prev.DeviceID != "" && prev.DeviceID != inst.UUID {
		if other, found, err := loadInstance(ctx, s.db, prev.DeviceID); err == nil && found {
			_ = s.refreshFloatingIPs(ctx, other)
		}
	}
	if err := s.refreshFloatingIPs(ctx, inst); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// actionRemoveFloatingIP is removeFloatingIp (before 2.44): the floating IP is
// disassociated when it is associated with this server.
func (s *Service) actionRemoveFloatingIP(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	o, err := bodyObject("removeFloatingIp", body, false)
	if err != nil {
		return err
	}
	if err := onlyKeys(o, "removeFloatingIp", "address"); err != nil {
		return err
	}
	av, ok := o["address"]
	if !ok {
		return invalidInput("removeFloatingIp", map[string]any(o), "'address' is a required property")
	}
	address, err := ipAddressField("address", av)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if s.networkAPI == nil {
		return notFound("Floating IP not found for address %s.", address)
	}
	// Nova finds the instance from the floating IP, not from the URL.
	f, err := s.fipByAddress(ctx, c.caller, address, fmt.Sprintf("Floating IP not found for address %s.", address))
	if err != nil {
		return err
	}
	instID, err := s.fipInstanceID(ctx, c.caller, f)
	if err != nil {
		return err
	}
	var inst *Instance
	target := policy.Target{}
	if instID != "" {
		if inst, err = s.getServer(ctx, s.db, c, instID, ""); err != nil {
			return err
		}
		target = instanceTarget(inst)
	}
	if err := s.authorize(c, c.rule, target); err != nil {
		return err
	}
	if inst == nil || f.PortID == nil || *f.PortID == "" || inst.UUID != id {
		return conflict("Floating IP %s is not associated with instance %s.", address, id)
	}
	_, err = s.neutron(ctx, c.caller, "PUT", "/v2.0/floatingips/"+url.PathEscape(f.ID),
		map[string]any{"floatingip": map[string]any{"port_id": nil}}, nil)
	if status, _, ok := neutronError(err); ok && status == http.StatusForbidden {
		return forbidden("Forbidden")
	}
	if err != nil {
		return neutronProblem(err)
	}
	if err := s.refreshFloatingIPs(ctx, inst); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
