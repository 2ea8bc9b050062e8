package network

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/gostack/gostack/internal/api"
)

// ipProtocols is neutron-lib's IP_PROTOCOL_MAP in its order (the order Neutron's
// "not supported" message lists them in).
var ipProtocols = []struct {
	name string
	num  int
}{
	{"ah", 51}, {"dccp", 33}, {"egp", 8}, {"esp", 50}, {"gre", 47}, {"hopopt", 0}, {"icmp", 1},
	{"igmp", 2}, {"ip", 0}, {"ipip", 4}, {"ipv6-encap", 41}, {"ipv6-frag", 44}, {"ipv6-icmp", 58},
	{"icmpv6", 58}, {"ipv6-nonxt", 59}, {"ipv6-opts", 60}, {"ipv6-route", 43}, {"ospf", 89},
	{"pgm", 113}, {"rsvp", 46}, {"sctp", 132}, {"tcp", 6}, {"udp", 17}, {"udplite", 136}, {"vrrp", 112},
}

// protoNumber returns a protocol name's number.
func protoNumber(name string) (int, bool) {
	for _, p := range ipProtocols {
		if p.name == name {
			return p.num, true
		}
	}
	return 0, false
}

// protoName is IP_PROTOCOL_NUM_TO_NAME_MAP: the last name of a number wins (0 is "ip"),
// except that 58 is "ipv6-icmp", never the legacy "icmpv6".
func protoName(num int) (string, bool) {
	name, ok := "", false
	for _, p := range ipProtocols {
		if p.num == num && p.name != "icmpv6" {
			name, ok = p.name, true
		}
	}
	return name, ok
}

