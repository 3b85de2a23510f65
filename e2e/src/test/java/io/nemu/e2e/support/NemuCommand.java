package io.nemu.e2e.support;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** The distribution's {@code bin/nemu} run as an operator runs it, stdin at its end; its status and output. */
public final class NemuCommand {
    public record Result(List<String> command, int exitCode, String stdout, String stderr) {
        public Result requireOk() {
            if (exitCode != 0) {
                throw new AssertionError(command + " exited with " + exitCode + ": " + stderr + stdout);
            }
            return this;
        }
    }

    private NemuCommand() {
    }

    public static Result run(Distribution dist, Duration timeout, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(dist.bin().resolve("nemu").toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .start();
        CompletableFuture<String> out = read(p.getInputStream());
        CompletableFuture<String> err = read(p.getErrorStream());
        if (!p.waitFor(timeout.toSeconds(), TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
            throw new AssertionError(cmd + " did not end within " + timeout);
        }
        try {
            return new Result(cmd, p.exitValue(), out.get(5, TimeUnit.SECONDS), err.get(5, TimeUnit.SECONDS));
        } catch (Exception e) {
            throw new IOException("output of " + cmd + ": " + e, e);
        }
    }

    private static CompletableFuture<String> read(java.io.InputStream in) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                return e.toString();
            }
        });
    }
}
