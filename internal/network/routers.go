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

// Routers (router, extraroute, extraroute-atomic, ext-gw-mode, l3-ha, dvr,
// router_availability_zone). A router's gateway and interfaces are ports whose
// device_id is the router: network:router_gateway on the external network,
// network:router_interface on each attached subnet (holding the subnet's gateway_ip).

// Device owners of the ports routers and floating IPs own.
const (
	ownerRouterGateway   = "network:router_gateway"
	ownerRouterInterface = "network:router_interface"
	ownerFloatingIP      = "network:floatingip"
)

// maxRoutes is [DEFAULT] max_routes.
const maxRoutes = 30

func routerNotFound(id string) *api.Error {
	return nerr(http.StatusNotFound, "RouterNotFound", "Router %s could not be found", id)
}

func badRouter(format string, args ...any) *api.Error {
	return badResourceRequest("router", fmt.Sprintf(format, args...))
}

func (s *Service) registerRouters() {
	s.RegisterExtensions(extRouter...)
	s.registerKind(s.routerKind())
	s.registerKind(s.floatingIPKind())
	s.RegisterQuotaResource("router", 10, countTable("net_routers"))
	s.RegisterQuotaResource("floatingip", 50, countTable("net_floatingips"))
}

func (s *Service) routerKind() *kind {
	return &kind{
		singular: "router", collection: "routers", table: "net_routers", hasTags: true,
		attrs: []string{"admin_state_up", "status", "external_gateway_info", "routes", "distributed", "ha",
			"availability_zone_hints", "availability_zones", "flavor_id", "enable_ndp_proxy"},
		unsortable: []string{"external_gateway_info", "routes", "availability_zone_hints", "availability_zones"},
		columns: map[string]string{"id": "id", "project_id": "project_id", "tenant_id": "project_id", "name": "name",
			"status": "status"},
		notFound: routerNotFound,
		load:     s.loadRouters,
	}
}

func (s *Service) routerRoutes() []route {
	rs := s.crudRoutes(s.kinds["routers"], s.createRouter, s.updateRouter, s.deleteRouter)
	return append(rs,
		route{"PUT", "/v2.0/routers/{id}/add_router_interface", "add_router_interface", s.addRouterInterface},
		route{"PUT", "/v2.0/routers/{id}/remove_router_interface", "remove_router_interface", s.removeRouterInterface},
		route{"PUT", "/v2.0/routers/{id}/add_extraroutes", "add_extraroutes", s.extraRoutes(true)},
		route{"PUT", "/v2.0/routers/{id}/remove_extraroutes", "remove_extraroutes", s.extraRoutes(false)},
	)
}

// routerRow is a stored router.
type routerRow struct {
	stdAttrs
	Admin                 bool
	Status                string
	GwPort, GwNet         *string
	SNAT, Distributed, HA bool
	AZHints               string
}

const routerCols = stdCols + `, admin_state_up, status, gw_port_id, gw_network_id, enable_snat, distributed, ha, availability_zone_hints`

func (rr *routerRow) dest() []any {
	return append(rr.stdAttrs.dest(), &rr.Admin, &rr.Status, &rr.GwPort, &rr.GwNet, &rr.SNAT, &rr.Distributed, &rr.HA, &rr.AZHints)
}

func loadRouterRows(ctx context.Context, q store.Querier, where string, args ...any) ([]*routerRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+routerCols+` FROM net_routers WHERE 1=1`+where+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*routerRow
	for rows.Next() {
		rr := &routerRow{}
		if err := rows.Scan(rr.dest()...); err != nil {
			return nil, err
		}
		out = append(out, rr)
	}
	return out, rows.Err()
}

// routerRoute is one extra route.
type routerRoute struct{ Destination, NextHop string }

