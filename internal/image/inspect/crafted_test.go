package inspect

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

// Builders of images crafted byte by byte, for the cases no tool produces.

// qcow2Image returns a 64 KiB qcow2 version 3 image header (1 GiB, 64 KiB clusters, header
// length 112, no extensions) changed by mod.
func qcow2Image(mod func(h []byte)) []byte {
	h := make([]byte, 64<<10)
	be := binary.BigEndian
	copy(h, qcow2Magic)
	be.PutUint32(h[4:], 3)
	be.PutUint32(h[20:], 16)
	be.PutUint64(h[24:], 1<<30)
	be.PutUint32(h[96:], 4)
	be.PutUint32(h[100:], 112)
	if mod != nil {
		mod(h)
	}
	return h
}

const sparseDescriptor = `# Disk DescriptorFile
version=1
CID=2eaa5a62
parentCID=ffffffff
createType="monolithicSparse"

# Extent description
RW 20480 SPARSE "disk.vmdk"

# The Disk Data Base
#DDB

ddb.virtualHWVersion = "4"
ddb.adapterType = "ide"
`

// vmdkImage returns a 64 KiB monolithicSparse VMDK of 10 MiB with the given descriptor at
// sector 1 (declared 20 sectors long), changed by mod.
func vmdkImage(desc string, mod func(h []byte)) []byte {
	h := make([]byte, 64<<10)
	le := binary.LittleEndian
	copy(h, vmdk4Magic)
	le.PutUint32(h[4:], 1)
	le.PutUint32(h[8:], 3)
	le.PutUint64(h[12:], 20480)
	le.PutUint64(h[20:], 128)
	le.PutUint64(h[28:], 1)
	le.PutUint64(h[36:], 20)
	le.PutUint32(h[44:], 512)
	le.PutUint64(h[56:], 26)
	copy(h[73:], "\n \r\n")
	copy(h[512:], desc)
	if mod != nil {
		mod(h)
	}
	return h
}

// withFooter turns a VMDK from vmdkImage into one whose header defers to a footer, changed
// by mod (which sees the last 1536 bytes).
func withFooter(img []byte, mod func(tail []byte)) []byte {
	header := bytes.Clone(img[:512])
	binary.LittleEndian.PutUint64(img[56:], vmdkGDAtEnd)
	tail := make([]byte, 1536)
	binary.LittleEndian.PutUint32(tail[12:], 3)
	copy(tail[512:], header)
	if mod != nil {
		mod(tail)
	}
	return append(img, tail...)
}

// vhdFooter returns a VHD footer of the given disk type for a 10 MiB disk made by qemu,
// with a correct checksum after mod.
func vhdFooter(typ uint32, mod func(f []byte)) []byte {
	f := make([]byte, 512)
	be := binary.BigEndian
	copy(f, vhdCookie)
	be.PutUint32(f[8:], 2)
	be.PutUint32(f[12:], 0x10000)
	be.PutUint64(f[16:], 0xffffffffffffffff)
	if typ != vhdFixed {
		be.PutUint64(f[16:], 512)
	}
	copy(f[28:], "qemu")
	be.PutUint64(f[40:], 10<<20)
	be.PutUint64(f[48:], 10<<20)
	be.PutUint16(f[56:], 302)
	f[58], f[59] = 4, 17
	be.PutUint32(f[60:], typ)
	if mod != nil {
		mod(f)
	}
	vhdSum(f, 64)
	return f
}

// vhdSum sets the VHD checksum at off of b.
func vhdSum(b []byte, off int) {
	binary.BigEndian.PutUint32(b[off:], 0)
	var sum uint32
	for _, c := range b {
		sum += uint32(c)
	}
	binary.BigEndian.PutUint32(b[off:], ^sum)
}

// dynamicVHD returns a dynamic VHD: footer copy, dynamic header changed by mod, footer.
func dynamicVHD(mod func(dyn []byte)) []byte {
	f := vhdFooter(vhdDynamic, nil)
	dyn := make([]byte, 1024)
	copy(dyn, vhdDynCookie)
	binary.BigEndian.PutUint64(dyn[8:], 0xffffffffffffffff)
	binary.BigEndian.PutUint64(dyn[16:], 1536)
	if mod != nil {
		mod(dyn)
	}
	vhdSum(dyn, 36)
	img := append(append(bytes.Clone(f), dyn...), make([]byte, 4096)...)
	return append(img, f...)
}

// vhdxOptions shape a crafted VHDX.
type vhdxOptions struct {
	metaOff   uint64                        // where the metadata region starts
	items     map[[16]byte][]byte           // metadata items (defaults: file parameters, size)
	itemFlags map[[16]byte]uint32           // metadata entry flags
	regions   map[[16]byte]uint32           // extra region table entries and their Required field
	mod       func(img []byte, meta uint64) // last changes
}

