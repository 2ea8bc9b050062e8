package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/platform/qmp"
)

// fakeBlocks is a query-block answer: the root disk from the command line, a volume
// from the command line (named by its drive id, with a made-up node name) and a
// hot-plugged one (anonymous, named by its node).
const fakeBlocks = `[
	{"device": "drive-virtio-disk0", "qdev": "/machine/peripheral/virtio-disk0/virtio-backend",
	 "inserted": {"node-name": "#block123", "image": {"virtual-size": 1073741824}}},
	{"device": "drive-virtio-vdb", "qdev": "/machine/peripheral/virtio-vdb/virtio-backend",
	 "inserted": {"node-name": "#block456", "image": {"virtual-size": 1073741824}}},
	{"device": "", "qdev": "/machine/peripheral/virtio-vdc/virtio-backend",
	 "inserted": {"node-name": "drive-virtio-vdc", "image": {"virtual-size": 2147483648}}},
	{"device": "ide0-0-0", "qdev": "/machine/unattached/device[20]", "removable": true}
]`

// qmpCall is one command a fake monitor received.
type qmpCall struct {
	cmd  string
	args string
}

// fakeMonitor answers QMP commands like a guest with fakeBlocks and records them;
// fail makes one command answer a QMP error.
type fakeMonitor struct {
	mu    sync.Mutex
	calls []qmpCall
	fail  string
}

func (m *fakeMonitor) exec(_ context.Context, cmd string, args, result any) error {
	b, _ := json.Marshal(args)
	m.mu.Lock()
	m.calls = append(m.calls, qmpCall{cmd, string(b)})
	fail := m.fail
	m.mu.Unlock()
	if cmd == fail {
		return &qmp.Error{Class: "GenericError", Desc: "scripted failure"}
	}
	if cmd == "query-block" && result != nil {
		return json.Unmarshal([]byte(fakeBlocks), result)
	}
	return nil
}

func (m *fakeMonitor) recorded() []qmpCall {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]qmpCall(nil), m.calls...)
}

func TestGrowBlock(t *testing.T) {
	cases := []struct {
		name    string
		id      string
		size    int64
		fail    string
		wantErr string
		want    []qmpCall
	}{
		{name: "command-line volume: its made-up node", id: "virtio-vdb", size: 2 << 30,
			want: []qmpCall{{"query-block", "null"}, {"block_resize", `{"node-name":"#block456","size":2147483648}`}}},
		{name: "hot-plugged volume: its node", id: "virtio-vdc", size: 3 << 30,
			want: []qmpCall{{"query-block", "null"}, {"block_resize", `{"node-name":"drive-virtio-vdc","size":3221225472}`}}},
		{name: "already that large", id: "virtio-vdc", size: 2 << 30, want: []qmpCall{{"query-block", "null"}}},
		{name: "never shrinks", id: "virtio-vdb", size: 1 << 29, want: []qmpCall{{"query-block", "null"}}},
		{name: "unknown device", id: "virtio-vdz", size: 2 << 30, wantErr: "no block device virtio-vdz",
			want: []qmpCall{{"query-block", "null"}}},
		{name: "query fails", id: "virtio-vdb", size: 2 << 30, fail: "query-block", wantErr: "scripted failure",
			want: []qmpCall{{"query-block", "null"}}},
		{name: "resize fails", id: "virtio-vdb", size: 2 << 30, fail: "block_resize", wantErr: "scripted failure",
			want: []qmpCall{{"query-block", "null"}, {"block_resize", `{"node-name":"#block456","size":2147483648}`}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &fakeMonitor{fail: c.fail}
			err := growBlock(t.Context(), m.exec, c.id, c.size)
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("err = %v, want %q", err, c.wantErr)
			}
			if got := fmt.Sprint(m.recorded()); got != fmt.Sprint(c.want) {
				t.Fatalf("commands = %s, want %s", got, fmt.Sprint(c.want))
			}
		})
	}
}

// TestFakeGuestProcess is not a test: it is the stand-in for a running QEMU that
// TestExtendVolume starts (a process named qemu with the guest's -uuid).
func TestFakeGuestProcess(t *testing.T) {
	if os.Getenv("GOSTACK_FAKE_GUEST") != "1" {
		return
	}
	time.Sleep(2 * time.Minute)
	os.Exit(0)
}

// startFakeGuest makes the guest look running: a process the driver takes for its QEMU
// (pid file, command line) and a monitor on its QMP socket answered by m.
func startFakeGuest(t *testing.T, d *Driver, g *guest, m *fakeMonitor) {
	t.Helper()
	cmd := &exec.Cmd{Path: os.Args[0], Args: []string{"qemu-system-x86_64", "-test.run=^TestFakeGuestProcess$", "--",
		"-uuid", g.UUID}, Env: append(os.Environ(), "GOSTACK_FAKE_GUEST=1")}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if err := os.WriteFile(d.path(g.UUID, "qemu.pid"), []byte(fmt.Sprint(cmd.Process.Pid)), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for d.pid(g.UUID) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the fake guest process is not taken for a guest")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := os.MkdirAll(g.SocketDir, 0o750); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(g.SocketDir, "qmp.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ln.Close()
		d.dropClient(g.UUID)
	})
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serveMonitor(conn, m)
		}
	}()
}

