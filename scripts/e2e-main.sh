#!/bin/sh
# Runs one program of e2e's test classes (a benchmark, the CRI quickstart) against the installed modules and
# the built distribution: compiles the e2e test classes, writes their classpath, then runs the class.
#   scripts/e2e-main.sh FULLY.QUALIFIED.CLASS [arguments...]
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
class=$1
shift
CP_FILE=e2e/target/main.classpath
mvn -B -q -pl e2e test-compile dependency:build-classpath -Dmdep.outputFile=target/main.classpath \
    -Dmdep.includeScope=test >&2
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
# gRPC's Netty transport sets SO_KEEPALIVE on every channel; a unix socket has none, and Netty warns each time.
exec "$JAVA" -Dnemu.e2e.target="$ROOT/e2e/target" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -Dorg.slf4j.simpleLogger.log.io.netty.bootstrap.Bootstrap=error \
    -cp "$ROOT/e2e/target/test-classes:$(cat "$CP_FILE")" "$class" "$@"
