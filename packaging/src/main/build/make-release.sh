#!/bin/sh
# Usage: make-release.sh DIST VERSION TARGET JDK
# Makes TARGET/nemu-VERSION.tar.gz from the distribution DIST for hosts without a JDK: the distribution (no guest
# image: `bin/nemu image build` makes it on the host, from Debian's kernel), jre/ (a jlink runtime for the shim and
# the CLI; the launcher prefers it), the guest agent's runtime in share/guest-agent/runtime (the one
# `nemu image build` would make with jlink, which such a host lacks). No AppCDS archives: they hold the class
# path they were made with, so `nemu install` makes them where it installs (lib/make-cds.sh).
set -e
dist=$1 version=$2 target=$3 jdk=$4
name=nemu-$version
stage=$target/release/$name
rm -rf "$target/release" "$target/$name.tar.gz"
mkdir -p "$stage"
cp -a "$dist/." "$stage/"
rm -rf "$stage/share/guest" "$stage/.nemu-install.json" "$stage/lib/"*.jsa
cp=$(ls "$dist"/lib/*.jar | LC_ALL=C sort | tr '\n' ':')
# The modules the shim's class path needs (jdeps), plus jdk.unsupported (Netty, JNA reflectively) and the
# name service and crypto providers loaded by name at run time.
modules=$("$jdk/bin/jdeps" --ignore-missing-deps --print-module-deps --multi-release 17 -q "$dist"/lib/*.jar)
modules=$(echo "$modules,jdk.unsupported,jdk.crypto.ec,jdk.zipfs" | tr ',' '\n' | LC_ALL=C sort -u | paste -sd, -)
"$jdk/bin/jlink" --add-modules "$modules" --strip-debug --no-header-files --no-man-pages --generate-cds-archive \
    --output "$stage/jre"
rm -f "$stage/jre/lib/server/classes_nocoops.jsa"
rt=$("$jdk/bin/java" -cp "${cp%:}" io.nemu.firmware.JlinkRuntime)
mkdir -p "$stage/share/guest-agent"
cp -a "$rt" "$stage/share/guest-agent/runtime"
tar --sort=name --owner=0 --group=0 --numeric-owner -czf "$target/$name.tar.gz" -C "$target/release" "$name"
echo "release: $target/$name.tar.gz ($(du -k "$target/$name.tar.gz" | cut -f1) KiB; jre modules: $modules)"
