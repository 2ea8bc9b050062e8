package compute

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gostack/gostack/internal/api"
)

// Nova's security group APIs (os-security-groups, os-security-group-rules, the server's
// groups and addSecurityGroup / removeSecurityGroup) are proxies to Neutron's security
// groups, made as the requesting user. This file is nova/network/security_group_api.py:
// the translation between Neutron's rules and Nova's (ingress only, from_port/to_port,
// a cidr or a source group) and the lookups the handlers share.

// neutronSG is the part of a Neutron security group compute reads.
type neutronSG struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Description *string         `json:"description"`
	ProjectID   string          `json:"project_id"`
	TenantID    string          `json:"tenant_id"`
	Rules       []neutronSGRule `json:"security_group_rules"`
}

// project is the group's project (Neutron answers it under both names).
func (g *neutronSG) project() string {
	if g.TenantID != "" {
		return g.TenantID
	}
	return g.ProjectID
}

// neutronSGRule is the part of a Neutron security group rule compute reads.
type neutronSGRule struct {
	ID              string  `json:"id"`
	Direction       string  `json:"direction"`
	Protocol        *string `json:"protocol"`
	PortRangeMin    *int    `json:"port_range_min"`
	PortRangeMax    *int    `json:"port_range_max"`
	RemoteIPPrefix  *string `json:"remote_ip_prefix"`
	RemoteGroupID   *string `json:"remote_group_id"`
	SecurityGroupID string  `json:"security_group_id"`
}

// novaRule is a rule in Nova's format (_convert_to_nova_security_group_rule_format, and
// the new rules _new_ingress_rule builds, where hasPorts says whether the ports are set).
type novaRule struct {
	ID            string
	ParentGroupID string
	Protocol      *string
	FromPort      *int
	ToPort        *int
	GroupID       *string
	CIDR          *string
	hasPorts      bool
}

// novaRuleOf converts a Neutron rule: a protocol without ports is the whole range
// (1-65535 for tcp and udp, -1 otherwise) and a rule without a prefix is 0.0.0.0/0.
func novaRuleOf(r neutronSGRule) novaRule {
	out := novaRule{ID: r.ID, ParentGroupID: r.SecurityGroupID, Protocol: r.Protocol, GroupID: r.RemoteGroupID, hasPorts: true}
	if r.Protocol != nil && *r.Protocol != "" && r.PortRangeMin == nil && r.PortRangeMax == nil {
		lo, hi := -1, -1
		if p := strings.ToUpper(*r.Protocol); p == "TCP" || p == "UDP" {
			lo, hi = 1, 65535
		}
		out.FromPort, out.ToPort = &lo, &hi
	} else {
		out.FromPort, out.ToPort = r.PortRangeMin, r.PortRangeMax
	}
	cidr := "0.0.0.0/0"
	if r.RemoteIPPrefix != nil && *r.RemoteIPPrefix != "" {
		cidr = *r.RemoteIPPrefix
	}
	out.CIDR = &cidr
	return out
}

// novaRules are the ingress rules of a group in Nova's format.
func novaRules(g *neutronSG) []novaRule {
	var out []novaRule
	for _, r := range g.Rules {
		if r.Direction == "ingress" {
			out = append(out, novaRuleOf(r))
		}
	}
	return out
}

// sgGroupInfo is a rule's source group as Nova shows it ({name, tenant_id}); missing
// marks a group that could not be found (the rule is then left out).
type sgGroupInfo struct {
	name, tenantID string
	missing        bool
}

// sgResolver looks up rules' source groups once per request, as the caller.
type sgResolver struct {
	s      *Service
	ctx    context.Context
	caller *api.Caller
	known  map[string]sgGroupInfo
}

// newSGResolver returns a resolver that already knows groups.
func (s *Service) newSGResolver(ctx context.Context, caller *api.Caller, groups []neutronSG) *sgResolver {
	res := &sgResolver{s: s, ctx: ctx, caller: caller, known: map[string]sgGroupInfo{}}
	for i := range groups {
		res.known[groups[i].ID] = sgGroupInfo{name: groups[i].Name, tenantID: groups[i].project()}
	}
	return res
}

