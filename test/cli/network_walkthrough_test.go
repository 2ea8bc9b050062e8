package cli_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/gostack/gostack/internal/testkit"
)

// TestNetworkWalkthrough follows the networking walkthrough of issue 5 with the
// unmodified openstack CLI: a network and subnet with Neutron's default pool and gateway,
// a router joined to it and to the public network, a floating IP on a server, a security
// group with ICMP and SSH rules, IP availability, agents and the port commands; and a
// member of another project sees none of it.
func TestNetworkWalkthrough(t *testing.T) {
	t.Parallel()
	c := computeCloud(t, 1)
	uploadTinyImage(t, c, "testvm")
	demo := osJSON[row](t, c, "gostack-admin", "project", "show", "demo")

	net := osJSON[row](t, c, "gostack", "network", "create", "intnet")
	sub := osJSON[row](t, c, "gostack", "subnet", "create", "subnet1", "--subnet-range", "10.5.5.0/24",
		"--dns-nameserver", "8.8.8.8", "--network", "intnet")
	if pools := str(sub, "allocation_pools"); str(sub, "gateway_ip") != "10.5.5.1" ||
		!strings.Contains(pools, `"start":"10.5.5.2"`) || !strings.Contains(pools, `"end":"10.5.5.254"`) {
		t.Fatalf("subnet create: gateway %q pools %q", str(sub, "gateway_ip"), str(sub, "allocation_pools"))
	}
	osJSON[row](t, c, "gostack", "router", "create", "R2")
	osRun(t, c, "gostack", "router", "add", "subnet", "R2", "subnet1")
	osRun(t, c, "gostack", "router", "set", "--external-gateway", "public", "R2")
	r2 := osJSON[row](t, c, "gostack", "router", "show", "R2")
	if !strings.Contains(str(r2, "external_gateway_info"), "enable_snat") {
		t.Fatalf("router show: %v", r2)
	}
	fip := osJSON[row](t, c, "gostack", "floating", "ip", "create", "public")
	addr := str(fip, "floating_ip_address")
	if a, err := netip.ParseAddr(addr); err != nil || !a.Is4() {
		t.Fatalf("floating ip create: %v", fip)
	}

	s := osJSON[server](t, c, "gostack", "server", "create", "--flavor", "m1.tiny", "--image", "testvm",
		"--network", "intnet", "--wait", "fipvm")
	if s.Status != "ACTIVE" {
		t.Fatalf("server create: %s (%v)", s.Status, s.Fault)
	}
	osRun(t, c, "gostack", "server", "add", "floating", "ip", s.ID, addr)
	shown := osJSON[row](t, c, "gostack", "floating", "ip", "show", addr)
	if str(shown, "port_id") == "" || !strings.HasPrefix(str(shown, "fixed_ip_address"), "10.5.5.") {
		t.Fatalf("floating ip after server add: %v", shown)
	}

	osJSON[row](t, c, "gostack", "security", "group", "create", "allow-icmp-ssh", "--project", str(demo, "id"))
	osJSON[row](t, c, "gostack", "security", "group", "rule", "create", "--remote-ip", "0.0.0.0/0",
		"--protocol", "icmp", "allow-icmp-ssh")
	osJSON[row](t, c, "gostack", "security", "group", "rule", "create", "--remote-ip", "0.0.0.0/0",
		"--protocol", "tcp", "--dst-port", "22", "allow-icmp-ssh")
	if names := column(osJSON[[]row](t, c, "gostack", "security", "group", "list"), "Name"); !contains(names, "allow-icmp-ssh") || !contains(names, "default") {
		t.Fatalf("security group list: %v", names)
	}
	rules := osJSON[[]row](t, c, "gostack", "security", "group", "rule", "list", "allow-icmp-ssh")
	if len(rules) != 4 { // two egress rules of a new group, icmp, tcp 22
		t.Fatalf("security group rule list: %v", rules)
	}
	_, err := c.OpenStack(t, "gostack", "security", "group", "rule", "create", "--remote-ip", "0.0.0.0/0",
		"--protocol", "tcp", "--dst-port", "22", "allow-icmp-ssh")
	wantSDKError(t, err, 409, "duplicate rule")

	avail := osJSON[[]row](t, c, "gostack-admin", "ip", "availability", "list")
	if !contains(column(avail, "Network Name"), "intnet") {
		t.Fatalf("ip availability list: %v", avail)
	}
	agents := column(osJSON[[]row](t, c, "gostack-admin", "network", "agent", "list"), "Agent Type")
	for _, want := range []string{"DHCP agent", "L3 agent", "Metadata agent"} {
		if !contains(agents, want) {
			t.Errorf("network agent list %v lacks %s", agents, want)
		}
	}

	p := osJSON[row](t, c, "gostack", "port", "create", "--network", "intnet", "--fixed-ip", "subnet=subnet1,ip-address=10.5.5.50", "p1")
	if !strings.Contains(str(p, "fixed_ips"), "10.5.5.50") || !strings.HasPrefix(str(p, "mac_address"), "fa:16:3e:") {
		t.Fatalf("port create: %v", p)
	}
	if ids := column(osJSON[[]row](t, c, "gostack", "port", "list", "--network", "intnet"), "ID"); !contains(ids, str(p, "id")) {
		t.Fatalf("port list: %v", ids)
	}
	osRun(t, c, "gostack", "port", "set", "--name", "p1-renamed", "p1")
	if got := osJSON[row](t, c, "gostack", "port", "show", str(p, "id")); str(got, "name") != "p1-renamed" {
		t.Fatalf("port show after set: %v", got)
	}
	_, err = c.OpenStack(t, "gostack", "port", "create", "--network", "intnet", "--fixed-ip", "subnet=subnet1,ip-address=10.5.5.50", "p2")
	wantSDKError(t, err, 409, "port with an address in use")
	osRun(t, c, "gostack", "port", "delete", str(p, "id"))

	// Another project sees none of it.
	for _, cmd := range [][]string{{"network", "show", str(net, "id")}, {"router", "show", "R2"},
		{"security", "group", "show", "allow-icmp-ssh"}} {
		if _, err := c.OpenStack(t, "gostack-alt", cmd...); err == nil {
			t.Errorf("alt_demo: %v succeeded", cmd)
		}
	}
	_, err = c.OpenStack(t, "gostack", "network", "delete", "intnet")
	wantSDKError(t, err, 409, "delete a network with ports in use")
}

