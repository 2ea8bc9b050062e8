package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// networkAttrs are the network attributes clients filter and sort on.
var networkAttrs = []string{"admin_state_up", "status", "shared", "router:external", "mtu",
	"port_security_enabled", "dns_domain", "is_default", "availability_zone_hints",
	"availability_zones", "subnets", "provider:network_type", "provider:physical_network",
	"provider:segmentation_id", "ipv4_address_scope", "ipv6_address_scope", "l2_adjacency", "qos_policy_id"}

// registerResources builds the kinds of the generic machinery and the extensions they
// implement.
func (s *Service) registerResources() {
	s.RegisterExtensions(extFramework...)
	s.RegisterExtensions(extNetwork...)
	s.RegisterExtensions(extSubnet...)
	s.RegisterExtensions(extPort...)
	s.registerKind(s.networkKind())
	s.registerKind(s.segmentKind())
	s.registerKind(s.subnetKind())
	s.registerKind(s.subnetpoolKind())
	s.registerKind(s.addressScopeKind())
	s.registerKind(s.portKind())
	s.registerKind(s.rbacKind())
	s.registerSecurityGroups()
	s.registerRouters()
	s.registerAgents()
	s.registerQoS()
	s.registerTrunks()
}

func (s *Service) networkKind() *kind {
	return &kind{
		singular: "network", collection: "networks", table: "net_networks", hasTags: true,
		attrs:      networkAttrs,
		unsortable: []string{"availability_zone_hints", "availability_zones", "subnets"},
		columns:    map[string]string{"id": "id", "project_id": "project_id", "tenant_id": "project_id", "name": "name"},
		notFound:   networkNotFound,
		load:       s.loadNetworks,
		facts:      networkFacts,
	}
}

// networkFacts are the field checks a network satisfies.
func networkFacts(rec record) []string {
	var f []string
	if rec["shared"] == true {
		f = append(f, "networks:shared=True")
	}
	if rec["router:external"] == true {
		f = append(f, "networks:router:external=True")
	}
	return f
}

// networkRoutes are /v2.0/networks.
func (s *Service) networkRoutes() []route {
	return s.crudRoutes(s.kinds["networks"], s.createNetwork, s.updateNetwork, s.deleteNetwork)
}

// segment is a network's segment row.
type segment struct {
	ID, NetworkID, Name, Description, Type, Physnet string
	SegID, Index, Revision                          int64
	CreatedAt, UpdatedAt                            string
}

// visibleNetworkSQL restricts networks to those the caller's project owns or that RBAC
// shares with it (access_as_shared or access_as_external, to it or to everyone); admins
// see every network.
func (s *Service) visibleNetworkSQL(c *call, idCol string) (string, []any) {
	if s.isAdmin(c) {
		return "", nil
	}
	p := c.project()
	return ` AND (` + idCol + ` IN (SELECT id FROM net_networks WHERE project_id = ?) OR ` + idCol + ` IN (SELECT object_id FROM net_rbac_policies
		WHERE object_type = 'network' AND target_tenant IN ('*', ?)))`, []any{p, p}
}

