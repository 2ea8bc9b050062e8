package image

import (
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestListFiltersAndSort(t *testing.T) {
	tc := newTestCloud(t)
	type spec struct {
		name, disk, container string
		size                  int
		tags                  []string
		extra                 map[string]any
	}
	ids := map[string]string{}
	for _, s := range []spec{
		{"alpha", "raw", "bare", 100, []string{"a", "b"}, map[string]any{"os_distro": "debian"}},
		{"beta", "raw", "bare", 300, []string{"a"}, map[string]any{"protected": true}},
		{"gamma", "qcow2", "bare", 0, nil, map[string]any{"os_hidden": true}},
		{"delta", "iso", "ovf", 200, []string{"b"}, map[string]any{"min_ram": 512}},
	} {
		body := map[string]any{"name": s.name, "disk_format": s.disk, "container_format": s.container}
		if s.tags != nil {
			body["tags"] = s.tags
		}
		for k, v := range s.extra {
			body[k] = v
		}
		id := tc.createImage(t, tc.demo.token, body)["id"].(string)
		ids[s.name] = id
		if s.size > 0 {
			if rec := tc.upload(t, tc.demo.token, id, randomBytes(t, s.size)); rec.Code != 204 {
				t.Fatalf("upload %s: %d %s", s.name, rec.Code, rec.Body)
			}
		}
	}
	names := func(query string) []string {
		var out []string
		for _, id := range tc.listIDs(t, tc.demo.token, query) {
			for n, i := range ids {
				if i == id {
					out = append(out, n)
				}
			}
		}
		return out
	}
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"", []string{"delta", "beta", "alpha"}},
		{"?sort_key=name&sort_dir=asc", []string{"alpha", "beta", "delta"}},
		{"?sort=name", []string{"delta", "beta", "alpha"}},
		{"?sort=size:asc,name:desc", []string{"alpha", "delta", "beta"}},
		{"?sort_key=size&sort_key=name&sort_dir=desc&sort_dir=asc", []string{"beta", "delta", "alpha"}},
		{"?name=beta", []string{"beta"}},
		{"?name=in:alpha,delta&sort=name:asc", []string{"alpha", "delta"}},
		{"?name=in:%22alpha%22,delta&sort=name:asc", []string{"alpha", "delta"}},
		{"?status=active&disk_format=raw&sort=name:asc", []string{"alpha", "beta"}},
		{"?container_format=ovf", []string{"delta"}},
		{"?tag=a&sort=name:asc", []string{"alpha", "beta"}},
		{"?tag=a&tag=b", []string{"alpha"}},
		{"?size_min=150&size_max=250", []string{"delta"}},
		{"?size=300", []string{"beta"}},
		{"?protected=true", []string{"beta"}},
		{"?protected=false&sort=name:asc", []string{"alpha", "delta"}},
		{"?os_hidden=true", []string{"gamma"}},
		{"?os_distro=debian", []string{"alpha"}},
		{"?min_ram=512", []string{"delta"}},
		{"?owner=" + tc.demo.project + "&sort=name:asc", []string{"alpha", "beta", "delta"}},
		{"?owner=someone-else", nil},
		{"?visibility=shared&sort=name:asc", []string{"alpha", "beta", "delta"}},
		{"?visibility=private", nil},
		{"?created_at=gte:2014-01-01T01:01:01Z&sort=name:asc", []string{"alpha", "beta", "delta"}},
		{"?created_at=gt:2049-01-01T00:00:00Z", nil},
		{"?updated_at=lte:2049-01-01T00:00:00Z&sort=name:asc", []string{"alpha", "beta", "delta"}},
		{"?status=queued", nil},
	} {
		if got := names(tt.query); !cmp.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.query, got, tt.want)
		}
	}
	for _, q := range []string{"?sort_key=owner", "?sort_dir=up", "?sort=name&sort_key=id", "?limit=x", "?limit=-1",
		"?visibility=everyone", "?member_status=maybe", "?os_hidden=maybe", "?protected=True", "?size_min=big",
		"?created_at=gt:yesterday", "?created_at=after:2020-01-01T00:00:00Z", "?name=like:x", "?changes-since=2020-01-01",
		"?marker=00000000-0000-4000-8000-000000000000", "?sort_key=name&sort_key=id&sort_dir=asc&sort_dir=asc&sort_dir=asc"} {
		if resp, out := tc.json(t, "GET", "/image/v2/images"+q, tc.demo.token, nil); resp.StatusCode != 400 {
			t.Errorf("%s: %d %v", q, resp.StatusCode, out)
		}
	}
}

func TestListPaging(t *testing.T) {
	tc := newTestCloud(t)
	var want []string
	for i := 0; i < 7; i++ {
		want = append(want, tc.createImage(t, tc.demo.token, map[string]any{"name": "img", "min_disk": i})["id"].(string))
	}
	sort.Strings(want)
	var got []string
	next := "/v2/images?limit=3&sort_key=id&sort_dir=asc&name=img"
	pages := 0
	for next != "" {
		resp, out := tc.json(t, "GET", "/image"+next, tc.demo.token, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", next, resp.StatusCode, out)
		}
		pages++
		for _, im := range out["images"].([]any) {
			got = append(got, im.(map[string]any)["id"].(string))
		}
		if out["schema"] != "/v2/schemas/images" || !strings.HasPrefix(out["first"].(string), "/v2/images?limit=3") {
			t.Errorf("page links: first=%v schema=%v", out["first"], out["schema"])
		}
		next, _ = out["next"].(string)
		if next != "" {
			u, _ := url.Parse(next)
			if u.Query().Get("marker") != got[len(got)-1] || u.Query().Get("name") != "img" {
				t.Errorf("next link %s", next)
			}
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if !cmp.Equal(got, want) {
		t.Errorf("paged ids %v, want %v", got, want)
	}
	if pages != 3 {
		t.Errorf("%d pages, want 3", pages)
	}
	// Default page size is Glance's limit_param_default.
	for i := 0; i < 20; i++ {
		tc.createImage(t, tc.demo.token, map[string]any{"name": "more"})
	}
	_, out := tc.json(t, "GET", "/image/v2/images", tc.demo.token, nil)
	if n := len(out["images"].([]any)); n != 25 || out["next"] == nil {
		t.Errorf("default page: %d images, next %v", n, out["next"])
	}
}
