package fake

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// A fake guest's graphical console: a tiny VNC server per guest on a unix socket, as
// QEMU's `-vnc unix:<path>` gives a real guest. It speaks enough RFB (RFC 6143, versions
// 3.3, 3.7 and 3.8, security type None) for noVNC and tempest's handshake check, and
// answers full framebuffer update requests with a small test pattern. It runs inside the
// gostack process, so (unlike the guests the fake simulates) it does not survive a
// restart; RemoteConsole starts it again on demand.

// rfbVersion is the version the server offers.
const rfbVersion = "RFB 003.008\n"

// Framebuffer size of every fake guest.
const (
	vncWidth  = 320
	vncHeight = 200
)

// maxCutText bounds the clipboard text a client may send (longer: the connection is
// dropped), so a client cannot make the server read without end.
const maxCutText = 1 << 20

// maxUnixPath is the longest path a unix socket address can hold (sun_path less its NUL).
const maxUnixPath = 107

// pixelFormat is RFB's PIXEL_FORMAT.
type pixelFormat struct {
	BitsPerPixel, Depth             uint8
	BigEndian, TrueColour           bool
	RedMax, GreenMax, BlueMax       uint16
	RedShift, GreenShift, BlueShift uint8
}

// defaultPixelFormat is 32-bit true colour, little endian, 8 bits per channel (what
// noVNC asks for anyway).
var defaultPixelFormat = pixelFormat{BitsPerPixel: 32, Depth: 24, TrueColour: true,
	RedMax: 255, GreenMax: 255, BlueMax: 255, RedShift: 16, GreenShift: 8, BlueShift: 0}

// encode writes the 16-byte wire form.
func (pf pixelFormat) encode() []byte {
	b := make([]byte, 16)
	b[0], b[1] = pf.BitsPerPixel, pf.Depth
	if pf.BigEndian {
		b[2] = 1
	}
	if pf.TrueColour {
		b[3] = 1
	}
	binary.BigEndian.PutUint16(b[4:], pf.RedMax)
	binary.BigEndian.PutUint16(b[6:], pf.GreenMax)
	binary.BigEndian.PutUint16(b[8:], pf.BlueMax)
	b[10], b[11], b[12] = pf.RedShift, pf.GreenShift, pf.BlueShift
	return b
}

// decodePixelFormat reads the 16-byte wire form.
func decodePixelFormat(b []byte) pixelFormat {
	return pixelFormat{BitsPerPixel: b[0], Depth: b[1], BigEndian: b[2] != 0, TrueColour: b[3] != 0,
		RedMax: binary.BigEndian.Uint16(b[4:]), GreenMax: binary.BigEndian.Uint16(b[6:]),
		BlueMax: binary.BigEndian.Uint16(b[8:]), RedShift: b[10], GreenShift: b[11], BlueShift: b[12]}
}

// valid reports whether the server can render in the format: true colour at 8, 16 or
// 32 bits per pixel.
func (pf pixelFormat) valid() bool {
	switch pf.BitsPerPixel {
	case 8, 16, 32:
		return pf.TrueColour
	}
	return false
}

// pixel packs an 8-bit-per-channel colour in the format.
func (pf pixelFormat) pixel(dst []byte, r, g, b uint8) {
	scale := func(v uint8, max uint16) uint32 { return uint32(v) * uint32(max) / 255 }
	v := scale(r, pf.RedMax)<<pf.RedShift | scale(g, pf.GreenMax)<<pf.GreenShift | scale(b, pf.BlueMax)<<pf.BlueShift
	switch pf.BitsPerPixel {
	case 8:
		dst[0] = uint8(v)
	case 16:
		if pf.BigEndian {
			binary.BigEndian.PutUint16(dst, uint16(v))
		} else {
			binary.LittleEndian.PutUint16(dst, uint16(v))
		}
	default:
		if pf.BigEndian {
			binary.BigEndian.PutUint32(dst, v)
		} else {
			binary.LittleEndian.PutUint32(dst, v)
		}
	}
}

// Client-to-server message types (RFC 6143 §7.5).
const (
	msgSetPixelFormat           = 0
	msgSetEncodings             = 2
	msgFramebufferUpdateRequest = 3
	msgKeyEvent                 = 4
	msgPointerEvent             = 5
	msgClientCutText            = 6
)

