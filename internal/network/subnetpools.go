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

func (s *Service) subnetpoolKind() *kind {
	return &kind{
		singular: "subnetpool", collection: "subnetpools", table: "net_subnetpools", hasTags: true,
		attrs: []string{"ip_version", "prefixes", "default_prefixlen", "min_prefixlen", "max_prefixlen",
			"default_quota", "address_scope_id", "shared", "is_default"},
		unsortable: []string{"prefixes"},
		columns:    map[string]string{"id": "id", "project_id": "project_id", "tenant_id": "project_id", "name": "name"},
		notFound: func(id string) *api.Error {
			return nerr(http.StatusNotFound, "SubnetPoolNotFound", "Subnet pool %s could not be found.", id)
		},
		load: s.loadSubnetpools,
		facts: func(rec record) []string {
			if rec["shared"] == true {
				return []string{"subnetpools:shared=True"}
			}
			return nil
		},
	}
}

func (s *Service) subnetpoolRoutes() []route {
	k := s.kinds["subnetpools"]
	return append(s.crudRoutes(k, s.createSubnetpool, s.updateSubnetpool, s.deleteSubnetpool),
		route{"PUT", "/v2.0/subnetpools/{id}/add_prefixes", "add_prefixes", s.subnetpoolPrefixes(true)},
		route{"PUT", "/v2.0/subnetpools/{id}/remove_prefixes", "remove_prefixes", s.subnetpoolPrefixes(false)},
	)
}

func (s *Service) loadSubnetpools(ctx context.Context, q store.Querier, c *call, pre sqlFilter) ([]record, error) {
	tags, err := loadTags(ctx, q, "subnetpools", pre)
	if err != nil {
		return nil, err
	}
	where, args := pre.where(s.kinds["subnetpools"], "")
	if !s.isAdmin(c) {
		where += ` AND (project_id = ? OR shared = ?)`
		args = append(args, c.project(), true)
	}
	rows, err := q.QueryContext(ctx, `SELECT `+stdCols+`, ip_version, prefixes, default_prefixlen, min_prefixlen,
		max_prefixlen, default_quota, address_scope_id, shared, is_default FROM net_subnetpools WHERE 1=1`+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []record
	for rows.Next() {
		var a stdAttrs
		var ver, def, minL, maxL int64
		var prefixes string
		var quota *int64
		var scope *string
		var shared, isDefault bool
		if err := rows.Scan(append(a.dest(), &ver, &prefixes, &def, &minL, &maxL, &quota, &scope, &shared, &isDefault)...); err != nil {
			return nil, err
		}
		var pl []string
		_ = json.Unmarshal([]byte(prefixes), &pl)
		rec := record{"ip_version": ver, "prefixes": pl, "default_prefixlen": def, "min_prefixlen": minL,
			"max_prefixlen": maxL, "default_quota": nil, "address_scope_id": strPtr(scope), "shared": shared,
			"is_default": isDefault}
		if quota != nil {
			rec["default_quota"] = *quota
		}
		a.render(rec, tags)
		out = append(out, rec)
	}
	return out, rows.Err()
}

// parsePrefixes validates a prefixes list: CIDRs of one family, normalised.
func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range list {
		_, masked, err := ipam.ParseCIDR(p)
		if err != nil {
			return nil, invalidAttr("prefixes", err.Error())
		}
		if len(out) > 0 && out[0].Addr().BitLen() != masked.Addr().BitLen() {
			return nil, invalidInput("Cannot mix IPv4 and IPv6 prefixes in a subnet pool")
		}
		out = append(out, masked)
	}
	return out, nil
}

