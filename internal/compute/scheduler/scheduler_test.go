package scheduler

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// host returns an enabled, up host with the given free RAM (MiB) and roomy CPU and disk.
func host(name string, freeRAM int64) HostState {
	return HostState{Host: name, Node: name, UUID: "uuid-" + name, Zone: "nova", Enabled: true, Up: true,
		HypervisorType: "fake", HypervisorVersion: 1002003,
		Supported: []SupportedInstance{{"x86_64", "fake", "hvm"}},
		FreeVCPUs: 64, FreeRAMMB: freeRAM, FreeDiskGB: 100, TotalVCPUs: 64, TotalRAMMB: 16384, TotalDiskGB: 100}
}

func names(sels []Selection) []string {
	out := []string{}
	for _, s := range sels {
		out = append(out, s.Host)
	}
	return out
}

func TestSchedule(t *testing.T) {
	base := func() []HostState { return []HostState{host("a", 1000), host("b", 3000), host("c", 2000)} }
	with := func(mod func(hs []HostState)) []HostState { hs := base(); mod(hs); return hs }
	tests := []struct {
		name  string
		req   Request
		hosts []HostState
		want  []string // chosen then alternates; nil: NoValidHost
		// filter is the filter expected to remove the last hosts.
		filter string
	}{
		{name: "spread by free RAM", req: Request{MemoryMB: 512}, hosts: base(), want: []string{"b", "c", "a"}},
		{name: "resources", req: Request{MemoryMB: 1500}, hosts: base(), want: []string{"b", "c"}},
		{name: "not enough RAM", req: Request{MemoryMB: 5000}, hosts: base(), filter: "ResourceFilter"},
		{name: "disabled", req: Request{}, hosts: with(func(hs []HostState) { hs[1].Enabled = false }), want: []string{"c", "a"}},
		{name: "down", req: Request{}, hosts: with(func(hs []HostState) {
			for i := range hs {
				hs[i].Up = false
			}
		}), filter: "ComputeFilter"},
		{name: "zone", req: Request{AvailabilityZone: "az2"}, hosts: with(func(hs []HostState) { hs[0].Zone = "az2" }), want: []string{"a"}},
		{name: "unknown zone", req: Request{AvailabilityZone: "nowhere"}, hosts: base(), filter: "AvailabilityZoneFilter"},
		{name: "requested host", req: Request{Host: "a"}, hosts: base(), want: []string{"a"}},
		{name: "requested node mismatch", req: Request{Host: "a", Node: "b"}, hosts: base(), filter: "RequestedDestinationFilter"},
		{name: "ignore hosts", req: Request{IgnoreHosts: []string{"b", "c"}}, hosts: base(), want: []string{"a"}},
		{name: "anti-affinity", req: Request{GroupPolicy: AntiAffinity, GroupHosts: []string{"b"}}, hosts: base(), want: []string{"c", "a"}},
		{name: "anti-affinity max per host", req: Request{GroupPolicy: AntiAffinity, GroupHosts: []string{"b", "c", "c"}, MaxServerPerHost: 2},
			hosts: base(), want: []string{"b", "a"}},
		{name: "anti-affinity full", req: Request{GroupPolicy: AntiAffinity, GroupHosts: []string{"a", "b", "c"}}, hosts: base(),
			filter: "ServerGroupAntiAffinityFilter"},
		{name: "affinity first member anywhere", req: Request{GroupPolicy: Affinity}, hosts: base(), want: []string{"b", "c", "a"}},
		{name: "affinity follows members", req: Request{GroupPolicy: Affinity, GroupHosts: []string{"a"}}, hosts: base(), want: []string{"a"}},
		{name: "soft affinity prefers members", req: Request{GroupPolicy: SoftAffinity, GroupHosts: []string{"a", "a"}},
			hosts: []HostState{host("a", 2000), host("b", 2000)}, want: []string{"a", "b"}},
		{name: "soft anti-affinity avoids members", req: Request{GroupPolicy: SoftAntiAffinity, GroupHosts: []string{"a"}},
			hosts: []HostState{host("a", 2000), host("b", 2000)}, want: []string{"b", "a"}},
		{name: "same host", req: Request{SameHostGiven: true, SameHostHosts: []string{"c"}}, hosts: base(), want: []string{"c"}},
		{name: "same host without hosts", req: Request{SameHostGiven: true}, hosts: base(), filter: "SameHostFilter"},
		{name: "different host", req: Request{DifferentHostHosts: []string{"b", "c"}}, hosts: base(), want: []string{"a"}},
		{name: "image arch", req: Request{ImageProperties: map[string]any{"hw_architecture": "aarch64"}}, hosts: base(), filter: "ImagePropertiesFilter"},
		{name: "image arch alias", req: Request{ImageProperties: map[string]any{"hw_architecture": "amd64", "img_hv_type": "FAKE"}}, hosts: base(),
			want: []string{"b", "c", "a"}},
		{name: "image hv version", req: Request{ImageProperties: map[string]any{"img_hv_requested_version": ">=2.0"}, MemoryMB: 1},
			hosts: with(func(hs []HostState) { hs[0].HypervisorVersion = 2000000 }), want: []string{"b", "c", "a"}},
		{name: "image hv version too old", req: Request{ImageProperties: map[string]any{"hw_architecture": "x86_64", "img_hv_requested_version": ">=2.0"}},
			hosts: with(func(hs []HostState) { hs[0].HypervisorVersion = 2000000 }), want: []string{"a"}},
		{name: "capabilities", req: Request{ExtraSpecs: map[string]string{"capabilities:hypervisor_type": "s== fake", "capabilities:cpu_info:arch": "x86_64"}},
			hosts: with(func(hs []HostState) { hs[2].Capabilities = map[string]string{"cpu_info:arch": "x86_64"} }), want: []string{"c"}},
		{name: "unscoped and other scopes ignored", req: Request{ExtraSpecs: map[string]string{"hw:cpu_policy": "dedicated", "quota:cpu_shares": "1"}},
			hosts: base(), want: []string{"b", "c", "a"}},
		{name: "aggregate extra specs", req: Request{ExtraSpecs: map[string]string{"aggregate_instance_extra_specs:ssd": "true"}},
			hosts: with(func(hs []HostState) {
				hs[0].Aggregates = []Aggregate{{"fast", map[string]string{"ssd": "true"}}}
				hs[1].Aggregates = []Aggregate{{"slow", map[string]string{"ssd": "false"}}}
			}), want: []string{"a"}},
		{name: "aggregate extra specs or", req: Request{ExtraSpecs: map[string]string{"aggregate_instance_extra_specs:tier": "<or> gold <or> silver"}},
			hosts: with(func(hs []HostState) {
				hs[0].Aggregates = []Aggregate{{"g", map[string]string{"tier": "gold"}}}
				hs[1].Aggregates = []Aggregate{{"s", map[string]string{"tier": "bronze,silver"}}}
			}), want: []string{"b", "a"}},
		{name: "tenant isolation", req: Request{ProjectID: "p2"}, hosts: with(func(hs []HostState) {
			hs[1].Aggregates = []Aggregate{{"p1only", map[string]string{"filter_tenant_id": "p1"}}}
			hs[2].Aggregates = []Aggregate{{"p2ok", map[string]string{"filter_tenant_id": "p1,p2"}}}
		}), want: []string{"c", "a"}},
		{name: "alternates are bounded", req: Request{}, hosts: append(base(), host("d", 100), host("e", 50)), want: []string{"b", "c", "a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Schedule(tc.req, tc.hosts, Config{Weights: DefaultWeights})
			if tc.want == nil {
				var nvh *NoValidHost
				if !errors.As(err, &nvh) {
					t.Fatalf("want NoValidHost, got %v %v", got, err)
				}
				if nvh.Error() != "No valid host was found. There are not enough hosts available." {
					t.Fatalf("message %q", nvh.Error())
				}
				if !strings.Contains(nvh.Details, fmt.Sprintf("'%s: (start: ", tc.filter)) ||
					!strings.HasSuffix(nvh.Details, "end: 0)']") {
					t.Fatalf("details %q do not end at %s", nvh.Details, tc.filter)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, names(got[0])); diff != "" {
				t.Fatalf("selection (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScheduleManyConsumes(t *testing.T) {
	hosts := []HostState{host("a", 2000), host("b", 1500)}
	got, err := Schedule(Request{MemoryMB: 1000, NumInstances: 3}, hosts, Config{Weights: DefaultWeights})
	if err != nil {
		t.Fatal(err)
	}
	var chosen []string
	for _, s := range got {
		chosen = append(chosen, s[0].Host)
	}
	if diff := cmp.Diff([]string{"a", "b", "a"}, chosen); diff != "" {
		t.Fatalf("chosen (-want +got):\n%s", diff)
	}
	if _, err := Schedule(Request{MemoryMB: 1000, NumInstances: 4}, hosts, Config{}); err == nil {
		t.Fatal("a fourth instance fit")
	}
	// Anti-affinity across the instances of one request.
	got, err = Schedule(Request{GroupPolicy: AntiAffinity, NumInstances: 2}, hosts, Config{Weights: DefaultWeights})
	if err != nil || got[0][0].Host == got[1][0].Host {
		t.Fatalf("anti-affinity within a request: %v %v", got, err)
	}
	// Stacking: a negative RAM multiplier prefers the fullest host.
	got, _ = Schedule(Request{}, hosts, Config{Weights: Weights{RAM: -1}})
	if got[0][0].Host != "b" {
		t.Fatalf("stacking chose %v", got[0])
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		value, req string
		want       bool
	}{
		{"1024", "= 512", true}, {"256", "= 512", false}, {"512", "== 512.0", true}, {"3", "!= 4", true},
		{"4", ">= 4", true}, {"4", "<= 3", false}, {"abc", "s== abc", true}, {"abc", "s!= abc", false},
		{"a", "s< b", true}, {"b", "s<= a", false}, {"b", "s> a", true}, {"a", "s>= b", false},
		{"avx sse avx2", "<in> avx2", true}, {"avx sse", "<all-in> avx sse", true}, {"avx", "<all-in> avx sse", false},
		{"x", "<or> y <or> x", true}, {"z", "<or> y <or> x", false}, {"true", "true", true}, {"True", "true", false},
		{"nan", "= 1", false}, {"1", "=", false}, {"", "", true},
	} {
		if got := Match(tc.value, tc.req); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.value, tc.req, got, tc.want)
		}
	}
}

func FuzzMatch(f *testing.F) {
	for _, s := range []string{"= 1", "<or> a <or>", "<all-in>", "s== x", "<in> a b"} {
		f.Add("a", s)
	}
	f.Fuzz(func(t *testing.T, value, req string) {
		_ = Match(value, req)
		_ = versionSatisfied(1002003, req)
	})
}
