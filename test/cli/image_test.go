package cli_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/gostack/gostack/internal/testkit"
)

// The image tests follow the images walkthrough of issue 3 with the unmodified openstack
// CLI: upload the project's test guest image (images/testvm), list, show, save, set and
// unset properties, share it with another project, keep a private image private, delete;
// refuse bad images (an HTML page, a qcow2 with a backing file); and keep the store
// consistent across a restart and a kill -9 in the middle of an upload.

var (
	testImageOnce sync.Once
	testImagePath string
	testImageNote string
	testImageErr  error
)

// testImage returns the path of the qcow2 to upload: the testvm guest image, built (or
// reused from its cache) by images/testvm/build.sh. When build.sh says it cannot build here
// (exit 2: missing host tools), it falls back to an empty 64 MiB qcow2 made with
// qemu-img create, and says so in the test log; without qemu-img the test is skipped.
func testImage(t *testing.T) string {
	t.Helper()
	testImageOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			testImageErr = err
			return
		}
		script := filepath.Join(root, "images", "testvm", "build.sh")
		var out bytes.Buffer
		check := exec.Command(script, "--check")
		check.Stdout, check.Stderr = &out, &out
		if err := check.Run(); err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				testImageErr = fmt.Errorf("%s --check: %v\n%s", script, err, out.String())
				return
			}
			testImagePath, testImageNote, testImageErr = fallbackImage(strings.TrimSpace(out.String()))
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		var stdout, stderr bytes.Buffer
		build := exec.CommandContext(ctx, script)
		build.Stdout, build.Stderr = &stdout, &stderr
		start := time.Now()
		if err := build.Run(); err != nil {
			testImageErr = fmt.Errorf("%s: %v\n%s", script, err, stderr.String())
			return
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		testImagePath = lines[len(lines)-1]
		testImageNote = fmt.Sprintf("test image: the testvm guest %s (build.sh took %s)",
			testImagePath, time.Since(start).Round(time.Millisecond))
	})
	if testImageErr != nil {
		t.Fatal(testImageErr)
	}
	if testImagePath == "" {
		t.Skip(testImageNote)
	}
	t.Log(testImageNote)
	return testImagePath
}

// fallbackImage makes an empty qcow2 with qemu-img when the testvm image cannot be built.
func fallbackImage(why string) (path, note string, err error) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		return "", "cannot build the testvm image (" + why + ") and qemu-img is not installed for the fallback", nil
	}
	dir, err := os.MkdirTemp("", "gostack-cli-image-")
	if err != nil {
		return "", "", err
	}
	// The directory lives as long as the test process; the OS temp dir cleans it up.
	path = filepath.Join(dir, "fallback.qcow2")
	if b, err := exec.Command("qemu-img", "create", "-f", "qcow2", path, "64M").CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("qemu-img create: %v\n%s", err, b)
	}
	return path, "test image: FALLBACK to an empty qcow2 made by `qemu-img create -f qcow2` (" + path +
		"), because images/testvm/build.sh cannot build here: " + why, nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// fileDigests returns the size, md5 and sha512 (hex) of a file.
func fileDigests(t *testing.T, path string) (size int64, md5hex, sha512hex string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, s := md5.New(), sha512.New()
	n, err := io.Copy(io.MultiWriter(m, s), f)
	if err != nil {
		t.Fatal(err)
	}
	return n, hex.EncodeToString(m.Sum(nil)), hex.EncodeToString(s.Sum(nil))
}

// wantImageError checks that err is a CLI failure with the given HTTP status. The image
// commands report errors through openstacksdk ("HttpException: 415: Client Error for url:
// ..., <message>") rather than the "(HTTP 415)" of the identity commands; both are accepted.
func wantImageError(t *testing.T, err error, code int, what string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: succeeded, want HTTP %d", what, code)
		return
	}
	var ce *testkit.CLIError
	if !errors.As(err, &ce) {
		t.Errorf("%s: %v, want a CLI failure with HTTP %d", what, err, code)
		return
	}
	if !strings.Contains(ce.Stderr, fmt.Sprintf("(HTTP %d)", code)) && !strings.Contains(ce.Stderr, fmt.Sprintf("Exception: %d: ", code)) {
		t.Errorf("%s: failed without HTTP %d in stderr: %v", what, code, err)
	}
}

