#!/bin/sh
# Agent channel benchmark: hybrid vsock (in-process vhost-user-vsock) next to virtio-serial, same run.
#   scripts/bench-vsock.sh [--mib N] [--pings N] [--size N] [--accel tcg|kvm|auto]
# Needs qemu-system-x86, busybox-static, and what the guest image build needs (see firmware/README.md).
exec "$(dirname "$0")/bench-reactor.sh" VsockBenchmark "$@"
