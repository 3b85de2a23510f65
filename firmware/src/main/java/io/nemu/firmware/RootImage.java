package io.nemu.firmware;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.stream.Stream;

/**
 * The read-only root file system image ({@code root.img}, erofs): the whole guest tree with the agent and the
 * kernel's whole module tree, indexed by {@code depmod} so that busybox's {@code /sbin/modprobe} answers the
 * kernel's autoload requests (bridge, dummy, netfilter...). Every VM reads it through the host's page cache.
 * Uncompressed: nothing to unpack under TCG, and erofs can only use DAX on uncompressed files.
 */
final class RootImage {
    static final String EROFS_PACKAGE = "erofs-utils";
    static final String KMOD_PACKAGE = "kmod";
    /** Fixed so that the same tree gives the same bytes. */
    private static final String UUID = "6e656d75-726f-6f74-2d69-6d6167650001";
    /**
     * The image's size is a multiple of this (sparse zeros after erofs's last block, which it ignores): QEMU's
     * virtio-pmem maps it as guest memory at the start of the hotplug area, and a DIMM hot-added after it must
     * start on the guest's 128 MiB memory-block grid ("unaligned hotplug range" otherwise).
     */
    static final long SIZE_ALIGNMENT = 128L << 20;

    private RootImage() {
    }

    /**
     * Writes {@code tree} plus every module of {@code moduleDir} (kernel release {@code rel}) as an erofs image
     * {@code out}, using {@code work} as scratch space.
     */
    static void write(Initramfs tree, Path moduleDir, String rel, Path work, Path out) throws IOException {
        Path root = work.resolve("rootimage");
        tree.writeTree(root);
        Path mods = root.resolve("lib/modules/" + rel);
        Files.createDirectories(mods);
        copyTree(moduleDir.resolve("kernel"), mods.resolve("kernel"));
        for (String f : List.of("modules.order", "modules.builtin", "modules.builtin.modinfo")) {
            if (Files.isRegularFile(moduleDir.resolve(f))) {
                Files.copy(moduleDir.resolve(f), mods.resolve(f), StandardCopyOption.REPLACE_EXISTING);
            }
        }
        // depmod writes modules.dep (replacing the layout's short one), modules.alias and the rest.
        Proc.Result r = Proc.run(List.of(depmod(), "-b", root.toString(), rel), null, KMOD_PACKAGE);
        if (r.exitCode() != 0) {
            throw new FirmwareException("depmod for " + rel + " failed: " + r.lastErrorLine());
        }
        Files.deleteIfExists(out);
        r = Proc.run(List.of("mkfs.erofs", "-T0", "--all-root", "-U", UUID, out.toString(), root.toString()), null,
                EROFS_PACKAGE);
        if (r.exitCode() != 0) {
            throw new FirmwareException("mkfs.erofs " + out + " failed: " + r.lastErrorLine());
        }
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(out,
                java.nio.file.StandardOpenOption.WRITE)) {
            long size = ch.size();
            long padded = (size + SIZE_ALIGNMENT - 1) / SIZE_ALIGNMENT * SIZE_ALIGNMENT;
            if (padded > size) {
                ch.write(java.nio.ByteBuffer.allocate(1), padded - 1);
            }
        }
        ImageBuilder.deleteTree(root);
    }

    /** depmod is in /sbin on Debian, which a non-root PATH may lack. */
    private static String depmod() {
        for (String d : List.of("/usr/sbin/depmod", "/sbin/depmod")) {
            if (Files.isExecutable(Path.of(d))) {
                return d;
            }
        }
        return "depmod";
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.sorted().toList()) {
                Path t = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(t);
                } else {
                    Files.copy(p, t, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }
}
