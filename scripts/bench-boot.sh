#!/bin/sh
# Boot benchmark of the sandbox VM (both machine profiles) against plain QEMU with a busybox initramfs.
#   scripts/bench-boot.sh [--runs N] [--accel tcg|kvm|auto]
# Needs qemu-system-x86, busybox-static, and what the guest image build needs (see firmware/README.md).
exec "$(dirname "$0")/bench-reactor.sh" BootBenchmark "$@"
