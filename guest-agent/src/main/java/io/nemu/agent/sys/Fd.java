package io.nemu.agent.sys;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicBoolean;

/** A raw file descriptor owned by the agent (pipe end, pty master, socket), closed once. */
public final class Fd implements AutoCloseable {

    private final int fd;
    private final AtomicBoolean closed = new AtomicBoolean();

    public Fd(int fd) {
        this.fd = fd;
    }

    public int fd() {
        return fd;
    }

    public boolean isClosed() {
        return closed.get();
    }

    /** Two ends of a new close-on-exec pipe: [read, write]. */
    public static Fd[] pipe() throws IOException {
        int[] fds = new int[2];
        try {
            Libc.C.pipe2(fds, Libc.O_CLOEXEC);
        } catch (LastErrorException e) {
            throw new IOException("pipe2: " + Libc.C.strerror(e.getErrorCode()));
        }
        return new Fd[] {new Fd(fds[0]), new Fd(fds[1])};
    }

    /** Reads up to {@code len} bytes; -1 at end of file (EIO on a pty master counts as its end). */
    public int read(byte[] buf, int len) throws IOException {
        Memory scratch = Scratch.get(Math.min(len, buf.length));
        int n = read(scratch, (int) Math.min(scratch.size(), Math.min(len, buf.length)));
        if (n > 0) {
            scratch.read(0, buf, 0, n);
        }
        return n;
    }

    /** One read(2) of at most {@code max} bytes as an array of exactly what came; null at end of file. */
    public byte[] readChunk(int max) throws IOException {
        Memory scratch = Scratch.get(max);
        int n = read(scratch, (int) Math.min(scratch.size(), max));
        if (n < 0) {
            return null;
        }
        byte[] chunk = new byte[n];
        scratch.read(0, chunk, 0, n);
        return chunk;
    }

    /** Reads into {@code dst} at its position (advanced): direct buffers without a copy; -1 at end of file. */
    public int read(ByteBuffer dst) throws IOException {
        if (!dst.isDirect()) {
            byte[] chunk = readChunk(dst.remaining());
            if (chunk == null) {
                return -1;
            }
            dst.put(chunk);
            return chunk.length;
        }
        int n = read(Native.getDirectBufferPointer(dst).share(dst.position()), dst.remaining());
        if (n > 0) {
            dst.position(dst.position() + n);
        }
        return n;
    }

    private int read(Pointer buf, int len) throws IOException {
        while (true) {
            try {
                long n = Libc.C.read(fd, buf, len);
                return n == 0 ? -1 : (int) n;
            } catch (LastErrorException e) {
                if (e.getErrorCode() == Libc.EINTR) {
                    continue;
                }
                if (e.getErrorCode() == Libc.EIO) {
                    return -1;
                }
                throw new IOException("read fd " + fd + ": " + Libc.C.strerror(e.getErrorCode()));
            }
        }
    }

    /** Writes all of {@code buf[off..off+len)}, blocking while the reader is slow. */
    public void writeFully(byte[] buf, int off, int len) throws IOException {
        writeFully(ByteBuffer.wrap(buf, off, len));
    }

    /**
     * Writes all of {@code src}'s remaining bytes (its position is not moved), blocking while the reader is slow:
     * a direct buffer straight from its memory, a heap one through this thread's scratch memory (one copy).
     */
    public void writeFully(ByteBuffer src) throws IOException {
        int len = src.remaining();
        if (src.isDirect()) {
            writeFully(Native.getDirectBufferPointer(src).share(src.position()), len);
            return;
        }
        ByteBuffer heap = src.duplicate();
        Memory scratch = Scratch.get(len);
        while (heap.hasRemaining()) {
            int n = (int) Math.min(scratch.size(), heap.remaining());
            ByteBuffer piece = heap.slice().limit(n);
            scratch.getByteBuffer(0, n).put(piece); // one bulk copy, read-only buffers too
            heap.position(heap.position() + n);
            writeFully(scratch, n);
        }
    }

    private void writeFully(Pointer buf, long len) throws IOException {
        long done = 0;
        while (done < len) {
            try {
                done += Libc.C.write(fd, buf.share(done), len - done);
            } catch (LastErrorException e) {
                if (e.getErrorCode() != Libc.EINTR) {
                    throw new IOException("write fd " + fd + ": " + Libc.C.strerror(e.getErrorCode()));
                }
            }
        }
    }

    /**
     * Native memory per thread for read(2)/write(2) of heap bytes, grown to what a call asks up to {@link #MAX}
     * and kept: a byte[] passed to JNA costs a malloc and a copy each way on every call instead.
     */
    private static final class Scratch {
        static final int MAX = 256 * 1024;
        private static final ThreadLocal<Memory> MEMORY = new ThreadLocal<>();

        static Memory get(int want) {
            long size = Math.max(4096, Math.min(MAX, want));
            Memory m = MEMORY.get();
            if (m == null || m.size() < size) {
                m = new Memory(size);
                MEMORY.set(m);
            }
            return m;
        }
    }

    public InputStream inputStream() {
        return new InputStream() {
            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return Fd.this.read(one, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (off == 0) {
                    return Fd.this.read(b, len);
                }
                byte[] tmp = new byte[len];
                int n = Fd.this.read(tmp, len);
                if (n > 0) {
                    System.arraycopy(tmp, 0, b, off, n);
                }
                return n;
            }
        };
    }

    public OutputStream outputStream() {
        return new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                writeFully(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                writeFully(b, off, len);
            }
        };
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            try {
                Libc.C.close(fd);
            } catch (LastErrorException ignored) {
                // already gone: nothing to release
            }
        }
    }

    public static void closeAll(Fd... fds) {
        for (Fd f : fds) {
            if (f != null) {
                f.close();
            }
        }
    }

    @Override
    public String toString() {
        return "fd " + fd;
    }
}
