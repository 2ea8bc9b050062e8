package compute

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gostack/gostack/internal/api"
)

// FuzzServerCreateBody feeds arbitrary bodies to the create validator: it must answer
// a 4xx *api.Error or a request, never panic.
func FuzzServerCreateBody(f *testing.F) {
	for _, s := range []string{
		`{"server": {"name": "a", "flavorRef": "1", "imageRef": "3f1c1f4e-6d0c-4b8e-9d3e-2c7f0b3b9a11", "networks": "auto"}}`,
		`{"server": {"name": "a", "flavorRef": 1, "networks": [{"uuid": "x", "port": null, "fixed_ip": "1.2.3.4"}]}}`,
		`{"server": {"name": "a", "flavorRef": "1", "min_count": "2", "max_count": 1, "metadata": {"k": 1}}}`,
		`{"server": {"name": "a", "flavorRef": "1", "block_device_mapping_v2": [{"boot_index": "x", "source_type": "image"}]}, "os:scheduler_hints": {"group": ["x"], "cidr": 1}}`,
		`{"server": {"name": "a", "flavorRef": "1", "availability_zone": "a::b", "tags": ["x", 2]}}`,
		`{"server": []}`, `[]`, `{"server": {"name": null}}`,
	} {
		f.Add(s, 96)
		f.Add(s, 1)
	}
	f.Fuzz(func(t *testing.T, body string, minor int) {
		var top map[string]any
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		if dec.Decode(&top) != nil || top == nil {
			return
		}
		if minor < 1 || minor > 96 {
			minor = 96
		}
		c := &call{ver: v(minor)}
		req, err := parseCreate(c, api.Object(top))
		if err != nil {
			if ae := api.AsError(err); ae == nil || ae.Status >= 500 {
				t.Fatalf("error %v is not a 4xx", err)
			}
			return
		}
		if req.name == "" || req.flavorRef == "" || req.minCount > req.maxCount {
			t.Fatalf("accepted an invalid request: %+v", req)
		}
	})
}

// FuzzServerListQuery feeds arbitrary query strings to the list parser.
func FuzzServerListQuery(f *testing.F) {
	for _, s := range []string{"", "status=ACTIVE&status=error", "name=(", "limit=-1", "sort_key=host&sort_dir=asc",
		"changes-since=2020-01-01T00:00:00Z&changes-before=2019-01-01", "tags=a,b&not-tags-any=c", "all_tenants=maybe",
		"deleted=true&status=DELETED", "%zz", "locked=yes&ip=10\\.0&flavor=http://x/flavors/1", "_x=1", "services=1"} {
		f.Add(s, 96, true)
		f.Add(s, 2, false)
	}
	f.Fuzz(func(t *testing.T, raw string, minor int, admin bool) {
		if minor < 1 || minor > 96 {
			minor = 96
		}
		q, err := parseServerQuery(raw, listParams{ver: v(minor), admin: admin, allowAllFilters: admin,
			projectID: "p", userID: "u", maxLimit: 1000})
		if err != nil {
			if ae := api.AsError(err); ae == nil || ae.Status >= 500 {
				t.Fatalf("error %v is not a 4xx", err)
			}
			return
		}
		if len(q.sort) == 0 || q.limit <= 0 || q.limit > 1000 {
			t.Fatalf("query without order or with limit %d", q.limit)
		}
		if strings.Count(strings.Join(q.conds, " "), "?") != len(q.args) {
			t.Fatalf("placeholders and args differ: %v %v", q.conds, q.args)
		}
	})
}

// TestViewJSONMatchesEncodingJSON checks the fast view encoder against encoding/json.
func TestViewJSONMatchesEncodingJSON(t *testing.T) {
	s := "x"
	for _, v := range []any{
		map[string]any{"b": 1, "a": "q\"<>&\u00e9\x01", "c": nil, "d": &s, "e": (*string)(nil), "f": []string{"z"},
			"g": []map[string]string{{"k": "v"}}, "h": map[string]string{"y": "1", "x": "2"}, "i": int64(-3), "j": true,
			"k": []any{1.5, json.Number("7"), map[string]any{}}, "l": []map[string]any{{"m": []string(nil)}}, "n": "\xff"},
	} {
		want, _ := json.Marshal(v)
		var buf bytes.Buffer
		if err := encodeView(&buf, v); err != nil {
			t.Fatal(err)
		}
		if buf.String() != string(want) {
			t.Fatalf("encodeView:\n got %s\nwant %s", buf.String(), want)
		}
	}
}