// loadNetworks loads networks with their segments, subnets, RBAC-derived shared flag and
// tags.
func (s *Service) loadNetworks(ctx context.Context, q store.Querier, c *call, pre sqlFilter) ([]record, error) {
	k := s.kinds["networks"]
	where, args := pre.where(k, "")
	vis, vargs := s.visibleNetworkSQL(c, "id")
	rows, err := q.QueryContext(ctx, `SELECT `+stdCols+`, admin_state_up, status, router_external, is_default, mtu,
		port_security_enabled, dns_domain, availability_zone_hints FROM net_networks WHERE 1=1`+where+vis, append(args, vargs...)...)
	if err != nil {
		return nil, err
	}
	var recs []record
	ids := map[string]record{}
	for rows.Next() {
		var a stdAttrs
		var admin, external, isDefault, portSec bool
		var status, dnsDomain, azHints string
		var mtu int64
		if err := rows.Scan(append(a.dest(), &admin, &status, &external, &isDefault, &mtu, &portSec, &dnsDomain, &azHints)...); err != nil {
			rows.Close()
			return nil, err
		}
		hints := []string{}
		_ = json.Unmarshal([]byte(azHints), &hints)
		rec := record{"admin_state_up": admin, "status": status, "router:external": external,
			"is_default": isDefault, "mtu": mtu, "port_security_enabled": portSec, "dns_domain": dnsDomain,
			"availability_zone_hints": hints, "availability_zones": []string{s.cfg.AvailabilityZone},
			"subnets": []string{}, "shared": false, "ipv4_address_scope": nil, "ipv6_address_scope": nil,
			"l2_adjacency": true, "provider:network_type": nil, "provider:physical_network": nil,
			"provider:segmentation_id": nil, "_std": a}
		recs = append(recs, rec)
		ids[a.ID] = rec
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, nil
	}
	tags, err := loadTags(ctx, q, "networks", pre)
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		a := rec["_std"].(stdAttrs)
		a.render(rec, tags)
		delete(rec, "_std")
	}
	one := ""
	if v := pre["id"]; len(v) == 1 {
		one = v[0]
	}
	if err := s.attachSegments(ctx, q, ids, one); err != nil {
		return nil, err
	}
	if err := s.attachSubnets(ctx, q, ids, one); err != nil {
		return nil, err
	}
	if err := s.attachShared(ctx, q, c, ids, one); err != nil {
		return nil, err
	}
	qos, err := loadQosBindings(ctx, q, "network", one)
	if err != nil {
		return nil, err
	}
	for id, rec := range ids {
		if pid, ok := qos[id]; ok {
			rec["qos_policy_id"] = pid
		} else {
			rec["qos_policy_id"] = nil
		}
	}
	return recs, nil
}

// attachSegments sets the provider attributes from each network's first segment.
func (s *Service) attachSegments(ctx context.Context, q store.Querier, nets map[string]record, one string) error {
	query := `SELECT network_id, network_type, physical_network, segmentation_id FROM net_segments`
	var args []any
	if one != "" {
		query += ` WHERE network_id = ?`
		args = append(args, one)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY segment_index DESC`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var nid, typ, phys string
		var seg int64
		if err := rows.Scan(&nid, &typ, &phys, &seg); err != nil {
			return err
		}
		rec := nets[nid]
		if rec == nil {
			continue
		}
		rec["provider:network_type"] = typ
		rec["provider:physical_network"] = nilIfEmpty(phys)
		if typ == "flat" || typ == "local" {
			rec["provider:segmentation_id"] = nil
		} else {
			rec["provider:segmentation_id"] = seg
		}
	}
	return rows.Err()
}

// attachSubnets lists each network's subnet ids and address scopes.
func (s *Service) attachSubnets(ctx context.Context, q store.Querier, nets map[string]record, one string) error {
	query := `SELECT s.network_id, s.id, s.ip_version, p.address_scope_id FROM net_subnets s
		LEFT JOIN net_subnetpools p ON p.id = s.subnetpool_id`
	var args []any
	if one != "" {
		query += ` WHERE s.network_id = ?`
		args = append(args, one)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY s.created_at, s.id`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var nid, sid string
		var ver int64
		var scope *string
		if err := rows.Scan(&nid, &sid, &ver, &scope); err != nil {
			return err
		}
		rec := nets[nid]
		if rec == nil {
			continue
		}
		rec["subnets"] = append(rec["subnets"].([]string), sid)
		if scope != nil {
			rec[fmt.Sprintf("ipv%d_address_scope", ver)] = *scope
		}
	}
	return rows.Err()
}

