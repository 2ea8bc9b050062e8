package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/testkit"
)

// The QEMU tests follow issue 7's walkthrough with the openstack CLI against gostack
// running real guests (the test image, images/testvm) under the QEMU driver: a server
// through its lifecycle with its console, a snapshot that boots, and guests that keep
// running while gostack is killed and restarted. They skip where QEMU, root or the test
// image are missing.

// qemuCloud starts gostack with the QEMU driver (power states synced every 5 s) and
// uploads the test image as "testvm".
func qemuCloud(t *testing.T) *testkit.Cloud {
	t.Helper()
	if testing.Short() {
		t.Skip("boots real guests: skipped in -short mode")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 is not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("the QEMU driver tests run as root")
	}
	root, err := filepath.Abs("../../images/testvm/build.sh")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, root).Output()
	if err != nil {
		t.Skipf("the test image cannot be built here: %v", err)
	}
	image := strings.TrimSpace(string(out))
	c := start(t, testkit.WithFile("gostack.toml", "[compute]\ndriver = 'qemu'\nsync_power_state_interval = '5s'\n"))
	osRun(t, c, "gostack-admin", "image", "create", "--public", "--disk-format", "qcow2", "--container-format", "bare",
		"--min-ram", "128", "--file", image, "testvm")
	waitHypervisor(t, c)
	return c
}