// clientMessage is one decoded client-to-server message.
type clientMessage struct {
	Type uint8
	// PixelFormat is set by SetPixelFormat.
	PixelFormat pixelFormat
	// Encodings is set by SetEncodings.
	Encodings []int32
	// Incremental and X, Y, W, H are set by FramebufferUpdateRequest.
	Incremental bool
	X, Y, W, H  uint16
}

// errUnknownMessage is returned for a client message type the server does not know; a
// real server drops the connection too, since it cannot tell the message's length.
var errUnknownMessage = errors.New("rfb: unknown client message type")

// readClientMessage decodes the next client message. Key and pointer events and
// clipboard text are read and discarded.
func readClientMessage(r *bufio.Reader) (clientMessage, error) {
	t, err := r.ReadByte()
	if err != nil {
		return clientMessage{}, err
	}
	m := clientMessage{Type: t}
	switch t {
	case msgSetPixelFormat:
		var b [19]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return m, err
		}
		m.PixelFormat = decodePixelFormat(b[3:])
	case msgSetEncodings:
		var b [3]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return m, err
		}
		n := int(binary.BigEndian.Uint16(b[1:]))
		m.Encodings = make([]int32, 0, min(n, 64))
		for range n {
			var e [4]byte
			if _, err := io.ReadFull(r, e[:]); err != nil {
				return m, err
			}
			m.Encodings = append(m.Encodings, int32(binary.BigEndian.Uint32(e[:])))
		}
	case msgFramebufferUpdateRequest:
		var b [9]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return m, err
		}
		m.Incremental = b[0] != 0
		m.X, m.Y = binary.BigEndian.Uint16(b[1:]), binary.BigEndian.Uint16(b[3:])
		m.W, m.H = binary.BigEndian.Uint16(b[5:]), binary.BigEndian.Uint16(b[7:])
	case msgKeyEvent:
		if _, err := r.Discard(7); err != nil {
			return m, err
		}
	case msgPointerEvent:
		if _, err := r.Discard(5); err != nil {
			return m, err
		}
	case msgClientCutText:
		var b [7]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return m, err
		}
		n := binary.BigEndian.Uint32(b[3:])
		if n > maxCutText {
			return m, fmt.Errorf("rfb: clipboard text of %d bytes is too long", n)
		}
		if _, err := r.Discard(int(n)); err != nil {
			return m, err
		}
	default:
		return m, fmt.Errorf("%w %d", errUnknownMessage, t)
	}
	return m, nil
}

// serveRFB runs one VNC session on rw: the handshake, then client messages until the
// client goes or sends something the server cannot read.
func serveRFB(rw io.ReadWriter, name string) error {
	r := bufio.NewReader(rw)
	if _, err := io.WriteString(rw, rfbVersion); err != nil {
		return err
	}
	var cv [12]byte
	if _, err := io.ReadFull(r, cv[:]); err != nil {
		return err
	}
	var major, minor int
	if n, err := fmt.Sscanf(string(cv[:]), "RFB %03d.%03d\n", &major, &minor); err != nil || n != 2 || major != 3 {
		return fmt.Errorf("rfb: bad client version %q", cv[:])
	}
	switch {
	case minor < 7:
		// RFB 3.3: the server picks the security type (None).
		if _, err := rw.Write([]byte{0, 0, 0, 1}); err != nil {
			return err
		}
	default:
		if _, err := rw.Write([]byte{1, 1}); err != nil {
			return err
		}
		choice, err := r.ReadByte()
		if err != nil {
			return err
		}
		if choice != 1 {
			if minor >= 8 {
				reason := "security type not offered"
				b := binary.BigEndian.AppendUint32([]byte{0, 0, 0, 1}, uint32(len(reason)))
				_, _ = rw.Write(append(b, reason...))
			}
			return fmt.Errorf("rfb: client chose security type %d", choice)
		}
		if minor >= 8 {
			if _, err := rw.Write([]byte{0, 0, 0, 0}); err != nil {
				return err
			}
		}
	}
	if _, err := r.ReadByte(); err != nil { // ClientInit (shared flag)
		return err
	}
	if len(name) > 64 {
		name = name[:64]
	}
	init := make([]byte, 4, 24+len(name))
	binary.BigEndian.PutUint16(init[0:], vncWidth)
	binary.BigEndian.PutUint16(init[2:], vncHeight)
	init = append(init, defaultPixelFormat.encode()...)
	init = binary.BigEndian.AppendUint32(init, uint32(len(name)))
	if _, err := rw.Write(append(init, name...)); err != nil {
		return err
	}
	pf := defaultPixelFormat
	for {
		m, err := readClientMessage(r)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		switch m.Type {
		case msgSetPixelFormat:
			if !m.PixelFormat.valid() {
				return errors.New("rfb: unsupported pixel format")
			}
			pf = m.PixelFormat
		case msgFramebufferUpdateRequest:
			// The picture never changes: an incremental request waits for a change that
			// does not come, which RFB allows.
			if m.Incremental {
				continue
			}
			if err := writeFramebuffer(rw, pf, m.X, m.Y, m.W, m.H); err != nil {
				return err
			}
		}
	}
}

