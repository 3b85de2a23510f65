#!/bin/sh
# Builds what the benchmarks need (every module, the guest image when missing, the e2e test classes) and runs
# one benchmark class of e2e's bench package. The scripts/bench-*.sh files call this.
#   scripts/bench-run.sh CLASS [benchmark arguments...]
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
class=$1
shift
CP_FILE=e2e/target/bench.classpath
echo "bench: building the distribution and the e2e test classes for $class" >&2
mvn -B -q -N install >&2
mvn -B -q -pl agent-proto,vmm,firmware,guest-agent,shim,packaging -DskipTests install >&2
[ -f packaging/target/nemu/share/guest/manifest.json ] || packaging/target/nemu/bin/nemu image build >&2
mvn -B -q -pl e2e test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
    -Dmdep.includeScope=test >&2
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
exec "$JAVA" -Dnemu.e2e.target="$ROOT/e2e/target" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -cp "$ROOT/e2e/target/test-classes:$(cat "$CP_FILE")" "io.nemu.e2e.bench.$class" "$@"
