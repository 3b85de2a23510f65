#!/bin/sh
# Makes lib/nemu.jsa, a dynamic AppCDS archive of the classes the shim loads on its start and delete
# paths, with the same class path the launcher uses. Failure only costs start-up time: warn, go on.
dist=$1
rm -f "$dist/lib/nemu.jsa"
cp=$(ls "$dist"/lib/*.jar | LC_ALL=C sort | tr '\n' ':')
tmp=$(mktemp -d)
mkdir -p "$tmp/bundle"
echo '{"ociVersion":"1.0.2","annotations":{}}' > "$tmp/bundle/config.json"
# delete walks config.json, state cleanup and protobuf output; -v the flag parser.
if java -XX:ArchiveClassesAtExit="$dist/lib/nemu.jsa" -XX:+UseSerialGC -Xms4m -Xmx48m -Xss256k -XX:TieredStopAtLevel=1 \
    -XX:CICompilerCount=1 -XX:-UsePerfData -Xlog:cds=off -Xlog:cds+dynamic=off -cp "${cp%:}" \
    -Dnemu.cds.training=1 io.nemu.shim.cli.ShimMain -namespace cds -address /nonexistent/cds.sock \
    -id nemu-cds-training -bundle "$tmp/bundle" delete >/dev/null 2>&1 && [ -s "$dist/lib/nemu.jsa" ]; then
  echo "AppCDS archive: $dist/lib/nemu.jsa ($(du -k "$dist/lib/nemu.jsa" | cut -f1) KiB)"
else
  echo "warning: no AppCDS archive made; the shim starts without it" >&2
  rm -f "$dist/lib/nemu.jsa"
fi
rm -rf "$tmp"
