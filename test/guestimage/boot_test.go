// Package guestimage_test boots the testvm guest image (images/testvm) under
// qemu-system-x86_64 with TCG, as a black box: it builds (or reuses) the image with
// images/testvm/build.sh, boots a copy-on-write overlay of it with user-mode networking (no
// host networking), and reads the serial console.
//
//   - TestBootConfigDrive: a config drive (ISO 9660, label config-2) gives the hostname, an
//     ssh key and a user-data script; the console must show the banner with that hostname
//     and the script's output. Then, over a loopback port forwarded to the guest's port 22:
//     ssh with the injected key (hostname must match), ssh as root with the documented
//     password, and a clean power-off on the ACPI power button (QMP system_powerdown).
//   - TestBootMetadataService: no config drive; the same data comes from an HTTP metadata
//     service at 169.254.169.254 (served by this test through QEMU's guestfwd), once in the
//     OpenStack format and once in the EC2 format.
//
// Skipped under -short, and with the reason when QEMU, genisoimage or the image's build
// prerequisites are missing (unless $GOSTACK_REQUIRE_GUESTIMAGE is set, which turns a skip
// into a failure). $GOSTACK_GUESTIMAGE_TIMEOUT (a Go duration, default 120s) bounds each
// boot; $GOSTACK_GUESTIMAGE_ACCEL (default tcg) picks the QEMU accelerator.
package guestimage_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// proxyEnv makes the test binary a stdio<->TCP relay: QEMU's guestfwd "cmd:" runs it once
// per guest connection to 169.254.169.254:80 and it carries the bytes to the test's HTTP
// server on the loopback address in the variable.
const proxyEnv = "GUESTIMAGE_METADATA_PROXY"

func TestMain(m *testing.M) {
	if addr := os.Getenv(proxyEnv); addr != "" {
		os.Exit(relay(addr))
	}
	os.Exit(m.Run())
}

func relay(addr string) int {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		return 1
	}
	done := make(chan struct{})
	go func() {
		io.Copy(os.Stdout, c)
		close(done)
	}()
	io.Copy(c, os.Stdin)
	c.(*net.TCPConn).CloseWrite()
	<-done
	return 0
}

// bannerRE matches the line rcS prints last: "testvm <hostname> up: <addresses>".
var bannerRE = regexp.MustCompile(`(?m)^testvm (\S+) up: (.*?)\r?$`)

func bootTimeout() time.Duration {
	if s := os.Getenv("GOSTACK_GUESTIMAGE_TIMEOUT"); s != "" {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			return d
		}
	}
	return 120 * time.Second
}

