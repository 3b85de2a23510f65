#!/bin/sh
# Hotplug on virt-hotplug (q35) through CRI, request to guest seeing it: one vCPU, one 512 MiB DIMM, one disk,
# next to a cgroup-only update and a container without the disk measured in the same run. Then the two memory
# devices side by side in one plain q35 guest: a 512 MiB pc-dimm against virtio-mem grown to 512 MiB and back.
#   scripts/bench-hotplug.sh [--runs N] [--base-memory MiB]
set -eu
"$(dirname "$0")/bench-reactor.sh" HotplugBenchmark "$@"
NEMU_BENCH_BUILD=0 exec "$(dirname "$0")/bench-reactor.sh" MemoryDeviceBenchmark
