#!/bin/sh
# Regenerates the header files in this directory: the first bytes of small images made by
# qemu-img, enough for inspection (which reads only headers) and small enough to commit.
# After regenerating, refresh the expected results with
#   go test ./internal/image/inspect -run TestHeaders -update
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
secret=--object=secret,id=sec0,data=123456

mk() { # mk NAME BYTES QEMU-IMG-CREATE-OPTIONS...: creates a 10 MiB image
	name=$1 bytes=$2
	shift 2
	(cd "$tmp" && qemu-img create -q "$@" "$name" 10M)
	head -c "$bytes" "$tmp/$name" >"$name"
}

mk qcow2.hdr 1024 -f qcow2
mk qcow2-v2.hdr 1024 -f qcow2 -o compat=0.10
mk qcow2-backing.hdr 1024 -f qcow2 -F raw -b /etc/passwd
mk qcow2-datafile.hdr 1024 -f qcow2 -o data_file=data.raw,data_file_raw=on
mk qcow2-luks.hdr 1024 "$secret" -f qcow2 -o encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10
mk vmdk-sparse.hdr 1024 -f vmdk
mk vmdk-stream.hdr 1024 -f vmdk -o subformat=streamOptimized
mk vmdk-flat.vmdk 4096 -f vmdk -o subformat=monolithicFlat
(cd "$tmp" && qemu-img create -q -f vmdk -F vmdk -b vmdk-sparse.hdr parent.vmdk)
head -c 1024 "$tmp/parent.vmdk" >vmdk-parent.hdr
mk vhd-dynamic.hdr 1536 -f vpc
mk vdi.hdr 512 -f vdi
mk ploop.hdr 512 -f parallels
mk qed.hdr 512 -f qed
mk luks.hdr 1024 "$secret" -f luks -o key-secret=sec0,iter-time=10
