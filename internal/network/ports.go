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

// Port statuses.
const (
	PortStatusActive = "ACTIVE"
	PortStatusDown   = "DOWN"
	PortStatusBuild  = "BUILD"
	PortStatusError  = "ERROR"
)

// maxAddressPairs is [DEFAULT] max_allowed_address_pair.
const maxAddressPairs = 10

// vnicTypes are the binding:vnic_type values Neutron accepts.
var vnicTypes = []string{"normal", "direct", "macvtap", "baremetal", "direct-physical", "virtio-forwarder",
	"smart-nic", "vdpa", "remote-managed", "accelerator-direct", "accelerator-direct-physical"}

// SecurityGroupHook is how ports meet security groups, which another part of the
// service implements: DefaultSecurityGroup returns (creating on first use) the id of a
// project's "default" group; ValidateSecurityGroups refuses ids the project cannot use
// (SecurityGroupNotFound). Both run before the port's own transaction.
type SecurityGroupHook interface {
	DefaultSecurityGroup(ctx context.Context, projectID string) (string, error)
	ValidateSecurityGroups(ctx context.Context, caller *api.Caller, projectID string, ids []string) error
}

// SetSecurityGroupHook installs the security group hook.
func (s *Service) SetSecurityGroupHook(h SecurityGroupHook) {
	s.sgMu.Lock()
	defer s.sgMu.Unlock()
	s.securityHook = h
}

func (s *Service) sgHook() SecurityGroupHook {
	s.sgMu.RLock()
	defer s.sgMu.RUnlock()
	return s.securityHook
}

var portAttrs = []string{"network_id", "mac_address", "admin_state_up", "status", "device_id", "device_owner",
	"binding:host_id", "binding:vnic_type", "binding:vif_type", "binding:vif_details", "binding:profile",
	"port_security_enabled", "security_groups", "allowed_address_pairs", "extra_dhcp_opts", "dns_name",
	"dns_domain", "dns_assignment", "data_plane_status", "propagate_uplink_status", "ip_allocation",
	"qos_policy_id", "qos_network_policy_id", "fixed_ips"}

func (s *Service) portKind() *kind {
	return &kind{
		singular: "port", collection: "ports", table: "net_ports", hasTags: true,
		attrs: portAttrs,
		unsortable: []string{"binding:vif_details", "binding:profile", "security_groups", "allowed_address_pairs",
			"extra_dhcp_opts", "dns_assignment", "fixed_ips"},
		columns: map[string]string{"id": "id", "project_id": "project_id", "tenant_id": "project_id",
			"network_id": "network_id", "device_id": "device_id", "device_owner": "device_owner",
			"mac_address": "mac_address", "name": "name", "binding:host_id": "binding_host_id", "status": "status"},
		custom:    map[string]func(record, []string) (bool, error){"fixed_ips": matchFixedIPs},
		notFound:  portNotFound,
		load:      s.loadPorts,
		target:    childTarget,
		facts:     childFacts("ports"),
		sqlPaging: "id",
		policyKey: func(rec record) string {
			return fmt.Sprint(rec["project_id"], "\x00", rec["network_id"], "\x00", rec["_net_project"], "\x00",
				rec["device_owner"], "\x00", rec["_net_shared"], rec["_net_external"])
		},
	}
}

func (s *Service) portRoutes() []route {
	return s.crudRoutes(s.kinds["ports"], s.createPort, s.updatePort, s.deletePort)
}

