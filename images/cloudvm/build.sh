#!/usr/bin/env bash
# images/cloudvm/build.sh: build "cloudvm", a Debian 12 cloud image in the manner of Debian's
# genericcloud (systemd, cloud-init, the cloud kernel, openssh-server, ifupdown), from
# Debian packages only, into a cache; print the path of the qcow2 on stdout.
#
#   images/cloudvm/build.sh            # build unless the cached image matches the inputs
#   images/cloudvm/build.sh --force    # rebuild even so
#   images/cloudvm/build.sh --cached   # print the path if the current inputs' image is
#                                      # cached, else exit 3 without building
#   images/cloudvm/build.sh --check    # can a build run here? exit 0 yes, 2 no (says why)
#   images/cloudvm/build.sh --key      # print the inputs hash and exit
#
# Environment:
#   GOSTACK_CACHE_DIR    cache root (default: /var/cache/gostack as root, else
#                        ${XDG_CACHE_HOME:-~/.cache}/gostack); the image goes to <root>/cloudvm/
#   SOURCE_DATE_EPOCH    timestamp of the build (default below; part of the hash)
#   CLOUDVM_MIRROR       Debian mirror (default http://deb.debian.org/debian; its -security
#                        sibling is <mirror>-security)
#   CLOUDVM_APT_INSTALL  0: never apt-get install missing host tools
#   CLOUDVM_KEEP_WORK    1: keep the build directory (<cache>/cloudvm/.build.*) to look at
#
# The disk (1 GiB virtual, MBR): partition 1, bootable FAT16 "CLOUDBOOT" with syslinux, the
# kernel and the initramfs Debian's initramfs-tools made in the guest; partition 2, the ext4
# root filesystem "cloudimg-rootfs", last so that cloud-init's growpart can grow it to the
# flavor's disk. Built as root without loop devices or mounts of the image: mmdebstrap into a
# directory, `mkfs.ext4 -d` into a partition file, syslinux --install and mtools on the FAT
# partition file, sfdisk on the disk file.
#
# The cache key hashes this directory's files (README.md aside), the versions and SHA256 of
# the packages named below as apt's candidates, the versions of the host tools whose bytes
# end up in the image, the mirror and SOURCE_DATE_EPOCH. The packages' dependencies are not
# in the key; the versions installed are listed in cloudvm-<key>.packages.
set -euo pipefail
export LC_ALL=C TZ=UTC
umask 022

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
format=1 # bump when the build changes in a way the hashed inputs do not show
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1704067200}" # 2024-01-01T00:00:00Z
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
mirror=${CLOUDVM_MIRROR:-http://deb.debian.org/debian}
suite=bookworm

# Guest packages on top of mmdebstrap's minbase (Essential + apt). Debian's genericcloud
# image has these and more (no firmware or hardware tools here: a cloud guest needs none).
guest_packages=(
	systemd systemd-sysv udev dbus kmod
	linux-image-cloud-amd64 initramfs-tools zstd
	cloud-init cloud-guest-utils e2fsprogs
	openssh-server sudo
	ifupdown isc-dhcp-client netbase iproute2
	ca-certificates
)
# Host tools: command -> Debian package. host_hashed put bytes in the image.
declare -A host_tools=(
	[apt-get]=apt [mmdebstrap]=mmdebstrap [sfdisk]=fdisk [mkfs.ext4]=e2fsprogs
	[syslinux]=syslinux [mcopy]=mtools [mkfs.vfat]=dosfstools [qemu-img]=qemu-utils
	[flock]=util-linux [sha256sum]=coreutils
)
host_files=(/usr/lib/syslinux/mbr/mbr.bin /usr/share/mmdebstrap/hooks/merged-usr/setup00.sh)
host_file_packages=(syslinux-common mmdebstrap)
host_hashed=(mmdebstrap fdisk e2fsprogs syslinux syslinux-common mtools dosfstools qemu-utils)

disk_mib=1024 # virtual disk size: fits a flavor with a 1 GB root disk (m1.tiny)
boot_mib=63   # the FAT boot partition, from 1 MiB; the root partition follows
root_uuid=c1d0c1d0-7e57-4e57-8e57-00000c10d0f1
boot_serial=c10d0b00

log() { printf 'cloudvm: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

mode=build
for a in "$@"; do
	case "$a" in
	--check) mode=check ;;
	--force) mode=force ;;
	--cached) mode=cached ;;
	--key) mode=key ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument $a (try --help)" ;;
	esac