func loadRoutes(ctx context.Context, q store.Querier, routerID string) (map[string][]routerRoute, error) {
	query, args := `SELECT router_id, destination, nexthop FROM net_router_routes`, []any{}
	if routerID != "" {
		query, args = query+` WHERE router_id = ?`, append(args, routerID)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY router_id, destination, nexthop`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]routerRoute{}
	for rows.Next() {
		var id string
		var r routerRoute
		if err := rows.Scan(&id, &r.Destination, &r.NextHop); err != nil {
			return nil, err
		}
		out[id] = append(out[id], r)
	}
	return out, rows.Err()
}

// portIPs returns the fixed IPs of the given ports.
func portIPs(ctx context.Context, q store.Querier, where string, args ...any) (map[string][]fixedIP, error) {
	rows, err := q.QueryContext(ctx, `SELECT port_id, subnet_id, ip_address FROM net_ip_allocations WHERE 1=1`+where+
		` ORDER BY port_id, position`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]fixedIP{}
	for rows.Next() {
		var pid string
		var f fixedIP
		if err := rows.Scan(&pid, &f.SubnetID, &f.IP); err != nil {
			return nil, err
		}
		out[pid] = append(out[pid], f)
	}
	return out, rows.Err()
}

func (s *Service) loadRouters(ctx context.Context, q store.Querier, c *call, pre sqlFilter) ([]record, error) {
	where, args := pre.where(s.kinds["routers"], "")
	if !s.isAdmin(c) {
		where += ` AND project_id = ?`
		args = append(args, c.project())
	}
	rows, err := loadRouterRows(ctx, q, where, args...)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	one := ""
	if len(rows) == 1 {
		one = rows[0].ID
	}
	tags, err := loadTags(ctx, q, "routers", pre)
	if err != nil {
		return nil, err
	}
	routes, err := loadRoutes(ctx, q, one)
	if err != nil {
		return nil, err
	}
	gw := map[string][]fixedIP{}
	if one != "" {
		if rows[0].GwPort != nil {
			gw, err = portIPs(ctx, q, ` AND port_id = ?`, *rows[0].GwPort)
		}
	} else {
		gw, err = portIPs(ctx, q, ` AND port_id IN (SELECT gw_port_id FROM net_routers)`)
	}
	if err != nil {
		return nil, err
	}
	out := make([]record, 0, len(rows))
	for _, rr := range rows {
		out = append(out, s.renderRouter(rr, routes[rr.ID], gw, tags))
	}
	return out, nil
}

func (s *Service) renderRouter(rr *routerRow, routes []routerRoute, gw map[string][]fixedIP, tags map[string][]string) record {
	hints := []string{}
	_ = json.Unmarshal([]byte(rr.AZHints), &hints)
	rs := make([]any, 0, len(routes))
	for _, r := range routes {
		rs = append(rs, map[string]any{"destination": r.Destination, "nexthop": r.NextHop})
	}
	rec := record{"admin_state_up": rr.Admin, "status": rr.Status, "routes": rs, "distributed": rr.Distributed,
		"ha": rr.HA, "availability_zone_hints": hints, "availability_zones": []string{s.cfg.AvailabilityZone},
		"flavor_id": nil, "external_gateway_info": nil, "enable_ndp_proxy": false}
	if rr.GwNet != nil {
		ips := []any{}
		if rr.GwPort != nil {
			for _, f := range gw[*rr.GwPort] {
				ips = append(ips, map[string]any{"subnet_id": f.SubnetID, "ip_address": f.IP})
			}
		}
		rec["external_gateway_info"] = map[string]any{"network_id": *rr.GwNet, "enable_snat": rr.SNAT, "external_fixed_ips": ips}
	}
	rr.stdAttrs.render(rec, tags)
	return rec
}

// gwRequest is a parsed external_gateway_info.
type gwRequest struct {
	set       bool // present in the body
	clear     bool // null or {}: remove the gateway
	networkID string
	snat      bool
	hasSNAT   bool
	fixed     []ipRequest
	hasFixed  bool
}

// parseGatewayInfo reads external_gateway_info.
func parseGatewayInfo(b body) (gwRequest, error) {
	g := gwRequest{snat: true}
	v, ok := b.Object["external_gateway_info"]
	if !ok {
		return g, nil
	}
	g.set = true
	if v == nil {
		g.clear = true
		return g, nil
	}
	m, isObj := v.(map[string]any)
	if !isObj {
		return g, invalidAttr("external_gateway_info", fmt.Sprintf("'%s' is not a dictionary", describeValue(v)))
	}
	if len(m) == 0 {
		g.clear = true
		return g, nil
	}
	gb := body{Object: api.Object(m), resource: "router"}
	for k := range m {
		if k != "network_id" && k != "enable_snat" && k != "external_fixed_ips" && k != "qos_policy_id" {
			return g, invalidAttr("external_gateway_info", fmt.Sprintf("Validation of dictionary's keys failed. Expected keys: {'network_id'} Provided keys: {'%s'}", truncate(k, 64)))
		}
	}
	id, has, err := gb.str("network_id", 36, false)
	if err != nil || !has || id == "" {
		return g, invalidAttr("external_gateway_info", "Validation of dictionary's keys failed. Expected keys: {'network_id'}")
	}
	g.networkID = id
	if g.snat, g.hasSNAT, err = gb.boolean("enable_snat"); err != nil {
		return g, err
	}
	if !g.hasSNAT {
		g.snat = true
	}
	if gb.Has("external_fixed_ips") {
		fixed, err := parseFixedIPs(body{Object: api.Object{"fixed_ips": m["external_fixed_ips"]}})
		if err != nil {
			return g, invalidAttr("external_gateway_info", "Invalid data format for fixed IP")
		}
		g.fixed, g.hasFixed = fixed, true
	}
	return g, nil
}

// authorizeGateway checks the nested external_gateway_info rules.
func (s *Service) authorizeGateway(c *call, action string, g gwRequest, target policy.Target) error {
	if !g.set || g.clear {
		return nil
	}
	check := []string{"external_gateway_info:network_id"}
	if g.hasSNAT {
		check = append(check, "external_gateway_info:enable_snat")
	}
	if g.hasFixed {
		check = append(check, "external_gateway_info:external_fixed_ips")
	}
	for _, attr := range check {
		rule := action + "_router:" + attr
		if !s.enforce(c, rule, target, nil) {
			return policyNotAuthorized(rule)
		}
	}
	return nil
}

var routerCreateAttrs = []string{"name", "description", "admin_state_up", "external_gateway_info", "distributed", "ha",
	"availability_zone_hints", "project_id", "tenant_id", "tags", "flavor_id", "enable_ndp_proxy"}

func (s *Service) createRouter(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["routers"]
	b, err := decode(r, "router")
	if err != nil {
		return err
	}
	if err := b.known(routerCreateAttrs...); err != nil {
		return err
	}
	project, err := b.owner(c)
	if err != nil {
		return err
	}
	target := policy.Target{"project_id": project}
	if !s.enforce(c, "create_router", target, nil) {
		return policyNotAuthorized("create_router")
	}
	if err := s.authorizeAttrs(c, k, "create", b.Object, target, nil); err != nil {
		return err
	}
	name, desc, _, _, err := b.nameAndDescription()
	if err != nil {
		return err
	}
	admin, distributed, ha := true, false, false
	for _, f := range []struct {
		key string
		dst *bool
	}{{"admin_state_up", &admin}, {"distributed", &distributed}, {"ha", &ha}} {
		if v, ok, err := b.boolean(f.key); err != nil {
			return err
		} else if ok {
			*f.dst = v
		}
	}
	hints := []string{}
	if h, ok, err := b.strList("availability_zone_hints"); err != nil {
		return err
	} else if ok {
		for _, z := range h {
			if z != s.cfg.AvailabilityZone {
				return nerr(http.StatusNotFound, "AvailabilityZoneNotFound", "AvailabilityZone %s could not be found.", truncate(z, 64))
			}
		}
		hints = h
	}
	if b.Has("flavor_id") && !b.IsNull("flavor_id") {
		return nerr(http.StatusNotFound, "FlavorNotFound", "Flavor %s could not be found.", describeValue(b.Object["flavor_id"]))
	}
	gw, err := parseGatewayInfo(b)
	if err != nil {
		return err
	}
	if err := s.authorizeGateway(c, "create", gw, target); err != nil {
		return err
	}
	tags, err := createTags(b.Object)
	if err != nil {
		return err
	}
	id := api.NewUUID()
	err = retryOnConflict(r.Context(), func() error {
		return s.db.InTx(r.Context(), func(tx *store.Tx) error {
			if err := s.checkQuota(r.Context(), tx, project, "router", 1); err != nil {
				return err
			}
			ts := store.FormatTime(now())
			hj, _ := json.Marshal(hints)
			if _, err := tx.ExecContext(r.Context(), `INSERT INTO net_routers (id, project_id, name, description, admin_state_up,
				status, enable_snat, distributed, ha, availability_zone_hints, revision_number, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, 'ACTIVE', ?, ?, ?, ?, 0, ?, ?)`, id, project, name, desc, admin, gw.snat, distributed, ha,
				string(hj), ts, ts); err != nil {
				return err
			}
			if gw.set && !gw.clear {
				if err := s.setGateway(r.Context(), tx, c, id, project, gw); err != nil {
					return err
				}
			}
			return setTags(r.Context(), tx, "routers", id, tags)
		})
	})
	if err != nil {
		return err
	}
	s.notify()
	return s.writeOne(w, c, k, http.StatusCreated, id, r.Context())
}

// setGateway gives a router its gateway port on an external network inside tx,
// replacing the one it has.
func (s *Service) setGateway(ctx context.Context, tx *store.Tx, c *call, routerID, project string, gw gwRequest) error {
	nets, err := s.loadNetworks(ctx, tx, c, byID(gw.networkID))
	if err != nil {
		return err
	}
	if len(nets) == 0 || !s.visible(c, s.kinds["networks"], nets[0]) {
		return networkNotFound(gw.networkID)
	}
	if nets[0]["router:external"] != true {
		return badRouter("Network %s is not an external network", gw.networkID)
	}
	var curNet, curPort *string
	if err := tx.QueryRowContext(ctx, `SELECT gw_network_id, gw_port_id FROM net_routers WHERE id = ?`, routerID).Scan(&curNet, &curPort); err != nil {
		return err
	}
	if curPort != nil && curNet != nil && *curNet == gw.networkID && !gw.hasFixed {
		_, err := tx.ExecContext(ctx, `UPDATE net_routers SET enable_snat = ? WHERE id = ?`, gw.snat, routerID)
		return err
	}
	if curPort != nil {
		if err := s.clearGateway(ctx, tx, routerID); err != nil {
			return err
		}
	}
	portID := api.NewUUID()
	spec := &portSpec{id: portID, project: "", networkID: gw.networkID, admin: true, vnic: "normal",
		deviceID: routerID, deviceOwner: ownerRouterGateway, host: s.cfg.Host, fixed: gw.fixed, hasFixed: gw.hasFixed}
	if err := s.insertPort(ctx, tx, spec); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE net_routers SET gw_port_id = ?, gw_network_id = ?, enable_snat = ? WHERE id = ?`,
		portID, gw.networkID, gw.snat, routerID)
	return err
}

