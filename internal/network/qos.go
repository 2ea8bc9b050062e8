package network

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// Quality of Service (qos, qos-bw-limit-direction, qos-bw-minimum-ingress, qos-default,
// qos-rule-type-details, qos-rule-type-filter, qos-rules-alias): policies with
// bandwidth-limit, DSCP-marking and minimum-bandwidth rules, and the qos_policy_id of
// networks and ports. A network's policy applies to its ports that have none of their
// own, except the ports network devices own (router gateways excepted), as Neutron's
// QosRule.should_apply_to_port says.

var extQoS = []Extension{
	{"qos", "Quality of Service", "The Quality of Service extension.", "2015-06-08T10:00:00-00:00"},
	{"qos-bw-limit-direction", "Direction for QoS bandwidth limit rule", "Allow to configure QoS bandwidth limit rule with specific direction: ingress or egress", "2017-04-10T10:00:00-00:00"},
	{"qos-bw-minimum-ingress", "Ingress direction for QoS minimum bandwidth rule", "Allow to configure QoS minumum bandwidth rule with ingress direction.", "2018-07-09T10:00:00-00:00"},
	{"qos-default", "QoS default policy", "Expose the QoS default policy per project", "2017-041-06T10:00:00-00:00"},
	{"qos-rule-type-details", "Details of QoS rule types", "Expose details about QoS rule types supported by loaded backend drivers", "2017-06-22T10:00:00-00:00"},
	{"qos-rule-type-filter", "Allow to filter the list of QoS rule types", "Allows to filter the QoS rule type list adding two new flags. \"all_rules\" prints all implemented QoS rule types.\"all_supported\" prints all supported QoS rule types by the loaded mechanism drivers", "2022-02-02T10:00:00-00:00"},
	{"qos-rules-alias", "Quality of Service rules alias API", "API to enable GET, PUT and DELETE operations on QoS policy rules without specifying policy ID", "2018-10-07T10:00:00-00:00"},
}

// Rule types (neutron_lib.services.qos.constants).
const (
	ruleBandwidthLimit   = "bandwidth_limit"
	ruleDSCPMarking      = "dscp_marking"
	ruleMinimumBandwidth = "minimum_bandwidth"
)

// allQoSRuleTypes is VALID_RULE_TYPES, what rule-types?all_rules=true lists.
var allQoSRuleTypes = []string{ruleBandwidthLimit, ruleDSCPMarking, ruleMinimumBandwidth, "minimum_packet_rate", "packet_rate_limit"}

// validDSCPMarks is neutron_lib.constants.VALID_DSCP_MARKS.
var validDSCPMarks = []int64{0, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 44, 46, 48, 56}

// qosDirections are the directions bandwidth rules take.
var qosDirections = []string{"ingress", "egress"}

// dbIntMax is neutron_lib.db.constants.DB_INTEGER_MAX_VALUE, the upper bound of rates.
const dbIntMax = 2147483647

// qosDriverName is the QoS driver the rule-type details report: the Linux data plane
// gostack's hosts run, registered as the Linux bridge agent.
const qosDriverName = "linuxbridge"

// qosRuleType describes one rule type: its names and fields.
type qosRuleType struct {
	name string
	// fields are the type's attributes besides id, in the order responses list them.
	fields []string
	// required are the fields a create must carry.
	required []string
}

// singular is the body key of one rule ("bandwidth_limit_rule").
func (t *qosRuleType) singular() string { return t.name + "_rule" }

// plural is the collection of a policy's rules ("bandwidth_limit_rules").
func (t *qosRuleType) plural() string { return t.name + "_rules" }

// aliasPath is the qos-rules-alias collection ("alias-bandwidth-limit-rules").
func (t *qosRuleType) aliasPath() string {
	return "alias-" + strings.ReplaceAll(t.name, "_", "-") + "-rules"
}

// directed reports whether rules of the type have a direction.
func (t *qosRuleType) directed() bool { return slices.Contains(t.fields, "direction") }

var qosRuleTypes = []*qosRuleType{
	{name: ruleBandwidthLimit, fields: []string{"max_kbps", "max_burst_kbps", "direction"}, required: []string{"max_kbps"}},
	{name: ruleDSCPMarking, fields: []string{"dscp_mark"}, required: []string{"dscp_mark"}},
	{name: ruleMinimumBandwidth, fields: []string{"min_kbps", "direction"}, required: []string{"min_kbps"}},
}

func qosRuleTypeNamed(name string) *qosRuleType {
	for _, t := range qosRuleTypes {
		if t.name == name {
			return t
		}
	}
	return nil
}

