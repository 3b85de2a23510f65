#!/bin/sh
# Boot benchmark of the sandbox VM (both machine profiles) against plain QEMU with a busybox initramfs.
#   scripts/bench-boot.sh [--runs N] [--accel tcg|kvm|auto]
# Needs qemu-system-x86, busybox-static, and what the guest image build needs (see firmware/README.md).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CP_FILE=e2e/target/bench.classpath
echo "bench-boot: building vmm, firmware and the e2e test classes" >&2
mvn -B -q -N install >&2
mvn -B -q -pl vmm,firmware -DskipTests install >&2
mvn -B -q -pl e2e test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
    -Dmdep.includeScope=test >&2
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
exec "$JAVA" -Dnemu.e2e.target="$ROOT/e2e/target" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -cp "$ROOT/e2e/target/test-classes:$(cat "$CP_FILE")" io.nemu.e2e.bench.BootBenchmark "$@"
