#!/usr/bin/env bash
# The main job: installs what is needed, builds the distribution and its guest image, then runs a pod in its
# own VM the way Kubernetes does, through containerd's CRI: a private containerd (its own config, root, state,
# socket and CNI bridge under a temp dir, stopped by its pid at the end whatever happens) with the runtime
# handler nemu; a busybox container prints the guest kernel and the pod IP from inside the VM.
# A second run reuses every cache (Debian packages, Maven, the guest image, containerd's image import).
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s.%N)

echo "==> installing Debian packages (if missing)"
scripts/install-deps.sh
echo "==> building the distribution (Maven) into packaging/target/nemu"
mvn -B -ntp -q install -DskipTests -Dnemu.release.skip=true
echo "==> building the guest image"
scripts/nemu image build
echo "==> the pod, through CRI (the project's CRI client: crictl is not packaged in Debian)"
scripts/e2e-main.sh io.nemu.e2e.quickstart.CriQuickstart
awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "scripts/run.sh took %.1f s\n", b - a }'