// qosRuleTypeDetails are the parameters the driver supports per rule type
// (qos-rule-type-details), as Neutron's driver manager renders them.
func qosRuleTypeDetails(name string) []map[string]any {
	rng := func(p string) map[string]any {
		return map[string]any{"parameter_name": p, "parameter_type": "range",
			"parameter_values": map[string]any{"start": 0, "end": dbIntMax}}
	}
	dirs := map[string]any{"parameter_name": "direction", "parameter_type": "choices",
		"parameter_values": []string{"ingress", "egress"}}
	var params []map[string]any
	switch name {
	case ruleBandwidthLimit:
		params = []map[string]any{rng("max_kbps"), dirs, rng("max_burst_kbps")}
	case ruleDSCPMarking:
		params = []map[string]any{{"parameter_name": "dscp_mark", "parameter_type": "choices", "parameter_values": validDSCPMarks}}
	case ruleMinimumBandwidth:
		params = []map[string]any{rng("min_kbps"), dirs}
	default:
		return []map[string]any{}
	}
	return []map[string]any{{"name": qosDriverName, "supported_parameters": params}}
}

func qosRuleNotFound(ruleID, policyID string) *api.Error {
	return nerr(http.StatusNotFound, "QosRuleNotFound", "QoS rule %s for policy %s could not be found.", ruleID, policyID)
}

func (s *Service) registerQoS() {
	s.RegisterExtensions(extQoS...)
	s.registerKind(s.qosPolicyKind())
}

func (s *Service) qosPolicyKind() *kind {
	return &kind{
		singular: "policy", collection: "qos/policies", listKey: "policies", table: "net_qos_policies", hasTags: true,
		attrs:      []string{"shared", "is_default", "rules"},
		unsortable: []string{"rules", "is_default", "shared"},
		columns:    map[string]string{"id": "id", "project_id": "project_id", "tenant_id": "project_id", "name": "name"},
		notFound:   qosPolicyNotFound,
		load:       s.loadQosPolicies,
		facts:      qosPolicyFacts,
	}
}

// qosPolicyFacts are the field checks a policy satisfies (shared_qos_policy).
func qosPolicyFacts(rec record) []string {
	if rec["shared"] == true {
		return []string{"policies:shared=True"}
	}
	return nil
}

func (s *Service) qosRoutes() []route {
	k := s.kinds["qos/policies"]
	rs := s.crudRoutes(k, s.createQosPolicy, s.updateQosPolicy, s.deleteQosPolicy)
	rs = append(rs,
		route{"GET", "/v2.0/qos/rule-types", "get_rule_type", s.listQosRuleTypes},
		route{"GET", "/v2.0/qos/rule-types/{id}", "get_rule_type", s.showQosRuleType},
	)
	for _, t := range qosRuleTypes {
		base := "/v2.0/qos/policies/{id}/" + t.plural()
		pol := "_policy_" + t.singular()
		alias := "_alias_" + t.singular()
		rs = append(rs,
			route{"GET", base, "get" + pol, s.listQosRules(t)},
			route{"POST", base, "create" + pol, s.createQosRule(t)},
			route{"GET", base + "/{rule_id}", "get" + pol, s.showQosRule(t, false)},
			route{"PUT", base + "/{rule_id}", "update" + pol, s.updateQosRule(t, false)},
			route{"DELETE", base + "/{rule_id}", "delete" + pol, s.deleteQosRule(t, false)},
			route{"GET", "/v2.0/qos/" + t.aliasPath() + "/{rule_id}", "get" + alias, s.showQosRule(t, true)},
			route{"PUT", "/v2.0/qos/" + t.aliasPath() + "/{rule_id}", "update" + alias, s.updateQosRule(t, true)},
			route{"DELETE", "/v2.0/qos/" + t.aliasPath() + "/{rule_id}", "delete" + alias, s.deleteQosRule(t, true)},
		)
	}
	return rs
}

// qosRuleRow is a stored rule.
type qosRuleRow struct {
	ID, PolicyID, Type                   string
	MaxKbps, MaxBurst, MinKbps, DSCPMark *int64
	Direction                            *string
}

// value returns a field of the rule as rendered.
func (rr *qosRuleRow) value(field string) any {
	var p *int64
	switch field {
	case "max_kbps":
		p = rr.MaxKbps
	case "max_burst_kbps":
		p = rr.MaxBurst
	case "min_kbps":
		p = rr.MinKbps
	case "dscp_mark":
		p = rr.DSCPMark
	case "direction":
		return strPtr(rr.Direction)
	}
	if p == nil {
		return nil
	}
	return *p
}

// render is the rule as a policy's "rules" list shows it (with type and policy id).
func (rr *qosRuleRow) render() map[string]any {
	out := map[string]any{"id": rr.ID, "qos_policy_id": rr.PolicyID, "type": rr.Type}
	if t := qosRuleTypeNamed(rr.Type); t != nil {
		for _, f := range t.fields {
			out[f] = rr.value(f)
		}
	}
	return out
}

