#!/usr/bin/env bash
# The main job: installs what is needed, builds the project and the guest image.
# (Running a pod in a VM through containerd comes with the shim; see the README.)
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> installing Debian packages (if missing)"
scripts/install-deps.sh
echo "==> building (Maven)"
mvn -B -ntp -q install -DskipTests
echo "==> building the guest image"
scripts/nemu image build