// vhdxImage returns a VHDX of 100 GiB built from its structures: file identifier, two
// headers, region table, metadata table and items.
func vhdxImage(o vhdxOptions) []byte {
	le := binary.LittleEndian
	if o.metaOff == 0 {
		o.metaOff = 1 << 20
	}
	img := make([]byte, o.metaOff+128<<10)
	copy(img, vhdxMagic)
	for i, off := range []int{vhdxHeader1, vhdxHeader2} {
		hd := img[off : off+vhdxHeaderSize]
		copy(hd, "head")
		le.PutUint64(hd[8:], uint64(i+1))
		le.PutUint16(hd[66:], 1)
		le.PutUint32(hd[4:], crc32.Checksum(hd, crc32c))
	}
	rt := img[vhdxRegionTable : vhdxRegionTable+vhdxTableSize]
	copy(rt, "regi")
	entries := []struct {
		id       [16]byte
		off      uint64
		length   uint32
		required uint32
	}{
		{vhdxRegionBAT, o.metaOff + 64<<10, 1 << 20, 1},
		{vhdxRegionMetadata, o.metaOff, 1 << 20, 1},
	}
	for id, req := range o.regions {
		entries = append(entries, struct {
			id       [16]byte
			off      uint64
			length   uint32
			required uint32
		}{id, 8 << 20, 1 << 20, req})
	}
	le.PutUint32(rt[8:], uint32(len(entries)))
	for i, e := range entries {
		b := rt[16+32*i:]
		copy(b, e.id[:])
		le.PutUint64(b[16:], e.off)
		le.PutUint32(b[24:], e.length)
		le.PutUint32(b[28:], e.required)
	}
	le.PutUint32(rt[4:], crc32.Checksum(rt, crc32c))

	items := map[[16]byte][]byte{
		vhdxItemFileParameters: {0, 0, 0x20, 0, 0, 0, 0, 0},
		vhdxItemVirtualSize:    binary.LittleEndian.AppendUint64(nil, 100<<30),
	}
	for id, data := range o.items {
		if data == nil {
			delete(items, id)
		} else {
			items[id] = data
		}
	}
	meta := img[o.metaOff:]
	copy(meta, "metadata")
	// Entries in a fixed order so that every build is the same.
	order := []([16]byte){vhdxItemFileParameters, vhdxItemVirtualSize, vhdxItemParentLocator, vhdxItemPage83, guid("00000000-1111-2222-3333-444444444444")}
	n, dataOff := 0, uint32(64<<10)
	for _, id := range order {
		data, ok := items[id]
		if !ok {
			continue
		}
		b := meta[32+32*n:]
		copy(b, id[:])
		le.PutUint32(b[16:], dataOff)
		le.PutUint32(b[20:], uint32(len(data)))
		le.PutUint32(b[24:], o.itemFlags[id])
		copy(meta[dataOff:], data)
		dataOff += 4096
		n++
	}
	le.PutUint16(meta[10:], uint16(n))
	if o.mod != nil {
		o.mod(img, o.metaOff)
	}
	return img
}

// vdiImage returns a VDI header of a 10 MiB dynamic disk changed by mod.
func vdiImage(mod func(h []byte)) []byte {
	h := make([]byte, 1024)
	le := binary.LittleEndian
	copy(h, "<<< Oracle VM VirtualBox Disk Image >>>\n")
	le.PutUint32(h[0x40:], vdiSignature)
	le.PutUint32(h[0x44:], vdiVersion11)
	le.PutUint32(h[0x48:], 0x190)
	le.PutUint32(h[0x4c:], 1)
	le.PutUint32(h[0x154:], 0x200)
	le.PutUint32(h[0x158:], 0x400)
	le.PutUint32(h[0x168:], 512)
	le.PutUint64(h[0x170:], 10<<20)
	le.PutUint32(h[0x178:], 1<<20)
	le.PutUint32(h[0x180:], 10)
	if mod != nil {
		mod(h)
	}
	return h
}

// isoImage returns a 64 KiB image whose volume recognition sequence holds descriptors with
// the given identifiers; a "CD001" descriptor of type 1 declares 20 blocks of 2 KiB.
func isoImage(ids ...string) []byte {
	img := make([]byte, 64<<10)
	for i, id := range ids {
		d := img[isoSystemArea+i*isoSector:]
		copy(d[1:], id)
		if id == "CD001" && i == 0 {
			d[0] = 1
			binary.LittleEndian.PutUint32(d[80:], 20)
			binary.LittleEndian.PutUint16(d[128:], 2048)
		} else if id == "CD001" {
			d[0] = 255
		}
	}
	return img
}

func mod(b []byte, f func(b []byte)) []byte {
	f(b)
	return b
}

type craftedCase struct {
	name    string
	data    []byte
	want    Info
	wantErr string
}

