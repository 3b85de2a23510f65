#!/bin/sh
# Shim benchmark: ctr run echo with runc, with io.containerd.nemu.v2 and the bare VM floor (ratios), the
# shim start latency and the shim daemon's RSS.   scripts/bench-shim.sh [--runs N]
# Needs root, containerd, runc, qemu-system-x86, busybox-static; builds the distribution and guest image.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CP_FILE=e2e/target/bench-shim.classpath
echo "bench-shim: building the distribution and the e2e test classes" >&2
mvn -B -q -N install >&2
mvn -B -q -pl agent-proto,vmm,firmware,shim,packaging -DskipTests install >&2
[ -f packaging/target/nemu/share/guest/manifest.json ] || packaging/target/nemu/bin/nemu image build >&2
mvn -B -q -pl e2e test-compile dependency:build-classpath -Dmdep.outputFile=target/bench-shim.classpath \
    -Dmdep.includeScope=test >&2
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
exec "$JAVA" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -cp "$ROOT/e2e/target/test-classes:$(cat "$CP_FILE")" io.nemu.e2e.bench.ShimBenchmark "$@"