// loadQosRuleRows reads rules (of one policy, or of all with policyID "").
func loadQosRuleRows(ctx context.Context, q store.Querier, where string, args ...any) ([]*qosRuleRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, policy_id, rule_type, max_kbps, max_burst_kbps, min_kbps, dscp_mark, direction
		FROM net_qos_rules WHERE 1=1`+where+` ORDER BY policy_id, rule_type, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*qosRuleRow
	for rows.Next() {
		rr := &qosRuleRow{}
		if err := rows.Scan(&rr.ID, &rr.PolicyID, &rr.Type, &rr.MaxKbps, &rr.MaxBurst, &rr.MinKbps, &rr.DSCPMark, &rr.Direction); err != nil {
			return nil, err
		}
		out = append(out, rr)
	}
	return out, rows.Err()
}

func (s *Service) loadQosPolicies(ctx context.Context, q store.Querier, c *call, pre sqlFilter) ([]record, error) {
	where, args := pre.where(s.kinds["qos/policies"], "")
	if !s.isAdmin(c) {
		where += ` AND (project_id = ? OR shared = ?)`
		args = append(args, c.project(), true)
	}
	rows, err := q.QueryContext(ctx, `SELECT `+stdCols+`, shared, is_default FROM net_qos_policies WHERE 1=1`+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	var recs []record
	byID := map[string]record{}
	var std []stdAttrs
	for rows.Next() {
		var a stdAttrs
		var shared, isDefault bool
		if err := rows.Scan(append(a.dest(), &shared, &isDefault)...); err != nil {
			rows.Close()
			return nil, err
		}
		rec := record{"shared": shared, "is_default": isDefault, "rules": []any{}}
		recs = append(recs, rec)
		std = append(std, a)
		byID[a.ID] = rec
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(recs) == 0 {
		return recs, err
	}
	tags, err := loadTags(ctx, q, "qos/policies", pre)
	if err != nil {
		return nil, err
	}
	for i, rec := range recs {
		std[i].render(rec, tags)
	}
	rw, rargs := "", []any(nil)
	if len(recs) == 1 {
		rw, rargs = ` AND policy_id = ?`, []any{std[0].ID}
	}
	rules, err := loadQosRuleRows(ctx, q, rw, rargs...)
	if err != nil {
		return nil, err
	}
	for _, rr := range rules {
		if rec := byID[rr.PolicyID]; rec != nil {
			rec["rules"] = append(rec["rules"].([]any), rr.render())
		}
	}
	return recs, nil
}

var qosPolicyCreateAttrs = []string{"name", "description", "shared", "is_default", "project_id", "tenant_id", "tags"}

func (s *Service) createQosPolicy(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["qos/policies"]
	b, err := decode(r, "policy")
	if err != nil {
		return err
	}
	if err := b.known(qosPolicyCreateAttrs...); err != nil {
		return err
	}
	project, err := b.owner(c)
	if err != nil {
		return err
	}
	name, desc, _, _, err := b.nameAndDescription()
	if err != nil {
		return err
	}
	shared, _, err := b.boolean("shared")
	if err != nil {
		return err
	}
	isDefault, _, err := b.boolean("is_default")
	if err != nil {
		return err
	}
	tags, err := createTags(b.Object)
	if err != nil {
		return err
	}
	target := policy.Target{"project_id": project}
	if !s.enforce(c, "create_policy", target, nil) {
		return policyNotAuthorized("create_policy")
	}
	if err := s.authorizeAttrs(c, k, "create", b.Object, target, nil); err != nil {
		return err
	}
	id := api.NewUUID()
	ts := store.FormatTime(now())
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if isDefault {
			if err := checkNoOtherDefault(r.Context(), tx, project, id); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(r.Context(), `INSERT INTO net_qos_policies (id, project_id, name, description, shared,
			is_default, revision_number, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)`,
			id, project, name, desc, shared, isDefault, ts, ts); err != nil {
			return err
		}
		return setTags(r.Context(), tx, k.collection, id, tags)
	})
	if err != nil {
		return defaultConflict(err, project)
	}
	return s.writeOne(w, c, k, http.StatusCreated, id, r.Context())
}

// checkNoOtherDefault refuses a second default policy in a project.
func checkNoOtherDefault(ctx context.Context, tx *store.Tx, project, id string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM net_qos_policies WHERE project_id = ? AND is_default = ? AND id <> ?`,
		project, true, id).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return qosDefaultExists(project)
	}
	return nil
}

func qosDefaultExists(project string) *api.Error {
	return nerr(http.StatusConflict, "QoSPolicyDefaultAlreadyExists", "A default QoS policy exists for project %s.", project)
}

// defaultConflict turns the unique index on a project's default policy, which a
// concurrent writer can hit after the check passed, into QoSPolicyDefaultAlreadyExists.
func defaultConflict(err error, project string) error {
	if err != nil && store.IsUniqueViolation(err) {
		return qosDefaultExists(project)
	}
	return err
}

func (s *Service) updateQosPolicy(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["qos/policies"]
	id := r.PathValue("id")
	b, err := decode(r, "policy")
	if err != nil {
		return err
	}
	if err := b.readOnly("id", "project_id", "tenant_id", "rules"); err != nil {
		return err
	}
	if err := b.known("name", "description", "shared", "is_default"); err != nil {
		return err
	}
	match, err := ifMatch(r)
	if err != nil {
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
	isDefault, hasDefault, err := b.boolean("is_default")
	if err != nil {
		return err
	}
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "update_policy", rec); err != nil {
		return err
	}
	project := rec["project_id"].(string)
	sets, args := []string{}, []any{}
	set := func(col string, v any) { sets, args = append(sets, col+" = ?"), append(args, v) }
	if hasName {
		set("name", name)
	}
	if hasDesc {
		set("description", desc)
	}
	if hasShared {
		set("shared", shared)
	}
	if hasDefault {
		set("is_default", isDefault)
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.bump(r.Context(), tx, k, id, match); err != nil {
			return err
		}
		if hasDefault && isDefault {
			if err := checkNoOtherDefault(r.Context(), tx, project, id); err != nil {
				return err
			}
		}
		if hasShared && !shared {
			if err := qosUnshareCheck(r.Context(), tx, id, project); err != nil {
				return err
			}
		}
		if len(sets) == 0 {
			return nil
		}
		_, err := tx.ExecContext(r.Context(), `UPDATE net_qos_policies SET `+strings.Join(sets, ", ")+` WHERE id = ?`, append(args, id)...)
		return err
	})
	if err != nil {
		return defaultConflict(err, project)
	}
	s.notify()
	return s.writeOne(w, c, k, http.StatusOK, id, r.Context())
}

// qosUnshareCheck refuses unsharing a policy other projects' networks or ports use, as
// Neutron refuses removing the wildcard RBAC entry they depend on.
func qosUnshareCheck(ctx context.Context, tx *store.Tx, id, owner string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM net_qos_bindings b
		LEFT JOIN net_networks n ON b.object_type = 'network' AND n.id = b.object_id
		LEFT JOIN net_ports p ON b.object_type = 'port' AND p.id = b.object_id
		WHERE b.policy_id = ? AND COALESCE(n.project_id, p.project_id, ?) <> ?`, id, owner, owner).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return inUse("RbacPolicyInUse", "RBAC policy on object %s cannot be removed because other objects depend on it.\nDetails: %d object(s) of other projects use it", id, n)
	}
	return nil
}

