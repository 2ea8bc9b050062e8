package network

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gostack/gostack/internal/api"
)

// FuzzListQuery checks the list query parser never panics and that what it accepts is
// consistent: sort keys sortable, filters filterable, limit non-negative.
func FuzzListQuery(f *testing.F) {
	for _, s := range []string{"name=a&name=b", "sort_key=name&sort_dir=asc&limit=2", "fields=id&fields=name",
		"tags=a,b&not-tags-any=c", "limit=-1", "marker=x&page_reverse=True", "bogus=1", "sort_key=name", "%zz"} {
		f.Add(s)
	}
	k := &kind{singular: "network", collection: "networks", hasTags: true, attrs: networkAttrs,
		unsortable: []string{"subnets"}}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		lq, err := parseListQuery(q, k)
		if err != nil {
			if api.AsError(err).Status != 400 {
				t.Fatalf("%q: status %d", raw, api.AsError(err).Status)
			}
			return
		}
		if lq.limit < 0 {
			t.Fatalf("%q: negative limit", raw)
		}
		for _, s := range lq.sorts {
			if !k.sortable(s.key) {
				t.Fatalf("%q: unsortable key %q accepted", raw, s.key)
			}
		}
		for name := range lq.filters {
			if !k.filterable(name) {
				t.Fatalf("%q: filter %q accepted", raw, name)
			}
		}
		// Filtering and sorting a record never panics.
		recs := []record{{"id": "1", "name": "a", "admin_state_up": true, "mtu": int64(1500), "tags": []string{"a"}}}
		sortRecords(recs, lq.sorts)
	})
}

// FuzzExtraDHCPOpts checks the extra_dhcp_opts validator never panics and that no
// accepted value can break a dnsmasq configuration line.
func FuzzExtraDHCPOpts(f *testing.F) {
	for _, s := range []string{`[{"opt_name":"bootfile-name","opt_value":"pxelinux.0"}]`,
		`[{"opt_name":"dns-server","opt_value":"8.8.8.8,1.1.1.1","ip_version":4}]`,
		`[{"opt_name":"66","opt_value":"x"}]`, `[{"opt_name":"tftp-server","opt_value":"a\nb"}]`,
		`[{"opt_name":"x","opt_value":null}]`, `[{"opt_name":"mtu","opt_value":"1,2"}]`, `[1]`} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, raw string, update bool) {
		var arr []map[string]any
		if json.Unmarshal([]byte(raw), &arr) != nil {
			return
		}
		list := make([]api.Object, len(arr))
		for i, m := range arr {
			list[i] = api.Object(m)
		}
		out, err := ValidateExtraDHCPOpts(list, update)
		if err != nil {
			if api.AsError(err).Status != 400 {
				t.Fatalf("status %d", api.AsError(err).Status)
			}
			return
		}
		for _, o := range out {
			v, _ := o["opt_value"].(string)
			n, _ := o["opt_name"].(string)
			if strings.ContainsAny(v, "\n\r\x00") || strings.ContainsAny(n, "\n\r\x00,= ") {
				t.Fatalf("accepted injectable option %q=%q", n, v)
			}
			if strings.Contains(v, ",") && !multiValued[strings.TrimPrefix(n, "option:")] {
				t.Fatalf("accepted comma in single-valued %q", n)
			}
		}
	})
}

// FuzzIfMatch checks the If-Match parser never panics or answers other than 400.
func FuzzIfMatch(f *testing.F) {
	for _, s := range []string{"revision_number=3", `"revision_number=4"`, "revision_number=x", "revision_number=1,revision_number=2", "*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r := &httpRequestStub{h: h}
		if _, err := ifMatch(r.req()); err != nil && api.AsError(err).Status != 400 {
			t.Fatalf("%q: %v", h, err)
		}
	})
}

type httpRequestStub struct{ h string }

func (s *httpRequestStub) req() *http.Request {
	r, _ := http.NewRequest("GET", "/", nil)
	r.Header.Set("If-Match", s.h)
	return r
}

// FuzzSubportsAndQosRules checks the subport and QoS rule parsers never panic and answer
// only 400s, and that accepted rules hold valid values.
func FuzzSubportsAndQosRules(f *testing.F) {
	for _, s := range []string{`[{"port_id": "0b1e1d1c-0000-4000-8000-000000000000", "segmentation_type": "vlan", "segmentation_id": 5}]`,
		`[{"port_id": "x"}]`, `"x"`, `[1, {}]`, `[{"segmentation_type": "inherit", "port_id": "0b1e1d1c00004000800000000000000a"}, 7]`,
		`{"max_kbps": 10, "direction": "ingress"}`, `{"dscp_mark": 26}`, `{"min_kbps": "5"}`, `{"max_kbps": 1e40}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var v any
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			return
		}
		reqs, msg := validateSubports(v)
		if msg == "" {
			for _, rq := range reqs {
				_ = pyDict(rq.raw)
			}
		}
		o, ok := v.(map[string]any)
		if !ok {
			return
		}
		for _, typ := range qosRuleTypes {
			for _, create := range []bool{true, false} {
				spec, err := parseQosRule(typ, body{Object: api.Object(o), resource: typ.singular()}, create)
				if err != nil {
					if api.AsError(err).Status != http.StatusBadRequest {
						t.Fatalf("%s %q: status %d", typ.name, raw, api.AsError(err).Status)
					}
					continue
				}
				for k, val := range spec {
					switch x := val.(type) {
					case int64:
						if x < 0 || x > dbIntMax {
							t.Fatalf("%s %q: %s=%d accepted", typ.name, raw, k, x)
						}
					case string:
						if x != "ingress" && x != "egress" {
							t.Fatalf("%s %q: direction %q accepted", typ.name, raw, x)
						}
					}
				}
			}
		}
	})
}
