package network

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// Floating IPs (router's floatingips, fip-port-details): an address on an external
// network, held by a network:floatingip port, NATed to a port's fixed address through
// the router that joins the port's subnet to that network.

func floatingIPNotFound(id string) *api.Error {
	return nerr(http.StatusNotFound, "FloatingIPNotFound", "Floating IP %s could not be found", id)
}

func badFIP(format string, args ...any) *api.Error {
	return badResourceRequest("floatingip", strings.TrimSuffix(fmt.Sprintf(format, args...), "."))
}

func (s *Service) floatingIPKind() *kind {
	return &kind{
		singular: "floatingip", collection: "floatingips", table: "net_floatingips", hasTags: true,
		attrs: []string{"floating_network_id", "floating_ip_address", "fixed_ip_address", "port_id", "router_id",
			"status", "port_details", "dns_name", "dns_domain", "qos_policy_id", "port_forwardings"},
		unsortable: []string{"port_details", "port_forwardings"},
		columns: map[string]string{"id": "f.id", "project_id": "f.project_id", "tenant_id": "f.project_id",
			"floating_network_id": "f.floating_network_id", "floating_ip_address": "f.floating_ip_address",
			"fixed_ip_address": "f.fixed_ip_address", "port_id": "f.fixed_port_id", "router_id": "f.router_id",
			"status": "f.status", "description": "f.description"},
		notFound: floatingIPNotFound,
		load:     s.loadFloatingIPs,
	}
}

func (s *Service) floatingIPRoutes() []route {
	return s.crudRoutes(s.kinds["floatingips"], s.createFloatingIP, s.updateFloatingIP, s.deleteFloatingIP)
}

