#!/bin/sh
# Runs the ttrpc vs gRPC-Java unary benchmark (not part of `mvn test`).
# Args (optional): warm-up seconds, measured seconds.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mvn -B -q -f "$here/../pom.xml" -pl agent-proto test-compile dependency:build-classpath \
  -Dmdep.outputFile="$here/target/test-classpath.txt" -Dmdep.includeScope=test
exec java -cp "$here/target/test-classes:$here/target/classes:$(cat "$here/target/test-classpath.txt")" \
  io.nemu.ttrpc.bench.TtrpcBenchmark "$@"
