package cli_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/testkit"
)

// The manage walkthrough: unmanage a volume and a snapshot, list what the file backend
// holds, and manage them back, with the CLIs users have. python-openstackclient 6.0
// (Debian 12) manages snapshots ("volume snapshot create --remote-source"), but has no
// volume manage or unmanage and no snapshot unmanage (later releases add "volume create
// --remote-source" and "volume delete --remote"), so those go through the cinder CLI,
// which the same Debian release ships (python3-cinderclient).

// cinder runs the cinder CLI as the admin of the cloud at microversion 3.8 and returns
// its stdout; the test skips when the CLI is not installed.
func cinder(t *testing.T, c *testkit.Cloud, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("cinder")
	if err != nil {
		t.Skip("the cinder CLI is not installed (apt-get install python3-cinderclient)")
	}
	vars, err := c.OpenRC("admin")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--os-volume-api-version", "3.8"}, args...)...)
	cmd.Env = testkit.CleanEnv()
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("cinder %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	t.Logf("$ cinder %s", strings.Join(args, " "))
	return stdout.String()
}

// waitGone polls "<kind> show id" until the CLI says it does not exist.
func waitGone(t *testing.T, c *testkit.Cloud, kind []string, id string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := c.OpenStack(t, "gostack-admin", append(append(kind, "show"), id)...); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s still exists", strings.Join(kind, " "), id)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestVolumeManageWalkthrough(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img is not installed (scripts/deps installs qemu-utils)")
	}
	if _, err := exec.LookPath("cinder"); err != nil {
		t.Skip("the cinder CLI is not installed (apt-get install python3-cinderclient)")
	}
	c := start(t, testkit.WithFile("gostack.toml", "[compute]\ndriver = 'fake'\nfake_hosts = 1\n"))
	admin := "gostack-admin"
	vol := []string{"volume"}
	snap := []string{"volume", "snapshot"}

	v := osJSON[row](t, c, admin, "volume", "create", "--size", "1", "--property", "k=v", "orig")
	orig := str(v, "id")
	v = waitField(t, c, admin, vol, orig, "status", "available")
	host := str(v, "os-vol-host-attr:host")
	file := volumeFile(t, c, orig)

	cinder(t, c, "unmanage", orig)
	waitGone(t, c, vol, orig)
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("unmanage removed the volume's file: %v", err)
	}
	if out := cinder(t, c, "manageable-list", host); !strings.Contains(out, "volume-"+orig) {
		t.Fatalf("manageable-list lacks volume-%s:\n%s", orig, out)
	}

	cinder(t, c, "manage", "--id-type", "source-name", "--name", "managed", host, "volume-"+orig)
	var managed string
	for _, r := range osJSON[[]row](t, c, admin, "volume", "list", "--all-projects") {
		if str(r, "Name") == "managed" {
			managed = str(r, "ID")
		}
	}
	if managed == "" {
		t.Fatal("volume list has no volume named managed")
	}
	v = waitField(t, c, admin, vol, managed, "status", "available")
	if str(v, "size") != "1" || str(v, "os-vol-host-attr:host") != host {
		t.Errorf("managed volume: %v", v)
	}
	if _, err := os.Stat(file); err == nil {
		t.Error("the old file name is still there")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(file), strings.Replace(filepath.Base(file), orig, managed, 1))); err != nil {
		t.Errorf("the volume's file was not renamed after the new id: %v", err)
	}

	// Snapshots: unmanage with the cinder CLI, manage back with the openstack CLI.
	s := osJSON[row](t, c, admin, "volume", "snapshot", "create", "--volume", managed, "snap1")
	sid := str(s, "id")
	waitField(t, c, admin, snap, sid, "status", "available")
	cinder(t, c, "snapshot-unmanage", sid)
	waitGone(t, c, snap, sid)
	if out := cinder(t, c, "snapshot-manageable-list", host); !strings.Contains(out, "snapshot-"+sid) {
		t.Fatalf("snapshot-manageable-list lacks snapshot-%s:\n%s", sid, out)
	}
	s = osJSON[row](t, c, admin, "volume", "snapshot", "create", "--volume", managed,
		"--remote-source", "source-name=snapshot-"+sid, "snap2")
	s = waitField(t, c, admin, snap, str(s, "id"), "status", "available")
	if str(s, "name") != "snap2" || str(s, "size") != "1" {
		t.Errorf("managed snapshot: %v", s)
	}

	// A reference naming nothing: the volume goes to error_managing and can be deleted.
	cinder(t, c, "manage", "--name", "nothing", host, "volume-does-not-exist")
	var bad string
	for _, r := range osJSON[[]row](t, c, admin, "volume", "list", "--all-projects") {
		if str(r, "Name") == "nothing" {
			bad = str(r, "ID")
		}
	}
	deadline := time.Now().Add(time.Minute)
	for str(osJSON[row](t, c, admin, "volume", "show", bad), "status") != "error_managing" {
		if time.Now().After(deadline) {
			t.Fatal("a manage of nothing did not end in error_managing")
		}
		time.Sleep(200 * time.Millisecond)
	}
	osRun(t, c, admin, "volume", "delete", bad)
	waitGone(t, c, vol, bad)
}
