package file

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gostack/gostack/internal/driver/block"
	"github.com/gostack/gostack/internal/image/inspect"
)

// testImage is sparse data with a pattern at the start and one further in.
func testImage(size int64) content {
	return content{size: size, extents: map[int64][]byte{
		0:             pattern(1, 3<<20),
		size/2 + 4097: pattern(2, 1<<20+7),
		size - 100:    pattern(3, 100),
	}}
}

func TestCreateFromImage(t *testing.T) {
	d, run := newTestDriver(t)
	ctx := t.Context()
	src := t.TempDir()
	data := testImage(24 << 20)
	rawPath := filepath.Join(src, "image.raw")
	data.writeTo(t, rawPath)
	qcowPath := filepath.Join(src, "image.qcow2")
	qemuImg(t, "convert", "-f", "raw", "-O", "qcow2", rawPath, qcowPath)

	for _, tc := range []struct {
		name, diskFormat, path, volFormat string
		wantCmds                          []string
	}{
		{"raw to qcow2", "raw", rawPath, "qcow2", []string{
			"qemu-img create -q -f qcow2 $DIR/.tmp-volume-rq.qcow2 1073741824",
			"qemu-img convert -q -f raw -O qcow2 -n --target-is-zero $SRC $DIR/.tmp-volume-rq.qcow2",
		}},
		// A raw image becomes a raw volume without qemu-img.
		{"raw to raw", "raw", rawPath, "raw", nil},
		{"qcow2 to raw", "qcow2", qcowPath, "raw", []string{
			"qemu-img convert -q -f qcow2 -O raw -n --target-is-zero $SRC $DIR/.tmp-volume-qr.raw",
		}},
		{"qcow2 to qcow2", "qcow2", qcowPath, "qcow2", []string{
			"qemu-img create -q -f qcow2 $DIR/.tmp-volume-qq.qcow2 1073741824",
			"qemu-img convert -q -f qcow2 -O qcow2 -n --target-is-zero $SRC $DIR/.tmp-volume-qq.qcow2",
		}},
		// An ISO is read as raw.
	} {
		// From a local file (converted in place, through our descriptor) and from a
		// stream (downloaded into a temporary first).
		for _, streamed := range []bool{false, true} {
			name := tc.name + map[bool]string{false: " from a file", true: " streamed"}[streamed]
			t.Run(name, func(t *testing.T) {
				id := string(tc.diskFormat[0]) + string(tc.volFormat[0])
				if streamed {
					id += "s"
				}
				vol := block.Volume{ID: id, SizeGB: 1, Format: tc.volFormat}
				img := fileImage("img-"+id, tc.diskFormat, tc.path)
				if streamed {
					img = streamedImage(img)
				}
				opened := countOpens(&img)
				before := len(run.commands())
				for range 2 {
					if err := d.CreateFromImage(ctx, vol, img); err != nil {
						t.Fatal(err)
					}
				}
				if *opened != 1 {
					t.Errorf("image opened %d times; the second call must find the volume done", *opened)
				}
				src := "/proc/$PID/fd/N"
				if streamed {
					src = "$DIR/.tmp-image-volume-" + id + "." + tc.volFormat
				}
				var want []string
				for _, c := range tc.wantCmds {
					c = strings.ReplaceAll(c, "$SRC", src)
					if streamed {
						c = strings.ReplaceAll(c, "-volume-"+id[:2]+".", "-volume-"+id+".")
					}
					want = append(want, c)
				}
				got := normalize(run.commands()[before:], d.Dir())
				if d.directIO {
					for i := range want {
						want[i] = strings.Replace(want[i], "-q -f", "-q -t none -f", 1)
						want[i] = strings.Replace(want[i], "create -q -t none -f", "create -q -f", 1)
					}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("commands (-want +got):\n%s", diff)
				}
				path := filepath.Join(d.Dir(), "volume-"+id+"."+tc.volFormat)
				info := imgInfo(t, path, tc.volFormat)
				if info.VirtualSize != gib {
					t.Errorf("virtual size %d, want 1 GiB", info.VirtualSize)
				}
				if info.ActualSize > 16<<20 {
					t.Errorf("volume takes %d bytes on disk; holes must stay holes", info.ActualSize)
				}
				want2 := data
				want2.size = gib
				r, err := d.Export(ctx, vol, "raw")
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				want2.check(t, r)
				if names := listDir(t, d.Dir()); hasTemporary(names) {
					t.Errorf("temporaries left: %q", names)
				}
			})
		}
	}
}

// streamedImage hides that img is a file, as an image coming over the network would.
func streamedImage(img block.Image) block.Image {
	open := img.Open
	img.Open = func(ctx context.Context) (io.ReadCloser, error) {
		rc, err := open(ctx)
		if err != nil {
			return nil, err
		}
		return struct {
			io.Reader
			io.Closer
		}{rc, rc}, nil
	}
	return img
}

// countOpens makes img count how often it is opened.
func countOpens(img *block.Image) *int {
	n := new(int)
	open := img.Open
	img.Open = func(ctx context.Context) (io.ReadCloser, error) {
		*n++
		return open(ctx)
	}
	return n
}

// procFD matches the path qemu-img is given to open one of our descriptors.
var procFD = regexp.MustCompile(`/proc/[0-9]+/fd/[0-9]+`)

func normalize(cmds []string, dir string) []string {
	var out []string
	for _, c := range cmds {
		c = procFD.ReplaceAllString(c, "/proc/$$PID/fd/N")
		out = append(out, strings.ReplaceAll(c, dir, "$DIR"))
	}
	return out
}

