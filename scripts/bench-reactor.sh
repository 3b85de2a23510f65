#!/bin/sh
# Runs one benchmark class of e2e's bench package on a build made in the reactor (nothing goes to ~/.m2): every
# module packaged, the e2e test classes and their classpath, the guest image when missing. NEMU_BENCH_BUILD=0
# reuses the build as it is.
#   scripts/bench-reactor.sh CLASS [benchmark arguments...]
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
class=$1
shift
CP_FILE=e2e/target/bench.classpath
if [ "${NEMU_BENCH_BUILD:-1}" != 0 ] || [ ! -f "$CP_FILE" ]; then
    echo "bench: building the distribution and the e2e test classes for $class" >&2
    mvn -B -q package -DskipTests -Dnemu.release.skip=true dependency:build-classpath \
        -Dmdep.outputFile=target/bench.classpath -Dmdep.includeScope=test >&2
fi
[ -f packaging/target/nemu/share/guest/manifest.json ] || scripts/nemu image build >&2
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
# As in e2e-main.sh: no warning for gRPC's SO_KEEPALIVE on a unix socket.
exec "$JAVA" -Dnemu.e2e.target="$ROOT/e2e/target" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -Dorg.slf4j.simpleLogger.log.io.netty.bootstrap.Bootstrap=error \
    -cp "$ROOT/e2e/target/test-classes:$(cat "$CP_FILE")" "io.nemu.e2e.bench.$class" "$@"