func skip(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("GOSTACK_REQUIRE_GUESTIMAGE") != "" {
		t.Fatalf("GOSTACK_REQUIRE_GUESTIMAGE is set but: "+format, args...)
	}
	t.Skipf(format, args...)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

var (
	imageOnce sync.Once
	imagePath string
	imageSkip string
	imageErr  error
)

// image returns the path of the testvm qcow2, building it the first time (build.sh reuses
// its cache when the inputs have not changed).
func image(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("boots a VM under TCG; skipped with -short")
	}
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img", "genisoimage"} {
		if _, err := exec.LookPath(tool); err != nil {
			skip(t, "%s is not installed (as root: apt-get install qemu-system-x86 qemu-utils genisoimage)", tool)
		}
	}
	imageOnce.Do(func() {
		script := filepath.Join(repoRoot(t), "images", "testvm", "build.sh")
		var out bytes.Buffer
		check := exec.Command(script, "--check")
		check.Stdout, check.Stderr = &out, &out
		if err := check.Run(); err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.ExitCode() == 2 {
				imageSkip = "cannot build the test image here: " + strings.TrimSpace(out.String())
				return
			}
			imageErr = fmt.Errorf("%s --check: %v\n%s", script, err, out.String())
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		var stdout, stderr bytes.Buffer
		build := exec.CommandContext(ctx, script)
		build.Stdout, build.Stderr = &stdout, &stderr
		start := time.Now()
		if err := build.Run(); err != nil {
			imageErr = fmt.Errorf("%s: %v\n%s", script, err, stderr.String())
			return
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		imagePath = lines[len(lines)-1]
		t.Logf("image %s (build.sh took %s)", imagePath, time.Since(start).Round(time.Millisecond))
	})
	if imageSkip != "" {
		skip(t, "%s", imageSkip)
	}
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return imagePath
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// instance is what the guest should learn from its metadata.
type instance struct {
	hostname string
	marker   string // printed by the user-data script, computed so that only running it prints it
	userData string
	keyFile  string // private key; its public half is in the metadata
	pubKey   string
	uuid     string
}

func newInstance(t *testing.T, dir string) instance {
	t.Helper()
	id := randomHex(t, 4)
	in := instance{
		hostname: "guest-" + id,
		marker:   "userdata-marker-42-" + id,
		userData: "#!/bin/sh\necho \"userdata-marker-$((6 * 7))-" + id + "\"\n",
		keyFile:  filepath.Join(dir, "id_ed25519"),
		uuid:     "6f1b5c1e-0000-4000-8000-0000" + randomHex(t, 4),
	}
	if _, err := exec.LookPath("ssh-keygen"); err == nil {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "guestimage-test", "-f", in.keyFile).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		pub, err := os.ReadFile(in.keyFile + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		in.pubKey = strings.TrimSpace(string(pub))
	} else {
		// No ssh tools: a well-formed key nobody will use; the ssh checks are skipped.
		in.keyFile = ""
		in.pubKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmKcB6hN6CVdWgXDN8dR1uL6S0b3RNqIcqj0vUZ0b0x unused"
	}
	return in
}

// openstackMetaData is meta_data.json as Nova writes it (the fields the guest reads, and
// some it must ignore).
func (in instance) openstackMetaData() []byte {
	b, _ := json.Marshal(map[string]any{
		"uuid":              in.uuid,
		"name":              in.hostname,
		"hostname":          in.hostname,
		"launch_index":      0,
		"availability_zone": "nova",
		"project_id":        "f7ac731cc11f40efbc03a9f9e1d1d21f",
		"meta":              map[string]string{"role": "test \"quoted\" \\ value"},
		"public_keys":       map[string]string{"testkey": in.pubKey + "\n"},
		"keys":              []map[string]string{{"name": "testkey", "type": "ssh", "data": in.pubKey + "\n"}},
		"devices":           []any{},
	})
	return b
}

type vm struct {
	t       *testing.T
	cmd     *exec.Cmd
	console string
	qmp     string
	sshPort int
	started time.Time
	exited  chan struct{}
	waitErr error
}

type bootOptions struct {
	configDrive string   // ISO to attach as an IDE CD-ROM, as Nova does
	netdevExtra string   // appended to -netdev user,...
	env         []string // extra environment for QEMU (and so for guestfwd commands)
}

func boot(t *testing.T, img string, opt bootOptions) *vm {
	t.Helper()
	dir := t.TempDir()
	overlay := filepath.Join(dir, "disk.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", img, overlay).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v\n%s", err, out)
	}
	v := &vm{
		t:       t,
		console: filepath.Join(dir, "console.log"),
		qmp:     filepath.Join(dir, "qmp.sock"),
		sshPort: freeLoopbackPort(t),
		exited:  make(chan struct{}),
	}
	accel := os.Getenv("GOSTACK_GUESTIMAGE_ACCEL")
	if accel == "" {
		accel = "tcg"
	}
	args := []string{
		"-accel", accel, "-m", "256", "-nographic", "-no-reboot",
		"-serial", "file:" + v.console,
		"-monitor", "none",
		"-qmp", "unix:" + v.qmp + ",server=on,wait=off",
		"-drive", "file=" + overlay + ",if=virtio,format=qcow2",
		"-netdev", fmt.Sprintf("user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:22%s", v.sshPort, opt.netdevExtra),
		"-device", "virtio-net-pci,netdev=n0",
	}
	if opt.configDrive != "" {
		args = append(args, "-drive", "file="+opt.configDrive+",media=cdrom,format=raw,readonly=on")
	}
	v.cmd = exec.Command("qemu-system-x86_64", args...)
	v.cmd.Env = append(os.Environ(), opt.env...)
	qemuLog, err := os.Create(filepath.Join(dir, "qemu.log"))
	if err != nil {
		t.Fatal(err)
	}
	v.cmd.Stdout, v.cmd.Stderr = qemuLog, qemuLog
	if err := v.cmd.Start(); err != nil {
		t.Fatalf("qemu-system-x86_64: %v", err)
	}
	v.started = time.Now()
	go func() {
		v.waitErr = v.cmd.Wait()
		qemuLog.Close()
		close(v.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-v.exited:
		default:
			v.cmd.Process.Kill() // by PID: this QEMU and nothing else
			<-v.exited
		}
		if t.Failed() {
			t.Logf("QEMU: %s", readTail(filepath.Join(dir, "qemu.log"), 2000))
			t.Logf("serial console (tail):\n%s", readTail(v.console, 6000))
		}
	})
	return v
}

func readTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// waitConsole waits until every pattern matches the console output and returns the
// submatches of the first one.
func (v *vm) waitConsole(timeout time.Duration, patterns ...*regexp.Regexp) []string {
	v.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(v.console)
		var first []string
		all := true
		for i, re := range patterns {
			m := re.FindStringSubmatch(string(b))
			if m == nil {
				all = false
				break
			}
			if i == 0 {
				first = m
			}
		}
		if all {
			return first
		}
		select {
		case <-v.exited:
			v.t.Fatalf("QEMU exited (%v) before the console showed %v", v.waitErr, patterns)
		default:
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("after %s the console does not show %v", timeout, patterns)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitBanner waits for the banner and the user-data marker and checks the hostname.
func (v *vm) waitBanner(in instance) []string {
	v.t.Helper()
	m := v.waitConsole(bootTimeout(), bannerRE, regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(in.marker)+`\r?$`))
	v.t.Logf("boot to banner: %s (%q)", time.Since(v.started).Round(100*time.Millisecond), m[0])
	if m[1] != in.hostname {
		v.t.Errorf("banner hostname %q, want %q", m[1], in.hostname)
	}
	if m[2] == "none" || m[2] == "" {
		v.t.Errorf("banner shows no address: %q", m[0])
	}
	return m
}

// ssh runs a command in the guest over the forwarded loopback port, retrying while the
// connection is refused or reset (slirp and dropbear may need a moment).
func (v *vm) ssh(in instance, extraEnv []string, opts []string, command string) (string, error) {
	args := []string{
		"-F", "/dev/null", "-p", fmt.Sprint(v.sshPort),
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", "-o", "IdentityAgent=none",
	}
	args = append(args, opts...)
	args = append(args, "root@127.0.0.1", command)
	var out []byte
	var err error
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, "ssh", args...)
		cmd.Env = append(os.Environ(), extraEnv...)
		cmd.Stdin = nil
		out, err = cmd.CombinedOutput()
		cancel()
		if err == nil || time.Now().After(deadline) ||
			!bytes.Contains(out, []byte("Connection refused")) && !bytes.Contains(out, []byte("reset")) &&
				!bytes.Contains(out, []byte("closed by remote host")) {
			return strings.TrimSpace(string(out)), err
		}
		time.Sleep(time.Second)
	}
}

func (v *vm) checkSSH(t *testing.T, in instance) {
	t.Run("ssh-key", func(t *testing.T) {
		if in.keyFile == "" {
			t.Skip("ssh-keygen/ssh not installed (openssh-client)")
		}
		if _, err := exec.LookPath("ssh"); err != nil {
			t.Skip("ssh not installed (openssh-client)")
		}
		out, err := v.ssh(in, nil, []string{"-i", in.keyFile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
			"-o", "PreferredAuthentications=publickey"}, "hostname")
		if err != nil {
			t.Fatalf("ssh with the injected key: %v\n%s", err, out)
		}
		if out != in.hostname {
			t.Errorf("ssh hostname: %q, want %q", out, in.hostname)
		}
	})
}

// qmp sends one command on the QMP socket.
func (v *vm) qmpCommand(command string) error {
	c, err := net.DialTimeout("unix", v.qmp, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	if _, err := r.ReadBytes('\n'); err != nil { // greeting
		return err
	}
	for _, cmd := range []string{"qmp_capabilities", command} {
		if _, err := fmt.Fprintf(c, `{"execute": %q}`+"\n", cmd); err != nil {
			return err
		}
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return err
			}
			var resp map[string]json.RawMessage
			if json.Unmarshal(line, &resp) != nil {
				continue
			}
			if e, ok := resp["error"]; ok {
				return fmt.Errorf("%s: %s", cmd, e)
			}
			if _, ok := resp["return"]; ok {
				break
			}
		}
	}
	return nil
}

