#!/bin/sh
# Installs the Debian 12 packages that building and testing NEMU need. Safe to run again: it only
# calls apt when a package is missing, and prints nothing unless something fails.
# Usage: scripts/install-deps.sh [extra-package...]
set -eu

# build: JDK and Maven
# containerd side: containerd (with ctr), runc, crun (guest-agent tests run it on the host), CNI plugins in /usr/lib/cni, iptables for CNI's bridge
# VM side: QEMU (+ virtiofsd from qemu-system-common), qemu-img, OVMF, option ROMs (virtio-net-pci)
# guest image: busybox-static, cpio, zstd, lz4, xz, kmod (modinfo/depmod for the kernel modules),
#   erofs-utils (mkfs.erofs: the read-only root image root.img); jlink comes with the JDK
# pod network (shim at run time): iproute2 (ip, tc: tap + tc mirred filters in the pod netns), util-linux (nsenter)
# tests: iproute2 (netns, bridges), util-linux (mount, umount, nsenter), e2fsprogs, procps
PACKAGES="
  openjdk-17-jdk-headless maven
  containerd runc crun containernetworking-plugins iptables
  qemu-system-x86 qemu-utils ovmf ipxe-qemu
  busybox-static cpio zstd lz4 xz-utils kmod erofs-utils
  iproute2 util-linux e2fsprogs procps ca-certificates
"

missing=""
for pkg in $PACKAGES "$@"; do
  if ! dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
    missing="$missing $pkg"
  fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages:$missing; run this script as root" >&2
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -q >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-deps: apt-get update failed" >&2
  exit 1
fi
# shellcheck disable=SC2086
if ! apt-get install -y -q --no-install-recommends $missing >>"$log" 2>&1; then
  cat "$log" >&2
  echo "install-deps: could not install:$missing" >&2
  exit 1
fi