// writeFramebuffer sends one FramebufferUpdate with the requested area (clipped to the
// screen) in Raw encoding: a gradient test pattern.
func writeFramebuffer(w io.Writer, pf pixelFormat, x, y, width, height uint16) error {
	if x >= vncWidth || y >= vncHeight {
		x, y, width, height = 0, 0, 0, 0
	}
	width = min(width, vncWidth-x)
	height = min(height, vncHeight-y)
	bpp := int(pf.BitsPerPixel) / 8
	buf := make([]byte, 0, 16+int(width)*int(height)*bpp)
	buf = append(buf, 0, 0, 0, 1) // FramebufferUpdate, padding, one rectangle
	buf = binary.BigEndian.AppendUint16(buf, x)
	buf = binary.BigEndian.AppendUint16(buf, y)
	buf = binary.BigEndian.AppendUint16(buf, width)
	buf = binary.BigEndian.AppendUint16(buf, height)
	buf = binary.BigEndian.AppendUint32(buf, 0) // Raw
	px := make([]byte, bpp)
	for j := int(y); j < int(y)+int(height); j++ {
		for i := int(x); i < int(x)+int(width); i++ {
			pf.pixel(px, uint8(i*255/vncWidth), uint8(j*255/vncHeight), 0x80)
			buf = append(buf, px...)
		}
	}
	_, err := w.Write(buf)
	return err
}

// vncServer is one guest's VNC server.
type vncServer struct {
	ln   net.Listener
	addr string
	name string

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// vncAddress returns the unix socket a guest's VNC server listens on: a file under dir,
// or, when that path is too long for a unix socket address, a name in Linux's abstract
// socket namespace (no file to clean up).
func vncAddress(dir, host, uuid string) string {
	p := filepath.Join(dir, uuid+".sock")
	if len(p) <= maxUnixPath {
		return p
	}
	return "@gostack-fake-vnc/" + host + "/" + uuid
}

// startVNC listens on addr and serves sessions until close.
func startVNC(addr, name string) (*vncServer, error) {
	if addr[0] != '@' {
		if err := os.MkdirAll(filepath.Dir(addr), 0o700); err != nil {
			return nil, fmt.Errorf("fake: vnc socket directory: %w", err)
		}
		// A socket file left by a process that died is in the way.
		if err := os.Remove(addr); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("fake: vnc socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", addr)
	if err != nil {
		return nil, fmt.Errorf("fake: vnc listen: %w", err)
	}
	v := &vncServer{ln: ln, addr: addr, name: name, conns: map[net.Conn]struct{}{}}
	v.wg.Add(1)
	go v.serve()
	return v, nil
}

// serve accepts sessions until the listener closes.
func (v *vncServer) serve() {
	defer v.wg.Done()
	for {
		c, err := v.ln.Accept()
		if err != nil {
			return
		}
		v.mu.Lock()
		if v.closed {
			v.mu.Unlock()
			c.Close()
			return
		}
		v.conns[c] = struct{}{}
		v.wg.Add(1)
		v.mu.Unlock()
		go func() {
			defer v.wg.Done()
			// An idle half-open session must not pin the goroutine forever.
			_ = c.SetDeadline(time.Now().Add(time.Hour))
			_ = serveRFB(c, v.name)
			c.Close()
			v.mu.Lock()
			delete(v.conns, c)
			v.mu.Unlock()
		}()
	}
}

// close stops the server, ends its sessions and removes the socket file.
func (v *vncServer) close() {
	v.mu.Lock()
	v.closed = true
	for c := range v.conns {
		c.Close()
	}
	v.mu.Unlock()
	v.ln.Close()
	v.wg.Wait()
	if v.addr[0] != '@' {
		_ = os.Remove(v.addr)
	}
}
