package qemu

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/platform"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// qcow2Header is enough of a qcow2 image for the inspector: a version 3 header of a
// 64 MiB disk with 64 KiB clusters, in four clusters.
func qcow2Header() []byte {
	b := make([]byte, 4<<16)
	be := binary.BigEndian
	copy(b, "QFI\xfb")
	be.PutUint32(b[4:], 3)         // version
	be.PutUint32(b[20:], 16)       // cluster_bits
	be.PutUint64(b[24:], 64<<20)   // size
	be.PutUint32(b[36:], 1)        // l1_size
	be.PutUint64(b[40:], 3<<16)    // l1_table_offset
	be.PutUint64(b[48:], 1<<16)    // refcount_table_offset
	be.PutUint32(b[56:], 1)        // refcount_table_clusters
	be.PutUint32(b[96:], 4)        // refcount_order
	be.PutUint32(b[100:], 104)     // header_length
	be.PutUint64(b[1<<16:], 2<<16) // refcount block
	return b
}

// recorderFor is a Recorder that answers like the host programs: the probe exits as
// isa-debug-exit makes it, qemu-img info reports virtualSize, and the files commands
// create appear.
func recorderFor(t *testing.T, virtualSize int64) *platform.Recorder {
	return &platform.Recorder{Reply: func(c platform.Command) ([]byte, error) {
		touch := func(p string) {
			if err := os.WriteFile(p, nil, 0o600); err != nil {
				t.Errorf("touch %s: %v", p, err)
			}
		}
		switch {
		case c.Name == "qemu-system-x86_64" && len(c.Args) == 1 && c.Args[0] == "--version":
			return []byte("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n"), nil
		case c.Name == "qemu-system-x86_64" && c.Args[0] == "-accel" && strings.Contains(strings.Join(c.Args, " "), "isa-debug-exit"):
			return nil, &platform.ExitError{Command: c.Name, ExitCode: 3}
		case c.Name == "qemu-img" && c.Args[0] == "info":
			return []byte(`{"virtual-size": ` + itoa(virtualSize) + `, "format": "qcow2"}`), nil
		case c.Name == "qemu-img" && (c.Args[0] == "create" || c.Args[0] == "convert"):
			for i := len(c.Args) - 1; i >= 0; i-- {
				if strings.HasPrefix(c.Args[i], "/") {
					touch(c.Args[i])
					break
				}
			}
		case c.Name == "genisoimage":
			touch(c.Args[1])
		}
		return nil, nil
	}}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// testInstance is a server with every kind of disk and one NIC.
func testInstance(imagePath string) *computedriver.Instance {
	return &computedriver.Instance{UUID: "0d6a8d8e-2b8c-4a8f-9d55-3c1f1c0e9a01", Name: "instance-0000002a", DisplayName: "web 1",
		Hostname: "web-1", ProjectID: "p1", UserID: "u1",
		Flavor: computedriver.Flavor{Name: "m1.small", VCPUs: 2, MemoryMB: 512, RootGB: 1, EphemeralGB: 1, SwapMB: 256},
		Image:  fileImage("a1b2c3d4-0000-4000-8000-000000000001", imagePath), KeyName: "k", KeyData: "ssh-ed25519 AAAA k",
		UserData: []byte("#!/bin/sh\necho hi\n"), Metadata: map[string]string{"role": "web"},
		NICs: []computedriver.NIC{{PortID: "3f0f5c3a-8b1e-4f4e-9d1a-2b2f7e6c5d4b", MACAddress: "fa:16:3e:11:22:33",
			NetworkID: "net-1", DeviceName: "tap3f0f5c3a-8b", MTU: 1450}}}
}

// normalise makes recorded commands comparable across runs.
func normalise(cmds []string, dataDir string) string {
	s := strings.Join(cmds, "\n") + "\n"
	s = strings.ReplaceAll(s, dataDir, "<DATA>")
	s = regexp.MustCompile(`\.(fetch|configdrive|probe)-[0-9]+`).ReplaceAllString(s, ".$1-N")
	return s
}

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o640); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs:\n--- want\n%s\n--- got\n%s", name, want, got)
	}
}

