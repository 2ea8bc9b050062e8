package compute

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gostack/gostack/internal/api"
)

// securityGroupRoutes are Nova's security group proxy APIs (removed at 2.36, where Nova
// answers 404). The server's groups and the add/remove actions live with the servers.
func (s *Service) securityGroupRoutes() []route {
	const sg = "/v2.1/os-security-groups"
	const rules = "/v2.1/os-security-group-rules"
	return []route{
		{method: "GET", path: sg, rule: "os_compute_api:os-security-groups:get", maxVer: v(35), handle: s.listNovaSecurityGroups},
		{method: "POST", path: sg, rule: "os_compute_api:os-security-groups:create", maxVer: v(35), handle: s.createNovaSecurityGroup},
		{method: "GET", path: sg + "/{id}", rule: "os_compute_api:os-security-groups:show", maxVer: v(35), handle: s.showNovaSecurityGroup},
		{method: "PUT", path: sg + "/{id}", rule: "os_compute_api:os-security-groups:update", maxVer: v(35), handle: s.updateNovaSecurityGroup},
		{method: "DELETE", path: sg + "/{id}", rule: "os_compute_api:os-security-groups:delete", maxVer: v(35), handle: s.deleteNovaSecurityGroup},
		{method: "POST", path: rules, rule: "os_compute_api:os-security-groups:rule:create", maxVer: v(35), handle: s.createNovaSecurityGroupRule},
		{method: "DELETE", path: rules + "/{id}", rule: "os_compute_api:os-security-groups:rule:delete", maxVer: v(35), handle: s.deleteNovaSecurityGroupRule},
	}
}

// securityGroupPolicies are Nova's defaults (nova/policies/security_groups.py).
func securityGroupPolicies() map[string]string {
	return map[string]string{
		"os_compute_api:os-security-groups:get":         ruleReaderOrAdmin,
		"os_compute_api:os-security-groups:show":        ruleReaderOrAdmin,
		"os_compute_api:os-security-groups:create":      ruleMemberOrAdmin,
		"os_compute_api:os-security-groups:update":      ruleMemberOrAdmin,
		"os_compute_api:os-security-groups:delete":      ruleMemberOrAdmin,
		"os_compute_api:os-security-groups:rule:create": ruleMemberOrAdmin,
		"os_compute_api:os-security-groups:rule:delete": ruleMemberOrAdmin,
		"os_compute_api:os-security-groups:list":        ruleReaderOrAdmin,
		"os_compute_api:os-security-groups:add":         ruleMemberOrAdmin,
		"os_compute_api:os-security-groups:remove":      ruleMemberOrAdmin,
	}
}

// securityGroupsQuery is the list's query schema (additional parameters are ignored).
var securityGroupsQuery = querySchema{params: map[string]queryParam{
	"limit": {kind: qNonNegInt}, "offset": {kind: qNonNegInt}, "all_tenants": {kind: qString},
}}

// listNovaSecurityGroups is GET /os-security-groups: the caller's project's groups (every
// project's for an admin asking all_tenants), paged by limit/offset, sorted by project and
// name.
func (s *Service) listNovaSecurityGroups(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	if err := securityGroupsQuery.validate(q); err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	views := []map[string]any{}
	if s.networkAPI == nil {
		api.WriteJSON(w, http.StatusOK, map[string]any{"security_groups": views})
		return nil
	}
	params := url.Values{}
	if _, all := q["all_tenants"]; !all || !isAdmin(c) {
		params.Set("project_id", c.caller.ProjectID)
	}
	groups, err := s.listSecurityGroups(r.Context(), c.caller, params)
	if err != nil {
		return err
	}
	// common.limited: offset, then at most limit (0 or none: max_limit).
	offset, limit := 0, s.cfg.ListLimitMax
	if v, ok := queryLast(q, "offset"); ok {
		offset, _ = strconv.Atoi(v)
	}
	if v, ok := queryLast(q, "limit"); ok {
		if n, _ := strconv.Atoi(v); n > 0 && n < limit {
			limit = n
		}
	}
	if offset > len(groups) {
		offset = len(groups)
	}
	groups = groups[offset:min(len(groups), offset+limit)]
	res := s.newSGResolver(r.Context(), c.caller, nil)
	for i := range groups {
		v, err := res.groupView(&groups[i])
		if err != nil {
			return err
		}
		views = append(views, v)
	}
	sortGroupViews(views)
	api.WriteJSON(w, http.StatusOK, map[string]any{"security_groups": views})
	return nil
}

