package cli_test

import (
	"net/netip"
	"strings"
	"testing"
)

// TestNetworkServers checks networking in `gostack up` with the unmodified CLI: the
// DevStack topology (public, private) exists, a server on private gets an address from
// its subnet shown by server show and port list, deleting it frees the port, and a
// restart on the same data directory creates no second topology.
func TestNetworkServers(t *testing.T) {
	t.Parallel()
	c := computeCloud(t, 1)
	uploadTinyImage(t, c, "testvm")

	names := column(osJSON[[]row](t, c, "gostack-admin", "network", "list"), "Name")
	if !contains(names, "public") || !contains(names, "private") {
		t.Fatalf("network list: %v, want public and private", names)
	}
	var subnetCIDR string
	for _, sn := range osJSON[[]row](t, c, "gostack", "subnet", "list", "--network", "private") {
		if p, err := netip.ParsePrefix(str(sn, "Subnet")); err == nil && p.Addr().Is4() {
			subnetCIDR = str(sn, "Subnet")
		}
	}
	if subnetCIDR == "" {
		t.Fatalf("private has no IPv4 subnet")
	}
	prefix := netip.MustParsePrefix(subnetCIDR)

	s := osJSON[server](t, c, "gostack", "server", "create", "--flavor", "m1.tiny", "--image", "testvm",
		"--network", "private", "--wait", "netvm")
	if s.Status != "ACTIVE" {
		t.Fatalf("server create: %s (%v)", s.Status, s.Fault)
	}
	show := osJSON[row](t, c, "gostack", "server", "show", s.ID)
	addrs := str(show, "addresses")
	if !strings.Contains(addrs, "private") {
		t.Fatalf("server show addresses: %q", addrs)
	}
	ports := osJSON[[]row](t, c, "gostack", "port", "list", "--server", s.ID)
	if len(ports) != 1 {
		t.Fatalf("port list --server: %v", ports)
	}
	var portIP string
	for _, f := range strings.FieldsFunc(str(ports[0], "Fixed IP Addresses"), func(r rune) bool {
		return strings.ContainsRune(" ,'\"{}[]=:", r)
	}) {
		if a, err := netip.ParseAddr(f); err == nil && a.Is4() {
			portIP = f
		}
	}
	if portIP == "" || !prefix.Contains(netip.MustParseAddr(portIP)) || !strings.Contains(addrs, portIP) {
		t.Fatalf("port address %q (in %s) not shown by server show %q", portIP, subnetCIDR, addrs)
	}
	portID := str(ports[0], "ID")
	// The port is bound to the simulated host, whose (fake) network agent wires it.
	if st := str(ports[0], "Status"); st != "ACTIVE" {
		t.Errorf("port status %q, want ACTIVE", st)
	}

	osRun(t, c, "gostack", "server", "delete", "--wait", s.ID)
	for _, p := range osJSON[[]row](t, c, "gostack", "port", "list", "--network", "private") {
		if str(p, "ID") == portID {
			t.Fatalf("port %s still exists after server delete", portID)
		}
	}

	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	nets := osJSON[[]row](t, c, "gostack-admin", "network", "list")
	if len(nets) != 2 {
		t.Fatalf("network list after restart: %v, want public and private once", nets)
	}
}
