package inspect

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
)

// scan is one analysis of the regions an Inspector kept.
type scan struct {
	head  []byte // the first min(total, headSize) bytes
	tail  []byte // the last min(total, tailSize) bytes
	total int64
	vhdx  *vhdxScan
}

// candidate is a format whose signature the data carries.
type candidate struct {
	format Format
	what   string // how the multiple-formats error names it
	check  func() (Info, error)
}

// run finds every format whose signature is present, refuses ambiguous data and runs the
// checks of the one format found.
func (s *scan) run() (Info, error) {
	if s.total == 0 {
		return Info{Format: Raw, Looks: "an empty file"}, nil
	}
	var found []candidate
	add := func(f Format, what string, check func() (Info, error)) {
		found = append(found, candidate{format: f, what: what, check: check})
	}
	h := s.head
	switch {
	case bytes.HasPrefix(h, qcow2Magic):
		add(QCOW2, "qcow2", s.qcow2)
	case bytes.HasPrefix(h, qedMagic):
		add(QED, "qed", s.qed)
	case bytes.HasPrefix(h, vmdk4Magic), bytes.HasPrefix(h, vmdk3Magic):
		add(VMDK, "vmdk", s.vmdk)
	case bytes.HasPrefix(h, vhdCookie):
		add(VHD, "vhd", s.vhd)
	case bytes.HasPrefix(h, vhdxMagic):
		add(VHDX, "vhdx", s.vhdxInfo)
	case bytes.HasPrefix(h, luksMagic):
		add(LUKS, "luks", s.luks)
	case bytes.HasPrefix(h, ploopMagic1), bytes.HasPrefix(h, ploopMagic2):
		add(Ploop, "ploop", s.ploop)
	case s.isVMDKDescriptor():
		add(VMDK, "a vmdk descriptor", s.vmdkDescriptor)
	}
	if len(h) >= 0x44 && binary.LittleEndian.Uint32(h[0x40:]) == vdiSignature {
		add(VDI, "vdi", s.vdi)
	}
	if s.isISO() {
		add(ISO, "iso", s.iso)
	}
	vhdAtEnd := !bytes.HasPrefix(h, vhdCookie) && s.isFixedVHD()
	if vhdAtEnd {
		add(VHD, "a vhd footer at the end", s.fixedVHD)
	}
	mbr := s.hasMBR()

	switch {
	case len(found) == 0:
		return s.raw(mbr)
	case len(found) == 1 && (!mbr || found[0].format == ISO || vhdAtEnd):
		// A bootable (hybrid) ISO carries a partition table in its system area, and a
		// fixed VHD is a raw disk with a footer appended, so either may start with an
		// MBR; any other format that also looks like a partitioned disk is ambiguous.
		return found[0].check()
	}
	names := make([]string, 0, len(found)+1)
	for _, c := range found {
		names = append(names, c.what)
	}
	if mbr {
		names = append(names, "an MBR partition table")
	}
	return Info{Format: found[0].format}, unsafe("image data matches more than one format (%s)", strings.Join(names, " and "))
}

// raw describes data that no format claimed: a whole-disk image, possibly with a partition
// table, or something that is not a disk image at all.
func (s *scan) raw(mbr bool) (Info, error) {
	info := Info{Format: Raw, VirtualSize: s.total}
	if !mbr {
		info.Looks = looks(s.head)
		return info, nil
	}
	variant, err := checkMBR(s.head)
	info.Variant = variant
	return info, err
}

// sizeFromUnits multiplies a count of units from a header by the unit size, refusing results
// that do not fit an int64.
func sizeFromUnits(format Format, count, unit uint64) (int64, error) {
	if unit != 0 && count > math.MaxInt64/unit {
		return 0, unsafe("%s virtual size is out of range", format)
	}
	return int64(count * unit), nil
}

// isZero reports whether b holds only zero bytes.
func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
