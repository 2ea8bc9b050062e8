package inspect

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// result is one inspection's outcome in a comparable form.
type result struct {
	Info Info
	Err  string
}

func (r result) String() string {
	if r.Err == "" {
		return describe(r.Info)
	}
	return describe(r.Info) + " error=" + r.Err
}

// describe renders an Info for test messages and golden files.
func describe(i Info) string {
	s := "format=" + string(i.Format)
	if i.Variant != "" {
		s += " variant=" + i.Variant
	}
	s += " size=" + itoa(i.VirtualSize)
	if i.Looks != "" {
		s += " looks=" + strings.ReplaceAll(i.Looks, " ", "_")
	}
	return s
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func toResult(info Info, err error) result {
	r := result{Info: info}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

// chunkings are the ways inspect feeds data to an Inspector, named for messages: each
// returns the size of the next Write.
func chunkings(size int) map[string]func() int {
	rng := rand.New(rand.NewPCG(1, uint64(size)))
	c := map[string]func() int{
		"whole":  func() int { return size + 1 },
		"4096":   func() int { return 4096 },
		"odd":    func() int { return 65536 + 7 },
		"random": func() int { return 1 + rng.IntN(200000) },
		"tiny":   func() int { return 1 + rng.IntN(700) },
	}
	if size <= 16<<20 {
		c["1"] = func() int { return 1 }
	}
	return c
}

// inspect runs Detect on data, checks that an Inspector fed the same data in chunks of many
// sizes reaches exactly the same result, and that every refusal wraps ErrUnsafe.
func inspect(t *testing.T, data []byte) (Info, error) {
	t.Helper()
	info, err := Detect(bytes.NewReader(data), int64(len(data)))
	if err != nil && !errors.Is(err, ErrUnsafe) {
		t.Fatalf("Detect: error %q does not wrap ErrUnsafe", err)
	}
	want := toResult(info, err)
	for name, next := range chunkings(len(data)) {
		ins := NewInspector()
		for p := data; len(p) > 0; {
			n := min(len(p), next())
			if k, err := ins.Write(p[:n]); k != n || err != nil {
				t.Fatalf("Write = %d, %v", k, err)
			}
			p = p[n:]
		}
		if got := toResult(ins.Result(int64(len(data)))); got != want {
			t.Errorf("Inspector with %s chunks: %v; Detect: %v", name, got, want)
		}
	}
	return info, err
}

// countingReader is an io.ReaderAt over a byte slice that counts the bytes read.
type countingReader struct {
	data []byte
	read int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := bytes.NewReader(c.data).ReadAt(p, off)
	c.read += int64(n)
	return n, err
}

// need skips the test when one of the programs is not installed.
func need(t *testing.T, programs ...string) {
	t.Helper()
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed", p)
		}
	}
}

// run runs a program in dir and fails the test when it fails.
func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	// qemu-img times its LUKS key derivation with getrusage and gives up ("Unable to get
	// accurate CPU usage") when a loaded machine gives it no CPU time to measure; that is
	// the host's load, not the test's subject, so it is tried again a few times.
	for attempt := 1; ; attempt++ {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err == nil {
			return
		}
		if attempt < 5 && strings.Contains(string(out), "Unable to get accurate CPU usage") {
			continue
		}
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// qemuVirtualSize returns the virtual size qemu-img reports for the image at path opened
// with the given -f format.
func qemuVirtualSize(t *testing.T, path, format string) int64 {
	t.Helper()
	out, err := exec.Command("qemu-img", "info", "--output=json", "-f", format, path).Output()
	if err != nil {
		t.Fatalf("qemu-img info -f %s: %v", format, err)
	}
	var info struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("qemu-img info: %v", err)
	}
	return info.VirtualSize
}

// patch writes b at offset off of the file at path.
func patch(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// readFile reads the file at path or fails the test.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeFile writes b to path or fails the test.
func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
