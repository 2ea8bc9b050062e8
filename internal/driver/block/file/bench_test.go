package file

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gostack/gostack/internal/driver/block"
)

// BenchmarkCreate1GiB is the time to make an empty 1 GiB qcow2 volume (sparse).
func BenchmarkCreate1GiB(b *testing.B) {
	for _, format := range []string{"qcow2", "raw"} {
		b.Run(format, func(b *testing.B) {
			d, _ := newTestDriver(b)
			i := 0
			for b.Loop() {
				i++
				if err := d.Create(b.Context(), block.Volume{ID: "v" + strconv.Itoa(i), SizeGB: 1, Format: format}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// image100MiB writes the benchmarks' source image: 100 MiB of data that does not
// compress or hole-punch (the worst case for a copy), as a raw file.
func image100MiB(b *testing.B) string {
	path := filepath.Join(b.TempDir(), "image.raw")
	if err := os.WriteFile(path, pattern(42, 100<<20), 0o640); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkCreateFromImage100MiB makes a 1 GiB volume from a 100 MiB raw image, to
// compare with BenchmarkQemuImgConvert100MiB (the aim: at least 0.8× its speed): from
// a local file (converted in place) and streamed (downloaded into a temporary first).
// The volume is durable when Create returns (fsync), which a plain convert is not: see
// BenchmarkQemuImgConvertSync100MiB for the same convert with the data on disk.
func BenchmarkCreateFromImage100MiB(b *testing.B) {
	for _, tc := range []struct {
		name, format string
		streamed     bool
	}{{"qcow2", "qcow2", false}, {"raw", "raw", false}, {"qcow2-streamed", "qcow2", true}, {"raw-streamed", "raw", true}} {
		format := tc.format
		b.Run(tc.name, func(b *testing.B) {
			d, _ := newTestDriver(b)
			src := image100MiB(b)
			b.SetBytes(100 << 20)
			i := 0
			for b.Loop() {
				i++
				vol := block.Volume{ID: "v" + strconv.Itoa(i), SizeGB: 1, Format: format}
				img := fileImage("img", "raw", src)
				if tc.streamed {
					img = streamedImage(img)
				}
				if err := d.CreateFromImage(b.Context(), vol, img); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := d.Delete(b.Context(), vol); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkQemuImgConvert100MiB is the reference: a plain qemu-img convert of the
// same image to qcow2 (data left in the page cache).
func BenchmarkQemuImgConvert100MiB(b *testing.B) { benchConvert(b, false) }

// BenchmarkQemuImgConvertSync100MiB is the same convert followed by an fsync of the
// result, which is what a crash-safe volume needs.
func BenchmarkQemuImgConvertSync100MiB(b *testing.B) { benchConvert(b, true) }

func benchConvert(b *testing.B, sync bool) {
	requireQemuImg(b)
	src := image100MiB(b)
	dst := filepath.Join(b.TempDir(), "out.qcow2")
	b.SetBytes(100 << 20)
	for b.Loop() {
		if out, err := exec.Command("qemu-img", "convert", "-f", "raw", "-O", "qcow2", src, dst).CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		if sync {
			if err := syncFile(dst); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		os.Remove(dst)
		b.StartTimer()
	}
}

// backupSource is 256 MiB like a used volume: a quarter random data, a quarter text,
// half zeros.
func backupSource() []byte {
	const size = 256 << 20
	v := make([]byte, size)
	copy(v, pattern(7, size/4))
	copy(v[size/4:], bytes.Repeat([]byte("a line of a log file, compressible\n"), size/4/35))
	return v
}

// BenchmarkBackup256MiB is the backup throughput (bytes of the volume read).
func BenchmarkBackup256MiB(b *testing.B) {
	s, err := NewBackupStore(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	v := backupSource()
	b.SetBytes(int64(len(v)))
	i := 0
	for b.Loop() {
		i++
		id := "b" + strconv.Itoa(i)
		if _, err := s.Backup(b.Context(), id, "", bytes.NewReader(v)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Delete(b.Context(), id)
		b.StartTimer()
	}
}

// BenchmarkIncrementalBackup256MiB backs up the same volume with one chunk changed.
func BenchmarkIncrementalBackup256MiB(b *testing.B) {
	s, err := NewBackupStore(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	v := backupSource()
	if _, err := s.Backup(b.Context(), "full", "", bytes.NewReader(v)); err != nil {
		b.Fatal(err)
	}
	v[12345]++
	b.SetBytes(int64(len(v)))
	i := 0
	for b.Loop() {
		i++
		id := "b" + strconv.Itoa(i)
		if _, err := s.Backup(b.Context(), id, "full", bytes.NewReader(v)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Delete(b.Context(), id)
		b.StartTimer()
	}
}

// BenchmarkRestore256MiB is the restore throughput.
func BenchmarkRestore256MiB(b *testing.B) {
	s, err := NewBackupStore(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	v := backupSource()
	if _, err := s.Backup(b.Context(), "full", "", bytes.NewReader(v)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(v)))
	buf := make([]byte, 4<<20)
	for b.Loop() {
		r, err := s.Restore(b.Context(), "full")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, r, buf); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}
