package cli_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/testkit"
)

// The compute tests follow the walkthrough of issue 4 with the unmodified openstack CLI
// against gostack running two simulated (fake driver) hosts: flavors (and Nova's policy
// refusal for members), keypairs, a server through its whole lifecycle, a snapshot, server
// events, anti-affinity on two hosts, a flavor no host can hold, hypervisors, aggregates
// and zones, compute services and quotas.

// computeCloud starts gostack with n fake compute hosts.
func computeCloud(t *testing.T, hosts int) *testkit.Cloud {
	return start(t, testkit.WithFile("gostack.toml", fmt.Sprintf("[compute]\ndriver = 'fake'\nfake_hosts = %d\n", hosts)))
}

// server is the part of "server show -f json" the tests read.
type server struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
	Fault  any    `json:"fault"`
	Host   string `json:"OS-EXT-SRV-ATTR:host"`
}

// waitStatus polls "server show" until the server has status (or ERROR), for at most a
// minute, and returns the last view.
func waitStatus(t *testing.T, c *testkit.Cloud, cloud, id, status string) server {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		s := osJSON[server](t, c, cloud, "server", "show", id)
		if s.Status == status {
			return s
		}
		if s.Status == "ERROR" || time.Now().After(deadline) {
			t.Fatalf("server %s is %s (fault %v), want %s", id, s.Status, s.Fault, status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// uploadTinyImage creates a public raw image named name as the admin and returns its id.
func uploadTinyImage(t *testing.T, c *testkit.Cloud, name string) string {
	t.Helper()
	f := t.TempDir() + "/tiny.raw"
	if err := writeZeros(f, 1<<20); err != nil {
		t.Fatal(err)
	}
	img := osJSON[row](t, c, "gostack-admin", "image", "create", "--public", "--disk-format", "raw",
		"--container-format", "bare", "--file", f, name)
	return str(img, "id")
}

func TestComputeWalkthrough(t *testing.T) {
	t.Parallel()
	c := computeCloud(t, 2)
	imageID := uploadTinyImage(t, c, "testvm")

	t.Run("flavors", func(t *testing.T) {
		f := osJSON[row](t, c, "gostack-admin", "flavor", "create", "--disk", "1", "--ram", "768", "--id", "20", "newflavor")
		if str(f, "id") != "20" || str(f, "ram") != "768" || str(f, "disk") != "1" || str(f, "name") != "newflavor" {
			t.Fatalf("flavor create: %v", f)
		}
		// The CLI creates flavors through openstacksdk, which reports "HttpException: 403: ..."
		// rather than "(HTTP 403)".
		_, err := c.OpenStack(t, "gostack", "flavor", "create", "--disk", "1", "--ram", "768", "--id", "21", "demoflavor")
		var ce *testkit.CLIError
		if !errors.As(err, &ce) || !strings.Contains(ce.Stderr, "403") ||
			!strings.Contains(ce.Stderr, "Policy doesn't allow os_compute_api:os-flavor-manage:create to be performed.") {
			t.Errorf("flavor create as demo: %v, want a 403 with Nova's policy message", err)
		}
		names := column(osJSON[[]row](t, c, "gostack", "flavor", "list"), "Name")
		for _, want := range []string{"m1.tiny", "m1.small", "newflavor"} {
			if !contains(names, want) {
				t.Errorf("flavor list %v lacks %s", names, want)
			}
		}
		if s := osJSON[row](t, c, "gostack", "flavor", "show", "m1.tiny"); str(s, "vcpus") != "1" || str(s, "ram") != "512" {
			t.Errorf("flavor show m1.tiny: %v", s)
		}
		osRun(t, c, "gostack-admin", "flavor", "delete", "newflavor")
		if names := column(osJSON[[]row](t, c, "gostack", "flavor", "list"), "Name"); contains(names, "newflavor") {
			t.Errorf("newflavor still listed after delete")
		}
	})

	// Before any server exists: Nova refuses to move hosts with instances between zones.
	t.Run("hypervisors aggregates zones services", func(t *testing.T) {
		hvs := osJSON[[]row](t, c, "gostack-admin", "hypervisor", "list")
		if len(hvs) != 2 {
			t.Fatalf("hypervisor list: %v", hvs)
		}
		hv := osJSON[row](t, c, "gostack-admin", "hypervisor", "show", str(hvs[0], "ID"))
		if str(hv, "state") != "up" || str(hv, "status") != "enabled" {
			t.Errorf("hypervisor show: %v", hv)
		}
		// The statistics API exists until microversion 2.87, as in Nova.
		stats := osJSON[row](t, c, "gostack-admin", "--os-compute-api-version", "2.87", "hypervisor", "stats", "show")
		if str(stats, "count") != "2" {
			t.Errorf("hypervisor stats show: %v", stats)
		}
		osRun(t, c, "gostack-admin", "aggregate", "create", "agg1")
		osRun(t, c, "gostack-admin", "aggregate", "add", "host", "agg1", "fake-host-1")
		osRun(t, c, "gostack-admin", "aggregate", "set", "--zone", "az1", "agg1")
		agg := osJSON[row](t, c, "gostack-admin", "aggregate", "show", "agg1")
		if str(agg, "availability_zone") != "az1" || !strings.Contains(str(agg, "hosts"), "fake-host-1") {
			t.Errorf("aggregate show: %v", agg)
		}
		zones := column(osJSON[[]row](t, c, "gostack", "availability", "zone", "list", "--compute"), "Zone Name")
		if !contains(zones, "az1") || !contains(zones, "nova") {
			t.Errorf("availability zone list: %v", zones)
		}
		svcs := osJSON[[]row](t, c, "gostack-admin", "compute", "service", "list", "--service", "nova-compute")
		if len(svcs) != 2 {
			t.Fatalf("compute service list: %v", svcs)
		}
		osRun(t, c, "gostack-admin", "compute", "service", "set", "--disable", "--disable-reason", "maintenance",
			"fake-host-2", "nova-compute")
		for _, s := range osJSON[[]row](t, c, "gostack-admin", "compute", "service", "list", "--service", "nova-compute", "--long") {
			if str(s, "Host") == "fake-host-2" && (str(s, "Status") != "disabled" || str(s, "Disabled Reason") != "maintenance") {
				t.Errorf("disabled service: %v", s)
			}
		}
		osRun(t, c, "gostack-admin", "compute", "service", "set", "--enable", "fake-host-2", "nova-compute")
	})

	// Before the other servers: Nova refuses a limit below what is in use.
	t.Run("quotas", func(t *testing.T) {
		// With networking in the catalog "quota show" also asks Neutron, whose get_quota
		// default (admin or project manager) refuses a member, as upstream; a member reads
		// its compute quotas from the absolute limits.
		lim := map[string]string{}
		for _, l := range osJSON[[]row](t, c, "gostack", "limits", "show", "--absolute") {
			lim[str(l, "Name")] = str(l, "Value")
		}
		if lim["maxTotalInstances"] != "10" || lim["maxTotalCores"] != "20" {
			t.Errorf("limits show --absolute: %v", lim)
		}
		osRun(t, c, "gostack-admin", "quota", "set", "--instances", "1", "demo")
		got := osJSON[row](t, c, "gostack-admin", "quota", "show", "demo")
		if str(got, "instances") != "1" {
			t.Errorf("quota show after set: %v", got)
		}
		s := osJSON[server](t, c, "gostack", "server", "create", "--flavor", "m1.tiny", "--image", "testvm",
			"--network", "none", "--wait", "q1")
		_, err := c.OpenStack(t, "gostack", "server", "create", "--flavor", "m1.tiny", "--image", "testvm",
			"--network", "none", "q2")
		wantHTTPError(t, err, 403, "server create over quota")
		osRun(t, c, "gostack", "server", "delete", "--wait", s.ID)
		osRun(t, c, "gostack-admin", "quota", "set", "--instances", "10", "demo")
	})

	t.Run("server lifecycle", func(t *testing.T) {
		// keypair create prints the generated private key itself.
		if key := osRun(t, c, "gostack", "keypair", "create", "k"); !strings.Contains(key, "PRIVATE KEY") {
			t.Fatalf("keypair create returned no private key: %q", key)
		}
		if names := column(osJSON[[]row](t, c, "gostack", "keypair", "list"), "Name"); !contains(names, "k") {
			t.Fatalf("keypair list: %v", names)
		}
		s := osJSON[server](t, c, "gostack", "server", "create", "--flavor", "m1.tiny", "--image", "testvm",
			"--network", "none", "--key-name", "k", "--wait", "vm1")
		if s.Status != "ACTIVE" {
			t.Fatalf("server create --wait: status %s", s.Status)
		}
		if ids := column(osJSON[[]row](t, c, "gostack", "server", "list"), "ID"); !contains(ids, s.ID) {
			t.Fatalf("server list %v lacks %s", ids, s.ID)
		}
		show := osJSON[row](t, c, "gostack", "server", "show", s.ID)
		if str(show, "key_name") != "k" || !strings.Contains(str(show, "image"), imageID) {
			t.Errorf("server show: %v", show)
		}
		for _, step := range []struct{ verb, status string }{
			{"stop", "SHUTOFF"}, {"start", "ACTIVE"}, {"reboot", "ACTIVE"}, {"pause", "PAUSED"},
			{"unpause", "ACTIVE"}, {"suspend", "SUSPENDED"}, {"resume", "ACTIVE"},
		} {
			osRun(t, c, "gostack", "server", step.verb, s.ID)
			waitStatus(t, c, "gostack", s.ID, step.status)
		}
		_, err := c.OpenStack(t, "gostack", "server", "start", s.ID)
		wantHTTPError(t, err, 409, "start an active server")

		img := osJSON[row](t, c, "gostack", "server", "image", "create", "--name", "vm1-snap", "--wait", s.ID)
		if str(img, "status") != "active" {
			t.Errorf("server image create --wait: %v", img)
		}
		events := column(osJSON[[]row](t, c, "gostack", "server", "event", "list", s.ID), "Action")
		for _, want := range []string{"create", "stop", "start", "reboot", "pause", "createImage"} {
			if !contains(events, want) {
				t.Errorf("server event list %v lacks %s", events, want)
			}
		}
		osRun(t, c, "gostack", "server", "delete", "--wait", s.ID)
		if ids := column(osJSON[[]row](t, c, "gostack", "server", "list"), "ID"); contains(ids, s.ID) {
			t.Errorf("server %s still listed after delete", s.ID)
		}
		osRun(t, c, "gostack", "keypair", "delete", "k")
	})

	t.Run("anti-affinity on two hosts", func(t *testing.T) {
		g := osJSON[row](t, c, "gostack", "server", "group", "create", "--policy", "anti-affinity", "apart")
		var hosts []string
		for i := 1; i <= 3; i++ {
			s := osJSON[server](t, c, "gostack", "server", "create", "--flavor", "m1.tiny", "--image", "testvm",
				"--network", "none", "--hint", "group="+str(g, "id"), fmt.Sprintf("apart-%d", i))
			deadline := time.Now().Add(time.Minute)
			for {
				s = osJSON[server](t, c, "gostack-admin", "server", "show", s.ID)
				if s.Status != "BUILD" || time.Now().After(deadline) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			if i < 3 {
				if s.Status != "ACTIVE" {
					t.Fatalf("server %d: %s (%v)", i, s.Status, s.Fault)
				}
				if contains(hosts, s.Host) {
					t.Fatalf("server %d landed on %s beside another group member", i, s.Host)
				}
				hosts = append(hosts, s.Host)
				continue
			}
			if s.Status != "ERROR" || !strings.Contains(fmt.Sprint(s.Fault), "No valid host was found") {
				t.Fatalf("third group member: %s, fault %v; want ERROR with No valid host", s.Status, s.Fault)
			}
		}
	})

	t.Run("flavor larger than every host", func(t *testing.T) {
		// Each fake host has 32 GiB (48 GiB with the 1.5 RAM allocation ratio, less 512 MiB
		// reserved); 50,000 MiB fits none but stays inside the default ram quota (51,200).
		osRun(t, c, "gostack-admin", "flavor", "create", "--ram", "50000", "--disk", "1", "--vcpus", "1", "huge")
		s := osJSON[server](t, c, "gostack-admin", "server", "create", "--flavor", "huge", "--image", "testvm",
			"--network", "none", "too-big")
		deadline := time.Now().Add(time.Minute)
		for s.Status != "ERROR" && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
			s = osJSON[server](t, c, "gostack-admin", "server", "show", s.ID)
		}
		if s.Status != "ERROR" || !strings.Contains(fmt.Sprint(s.Fault), "No valid host was found") {
			t.Fatalf("server with a huge flavor: %s, fault %v", s.Status, s.Fault)
		}
	})
}

// TestComputeConcurrentCreatesRespectQuota sends 200 concurrent creates with an instances
// quota of 10: exactly 10 are accepted.
func TestComputeConcurrentCreatesRespectQuota(t *testing.T) {
	t.Parallel()
	c := computeCloud(t, 2)
	uploadTinyImage(t, c, "testvm")
	osRun(t, c, "gostack-admin", "quota", "set", "--instances", "10", "--cores", "1000", "--ram", "10000000", "demo")
	tok := c.PasswordToken(t, "demo", c.DemoPassword, "demo")
	img := osJSON[[]row](t, c, "gostack", "image", "list", "--name", "testvm")
	body := map[string]any{"server": map[string]any{"name": "q", "imageRef": str(img[0], "ID"), "flavorRef": "42", "networks": "none"}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	sem := make(chan struct{}, 50)
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			code, _, _ := c.Request(t, "POST", "/compute/v2.1/servers",
				map[string]string{"X-Auth-Token": tok, "OpenStack-API-Version": "compute 2.37"}, body)
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[202] != 10 || codes[403] != 190 {
		t.Fatalf("200 concurrent creates with a quota of 10: %v, want 10×202 and 190×403", codes)
	}
}

// writeZeros writes a file of n zero bytes.
func writeZeros(path string, n int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f.Truncate(n); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
