package network

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// Security groups (security-group, stateful-security-group), their rules, the default
// rule templates (security-groups-default-rules) and the default group every project
// gets on first use.

// registerSecurityGroups adds the security group kinds, quotas, extensions and the port
// hook.
func (s *Service) registerSecurityGroups() {
	s.RegisterExtensions(extSecurityGroup...)
	s.registerKind(s.sgKind())
	s.registerKind(s.sgRuleKind())
	s.registerKind(s.defaultRuleKind())
	s.registerKind(s.addressGroupKind())
	s.RegisterQuotaResource("security_group", 10, countTable("net_security_groups"))
	s.RegisterQuotaResource("security_group_rule", 100, countTable("net_security_group_rules"))
	s.SetSecurityGroupHook(sgHook{s})
}

func sgNotFound(id string) *api.Error {
	return nerr(http.StatusNotFound, "SecurityGroupNotFound", "Security group %s does not exist", id)
}

func sgRuleNotFound(id string) *api.Error {
	return nerr(http.StatusNotFound, "SecurityGroupRuleNotFound", "Security group rule %s does not exist", id)
}

func (s *Service) sgKind() *kind {
	return &kind{
		singular: "security_group", collection: "security-groups", table: "net_security_groups", hasTags: true,
		attrs:      []string{"stateful", "shared", "security_group_rules"},
		unsortable: []string{"security_group_rules", "shared"},
		columns:    map[string]string{"id": "id", "project_id": "project_id", "tenant_id": "project_id", "name": "name"},
		notFound:   sgNotFound,
		load:       s.loadSecurityGroups,
	}
}

func (s *Service) sgRuleKind() *kind {
	return &kind{
		singular: "security_group_rule", collection: "security-group-rules", table: "net_security_group_rules",
		hasTags: true, tagless: true,
		attrs: []string{"security_group_id", "direction", "ethertype", "protocol", "port_range_min", "port_range_max",
			"remote_ip_prefix", "remote_group_id", "remote_address_group_id", "normalized_cidr", "belongs_to_default_sg"},
		columns: map[string]string{"id": "r.id", "project_id": "r.project_id", "tenant_id": "r.project_id",
			"security_group_id": "r.security_group_id", "direction": "r.direction", "ethertype": "r.ethertype",
			"protocol": "r.protocol", "remote_group_id": "r.remote_group_id", "remote_ip_prefix": "r.remote_ip_prefix",
			"remote_address_group_id": "r.remote_address_group_id", "description": "r.description"},
		notFound:  sgRuleNotFound,
		load:      s.loadSGRules,
		sqlPaging: "r.id",
		target: func(rec record) policy.Target {
			return policy.Target{"project_id": rec["project_id"], "tenant_id": rec["project_id"],
				"security_group:project_id": rec["_sg_project"], "security_group:tenant_id": rec["_sg_project"]}
		},
		policyKey: func(rec record) string {
			p, _ := rec["project_id"].(string)
			g, _ := rec["_sg_project"].(string)
			if rec["belongs_to_default_sg"] == true {
				return p + "\x00" + g + "\x00d"
			}
			return p + "\x00" + g
		},
		facts: func(rec record) []string {
			if rec["belongs_to_default_sg"] == true {
				return []string{"security_group_rules:belongs_to_default_sg=True"}
			}
			return nil
		},
	}
}

func (s *Service) defaultRuleKind() *kind {
	return &kind{
		singular: "default_security_group_rule", collection: "default-security-group-rules", table: "net_default_sg_rules",
		attrs: []string{"id", "description", "direction", "ethertype", "protocol", "port_range_min", "port_range_max",
			"remote_ip_prefix", "remote_group_id", "remote_address_group_id", "used_in_default_sg", "used_in_non_default_sg"},
		unsortable: []string{"description", "used_in_default_sg", "used_in_non_default_sg"},
		columns:    map[string]string{"id": "id", "direction": "direction", "ethertype": "ethertype"},
		notFound: func(id string) *api.Error {
			return nerr(http.StatusNotFound, "DefaultSecurityGroupRuleNotFound", "Default Security Group rule %s does not exist", id)
		},
		load:   s.loadDefaultRules,
		target: func(record) policy.Target { return policy.Target{} },
	}
}

