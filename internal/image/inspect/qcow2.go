package inspect

import (
	"encoding/binary"
	"math"
)

// The qcow2 header is big-endian (docs/interop/qcow2.txt in qemu):
//
//	 0  magic "QFI\xfb"              32  crypt_method
//	 4  version (2 or 3)             72  incompatible_features (v3)
//	 8  backing_file_offset          80  compatible_features (v3)
//	16  backing_file_size            88  autoclear_features (v3)
//	20  cluster_bits                 96  refcount_order (v3)
//	24  size (virtual, bytes)       100  header_length (v3)
//	                                104  compression_type (v3, when header_length > 104)
//
// Header extensions follow the header (at header_length, or 72 for version 2), each an 8-byte
// type and length and data padded to 8 bytes, up to a type 0 end marker.
var (
	qcow2Magic = []byte("QFI\xfb")
	qedMagic   = []byte("QED\x00")
)

// Incompatible feature bits of qcow2 version 3.
const (
	qcow2Dirty       = 1 << 0
	qcow2Corrupt     = 1 << 1
	qcow2DataFile    = 1 << 2
	qcow2Compression = 1 << 3
	qcow2ExtendedL2  = 1 << 4
	qcow2KnownBits   = qcow2Dirty | qcow2Corrupt | qcow2DataFile | qcow2Compression | qcow2ExtendedL2
)

// qcow2ExtDataFile is the header extension that names an external data file.
const qcow2ExtDataFile = 0x44415441

func (s *scan) qcow2() (Info, error) {
	h := s.head
	info := Info{Format: QCOW2}
	if len(h) < 72 {
		return info, unsafe("qcow2 header is truncated")
	}
	be := binary.BigEndian
	version := be.Uint32(h[4:])
	switch version {
	case 2:
		info.Variant = "v2"
	case 3:
		info.Variant = "v3"
	case 1:
		return info, unsafe("qcow version 1 images are not supported")
	default:
		return info, unsafe("qcow2 version %d is not supported", version)
	}
	if size := be.Uint64(h[24:]); size <= math.MaxInt64 {
		info.VirtualSize = int64(size)
	} else {
		return info, unsafe("qcow2 virtual size is out of range")
	}
	if be.Uint64(h[8:]) != 0 {
		return info, unsafe("qcow2 image has a backing file")
	}
	clusterBits := be.Uint32(h[20:])
	if clusterBits < 9 || clusterBits > 21 {
		return info, unsafe("qcow2 cluster size is out of range")
	}
	clusterSize := 1 << clusterBits
	if be.Uint32(h[32:]) > 2 {
		return info, unsafe("qcow2 encryption method is unknown")
	}
	headerLen := 72
	if version == 3 {
		if len(h) < 104 {
			return info, unsafe("qcow2 header is truncated")
		}
		incompat := be.Uint64(h[72:])
		if incompat&qcow2DataFile != 0 {
			return info, unsafe("qcow2 image has an external data file")
		}
		if incompat&^qcow2KnownBits != 0 {
			return info, unsafe("qcow2 image uses unknown incompatible features")
		}
		if incompat&qcow2Corrupt != 0 {
			return info, unsafe("qcow2 image is marked corrupt")
		}
		hl := be.Uint32(h[100:])
		if hl < 104 || hl%8 != 0 || hl > uint32(clusterSize) {
			return info, unsafe("qcow2 header length is invalid")
		}
		headerLen = int(hl)
		if incompat&qcow2Compression != 0 {
			if headerLen <= 104 || len(h) <= 104 {
				return info, unsafe("qcow2 header is truncated")
			}
			if h[104] > 1 {
				return info, unsafe("qcow2 compression type is unknown")
			}
		}
	}
	// Header extensions live in the first cluster; look at as much of them as the head
	// holds (all of them unless the clusters are larger than the head).
	end := min(len(h), clusterSize)
	for off := headerLen; off+8 <= end; {
		typ, n := be.Uint32(h[off:]), be.Uint32(h[off+4:])
		if typ == 0 {
			break
		}
		if typ == qcow2ExtDataFile {
			return info, unsafe("qcow2 image names an external data file")
		}
		next := uint64(off) + 8 + (uint64(n)+7)&^7
		if next > uint64(end) {
			break
		}
		off = int(next)
	}
	return info, nil
}

// qed recognises QED only to refuse it: nothing in OpenStack uses it and, like qcow2, it can
// name a backing file.
func (s *scan) qed() (Info, error) {
	info := Info{Format: QED}
	if len(s.head) >= 56 {
		if size := binary.LittleEndian.Uint64(s.head[48:]); size <= math.MaxInt64 {
			info.VirtualSize = int64(size)
		}
	}
	return info, unsafe("qed images are not supported")
}
