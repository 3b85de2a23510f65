package io.nemu.agent;

import io.nemu.agent.sys.Fd;
import java.io.IOException;

/**
 * A bounded byte ring between a process's output and the shim's ReadStdout/ReadStderr calls.
 * When it is full the pump stops reading, the pipe fills and the process blocks: backpressure
 * instead of unbounded memory.
 */
final class StreamBuffer {

    private final byte[] ring;
    private int head;
    private int size;
    private boolean eof;

    StreamBuffer(int capacity) {
        ring = new byte[capacity];
    }

    /** Copies {@code src} into the buffer until its end, then marks end of stream; closes src. */
    static void pump(Fd src, StreamBuffer dst, String name) {
        Thread t = new Thread(null, () -> {
            byte[] chunk = new byte[16 * 1024];
            try {
                int n;
                while ((n = src.read(chunk, chunk.length)) > 0) {
                    dst.put(chunk, n);
                }
            } catch (IOException e) {
                Log.warn("%s: %s", name, e.getMessage());
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
            while (size == ring.length && !eof) {
                wait();
            }
            if (eof) {
                return; // nobody will read any more: drop
            }
            int tail = (head + size) % ring.length;
            int n = Math.min(len - off, Math.min(ring.length - size, ring.length - tail));
            System.arraycopy(data, off, ring, tail, n);
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
        int n = Math.min(max, size);
        byte[] out = new byte[n];
        int first = Math.min(n, ring.length - head);
        System.arraycopy(ring, head, out, 0, first);
        System.arraycopy(ring, 0, out, first, n - first);
        head = (head + n) % ring.length;
        size -= n;
        notifyAll();
        return out;
    }

    synchronized boolean drained() {
        return eof && size == 0;
    }
}