func (s *Service) deleteQosPolicy(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["qos/policies"]
	id := r.PathValue("id")
	match, err := ifMatch(r)
	if err != nil {
		return err
	}
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "delete_policy", rec); err != nil {
		return err
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.checkRevision(r.Context(), tx, k, id, match); err != nil {
			return err
		}
		var typ, obj string
		err := tx.QueryRowContext(r.Context(), `SELECT object_type, object_id FROM net_qos_bindings WHERE policy_id = ?
			ORDER BY object_type DESC, object_id LIMIT 1`, id).Scan(&typ, &obj)
		if err == nil {
			return inUse("QosPolicyInUse", "QoS Policy %s is used by %s %s.", id, typ, obj)
		}
		if !store.IsNoRows(err) {
			return err
		}
		for _, q := range []string{`DELETE FROM net_qos_rules WHERE policy_id = ?`,
			`DELETE FROM net_tags WHERE resource_type = 'qos/policies' AND resource_id = ?`,
			`DELETE FROM net_qos_policies WHERE id = ?`} {
			if _, err := tx.ExecContext(r.Context(), q, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listQosRuleTypes is GET /v2.0/qos/rule-types: the types the driver supports, or every
// implemented type with all_rules=true (qos-rule-type-filter).
func (s *Service) listQosRuleTypes(w http.ResponseWriter, r *http.Request, c *call) error {
	if !s.enforce(c, c.rule, nil, nil) {
		return policyNotAuthorized(c.rule)
	}
	q := r.URL.Query()
	var bad []string
	for key := range q {
		if key != "all_rules" && key != "all_supported" && key != "fields" && key != "type" {
			bad = append(bad, key)
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return badRequest("%s is invalid attribute for filtering", pyList(bad))
	}
	flag := func(key string) (bool, error) {
		v := q.Get(key)
		if v == "" {
			return false, nil
		}
		b, ok := parseBool(v)
		if !ok {
			return false, invalidAttr(key, fmt.Sprintf("'%s' cannot be converted to boolean", truncate(v, 64)))
		}
		return b, nil
	}
	allRules, err := flag("all_rules")
	if err != nil {
		return err
	}
	if _, err := flag("all_supported"); err != nil {
		return err
	}
	types := []string{ruleBandwidthLimit, ruleDSCPMarking, ruleMinimumBandwidth}
	if allRules {
		types = allQoSRuleTypes
	}
	out := []map[string]any{}
	for _, t := range types {
		if want := q["type"]; len(want) > 0 && !slices.Contains(want, t) {
			continue
		}
		item := map[string]any{"type": t}
		if f := nonEmpty(q["fields"]); len(f) > 0 && !slices.Contains(f, "type") {
			item = map[string]any{}
		}
		out = append(out, item)
	}
	writeBody(w, http.StatusOK, map[string]any{"rule_types": out})
	return nil
}

// showQosRuleType is GET /v2.0/qos/rule-types/{type} with the driver's parameters; the
// plugin serves it to admins only (NotAuthorized otherwise), as Neutron's.
func (s *Service) showQosRuleType(w http.ResponseWriter, r *http.Request, c *call) error {
	if !s.enforce(c, c.rule, nil, nil) {
		return policyNotAuthorized(c.rule)
	}
	if !s.isAdmin(c) {
		return nerr(http.StatusForbidden, "NotAuthorized", "Not authorized.")
	}
	name := r.PathValue("id")
	if !slices.Contains(allQoSRuleTypes, name) {
		return nerr(http.StatusNotFound, "HTTPNotFound", "QoS rule type %s could not be found.", truncate(name, 64))
	}
	rt := map[string]any{"type": name, "drivers": qosRuleTypeDetails(name)}
	if f := nonEmpty(r.URL.Query()["fields"]); len(f) > 0 {
		for key := range rt {
			if !slices.Contains(f, key) {
				delete(rt, key)
			}
		}
	}
	writeBody(w, http.StatusOK, map[string]any{"rule_type": rt})
	return nil
}

// qosRuleKind is the generic machinery's view of one rule type's sub-resource (list
// filters, sorting, pagination), not registered as a top-level collection.
func (s *Service) qosRuleKind(t *qosRuleType) *kind {
	return &kind{
		singular: "policy_" + t.singular(), collection: t.plural(), table: "net_qos_rules",
		attrs: append([]string{"id"}, t.fields...),
		notFound: func(id string) *api.Error {
			return qosRuleNotFound(id, "")
		},
		target: func(rec record) policy.Target {
			return policy.Target{"project_id": rec["_policy_project"], "ext_parent:project_id": rec["_policy_project"],
				"ext_parent:tenant_id": rec["_policy_project"], "ext_parent_policy_id": rec["_policy_id"]}
		},
	}
}

// ruleRecord renders a rule as its own resource shows it: id and the type's fields.
func ruleRecord(rr *qosRuleRow, policyProject string) record {
	rec := record{"id": rr.ID, "_policy_id": rr.PolicyID, "_policy_project": policyProject}
	if t := qosRuleTypeNamed(rr.Type); t != nil {
		for _, f := range t.fields {
			rec[f] = rr.value(f)
		}
	}
	return rec
}

// qosParent loads the policy a rule request names, as the caller sees it
// (QosPolicyNotFound otherwise).
func (s *Service) qosParent(ctx context.Context, q store.Querier, c *call, id string) (record, error) {
	return s.loadOne(ctx, q, c, s.kinds["qos/policies"], id)
}

func (s *Service) listQosRules(t *qosRuleType) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		k := s.qosRuleKind(t)
		lq, err := parseListQuery(r.URL.Query(), k)
		if err != nil {
			return err
		}
		pol, err := s.qosParent(r.Context(), s.db, c, r.PathValue("id"))
		if err != nil {
			return err
		}
		rows, err := loadQosRuleRows(r.Context(), s.db, ` AND policy_id = ? AND rule_type = ?`, pol["id"], t.name)
		if err != nil {
			return err
		}
		var recs []record
		for _, rr := range rows {
			rec := ruleRecord(rr, pol["project_id"].(string))
			if s.allowed(c, k, c.rule, rec, "") {
				recs = append(recs, rec)
			}
		}
		items, err := s.filterRecords(c, k, recs, lq)
		if err != nil {
			return err
		}
		sortRecords(items, lq.sorts)
		page, links, err := paginate(r, k, items, lq)
		if err != nil {
			return err
		}
		out := make([]map[string]any, len(page))
		for i, rec := range page {
			out[i] = s.present(c, k, rec, lq.fields)
		}
		body := map[string]any{t.plural(): out}
		if links != nil {
			body[t.plural()+"_links"] = links
		}
		writeBody(w, http.StatusOK, body)
		return nil
	}
}

// loadQosRule finds a rule of type t, by its policy (the URL's) or, for the alias API,
// by its id alone; the caller must see the policy and pass rule.
func (s *Service) loadQosRule(ctx context.Context, c *call, t *qosRuleType, r *http.Request, alias bool) (record, record, error) {
	ruleID := r.PathValue("rule_id")
	policyID := r.PathValue("id")
	if alias {
		var pid string
		err := s.db.QueryRowContext(ctx, `SELECT policy_id FROM net_qos_rules WHERE id = ? AND rule_type = ?`, ruleID, t.name).Scan(&pid)
		if store.IsNoRows(err) {
			return nil, nil, qosRuleNotFound(ruleID, "")
		}
		if err != nil {
			return nil, nil, err
		}
		policyID = pid
	}
	pol, err := s.qosParent(ctx, s.db, c, policyID)
	if err != nil {
		return nil, nil, err
	}
	rows, err := loadQosRuleRows(ctx, s.db, ` AND id = ? AND policy_id = ? AND rule_type = ?`, ruleID, policyID, t.name)
	if err != nil {
		return nil, nil, err
	}
	if len(rows) == 0 {
		return nil, nil, qosRuleNotFound(ruleID, policyID)
	}
	return pol, ruleRecord(rows[0], pol["project_id"].(string)), nil
}

func (s *Service) showQosRule(t *qosRuleType, alias bool) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		k := s.qosRuleKind(t)
		_, rec, err := s.loadQosRule(r.Context(), c, t, r, alias)
		if err != nil {
			return err
		}
		if !s.allowed(c, k, c.rule, rec, "") {
			return hiddenNotFound()
		}
		key := t.singular()
		if alias {
			key = "alias_" + key
		}
		writeBody(w, http.StatusOK, map[string]any{key: s.present(c, k, rec, nonEmpty(r.URL.Query()["fields"]))})
		return nil
	}
}