// validSGID is security_group_api.validate_id.
func validSGID(id string) error {
	if !validUUID(id) {
		return badRequest("Security group id should be uuid")
	}
	return nil
}

// writeSecurityGroup answers {"security_group": <view>}.
func (s *Service) writeSecurityGroup(w http.ResponseWriter, r *http.Request, c *call, g *neutronSG) error {
	v, err := s.newSGResolver(r.Context(), c.caller, nil).groupView(g)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"security_group": v})
	return nil
}

// showNovaSecurityGroup is GET /os-security-groups/{id}.
func (s *Service) showNovaSecurityGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := validSGID(id); err != nil {
		return err
	}
	if s.networkAPI == nil {
		return notFound("Security group %s not found.", id)
	}
	g, err := s.loadSecurityGroup(r.Context(), c.caller, id)
	if err != nil {
		return err
	}
	return s.writeSecurityGroup(w, r, c, g)
}

// securityGroupBody validates a create or update body: security_group with name and
// description, strings of at most 255 characters (other properties are ignored).
func securityGroupBody(r *http.Request) (name, desc string, err error) {
	top, err := api.DecodeObject(r, "")
	if err != nil {
		return "", "", err
	}
	o, err := requiredObject(top, "security_group")
	if err != nil {
		return "", "", err
	}
	out := map[string]string{}
	for _, k := range []string{"name", "description"} {
		v, ok := o[k]
		if !ok {
			return "", "", invalidInput("security_group", map[string]any(o), fmt.Sprintf("'%s' is a required property", k))
		}
		s, err := asString(k, v)
		if err != nil {
			return "", "", err
		}
		if utf8.RuneCountInString(s) > 255 {
			return "", "", invalidInput(k, v, fmt.Sprintf("%s is too long", pyReprAny(v)))
		}
		out[k] = s
	}
	return out["name"], out["description"], nil
}

// createNovaSecurityGroup is POST /os-security-groups.
func (s *Service) createNovaSecurityGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	name, desc, err := securityGroupBody(r)
	if err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	if s.networkAPI == nil {
		return badRequest("Security groups are not supported by the networking service.")
	}
	var out struct {
		SecurityGroup neutronSG `json:"security_group"`
	}
	_, err = s.neutron(r.Context(), c.caller, "POST", "/v2.0/security-groups",
		map[string]any{"security_group": map[string]any{"name": name, "description": desc}}, &out)
	if status, nf, ok := neutronError(err); ok {
		switch status {
		case http.StatusBadRequest, http.StatusUnauthorized:
			return badRequest("%s", nf.Message)
		case http.StatusConflict:
			return forbidden("%s", nf.Message)
		}
	}
	if err != nil {
		return neutronProblem(err)
	}
	return s.writeSecurityGroup(w, r, c, &out.SecurityGroup)
}

// updateNovaSecurityGroup is PUT /os-security-groups/{id}.
func (s *Service) updateNovaSecurityGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	name, desc, err := securityGroupBody(r)
	if err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := validSGID(id); err != nil {
		return err
	}
	if s.networkAPI == nil {
		return notFound("Security group %s not found.", id)
	}
	if _, err := s.loadSecurityGroup(r.Context(), c.caller, id); err != nil {
		return err
	}
	var out struct {
		SecurityGroup neutronSG `json:"security_group"`
	}
	_, err = s.neutron(r.Context(), c.caller, "PUT", "/v2.0/security-groups/"+url.PathEscape(id),
		map[string]any{"security_group": map[string]any{"name": name, "description": desc}}, &out)
	if status, nf, ok := neutronError(err); ok {
		switch status {
		case http.StatusUnauthorized:
			return badRequest("%s", nf.Message)
		case http.StatusNotFound:
			return notFound("%s", nf.Message)
		}
	}
	if err != nil {
		return neutronProblem(err)
	}
	return s.writeSecurityGroup(w, r, c, &out.SecurityGroup)
}