// TestPortCreatesOnAFullSubnet sends 100 concurrent port creates to a subnet with 12 free
// addresses through the real process: exactly 12 succeed, the others fail with
// IpAddressGenerationFailure, and no address is given twice.
func TestPortCreatesOnAFullSubnet(t *testing.T) {
	t.Parallel()
	c := computeCloud(t, 1)
	netw := osJSON[row](t, c, "gostack", "network", "create", "small")
	// A /28 has 14 host addresses; the gateway takes one; the pool holds the 12 others.
	osJSON[row](t, c, "gostack", "subnet", "create", "small-v4", "--subnet-range", "10.9.9.0/28",
		"--allocation-pool", "start=10.9.9.2,end=10.9.9.13", "--network", "small")
	tok := c.PasswordToken(t, "demo", c.DemoPassword, "demo")
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		codes = map[int]int{}
		seen  = map[string]int{}
		types = map[string]int{}
	)
	sem := make(chan struct{}, 25)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			code, _, b := c.Request(t, "POST", "/networking/v2.0/ports", map[string]string{"X-Auth-Token": tok},
				map[string]any{"port": map[string]any{"network_id": str(netw, "id"), "name": fmt.Sprintf("p%d", i)}})
			var out struct {
				Port struct {
					FixedIPs []struct {
						IP string `json:"ip_address"`
					} `json:"fixed_ips"`
				} `json:"port"`
				Err struct{ Type string } `json:"NeutronError"`
			}
			_ = json.Unmarshal(b, &out)
			mu.Lock()
			defer mu.Unlock()
			codes[code]++
			for _, f := range out.Port.FixedIPs {
				seen[f.IP]++
			}
			if out.Err.Type != "" {
				types[out.Err.Type]++
			}
		}()
	}
	wg.Wait()
	if codes[201] != 12 || codes[409] != 88 || types["IpAddressGenerationFailure"] != 88 {
		t.Fatalf("100 port creates on 12 free addresses: status %v, errors %v", codes, types)
	}
	for ip, n := range seen {
		if n != 1 {
			t.Errorf("address %s given %d times", ip, n)
		}
	}
}

// wantSDKError checks that err is a CLI failure reporting HTTP status code the way the
// openstacksdk-based commands do ("ConflictException: 409: Client Error ...") or the
// older clients do ("(HTTP 409)").
func wantSDKError(t *testing.T, err error, code int, what string) {
	t.Helper()
	var ce *testkit.CLIError
	if !errors.As(err, &ce) {
		t.Errorf("%s: %v, want a CLI failure with HTTP %d", what, err, code)
		return
	}
	if !strings.Contains(ce.Stderr, fmt.Sprintf(": %d: ", code)) && !strings.Contains(ce.Stderr, fmt.Sprintf(": %d, ", code)) &&
		!strings.Contains(ce.Stderr, fmt.Sprintf("(HTTP %d)", code)) {
		t.Errorf("%s: failed without HTTP %d in stderr: %s", what, code, ce.Stderr)
	}
}
