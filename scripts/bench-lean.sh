#!/bin/sh
# Lean-sandbox benchmark (issue 12): host PSS per pod at 1, 5 and 10 CRI pods running at once (QEMU split into
# guest RAM, TCG code cache and the rest; virtiofsd; the shim daemon's share), pod start (CRI and ctr run echo)
# against the bare boot floor measured interleaved, and the most pods this machine holds; markdown tables
# with the machine described.
#   scripts/bench-lean.sh [--pods 1,5,10] [--runs N] [--max-pods N | --no-max] [--max-minutes M] [--settle S]
# --max-pods (default 50) starts pods one by one until that count, host MemAvailable below 20% of MemTotal, or
# a pod fails: long; --max-minutes bounds that part's time; --no-max for a quick run. Needs root, containerd,
# CNI plugins, qemu-system-x86, virtiofsd, busybox-static. Builds in the reactor (scripts/bench-reactor.sh).
exec "$(dirname "$0")/bench-reactor.sh" LeanBenchmark "$@"
