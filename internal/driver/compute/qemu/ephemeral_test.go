package qemu

import (
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/platform"
)

func TestEphemeralFS(t *testing.T) {
	img := func(props map[string]any) *computedriver.Image { return &computedriver.Image{Properties: props} }
	for _, c := range []struct {
		img       *computedriver.Image
		def, want string
		why       string
	}{
		{nil, "", "vfat", "boot from volume, no default"},
		{img(nil), "", "vfat", "no os_type"},
		{img(map[string]any{"os_type": "linux"}), "", "ext4", "linux"},
		{img(map[string]any{"os_type": "Windows"}), "ext4", "ntfs", "os_type wins over the default"},
		{img(map[string]any{"os_type": "plan9"}), "ext4", "ext4", "unknown os_type: the default"},
	} {
		if got := ephemeralFS(c.img, c.def); got != c.want {
			t.Errorf("%s: %s, want %s", c.why, got, c.want)
		}
	}
	for fs, want := range map[string]string{
		"vfat": "-t vfat -n ephemeral0 /p",
		"ext4": "-t ext4 -F -L ephemeral0 /p",
		"ntfs": "-t ntfs -F -L ephemeral0 /p",
		"xfs":  "-t xfs -L ephemeral0 /p",
	} {
		if got := strings.Join(mkfsArgs(fs, "ephemeral0", "/p"), " "); got != want {
			t.Errorf("mkfs %s: %s, want %s", fs, got, want)
		}
	}
}

// TestMakeEphemeralReal formats ephemeral disks with the host's qemu-img and mkfs and
// reads the file system back through a raw copy: one cached base per size and file
// system, shared by concurrent guests.
func TestMakeEphemeralReal(t *testing.T) {
	for _, tool := range []string{"qemu-img", "mkfs.vfat", "mkfs.ext4", "blkid"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: %v", tool, err)
		}
	}
	d := newTestDriver(t, &platform.Exec{})
	dir := t.TempDir()
	for _, fs := range []string{"vfat", "ext4"} {
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = d.makeEphemeral(t.Context(), filepath.Join(dir, fs+string(rune('a'+i))), 1, fs)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		disk := filepath.Join(dir, fs+"a")
		if size, err := d.virtualSize(t.Context(), disk, "qcow2"); err != nil || size != 1<<30 {
			t.Fatalf("%s: virtual size %d, %v", fs, size, err)
		}
		raw := filepath.Join(dir, fs+".raw")
		if out, err := exec.Command("qemu-img", "convert", "-f", "qcow2", "-O", "raw", disk, raw).CombinedOutput(); err != nil {
			t.Fatalf("%s: %s", err, out)
		}
		out, err := exec.Command("blkid", "-o", "export", raw).Output()
		if err != nil {
			t.Fatalf("blkid %s: %v", fs, err)
		}
		if got := string(out); !strings.Contains(got, "TYPE="+fs) || !strings.Contains(got, "LABEL=ephemeral0") {
			t.Errorf("%s disk: blkid says\n%s", fs, got)
		}
	}
	bases, _ := filepath.Glob(filepath.Join(d.images.dir, "ephemeral_*"))
	if len(bases) != 2 {
		t.Errorf("ephemeral bases %v, want one per file system", bases)
	}
}