func (s *Service) securityGroupRoutes() []route {
	rs := s.crudRoutes(s.kinds["security-groups"], s.createSecurityGroup, s.updateSecurityGroup, s.deleteSecurityGroup)
	rs = append(rs, s.crudRoutes(s.kinds["security-group-rules"], s.createSGRule, nil, s.deleteSGRule)...)
	rs = append(rs, s.crudRoutes(s.kinds["default-security-group-rules"], s.createDefaultRule, nil, s.deleteDefaultRule)...)
	// Listing groups creates the caller's default group first, as Neutron does.
	rs[0].handle = func(w http.ResponseWriter, r *http.Request, c *call) error {
		if p := c.project(); p != "" {
			if _, err := s.ensureDefaultSG(r.Context(), p); err != nil {
				return err
			}
		}
		return s.serveList(w, r, c, s.kinds["security-groups"])
	}
	return append(rs, s.addressGroupRoutes()...)
}

// ruleRow is a stored rule.
type ruleRow struct {
	stdAttrs
	SGID, Direction, EtherType             string
	Protocol, RemoteIP, RemoteGroup, RemAG *string
	PortMin, PortMax                       *int64
	SGProject                              string
	IsDefault                              bool
}

const ruleCols = `r.id, r.project_id, '' AS name, r.description, r.revision_number, r.created_at, r.updated_at,
	r.security_group_id, r.direction, r.ethertype, r.protocol, r.remote_ip_prefix, r.remote_group_id,
	r.remote_address_group_id, r.port_range_min, r.port_range_max, g.project_id,
	CASE WHEN d.project_id IS NULL THEN 0 ELSE 1 END`

const ruleFrom = ` FROM net_security_group_rules r JOIN net_security_groups g ON g.id = r.security_group_id
	LEFT JOIN net_default_security_groups d ON d.security_group_id = r.security_group_id WHERE 1=1`

func (rr *ruleRow) dest(isDefault *int) []any {
	return append(rr.stdAttrs.dest(), &rr.SGID, &rr.Direction, &rr.EtherType, &rr.Protocol, &rr.RemoteIP,
		&rr.RemoteGroup, &rr.RemAG, &rr.PortMin, &rr.PortMax, &rr.SGProject, isDefault)
}

// loadRuleRows reads rules by a WHERE fragment over ruleFrom.
func loadRuleRows(ctx context.Context, q store.Querier, where string, args ...any) ([]*ruleRow, error) {
	return loadRuleRowsOrdered(ctx, q, where, "r.created_at, r.id", args...)
}

// loadRuleRowsOrdered is loadRuleRows in a given order (lists want id order, which the
// generic machinery then need not sort).
func loadRuleRowsOrdered(ctx context.Context, q store.Querier, where, order string, args ...any) ([]*ruleRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+ruleCols+ruleFrom+where+` ORDER BY `+order, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ruleRow
	for rows.Next() {
		rr := &ruleRow{}
		var def int
		if err := rows.Scan(rr.dest(&def)...); err != nil {
			return nil, err
		}
		rr.IsDefault = def == 1
		out = append(out, rr)
	}
	return out, rows.Err()
}

