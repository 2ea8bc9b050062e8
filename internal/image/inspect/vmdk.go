package inspect

import (
	"bytes"
	"encoding/binary"
	"strings"
)

// A hosted sparse VMDK starts with a little-endian header (VMware's "Virtual Disk Format
// 1.1" and qemu's block/vmdk.c):
//
//	 0  magic "KDMV"                 44  numGTEsPerGT
//	 4  version (1 to 3)             48  rgdOffset (sectors)
//	 8  flags                        56  gdOffset (sectors, all ones: footer at the end)
//	12  capacity (sectors)           64  overHead (sectors)
//	20  grainSize (sectors)          72  uncleanShutdown, 4 check characters
//	28  descriptorOffset (sectors)   77  compressAlgorithm (1: deflate, streamOptimized)
//	36  descriptorSize (sectors)
//
// The embedded descriptor is text at descriptorOffset. A VMDK that does not start with the
// magic is a descriptor file whose extents are other files.
var (
	vmdk4Magic = []byte("KDMV")
	vmdk3Magic = []byte("COWD")
)

const (
	vmdkGDAtEnd    = 0xffffffffffffffff
	vmdkMaxDesc    = 1<<20 - 1 // the most qemu reads of a descriptor
	vmdkHeaderSize = 79
)

// vmdkCreateTypes are the createType values VMware documents, with their usual spelling.
var vmdkCreateTypes = []string{
	"monolithicSparse", "monolithicFlat", "twoGbMaxExtentSparse", "twoGbMaxExtentFlat",
	"streamOptimized", "vmfs", "vmfsSparse", "vmfsThin", "vmfsRaw", "vmfsRDM",
	"vmfsRawDeviceMap", "vmfsPassthroughRawDeviceMap", "fullDevice", "partitionedDevice",
	"seSparse", "vsanSparse", "custom",
}

// vmdkExtentTypes are the extent types VMware documents, lower-cased.
var vmdkExtentTypes = []string{"sparse", "flat", "zero", "vmfs", "vmfssparse", "vmfsrdm", "vmfsraw", "sesparse"}

type vmdkHeader struct {
	version          uint32
	capacity, grain  uint64
	descOff, descLen uint64
	numGTEs          uint32
	gdOffset         uint64
	compress         uint16
}

// parseVMDKHeader reads a sparse header; b holds at least vmdkHeaderSize bytes.
func parseVMDKHeader(b []byte) vmdkHeader {
	le := binary.LittleEndian
	return vmdkHeader{
		version:  le.Uint32(b[4:]),
		capacity: le.Uint64(b[12:]),
		grain:    le.Uint64(b[20:]),
		descOff:  le.Uint64(b[28:]),
		descLen:  le.Uint64(b[36:]),
		numGTEs:  le.Uint32(b[44:]),
		gdOffset: le.Uint64(b[56:]),
		compress: le.Uint16(b[77:]),
	}
}

