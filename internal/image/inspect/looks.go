package inspect

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"
)

// looks describes data that is not a disk image, from the signatures of the kinds of file
// people upload by mistake, or returns "" when the data matches none of them.
func looks(h []byte) string {
	has := func(off int, sig string) bool {
		return len(h) >= off+len(sig) && string(h[off:off+len(sig)]) == sig
	}
	switch {
	case has(0, "\x1f\x8b\x08"):
		return "a gzip-compressed file"
	case has(0, "\xfd7zXZ\x00"):
		return "an xz-compressed file"
	case has(0, "BZh") && len(h) >= 10 && h[3] >= '1' && h[3] <= '9' && has(4, "1AY&SY"):
		return "a bzip2-compressed file"
	case has(0, "\x28\xb5\x2f\xfd"):
		return "a zstd-compressed file"
	case has(0, "PK\x03\x04"), has(0, "PK\x05\x06"):
		return "a zip archive"
	case has(0, "7z\xbc\xaf\x27\x1c"):
		return "a 7-Zip archive"
	case has(0, "Rar!\x1a\x07"):
		return "a RAR archive"
	case has(0, "070701"), has(0, "070702"), has(0, "070707"):
		return "a cpio archive"
	case has(257, "ustar"):
		return "a tar archive"
	case has(0, "\x7fELF"):
		return "an ELF executable"
	case has(0x202, "HdrS"), has(0x38, "ARM\x64"):
		return "a Linux kernel"
	case has(0, "MZ") && len(h) >= 0x40 && isPE(h):
		return "a Windows executable"
	case has(0, "%PDF-"):
		return "a PDF document"
	case has(0, "\x89PNG\r\n\x1a\n"):
		return "a PNG image"
	case has(0, "\xff\xd8\xff"):
		return "a JPEG image"
	}
	return looksText(h)
}

// isPE reports whether the MZ header points to a PE signature within h.
func isPE(h []byte) bool {
	off := uint64(binary.LittleEndian.Uint32(h[0x3c:]))
	return off+4 <= uint64(len(h)) && string(h[off:off+4]) == "PE\x00\x00"
}

// looksText describes text data by its start, or returns "" when the data is not text.
func looksText(h []byte) string {
	sample := h[:min(len(h), 4096)]
	sample = bytes.TrimPrefix(sample, []byte("\xef\xbb\xbf"))
	if !isText(sample, len(sample) < len(h)) {
		return ""
	}
	t := bytes.TrimLeft(sample, " \t\r\n\f\v")
	if len(t) == 0 {
		return "a text file"
	}
	start := bytes.ToLower(t[:min(len(t), 64)])
	hasStart := func(prefixes ...string) bool {
		for _, p := range prefixes {
			if bytes.HasPrefix(start, []byte(p)) {
				return true
			}
		}
		return false
	}
	switch {
	case hasStart("<!doctype html", "<html", "<head", "<body"):
		return "an HTML page"
	case t[0] == '<':
		if indexFold(sample, "<html") >= 0 {
			return "an HTML page"
		}
		return "an XML document"
	case t[0] == '{' || (t[0] == '[' && isJSONArrayStart(t[1:])):
		return "a JSON document"
	case hasStart("#cloud-config"):
		return "a cloud-config file"
	case hasStart("#!"):
		return "a script"
	case hasStart("-----begin "):
		return "a PEM file (a certificate or key)"
	}
	return "a text file"
}

// isJSONArrayStart reports whether what follows a '[' looks like the first element of a
// JSON array rather than, say, the name of an INI section.
func isJSONArrayStart(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return true
	}
	switch c := b[0]; {
	case c == '{', c == '[', c == ']', c == '"', c == '-', c >= '0' && c <= '9':
		return true
	}
	return bytes.HasPrefix(b, []byte("true")) || bytes.HasPrefix(b, []byte("false")) || bytes.HasPrefix(b, []byte("null"))
}

// isText reports whether b is UTF-8 text without control characters other than white space
// and escape. When truncated is set, b was cut from longer data and may end inside a
// character.
func isText(b []byte, truncated bool) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && !(c >= '\t' && c <= '\r') && c != 0x1b || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return truncated && len(b)-i < utf8.UTFMax && !utf8.FullRune(b[i:])
		}
		i += n
	}
	return true
}
