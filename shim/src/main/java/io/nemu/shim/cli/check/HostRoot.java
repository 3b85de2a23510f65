package io.nemu.shim.cli.check;

import io.nemu.vmm.process.ProcessTools;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The host as the checks read it: {@code /proc}, {@code /sys}, {@code /dev} below {@code root} ({@code /}, or a
 * folder tree in tests), and the external commands they ask for versions.
 */
public record HostRoot(Path root) {

    public static HostRoot real() {
        return new HostRoot(Path.of("/"));
    }

    /** An absolute host path below the root. */
    public Path path(String absolute) {
        return root.resolve(absolute.substring(1));
    }

    public boolean exists(String absolute) {
        return Files.exists(path(absolute));
    }

    /** The file's text, stripped; empty when it cannot be read. */
    public Optional<String> read(String absolute) {
        try {
            return Optional.of(Files.readString(path(absolute), StandardCharsets.UTF_8).strip());
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** What a command printed (stdout and stderr), if it ran and ended with status 0 within 10 s. */
    public static Optional<String> output(List<String> command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
            CompletableFuture<byte[]> out = CompletableFuture.supplyAsync(() -> {
                try {
                    return p.getInputStream().readAllBytes();
                } catch (IOException e) {
                    return new byte[0];
                }
            });
            Integer rc = ProcessTools.waitFor(p, Duration.ofSeconds(10));
            if (rc == null) {
                ProcessTools.kill(p);
                return Optional.empty();
            }
            String text = new String(out.get(5, TimeUnit.SECONDS), StandardCharsets.UTF_8);
            return rc == 0 ? Optional.of(text.strip()) : Optional.empty();
        } catch (IOException | ExecutionException | TimeoutException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }

    /** The first line of {@code output}, or "unknown". */
    public static String firstLine(List<String> command) {
        return output(command).flatMap(o -> o.lines().findFirst()).orElse("unknown");
    }
}