// sameFile fails the test unless the two files hold the same bytes.
func sameFile(t *testing.T, got, want string) {
	t.Helper()
	a, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("%s (%d bytes) differs from %s (%d bytes)", got, len(a), want, len(b))
	}
}

// props returns the "properties" object of an "image show -f json".
func props(img row) map[string]any {
	p, _ := img["properties"].(map[string]any)
	return p
}

// imageShow runs "image show" and decodes it.
func imageShow(t *testing.T, c *testkit.Cloud, cloud, image string) row {
	t.Helper()
	return osJSON[row](t, c, cloud, "image", "show", image)
}

// imageAPI sends a request to the image API as the given token, with an optional body and
// content type, and returns the status and the response body.
func imageAPI(t *testing.T, c *testkit.Cloud, tok, method, path, contentType string, body io.Reader) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, c.URL+"/image"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", tok)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// osNoData runs "openstack image create" (args after "image create") against cloud with a
// terminal as stdin, and decodes its JSON output. The CLI reads image data from stdin
// whenever stdin is not a terminal (testkit runs it with stdin on /dev/null, which uploads
// an empty file; a closed stdin makes the CLI itself fail), so an image without data is
// created as a user at a shell creates one.
func osNoData(t *testing.T, c *testkit.Cloud, cloud string, args ...string) row {
	t.Helper()
	bin := testkit.RequireCLI(t)
	tty := openPTY(t)
	args = append(append([]string{"image", "create"}, args...), "-f", "json")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(testkit.CleanEnv(), c.Env(cloud)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("$ openstack %s  (stdin a terminal, %.1fs)", strings.Join(args, " "), time.Since(start).Seconds())
	if err != nil {
		t.Fatalf("openstack %s: %v\nstderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	var r row
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("openstack %s: decode output: %v\n%s", strings.Join(args, " "), err, stdout.String())
	}
	return r
}

// openPTY opens a pseudo-terminal and returns its terminal side; both sides are closed when
// the test ends.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal for the CLI's stdin: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlock pseudo-terminal: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("pseudo-terminal number: %v", e)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { pts.Close() })
	return pts
}

// projectID returns the id of a Default-domain project, looked up as admin.
func projectID(t *testing.T, c *testkit.Cloud, name string) string {
	t.Helper()
	id := str(osJSON[row](t, c, "gostack-admin", "project", "show", name), "id")
	if id == "" {
		t.Fatalf("project %s has no id", name)
	}
	return id
}

// imageNames returns the names "image list" shows to cloud.
func imageNames(t *testing.T, c *testkit.Cloud, cloud string, args ...string) []string {
	t.Helper()
	return column(osJSON[[]row](t, c, cloud, append([]string{"image", "list"}, args...)...), "Name")
}

// TestCLIImageWalkthrough uploads the test guest image as a public image and walks through
// list, show, save, set/unset and delete, checking what the CLI prints.
func TestCLIImageWalkthrough(t *testing.T) {
	t.Parallel()
	c := start(t)
	file := testImage(t)
	size, sum, sha := fileDigests(t, file)
	const admin = "gostack-admin"

	// Publicising an image is admin-only in Glance's default policy, so the public test
	// image is uploaded by admin, as DevStack does with CirrOS.
	var id string
	t.Run("image create --file", func(t *testing.T) {
		img := osJSON[row](t, c, admin, "image", "create", "--disk-format", "qcow2", "--container-format", "bare",
			"--public", "--file", file, "testvm")
		id = str(img, "id")
		if id == "" || str(img, "name") != "testvm" || str(img, "visibility") != "public" ||
			str(img, "disk_format") != "qcow2" || str(img, "container_format") != "bare" {
			t.Fatalf("image create: got %v, want an id, name testvm, public, qcow2/bare", img)
		}
		// openstacksdk prints the image as POST /v2/images returned it (queued) and does not
		// read it again after the upload; image show below checks the result.
	})
	if id == "" {
		t.Fatal("no image id")
	}

	t.Run("image show", func(t *testing.T) {
		img := imageShow(t, c, admin, "testvm")
		if got := str(img, "status"); got != "active" {
			t.Errorf("status %q, want active", got)
		}
		if got := str(img, "size"); got != fmt.Sprint(size) {
			t.Errorf("size %s, want %d (the file's size)", got, size)
		}
		if got := str(img, "checksum"); got != sum {
			t.Errorf("checksum %q, want the file's md5 %q", got, sum)
		}
		p := props(img)
		if got := str(p, "os_hash_algo"); got != "sha512" {
			t.Errorf("os_hash_algo %q, want sha512", got)
		}
		if got := str(p, "os_hash_value"); got != sha {
			t.Errorf("os_hash_value %q, want the file's sha512 %q", got, sha)
		}
		if str(img, "id") != id {
			t.Errorf("id %q, want %q", str(img, "id"), id)
		}
		if vs := str(img, "virtual_size"); vs == "" || vs == "0" {
			t.Errorf("virtual_size %q, want the qcow2's virtual size", vs)
		}
	})

	t.Run("image list", func(t *testing.T) {
		rows := osJSON[[]row](t, c, admin, "image", "list")
		var found bool
		for _, r := range rows {
			if str(r, "ID") == id {
				found = true
				if str(r, "Name") != "testvm" || str(r, "Status") != "active" {
					t.Errorf("image list row %v, want testvm active", r)
				}
			}
		}
		if !found {
			t.Errorf("image list: %s missing from %v", id, rows)
		}
		rows = osJSON[[]row](t, c, admin, "image", "list", "--long", "--name", "testvm")
		if len(rows) != 1 || str(rows[0], "Checksum") != sum || str(rows[0], "Size") != fmt.Sprint(size) ||
			str(rows[0], "Visibility") != "public" || str(rows[0], "Disk Format") != "qcow2" {
			t.Errorf("image list --long --name testvm: %v, want one public qcow2 row with checksum %s size %d", rows, sum, size)
		}
		// A public image is listed for every project.
		if names := imageNames(t, c, "gostack"); !contains(names, "testvm") {
			t.Errorf("demo: image list %v, want the public testvm", names)
		}
	})

	t.Run("image save", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		osRun(t, c, admin, "image", "save", "--file", out, "testvm")
		sameFile(t, out, file)
		// Any project may download a public image.
		out2 := filepath.Join(t.TempDir(), "out")
		osRun(t, c, "gostack", "image", "save", "--file", out2, id)
		sameFile(t, out2, file)
	})

	t.Run("image set --property / unset --property", func(t *testing.T) {
		if out := osRun(t, c, admin, "image", "set", "--property", "k=v", "--property", "hw_disk_bus=virtio", "testvm"); strings.TrimSpace(out) != "" {
			t.Errorf("image set printed %q, want nothing", out)
		}
		p := props(imageShow(t, c, admin, "testvm"))
		if str(p, "k") != "v" || str(p, "hw_disk_bus") != "virtio" {
			t.Errorf("properties after set: %v, want k=v and hw_disk_bus=virtio", p)
		}
		osRun(t, c, admin, "image", "unset", "--property", "k", "testvm")
		img := imageShow(t, c, admin, "testvm")
		p = props(img)
		if _, ok := p["k"]; ok {
			t.Errorf("properties after unset: %v, want no k", p)
		}
		if str(p, "hw_disk_bus") != "virtio" {
			t.Errorf("properties after unset k: %v, want hw_disk_bus kept", p)
		}
		if str(img, "checksum") != sum || str(img, "status") != "active" {
			t.Errorf("after set/unset: status %s checksum %s, want active %s", str(img, "status"), str(img, "checksum"), sum)
		}
		// Properties a user may not write.
		_, err := c.OpenStack(t, admin, "image", "set", "--property", "os_hash_value=0", "testvm")
		wantImageError(t, err, 403, "image set --property os_hash_value (read-only)")
	})

	t.Run("image delete", func(t *testing.T) {
		if out := osRun(t, c, admin, "image", "delete", "testvm"); strings.TrimSpace(out) != "" {
			t.Errorf("image delete printed %q, want nothing", out)
		}
		if names := imageNames(t, c, admin); contains(names, "testvm") {
			t.Errorf("image list after delete: %v, want no testvm", names)
		}
		_, err := c.OpenStack(t, admin, "image", "show", id)
		if err == nil {
			t.Errorf("image show of a deleted image succeeded")
		}
		tok := c.PasswordToken(t, "admin", c.AdminPassword, "admin")
		if st, b := imageAPI(t, c, tok, http.MethodGet, "/v2/images/"+id, "", nil); st != http.StatusNotFound {
			t.Errorf("GET /v2/images/%s after delete: %d, want 404: %s", id, st, b)
		}
		if st, b := imageAPI(t, c, tok, http.MethodGet, "/v2/images/"+id+"/file", "", nil); st != http.StatusNotFound {
			t.Errorf("GET /v2/images/%s/file after delete: %d, want 404: %s", id, st, b)
		}
		if files := storeFiles(t, c); len(files) != 0 {
			t.Errorf("files left in the image store after the only image was deleted: %v", files)
		}
	})
}

