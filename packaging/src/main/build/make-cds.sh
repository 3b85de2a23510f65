#!/bin/sh
# Usage: make-cds.sh DIST [JAVA]
# Makes two dynamic AppCDS archives with the class path the launcher uses:
#   lib/nemu.jsa         classes of the short-lived commands, trained by a start that stops at a bad config;
#   lib/nemu-daemon.jsa  classes of the shim daemon, trained by io.nemu.shim.daemon.CdsTraining.
# A failure only costs start-up time: warn and go on.
dist=$1
# The JVM the archives are for (they only map under the JVM that made them): the release's jre/ when there is one.
java=${2:-java}
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
  NEMU_HOME=$dist "$java" $flags $1 -cp "$cp" io.nemu.shim.cli.ShimMain -namespace cds \
    -address "$tmp/containerd.sock" -id "$id" -bundle "$tmp/bundle" "$2"
}
warn() { echo "warning: $*; the shim starts without it" >&2; }

# The commands: a start that reads the bundle and stops at a bad config (nothing is spawned).
printf '[hypervisor.qemu]\nkernel = "k"\ninitrd = "i"\ndefault_vcpus = 0\n' > "$tmp/bad.toml"
NEMU_CONF_FILE="$tmp/bad.toml" shim -XX:ArchiveClassesAtExit="$dist/lib/nemu.jsa" start </dev/null >/dev/null 2>&1
if [ -s "$dist/lib/nemu.jsa" ]; then
  echo "AppCDS archive: $dist/lib/nemu.jsa ($(du -k "$dist/lib/nemu.jsa" | cut -f1) KiB)"
else
  warn "no AppCDS archive for the commands"; rm -f "$dist/lib/nemu.jsa"
fi

# The daemon: CdsTraining runs it in-process through Connect, a Create that fails early, State, Shutdown.
# shellcheck disable=SC2086
if NEMU_RUN_ROOT="$tmp/run" TTRPC_ADDRESS="$tmp/none.sock" "$java" $flags \
    -XX:ArchiveClassesAtExit="$dist/lib/nemu-daemon.jsa" -cp "$cp" io.nemu.shim.daemon.CdsTraining \
    >"$tmp/training.log" 2>&1 && [ -s "$dist/lib/nemu-daemon.jsa" ]; then
  echo "AppCDS archive: $dist/lib/nemu-daemon.jsa ($(du -k "$dist/lib/nemu-daemon.jsa" | cut -f1) KiB)"
else
  warn "no AppCDS archive for the daemon: $(tail -3 "$tmp/training.log")"; rm -f "$dist/lib/nemu-daemon.jsa"
fi
rm -rf "$tmp"