func TestBootConfigDrive(t *testing.T) {
	img := image(t)
	t.Parallel()
	dir := t.TempDir()
	in := newInstance(t, dir)

	cd := filepath.Join(dir, "configdrive")
	latest := filepath.Join(cd, "openstack", "latest")
	if err := os.MkdirAll(latest, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"meta_data.json":    in.openstackMetaData(),
		"user_data":         []byte(in.userData),
		"network_data.json": []byte(`{"links": [], "networks": [], "services": []}`),
		"vendor_data.json":  []byte(`{}`),
	} {
		if err := os.WriteFile(filepath.Join(latest, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	iso := filepath.Join(dir, "configdrive.iso")
	// The options Nova uses for its config drive.
	if out, err := exec.Command("genisoimage", "-o", iso, "-ldots", "-allow-lowercase", "-allow-multidot", "-l",
		"-publisher", "gostack test", "-quiet", "-J", "-r", "-V", "config-2", cd).CombinedOutput(); err != nil {
		t.Fatalf("genisoimage: %v\n%s", err, out)
	}

	v := boot(t, img, bootOptions{configDrive: iso})
	v.waitBanner(in)
	v.waitConsole(5*time.Second, regexp.MustCompile(`testvm: datasource: configdrive /dev/sr0`))

	v.checkSSH(t, in)
	t.Run("ssh-password", func(t *testing.T) {
		if _, err := exec.LookPath("ssh"); err != nil {
			t.Skip("ssh not installed (openssh-client)")
		}
		askpass := filepath.Join(dir, "askpass")
		if err := os.WriteFile(askpass, []byte("#!/bin/sh\necho gostack\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := v.ssh(in, []string{"SSH_ASKPASS=" + askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=none"},
			[]string{"-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password",
				"-o", "NumberOfPasswordPrompts=1"}, "echo password-login; cat /run/testvm/metadata/user_data | head -n 1")
		if err != nil {
			t.Fatalf("ssh root with password gostack: %v\n%s", err, out)
		}
		if want := "password-login\n#!/bin/sh"; out != want {
			t.Errorf("ssh output %q, want %q", out, want)
		}
	})
	t.Run("acpi-poweroff", func(t *testing.T) {
		if err := v.qmpCommand("system_powerdown"); err != nil {
			t.Fatalf("QMP system_powerdown: %v", err)
		}
		select {
		case <-v.exited:
		case <-time.After(60 * time.Second):
			t.Fatal("the guest did not power off within 60s of the ACPI power button")
		}
		b, _ := os.ReadFile(v.console)
		if !bytes.Contains(b, []byte("testvm "+in.hostname+" going down")) {
			t.Errorf("the console does not show the shutdown message")
		}
	})
}

func TestBootMetadataService(t *testing.T) {
	img := image(t)
	t.Parallel()
	for _, format := range []string{"openstack", "ec2"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			in := newInstance(t, dir)

			var mu sync.Mutex
			var served []string
			mux := http.NewServeMux()
			mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
				body, ok := "", false
				switch format {
				case "openstack":
					switch r.URL.Path {
					case "/openstack/latest/meta_data.json":
						body, ok = string(in.openstackMetaData()), true
					case "/openstack/latest/user_data":
						body, ok = in.userData, true
					}
				case "ec2":
					switch r.URL.Path {
					case "/latest/meta-data/instance-id":
						body, ok = "i-"+in.uuid[len(in.uuid)-8:], true
					case "/latest/meta-data/hostname":
						body, ok = in.hostname, true
					case "/latest/meta-data/public-keys/":
						body, ok = "0=testkey", true
					case "/latest/meta-data/public-keys/0/openssh-key":
						body, ok = in.pubKey+"\n", true
					case "/latest/user-data":
						body, ok = in.userData, true
					}
				}
				mu.Lock()
				served = append(served, fmt.Sprintf("%s %v", r.URL.Path, ok))
				mu.Unlock()
				if !ok {
					http.NotFound(w, r)
					return
				}
				io.WriteString(w, body)
			})
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: mux}
			go srv.Serve(l)
			t.Cleanup(func() { srv.Close() })

			self, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			if strings.ContainsAny(self, ", ") {
				t.Skipf("test binary path %q cannot go in a QEMU option", self)
			}
			// The guest network is 169.254.0.0/16 so that 169.254.169.254 is inside it, as
			// slirp requires of a guestfwd address; each connection runs this binary as a relay.
			v := boot(t, img, bootOptions{
				netdevExtra: ",net=169.254.0.0/16,guestfwd=tcp:169.254.169.254:80-cmd:" + self,
				env:         []string{proxyEnv + "=" + l.Addr().String()},
			})
			v.waitBanner(in)
			v.waitConsole(5*time.Second, regexp.MustCompile(`testvm: datasource: `+format+` http://169\.254\.169\.254`))
			v.checkSSH(t, in)
			mu.Lock()
			t.Logf("metadata requests: %s", strings.Join(served, ", "))
			mu.Unlock()
		})
	}
}