// TestCLIImageSharing shares an image of demo with alt_demo through a membership that
// alt_demo accepts, checks that a third project does not see it, and that a private image
// is invisible to every other project.
func TestCLIImageSharing(t *testing.T) {
	t.Parallel()
	c := start(t)
	file := testImage(t)
	const admin, demo, alt = "gostack-admin", "gostack", "gostack-alt"
	altID := projectID(t, c, "alt_demo")

	// A third project with a member, created by admin.
	osRun(t, c, admin, "project", "create", "third")
	osRun(t, c, admin, "user", "create", "--project", "third", "--password", "third-secret", "third_user")
	osRun(t, c, admin, "role", "add", "--project", "third", "--user", "third_user", "member")
	third := passwordCloud(t, c, "third_user", "third-secret", "third")
	thirdImages := func() []string {
		t.Helper()
		out, err := testkit.RunOpenStack(t, third, "image", "list", "-f", "json")
		if err != nil {
			t.Fatal(err)
		}
		var rows []row
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("image list as third_user: %v\n%s", err, out)
		}
		return column(rows, "Name")
	}
	thirdTok := c.PasswordToken(t, "third_user", "third-secret", "third")

	var sharedID string
	t.Run("shared image", func(t *testing.T) {
		img := osJSON[row](t, c, demo, "image", "create", "--disk-format", "qcow2", "--container-format", "bare",
			"--shared", "--file", file, "shared-img")
		sharedID = str(img, "id")
		if sharedID == "" || str(img, "visibility") != "shared" {
			t.Fatalf("image create --shared: %v", img)
		}
		if st := str(imageShow(t, c, demo, sharedID), "status"); st != "active" {
			t.Fatalf("shared image status %q, want active", st)
		}
		// Before it is shared with anyone, no other project sees it.
		if names := imageNames(t, c, alt); contains(names, "shared-img") {
			t.Errorf("alt_demo: image list before sharing: %v, want no shared-img", names)
		}

		// A project member cannot look up other projects by name (Keystone answers 403), in
		// which case the CLI passes the name on as the member id, as it does against
		// OpenStack; so the project is given by id.
		m := osJSON[row](t, c, demo, "image", "add", "project", sharedID, altID)
		if str(m, "member_id") != altID || str(m, "image_id") != sharedID || str(m, "status") != "pending" {
			t.Errorf("image add project: %v, want member %s of %s, pending", m, altID, sharedID)
		}
		// A pending membership does not put the image in alt_demo's list yet.
		if names := imageNames(t, c, alt); contains(names, "shared-img") {
			t.Errorf("alt_demo: image list with the membership pending: %v, want no shared-img", names)
		}

		osRun(t, c, alt, "image", "set", "--accept", sharedID)
		rows := osJSON[[]row](t, c, demo, "image", "member", "list", sharedID)
		if len(rows) != 1 || str(rows[0], "Member ID") != altID || str(rows[0], "Status") != "accepted" {
			t.Errorf("image member list after accept: %v, want %s accepted", rows, altID)
		}
		if names := imageNames(t, c, alt); !contains(names, "shared-img") {
			t.Errorf("alt_demo: image list after accepting: %v, want shared-img", names)
		}
		if img := imageShow(t, c, alt, sharedID); str(img, "name") != "shared-img" || str(img, "status") != "active" {
			t.Errorf("alt_demo: image show: %v", img)
		}
		out := filepath.Join(t.TempDir(), "out")
		if _, err := c.OpenStack(t, alt, "image", "save", "--file", out, sharedID); err != nil {
			t.Errorf("alt_demo: image save of the shared image: %v", err)
		} else {
			sameFile(t, out, file)
		}
		// A member may not change the image.
		_, err := c.OpenStack(t, alt, "image", "set", "--property", "k=v", sharedID)
		wantImageError(t, err, 403, "alt_demo: image set on an image shared with it")

		// The third project sees nothing of it.
		if names := thirdImages(); contains(names, "shared-img") {
			t.Errorf("third: image list: %v, want no shared-img", names)
		}
		if _, err := testkit.RunOpenStack(t, third, "image", "show", sharedID, "-f", "json"); err == nil {
			t.Errorf("third: image show of an image shared with alt_demo only succeeded")
		}
		if st, b := imageAPI(t, c, thirdTok, http.MethodGet, "/v2/images/"+sharedID, "", nil); st != http.StatusNotFound {
			t.Errorf("third: GET /v2/images/%s: %d, want 404: %s", sharedID, st, b)
		}
		if st, b := imageAPI(t, c, thirdTok, http.MethodGet, "/v2/images/"+sharedID+"/file", "", nil); st != http.StatusNotFound {
			t.Errorf("third: GET /v2/images/%s/file: %d, want 404 (%d bytes)", sharedID, st, len(b))
		}

		// Removing the member takes the image away from alt_demo again.
		osRun(t, c, demo, "image", "remove", "project", sharedID, altID)
		if names := imageNames(t, c, alt); contains(names, "shared-img") {
			t.Errorf("alt_demo: image list after remove project: %v, want no shared-img", names)
		}
	})

	t.Run("private image", func(t *testing.T) {
		img := osJSON[row](t, c, demo, "image", "create", "--disk-format", "qcow2", "--container-format", "bare",
			"--private", "--file", file, "private-img")
		id := str(img, "id")
		if id == "" || str(img, "visibility") != "private" {
			t.Fatalf("image create --private: %v", img)
		}
		if names := imageNames(t, c, demo); !contains(names, "private-img") {
			t.Errorf("demo: image list %v, want its own private-img", names)
		}
		for _, who := range []struct {
			name string
			list func() []string
			show func() error
			tok  string
		}{
			{"alt_demo", func() []string { return imageNames(t, c, alt) },
				func() error { _, err := c.OpenStack(t, alt, "image", "show", id, "-f", "json"); return err },
				c.PasswordToken(t, "alt_demo", c.DemoPassword, "alt_demo")},
			{"third", thirdImages,
				func() error {
					_, err := testkit.RunOpenStack(t, third, "image", "show", id, "-f", "json")
					return err
				}, thirdTok},
		} {
			if names := who.list(); contains(names, "private-img") {
				t.Errorf("%s: image list %v, want no private-img", who.name, names)
			}
			if err := who.show(); err == nil {
				t.Errorf("%s: image show of demo's private image succeeded", who.name)
			}
			if st, b := imageAPI(t, c, who.tok, http.MethodGet, "/v2/images/"+id, "", nil); st != http.StatusNotFound {
				t.Errorf("%s: GET /v2/images/%s: %d, want 404: %s", who.name, id, st, b)
			}
		}
		// A private image cannot be shared through members (Glance: 403).
		_, err := c.OpenStack(t, demo, "image", "add", "project", id, altID)
		wantImageError(t, err, 403, "image add project on a private image")

		osRun(t, c, demo, "image", "delete", id, sharedID)
		if names := imageNames(t, c, demo); contains(names, "private-img") || contains(names, "shared-img") {
			t.Errorf("demo: image list after delete: %v", names)
		}
	})
}