// compactPrefixes drops prefixes contained in others and sorts them, as Neutron's
// IPSet-based compaction does for the common cases.
func compactPrefixes(ps []netip.Prefix) []string {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	var kept []netip.Prefix
	for _, p := range ps {
		if len(kept) > 0 && kept[len(kept)-1].Contains(p.Addr()) && kept[len(kept)-1].Bits() <= p.Bits() {
			continue
		}
		kept = append(kept, p)
	}
	out := make([]string, len(kept))
	for i, p := range kept {
		out[i] = p.String()
	}
	return out
}

func (s *Service) createSubnetpool(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["subnetpools"]
	b, err := decode(r, "subnetpool")
	if err != nil {
		return err
	}
	if err := b.known("name", "description", "prefixes", "default_prefixlen", "min_prefixlen", "max_prefixlen",
		"default_quota", "address_scope_id", "shared", "is_default", "project_id", "tenant_id", "tags", "ip_version"); err != nil {
		return err
	}
	project, err := b.owner(c)
	if err != nil {
		return err
	}
	target := policy.Target{"project_id": project}
	if !s.enforce(c, "create_subnetpool", target, nil) {
		return policyNotAuthorized("create_subnetpool")
	}
	if err := s.authorizeAttrs(c, k, "create", b.Object, target, nil); err != nil {
		return err
	}
	name, desc, hasName, _, err := b.nameAndDescription()
	if err != nil {
		return err
	}
	if !hasName {
		return badRequest("Failed to parse request. Required attribute 'name' not specified")
	}
	list, ok, err := b.strList("prefixes")
	if err != nil {
		return err
	}
	if !ok || len(list) == 0 {
		return badRequest("Failed to parse request. Required attribute 'prefixes' not specified")
	}
	prefixes, err := parsePrefixes(list)
	if err != nil {
		return err
	}
	ver := int64(4)
	maxBits := int64(32)
	if prefixes[0].Addr().Is6() {
		ver, maxBits = 6, 128
	}
	minL, maxL, def := int64(8), maxBits, int64(0)
	if ver == 6 {
		minL = 64
	}
	for _, p := range prefixes {
		if int64(p.Bits()) < minL {
			minL = int64(p.Bits())
		}
	}
	if v, ok, err := b.integer("min_prefixlen"); err != nil {
		return err
	} else if ok {
		minL = v
	}
	if v, ok, err := b.integer("max_prefixlen"); err != nil {
		return err
	} else if ok {
		maxL = v
	}
	def = minL
	if v, ok, err := b.integer("default_prefixlen"); err != nil {
		return err
	} else if ok {
		def = v
	}
	if minL < 0 || maxL > maxBits || minL > maxL || def < minL || def > maxL {
		return nerr(http.StatusBadRequest, "IllegalSubnetPoolPrefixBounds",
			"Illegal prefix bounds: default_prefixlen=%d, min_prefixlen=%d, max_prefixlen=%d.", def, minL, maxL)
	}
	var quota any
	if v, ok, err := b.integer("default_quota"); err != nil {
		return err
	} else if ok {
		quota = v
	}
	shared, _, err := b.boolean("shared")
	if err != nil {
		return err
	}
	isDefault, _, err := b.boolean("is_default")
	if err != nil {
		return err
	}
	scope, _, err := b.str("address_scope_id", 36, true)
	if err != nil {
		return err
	}
	tags, err := createTags(b.Object)
	if err != nil {
		return err
	}
	id := api.NewUUID()
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.checkQuota(r.Context(), tx, project, "subnetpool", 1); err != nil {
			return err
		}
		if scope != "" {
			if err := s.checkScope(r.Context(), tx, c, scope, ver); err != nil {
				return err
			}
		}
		if isDefault {
			var n int
			_ = tx.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM net_subnetpools WHERE is_default = ? AND ip_version = ?`, true, ver).Scan(&n)
			if n > 0 {
				return badRequest("Invalid input for operation: A default subnetpool for this IP family has already been set. Only one default may exist per IP family.")
			}
		}
		ts := store.FormatTime(now())
		var sc any
		if scope != "" {
			sc = scope
		}
		if _, err := tx.ExecContext(r.Context(), `INSERT INTO net_subnetpools (id, project_id, name, description, ip_version,
			prefixes, default_prefixlen, min_prefixlen, max_prefixlen, default_quota, address_scope_id, shared, is_default,
			revision_number, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
			id, project, name, desc, ver, jsonText(compactPrefixes(prefixes), "[]"), def, minL, maxL, quota, sc, shared,
			isDefault, ts, ts); err != nil {
			return err
		}
		return setTags(r.Context(), tx, "subnetpools", id, tags)
	})
	if err != nil {
		return err
	}
	return s.writeOne(w, c, k, http.StatusCreated, id, r.Context())
}

