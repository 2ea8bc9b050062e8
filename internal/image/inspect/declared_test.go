package inspect

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestLooks checks how data that is not a disk image is described.
func TestLooks(t *testing.T) {
	elf := append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 100)...)
	kernel := make([]byte, 1024)
	copy(kernel, "MZ")
	copy(kernel[0x202:], "HdrS")
	arm64 := make([]byte, 1024)
	copy(arm64[0x38:], "ARM\x64")
	pe := make([]byte, 1024)
	copy(pe, "MZ")
	pe[0x3c] = 0x80
	copy(pe[0x80:], "PE\x00\x00")
	tar := make([]byte, 1024)
	copy(tar, "disk.ovf")
	copy(tar[257:], "ustar\x0000")
	for _, c := range []struct {
		name, data, looks string
	}{
		{"html", "<!DOCTYPE html>\n<html lang=en><body>Not found</body></html>", "an HTML page"},
		{"html with bom and space", "\xef\xbb\xbf\r\n  <HTML><HEAD></HEAD></HTML>", "an HTML page"},
		{"html after a comment", "<!-- generated -->\n<html></html>", "an HTML page"},
		{"xhtml", `<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"></html>`, "an HTML page"},
		{"xml", `<?xml version="1.0" encoding="UTF-8"?><Envelope></Envelope>`, "an XML document"},
		{"json", `{"error": {"code": 404, "message": "Not Found"}}`, "a JSON document"},
		{"json array", "[\n  {\"a\": 1}\n]", "a JSON document"},
		{"ini", "[DEFAULT]\ndebug = true\n", "a text file"},
		{"text", "just some notes\nsecond line\twith a tab\n", "a text file"},
		{"utf-8 text", "héllo wörld — ünïcode\n", "a text file"},
		{"white space", "\n\n   \n", "a text file"},
		{"script", "#!/bin/sh\necho hi\n", "a script"},
		{"cloud-config", "#cloud-config\npackages: [vim]\n", "a cloud-config file"},
		{"pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "a PEM file (a certificate or key)"},
		{"gzip", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", "a gzip-compressed file"},
		{"xz", "\xfd7zXZ\x00\x00\x04", "an xz-compressed file"},
		{"bzip2", "BZh91AY&SY\x00\x00", "a bzip2-compressed file"},
		{"zstd", "\x28\xb5\x2f\xfd\x00", "a zstd-compressed file"},
		{"zip", "PK\x03\x04\x14\x00", "a zip archive"},
		{"7z", "7z\xbc\xaf\x27\x1c\x00\x04", "a 7-Zip archive"},
		{"rar", "Rar!\x1a\x07\x01\x00", "a RAR archive"},
		{"cpio", "070701000000010000", "a cpio archive"},
		{"tar", string(tar), "a tar archive"},
		{"elf", string(elf), "an ELF executable"},
		{"x86 kernel", string(kernel), "a Linux kernel"},
		{"arm64 kernel", string(arm64), "a Linux kernel"},
		{"windows executable", string(pe), "a Windows executable"},
		{"mz without pe", "MZ\x90\x00" + strings.Repeat("\x00", 100), ""},
		{"pdf", "%PDF-1.7\n%\xe2\xe3", "a PDF document"},
		{"png", "\x89PNG\r\n\x1a\n\x00\x00", "a PNG image"},
		{"jpeg", "\xff\xd8\xff\xe0\x00\x10JFIF", "a JPEG image"},
		{"binary", "\x00\x01\x02\x03\xff\xfe", ""},
		{"text with nul", "hello\x00world", ""},
		{"invalid utf-8", "hello \xc3\x28 world", ""},
		{"long text", "x" + strings.Repeat("é", 3000), "a text file"}, // cut inside a character at 4096
	} {
		t.Run(c.name, func(t *testing.T) {
			info, err := inspect(t, []byte(c.data))
			if err != nil {
				t.Fatal(err)
			}
			want := Info{Format: Raw, VirtualSize: int64(len(c.data)), Looks: c.looks}
			if info != want {
				t.Errorf("got %s, want %s", describe(info), describe(want))
			}
		})
	}
}

// TestCheckDeclared checks Glance's rule that content matches the declared disk_format.
func TestCheckDeclared(t *testing.T) {
	raw := Info{Format: Raw, VirtualSize: 1 << 20}
	gpt := Info{Format: Raw, Variant: "gpt", VirtualSize: 1 << 20}
	mbr := Info{Format: Raw, Variant: "mbr", VirtualSize: 1 << 20}
	html := Info{Format: Raw, VirtualSize: 100, Looks: "an HTML page"}
	gz := Info{Format: Raw, VirtualSize: 100, Looks: "a gzip-compressed file"}
	qcow2 := Info{Format: QCOW2, Variant: "v3", VirtualSize: 1 << 30}
	iso := Info{Format: ISO, Variant: "iso9660", VirtualSize: 1 << 20}
	for _, c := range []struct {
		declared string
		info     Info
		wantErr  string
	}{
		{"qcow2", qcow2, ""},
		{"raw", raw, ""},
		{"raw", gpt, ""},
		{"raw", mbr, ""},
		{"raw", html, ""},
		{"raw", gz, ""},
		{"gpt", gpt, ""},
		{"gpt", mbr, ""},
		{"gpt", raw, "image disk_format gpt does not match the detected format: raw"},
		{"iso", iso, ""},
		{"vmdk", Info{Format: VMDK}, ""},
		{"vhd", Info{Format: VHD}, ""},
		{"vhdx", Info{Format: VHDX}, ""},
		{"vdi", Info{Format: VDI}, ""},
		{"ploop", Info{Format: Ploop}, ""},
		{"ami", raw, ""},
		{"ami", mbr, ""},
		{"ari", gz, ""},
		{"aki", Info{Format: Raw, Looks: "a Linux kernel"}, ""},
		{"ami", qcow2, "image disk_format ami does not match the detected format: qcow2"},
		{"aki", iso, "image disk_format aki does not match the detected format: iso"},
		{"qcow2", html, "image disk_format qcow2 does not match the detected format: an HTML page"},
		{"qcow2", gz, "image disk_format qcow2 does not match the detected format: a gzip-compressed file"},
		{"qcow2", raw, "image disk_format qcow2 does not match the detected format: raw"},
		{"qcow2", Info{Format: Raw, Looks: "an empty file"}, "image disk_format qcow2 does not match the detected format: an empty file"},
		{"raw", qcow2, "image disk_format raw does not match the detected format: qcow2"},
		{"raw", iso, "image disk_format raw does not match the detected format: iso"},
		{"raw", Info{Format: LUKS}, "image disk_format raw does not match the detected format: luks"},
		{"iso", raw, "image disk_format iso does not match the detected format: raw"},
		{"vhd", Info{Format: VHDX}, "image disk_format vhd does not match the detected format: vhdx"},
		{"luks", Info{Format: LUKS}, `image disk_format "luks" cannot be inspected`},
		{"qed", Info{Format: QED}, `image disk_format "qed" cannot be inspected`},
		{"QCOW2", qcow2, `image disk_format "QCOW2" cannot be inspected`},
		{"", raw, `image disk_format "" cannot be inspected`},
	} {
		err := CheckDeclared(c.declared, c.info)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("CheckDeclared(%q, %s) = %v, want nil", c.declared, describe(c.info), err)
		case c.wantErr != "" && (err == nil || err.Error() != c.wantErr || !errors.Is(err, ErrMismatch)):
			t.Errorf("CheckDeclared(%q, %s) = %v, want %q wrapping ErrMismatch", c.declared, describe(c.info), err, c.wantErr)
		}
	}
}

