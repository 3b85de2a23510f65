package io.nemu.firmware;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;

/**
 * The agent's AppCDS archive (a dynamic archive on top of the runtime's default CDS), made by a training run of
 * the agent ({@code --warm-up}) with the image's own runtime. The archive names the jar as {@code agent.jar}
 * relative to the working directory and checks its size and mtime, so the training runs on a copy with the
 * mtime the initramfs gives every file (0), and /init starts the agent in its folder. Archives are not written
 * byte for byte the same twice: like the runtime, one is made per input and kept in the cache.
 */
final class AppCds {
    /** Flags that must match between training and guest (GC, heap mode); /init passes the same. */
    static final List<String> JVM_FLAGS = List.of("-XX:+UseSerialGC", "-Xms4m", "-Xmx32m", "-Xss256k",
            "-XX:TieredStopAtLevel=1", "-XX:CICompilerCount=1");
    static final String FILE_NAME = "agent.jsa";
    private static final String COMPLETE = ".nemu-complete";

    private static final java.time.Duration TRAINING_TIMEOUT = java.time.Duration.ofSeconds(120);

    private AppCds() {
    }

    /** The cached archive for this jar and runtime, made first if needed. */
    static Path ensure(Path cacheDir, Path runtime, Path jar, String jarSha256, String runtimeSha256)
            throws IOException {
        String key = jarSha256 + " " + runtimeSha256 + " " + String.join(" ", JVM_FLAGS);
        Path dir = cacheDir.resolve("appcds").resolve(Sha256.of(key.getBytes(StandardCharsets.UTF_8)).substring(0, 16));
        if (Files.isRegularFile(dir.resolve(COMPLETE)) && Files.isRegularFile(dir.resolve(FILE_NAME))) {
            return dir.resolve(FILE_NAME);
        }
        Files.createDirectories(dir.getParent());
        Path tmp = Files.createTempDirectory(dir.getParent(), "tmp-");
        try {
            Path copy = tmp.resolve("agent.jar");
            Files.copy(jar, copy);
            Files.setLastModifiedTime(copy, FileTime.fromMillis(0));
            Path state = Files.createDirectories(tmp.resolve("state"));
            List<String> cmd = new ArrayList<>(List.of(runtime.resolve("bin/java").toString()));
            cmd.addAll(JVM_FLAGS);
            cmd.addAll(List.of("-XX:ArchiveClassesAtExit=" + FILE_NAME, "-Djava.io.tmpdir=" + tmp,
                    "-jar", "agent.jar", "--warm-up", "--state-dir", state.toString()));
            // The agent jar must end a --warm-up run by itself; one that does not must not hang the build.
            Proc.Result r = Proc.run(cmd, tmp, "openjdk-17-jdk-headless", java.util.Map.of(), TRAINING_TIMEOUT);
            if (r.exitCode() != 0 || !Files.isRegularFile(tmp.resolve(FILE_NAME))) {
                throw new FirmwareException("the agent's AppCDS training run (" + String.join(" ", cmd) + ") failed with "
                        + r.exitCode() + ": " + r.lastErrorLine());
            }
            Path out = tmp.resolve("out");
            Files.createDirectories(out);
            Files.move(tmp.resolve(FILE_NAME), out.resolve(FILE_NAME));
            Files.writeString(out.resolve(COMPLETE), key + "\n");
            ImageBuilder.deleteTree(dir);
            Files.move(out, dir, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            ImageBuilder.deleteTree(tmp);
        }
        return dir.resolve(FILE_NAME);
    }
}
