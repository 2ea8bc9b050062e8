package volume

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/gostack/gostack/internal/api"
)

func FuzzManageBodies(f *testing.F) {
	for _, s := range []string{
		`{"volume": {"host": "h@b#p", "ref": {"source-name": "volume-x"}}}`,
		`{"volume": {"host": "h@b", "ref": "volume-x", "bootable": "yes", "metadata": null, "cluster": "c"}}`,
		`{"volume": {"host": "a b", "ref": 1}}`, `{"volume": null}`, `{"volume": []}`, `{"x": 1}`,
		`{"volume": {"ref": {}, "name": 5, "volume_type": null, "availability_zone": ""}}`,
		`{"snapshot": {"volume_id": "11111111-2222-3333-4444-555555555555", "ref": null, "metadata": {"a": "b"}}}`,
		`{"snapshot": {"volume_id": 3, "ref": []}}`,
	} {
		f.Add(s, 16)
		f.Add(s, 0)
	}
	f.Fuzz(func(t *testing.T, body string, minor int) {
		var o map[string]any
		if api.Unmarshal([]byte(body), &o) != nil {
			return
		}
		c := &call{ver: api.Version{Major: 3, Minor: minor % 71}}
		check := func(err error) {
			if err != nil {
				if ae := api.AsError(err); ae.Status != http.StatusBadRequest {
					t.Fatalf("status %d for %q", ae.Status, body)
				}
			}
		}
		b, err := parseManageVolume(c, api.Object(o))
		check(err)
		if err == nil {
			if b.ref == nil {
				t.Fatalf("accepted a body without ref: %q", body)
			}
			if b.host != "" && !cinderHostPattern.MatchString(b.host) {
				t.Fatalf("accepted host %q", b.host)
			}
			_ = refID(refName(b.ref), "volume-")
		}
		sb, err := parseManageSnapshot(api.Object(o))
		check(err)
		if err == nil && !isUUID(sb.volumeID) {
			t.Fatalf("accepted volume_id %q", sb.volumeID)
		}
	})
}

func FuzzManageableQuery(f *testing.F) {
	for _, s := range []string{"sort=size:asc,reference", "sort_key=size&sort_dir=up", "limit=-1&offset=x",
		"marker=%7B%22source-name%22%3A%22v%22%7D", "marker=%5B", "sort=reference:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		marker, limit, offset, sorts, err := parseManageableQuery(q)
		if err != nil {
			if ae := api.AsError(err); ae.Status != http.StatusBadRequest {
				t.Fatalf("status %d for %q", ae.Status, raw)
			}
			return
		}
		if offset < 0 || limit < -1 || len(sorts) == 0 {
			t.Fatalf("accepted limit %d offset %d sorts %v from %q", limit, offset, sorts, raw)
		}
		if marker != "" {
			if _, err := markerReference(marker); err != nil && api.AsError(err).Status != http.StatusBadRequest {
				t.Fatalf("marker %q: %v", marker, err)
			}
		}
	})
}
