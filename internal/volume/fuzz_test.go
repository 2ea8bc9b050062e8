package volume

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/gostack/gostack/internal/api"
)

// The body and query parsers must answer 4xx or succeed for any input, never panic or
// 500. These fuzz the pure parsers directly and the create/action bodies through the API.

func FuzzSizeField(f *testing.F) {
	for _, s := range []string{`{"size": 1}`, `{"size": "2"}`, `{"size": -1}`, `{"size": 1.5}`, `{"size": "1e3"}`,
		`{"size": null}`, `{"size": 99999999999999999999}`, `{"size": [1]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var o map[string]any
		if api.Unmarshal([]byte(body), &o) != nil {
			return
		}
		n, present, err := sizeField(api.Object(o), "size", true)
		if err != nil {
			if ae := api.AsError(err); ae.Status != http.StatusBadRequest {
				t.Fatalf("status %d for %q", ae.Status, body)
			}
			return
		}
		if present && n < 1 {
			t.Fatalf("accepted size %d from %q", n, body)
		}
	})
}

func FuzzParseSortAndFilters(f *testing.F) {
	for _, s := range []string{"sort=name:asc,size", "sort_key=size&sort_dir=up", "sort=bogus", "metadata={'a':'b'}",
		"metadata=%7B", "limit=-1&marker=x", "with_count=maybe&all_tenants=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		check := func(err error) {
			if err != nil {
				if ae := api.AsError(err); ae.Status >= 500 {
					t.Fatalf("status %d for %q", ae.Status, raw)
				}
			}
		}
		_, err = parseSort(q, volumeSortKeys)
		check(err)
		_, err = parseDictFilter(q.Get("metadata"))
		check(err)
		s := &Service{cfg: Config{ListLimitMax: 10}}
		_, err = s.pageLimit(q)
		check(err)
		_, err = filterVolumes([]*volumeRec{{ID: "a", Metadata: map[string]string{}}}, q, &call{ver: maxVersion})
		check(err)
	})
}

func FuzzVolumeBodies(f *testing.F) {
	tc := newTestCloud(f, testOptions{noRun: true})
	for _, s := range []string{
		`{"volume": {"size": 1}}`, `{"volume": {"size": "x", "metadata": {"a": 1}}}`, `{"volume": null}`,
		`{"os-extend": {"new_size": "3"}}`, `{"os-reset_status": {"status": "bogus"}}`, `{"os-attach": {}}`,
		`{"revert": {"snapshot_id": 5}}`, `{"os-volume_upload_image": {"image_name": "i", "disk_format": "iso"}}`,
		`[]`, `{"a": 1, "b": 2}`,
	} {
		f.Add(s)
	}
	vol := tc.do(f, "", "POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1}}).want(f, http.StatusAccepted)
	id := vol.obj("volume")["id"].(string)
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{"/volumes", "/volumes/" + id + "/action", "/snapshots", "/backups",
			"/attachments", "/types"} {
			r := tc.do(t, "3.70", "POST", path, body)
			if r.code >= 500 {
				t.Fatalf("POST %s %q: %d %s", path, body, r.code, r.raw)
			}
		}
		r := tc.do(t, "3.70", "PUT", "/os-quota-sets/"+tc.demoProjectID, body)
		if r.code >= 500 {
			t.Fatalf("PUT quota %q: %d %s", body, r.code, r.raw)
		}
	})
}
