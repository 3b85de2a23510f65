package io.nemu.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.nemu.proto.kata.Mount;
import io.nemu.proto.kata.Spec;
import io.nemu.vmm.PrivateFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The sandbox's shared folder and what the shim makes in it are owner-only (real bind mounts: root only). */
class SharedFsModesTest {
    @TempDir
    Path tmp;

    @Test
    void sharedFolderAndMountTargetsAreOwnerOnly() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "bind mounts need root");
        SandboxPaths paths = new SandboxPaths(tmp.resolve("run"), "sb1");
        Path volume = Files.createDirectories(tmp.resolve("volume"));
        Files.setPosixFilePermissions(volume, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path hosts = Files.writeString(tmp.resolve("hosts"), "127.0.0.1 localhost\n");
        SharedFs fs = new SharedFs(paths);
        try {
            SharedFs.prepare(paths.shared());
            Spec.Builder spec = Spec.newBuilder()
                    .addMounts(Mount.newBuilder().setType("bind").setSource(volume.toString()).setDestination("/data")
                            .addOptions("rbind"))
                    .addMounts(Mount.newBuilder().setType("bind").setSource(hosts.toString()).setDestination("/etc/hosts")
                            .addOptions("rbind").addOptions("ro"));
            fs.shareHostMounts("c1", spec);
            for (Path dir : java.util.List.of(paths.root().resolve("shared"), paths.sharedBase(), paths.shared(),
                    paths.shared().resolve("c1"), paths.shared().resolve("c1/mounts"))) {
                assertEquals("rwx------", PrivateFiles.mode(dir), dir.toString());
            }
            // The mount targets show what is bound on them: the host's own modes, untouched.
            assertEquals("rwxr-xr-x", PrivateFiles.mode(paths.shared().resolve("c1/mounts/0-volume")));
            assertEquals("rwxr-xr-x", PrivateFiles.mode(volume));
        } finally {
            fs.removeAll();
        }
        assertFalse(Files.exists(paths.sharedBase()));
    }
}
