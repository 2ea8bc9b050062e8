package ipam

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func pools(s string) []Pool {
	var out []Pool
	for _, r := range strings.Fields(s) {
		a, b, _ := strings.Cut(r, "-")
		out = append(out, Pool{netip.MustParseAddr(a), netip.MustParseAddr(b)})
	}
	return out
}

func TestDefaultPools(t *testing.T) {
	tests := []struct {
		cidr, gw, want string
	}{
		{"10.0.0.0/24", "10.0.0.1", "10.0.0.2-10.0.0.254"},
		{"10.0.0.0/24", "", "10.0.0.1-10.0.0.254"},
		{"10.0.0.0/24", "10.0.0.100", "10.0.0.1-10.0.0.99 10.0.0.101-10.0.0.254"},
		{"10.0.0.0/24", "10.0.0.254", "10.0.0.1-10.0.0.253"},
		{"10.0.0.0/30", "10.0.0.1", "10.0.0.2-10.0.0.2"},
		{"10.0.0.0/31", "", ""},
		{"10.0.0.5/32", "", "10.0.0.5-10.0.0.5"},
		{"fd00::/64", "fd00::1", "fd00::2-fd00::ffff:ffff:ffff:ffff"},
		{"fd00::/126", "fd00::1", "fd00::2-fd00::3"},
	}
	for _, tt := range tests {
		var gw netip.Addr
		if tt.gw != "" {
			gw = netip.MustParseAddr(tt.gw)
		}
		got := DefaultPools(netip.MustParsePrefix(tt.cidr), gw)
		if !slices.Equal(got, pools(tt.want)) {
			t.Errorf("%s gw %s: %v, want %s", tt.cidr, tt.gw, got, tt.want)
		}
	}
}

func TestValidatePools(t *testing.T) {
	p := netip.MustParsePrefix("10.0.0.0/24")
	gw := netip.MustParseAddr("10.0.0.1")
	for _, tt := range []struct {
		pools, kind string
	}{
		{"10.0.0.2-10.0.0.254", ""},
		{"10.0.0.10-10.0.0.5", "InvalidAllocationPool"},
		{"10.0.0.0-10.0.0.5", "OutOfBoundsAllocationPool"},
		{"10.0.0.2-10.0.0.255", "OutOfBoundsAllocationPool"},
		{"10.0.0.2-10.0.1.5", "OutOfBoundsAllocationPool"},
		{"10.0.0.2-10.0.0.9 10.0.0.9-10.0.0.20", "OverlappingAllocationPools"},
		{"10.0.0.1-10.0.0.9", "GatewayConflictWithAllocationPools"},
		{"fd00::1-fd00::2", "InvalidAllocationPool"},
	} {
		err := ValidatePools(p, pools(tt.pools), gw)
		kind := ""
		if err != nil {
			kind = err.(*PoolError).Kind
		}
		if kind != tt.kind {
			t.Errorf("%s: %v, want %s", tt.pools, err, tt.kind)
		}
	}
}

func TestNextFree(t *testing.T) {
	ps := pools("10.0.0.2-10.0.0.3 10.0.0.10-10.0.0.10")
	used := map[netip.Addr]bool{}
	var got []string
	for {
		a, ok := NextFree(ps, used)
		if !ok {
			break
		}
		used[a] = true
		got = append(got, a.String())
	}
	if !slices.Equal(got, []string{"10.0.0.2", "10.0.0.3", "10.0.0.10"}) {
		t.Errorf("order %v", got)
	}
}

func TestEUI64AndMAC(t *testing.T) {
	a, err := EUI64(netip.MustParsePrefix("2001:db8::/64"), "fa:16:3e:11:22:33")
	if err != nil || a.String() != "2001:db8::f816:3eff:fe11:2233" {
		t.Errorf("eui64 %v %v", a, err)
	}
	for in, want := range map[string]string{"FA:16:3E:00:00:01": "fa:16:3e:00:00:01", "fa-16-3e-00-00-02": "fa:16:3e:00:00:02",
		"fa163e000003": "fa:16:3e:00:00:03", "01:00:5e:00:00:01": "", "00:00:00:00:00:00": "", "zz:16:3e:00:00:01": "", "fa:16:3e:00:00": ""} {
		got, err := ParseMAC(in)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("ParseMAC(%q) = %q, %v", in, got, err)
		}
	}
	if m := RandomMAC("fa:16:3e"); !strings.HasPrefix(m, "fa:16:3e:") || len(m) != 17 {
		t.Errorf("random mac %s", m)
	}
}

func TestAllocatePrefix(t *testing.T) {
	pool := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/22")}
	used := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("10.0.1.0/26")}
	got, ok := AllocatePrefix(pool, used, 24)
	if !ok || got.String() != "10.0.2.0/24" {
		t.Errorf("/24: %v %v", got, ok)
	}
	got, ok = AllocatePrefix(pool, used, 26)
	if !ok || got.String() != "10.0.1.64/26" {
		t.Errorf("/26: %v %v", got, ok)
	}
	if _, ok := AllocatePrefix(pool, used, 21); ok {
		t.Error("/21 allocated from a /22")
	}
}

// FuzzParseCIDR checks that parsing never panics, that the masked prefix is canonical
// and contains the written address, and that default pools stay inside the CIDR.
func FuzzParseCIDR(f *testing.F) {
	for _, s := range []string{"10.0.0.0/24", "10.0.0.1/24", "fd00::/64", "::/0", "1.2.3.4/33", "", "a/b", "::ffff:1.2.3.4/120", "fe80::1%eth0/64"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, m, err := ParseCIDR(s)
		if err != nil {
			return
		}
		if m != m.Masked() || !m.Contains(w.Addr()) {
			t.Fatalf("%q: written %v masked %v", s, w, m)
		}
		if m.Addr().Is6() && m.Bits() < 100 {
			return
		}
		for _, p := range DefaultPools(m, netip.Addr{}) {
			if !m.Contains(p.Start) || !m.Contains(p.End) || p.Start.Compare(p.End) > 0 {
				t.Fatalf("%q: pool %v outside", s, p)
			}
		}
		_ = ValidatePools(m, DefaultPools(m, netip.Addr{}), netip.Addr{})
	})
}

// FuzzParseIPAndMAC checks the address and MAC parsers never panic and round-trip.
func FuzzParseIPAndMAC(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "::1", "fa:16:3e:00:00:01", "FA-16-3E-00-00-01", "", "1.2.3", "fe80::1%x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if a, err := ParseIP(s); err == nil {
			if b, err := ParseIP(a.String()); err != nil || a != b {
				t.Fatalf("%q does not round-trip", s)
			}
		}
		if m, err := ParseMAC(s); err == nil {
			if again, err := ParseMAC(m); err != nil || again != m {
				t.Fatalf("MAC %q does not round-trip: %q", s, m)
			}
			if _, err := EUI64(netip.MustParsePrefix("fd00::/64"), m); err != nil {
				t.Fatalf("EUI64 of valid MAC %q: %v", m, err)
			}
		}
	})
}
