#!/bin/sh
# CRI benchmark: the pod cycle (run, create, start, exec, stop, remove) through containerd's CRI with handler
# runc, with handler nemu and the bare VM floor, per step and total with ratios; and the host-side cost
# (RSS/PSS, idle CPU) of one running nemu sandbox, the figures behind share/kubernetes/runtimeclass.yaml.
#   scripts/bench-cri.sh [--runs N]
# Needs root, containerd, runc, CNI plugins, qemu-system-x86, busybox-static; builds the distribution and
# the guest image.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CP_FILE=e2e/target/bench-cri.classpath
echo "bench-cri: building the distribution and the e2e test classes" >&2
mvn -B -q -N install >&2
mvn -B -q -pl agent-proto,vmm,firmware,guest-agent,shim,packaging -DskipTests install >&2
[ -f packaging/target/nemu/share/guest/manifest.json ] || packaging/target/nemu/bin/nemu image build >&2
mvn -B -q -pl e2e test-compile dependency:build-classpath -Dmdep.outputFile=target/bench-cri.classpath \
    -Dmdep.includeScope=test >&2
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
exec "$JAVA" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -cp "$ROOT/e2e/target/test-classes:$(cat "$CP_FILE")" io.nemu.e2e.bench.CriBenchmark "$@"
