// Package inspect detects the format of a disk image from its bytes and refuses images that
// are unsafe to hand to qemu, as OpenStack's format inspector (oslo.utils
// imageutils.format_inspector, the version written after CVE-2024-32498) does for Glance and
// Nova.
//
// An image is inspected in one of two ways. [Detect] reads an image that is already stored,
// through an [io.ReaderAt], and reads only the regions it needs: the first MiB or so, the
// last 1536 bytes and, for VHDX, the metadata table the header points to. An [Inspector] is
// the streaming form: an upload is copied through it (typically as one branch of an
// [io.MultiWriter] next to the hash and the file on disk) and it keeps only those same regions,
// so its memory stays bounded (about 1.1 MiB) whatever the size of the upload and its cost per
// byte is a copy of at most 1536 bytes per Write. Both forms run the same code on the same
// regions and always reach the same result.
//
// The result is an [Info]: the detected [Format] (named as Glance's disk_format is, so "vhd"
// for what qemu calls vpc and "ploop" for its parallels), the variant, the virtual size the
// header declares and, for data that is not a disk image at all, a short description of what
// it looks like ("an HTML page", "a gzip-compressed file") so that a user who uploaded the
// wrong file is told so. [CheckDeclared] then applies Glance's rule that the detected format
// must match the declared disk_format, and [QemuImgFormat] gives the -f argument every later
// qemu-img call must pass, so that qemu never probes a format on its own.
//
// # What is refused
//
// An image is refused with an error that wraps [ErrUnsafe] when qemu could be made to read
// host files or when its header is not one qemu would open as it was vetted here:
//
//   - qcow2 with a backing file, with an external data file (the incompatible feature bit or
//     the data-file header extension), marked corrupt, with unknown incompatible feature
//     bits, or with an invalid header (version other than 2 or 3, cluster size outside
//     512 B–2 MiB, bad header length, unknown encryption or compression method);
//   - VMDK that is a descriptor file (monolithicFlat, twoGbMaxExtent*, vmfs and every other
//     layout whose data lives in extent files), any sparse VMDK whose descriptor names a
//     parent (parentFileNameHint), declares a createType other than monolithicSparse or
//     streamOptimized, has other than exactly one SPARSE extent, names a path, has a line
//     oslo's parser would not accept or runs past its declared size, or whose header has
//     zero capacity (qemu would then open the embedded descriptor as a descriptor file), the
//     old COWD format, and footers (GD_AT_END) that do not match their header;
//   - VHD differencing disks and dynamic disks with parent locators, bad checksums or a
//     missing dynamic header; VHDX differencing disks (HasParent or a parent locator),
//     unknown required regions or metadata items, bad checksums; VDI images other than
//     dynamic or static ones, or with a parent or link UUID;
//   - QED (detected only to be refused, as oslo does), LUKS version 2, qcow version 1;
//   - data that matches two formats at once, which the inspector rewritten for
//     CVE-2024-32498 refuses because a tool that probes the format could take it for the
//     other one (for example a qcow2 header in the system area of an ISO), except an ISO
//     with a partition table in front of it (a bootable hybrid ISO) and a fixed VHD, whose
//     data is a raw disk that may well start with one;
//   - a raw image that starts with an MBR whose partition entries oslo's GPT inspector
//     rejects (invalid boot flags, a protective MBR with extra partitions, none at all), as
//     Glance does by default.
//
// # Deliberate differences from OpenStack
//
// CheckDeclared is stricter than Glance's upload check in one way: raw accepts only data
// that is not some other recognised format, as Nova's check at boot does, so a qcow2 or an
// ISO uploaded as raw is refused at upload instead of failing at boot.
//
// Some checks are stricter than oslo's: VMDK parentFileNameHint (which qemu follows as a
// backing file) and zero-capacity sparse headers are refused, a VMDK must have exactly one
// extent, descriptor-only VMDKs are refused even when they claim a sparse createType, qcow2
// images marked corrupt or carrying a data-file header extension are refused, and VHD and
// VHDX differencing disks are refused. Some are more accurate: fixed VHDs (footer only at
// the end) and pure UDF images are recognised, the VHD virtual size follows qemu's choice
// between the CHS geometry and the current-size field, the qcow2 extended-L2 feature bit is
// known, and a header that carries a format's magic but is malformed is refused rather than
// silently treated as raw.
package inspect
