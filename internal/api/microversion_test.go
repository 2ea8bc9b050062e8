package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestNegotiate(t *testing.T) {
	m := Microversions{Service: "compute", LegacyHeader: "X-OpenStack-Nova-API-Version",
		Min: Version{2, 1}, Max: Version{2, 96}}
	tests := []struct {
		name       string
		header     map[string]string
		want       Version
		wantStatus int
	}{
		{"none gives min", nil, Version{2, 1}, 0},
		{"latest gives max", map[string]string{"OpenStack-API-Version": "compute latest"}, Version{2, 96}, 0},
		{"explicit", map[string]string{"OpenStack-API-Version": "compute 2.53"}, Version{2, 53}, 0},
		{"other service ignored", map[string]string{"OpenStack-API-Version": "volume 3.70"}, Version{2, 1}, 0},
		{"legacy header", map[string]string{"X-OpenStack-Nova-API-Version": "2.10"}, Version{2, 10}, 0},
		{"too new", map[string]string{"OpenStack-API-Version": "compute 2.200"}, Version{}, 406},
		{"too old", map[string]string{"OpenStack-API-Version": "compute 1.9"}, Version{}, 406},
		{"garbage", map[string]string{"OpenStack-API-Version": "compute two"}, Version{}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			got, err := m.Negotiate(w, r)
			if tt.wantStatus != 0 {
				if err == nil || AsError(err).Status != tt.wantStatus {
					t.Fatalf("err = %v, want status %d", err, tt.wantStatus)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
			if h := w.Header().Get("OpenStack-API-Version"); h != "compute "+tt.want.String() {
				t.Errorf("response header %q", h)
			}
		})
	}
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"2.1", "latest", "", "2.", ".1", "10.1000", "-1.2", "+1.2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			return
		}
		again, err := ParseVersion(v.String())
		if err != nil || again != v {
			t.Fatalf("%q parsed to %v but its String does not round-trip: %v %v", s, v, again, err)
		}
	})
}
