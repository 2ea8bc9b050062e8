package inspect

import "fmt"

// CheckDeclared applies Glance's rule that the content of an image must match its declared
// disk_format, given what Detect or Inspector.Result found. It returns nil when they agree
// and otherwise an error wrapping ErrMismatch whose message names both, for example
// "image disk_format qcow2 does not match the detected format: an HTML page".
//
// A format matches itself. The declared formats that are not inspectable, ami, ari and aki,
// accept whatever was not recognised as a specific format (raw data, including kernels,
// ramdisks and archives), as Glance accepts them. raw accepts only raw data, with or without
// a partition table, and gpt only raw data with one; data that merely looks like something
// other than a disk image (an HTML page, an archive) counts as raw, as it does for Glance,
// and a caller may still log Info.Looks. Glance itself lets any format through under raw at
// upload time and Nova then refuses it at boot ("Image content does not match
// disk_format"); refusing it here tells the user at upload instead, which tempest's image
// format tests expect of a cloud that enforces formats.
//
// CheckDeclared does not repeat the safety checks: an image whose inspection returned an
// error wrapping ErrUnsafe must be refused whatever its declared format.
func CheckDeclared(declared string, info Info) error {
	ok := false
	switch Format(declared) {
	case Raw, AMI, ARI, AKI:
		ok = info.Format == Raw
	case GPT:
		ok = info.Format == Raw && (info.Variant == "gpt" || info.Variant == "mbr")
	case QCOW2, VMDK, VHD, VHDX, VDI, ISO, Ploop:
		ok = info.Format == Format(declared)
	default:
		return &reasonError{msg: fmt.Sprintf("image disk_format %q cannot be inspected", declared), kind: ErrMismatch}
	}
	if ok {
		return nil
	}
	return &reasonError{
		msg:  fmt.Sprintf("image disk_format %s does not match the detected format: %s", declared, info.Description()),
		kind: ErrMismatch,
	}
}

// QemuImgFormat returns the format name qemu-img's -f option takes for an image of format f,
// or "" when qemu must not open such an image. ISO images and the ami, ari and aki kinds are
// opened as raw, as Nova does.
func QemuImgFormat(f Format) string {
	switch f {
	case Raw, ISO, AMI, ARI, AKI, GPT:
		return "raw"
	case QCOW2, VMDK, VHDX, VDI, LUKS:
		return string(f)
	case VHD:
		return "vpc"
	case Ploop:
		return "parallels"
	}
	return ""
}
