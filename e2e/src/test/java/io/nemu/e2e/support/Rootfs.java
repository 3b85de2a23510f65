package io.nemu.e2e.support;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/** Container root filesystems for the tests: the host's static busybox and links for the applets a test runs. */
public final class Rootfs {
    /** What most tests run: a shell, echo, cat, uname, sleep, true, ls and stty. */
    public static final List<String> APPLETS = List.of("sh", "echo", "cat", "uname", "sleep", "true", "ls", "stty");
    private static final Path BUSYBOX = Path.of("/bin/busybox");

    private Rootfs() {
    }

    /** {@code rootfs} with proc, sys, dev, tmp, etc, busybox, and links for {@link #APPLETS} and {@code more}. */
    public static Path busybox(Path rootfs, String... more) throws IOException {
        Set<String> applets = new LinkedHashSet<>(APPLETS);
        applets.addAll(List.of(more));
        return busybox(rootfs, applets);
    }

    /** {@code rootfs} with proc, sys, dev, tmp, etc, busybox (executable by all) and links for {@code applets}. */
    public static Path busybox(Path rootfs, Iterable<String> applets) throws IOException {
        if (!Files.isExecutable(BUSYBOX)) {
            throw new IllegalStateException(BUSYBOX + " missing: run scripts/install-deps.sh");
        }
        for (String d : List.of("bin", "proc", "sys", "dev", "tmp", "etc")) {
            Files.createDirectories(rootfs.resolve(d));
        }
        Path copy = rootfs.resolve("bin/busybox");
        Files.copy(BUSYBOX, copy);
        copy.toFile().setExecutable(true, false);
        for (String applet : applets) {
            if (!applet.equals("busybox")) {
                Files.createSymbolicLink(rootfs.resolve("bin").resolve(applet), Path.of("busybox"));
            }
        }
        return rootfs;
    }

    /** Every applet the host's busybox has ({@code busybox --list}). */
    public static List<String> allApplets() throws IOException {
        Process list = new ProcessBuilder(BUSYBOX.toString(), "--list").redirectErrorStream(true).start();
        String out = new String(list.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!list.waitFor(30, TimeUnit.SECONDS) || list.exitValue() != 0) {
                throw new IOException("busybox --list failed: " + out);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        return out.lines().map(String::strip).filter(a -> a.matches("[a-z0-9_.\\[\\-]+")).toList();
    }
}
