package inspect

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Wanted virtual sizes that depend on the image built: fromQemu means whatever qemu-img info
// reports, fileSize the size of the file.
const (
	fromQemu = -1
	fileSize = -2
)

// imageCase is an image built with real tools at test time, after os-test-images (the
// image set tempest's format tests use) and oslo's own tests.
type imageCase struct {
	name    string
	tools   []string
	build   func(t *testing.T, dir string) string // returns the image's path
	want    Info
	wantErr string // a substring of the error; "" when the image must be accepted
	slow    bool   // skipped with -short (LUKS key derivation takes seconds)
}

// qemuCreate returns a build function that runs qemu-img create with the arguments, the
// last of which is the image's file name.
func qemuCreate(args ...string) func(*testing.T, string) string {
	return func(t *testing.T, dir string) string {
		run(t, dir, "qemu-img", append([]string{"create", "-q"}, args...)...)
		for i := len(args) - 1; i >= 0; i-- {
			if !strings.HasPrefix(args[i], "-") && strings.Contains(args[i], ".") {
				return filepath.Join(dir, args[i])
			}
		}
		t.Fatal("no file name in qemu-img arguments")
		return ""
	}
}

// then runs fix on the image build made.
func then(build func(*testing.T, string) string, fix func(t *testing.T, path string)) func(*testing.T, string) string {
	return func(t *testing.T, dir string) string {
		path := build(t, dir)
		fix(t, path)
		return path
	}
}

// footerify moves a monolithicSparse VMDK's header to a footer, as os-test-images does to
// imitate what VMware tools produce: the header says "GD at end" and the file ends with a
// footer marker, a copy of the header and an end-of-stream marker.
func footerify(t *testing.T, path string) {
	data := readFile(t, path)
	header := bytes.Clone(data[:512])
	binary.LittleEndian.PutUint64(data[56:], vmdkGDAtEnd)
	tail := make([]byte, 1536)
	binary.LittleEndian.PutUint32(tail[12:], 3)
	copy(tail[512:], header)
	writeFile(t, path, append(data, tail...))
}

// replaceInDescriptor replaces old with new in the descriptor sector of a sparse VMDK and
// keeps the sector NUL-padded.
func replaceInDescriptor(old, new string) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		data := readFile(t, path)
		desc := bytes.TrimRight(data[512:1024], "\x00")
		if !bytes.Contains(desc, []byte(old)) {
			t.Fatalf("descriptor lacks %q", old)
		}
		desc = bytes.Replace(desc, []byte(old), []byte(new), 1)
		sector := make([]byte, 512)
		copy(sector, desc)
		patch(t, path, 512, sector)
	}
}

// mbrSector returns a boot sector with the signature and the given partition entries.
func mbrSector(entries ...[16]byte) []byte {
	s := make([]byte, 512)
	for i, e := range entries {
		copy(s[446+16*i:], e[:])
	}
	s[510], s[511] = 0x55, 0xaa
	return s
}

// Partition entries: a Linux partition, a GPT protective entry and a hybrid ISO's entry.
var (
	linuxPartition = [16]byte{0x80, 0x20, 0x21, 0x00, 0x83, 0xfe, 0xff, 0xff, 0x00, 0x08, 0, 0, 0x00, 0x08, 0, 0}
	gptProtective  = [16]byte{0x00, 0x00, 0x02, 0x00, 0xee, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0xff, 0x07, 0, 0}
	isoHybrid      = [16]byte{0x80, 0x00, 0x01, 0x00, 0x17, 0x3f, 0x20, 0x00, 0, 0, 0, 0, 0x00, 0x02, 0, 0}
)

func rawDisk(sector []byte, extra func(disk []byte)) func(*testing.T, string) string {
	return func(t *testing.T, dir string) string {
		disk := make([]byte, 1<<20)
		copy(disk, sector)
		if extra != nil {
			extra(disk)
		}
		path := filepath.Join(dir, "disk.raw")
		writeFile(t, path, disk)
		return path
	}
}

func fileWith(name string, data []byte) func(*testing.T, string) string {
	return func(t *testing.T, dir string) string {
		path := filepath.Join(dir, name)
		writeFile(t, path, data)
		return path
	}
}

// mkISO builds an ISO 9660 image holding one small file.
func mkISO(program string, extra ...string) func(*testing.T, string) string {
	return func(t *testing.T, dir string) string {
		src := filepath.Join(dir, "src")
		if err := os.Mkdir(src, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(src, "hello.txt"), []byte("hello\n"))
		args := []string{"-quiet", "-V", "TEST", "-o", "image.iso"}
		if program == "xorriso" {
			args = append([]string{"-as", "mkisofs"}, args...)
		}
		run(t, dir, program, append(append(args, extra...), "src")...)
		return filepath.Join(dir, "image.iso")
	}
}

