#!/usr/bin/env bash
# The main job: installs what is needed, builds the distribution and its guest image, then runs a container
# in its own VM through a real containerd: `ctr run --runtime io.containerd.nemu.v2 ...`.
# The containerd is private to this script (its own config, root, state and socket under a temp dir) and is
# stopped by its pid at the end, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIST="$ROOT/packaging/target/nemu"

echo "==> installing Debian packages (if missing)"
scripts/install-deps.sh
echo "==> building the distribution (Maven) into $DIST"
mvn -B -ntp -q install -DskipTests
echo "==> building the guest image"
scripts/nemu image build

work=$(mktemp -d /tmp/nemu-run.XXXXXX)
source scripts/private-containerd.sh
cleanup() {
    stop_private_containerd
    rm -rf "$work"
}
trap cleanup EXIT
echo "==> starting a private containerd ($work)"
start_private_containerd

# A root filesystem of busybox-static and its applets (no registry needed).
mkdir -p "$work/rootfs/bin" "$work/rootfs/proc" "$work/rootfs/sys" "$work/rootfs/dev" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/busybox"
for applet in sh echo cat uname hostname; do ln -s busybox "$work/rootfs/bin/$applet"; done

echo "==> ctr run --runtime io.containerd.nemu.v2 (boots a VM; under TCG this takes a while)"
start=$(date +%s.%N)
ctr_ run --rm --runtime io.containerd.nemu.v2 --rootfs "$work/rootfs" \
    nemu-demo /bin/sh -c 'echo "hello from a container in its own VM: guest kernel $(uname -r), hostname $(hostname)"'
end=$(date +%s.%N)
awk -v a="$start" -v b="$end" -v k="$(uname -r)" 'BEGIN { printf "host kernel %s; ctr run took %.1f s\n", k, b - a }'
