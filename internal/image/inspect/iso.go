package inspect

import "encoding/binary"

// An ISO 9660 or UDF image leaves its first 32 KiB (16 sectors of 2 KiB) to the system,
// where bootable images put a partition table and boot code, and then has its volume
// recognition sequence: 2 KiB descriptors whose bytes 1 to 5 are a standard identifier.
// ISO 9660 descriptors say "CD001" and the primary one (type 1) holds the volume space size
// (blocks, both-endian u32 at 80) and the logical block size (both-endian u16 at 128); UDF
// adds "BEA01", "NSR02" or "NSR03" and "TEA01".
const (
	isoSystemArea = 32 << 10
	isoSector     = 2 << 10
	isoMaxVRS     = 16 // descriptors examined, up to 64 KiB
)

// isoIdentifier returns the standard identifier of the volume descriptor at sector i of the
// recognition sequence, or "" when there is none.
func (s *scan) isoIdentifier(i int) (typ byte, id string) {
	off := isoSystemArea + i*isoSector
	if off+isoSector > len(s.head) {
		return 0, ""
	}
	d := s.head[off : off+isoSector]
	switch string(d[1:6]) {
	case "CD001", "BEA01", "NSR02", "NSR03", "TEA01", "BOOT2", "CDW02":
		return d[0], string(d[1:6])
	}
	return 0, ""
}

// isISO reports whether the volume recognition sequence holds an ISO 9660 or UDF volume.
func (s *scan) isISO() bool {
	for i := range isoMaxVRS {
		_, id := s.isoIdentifier(i)
		switch id {
		case "":
			return false
		case "CD001", "NSR02", "NSR03":
			return true
		}
	}
	return false
}

func (s *scan) iso() (Info, error) {
	info := Info{Format: ISO, Variant: "udf", VirtualSize: s.total}
	for i := range isoMaxVRS {
		typ, id := s.isoIdentifier(i)
		if id == "" {
			break
		}
		if id != "CD001" {
			continue
		}
		info.Variant = "iso9660"
		if typ == 1 {
			d := s.head[isoSystemArea+i*isoSector:]
			blocks := uint64(binary.LittleEndian.Uint32(d[80:]))
			blockSize := uint64(binary.LittleEndian.Uint16(d[128:]))
			size, err := sizeFromUnits(ISO, blocks, blockSize)
			if err != nil {
				return info, err
			}
			info.VirtualSize = size
			break
		}
	}
	return info, nil
}