// qosRuleSpec is a validated rule body: the fields it sets.
type qosRuleSpec map[string]any

// parseQosRule validates a rule body of type t: on create the required fields and the
// defaults (max_burst_kbps 0, direction egress), on update only what is present.
func parseQosRule(t *qosRuleType, b body, create bool) (qosRuleSpec, error) {
	allowed := slices.Clone(t.fields)
	if create {
		allowed = append(allowed, "project_id", "tenant_id")
	}
	if err := b.known(allowed...); err != nil {
		return nil, err
	}
	spec := qosRuleSpec{}
	if create {
		for _, f := range t.required {
			if !b.Has(f) {
				return nil, badRequest("Failed to parse request. Required attribute '%s' not specified", f)
			}
		}
		if t.name == ruleBandwidthLimit {
			spec["max_burst_kbps"] = int64(0)
		}
		if t.directed() {
			spec["direction"] = "egress"
		}
	}
	for _, f := range t.fields {
		if !b.Has(f) {
			continue
		}
		if f == "direction" {
			v, _, err := b.str("direction", 0, false)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(qosDirections, v) {
				return nil, invalidAttr("direction", fmt.Sprintf("%s is not in valid_values", truncate(v, 64)))
			}
			spec[f] = v
			continue
		}
		n, err := convertInt(b.Object[f])
		if err != nil {
			return nil, err
		}
		if f == "dscp_mark" {
			if !slices.Contains(validDSCPMarks, n) {
				return nil, invalidAttr(f, fmt.Sprintf("%d is not in valid_values", n))
			}
		} else if n < 0 {
			return nil, invalidAttr(f, fmt.Sprintf("'%d' is too small - must be at least '0'", n))
		} else if n > dbIntMax {
			return nil, invalidAttr(f, fmt.Sprintf("'%d' is too large - must be no larger than '%d'", n, dbIntMax))
		}
		spec[f] = n
	}
	return spec, nil
}