func newTestDriver(t *testing.T, rec platform.Runner) *Driver {
	t.Helper()
	// A short directory: the sockets then live in the instance directory.
	dir, err := os.MkdirTemp("", "gq")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d, err := New(Config{DataDir: dir, Runner: rec, Accel: "tcg"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func writeImage(t *testing.T, b []byte) string {
	p := filepath.Join(t.TempDir(), "image")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSpawnCommands(t *testing.T) {
	rec := recorderFor(t, 64<<20)
	d := newTestDriver(t, rec)
	inst := testInstance(writeImage(t, qcow2Header()))
	if err := d.Spawn(t.Context(), inst); err != nil {
		t.Fatal(err)
	}
	golden(t, "spawn.txt", normalise(rec.Commands(), d.cfg.DataDir))
	g, ok, err := d.load(inst.UUID)
	if err != nil || !ok {
		t.Fatalf("instance.json: %v %v", ok, err)
	}
	var ids []string
	for _, dk := range g.Disks {
		ids = append(ids, dk.ID+":"+dk.Dev)
	}
	if got := strings.Join(ids, " "); got != "virtio-disk0:vda virtio-disk-eph0:vdb virtio-disk-swap:vdc ide0-0-0:hda" {
		t.Errorf("disks = %s", got)
	}
	if g.Accel != "tcg" || g.NICs[0].Tap != "tap3f0f5c3a-8b" || g.MemoryMB != 512 || g.VCPUs != 2 {
		t.Errorf("guest = %+v", g)
	}
	// A second spawn of the same image does not fetch it again.
	inst2 := testInstance(inst.Image.ID)
	inst2.UUID = "0d6a8d8e-2b8c-4a8f-9d55-3c1f1c0e9a02"
	inst2.Image = &computedriver.Image{ID: inst.Image.ID, DiskFormat: "qcow2",
		Open: func(context.Context) (io.ReadCloser, error) { return nil, errors.New("fetched twice") }}
	if err := d.Spawn(t.Context(), inst2); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentSpawnsFetchOnce(t *testing.T) {
	rec := recorderFor(t, 64<<20)
	d := newTestDriver(t, rec)
	path := writeImage(t, qcow2Header())
	opens := make(chan struct{}, 10)
	errs := make(chan error, 4)
	for i := range 4 {
		inst := testInstance(path)
		inst.UUID = "0d6a8d8e-2b8c-4a8f-9d55-3c1f1c0e9a1" + itoa(int64(i))
		inst.NICs = nil
		inst.Image.Open = func(context.Context) (io.ReadCloser, error) {
			opens <- struct{}{}
			time.Sleep(50 * time.Millisecond)
			return os.Open(path)
		}
		go func() { errs <- d.Spawn(t.Context(), inst) }()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if len(opens) != 1 {
		t.Fatalf("image fetched %d times", len(opens))
	}
}

func TestBadInput(t *testing.T) {
	t.Run("image bytes are not the declared format", func(t *testing.T) {
		rec := recorderFor(t, 64<<20)
		d := newTestDriver(t, rec)
		inst := testInstance(writeImage(t, []byte("<html>not a disk</html>")))
		err := d.Spawn(t.Context(), inst)
		if !errors.Is(err, ErrImageMismatch) {
			t.Fatalf("err = %v", err)
		}
		for _, c := range rec.Commands() {
			if strings.HasPrefix(c, "qemu-img") || strings.Contains(c, "-daemonize") {
				t.Fatalf("QEMU saw the image: %s", c)
			}
		}
		if ents, _ := os.ReadDir(d.images.dir); len(ents) != 0 {
			t.Fatalf("cache keeps %d files", len(ents))
		}
	})
	t.Run("flavor smaller than the image", func(t *testing.T) {
		rec := recorderFor(t, 2<<30)
		d := newTestDriver(t, rec)
		inst := testInstance(writeImage(t, qcow2Header()))
		if err := d.Spawn(t.Context(), inst); !errors.Is(err, ErrFlavorTooSmall) {
			t.Fatalf("err = %v", err)
		}
		for _, c := range rec.Commands() {
			if strings.Contains(c, "-daemonize") {
				t.Fatal("guest started")
			}
		}
	})
	t.Run("no QEMU", func(t *testing.T) {
		d := newTestDriver(t, missing{recorderFor(t, 0)})
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if _, err := d.HostInfo(ctx); !errors.Is(err, errNoEmulator) || strings.Contains(err.Error(), "/") {
			t.Fatalf("HostInfo err = %v", err)
		}
		if err := d.Spawn(ctx, testInstance("/nonexistent")); !errors.Is(err, errNoEmulator) {
			t.Fatalf("Spawn err = %v", err)
		}
	})
	t.Run("no accelerator works", func(t *testing.T) {
		rec := &platform.Recorder{Reply: func(platform.Command) ([]byte, error) {
			return nil, &platform.ExitError{Command: "qemu-system-x86_64", ExitCode: 1, Stderr: "failed to initialize tcg"}
		}}
		d := newTestDriver(t, rec)
		if _, err := d.HostInfo(t.Context()); !errors.Is(err, errNoEmulator) {
			t.Fatalf("HostInfo err = %v", err)
		}
	})
	t.Run("invalid uuid", func(t *testing.T) {
		d := newTestDriver(t, recorderFor(t, 0))
		inst := testInstance("/x")
		inst.UUID = "../../etc"
		if err := d.Spawn(t.Context(), inst); err == nil {
			t.Fatal("spawned")
		}
		if _, err := d.Info(t.Context(), inst); err != computedriver.ErrNotFound {
			t.Fatalf("info: %v", err)
		}
	})
}

// missing is a runner on a host without QEMU.
type missing struct{ *platform.Recorder }

func (missing) LookPath(name string) (string, error) {
	return "", errors.New(name + ": not found in /usr/bin")
}

func TestHostInfo(t *testing.T) {
	d := newTestDriver(t, recorderFor(t, 0))
	hi, err := d.HostInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if hi.HypervisorType != "QEMU" || hi.HypervisorVersion != 7002022 || hi.VCPUs < 1 || hi.MemoryMB < 1 {
		t.Fatalf("host info = %+v", hi)
	}
	var cpu map[string]any
	if err := json.Unmarshal([]byte(hi.CPUInfo), &cpu); err != nil || cpu["accelerator"] != "tcg" || cpu["arch"] == "" {
		t.Fatalf("cpu_info = %s (%v)", hi.CPUInfo, err)
	}
	if len(hi.Traits) == 0 {
		t.Fatal("no traits")
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]int64{
		"QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright": 7002022,
		"QEMU emulator version 9.1.0": 9001000, "QEMU emulator version 8.2": 8002000,
	} {
		if got, err := parseVersion(in); err != nil || got != want {
			t.Errorf("parseVersion(%q) = %d, %v", in, got, err)
		}
	}
	if _, err := parseVersion("garbage"); err == nil {
		t.Error("garbage parsed")
	}
}

func TestProbeSector(t *testing.T) {
	b := probeSectorBytes()
	if len(b) != 512 || b[510] != 0x55 || b[511] != 0xaa || !bytes.HasPrefix(b, []byte{0xfa, 0x31, 0xc0}) {
		t.Fatal("not a boot sector")
	}
	// The gate for int 0x20 points at the iret, in the flat code segment.
	if b[0x3d] != 0xcf || b[0x15e] != 0x3d || b[0x15f] != 0x7c || b[0x160] != 0x08 {
		t.Fatal("interrupt gate does not point at the handler")
	}
}

func TestConsoleOutputAndRotation(t *testing.T) {
	d := newTestDriver(t, recorderFor(t, 0))
	d.cfg.ConsoleLogMax = 64
	inst := &computedriver.Instance{UUID: "0d6a8d8e-2b8c-4a8f-9d55-3c1f1c0e9a03"}
	if _, err := d.ConsoleOutput(t.Context(), inst, 0); err != computedriver.ErrNotFound {
		t.Fatalf("unknown instance: %v", err)
	}
	if err := os.MkdirAll(d.instanceDir(inst.UUID), 0o750); err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for i := range 30 {
		line := "line " + itoa(int64(i)) + "\r\n"
		all.WriteString(line)
		f, err := os.OpenFile(d.path(inst.UUID, "console.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(line)
		f.Close()
		if err := d.rotateConsole(inst.UUID); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := os.Stat(d.path(inst.UUID, "console.log"))
	if st.Size() > 64 {
		t.Fatalf("console.log is %d bytes", st.Size())
	}
	out, err := d.ConsoleOutput(t.Context(), inst, 3)
	if err != nil {
		t.Fatal(err)
	}
	if out != "line 27\nline 28\nline 29\n" {
		t.Fatalf("last 3 lines = %q", out)
	}
	full, _ := d.ConsoleOutput(t.Context(), inst, 0)
	if strings.Contains(full, "line 0\n") || !strings.HasSuffix(full, "line 29\n") || strings.Contains(full, "\r") {
		t.Fatalf("kept output = %q", full)
	}
}

// A log far past the limit (a chatty guest between two rotations) keeps only its newest
// ConsoleLogMax bytes, and Housekeep rotates every guest's log.
func TestHousekeepRotatesLargeLog(t *testing.T) {
	d := newTestDriver(t, recorderFor(t, 0))
	d.cfg.ConsoleLogMax = 1 << 10
	uuid := "0d6a8d8e-2b8c-4a8f-9d55-3c1f1c0e9a04"
	if err := os.MkdirAll(d.instanceDir(uuid), 0o750); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), 8<<20)
	big = append(big, "the end\n"...)
	if err := os.WriteFile(d.path(uuid, "console.log"), big, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Housekeep(t.Context()); err != nil {
		t.Fatal(err)
	}
	rotated, _ := os.ReadFile(d.path(uuid, "console.log.0"))
	cur, _ := os.Stat(d.path(uuid, "console.log"))
	if len(rotated) != 1<<10 || !bytes.HasSuffix(rotated, []byte("the end\n")) || cur.Size() != 0 {
		t.Fatalf("rotated %d bytes (suffix %q), current %d", len(rotated), rotated[max(0, len(rotated)-8):], cur.Size())
	}
}

func TestLastLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc\n"}, {"a\nb\nc", 2, "b\nc"}, {"a\nb\n", 5, "a\nb\n"}, {"a\r\n\x00b\n", 0, "a\nb\n"}, {"", 3, ""},
	} {
		if got := lastLines([]byte(tc.in), tc.n); got != tc.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestConfigDriveContent(t *testing.T) {
	inst := testInstance("/x")
	seed := bytes.Repeat([]byte{7}, 512)
	files, err := configDriveFiles(inst, seed)
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	if err := json.Unmarshal(files["openstack/latest/meta_data.json"], &md); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"uuid": inst.UUID, "name": "web 1", "hostname": "web-1.novalocal", "project_id": "p1",
		"launch_index": 0.0, "availability_zone": ""} {
		if md[k] != want {
			t.Errorf("meta_data %s = %v, want %v", k, md[k], want)
		}
	}
	if pk, _ := md["public_keys"].(map[string]any); pk["k"] != "ssh-ed25519 AAAA k" {
		t.Errorf("public_keys = %v", md["public_keys"])
	}
	if keys, _ := md["keys"].([]any); len(keys) != 1 || keys[0].(map[string]any)["type"] != "ssh" {
		t.Errorf("keys = %v", md["keys"])
	}
	if m, _ := md["meta"].(map[string]any); m["role"] != "web" {
		t.Errorf("meta = %v", md["meta"])
	}
	if string(files["openstack/latest/user_data"]) != "#!/bin/sh\necho hi\n" || string(files["ec2/latest/user-data"]) != "#!/bin/sh\necho hi\n" {
		t.Error("user data missing")
	}
	var nd struct {
		Links []map[string]any `json:"links"`
	}
	if err := json.Unmarshal(files["openstack/latest/network_data.json"], &nd); err != nil || len(nd.Links) != 1 ||
		nd.Links[0]["ethernet_mac_address"] != "fa:16:3e:11:22:33" || nd.Links[0]["mtu"] != 1450.0 {
		t.Errorf("network_data = %s", files["openstack/latest/network_data.json"])
	}
	// Version gating: the first version has neither project_id nor vendor data.
	var old map[string]any
	_ = json.Unmarshal(files["openstack/2012-08-10/meta_data.json"], &old)
	if _, ok := old["project_id"]; ok {
		t.Error("project_id in 2012-08-10")
	}
	if _, ok := old["random_seed"]; ok {
		t.Error("random_seed in 2012-08-10")
	}
	// dedicated_cpus from 2020-10-14 (Victoria) on, as Nova has it.
	var latest, rocky map[string]any
	_ = json.Unmarshal(files["openstack/latest/meta_data.json"], &latest)
	_ = json.Unmarshal(files["openstack/2018-08-27/meta_data.json"], &rocky)
	if cpus, ok := latest["dedicated_cpus"].([]any); !ok || len(cpus) != 0 {
		t.Errorf("latest dedicated_cpus = %v", latest["dedicated_cpus"])
	}
	if _, ok := rocky["dedicated_cpus"]; ok {
		t.Error("dedicated_cpus in 2018-08-27")
	}
	if _, ok := files["openstack/2012-08-10/vendor_data.json"]; ok {
		t.Error("vendor_data.json in 2012-08-10")
	}
	for _, f := range []string{"openstack/latest/vendor_data.json", "openstack/latest/vendor_data2.json",
		"openstack/2016-10-06/vendor_data2.json", "ec2/2009-04-04/meta-data.json"} {
		if _, ok := files[f]; !ok {
			t.Errorf("%s missing", f)
		}
	}
	var ec2 map[string]any
	_ = json.Unmarshal(files["ec2/latest/meta-data.json"], &ec2)
	if ec2["instance-id"] != "i-0000002a" || ec2["hostname"] != "web-1.novalocal" {
		t.Errorf("ec2 = %v", ec2)
	}
	// No NICs (--network none): an empty but valid network_data.json.
	inst.NICs = nil
	files, _ = configDriveFiles(inst, nil)
	if string(files["openstack/latest/network_data.json"]) != `{"links":[],"networks":[],"services":[]}` {
		t.Errorf("network_data = %s", files["openstack/latest/network_data.json"])
	}
}

func TestArgvStates(t *testing.T) {
	d := newTestDriver(t, recorderFor(t, 0))
	base := func() *guest {
		g := d.newGuest(testInstance("/x"), "kvm")
		return g
	}
	for _, tc := range []struct {
		name      string
		mutate    func(g *guest)
		want, not []string
	}{
		{name: "kvm", want: []string{"-accel kvm", "-cpu host", "-daemonize", "-uuid 0d6a8d8e-2b8c-4a8f-9d55-3c1f1c0e9a01",
			"-smbios type=1,manufacturer=OpenStack Foundation,product=OpenStack Nova,serial=0d6a8d8e-2b8c-4a8f-9d55-3c1f1c0e9a01,uuid=0d6a8d8e-2b8c-4a8f-9d55-3c1f1c0e9a01,family=Virtual Machine"},
			not: []string{"-incoming"}},
		{name: "tcg", mutate: func(g *guest) { g.Accel = "tcg" }, want: []string{"-accel tcg"}, not: []string{"-cpu host"}},
		{name: "suspended", mutate: func(g *guest) { g.Suspended = true },
			want: []string{"-incoming exec:cat '" + d.path("0d6a8d8e-2b8c-4a8f-9d55-3c1f1c0e9a01", "state.save") + "'"}},
		{name: "volume", mutate: func(g *guest) {
			dk, _ := volumeDisk(computedriver.BlockDevice{DeviceName: "/dev/vdd", Connection: map[string]any{"path": "/v/a,b", "format": "qcow2"}})
			g.Disks = insertBeforeConfig(g.Disks, dk)
		}, want: []string{"-drive file=/v/a,,b,format=qcow2,if=none,id=drive-virtio-vdd -device virtio-blk-pci,drive=drive-virtio-vdd,id=virtio-vdd -drive file=" +
			d.path("0d6a8d8e-2b8c-4a8f-9d55-3c1f1c0e9a01", "disk.config")}},
		{name: "boot from volume", mutate: func(g *guest) {
			inst := testInstance("/x")
			inst.Image = nil
			inst.BlockDevices = []computedriver.BlockDevice{{DeviceName: "/dev/vda", BootIndex: 0,
				Connection: map[string]any{"path": "/v/root", "format": "raw"}}}
			*g = *d.newGuest(inst, "tcg")
		}, want: []string{"-drive file=/v/root,format=raw,if=none,id=drive-virtio-vda -device virtio-blk-pci,drive=drive-virtio-vda,id=virtio-vda,bootindex=1"},
			not: []string{"virtio-disk0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := base()
			if tc.mutate != nil {
				tc.mutate(g)
			}
			line := strings.Join(d.argv(g), " ")
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("argv lacks %q:\n%s", w, line)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(line, n) {
					t.Errorf("argv has %q:\n%s", n, line)
				}
			}
		})
	}
}
