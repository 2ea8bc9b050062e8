package inspect

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"math"
	"strings"
)

// A VHDX file (Microsoft's [MS-VHDX]) is little-endian and starts with fixed structures:
//
//	     0  file type identifier, "vhdxfile"
//	 64 KiB header 1, 128 KiB header 2 (4 KiB each: "head", CRC-32C, sequence number, ...,
//	        version u16 at 66)
//	192 KiB region table ("regi", CRC-32C over 64 KiB, entry count, then 32-byte entries:
//	        GUID, file offset u64, length u32, required u32)
//
// The metadata region the region table points to starts with a 64 KiB table ("metadata",
// entry count u16 at 10, then 32-byte entries from 32: GUID, offset u32 from the region
// start, length u32, flags u32 with IsRequired = 4), and the items it lists hold the file
// parameters (block size, flags with HasParent = 2) and the virtual disk size. The metadata
// region is usually several MiB into the file, so it is captured from the stream.
var vhdxMagic = []byte("vhdxfile")

const (
	vhdxHeader1     = 64 << 10
	vhdxHeader2     = 128 << 10
	vhdxHeaderSize  = 4 << 10
	vhdxRegionTable = 192 << 10
	vhdxTableSize   = 64 << 10 // both the region table and the metadata table
	vhdxMaxEntries  = 2047
)