done

is_root() { [ "$(id -u)" = 0 ]; }

if [ -n "${GOSTACK_CACHE_DIR:-}" ]; then
	cache=$GOSTACK_CACHE_DIR
elif is_root; then
	cache=/var/cache/gostack
else
	cache=${XDG_CACHE_HOME:-$HOME/.cache}/gostack
fi
out=$cache/cloudvm

# --- host prerequisites -------------------------------------------------------------

missing_packages() {
	local c i
	for c in "${!host_tools[@]}"; do
		command -v "$c" >/dev/null 2>&1 || echo "${host_tools[$c]}"
	done
	for i in "${!host_files[@]}"; do
		[ -e "${host_files[$i]}" ] || echo "${host_file_packages[$i]}"
	done
}

ensure_host_tools() { # $1: "install" to install as root, else report only
	local missing
	mapfile -t missing < <(missing_packages | sort -u)
	[ "${#missing[@]}" -eq 0 ] && return 0
	if is_root && [ "${CLOUDVM_APT_INSTALL:-1}" != 0 ] && command -v apt-get >/dev/null; then
		if [ "$1" != install ]; then
			log "will install: ${missing[*]}"
			return 0
		fi
		log "installing ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
			die "apt-get install ${missing[*]} failed"
		mapfile -t missing < <(missing_packages | sort -u)
		[ "${#missing[@]}" -eq 0 ] && return 0
	fi
	log "missing host packages: ${missing[*]} (as root: apt-get install ${missing[*]})"
	return 2
}

# --- the inputs hash ------------------------------------------------------------------

# apt_records PKG...: "package version sha256" of each package's candidate (amd64 or all).
apt_records() {
	apt-cache show --no-all-versions "$@" 2>/dev/null | awk '
		BEGIN { RS = ""; FS = "\n" }
		{
			p = v = h = a = ""
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^Package: /) p = substr($i, 10)
				else if ($i ~ /^Version: /) v = substr($i, 10)
				else if ($i ~ /^SHA256: /) h = substr($i, 9)
				else if ($i ~ /^Architecture: /) a = substr($i, 15)
			}
			if ((a == "amd64" || a == "all") && !seen[p]++) print p, v, h
		}' || true
}

declare -A pkg_version pkg_sha256
resolve_packages() {
	local name ver sha p
	while read -r name ver sha; do
		[ -n "$name" ] || continue
		pkg_version[$name]=$ver
		pkg_sha256[$name]=$sha
	done < <(apt_records "${guest_packages[@]}")
	for p in "${guest_packages[@]}"; do
		[ -n "${pkg_sha256[$p]:-}" ] || die "apt has no candidate for $p (apt-get update?)"
	done
}

inputs() {
	local p f m
	echo "cloudvm format $format"
	echo "SOURCE_DATE_EPOCH $SOURCE_DATE_EPOCH"
	echo "mirror $mirror $suite"
	echo "disk $disk_mib $boot_mib $root_uuid $boot_serial"
	for p in "${guest_packages[@]}"; do
		echo "guest $p ${pkg_version[$p]} ${pkg_sha256[$p]}"
	done
	for p in "${host_hashed[@]}"; do
		echo "host $p $(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo none)"
	done
	(cd "$here" && find . -type f ! -name README.md ! -name '*~' | sort) | while read -r f; do
		if [ -x "$here/$f" ]; then m=755; else m=644; fi
		echo "file $f $m $(sha256sum <"$here/$f" | cut -d' ' -f1)"
	done
}

# --- building ---------------------------------------------------------------------------

