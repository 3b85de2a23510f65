#!/bin/sh
# Templating benchmark (issue 15): CRI pod start (RunPodSandbox to container running) of booted and cloned pods
# against the bare boot floor, interleaved, then host PSS per pod at each --pods count for both modes.
#   scripts/bench-template.sh [--runs N] [--pods 1,5,10]
# Needs root, containerd, qemu-system-x86, virtiofsd, busybox-static; builds in the reactor.
exec "$(dirname "$0")/bench-reactor.sh" TemplateBenchmark "$@"