// info returns the source group of a rule.
func (res *sgResolver) info(id string) (sgGroupInfo, error) {
	if gi, ok := res.known[id]; ok {
		return gi, nil
	}
	g, found, err := res.s.getSecurityGroup(res.ctx, res.caller, id)
	if err != nil {
		return sgGroupInfo{}, err
	}
	gi := sgGroupInfo{missing: true}
	if found {
		gi = sgGroupInfo{name: g.Name, tenantID: g.project()}
	}
	res.known[id] = gi
	return gi, nil
}

// ruleView is Nova's security group rule view; ok is false for a rule whose source group
// is gone.
func (res *sgResolver) ruleView(r novaRule) (map[string]any, bool, error) {
	v := map[string]any{"id": r.ID, "parent_group_id": r.ParentGroupID, "ip_protocol": r.Protocol,
		"from_port": r.FromPort, "to_port": r.ToPort, "group": map[string]any{}, "ip_range": map[string]any{}}
	if r.GroupID != nil && *r.GroupID != "" {
		gi, err := res.info(*r.GroupID)
		if err != nil {
			return nil, false, err
		}
		if gi.missing {
			return nil, false, nil
		}
		v["group"] = map[string]any{"name": gi.name, "tenant_id": gi.tenantID}
	} else if r.CIDR != nil {
		v["ip_range"] = map[string]any{"cidr": *r.CIDR}
	}
	return v, true, nil
}

// groupView is Nova's security group view.
func (res *sgResolver) groupView(g *neutronSG) (map[string]any, error) {
	rules := []map[string]any{}
	for _, r := range novaRules(g) {
		v, ok, err := res.ruleView(r)
		if err != nil {
			return nil, err
		}
		if ok {
			rules = append(rules, v)
		}
	}
	return map[string]any{"id": g.ID, "name": g.Name, "description": g.Description, "tenant_id": g.project(),
		"rules": rules}, nil
}

// sortGroupViews sorts views by (tenant_id, name), as Nova answers lists.
func sortGroupViews(views []map[string]any) {
	slices.SortStableFunc(views, func(a, b map[string]any) int {
		if c := strings.Compare(a["tenant_id"].(string), b["tenant_id"].(string)); c != 0 {
			return c
		}
		return strings.Compare(a["name"].(string), b["name"].(string))
	})
}

// getSecurityGroup reads one group as caller; found is false for a 404.
func (s *Service) getSecurityGroup(ctx context.Context, caller *api.Caller, id string) (*neutronSG, bool, error) {
	var out struct {
		SecurityGroup neutronSG `json:"security_group"`
	}
	code, err := s.neutron(ctx, caller, "GET", "/v2.0/security-groups/"+url.PathEscape(id), nil, &out)
	if code == http.StatusNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get security group %s: %w", id, err)
	}
	return &out.SecurityGroup, true, nil
}

// sgNotFound is Nova's SecurityGroupNotFound carrying Neutron's message.
func sgNotFound(err error, id string) error {
	if _, nf, ok := neutronError(err); ok && nf.Message != "" {
		return notFound("%s", nf.Message)
	}
	return notFound("Security group %s not found.", id)
}

// loadSecurityGroup is security_group_api.get: a 404 is Nova's 404 with Neutron's message.
func (s *Service) loadSecurityGroup(ctx context.Context, caller *api.Caller, id string) (*neutronSG, error) {
	var out struct {
		SecurityGroup neutronSG `json:"security_group"`
	}
	code, err := s.neutron(ctx, caller, "GET", "/v2.0/security-groups/"+url.PathEscape(id), nil, &out)
	if code == http.StatusNotFound {
		return nil, sgNotFound(err, id)
	}
	if err != nil {
		return nil, neutronProblem(err)
	}
	return &out.SecurityGroup, nil
}

// listSecurityGroups lists the groups matching query as caller.
func (s *Service) listSecurityGroups(ctx context.Context, caller *api.Caller, query url.Values) ([]neutronSG, error) {
	var out struct {
		SecurityGroups []neutronSG `json:"security_groups"`
	}
	if _, err := s.neutron(ctx, caller, "GET", "/v2.0/security-groups?"+query.Encode(), nil, &out); err != nil {
		return nil, fmt.Errorf("list security groups: %w", err)
	}
	return out.SecurityGroups, nil
}

// errNoUniqueSG is neutronclient's NeutronClientNoUniqueMatch for a group name.
func errNoUniqueSG(name string) error {
	return conflict("Multiple security_group matches found for name '%s', use an ID to be more specific.", name)
}