// serveMonitor speaks QMP on conn: the greeting, then one answer per command.
func serveMonitor(conn net.Conn, m *fakeMonitor) {
	defer conn.Close()
	w := bufio.NewWriter(conn)
	send := func(v any) {
		b, _ := json.Marshal(v)
		w.Write(append(b, '\n'))
		w.Flush()
	}
	send(map[string]any{"QMP": map[string]any{"version": map[string]any{}, "capabilities": []string{}}})
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		var req struct {
			Execute   string          `json:"execute"`
			Arguments json.RawMessage `json:"arguments"`
			ID        any             `json:"id"`
		}
		if json.Unmarshal(line, &req) != nil {
			return
		}
		if req.Execute == "qmp_capabilities" {
			send(map[string]any{"return": map[string]any{}, "id": req.ID})
			continue
		}
		var args any
		if len(req.Arguments) > 0 {
			_ = json.Unmarshal(req.Arguments, &args)
		}
		var result json.RawMessage
		err = m.exec(context.Background(), req.Execute, args, &result)
		var qe *qmp.Error
		switch {
		case errors.As(err, &qe):
			send(map[string]any{"error": map[string]any{"class": qe.Class, "desc": qe.Desc}, "id": req.ID})
		case len(result) > 0:
			send(map[string]any{"return": result, "id": req.ID})
		default:
			send(map[string]any{"return": map[string]any{}, "id": req.ID})
		}
	}
}

func TestExtendVolume(t *testing.T) {
	d := newTestDriver(t, recorderFor(t, 64<<20))
	var _ computedriver.VolumeExtender = d
	ctx := t.Context()
	inst := testInstance(writeImage(t, qcow2Header()))
	conn := map[string]any{"driver_volume_type": "file", "data": map[string]any{"path": "/srv/volumes/v1.raw", "format": "raw"}}
	if err := d.ExtendVolume(ctx, inst, "/dev/vdd", conn, 2<<30); !errors.Is(err, computedriver.ErrNotFound) {
		t.Fatalf("extend on a missing guest: %v", err)
	}
	if err := d.Spawn(ctx, inst); err != nil {
		t.Fatal(err)
	}
	// Not running (the recorder starts nothing): attach only records the volume.
	if err := d.AttachVolume(ctx, inst, "/dev/vdd", conn); err != nil {
		t.Fatal(err)
	}
	if err := d.ExtendVolume(ctx, inst, "/dev/vdd", conn, 2<<30); err != nil {
		t.Fatalf("extend on a stopped guest: %v", err)
	}
	for _, bad := range []struct {
		device string
		size   int64
		want   string
	}{
		{"/dev/vdz", 2 << 30, "no volume at /dev/vdz"},
		{"/dev/vdb", 2 << 30, "no volume at /dev/vdb"}, // the ephemeral disk (vdb) is no volume
		{"/dev/vdd", 0, "invalid size"},
	} {
		if err := d.ExtendVolume(ctx, inst, bad.device, conn, bad.size); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("extend %s to %d: %v, want %q", bad.device, bad.size, err, bad.want)
		}
	}

	g, err := d.loadExisting(inst.UUID)
	if err != nil {
		t.Fatal(err)
	}
	m := &fakeMonitor{}
	startFakeGuest(t, d, g, m)
	if err := d.ExtendVolume(ctx, inst, "/dev/vdd", conn, 2<<30); err == nil || !strings.Contains(err.Error(), "no block device virtio-vdd") {
		t.Fatalf("extend of a volume the monitor does not show: %v", err)
	}
	m.mu.Lock()
	m.calls = nil
	m.mu.Unlock()
	// The fake monitor knows vdb and vdc; make the guest's definition match.
	g.Disks = append(g.Disks, disk{ID: "virtio-vdc", Dev: "vdc", Path: "/srv/volumes/v2.qcow2", Format: "qcow2", Bus: "virtio", Volume: true})
	if err := d.save(g); err != nil {
		t.Fatal(err)
	}
	if err := d.ExtendVolume(ctx, inst, "/dev/vdc", conn, 4<<30); err != nil {
		t.Fatal(err)
	}
	want := []qmpCall{{"query-block", "null"}, {"block_resize", `{"node-name":"drive-virtio-vdc","size":4294967296}`}}
	if got := m.recorded(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("commands = %v, want %v", got, want)
	}
	m.mu.Lock()
	m.fail = "block_resize"
	m.mu.Unlock()
	if err := d.ExtendVolume(ctx, inst, "/dev/vdc", conn, 5<<30); err == nil || !strings.Contains(err.Error(), "qemu: extend volume:") {
		t.Fatalf("failed block_resize: %v", err)
	}
}
