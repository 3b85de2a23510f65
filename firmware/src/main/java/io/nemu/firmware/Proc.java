package io.nemu.firmware;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/** Runs a host tool to completion and keeps its output. */
final class Proc {

    record Result(int exitCode, String stdout, String stderr) {
        String lastErrorLine() {
            String[] lines = (stderr.isBlank() ? stdout : stderr).strip().split("\n");
            return lines.length == 0 ? "" : lines[lines.length - 1];
        }
    }

    private Proc() {
    }

    /** Runs {@code cmd} in {@code dir}; a missing tool is a FirmwareException that names it and its package. */
    static Result run(List<String> cmd, Path dir, String debianPackage) throws FirmwareException {
        return run(cmd, dir, debianPackage, java.util.Map.of());
    }

    static Result run(List<String> cmd, Path dir, String debianPackage, java.util.Map<String, String> env)
            throws FirmwareException {
        return run(cmd, dir, debianPackage, env, null);
    }

    /** As above, ending the process (by its pid) when it runs past {@code timeout} (null: no limit). */
    static Result run(List<String> cmd, Path dir, String debianPackage, java.util.Map<String, String> env,
            java.time.Duration timeout) throws FirmwareException {
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().putAll(env);
        if (dir != null) {
            pb.directory(dir.toFile());
        }
        pb.environment().put("LC_ALL", "C");
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new FirmwareException(cmd.get(0) + " is not installed or not runnable (apt-get install "
                    + debianPackage + "): " + e.getMessage(), e);
        }
        try {
            p.getOutputStream().close();
            CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()));
            CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> read(p.getInputStream()));
            if (timeout == null) {
                p.waitFor();
            } else if (!p.waitFor(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                p.waitFor();
                throw new FirmwareException(String.join(" ", cmd) + " did not finish within " + timeout.toSeconds()
                        + " s and was killed (pid " + p.pid() + ")");
            }
            return new Result(p.exitValue(), out.join(), err.join());
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new FirmwareException("interrupted while running " + String.join(" ", cmd), e);
        } catch (IOException | UncheckedIOException e) {
            p.destroyForcibly();
            throw new FirmwareException("lost the output of " + String.join(" ", cmd) + ": " + e.getMessage(), e);
        }
    }

    private static String read(InputStream in) {
        try {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