// resolveSecurityGroup is neutronclient's find_resourceid_by_name_or_id for a group:
// an id the caller sees first, then a unique name among project's groups. found is
// false when neither matches; several groups of that name are a 409.
func (s *Service) resolveSecurityGroup(ctx context.Context, caller *api.Caller, project, nameOrID string) (string, bool, error) {
	if validUUID(nameOrID) {
		groups, err := s.listSecurityGroups(ctx, caller, url.Values{"id": {nameOrID}, "fields": {"id"}})
		if err != nil {
			return "", false, err
		}
		if len(groups) > 0 {
			return groups[0].ID, true, nil
		}
	}
	q := url.Values{"name": {nameOrID}, "fields": {"id"}}
	if project != "" {
		q.Set("project_id", project)
	}
	groups, err := s.listSecurityGroups(ctx, caller, q)
	if err != nil {
		return "", false, err
	}
	switch len(groups) {
	case 0:
		return "", false, nil
	case 1:
		return groups[0].ID, true, nil
	}
	return "", false, errNoUniqueSG(nameOrID)
}

// pyTruthy is Python's truth value of a JSON value.
func pyTruthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		f, err := x.Float64()
		return err != nil || f != 0
	case float64:
		return x != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// pyStr is Python's str() of a JSON value.
func pyStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "True"
		}
		return "False"
	case nil:
		return "None"
	}
	return pyReprAny(v)
}

// pyInt is Python's int() of a JSON value; ok is false where int() raises.
func pyInt(v any) (int, bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case json.Number:
		if i, err := strconv.ParseInt(x.String(), 10, 64); err == nil {
			return int(i), true
		}
		if f, err := x.Float64(); err == nil && !math.IsInf(f, 0) && math.Abs(f) < 1e12 {
			return int(f), true
		}
	case float64:
		if math.Abs(x) < 1e12 {
			return int(x), true
		}
	case string:
		t := strings.TrimSpace(strings.ReplaceAll(x, "_", ""))
		if i, err := strconv.ParseInt(t, 10, 64); err == nil && t != "" && math.Abs(float64(i)) < 1e12 {
			return int(i), true
		}
	}
	return 0, false
}

// parseCIDR is security_group_api.parse_cidr: no cidr is 0.0.0.0/0; anything else must
// be an address with a prefix length (URL-escaped is fine).
func parseCIDR(v any) (string, error) {
	if !pyTruthy(v) {
		return "0.0.0.0/0", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", badRequest("%s is not a valid IP network.", pyStr(v))
	}
	if u, err := url.PathUnescape(s); err == nil {
		s = u
	}
	addr, bits, found := strings.Cut(s, "/")
	if !found || bits == "" {
		return "", badRequest("%s is not a valid IP network.", s)
	}
	if _, err := netip.ParsePrefix(addr + "/" + bits); err != nil {
		return "", badRequest("%s is not a valid IP network.", s)
	}
	return s, nil
}

// newIngressRule is security_group_api._new_ingress_rule: a rule from a source group
// (ports default to the whole range for a protocol given without ports) or a cidr.
// ok is false when a cidr rule lacks a protocol or ports.
func newIngressRule(groupID, cidr *string, proto, from, to any) (novaRule, bool, error) {
	var out novaRule
	switch {
	case groupID != nil && *groupID != "":
		out.GroupID = groupID
		p := ""
		if pyTruthy(proto) {
			p = strings.ToUpper(pyStr(proto))
		}
		if from == nil && to == nil {
			switch p {
			case "ICMP":
				from, to = json.Number("-1"), json.Number("-1")
			case "TCP", "UDP":
				from, to = json.Number("1"), json.Number("65535")
			}
		}
	case cidr != nil && *cidr != "":
		out.CIDR = cidr
	}
	if !pyTruthy(proto) || from == nil || to == nil {
		return out, out.CIDR == nil, nil
	}
	p := pyStr(proto)
	up := strings.ToUpper(p)
	lo, ok1 := pyInt(from)
	hi, ok2 := pyInt(to)
	if !ok1 || !ok2 {
		if up == "ICMP" {
			return out, false, badRequest("Invalid input received: Type and Code must be integers for ICMP protocol type")
		}
		return out, false, badRequest("Invalid input received: To and From ports must be integers")
	}
	if up != "TCP" && up != "UDP" && up != "ICMP" {
		return out, false, badRequest("Invalid IP protocol %s.", p)
	}
	if (up == "TCP" || up == "UDP") && lo > hi {
		return out, false, badRequest("Invalid port range %d:%d. Former value cannot be greater than the later", lo, hi)
	}
	if (up == "TCP" || up == "UDP") && (lo < 1 || hi > 65535) {
		return out, false, badRequest("Invalid port range %d:%d. Valid %s ports should be between 1-65535", lo, hi, up)
	}
	if up == "ICMP" && (lo < -1 || lo > 255 || hi < -1 || hi > 255) {
		return out, false, badRequest("Invalid port range %d:%d. For ICMP, the type:code must be valid", lo, hi)
	}
	out.Protocol, out.FromPort, out.ToPort, out.hasPorts = &p, &lo, &hi, true
	return out, true, nil
}

