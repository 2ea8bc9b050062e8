package compute

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzNewIngressRule feeds Nova's rule translation arbitrary JSON values for the
// protocol, ports and cidr: it must answer a rule or a 400, never panic, and a rule it
// accepts must carry ports Neutron can take.
func FuzzNewIngressRule(f *testing.F) {
	for _, s := range []string{
		`["tcp", 22, 22, "10.0.0.0/8"]`, `["icmp", -1, -1, null]`, `["udp", "1", "65535", "::/0"]`,
		`["TCP", 22.5, true, "10.0.0.0%2F8"]`, `[6, 1, 2, 5]`, `[null, null, null, ""]`, `["tcp", "a", [], {}]`,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, withGroup bool) {
		var args []any
		if err := unmarshalNumbers([]byte(in), &args); err != nil || len(args) != 4 {
			return
		}
		var group, cidr *string
		if withGroup {
			g := "8c5d3a1e-9a4b-4c1e-8f3b-000000000000"
			group = &g
		} else {
			c, err := parseCIDR(args[3])
			if err != nil {
				return
			}
			cidr = &c
		}
		rule, ok, err := newIngressRule(group, cidr, args[0], args[1], args[2])
		if err != nil || !ok || !rule.hasPorts {
			return
		}
		if *rule.FromPort < -1 || *rule.ToPort > 65535 {
			t.Fatalf("accepted ports %d:%d", *rule.FromPort, *rule.ToPort)
		}
		_ = neutronRuleBody(rule)
	})
}

// unmarshalNumbers decodes JSON keeping numbers as json.Number, as request bodies are.
func unmarshalNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}
