package inspect

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fuzzBases are images the fuzz targets may overwrite part of, so that the fuzzer reaches
// the structures that lie far into a file (VHDX metadata, ISO descriptors, VMDK footers)
// without having to invent megabytes of data first. Base 0 is no base: the input is the
// whole image.
var fuzzBases = sync.OnceValue(func() [][]byte {
	return [][]byte{
		nil,
		qcow2Image(nil),
		vmdkImage(sparseDescriptor, nil),
		withFooter(vmdkImage(sparseDescriptor, nil), nil),
		[]byte(sparseDescriptor),
		dynamicVHD(nil),
		append(make([]byte, 4096), vhdFooter(vhdFixed, nil)...),
		vhdxImage(vhdxOptions{}),
		vhdxImage(vhdxOptions{metaOff: 2 << 20}),
		vdiImage(nil),
		isoImage("CD001", "CD001", "BEA01", "NSR02", "TEA01"),
		mod(make([]byte, 4096), func(b []byte) { copy(b, mbrSector(gptProtective)) }),
		append(bytes.Clone(luksMagic), make([]byte, 2048)...),
	}
})

// fuzzImage builds the image a fuzz input describes: data written over base at offset at.
func fuzzImage(data []byte, base uint8, at uint32) []byte {
	bases := fuzzBases()
	b := bases[int(base)%len(bases)]
	if len(b) == 0 {
		return data
	}
	img := bytes.Clone(b)
	off := int(at % uint32(len(img)))
	n := copy(img[off:], data)
	return append(img, data[n:]...)
}

func addFuzzSeeds(f *testing.F, add func(data []byte, base uint8, at uint32)) {
	files, _ := filepath.Glob(filepath.Join("testdata", "headers", "*.*"))
	for _, path := range files {
		if strings.HasSuffix(path, ".sh") {
			continue
		}
		if data, err := os.ReadFile(path); err == nil {
			add(data, 0, 0)
		}
	}
	add([]byte("<html></html>"), 0, 0)
	add([]byte{0xff, 0xff, 0xff, 0xff}, 1, 8)                   // qcow2 backing file offset
	add([]byte("parentFileNameHint=\"/etc/passwd\"\n"), 2, 900) // vmdk descriptor
	add([]byte{0xff, 0xff}, 3, 56)                              // vmdk gd offset
	add([]byte{0, 0, 0, 4}, 5, 60)                              // vhd disk type
	add([]byte{0xff, 0xff, 0xff, 0x7f}, 7, 1<<20+48)            // vhdx item offset
	add([]byte{0x07}, 8, 2<<20+10)                              // vhdx item count
	add([]byte("CD001"), 10, 32<<10+2049)                       // iso descriptor
	add([]byte{0x12}, 11, 446)                                  // mbr boot flag
}

// FuzzDetect checks that Detect never panics on any data, that every refusal wraps
// ErrUnsafe, and that what it reports is consistent.
func FuzzDetect(f *testing.F) {
	addFuzzSeeds(f, func(data []byte, base uint8, at uint32) { f.Add(data, base, at) })
	f.Fuzz(func(t *testing.T, data []byte, base uint8, at uint32) {
		img := fuzzImage(data, base, at)
		info, err := Detect(bytes.NewReader(img), int64(len(img)))
		if err != nil && !errors.Is(err, ErrUnsafe) {
			t.Fatalf("error %q does not wrap ErrUnsafe", err)
		}
		if info.Format == "" || info.VirtualSize < 0 {
			t.Fatalf("bad result %s", describe(info))
		}
		if info.Format == Raw && err == nil && info.VirtualSize != int64(len(img)) {
			t.Fatalf("raw virtual size %d for %d bytes", info.VirtualSize, len(img))
		}
		if info.Looks != "" && info.Format != Raw {
			t.Fatalf("%s described as %q", info.Format, info.Looks)
		}
		if err == nil {
			for _, declared := range []string{string(info.Format), "raw", "ami"} {
				_ = CheckDeclared(declared, info)
			}
			if QemuImgFormat(info.Format) == "" {
				t.Fatalf("accepted %s, which qemu-img cannot open", info.Format)
			}
		}
	})
}

// FuzzInspector checks that an Inspector fed any data in chunks of any size reaches exactly
// the result Detect reaches.
func FuzzInspector(f *testing.F) {
	addFuzzSeeds(f, func(data []byte, base uint8, at uint32) { f.Add(data, base, at, uint16(1)) })
	f.Add([]byte("x"), uint8(7), uint32(200<<10), uint16(4093))
	f.Fuzz(func(t *testing.T, data []byte, base uint8, at uint32, chunk uint16) {
		img := fuzzImage(data, base, at)
		want := toResult(Detect(bytes.NewReader(img), int64(len(img))))
		// Chunk sizes vary around the one given, so that writes straddle region edges.
		// Large images get at most a few thousand Writes, to keep each run fast; the unit
		// tests feed every image byte by byte as well.
		size := max(int(chunk)%8192+1, len(img)/4096)
		ins := NewInspector()
		for i, p := 0, img; len(p) > 0; i++ {
			n := min(len(p), size+i%3)
			ins.Write(p[:n])
			p = p[n:]
		}
		if got := toResult(ins.Result(int64(len(img)))); got != want {
			t.Fatalf("Inspector: %v; Detect: %v", got, want)
		}
	})
}