// sameRule is _rule_exists's comparison of one existing rule with a new one.
func sameRule(a, b novaRule) bool {
	eqS := func(x, y *string) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	eqI := func(x, y *int) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return eqS(a.GroupID, b.GroupID) && eqS(a.CIDR, b.CIDR) && eqI(a.FromPort, b.FromPort) &&
		eqI(a.ToPort, b.ToPort) && eqS(a.Protocol, b.Protocol)
}

// neutronRuleBody is _make_neutron_security_group_rules_list for one rule: ingress,
// IPv6 for an IPv6 cidr, and ports unless -1.
func neutronRuleBody(r novaRule) map[string]any {
	body := map[string]any{"direction": "ingress", "protocol": r.Protocol, "ethertype": "IPv4",
		"remote_ip_prefix": r.CIDR, "security_group_id": r.ParentGroupID, "remote_group_id": r.GroupID}
	if r.CIDR != nil {
		if p, err := netip.ParsePrefix(*r.CIDR); err == nil && p.Addr().Is6() {
			body["ethertype"] = "IPv6"
		}
	}
	if r.hasPorts && r.FromPort != nil && *r.FromPort != -1 {
		body["port_range_min"] = *r.FromPort
	}
	if r.hasPorts && r.ToPort != nil && *r.ToPort != -1 {
		body["port_range_max"] = *r.ToPort
	}
	return body
}