// convertInt is neutron-lib's convert_to_int: integers and integer strings, else
// InvalidInput.
func convertInt(v any) (int64, error) {
	if n, ok := v.(int64); ok {
		return n, nil
	}
	n, ok, err := (body{Object: api.Object{"v": v}}).integer("v")
	if err != nil || !ok {
		shown := describeValue(v)
		switch v.(type) {
		case nil:
			shown = "None"
		case bool:
			if v == true {
				return 1, nil
			}
			return 0, nil
		}
		return 0, invalidInput("'%s' is not an integer", shown)
	}
	return n, nil
}

// checkQosRuleConflicts is Neutron's qos_policy_validator for a rule being written into a
// policy's rules: a minimum above a same-direction limit (or a limit below a minimum)
// is QoSRuleParameterConflict, a second rule of a type (per direction) QoSRulesConflict.
func checkQosRuleConflicts(policyID string, existing []*qosRuleRow, t *qosRuleType, ruleID string, data qosRuleSpec, merged qosRuleSpec) error {
	dir, _ := data["direction"].(string)
	for _, rr := range existing {
		if rr.Type == ruleDSCPMarking {
			continue
		}
		if dir != "" && rr.Direction != nil && *rr.Direction != dir {
			continue
		}
		if rr.Type == ruleMinimumBandwidth && rr.MinKbps != nil {
			if mx, ok := data["max_kbps"].(int64); ok && *rr.MinKbps > mx {
				return qosParamConflict(mx, policyID, rr.Type, *rr.MinKbps)
			}
		}
		if rr.Type == ruleBandwidthLimit && rr.MaxKbps != nil {
			if mn, ok := data["min_kbps"].(int64); ok && *rr.MaxKbps < mn {
				return qosParamConflict(mn, policyID, rr.Type, *rr.MaxKbps)
			}
		}
	}
	for _, rr := range existing {
		if rr.ID == ruleID || rr.Type != t.name {
			continue
		}
		if t.directed() && (rr.Direction == nil || *rr.Direction != merged["direction"]) {
			continue
		}
		return nerr(http.StatusConflict, "QoSRulesConflict", "Rule %s conflicts with rule %s which already exists in QoS Policy %s.",
			t.name, rr.ID, policyID)
	}
	return nil
}

