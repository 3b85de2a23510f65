#!/bin/sh
# TCG code cache bound: ctr run -d (boot to agent ready + start), QEMU RSS, a CPU-heavy exec and QEMU RSS after,
# for tcg_tb_size 0 (QEMU's default), 64, 48, 32, interleaved.   scripts/bench-tcg.sh [--runs N] [--sizes a,b,..]
exec "$(dirname "$0")/bench-reactor.sh" TcgCacheBenchmark "$@"