// supportedProtocols renders sg_supported_protocols as Python prints the tuple.
func supportedProtocols() string {
	parts := []string{"None", "'any'"}
	for _, p := range ipProtocols {
		parts = append(parts, "'"+p.name+"'")
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// portProtocols are the protocols whose rules may carry port ranges.
var portProtocols = []int{33, 132, 6, 17, 136}

// ipv6OnlyProtocols may not be used with ethertype IPv4.
var ipv6OnlyProtocols = []string{"ipv6-encap", "ipv6-frag", "ipv6-icmp", "icmpv6", "ipv6-nonxt", "ipv6-opts",
	"ipv6-route", "41", "44", "58", "59", "60", "43"}

// sgRule is a security group rule (or default rule template) after Neutron's converters
// and validators; nil pointers are unset attributes.
type sgRule struct {
	Direction, EtherType        string
	Protocol                    *string
	PortMin, PortMax            *int64
	RemoteIP                    *string
	RemoteGroup, RemoteAddrGrp  *string
	Description                 string
	SecurityGroupID             string
	hasDirection, hasSecurityGr bool
}

// sgRuleAttrs are the attributes a rule body may carry.
var sgRuleAttrs = []string{"security_group_id", "direction", "ethertype", "protocol", "port_range_min",
	"port_range_max", "remote_ip_prefix", "remote_group_id", "remote_address_group_id", "description",
	"project_id", "tenant_id"}

// sgInvalid is an InvalidInput subclass of the security group extension (400).
func sgInvalid(typ, format string, args ...any) *api.Error {
	return nerr(http.StatusBadRequest, typ, format, args...)
}

// ParseSecurityGroupRule converts and validates a security group rule body as Neutron's
// API layer (converters) and plugin (_validate_base_security_group_rule_attributes) do,
// in their order: protocol, ports, ethertype, remote_ip_prefix and direction are
// converted first, then ICMPv6 names and the full port range are made canonical, and the
// port range, the prefix's family, the protocol's family and the single remote are
// checked. template is true for default rule templates (remote_group_id may be PARENT).
func ParseSecurityGroupRule(o api.Object, template bool) (*sgRule, error) {
	b := body{Object: o, resource: "security_group_rule"}
	attrs := sgRuleAttrs
	if template {
		attrs = append(slices.Clone(sgRuleAttrs), "used_in_default_sg", "used_in_non_default_sg")
	}
	if err := b.known(attrs...); err != nil {
		return nil, err
	}
	r := &sgRule{EtherType: "IPv4"}
	if v, ok := o["protocol"]; ok {
		p, err := convertProtocol(v)
		if err != nil {
			return nil, err
		}
		r.Protocol = p
	}
	for _, f := range []struct {
		key string
		dst **int64
	}{{"port_range_min", &r.PortMin}, {"port_range_max", &r.PortMax}} {
		if v, ok := o[f.key]; ok && v != nil {
			n, err := convertPort(v)
			if err != nil {
				return nil, err
			}
			*f.dst = &n
		}
	}
	if v, ok := o["ethertype"]; ok {
		s, _ := v.(string)
		switch strings.ToLower(s) {
		case "ipv4":
			r.EtherType = "IPv4"
		case "ipv6":
			r.EtherType = "IPv6"
		default:
			return nil, sgInvalid("SecurityGroupRuleInvalidEtherType",
				"Security group rule for ethertype '%s' not supported. Allowed values are ['IPv4', 'IPv6'].", describeValue(v))
		}
	}
	if v, ok := o["remote_ip_prefix"]; ok && v != nil && v != "" {
		s, isStr := v.(string)
		p, err := parseIPPrefix(s)
		if !isStr || err != nil {
			return nil, nerr(http.StatusBadRequest, "InvalidCIDR", "Invalid CIDR %s given as IP prefix.", describeValue(v))
		}
		ps := p.String()
		r.RemoteIP = &ps
	}
	if v, ok := o["direction"]; ok {
		s, _ := v.(string)
		if s != "ingress" && s != "egress" {
			return nil, invalidAttr("direction", fmt.Sprintf("'%s' is not in ['ingress', 'egress']", describeValue(v)))
		}
		r.Direction, r.hasDirection = s, true
	}
	for _, f := range []struct {
		key string
		dst **string
	}{{"remote_group_id", &r.RemoteGroup}, {"remote_address_group_id", &r.RemoteAddrGrp}} {
		s, ok, err := b.str(f.key, 255, true)
		if err != nil {
			return nil, err
		}
		if ok && s != "" {
			*f.dst = &s
		}
	}
	if d, _, err := b.str("description", 255, true); err != nil {
		return nil, err
	} else {
		r.Description = d
	}
	if !template {
		id, ok, err := b.str("security_group_id", 36, false)
		if err != nil {
			return nil, err
		}
		r.SecurityGroupID, r.hasSecurityGr = id, ok
		if !ok {
			return nil, badRequest("Failed to parse request. Required attribute 'security_group_id' not specified")
		}
	}
	if !r.hasDirection {
		return nil, badRequest("Failed to parse request. Required attribute 'direction' not specified")
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// convertProtocol is convert_protocol: "any" and null are no protocol; integers 0–255
// keep their text; names are lower-cased and must be known.
func convertProtocol(v any) (*string, error) {
	bad := func() error {
		return sgInvalid("SecurityGroupRuleInvalidProtocol",
			"Security group rule protocol %s not supported. Only protocol values %s and integer representations [0 to 255] are supported.",
			describeValue(v), supportedProtocols())
	}
	var s string
	switch x := v.(type) {
	case nil:
		return nil, nil
	case json.Number:
		s = x.String()
		n, err := x.Int64()
		if err != nil || n < 0 || n > 255 {
			return nil, bad()
		}
		return &s, nil
	case string:
		s = x
	default:
		return nil, bad()
	}
	if s == "any" {
		return nil, nil
	}
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		if n < 0 || n > 255 {
			return nil, bad()
		}
		return &s, nil
	}
	l := strings.ToLower(s)
	if l == "any" {
		return nil, nil
	}
	if _, ok := protoNumber(l); ok {
		return &l, nil
	}
	return nil, bad()
}

// convertPort is convert_validate_port_value: an integer (or integer text) 0–65535.
func convertPort(v any) (int64, error) {
	var n int64
	var err error
	switch x := v.(type) {
	case json.Number:
		n, err = x.Int64()
	case string:
		n, err = strconv.ParseInt(strings.TrimSpace(x), 10, 64)
	default:
		err = fmt.Errorf("not an integer")
	}
	if err != nil || n < 0 || n > 65535 {
		return 0, sgInvalid("SecurityGroupInvalidPortValue", "Invalid value for port %s", describeValue(v))
	}
	return n, nil
}

// parseIPPrefix is netaddr.IPNetwork: an address (a host prefix) or address/length,
// host bits kept as written.
func parseIPPrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("invalid")
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("invalid")
	}
	return p, nil
}

// protoNum is _get_ip_proto_number for a set protocol.
func protoNum(p string) int {
	if n, ok := protoNumber(p); ok {
		return n
	}
	n, _ := strconv.Atoi(strings.TrimSpace(p))
	return n
}

// validate is _validate_base_security_group_rule_attributes.
func (r *sgRule) validate() error {
	// Legacy IPv6 ICMP names and number 1 become ipv6-icmp / 58 under IPv6.
	if r.EtherType == "IPv6" && r.Protocol != nil {
		switch *r.Protocol {
		case "icmp", "icmpv6":
			p := "ipv6-icmp"
			r.Protocol = &p
		case "1":
			p := "58"
			r.Protocol = &p
		}
	}
	// The whole port range is no range.
	if r.PortMin != nil && r.PortMax != nil && *r.PortMin == 1 && *r.PortMax == 65535 {
		r.PortMin, r.PortMax = nil, nil
	}
	if r.PortMin != nil || r.PortMax != nil {
		if r.Protocol == nil {
			return sgInvalid("SecurityGroupProtocolRequiredWithPorts", "Must also specify protocol if port range is given.")
		}
		num := protoNum(*r.Protocol)
		switch {
		case slices.Contains(portProtocols, num):
			if (r.PortMin != nil && *r.PortMin == 0) || (r.PortMax != nil && *r.PortMax == 0) {
				return sgInvalid("SecurityGroupInvalidPortValue", "Invalid value for port 0")
			}
			if r.PortMin == nil || r.PortMax == nil || *r.PortMin > *r.PortMax {
				return sgInvalid("SecurityGroupInvalidPortRange", "For TCP/UDP protocols, port_range_min must be <= port_range_max")
			}
		case num == 1 || num == 58:
			for _, f := range []struct {
				v           *int64
				field, attr string
			}{{r.PortMin, "type", "port_range_min"}, {r.PortMax, "code", "port_range_max"}} {
				if f.v != nil && (*f.v < 0 || *f.v > 255) {
					return sgInvalid("SecurityGroupInvalidIcmpValue", "Invalid value for ICMP %s (%s) %d. It must be 0 to 255.", f.field, f.attr, *f.v)
				}
			}
			if r.PortMin == nil && r.PortMax != nil {
				return sgInvalid("SecurityGroupMissingIcmpType", "ICMP code (port-range-max) %d is provided but ICMP type (port-range-min) is missing.", *r.PortMax)
			}
		default:
			return sgInvalid("SecurityGroupInvalidProtocolForPort",
				"Ports cannot be specified for protocol %d. Ports are only supported for DCCP, SCTP, TCP, UDP, UDPLITE.", num)
		}
	}
	if r.RemoteIP != nil {
		p, _ := netip.ParsePrefix(*r.RemoteIP)
		if fam := map[bool]string{true: "IPv4", false: "IPv6"}[p.Addr().Is4()]; fam != r.EtherType {
			return sgInvalid("SecurityGroupRuleParameterConflict", "Conflicting value ethertype %s for CIDR %s", r.EtherType, *r.RemoteIP)
		}
	}
	if r.Protocol != nil && r.EtherType == "IPv4" && slices.Contains(ipv6OnlyProtocols, *r.Protocol) {
		return sgInvalid("SecurityGroupEthertypeConflictWithProtocol", "Invalid ethertype %s for protocol %s.", r.EtherType, *r.Protocol)
	}
	n := 0
	for _, set := range []bool{r.RemoteIP != nil, r.RemoteGroup != nil, r.RemoteAddrGrp != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		return sgInvalid("SecurityGroupMultipleRemoteEntites", "Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be provided.")
	}
	return nil
}

// normalizedCIDR is the rule's remote prefix with host bits cleared.
func normalizedCIDR(prefix *string) any {
	if prefix == nil {
		return nil
	}
	p, err := netip.ParsePrefix(*prefix)
	if err != nil {
		return nil
	}
	return p.Masked().String()
}

// ruleKey is _rule_to_key: what makes two rules of a group the same. Protocols compare
// by name and number, any-address prefixes equal no prefix.
func ruleKey(direction, ethertype string, protocol *string, pmin, pmax *int64, remoteGroup, remoteAG, remoteIP *string) string {
	str := func(p *string) string {
		if p == nil {
			return "+"
		}
		return *p
	}
	num := func(p *int64) string {
		if p == nil {
			return "+"
		}
		return strconv.FormatInt(*p, 10)
	}
	proto := "+"
	if protocol != nil {
		p := *protocol
		if ethertype == "IPv6" {
			if p == "icmp" || p == "icmpv6" {
				p = "ipv6-icmp"
			} else if p == "1" {
				p = "58"
			}
		}
		if n, ok := protoNumber(p); ok {
			proto = p + "/" + strconv.Itoa(n)
		} else if n, err := strconv.Atoi(p); err == nil {
			if name, ok := protoName(n); ok {
				proto = name + "/" + p
			} else {
				proto = p + "/" + p
			}
		} else {
			proto = p + "/" + p
		}
	}
	ip := str(remoteIP)
	if ip == "0.0.0.0/0" || ip == "::/0" {
		ip = "+"
	}
	return strings.Join([]string{direction, ethertype, num(pmax), num(pmin), proto, str(remoteGroup), str(remoteAG), ip}, "_")
}