func craftedCases() []craftedCase {
	be, le := binary.BigEndian, binary.LittleEndian
	qcow := func(f func(h []byte)) []byte { return qcow2Image(f) }
	q3 := Info{Format: QCOW2, Variant: "v3", VirtualSize: 1 << 30}
	vm := Info{Format: VMDK, Variant: "monolithicSparse", VirtualSize: 10 << 20}
	vx := Info{Format: VHDX, Variant: "dynamic", VirtualSize: 100 << 30}
	vd := Info{Format: VDI, Variant: "dynamic", VirtualSize: 10 << 20}
	vh := Info{Format: VHD, Variant: "dynamic", VirtualSize: 10514432}
	descWith := func(old, new string) string { return strings.Replace(sparseDescriptor, old, new, 1) }

	return []craftedCase{
		// qcow2
		{name: "qcow2", data: qcow(nil), want: q3},
		{name: "qcow2 truncated", data: qcow2Image(nil)[:60], want: Info{Format: QCOW2}, wantErr: "qcow2 header is truncated"},
		{name: "qcow2 v3 truncated", data: qcow2Image(nil)[:90], want: q3, wantErr: "qcow2 header is truncated"},
		{name: "qcow version 1", data: qcow(func(h []byte) { be.PutUint32(h[4:], 1) }), want: Info{Format: QCOW2}, wantErr: "qcow version 1 images are not supported"},
		{name: "qcow2 version 4", data: qcow(func(h []byte) { be.PutUint32(h[4:], 4) }), want: Info{Format: QCOW2}, wantErr: "qcow2 version 4 is not supported"},
		{name: "qcow2 huge size", data: qcow(func(h []byte) { be.PutUint64(h[24:], 1<<63) }), want: Info{Format: QCOW2, Variant: "v3"}, wantErr: "qcow2 virtual size is out of range"},
		{name: "qcow2 small clusters", data: qcow(func(h []byte) { be.PutUint32(h[20:], 8) }), want: q3, wantErr: "qcow2 cluster size is out of range"},
		{name: "qcow2 large clusters", data: qcow(func(h []byte) { be.PutUint32(h[20:], 22) }), want: q3, wantErr: "qcow2 cluster size is out of range"},
		{name: "qcow2 unknown encryption", data: qcow(func(h []byte) { be.PutUint32(h[32:], 3) }), want: q3, wantErr: "qcow2 encryption method is unknown"},
		{name: "qcow2 backing file", data: qcow(func(h []byte) { be.PutUint64(h[8:], 0x200) }), want: q3, wantErr: "qcow2 image has a backing file"},
		{name: "qcow2 v2 backing file", data: qcow(func(h []byte) { be.PutUint32(h[4:], 2); be.PutUint64(h[8:], 0x200) }), want: Info{Format: QCOW2, Variant: "v2", VirtualSize: 1 << 30}, wantErr: "qcow2 image has a backing file"},
		{name: "qcow2 v2 ignores feature bytes", data: qcow(func(h []byte) { be.PutUint32(h[4:], 2); be.PutUint64(h[72:], ^uint64(0)) }), want: Info{Format: QCOW2, Variant: "v2", VirtualSize: 1 << 30}},
		{name: "qcow2 data file bit", data: qcow(func(h []byte) { h[79] = qcow2DataFile }), want: q3, wantErr: "qcow2 image has an external data file"},
		{name: "qcow2 data file extension", data: qcow(func(h []byte) { be.PutUint32(h[112:], qcow2ExtDataFile); be.PutUint32(h[116:], 4) }), want: q3, wantErr: "qcow2 image names an external data file"},
		{name: "qcow2 data file extension after others", data: qcow(func(h []byte) {
			be.PutUint32(h[112:], 0xe2792aca)
			be.PutUint32(h[116:], 3)
			be.PutUint32(h[128:], qcow2ExtDataFile)
		}), want: q3, wantErr: "qcow2 image names an external data file"},
		{name: "qcow2 extension running off the cluster", data: qcow(func(h []byte) { be.PutUint32(h[112:], 0x12345678); be.PutUint32(h[116:], 0xffffffff) }), want: q3},
		{name: "qcow2 dirty", data: qcow(func(h []byte) { h[79] = qcow2Dirty }), want: q3},
		{name: "qcow2 extended l2", data: qcow(func(h []byte) { h[79] = qcow2ExtendedL2 }), want: q3},
		{name: "qcow2 corrupt", data: qcow(func(h []byte) { h[79] = qcow2Corrupt }), want: q3, wantErr: "qcow2 image is marked corrupt"},
		{name: "qcow2 unknown feature bit 5", data: qcow(func(h []byte) { h[79] = 1 << 5 }), want: q3, wantErr: "qcow2 image uses unknown incompatible features"},
		{name: "qcow2 unknown feature bit 63", data: qcow(func(h []byte) { h[72] = 0x80 }), want: q3, wantErr: "qcow2 image uses unknown incompatible features"},
		{name: "qcow2 short header length", data: qcow(func(h []byte) { be.PutUint32(h[100:], 96) }), want: q3, wantErr: "qcow2 header length is invalid"},
		{name: "qcow2 odd header length", data: qcow(func(h []byte) { be.PutUint32(h[100:], 109) }), want: q3, wantErr: "qcow2 header length is invalid"},
		{name: "qcow2 header longer than a cluster", data: qcow(func(h []byte) { be.PutUint32(h[20:], 9); be.PutUint32(h[100:], 1024) }), want: q3, wantErr: "qcow2 header length is invalid"},
		{name: "qcow2 zstd", data: qcow(func(h []byte) { h[79] = qcow2Compression; h[104] = 1 }), want: q3},
		{name: "qcow2 compression without its field", data: qcow(func(h []byte) { h[79] = qcow2Compression; be.PutUint32(h[100:], 104) }), want: q3, wantErr: "qcow2 header is truncated"},
		{name: "qcow2 unknown compression", data: qcow(func(h []byte) { h[79] = qcow2Compression; h[104] = 2 }), want: q3, wantErr: "qcow2 compression type is unknown"},
		{name: "qcow2 and vdi", data: qcow(func(h []byte) { le.PutUint32(h[0x40:], vdiSignature) }), want: Info{Format: QCOW2}, wantErr: "(qcow2 and vdi)"},
		{name: "qed", data: append([]byte("QED\x00"), make([]byte, 508)...), want: Info{Format: QED}, wantErr: "qed images are not supported"},

		// vmdk
		{name: "vmdk", data: vmdkImage(sparseDescriptor, nil), want: vm},
		{name: "vmdk stream optimized", data: vmdkImage(descWith("monolithicSparse", "streamOptimized"), func(h []byte) { h[77] = 1 }), want: Info{Format: VMDK, Variant: "streamOptimized", VirtualSize: 10 << 20}},
		{name: "vmdk crlf", data: vmdkImage(strings.ReplaceAll(sparseDescriptor, "\n", "\r\n"), nil), want: vm},
		{name: "vmdk truncated", data: vmdkImage(sparseDescriptor, nil)[:300], want: Info{Format: VMDK}, wantErr: "vmdk header is truncated"},
		{name: "vmdk COWD", data: append([]byte("COWD"), make([]byte, 2044)...), want: Info{Format: VMDK}, wantErr: "vmdk COWD sparse images are not supported"},
		{name: "vmdk version 4", data: vmdkImage(sparseDescriptor, func(h []byte) { h[4] = 4 }), want: Info{Format: VMDK}, wantErr: "vmdk version 4 is not supported"},
		{name: "vmdk unknown compression", data: vmdkImage(sparseDescriptor, func(h []byte) { h[77] = 2 }), want: Info{Format: VMDK}, wantErr: "vmdk compression algorithm is unknown"},
		{name: "vmdk huge capacity", data: vmdkImage(sparseDescriptor, func(h []byte) { le.PutUint64(h[12:], 1<<60) }), want: Info{Format: VMDK, Variant: "monolithicSparse"}, wantErr: "vmdk virtual size is out of range"},
		{name: "vmdk no grain tables", data: vmdkImage(sparseDescriptor, func(h []byte) { le.PutUint32(h[44:], 0) }), want: vm, wantErr: "vmdk header is invalid"},
		{name: "vmdk huge grain", data: vmdkImage(sparseDescriptor, func(h []byte) { le.PutUint64(h[20:], 1<<30) }), want: vm, wantErr: "vmdk header is invalid"},
		{name: "vmdk descriptor elsewhere", data: vmdkImage(sparseDescriptor, func(h []byte) { le.PutUint64(h[28:], 2) }), want: vm, wantErr: "vmdk image has no embedded descriptor at sector 1"},
		{name: "vmdk no descriptor", data: vmdkImage(sparseDescriptor, func(h []byte) { le.PutUint64(h[28:], 0); le.PutUint64(h[36:], 0) }), want: vm, wantErr: "vmdk image has no embedded descriptor at sector 1"},
		{name: "vmdk descriptor past its size", data: vmdkImage(sparseDescriptor+strings.Repeat("# padding\n", 60), func(h []byte) { le.PutUint64(h[36:], 1) }), want: vm, wantErr: "vmdk descriptor runs past its declared size"},
		{name: "vmdk descriptor not ascii", data: vmdkImage(descWith("version=1", "version=\xe9"), nil), want: vm, wantErr: "vmdk descriptor is not ASCII text"},
		{name: "vmdk parent in a comment", data: vmdkImage(sparseDescriptor+"# parentFileNameHint=\"x\"\n", nil), want: vm, wantErr: "vmdk image refers to a parent image"},
		{name: "vmdk unknown line", data: vmdkImage(sparseDescriptor+"include other.vmdk\n", nil), want: vm, wantErr: "vmdk descriptor has a line that is not understood"},
		{name: "vmdk two createTypes", data: vmdkImage(sparseDescriptor+"createType=\"monolithicFlat\"\n", nil), want: vm, wantErr: "vmdk descriptor must have exactly one createType"},
		{name: "vmdk no createType", data: vmdkImage(descWith(`createType="monolithicSparse"`, ""), nil), want: vm, wantErr: "vmdk descriptor must have exactly one createType"},
		{name: "vmdk odd createType", data: vmdkImage(descWith("monolithicSparse", "<script>"), nil), want: vm, wantErr: "vmdk createType is not allowed"},
		{name: "vmdk vmfs createType", data: vmdkImage(descWith("monolithicSparse", "vmfs"), nil), want: vm, wantErr: "vmdk createType vmfs is not allowed"},
		{name: "vmdk no extent", data: vmdkImage(descWith(`RW 20480 SPARSE "disk.vmdk"`, ""), nil), want: vm, wantErr: "vmdk descriptor must have exactly one extent"},
		{name: "vmdk read-only extent", data: vmdkImage(descWith("RW", "RDONLY"), nil), want: vm},
		{name: "vmdk extent with a path", data: vmdkImage(descWith(`"disk.vmdk"`, `"..\disk.vmdk"`), nil), want: vm, wantErr: "vmdk extent names a path"},
		{name: "vmdk vmfs extent", data: vmdkImage(descWith("SPARSE", "VMFS"), nil), want: vm, wantErr: "vmdk descriptor has a VMFS extent, which refers to another file"},
		{name: "vmdk unknown extent", data: vmdkImage(descWith("SPARSE", "NBD"), nil), want: vm, wantErr: "vmdk extent type is unknown"},
		{name: "vmdk zero-sector extent", data: vmdkImage(descWith("20480", "0"), nil), want: vm, wantErr: "vmdk extent is invalid"},
		{name: "vmdk short extent", data: vmdkImage(descWith(`RW 20480 SPARSE "disk.vmdk"`, "RW 20480 SPARSE"), nil), want: vm, wantErr: "vmdk extent is invalid"},
		{name: "vmdk extent with an offset", data: vmdkImage(descWith(`"disk.vmdk"`, `"disk.vmdk" 0`), nil), want: vm, wantErr: "vmdk extent is invalid"},
		{name: "vmdk footer", data: withFooter(vmdkImage(sparseDescriptor, nil), nil), want: vm},
		{name: "vmdk footer sets the capacity", data: withFooter(vmdkImage(sparseDescriptor, nil), func(t []byte) { le.PutUint64(t[512+12:], 40960) }), want: Info{Format: VMDK, Variant: "monolithicSparse", VirtualSize: 20 << 20}},
		{name: "vmdk footer with no capacity in the header", data: mod(withFooter(vmdkImage(sparseDescriptor, nil), nil), func(b []byte) { le.PutUint64(b[12:], 0) }), want: Info{Format: VMDK, Variant: "monolithicSparse"}, wantErr: "vmdk sparse header has zero capacity"},
		{name: "vmdk footer missing", data: mod(vmdkImage(sparseDescriptor, nil), func(h []byte) { le.PutUint64(h[56:], vmdkGDAtEnd) }), want: Info{Format: VMDK}, wantErr: "vmdk footer is invalid"},
		{name: "vmdk footer in a short file", data: mod(vmdkImage(sparseDescriptor, nil), func(h []byte) { le.PutUint64(h[56:], vmdkGDAtEnd) })[:1800], want: Info{Format: VMDK}, wantErr: "vmdk footer is missing"},
		{name: "vmdk footer of another version", data: withFooter(vmdkImage(sparseDescriptor, nil), func(t []byte) { t[512+4] = 2 }), want: Info{Format: VMDK}, wantErr: "vmdk footer does not match its header"},
		{name: "vmdk footer with another descriptor", data: withFooter(vmdkImage(sparseDescriptor, nil), func(t []byte) { t[512+28] = 2 }), want: Info{Format: VMDK}, wantErr: "vmdk footer does not match its header"},
		{name: "vmdk footer to a footer", data: withFooter(vmdkImage(sparseDescriptor, nil), func(t []byte) { le.PutUint64(t[512+56:], vmdkGDAtEnd) }), want: Info{Format: VMDK}, wantErr: "vmdk footer points to another footer"},
		{name: "vmdk footer marker", data: withFooter(vmdkImage(sparseDescriptor, nil), func(t []byte) { t[100] = 1 }), want: Info{Format: VMDK}, wantErr: "vmdk footer marker is invalid"},
		{name: "vmdk end of stream", data: withFooter(vmdkImage(sparseDescriptor, nil), func(t []byte) { t[1024+12] = 1 }), want: Info{Format: VMDK}, wantErr: "vmdk end-of-stream marker is invalid"},
		{name: "vmdk descriptor file", data: []byte(descWith(`SPARSE "disk.vmdk"`, `FLAT "/etc/shadow" 0`)), want: Info{Format: VMDK, Variant: "monolithicSparse"}, wantErr: "vmdk monolithicSparse image is a descriptor that refers to external extent files"},
		{name: "vmdk descriptor file of odd type", data: []byte(descWith("monolithicSparse", "../../etc/passwd")), want: Info{Format: VMDK}, wantErr: "vmdk image is a descriptor file that refers to external extent files"},

		// vhd
		{name: "vhd dynamic", data: dynamicVHD(nil), want: vh},
		{name: "vhd truncated", data: dynamicVHD(nil)[:300], want: Info{Format: VHD}, wantErr: "vhd footer is truncated"},
		{name: "vhd checksum", data: mod(dynamicVHD(nil), func(b []byte) { b[100] = 1 }), want: Info{Format: VHD}, wantErr: "vhd footer checksum is wrong"},
		{name: "vhd unknown type", data: append(vhdFooter(7, nil), make([]byte, 2048)...), want: Info{Format: VHD}, wantErr: "vhd disk type is not supported"},
		{name: "vhd differencing", data: append(vhdFooter(vhdDiff, nil), make([]byte, 2048)...), want: Info{Format: VHD}, wantErr: "vhd image is a differencing disk, which refers to a parent image"},
		{name: "vhd fixed footer first", data: append(vhdFooter(vhdFixed, nil), make([]byte, 2048)...), want: Info{Format: VHD, Variant: "fixed", VirtualSize: 10514432}},
		{name: "vhd dynamic header missing", data: vhdFooter(vhdDynamic, func(f []byte) { be.PutUint64(f[16:], 1<<40) }), want: vh, wantErr: "vhd dynamic disk header is missing"},
		{name: "vhd dynamic header checksum", data: mod(dynamicVHD(nil), func(b []byte) { b[512+100] = 1 }), want: vh, wantErr: "vhd dynamic disk header is invalid"},
		{name: "vhd parent locator", data: dynamicVHD(func(d []byte) { copy(d[576:], "W2ku") }), want: vh, wantErr: "vhd image refers to a parent image"},
		{name: "vhd parent name", data: dynamicVHD(func(d []byte) { d[64] = 'x' }), want: vh, wantErr: "vhd image refers to a parent image"},
		{name: "vhd current size", data: mod(dynamicVHD(nil), func(b []byte) {
			copy(b[28:], "win ")
			be.PutUint64(b[48:], 5<<20+100)
			vhdSum(b[:512], 64)
		}), want: Info{Format: VHD, Variant: "dynamic", VirtualSize: 5 << 20}},
		{name: "vhd largest geometry", data: mod(dynamicVHD(nil), func(b []byte) {
			be.PutUint16(b[56:], 65535)
			b[58], b[59] = 16, 255
			be.PutUint64(b[48:], 200<<30)
			vhdSum(b[:512], 64)
		}), want: Info{Format: VHD, Variant: "dynamic", VirtualSize: 200 << 30}},
		{name: "vhd fixed at the end", data: append(make([]byte, 4096), vhdFooter(vhdFixed, nil)...), want: Info{Format: VHD, Variant: "fixed", VirtualSize: 10514432}},
		{name: "vhd-like end with a bad checksum", data: append(make([]byte, 4096), mod(vhdFooter(vhdFixed, nil), func(f []byte) { f[100] = 1 })...), want: Info{Format: Raw, VirtualSize: 4608}},
		{name: "vhd-like end of a dynamic disk", data: append(make([]byte, 4096), vhdFooter(vhdDynamic, nil)...), want: Info{Format: Raw, VirtualSize: 4608}},
		{name: "iso ending in a vhd footer", data: append(isoImage("CD001"), vhdFooter(vhdFixed, nil)...), want: Info{Format: ISO}, wantErr: "(iso and a vhd footer at the end)"},

		// vhdx
		{name: "vhdx", data: vhdxImage(vhdxOptions{}), want: vx},
		{name: "vhdx metadata far away", data: vhdxImage(vhdxOptions{metaOff: 5 << 20}), want: vx},
		{name: "vhdx fixed", data: vhdxImage(vhdxOptions{items: map[[16]byte][]byte{vhdxItemFileParameters: {0, 0, 0x20, 0, 1, 0, 0, 0}}}), want: Info{Format: VHDX, Variant: "fixed", VirtualSize: 100 << 30}},
		{name: "vhdx has parent", data: vhdxImage(vhdxOptions{items: map[[16]byte][]byte{vhdxItemFileParameters: {0, 0, 0x20, 0, 2, 0, 0, 0}}}), want: Info{Format: VHDX}, wantErr: "vhdx image is a differencing disk"},
		{name: "vhdx parent locator", data: vhdxImage(vhdxOptions{items: map[[16]byte][]byte{vhdxItemParentLocator: make([]byte, 64)}}), want: Info{Format: VHDX}, wantErr: "vhdx image is a differencing disk"},
		{name: "vhdx unknown optional item", data: vhdxImage(vhdxOptions{items: map[[16]byte][]byte{guid("00000000-1111-2222-3333-444444444444"): {1}}}), want: vx},
		{name: "vhdx unknown required item", data: vhdxImage(vhdxOptions{
			items:     map[[16]byte][]byte{guid("00000000-1111-2222-3333-444444444444"): {1}},
			itemFlags: map[[16]byte]uint32{guid("00000000-1111-2222-3333-444444444444"): 4},
		}), want: Info{Format: VHDX}, wantErr: "vhdx image has an unknown required metadata item"},
		{name: "vhdx no size", data: vhdxImage(vhdxOptions{items: map[[16]byte][]byte{vhdxItemVirtualSize: nil}}), want: Info{Format: VHDX}, wantErr: "vhdx metadata lacks the file parameters or the virtual disk size"},
		{name: "vhdx short size item", data: vhdxImage(vhdxOptions{items: map[[16]byte][]byte{vhdxItemVirtualSize: {1, 2}}}), want: Info{Format: VHDX}, wantErr: "vhdx metadata table is invalid"},
		{name: "vhdx huge size", data: vhdxImage(vhdxOptions{items: map[[16]byte][]byte{vhdxItemVirtualSize: le.AppendUint64(nil, 1<<63)}}), want: Info{Format: VHDX, Variant: "dynamic"}, wantErr: "vhdx virtual size is out of range"},
		{name: "vhdx unknown optional region", data: vhdxImage(vhdxOptions{regions: map[[16]byte]uint32{guid("00000000-1111-2222-3333-444444444444"): 0}}), want: vx},
		{name: "vhdx unknown required region", data: vhdxImage(vhdxOptions{regions: map[[16]byte]uint32{guid("00000000-1111-2222-3333-444444444444"): 1}}), want: Info{Format: VHDX}, wantErr: "vhdx image has an unknown required region"},
		{name: "vhdx region table checksum", data: mod(vhdxImage(vhdxOptions{}), func(b []byte) { b[vhdxRegionTable+1000] = 1 }), want: Info{Format: VHDX}, wantErr: "vhdx region table is invalid"},
		{name: "vhdx metadata misaligned", data: vhdxImage(vhdxOptions{metaOff: 1<<20 + 4096}), want: Info{Format: VHDX}, wantErr: "vhdx metadata region is invalid"},
		{name: "vhdx metadata signature", data: vhdxImage(vhdxOptions{mod: func(b []byte, m uint64) { b[m] = 'M' }}), want: Info{Format: VHDX}, wantErr: "vhdx metadata table is invalid"},
		{name: "vhdx item inside the table", data: vhdxImage(vhdxOptions{mod: func(b []byte, m uint64) { le.PutUint32(b[m+32+16:], 4096) }}), want: Info{Format: VHDX}, wantErr: "vhdx metadata item lies outside the metadata region"},
		{name: "vhdx item beyond the region", data: vhdxImage(vhdxOptions{mod: func(b []byte, m uint64) { le.PutUint32(b[m+32+16:], 2<<20) }}), want: Info{Format: VHDX}, wantErr: "vhdx metadata item lies outside the metadata region"},
		{name: "vhdx truncated before the metadata", data: vhdxImage(vhdxOptions{metaOff: 5 << 20})[:3<<20], want: Info{Format: VHDX}, wantErr: "vhdx image is truncated"},
		{name: "vhdx truncated in the items", data: vhdxImage(vhdxOptions{})[:1<<20+64<<10+4], want: Info{Format: VHDX}, wantErr: "vhdx image is truncated"},
		{name: "vhdx truncated in the region table", data: vhdxImage(vhdxOptions{})[:200<<10], want: Info{Format: VHDX}, wantErr: "vhdx image is truncated"},
		{name: "vhdx headers", data: mod(vhdxImage(vhdxOptions{}), func(b []byte) { b[vhdxHeader1+100], b[vhdxHeader2+100] = 1, 1 }), want: Info{Format: VHDX}, wantErr: "vhdx header is invalid"},
		{name: "vhdx one good header", data: mod(vhdxImage(vhdxOptions{}), func(b []byte) { b[vhdxHeader1+100] = 1 }), want: vx},
		{name: "vhdx version 2", data: mod(vhdxImage(vhdxOptions{}), func(b []byte) {
			hd := b[vhdxHeader2 : vhdxHeader2+vhdxHeaderSize]
			le.PutUint16(hd[66:], 2)
			le.PutUint32(hd[4:], 0)
			le.PutUint32(hd[4:], crc32.Checksum(hd, crc32c))
		}), want: Info{Format: VHDX}, wantErr: "vhdx version is not supported"},

		// vdi
		{name: "vdi", data: vdiImage(nil), want: vd},
		{name: "vdi static", data: vdiImage(func(h []byte) { le.PutUint32(h[0x4c:], 2) }), want: Info{Format: VDI, Variant: "static", VirtualSize: 10 << 20}},
		{name: "vdi truncated", data: vdiImage(nil)[:300], want: Info{Format: VDI}, wantErr: "vdi header is truncated"},
		{name: "vdi version", data: vdiImage(func(h []byte) { le.PutUint32(h[0x44:], 0x00010000) }), want: Info{Format: VDI}, wantErr: "vdi version is not supported"},
		{name: "vdi differencing", data: vdiImage(func(h []byte) { le.PutUint32(h[0x4c:], 4) }), want: Info{Format: VDI}, wantErr: "vdi image type is not supported"},
		{name: "vdi parent", data: vdiImage(func(h []byte) { h[0x1b8] = 1 }), want: vd, wantErr: "vdi image refers to a parent image"},
		{name: "vdi block size", data: vdiImage(func(h []byte) { le.PutUint32(h[0x178:], 4096) }), want: vd, wantErr: "vdi header is invalid"},
		{name: "vdi huge", data: vdiImage(func(h []byte) { le.PutUint64(h[0x170:], 1<<63) }), want: Info{Format: VDI, Variant: "dynamic"}, wantErr: "vdi virtual size is out of range"},

		// ploop, luks
		{name: "ploop v1 magic", data: mod(append(bytes.Clone(ploopMagic1), make([]byte, 496)...), func(h []byte) {
			le.PutUint32(h[16:], 2)
			le.PutUint32(h[28:], 2048)
			le.PutUint64(h[36:], 1<<32|20480)
		}), want: Info{Format: Ploop, VirtualSize: 10 << 20}},
		{name: "ploop version", data: append(bytes.Clone(ploopMagic2), make([]byte, 496)...), want: Info{Format: Ploop}, wantErr: "ploop version is not supported"},
		{name: "ploop no tracks", data: mod(append(bytes.Clone(ploopMagic2), make([]byte, 496)...), func(h []byte) { le.PutUint32(h[16:], 2) }), want: Info{Format: Ploop}, wantErr: "ploop header is invalid"},
		{name: "ploop truncated", data: bytes.Clone(ploopMagic2), want: Info{Format: Ploop}, wantErr: "ploop header is truncated"},
		{name: "luks", data: mod(append(bytes.Clone(luksMagic), make([]byte, 8192)...), func(h []byte) { h[7] = 1; be.PutUint32(h[104:], 8) }), want: Info{Format: LUKS, VirtualSize: 8198 - 4096}},
		{name: "luks 2", data: mod(append(bytes.Clone(luksMagic), make([]byte, 8192)...), func(h []byte) { h[7] = 2 }), want: Info{Format: LUKS}, wantErr: "luks version 2 is not supported"},
		{name: "luks truncated", data: append(bytes.Clone(luksMagic), 0, 1), want: Info{Format: LUKS}, wantErr: "luks header is truncated"},

		// iso
		{name: "iso", data: isoImage("CD001", "CD001"), want: Info{Format: ISO, Variant: "iso9660", VirtualSize: 40960}},
		{name: "iso udf bridge", data: isoImage("CD001", "CD001", "BEA01", "NSR02", "TEA01"), want: Info{Format: ISO, Variant: "iso9660", VirtualSize: 40960}},
		{name: "udf", data: isoImage("BEA01", "NSR03", "TEA01"), want: Info{Format: ISO, Variant: "udf", VirtualSize: 64 << 10}},
		{name: "iso without primary descriptor", data: mod(isoImage("CD001"), func(b []byte) { b[isoSystemArea] = 2 }), want: Info{Format: ISO, Variant: "iso9660", VirtualSize: 64 << 10}},
		{name: "iso sequence broken", data: isoImage("BEA01", "XXXXX", "NSR02"), want: Info{Format: Raw, VirtualSize: 64 << 10}},
		{name: "iso huge", data: mod(isoImage("CD001"), func(b []byte) {
			le.PutUint32(b[isoSystemArea+80:], 0xffffffff)
			le.PutUint16(b[isoSystemArea+128:], 0xffff)
		}), want: Info{Format: ISO, Variant: "iso9660", VirtualSize: 0xffffffff * 0xffff}},
		{name: "iso truncated", data: isoImage("CD001")[:33<<10], want: Info{Format: Raw, VirtualSize: 33 << 10}},
		{name: "iso with a gpt", data: mod(isoImage("CD001"), func(b []byte) { copy(b, mbrSector(gptProtective)) }), want: Info{Format: ISO, Variant: "iso9660", VirtualSize: 40960}},
		{name: "iso with a qcow2 header", data: mod(isoImage("CD001"), func(b []byte) { copy(b, qcow2Image(nil)[:512]) }), want: Info{Format: QCOW2}, wantErr: "(qcow2 and iso)"},
		{name: "iso with a vmdk descriptor", data: mod(isoImage("CD001"), func(b []byte) {
			copy(b, sparseDescriptor+strings.Repeat("\n", 512))
		}), want: Info{Format: VMDK}, wantErr: "(a vmdk descriptor and iso)"},
		{name: "iso with a vmdk descriptor and a NUL", data: mod(isoImage("CD001"), func(b []byte) { copy(b, sparseDescriptor) }), want: Info{Format: ISO, Variant: "iso9660", VirtualSize: 40960}},

		// raw
		{name: "raw", data: make([]byte, 4096), want: Info{Format: Raw, VirtualSize: 4096}},
		{name: "raw one byte", data: []byte{0}, want: Info{Format: Raw, VirtualSize: 1}},
		{name: "raw gpt invalid chs", data: mod(make([]byte, 4096), func(b []byte) {
			e := gptProtective
			e[2] = 1
			copy(b, mbrSector(e))
		}), want: Info{Format: Raw, VirtualSize: 4096}, wantErr: "GPT protective MBR has an invalid start CHS"},
		{name: "raw gpt invalid lba", data: mod(make([]byte, 4096), func(b []byte) {
			e := gptProtective
			e[8] = 2
			copy(b, mbrSector(e))
		}), want: Info{Format: Raw, VirtualSize: 4096}, wantErr: "GPT protective MBR has an invalid start LBA"},
		{name: "raw gpt not first", data: mod(make([]byte, 4096), func(b []byte) { copy(b, mbrSector([16]byte{}, gptProtective)) }), want: Info{Format: Raw, VirtualSize: 4096}, wantErr: "GPT protective MBR defines extra partitions"},
		{name: "raw fat boot sector", data: mod(make([]byte, 4096), func(b []byte) { copy(b, mbrSector()); b[0x10], b[0x15] = 2, 0xf8 }), want: Info{Format: Raw, VirtualSize: 4096}},
		{name: "raw mbr in a short file", data: mbrSector(linuxPartition)[:511], want: Info{Format: Raw, VirtualSize: 511}},
	}
}

// TestCrafted inspects images crafted byte by byte, both with Detect and streamed.
func TestCrafted(t *testing.T) {
	for _, c := range craftedCases() {
		t.Run(c.name, func(t *testing.T) {
			got, err := inspect(t, c.data)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("Detect: %v (%s)", err, describe(got))
				}
			} else if err == nil || !strings.Contains(err.Error(), c.wantErr) || !errors.Is(err, ErrUnsafe) {
				t.Fatalf("Detect error = %v, want one wrapping ErrUnsafe that says %q", err, c.wantErr)
			}
			if got != c.want {
				t.Errorf("Detect = %s, want %s", describe(got), describe(c.want))
			}
		})
	}
}