// attachShared sets shared (an access_as_shared RBAC entry for everyone or the caller's
// project) and the owner-independent RBAC facts.
func (s *Service) attachShared(ctx context.Context, q store.Querier, c *call, nets map[string]record, one string) error {
	query := `SELECT object_id, action, target_tenant FROM net_rbac_policies WHERE object_type = 'network'`
	var args []any
	if one != "" {
		query += ` AND object_id = ?`
		args = append(args, one)
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var oid, action, target string
		if err := rows.Scan(&oid, &action, &target); err != nil {
			return err
		}
		rec := nets[oid]
		if rec == nil {
			continue
		}
		if action == "access_as_shared" && (target == "*" || target == c.project()) {
			rec["shared"] = true
		}
		if action == "access_as_external" && target == c.project() {
			rec["_external_to_caller"] = true
		}
	}
	return rows.Err()
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// networkCreateAttrs are the attributes a network create body may carry.
var networkCreateAttrs = []string{"name", "description", "admin_state_up", "shared", "router:external",
	"provider:network_type", "provider:physical_network", "provider:segmentation_id", "mtu",
	"port_security_enabled", "dns_domain", "availability_zone_hints", "is_default", "project_id",
	"tenant_id", "tags", "qos_policy_id", "segments"}

// netSpec is a validated network create request.
type netSpec struct {
	id, project, name, description, dnsDomain string
	admin, shared, external, isDefault, psec  bool
	mtu                                       int64
	hasMTU                                    bool
	azHints                                   []string
	seg                                       segRequest
	tags                                      []string
	// qos is the requested qos_policy_id ("": the project's default policy, if any).
	qos string
}

func (s *Service) createNetwork(w http.ResponseWriter, r *http.Request, c *call) error {
	b, err := decode(r, "network")
	if err != nil {
		return err
	}
	if err := b.known(networkCreateAttrs...); err != nil {
		return err
	}
	project, err := b.owner(c)
	if err != nil {
		return err
	}
	// Policy comes before the type drivers' validation, as in Neutron (the plugin
	// validates provider attributes after the API layer authorized them).
	target := policy.Target{"project_id": project}
	if !s.enforce(c, "create_network", target, nil) {
		return policyNotAuthorized("create_network")
	}
	if err := s.authorizeAttrs(c, s.kinds["networks"], "create", b.Object, target, nil); err != nil {
		return err
	}
	spec, err := s.parseNetworkCreate(c, b)
	if err != nil {
		return err
	}
	if spec.qos != "" {
		if err := s.checkQosPolicyUsable(r.Context(), s.db, c, spec.qos); err != nil {
			return err
		}
	}
	if err := s.insertNetwork(r.Context(), spec); err != nil {
		return err
	}
	// A project's first touch of networking gives it its default security group.
	if _, err := s.ensureDefaultSG(r.Context(), spec.project); err != nil {
		return err
	}
	return s.writeOne(w, c, s.kinds["networks"], http.StatusCreated, spec.id, r.Context())
}

// parseNetworkCreate validates a network create body.
func (s *Service) parseNetworkCreate(c *call, b body) (*netSpec, error) {
	if err := b.known(networkCreateAttrs...); err != nil {
		return nil, err
	}
	spec := &netSpec{id: api.NewUUID(), admin: true, psec: true, azHints: []string{}}
	var err error
	if spec.project, err = b.owner(c); err != nil {
		return nil, err
	}
	if spec.name, spec.description, _, _, err = b.nameAndDescription(); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		key string
		dst *bool
	}{{"admin_state_up", &spec.admin}, {"shared", &spec.shared}, {"router:external", &spec.external},
		{"is_default", &spec.isDefault}, {"port_security_enabled", &spec.psec}} {
		v, ok, err := b.boolean(f.key)
		if err != nil {
			return nil, err
		}
		if ok {
			*f.dst = v
		}
	}
	if spec.dnsDomain, _, err = b.str("dns_domain", 255, true); err != nil {
		return nil, err
	}
	if spec.dnsDomain != "" && !strings.HasSuffix(spec.dnsDomain, ".") {
		spec.dnsDomain += "."
	}
	if hints, ok, err := b.strList("availability_zone_hints"); err != nil {
		return nil, err
	} else if ok {
		for _, h := range hints {
			if h != s.cfg.AvailabilityZone {
				return nil, nerr(http.StatusNotFound, "AvailabilityZoneNotFound", "AvailabilityZone %s could not be found.", truncate(h, 64))
			}
		}
		spec.azHints = hints
	}
	if spec.qos, _, err = qosPolicyRequest(b); err != nil {
		return nil, err
	}
	if b.Has("segments") {
		return nil, invalidInput("multi-provider segments are not supported")
	}
	if spec.isDefault && !spec.external {
		return nil, invalidInput("Only external networks can be marked as the default")
	}
	if spec.mtu, spec.hasMTU, err = b.integer("mtu"); err != nil {
		return nil, err
	}
	if spec.seg, err = s.parseProvider(b); err != nil {
		return nil, err
	}
	if spec.tags, err = createTags(b.Object); err != nil {
		return nil, err
	}
	return spec, nil
}