// deleteNovaSecurityGroup is DELETE /os-security-groups/{id}: a group in use (or the
// default group) is Neutron's 409, which Nova answers as a 400.
func (s *Service) deleteNovaSecurityGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := validSGID(id); err != nil {
		return err
	}
	if s.networkAPI == nil {
		return notFound("Security group %s not found.", id)
	}
	if _, err := s.loadSecurityGroup(r.Context(), c.caller, id); err != nil {
		return err
	}
	_, err := s.neutron(r.Context(), c.caller, "DELETE", "/v2.0/security-groups/"+url.PathEscape(id), nil, nil)
	if status, nf, ok := neutronError(err); ok {
		switch status {
		case http.StatusNotFound:
			return notFound("%s", nf.Message)
		case http.StatusConflict:
			return badRequest("%s", nf.Message)
		}
	}
	if err != nil {
		return neutronProblem(err)
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// ruleBody validates a rule create body as Nova's schema does: security_group_rule with
// a uuid parent_group_id and an optional uuid (or null) group_id; the other properties
// are checked by the translation.
func ruleBody(r *http.Request) (api.Object, error) {
	top, err := api.DecodeObject(r, "")
	if err != nil {
		return nil, err
	}
	o, err := requiredObject(top, "security_group_rule")
	if err != nil {
		return nil, err
	}
	v, ok := o["parent_group_id"]
	if !ok {
		return nil, invalidInput("security_group_rule", map[string]any(o), "'parent_group_id' is a required property")
	}
	str, err := asString("parent_group_id", v)
	if err != nil {
		return nil, err
	}
	if !validUUID(str) {
		return nil, invalidInput("parent_group_id", v, fmt.Sprintf("%s is not a 'uuid'", pyReprAny(v)))
	}
	if g, ok := o["group_id"]; ok && g != nil {
		str, ok := g.(string)
		if !ok {
			return nil, invalidInput("group_id", g, fmt.Sprintf("%s is not of type 'string', 'null'", pyReprAny(g)))
		}
		if !validUUID(str) {
			return nil, invalidInput("group_id", g, fmt.Sprintf("%s is not a 'uuid'", pyReprAny(g)))
		}
	}
	return o, nil
}

// createNovaSecurityGroupRule is POST /os-security-group-rules: Nova's rule is
// translated to a Neutron ingress rule.
func (s *Service) createNovaSecurityGroupRule(w http.ResponseWriter, r *http.Request, c *call) error {
	o, err := ruleBody(r)
	if err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	ctx := r.Context()
	parentID := o["parent_group_id"].(string)
	if s.networkAPI == nil {
		return notFound("Security group %s not found.", parentID)
	}
	parent, err := s.loadSecurityGroup(ctx, c.caller, parentID)
	if err != nil {
		return err
	}
	var groupID *string
	var source *neutronSG
	if g, ok := o["group_id"].(string); ok {
		groupID = &g
		if source, err = s.loadSecurityGroup(ctx, c.caller, g); err != nil {
			return err
		}
	}
	var cidr *string
	if groupID == nil {
		p, err := parseCIDR(o["cidr"])
		if err != nil {
			return err
		}
		cidr = &p
	}
	rule, ok, err := newIngressRule(groupID, cidr, o["ip_protocol"], o["from_port"], o["to_port"])
	if err != nil {
		return err
	}
	if !ok {
		return badRequest("Not enough parameters to build a valid rule.")
	}
	rule.ParentGroupID = parent.ID
	if rule.CIDR != nil {
		if p, err := netip.ParsePrefix(*rule.CIDR); err == nil && p.Bits() == 0 && !p.Addr().IsUnspecified() {
			return badRequest("Bad prefix for network in cidr %s", *rule.CIDR)
		}
	}
	for _, existing := range novaRules(parent) {
		if sameRule(existing, rule) {
			return badRequest("This rule already exists in group %s", parent.ID)
		}
	}
	var out struct {
		Rule neutronSGRule `json:"security_group_rule"`
	}
	_, err = s.neutron(ctx, c.caller, "POST", "/v2.0/security-group-rules",
		map[string]any{"security_group_rule": neutronRuleBody(rule)}, &out)
	if status, nf, ok := neutronError(err); ok {
		switch status {
		case http.StatusNotFound:
			return notFound("%s", nf.Message)
		case http.StatusConflict:
			return forbidden("%s", nf.Message)
		case http.StatusBadRequest:
			return badRequest("%s", nf.Message)
		}
	}
	if err != nil {
		return neutronProblem(err)
	}
	var known []neutronSG
	if source != nil {
		known = append(known, *source)
	}
	v, _, err := s.newSGResolver(ctx, c.caller, known).ruleView(novaRuleOf(out.Rule))
	if err != nil {
		return err
	}
	if v == nil {
		v = map[string]any{}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"security_group_rule": v})
	return nil
}