func (s *scan) vmdk() (Info, error) {
	info := Info{Format: VMDK}
	h := s.head
	if bytes.HasPrefix(h, vmdk3Magic) {
		return info, unsafe("vmdk COWD sparse images are not supported")
	}
	if len(h) < 512 {
		return info, unsafe("vmdk header is truncated")
	}
	hdr := parseVMDKHeader(h)
	if hdr.version < 1 || hdr.version > 3 {
		return info, unsafe("vmdk version %d is not supported", hdr.version)
	}
	eff := hdr
	if hdr.gdOffset == vmdkGDAtEnd {
		// The footer takes precedence over the header, as in qemu.
		f, err := s.vmdkFooter(hdr)
		if err != nil {
			return info, err
		}
		eff = f
	}
	switch eff.compress {
	case 0:
		info.Variant = "monolithicSparse"
	case 1:
		info.Variant = "streamOptimized"
	default:
		return info, unsafe("vmdk compression algorithm is unknown")
	}
	if hdr.capacity == 0 || eff.capacity == 0 {
		// qemu opens the embedded descriptor of a file whose header has no capacity as a
		// descriptor file, with whatever extent files it names, before it even looks for
		// a footer.
		return info, unsafe("vmdk sparse header has zero capacity")
	}
	size, err := sizeFromUnits(VMDK, eff.capacity, 512)
	if err != nil {
		return info, err
	}
	info.VirtualSize = size
	if eff.numGTEs == 0 || eff.numGTEs > 512 || eff.grain == 0 || eff.grain > 0x200000 {
		return info, unsafe("vmdk header is invalid")
	}
	if hdr.descOff != 1 || hdr.descLen == 0 {
		return info, unsafe("vmdk image has no embedded descriptor at sector 1")
	}
	// qemu reads the descriptor from its offset up to 1 MiB - 1 bytes, as text that ends at
	// the first NUL, whatever size the header declares; oslo reads only the declared size.
	// Check what qemu would read, and insist that it fits the declared size.
	area := h[512:min(len(h), 512+vmdkMaxDesc)]
	text := area
	if i := bytes.IndexByte(text, 0); i >= 0 {
		text = text[:i]
	}
	if hdr.descLen < vmdkMaxDesc/512+1 && uint64(len(text)) > hdr.descLen*512 {
		return info, unsafe("vmdk descriptor runs past its declared size")
	}
	return info, checkVMDKDescriptor(text)
}

// vmdkFooter checks the footer of a VMDK whose header defers to it and returns the footer's
// copy of the header, which is the one qemu uses.
func (s *scan) vmdkFooter(hdr vmdkHeader) (vmdkHeader, error) {
	t := s.tail
	if len(t) < tailSize || s.total < tailSize+512 {
		return hdr, unsafe("vmdk footer is missing")
	}
	marker, footer, eos := t[:512], t[512:1024], t[1024:]
	if !bytes.HasPrefix(footer, vmdk4Magic) {
		return hdr, unsafe("vmdk footer is invalid")
	}
	f := parseVMDKHeader(footer)
	if f.version != hdr.version || f.descOff != hdr.descOff || f.descLen != hdr.descLen {
		return hdr, unsafe("vmdk footer does not match its header")
	}
	if f.gdOffset == vmdkGDAtEnd {
		return hdr, unsafe("vmdk footer points to another footer")
	}
	le := binary.LittleEndian
	const markerFooter, markerEOS = 3, 0
	if le.Uint32(marker[8:]) != 0 || le.Uint32(marker[12:]) != markerFooter || !isZero(marker[16:]) {
		return hdr, unsafe("vmdk footer marker is invalid")
	}
	if le.Uint64(eos) != 0 || le.Uint32(eos[8:]) != 0 || le.Uint32(eos[12:]) != markerEOS || !isZero(eos[16:]) {
		return hdr, unsafe("vmdk end-of-stream marker is invalid")
	}
	return f, nil
}

// checkVMDKDescriptor checks the descriptor embedded in a sparse VMDK: oslo's line-by-line
// parse, plus the parent reference qemu follows and a single extent that names no path.
func checkVMDKDescriptor(text []byte) error {
	for _, c := range text {
		if c >= 0x80 {
			return unsafe("vmdk descriptor is not ASCII text")
		}
	}
	desc := strings.ToLower(string(text))
	// qemu looks for this anywhere in the descriptor, comments included, and opens the
	// file it names as the backing image.
	if strings.Contains(desc, "parentfilenamehint") {
		return unsafe("vmdk image refers to a parent image")
	}
	createTypes, extents := 0, 0
	createType := ""
	for _, line := range strings.Split(desc, "\n") {
		line = strings.TrimSpace(line)
		key, value, hasEq := strings.Cut(line, "=")
		access, _, _ := strings.Cut(line, " ")
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "ddb"):
		case hasEq && !strings.Contains(key, " "):
			if key == "createtype" {
				createTypes++
				createType = strings.Trim(value, `"`)
			}
		case access == "rw" || access == "rdonly" || access == "noaccess":
			extents++
			if err := checkVMDKExtent(line); err != nil {
				return err
			}
		default:
			return unsafe("vmdk descriptor has a line that is not understood")
		}
	}
	if createTypes != 1 {
		return unsafe("vmdk descriptor must have exactly one createType")
	}
	if createType != "monolithicsparse" && createType != "streamoptimized" {
		if name := knownName(vmdkCreateTypes, createType); name != "" {
			return unsafe("vmdk createType %s is not allowed", name)
		}
		return unsafe("vmdk createType is not allowed")
	}
	if extents != 1 {
		return unsafe("vmdk descriptor must have exactly one extent")
	}
	return nil
}

