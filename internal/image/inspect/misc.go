package inspect

import (
	"encoding/binary"
	"math"
)

// LUKS version 1 starts with a big-endian header: magic "LUKS\xba\xbe", version u16 at 6,
// cipher and hash names, and the payload offset in sectors (u32 at 104). oslo refuses
// version 2, which neither it nor this package parses.
var luksMagic = []byte("LUKS\xba\xbe")

func (s *scan) luks() (Info, error) {
	info := Info{Format: LUKS}
	h := s.head
	if len(h) < 592 {
		return info, unsafe("luks header is truncated")
	}
	if v := binary.BigEndian.Uint16(h[6:]); v != 1 {
		return info, unsafe("luks version %d is not supported", v)
	}
	payload := uint64(binary.BigEndian.Uint32(h[104:])) * 512
	if payload > uint64(s.total) {
		return info, unsafe("luks payload lies beyond the end of the image")
	}
	info.VirtualSize = s.total - int64(payload)
	return info, nil
}

// A Parallels (ploop) image starts with a little-endian header (qemu's block/parallels.c):
// magic "WithoutFreeSpace" or "WithouFreSpacExt", version u32 at 16 (2), heads, cylinders,
// tracks (sectors per cluster) u32 at 28, BAT entries, size in sectors u64 at 36 (only its
// low 32 bits for the first magic), in-use marker, data offset, flags, extension offset.
var (
	ploopMagic1 = []byte("WithoutFreeSpace")
	ploopMagic2 = []byte("WithouFreSpacExt")
)

func (s *scan) ploop() (Info, error) {
	info := Info{Format: Ploop}
	h := s.head
	if len(h) < 64 {
		return info, unsafe("ploop header is truncated")
	}
	le := binary.LittleEndian
	if le.Uint32(h[16:]) != 2 {
		return info, unsafe("ploop version is not supported")
	}
	tracks := le.Uint32(h[28:])
	if tracks == 0 || tracks > math.MaxInt32/513 {
		return info, unsafe("ploop header is invalid")
	}
	sectors := le.Uint64(h[36:])
	if string(h[:16]) == string(ploopMagic1) {
		sectors &= 0xffffffff
	}
	size, err := sizeFromUnits(Ploop, sectors, 512)
	info.VirtualSize = size
	return info, err
}