// checkScope verifies an address scope the caller can use, of the pool's IP version.
func (s *Service) checkScope(ctx context.Context, q store.Querier, c *call, id string, ver int64) error {
	recs, err := s.loadVisible(ctx, q, c, s.kinds["address-scopes"], byID(id))
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return nerr(http.StatusNotFound, "AddressScopeNotFound", "Address scope %s could not be found.", id)
	}
	if recs[0]["ip_version"] != ver {
		return badRequest("Invalid input for operation: Illegal subnetpool association: subnetpool cannot be associated with address scope %s because subnetpool ip_version is not %d.", id, recs[0]["ip_version"])
	}
	return nil
}

func (s *Service) updateSubnetpool(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["subnetpools"]
	id := r.PathValue("id")
	b, err := decode(r, "subnetpool")
	if err != nil {
		return err
	}
	if err := b.readOnly("id", "ip_version", "project_id", "tenant_id", "shared"); err != nil {
		return err
	}
	if err := b.known("name", "description", "prefixes", "default_prefixlen", "min_prefixlen", "max_prefixlen",
		"default_quota", "address_scope_id", "is_default"); err != nil {
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
	if err := s.authorizeOn(c, k, "update_subnetpool", rec); err != nil {
		return err
	}
	if err := s.authorizeAttrs(c, k, "update", b.Object, k.target(rec), factsOf(k, rec)); err != nil {
		return err
	}
	sets := []string{}
	var args []any
	set := func(col string, v any) { sets, args = append(sets, col+" = ?"), append(args, v) }
	name, desc, hasName, hasDesc, err := b.nameAndDescription()
	if err != nil {
		return err
	}
	if hasName {
		set("name", name)
	}
	if hasDesc {
		set("description", desc)
	}
	if list, ok, err := b.strList("prefixes"); err != nil {
		return err
	} else if ok {
		ps, err := parsePrefixes(list)
		if err != nil {
			return err
		}
		old, _ := parsePrefixes(rec["prefixes"].([]string))
		for _, o := range old {
			covered := false
			for _, p := range ps {
				if p.Contains(o.Addr()) && p.Bits() <= o.Bits() {
					covered = true
				}
			}
			if !covered {
				return badRequest("Invalid input for operation: Existing prefixes must be a subset of the new prefixes.")
			}
		}
		set("prefixes", jsonText(compactPrefixes(ps), "[]"))
	}
	for _, key := range []string{"default_prefixlen", "min_prefixlen", "max_prefixlen", "default_quota"} {
		if v, ok, err := b.integer(key); err != nil {
			return err
		} else if ok {
			set(key, v)
		}
	}
	if v, ok, err := b.boolean("is_default"); err != nil {
		return err
	} else if ok {
		set("is_default", v)
	}
	if b.Has("address_scope_id") {
		scope, _, err := b.str("address_scope_id", 36, true)
		if err != nil {
			return err
		}
		if scope == "" {
			set("address_scope_id", nil)
		} else {
			if err := s.checkScope(r.Context(), s.db, c, scope, rec["ip_version"].(int64)); err != nil {
				return err
			}
			set("address_scope_id", scope)
		}
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.bump(r.Context(), tx, k, id, match); err != nil {
			return err
		}
		if len(sets) > 0 {
			_, err := tx.ExecContext(r.Context(), `UPDATE net_subnetpools SET `+strings.Join(sets, ", ")+` WHERE id = ?`, append(args, id)...)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.writeOne(w, c, k, http.StatusOK, id, r.Context())
}

// subnetpoolPrefixes serves add_prefixes and remove_prefixes (subnetpool-prefix-ops).
func (s *Service) subnetpoolPrefixes(add bool) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		k := s.kinds["subnetpools"]
		id := r.PathValue("id")
		body, err := api.DecodeObject(r, "")
		if err != nil {
			return err
		}
		list, _, err := body.StrList("prefixes")
		if err != nil {
			return badRequest("%s", err.(*api.Error).Message)
		}
		ps, err := parsePrefixes(list)
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
		old, _ := parsePrefixes(rec["prefixes"].([]string))
		var next []netip.Prefix
		if add {
			next = append(old, ps...)
		} else {
			used, err := s.poolSubnets(r.Context(), s.db, id)
			if err != nil {
				return err
			}
			for _, o := range old {
				if slices.Contains(ps, o) {
					for _, u := range used {
						if ipam.Overlaps(u, o) {
							return nerr(http.StatusConflict, "IllegalSubnetPoolUpdate",
								"Illegal update to subnet pool: prefix %s is in use.", o)
						}
					}
					continue
				}
				next = append(next, o)
			}
		}
		err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
			if err := s.bump(r.Context(), tx, k, id, nil); err != nil {
				return err
			}
			_, err := tx.ExecContext(r.Context(), `UPDATE net_subnetpools SET prefixes = ? WHERE id = ?`,
				jsonText(compactPrefixes(next), "[]"), id)
			return err
		})
		if err != nil {
			return err
		}
		writeBody(w, http.StatusOK, map[string]any{"prefixes": compactPrefixes(next)})
		return nil
	}
}

