#!/usr/bin/env bash
# images/testvm/build.sh: build "testvm", gostack's small test guest, from Debian 12 packages
# only, reproducibly, into a cache; print the path of the qcow2 on stdout.
#
#   images/testvm/build.sh            # build unless the cached image matches the inputs
#   images/testvm/build.sh --force    # rebuild even so
#   images/testvm/build.sh --check    # can a build run here? exit 0 yes, 2 no (says why)
#   images/testvm/build.sh --key      # print the inputs hash and exit
#
# Environment:
#   GOSTACK_CACHE_DIR   cache root (default: /var/cache/gostack as root, else
#                       ${XDG_CACHE_HOME:-~/.cache}/gostack); the image goes to <root>/testvm/
#   SOURCE_DATE_EPOCH   timestamp of every file in the image (default below; part of the hash)
#   TESTVM_APT_INSTALL  0: never apt-get install missing host tools, even as root
#
# The disk: an MBR (syslinux mbr.bin) with one bootable FAT16 partition holding syslinux,
# the Debian kernel (vmlinuz) and an initramfs that is the whole root filesystem: busybox
# (busybox-static), dropbear (dropbear-bin and the libraries it links), the kernel modules a
# cloud guest needs and the files under rootfs/ (init, rcS, udhcpc script, JSON reader).
# No loop mounts, no root needed: mkfs.vfat + mtools + syslinux --install on a file.
#
# The cache key hashes this directory's files (README.md aside), the exact versions and
# SHA256 of the guest packages apt would download, the versions of the host tools whose
# bytes end up in the image, and SOURCE_DATE_EPOCH. Two builds with the same key produce
# byte-identical images.
set -euo pipefail
export LC_ALL=C TZ=UTC
umask 022

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
format=1 # bump when the build changes in a way the hashed inputs do not show
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1704067200}" # 2024-01-01T00:00:00Z
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# Guest contents. The kernel is whatever linux-image-amd64 points at.
guest_packages=(KERNEL busybox-static dropbear-bin libc6 libcrypt1 libtomcrypt1 libtommath1 libgmp10 zlib1g)
# Kernel modules (plus their dependencies) loaded at boot, in this order.
modules=(
	virtio_pci virtio_blk virtio_scsi virtio_net virtio_rng virtio_balloon
	e1000 e1000e
	ata_piix ahci sd_mod sr_mod
	crc32c_generic ext4 isofs nls_cp437 nls_ascii nls_utf8 vfat
	button evdev
)
# Host tools: command -> Debian package. The packages marked in host_hashed put bytes in
# the image, so their versions are part of the key.
declare -A host_tools=(
	[apt-get]=apt [dpkg-deb]=dpkg [syslinux]=syslinux [mcopy]=mtools [mkfs.vfat]=dosfstools
	[cpio]=cpio [xz]=xz-utils [qemu-img]=qemu-utils [flock]=util-linux [sha256sum]=coreutils
)
host_files=(/usr/lib/syslinux/mbr/mbr.bin)
host_file_packages=(syslinux-common)
host_hashed=(syslinux syslinux-common mtools dosfstools cpio xz-utils qemu-utils)

root_password=gostack
disk_mib=64 # virtual disk size; the FAT partition is everything after the first MiB

log() { printf 'testvm: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

mode=build
for a in "$@"; do
	case "$a" in
	--check) mode=check ;;
	--force) mode=force ;;
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
out=$cache/testvm

# --- host prerequisites -------------------------------------------------------------

missing_packages() {
	local c f i
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
	if is_root && [ "${TESTVM_APT_INSTALL:-1}" != 0 ] && command -v apt-get >/dev/null; then
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

apt_updated=0
# apt_records PKG...: "package version sha256" of each package's candidate (amd64 or all),
# from one apt-cache call (each call parses every package list: slow).
apt_records() {
	local recs
	recs=$(apt-cache show --no-all-versions "$@" 2>/dev/null | awk '
		BEGIN { RS = ""; FS = "\n" }
		{
			p = v = h = a = d = ""
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^Package: /) p = substr($i, 10)
				else if ($i ~ /^Version: /) v = substr($i, 10)
				else if ($i ~ /^SHA256: /) h = substr($i, 9)
				else if ($i ~ /^Architecture: /) a = substr($i, 15)
				else if ($i ~ /^Depends: /) d = substr($i, 10)
			}
			if ((a == "amd64" || a == "all") && !seen[p]++) print p, v, h, d
		}') || true
	printf '%s\n' "$recs"
}

