package qemu

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"QEMU emulator version 7.2.22 (Debian)", "version 9.1", "", "version 99999999999999999999.1.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseVersion(s)
		if err == nil && !strings.Contains(s, "version ") {
			t.Fatalf("parsed %q without a version", s)
		}
		if err != nil && v != 0 {
			t.Fatal("value with an error")
		}
	})
}

func FuzzLastLines(f *testing.F) {
	f.Add([]byte("a\r\nb\nc"), 2)
	f.Add([]byte{0, 0xff, '\n'}, 1)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		out := lastLines(b, n)
		if strings.ContainsAny(out, "\r\x00") {
			t.Fatalf("control bytes kept: %q", out)
		}
		if n > 0 && strings.Count(strings.TrimSuffix(out, "\n"), "\n") >= n {
			t.Fatalf("%d lines asked, got %q", n, out)
		}
	})
}

func FuzzQcow2BackingFile(f *testing.F) {
	hdr := func(off uint64, size uint32, tail string) []byte {
		b := []byte("QFI\xfb\x00\x00\x00\x03")
		b = binary.BigEndian.AppendUint64(b, off)
		b = binary.BigEndian.AppendUint32(b, size)
		return append(b, tail...)
	}
	f.Add(hdr(20, 4, "base"))
	f.Add(hdr(1<<62, 4, ""))
	f.Add(hdr(20, 0xffffffff, "x"))
	f.Add([]byte("QFI"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "f")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		name, err := qcow2BackingFile(p)
		if err != nil {
			t.Fatalf("error for a readable file: %v", err)
		}
		if len(name) > 1023 || (name != "" && !strings.Contains(string(b), name)) {
			t.Fatalf("backing %q not from the file", name)
		}
	})
}