// checkVMDKExtent checks one lower-cased extent line of a sparse VMDK's descriptor:
// `access sectors sparse "file name"`, where the file name is the image itself.
func checkVMDKExtent(line string) error {
	if strings.ContainsAny(line, `/\`) {
		return unsafe("vmdk extent names a path")
	}
	fields := strings.Fields(line)
	if len(fields) < 4 {
		return unsafe("vmdk extent is invalid")
	}
	if fields[2] != "sparse" {
		if name := knownName(vmdkExtentTypes, fields[2]); name != "" {
			return unsafe("vmdk descriptor has a %s extent, which refers to another file", strings.ToUpper(name))
		}
		return unsafe("vmdk extent type is unknown")
	}
	if !isDecimal(fields[1]) || strings.Trim(fields[1], "0") == "" {
		return unsafe("vmdk extent is invalid")
	}
	_, name, _ := strings.Cut(line, `"`)
	name, rest, ok := strings.Cut(name, `"`)
	if !ok || name == "" || strings.TrimSpace(rest) != "" {
		return unsafe("vmdk extent is invalid")
	}
	return nil
}

// isVMDKDescriptor reports whether the data is a VMDK descriptor file: text, as oslo
// requires of its first 512 bytes, that names a createType, which qemu requires.
func (s *scan) isVMDKDescriptor() bool {
	sample := s.head[:min(len(s.head), 512)]
	if len(sample) < 4 {
		return false
	}
	for _, c := range sample {
		if !isPrintable(c) {
			return false
		}
	}
	text := s.head[:min(len(s.head), vmdkMaxDesc)]
	if i := bytes.IndexByte(text, 0); i >= 0 {
		text = text[:i]
	}
	return indexFold(text, "createtype") >= 0
}

// vmdkDescriptor refuses a descriptor file: its data lives in the extent files it names.
func (s *scan) vmdkDescriptor() (Info, error) {
	info := Info{Format: VMDK}
	text := s.head[:min(len(s.head), vmdkMaxDesc)]
	if i := bytes.IndexByte(text, 0); i >= 0 {
		text = text[:i]
	}
	// Read createType as qemu does: skip `="` after the name, take everything up to '"'.
	if i := indexFold(text, "createtype"); i >= 0 {
		value := text[min(len(text), i+len("createtype")+2):]
		if j := bytes.IndexByte(value, '"'); j >= 0 {
			info.Variant = knownName(vmdkCreateTypes, string(value[:j]))
		}
	}
	if info.Variant != "" {
		return info, unsafe("vmdk %s image is a descriptor that refers to external extent files", info.Variant)
	}
	return info, unsafe("vmdk image is a descriptor file that refers to external extent files")
}

// knownName returns the entry of names that equals s ignoring case, or "" when none does,
// so that messages name values from a fixed list and never echo the data.
func knownName(names []string, s string) string {
	for _, n := range names {
		if strings.EqualFold(n, s) {
			return n
		}
	}
	return ""
}

// indexFold returns the index of the first occurrence of the lower-case ASCII needle in b,
// ignoring ASCII case, or -1.
func indexFold(b []byte, needle string) int {
	for i := 0; i+len(needle) <= len(b); i++ {
		j := 0
		for ; j < len(needle); j++ {
			c := b[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != needle[j] {
				break
			}
		}
		if j == len(needle) {
			return i
		}
	}
	return -1
}

// isDecimal reports whether s is a non-empty string of ASCII digits.
func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isPrintable reports whether c is printable ASCII or ASCII white space, Python's
// isprintable() or isspace() for the ASCII range.
func isPrintable(c byte) bool {
	return (c >= 0x20 && c < 0x7f) || (c >= '\t' && c <= '\r')
}