// clearGateway removes a router's gateway, refusing while floating IPs need it.
func (s *Service) clearGateway(ctx context.Context, tx *store.Tx, routerID string) error {
	var net, port *string
	if err := tx.QueryRowContext(ctx, `SELECT gw_network_id, gw_port_id FROM net_routers WHERE id = ?`, routerID).Scan(&net, &port); err != nil {
		return err
	}
	if net == nil {
		return nil
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM net_floatingips WHERE router_id = ? AND floating_network_id = ?`,
		routerID, *net).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return inUse("RouterExternalGatewayInUseByFloatingIp",
			"Gateway cannot be updated for router %s, since a gateway to external network %s is required by one or more floating IPs.", routerID, *net)
	}
	if port != nil {
		if err := deletePortRows(ctx, tx, *port); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE net_routers SET gw_port_id = NULL, gw_network_id = NULL, enable_snat = ? WHERE id = ?`, true, routerID)
	return err
}

func (s *Service) updateRouter(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["routers"]
	id := r.PathValue("id")
	b, err := decode(r, "router")
	if err != nil {
		return err
	}
	if err := b.readOnly("id", "project_id", "tenant_id", "status", "availability_zones", "availability_zone_hints",
		"created_at", "updated_at", "revision_number", "flavor_id"); err != nil {
		return err
	}
	if err := b.known("name", "description", "admin_state_up", "external_gateway_info", "routes", "distributed", "ha",
		"enable_ndp_proxy"); err != nil {
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
	if err := s.authorizeOn(c, k, "update_router", rec); err != nil {
		return err
	}
	target := k.target(rec)
	if err := s.authorizeAttrs(c, k, "update", b.Object, target, nil); err != nil {
		return err
	}
	gw, err := parseGatewayInfo(b)
	if err != nil {
		return err
	}
	if err := s.authorizeGateway(c, "update", gw, target); err != nil {
		return err
	}
	var routes []routerRoute
	hasRoutes := b.Has("routes")
	if hasRoutes {
		if routes, err = parseRoutes(b.Object["routes"]); err != nil {
			return err
		}
	}
	sets, args := []string{}, []any{}
	name, desc, hasName, hasDesc, err := b.nameAndDescription()
	if err != nil {
		return err
	}
	if hasName {
		sets, args = append(sets, "name = ?"), append(args, name)
	}
	if hasDesc {
		sets, args = append(sets, "description = ?"), append(args, desc)
	}
	for _, f := range []string{"admin_state_up", "distributed", "ha"} {
		if v, ok, err := b.boolean(f); err != nil {
			return err
		} else if ok {
			if (f == "distributed" || f == "ha") && rec["admin_state_up"] == true && v != rec[f] {
				return badRouter("Cannot change %s attribute of router while the router is administratively up", map[string]string{
					"distributed": "distributed", "ha": "HA"}[f])
			}
			sets, args = append(sets, f+" = ?"), append(args, v)
		}
	}
	project := rec["project_id"].(string)
	err = retryOnConflict(r.Context(), func() error {
		return s.db.InTx(r.Context(), func(tx *store.Tx) error {
			if err := s.bump(r.Context(), tx, k, id, match); err != nil {
				return err
			}
			if len(sets) > 0 {
				if _, err := tx.ExecContext(r.Context(), `UPDATE net_routers SET `+strings.Join(sets, ", ")+` WHERE id = ?`, append(args, id)...); err != nil {
					return err
				}
			}
			if gw.set {
				if gw.clear {
					if err := s.clearGateway(r.Context(), tx, id); err != nil {
						return err
					}
				} else if err := s.setGateway(r.Context(), tx, c, id, project, gw); err != nil {
					return err
				}
			}
			if hasRoutes {
				return s.replaceRoutes(r.Context(), tx, id, routes)
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

// parseRoutes validates a routes list: destinations are CIDRs, next hops addresses.
func parseRoutes(v any) ([]routerRoute, error) {
	if v == nil {
		return []routerRoute{}, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, invalidAttr("routes", fmt.Sprintf("'%s' is not a list", describeValue(v)))
	}
	if len(list) > maxRoutes {
		return nil, nerr(http.StatusBadRequest, "RoutesExhausted", "Unable to complete operation for %s. The number of routes exceeds the maximum %d.", "router", maxRoutes)
	}
	var out []routerRoute
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, invalidAttr("routes", fmt.Sprintf("Invalid data format for hostroute: '%s'", describeValue(e)))
		}
		dst, _ := m["destination"].(string)
		hop, _ := m["nexthop"].(string)
		if len(m) != 2 || dst == "" || hop == "" {
			return nil, invalidAttr("routes", fmt.Sprintf("Invalid data format for hostroute: '%s'", describeValue(e)))
		}
		_, masked, err := ipam.ParseCIDR(dst)
		if err != nil {
			return nil, invalidAttr("routes", err.Error())
		}
		a, err := ipam.ParseIP(hop)
		if err != nil {
			return nil, invalidAttr("routes", err.Error())
		}
		rt := routerRoute{Destination: masked.String(), NextHop: a.String()}
		if slices.Contains(out, rt) {
			return nil, invalidAttr("routes", fmt.Sprintf("Duplicate hostroute '%s'", describeValue(e)))
		}
		out = append(out, rt)
	}
	return out, nil
}

// routerSubnets returns the subnets a router is attached to (interfaces and gateway)
// with the router's own addresses.
func (s *Service) routerSubnets(ctx context.Context, q store.Querier, routerID string) ([]*subnetRow, []string, error) {
	ips, err := portIPs(ctx, q, ` AND port_id IN (SELECT id FROM net_ports WHERE device_id = ? AND device_owner IN (?, ?))`,
		routerID, ownerRouterInterface, ownerRouterGateway)
	if err != nil {
		return nil, nil, err
	}
	var ids []any
	var own []string
	for _, list := range ips {
		for _, f := range list {
			ids = append(ids, f.SubnetID)
			own = append(own, f.IP)
		}
	}
	if len(ids) == 0 {
		return nil, nil, nil
	}
	subs, err := loadSubnetRows(ctx, q, ` AND id IN (`+placeholders(len(ids))+`)`, ids...)
	return subs, own, err
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// replaceRoutes validates routes against the router's subnets and stores them.
func (s *Service) replaceRoutes(ctx context.Context, tx *store.Tx, routerID string, routes []routerRoute) error {
	if len(routes) > maxRoutes {
		return nerr(http.StatusBadRequest, "RoutesExhausted", "Unable to complete operation for %s. The number of routes exceeds the maximum %d.", routerID, maxRoutes)
	}
	subs, own, err := s.routerSubnets(ctx, tx, routerID)
	if err != nil {
		return err
	}
	for _, rt := range routes {
		hop := netip.MustParseAddr(rt.NextHop)
		if slices.Contains(own, rt.NextHop) {
			return nerr(http.StatusBadRequest, "InvalidRoutes", "Invalid format for routes: %s, the nexthop is used by router", routesText(rt))
		}
		if !slices.ContainsFunc(subs, func(sr *subnetRow) bool { return sr.prefix.Contains(hop) }) {
			return nerr(http.StatusBadRequest, "InvalidRoutes", "Invalid format for routes: %s, the nexthop is not connected with router", routesText(rt))
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM net_router_routes WHERE router_id = ?`, routerID); err != nil {
		return err
	}
	for _, rt := range routes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO net_router_routes (router_id, destination, nexthop) VALUES (?, ?, ?)`,
			routerID, rt.Destination, rt.NextHop); err != nil {
			return err
		}
	}
	return nil
}

func routesText(rt routerRoute) string {
	return fmt.Sprintf("[{'destination': '%s', 'nexthop': '%s'}]", rt.Destination, rt.NextHop)
}

// extraRoutes is PUT add_extraroutes / remove_extraroutes (extraroute-atomic).
func (s *Service) extraRoutes(add bool) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		k := s.kinds["routers"]
		id := r.PathValue("id")
		b, err := decode(r, "router")
		if err != nil {
			return err
		}
		if err := b.known("routes"); err != nil {
			return err
		}
		routes, err := parseRoutes(b.Object["routes"])
		if err != nil {
			return err
		}
		rec, err := s.loadOne(r.Context(), s.db, c, k, id)
		if err != nil {
			return err
		}
		if err := s.authorizeOn(c, k, c.rule, rec); err != nil {
			return err
		}
		err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
			cur, err := loadRoutes(r.Context(), tx, id)
			if err != nil {
				return err
			}
			next := slices.Clone(cur[id])
			for _, rt := range routes {
				i := slices.Index(next, rt)
				switch {
				case add && i < 0:
					next = append(next, rt)
				case !add && i >= 0:
					next = slices.Delete(next, i, i+1)
				}
			}
			if err := s.replaceRoutes(r.Context(), tx, id, next); err != nil {
				return err
			}
			return s.bump(r.Context(), tx, k, id, nil)
		})
		if err != nil {
			return err
		}
		s.notify()
		return s.writeOne(w, c, k, http.StatusOK, id, r.Context())
	}
}

func (s *Service) deleteRouter(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["routers"]
	id := r.PathValue("id")
	match, err := ifMatch(r)
	if err != nil {
		return err
	}
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "delete_router", rec); err != nil {
		return err
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.checkRevision(r.Context(), tx, k, id, match); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM net_ports WHERE device_id = ? AND device_owner = ?`,
			id, ownerRouterInterface).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return inUse("RouterInUse", "Router %s still has ports", id)
		}
		if err := s.clearGateway(r.Context(), tx, id); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM net_router_routes WHERE router_id = ?`,
			`DELETE FROM net_tags WHERE resource_type = 'routers' AND resource_id = ?`, `DELETE FROM net_routers WHERE id = ?`} {
			if _, err := tx.ExecContext(r.Context(), q, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.notify()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// interfaceInfo is the body of add/remove_router_interface.
func interfaceInfo(rec record, portID, subnetID, networkID string, subnetIDs []string) map[string]any {
	return map[string]any{"id": rec["id"], "tenant_id": rec["project_id"], "project_id": rec["project_id"],
		"port_id": portID, "subnet_id": subnetID, "subnet_ids": subnetIDs, "network_id": networkID}
}

// interfaceRequest reads {"subnet_id"} or {"port_id"}.
func interfaceRequest(r *http.Request) (subnetID, portID string, err error) {
	o, err := api.DecodeObject(r, "")
	if err != nil {
		return "", "", err
	}
	b := body{Object: o, resource: "router"}
	subnetID, hasSubnet, err := b.str("subnet_id", 36, false)
	if err != nil {
		return "", "", err
	}
	portID, hasPort, err := b.str("port_id", 36, false)
	if err != nil {
		return "", "", err
	}
	switch {
	case hasSubnet && hasPort:
		return "", "", badRouter("Cannot specify both subnet-id and port-id")
	case !hasSubnet && !hasPort:
		return "", "", badRouter("Either subnet_id or port_id must be specified")
	}
	return subnetID, portID, nil
}

func (s *Service) addRouterInterface(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["routers"]
	id := r.PathValue("id")
	subnetID, portID, err := interfaceRequest(r)
	if err != nil {
		return err
	}
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "add_router_interface", rec); err != nil {
		return err
	}
	project := rec["project_id"].(string)
	var info map[string]any
	err = retryOnConflict(r.Context(), func() error {
		return s.db.InTx(r.Context(), func(tx *store.Tx) error {
			if subnetID != "" {
				sub, err := s.loadOne(r.Context(), tx, c, s.kinds["subnets"], subnetID)
				if err != nil {
					return err
				}
				if sub["gateway_ip"] == nil {
					return badRouter("Subnet for router interface must have a gateway IP")
				}
				if err := s.checkRouterSubnets(r.Context(), tx, id, []string{subnetID}); err != nil {
					return err
				}
				gwIP := netip.MustParseAddr(sub["gateway_ip"].(string))
				portID = api.NewUUID()
				spec := &portSpec{id: portID, project: project, networkID: sub["network_id"].(string), admin: true,
					vnic: "normal", deviceID: id, deviceOwner: ownerRouterInterface, host: s.cfg.Host,
					fixed: []ipRequest{{SubnetID: subnetID, IP: gwIP}}, hasFixed: true}
				if err := s.insertPort(r.Context(), tx, spec); err != nil {
					return err
				}
				info = interfaceInfo(rec, portID, subnetID, spec.networkID, []string{subnetID})
				return s.bump(r.Context(), tx, k, id, nil)
			}
			port, err := s.loadOne(r.Context(), tx, c, s.kinds["ports"], portID)
			if err != nil {
				return err
			}
			if port["device_id"] != "" || port["device_owner"] != "" {
				return inUse("PortInUse", "Unable to complete operation on port %s for network %s. Port already has an attached device %s.",
					portID, port["network_id"], port["device_id"])
			}
			var subs []string
			for _, e := range port["fixed_ips"].([]any) {
				subs = append(subs, e.(map[string]any)["subnet_id"].(string))
			}
			if len(subs) == 0 {
				return badRouter("Router port must have at least one fixed IP")
			}
			if err := s.checkRouterSubnets(r.Context(), tx, id, subs); err != nil {
				return err
			}
			if _, err := tx.ExecContext(r.Context(), `UPDATE net_ports SET device_id = ?, device_owner = ?, binding_host_id = ?,
				port_security_enabled = ? WHERE id = ?`, id, ownerRouterInterface, s.cfg.Host, false, portID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(r.Context(), `DELETE FROM net_port_security_groups WHERE port_id = ?`, portID); err != nil {
				return err
			}
			if err := s.bump(r.Context(), tx, s.kinds["ports"], portID, nil); err != nil {
				return err
			}
			info = interfaceInfo(rec, portID, subs[0], port["network_id"].(string), subs)
			return s.bump(r.Context(), tx, k, id, nil)
		})
	})
	if err != nil {
		return err
	}
	s.notify()
	writeBody(w, http.StatusOK, info)
	return nil
}

// checkRouterSubnets refuses attaching subnets the router already has a port on, or
// that overlap one it is attached to.
func (s *Service) checkRouterSubnets(ctx context.Context, tx *store.Tx, routerID string, subnetIDs []string) error {
	cur, _, err := s.routerSubnets(ctx, tx, routerID)
	if err != nil {
		return err
	}
	newSubs, err := loadSubnetRows(ctx, tx, ` AND id IN (`+placeholders(len(subnetIDs))+`)`, anySlice(subnetIDs)...)
	if err != nil {
		return err
	}
	for _, ns := range newSubs {
		for _, cs := range cur {
			if cs.ID == ns.ID {
				return badRouter("Router already has a port on subnet %s", ns.ID)
			}
			if ipam.Overlaps(cs.prefix, ns.prefix) {
				return badRouter("Cidr %s of subnet %s overlaps with cidr %s of subnet %s", ns.CIDR, ns.ID, cs.CIDR, cs.ID)
			}
		}
	}
	return nil
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func (s *Service) removeRouterInterface(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["routers"]
	id := r.PathValue("id")
	subnetID, portID, err := interfaceRequest(r)
	if err != nil {
		return err
	}
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "remove_router_interface", rec); err != nil {
		return err
	}
	var info map[string]any
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		ips, err := portIPs(r.Context(), tx, ` AND port_id IN (SELECT id FROM net_ports WHERE device_id = ? AND device_owner = ?)`,
			id, ownerRouterInterface)
		if err != nil {
			return err
		}
		if portID != "" {
			list, ok := ips[portID]
			if !ok {
				return nerr(http.StatusNotFound, "RouterInterfaceNotFound", "Router %s does not have an interface with id %s", id, portID)
			}
			if subnetID == "" && len(list) > 0 {
				subnetID = list[0].SubnetID
			}
		} else {
			for pid, list := range ips {
				for _, f := range list {
					if f.SubnetID == subnetID {
						portID = pid
					}
				}
			}
			if portID == "" {
				return nerr(http.StatusNotFound, "RouterInterfaceNotFoundForSubnet", "Router %s has no interface on subnet %s", id, subnetID)
			}
		}
		var subs []string
		for _, f := range ips[portID] {
			subs = append(subs, f.SubnetID)
		}
		if err := s.checkInterfaceUnused(r.Context(), tx, id, portID, ips[portID]); err != nil {
			return err
		}
		var networkID string
		if err := tx.QueryRowContext(r.Context(), `SELECT network_id FROM net_ports WHERE id = ?`, portID).Scan(&networkID); err != nil {
			return err
		}
		if err := deletePortRows(r.Context(), tx, portID); err != nil {
			return err
		}
		info = interfaceInfo(rec, portID, subnetID, networkID, subs)
		return s.bump(r.Context(), tx, k, id, nil)
	})
	if err != nil {
		return err
	}
	s.notify()
	writeBody(w, http.StatusOK, info)
	return nil
}

// checkInterfaceUnused refuses removing an interface routes or floating IPs depend on.
func (s *Service) checkInterfaceUnused(ctx context.Context, tx *store.Tx, routerID, portID string, ips []fixedIP) error {
	routes, err := loadRoutes(ctx, tx, routerID)
	if err != nil {
		return err
	}
	for _, f := range ips {
		subs, err := loadSubnetRows(ctx, tx, ` AND id = ?`, f.SubnetID)
		if err != nil || len(subs) == 0 {
			return err
		}
		for _, rt := range routes[routerID] {
			if subs[0].prefix.Contains(netip.MustParseAddr(rt.NextHop)) {
				return inUse("RouterInterfaceInUseByRoute",
					"Router interface for subnet %s on router %s cannot be deleted, as it is required by one or more routes.", f.SubnetID, routerID)
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM net_floatingips fip JOIN net_ip_allocations a
			ON a.port_id = fip.fixed_port_id AND a.ip_address = fip.fixed_ip_address WHERE fip.router_id = ? AND a.subnet_id = ?`,
			routerID, f.SubnetID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return inUse("RouterInterfaceInUseByFloatingIP",
				"Router interface for subnet %s on router %s cannot be deleted, as it is required by one or more floating IPs.", f.SubnetID, routerID)
		}
	}
	return nil
}

// bootstrapRouter creates router1 for the demo project joining the private subnets to
// the public network, as DevStack does.
func (s *Service) bootstrapRouter(ctx context.Context, adminProject, demoProject, publicNetID string, subnets ...string) (string, error) {
	c := &call{caller: &api.Caller{ProjectID: demoProject, Roles: []string{"member", "reader"}}}
	admin := &call{caller: &api.Caller{ProjectID: adminProject, Roles: []string{"admin", "member", "reader"}}}
	id := api.NewUUID()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		ts := store.FormatTime(now())
		if _, err := tx.ExecContext(ctx, `INSERT INTO net_routers (id, project_id, name, description, admin_state_up, status,
			enable_snat, distributed, ha, availability_zone_hints, revision_number, created_at, updated_at)
			VALUES (?, ?, 'router1', '', ?, 'ACTIVE', ?, ?, ?, '[]', 0, ?, ?)`, id, demoProject, true, true, false, false, ts, ts); err != nil {
			return err
		}
		if err := s.setGateway(ctx, tx, admin, id, demoProject, gwRequest{set: true, networkID: publicNetID, snat: true}); err != nil {
			return err
		}
		for _, sid := range subnets {
			sub, err := s.loadOne(ctx, tx, c, s.kinds["subnets"], sid)
			if err != nil {
				return err
			}
			spec := &portSpec{id: api.NewUUID(), project: demoProject, networkID: sub["network_id"].(string), admin: true,
				vnic: "normal", deviceID: id, deviceOwner: ownerRouterInterface, host: s.cfg.Host, hasFixed: true,
				fixed: []ipRequest{{SubnetID: sid, IP: netip.MustParseAddr(sub["gateway_ip"].(string))}}}
			if err := s.insertPort(ctx, tx, spec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	s.notify()
	return id, nil
}
