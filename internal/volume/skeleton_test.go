package volume

import (
	"net/http"
	"strings"
	"testing"
)

func TestVersionDocuments(t *testing.T) {
	tc := newTestCloud(t, testOptions{noRun: true})
	r := tc.raw(t, "", "", "GET", "/volume/", nil).want(t, http.StatusMultipleChoices)
	vs := r.list("versions")
	if len(vs) != 1 || vs[0]["id"] != "v3.0" || vs[0]["version"] != "3.70" || vs[0]["min_version"] != "3.0" {
		t.Fatalf("versions: %v", r.raw)
	}
	r = tc.raw(t, "", "", "GET", "/volume/v3/", nil).want(t, http.StatusOK)
	if got := r.header.Get("OpenStack-API-Version"); got != "volume 3.0" {
		t.Fatalf("version header %q", got)
	}
	links, _ := r.list("versions")[0]["links"].([]any)
	if len(links) != 2 || !strings.HasSuffix(links[1].(map[string]any)["href"].(string), "/volume/v3/") {
		t.Fatalf("links: %v", links)
	}
}

func TestMicroversions(t *testing.T) {
	tc := newTestCloud(t, testOptions{noRun: true})
	for _, tt := range []struct {
		ver        string
		status     int
		wantHeader string
	}{
		{"", 200, "volume 3.0"},
		{"3.0", 200, "volume 3.0"},
		{"3.70", 200, "volume 3.70"},
		{"latest", 200, "volume 3.70"},
		{"3.71", 406, ""},
		{"2.0", 406, ""},
		{"3.x", 400, ""},
	} {
		r := tc.do(t, tt.ver, "GET", "/os-services", nil)
		if r.code != tt.status {
			t.Errorf("version %q: status %d, want %d: %s", tt.ver, r.code, tt.status, r.raw)
		}
		if tt.wantHeader != "" && r.header.Get("OpenStack-API-Version") != tt.wantHeader {
			t.Errorf("version %q: header %q", tt.ver, r.header.Get("OpenStack-API-Version"))
		}
		if tt.status == 406 && r.obj("computeFault")["code"] != float64(406) {
			t.Errorf("version %q: fault %s", tt.ver, r.raw)
		}
	}
}

func TestFaultShapesAndProjectlessPaths(t *testing.T) {
	tc := newTestCloud(t)
	// 403 from policy, in Cinder's shape.
	r := tc.doAs(t, tc.demoToken, "", "GET", "/os-services", nil).want(t, http.StatusForbidden)
	if !strings.Contains(r.faultMessage("forbidden"), "volume_extension:services:index") {
		t.Fatalf("forbidden body: %s", r.raw)
	}
	// 404 under the API.
	r = tc.do(t, "", "GET", "/no-such-thing", nil).want(t, http.StatusNotFound)
	if r.obj("itemNotFound")["code"] != float64(404) {
		t.Fatalf("not found body: %s", r.raw)
	}
	// 401 without a token.
	tc.raw(t, "", "", "GET", "/volume/v3/"+tc.adminProjectID+"/os-services", nil).want(t, http.StatusUnauthorized)
	// The project-less form (3.67) serves the same route.
	r = tc.raw(t, tc.adminToken, "3.67", "GET", "/volume/v3/os-services", nil).want(t, http.StatusOK)
	names := map[string]string{}
	for _, s := range r.list("services") {
		names[s["binary"].(string)] = s["host"].(string) + "/" + s["state"].(string)
	}
	want := map[string]string{"cinder-scheduler": "testhost/up", "cinder-volume": "testhost@file/up",
		"cinder-backup": "testhost/up"}
	for k, v := range want {
		if names[k] != v {
			t.Errorf("service %s: %q, want %q (%s)", k, names[k], v, r.raw)
		}
	}
	// A hex segment is a project id, never a project-less collection.
	tc.raw(t, tc.adminToken, "", "GET", "/volume/v3/abc123", nil).want(t, http.StatusNotFound)
}

func TestServicesEnableDisableAndZones(t *testing.T) {
	tc := newTestCloud(t)
	r := tc.do(t, "", "PUT", "/os-services/disable-log-reason", map[string]any{"host": "testhost@file",
		"binary": "cinder-volume", "disabled_reason": "maintenance"}).want(t, http.StatusOK)
	if r.body["status"] != "disabled" || r.body["disabled_reason"] != "maintenance" {
		t.Fatalf("disable: %s", r.raw)
	}
	r = tc.do(t, "", "GET", "/os-services?binary=cinder-volume&host=testhost", nil).want(t, http.StatusOK)
	if l := r.list("services"); len(l) != 1 || l[0]["status"] != "disabled" || l[0]["disabled_reason"] != "maintenance" {
		t.Fatalf("list: %s", r.raw)
	}
	// With the only backend disabled, a new volume fails with "No valid backend".
	r = tc.do(t, "", "POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1}}).want(t, http.StatusAccepted)
	if r.obj("volume")["status"] != "error" {
		t.Fatalf("create on a disabled backend: %s", r.raw)
	}
	r = tc.do(t, "", "GET", "/os-availability-zone", nil).want(t, http.StatusOK)
	if len(r.list("availabilityZoneInfo")) != 0 {
		t.Fatalf("zones with the backend disabled: %s", r.raw)
	}
	r = tc.do(t, "", "PUT", "/os-services/enable", map[string]any{"host": "testhost@file", "binary": "cinder-volume"}).want(t, http.StatusOK)
	if r.body["status"] != "enabled" || r.body["disabled"] != false {
		t.Fatalf("enable: %s", r.raw)
	}
	r = tc.do(t, "", "GET", "/os-availability-zone", nil).want(t, http.StatusOK)
	z := r.list("availabilityZoneInfo")
	if len(z) != 1 || z[0]["zoneName"] != "nova" || z[0]["zoneState"].(map[string]any)["available"] != true {
		t.Fatalf("zones: %s", r.raw)
	}
	tc.do(t, "", "PUT", "/os-services/enable", map[string]any{"host": "nohost", "binary": "cinder-volume"}).want(t, http.StatusNotFound)
	tc.do(t, "", "PUT", "/os-services/enable", map[string]any{"host": "testhost"}).want(t, http.StatusBadRequest)
	r = tc.do(t, "", "GET", "/scheduler-stats/get_pools?detail=true", nil).want(t, http.StatusOK)
	if p := r.list("pools"); len(p) != 1 || p[0]["name"] != "testhost@file#file" || p[0]["capabilities"] == nil {
		t.Fatalf("pools: %s", r.raw)
	}
	tc.doAs(t, tc.demoToken, "", "GET", "/scheduler-stats/get_pools", nil).want(t, http.StatusForbidden)
}