// waitHypervisor waits until the host registered (after its accelerator probe, which
// takes a few seconds where KVM is present but broken).
func waitHypervisor(t *testing.T, c *testkit.Cloud) []row {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		hvs := osJSON[[]row](t, c, "gostack-admin", "hypervisor", "list")
		if len(hvs) > 0 || time.Now().After(deadline) {
			return hvs
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitStatusWithin is waitStatus with a bound of its own.
func waitStatusWithin(t *testing.T, c *testkit.Cloud, id, status string, within time.Duration) server {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := osJSON[server](t, c, "gostack", "server", "show", id)
		if s.Status == status {
			return s
		}
		if s.Status == "ERROR" || time.Now().After(deadline) {
			t.Fatalf("server %s is %s (fault %v), want %s\n%s", id, s.Status, s.Fault, status, c.LogTail(30))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// consoleLog is `console log show`.
func consoleLog(t *testing.T, c *testkit.Cloud, id string) string {
	t.Helper()
	return osRun(t, c, "gostack", "console", "log", "show", id)
}

// waitConsoleCount waits until the console shows want at least n times.
func waitConsoleCount(t *testing.T, c *testkit.Cloud, id, want string, n int, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out := consoleLog(t, c, id)
		if strings.Count(out, want) >= n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("console of %s shows %q %d times after %s, want %d:\n%s", id, want, strings.Count(out, want), within, n,
				lastN(out, 30))
		}
		time.Sleep(time.Second)
	}
}

// lastN is the last n lines of s.
func lastN(s string, n int) string {
	l := strings.Split(s, "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// guestPID is the PID of a server's QEMU process (0: none).
func guestPID(c *testkit.Cloud, id string) int { return testkit.GuestPIDs(c.DataDir)[id] }

// pidAlive reports whether a process exists and has not exited (a zombie not reaped
// yet has an empty command line).
func pidAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return pid > 0 && err == nil && len(b) > 0
}

const testPublicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBq0nS6c9sVJk3t3N1bX9kq4dWm0m2i6X3y3d0c1o8Zr gostack-test"

func TestQEMUWalkthrough(t *testing.T) {
	t.Parallel()
	c := qemuCloud(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "k.pub")
	script := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(key, []byte(testPublicKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"user-data says $((6*7))\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	osRun(t, c, "gostack", "keypair", "create", "--public-key", key, "k")

	hvs := waitHypervisor(t, c)
	if len(hvs) != 1 || str(hvs[0], "Hypervisor Type") != "QEMU" {
		t.Fatalf("hypervisor list: %v", hvs)
	}
	hv := osJSON[row](t, c, "gostack-admin", "hypervisor", "show", str(hvs[0], "ID"))
	if str(hv, "hypervisor_type") != "QEMU" || str(hv, "hypervisor_version") == "" {
		t.Errorf("hypervisor show: %v", hv)
	}
	// The CLI shows cpu_info only before microversion 2.88; the API has the accelerator.
	tok := c.PasswordToken(t, "admin", c.AdminPassword, "admin")
	code, _, body := c.Request(t, "GET", "/compute/v2.1/os-hypervisors/"+str(hvs[0], "ID"),
		map[string]string{"X-Auth-Token": tok, "OpenStack-API-Version": "compute 2.53"}, nil)
	var got struct {
		Hypervisor struct {
			CPUInfo struct {
				Accelerator string `json:"accelerator"`
			} `json:"cpu_info"`
		} `json:"hypervisor"`
	}
	if err := json.Unmarshal(body, &got); code != 200 || err != nil || (got.Hypervisor.CPUInfo.Accelerator != "tcg" &&
		got.Hypervisor.CPUInfo.Accelerator != "kvm") {
		t.Errorf("GET os-hypervisors: %d %s", code, body)
	}

	t0 := time.Now()
	s := osJSON[server](t, c, "gostack", "server", "create", "--flavor", "m1.tiny", "--image", "testvm", "--network", "none",
		"--key-name", "k", "--user-data", script, "--wait", "vm1")
	if s.Status != "ACTIVE" {
		t.Fatalf("server create --wait: %+v", s)
	}
	active := time.Since(t0)
	out := waitConsoleCount(t, c, s.ID, "testvm vm1.novalocal up", 1, 3*time.Minute)
	t.Logf("create → ACTIVE %s (CLI included), → banner %s", active.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	if !strings.Contains(out, "user-data says 42") {
		t.Errorf("console lacks the user-data output:\n%s", lastN(out, 30))
	}
	if !strings.Contains(out, "1 ssh key(s) for root") {
		t.Errorf("console does not show the injected key:\n%s", lastN(out, 30))
	}
	if tail := osRun(t, c, "gostack", "console", "log", "show", "--lines", "3", s.ID); strings.Count(strings.TrimRight(tail, "\n"), "\n") > 2 {
		t.Errorf("console log show --lines 3: %q", tail)
	}
	pid := guestPID(c, s.ID)
	if pid == 0 {
		t.Fatal("no QEMU process for the server")
	}

	osRun(t, c, "gostack", "server", "stop", s.ID)
	waitStatusWithin(t, c, s.ID, "SHUTOFF", 90*time.Second)
	if pidAlive(pid) || guestPID(c, s.ID) != 0 {
		t.Fatalf("QEMU process %d still runs after stop", pid)
	}
	osRun(t, c, "gostack", "server", "start", s.ID)
	waitStatusWithin(t, c, s.ID, "ACTIVE", time.Minute)
	// The guest handles ACPI once booted: wait for its second banner before a soft reboot.
	waitConsoleCount(t, c, s.ID, "testvm vm1.novalocal up", 2, 3*time.Minute)
	pid = guestPID(c, s.ID)
	osRun(t, c, "gostack", "server", "reboot", "--wait", s.ID)
	waitStatusWithin(t, c, s.ID, "ACTIVE", time.Minute)
	if p := guestPID(c, s.ID); p == 0 || p == pid {
		t.Errorf("soft reboot: QEMU pid %d → %d", pid, p)
	}
	osRun(t, c, "gostack", "server", "reboot", "--hard", "--wait", s.ID)
	waitStatusWithin(t, c, s.ID, "ACTIVE", time.Minute)
	osRun(t, c, "gostack", "server", "pause", s.ID)
	waitStatusWithin(t, c, s.ID, "PAUSED", time.Minute)
	osRun(t, c, "gostack", "server", "unpause", s.ID)
	waitStatusWithin(t, c, s.ID, "ACTIVE", time.Minute)
	// Suspend saves the guest's state to disk and ends its process; resume restores it.
	osRun(t, c, "gostack", "server", "suspend", s.ID)
	waitStatusWithin(t, c, s.ID, "SUSPENDED", time.Minute)
	if p := guestPID(c, s.ID); p != 0 {
		t.Errorf("QEMU process %d runs while suspended", p)
	}
	osRun(t, c, "gostack", "server", "resume", s.ID)
	waitStatusWithin(t, c, s.ID, "ACTIVE", time.Minute)

	// A snapshot boots as a server of its own.
	img := osJSON[row](t, c, "gostack", "server", "image", "create", "--name", "snap1", "--wait", s.ID)
	if st := str(osJSON[row](t, c, "gostack", "image", "show", str(img, "id")), "status"); st != "active" {
		t.Fatalf("snapshot image is %s", st)
	}
	// Its flavor has an ephemeral disk (formatted vfat, labelled ephemeral0, as Nova
	// does for an image without os_type) and a swap disk.
	osRun(t, c, "gostack-admin", "flavor", "create", "--ram", "256", "--disk", "1", "--ephemeral", "1", "--swap", "64",
		"--vcpus", "1", "m1.eph")
	s2 := osJSON[server](t, c, "gostack", "server", "create", "--flavor", "m1.eph", "--image", "snap1", "--network", "none",
		"--wait", "vm2")
	if s2.Status != "ACTIVE" {
		t.Fatalf("server from the snapshot: %+v", s2)
	}
	for disk, want := range map[string]string{"disk.eph0": "LABEL=ephemeral0", "disk.swap": "TYPE=swap"} {
		if got := diskSignature(t, filepath.Join(c.DataDir, "instances", s2.ID, disk)); !strings.Contains(got, want) {
			t.Errorf("%s: blkid says %q, want %s", disk, got, want)
		}
	}

	osRun(t, c, "gostack", "server", "delete", "--wait", s.ID)
	if pid := guestPID(c, s.ID); pid != 0 {
		t.Errorf("QEMU process %d left after delete", pid)
	}
	if _, err := os.Stat(filepath.Join(c.DataDir, "instances", s.ID)); !os.IsNotExist(err) {
		t.Errorf("instance files left after delete: %v", err)
	}
	waitConsoleCount(t, c, s2.ID, "testvm vm2.novalocal up", 1, 3*time.Minute)
	// Shelve (offloaded at once): the guest and its files go; unshelve boots it again.
	osRun(t, c, "gostack", "server", "shelve", s2.ID)
	waitStatusWithin(t, c, s2.ID, "SHELVED_OFFLOADED", 2*time.Minute)
	if _, err := os.Stat(filepath.Join(c.DataDir, "instances", s2.ID)); !os.IsNotExist(err) {
		t.Errorf("instance files left after shelve: %v", err)
	}
	osRun(t, c, "gostack", "server", "unshelve", s2.ID)
	waitStatusWithin(t, c, s2.ID, "ACTIVE", 2*time.Minute)
	if guestPID(c, s2.ID) == 0 {
		t.Error("no QEMU process after unshelve")
	}
	osRun(t, c, "gostack", "server", "delete", "--wait", s2.ID)
	if ents, _ := os.ReadDir(filepath.Join(c.DataDir, "instances")); len(ents) == 0 {
		t.Error("the image cache went with the servers")
	}
}

func TestQEMUGuestsSurviveKill(t *testing.T) {
	t.Parallel()
	c := qemuCloud(t)
	script := filepath.Join(t.TempDir(), "tick.sh")
	// A guest that keeps writing to its console shows that it ran while gostack was down.
	if err := os.WriteFile(script, []byte("#!/bin/sh\n(n=0; while :; do n=$((n+1)); echo \"tick $n\"; sleep 1; done) &\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := osJSON[server](t, c, "gostack", "server", "create", "--flavor", "m1.tiny", "--image", "testvm", "--network", "none",
		"--user-data", script, "--min", "3", "--max", "3", "--wait", "g")
	_ = s
	var ids []string
	for _, r := range osJSON[[]row](t, c, "gostack", "server", "list") {
		ids = append(ids, str(r, "ID"))
	}
	if len(ids) != 3 {
		t.Fatalf("servers: %v", ids)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			waitStatusWithin(t, c, id, "ACTIVE", 2*time.Minute)
			waitConsoleCount(t, c, id, "tick 1\n", 1, 3*time.Minute)
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	before := testkit.GuestPIDs(c.DataDir)
	if len(before) != 3 {
		t.Fatalf("guest processes: %v", before)
	}
	c.Kill()
	time.Sleep(3 * time.Second)
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	after := testkit.GuestPIDs(c.DataDir)
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("guest PIDs changed across the restart: %v → %v", before, after)
	}
	for _, id := range ids {
		if st := osJSON[server](t, c, "gostack", "server", "show", id).Status; st != "ACTIVE" {
			t.Errorf("server %s is %s after the restart", id, st)
		}
		out := consoleLog(t, c, id)
		last := lastTick(out)
		time.Sleep(2 * time.Second)
		if lastTick(consoleLog(t, c, id)) <= last {
			t.Errorf("console of %s stopped at tick %d", id, last)
		}
	}

	// A guest killed behind gostack's back is SHUTOFF within the sync interval (5 s).
	victim := ids[0]
	if err := syscall.Kill(before[victim], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitStatusWithin(t, c, victim, "SHUTOFF", 20*time.Second)
	for _, id := range ids[1:] {
		if p := guestPID(c, id); p != before[id] {
			t.Errorf("guest %s: pid %d → %d", id, before[id], p)
		}
	}
}

// lastTick is the highest "tick n" on a console.
func lastTick(out string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		var k int
		if _, err := fmt.Sscanf(strings.TrimSpace(l), "tick %d", &k); err == nil && k > n {
			n = k
		}
	}
	return n
}

// diskSignature is what blkid finds on a guest disk (qcow2 or raw), read through a
// raw copy.
func diskSignature(t *testing.T, path string) string {
	t.Helper()
	raw := filepath.Join(t.TempDir(), "disk.raw")
	if out, err := exec.Command("qemu-img", "convert", "-U", "-O", "raw", path, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert %s: %v: %s", path, err, out)
	}
	out, _ := exec.Command("blkid", "-o", "export", raw).Output()
	return string(out)
}
