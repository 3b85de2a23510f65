package io.nemu.vmm.vhostuser;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import io.nemu.vmm.PrivateFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * A listening unix socket and the one frontend connection on it, with SCM_RIGHTS fd passing: what
 * Java's own UNIX channels cannot do. Blocking; {@link #shutdown()} wakes a thread blocked in it.
 */
public final class VhostUserSocket implements AutoCloseable {
    /** vhost-user passes at most 8 fds (memory regions) with one message. */
    public static final int MAX_FDS = 8;
    private static final int CMSG_HDR = 16;

    private final Path path;
    private final boolean server;
    private volatile int listenFd = -1;
    private volatile int connFd = -1;
    private final Memory msghdr = new Memory(56);
    private final Memory iov = new Memory(16);
    private final Memory control = new Memory(CMSG_HDR + 4 * MAX_FDS);
    private final Memory io = new Memory(4096);

    private VhostUserSocket(Path path, boolean server) {
        this.path = path;
        this.server = server;
    }

    /** Binds and listens on {@code path} (an old socket file there is replaced). */
    public static VhostUserSocket listen(Path path) throws IOException {
        Files.deleteIfExists(path);
        VhostUserSocket s = new VhostUserSocket(path, true);
        int fd = -1;
        try {
            fd = Libc.C.socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
            byte[] addr = Libc.sockaddrUn(path);
            Libc.C.bind(fd, addr, addr.length);
            // Owner only before anyone can connect (the folder is 0700 as well).
            PrivateFiles.restrict(path);
            Libc.C.listen(fd, 1);
        } catch (LastErrorException e) {
            Libc.closeQuietly(fd);
            throw Libc.error("listening on " + path, e);
        } catch (IOException e) {
            Libc.closeQuietly(fd);
            throw e;
        }
        s.listenFd = fd;
        return s;
    }

    /** Connects as a frontend would (tests). */
    public static VhostUserSocket connect(Path path) throws IOException {
        VhostUserSocket s = new VhostUserSocket(path, false);
        int fd = -1;
        try {
            fd = Libc.C.socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
            byte[] addr = Libc.sockaddrUn(path);
            Libc.C.connect(fd, addr, addr.length);
        } catch (LastErrorException e) {
            Libc.closeQuietly(fd);
            throw Libc.error("connecting to " + path, e);
        }
        s.connFd = fd;
        return s;
    }

    public Path path() {
        return path;
    }

    /** Waits for the frontend; the listening socket is closed once it is there (one frontend only). */
    public void accept() throws IOException {
        int lfd = listenFd;
        try {
            connFd = Libc.C.accept4(lfd, null, null, Libc.SOCK_CLOEXEC);
        } catch (LastErrorException e) {
            throw Libc.error("accepting on " + path, e);
        } finally {
            listenFd = -1;
            Libc.closeQuietly(lfd);
        }
    }

    /** Received bytes and the fds that came with them. */
    public record Received(int length, int[] fds) {
    }

    /**
     * Receives up to {@code buf.remaining()} bytes and any fds sent with them (marked close-on-exec).
     * Length 0 means the peer closed.
     */
    public Received receive(ByteBuffer buf) throws IOException {
        int want = Math.min(buf.remaining(), (int) io.size());
        iov.setPointer(0, io);
        iov.setLong(8, want);
        msghdr.clear();
        msghdr.setPointer(16, iov);
        msghdr.setLong(24, 1);
        msghdr.setPointer(32, control);
        msghdr.setLong(40, control.size());
        long n;
        while (true) {
            try {
                n = Libc.C.recvmsg(connFd, msghdr, Libc.MSG_CMSG_CLOEXEC);
                break;
            } catch (LastErrorException e) {
                if (e.getErrorCode() != Libc.EINTR) {
                    throw Libc.error("recvmsg on " + path, e);
                }
            }
        }
        int[] fds = new int[0];
        long controlLen = msghdr.getLong(40);
        if (controlLen >= CMSG_HDR) {
            long cmsgLen = control.getLong(0);
            int level = control.getInt(8);
            int type = control.getInt(12);
            if (level == Libc.SOL_SOCKET && type == Libc.SCM_RIGHTS && cmsgLen >= CMSG_HDR) {
                int count = (int) ((cmsgLen - CMSG_HDR) / 4);
                fds = control.getIntArray(CMSG_HDR, Math.min(count, MAX_FDS));
            }
        }
        if ((msghdr.getInt(48) & 0x8) != 0) { // MSG_CTRUNC: fds were dropped by the kernel
            closeAll(fds);
            throw new IOException("more than " + MAX_FDS + " fds in one message on " + path);
        }
        buf.put(io.getByteBuffer(0, n));
        return new Received((int) n, fds);
    }

