package inspect

import (
	"bytes"
	"encoding/binary"
)

// A VHD (qemu's vpc) ends with a big-endian 512-byte footer; dynamic and differencing disks
// also start with a copy of it, and a fixed disk is raw data followed by the footer alone
// (Microsoft's "Virtual Hard Disk Image Format Specification"):
//
//	 0  cookie "conectix"            40  original size
//	 8  features                     48  current size
//	12  file format version          56  disk geometry (cylinders u16, heads u8, sectors u8)
//	16  data offset (all ones: fixed) 60  disk type (2 fixed, 3 dynamic, 4 differencing)
//	24  time stamp                   64  checksum (one's complement of the byte sum)
//	28  creator application          68  unique id, saved state, reserved
//
// The dynamic disk header ("cxsparse", 1024 bytes) at the data offset carries the parent's
// name and locators for differencing disks.
var (
	vhdCookie    = []byte("conectix")
	vhdDynCookie = []byte("cxsparse")
)

const (
	vhdFooterSize = 512
	vhdDynSize    = 1024
	vhdFixed      = 2
	vhdDynamic    = 3
	vhdDiff       = 4
)

// vhdChecksumOK reports whether the checksum field at off of the structure b is the one's
// complement of the sum of all its other bytes.
func vhdChecksumOK(b []byte, off int) bool {
	var sum uint32
	for i, c := range b {
		if i < off || i >= off+4 {
			sum += uint32(c)
		}
	}
	return ^sum == binary.BigEndian.Uint32(b[off:])
}

// isFixedVHD reports whether the data ends with the footer of a fixed VHD. Only a footer
// with a valid checksum and the fixed disk type counts, so that raw data that merely happens
// to end with the cookie stays raw.
func (s *scan) isFixedVHD() bool {
	if len(s.tail) < vhdFooterSize {
		return false
	}
	f := s.tail[len(s.tail)-vhdFooterSize:]
	return bytes.HasPrefix(f, vhdCookie) && vhdChecksumOK(f, 64) &&
		binary.BigEndian.Uint32(f[60:]) == vhdFixed &&
		binary.BigEndian.Uint64(f[16:]) == 0xffffffffffffffff
}

// vhd checks a VHD that starts with a copy of its footer: a dynamic disk.
func (s *scan) vhd() (Info, error) {
	info := Info{Format: VHD}
	h := s.head
	if len(h) < vhdFooterSize {
		return info, unsafe("vhd footer is truncated")
	}
	f := h[:vhdFooterSize]
	if !vhdChecksumOK(f, 64) {
		return info, unsafe("vhd footer checksum is wrong")
	}
	be := binary.BigEndian
	switch be.Uint32(f[60:]) {
	case vhdFixed:
		info.Variant = "fixed"
	case vhdDynamic:
		info.Variant = "dynamic"
	case vhdDiff:
		return info, unsafe("vhd image is a differencing disk, which refers to a parent image")
	default:
		return info, unsafe("vhd disk type is not supported")
	}
	size, err := vhdVirtualSize(f)
	if err != nil {
		return info, err
	}
	info.VirtualSize = size
	if info.Variant == "fixed" {
		return info, nil
	}
	dynOff := be.Uint64(f[16:])
	if dynOff > uint64(len(h)) || uint64(len(h))-dynOff < vhdDynSize {
		return info, unsafe("vhd dynamic disk header is missing")
	}
	dyn := h[dynOff : dynOff+vhdDynSize]
	if !bytes.HasPrefix(dyn, vhdDynCookie) || !vhdChecksumOK(dyn, 36) {
		return info, unsafe("vhd dynamic disk header is invalid")
	}
	// Parent unique id, name and locators belong to differencing disks only.
	if !isZero(dyn[40:56]) || !isZero(dyn[64:768]) {
		return info, unsafe("vhd image refers to a parent image")
	}
	return info, nil
}

// fixedVHD describes a fixed VHD, recognised by its footer at the end.
func (s *scan) fixedVHD() (Info, error) {
	f := s.tail[len(s.tail)-vhdFooterSize:]
	size, err := vhdVirtualSize(f)
	return Info{Format: VHD, Variant: "fixed", VirtualSize: size}, err
}

// vhdVirtualSize returns the disk size qemu's vpc driver uses: the CHS geometry, unless the
// creator application is one that sizes disks by the current-size field or the geometry is
// the largest CHS can express, in which case the current size in whole sectors.
func vhdVirtualSize(f []byte) (int64, error) {
	be := binary.BigEndian
	chs := uint64(be.Uint16(f[56:])) * uint64(f[58]) * uint64(f[59])
	useCurrent := chs == 65535*16*255
	switch string(f[28:32]) {
	case "win ", "qem2", "d2v ", "tap\x00", "CTXS":
		useCurrent = true
	}
	if useCurrent {
		return sizeFromUnits(VHD, be.Uint64(f[48:])/512, 512)
	}
	return sizeFromUnits(VHD, chs, 512)
}
