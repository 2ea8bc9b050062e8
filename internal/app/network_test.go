package app

import (
	"net/netip"
	"testing"
)

func TestPickCIDRAvoidsHostNetworks(t *testing.T) {
	p := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
	tests := []struct {
		name       string
		configured string
		host       []netip.Prefix
		want       string
	}{
		{"default", "", []netip.Prefix{p("192.168.1.0/24")}, "172.24.4.0/24"},
		{"host uses the default", "", []netip.Prefix{p("172.24.4.0/24")}, "172.24.5.0/24"},
		{"host covers several", "", []netip.Prefix{p("172.24.0.0/16")}, "172.31.250.0/24"},
		{"configured wins", "198.51.100.0/24", []netip.Prefix{p("198.51.100.0/24")}, "198.51.100.0/24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pickCIDR(tt.configured, publicCIDRCandidates, tt.host); got != tt.want {
				t.Errorf("pickCIDR = %s, want %s", got, tt.want)
			}
		})
	}
}