func qosParamConflict(value int64, policyID, existingType string, existing int64) *api.Error {
	return nerr(http.StatusConflict, "QoSRuleParameterConflict",
		"Unable to add the rule with value %d to the policy %s as the existing rule of type %s has value %d.",
		value, policyID, existingType, existing)
}

func (s *Service) createQosRule(t *qosRuleType) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		k := s.qosRuleKind(t)
		b, err := decode(r, t.singular())
		if err != nil {
			return err
		}
		spec, err := parseQosRule(t, b, true)
		if err != nil {
			return err
		}
		pol, err := s.qosParent(r.Context(), s.db, c, r.PathValue("id"))
		if err != nil {
			return err
		}
		policyID, project := pol["id"].(string), pol["project_id"].(string)
		probe := record{"_policy_id": policyID, "_policy_project": project}
		if !s.enforce(c, c.rule, k.target(probe), nil) {
			return policyNotAuthorized(c.rule)
		}
		id := api.NewUUID()
		err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
			// The policy's revision bump comes first: it locks the policy row, so rule
			// writes to one policy queue and the conflict checks see each other.
			if err := s.bump(r.Context(), tx, s.kinds["qos/policies"], policyID, nil); err != nil {
				return err
			}
			existing, err := loadQosRuleRows(r.Context(), tx, ` AND policy_id = ?`, policyID)
			if err != nil {
				return err
			}
			if err := checkQosRuleConflicts(policyID, existing, t, id, spec, spec); err != nil {
				return err
			}
			_, err = tx.ExecContext(r.Context(), `INSERT INTO net_qos_rules (id, policy_id, rule_type, max_kbps, max_burst_kbps,
				min_kbps, direction, dscp_mark) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id, policyID, t.name,
				spec["max_kbps"], spec["max_burst_kbps"], spec["min_kbps"], spec["direction"], spec["dscp_mark"])
			return err
		})
		if err != nil {
			return err
		}
		s.notify()
		rows, err := loadQosRuleRows(r.Context(), s.db, ` AND id = ?`, id)
		if err != nil || len(rows) == 0 {
			return err
		}
		writeBody(w, http.StatusCreated, map[string]any{t.singular(): s.present(c, k, ruleRecord(rows[0], project), nil)})
		return nil
	}
}

func (s *Service) updateQosRule(t *qosRuleType, alias bool) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		k := s.qosRuleKind(t)
		key := t.singular()
		if alias {
			key = "alias_" + key
		}
		b, err := decode(r, key)
		if err != nil {
			return err
		}
		if err := b.readOnly("id", "qos_policy_id", "type"); err != nil {
			return err
		}
		spec, err := parseQosRule(t, b, false)
		if err != nil {
			return err
		}
		pol, rec, err := s.loadQosRule(r.Context(), c, t, r, alias)
		if err != nil {
			return err
		}
		if err := s.authorizeOn(c, k, c.rule, rec); err != nil {
			return err
		}
		policyID, ruleID := pol["id"].(string), rec["id"].(string)
		merged := qosRuleSpec{}
		for _, f := range t.fields {
			merged[f] = rec[f]
		}
		for f, v := range spec {
			merged[f] = v
		}
		err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
			if err := s.bump(r.Context(), tx, s.kinds["qos/policies"], policyID, nil); err != nil {
				return err
			}
			existing, err := loadQosRuleRows(r.Context(), tx, ` AND policy_id = ?`, policyID)
			if err != nil {
				return err
			}
			if err := checkQosRuleConflicts(policyID, existing, t, ruleID, spec, merged); err != nil {
				return err
			}
			if len(spec) == 0 {
				return nil
			}
			sets, args := []string{}, []any{}
			for _, f := range t.fields {
				if v, ok := spec[f]; ok {
					sets, args = append(sets, f+" = ?"), append(args, v)
				}
			}
			_, err = tx.ExecContext(r.Context(), `UPDATE net_qos_rules SET `+strings.Join(sets, ", ")+` WHERE id = ?`, append(args, ruleID)...)
			return err
		})
		if err != nil {
			return err
		}
		s.notify()
		rows, err := loadQosRuleRows(r.Context(), s.db, ` AND id = ?`, ruleID)
		if err != nil || len(rows) == 0 {
			return err
		}
		writeBody(w, http.StatusOK, map[string]any{key: s.present(c, k, ruleRecord(rows[0], pol["project_id"].(string)), nil)})
		return nil
	}
}

func (s *Service) deleteQosRule(t *qosRuleType, alias bool) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		k := s.qosRuleKind(t)
		pol, rec, err := s.loadQosRule(r.Context(), c, t, r, alias)
		if err != nil {
			return err
		}
		if err := s.authorizeOn(c, k, c.rule, rec); err != nil {
			return err
		}
		err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
			if err := s.bump(r.Context(), tx, s.kinds["qos/policies"], pol["id"].(string), nil); err != nil {
				return err
			}
			_, err := tx.ExecContext(r.Context(), `DELETE FROM net_qos_rules WHERE id = ?`, rec["id"])
			return err
		})
		if err != nil {
			return err
		}
		s.notify()
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// QoS bindings of networks and ports (qos_policy_id).

// qosPolicyRequest reads a body's qos_policy_id: the id (validated as a UUID), "" for
// null, and whether the body has it.
func qosPolicyRequest(b body) (string, bool, error) {
	if !b.Has("qos_policy_id") {
		return "", false, nil
	}
	if b.IsNull("qos_policy_id") {
		return "", true, nil
	}
	v, ok := b.Object["qos_policy_id"].(string)
	if !ok || !isUUID(v) {
		return "", true, invalidAttr("qos_policy_id", fmt.Sprintf("'%s' is not a valid UUID", describeValue(b.Object["qos_policy_id"])))
	}
	return v, true, nil
}

// isUUID is oslo's is_uuid_like: 32 hex digits, with or without the four dashes.
func isUUID(s string) bool {
	h := s
	if len(s) == 36 {
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return false
		}
		h = strings.ReplaceAll(s, "-", "")
	}
	if len(h) != 32 {
		return false
	}
	for _, r := range h {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

// checkQosPolicyUsable refuses a policy the caller cannot see (QosPolicyNotFound): its
// own, a shared one, or any for admins.
func (s *Service) checkQosPolicyUsable(ctx context.Context, q store.Querier, c *call, id string) error {
	var owner string
	var shared bool
	err := q.QueryRowContext(ctx, `SELECT project_id, shared FROM net_qos_policies WHERE id = ?`, id).Scan(&owner, &shared)
	if store.IsNoRows(err) || (err == nil && !shared && owner != c.project() && !s.isAdmin(c)) {
		return qosPolicyNotFound(id)
	}
	return err
}

// checkQosPolicyRemovable refuses replacing an object's policy the caller cannot see
// (PolicyRemoveAuthorizationError), as Neutron's _check_policy_change_permission.
func (s *Service) checkQosPolicyRemovable(ctx context.Context, q store.Querier, c *call, objType, objID string) error {
	var pid string
	err := q.QueryRowContext(ctx, `SELECT policy_id FROM net_qos_bindings WHERE object_type = ? AND object_id = ?`, objType, objID).Scan(&pid)
	if store.IsNoRows(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if s.checkQosPolicyUsable(ctx, q, c, pid) != nil {
		return nerr(http.StatusForbidden, "PolicyRemoveAuthorizationError",
			"Failed to remove provided policy %s because you are not authorized.", pid)
	}
	return nil
}

// setQosBinding makes policyID ("" none) the policy of a network or port.
func setQosBinding(ctx context.Context, tx *store.Tx, objType, objID, policyID string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM net_qos_bindings WHERE object_type = ? AND object_id = ?`, objType, objID); err != nil {
		return err
	}
	if policyID == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO net_qos_bindings (object_type, object_id, policy_id) VALUES (?, ?, ?)`, objType, objID, policyID)
	return err
}

// projectDefaultQosPolicy returns a project's default policy id ("" none).
func projectDefaultQosPolicy(ctx context.Context, q store.Querier, project string) (string, error) {
	var id string
	err := q.QueryRowContext(ctx, `SELECT id FROM net_qos_policies WHERE project_id = ? AND is_default = ?`, project, true).Scan(&id)
	if store.IsNoRows(err) {
		return "", nil
	}
	return id, err
}

// loadQosBindings returns the policy of every bound object of a type (or of one).
func loadQosBindings(ctx context.Context, q store.Querier, objType, one string) (map[string]string, error) {
	query, args := `SELECT object_id, policy_id FROM net_qos_bindings WHERE object_type = ?`, []any{objType}
	if one != "" {
		query, args = query+` AND object_id = ?`, append(args, one)
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var obj, pid string
		if err := rows.Scan(&obj, &pid); err != nil {
			return nil, err
		}
		out[obj] = pid
	}
	return out, rows.Err()
}

// attachPortQos sets each port's qos_policy_id and qos_network_policy_id (its network's).
func attachPortQos(ctx context.Context, q store.Querier, recs []record, one string) error {
	if len(recs) == 0 {
		return nil
	}
	ports, err := loadQosBindings(ctx, q, "port", one)
	if err != nil {
		return err
	}
	netOne := ""
	if one != "" {
		netOne, _ = recs[0]["network_id"].(string)
	}
	nets, err := loadQosBindings(ctx, q, "network", netOne)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		if pid, ok := ports[rec["id"].(string)]; ok {
			rec["qos_policy_id"] = pid
		}
		if nid, _ := rec["network_id"].(string); nets[nid] != "" {
			rec["qos_network_policy_id"] = nets[nid]
		}
	}
	return nil
}
