package fake

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	compute "github.com/gostack/gostack/internal/driver/compute"
)

// handshake runs the client side of an RFB handshake at version ("003.003", "003.007",
// "003.008") and returns the server's desktop name.
func handshake(t *testing.T, c io.ReadWriter, version string) string {
	t.Helper()
	var greet [12]byte
	if _, err := io.ReadFull(c, greet[:]); err != nil {
		t.Fatal(err)
	}
	if string(greet[:]) != "RFB 003.008\n" {
		t.Fatalf("greeting %q", greet)
	}
	if _, err := io.WriteString(c, "RFB "+version+"\n"); err != nil {
		t.Fatal(err)
	}
	if version == "003.003" {
		var st [4]byte
		if _, err := io.ReadFull(c, st[:]); err != nil {
			t.Fatal(err)
		}
		if binary.BigEndian.Uint32(st[:]) != 1 {
			t.Fatalf("3.3 security type %v", st)
		}
	} else {
		var types [2]byte
		if _, err := io.ReadFull(c, types[:]); err != nil {
			t.Fatal(err)
		}
		if types != [2]byte{1, 1} {
			t.Fatalf("security types %v", types)
		}
		if _, err := c.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
		if version == "003.008" {
			var res [4]byte
			if _, err := io.ReadFull(c, res[:]); err != nil {
				t.Fatal(err)
			}
			if res != [4]byte{} {
				t.Fatalf("security result %v", res)
			}
		}
	}
	if _, err := c.Write([]byte{1}); err != nil { // shared
		t.Fatal(err)
	}
	var init [24]byte
	if _, err := io.ReadFull(c, init[:]); err != nil {
		t.Fatal(err)
	}
	if w, h := binary.BigEndian.Uint16(init[0:]), binary.BigEndian.Uint16(init[2:]); w != vncWidth || h != vncHeight {
		t.Fatalf("size %dx%d", w, h)
	}
	if pf := decodePixelFormat(init[4:20]); pf != defaultPixelFormat {
		t.Fatalf("pixel format %+v", pf)
	}
	name := make([]byte, binary.BigEndian.Uint32(init[20:]))
	if _, err := io.ReadFull(c, name); err != nil {
		t.Fatal(err)
	}
	return string(name)
}

// updateRequest encodes a FramebufferUpdateRequest.
func updateRequest(incremental bool, x, y, w, h uint16) []byte {
	b := []byte{msgFramebufferUpdateRequest, 0}
	if incremental {
		b[1] = 1
	}
	for _, v := range []uint16{x, y, w, h} {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return b
}

// readUpdate reads one single-rectangle FramebufferUpdate and returns the rectangle and
// its pixel bytes.
func readUpdate(t *testing.T, c io.Reader, bpp int) (x, y, w, h uint16, pixels []byte) {
	t.Helper()
	var hdr [16]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatal(err)
	}
	if hdr[0] != 0 || binary.BigEndian.Uint16(hdr[2:]) != 1 || binary.BigEndian.Uint32(hdr[12:]) != 0 {
		t.Fatalf("update header %v", hdr)
	}
	x, y = binary.BigEndian.Uint16(hdr[4:]), binary.BigEndian.Uint16(hdr[6:])
	w, h = binary.BigEndian.Uint16(hdr[8:]), binary.BigEndian.Uint16(hdr[10:])
	pixels = make([]byte, int(w)*int(h)*bpp)
	if _, err := io.ReadFull(c, pixels); err != nil {
		t.Fatal(err)
	}
	return x, y, w, h, pixels
}