// htmlPage is what `curl -o cirros.img` saves when the URL answers with an error page.
const htmlPage = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>404 Not Found</title></head>
<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body>
</html>
`

// TestCLIImageBadInput uploads data that is not what it claims to be: an HTML page declared
// as qcow2, and a qcow2 whose backing file is /etc/passwd. Both are refused with a message
// that says why, and neither image ever becomes active.
func TestCLIImageBadInput(t *testing.T) {
	t.Parallel()
	c := start(t)
	const demo = "gostack"
	dir := t.TempDir()
	html := filepath.Join(dir, "cirros.img")
	if err := os.WriteFile(html, []byte(htmlPage), 0o644); err != nil {
		t.Fatal(err)
	}
	backing := filepath.Join(dir, "backing.qcow2")
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img is not installed (apt-get install qemu-utils)")
	}
	if b, err := exec.Command("qemu-img", "create", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", backing).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create -b /etc/passwd: %v\n%s", err, b)
	}
	tok := c.PasswordToken(t, "demo", c.DemoPassword, "demo")

	for _, tc := range []struct {
		name, file string
		want       []string // in the CLI's stderr, case-insensitively
	}{
		{"html as qcow2", html, []string{"HTML", "qcow2"}},
		{"qcow2 with a backing file", backing, []string{"backing file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.ReplaceAll(tc.name, " ", "-")
			// The walkthrough's way: image create --file. openstacksdk deletes the image it
			// created when the upload fails, so what is left to check is the message and
			// that no such image is active.
			_, err := c.OpenStack(t, demo, "image", "create", "--disk-format", "qcow2", "--container-format", "bare",
				"--file", tc.file, name, "-f", "json")
			wantImageError(t, err, 415, "image create --file "+tc.name)
			var ce *testkit.CLIError
			if errors.As(err, &ce) {
				for _, w := range tc.want {
					if !strings.Contains(strings.ToLower(ce.Stderr), strings.ToLower(w)) {
						t.Errorf("image create --file %s: stderr does not mention %q:\n%s", tc.name, w, ce.Stderr)
					}
				}
				t.Logf("the CLI said: %s", strings.TrimSpace(ce.Stderr))
			}
			for _, r := range osJSON[[]row](t, c, demo, "image", "list", "--long") {
				if str(r, "Name") == name && str(r, "Status") == "active" {
					t.Errorf("image list: %v is active", r)
				}
			}

			// The same upload into an image that stays around: created with the CLI (queued,
			// no data), the data PUT by hand; it is refused and the image stays queued.
			img := osNoData(t, c, demo, "--disk-format", "qcow2", "--container-format", "bare", name)
			id := str(img, "id")
			if id == "" || str(img, "status") != "queued" {
				t.Fatalf("image create without data: %v, want a queued image", img)
			}
			f, err := os.Open(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, body := imageAPI(t, c, tok, http.MethodPut, "/v2/images/"+id+"/file", "application/octet-stream", f)
			if st != http.StatusUnsupportedMediaType {
				t.Errorf("PUT /v2/images/%s/file: %d, want 415: %s", id, st, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(strings.ToLower(string(body)), strings.ToLower(w)) {
					t.Errorf("PUT /v2/images/%s/file: body does not mention %q: %s", id, w, body)
				}
			}
			img = imageShow(t, c, demo, id)
			if str(img, "status") != "queued" || str(img, "checksum") != "" || (str(img, "size") != "" && str(img, "size") != "0") {
				t.Errorf("image after the refused upload: status %q checksum %q size %q, want queued with no data",
					str(img, "status"), str(img, "checksum"), str(img, "size"))
			}
			if st, b := imageAPI(t, c, tok, http.MethodGet, "/v2/images/"+id+"/file", "", nil); st != http.StatusNoContent || len(b) != 0 {
				t.Errorf("GET /v2/images/%s/file after the refused upload: %d with %d bytes, want 204 and nothing", id, st, len(b))
			}
			if files := storeFiles(t, c); len(files) != 0 {
				t.Errorf("files in the image store after refused uploads only: %v", files)
			}
			osRun(t, c, demo, "image", "delete", id)
		})
	}
}

// storeFiles returns the regular files under the image store (DataDir/images), relative to
// it, with their sizes.
func storeFiles(t *testing.T, c *testkit.Cloud) map[string]int64 {
	t.Helper()
	root := filepath.Join(c.DataDir, "images")
	files := map[string]int64{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		var size int64
		if fi, err := d.Info(); err == nil {
			size = fi.Size()
		}
		files[rel] = size
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return files
}

// TestCLIImageRestart checks that an uploaded image survives a clean restart byte for byte.
func TestCLIImageRestart(t *testing.T) {
	t.Parallel()
	c := start(t)
	file := testImage(t)
	_, sum, sha := fileDigests(t, file)
	const demo = "gostack"
	id := str(osJSON[row](t, c, demo, "image", "create", "--disk-format", "qcow2", "--container-format", "bare",
		"--file", file, "--property", "keep=me", "keeper"), "id")
	if st := str(imageShow(t, c, demo, id), "status"); st != "active" {
		t.Fatalf("status %q before the restart, want active", st)
	}
	c.Stop()
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	img := imageShow(t, c, demo, id)
	if str(img, "status") != "active" || str(img, "checksum") != sum || str(props(img), "os_hash_value") != sha ||
		str(props(img), "keep") != "me" || str(img, "name") != "keeper" {
		t.Errorf("image after restart: %v, want keeper, active, checksum %s, keep=me", img, sum)
	}
	out := filepath.Join(t.TempDir(), "out")
	osRun(t, c, demo, "image", "save", "--file", out, id)
	sameFile(t, out, file)
}

// TestCLIImageKill9Upload kills gostack with SIGKILL while a 200 MB upload streams in, then
// checks after a restart that the image is not active, that nothing of the partial upload is
// left in the store, and that the image can be uploaded again.
func TestCLIImageKill9Upload(t *testing.T) {
	t.Parallel()
	c := start(t)
	const demo = "gostack"
	const total = 200 << 20
	const before = 64 << 20 // bytes sent before the writer waits for the kill
	img := osNoData(t, c, demo, "--disk-format", "raw", "--container-format", "bare", "big")
	id := str(img, "id")
	if id == "" {
		t.Fatalf("image create: %v", img)
	}
	tok := c.PasswordToken(t, "demo", c.DemoPassword, "demo")

	chunk := make([]byte, 1<<20)
	if _, err := rand.Read(chunk); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	killed := make(chan struct{})
	go func() {
		var sent int
		for sent < total {
			if sent == before {
				<-killed
			}
			n, err := pw.Write(chunk)
			sent += n
			if err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, err := http.NewRequest(http.MethodPut, c.URL+"/image/v2/images/"+id+"/file", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = total
	req.Header.Set("X-Auth-Token", tok)
	req.Header.Set("Content-Type", "application/octet-stream")
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()

	// Wait until the server has written a good part of the data somewhere in its store,
	// then kill it in the middle of the upload.
	var stored int64
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		stored = 0
		for _, n := range storeFiles(t, c) {
			stored += n
		}
		if stored >= 32<<20 {
			break
		}
		select {
		case r := <-done:
			close(killed)
			t.Fatalf("upload ended before the kill: status %d, err %v", r.status, r.err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if stored < 32<<20 {
		close(killed)
		t.Fatalf("the store holds %d bytes after 60 s of uploading; want at least 32 MiB before the kill", stored)
	}
	if st := str(imageShow(t, c, demo, id), "status"); st != "saving" {
		t.Errorf("status during the upload: %q, want saving", st)
	}
	t.Logf("killing gostack with %d MiB of %d MiB in the store", stored>>20, total>>20)
	c.Kill()
	close(killed)
	if r := <-done; r.err == nil {
		t.Errorf("the upload succeeded (status %d) although the server was killed in the middle", r.status)
	}
	pw.CloseWithError(errors.New("server killed"))

	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	if st := str(imageShow(t, c, demo, id), "status"); st == "active" {
		t.Fatalf("image is active after a kill -9 in the middle of its upload")
	}
	// The start-up reconcile pass runs in the background; give it a few seconds to put the
	// image back to queued and clear the debris.
	var (
		status string
		files  map[string]int64
	)
	start := time.Now()
	for {
		img := imageShow(t, c, demo, id)
		status = str(img, "status")
		files = storeFiles(t, c)
		if status == "queued" && len(files) == 0 {
			if str(img, "checksum") != "" || (str(img, "size") != "" && str(img, "size") != "0") {
				t.Errorf("image after restart: checksum %q size %q, want none", str(img, "checksum"), str(img, "size"))
			}
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("10 s after the restart: status %q and store files %v; want queued and no files", status, files)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("queued with an empty store %s after the restart", time.Since(start).Round(time.Millisecond))

	// The image is usable again: a complete upload makes it active.
	data := bytes.Repeat(chunk, 4)
	st, b := imageAPI(t, c, tok, http.MethodPut, "/v2/images/"+id+"/file", "application/octet-stream", bytes.NewReader(data))
	if st != http.StatusNoContent {
		t.Fatalf("upload after the restart: %d, want 204: %s", st, b)
	}
	m := md5.Sum(data)
	if img := imageShow(t, c, demo, id); str(img, "status") != "active" || str(img, "checksum") != hex.EncodeToString(m[:]) ||
		str(img, "size") != fmt.Sprint(len(data)) {
		t.Errorf("image after a new upload: status %s checksum %s size %s", str(img, "status"), str(img, "checksum"), str(img, "size"))
	}
	if files := storeFiles(t, c); len(files) != 1 {
		t.Errorf("store after one complete upload: %v, want exactly one file", files)
	}
}
