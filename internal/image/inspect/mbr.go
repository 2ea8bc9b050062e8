package inspect

import "encoding/binary"

// A whole-disk image starts with a master boot record: boot code, four 16-byte partition
// entries from byte 446 (boot flag, start CHS, type, end CHS, start LBA u32, size u32) and
// the signature 0x55 0xaa at 510. A GPT disk has a protective MBR with one entry of type
// 0xee. A FAT file system's boot sector carries the same signature, so like oslo's GPT
// inspector a sector that looks like one (two FATs, fixed-disk media) is not an MBR.

// hasMBR reports whether the data starts with something that claims to be an MBR.
func (s *scan) hasMBR() bool {
	h := s.head
	if len(h) < 512 || h[510] != 0x55 || h[511] != 0xaa {
		return false
	}
	isFAT := h[0x10] == 2 && h[0x15] == 0xf8
	return !isFAT
}

// checkMBR applies the checks of oslo's GPT inspector to the partition table and returns
// "gpt" for a protective MBR and "mbr" otherwise.
func checkMBR(h []byte) (string, error) {
	var used []int
	gpt := false
	for i := range 4 {
		e := h[446+16*i : 462+16*i]
		if e[0] != 0 && e[0] != 0x80 {
			return "", unsafe("MBR partition %d has an invalid boot flag", i+1)
		}
		if e[4] != 0 {
			used = append(used, i)
		}
		if e[4] == 0xee {
			gpt = true
			if e[1] != 0 || e[2] != 2 || e[3] != 0 {
				return "", unsafe("GPT protective MBR has an invalid start CHS")
			}
			if binary.LittleEndian.Uint32(e[8:]) != 1 {
				return "", unsafe("GPT protective MBR has an invalid start LBA")
			}
		}
	}
	if gpt && (len(used) != 1 || used[0] != 0) {
		return "", unsafe("GPT protective MBR defines extra partitions")
	}
	if len(used) == 0 {
		return "", unsafe("MBR defines no partitions")
	}
	if gpt {
		return "gpt", nil
	}
	return "mbr", nil
}