declare -A pkg_version pkg_sha256
resolve_packages() {
	local kernel p recs name ver sha deps
	for p in 1 2; do
		recs=$(apt_records linux-image-amd64)
		[ -n "$recs" ] && break
		if is_root && [ "$apt_updated" = 0 ]; then
			apt_updated=1
			log "apt knows no linux-image-amd64; running apt-get update"
			apt-get update -q >&2 || true
		fi
	done
	kernel=${TESTVM_KERNEL_PACKAGE:-$(awk '{ print $4 }' <<<"$recs")}
	[ -n "$kernel" ] || die "apt has no linux-image-amd64 (apt-get update?)"
	resolved=()
	for p in "${guest_packages[@]}"; do
		[ "$p" = KERNEL ] && p=$kernel
		resolved+=("$p")
	done
	while read -r name ver sha deps; do
		[ -n "$name" ] || continue
		pkg_version[$name]=$ver
		pkg_sha256[$name]=$sha
	done < <(apt_records "${resolved[@]}")
	for p in "${resolved[@]}"; do
		[ -n "${pkg_sha256[$p]:-}" ] || die "apt has no candidate (or no SHA256) for $p (apt-get update?)"
	done
	kernel_package=$kernel
}

inputs() {
	local p f
	echo "testvm format $format"
	echo "SOURCE_DATE_EPOCH $SOURCE_DATE_EPOCH"
	echo "modules ${modules[*]}"
	for p in "${resolved[@]}"; do
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

download() { # fill $debs/PKG.SHA256.deb for every resolved package
	local p want tmp got
	mkdir -p "$debs"
	for p in "${resolved[@]}"; do
		want=$debs/$p.${pkg_sha256[$p]}.deb
		[ -f "$want" ] && continue
		tmp=$(mktemp -d "$debs/.dl.XXXXXX")
		log "downloading $p ${pkg_version[$p]}"
		# As root, apt would drop privileges to _apt, who cannot write into our cache.
		sandbox=()
		is_root && sandbox=(-o APT::Sandbox::User=root)
		(cd "$tmp" && apt-get download -q "${sandbox[@]}" "$p=${pkg_version[$p]}" >&2) ||
			die "apt-get download $p=${pkg_version[$p]} failed"
		got=$(sha256sum "$tmp"/*.deb | cut -d' ' -f1)
		[ "$got" = "${pkg_sha256[$p]}" ] || die "$p: sha256 $got, apt's record says ${pkg_sha256[$p]}"
		mv "$tmp"/*.deb "$want"
		rmdir "$tmp"
	done
	# Drop packages no longer used.
	local keep f
	for f in "$debs"/*.deb; do
		keep=0
		for p in "${resolved[@]}"; do
			[ "$f" = "$debs/$p.${pkg_sha256[$p]}.deb" ] && keep=1
		done
		[ $keep = 1 ] || rm -f "$f"
	done
}

# le32 N: N as 4 little-endian bytes, in printf \x form.
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
# chs LBA: CHS triple for an MBR entry (255 heads, 63 sectors per track).
chs() {
	local c h s
	c=$(($1 / (255 * 63)))
	h=$(($1 / 63 % 255))
	s=$(($1 % 63 + 1))
	[ $c -gt 1023 ] && c=1023 h=254 s=63
	printf '\\x%02x\\x%02x\\x%02x' $h $((s | (c >> 2 & 0xc0))) $((c & 255))
}

build() {
	local sys root kver f p
	work=$(mktemp -d "$out/.build.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	sys=$work/sys
	root=$work/root
	mkdir -p "$sys" "$root"

	for p in "${resolved[@]}"; do
		dpkg-deb -x "$debs/$p.${pkg_sha256[$p]}.deb" "$sys"
	done
	kver=$(basename "$(find "$sys/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n 1)")
	[ -f "$sys/boot/vmlinuz-$kver" ] || die "no vmlinuz-$kver in $kernel_package"

	# Root filesystem skeleton and our own files.
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,etc/dropbear,dev,proc,sys,run,tmp,root,mnt,var/log}
	ln -s ../run "$root/var/run"
	cp -R "$here/rootfs/." "$root/"

	# busybox and its applet links (where rootfs/ has not put a file of its own).
	install -m 755 "$sys/bin/busybox" "$root/bin/busybox"
	"$sys/bin/busybox" --list-full | while read -r f; do
		[ -e "$root/$f" ] || [ -L "$root/$f" ] || ln -s /bin/busybox "$root/$f"
	done

	# dropbear and the shared libraries it needs (resolved with the guest's own ld.so).
	install -m 755 "$sys/usr/sbin/dropbear" "$root/usr/sbin/dropbear"
	install -m 755 "$sys/usr/bin/dropbearkey" "$root/usr/bin/dropbearkey"
	install -m 755 "$sys/usr/bin/dbclient" "$root/usr/bin/dbclient"
	ln -s dbclient "$root/usr/bin/ssh"
	local ldso=$sys/lib64/ld-linux-x86-64.so.2 libpath
	libpath=$sys/lib/x86_64-linux-gnu:$sys/usr/lib/x86_64-linux-gnu
	local libs
	libs=$(for f in usr/sbin/dropbear usr/bin/dropbearkey usr/bin/dbclient; do
		"$ldso" --library-path "$libpath" --list "$root/$f"
	done) || die "resolving dropbear's libraries failed"
	if grep -q 'not found' <<<"$libs"; then
		die "dropbear needs libraries the package list lacks: $(grep 'not found' <<<"$libs" | tr -s ' \t' ' ')"
	fi
	for f in $(sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p' <<<"$libs" | sort -u) "$ldso"; do
		case "$f" in "$sys"/*) ;; *) die "library outside the guest packages: $f" ;; esac
		mkdir -p "$root/$(dirname "${f#"$sys"/}")"
		cp -L "$f" "$root/${f#"$sys"/}"
	done

	# Kernel modules: the list above plus dependencies, in load order.
	local mdir=$sys/lib/modules/$kver
	declare -A modpath=() moddeps=() done_=()
	while read -r f; do
		p=$(basename "$f" .ko)
		modpath[${p//-/_}]=${f#"$mdir"/}
	done < <(find "$mdir/kernel" -name '*.ko')
	order=()
	visit() {
		local m=${1//-/_} d
		[ -n "${done_[$m]:-}" ] && return 0
		done_[$m]=1
		if [ -z "${modpath[$m]:-}" ]; then
			grep -q "/$m.ko\$" "$mdir/modules.builtin" 2>/dev/null ||
				grep -q "/${1//_/-}.ko\$" "$mdir/modules.builtin" 2>/dev/null ||
				die "kernel $kver has no module $m"
			return 0 # built in
		fi
		d=$(tr '\0' '\n' <"$mdir/${modpath[$m]}" | sed -n 's/^depends=//p' | head -n 1)
		moddeps[$m]=$d
		for d in ${d//,/ }; do visit "$d"; done
		order+=("$m")
	}
	for p in "${modules[@]}"; do visit "$p"; done
	local rmdir=$root/lib/modules/$kver
	mkdir -p "$rmdir"
	: >"$rmdir/load.order"
	: >"$rmdir/modules.dep"
	for p in "${order[@]}"; do
		mkdir -p "$rmdir/$(dirname "${modpath[$p]}")"
		cp "$mdir/${modpath[$p]}" "$rmdir/${modpath[$p]}"
		echo "${modpath[$p]}" >>"$rmdir/load.order"
		local deps="" d
		for d in ${moddeps[$p]//,/ }; do
			d=${d//-/_}
			[ -n "${modpath[$d]:-}" ] && deps="$deps ${modpath[$d]}"
		done
		echo "${modpath[$p]}:$deps" >>"$rmdir/modules.dep"
	done
	cp "$mdir/modules.builtin" "$rmdir/"
	log "kernel $kver, ${#order[@]} modules: ${order[*]}"

	# Generated files.
	local hash
	hash=$("$sys/bin/busybox" mkpasswd -m sha512 "$root_password" gostacktestvm000) ||
		die "mkpasswd failed"
	printf 'root:%s:%d:0:99999:7:::\n' "$hash" $((SOURCE_DATE_EPOCH / 86400)) >"$root/etc/shadow"
	printf 'daemon:*:%d:0:99999:7:::\nnobody:*:%d:0:99999:7:::\n' \
		$((SOURCE_DATE_EPOCH / 86400)) $((SOURCE_DATE_EPOCH / 86400)) >>"$root/etc/shadow"
	{
		echo "NAME=testvm"
		echo "KEY=$key"
		echo "KERNEL=$kver"
		for p in "${resolved[@]}"; do echo "PACKAGE=$p ${pkg_version[$p]}"; done
	} >"$root/etc/testvm-release"

	# Normalise modes and times, then the initramfs (newc cpio, sorted, owned by root).
	find "$root" -type d -exec chmod 755 {} +
	find "$root" -type f -perm -u+x -exec chmod 755 {} +
	find "$root" -type f ! -perm -u+x -exec chmod 644 {} +
	chmod 700 "$root/root" "$root/etc/dropbear"
	chmod 1777 "$root/tmp"
	chmod 600 "$root/etc/shadow"
	find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	(cd "$root" && find . -mindepth 1 | sort | cpio -o -H newc -R 0:0 --reproducible --quiet) |
		xz -T1 --check=crc32 --lzma2=preset=9e,dict=16MiB >"$work/initrd.img"

	# The FAT partition: kernel, initramfs, syslinux.
	local boot=$work/boot
	mkdir -p "$boot"
	cp "$sys/boot/vmlinuz-$kver" "$boot/vmlinuz"
	mv "$work/initrd.img" "$boot/initrd.img"
	cat >"$boot/syslinux.cfg" <<-EOF
		# testvm ($key)
		SERIAL 0 115200
		DEFAULT testvm
		PROMPT 0
		TIMEOUT 0
		LABEL testvm
		  LINUX /vmlinuz
		  INITRD /initrd.img
		  APPEND console=tty0 console=ttyS0,115200n8
	EOF
	touch -d "@$SOURCE_DATE_EPOCH" "$boot"/*
	local part=$work/part.img part_start=2048 part_sectors=$(((disk_mib - 1) * 2048))
	truncate -s $((part_sectors * 512)) "$part"
	mkfs.vfat --invariant -F 16 -i 7e57e57e -n TESTVM -h $part_start "$part" >/dev/null
	export MTOOLS_SKIP_CHECK=1
	syslinux --install "$part"
	for f in syslinux.cfg vmlinuz initrd.img; do
		mcopy -i "$part" -m -o "$boot/$f" "::/$f"
	done

	# The disk: MBR boot code, one active FAT16 (LBA) partition, the partition itself.
	local disk=$work/disk.raw
	truncate -s $((disk_mib << 20)) "$disk"
	dd if=/usr/lib/syslinux/mbr/mbr.bin of="$disk" bs=440 count=1 conv=notrunc status=none
	local end=$((part_start + part_sectors - 1))
	{
		printf "$(le32 0x7e57e57e)\\x00\\x00"
		printf "\\x80$(chs $part_start)\\x0e$(chs $end)$(le32 $part_start)$(le32 $part_sectors)"
		printf '\x00%.0s' $(seq 48)
		printf '\x55\xaa'
	} | dd of="$disk" bs=1 seek=440 conv=notrunc status=none
	dd if="$part" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none

	local img=$out/testvm-${key:0:16}.qcow2
	qemu-img convert -q -f raw -O qcow2 -c -o compression_type=zlib "$disk" "$work/disk.qcow2"
	inputs >"$work/inputs"
	mv "$work/inputs" "${img%.qcow2}.inputs"
	mv "$work/disk.qcow2" "$img"
	log "built $img ($(du -k --apparent-size "$img" | cut -f1) KiB: kernel $(($(stat -c %s "$boot/vmlinuz") >> 10)) KiB, initramfs $(($(stat -c %s "$boot/initrd.img") >> 10)) KiB)"
}

# --- main -----------------------------------------------------------------------------

if [ "$mode" = check ]; then
	rc=0
	ensure_host_tools report || rc=$?
	if [ $rc = 0 ] && command -v apt-cache >/dev/null; then
		(resolve_packages) >/dev/null || rc=2
	fi
	[ $rc = 0 ] && log "ok: a build can run here (cache $out)"
	exit $rc
fi

ensure_host_tools install || exit $?
resolve_packages
key=$(inputs | sha256sum | cut -d' ' -f1)
if [ "$mode" = key ]; then
	echo "$key"
	exit 0
fi
mkdir -p "$out"
debs=$out/debs
exec 9>"$out/.lock"
flock 9
img=$out/testvm-${key:0:16}.qcow2
if [ "$mode" = force ] || ! [ -f "$img" ]; then
	start=$SECONDS
	rm -rf "$out"/.build.* "$debs"/.dl.* # left by a build that was killed
	download
	build
	# Older images: keep none (the key is in the name; whoever still uses one has it open).
	for f in "$out"/testvm-*.qcow2; do
		[ "$f" = "$img" ] || rm -f "$f" "${f%.qcow2}.inputs"
	done
	log "build took $((SECONDS - start))s"
fi
ln -sfn "$(basename "$img")" "$out/testvm.qcow2"
echo "$img"