// deleteNovaSecurityGroupRule is DELETE /os-security-group-rules/{id}.
func (s *Service) deleteNovaSecurityGroupRule(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := validSGID(id); err != nil {
		return err
	}
	if s.networkAPI == nil {
		return notFound("Security group rule %s not found.", id)
	}
	ctx := r.Context()
	var out struct {
		Rule neutronSGRule `json:"security_group_rule"`
	}
	code, err := s.neutron(ctx, c.caller, "GET", "/v2.0/security-group-rules/"+url.PathEscape(id), nil, &out)
	if code == http.StatusNotFound {
		return sgNotFound(err, id)
	}
	if err != nil {
		return neutronProblem(err)
	}
	if _, err := s.loadSecurityGroup(ctx, c.caller, out.Rule.SecurityGroupID); err != nil {
		return err
	}
	if _, err := s.neutron(ctx, c.caller, "DELETE", "/v2.0/security-group-rules/"+url.PathEscape(id), nil, nil); err != nil {
		return neutronProblem(err)
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// listServerSecurityGroups is GET /servers/{id}/os-security-groups: the groups on the
// server's ports, in Nova's view.
func (s *Service) listServerSecurityGroups(w http.ResponseWriter, r *http.Request, c *call) error {
	inst, err := s.getServer(r.Context(), s.db, c, r.PathValue("server_id"), c.rule)
	if err != nil {
		return err
	}
	bindings, err := s.instancesSecurityGroups(r.Context(), c.caller, []string{inst.UUID})
	if err != nil {
		return err
	}
	groups := bindings[inst.UUID]
	res := s.newSGResolver(r.Context(), c.caller, groups)
	views := []map[string]any{}
	for i := range groups {
		v, err := res.groupView(&groups[i])
		if err != nil {
			return err
		}
		views = append(views, v)
	}
	sortGroupViews(views)
	api.WriteJSON(w, http.StatusOK, map[string]any{"security_groups": views})
	return nil
}

// actionSecurityGroup is addSecurityGroup / removeSecurityGroup: the named group (of the
// caller's project, or by id) is added to or removed from every port of the server.
func (s *Service) actionSecurityGroup(add bool) actionFunc {
	key := "addSecurityGroup"
	if !add {
		key = "removeSecurityGroup"
	}
	return func(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
		o, err := bodyObject(key, body, false)
		if err != nil {
			return err
		}
		if err := onlyKeys(o, key, "name"); err != nil {
			return err
		}
		nv, ok := o["name"]
		if !ok {
			return invalidInput(key, map[string]any(o), "'name' is a required property")
		}
		name, err := asString("name", nv)
		if err != nil {
			return err
		}
		if name == "" {
			return invalidInput("name", nv, "'' is too short")
		}
		inst, err := s.getServer(r.Context(), s.db, c, id, c.rule)
		if err != nil {
			return err
		}
		if strings.TrimSpace(name) == "" {
			return badRequest("Security group name cannot be empty")
		}
		if add {
			err = s.addToInstance(r.Context(), c, inst, name)
		} else {
			err = s.removeFromInstance(r.Context(), c, inst, name)
		}
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
}
