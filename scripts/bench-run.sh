#!/bin/sh
# Builds what the benchmarks need (every module, the guest image when missing, the e2e test classes) and runs
# one benchmark class of e2e's bench package. The scripts/bench-*.sh files call this.
#   scripts/bench-run.sh CLASS [benchmark arguments...]
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
class=$1
shift
echo "bench: building the distribution and the e2e test classes for $class" >&2
mvn -B -q -N install >&2
mvn -B -q -pl agent-proto,vmm,firmware,guest-agent,shim,packaging -DskipTests install >&2
[ -f packaging/target/nemu/share/guest/manifest.json ] || packaging/target/nemu/bin/nemu image build >&2
exec scripts/e2e-main.sh "io.nemu.e2e.bench.$class" "$@"
