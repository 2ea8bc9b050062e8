package inspect

import (
	"errors"
	"fmt"
	"io"
)

// Format is a disk image format, named as Glance's disk_format values name it.
type Format string

// The formats Detect can report. Raw covers everything that is not recognised as one of the
// others, including whole-disk images with an MBR or GPT partition table.
const (
	Raw   Format = "raw"
	QCOW2 Format = "qcow2"
	VMDK  Format = "vmdk"
	VHD   Format = "vhd" // qemu's vpc
	VHDX  Format = "vhdx"
	VDI   Format = "vdi"
	ISO   Format = "iso"
	Ploop Format = "ploop" // qemu's parallels
	QED   Format = "qed"   // recognised only to be refused
	LUKS  Format = "luks"  // not a Glance disk_format; recognised so that it is not taken for raw
)

// Declared-only formats: values of disk_format that CheckDeclared understands but Detect never
// reports. AMI, ARI and AKI are Amazon-style machine, ramdisk and kernel images, which Glance
// accepts as long as their content is not some other recognised format; GPT is the newer
// Glance name for a raw whole-disk image with a partition table.
const (
	AMI Format = "ami"
	ARI Format = "ari"
	AKI Format = "aki"
	GPT Format = "gpt"
)

// Info is what inspection found out about an image.
type Info struct {
	// Format is the detected format.
	Format Format
	// Variant names the layout within the format when there is more than one:
	// "monolithicSparse" or "streamOptimized" for VMDK, "fixed" or "dynamic" for VHD and
	// VHDX, "dynamic" or "static" for VDI, "v2" or "v3" for qcow2, "iso9660" or "udf" for
	// ISO, and "mbr" or "gpt" for a raw image that starts with a partition table.
	Variant string
	// VirtualSize is the size of the disk the guest sees, in bytes: the size the header
	// declares, or the size of the data for raw images.
	VirtualSize int64
	// Looks describes, for data that is not a disk image, what it looks like instead, for
	// example "an HTML page" or "a gzip-compressed file". It is empty for disk images and for
	// raw data that matches nothing in particular. It never quotes the data.
	Looks string
}

// Description says in a few words what the image is: Looks when it is set, otherwise the
// format name.
func (i Info) Description() string {
	if i.Looks != "" {
		return i.Looks
	}
	if i.Format == "" {
		return "unknown data"
	}
	return string(i.Format)
}

// ErrUnsafe is wrapped by every error that refuses an image because of its content: a
// safety check failed, a header is malformed or truncated, or the data matches more than one
// format. The message says why, without quoting the data.
var ErrUnsafe = errors.New("image failed safety checks")

// ErrMismatch is wrapped by the errors of CheckDeclared.
var ErrMismatch = errors.New("image format does not match disk_format")

// reasonError is an error whose message is a complete sentence fragment of its own and
// which matches a sentinel with errors.Is.
type reasonError struct {
	msg  string
	kind error
}

func (e *reasonError) Error() string { return e.msg }
func (e *reasonError) Unwrap() error { return e.kind }

// unsafe returns an error wrapping ErrUnsafe with the formatted reason.
func unsafe(format string, args ...any) error {
	return &reasonError{msg: fmt.Sprintf(format, args...), kind: ErrUnsafe}
}

// Sizes of the regions an inspection keeps.
const (
	// headSize covers every fixed-offset structure: qcow2, VDI, VHD, LUKS, QED and ploop
	// headers, the ISO volume descriptors from 32 KiB, the VHDX headers and region table up
	// to 256 KiB, and a VMDK descriptor at sector 1 of up to 1 MiB - 1 bytes, the most qemu
	// reads.
	headSize = 1<<20 + 512
	// tailSize covers a VMDK footer (footer marker, footer, end-of-stream marker) and, in its
	// last 512 bytes, a VHD footer.
	tailSize = 1536
)

// Inspector inspects an image streamed through Write. It keeps only the regions of the
// stream it needs, so its memory stays bounded whatever the size of the image. The zero value
// is not ready for use; call NewInspector. An Inspector is not safe for concurrent use.
type Inspector struct {
	pos     int64
	head    []byte
	tail    [tailSize]byte // a ring: the latest bytes end just before tailEnd
	tailEnd int
	tailLen int
	vhdx    vhdxScan
}

// NewInspector returns an Inspector at the start of a stream.
func NewInspector() *Inspector {
	return &Inspector{}
}

// Write records the next part of the stream. It never fails, so that it can sit in an
// io.MultiWriter without ever interrupting an upload: problems are reported by Result.
func (i *Inspector) Write(p []byte) (int, error) {
	i.feed(i.pos, p)
	i.keepTail(p)
	return len(p), nil
}

// Result inspects the stream written so far, which must be the whole image: total is its
// size and must equal the number of bytes written. The error wraps ErrUnsafe when the image
// is refused, in which case Info still says what was detected. Result does not change the
// Inspector.
func (i *Inspector) Result(total int64) (Info, error) {
	if total != i.pos {
		return Info{}, fmt.Errorf("inspect: result for %d bytes requested after %d bytes were written", total, i.pos)
	}
	return i.analyze(total)
}

