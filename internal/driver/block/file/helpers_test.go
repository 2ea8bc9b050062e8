package file

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gostack/gostack/internal/driver/block"
	"github.com/gostack/gostack/internal/platform"
)

// requireQemuImg skips tests that need the real qemu-img when it is not installed.
func requireQemuImg(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img is not installed (Debian package qemu-utils): skipping tests of the file driver with the real tool")
	}
}

// countingRunner runs commands for real and records them, so that tests can assert
// which qemu-img commands ran (for example none on a refused image).
type countingRunner struct {
	platform.Exec
	mu   sync.Mutex
	cmds []string
}

func (c *countingRunner) Run(ctx context.Context, cmd platform.Command) ([]byte, error) {
	c.mu.Lock()
	c.cmds = append(c.cmds, cmd.String())
	c.mu.Unlock()
	return c.Exec.Run(ctx, cmd)
}

func (c *countingRunner) commands() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.cmds...)
}

// newTestDriver returns a driver over a fresh directory with the real qemu-img.
func newTestDriver(t testing.TB) (*Driver, *countingRunner) {
	t.Helper()
	requireQemuImg(t)
	run := &countingRunner{}
	d, err := New(Config{Dir: t.TempDir(), Runner: run})
	if err != nil {
		t.Fatal(err)
	}
	return d, run
}

// qemuInfo is what qemu-img info says of an image.
type qemuInfo struct {
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual-size"`
	ActualSize  int64  `json:"actual-size"`
	BackingFile string `json:"backing-filename"`
}

func imgInfo(t testing.TB, path, format string) qemuInfo {
	t.Helper()
	out, err := exec.Command("qemu-img", "info", "--output=json", "-f", format, path).Output()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v", filepath.Base(path), err)
	}
	var info qemuInfo
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	return info
}

func qemuImg(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// pattern returns n deterministic pseudo-random bytes.
func pattern(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	p := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			p[i+j] = byte(v >> (8 * j))
		}
	}
	return p
}

// content is sparse data: extents of bytes at offsets, zeros elsewhere, size in all.
type content struct {
	size    int64
	extents map[int64][]byte
}

// writeTo writes c into a new sparse file at path.
func (c content) writeTo(t testing.TB, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for off, data := range c.extents {
		if _, err := f.WriteAt(data, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(c.size); err != nil {
		t.Fatal(err)
	}
}

// bytes materialises c (for small contents).
func (c content) bytes() []byte {
	b := make([]byte, c.size)
	for off, data := range c.extents {
		copy(b[off:], data)
	}
	return b
}

// check reads r to its end and fails the test unless it is exactly c.
func (c content) check(t testing.TB, r io.Reader) {
	t.Helper()
	buf := make([]byte, 4<<20)
	var pos int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if pos+int64(n) > c.size {
				t.Fatalf("stream longer than %d bytes", c.size)
			}
			if msg := c.compare(pos, buf[:n]); msg != "" {
				t.Fatal(msg)
			}
			pos += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read at %d: %v", pos, err)
		}
	}
	if pos != c.size {
		t.Fatalf("stream has %d bytes, want %d", pos, c.size)
	}
}

// compare checks got, read at pos, against c; it returns a description of the first
// difference, or "".
func (c content) compare(pos int64, got []byte) string {
	overlap := false
	for off, data := range c.extents {
		if off < pos+int64(len(got)) && off+int64(len(data)) > pos {
			overlap = true
		}
	}
	if !overlap && isZero(got) {
		return ""
	}
	want := make([]byte, len(got))
	for off, data := range c.extents {
		lo, hi := max(off, pos), min(off+int64(len(data)), pos+int64(len(got)))
		if lo < hi {
			copy(want[lo-pos:hi-pos], data[lo-off:hi-off])
		}
	}
	if bytes.Equal(got, want) {
		return ""
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Sprintf("byte %d: got %#x, want %#x", pos+int64(i), got[i], want[i])
		}
	}
	return ""
}

// fileImage is a block.Image over a file.
func fileImage(id, diskFormat, path string) block.Image {
	fi, err := os.Stat(path)
	size := int64(0)
	if err == nil {
		size = fi.Size()
	}
	return block.Image{ID: id, DiskFormat: diskFormat, Size: size,
		Open: func(context.Context) (io.ReadCloser, error) { return os.Open(path) }}
}

// bytesImage is a block.Image over bytes in memory.
func bytesImage(id, diskFormat string, data []byte) block.Image {
	return block.Image{ID: id, DiskFormat: diskFormat, Size: int64(len(data)),
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
}

// listDir returns the names in dir, sorted.
func listDir(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
