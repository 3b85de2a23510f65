#!/bin/sh
# Shim benchmark: ctr run echo with runc, with io.containerd.nemu.v2 and the bare VM floor (ratios), the
# shim start latency and the shim daemon's RSS.   scripts/bench-shim.sh [--runs N]
# Needs root, containerd, runc, qemu-system-x86, busybox-static; builds the distribution and guest image.
exec "$(dirname "$0")/bench-reactor.sh" ShimBenchmark "$@"
