package io.nemu.agent;

import io.nemu.agent.sys.Fd;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A bounded byte ring between a process's output and the shim's ReadStdout/ReadStderr calls.
 * When it is full the pump stops reading, the pipe fills and the process blocks: backpressure
 * instead of unbounded memory.
 */
final class StreamBuffer {

    private static final Logger LOG = LoggerFactory.getLogger(StreamBuffer.class);

    // Chunks as read from the pipe: an idle stream costs nothing, a busy one at most ~capacity.
    private final java.util.ArrayDeque<byte[]> chunks = new java.util.ArrayDeque<>();
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
            byte[] chunk = new byte[PUMP_READ];
            try {
                int n;
                while ((n = src.read(chunk, chunk.length)) > 0) {
                    dst.put(chunk, n);
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

    synchronized void put(byte[] data, int len) throws InterruptedException {
        int off = 0;
        while (off < len) {
            while (size >= capacity && !eof) {
                wait();
            }
            if (eof) {
                return; // nobody will read any more: drop
            }
            int n = Math.min(len - off, capacity - size);
            chunks.addLast(java.util.Arrays.copyOfRange(data, off, off + n));
            size += n;
            off += n;
            notifyAll();
        }
    }

    synchronized void finish() {
        eof = true;
        notifyAll();
    }

    /** Up to {@code max} bytes, blocking until there are some; null at end of stream. */
    synchronized byte[] take(int max) throws InterruptedException {
        while (size == 0 && !eof) {
            wait();
        }
        if (size == 0) {
            return null;
        }
        byte[] out = new byte[Math.min(max, size)];
        int done = 0;
        while (done < out.length) {
            byte[] first = chunks.peekFirst();
            int n = Math.min(out.length - done, first.length - head);
            System.arraycopy(first, head, out, done, n);
            done += n;
            head += n;
            if (head == first.length) {
                chunks.removeFirst();
                head = 0;
            }
        }
        size -= out.length;
        notifyAll();
        return out;
    }

    synchronized boolean drained() {
        return eof && size == 0;
    }
}
