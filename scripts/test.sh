#!/usr/bin/env bash
# Installs what the tests need (Debian packages, Maven dependencies, the guest image with the agent) and runs
# every test, including the system tests that start a real containerd, real QEMU and real guests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
echo "==> building the distribution (packaging/target/nemu)"
mvn -B -ntp -q install -DskipTests -Dnemu.release.skip=true  # the tarball comes with verify, once
echo "==> building its guest image (kernel, busybox, modules, crun, the agent)"
scripts/nemu image build
exec mvn -B -ntp verify "$@"
