#!/bin/sh
# Templating benchmark (issue 15): CRI pod start (RunPodSandbox to container running) of booted and cloned pods
# against runc and the bare boot floor, interleaved, with a cold and a warm shim daemon, the steps of a clone's start;
# then host PSS per pod at each --pods count for each mode. --clone-tb 48,24,16: cloned modes per clone_tcg_tb_size.
#   scripts/bench-template.sh [--runs N] [--pods 1,5,10] [--clone-tb A,B] [--set TABLE.KEY=VALUE]
# Needs root, containerd, qemu-system-x86, virtiofsd, busybox-static; builds in the reactor.
exec "$(dirname "$0")/bench-reactor.sh" TemplateBenchmark "$@"
