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
        ProcessBuilder pb = new ProcessBuilder(cmd);
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
            String out = read(p.getInputStream());
            int rc = p.waitFor();
            return new Result(rc, out, err.join());
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