func TestRemoteConsoleVNC(t *testing.T) {
	ctx := context.Background()
	d, err := New(Config{Host: "h1", StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	i := inst("u1", nil)
	if _, err := d.RemoteConsole(ctx, i, "vnc"); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("console of a missing guest: %v", err)
	}
	if err := d.Spawn(ctx, i); err != nil {
		t.Fatal(err)
	}
	rc, err := d.RemoteConsole(ctx, i, "vnc")
	if err != nil {
		t.Fatal(err)
	}
	if rc.Protocol != "vnc" || rc.Path == "" || rc.Host != "" || rc.Port != 0 {
		t.Fatalf("console %+v", rc)
	}
	if again, _ := d.RemoteConsole(ctx, i, "vnc"); again != rc {
		t.Fatalf("second call %+v, first %+v", again, rc)
	}
	for _, p := range []string{"spice", "serial", "mks", "rdp"} {
		if _, err := d.RemoteConsole(ctx, i, p); !errors.Is(err, compute.ErrNotSupported) {
			t.Fatalf("%s console: %v", p, err)
		}
	}

	c, err := net.Dial("unix", rc.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if name := handshake(t, c, "003.008"); name != "QEMU (instance-00000001)" {
		t.Fatalf("desktop name %q", name)
	}
	// A full update of a clipped area, in the default 32-bit format.
	if _, err := c.Write(updateRequest(false, 300, 190, 100, 100)); err != nil {
		t.Fatal(err)
	}
	if x, y, w, h, px := readUpdate(t, c, 4); x != 300 || y != 190 || w != 20 || h != 10 || len(px) != 800 {
		t.Fatalf("update %d,%d %dx%d (%d bytes)", x, y, w, h, len(px))
	}
	// Key, pointer and clipboard messages are accepted; an incremental request gets no
	// answer; then a 16-bit pixel format changes the next update's size.
	msgs := [][]byte{
		{msgKeyEvent, 1, 0, 0, 0, 0, 0, 'a'},
		{msgPointerEvent, 0, 0, 10, 0, 10},
		{msgClientCutText, 0, 0, 0, 0, 0, 0, 2, 'h', 'i'},
		{msgSetEncodings, 0, 0, 2, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x21},
		updateRequest(true, 0, 0, vncWidth, vncHeight),
		append([]byte{msgSetPixelFormat, 0, 0, 0}, pixelFormat{BitsPerPixel: 16, Depth: 16, TrueColour: true,
			RedMax: 31, GreenMax: 63, BlueMax: 31, RedShift: 11, GreenShift: 5}.encode()...),
		updateRequest(false, 0, 0, 2, 2),
	}
	for _, m := range msgs {
		if _, err := c.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, w, h, px := readUpdate(t, c, 2); w != 2 || h != 2 || len(px) != 8 {
		t.Fatalf("16-bit update %dx%d %d bytes", w, h, len(px))
	}

	// Stopping the guest takes its display away.
	if err := d.PowerOff(ctx, i, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err == nil {
		t.Fatal("session survived power off")
	}
	if _, err := net.Dial("unix", rc.Path); err == nil {
		t.Fatal("vnc socket still accepts after power off")
	}
	if _, err := os.Stat(rc.Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file left behind: %v", err)
	}
	if _, err := d.RemoteConsole(ctx, i, "vnc"); !errors.Is(err, compute.ErrNotSupported) {
		t.Fatalf("console of a stopped guest: %v", err)
	}
	if err := d.PowerOn(ctx, i); err != nil {
		t.Fatal(err)
	}
	if _, err := d.RemoteConsole(ctx, i, "vnc"); err != nil {
		t.Fatal(err)
	}
	if err := d.Destroy(ctx, i); err != nil {
		t.Fatal(err)
	}
	if _, err := d.RemoteConsole(ctx, i, "vnc"); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("console of a destroyed guest: %v", err)
	}
}

func TestRFBOlderVersions(t *testing.T) {
	for _, v := range []string{"003.003", "003.007"} {
		t.Run(v, func(t *testing.T) {
			srv, cli := net.Pipe()
			defer cli.Close()
			done := make(chan error, 1)
			go func() { done <- serveRFB(srv, "n"); srv.Close() }()
			_ = cli.SetDeadline(time.Now().Add(10 * time.Second))
			if name := handshake(t, cli, v); name != "n" {
				t.Fatalf("name %q", name)
			}
			cli.Close()
			if err := <-done; err != nil {
				t.Fatalf("session ended with %v", err)
			}
		})
	}
}

func TestRFBRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, in string
	}{
		{"bad version", "HTTP/1.1 GET\n"},
		{"version 4", "RFB 004.000\n"},
		{"security type VNC auth", "RFB 003.008\n\x02"},
		{"unknown message", "RFB 003.008\n\x01\x01\xfe"},
		{"huge clipboard", "RFB 003.008\n\x01\x01\x06\x00\x00\x00\x7f\xff\xff\xff"},
		{"palette pixel format", "RFB 003.008\n\x01\x01\x00\x00\x00\x00\x08\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rw := struct {
				io.Reader
				io.Writer
			}{strings.NewReader(tc.in), io.Discard}
			if err := serveRFB(rw, "n"); err == nil || errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("serveRFB = %v, want a refusal", err)
			}
		})
	}
}

func TestVNCAddress(t *testing.T) {
	if a := vncAddress("/run/x", "h", "u"); a != "/run/x/u.sock" {
		t.Fatalf("short path %q", a)
	}
	long := "/" + strings.Repeat("d", 100)
	a := vncAddress(long, "h", "0f0e6a2c-0000-4000-8000-000000000001")
	if a != "@gostack-fake-vnc/h/0f0e6a2c-0000-4000-8000-000000000001" {
		t.Fatalf("long path %q", a)
	}
	v, err := startVNC(a, "n")
	if err != nil {
		t.Fatal(err)
	}
	defer v.close()
	c, err := net.Dial("unix", a)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	handshake(t, c, "003.008")
}

func FuzzReadClientMessage(f *testing.F) {
	f.Add([]byte{msgKeyEvent, 1, 0, 0, 0, 0, 0, 'a'})
	f.Add(updateRequest(false, 0, 0, 10, 10))
	f.Add([]byte{msgSetEncodings, 0, 0xff, 0xff})
	f.Add([]byte{msgClientCutText, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Add(append([]byte{msgSetPixelFormat, 0, 0, 0}, defaultPixelFormat.encode()...))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		for {
			m, err := readClientMessage(r)
			if err != nil {
				return
			}
			if m.Type == msgFramebufferUpdateRequest {
				// Whatever area is asked for, the answer is clipped to the screen.
				var out bytes.Buffer
				if err := writeFramebuffer(&out, defaultPixelFormat, m.X, m.Y, m.W, m.H); err != nil {
					t.Fatal(err)
				}
				if out.Len() > 16+vncWidth*vncHeight*4 {
					t.Fatalf("update of %d bytes", out.Len())
				}
			}
		}
	})
}

func FuzzServeRFB(f *testing.F) {
	f.Add([]byte("RFB 003.008\n\x01\x01" + string(updateRequest(false, 0, 0, 5, 5))))
	f.Add([]byte("RFB 003.003\n\x01"))
	f.Add([]byte("RFB 003.007\n\x01\x01\x00\x00\x00\x00\x10\x10\x01\x01\x00\x1f\x00\x3f\x00\x1f\x0b\x05\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rw := struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(b), io.Discard}
		_ = serveRFB(rw, "fuzz") // must end (the input is finite) without panicking
	})
}
