package io.nemu.agent.sys;

import com.sun.jna.LastErrorException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
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
        while (true) {
            try {
                long n = Libc.C.read(fd, buf, Math.min(len, buf.length));
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

    /** Writes all of {@code buf[0..len)}, blocking while the reader is slow. */
    public void writeFully(byte[] buf, int off, int len) throws IOException {
        byte[] chunk = off == 0 ? buf : java.util.Arrays.copyOfRange(buf, off, off + len);
        int done = 0;
        while (done < len) {
            try {
                byte[] rest = done == 0 ? chunk : java.util.Arrays.copyOfRange(chunk, done, len);
                done += (int) Libc.C.write(fd, rest, len - done);
            } catch (LastErrorException e) {
                if (e.getErrorCode() != Libc.EINTR) {
                    throw new IOException("write fd " + fd + ": " + Libc.C.strerror(e.getErrorCode()));
                }
            }
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
