package io.nemu.shim.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each pod's lines reach its own log fifo; a fifo nobody reads never stalls the writer. */
class PodLogTest {
    @TempDir
    Path dir;

    @Test
    void aPodsLinesGoToItsFifoAndOthersToTheDaemonsStderr() throws Exception {
        Path bundle = fifoBundle("a");
        ByteArrayOutputStream daemon = new ByteArrayOutputStream();
        PrintStream err = PodLog.routingStderr(new PrintStream(daemon, true));
        try (RandomAccessFile reader = new RandomAccessFile(bundle.resolve("log").toFile(), "rw")) {
            PodLog.attach("pod-a", bundle);
            PodLog.in("pod-a", () -> err.print("line of a\n"));
            err.print("line of no pod\n");
            PodLog.in("pod-b", () -> err.print("line of b, which has no fifo\n"));
            byte[] got = new byte["line of a\n".length()];
            reader.readFully(got);
            assertEquals("line of a\n", new String(got, StandardCharsets.UTF_8));
            assertEquals("line of no pod\nline of b, which has no fifo\n", daemon.toString(StandardCharsets.UTF_8));
        } finally {
            PodLog.detach("pod-a");
        }
    }

    @Test
    void aFifoNobodyReadsDoesNotBlockTheLoggingThread() throws Exception {
        Path bundle = fifoBundle("stalled");
        PrintStream err = PodLog.routingStderr(new PrintStream(new ByteArrayOutputStream(), true));
        // Opened, never read: containerd alive but not reading. A pipe holds 64 KiB; write 8 MiB.
        try (RandomAccessFile stalled = new RandomAccessFile(bundle.resolve("log").toFile(), "rw")) {
            PodLog.attach("pod-s", bundle);
            String line = "x".repeat(1023) + "\n";
            CompletableFuture<Void> writes = CompletableFuture.runAsync(() -> PodLog.in("pod-s", () -> {
                for (int i = 0; i < 8192; i++) {
                    err.print(line);
                }
            }));
            writes.get(30, TimeUnit.SECONDS);
            assertTrue(writes.isDone());
        } finally {
            PodLog.detach("pod-s");
        }
    }

    private Path fifoBundle(String name) throws Exception {
        Path bundle = java.nio.file.Files.createDirectories(dir.resolve(name));
        Process p = new ProcessBuilder("mkfifo", bundle.resolve("log").toString()).start();
        assertEquals(0, p.waitFor());
        return bundle;
    }
}
