#!/usr/bin/env bash
# Installs what the tests need (Debian packages, Maven dependencies) and runs every test,
# including the system tests that start a real containerd and real QEMU.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
exec mvn -B -ntp verify "$@"