// TestCheckDeclaredUpload runs the upload path end to end: bytes through an Inspector, then
// the declared format check, with the message a user sees.
func TestCheckDeclaredUpload(t *testing.T) {
	ins := NewInspector()
	page := []byte("<html><body>Please log in</body></html>\n")
	if _, err := bytes.NewReader(page).WriteTo(ins); err != nil {
		t.Fatal(err)
	}
	info, err := ins.Result(int64(len(page)))
	if err != nil {
		t.Fatal(err)
	}
	err = CheckDeclared("qcow2", info)
	if want := "image disk_format qcow2 does not match the detected format: an HTML page"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	if _, err := ins.Result(5); err == nil {
		t.Error("Result with the wrong total succeeded")
	}
}

// TestQemuImgFormat checks the -f names qemu-img takes.
func TestQemuImgFormat(t *testing.T) {
	for f, want := range map[Format]string{
		Raw: "raw", QCOW2: "qcow2", VMDK: "vmdk", VHD: "vpc", VHDX: "vhdx", VDI: "vdi",
		ISO: "raw", Ploop: "parallels", LUKS: "luks", AMI: "raw", ARI: "raw", AKI: "raw",
		GPT: "raw", QED: "", "bochs": "", "": "",
	} {
		if got := QemuImgFormat(f); got != want {
			t.Errorf("QemuImgFormat(%q) = %q, want %q", f, got, want)
		}
	}
}

// TestDetectErrors checks the errors that come from the reader rather than the image.
func TestDetectErrors(t *testing.T) {
	if _, err := Detect(bytes.NewReader(nil), -1); err == nil {
		t.Error("negative size accepted")
	}
	_, err := Detect(bytes.NewReader(make([]byte, 100)), 200)
	if err == nil || errors.Is(err, ErrUnsafe) {
		t.Errorf("short reader: got %v, want a read error", err)
	}
	// A VHDX whose metadata lies beyond what the reader holds fails with a read error too.
	img := vhdxImage(vhdxOptions{metaOff: 5 << 20})
	if _, err := Detect(bytes.NewReader(img[:2<<20]), int64(len(img))); err == nil || errors.Is(err, ErrUnsafe) {
		t.Errorf("short VHDX reader: got %v, want a read error", err)
	}
}

// TestInfoDescription checks the words used for detected data in messages.
func TestInfoDescription(t *testing.T) {
	for _, c := range []struct {
		info Info
		want string
	}{
		{Info{Format: QCOW2}, "qcow2"},
		{Info{Format: Raw, Looks: "an HTML page"}, "an HTML page"},
		{Info{}, "unknown data"},
	} {
		if got := c.info.Description(); got != c.want {
			t.Errorf("%+v.Description() = %q, want %q", c.info, got, c.want)
		}
	}
}
