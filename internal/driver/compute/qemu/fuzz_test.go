package qemu

import (
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
