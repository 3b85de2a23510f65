#!/bin/sh
# Makes two dynamic AppCDS archives with the class path the launcher uses:
#   lib/nemu.jsa         classes of the short-lived commands (start, delete), trained with delete;
#   lib/nemu-daemon.jsa  classes of the shim daemon up to listening, trained by a real start whose
#                        daemon is ended with SIGTERM (the JVM writes the archive as it exits).
# A failure only costs start-up time: warn and go on.
dist=$1
flags="-XX:+UseSerialGC -Xms4m -Xmx48m -Xss256k -XX:TieredStopAtLevel=1 -XX:CICompilerCount=1 -XX:-UsePerfData -Xlog:cds=off -Xlog:cds+dynamic=off"
rm -f "$dist/lib/nemu.jsa" "$dist/lib/nemu-daemon.jsa"
cp=$(ls "$dist"/lib/*.jar | LC_ALL=C sort | tr '\n' ':')
cp=${cp%:}
tmp=$(mktemp -d)
mkdir -p "$tmp/bundle"
echo '{"ociVersion":"1.0.2","annotations":{}}' > "$tmp/bundle/config.json"
id=nemu-cds-training-$$
# shim JVM_OPTION COMMAND
shim() {
  # shellcheck disable=SC2086
  NEMU_HOME=$dist java $flags $1 -cp "$cp" io.nemu.shim.cli.ShimMain -namespace cds \
    -address "$tmp/containerd.sock" -id "$id" -bundle "$tmp/bundle" "$2"
}
warn() { echo "warning: $*; the shim starts without it" >&2; }

if shim -XX:ArchiveClassesAtExit="$dist/lib/nemu.jsa" delete >/dev/null 2>&1 && [ -s "$dist/lib/nemu.jsa" ]; then
  echo "AppCDS archive: $dist/lib/nemu.jsa ($(du -k "$dist/lib/nemu.jsa" | cut -f1) KiB)"
else
  warn "no AppCDS archive for the commands"; rm -f "$dist/lib/nemu.jsa"
fi

if [ "$(id -u)" = 0 ]; then
  daemon_opts="$flags -XX:ArchiveClassesAtExit=$dist/lib/nemu-daemon.jsa"
  if NEMU_JAVA_OPTS=$daemon_opts shim "" start </dev/null >/dev/null 2>"$tmp/start.err"; then
    pid=$(cat "/run/nemu/sandboxes/$id/shim.pid" 2>/dev/null)
    if [ -n "$pid" ]; then
      kill -TERM "$pid"
      n=0; while kill -0 "$pid" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
    fi
  else
    warn "training start failed: $(cat "$tmp/start.err")"
  fi
  shim "" delete >/dev/null 2>&1  # removes the socket and state, kills a daemon that did not exit
  if [ -s "$dist/lib/nemu-daemon.jsa" ]; then
    echo "AppCDS archive: $dist/lib/nemu-daemon.jsa ($(du -k "$dist/lib/nemu-daemon.jsa" | cut -f1) KiB)"
  else
    warn "no AppCDS archive for the daemon"; rm -f "$dist/lib/nemu-daemon.jsa"
  fi
else
  warn "not root: no daemon archive (training a daemon needs /run/containerd/s)"
fi
rm -rf "$tmp"
