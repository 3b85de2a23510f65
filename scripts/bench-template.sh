#!/bin/sh
# Templating benchmark (issue 15): ctr run echo start of booted and cloned sandboxes against the bare boot floor,
# interleaved, then host PSS per sandbox (QEMU) at each --pods count for both modes.
#   scripts/bench-template.sh [--runs N] [--pods 1,5]
# Needs root, containerd, qemu-system-x86, virtiofsd, busybox-static; builds in the reactor.
exec "$(dirname "$0")/bench-reactor.sh" TemplateBenchmark "$@"