// matchFixedIPs is the fixed_ips filter: "ip_address=...", "subnet_id=..." and
// "ip_address_substr=..." values; values of one key are alternatives, keys all apply.
func matchFixedIPs(rec record, values []string) (bool, error) {
	byKey := map[string][]string{}
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if !ok || (k != "ip_address" && k != "subnet_id" && k != "ip_address_substr") {
			return false, badRequest("Invalid input for fixed_ips. Reason: '%s' is not a valid fixed_ips filter.", truncate(v, 64))
		}
		byKey[k] = append(byKey[k], val)
	}
	ips, _ := rec["fixed_ips"].([]any)
	for k, vals := range byKey {
		found := false
		for _, e := range ips {
			m := e.(map[string]any)
			for _, v := range vals {
				switch k {
				case "ip_address_substr":
					found = found || strings.Contains(m["ip_address"].(string), v)
				default:
					found = found || m[k] == v
				}
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, nil
}

// portRow is a port as stored.
type portRow struct {
	stdAttrs
	NetworkID, MAC, Status, DeviceID, DeviceOwner, Host, VNIC, VIFType string
	VIFDetails, Profile, Pairs, DHCPOpts, DNSName, DNSDomain           string
	DataPlane                                                          *string
	Admin, PortSec, Propagate                                          bool
	IPAllocation                                                       string
}

const portCols = `id, project_id, name, description, revision_number, created_at, updated_at, network_id, mac_address,
	status, device_id, device_owner, binding_host_id, binding_vnic_type, binding_vif_type, binding_vif_details,
	binding_profile, allowed_address_pairs, extra_dhcp_opts, dns_name, dns_domain, data_plane_status, admin_state_up,
	port_security_enabled, propagate_uplink_status, ip_allocation`

func (p *portRow) dest() []any {
	return append(p.stdAttrs.dest(), &p.NetworkID, &p.MAC, &p.Status, &p.DeviceID, &p.DeviceOwner, &p.Host, &p.VNIC,
		&p.VIFType, &p.VIFDetails, &p.Profile, &p.Pairs, &p.DHCPOpts, &p.DNSName, &p.DNSDomain, &p.DataPlane,
		&p.Admin, &p.PortSec, &p.Propagate, &p.IPAllocation)
}

// fixedIP is one allocation of a port.
type fixedIP struct {
	SubnetID, IP string
}

// loadPortRows reads ports with their fixed IPs and security groups.
func loadPortRows(ctx context.Context, q store.Querier, where string, args []any, one string) ([]*portRow, map[string][]fixedIP, map[string][]string, error) {
	return loadPortRowsPaged(ctx, q, where, args, one, "")
}

// loadPortRowsPaged is loadPortRows with an ORDER BY tail (LIMIT); a page reads only its
// ports' addresses and groups.
func loadPortRowsPaged(ctx context.Context, q store.Querier, where string, args []any, one, tail string) ([]*portRow, map[string][]fixedIP, map[string][]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+portCols+` FROM net_ports WHERE 1=1`+where+` ORDER BY id`+tail, args...)
	if err != nil {
		return nil, nil, nil, err
	}
	var out []*portRow
	for rows.Next() {
		p := &portRow{}
		if err := rows.Scan(p.dest()...); err != nil {
			rows.Close()
			return nil, nil, nil, err
		}
		out = append(out, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, nil, nil, err
	}
	ipq := `SELECT port_id, subnet_id, ip_address FROM net_ip_allocations`
	sgq := `SELECT port_id, security_group_id FROM net_port_security_groups`
	var xargs []any
	switch {
	case one != "":
		ipq += ` WHERE port_id = ?`
		sgq += ` WHERE port_id = ?`
		xargs = []any{one}
	case tail != "":
		in := ` WHERE port_id IN (` + placeholders(len(out)) + `)`
		ipq += in
		sgq += in
		for _, p := range out {
			xargs = append(xargs, p.ID)
		}
	}
	ips := map[string][]fixedIP{}
	rows, err = q.QueryContext(ctx, ipq+` ORDER BY port_id, position`, xargs...)
	if err != nil {
		return nil, nil, nil, err
	}
	for rows.Next() {
		var pid string
		var f fixedIP
		if err := rows.Scan(&pid, &f.SubnetID, &f.IP); err != nil {
			rows.Close()
			return nil, nil, nil, err
		}
		ips[pid] = append(ips[pid], f)
	}
	rows.Close()
	sgs := map[string][]string{}
	rows, err = q.QueryContext(ctx, sgq+` ORDER BY port_id, security_group_id`, xargs...)
	if err != nil {
		return nil, nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var pid, sg string
		if err := rows.Scan(&pid, &sg); err != nil {
			return nil, nil, nil, err
		}
		sgs[pid] = append(sgs[pid], sg)
	}
	return out, ips, sgs, rows.Err()
}

func (s *Service) loadPorts(ctx context.Context, q store.Querier, c *call, pre sqlFilter) ([]record, error) {
	where, args := pre.where(s.kinds["ports"], "")
	if !s.isAdmin(c) {
		where += ` AND (project_id = ? OR network_id IN (SELECT id FROM net_networks WHERE project_id = ?))`
		args = append(args, c.project(), c.project())
	}
	one := ""
	if ids := pre["id"]; len(ids) == 1 {
		one = ids[0]
	}
	pw, pargs, tail := pre.paging("id")
	rows, ips, sgs, err := loadPortRowsPaged(ctx, q, where+pw, append(args, pargs...), one, tail)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	oneNet := ""
	if len(rows) == 1 {
		oneNet = rows[0].NetworkID
	}
	nets, err := s.networkFactsFor(ctx, q, c, oneNet)
	if err != nil {
		return nil, err
	}
	tags, err := loadTags(ctx, q, "ports", pre)
	if err != nil {
		return nil, err
	}
	out := make([]record, 0, len(rows))
	for _, p := range rows {
		out = append(out, renderPort(p, ips[p.ID], sgs[p.ID], nets[p.NetworkID], tags))
	}
	if err := attachPortQos(ctx, q, out, one); err != nil {
		return nil, err
	}
	if err := attachTrunkDetails(ctx, q, out, one); err != nil {
		return nil, err
	}
	return out, nil
}

// hostnameReplacer turns an address into Neutron's default DNS host label.
var hostnameReplacer = strings.NewReplacer(".", "-", ":", "-")

func renderPort(p *portRow, ips []fixedIP, sgs []string, nf *netFacts, tags map[string][]string) record {
	fixed := make([]any, 0, len(ips))
	assign := make([]any, 0, len(ips))
	for _, f := range ips {
		fixed = append(fixed, map[string]any{"subnet_id": f.SubnetID, "ip_address": f.IP})
		host := p.DNSName
		if host == "" {
			host = "host-" + hostnameReplacer.Replace(f.IP)
		}
		assign = append(assign, map[string]any{"hostname": host, "ip_address": f.IP, "fqdn": host + ".openstacklocal."})
	}
	if sgs == nil {
		sgs = []string{}
	}
	details, profile := jsonObject(p.VIFDetails), jsonObject(p.Profile)
	pairs, opts := jsonList(p.Pairs), jsonList(p.DHCPOpts)
	rec := record{"network_id": p.NetworkID, "mac_address": p.MAC, "admin_state_up": p.Admin, "status": p.Status,
		"device_id": p.DeviceID, "device_owner": p.DeviceOwner, "fixed_ips": fixed, "security_groups": sgs,
		"binding:host_id": p.Host, "binding:vnic_type": p.VNIC, "binding:vif_type": p.VIFType,
		"binding:vif_details": details, "binding:profile": profile, "port_security_enabled": p.PortSec,
		"allowed_address_pairs": pairs, "extra_dhcp_opts": opts, "dns_name": p.DNSName, "dns_domain": p.DNSDomain,
		"dns_assignment": assign, "data_plane_status": strPtr(p.DataPlane), "propagate_uplink_status": p.Propagate,
		"ip_allocation": p.IPAllocation, "qos_policy_id": nil, "qos_network_policy_id": nil,
		"resource_request": nil}
	p.stdAttrs.render(rec, tags)
	if nf != nil {
		rec["_net_project"], rec["_net_shared"], rec["_net_external"] = nf.project, nf.shared, nf.external
	}
	return rec
}

// ipRequest is one requested fixed IP: a subnet, an address, or both.
type ipRequest struct {
	SubnetID string
	IP       netip.Addr
}

// portSpec is a validated port request.
type portSpec struct {
	id, project, networkID, name, description, mac string
	deviceID, deviceOwner, host, vnic              string
	profile                                        map[string]any
	admin, portSec, propagate                      bool
	hasPortSec                                     bool
	fixed                                          []ipRequest
	hasFixed                                       bool
	sgs                                            []string
	hasSGs                                         bool
	pairs                                          []map[string]string
	dhcpOpts                                       []map[string]any
	dnsName, dnsDomain                             string
	tags                                           []string
	// qos is the requested qos_policy_id ("" none) and hasQos whether the body set it.
	qos    string
	hasQos bool
}

var portCreateAttrs = []string{"name", "description", "network_id", "admin_state_up", "mac_address", "fixed_ips",
	"device_id", "device_owner", "binding:host_id", "binding:vnic_type", "binding:profile", "security_groups",
	"allowed_address_pairs", "extra_dhcp_opts", "port_security_enabled", "dns_name", "dns_domain",
	"propagate_uplink_status", "project_id", "tenant_id", "tags", "qos_policy_id"}

func (s *Service) createPort(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["ports"]
	b, err := decode(r, "port")
	if err != nil {
		return err
	}
	if err := b.known(portCreateAttrs...); err != nil {
		return err
	}
	spec := &portSpec{id: api.NewUUID(), admin: true, vnic: "normal"}
	if spec.project, err = b.owner(c); err != nil {
		return err
	}
	var ok bool
	if spec.networkID, ok, err = b.str("network_id", 36, false); err != nil {
		return err
	} else if !ok {
		return badRequest("Failed to parse request. Required attribute 'network_id' not specified")
	}
	if err := s.parsePortAttrs(b, spec, true); err != nil {
		return err
	}
	net, err := s.networkOf(r.Context(), s.db, c, spec.networkID)
	if err != nil {
		return err
	}
	target := policy.Target{"project_id": spec.project, "network_id": spec.networkID,
		"network:project_id": net["project_id"], "network:tenant_id": net["project_id"],
		"device_owner": spec.deviceOwner}
	facts := networkFacts(net)
	if strings.HasPrefix(spec.deviceOwner, "network:") {
		facts = append(facts, "port:device_owner=~^network:")
	}
	if !s.enforce(c, "create_port", target, facts) {
		return policyNotAuthorized("create_port")
	}
	if err := s.authorizePortAttrs(c, "create", b, target, facts); err != nil {
		return err
	}
	if !spec.hasPortSec {
		spec.portSec = net["port_security_enabled"] == true
	}
	if err := s.resolvePortSecurity(r.Context(), c, spec, true); err != nil {
		return err
	}
	if spec.qos != "" {
		if err := s.checkQosPolicyUsable(r.Context(), s.db, c, spec.qos); err != nil {
			return err
		}
	}
	err = retryOnConflict(r.Context(), func() error {
		return s.db.InTx(r.Context(), func(tx *store.Tx) error {
			if err := s.checkQuota(r.Context(), tx, spec.project, "port", 1); err != nil {
				return err
			}
			return s.insertPort(r.Context(), tx, spec)
		})
	})
	if err != nil {
		return err
	}
	s.notify()
	return s.writeOne(w, c, k, http.StatusCreated, spec.id, r.Context())
}

// authorizePortAttrs checks the per-attribute port rules, including the nested ones
// (fixed_ips:ip_address, fixed_ips:subnet_id, allowed_address_pairs:*).
func (s *Service) authorizePortAttrs(c *call, action string, b body, target policy.Target, facts []string) error {
	if err := s.authorizeAttrs(c, s.kinds["ports"], action, b.Object, target, facts); err != nil {
		return err
	}
	check := func(rule string) error {
		if _, ok := s.rules[rule]; ok && !s.enforce(c, rule, target, facts) {
			return policyNotAuthorized(rule)
		}
		return nil
	}
	if list, ok, _ := b.List("fixed_ips"); ok {
		for _, f := range list {
			for _, key := range []string{"ip_address", "subnet_id"} {
				if _, has := f[key]; has {
					if err := check(action + "_port:fixed_ips:" + key); err != nil {
						return err
					}
				}
			}
		}
	}
	if list, ok, _ := b.List("allowed_address_pairs"); ok {
		for _, f := range list {
			for _, key := range []string{"ip_address", "mac_address"} {
				if _, has := f[key]; has {
					if err := check(action + "_port:allowed_address_pairs:" + key); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// parsePortAttrs validates the attributes shared by port create and update.
func (s *Service) parsePortAttrs(b body, spec *portSpec, create bool) error {
	var err error
	if spec.name, spec.description, _, _, err = b.nameAndDescription(); err != nil {
		return err
	}
	if v, ok, err := b.boolean("admin_state_up"); err != nil {
		return err
	} else if ok {
		spec.admin = v
	}
	if spec.portSec, spec.hasPortSec, err = b.boolean("port_security_enabled"); err != nil {
		return err
	}
	if spec.propagate, _, err = b.boolean("propagate_uplink_status"); err != nil {
		return err
	}
	if mac, ok, err := b.str("mac_address", 64, false); err != nil {
		return err
	} else if ok {
		m, perr := ipam.ParseMAC(mac)
		if perr != nil {
			return invalidAttr("mac_address", perr.Error())
		}
		spec.mac = m
	}
	if spec.deviceID, _, err = b.str("device_id", 255, false); err != nil {
		return err
	}
	if spec.deviceOwner, _, err = b.str("device_owner", 255, false); err != nil {
		return err
	}
	if spec.host, _, err = b.str("binding:host_id", 255, true); err != nil {
		return err
	}
	if v, ok, err := b.str("binding:vnic_type", 64, false); err != nil {
		return err
	} else if ok {
		if !slices.Contains(vnicTypes, v) {
			return invalidAttr("binding:vnic_type", fmt.Sprintf("'%s' is not in %s", truncate(v, 64), pyList(vnicTypes)))
		}
		spec.vnic = v
	}
	if b.Has("binding:profile") {
		prof, _, err := b.Obj("binding:profile")
		if err != nil {
			return invalidAttr("binding:profile", fmt.Sprintf("'%s' is not a dictionary", describeValue(b.Object["binding:profile"])))
		}
		spec.profile = map[string]any(prof)
		if spec.profile == nil {
			spec.profile = map[string]any{}
		}
	}
	if b.Has("fixed_ips") {
		if spec.fixed, err = parseFixedIPs(b); err != nil {
			return err
		}
		spec.hasFixed = true
	}
	if b.Has("security_groups") {
		if spec.sgs, _, err = b.strList("security_groups"); err != nil {
			return err
		}
		// neutron-lib's uuid_list validator refuses repeated ids.
		sorted := slices.Sorted(slices.Values(spec.sgs))
		for i := 1; i < len(sorted); i++ {
			if sorted[i] == sorted[i-1] {
				return invalidAttr("security_groups", fmt.Sprintf("Duplicate items in the list: '%s'", truncate(sorted[i], 64)))
			}
		}
		spec.sgs = sorted
		spec.hasSGs = true
	}
	if b.Has("allowed_address_pairs") {
		if spec.pairs, err = parseAddressPairs(b); err != nil {
			return err
		}
	}
	if b.Has("extra_dhcp_opts") {
		list, _, err := b.List("extra_dhcp_opts")
		if err != nil {
			return invalidAttr("extra_dhcp_opts", "Invalid data format for extra-dhcp-opt")
		}
		if spec.dhcpOpts, err = ValidateExtraDHCPOpts(list, !create); err != nil {
			return err
		}
	}
	if spec.dnsName, _, err = b.str("dns_name", 255, true); err != nil {
		return err
	}
	if spec.dnsName != "" {
		if err := validateDNSName(spec.dnsName); err != nil {
			return err
		}
	}
	if spec.dnsDomain, _, err = b.str("dns_domain", 255, true); err != nil {
		return err
	}
	if spec.qos, spec.hasQos, err = qosPolicyRequest(b); err != nil {
		return err
	}
	if spec.tags, err = createTags(b.Object); err != nil {
		return err
	}
	return nil
}

// validateDNSName checks a port's dns_name as Neutron's dns validator does: labels of
// letters, digits and hyphens, not starting or ending with a hyphen, at most 63 each.
func validateDNSName(n string) error {
	name := strings.TrimSuffix(n, ".")
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") ||
			strings.Trim(strings.ToLower(label), "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return invalidAttr("dns_name", fmt.Sprintf("'%s' not a valid PQDN or FQDN. Reason: Encountered an invalid character or label", truncate(n, 64)))
		}
	}
	return nil
}

// parseFixedIPs reads fixed_ips: each entry a subnet_id and/or an ip_address.
func parseFixedIPs(b body) ([]ipRequest, error) {
	list, _, err := b.List("fixed_ips")
	if err != nil {
		return nil, invalidAttr("fixed_ips", "Invalid data format for fixed IP")
	}
	out := []ipRequest{}
	for _, f := range list {
		var req ipRequest
		for key, v := range f {
			sv, ok := v.(string)
			if !ok {
				return nil, invalidAttr("fixed_ips", fmt.Sprintf("Invalid data format for fixed IP: '%s'", describeValue(v)))
			}
			switch key {
			case "subnet_id":
				req.SubnetID = sv
			case "ip_address":
				a, perr := ipam.ParseIP(sv)
				if perr != nil {
					return nil, invalidAttr("fixed_ips", perr.Error())
				}
				req.IP = a
			default:
				return nil, invalidAttr("fixed_ips", fmt.Sprintf("Unrecognized attribute(s) '%s'", truncate(key, 64)))
			}
		}
		if req.SubnetID == "" && !req.IP.IsValid() {
			return nil, invalidAttr("fixed_ips", "Invalid data format for fixed IP")
		}
		out = append(out, req)
	}
	return out, nil
}

// parseAddressPairs reads allowed_address_pairs: an address or CIDR with an optional MAC,
// unique, at most maxAddressPairs.
func parseAddressPairs(b body) ([]map[string]string, error) {
	list, _, err := b.List("allowed_address_pairs")
	if err != nil {
		return nil, invalidAttr("allowed_address_pairs", "Allowed address pairs must be a list.")
	}
	if len(list) > maxAddressPairs {
		return nil, nerr(http.StatusBadRequest, "AllowedAddressPairExhausted",
			"The number of allowed address pair exceeds the maximum %d.", maxAddressPairs)
	}
	out := []map[string]string{}
	for _, p := range list {
		ip, _ := p["ip_address"].(string)
		if ip == "" {
			return nil, nerr(http.StatusBadRequest, "AllowedAddressPairsMissingIP", "AllowedAddressPair must contain ip_address")
		}
		norm := ""
		if strings.Contains(ip, "/") {
			_, masked, perr := ipam.ParseCIDR(ip)
			if perr != nil {
				return nil, invalidAttr("allowed_address_pairs", perr.Error())
			}
			norm = masked.String()
		} else {
			a, perr := ipam.ParseIP(ip)
			if perr != nil {
				return nil, invalidAttr("allowed_address_pairs", perr.Error())
			}
			norm = a.String()
		}
		e := map[string]string{"ip_address": norm}
		if m, ok := p["mac_address"]; ok {
			ms, _ := m.(string)
			mac, perr := ipam.ParseMAC(ms)
			if perr != nil {
				return nil, invalidAttr("allowed_address_pairs", perr.Error())
			}
			e["mac_address"] = mac
		}
		for key := range p {
			if key != "ip_address" && key != "mac_address" {
				return nil, invalidAttr("allowed_address_pairs", fmt.Sprintf("Unrecognized attribute(s) '%s'", truncate(key, 64)))
			}
		}
		for _, o := range out {
			if o["ip_address"] == e["ip_address"] && o["mac_address"] == e["mac_address"] {
				return nil, nerr(http.StatusBadRequest, "DuplicateAddressPairInRequest",
					"Request contains duplicate address pair: mac_address %s ip_address %s.", e["mac_address"], e["ip_address"])
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// resolvePortSecurity applies the port security rules and the security group hook:
// groups need port security, address pairs need port security, a port without groups
// gets the project's default group (compute and user ports only).
func (s *Service) resolvePortSecurity(ctx context.Context, c *call, spec *portSpec, create bool) error {
	if !spec.portSec {
		if len(spec.sgs) > 0 {
			return nerr(http.StatusBadRequest, "PortSecurityAndIPRequiredForSecurityGroups",
				"Port security must be enabled and port must have an IP address in order to use security groups.")
		}
		if len(spec.pairs) > 0 {
			return nerr(http.StatusConflict, "AddressPairAndPortSecurityRequired",
				"Port Security must be enabled in order to have allowed address pairs on a port.")
		}
	}
	hook := s.sgHook()
	if hook == nil {
		return nil
	}
	if spec.hasSGs && len(spec.sgs) > 0 {
		return hook.ValidateSecurityGroups(ctx, c.caller, spec.project, spec.sgs)
	}
	if create && !spec.hasSGs && spec.portSec && !strings.HasPrefix(spec.deviceOwner, "network:") {
		id, err := hook.DefaultSecurityGroup(ctx, spec.project)
		if err != nil {
			return err
		}
		if id != "" {
			spec.sgs = []string{id}
		}
	}
	return nil
}

// insertPort writes a port with its MAC and addresses inside tx.
func (s *Service) insertPort(ctx context.Context, tx *store.Tx, spec *portSpec) error {
	mac := spec.mac
	if mac == "" {
		mac = ipam.RandomMAC(s.cfg.BaseMAC)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM net_ports WHERE network_id = ? AND mac_address = ?`,
		spec.networkID, mac).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		if spec.mac != "" {
			return macInUse(spec.networkID, mac)
		}
		// A random MAC collided; the unique violation path retries with another.
		mac = ipam.RandomMAC(s.cfg.BaseMAC)
	}
	vifType, details := "unbound", "{}"
	if spec.host != "" {
		vifType, details = "bridge", `{"connectivity": "l2", "port_filter": true}`
	}
	ipAlloc := "immediate"
	if spec.hasFixed && len(spec.fixed) == 0 {
		ipAlloc = "none"
	}
	dnsName := spec.dnsName
	ts := store.FormatTime(now())
	if _, err := tx.ExecContext(ctx, `INSERT INTO net_ports (id, project_id, name, description, network_id, mac_address,
		admin_state_up, status, device_id, device_owner, binding_host_id, binding_vnic_type, binding_vif_type,
		binding_vif_details, binding_profile, port_security_enabled, allowed_address_pairs, extra_dhcp_opts, dns_name,
		dns_domain, propagate_uplink_status, ip_allocation, revision_number, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'DOWN', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
		spec.id, spec.project, spec.name, spec.description, spec.networkID, mac, spec.admin, spec.deviceID,
		spec.deviceOwner, spec.host, spec.vnic, vifType, details, jsonText(orEmptyMap(spec.profile), "{}"), spec.portSec,
		jsonText(orEmptyPairs(spec.pairs, mac), "[]"), jsonText(spec.dhcpOpts, "[]"), dnsName, spec.dnsDomain,
		spec.propagate, ipAlloc, ts, ts); err != nil {
		return err
	}
	if err := s.allocateIPs(ctx, tx, spec.id, spec.networkID, mac, spec.deviceOwner, spec.fixed, spec.hasFixed, nil); err != nil {
		return err
	}
	for _, sg := range spec.sgs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO net_port_security_groups (port_id, security_group_id) VALUES (?, ?)`,
			spec.id, sg); err != nil {
			return err
		}
	}
	if err := setQosBinding(ctx, tx, "port", spec.id, spec.qos); err != nil {
		return err
	}
	return setTags(ctx, tx, "ports", spec.id, spec.tags)
}

func orEmptyMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// orEmptyPairs fills each pair's MAC with the port's, as Neutron stores them.
func orEmptyPairs(pairs []map[string]string, mac string) []map[string]string {
	out := make([]map[string]string, 0, len(pairs))
	for _, p := range pairs {
		e := map[string]string{"ip_address": p["ip_address"], "mac_address": p["mac_address"]}
		if e["mac_address"] == "" {
			e["mac_address"] = mac
		}
		out = append(out, e)
	}
	return out
}

// autoAddress reports whether a subnet's addresses come from SLAAC (EUI-64 from the MAC).
func autoAddress(sr *subnetRow) bool {
	return sr.AddrMode != nil && (*sr.AddrMode == modeSLAAC || *sr.AddrMode == modeStateless)
}

// serviceSubnets keeps the subnets a device owner may allocate from: those whose
// service_types name it, or, when none does, those without service types.
func serviceSubnets(subnets []*subnetRow, owner string) []*subnetRow {
	var typed, plain []*subnetRow
	for _, sr := range subnets {
		var st []string
		_ = json.Unmarshal([]byte(sr.ServiceTypes), &st)
		switch {
		case len(st) == 0:
			plain = append(plain, sr)
		case slices.Contains(st, owner):
			typed = append(typed, sr)
		}
	}
	if len(typed) > 0 {
		return typed
	}
	return plain
}

// allocateIPs gives a port its addresses inside tx. Every subnet of the network is
// locked first (in id order, after the project's quota lock), so concurrent allocations
// on a network queue; the (subnet, address) primary key backs this up. keep lists
// allocations an update retains (nil on create). Without a fixed_ips request the port
// gets one address from the first IPv4 subnet with room, one from the first stateful
// IPv6 subnet with room, and its SLAAC address on every auto-address subnet.
func (s *Service) allocateIPs(ctx context.Context, tx *store.Tx, portID, networkID, mac, owner string,
	reqs []ipRequest, explicit bool, keep []fixedIP) error {
	subnets, err := loadSubnetRows(ctx, tx, ` AND network_id = ?`, networkID)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(subnets))
	byID := map[string]*subnetRow{}
	for _, sr := range subnets {
		ids = append(ids, sr.ID)
		byID[sr.ID] = sr
	}
	slices.Sort(ids)
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `UPDATE net_subnets SET ipam_lock = ipam_lock + 1 WHERE id = ?`, id); err != nil {
			return err
		}
	}
	pos := len(keep)
	used := map[string]map[netip.Addr]bool{}
	usedIn := func(sid string) (map[netip.Addr]bool, error) {
		if u, ok := used[sid]; ok {
			return u, nil
		}
		rows, err := tx.QueryContext(ctx, `SELECT ip_address FROM net_ip_allocations WHERE subnet_id = ?`, sid)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		u := map[netip.Addr]bool{}
		for rows.Next() {
			var ip string
			if err := rows.Scan(&ip); err != nil {
				return nil, err
			}
			if a, err := netip.ParseAddr(ip); err == nil {
				u[a] = true
			}
		}
		used[sid] = u
		return u, rows.Err()
	}
	insert := func(sid string, a netip.Addr) error {
		u, err := usedIn(sid)
		if err != nil {
			return err
		}
		if u[a] {
			return ipAlreadyAllocated(a.String(), sid)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO net_ip_allocations (subnet_id, ip_address, port_id, network_id, position)
			VALUES (?, ?, ?, ?, ?)`, sid, a.String(), portID, networkID, pos); err != nil {
			return err
		}
		pos++
		u[a] = true
		return nil
	}
	next := func(sr *subnetRow) (netip.Addr, bool, error) {
		u, err := usedIn(sr.ID)
		if err != nil {
			return netip.Addr{}, false, err
		}
		a, ok := ipam.NextFree(sr.pools, u)
		return a, ok, nil
	}
	if explicit {
		for _, req := range reqs {
			var sr *subnetRow
			if req.SubnetID != "" {
				sr = byID[req.SubnetID]
				if sr == nil {
					return invalidInput("Failed to create port on network %s, because fixed_ips included invalid subnet %s", networkID, truncate(req.SubnetID, 64))
				}
			}
			if req.IP.IsValid() {
				if sr == nil {
					for _, cand := range subnets {
						if cand.prefix.Contains(req.IP) {
							sr = cand
							break
						}
					}
					if sr == nil {
						return nerr(http.StatusBadRequest, "InvalidIpForNetwork",
							"IP address %s is not a valid IP for any of the subnets on the specified network.", req.IP)
					}
				}
				if !validInSubnet(sr.prefix, req.IP) {
					return nerr(http.StatusBadRequest, "InvalidIpForSubnet", "IP address %s is not a valid IP for the specified subnet.", req.IP)
				}
				if err := insert(sr.ID, req.IP); err != nil {
					return err
				}
				continue
			}
			if autoAddress(sr) {
				a, err := ipam.EUI64(sr.prefix, mac)
				if err != nil {
					return invalidInput("%s", err.Error())
				}
				if err := insert(sr.ID, a); err != nil {
					return err
				}
				continue
			}
			a, ok, err := next(sr)
			if err != nil {
				return err
			}
			if !ok {
				return ipGenerationFailure(networkID)
			}
			if err := insert(sr.ID, a); err != nil {
				return err
			}
		}
		return nil
	}
	candidates := serviceSubnets(subnets, owner)
	if len(candidates) == 0 {
		return nil
	}
	gotV4, gotV6, triedV4, triedV6 := false, false, false, false
	for _, sr := range candidates {
		switch {
		case autoAddress(sr):
			if strings.HasPrefix(owner, "network:router_interface") {
				continue
			}
			a, err := ipam.EUI64(sr.prefix, mac)
			if err != nil {
				continue
			}
			if err := insert(sr.ID, a); err != nil {
				return err
			}
		case sr.IPVersion == 4 && !gotV4:
			triedV4 = true
			a, ok, err := next(sr)
			if err != nil {
				return err
			}
			if ok {
				if err := insert(sr.ID, a); err != nil {
					return err
				}
				gotV4 = true
			}
		case sr.IPVersion == 6 && !gotV6:
			triedV6 = true
			a, ok, err := next(sr)
			if err != nil {
				return err
			}
			if ok {
				if err := insert(sr.ID, a); err != nil {
					return err
				}
				gotV6 = true
			}
		}
	}
	if (triedV4 && !gotV4) || (triedV6 && !gotV6) {
		return ipGenerationFailure(networkID)
	}
	return nil
}

// validInSubnet reports whether an address may be a port's in the subnet: inside the
// CIDR and, for IPv4, not the network or broadcast address.
func validInSubnet(p netip.Prefix, a netip.Addr) bool {
	if !p.Contains(a) {
		return false
	}
	if p.Addr().Is4() && p.Bits() < 31 && (a == ipam.First(p) || a == ipam.Last(p)) {
		return false
	}
	return true
}

var portUpdateAttrs = []string{"name", "description", "admin_state_up", "mac_address", "fixed_ips", "device_id",
	"device_owner", "binding:host_id", "binding:vnic_type", "binding:profile", "security_groups",
	"allowed_address_pairs", "extra_dhcp_opts", "port_security_enabled", "dns_name", "dns_domain",
	"data_plane_status", "propagate_uplink_status", "qos_policy_id", "tags"}

func (s *Service) updatePort(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["ports"]
	id := r.PathValue("id")
	b, err := decode(r, "port")
	if err != nil {
		return err
	}
	if err := b.readOnly("id", "network_id", "tenant_id", "project_id", "status", "binding:vif_type",
		"binding:vif_details", "created_at", "updated_at", "revision_number", "dns_assignment"); err != nil {
		return err
	}
	if err := b.known(portUpdateAttrs...); err != nil {
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
	if err := s.authorizeOn(c, k, "update_port", rec); err != nil {
		return err
	}
	target := k.target(rec)
	facts := factsOf(k, rec)
	if err := s.authorizePortAttrs(c, "update", b, target, facts); err != nil {
		return err
	}
	spec := &portSpec{id: id, project: rec["project_id"].(string), networkID: rec["network_id"].(string)}
	delete(b.Object, "tags")
	if err := s.parsePortAttrs(b, spec, false); err != nil {
		return err
	}
	portSec := rec["port_security_enabled"] == true
	if spec.hasPortSec {
		portSec = spec.portSec
	}
	spec.portSec = portSec
	curSGs, _ := rec["security_groups"].([]string)
	if !spec.hasSGs {
		if spec.hasPortSec && !portSec && len(curSGs) > 0 {
			return nerr(http.StatusConflict, "PortSecurityPortHasSecurityGroup",
				"Port has security group associated. Cannot disable port security or ip address until security group is removed")
		}
	}
	if !b.Has("allowed_address_pairs") && !portSec {
		if pairs, _ := rec["allowed_address_pairs"].([]any); len(pairs) > 0 {
			return nerr(http.StatusConflict, "AddressPairAndPortSecurityRequired",
				"Port Security must be enabled in order to have allowed address pairs on a port.")
		}
	}
	if err := s.resolvePortSecurity(r.Context(), c, spec, false); err != nil {
		return err
	}
	if spec.qos != "" {
		if err := s.checkQosPolicyUsable(r.Context(), s.db, c, spec.qos); err != nil {
			return err
		}
	}
	var dataPlane any
	hasDataPlane := b.Has("data_plane_status")
	if hasDataPlane && !b.IsNull("data_plane_status") {
		v, _, err := b.str("data_plane_status", 16, false)
		if err != nil {
			return err
		}
		if v != "ACTIVE" && v != "DOWN" {
			return invalidAttr("data_plane_status", fmt.Sprintf("'%s' is not in ['ACTIVE', 'DOWN']", truncate(v, 64)))
		}
		dataPlane = v
	}
	sets := []string{}
	var args []any
	set := func(col string, v any) { sets, args = append(sets, col+" = ?"), append(args, v) }
	for _, f := range []struct{ key, col string }{{"name", "name"}, {"description", "description"},
		{"device_id", "device_id"}, {"device_owner", "device_owner"}, {"binding:vnic_type", "binding_vnic_type"},
		{"dns_domain", "dns_domain"}} {
		if b.Has(f.key) {
			v := map[string]string{"name": spec.name, "description": spec.description, "device_id": spec.deviceID,
				"device_owner": spec.deviceOwner, "binding:vnic_type": spec.vnic, "dns_domain": spec.dnsDomain}[f.key]
			set(f.col, v)
		}
	}
	if b.Has("dns_name") {
		set("dns_name", spec.dnsName)
	}
	if b.Has("admin_state_up") {
		set("admin_state_up", spec.admin)
	}
	if spec.hasPortSec {
		set("port_security_enabled", spec.portSec)
	}
	if b.Has("propagate_uplink_status") {
		set("propagate_uplink_status", spec.propagate)
	}
	if b.Has("binding:profile") {
		set("binding_profile", jsonText(spec.profile, "{}"))
	}
	if b.Has("binding:host_id") {
		set("binding_host_id", spec.host)
		if spec.host == "" {
			set("binding_vif_type", "unbound")
			set("binding_vif_details", "{}")
			set("status", PortStatusDown)
		} else {
			set("binding_vif_type", "bridge")
			set("binding_vif_details", `{"connectivity": "l2", "port_filter": true}`)
		}
	}
	if hasDataPlane {
		set("data_plane_status", dataPlane)
	}
	mac := rec["mac_address"].(string)
	if spec.mac != "" && spec.mac != mac {
		if rec["binding:vif_type"] != "unbound" && rec["binding:host_id"] != "" {
			return inUse("PortBound", "Unable to complete operation on port %s, port is already bound, port type: %s, old_mac %s, new_mac %s.",
				id, rec["binding:vif_type"], mac, spec.mac)
		}
		set("mac_address", spec.mac)
	}
	if b.Has("allowed_address_pairs") {
		newMAC := mac
		if spec.mac != "" {
			newMAC = spec.mac
		}
		set("allowed_address_pairs", jsonText(orEmptyPairs(spec.pairs, newMAC), "[]"))
	}
	if b.Has("extra_dhcp_opts") {
		var cur []map[string]any
		raw, _ := json.Marshal(rec["extra_dhcp_opts"])
		_ = json.Unmarshal(raw, &cur)
		set("extra_dhcp_opts", jsonText(mergeDHCPOpts(cur, spec.dhcpOpts), "[]"))
	}
	err = retryOnConflict(r.Context(), func() error {
		return s.db.InTx(r.Context(), func(tx *store.Tx) error {
			if err := s.bump(r.Context(), tx, k, id, match); err != nil {
				return err
			}
			if len(sets) > 0 {
				if spec.mac != "" && spec.mac != mac {
					var n int
					if err := tx.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM net_ports WHERE network_id = ? AND mac_address = ? AND id <> ?`,
						spec.networkID, spec.mac, id).Scan(&n); err != nil {
						return err
					}
					if n > 0 {
						return macInUse(spec.networkID, spec.mac)
					}
				}
				if _, err := tx.ExecContext(r.Context(), `UPDATE net_ports SET `+strings.Join(sets, ", ")+` WHERE id = ?`,
					append(args, id)...); err != nil {
					return err
				}
			}
			if spec.hasSGs {
				if _, err := tx.ExecContext(r.Context(), `DELETE FROM net_port_security_groups WHERE port_id = ?`, id); err != nil {
					return err
				}
				for _, sg := range spec.sgs {
					if _, err := tx.ExecContext(r.Context(), `INSERT INTO net_port_security_groups (port_id, security_group_id) VALUES (?, ?)`,
						id, sg); err != nil {
						return err
					}
				}
			}
			if spec.hasQos {
				if err := s.checkQosPolicyRemovable(r.Context(), tx, c, "port", id); err != nil {
					return err
				}
				if err := setQosBinding(r.Context(), tx, "port", id, spec.qos); err != nil {
					return err
				}
			}
			if spec.hasFixed {
				return s.reallocateIPs(r.Context(), tx, rec, spec)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	s.notify()
	return s.writeOne(w, c, k, http.StatusOK, id, r.Context())
}

// reallocateIPs applies an updated fixed_ips list: requested addresses the port already
// has stay, the others are freed, and the new ones are allocated.
func (s *Service) reallocateIPs(ctx context.Context, tx *store.Tx, rec record, spec *portSpec) error {
	var cur []fixedIP
	for _, e := range rec["fixed_ips"].([]any) {
		m := e.(map[string]any)
		cur = append(cur, fixedIP{SubnetID: m["subnet_id"].(string), IP: m["ip_address"].(string)})
	}
	var keep []fixedIP
	var fresh []ipRequest
	for _, req := range spec.fixed {
		kept := false
		for _, f := range cur {
			if req.IP.IsValid() && f.IP == req.IP.String() && (req.SubnetID == "" || req.SubnetID == f.SubnetID) {
				if !slices.Contains(keep, f) {
					keep = append(keep, f)
				}
				kept = true
				break
			}
			if !req.IP.IsValid() && req.SubnetID == f.SubnetID && !slices.Contains(keep, f) {
				keep = append(keep, f)
				kept = true
				break
			}
		}
		if !kept {
			fresh = append(fresh, req)
		}
	}
	for _, f := range cur {
		if !slices.Contains(keep, f) {
			if _, err := tx.ExecContext(ctx, `DELETE FROM net_ip_allocations WHERE subnet_id = ? AND ip_address = ?`, f.SubnetID, f.IP); err != nil {
				return err
			}
		}
	}
	mac := rec["mac_address"].(string)
	if spec.mac != "" {
		mac = spec.mac
	}
	return s.allocateIPs(ctx, tx, spec.id, spec.networkID, mac, rec["device_owner"].(string), fresh, true, keep)
}

func (s *Service) deletePort(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["ports"]
	id := r.PathValue("id")
	match, err := ifMatch(r)
	if err != nil {
		return err
	}
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "delete_port", rec); err != nil {
		return err
	}
	// Router and floating IP ports go with their owner, never through the port API.
	if owner, _ := rec["device_owner"].(string); (owner == ownerRouterInterface || owner == ownerRouterGateway || owner == ownerFloatingIP) && rec["device_id"] != "" {
		return inUse("L3PortInUse", "Port %s has owner %s and therefore cannot be deleted directly via the port API.", id, owner)
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.checkRevision(r.Context(), tx, k, id, match); err != nil {
			return err
		}
		if err := checkPortNotTrunked(r.Context(), tx, id); err != nil {
			return err
		}
		return deletePortRows(r.Context(), tx, id)
	})
	if err != nil {
		return err
	}
	s.notify()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deletePortRows deletes a port, freeing its addresses.
func deletePortRows(ctx context.Context, tx *store.Tx, id string) error {
	for _, q := range []string{
		`UPDATE net_floatingips SET fixed_port_id = NULL, fixed_ip_address = NULL, router_id = NULL, status = 'DOWN' WHERE fixed_port_id = ?`,
		`DELETE FROM net_ip_allocations WHERE port_id = ?`,
		`DELETE FROM net_port_security_groups WHERE port_id = ?`,
		`DELETE FROM net_qos_bindings WHERE object_type = 'port' AND object_id = ?`,
		`DELETE FROM net_subports WHERE port_id = ?`,
		`DELETE FROM net_tags WHERE resource_type = 'ports' AND resource_id = ?`,
		`DELETE FROM net_ports WHERE id = ?`,
	} {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			return err
		}
	}
	return nil
}

// SetPortStatus records the status a host's driver reports for a port (ACTIVE once it
// is wired, DOWN when it is not), bumping its revision when it changes.
func (s *Service) SetPortStatus(ctx context.Context, portID, status string) error {
	switch status {
	case PortStatusActive, PortStatusDown, PortStatusBuild, PortStatusError:
	default:
		return fmt.Errorf("network: invalid port status %q", status)
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE net_ports SET status = ?, revision_number = revision_number + 1, updated_at = ?
			WHERE id = ? AND status <> ?`, status, store.FormatTime(now()), portID, status)
		if err != nil {
			return fmt.Errorf("set port status: %w", err)
		}
		_ = res
		return nil
	})
}

// jsonObject decodes a stored JSON object, skipping the decoder for the common "{}".
func jsonObject(s string) map[string]any {
	if s == "{}" || s == "" {
		return map[string]any{}
	}
	var m map[string]any
	_ = json.Unmarshal([]byte(s), &m)
	if m == nil {
		m = map[string]any{}
	}
	return m
}

// jsonList decodes a stored JSON list, skipping the decoder for the common "[]".
func jsonList(s string) []any {
	if s == "[]" || s == "" {
		return []any{}
	}
	var l []any
	_ = json.Unmarshal([]byte(s), &l)
	if l == nil {
		l = []any{}
	}
	return l
}
