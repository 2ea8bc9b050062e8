package qemu

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/platform"
)

// TestManageImageCache makes bases and overlays with the real qemu-img and checks that
// only unused bases past the minimum age and stale temporaries go.
func TestManageImageCache(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skipf("qemu-img not installed: %v", err)
	}
	d := newTestDriver(t, &platform.Exec{})
	d.cfg.ImageCacheMinAge = time.Hour
	base := d.images.dir
	img := func(name string, args ...string) string {
		p := filepath.Join(base, name)
		if out, err := exec.Command("qemu-img", append(append([]string{"create"}, args...), p, "16M")...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return p
	}
	old := time.Now().Add(-2 * time.Hour)
	age := func(p string) {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	inUse := img("inuse", "-f", "qcow2")
	rescueBase := img("rescue", "-f", "qcow2")
	unused := img("unused", "-f", "qcow2")
	recent := img("recent", "-f", "qcow2")
	stale := img(".fetch-123", "-f", "raw")
	eph := img("ephemeral_1_0706d66", "-f", "raw")
	for _, p := range []string{inUse, rescueBase, unused, stale, eph} {
		age(p)
	}
	// Overlays in an instance directory: an absolute and a relative backing file.
	dir := filepath.Join(d.dir, "0d6a8d8e-2b8c-4a8f-9d55-3c1f1c0e9a01")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	for name, backing := range map[string][]string{
		"disk":        {"-F", "qcow2", "-b", inUse},
		"disk.rescue": {"-F", "qcow2", "-b", "../_base/rescue"},
		"disk.eph0":   {"-F", "raw", "-b", eph},
	} {
		args := append([]string{"create", "-f", "qcow2"}, backing...)
		if out, err := exec.Command("qemu-img", append(args, filepath.Join(dir, name), "16M")...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	removed, err := d.ManageImageCache(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if want := []string{".fetch-123", "unused"}; !slices.Equal(removed, want) {
		t.Fatalf("removed %v, want %v", removed, want)
	}
	for _, p := range []string{inUse, rescueBase, recent, eph} {
		if !exists(p) {
			t.Errorf("%s removed", filepath.Base(p))
		}
	}
	// Once its overlays are gone and it has aged, a base goes too; using it renews it.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := d.images.once(t.Context(), inUse, func() error { t.Fatal("made again"); return nil }); err != nil {
		t.Fatal(err)
	}
	removed, _ = d.ManageImageCache(t.Context())
	slices.Sort(removed)
	if want := []string{"ephemeral_1_0706d66", "rescue"}; !slices.Equal(removed, want) {
		t.Fatalf("after delete: removed %v, want %v", removed, want)
	}
}

func TestQcow2BackingFileNotQcow2(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	for _, b := range [][]byte{nil, []byte("QFI"), []byte("QFI\xfb\x00\x00\x00\x03\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x10")} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if got, _ := qcow2BackingFile(p); got != "" {
			t.Errorf("%q: backing %q", b, got)
		}
	}
}
