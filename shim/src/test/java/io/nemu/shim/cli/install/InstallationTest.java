package io.nemu.shim.cli.install;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** install then uninstall on a fake distribution, a temp bin folder and a temp containerd config. */
class InstallationTest {
    @TempDir
    Path dir;
    private Path dist;
    private Path prefix;
    private Path bin;
    private Path config;
    private final List<String> said = new ArrayList<>();

    @BeforeEach
    void distribution() throws Exception {
        dist = dir.resolve("dist");
        Files.createDirectories(dist.resolve("bin"));
        Files.createDirectories(dist.resolve("lib"));
        Files.createDirectories(dist.resolve("share/containerd"));
        Files.createDirectories(dist.resolve("share/defaults"));
        for (String b : List.of("containerd-shim-nemu-v2", "nemu")) {
            Files.writeString(dist.resolve("bin").resolve(b), "#!/bin/sh\necho " + b + "\n");
            Files.setPosixFilePermissions(dist.resolve("bin").resolve(b), PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        Files.writeString(dist.resolve("lib/shim-1.jar"), "jar");
        Files.writeString(dist.resolve("lib/nemu.jsa"), "made for the build tree");
        Files.writeString(dist.resolve(Installation.MAKE_CDS), "#!/bin/sh\necho \"for $1 with $2\" > \"$1/lib/nemu.jsa\"\n");
        Files.setPosixFilePermissions(dist.resolve(Installation.MAKE_CDS), PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.writeString(dist.resolve("share/defaults/configuration.toml"), "[hypervisor.qemu]\n");
        Files.writeString(dist.resolve(Installation.SNIPPET), """
                [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nemu]
                  runtime_type = "io.containerd.nemu.v2"
                  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nemu.options]
                    ConfigPath = "/opt/nemu/share/defaults/configuration.toml"
                """);
        prefix = dir.resolve("opt/nemu");
        bin = dir.resolve("usr/local/bin");
        config = dir.resolve("etc/containerd/config.toml");
    }

    private Installation.Target target() {
        return new Installation.Target(dist, prefix, bin, config);
    }

    @Test
    void installThenUninstallLeavesTheConfigByteIdentical() throws Exception {
        Files.createDirectories(config.getParent());
        byte[] original = "version = 2\n\n[plugins]\n  [plugins.\"io.containerd.grpc.v1.cri\"]\n    x = 1".getBytes();
        Files.write(config, original);
        Files.setPosixFilePermissions(config, PosixFilePermissions.fromString("rw-------"));
        Installation inst = new Installation(said::add);
        inst.install(target());
        String text = Files.readString(config);
        assertTrue(text.contains("ConfigPath = \"" + prefix.resolve("share/defaults/configuration.toml") + "\""), text);
        assertArrayEquals(original, Files.readAllBytes(config.resolveSibling("config.toml.nemu-backup")));
        assertEquals(prefix.resolve("bin/containerd-shim-nemu-v2"), Files.readSymbolicLink(bin.resolve("containerd-shim-nemu-v2")));
        assertTrue(Files.isExecutable(prefix.resolve("bin/nemu")));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(config)));
        assertTrue(Files.readString(prefix.resolve("lib/nemu.jsa")).startsWith("for " + prefix.toRealPath() + " with "),
                "the archives are made for the installed class path");

        said.clear();
        inst.install(target());
        assertTrue(said.stream().anyMatch(s -> s.contains("0 files copied")), said.toString());
        assertTrue(said.stream().noneMatch(s -> s.startsWith("AppCDS")), "made once: " + said);
        assertTrue(said.stream().anyMatch(s -> s.contains("already runs handler nemu")), said.toString());

        Files.writeString(prefix.resolve("lib/old-0.jar"), "stale");
        inst.install(target());
        assertFalse(Files.exists(prefix.resolve("lib/old-0.jar")), "a jar the distribution no longer has goes");

        inst.uninstall(prefix);
        assertArrayEquals(original, Files.readAllBytes(config));
        assertFalse(Files.exists(config.resolveSibling("config.toml.nemu-backup")));
        assertFalse(Files.exists(bin.resolve("containerd-shim-nemu-v2"), java.nio.file.LinkOption.NOFOLLOW_LINKS));
        assertFalse(Files.exists(prefix));
        assertTrue(Files.exists(dist.resolve("bin/nemu")), "the source stays");
    }

    @Test
    void aConfigTheInstallCreatedIsRemovedAgain() throws Exception {
        new Installation(said::add).install(target());
        assertTrue(Files.readString(config).startsWith("\n# >>> nemu"));
        new Installation(said::add).uninstall(prefix);
        assertFalse(Files.exists(config));
    }

    @Test
    void inPlaceKeepsTheTreeAndAForeignFileIsNotOverwritten() throws Exception {
        new Installation(said::add).install(new Installation.Target(dist, dist, bin, config));
        assertTrue(said.get(0).contains("used in place"), said.toString());
        new Installation(said::add).uninstall(dist);
        assertTrue(Files.exists(dist.resolve("bin/containerd-shim-nemu-v2")));
        assertFalse(Files.exists(dist.resolve(InstallRecord.FILE_NAME)));

        Files.createDirectories(bin);
        Files.writeString(bin.resolve("nemu"), "someone else's");
        InstallException e = assertThrows(InstallException.class, () -> new Installation(said::add).install(target()));
        assertTrue(e.getMessage().contains(bin.resolve("nemu") + " exists and is not a link"), e.getMessage());
        InstallException none = assertThrows(InstallException.class, () -> new Installation(said::add).uninstall(dir.resolve("x")));
        assertTrue(none.getMessage().contains("nothing was installed at"), none.getMessage());
    }
}
