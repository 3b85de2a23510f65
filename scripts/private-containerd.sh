# Sourced by scripts that run a containerd of their own: its config, root, state and socket under $work (a
# temp dir the caller made), started with $DIST/bin first on its PATH and stopped by its pid, whatever happens.
# The caller sets `work` and `DIST`, then calls start_private_containerd; stop_private_containerd belongs in
# its EXIT trap. `ctr_` talks to it.
cpid=""
ctr_() { ctr --address "$work/containerd.sock" "$@"; }

start_private_containerd() {
    cat >"$work/config.toml" <<TOML
version = 2
root = "$work/root"
state = "$work/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$work/containerd.sock"
[ttrpc]
  address = "$work/containerd.sock.ttrpc"
TOML
    PATH="$DIST/bin:$PATH" containerd --config "$work/config.toml" >"$work/containerd.log" 2>&1 &
    cpid=$!
    for _ in $(seq 200); do [ -S "$work/containerd.sock" ] && break; sleep 0.1; done
    [ -S "$work/containerd.sock" ] || { tail -20 "$work/containerd.log" >&2; echo "containerd did not start" >&2; return 1; }
}

stop_private_containerd() {
    if [ -n "$cpid" ] && kill -0 "$cpid" 2>/dev/null; then
        kill "$cpid"
        for _ in $(seq 50); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$cpid" 2>/dev/null || true
    fi
}
