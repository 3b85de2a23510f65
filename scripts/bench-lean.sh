#!/bin/sh
# Lean-sandbox benchmark (issue 12): host PSS per pod at 1, 5 and 10 CRI pods running at once (QEMU split into
# guest RAM, TCG code cache and the rest; virtiofsd; the shim daemon's share), pod start (CRI and ctr run echo)
# against the bare boot floor measured interleaved, and the most pods this machine holds; markdown tables
# with the machine described.
#   scripts/bench-lean.sh [--pods 1,5,10] [--runs N] [--max-pods N | --no-max] [--max-minutes M] [--settle S]
# --max-pods (default 50) starts pods one by one until that count, host MemAvailable below 20% of MemTotal, or
# a pod fails: long; --max-minutes bounds that part's time; --no-max for a quick run. Needs root, containerd, CNI plugins, qemu-system-x86, virtiofsd,
# busybox-static. Builds every module in the reactor (nothing goes to ~/.m2) and the guest image when missing;
# NEMU_BENCH_BUILD=0 reuses the build as it is.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CP_FILE=e2e/target/bench.classpath
if [ "${NEMU_BENCH_BUILD:-1}" != 0 ] || [ ! -f "$CP_FILE" ]; then
    echo "bench: building the distribution and the e2e test classes" >&2
    mvn -B -q -o package -DskipTests dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
        -Dmdep.includeScope=test >&2
fi
[ -f packaging/target/nemu/share/guest/manifest.json ] || scripts/nemu image build >&2
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
exec "$JAVA" -Dnemu.e2e.target="$ROOT/e2e/target" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -cp "$ROOT/e2e/target/test-classes:$(cat "$CP_FILE")" io.nemu.e2e.bench.LeanBenchmark "$@"
