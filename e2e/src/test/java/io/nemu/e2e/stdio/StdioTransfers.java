package io.nemu.e2e.stdio;

import io.nemu.e2e.support.Containerd;
import io.nemu.e2e.support.Rootfs;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Large transfers through a container's stdio, the same for every runtime: a known stream of {@link #BLOCKS}
 * copies of a random block of {@link #BLOCK} bytes (an odd size, so that no copy lines up with a read size),
 * written by the container to its stdout or by the host into an exec's stdin, with the host's SHA-256 and
 * timing of what arrived. The container first copies the block into its {@code /dev/shm}, so that the stream
 * costs the guest a pipe and a memory copy, not the shared file system.
 */
public final class StdioTransfers {
    public static final int BLOCK = 1_000_003;
    public static final int BLOCKS = 100;
    public static final long BYTES = (long) BLOCK * BLOCKS;
    /** The applets the container needs besides {@link Rootfs#APPLETS}. */
    static final String[] APPLETS = {"sha256sum", "cp", "seq", "head"};
    /** Writes the stream to stdout (after {@link #PREPARE}). */
    public static final String GENERATE = "i=0; while [ $i -lt " + BLOCKS + " ]; do cat /dev/shm/blk; i=$((i+1)); done";
    /** Puts the block where {@link #GENERATE} reads it. */
    public static final String PREPARE = "cp /blk /dev/shm/blk";

    private final byte[] block;
    private final String sha256;

    public StdioTransfers() {
        block = new byte[BLOCK];
        new Random(17).nextBytes(block);
        MessageDigest d = newDigest();
        for (int i = 0; i < BLOCKS; i++) {
            d.update(block);
        }
        sha256 = HexFormat.of().formatHex(d.digest());
    }

    /** The stream's SHA-256, hex. */
    public String sha256() {
        return sha256;
    }

    /** A busybox root with the block at {@code /blk}. */
    public Path rootfs(Path dir) throws IOException {
        Path root = Rootfs.busybox(dir, APPLETS);
        Files.write(root.resolve("blk"), block);
        return root;
    }

    /** What arrived: its size and SHA-256, the time from the first byte to the last, and the exit status. */
    public record Transfer(long bytes, String sha256, long firstToLastNanos, long totalNanos, int exitCode,
            String stderr) {
        /** MB/s (10^6 bytes) from the first byte to the last. */
        public double mbPerSecond() {
            return bytes / 1e6 / (firstToLastNanos / 1e9);
        }

        @Override
        public String toString() {
            return String.format("%d bytes in %.1f s (%.1f MB/s; %.1f s in all), sha256 %s, exit %d%s", bytes,
                    firstToLastNanos / 1e9, mbPerSecond(), totalNanos / 1e9, sha256, exitCode,
                    stderr.isBlank() ? "" : ", stderr: " + stderr.strip());
        }
    }

    /** A running ctr whose stdout is being digested. */
    public static final class Running {
        private final Process process;
        private final long t0;
        private final CompletableFuture<Digested> digest;
        /** The stdout's first bytes, for a short answer (sha256sum's). */
        private final java.io.ByteArrayOutputStream head = new java.io.ByteArrayOutputStream();
        private final CompletableFuture<String> stderr;

        Running(Process process, long t0, long expected) {
            this.process = process;
            this.t0 = t0;
            // Threads of their own: the common pool of a 2-core host runs one blocking read at a time.
            this.stderr = CompletableFuture.supplyAsync(() -> readAll(process.getErrorStream()), OWN_THREAD);
            this.digest = CompletableFuture.supplyAsync(() -> digestStream(process.getInputStream(), head, expected),
                    OWN_THREAD);
        }

        /** The process's stdin: the ctr's, so the container's or the exec's. */
        public OutputStream stdin() {
            return process.getOutputStream();
        }

        /** Waits until {@code expected} bytes (or the end) arrived, without waiting for the process. */
        public Transfer received(Duration max) throws Exception {
            Digested r = digest.get(max.toMillis(), TimeUnit.MILLISECONDS);
            return new Transfer(r.bytes(), r.sha256(), r.last() - r.first(), r.last() - t0, -1, "");
        }

        /** Waits for the process to exit after its stream ended. */
        public Transfer exited(Duration max) throws Exception {
            Transfer t = received(max);
            if (!process.waitFor(max.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                throw new IllegalStateException("ctr did not exit within " + max.toSeconds() + " s after its stream");
            }
            return new Transfer(t.bytes(), t.sha256(), t.firstToLastNanos(), t.totalNanos(), process.exitValue(),
                    stderr.get(10, TimeUnit.SECONDS));
        }

        public void kill() {
            process.destroyForcibly();
        }
    }

    /** Starts {@code ctr args...} and digests its stdout; stops reading after {@code expected} bytes if not -1. */
    public static Running start(Containerd containerd, List<String> args, long expected) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("ctr", "--address", containerd.grpcAddress()));
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("PATH", containerd.searchPath());
        long t0 = System.nanoTime();
        return new Running(pb.start(), t0, expected);
    }

    /** {@code ctr task exec} of {@code sh -c GENERATE}: its stdout digested until it exits. */
    public Transfer execStdout(Containerd containerd, String id, String execId, Duration max) throws Exception {
        return start(containerd, List.of("task", "exec", "--exec-id", execId, id, "/bin/sh", "-c", GENERATE), -1)
                .exited(max);
    }

    /**
     * {@code ctr task exec ... sha256sum}: the stream written into its stdin, then closed; the transfer's digest is
     * what sha256sum printed, its time from the first byte written to sha256sum's answer.
     */
    public Transfer execStdin(Containerd containerd, String id, String execId, Duration max) throws Exception {
        Running r = start(containerd, List.of("task", "exec", "--exec-id", execId, id, "/bin/sha256sum"), -1);
        long first = System.nanoTime();
        try (OutputStream in = r.stdin()) {
            for (int i = 0; i < BLOCKS; i++) {
                in.write(block);
            }
        } catch (IOException e) {
            r.kill();
            throw new UncheckedIOException("writing the exec's stdin", e);
        }
        Transfer done = r.exited(max);
        long last = System.nanoTime();
        String printed = new String(r.head.toByteArray(), StandardCharsets.UTF_8).strip();
        return new Transfer(BYTES, printed.replaceFirst("\\s+-$", ""), last - first, last - r.t0, done.exitCode(),
                done.stderr());
    }

    private static MessageDigest newDigest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static final java.util.concurrent.Executor OWN_THREAD = r -> {
        Thread t = new Thread(r, "stdio-transfer");
        t.setDaemon(true);
        t.start();
    };

    /** What a stream held: its size, SHA-256 and when its first and last bytes came (nanoTime). */
    private record Digested(long bytes, String sha256, long first, long last) {
    }

    /** Digests {@code in} until its end or {@code expected} bytes. */
    private static Digested digestStream(InputStream in, java.io.ByteArrayOutputStream head, long expected) {
        MessageDigest md = newDigest();
        byte[] buf = new byte[1 << 16];
        long n = 0;
        long first = 0;
        long last = System.nanoTime();
        try {
            int r;
            while ((expected < 0 || n < expected)
                    && (r = in.read(buf, 0, expected < 0 ? buf.length : (int) Math.min(buf.length, expected - n))) > 0) {
                if (n == 0) {
                    first = System.nanoTime();
                }
                md.update(buf, 0, r);
                if (head.size() < 256) {
                    head.write(buf, 0, Math.min(r, 256 - head.size()));
                }
                n += r;
                last = System.nanoTime();
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new Digested(n, HexFormat.of().formatHex(md.digest()), first == 0 ? last : first, last);
    }

    private static String readAll(InputStream in) {
        try {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return e.toString();
        }
    }
}
