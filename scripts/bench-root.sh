#!/usr/bin/env bash
# The guest's root, old and new: the whole initramfs (initrd = initramfs.img, copied into a tmpfs in every VM)
# against the shared read-only root image (image = root.img) on a virtio-blk disk (image-blk: the guest keeps a
# page-cache copy of what it reads) or, on virt-hotplug (q35), on virtio-pmem mounted with DAX (image-dax: the
# guest maps the host's page-cache pages). For each root and machine profile: time from `ctr run -d` to the
# container running and the shim's "agent answered N ms after QEMU started", QEMU's RSS and PSS (smaps_rollup)
# split into guest RAM (the memfd) and the root image's mapping, and the guest's MemTotal-MemAvailable and page
# cache at idle; then N VMs of each image root at once (PSS shows the root image's page-cache pages shared
# between them). Runs a private containerd; wrap it in flock.
# Usage: scripts/bench-root.sh [N]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
DIST="$(pwd)/packaging/target/nemu"
G="$DIST/share/guest"
N=${1:-3}
MEM=${NEMU_BENCH_MEMORY:-512}
[ -f "$G/root.img" ] || { echo "no $G/root.img: run scripts/nemu image build" >&2; exit 1; }

work=$(mktemp -d /tmp/nemu-bench-root.XXXXXX)
source scripts/private-containerd.sh
ids=()
remove() {
    for id in "$@"; do
        ctr_ task kill -s KILL "$id" >/dev/null 2>&1 || true
        for _ in $(seq 100); do ctr_ task delete "$id" >/dev/null 2>&1 && break; sleep 0.2; done
        ctr_ container delete "$id" >/dev/null 2>&1 || true
    done
}
cleanup() {
    [ ${#ids[@]} -eq 0 ] || remove "${ids[@]}"
    stop_private_containerd
    rm -rf "$work"
}
trap cleanup EXIT
start_private_containerd
mkdir -p "$work/rootfs/bin" "$work/rootfs/proc" "$work/rootfs/sys" "$work/rootfs/dev" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/busybox"
for applet in sh sleep cat; do ln -s busybox "$work/rootfs/bin/$applet"; done

config() { # root profile
    local f="$work/$1-$2.toml" root
    case "$1" in
        image-blk) root="image = \"$G/root.img\"
disable_image_nvdimm = true" ;;
        image-dax) root="image = \"$G/root.img\"
disable_image_nvdimm = false" ;;
        *) root="initrd = \"$G/initramfs.img\"" ;;
    esac
    printf '[hypervisor.qemu]\nkernel = "%s"\n%s\naccelerator = "tcg"\nmachine_type = "%s"\ndefault_memory = %s\n[agent.kata]\ndial_timeout = 300\n' \
        "$G/vmlinux" "$root" "$2" "$MEM" >"$f"
    echo "$f"
}
kb() { awk -v k="$2:" '$1 == k { print $2 }' "$1"; }
# PSS in MiB of the mappings whose name matches $2 (guest RAM is the memfd "mem", the pmem root is root.img).
pss_of() { awk -v re="$2" '/^[0-9a-f]+-[0-9a-f]+ / { m = ($6 ~ re) } m && $1 == "Pss:" { s += $2 } END { print int(s / 1024) }' "/proc/$1/smaps"; }
report() { # id label seconds
    local id=$1 qpid rss pss used cached ready
    qpid=$(awk '{ print $1 }' "/run/nemu/sandboxes/$id/qemu.pid")
    rss=$(kb "/proc/$qpid/smaps_rollup" Rss); pss=$(kb "/proc/$qpid/smaps_rollup" Pss)
    ctr_ task exec --exec-id "m$RANDOM" "$id" /bin/cat /proc/meminfo >"$work/meminfo"
    used=$(awk '/^MemTotal:/ { t = $2 } /^MemAvailable:/ { a = $2 } END { print int((t - a) / 1024) }' "$work/meminfo")
    cached=$(( $(kb "$work/meminfo" Cached) / 1024 ))
    ready=$(grep -o "sandbox $id ready: agent answered [0-9]* ms" "$work/containerd.log" | grep -o '[0-9]* ms' | tail -1)
    printf '%-30s start %5.1f s  agent answered %8s after QEMU start  QEMU RSS %4d PSS %4d (guest RAM %3d, root.img %3d) MiB  guest used %3d, cached %3d MiB\n' \
        "$2" "$3" "$ready" $((rss / 1024)) $((pss / 1024)) "$(pss_of "$qpid" 'memfd:mem')" "$(pss_of "$qpid" 'root[.]img')" "$used" "$cached"
}
start() { # id config; sets secs
    local t0 t1
    ids+=("$1")
    t0=$(date +%s.%N)
    ctr_ run -d --runtime io.containerd.nemu.v2 --runtime-config-path "$2" --rootfs "$work/rootfs" "$1" /bin/sleep 100000 >/dev/null
    t1=$(date +%s.%N)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
}

echo "host: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), TCG, $MEM MiB guests; root.img $(( $(stat -c %s "$G/root.img") >> 20 )) MiB, initramfs.img $(( $(stat -c %s "$G/initramfs.img") >> 20 )) MiB (lz4)"
echo "== one VM at a time"
for profile in virt virt-hotplug; do
    roots="initrd image-blk"
    [ "$profile" = virt ] || roots="$roots image-dax"
    for root in $roots; do
        id="br-$root-$profile-$$"
        start "$id" "$(config $root $profile)"
        sleep 5
        report "$id" "$root/$profile" "$secs"
        remove "$id"; ids=()
    done
done
echo "== $N VMs at once"
for rp in image-blk:virt image-blk:virt-hotplug image-dax:virt-hotplug; do
    root=${rp%%:*} profile=${rp##*:}
    batch=()
    for i in $(seq "$N"); do
        id="br-$root-$profile-n$i-$$"
        start "$id" "$(config $root $profile)"
        batch+=("$id:$secs")
    done
    sleep 5
    for b in "${batch[@]}"; do report "${b%%:*}" "$root/$profile" "${b##*:}"; done
    remove "${ids[@]}"; ids=()
done
