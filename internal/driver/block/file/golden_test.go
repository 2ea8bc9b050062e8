package file

import (
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gostack/gostack/internal/driver/block"
	"github.com/gostack/gostack/internal/platform"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fakeQemuImg answers a Recorder as qemu-img would on the files: it creates the
// targets (a qcow2 header carrying the virtual size, or a sparse raw file) so that the
// driver's steps after each command find what they expect, without qemu installed.
func fakeQemuImg(c platform.Command) ([]byte, error) {
	a := c.Args
	arg := func(flag string) string {
		if i := slices.Index(a, flag); i >= 0 && i+1 < len(a) {
			return a[i+1]
		}
		return ""
	}
	write := func(path, format string, size int64) error {
		if format == block.FormatRaw {
			f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
			if err != nil {
				return err
			}
			defer f.Close()
			return f.Truncate(size)
		}
		h := make([]byte, 512)
		copy(h, "QFI\xfb")
		binary.BigEndian.PutUint32(h[4:], 3)
		binary.BigEndian.PutUint64(h[24:], uint64(size))
		return os.WriteFile(path, h, 0o640)
	}
	switch a[0] {
	case "create", "resize":
		size, err := strconv.ParseInt(a[len(a)-1], 10, 64)
		if err != nil {
			return nil, err
		}
		return nil, write(a[len(a)-2], arg("-f"), size)
	case "convert":
		if slices.Contains(a, "-n") {
			return nil, nil
		}
		size, err := virtualSize(a[len(a)-2], arg("-f"))
		if err != nil {
			return nil, err
		}
		return nil, write(a[len(a)-1], arg("-O"), size)
	}
	return nil, nil
}

// TestCommandsGolden runs every operation against a Recorder and compares the exact
// qemu-img commands with testdata/commands.golden (go test -run Golden -update).
func TestCommandsGolden(t *testing.T) {
	rec := &platform.Recorder{Reply: fakeQemuImg}
	d, err := New(Config{Dir: t.TempDir(), Runner: rec})
	if err != nil {
		t.Fatal(err)
	}
	d.directIO = true // as on a disk filesystem, whatever the test's directory is on
	ctx := t.Context()
	var steps []string
	step := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		steps = append(steps, "# "+name)
		steps = append(steps, normalize(rec.Commands()[len(steps)-countSteps(steps):], d.Dir())...)
	}
	q := block.Volume{ID: "q", SizeGB: 1}
	r := block.Volume{ID: "r", SizeGB: 1, Format: "raw"}
	step("create qcow2", d.Create(ctx, q))
	step("create qcow2 again", d.Create(ctx, q))
	step("create raw", d.Create(ctx, r))
	step("create from raw image into qcow2", d.CreateFromImage(ctx, block.Volume{ID: "iq", SizeGB: 2}, bytesImage("img", "raw", pattern(1, 8192))))
	step("create from raw image into raw", d.CreateFromImage(ctx, block.Volume{ID: "ir", SizeGB: 2, Format: "raw"}, bytesImage("img", "raw", pattern(1, 8192))))
	step("create from iso image into qcow2", d.CreateFromImage(ctx, block.Volume{ID: "iso", SizeGB: 1}, bytesImage("img", "iso", isoBytes())))
	step("snapshot qcow2", d.CreateSnapshot(ctx, block.Snapshot{ID: "sq", VolumeID: "q"}, q))
	step("snapshot raw", d.CreateSnapshot(ctx, block.Snapshot{ID: "sr", VolumeID: "r"}, r))
	step("snapshot again", d.CreateSnapshot(ctx, block.Snapshot{ID: "sq", VolumeID: "q"}, q))
	step("volume from snapshot, qcow2", d.CreateFromSnapshot(ctx, block.Volume{ID: "fq", SizeGB: 2}, block.Snapshot{ID: "sq"}))
	step("volume from snapshot, raw", d.CreateFromSnapshot(ctx, block.Volume{ID: "fr", SizeGB: 1, Format: "raw"}, block.Snapshot{ID: "sq"}))
	step("clone qcow2 to raw", d.Clone(ctx, block.Volume{ID: "cr", SizeGB: 3, Format: "raw"}, q))
	step("clone raw to qcow2", d.Clone(ctx, block.Volume{ID: "cq", SizeGB: 1}, r))
	step("extend qcow2", d.Extend(ctx, q, 4))
	step("extend qcow2 again", d.Extend(ctx, q, 4))
	step("extend raw", d.Extend(ctx, r, 2))
	for _, e := range []struct {
		vol    block.Volume
		format string
	}{{q, "raw"}, {q, "qcow2"}, {r, "raw"}, {r, "qcow2"}} {
		rc, err := d.Export(ctx, e.vol, e.format)
		if err == nil {
			rc.Close()
		}
		step("export "+e.vol.ID+" as "+e.format, err)
	}
	step("import into qcow2", d.Import(ctx, q, strings.NewReader("restored data")))
	step("import into raw", d.Import(ctx, r, strings.NewReader("restored data")))
	step("delete snapshot", d.DeleteSnapshot(ctx, block.Snapshot{ID: "sq"}))
	step("delete", d.Delete(ctx, q))
	got := strings.Join(steps, "\n") + "\n"

	golden := filepath.Join("testdata", "commands.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("qemu-img commands (-want +got):\n%s", diff)
	}
	for _, c := range rec.Commands() {
		if strings.HasPrefix(c, "qemu-img convert") && (!strings.Contains(c, " -f ") || !strings.Contains(c, " -O ")) {
			t.Errorf("convert without explicit formats: %s", c)
		}
		if strings.HasPrefix(c, "qemu-img create") || strings.HasPrefix(c, "qemu-img resize") {
			if !strings.Contains(c, " -f ") {
				t.Errorf("without an explicit format: %s", c)
			}
		}
	}
}

// countSteps counts the "# " lines in steps.
func countSteps(steps []string) int {
	n := 0
	for _, s := range steps {
		if strings.HasPrefix(s, "# ") {
			n++
		}
	}
	return n
}

// isoBytes is the start of an ISO 9660 image: the primary volume descriptor at 32 KiB.
func isoBytes() []byte {
	b := make([]byte, 64<<10)
	copy(b[32768:], "\x01CD001\x01")
	copy(b[32768+2048:], "\xffCD001\x01")
	return b
}