build() {
	local root f
	work=$(mktemp -d "$out/.build.XXXXXX")
	[ "${CLOUDVM_KEEP_WORK:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
	root=$work/root
	mkdir -p "$debs"

	# The root filesystem. Documentation, man pages and translations are never unpacked;
	# the guest's initramfs-tools configuration is in place before the kernel installs so
	# that its one initramfs build is the final one. Downloaded packages are kept in
	# $debs between builds (sync-in/sync-out of apt's archive directory).
	local include
	include=$(
		IFS=,
		echo "${guest_packages[*]}"
	)
	log "mmdebstrap $suite ($mirror) into $root"
	mmdebstrap --mode=root --variant=minbase --format=directory \
		--include="$include" \
		--aptopt='Acquire::Languages "none"' \
		--aptopt='APT::Install-Recommends "false"' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-include=/usr/share/doc/*/copyright' \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/info/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-include=/usr/share/locale/locale.alias' \
		--dpkgopt='path-exclude=/usr/share/lintian/*' \
		--dpkgopt='path-exclude=/usr/share/bug/*' \
		--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
		--skip=essential/unlink \
		--setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
		--setup-hook="sync-in '$debs' /var/cache/apt/archives/" \
		--setup-hook="mkdir -p \"\$1/etc/initramfs-tools\" && cp -R '$here/initramfs/.' \"\$1/etc/initramfs-tools/\"" \
		--customize-hook="sync-out /var/cache/apt/archives '$debs'" \
		--customize-hook="'$here/customize.sh' \"\$1\" '$here/rootfs' '$root_uuid'" \
		"$suite" "$root" \
		"deb $mirror $suite main" \
		"deb $mirror $suite-updates main" \
		"deb $mirror-security $suite-security main" >&2 ||
		die "mmdebstrap failed"
	rm -f "$debs"/lock "$debs"/*.partial 2>/dev/null || true
	rm -rf "$debs/partial"

	local kver
	kver=$(basename "$(find "$root/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n 1)")
	[ -f "$root/boot/vmlinuz-$kver" ] || die "no vmlinuz-$kver in the guest"
	[ -f "$root/boot/initrd.img-$kver" ] || die "no initrd.img-$kver in the guest"
	chroot "$root" dpkg-query -W -f='${Package} ${Version}\n' >"$work/packages"

	# The boot partition: syslinux, kernel, initramfs.
	local boot=$work/boot
	mkdir -p "$boot"
	cp "$root/boot/vmlinuz-$kver" "$boot/vmlinuz"
	cp "$root/boot/initrd.img-$kver" "$boot/initrd.img"
	cat >"$boot/syslinux.cfg" <<-EOF
		# cloudvm ($key), kernel $kver
		SERIAL 0 115200
		DEFAULT debian
		PROMPT 0
		TIMEOUT 0
		LABEL debian
		  LINUX /vmlinuz
		  INITRD /initrd.img
		  APPEND root=UUID=$root_uuid ro console=tty0 console=ttyS0,115200n8 consoleblank=0
	EOF
	touch -d "@$SOURCE_DATE_EPOCH" "$boot"/*
	local bpart=$work/boot.img boot_start=2048 boot_sectors=$((boot_mib * 2048))
	truncate -s $((boot_sectors * 512)) "$bpart"
	mkfs.vfat --invariant -F 16 -i "$boot_serial" -n CLOUDBOOT -h $boot_start "$bpart" >/dev/null
	export MTOOLS_SKIP_CHECK=1
	syslinux --install "$bpart"
	for f in syslinux.cfg vmlinuz initrd.img; do
		mcopy -i "$bpart" -m -o "$boot/$f" "::/$f"
	done

	# The root partition: the tree, less what the guest does not boot from.
	rm -f "$root"/boot/initrd.img-* "$root"/boot/vmlinuz-* "$root"/boot/System.map-* "$root"/boot/config-*
	rm -f "$root"/initrd.img* "$root"/vmlinuz*
	# No file newer than SOURCE_DATE_EPOCH: what the build made (directories, /dev, files
	# written by maintainer scripts) would otherwise carry the build's time. (mkfs.ext4 -d
	# copies each file's ctime, which cannot be set, so the images of two builds still
	# differ in those; the files, modes and mtimes are the same.)
	find "$root" -xdev -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	local root_start=$((boot_start + boot_sectors))
	local root_sectors=$((disk_mib * 2048 - root_start))
	local rpart=$work/root.img
	truncate -s $((root_sectors * 512)) "$rpart"
	E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH mkfs.ext4 -q -L cloudimg-rootfs -U "$root_uuid" \
		-E "hash_seed=$root_uuid,root_owner=0:0,lazy_itable_init=1" -m 1 -d "$root" "$rpart" ||
		die "mkfs.ext4 -d failed"

	# The disk: MBR boot code, the partition table, the partitions.
	local disk=$work/disk.raw
	truncate -s $((disk_mib << 20)) "$disk"
	sfdisk -q --no-reread --no-tell-kernel "$disk" >/dev/null <<-EOF
		label: dos
		label-id: 0x$boot_serial
		unit: sectors
		start=$boot_start, size=$boot_sectors, type=e, bootable
		start=$root_start, size=$root_sectors, type=83
	EOF
	dd if=/usr/lib/syslinux/mbr/mbr.bin of="$disk" bs=440 count=1 conv=notrunc status=none
	dd if="$bpart" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none
	dd if="$rpart" of="$disk" bs=1M seek=$((root_start / 2048)) conv=notrunc,sparse status=none

	local img=$out/cloudvm-${key:0:16}.qcow2
	qemu-img convert -q -f raw -O qcow2 -c -o compression_type=zlib "$disk" "$work/disk.qcow2"
	inputs >"$work/inputs"
	mv "$work/inputs" "${img%.qcow2}.inputs"
	mv "$work/packages" "${img%.qcow2}.packages"
	mv "$work/disk.qcow2" "$img"
	log "built $img ($(($(stat -c %s "$img") >> 20)) MiB; kernel $kver $(($(stat -c %s "$boot/vmlinuz") >> 10)) KiB, initramfs $(($(stat -c %s "$boot/initrd.img") >> 10)) KiB, root filesystem $(du -sm --apparent-size "$root" | cut -f1) MiB, $(wc -l <"${img%.qcow2}.packages") packages)"
}

# --- main -----------------------------------------------------------------------------

if [ "$mode" = check ]; then
	rc=0
	if ! is_root; then
		log "a build runs as root (mmdebstrap --mode=root, mkfs.ext4 -d keeps owners)"
		exit 2
	fi
	ensure_host_tools report || rc=$?
	if [ $rc = 0 ] && command -v apt-cache >/dev/null; then
		(resolve_packages) >/dev/null || rc=2
	fi
	[ $rc = 0 ] && log "ok: a build can run here (cache $out)"
	exit $rc
fi

if [ "$mode" = build ] || [ "$mode" = force ]; then
	is_root || die "a build runs as root (mmdebstrap --mode=root, mkfs.ext4 -d keeps owners)"
	ensure_host_tools install || exit $?
fi
resolve_packages
key=$(inputs | sha256sum | cut -d' ' -f1)
img=$out/cloudvm-${key:0:16}.qcow2
case "$mode" in
key)
	echo "$key"
	exit 0
	;;
cached)
	[ -f "$img" ] || exit 3
	echo "$img"
	exit 0
	;;
esac
mkdir -p "$out"
debs=$out/debs
exec 9>"$out/.lock"
flock 9
if [ "$mode" = force ] || ! [ -f "$img" ]; then
	start=$SECONDS
	rm -rf "$out"/.build.* # left by a build that was killed
	build
	for f in "$out"/cloudvm-*.qcow2; do
		[ "$f" = "$img" ] || rm -f "$f" "${f%.qcow2}.inputs" "${f%.qcow2}.packages"
	done
	log "build took $((SECONDS - start))s"
fi
ln -sfn "$(basename "$img")" "$out/cloudvm.qcow2"
echo "$img"