func (s *Service) loadFloatingIPs(ctx context.Context, q store.Querier, c *call, pre sqlFilter) ([]record, error) {
	where, args := pre.where(s.kinds["floatingips"], "")
	if !s.isAdmin(c) {
		where += ` AND f.project_id = ?`
		args = append(args, c.project())
	}
	rows, err := q.QueryContext(ctx, `SELECT f.id, f.project_id, f.name, f.description, f.revision_number, f.created_at,
		f.updated_at, f.floating_network_id, f.floating_ip_address, f.fixed_port_id, f.fixed_ip_address, f.router_id, f.status,
		p.name, p.network_id, p.mac_address, p.admin_state_up, p.status, p.device_id, p.device_owner
		FROM net_floatingips f LEFT JOIN net_ports p ON p.id = f.fixed_port_id WHERE 1=1`+where+` ORDER BY f.created_at, f.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []record
	for rows.Next() {
		var a stdAttrs
		var netID, addr, status string
		var port, fixed, router *string
		var pName, pNet, pMAC, pStatus, pDev, pOwner *string
		var pAdmin *bool
		if err := rows.Scan(append(a.dest(), &netID, &addr, &port, &fixed, &router, &status,
			&pName, &pNet, &pMAC, &pAdmin, &pStatus, &pDev, &pOwner)...); err != nil {
			return nil, err
		}
		rec := record{"floating_network_id": netID, "floating_ip_address": addr, "port_id": strPtr(port),
			"fixed_ip_address": strPtr(fixed), "router_id": strPtr(router), "status": status, "port_details": nil,
			"dns_name": "", "dns_domain": "", "qos_policy_id": nil, "qos_network_policy_id": nil, "port_forwardings": []any{}}
		if port != nil && pNet != nil {
			rec["port_details"] = map[string]any{"name": *pName, "network_id": *pNet, "mac_address": *pMAC,
				"admin_state_up": *pAdmin, "status": *pStatus, "device_id": *pDev, "device_owner": *pOwner}
		}
		a.render(rec, nil)
		delete(rec, "name")
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, err
	}
	tags, err := loadTags(ctx, q, "floatingips", pre)
	if err != nil {
		return nil, err
	}
	for _, rec := range out {
		if t := tags[rec["id"].(string)]; t != nil {
			rec["tags"] = t
		}
	}
	return out, nil
}

// fipAssoc is a resolved association: the port, its fixed address and the router.
type fipAssoc struct {
	portID, fixedIP, routerID string
}

// resolveAssociation validates port_id/fixed_ip_address for a floating IP on netID and
// finds the router that reaches the port's subnet from that network.
func (s *Service) resolveAssociation(ctx context.Context, q store.Querier, c *call, fipID, fipProject, netID, portID, fixedReq string) (*fipAssoc, error) {
	port, err := s.loadOne(ctx, q, c, s.kinds["ports"], portID)
	if err != nil {
		return nil, err
	}
	if port["project_id"] != fipProject && !s.isAdmin(c) {
		return nil, portNotFound(portID)
	}
	var v4 []map[string]any
	for _, e := range port["fixed_ips"].([]any) {
		m := e.(map[string]any)
		if a, err := netip.ParseAddr(m["ip_address"].(string)); err == nil && a.Is4() {
			v4 = append(v4, m)
		}
	}
	var chosen map[string]any
	switch {
	case fixedReq != "":
		for _, m := range port["fixed_ips"].([]any) {
			if m.(map[string]any)["ip_address"] == fixedReq {
				chosen = m.(map[string]any)
			}
		}
		if chosen == nil {
			return nil, badFIP("Port %s does not have fixed ip %s", portID, fixedReq)
		}
		if a := netip.MustParseAddr(fixedReq); !a.Is4() {
			return nil, badFIP("Cannot process floating IP association with %s, since that is not an IPv4 address", fixedReq)
		}
	case len(v4) == 0:
		return nil, badFIP("Cannot add floating IP to port %s that has no fixed IPv4 addresses", portID)
	case len(v4) > 1:
		return nil, badFIP("Port %s has multiple fixed IPv4 addresses.  Must provide a specific IPv4 address when assigning a floating IP", portID)
	default:
		chosen = v4[0]
	}
	subnetID, fixed := chosen["subnet_id"].(string), chosen["ip_address"].(string)
	var routerID string
	err = q.QueryRowContext(ctx, `SELECT r.id FROM net_routers r JOIN net_ports p ON p.device_id = r.id AND p.device_owner = ?
		JOIN net_ip_allocations a ON a.port_id = p.id WHERE r.gw_network_id = ? AND a.subnet_id = ? ORDER BY r.created_at, r.id LIMIT 1`,
		ownerRouterInterface, netID, subnetID).Scan(&routerID)
	if store.IsNoRows(err) {
		return nil, nerr(http.StatusNotFound, "ExternalGatewayForFloatingIPNotFound",
			"External network %s is not reachable from subnet %s.  Therefore, cannot associate Port %s with a Floating IP.", netID, subnetID, portID)
	}
	if err != nil {
		return nil, err
	}
	var other, otherAddr string
	err = q.QueryRowContext(ctx, `SELECT id, floating_ip_address FROM net_floatingips WHERE floating_network_id = ? AND fixed_port_id = ?
		AND fixed_ip_address = ? AND id <> ?`, netID, portID, fixed, fipID).Scan(&other, &otherAddr)
	if err == nil {
		return nil, inUse("FloatingIPPortAlreadyAssociated",
			"Cannot associate floating IP %s (%s) with port %s using fixed IP %s, as that fixed IP already has a floating IP on external network %s.",
			otherAddr, other, portID, fixed, netID)
	}
	if !store.IsNoRows(err) {
		return nil, err
	}
	return &fipAssoc{portID: portID, fixedIP: fixed, routerID: routerID}, nil
}

func (s *Service) createFloatingIP(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["floatingips"]
	b, err := decode(r, "floatingip")
	if err != nil {
		return err
	}
	if err := b.known("floating_network_id", "floating_ip_address", "subnet_id", "port_id", "fixed_ip_address",
		"description", "project_id", "tenant_id", "tags", "dns_name", "dns_domain", "qos_policy_id"); err != nil {
		return err
	}
	project, err := b.owner(c)
	if err != nil {
		return err
	}
	netID, ok, err := b.str("floating_network_id", 36, false)
	if err != nil {
		return err
	}
	if !ok {
		return badRequest("Failed to parse request. Required attribute 'floating_network_id' not specified")
	}
	desc, _, err := b.str("description", 255, false)
	if err != nil {
		return err
	}
	subnetID, _, err := b.str("subnet_id", 36, true)
	if err != nil {
		return err
	}
	addrText, _, err := b.str("floating_ip_address", 64, true)
	if err != nil {
		return err
	}
	var addr netip.Addr
	if addrText != "" {
		if addr, err = netip.ParseAddr(addrText); err != nil || !addr.Is4() {
			return invalidAttr("floating_ip_address", "'"+truncate(addrText, 64)+"' is not a valid IP address")
		}
	}
	portID, _, err := b.str("port_id", 36, true)
	if err != nil {
		return err
	}
	fixedReq, _, err := b.str("fixed_ip_address", 64, true)
	if err != nil {
		return err
	}
	if b.Has("qos_policy_id") && !b.IsNull("qos_policy_id") {
		return qosPolicyNotFound(describeValue(b.Object["qos_policy_id"]))
	}
	tags, err := createTags(b.Object)
	if err != nil {
		return err
	}
	target := policy.Target{"project_id": project}
	if !s.enforce(c, "create_floatingip", target, nil) {
		return policyNotAuthorized("create_floatingip")
	}
	if err := s.authorizeAttrs(c, k, "create", b.Object, target, nil); err != nil {
		return err
	}
	net, err := s.networkOf(r.Context(), s.db, c, netID)
	if err != nil {
		return err
	}
	if net["router:external"] != true {
		return badFIP("Network %s is not a valid external network", netID)
	}
	id := api.NewUUID()
	var assoc *fipAssoc
	if portID != "" {
		if assoc, err = s.resolveAssociation(r.Context(), s.db, c, id, project, netID, portID, fixedReq); err != nil {
			return err
		}
	}
	var req []ipRequest
	if subnetID != "" || addr.IsValid() {
		if subnetID != "" {
			sub, err := s.loadOne(r.Context(), s.db, c, s.kinds["subnets"], subnetID)
			if err != nil {
				return err
			}
			if sub["network_id"] != netID {
				return badFIP("Subnet %s does not belong to network %s", subnetID, netID)
			}
		}
		req = []ipRequest{{SubnetID: subnetID, IP: addr}}
	} else {
		// A floating IP is IPv4: pick the network's first IPv4 subnet.
		subs, err := loadSubnetRows(r.Context(), s.db, ` AND network_id = ? AND ip_version = 4`, netID)
		if err != nil {
			return err
		}
		if len(subs) == 0 {
			return badFIP("Network %s does not contain any IPv4 subnet", netID)
		}
		for _, sr := range subs {
			req = append(req, ipRequest{SubnetID: sr.ID})
		}
	}
	err = retryOnConflict(r.Context(), func() error {
		return s.db.InTx(r.Context(), func(tx *store.Tx) error {
			if err := s.checkQuota(r.Context(), tx, project, "floatingip", 1); err != nil {
				return err
			}
			portUUID := api.NewUUID()
			var allocErr error
			for _, rq := range req {
				spec := &portSpec{id: portUUID, project: "", networkID: netID, admin: true, vnic: "normal", deviceID: id,
					deviceOwner: ownerFloatingIP, fixed: []ipRequest{rq}, hasFixed: true}
				allocErr = s.insertPort(r.Context(), tx, spec)
				if allocErr == nil {
					break
				}
				if ae, ok := allocErr.(*api.Error); !ok || ae.Type != "IpAddressGenerationFailure" || len(req) == 1 {
					return allocErr
				}
				if _, err := tx.ExecContext(r.Context(), `DELETE FROM net_ports WHERE id = ?`, portUUID); err != nil {
					return err
				}
			}
			if allocErr != nil {
				return allocErr
			}
			var ip string
			if err := tx.QueryRowContext(r.Context(), `SELECT ip_address FROM net_ip_allocations WHERE port_id = ?`, portUUID).Scan(&ip); err != nil {
				return err
			}
			ts := store.FormatTime(now())
			var fixedPort, fixedIP, router any
			if assoc != nil {
				fixedPort, fixedIP, router = assoc.portID, assoc.fixedIP, assoc.routerID
			}
			if _, err := tx.ExecContext(r.Context(), `INSERT INTO net_floatingips (id, project_id, description, floating_network_id,
				floating_port_id, floating_ip_address, fixed_port_id, fixed_ip_address, router_id, status, revision_number,
				created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'DOWN', 0, ?, ?)`, id, project, desc, netID, portUUID, ip,
				fixedPort, fixedIP, router, ts, ts); err != nil {
				return err
			}
			return setTags(r.Context(), tx, "floatingips", id, tags)
		})
	})
	if err != nil {
		return err
	}
	s.notify()
	return s.writeOne(w, c, k, http.StatusCreated, id, r.Context())
}

func (s *Service) updateFloatingIP(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["floatingips"]
	id := r.PathValue("id")
	b, err := decode(r, "floatingip")
	if err != nil {
		return err
	}
	if err := b.readOnly("id", "project_id", "tenant_id", "floating_network_id", "floating_ip_address", "router_id",
		"status", "created_at", "updated_at", "revision_number", "port_details"); err != nil {
		return err
	}
	if err := b.known("port_id", "fixed_ip_address", "description", "qos_policy_id"); err != nil {
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
	if err := s.authorizeOn(c, k, "update_floatingip", rec); err != nil {
		return err
	}
	desc, hasDesc, err := b.str("description", 255, false)
	if err != nil {
		return err
	}
	if b.Has("qos_policy_id") && !b.IsNull("qos_policy_id") {
		return qosPolicyNotFound(describeValue(b.Object["qos_policy_id"]))
	}
	portID, hasPort, err := b.str("port_id", 36, true)
	if err != nil {
		return err
	}
	fixedReq, _, err := b.str("fixed_ip_address", 64, true)
	if err != nil {
		return err
	}
	if !hasPort && fixedReq != "" {
		if cur, _ := rec["port_id"].(string); cur != "" {
			portID, hasPort = cur, true
		}
	}
	var assoc *fipAssoc
	if hasPort && portID != "" {
		if assoc, err = s.resolveAssociation(r.Context(), s.db, c, id, rec["project_id"].(string),
			rec["floating_network_id"].(string), portID, fixedReq); err != nil {
			return err
		}
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.bump(r.Context(), tx, k, id, match); err != nil {
			return err
		}
		if hasDesc {
			if _, err := tx.ExecContext(r.Context(), `UPDATE net_floatingips SET description = ? WHERE id = ?`, desc, id); err != nil {
				return err
			}
		}
		if !hasPort {
			return nil
		}
		if assoc == nil {
			_, err := tx.ExecContext(r.Context(), `UPDATE net_floatingips SET fixed_port_id = NULL, fixed_ip_address = NULL,
				router_id = NULL, status = 'DOWN' WHERE id = ?`, id)
			return err
		}
		_, err := tx.ExecContext(r.Context(), `UPDATE net_floatingips SET fixed_port_id = ?, fixed_ip_address = ?, router_id = ?
			WHERE id = ?`, assoc.portID, assoc.fixedIP, assoc.routerID, id)
		return err
	})
	if err != nil {
		return err
	}
	s.notify()
	return s.writeOne(w, c, k, http.StatusOK, id, r.Context())
}

func (s *Service) deleteFloatingIP(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["floatingips"]
	id := r.PathValue("id")
	match, err := ifMatch(r)
	if err != nil {
		return err
	}
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "delete_floatingip", rec); err != nil {
		return err
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.checkRevision(r.Context(), tx, k, id, match); err != nil {
			return err
		}
		var port string
		if err := tx.QueryRowContext(r.Context(), `SELECT floating_port_id FROM net_floatingips WHERE id = ?`, id).Scan(&port); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM net_tags WHERE resource_type = 'floatingips' AND resource_id = ?`,
			`DELETE FROM net_floatingips WHERE id = ?`} {
			if _, err := tx.ExecContext(r.Context(), q, id); err != nil {
				return err
			}
		}
		return deletePortRows(r.Context(), tx, port)
	})
	if err != nil {
		return err
	}
	s.notify()
	w.WriteHeader(http.StatusNoContent)
	return nil
}