func intPtr(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// render renders a rule as Neutron shows it.
func (rr *ruleRow) render() record {
	rec := record{"security_group_id": rr.SGID, "direction": rr.Direction, "ethertype": rr.EtherType,
		"protocol": strPtr(rr.Protocol), "port_range_min": intPtr(rr.PortMin), "port_range_max": intPtr(rr.PortMax),
		"remote_ip_prefix": strPtr(rr.RemoteIP), "remote_group_id": strPtr(rr.RemoteGroup),
		"remote_address_group_id": strPtr(rr.RemAG), "normalized_cidr": normalizedCIDR(rr.RemoteIP),
		"belongs_to_default_sg": rr.IsDefault, "_sg_project": rr.SGProject}
	rr.stdAttrs.render(rec, nil)
	delete(rec, "name")
	delete(rec, "tags")
	return rec
}

func (s *Service) loadSGRules(ctx context.Context, q store.Querier, c *call, pre sqlFilter) ([]record, error) {
	where, args := pre.where(s.kinds["security-group-rules"], "")
	if !s.isAdmin(c) {
		where += ` AND g.project_id = ?`
		args = append(args, c.project())
	}
	pw, pargs, tail := pre.paging("r.id")
	rows, err := loadRuleRowsOrdered(ctx, q, where+pw, "r.id"+tail, append(args, pargs...)...)
	if err != nil {
		return nil, err
	}
	out := make([]record, 0, len(rows))
	for _, rr := range rows {
		out = append(out, rr.render())
	}
	return out, nil
}

func (s *Service) loadSecurityGroups(ctx context.Context, q store.Querier, c *call, pre sqlFilter) ([]record, error) {
	where, args := pre.where(s.kinds["security-groups"], "")
	if !s.isAdmin(c) {
		where += ` AND project_id = ?`
		args = append(args, c.project())
	}
	rows, err := q.QueryContext(ctx, `SELECT `+stdCols+`, stateful FROM net_security_groups WHERE 1=1`+where, args...)
	if err != nil {
		return nil, err
	}
	var recs []record
	byID := map[string]record{}
	for rows.Next() {
		var a stdAttrs
		var stateful bool
		if err := rows.Scan(append(a.dest(), &stateful)...); err != nil {
			rows.Close()
			return nil, err
		}
		rec := record{"stateful": stateful, "shared": false, "security_group_rules": []any{}}
		a.render(rec, nil)
		recs = append(recs, rec)
		byID[a.ID] = rec
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(recs) == 0 {
		return recs, err
	}
	tags, err := loadTags(ctx, q, "security-groups", pre)
	if err != nil {
		return nil, err
	}
	rwhere, rargs := "", []any(nil)
	if len(recs) == 1 {
		rwhere, rargs = ` AND r.security_group_id = ?`, []any{recs[0]["id"]}
	} else if !s.isAdmin(c) {
		rwhere, rargs = ` AND g.project_id = ?`, []any{c.project()}
	}
	rules, err := loadRuleRows(ctx, q, rwhere, rargs...)
	if err != nil {
		return nil, err
	}
	for _, rr := range rules {
		if rec := byID[rr.SGID]; rec != nil {
			rr := rr.render()
			delete(rr, "_sg_project")
			rec["security_group_rules"] = append(rec["security_group_rules"].([]any), map[string]any(rr))
		}
	}
	for _, rec := range recs {
		if t := tags[rec["id"].(string)]; t != nil {
			rec["tags"] = t
		}
	}
	return recs, nil
}

// sgHook connects ports to security groups.
type sgHook struct{ s *Service }

// DefaultSecurityGroup returns the project's default group, creating it on first use.
func (h sgHook) DefaultSecurityGroup(ctx context.Context, projectID string) (string, error) {
	return h.s.ensureDefaultSG(ctx, projectID)
}

// ValidateSecurityGroups refuses groups that do not exist or that belong to another
// project (unless the caller is an admin), and mixing stateful with stateless groups.
func (h sgHook) ValidateSecurityGroups(ctx context.Context, caller *api.Caller, projectID string, ids []string) error {
	c := &call{caller: caller}
	admin := h.s.isAdmin(c)
	var stateful, stateless bool
	var missing []string
	for _, id := range ids {
		var owner string
		var sf bool
		err := h.s.db.QueryRowContext(ctx, `SELECT project_id, stateful FROM net_security_groups WHERE id = ?`, id).Scan(&owner, &sf)
		if store.IsNoRows(err) || (err == nil && !admin && owner != projectID) {
			missing = append(missing, id)
			continue
		}
		if err != nil {
			return err
		}
		stateful, stateless = stateful || sf, stateless || !sf
	}
	if len(missing) > 0 {
		return sgNotFound(strings.Join(missing, ", "))
	}
	if stateful && stateless {
		return nerr(http.StatusConflict, "SecurityGroupConflict",
			"Error Cannot apply both stateful and stateless security groups on the same port at the same time while attempting the operation.")
	}
	return nil
}

// errLostRace aborts a transaction that lost the race to create a default group.
var errLostRace = errors.New("default security group created concurrently")

// ensureDefaultSG returns the project's "default" group, creating it with the templates
// marked used_in_default_sg when it does not exist. Concurrent first uses agree through
// net_default_security_groups' primary key: the loser rolls back and reads the winner's.
func (s *Service) ensureDefaultSG(ctx context.Context, projectID string) (string, error) {
	if projectID == "" {
		return "", nil
	}
	var id string
	for range 3 {
		err := s.db.QueryRowContext(ctx, `SELECT security_group_id FROM net_default_security_groups WHERE project_id = ?`, projectID).Scan(&id)
		if err == nil {
			return id, nil
		}
		if !store.IsNoRows(err) {
			return "", err
		}
		id = api.NewUUID()
		err = s.db.InTx(ctx, func(tx *store.Tx) error {
			res, err := tx.ExecContext(ctx, `INSERT INTO net_default_security_groups (project_id, security_group_id) VALUES (?, ?)
				ON CONFLICT (project_id) DO NOTHING`, projectID, id)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return errLostRace
			}
			return s.insertSecurityGroup(ctx, tx, id, projectID, "default", "Default security group", true, true, nil)
		})
		if err == nil {
			s.notify()
			return id, nil
		}
		if !errors.Is(err, errLostRace) && !store.IsUniqueViolation(err) {
			return "", fmt.Errorf("default security group: %w", err)
		}
	}
	return id, nil
}

// insertSecurityGroup writes a group with the rules its templates give it.
func (s *Service) insertSecurityGroup(ctx context.Context, tx *store.Tx, id, project, name, desc string, stateful, isDefault bool, tags []string) error {
	ts := store.FormatTime(now())
	if _, err := tx.ExecContext(ctx, `INSERT INTO net_security_groups (id, project_id, name, description, stateful,
		revision_number, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)`, id, project, name, desc, stateful, ts, ts); err != nil {
		return err
	}
	col := "used_in_non_default_sg"
	if isDefault {
		col = "used_in_default_sg"
	}
	rows, err := tx.QueryContext(ctx, `SELECT direction, ethertype, protocol, port_range_min, port_range_max, remote_ip_prefix,
		remote_group_id, remote_address_group_id, description FROM net_default_sg_rules WHERE `+col+` = ? ORDER BY id`, true)
	if err != nil {
		return err
	}
	var tmpl []sgRule
	for rows.Next() {
		var r sgRule
		var desc string
		if err := rows.Scan(&r.Direction, &r.EtherType, &r.Protocol, &r.PortMin, &r.PortMax, &r.RemoteIP, &r.RemoteGroup,
			&r.RemoteAddrGrp, &desc); err != nil {
			rows.Close()
			return err
		}
		r.Description = desc
		tmpl = append(tmpl, r)
	}
	rows.Close()
	for _, r := range tmpl {
		if r.RemoteGroup != nil && *r.RemoteGroup == "PARENT" {
			r.RemoteGroup = &id
		}
		r.SecurityGroupID = id
		if err := insertRule(ctx, tx, api.NewUUID(), project, &r); err != nil {
			return err
		}
	}
	return setTags(ctx, tx, "security-groups", id, tags)
}

// insertRule writes one rule.
func insertRule(ctx context.Context, tx *store.Tx, id, project string, r *sgRule) error {
	ts := store.FormatTime(now())
	_, err := tx.ExecContext(ctx, `INSERT INTO net_security_group_rules (id, project_id, security_group_id, direction, ethertype,
		protocol, port_range_min, port_range_max, remote_ip_prefix, remote_group_id, remote_address_group_id, description,
		revision_number, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
		id, project, r.SecurityGroupID, r.Direction, r.EtherType, r.Protocol, r.PortMin, r.PortMax, r.RemoteIP,
		r.RemoteGroup, r.RemoteAddrGrp, r.Description, ts, ts)
	return err
}

// validateSGName is name_not_default: no group but the project's own may be "default".
func validateSGName(b body) (string, bool, error) {
	name, ok, err := b.str("name", 255, false)
	if err != nil {
		return "", ok, err
	}
	if strings.EqualFold(name, "default") {
		return "", ok, inUse("SecurityGroupDefaultAlreadyExists", "Default security group already exists.")
	}
	return name, ok, nil
}

func (s *Service) createSecurityGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["security-groups"]
	b, err := decode(r, "security_group")
	if err != nil {
		return err
	}
	if err := b.known("name", "description", "stateful", "project_id", "tenant_id", "tags"); err != nil {
		return err
	}
	project, err := b.owner(c)
	if err != nil {
		return err
	}
	name, _, err := validateSGName(b)
	if err != nil {
		return err
	}
	desc, _, err := b.str("description", 255, false)
	if err != nil {
		return err
	}
	stateful := true
	if v, ok, err := b.boolean("stateful"); err != nil {
		return err
	} else if ok {
		stateful = v
	}
	tags, err := createTags(b.Object)
	if err != nil {
		return err
	}
	target := policy.Target{"project_id": project}
	if !s.enforce(c, "create_security_group", target, nil) {
		return policyNotAuthorized("create_security_group")
	}
	if err := s.authorizeAttrs(c, k, "create", b.Object, target, nil); err != nil {
		return err
	}
	if _, err := s.ensureDefaultSG(r.Context(), project); err != nil {
		return err
	}
	id := api.NewUUID()
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.checkQuota(r.Context(), tx, project, "security_group", 1); err != nil {
			return err
		}
		return s.insertSecurityGroup(r.Context(), tx, id, project, name, desc, stateful, false, tags)
	})
	if err != nil {
		return err
	}
	return s.writeOne(w, c, k, http.StatusCreated, id, r.Context())
}

// sgInUse reports whether ports use a group.
func sgInUse(ctx context.Context, q store.Querier, id string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM net_port_security_groups WHERE security_group_id = ?`, id).Scan(&n)
	return n > 0, err
}

func (s *Service) updateSecurityGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["security-groups"]
	id := r.PathValue("id")
	b, err := decode(r, "security_group")
	if err != nil {
		return err
	}
	if err := b.readOnly("id", "project_id", "tenant_id", "security_group_rules", "shared", "created_at", "updated_at", "revision_number"); err != nil {
		return err
	}
	if err := b.known("name", "description", "stateful"); err != nil {
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
	if err := s.authorizeOn(c, k, "update_security_group", rec); err != nil {
		return err
	}
	sets, args := []string{}, []any{}
	if b.Has("name") {
		if rec["name"] == "default" {
			return inUse("SecurityGroupCannotUpdateDefault", "Updating default security group not allowed.")
		}
		name, _, err := validateSGName(b)
		if err != nil {
			return err
		}
		sets, args = append(sets, "name = ?"), append(args, name)
	}
	if d, ok, err := b.str("description", 255, false); err != nil {
		return err
	} else if ok {
		sets, args = append(sets, "description = ?"), append(args, d)
	}
	if v, ok, err := b.boolean("stateful"); err != nil {
		return err
	} else if ok {
		if v != rec["stateful"] {
			used, err := sgInUse(r.Context(), s.db, id)
			if err != nil {
				return err
			}
			if used {
				return inUse("SecurityGroupInUse", "Security Group %s in use.", id)
			}
		}
		sets, args = append(sets, "stateful = ?"), append(args, v)
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.bump(r.Context(), tx, k, id, match); err != nil {
			return err
		}
		if len(sets) == 0 {
			return nil
		}
		_, err := tx.ExecContext(r.Context(), `UPDATE net_security_groups SET `+strings.Join(sets, ", ")+` WHERE id = ?`, append(args, id)...)
		return err
	})
	if err != nil {
		return err
	}
	s.notify()
	return s.writeOne(w, c, k, http.StatusOK, id, r.Context())
}

