#!/bin/sh
# CRI benchmark: the pod cycle (run, create, start, exec, stop, remove) through containerd's CRI with handler
# runc, with handler nemu and the bare VM floor, per step and total with ratios; and the host-side cost
# (RSS/PSS, idle CPU) of one running nemu sandbox, the figures behind share/kubernetes/runtimeclass.yaml.
#   scripts/bench-cri.sh [--runs N]
# Needs root, containerd, runc, CNI plugins, qemu-system-x86, busybox-static; builds the distribution and
# the guest image.
exec "$(dirname "$0")/bench-reactor.sh" CriBenchmark "$@"
