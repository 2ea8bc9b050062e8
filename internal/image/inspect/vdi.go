package inspect

import "encoding/binary"

// A VirtualBox VDI image starts with a little-endian header (qemu's block/vdi.c): a 64-byte
// text banner, then
//
//	0x40  signature 0xbeda107f       0x170  disk size (bytes)
//	0x44  version (0x00010001)       0x178  block size (1 MiB)
//	0x4c  image type (1 dynamic,     0x188  image UUID, last snapshot UUID,
//	      2 static, 3 undo, 4 diff)  0x1a8  link UUID, 0x1b8 parent UUID
//	0x168 sector size (512)
const (
	vdiSignature  = 0xbeda107f
	vdiVersion11  = 0x00010001
	vdiHeaderSize = 512
)

func (s *scan) vdi() (Info, error) {
	info := Info{Format: VDI}
	h := s.head
	if len(h) < vdiHeaderSize {
		return info, unsafe("vdi header is truncated")
	}
	le := binary.LittleEndian
	if le.Uint32(h[0x44:]) != vdiVersion11 {
		return info, unsafe("vdi version is not supported")
	}
	switch le.Uint32(h[0x4c:]) {
	case 1:
		info.Variant = "dynamic"
	case 2:
		info.Variant = "static"
	default:
		return info, unsafe("vdi image type is not supported")
	}
	size, err := sizeFromUnits(VDI, le.Uint64(h[0x170:]), 1)
	if err != nil {
		return info, err
	}
	info.VirtualSize = size
	if !isZero(h[0x1a8:0x1c8]) {
		return info, unsafe("vdi image refers to a parent image")
	}
	if le.Uint32(h[0x168:]) != 512 || le.Uint32(h[0x178:]) != 1<<20 {
		return info, unsafe("vdi header is invalid")
	}
	return info, nil
}