// instancesSecurityGroups is get_instances_security_groups_bindings: the groups on the
// ports of each instance (by uuid), as caller sees them, a group once per port.
func (s *Service) instancesSecurityGroups(ctx context.Context, caller *api.Caller, uuids []string) (map[string][]neutronSG, error) {
	out := map[string][]neutronSG{}
	if s.networkAPI == nil || len(uuids) == 0 {
		return out, nil
	}
	const chunk = 150
	var ports []neutronPort
	for i := 0; i < len(uuids); i += chunk {
		part := uuids[i:min(i+chunk, len(uuids))]
		ps, err := s.listPorts(ctx, caller, url.Values{"device_id": part})
		if err != nil {
			return nil, err
		}
		ports = append(ports, ps...)
	}
	var ids []string
	for _, p := range ports {
		for _, id := range p.SecurityGroups {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	groups := map[string]neutronSG{}
	for i := 0; i < len(ids); i += chunk {
		list, err := s.listSecurityGroups(ctx, caller, url.Values{"id": ids[i:min(i+chunk, len(ids))]})
		if err != nil {
			return nil, err
		}
		for _, g := range list {
			groups[g.ID] = g
		}
	}
	for _, p := range ports {
		for _, id := range p.SecurityGroups {
			if g, ok := groups[id]; ok {
				out[p.DeviceID] = append(out[p.DeviceID], g)
			}
		}
	}
	return out, nil
}

// portSecurityGroupNames is the server view's security_groups for insts: the names (or
// ids) of the groups on their ports; servers without any are left out, as Nova does.
func (s *Service) portSecurityGroupNames(ctx context.Context, caller *api.Caller, insts []*Instance) (map[string][]map[string]string, error) {
	uuids := make([]string, len(insts))
	for i, inst := range insts {
		uuids[i] = inst.UUID
	}
	bindings, err := s.instancesSecurityGroups(ctx, caller, uuids)
	if err != nil {
		return nil, err
	}
	out := map[string][]map[string]string{}
	for id, groups := range bindings {
		for _, g := range groups {
			name := g.Name
			if name == "" {
				name = g.ID
			}
			out[id] = append(out[id], map[string]string{"name": name})
		}
	}
	return out, nil
}

// instancePortsForSG lists an instance's ports as the caller, for add/remove: none is
// Nova's 404.
func (s *Service) instancePortsForSG(ctx context.Context, caller *api.Caller, inst *Instance) ([]map[string]any, error) {
	var out struct {
		Ports []map[string]any `json:"ports"`
	}
	if s.networkAPI != nil {
		if _, err := s.neutron(ctx, caller, "GET", "/v2.0/ports?"+url.Values{"device_id": {inst.UUID}}.Encode(), nil, &out); err != nil {
			return nil, fmt.Errorf("list ports: %w", err)
		}
	}
	if len(out.Ports) == 0 {
		return nil, notFound("instance_id %s could not be found as device id on any ports", inst.UUID)
	}
	return out.Ports, nil
}

// stringList reads a port's list of strings.
func stringList(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// hasSecurityGroupRequirements is _has_security_group_requirements: a port with
// addresses (or deferred ones) and port security on.
func hasSecurityGroupRequirements(p map[string]any) bool {
	enabled := true
	if v, ok := p["port_security_enabled"].(bool); ok {
		enabled = v
	}
	ips, _ := p["fixed_ips"].([]any)
	if len(ips) > 0 || p["ip_allocation"] == "deferred" {
		return enabled
	}
	return false
}

// findGroupForInstance resolves a group name for add/remove as the caller's project.
func (s *Service) findGroupForInstance(ctx context.Context, c *call, name string) (string, error) {
	if s.networkAPI == nil {
		return "", notFound("Security group %s is not found for project %s", name, c.caller.ProjectID)
	}
	id, found, err := s.resolveSecurityGroup(ctx, c.caller, c.caller.ProjectID, name)
	if err != nil {
		return "", err
	}
	if !found {
		return "", notFound("Security group %s is not found for project %s", name, c.caller.ProjectID)
	}
	return id, nil
}

// addToInstance is security_group_api.add_to_instance: the group joins every port of the
// instance.
func (s *Service) addToInstance(ctx context.Context, c *call, inst *Instance, name string) error {
	id, err := s.findGroupForInstance(ctx, c, name)
	if err != nil {
		return err
	}
	ports, err := s.instancePortsForSG(ctx, c.caller, inst)
	if err != nil {
		return err
	}
	for _, p := range ports {
		if !hasSecurityGroupRequirements(p) {
			return badRequest("Network requires port_security_enabled and subnet associated in order to apply security groups.")
		}
		groups := stringList(p["security_groups"])
		if slices.Contains(groups, id) {
			// Neutron refuses a list with a group twice; Nova passes its 400 on.
			return badRequest("Invalid input for security_groups. Reason: Duplicate items in the list: '%s'.", id)
		}
		groups = append(groups, id)
		portID, _ := p["id"].(string)
		_, err := s.neutron(ctx, c.caller, "PUT", "/v2.0/ports/"+url.PathEscape(portID),
			map[string]any{"port": map[string]any{"security_groups": groups}}, nil)
		if status, nf, ok := neutronError(err); ok && (status == http.StatusBadRequest || status == http.StatusConflict) {
			if status == http.StatusConflict {
				return conflict("%s", nf.Message)
			}
			return badRequest("%s", nf.Message)
		}
		if err != nil {
			return neutronProblem(err)
		}
	}
	return nil
}

// removeFromInstance is security_group_api.remove_from_instance: the group leaves every
// port of the instance that has it.
func (s *Service) removeFromInstance(ctx context.Context, c *call, inst *Instance, name string) error {
	id, err := s.findGroupForInstance(ctx, c, name)
	if err != nil {
		return err
	}
	ports, err := s.instancePortsForSG(ctx, c.caller, inst)
	if err != nil {
		return err
	}
	found := false
	for _, p := range ports {
		groups := stringList(p["security_groups"])
		i := slices.Index(groups, id)
		if i < 0 {
			continue
		}
		groups = slices.Delete(groups, i, i+1)
		if groups == nil {
			groups = []string{}
		}
		portID, _ := p["id"].(string)
		if _, err := s.neutron(ctx, c.caller, "PUT", "/v2.0/ports/"+url.PathEscape(portID),
			map[string]any{"port": map[string]any{"security_groups": groups}}, nil); err != nil {
			return neutronProblem(err)
		}
		found = true
	}
	if !found {
		return notFound("Security group %s not associated with the instance %s", name, inst.UUID)
	}
	return nil
}