// Detect inspects the image of the given size that r reads, reading only the regions the
// inspection needs. The error wraps ErrUnsafe when the image is refused, in which case Info
// still says what was detected; other errors come from r.
func Detect(r io.ReaderAt, size int64) (Info, error) {
	if size < 0 {
		return Info{}, fmt.Errorf("inspect: negative image size %d", size)
	}
	i := NewInspector()
	read := func(off, n int64) ([]byte, error) {
		buf := make([]byte, n)
		got, err := r.ReadAt(buf, off)
		if int64(got) == n {
			return buf, nil
		}
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("inspect: read %d bytes at offset %d: %w", n, off, err)
	}
	head, err := read(0, min(size, headSize))
	if err != nil {
		return Info{}, err
	}
	i.head = head // Detect owns the buffer, so the head need not be copied
	i.feed(0, head)
	// Then the regions the head pointed to, in stream order, exactly as a stream would
	// deliver them to Write.
	for {
		want, n, ok := i.nextWanted(size)
		if !ok {
			break
		}
		buf, err := read(want, n)
		if err != nil {
			return Info{}, err
		}
		i.feed(want, buf)
	}
	tail, err := read(size-min(size, tailSize), min(size, tailSize))
	if err != nil {
		return Info{}, err
	}
	i.keepTail(tail)
	i.pos = size
	return i.analyze(size)
}

// feed offers the part of the stream that starts at off to the head and to the capture
// regions, then lets the format scanners that need data beyond the head register their
// regions, and offers p again to any region they added.
func (i *Inspector) feed(off int64, p []byte) {
	if n := int64(len(i.head)); off == n && n < headSize {
		take := p[:min(int64(len(p)), headSize-n)]
		if need := len(i.head) + len(take); need > cap(i.head) {
			// Small data gets a small head; past 64 KiB the head grows straight to its
			// final size, so that it is allocated about once.
			size := max(need, 2*cap(i.head), 4096)
			if size > 64<<10 {
				size = headSize
			}
			grown := make([]byte, len(i.head), min(headSize, size))
			copy(grown, i.head)
			i.head = grown
		}
		i.head = append(i.head, take...)
	}
	for _, r := range i.vhdx.regions() {
		r.capture(off, p)
	}
	i.pos = max(i.pos, off+int64(len(p)))
	for i.vhdx.advance(i.head) {
		for _, r := range i.vhdx.regions() {
			r.fillFromHead(i.head)
			r.capture(off, p)
		}
	}
}

// keepTail records p as the latest bytes of the stream.
func (i *Inspector) keepTail(p []byte) {
	if len(p) >= tailSize {
		copy(i.tail[:], p[len(p)-tailSize:])
		i.tailEnd, i.tailLen = 0, tailSize
		return
	}
	n := copy(i.tail[i.tailEnd:], p)
	copy(i.tail[:], p[n:])
	i.tailEnd = (i.tailEnd + len(p)) % tailSize
	i.tailLen = min(tailSize, i.tailLen+len(p))
}

// tailBytes returns the latest bytes of the stream, at most tailSize of them, in order.
func (i *Inspector) tailBytes() []byte {
	out := make([]byte, i.tailLen)
	start := (i.tailEnd - i.tailLen + tailSize) % tailSize
	n := copy(out, i.tail[start:min(tailSize, start+i.tailLen)])
	copy(out[n:], i.tail[:i.tailLen-n])
	return out
}

// nextWanted returns the first byte, and how many from there, of the earliest region that is
// still incomplete and that a stream of the given size would deliver after the current
// position.
func (i *Inspector) nextWanted(size int64) (off, n int64, ok bool) {
	for _, r := range i.vhdx.regions() {
		want := r.off + int64(r.n)
		if r.complete() || want < i.pos || want >= size {
			continue
		}
		if !ok || want < off {
			off, n, ok = want, min(int64(len(r.buf)-r.n), size-want), true
		}
	}
	return off, n, ok
}

// region is a part of the stream beyond the fixed head that a format scanner wants to see.
type region struct {
	off int64
	buf []byte
	n   int // bytes of buf filled so far, always a prefix
}

func newRegion(off int64, n int) *region {
	return &region{off: off, buf: make([]byte, n)}
}

func (r *region) complete() bool { return r.n == len(r.buf) }

// capture copies into the region the part of p, the stream from off, that continues what
// the region already holds.
func (r *region) capture(off int64, p []byte) {
	if r.complete() {
		return
	}
	want := r.off + int64(r.n)
	if want < off || want >= off+int64(len(p)) {
		return
	}
	r.n += copy(r.buf[r.n:], p[want-off:])
}

// fillFromHead copies into the region what the head already holds of it.
func (r *region) fillFromHead(head []byte) {
	r.capture(0, head)
}

// analyze decides the format from the regions kept and runs that format's checks.
func (i *Inspector) analyze(total int64) (Info, error) {
	s := &scan{head: i.head, tail: i.tailBytes(), total: total, vhdx: &i.vhdx}
	return s.run()
}