    /** Reads exactly {@code buf.remaining()} bytes (no fds expected); false on EOF before any byte. */
    public boolean readFully(ByteBuffer buf) throws IOException {
        boolean any = false;
        while (buf.hasRemaining()) {
            Received r = receive(buf);
            if (r.fds.length > 0) {
                closeAll(r.fds);
                throw new IOException("unexpected fds in a message body on " + path);
            }
            if (r.length == 0) {
                if (!any) {
                    return false;
                }
                throw new IOException("frontend closed " + path + " in the middle of a message");
            }
            any = true;
        }
        return true;
    }

    /** Sends all of {@code data}, with {@code fds} attached to the first byte. */
    public void send(ByteBuffer data, int... fds) throws IOException {
        boolean first = true;
        while (data.hasRemaining() || first) {
            int n = Math.min(data.remaining(), (int) io.size());
            io.write(0, toArray(data, n), 0, n);
            iov.setPointer(0, io);
            iov.setLong(8, n);
            msghdr.clear();
            msghdr.setPointer(16, iov);
            msghdr.setLong(24, 1);
            if (first && fds.length > 0) {
                control.clear();
                control.setLong(0, CMSG_HDR + 4L * fds.length);
                control.setInt(8, Libc.SOL_SOCKET);
                control.setInt(12, Libc.SCM_RIGHTS);
                control.write(CMSG_HDR, fds, 0, fds.length);
                msghdr.setPointer(32, control);
                msghdr.setLong(40, CMSG_HDR + ((4L * fds.length + 7) & ~7L));
            }
            try {
                long sent = Libc.C.sendmsg(connFd, msghdr, 0x4000 /* MSG_NOSIGNAL */);
                data.position(data.position() - n + (int) sent);
            } catch (LastErrorException e) {
                if (e.getErrorCode() != Libc.EINTR) {
                    throw Libc.error("sendmsg on " + path, e);
                }
                data.position(data.position() - n);
                continue;
            }
            first = false;
        }
    }

    private static byte[] toArray(ByteBuffer b, int n) {
        byte[] a = new byte[n];
        b.get(a);
        return a;
    }

    /** Wakes threads blocked in accept or receive (they then fail or see EOF). */
    public void shutdown() {
        for (int fd : new int[] {listenFd, connFd}) {
            if (fd >= 0) {
                try {
                    Libc.C.shutdown(fd, Libc.SHUT_RDWR);
                } catch (LastErrorException ignored) {
                    // not connected
                }
            }
        }
    }

    @Override
    public void close() {
        shutdown();
        int l = listenFd;
        int c = connFd;
        listenFd = -1;
        connFd = -1;
        Libc.closeQuietly(l);
        Libc.closeQuietly(c);
        if (server) {
            try {
                Files.deleteIfExists(path);
            } catch (IOException ignored) {
                // best effort
            }
        }
    }

    public static void closeAll(int[] fds) {
        for (int fd : fds) {
            Libc.closeQuietly(fd);
        }
    }

    static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    @Override
    public String toString() {
        return "vhost-user socket " + path + " fds " + Arrays.toString(new int[] {listenFd, connFd});
    }
}
