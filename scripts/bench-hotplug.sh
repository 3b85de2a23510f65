#!/bin/sh
# Hotplug on virt-hotplug (q35) through CRI, request to guest seeing it: one vCPU, one 512 MiB DIMM, one disk,
# next to a cgroup-only update and a container without the disk measured in the same run.
#   scripts/bench-hotplug.sh [--runs N] [--base-memory MiB]
exec "$(dirname "$0")/bench-reactor.sh" HotplugBenchmark "$@"
