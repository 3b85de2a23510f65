package io.nemu.agent;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import io.nemu.agent.sys.Fd;
import java.io.IOException;
import java.util.ArrayDeque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A bounded queue of bytes between a process's output and the shim's ReadStdout/ReadStderr calls.
 * When it is full the pump stops reading, the pipe fills and the process blocks: backpressure
 * instead of unbounded memory.
 *
 * <p>Bytes are copied once in the agent's Java code: from read(2)'s native memory into a chunk of exactly what
 * came, which the buffer keeps and a read hands on as a view (a protobuf rope), never copied again here. Every
 * copy counts: the agent runs interpreted on the guest's one vCPU, which also runs the process and the kernel.
 */
final class StreamBuffer {

    private static final Logger LOG = LoggerFactory.getLogger(StreamBuffer.class);

    // Chunks as read from the pipe: an idle stream costs nothing, a busy one at most capacity + one chunk.
    private final ArrayDeque<byte[]> chunks = new ArrayDeque<>();
    private final int capacity;
    private int head; // read offset into the first chunk
    private int size;
    private boolean eof;

    StreamBuffer(int capacity) {
        this.capacity = capacity;
    }

    /** What the pump asks read(2) for at once: a whole (enlarged) pipe, so a busy stream costs few calls. */
    static final int PUMP_READ = 256 * 1024;

    /** Copies {@code src} into the buffer until its end, then marks end of stream; closes src. */
    static void pump(Fd src, StreamBuffer dst, String name) {
        Thread t = new Thread(null, () -> {
            try {
                byte[] chunk;
                while ((chunk = src.readChunk(PUMP_READ)) != null) {
                    dst.put(chunk);
                }
            } catch (IOException e) {
                LOG.warn("{}: {}", name, e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                dst.finish();
                src.close();
            }
        }, name, 128 * 1024);
        t.setDaemon(true);
        t.start();
    }

    /** Adds {@code chunk} (the buffer keeps it: the caller must not change it), waiting while the buffer is full. */
    synchronized void put(byte[] chunk) throws InterruptedException {
        while (size >= capacity && !eof) {
            wait();
        }
        if (eof || chunk.length == 0) {
            return; // at eof nobody will read any more: drop
        }
        chunks.addLast(chunk);
        size += chunk.length;
        notifyAll();
    }

    synchronized void finish() {
        eof = true;
        notifyAll();
    }

    /** Up to {@code max} bytes, blocking until there are some; null at end of stream. */
    synchronized ByteString take(int max) throws InterruptedException {
        while (size == 0 && !eof) {
            wait();
        }
        if (size == 0) {
            return null;
        }
        int want = Math.min(max, size);
        ByteString out = ByteString.EMPTY;
        int done = 0;
        while (done < want) {
            byte[] first = chunks.peekFirst();
            int n = Math.min(want - done, first.length - head);
            // A view, not a copy: the chunk is never written again once put.
            out = out.concat(UnsafeByteOperations.unsafeWrap(first, head, n));
            done += n;
            head += n;
            if (head == first.length) {
                chunks.removeFirst();
                head = 0;
            }
        }
        size -= want;
        notifyAll();
        return out;
    }

    synchronized int size() {
        return size;
    }

    synchronized boolean drained() {
        return eof && size == 0;
    }
}