var (
	crc32c = crc32.MakeTable(crc32.Castagnoli)

	vhdxRegionBAT      = guid("2DC27766-F623-4200-9D64-115E9BFD4A08")
	vhdxRegionMetadata = guid("8B7CA206-4790-4B9A-B8FE-575F050F886E")

	vhdxItemFileParameters = guid("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
	vhdxItemVirtualSize    = guid("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
	vhdxItemPage83         = guid("BECA12AB-B2E6-4523-93EF-C309E000C746")
	vhdxItemLogicalSector  = guid("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
	vhdxItemPhysicalSector = guid("CDA348C7-445D-4471-9CC9-E9885251C556")
	vhdxItemParentLocator  = guid("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")
)

// guid returns the on-disk form of a GUID written in the usual text form: the first three
// groups little-endian, the last two as they are.
func guid(s string) [16]byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		panic("inspect: bad GUID " + s)
	}
	var g [16]byte
	copy(g[:], b)
	g[0], g[1], g[2], g[3] = b[3], b[2], b[1], b[0]
	g[4], g[5] = b[5], b[4]
	g[6], g[7] = b[7], b[6]
	return g
}

// vhdxScan follows the VHDX structures that lie beyond the head while the stream goes by.
type vhdxScan struct {
	scanned      bool // the region table has been examined
	itemsScanned bool // the metadata table has been examined
	err          error
	metaLen      uint64
	table        *region // the metadata table
	params, size *region // the file parameters and virtual disk size items
	list         [3]*region
	n            int
}

// regions returns the capture regions registered so far.
func (v *vhdxScan) regions() []*region {
	return v.list[:v.n]
}

// add registers a capture region.
func (v *vhdxScan) add(r *region) *region {
	v.list[v.n] = r
	v.n++
	return r
}

// advance examines the structures that have become available and reports whether it
// registered new capture regions.
func (v *vhdxScan) advance(head []byte) bool {
	switch {
	case !v.scanned:
		if len(head) < vhdxRegionTable+vhdxTableSize {
			return false
		}
		v.scanned = true
		if !bytes.HasPrefix(head, vhdxMagic) {
			return false
		}
		v.err = v.scanRegionTable(head[vhdxRegionTable : vhdxRegionTable+vhdxTableSize])
		return v.table != nil
	case v.table != nil && v.table.complete() && !v.itemsScanned:
		v.itemsScanned = true
		v.err = v.scanMetadataTable()
		return v.params != nil || v.size != nil
	}
	return false
}

// vhdxChecksumOK reports whether the CRC-32C at offset 4 of b is the checksum of b with that
// field zeroed.
func vhdxChecksumOK(b []byte) bool {
	crc := crc32.Update(0, crc32c, b[:4])
	crc = crc32.Update(crc, crc32c, []byte{0, 0, 0, 0})
	crc = crc32.Update(crc, crc32c, b[8:])
	return crc == binary.LittleEndian.Uint32(b[4:])
}

// scanRegionTable finds the metadata region and registers its table for capture.
func (v *vhdxScan) scanRegionTable(rt []byte) error {
	le := binary.LittleEndian
	if !bytes.HasPrefix(rt, []byte("regi")) || !vhdxChecksumOK(rt) {
		return unsafe("vhdx region table is invalid")
	}
	count := le.Uint32(rt[8:])
	if count > vhdxMaxEntries {
		return unsafe("vhdx region table is invalid")
	}
	var bat, meta bool
	var metaOff uint64
	for i := range int(count) {
		e := rt[16+32*i : 48+32*i]
		switch [16]byte(e[:16]) {
		case vhdxRegionBAT:
			if bat {
				return unsafe("vhdx region table is invalid")
			}
			bat = true
		case vhdxRegionMetadata:
			if meta {
				return unsafe("vhdx region table is invalid")
			}
			meta = true
			metaOff, v.metaLen = le.Uint64(e[16:]), uint64(le.Uint32(e[24:]))
		default:
			if le.Uint32(e[28:])&1 != 0 {
				return unsafe("vhdx image has an unknown required region")
			}
		}
	}
	if !bat || !meta {
		return unsafe("vhdx region table lacks the BAT or the metadata region")
	}
	if metaOff < 1<<20 || metaOff%(1<<20) != 0 || metaOff > math.MaxInt64-v.metaLen || v.metaLen < vhdxTableSize {
		return unsafe("vhdx metadata region is invalid")
	}
	v.table = v.add(newRegion(int64(metaOff), vhdxTableSize))
	return nil
}

// scanMetadataTable checks the metadata items and registers the two it reads for capture.
func (v *vhdxScan) scanMetadataTable() error {
	t := v.table.buf
	le := binary.LittleEndian
	if !bytes.HasPrefix(t, []byte("metadata")) {
		return unsafe("vhdx metadata table is invalid")
	}
	count := int(le.Uint16(t[10:]))
	if count > vhdxMaxEntries {
		return unsafe("vhdx metadata table is invalid")
	}
	seen := map[[16]byte]bool{}
	var paramsAt, sizeAt int64
	for i := range count {
		e := t[32+32*i : 64+32*i]
		id := [16]byte(e[:16])
		off, length, flags := uint64(le.Uint32(e[16:])), uint64(le.Uint32(e[20:])), le.Uint32(e[24:])
		if seen[id] {
			return unsafe("vhdx metadata table is invalid")
		}
		seen[id] = true
		if length != 0 && (off < vhdxTableSize || off+length > v.metaLen) {
			return unsafe("vhdx metadata item lies outside the metadata region")
		}
		switch id {
		case vhdxItemFileParameters, vhdxItemVirtualSize:
			if length < 8 {
				return unsafe("vhdx metadata table is invalid")
			}
			if id == vhdxItemFileParameters {
				paramsAt = v.table.off + int64(off)
			} else {
				sizeAt = v.table.off + int64(off)
			}
		case vhdxItemParentLocator:
			return unsafe("vhdx image is a differencing disk, which refers to a parent image")
		case vhdxItemPage83, vhdxItemLogicalSector, vhdxItemPhysicalSector:
		default:
			if flags&4 != 0 {
				return unsafe("vhdx image has an unknown required metadata item")
			}
		}
	}
	if paramsAt == 0 || sizeAt == 0 {
		return unsafe("vhdx metadata lacks the file parameters or the virtual disk size")
	}
	v.params, v.size = v.add(newRegion(paramsAt, 8)), v.add(newRegion(sizeAt, 8))
	return nil
}

func (s *scan) vhdxInfo() (Info, error) {
	info := Info{Format: VHDX}
	h := s.head
	if len(h) < vhdxRegionTable+vhdxTableSize {
		return info, unsafe("vhdx image is truncated")
	}
	valid := false
	for _, off := range []int{vhdxHeader1, vhdxHeader2} {
		hd := h[off : off+vhdxHeaderSize]
		if !bytes.HasPrefix(hd, []byte("head")) || !vhdxChecksumOK(hd) {
			continue
		}
		if binary.LittleEndian.Uint16(hd[66:]) != 1 {
			return info, unsafe("vhdx version is not supported")
		}
		valid = true
	}
	if !valid {
		return info, unsafe("vhdx header is invalid")
	}
	v := s.vhdx
	if v.err != nil {
		return info, v.err
	}
	if v.params == nil || !v.params.complete() || !v.size.complete() {
		return info, unsafe("vhdx image is truncated")
	}
	le := binary.LittleEndian
	flags := le.Uint32(v.params.buf[4:])
	if flags&2 != 0 {
		return info, unsafe("vhdx image is a differencing disk, which refers to a parent image")
	}
	info.Variant = "dynamic"
	if flags&1 != 0 {
		info.Variant = "fixed"
	}
	size, err := sizeFromUnits(VHDX, le.Uint64(v.size.buf), 1)
	info.VirtualSize = size
	return info, err
}
