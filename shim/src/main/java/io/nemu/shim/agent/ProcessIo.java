package io.nemu.shim.agent;

import com.google.protobuf.ByteString;
import io.grpc.StatusRuntimeException;
import io.nemu.proto.kata.AgentServiceGrpc;
import io.nemu.proto.kata.CloseStdinRequest;
import io.nemu.proto.kata.ReadStreamRequest;
import io.nemu.proto.kata.ReadStreamResponse;
import io.nemu.proto.kata.WriteStreamRequest;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Copies one process's stdio between containerd's fifos and the agent's stream calls: stdin with
 * WriteStdin (CloseStdin at EOF), stdout/stderr with ReadStdout/ReadStderr until the agent reports the
 * stream ended. {@link #drained()} completes when both output copies are done.
 *
 * <p>Each call carries up to {@link #CHUNK}: the guest agent runs interpreted, so its cost is per call, not per
 * byte. One call per stream is in flight (the API has no sequence numbers to order more); the agent's stream
 * buffer fills meanwhile, and a read takes all of it. Backpressure: a fifo containerd does not read blocks the
 * copy, the agent's buffer and pipe fill, the process blocks.
 */
final class ProcessIo {
    private static final Logger log = LoggerFactory.getLogger(ProcessIo.class);
    /** The most one call carries: the agent's stream buffer (1 MiB), well inside ttrpc's 4 MiB frame. */
    static final int CHUNK = 1 << 20;
    /** After CloseIO, a stdin copy idle this long on an empty fifo (another writer keeps it open) is ended. */
    private static final long STDIN_IDLE_NANOS = TimeUnit.SECONDS.toNanos(5);

    private final AgentServiceGrpc.AgentServiceBlockingStub agent;
    private final String containerId;
    private final String execId;
    private final Stdio stdio;
    private final CompletableFuture<Void> stdout = new CompletableFuture<>();
    private final CompletableFuture<Void> stderr = new CompletableFuture<>();
    private final CompletableFuture<Void> stdinCopied = new CompletableFuture<>();
    private volatile boolean stdinClosed;
    private volatile boolean stdinOpened;
    /** Whether the stdin copy waits for the agent (a WriteStdin in flight), not for the fifo. */
    private volatile boolean stdinWriting;
    private volatile long stdinProgress = System.nanoTime();

    ProcessIo(AgentServiceGrpc.AgentServiceBlockingStub agent, String containerId, String execId, Stdio stdio) {
        this.agent = agent;
        this.containerId = containerId;
        this.execId = execId;
        this.stdio = stdio;
    }

    void start() {
        if (!stdio.stdin().isEmpty()) {
            thread("stdin", this::copyStdin);
        } else {
            stdinCopied.complete(null);
        }
        if (!stdio.stdout().isEmpty()) {
            thread("stdout", () -> copyOut(stdio.stdout(), false, stdout));
        } else {
            stdout.complete(null);
        }
        if (!stdio.stderr().isEmpty() && !stdio.terminal()) {
            thread("stderr", () -> copyOut(stdio.stderr(), true, stderr));
        } else {
            stderr.complete(null);
        }
    }

    private Thread thread(String what, Runnable r) {
        Thread t = new Thread(r, "io-" + what + "-" + containerId + (execId.equals(containerId) ? "" : "-" + execId));
        t.setDaemon(true);
        t.start();
        return t;
    }

    private void copyStdin() {
        try (InputStream in = new FileInputStream(stdio.stdin())) {
            stdinOpened = true;
            byte[] buf = new byte[CHUNK];
            int n;
            while ((n = fill(in, buf)) > 0) {
                stdinProgress = System.nanoTime();
                stdinWriting = true;
                int off = 0;
                while (off < n) {
                    // No deadline: a process may leave its stdin unread for as long as it likes (the agent's
                    // WriteStdin blocks on the full pipe); a dead sandbox abandons the connection, ending the call.
                    int wrote = agent.writeStdin(WriteStreamRequest.newBuilder()
                            .setContainerId(containerId).setExecId(execId)
                            .setData(ByteString.copyFrom(buf, off, n - off)).build()).getLen();
                    off += Math.max(wrote, 1);
                }
                stdinWriting = false;
                stdinProgress = System.nanoTime();
            }
        } catch (IOException | StatusRuntimeException e) {
            log.debug("stdin of {}/{} ended: {}", containerId, execId, e.toString());
        }
        stdinWriting = false;
        stdinCopied.complete(null);
        closeStdin();
    }

    /** One blocking read, then what else the fifo already holds (FIONREAD), up to {@code buf}'s size; -1 at EOF. */
    private static int fill(InputStream in, byte[] buf) throws IOException {
        int n = in.read(buf);
        if (n <= 0) {
            return n;
        }
        int more;
        while (n < buf.length && in.available() > 0 && (more = in.read(buf, n, buf.length - n)) > 0) {
            n += more;
        }
        return n;
    }

    /**
     * containerd's CloseIO: it closed its end of the stdin fifo, so the copy reaches EOF after what is
     * still in the fifo and then closes the guest's stdin itself; closing at once would cut that off. If the
     * copy never started (containerd closed the fifo before anyone read it), a writer of our own releases the
     * blocked open. Returns at once: a process that reads its stdin slowly must not hold containerd's call.
     */
    void closeIo() {
        if (!stdinOpened) {
            // containerd only calls CloseIO once its writes are done, and a write needs our reader:
            // with the reader not open yet, nothing will come.
            thread("stdin-release", this::releaseBlockedStdin);
        }
        stdinProgress = System.nanoTime(); // the idle time counts from CloseIO
        thread("stdin-close", this::closeWhenCopied);
    }

    /**
     * Waits for the copy to reach the fifo's EOF; ends stdin anyway once the copy has sat on an empty fifo for
     * {@link #STDIN_IDLE_NANOS} (some other writer holds it open), but never while a write is still on its way.
     */
    private void closeWhenCopied() {
        while (!stdinCopied.isDone()) {
            try {
                stdinCopied.get(500, TimeUnit.MILLISECONDS);
            } catch (java.util.concurrent.TimeoutException e) {
                if (!stdinWriting && System.nanoTime() - stdinProgress > STDIN_IDLE_NANOS) {
                    log.warn("stdin fifo of {}/{} still open {} s after CloseIO with nothing in it; closing stdin",
                            containerId, execId, TimeUnit.NANOSECONDS.toSeconds(STDIN_IDLE_NANOS));
                    break;
                }
            } catch (Exception e) {
                break;
            }
        }
        closeStdin();
    }

    private void releaseBlockedStdin() {
        try (java.nio.channels.FileChannel w = java.nio.channels.FileChannel.open(java.nio.file.Path.of(stdio.stdin()),
                java.nio.file.StandardOpenOption.WRITE)) {
            log.debug("released the stdin reader of {}/{}", containerId, execId);
        } catch (IOException e) {
            log.debug("stdin fifo of {}/{}: {}", containerId, execId, e.toString());
        }
    }

    /** Closes the process's stdin in the guest once (EOF on the fifo, or CloseIO). */
    void closeStdin() {
        synchronized (this) {
            if (stdinClosed) {
                return;
            }
            stdinClosed = true;
        }
        try {
            agent.withDeadlineAfter(10, TimeUnit.SECONDS).closeStdin(CloseStdinRequest.newBuilder()
                    .setContainerId(containerId).setExecId(execId).build());
        } catch (StatusRuntimeException e) {
            log.debug("CloseStdin {}/{}: {}", containerId, execId, e.getStatus());
        }
    }

    private void copyOut(String fifo, boolean err, CompletableFuture<Void> done) {
        try (OutputStream out = new FileOutputStream(fifo)) {
            while (true) {
                ReadStreamRequest req = ReadStreamRequest.newBuilder().setContainerId(containerId).setExecId(execId)
                        .setLen(CHUNK).build();
                ReadStreamResponse r = err ? agent.readStderr(req) : agent.readStdout(req);
                if (r.getData().isEmpty()) {
                    break;
                }
                r.getData().writeTo(out);
                out.flush();
            }
        } catch (StatusRuntimeException e) {
            // The agent ends a stream with an error once the process is gone and its buffer is empty: ours says
            // OUT_OF_RANGE "eof"; NOT_FOUND once the process was removed.
            io.grpc.Status.Code code = e.getStatus().getCode();
            if (code == io.grpc.Status.Code.OUT_OF_RANGE || code == io.grpc.Status.Code.NOT_FOUND) {
                log.debug("{} of {}/{} ended: {}", err ? "stderr" : "stdout", containerId, execId, e.getStatus());
            } else {
                log.warn("{} of {}/{} cut: {}", err ? "stderr" : "stdout", containerId, execId, e.getStatus());
            }
        } catch (IOException e) {
            log.warn("{} of {}/{}: {}", err ? "stderr" : "stdout", containerId, execId, e.toString());
        } finally {
            done.complete(null);
        }
    }

    /** Completes once stdout and stderr have been copied to the end. */
    CompletableFuture<Void> drained() {
        return CompletableFuture.allOf(stdout, stderr);
    }

    /** Waits for the output to be drained, at most {@code max}. */
    void awaitDrained(Duration max) {
        try {
            drained().get(max.toMillis(), TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            log.warn("output of {}/{} not drained within {} ms", containerId, execId, max.toMillis());
        }
    }
}