// insertNetwork writes a network with its segment and sharing RBAC entries under the
// project's quota, retrying when a concurrent create took the segment id it picked.
func (s *Service) insertNetwork(ctx context.Context, spec *netSpec) error {
	return retryOnConflict(ctx, func() error {
		return s.db.InTx(ctx, func(tx *store.Tx) error {
			if err := s.checkQuota(ctx, tx, spec.project, "network", 1); err != nil {
				return err
			}
			seg, err := s.allocateSegment(ctx, tx, spec.seg)
			if err != nil {
				return err
			}
			maxMTU := s.typeMTU(seg.Type)
			mtu := int64(maxMTU)
			if spec.hasMTU {
				if spec.mtu < 68 {
					return invalidAttr("mtu", fmt.Sprintf("'%d' is too small - must be at least '68'", spec.mtu))
				}
				if spec.mtu > int64(maxMTU) {
					return invalidInput("Requested MTU is too big, maximum is %d", maxMTU)
				}
				mtu = spec.mtu
			}
			ts := store.FormatTime(now())
			hints, _ := json.Marshal(spec.azHints)
			if _, err := tx.ExecContext(ctx, `INSERT INTO net_networks (id, project_id, name, description, admin_state_up,
				status, router_external, is_default, mtu, port_security_enabled, dns_domain, availability_zone_hints,
				revision_number, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'ACTIVE', ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
				spec.id, spec.project, spec.name, spec.description, spec.admin, spec.external, spec.isDefault, mtu,
				spec.psec, spec.dnsDomain, string(hints), ts, ts); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO net_segments (id, network_id, name, description, network_type,
				physical_network, segmentation_id, segment_index, revision_number, created_at, updated_at)
				VALUES (?, ?, '', '', ?, ?, ?, 0, 0, ?, ?)`, api.NewUUID(), spec.id, seg.Type, seg.Physnet, seg.SegID, ts, ts); err != nil {
				return err
			}
			// A network created without a policy gets its project's default one (qos-default).
			qos := spec.qos
			if qos == "" {
				if qos, err = projectDefaultQosPolicy(ctx, tx, spec.project); err != nil {
					return err
				}
			}
			if err := setQosBinding(ctx, tx, "network", spec.id, qos); err != nil {
				return err
			}
			if spec.shared {
				if err := insertRBAC(ctx, tx, spec.project, "network", spec.id, "access_as_shared", "*"); err != nil {
					return err
				}
			}
			if spec.external {
				if err := insertRBAC(ctx, tx, spec.project, "network", spec.id, "access_as_external", "*"); err != nil {
					return err
				}
			}
			return setTags(ctx, tx, "networks", spec.id, spec.tags)
		})
	})
}

