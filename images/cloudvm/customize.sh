#!/usr/bin/env bash
# images/cloudvm/customize.sh ROOT ROOTFS ROOT_UUID: mmdebstrap's customize hook (run on
# the host, after every package is installed): our files, then what must not be the same
# in every guest made from the image (ssh host keys, machine-id: cloud-init and systemd
# make them at first boot) or differ between builds.
set -euo pipefail
root=$1 rootfs=$2 uuid=$3

# The modes of our files, also where a file was there already (mmdebstrap copies the
# host's /etc/hostname).
cp -R --preserve=mode "$rootfs/." "$root/"
printf 'UUID=%s / ext4 rw,discard,errors=remount-ro 0 1\n' "$uuid" >"$root/etc/fstab"
: >"$root/etc/resolv.conf"

# Host keys: cloud-init's ssh module makes new ones at first boot (before sshd starts).
rm -f "$root"/etc/ssh/ssh_host_*

# The root account stays locked; cloud-init makes the default user "debian" (sudo, the
# instance's keys).
chroot "$root" passwd -l root >/dev/null

# Anything left by the build that a guest does not need. Not /tmp: mmdebstrap keeps its
# apt configuration there until the end, and its last "apt-get update" (emptying the
# package lists) would act on the host's lists without it; mmdebstrap empties /tmp itself.
rm -rf "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/var/cache/debconf/*-old \
	"$root"/var/lib/dpkg/*-old