func gzipped(t *testing.T, data []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

const secret = "--object=secret,id=sec0,data=123456"

var imageCases = []imageCase{
	// qcow2
	{name: "qcow2", build: qemuCreate("-f", "qcow2", "img.qcow2", "10M"),
		want: Info{Format: QCOW2, Variant: "v3", VirtualSize: fromQemu}},
	{name: "qcow2 compat 0.10", build: qemuCreate("-f", "qcow2", "-o", "compat=0.10", "img.qcow2", "10M"),
		want: Info{Format: QCOW2, Variant: "v2", VirtualSize: fromQemu}},
	{name: "qcow2 extended l2", build: qemuCreate("-f", "qcow2", "-o", "extended_l2=on", "img.qcow2", "1G"),
		want: Info{Format: QCOW2, Variant: "v3", VirtualSize: fromQemu}},
	{name: "qcow2 zstd", build: qemuCreate("-f", "qcow2", "-o", "compression_type=zstd", "img.qcow2", "10M"),
		want: Info{Format: QCOW2, Variant: "v3", VirtualSize: fromQemu}},
	{name: "qcow2 lazy refcounts 2M clusters", build: qemuCreate("-f", "qcow2", "-o", "lazy_refcounts=on,cluster_size=2M", "img.qcow2", "10G"),
		want: Info{Format: QCOW2, Variant: "v3", VirtualSize: fromQemu}},
	{name: "qcow2 luks encrypted", build: qemuCreate(secret, "-f", "qcow2", "-o", "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10", "img.qcow2", "10M"),
		want: Info{Format: QCOW2, Variant: "v3", VirtualSize: 10 << 20}, slow: true},
	{name: "qcow2 with backing file", build: qemuCreate("-f", "qcow2", "-F", "raw", "-b", "/etc/passwd", "img.qcow2", "10M"),
		want: Info{Format: QCOW2, Variant: "v3", VirtualSize: 10 << 20}, wantErr: "qcow2 image has a backing file"},
	{name: "qcow2 with data file", build: qemuCreate("-f", "qcow2", "-o", "data_file=data.raw,data_file_raw=on", "img.qcow2", "10M"),
		want: Info{Format: QCOW2, Variant: "v3", VirtualSize: 10 << 20}, wantErr: "qcow2 image has an external data file"},
	{name: "qcow2 with data file bit cleared", build: then(qemuCreate("-f", "qcow2", "-o", "data_file=data.raw", "img.qcow2", "10M"),
		func(t *testing.T, path string) { patch(t, path, 79, []byte{0}) }),
		want: Info{Format: QCOW2, Variant: "v3", VirtualSize: 10 << 20}, wantErr: "qcow2 image names an external data file"},
	{name: "qcow2 with unknown incompatible feature", build: then(qemuCreate("-f", "qcow2", "img.qcow2", "10M"),
		func(t *testing.T, path string) { patch(t, path, 79, []byte{0x20}) }),
		want: Info{Format: QCOW2, Variant: "v3", VirtualSize: 10 << 20}, wantErr: "unknown incompatible features"},
	{name: "qcow2 in the system area of an iso", tools: []string{"genisoimage"},
		build: func(t *testing.T, dir string) string {
			iso := mkISO("genisoimage")(t, dir)
			run(t, dir, "qemu-img", "create", "-q", "-f", "qcow2", "tmp.qcow2", "10M")
			patch(t, iso, 0, readFile(t, filepath.Join(dir, "tmp.qcow2"))[:32<<10])
			return iso
		},
		want: Info{Format: QCOW2}, wantErr: "image data matches more than one format (qcow2 and iso)"},
	{name: "qcow2 that is also a partitioned disk", build: then(qemuCreate("-f", "qcow2", "img.qcow2", "10M"),
		func(t *testing.T, path string) { patch(t, path, 446, mbrSector(linuxPartition)[446:]) }),
		want: Info{Format: QCOW2}, wantErr: "(qcow2 and an MBR partition table)"},

	// vmdk
	{name: "vmdk monolithicSparse", build: qemuCreate("-f", "vmdk", "-o", "subformat=monolithicSparse", "img.vmdk", "10M"),
		want: Info{Format: VMDK, Variant: "monolithicSparse", VirtualSize: fromQemu}},
	{name: "vmdk streamOptimized", build: qemuCreate("-f", "vmdk", "-o", "subformat=streamOptimized", "img.vmdk", "10M"),
		want: Info{Format: VMDK, Variant: "streamOptimized", VirtualSize: fromQemu}},
	{name: "vmdk with footer", build: then(qemuCreate("-f", "vmdk", "-o", "subformat=monolithicSparse", "img.vmdk", "10M"), footerify),
		want: Info{Format: VMDK, Variant: "monolithicSparse", VirtualSize: fromQemu}},
	{name: "vmdk with broken footer", build: then(then(qemuCreate("-f", "vmdk", "-o", "subformat=monolithicSparse", "img.vmdk", "10M"), footerify),
		func(t *testing.T, path string) {
			st, _ := os.Stat(path)
			patch(t, path, st.Size()-1536+12, []byte{0})
		}),
		want: Info{Format: VMDK}, wantErr: "vmdk footer marker is invalid"},
	{name: "vmdk monolithicFlat", build: qemuCreate("-f", "vmdk", "-o", "subformat=monolithicFlat", "img.vmdk", "10M"),
		want: Info{Format: VMDK, Variant: "monolithicFlat"}, wantErr: "descriptor that refers to external extent files"},
	{name: "vmdk monolithicFlat leaking a host file", build: then(qemuCreate("-f", "vmdk", "-o", "subformat=monolithicFlat", "img.vmdk", "10M"),
		func(t *testing.T, path string) {
			writeFile(t, path, bytes.Replace(readFile(t, path), []byte("img-flat.vmdk"), []byte("/etc/hosts"), 1))
		}),
		want: Info{Format: VMDK, Variant: "monolithicFlat"}, wantErr: "descriptor that refers to external extent files"},
	{name: "vmdk twoGbMaxExtentSparse", build: qemuCreate("-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", "img.vmdk", "10M"),
		want: Info{Format: VMDK, Variant: "twoGbMaxExtentSparse"}, wantErr: "external extent files"},
	{name: "vmdk twoGbMaxExtentFlat", build: qemuCreate("-f", "vmdk", "-o", "subformat=twoGbMaxExtentFlat", "img.vmdk", "10M"),
		want: Info{Format: VMDK, Variant: "twoGbMaxExtentFlat"}, wantErr: "external extent files"},
	{name: "vmdk sparse with extent naming a host file", build: then(qemuCreate("-f", "vmdk", "img.vmdk", "10M"),
		replaceInDescriptor(`"img.vmdk"`, `"/etc/hosts"`)),
		want: Info{Format: VMDK, Variant: "monolithicSparse", VirtualSize: 10 << 20}, wantErr: "vmdk extent names a path"},
	{name: "vmdk sparse with a flat extent", build: then(qemuCreate("-f", "vmdk", "img.vmdk", "10M"),
		replaceInDescriptor(`SPARSE "img.vmdk"`, `FLAT "hosts" 0`)),
		want: Info{Format: VMDK, Variant: "monolithicSparse", VirtualSize: 10 << 20}, wantErr: "vmdk descriptor has a FLAT extent"},
	{name: "vmdk sparse with a second extent", build: then(qemuCreate("-f", "vmdk", "img.vmdk", "10M"),
		replaceInDescriptor(`RW 20480 SPARSE "img.vmdk"`, "RW 20480 SPARSE \"img.vmdk\"\nRW 20480 SPARSE \"other.vmdk\"")),
		want: Info{Format: VMDK, Variant: "monolithicSparse", VirtualSize: 10 << 20}, wantErr: "exactly one extent"},
	{name: "vmdk sparse claiming monolithicFlat", build: then(qemuCreate("-f", "vmdk", "img.vmdk", "10M"),
		replaceInDescriptor(`monolithicSparse`, `monolithicFlat`)),
		want: Info{Format: VMDK, Variant: "monolithicSparse", VirtualSize: 10 << 20}, wantErr: "vmdk createType monolithicFlat is not allowed"},
	{name: "vmdk with parent", build: func(t *testing.T, dir string) string {
		run(t, dir, "qemu-img", "create", "-q", "-f", "vmdk", "base.vmdk", "10M")
		run(t, dir, "qemu-img", "create", "-q", "-f", "vmdk", "-F", "vmdk", "-b", "base.vmdk", "img.vmdk")
		return filepath.Join(dir, "img.vmdk")
	}, want: Info{Format: VMDK, Variant: "monolithicSparse", VirtualSize: 10 << 20}, wantErr: "vmdk image refers to a parent image"},
	{name: "vmdk with zero capacity", build: then(qemuCreate("-f", "vmdk", "img.vmdk", "10M"),
		func(t *testing.T, path string) { patch(t, path, 12, make([]byte, 8)) }),
		want: Info{Format: VMDK, Variant: "monolithicSparse"}, wantErr: "vmdk sparse header has zero capacity"},

	// vhd, vhdx, vdi, ploop, qed, luks
	{name: "vhd dynamic", build: qemuCreate("-f", "vpc", "img.vhd", "10M"),
		want: Info{Format: VHD, Variant: "dynamic", VirtualSize: fromQemu}},
	{name: "vhd fixed", build: qemuCreate("-f", "vpc", "-o", "subformat=fixed", "img.vhd", "10M"),
		want: Info{Format: VHD, Variant: "fixed", VirtualSize: fromQemu}},
	{name: "vhd forced size", build: qemuCreate("-f", "vpc", "-o", "force_size=on", "img.vhd", "10000K"),
		want: Info{Format: VHD, Variant: "dynamic", VirtualSize: fromQemu}},
	{name: "vhd fixed holding a partitioned disk", build: then(qemuCreate("-f", "vpc", "-o", "subformat=fixed", "img.vhd", "10M"),
		func(t *testing.T, path string) { patch(t, path, 0, mbrSector(linuxPartition)) }),
		want: Info{Format: VHD, Variant: "fixed", VirtualSize: fromQemu}},
	{name: "vhd differencing", build: then(qemuCreate("-f", "vpc", "img.vhd", "10M"),
		func(t *testing.T, path string) { setVHDDiskType(t, path, vhdDiff) }),
		want: Info{Format: VHD}, wantErr: "vhd image is a differencing disk"},
	{name: "vhdx", build: qemuCreate("-f", "vhdx", "img.vhdx", "10M"),
		want: Info{Format: VHDX, Variant: "dynamic", VirtualSize: fromQemu}},
	{name: "vhdx fixed", build: qemuCreate("-f", "vhdx", "-o", "subformat=fixed,block_size=1M", "img.vhdx", "5M"),
		want: Info{Format: VHDX, Variant: "fixed", VirtualSize: fromQemu}},
	{name: "vhdx large", build: qemuCreate("-f", "vhdx", "-o", "log_size=8M", "img.vhdx", "100G"),
		want: Info{Format: VHDX, Variant: "dynamic", VirtualSize: fromQemu}},
	{name: "vdi", build: qemuCreate("-f", "vdi", "img.vdi", "10M"),
		want: Info{Format: VDI, Variant: "dynamic", VirtualSize: fromQemu}},
	{name: "vdi static", build: qemuCreate("-f", "vdi", "-o", "static=on", "img.vdi", "3M"),
		want: Info{Format: VDI, Variant: "static", VirtualSize: fromQemu}},
	{name: "vdi with parent", build: then(qemuCreate("-f", "vdi", "img.vdi", "10M"),
		func(t *testing.T, path string) { patch(t, path, 0x1a8, []byte{1}) }),
		want: Info{Format: VDI, Variant: "dynamic", VirtualSize: 10 << 20}, wantErr: "vdi image refers to a parent image"},
	{name: "ploop", build: qemuCreate("-f", "parallels", "img.hds", "10M"),
		want: Info{Format: Ploop, VirtualSize: fromQemu}},
	{name: "qed", build: qemuCreate("-f", "qed", "img.qed", "10M"),
		want: Info{Format: QED, VirtualSize: 10 << 20}, wantErr: "qed images are not supported"},
	{name: "luks", build: qemuCreate(secret, "-f", "luks", "-o", "key-secret=sec0,iter-time=10", "img.luks", "10M"),
		want: Info{Format: LUKS, VirtualSize: 10 << 20}, slow: true},

	// iso
	{name: "iso genisoimage", tools: []string{"genisoimage"}, build: mkISO("genisoimage"),
		want: Info{Format: ISO, Variant: "iso9660", VirtualSize: fromQemu}},
	{name: "iso genisoimage udf", tools: []string{"genisoimage"}, build: mkISO("genisoimage", "-udf"),
		want: Info{Format: ISO, Variant: "iso9660", VirtualSize: fromQemu}},
	{name: "iso xorriso", tools: []string{"xorriso"}, build: mkISO("xorriso"),
		want: Info{Format: ISO, Variant: "iso9660", VirtualSize: fromQemu}},
	{name: "iso hybrid", tools: []string{"xorriso"}, build: then(mkISO("xorriso"),
		func(t *testing.T, path string) { patch(t, path, 0, mbrSector(isoHybrid)) }),
		want: Info{Format: ISO, Variant: "iso9660", VirtualSize: fromQemu}},

	// raw
	{name: "raw zeros", build: qemuCreate("-f", "raw", "img.raw", "1M"),
		want: Info{Format: Raw, VirtualSize: 1 << 20}},
	{name: "raw empty", build: fileWith("empty.raw", nil),
		want: Info{Format: Raw, Looks: "an empty file"}},
	{name: "raw gpt", build: rawDisk(mbrSector(gptProtective), func(d []byte) { copy(d[512:], "EFI PART") }),
		want: Info{Format: Raw, Variant: "gpt", VirtualSize: 1 << 20}},
	{name: "raw mbr", build: rawDisk(mbrSector(linuxPartition), nil),
		want: Info{Format: Raw, Variant: "mbr", VirtualSize: 1 << 20}},
	{name: "raw fat file system", tools: []string{"mkfs.vfat"}, build: func(t *testing.T, dir string) string {
		run(t, dir, "mkfs.vfat", "-C", "fs.img", "1024")
		return filepath.Join(dir, "fs.img")
	}, want: Info{Format: Raw, VirtualSize: 1 << 20}},
	{name: "raw with a bad boot flag", build: rawDisk(mbrSector([16]byte{0x12, 0, 0, 0, 0x83}), nil),
		want: Info{Format: Raw, VirtualSize: 1 << 20}, wantErr: "MBR partition 1 has an invalid boot flag"},
	{name: "raw gpt with extra partitions", build: rawDisk(mbrSector(gptProtective, linuxPartition), nil),
		want: Info{Format: Raw, VirtualSize: 1 << 20}, wantErr: "GPT protective MBR defines extra partitions"},
	{name: "raw mbr without partitions", build: rawDisk(mbrSector(), nil),
		want: Info{Format: Raw, VirtualSize: 1 << 20}, wantErr: "MBR defines no partitions"},

	// not disk images
	{name: "html", build: fileWith("img.qcow2", []byte("<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>...</body></html>\n")),
		want: Info{Format: Raw, VirtualSize: fileSize, Looks: "an HTML page"}},
	{name: "gzip of a qcow2", build: func(t *testing.T, dir string) string {
		path := qemuCreate("-f", "qcow2", "img.qcow2", "10M")(t, dir)
		writeFile(t, path+".gz", gzipped(t, readFile(t, path)))
		return path + ".gz"
	}, want: Info{Format: Raw, VirtualSize: fileSize, Looks: "a gzip-compressed file"}},
}

// setVHDDiskType changes the disk type in both footers of a dynamic VHD and fixes their
// checksums.
func setVHDDiskType(t *testing.T, path string, typ uint32) {
	data := readFile(t, path)
	for _, f := range [][]byte{data[:512], data[len(data)-512:]} {
		binary.BigEndian.PutUint32(f[60:], typ)
		binary.BigEndian.PutUint32(f[64:], 0)
		var sum uint32
		for _, c := range f {
			sum += uint32(c)
		}
		binary.BigEndian.PutUint32(f[64:], ^sum)
	}
	writeFile(t, path, data)
}

// TestDetectImages inspects images built by qemu-img and the ISO tools, both with Detect and
// streamed, and checks virtual sizes against qemu-img info.
func TestDetectImages(t *testing.T) {
	for _, c := range imageCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if c.slow && testing.Short() {
				t.Skip("slow to build; skipped with -short")
			}
			need(t, append([]string{"qemu-img"}, c.tools...)...)
			path := c.build(t, t.TempDir())
			data := readFile(t, path)
			got, err := inspect(t, data)

			want := c.want
			switch want.VirtualSize {
			case fromQemu:
				want.VirtualSize = qemuVirtualSize(t, path, QemuImgFormat(want.Format))
			case fileSize:
				want.VirtualSize = int64(len(data))
			}
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("Detect: %v (%s)", err, describe(got))
				}
			} else if err == nil || !strings.Contains(err.Error(), c.wantErr) || !errors.Is(err, ErrUnsafe) {
				t.Fatalf("Detect error = %v, want one wrapping ErrUnsafe that says %q", err, c.wantErr)
			}
			if got != want {
				t.Errorf("Detect = %s, want %s", describe(got), describe(want))
			}

			// Detect reads the head, the tail and what the head points to, nothing else.
			cr := &countingReader{data: data}
			if _, err := Detect(cr, int64(len(data))); err != nil && c.wantErr == "" {
				t.Fatal(err)
			}
			if limit := int64(headSize + tailSize + vhdxTableSize + 16); cr.read > limit {
				t.Errorf("Detect read %d bytes, more than %d", cr.read, limit)
			}
		})
	}
}
