package io.nemu.firmware;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The trimmed Java runtime the guest agent runs on, made with the JDK's own {@code jlink}, with a
 * default CDS archive. JDK 17 does not write CDS archives byte for byte the same twice, so a runtime
 * is made once per JDK version and kept in the cache: images built from it are then reproducible.
 */
public final class JlinkRuntime {

    public static final List<String> MODULES = List.of("java.base", "java.logging", "jdk.unsupported");
    private static final List<String> OPTIONS = List.of("--strip-debug", "--no-header-files", "--no-man-pages",
            "--generate-cds-archive");
    private static final String COMPLETE = ".nemu-complete";

    private JlinkRuntime() {
    }

    /**
     * The release build's entry ({@code packaging/src/main/build/make-release.sh}): prints the folder of the cached
     * runtime for this JDK, made first if needed, in the image builder's cache ({@code ImageBuilder.defaultCacheDir()}),
     * so that a release ships the runtime an image built here would have.
     */
    public static void main(String[] args) throws IOException {
        System.out.println(ensure(ImageBuilder.defaultCacheDir()));
    }

    /** The cached runtime for the running JDK, made first if needed. */
    public static Path ensure(Path cacheDir) throws IOException {
        Path javaHome = Path.of(System.getProperty("java.home"));
        Path jlink = javaHome.resolve("bin/jlink");
        String key = Runtime.version().toString() + " " + String.join(",", MODULES) + " " + String.join(" ", OPTIONS);
        Path dir = cacheDir.resolve("jlink").resolve("jdk-" + Runtime.version().feature() + "-"
                + Sha256.of(key.getBytes(StandardCharsets.UTF_8)).substring(0, 16));
        if (Files.isRegularFile(dir.resolve(COMPLETE))) {
            return dir;
        }
        if (!Files.isExecutable(jlink)) {
            throw new FirmwareException("jlink not found at " + jlink + ": the agent runtime needs a full JDK"
                    + " (apt-get install openjdk-17-jdk-headless), or pass --agent-runtime");
        }
        Files.createDirectories(dir.getParent());
        DiskSpace.require(dir.getParent(), 200L << 20, "making the agent's Java runtime");
        Path tmp = Files.createTempDirectory(dir.getParent(), "tmp-");
        Path out = tmp.resolve("rt");
        List<String> cmd = new ArrayList<>(List.of(jlink.toString(), "--add-modules", String.join(",", MODULES)));
        cmd.addAll(OPTIONS);
        cmd.addAll(List.of("--output", out.toString()));
        try {
            Proc.Result r = Proc.run(cmd, null, "openjdk-17-jdk-headless");
            if (r.exitCode() != 0) {
                throw new FirmwareException("jlink failed: " + r.lastErrorLine());
            }
            // Only used with heaps of 32 GB and more; 11 MB the guest never needs.
            Files.deleteIfExists(out.resolve("lib/server/classes_nocoops.jsa"));
            Files.writeString(out.resolve(COMPLETE), key + "\n");
            ImageBuilder.deleteTree(dir);
            Files.move(out, dir, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            ImageBuilder.deleteTree(tmp);
        }
        return dir;
    }

    static boolean isMarker(Path p) {
        return p.getFileName() != null && p.getFileName().toString().equals(COMPLETE);
    }
}