// retryOnConflict reruns fn when it failed on a unique constraint that a concurrent
// transaction won (allocation races on PostgreSQL, where the violation aborts the
// transaction); user-visible conflicts are checked before inserting and come back as
// API errors, which are not retried.
func retryOnConflict(ctx context.Context, fn func() error) error {
	var err error
	for range 8 {
		err = fn()
		var ae *api.Error
		if err == nil || errors.As(err, &ae) || !store.IsUniqueViolation(err) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return err
}

// networkUpdateAttrs are the attributes a network update may change.
var networkUpdateAttrs = []string{"name", "description", "admin_state_up", "shared", "router:external",
	"mtu", "port_security_enabled", "dns_domain", "is_default", "provider:network_type",
	"provider:physical_network", "provider:segmentation_id", "qos_policy_id"}

func (s *Service) updateNetwork(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["networks"]
	id := r.PathValue("id")
	b, err := decode(r, "network")
	if err != nil {
		return err
	}
	if err := b.readOnly("id", "tenant_id", "project_id", "status", "subnets", "availability_zones",
		"availability_zone_hints", "created_at", "updated_at", "revision_number"); err != nil {
		return err
	}
	if err := b.known(networkUpdateAttrs...); err != nil {
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
	if err := s.authorizeOn(c, k, "update_network", rec); err != nil {
		return err
	}
	if err := s.authorizeAttrs(c, k, "update", b.Object, k.target(rec), networkFacts(rec)); err != nil {
		return err
	}
	for _, p := range []string{"provider:network_type", "provider:physical_network", "provider:segmentation_id"} {
		if b.Has(p) && fmt.Sprint(b.Object[p]) != fmt.Sprint(rec[p]) {
			return invalidInput("Plugin does not support updating provider attributes")
		}
	}
	qos, hasQos, err := qosPolicyRequest(b)
	if err != nil {
		return err
	}
	if qos != "" {
		if err := s.checkQosPolicyUsable(r.Context(), s.db, c, qos); err != nil {
			return err
		}
	}
	sets := []string{}
	var args []any
	if name, ok, err := b.str("name", 255, false); err != nil {
		return err
	} else if ok {
		sets, args = append(sets, "name = ?"), append(args, name)
	}
	if d, ok, err := b.str("description", 255, false); err != nil {
		return err
	} else if ok {
		sets, args = append(sets, "description = ?"), append(args, d)
	}
	if d, ok, err := b.str("dns_domain", 255, true); err != nil {
		return err
	} else if ok {
		if d != "" && !strings.HasSuffix(d, ".") {
			d += "."
		}
		sets, args = append(sets, "dns_domain = ?"), append(args, d)
	}
	for _, f := range []struct{ key, col string }{{"admin_state_up", "admin_state_up"},
		{"port_security_enabled", "port_security_enabled"}, {"is_default", "is_default"}} {
		v, ok, err := b.boolean(f.key)
		if err != nil {
			return err
		}
		if ok {
			sets, args = append(sets, f.col+" = ?"), append(args, v)
		}
	}
	mtu, hasMTU, err := b.integer("mtu")
	if err != nil {
		return err
	}
	if hasMTU {
		maxMTU := s.typeMTU(fmt.Sprint(rec["provider:network_type"]))
		if mtu < 68 {
			return invalidAttr("mtu", fmt.Sprintf("'%d' is too small - must be at least '68'", mtu))
		}
		if mtu > int64(maxMTU) {
			return invalidInput("Requested MTU is too big, maximum is %d", maxMTU)
		}
		sets, args = append(sets, "mtu = ?"), append(args, mtu)
	}
	shared, hasShared, err := b.boolean("shared")
	if err != nil {
		return err
	}
	external, hasExternal, err := b.boolean("router:external")
	if err != nil {
		return err
	}
	isDefault, hasDefault, _ := b.boolean("is_default")
	if hasDefault && isDefault && !(rec["router:external"] == true || (hasExternal && external)) {
		return invalidInput("Only external networks can be marked as the default")
	}
	owner := rec["project_id"].(string)
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.bump(r.Context(), tx, k, id, match); err != nil {
			return err
		}
		if len(sets) > 0 {
			if _, err := tx.ExecContext(r.Context(), `UPDATE net_networks SET `+strings.Join(sets, ", ")+` WHERE id = ?`,
				append(args, id)...); err != nil {
				return err
			}
		}
		if hasQos {
			if err := s.checkQosPolicyRemovable(r.Context(), tx, c, "network", id); err != nil {
				return err
			}
			if err := setQosBinding(r.Context(), tx, "network", id, qos); err != nil {
				return err
			}
		}
		if hasShared {
			if shared {
				if err := insertRBACIfMissing(r.Context(), tx, owner, "network", id, "access_as_shared", "*"); err != nil {
					return err
				}
			} else {
				if err := s.removeWildcardShare(r.Context(), tx, id, owner); err != nil {
					return err
				}
			}
		}
		if hasExternal {
			if _, err := tx.ExecContext(r.Context(), `UPDATE net_networks SET router_external = ? WHERE id = ?`, external, id); err != nil {
				return err
			}
			if external {
				return insertRBACIfMissing(r.Context(), tx, owner, "network", id, "access_as_external", "*")
			}
			if _, err := tx.ExecContext(r.Context(), `UPDATE net_networks SET is_default = ? WHERE id = ?`, false, id); err != nil {
				return err
			}
			_, err := tx.ExecContext(r.Context(), `DELETE FROM net_rbac_policies WHERE object_type = 'network'
				AND object_id = ? AND action = 'access_as_external'`, id)
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

// removeWildcardShare drops a network's "*" access_as_shared entry, refusing
// (InvalidSharedSetting) while other projects have ports on it that no other entry
// covers.
func (s *Service) removeWildcardShare(ctx context.Context, tx *store.Tx, id, owner string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM net_ports WHERE network_id = ? AND project_id <> ?
		AND project_id NOT IN (SELECT target_tenant FROM net_rbac_policies WHERE object_type = 'network'
		AND object_id = ? AND action = 'access_as_shared')`, id, owner, id).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nerr(http.StatusConflict, "InvalidSharedSetting",
			"Unable to reconfigure sharing settings for network %s. Multiple projects are using it.", id)
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM net_rbac_policies WHERE object_type = 'network' AND object_id = ?
		AND action = 'access_as_shared' AND target_tenant = '*'`, id)
	return err
}

func (s *Service) deleteNetwork(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["networks"]
	id := r.PathValue("id")
	match, err := ifMatch(r)
	if err != nil {
		return err
	}
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "delete_network", rec); err != nil {
		return err
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.checkRevision(r.Context(), tx, k, id, match); err != nil {
			return err
		}
		var inUse int
		if err := tx.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM net_ports WHERE network_id = ?
			AND device_owner NOT LIKE 'network:%'`, id).Scan(&inUse); err != nil {
			return err
		}
		if inUse > 0 {
			return networkInUse(id, "There are one or more ports still in use on the network")
		}
		return s.purgeNetwork(r.Context(), tx, id)
	})
	if err != nil {
		return err
	}
	s.notify()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// purgeNetwork deletes a network with its network-owned ports, subnets, segments, RBAC
// entries and tags.
func (s *Service) purgeNetwork(ctx context.Context, tx *store.Tx, id string) error {
	stmts := []string{
		`DELETE FROM net_tags WHERE resource_type = 'ports' AND resource_id IN (SELECT id FROM net_ports WHERE network_id = ?)`,
		`DELETE FROM net_qos_bindings WHERE object_type = 'port' AND object_id IN (SELECT id FROM net_ports WHERE network_id = ?)`,
		`DELETE FROM net_qos_bindings WHERE object_type = 'network' AND object_id = ?`,
		`DELETE FROM net_ip_allocations WHERE network_id = ?`,
		`DELETE FROM net_port_security_groups WHERE port_id IN (SELECT id FROM net_ports WHERE network_id = ?)`,
		`DELETE FROM net_ports WHERE network_id = ?`,
		`DELETE FROM net_tags WHERE resource_type = 'subnets' AND resource_id IN (SELECT id FROM net_subnets WHERE network_id = ?)`,
		`DELETE FROM net_subnets WHERE network_id = ?`,
		`DELETE FROM net_tags WHERE resource_type = 'segments' AND resource_id IN (SELECT id FROM net_segments WHERE network_id = ?)`,
		`DELETE FROM net_segments WHERE network_id = ?`,
		`DELETE FROM net_rbac_policies WHERE object_type = 'network' AND object_id = ?`,
		`DELETE FROM net_tags WHERE resource_type = 'networks' AND resource_id = ?`,
		`DELETE FROM net_networks WHERE id = ?`,
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			return err
		}
	}
	return nil
}

// networkOf loads the network a subnet or port is created on, as the caller sees it.
func (s *Service) networkOf(ctx context.Context, q store.Querier, c *call, id string) (record, error) {
	recs, err := s.loadNetworks(ctx, q, c, byID(id))
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 || !s.visible(c, s.kinds["networks"], recs[0]) {
		return nil, networkNotFound(id)
	}
	return recs[0], nil
}

// hasString reports whether list (a []string attribute) holds v.
func hasString(list any, v string) bool {
	l, _ := list.([]string)
	return slices.Contains(l, v)
}
