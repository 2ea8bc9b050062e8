package network

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestListMachinery(t *testing.T) {
	tc := newTestCloud(t)
	var all []string
	for i, name := range []string{"c", "a", "b", "a", "d"} {
		n := tc.mkNetwork(t, tc.demoToken, map[string]any{"name": name, "admin_state_up": i%2 == 0,
			"tags": []string{fmt.Sprintf("t%d", i%2), "all"}})
		all = append(all, n["id"].(string))
	}
	get := func(q string) resp {
		return tc.doAs(t, tc.demoToken, "GET", "/v2.0/networks?"+q, nil, nil).want(t, 200)
	}
	names := func(r resp) []string {
		var out []string
		for _, n := range r.list("networks") {
			out = append(out, n["name"].(string))
		}
		return out
	}
	for _, tt := range []struct {
		q    string
		want []string
	}{
		{"name=a", []string{"a", "a"}},
		{"name=a&name=b&sort_key=name&sort_dir=asc", []string{"a", "a", "b"}},
		{"admin_state_up=false&sort_key=name&sort_dir=desc", []string{"a", "a"}},
		{"admin_state_up=True&sort_key=name&sort_dir=desc", []string{"d", "c", "b"}},
		{"tags=t0&sort_key=name&sort_dir=asc", []string{"b", "c", "d"}},
		{"tags=t0,all&sort_key=name&sort_dir=asc", []string{"b", "c", "d"}},
		{"tags-any=t1,zzz&sort_key=name&sort_dir=asc", []string{"a", "a"}},
		{"not-tags=t1&sort_key=name&sort_dir=asc", []string{"b", "c", "d"}},
		{"not-tags-any=t0,t1", nil},
		{"name=", nil},
		{"mtu=1450&name=d", []string{"d"}},
	} {
		if got := names(get(tt.q)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.q, got, tt.want)
		}
	}
	// fields= keeps only the named attributes.
	r := get("fields=id&fields=name")
	for _, n := range r.list("networks") {
		if len(n) != 2 || n["id"] == nil || n["name"] == nil {
			t.Errorf("fields: %v", n)
		}
	}
	one := tc.doAs(t, tc.demoToken, "GET", "/v2.0/networks/"+all[0]+"?fields=status", nil, nil).want(t, 200).obj("network")
	if len(one) != 1 || one["status"] != "ACTIVE" {
		t.Errorf("show fields: %v", one)
	}
	// Paging forward through sorted results, following the next links.
	var seen []string
	q := "limit=2&sort_key=name&sort_dir=asc"
	for range 5 {
		r := get(q)
		page := r.list("networks")
		seen = append(seen, ids(page)...)
		var next string
		for _, l := range r.list("networks_links") {
			if l["rel"] == "next" {
				next = l["href"].(string)
			}
		}
		if next == "" || len(page) < 2 {
			break
		}
		u, _ := url.Parse(next)
		if !strings.HasSuffix(u.Path, "/networking/v2.0/networks") {
			t.Fatalf("next link %s", next)
		}
		q = u.RawQuery
	}
	if len(seen) != 5 || len(slices.Compact(slices.Sorted(slices.Values(seen)))) != 5 {
		t.Errorf("paged ids %v", seen)
	}
	// Reverse paging from the last item returns the items before it.
	last := seen[4]
	rev := get("limit=2&sort_key=name&sort_dir=asc&page_reverse=True&marker=" + last)
	if got := ids(rev.list("networks")); !slices.Equal(got, seen[2:4]) {
		t.Errorf("reverse page %v, want %v", got, seen[2:4])
	}
	// Bad queries.
	for _, q := range []string{"bogus=1", "sort_key=name", "sort_key=bogus&sort_dir=asc", "sort_key=name&sort_dir=up",
		"limit=-1", "limit=x", "admin_state_up=maybe"} {
		r := tc.doAs(t, tc.demoToken, "GET", "/v2.0/networks?"+q, nil, nil)
		if r.code != 400 {
			t.Errorf("%s: status %d %s", q, r.code, r.raw)
		}
	}
	tc.doAs(t, tc.demoToken, "GET", "/v2.0/networks?limit=1&marker=nope", nil, nil).fault(t, 404, "NetworkNotFound")
}

func TestTags(t *testing.T) {
	tc := newTestCloud(t)
	n := tc.mkNetwork(t, tc.demoToken, map[string]any{"name": "n"})
	base := "/v2.0/networks/" + n["id"].(string) + "/tags"
	as := func(method, path string, body any) resp { return tc.doAs(t, tc.demoToken, method, path, body, nil) }
	r := as("PUT", base, map[string]any{"tags": []string{"red", "blue", "red"}}).want(t, 200)
	if got := r.body["tags"].([]any); len(got) != 2 || got[0] != "blue" {
		t.Errorf("put all %v", got)
	}
	as("PUT", base+"/green", nil).want(t, 201)
	as("GET", base+"/green", nil).want(t, 204)
	as("GET", base+"/nope", nil).fault(t, 404, "TagNotFound")
	if got := as("GET", base, nil).want(t, 200).body["tags"].([]any); len(got) != 3 {
		t.Errorf("tags %v", got)
	}
	as("DELETE", base+"/red", nil).want(t, 204)
	as("DELETE", base+"/red", nil).fault(t, 404, "TagNotFound")
	net := as("GET", "/v2.0/networks/"+n["id"].(string), nil).want(t, 200).obj("network")
	if net["revision_number"].(float64) < 3 {
		t.Errorf("tag changes do not bump the revision: %v", net["revision_number"])
	}
	as("DELETE", base, nil).want(t, 204)
	if got := as("GET", base, nil).want(t, 200).body["tags"].([]any); len(got) != 0 {
		t.Errorf("tags after delete all %v", got)
	}
	as("PUT", base, map[string]any{"tags": []string{strings.Repeat("x", 256)}}).want(t, 400)
	as("PUT", base, map[string]any{"nottags": 1}).want(t, 400)
	tc.doAs(t, tc.altToken, "PUT", base+"/x", nil, nil).fault(t, 404, "NetworkNotFound")
}
