package io.nemu.shim.sandbox;

import io.nemu.shim.mount.Mounts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The folder virtiofsd exports. virtiofsd moves into its own mount namespace (a slave copy of ours) once
 * QEMU connects, so container rootfs mounted under the folder later only reach it if the folder is a
 * shared mount: it is bind-mounted onto itself and marked shared before virtiofsd starts.
 */
public final class SharedDir {
    private SharedDir() {
    }

    public static void prepare(Path dir) throws IOException {
        Files.createDirectories(dir);
        Mounts.mount(List.of("--bind", dir.toString(), dir.toString()));
        Mounts.mount(List.of("--make-shared", dir.toString()));
    }
}
