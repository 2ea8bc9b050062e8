package network

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/gostack/gostack/internal/api"
)

// FuzzSecurityGroupRule feeds rule bodies to the parser: it must never panic, refuse
// with a 4xx NeutronError type, and accept only rules whose attributes hold together.
func FuzzSecurityGroupRule(f *testing.F) {
	for _, s := range []string{
		`{"security_group_id":"x","direction":"ingress","protocol":"tcp","port_range_min":22,"port_range_max":22}`,
		`{"security_group_id":"x","direction":"egress","protocol":"icmp","port_range_min":8,"port_range_max":0,"remote_ip_prefix":"0.0.0.0/0"}`,
		`{"security_group_id":"x","direction":"ingress","ethertype":"ipv6","protocol":"1","remote_ip_prefix":"fd00::1"}`,
		`{"security_group_id":"x","direction":"ingress","protocol":"58","port_range_max":3}`,
		`{"security_group_id":"x","direction":"ingress","protocol":"ANY","remote_group_id":"g","remote_address_group_id":"a"}`,
		`{"security_group_id":"x","direction":"ingress","protocol":"udp","port_range_min":"1","port_range_max":65535}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		dec := json.NewDecoder(bytes.NewReader([]byte(in)))
		dec.UseNumber()
		var o map[string]any
		if dec.Decode(&o) != nil || o == nil {
			return
		}
		r, err := ParseSecurityGroupRule(api.Object(o), false)
		if err != nil {
			ae, ok := err.(*api.Error)
			if !ok || ae.Status < 400 || ae.Status >= 500 || ae.Type == "" {
				t.Fatalf("error %#v", err)
			}
			return
		}
		if r.Direction != "ingress" && r.Direction != "egress" || (r.EtherType != "IPv4" && r.EtherType != "IPv6") {
			t.Fatalf("rule %+v", r)
		}
		if r.PortMin != nil && r.PortMax != nil && r.Protocol != nil && (*r.Protocol == "tcp" || *r.Protocol == "6") && *r.PortMin > *r.PortMax {
			t.Fatalf("range %d > %d", *r.PortMin, *r.PortMax)
		}
		if r.RemoteIP != nil {
			p, err := netip.ParsePrefix(*r.RemoteIP)
			if err != nil || (p.Addr().Is4() != (r.EtherType == "IPv4")) {
				t.Fatalf("prefix %q for %s", *r.RemoteIP, r.EtherType)
			}
			if r.RemoteGroup != nil || r.RemoteAddrGrp != nil {
				t.Fatalf("two remotes")
			}
		}
		_ = ruleKey(r.Direction, r.EtherType, r.Protocol, r.PortMin, r.PortMax, r.RemoteGroup, r.RemoteAddrGrp, r.RemoteIP)
	})
}