// poolSubnets returns the CIDRs allocated from a subnet pool.
func (s *Service) poolSubnets(ctx context.Context, q store.Querier, poolID string) ([]netip.Prefix, error) {
	rows, err := loadSubnetRows(ctx, q, ` AND subnetpool_id = ?`, poolID)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Prefix, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.prefix)
	}
	return out, nil
}

func (s *Service) deleteSubnetpool(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["subnetpools"]
	id := r.PathValue("id")
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "delete_subnetpool", rec); err != nil {
		return err
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM net_subnets WHERE subnetpool_id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return inUse("SubnetPoolInUse", "Subnet pool %s cannot be deleted: %d subnets still allocate from it.", id, n)
		}
		if err := deleteTags(r.Context(), tx, "subnetpools", id); err != nil {
			return err
		}
		_, err := tx.ExecContext(r.Context(), `DELETE FROM net_subnetpools WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// resolveSubnetPool picks the subnet pool of a subnet request (given or the default of
// its family) and, without an explicit cidr, allocates a prefix from it under the pool's
// row lock. An explicit cidr must lie inside the pool's prefixes and not overlap its
// other subnets.
func (s *Service) resolveSubnetPool(ctx context.Context, tx *store.Tx, c *call, spec *subnetSpec) error {
	if spec.poolID == "" && spec.useDefaultPool {
		var id string
		err := tx.QueryRowContext(ctx, `SELECT id FROM net_subnetpools WHERE is_default = ? AND ip_version = ?`, true, spec.ipVersion).Scan(&id)
		if store.IsNoRows(err) {
			return badResourceRequest("subnets", fmt.Sprintf("No default subnetpool found for IPv%d", spec.ipVersion))
		}
		if err != nil {
			return err
		}
		spec.poolID = id
	}
	if spec.poolID == "" {
		return nil
	}
	recs, err := s.loadVisible(ctx, tx, c, s.kinds["subnetpools"], byID(spec.poolID))
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return nerr(http.StatusNotFound, "SubnetPoolNotFound", "Subnet pool %s could not be found.", spec.poolID)
	}
	pool := recs[0]
	if pool["ip_version"] != spec.ipVersion {
		return invalidInput("Cannot allocate IPv%d subnet from IPv%d subnet pool", spec.ipVersion, pool["ip_version"])
	}
	if _, err := tx.ExecContext(ctx, `UPDATE net_subnetpools SET alloc_lock = alloc_lock + 1 WHERE id = ?`, spec.poolID); err != nil {
		return err
	}
	prefixes, _ := parsePrefixes(pool["prefixes"].([]string))
	used, err := s.poolSubnets(ctx, tx, spec.poolID)
	if err != nil {
		return err
	}
	minL, maxL := pool["min_prefixlen"].(int64), pool["max_prefixlen"].(int64)
	if spec.hasCIDR {
		inside := false
		for _, p := range prefixes {
			if p.Contains(spec.prefix.Addr()) && p.Bits() <= spec.prefix.Bits() {
				inside = true
			}
		}
		if !inside {
			return badResourceRequest("subnets", fmt.Sprintf("Cidr %s is not within the subnet pool %s", spec.prefix, spec.poolID))
		}
		if int64(spec.prefix.Bits()) < minL || int64(spec.prefix.Bits()) > maxL {
			return badResourceRequest("subnets", fmt.Sprintf("Prefix length %d is outside the pool's bounds %d-%d", spec.prefix.Bits(), minL, maxL))
		}
		for _, u := range used {
			if ipam.Overlaps(u, spec.prefix) {
				return badResourceRequest("subnets", fmt.Sprintf("Cidr %s overlaps a subnet allocated from pool %s", spec.prefix, spec.poolID))
			}
		}
		return nil
	}
	bits := pool["default_prefixlen"].(int64)
	if spec.hasPrefixlen {
		bits = spec.prefixlen
	}
	if bits < minL || bits > maxL {
		return badResourceRequest("subnets", fmt.Sprintf("Unable to allocate subnet with prefix length %d, maximum allowed prefix is %d", bits, maxL))
	}
	p, ok := ipam.AllocatePrefix(prefixes, used, int(bits))
	if !ok {
		return nerr(http.StatusServiceUnavailable, "SubnetAllocationError", "Failed to allocate subnet: Insufficient prefix space to allocate subnet size /%d.", bits)
	}
	spec.prefix, spec.hasCIDR = p, true
	return nil
}

// addressScopeKind is /v2.0/address-scopes.
func (s *Service) addressScopeKind() *kind {
	return &kind{
		singular: "address_scope", collection: "address-scopes", table: "net_address_scopes", hasTags: false,
		attrs:   append([]string{"ip_version", "shared"}, standardAttrs...),
		columns: map[string]string{"id": "id", "project_id": "project_id", "tenant_id": "project_id", "name": "name"},
		notFound: func(id string) *api.Error {
			return nerr(http.StatusNotFound, "AddressScopeNotFound", "Address scope %s could not be found.", id)
		},
		load: s.loadAddressScopes,
		facts: func(rec record) []string {
			if rec["shared"] == true {
				return []string{"address_scopes:shared=True"}
			}
			return nil
		},
	}
}

func (s *Service) addressScopeRoutes() []route {
	return s.crudRoutes(s.kinds["address-scopes"], s.createAddressScope, s.updateAddressScope, s.deleteAddressScope)
}

func (s *Service) loadAddressScopes(ctx context.Context, q store.Querier, c *call, pre sqlFilter) ([]record, error) {
	where, args := pre.where(s.kinds["address-scopes"], "")
	rows, err := q.QueryContext(ctx, `SELECT `+stdCols+`, ip_version, shared FROM net_address_scopes WHERE 1=1`+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []record
	for rows.Next() {
		var a stdAttrs
		var ver int64
		var shared bool
		if err := rows.Scan(append(a.dest(), &ver, &shared)...); err != nil {
			return nil, err
		}
		rec := record{"ip_version": ver, "shared": shared}
		a.render(rec, nil)
		delete(rec, "tags")
		out = append(out, rec)
	}
	return out, rows.Err()
}

func (s *Service) createAddressScope(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["address-scopes"]
	b, err := decode(r, "address_scope")
	if err != nil {
		return err
	}
	if err := b.known("name", "description", "ip_version", "shared", "project_id", "tenant_id"); err != nil {
		return err
	}
	project, err := b.owner(c)
	if err != nil {
		return err
	}
	target := policy.Target{"project_id": project}
	if !s.enforce(c, "create_address_scope", target, nil) {
		return policyNotAuthorized("create_address_scope")
	}
	if err := s.authorizeAttrs(c, k, "create", b.Object, target, nil); err != nil {
		return err
	}
	name, desc, hasName, _, err := b.nameAndDescription()
	if err != nil {
		return err
	}
	if !hasName {
		return badRequest("Failed to parse request. Required attribute 'name' not specified")
	}
	ver, ok, err := b.integer("ip_version")
	if err != nil {
		return err
	}
	if !ok {
		return badRequest("Failed to parse request. Required attribute 'ip_version' not specified")
	}
	if ver != 4 && ver != 6 {
		return invalidAttr("ip_version", fmt.Sprintf("%d is not in [4, 6]", ver))
	}
	shared, _, err := b.boolean("shared")
	if err != nil {
		return err
	}
	id := api.NewUUID()
	ts := store.FormatTime(now())
	if _, err := s.db.ExecContext(r.Context(), `INSERT INTO net_address_scopes (id, project_id, name, description, ip_version,
		shared, revision_number, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)`,
		id, project, name, desc, ver, shared, ts, ts); err != nil {
		return err
	}
	return s.writeOne(w, c, k, http.StatusCreated, id, r.Context())
}

func (s *Service) updateAddressScope(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["address-scopes"]
	id := r.PathValue("id")
	b, err := decode(r, "address_scope")
	if err != nil {
		return err
	}
	if err := b.readOnly("id", "ip_version", "project_id", "tenant_id"); err != nil {
		return err
	}
	if err := b.known("name", "description", "shared"); err != nil {
		return err
	}
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "update_address_scope", rec); err != nil {
		return err
	}
	if err := s.authorizeAttrs(c, k, "update", b.Object, k.target(rec), factsOf(k, rec)); err != nil {
		return err
	}
	name, desc, hasName, hasDesc, err := b.nameAndDescription()
	if err != nil {
		return err
	}
	shared, hasShared, err := b.boolean("shared")
	if err != nil {
		return err
	}
	if hasShared && !shared && rec["shared"] == true {
		return badRequest("Invalid input for operation: Unsharing an address scope is not allowed.")
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.bump(r.Context(), tx, k, id, nil); err != nil {
			return err
		}
		for _, u := range []struct {
			ok  bool
			col string
			v   any
		}{{hasName, "name", name}, {hasDesc, "description", desc}, {hasShared, "shared", shared}} {
			if u.ok {
				if _, err := tx.ExecContext(r.Context(), `UPDATE net_address_scopes SET `+u.col+` = ? WHERE id = ?`, u.v, id); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.writeOne(w, c, k, http.StatusOK, id, r.Context())
}

func (s *Service) deleteAddressScope(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["address-scopes"]
	id := r.PathValue("id")
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "delete_address_scope", rec); err != nil {
		return err
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM net_subnetpools WHERE address_scope_id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return inUse("AddressScopeInUse", "Unable to complete operation on address scope %s. There are one or more subnet pools in use on the address scope.", id)
		}
		_, err := tx.ExecContext(r.Context(), `DELETE FROM net_address_scopes WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
