package inspect

import (
	"bytes"
	"testing"
)

// benchmarkUpload streams 1 GiB that starts with a qcow2 header through an Inspector in
// Writes of the given size, as an upload handler's io.Copy does, and reads the result.
func benchmarkUpload(b *testing.B, chunk int) {
	const total = 1 << 30
	first := make([]byte, chunk)
	copy(first, qcow2Image(nil))
	rest := make([]byte, chunk)
	b.SetBytes(total)
	b.ReportAllocs()
	for b.Loop() {
		ins := NewInspector()
		ins.Write(first)
		for n := chunk; n < total; n += chunk {
			ins.Write(rest)
		}
		if info, err := ins.Result(total); err != nil || info.Format != QCOW2 {
			b.Fatal(info, err)
		}
	}
}

// BenchmarkInspector32K measures an upload in 32 KiB Writes, io.Copy's buffer size.
func BenchmarkInspector32K(b *testing.B) { benchmarkUpload(b, 32<<10) }

// BenchmarkInspector4K measures an upload in 4 KiB Writes.
func BenchmarkInspector4K(b *testing.B) { benchmarkUpload(b, 4<<10) }

// BenchmarkInspector1M measures an upload in 1 MiB Writes.
func BenchmarkInspector1M(b *testing.B) { benchmarkUpload(b, 1<<20) }

// BenchmarkDetectVHDX measures Detect on a VHDX whose metadata lies beyond the head.
func BenchmarkDetectVHDX(b *testing.B) {
	img := vhdxImage(vhdxOptions{metaOff: 3 << 20})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Detect(bytes.NewReader(img), int64(len(img))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDetectQCOW2 measures Detect on a small qcow2 image.
func BenchmarkDetectQCOW2(b *testing.B) {
	img := qcow2Image(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Detect(bytes.NewReader(img), int64(len(img))); err != nil {
			b.Fatal(err)
		}
	}
}