func hasTemporary(names []string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, tmpPrefix) {
			return true
		}
	}
	return false
}

func TestCreateFromImageRefused(t *testing.T) {
	requireQemuImg(t)
	src := t.TempDir()
	base := filepath.Join(src, "base.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", base, "64M")
	withBacking := filepath.Join(src, "top.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", withBacking)
	plain := filepath.Join(src, "plain.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", plain, "64M")
	big := filepath.Join(src, "big.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", big, "3G")
	rawData := pattern(7, 1<<20)

	for _, tc := range []struct {
		name   string
		img    block.Image
		is     []error
		inMsg  string
		volFmt string
	}{
		{"qcow2 with a backing file", fileImage("i", "qcow2", withBacking),
			[]error{block.ErrInvalid, inspect.ErrUnsafe}, "backing file", "qcow2"},
		{"qcow2 with a backing file, streamed", streamedImage(fileImage("i", "qcow2", withBacking)),
			[]error{block.ErrInvalid, inspect.ErrUnsafe}, "backing file", "qcow2"},
		{"qcow2 declared raw, streamed", streamedImage(fileImage("i", "raw", plain)),
			[]error{block.ErrInvalid, inspect.ErrMismatch}, "does not match", "qcow2"},
		{"file shorter than the size", block.Image{ID: "i", DiskFormat: "qcow2", Size: 1 << 30,
			Open: func(context.Context) (io.ReadCloser, error) { return os.Open(plain) }},
			nil, "not its size", "qcow2"},
		{"qcow2 with a backing file into raw", fileImage("i", "qcow2", withBacking),
			[]error{block.ErrInvalid, inspect.ErrUnsafe}, "backing file", "raw"},
		{"raw bytes declared qcow2", bytesImage("i", "qcow2", rawData),
			[]error{block.ErrInvalid, inspect.ErrMismatch}, "does not match", "qcow2"},
		{"qcow2 declared raw", fileImage("i", "raw", plain),
			[]error{block.ErrInvalid, inspect.ErrMismatch}, "does not match", "raw"},
		{"qcow2 declared raw into qcow2", fileImage("i", "raw", plain),
			[]error{block.ErrInvalid, inspect.ErrMismatch}, "does not match", "qcow2"},
		{"qcow2 declared vmdk", fileImage("i", "vmdk", plain),
			[]error{block.ErrInvalid, inspect.ErrMismatch}, "does not match", "qcow2"},
		{"virtual size larger than the volume", fileImage("i", "qcow2", big),
			[]error{block.ErrInvalid}, "image virtual size is 3GB and doesn't fit in a volume of size 1GB", "qcow2"},
		{"raw larger than the volume", block.Image{ID: "i", DiskFormat: "raw", Size: gib + 1,
			Open: func(context.Context) (io.ReadCloser, error) {
				return io.NopCloser(io.LimitReader(zeroReader{}, gib+1)), nil
			}},
			[]error{block.ErrInvalid}, "doesn't fit", "raw"},
		{"stream shorter than the size", block.Image{ID: "i", DiskFormat: "raw", Size: 2 << 20,
			Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("short")), nil }},
			nil, "ended after 5 of 2097152 bytes", "qcow2"},
		{"stream longer than the size", block.Image{ID: "i", DiskFormat: "raw", Size: 3,
			Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("longer")), nil }},
			nil, "longer than its size", "qcow2"},
		{"open fails", block.Image{ID: "i", DiskFormat: "raw", Size: 3,
			Open: func(context.Context) (io.ReadCloser, error) { return nil, errors.New("glance is down") }},
			nil, "glance is down", "qcow2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, run := newTestDriver(t)
			err := d.CreateFromImage(t.Context(), block.Volume{ID: "v", SizeGB: 1, Format: tc.volFmt}, tc.img)
			if err == nil {
				t.Fatal("image accepted")
			}
			for _, target := range tc.is {
				if !errors.Is(err, target) {
					t.Errorf("err = %v, want it to wrap %v", err, target)
				}
			}
			if tc.is == nil && errors.Is(err, block.ErrInvalid) {
				t.Errorf("err = %v: a transport failure is not the user's invalid request", err)
			}
			if !strings.Contains(err.Error(), tc.inMsg) {
				t.Errorf("err = %q, want it to say %q", err, tc.inMsg)
			}
			if strings.Contains(err.Error(), d.Dir()) || strings.Contains(err.Error(), src) {
				t.Errorf("err = %q names a path", err)
			}
			for _, c := range run.commands() {
				if strings.Contains(c, "convert") || strings.Contains(c, "image-volume") {
					t.Errorf("qemu-img read a refused image: %s", c)
				}
			}
			if names := listDir(t, d.Dir()); len(names) != 0 {
				t.Errorf("files left after a refusal: %q", names)
			}
		})
	}
}

// zeroReader reads zeros forever.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestCreateFromImageCancelled(t *testing.T) {
	d, _ := newTestDriver(t)
	ctx, cancel := context.WithCancel(t.Context())
	var reads atomic.Int64
	img := block.Image{ID: "i", DiskFormat: "raw", Size: 1 << 30,
		Open: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(readFunc(func(p []byte) (int, error) {
				if reads.Add(1) == 3 {
					cancel()
				}
				return copy(p, pattern(9, len(p))), nil
			})), nil
		}}
	if err := d.CreateFromImage(ctx, block.Volume{ID: "v", SizeGB: 1}, img); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if names := listDir(t, d.Dir()); len(names) != 0 {
		t.Errorf("files left after a cancelled create: %q", names)
	}
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }
