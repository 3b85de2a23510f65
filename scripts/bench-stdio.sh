#!/bin/sh
# Stdio benchmark: MB/s of 100 MB through the stdout of ctr run, an exec's stdout and an exec's stdin (SHA-256
# checked), nemu and runc, against the container's own pipe (the guest's for nemu) measured in the same run.
#   scripts/bench-stdio.sh [--kernel-params "nemu.agent_jit=on"]
# Needs root, containerd, runc, qemu-system-x86, busybox-static; builds the distribution and guest image.
exec "$(dirname "$0")/bench-reactor.sh" StdioBenchmark "$@"
