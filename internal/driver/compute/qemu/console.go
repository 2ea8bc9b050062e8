package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	computedriver "github.com/gostack/gostack/internal/driver/compute"
)

// The serial console goes to console.log (QEMU appends to it: append=on opens it with
// O_APPEND, so a truncation by gostack is safe). Rotation keeps it bounded: when it
// grows past ConsoleLogMax, its content moves to console.log.0 (replacing the older
// one) and it starts empty, so that at most twice the limit is kept, as virtlogd does.

// Housekeep implements computedriver.Housekeeper: it rotates the console logs of the
// guests, which the host agent asks for every few seconds so that a chatty guest cannot
// fill the disk between two power syncs. (While gostack is down, QEMU appends without
// bound until the next start.)
func (d *Driver) Housekeep(ctx context.Context) error {
	ids, err := d.List(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := d.rotateConsole(id); err != nil {
			d.log.Warn("rotate console log", "instance", id, "err", err)
		}
	}
	return nil
}

// rotateConsole rotates an instance's console log when it is over the limit.
func (d *Driver) rotateConsole(uuid string) error {
	cur := d.path(uuid, "console.log")
	st, err := os.Stat(cur)
	if err != nil || st.Size() <= d.cfg.ConsoleLogMax {
		return nil
	}
	f, err := os.OpenFile(cur, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	defer f.Close()
	// Only the newest ConsoleLogMax bytes are kept, however far the guest got past the
	// limit between two rotations.
	keep := d.cfg.ConsoleLogMax
	b := make([]byte, keep)
	n, err := f.ReadAt(b, st.Size()-keep)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("qemu: %w", err)
	}
	b = b[:n]
	if err := writeFileAtomic(cur+".0", b, 0o640); err != nil {
		return err
	}
	// Bytes the guest wrote between the read and the truncation are lost; it is a
	// window of microseconds on a console.
	return f.Truncate(0)
}

// ConsoleOutput implements computedriver.Driver: the last length lines of the serial
// console (the rotated part included).
func (d *Driver) ConsoleOutput(_ context.Context, inst *computedriver.Instance, length int) (string, error) {
	if err := validUUID(inst.UUID); err != nil {
		return "", computedriver.ErrNotFound
	}
	if _, err := os.Stat(d.instanceDir(inst.UUID)); err != nil {
		return "", computedriver.ErrNotFound
	}
	if err := d.rotateConsole(inst.UUID); err != nil {
		d.log.Warn("rotate console log", "instance", inst.UUID, "err", err)
	}
	var all []byte
	for _, name := range []string{"console.log.0", "console.log"} {
		b, err := os.ReadFile(d.path(inst.UUID, name))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("qemu: %w", err)
		}
		all = append(all, b...)
	}
	return lastLines(all, length), nil
}

// lastLines returns the last n lines of b (n <= 0: all), with carriage returns and NUL
// bytes the guest's serial port emits removed.
func lastLines(b []byte, n int) string {
	b = bytes.ReplaceAll(b, []byte("\r"), nil)
	b = bytes.ReplaceAll(b, []byte{0}, nil)
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	if n <= 0 {
		return s
	}
	trimmed := strings.TrimSuffix(s, "\n")
	lines := strings.Split(trimmed, "\n")
	if len(lines) <= n {
		return s
	}
	out := strings.Join(lines[len(lines)-n:], "\n")
	if strings.HasSuffix(s, "\n") {
		out += "\n"
	}
	return out
}

// RemoteConsole implements computedriver.Consoler: VNC on the guest's unix socket.
func (d *Driver) RemoteConsole(_ context.Context, inst *computedriver.Instance, protocol string) (computedriver.RemoteConsole, error) {
	if protocol != "vnc" {
		return computedriver.RemoteConsole{}, computedriver.ErrNotSupported
	}
	g, err := d.loadExisting(inst.UUID)
	if err != nil {
		return computedriver.RemoteConsole{}, err
	}
	if d.pid(g.UUID) == 0 {
		return computedriver.RemoteConsole{}, fmt.Errorf("qemu: instance %s is not running", inst.UUID)
	}
	return computedriver.RemoteConsole{Protocol: "vnc", Path: filepath.Join(g.SocketDir, "vnc.sock")}, nil
}