func (s *Service) deleteSecurityGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["security-groups"]
	id := r.PathValue("id")
	match, err := ifMatch(r)
	if err != nil {
		return err
	}
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "delete_security_group", rec); err != nil {
		return err
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.checkRevision(r.Context(), tx, k, id, match); err != nil {
			return err
		}
		used, err := sgInUse(r.Context(), tx, id)
		if err != nil {
			return err
		}
		if used {
			return inUse("SecurityGroupInUse", "Security Group %s in use.", id)
		}
		if rec["name"] == "default" && !s.isAdmin(c) {
			return inUse("SecurityGroupCannotRemoveDefault", "Insufficient rights for removing default security group.")
		}
		for _, q := range []string{
			`DELETE FROM net_security_group_rules WHERE security_group_id = ? OR remote_group_id = ?`,
			`DELETE FROM net_default_security_groups WHERE security_group_id = ? OR security_group_id = ?`,
			`DELETE FROM net_tags WHERE resource_type = 'security-groups' AND (resource_id = ? OR resource_id = ?)`,
			`DELETE FROM net_security_groups WHERE id = ? OR id = ?`,
		} {
			if _, err := tx.ExecContext(r.Context(), q, id, id); err != nil {
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

// sgOwner returns a group's owner, or SecurityGroupNotFound.
func (s *Service) sgOwner(ctx context.Context, q store.Querier, id string) (string, error) {
	var owner string
	err := q.QueryRowContext(ctx, `SELECT project_id FROM net_security_groups WHERE id = ?`, id).Scan(&owner)
	if store.IsNoRows(err) {
		return "", sgNotFound(id)
	}
	return owner, err
}

func (s *Service) createSGRule(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["security-group-rules"]
	b, err := decode(r, "security_group_rule")
	if err != nil {
		return err
	}
	project, err := b.owner(c)
	if err != nil {
		return err
	}
	rule, err := ParseSecurityGroupRule(b.Object, false)
	if err != nil {
		return err
	}
	if _, err := s.ensureDefaultSG(r.Context(), project); err != nil {
		return err
	}
	sgProject, err := s.sgOwner(r.Context(), s.db, rule.SecurityGroupID)
	if err != nil {
		return err
	}
	target := policy.Target{"project_id": project, "security_group:project_id": sgProject, "security_group:tenant_id": sgProject}
	if !s.enforce(c, "create_security_group_rule", target, nil) {
		if sgProject != c.project() && !s.isAdmin(c) {
			return sgNotFound(rule.SecurityGroupID)
		}
		return policyNotAuthorized("create_security_group_rule")
	}
	admin := s.isAdmin(c)
	if !admin && sgProject != project {
		return sgNotFound(rule.SecurityGroupID)
	}
	if rule.RemoteGroup != nil {
		owner, err := s.sgOwner(r.Context(), s.db, *rule.RemoteGroup)
		if err != nil {
			return err
		}
		if !admin && owner != project {
			return sgNotFound(*rule.RemoteGroup)
		}
	}
	if rule.RemoteAddrGrp != nil {
		if err := s.checkAddressGroup(r.Context(), c, *rule.RemoteAddrGrp, project); err != nil {
			return err
		}
	}
	id := api.NewUUID()
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.checkQuota(r.Context(), tx, project, "security_group_rule", 1); err != nil {
			return err
		}
		existing, err := loadRuleRows(r.Context(), tx, ` AND r.security_group_id = ?`, rule.SecurityGroupID)
		if err != nil {
			return err
		}
		key := ruleKey(rule.Direction, rule.EtherType, rule.Protocol, rule.PortMin, rule.PortMax, rule.RemoteGroup, rule.RemoteAddrGrp, rule.RemoteIP)
		for _, e := range existing {
			if ruleKey(e.Direction, e.EtherType, e.Protocol, e.PortMin, e.PortMax, e.RemoteGroup, e.RemAG, e.RemoteIP) == key {
				return inUse("SecurityGroupRuleExists", "Security group rule already exists. Rule id is %s.", e.ID)
			}
		}
		if err := insertRule(r.Context(), tx, id, project, rule); err != nil {
			return err
		}
		return s.bump(r.Context(), tx, s.kinds["security-groups"], rule.SecurityGroupID, nil)
	})
	if err != nil {
		return err
	}
	s.notify()
	return s.writeOne(w, c, k, http.StatusCreated, id, r.Context())
}

func (s *Service) deleteSGRule(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["security-group-rules"]
	id := r.PathValue("id")
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "delete_security_group_rule", rec); err != nil {
		return err
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if _, err := tx.ExecContext(r.Context(), `DELETE FROM net_security_group_rules WHERE id = ?`, id); err != nil {
			return err
		}
		return s.bump(r.Context(), tx, s.kinds["security-groups"], rec["security_group_id"].(string), nil)
	})
	if err != nil {
		return err
	}
	s.notify()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) loadDefaultRules(ctx context.Context, q store.Querier, c *call, pre sqlFilter) ([]record, error) {
	where, args := pre.where(s.kinds["default-security-group-rules"], "")
	rows, err := q.QueryContext(ctx, `SELECT id, description, direction, ethertype, protocol, port_range_min, port_range_max,
		remote_ip_prefix, remote_group_id, remote_address_group_id, used_in_default_sg, used_in_non_default_sg
		FROM net_default_sg_rules WHERE 1=1`+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []record
	for rows.Next() {
		var id, desc, dir, eth string
		var proto, ip, rg, rag *string
		var pmin, pmax *int64
		var inDef, inNonDef bool
		if err := rows.Scan(&id, &desc, &dir, &eth, &proto, &pmin, &pmax, &ip, &rg, &rag, &inDef, &inNonDef); err != nil {
			return nil, err
		}
		out = append(out, record{"id": id, "description": desc, "direction": dir, "ethertype": eth,
			"protocol": strPtr(proto), "port_range_min": intPtr(pmin), "port_range_max": intPtr(pmax),
			"remote_ip_prefix": strPtr(ip), "remote_group_id": strPtr(rg), "remote_address_group_id": strPtr(rag),
			"used_in_default_sg": inDef, "used_in_non_default_sg": inNonDef})
	}
	return out, rows.Err()
}

func (s *Service) createDefaultRule(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["default-security-group-rules"]
	if !s.enforce(c, "create_default_security_group_rule", policy.Target{}, nil) {
		return policyNotAuthorized("create_default_security_group_rule")
	}
	b, err := decode(r, "default_security_group_rule")
	if err != nil {
		return err
	}
	rule, err := ParseSecurityGroupRule(b.Object, true)
	if err != nil {
		return err
	}
	inDef, _, err := b.boolean("used_in_default_sg")
	if err != nil {
		return err
	}
	inNonDef, has, err := b.boolean("used_in_non_default_sg")
	if err != nil {
		return err
	}
	if !has {
		inNonDef = true
	}
	if rule.RemoteGroup != nil && *rule.RemoteGroup != "PARENT" {
		if _, err := s.sgOwner(r.Context(), s.db, *rule.RemoteGroup); err != nil {
			return err
		}
	}
	id := api.NewUUID()
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		recs, err := s.loadDefaultRules(r.Context(), tx, c, nil)
		if err != nil {
			return err
		}
		key := ruleKey(rule.Direction, rule.EtherType, rule.Protocol, rule.PortMin, rule.PortMax, rule.RemoteGroup, rule.RemoteAddrGrp, rule.RemoteIP)
		for _, e := range recs {
			ek := ruleKey(e["direction"].(string), e["ethertype"].(string), optStr(e["protocol"]), optInt(e["port_range_min"]),
				optInt(e["port_range_max"]), optStr(e["remote_group_id"]), optStr(e["remote_address_group_id"]), optStr(e["remote_ip_prefix"]))
			if ek == key {
				return inUse("DefaultSecurityGroupRuleExists", "Default Security group rule already exists. Rule id is %s.", e["id"])
			}
		}
		_, err = tx.ExecContext(r.Context(), `INSERT INTO net_default_sg_rules (id, description, direction, ethertype, protocol,
			port_range_min, port_range_max, remote_ip_prefix, remote_group_id, remote_address_group_id, used_in_default_sg,
			used_in_non_default_sg) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, rule.Description, rule.Direction,
			rule.EtherType, rule.Protocol, rule.PortMin, rule.PortMax, rule.RemoteIP, rule.RemoteGroup, rule.RemoteAddrGrp, inDef, inNonDef)
		return err
	})
	if err != nil {
		return err
	}
	return s.writeOne(w, c, k, http.StatusCreated, id, r.Context())
}

func optStr(v any) *string {
	if s, ok := v.(string); ok {
		return &s
	}
	return nil
}

func optInt(v any) *int64 {
	if n, ok := v.(int64); ok {
		return &n
	}
	return nil
}

func (s *Service) deleteDefaultRule(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["default-security-group-rules"]
	id := r.PathValue("id")
	if _, err := s.loadOne(r.Context(), s.db, c, k, id); err != nil {
		return err
	}
	if !s.enforce(c, "delete_default_security_group_rule", policy.Target{}, nil) {
		return policyNotAuthorized("delete_default_security_group_rule")
	}
	if _, err := s.db.ExecContext(r.Context(), `DELETE FROM net_default_sg_rules WHERE id = ?`, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
