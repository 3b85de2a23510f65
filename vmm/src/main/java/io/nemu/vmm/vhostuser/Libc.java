package io.nemu.vmm.vhostuser;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * The few libc calls Java's own I/O lacks: unix sockets with fd passing (SCM_RIGHTS), mmap of passed
 * memfds, eventfd reads and writes, AF_VSOCK and the vhost-vsock ioctl. Linux x86_64/aarch64 (LP64) only.
 */
public final class Libc {
    public static final int AF_UNIX = 1;
    public static final int AF_VSOCK = 40;
    public static final int SOCK_STREAM = 1;
    public static final int SOCK_CLOEXEC = 0x80000;
    public static final int SOL_SOCKET = 1;
    public static final int SCM_RIGHTS = 1;
    public static final int MSG_CMSG_CLOEXEC = 0x40000000;
    public static final int SHUT_RDWR = 2;
    public static final int PROT_READ = 1;
    public static final int PROT_WRITE = 2;
    public static final int MAP_SHARED = 1;
    public static final int O_RDWR = 2;
    public static final int O_CLOEXEC = 0x80000;
    public static final int EFD_CLOEXEC = 0x80000;
    public static final int EINTR = 4;
    public static final int EAGAIN = 11;
    public static final int EADDRINUSE = 98;
    /** Bytes of a sockaddr_un: family + 108 bytes of path. */
    static final int SOCKADDR_UN_SIZE = 110;

    /** JNA view of libc; every call reports errno as {@link LastErrorException}. */
    public interface C extends Library {
        int socket(int domain, int type, int protocol) throws LastErrorException;

        int bind(int fd, byte[] addr, int len) throws LastErrorException;

        int connect(int fd, byte[] addr, int len) throws LastErrorException;

        int listen(int fd, int backlog) throws LastErrorException;

        int accept4(int fd, Pointer addr, Pointer len, int flags) throws LastErrorException;

        long recvmsg(int fd, Pointer msghdr, int flags) throws LastErrorException;

        long sendmsg(int fd, Pointer msghdr, int flags) throws LastErrorException;

        long read(int fd, Pointer buf, long count) throws LastErrorException;

        long write(int fd, Pointer buf, long count) throws LastErrorException;

        int shutdown(int fd, int how) throws LastErrorException;

        int close(int fd) throws LastErrorException;

        int open(String path, int flags) throws LastErrorException;

        int ioctl(int fd, long request, Pointer arg) throws LastErrorException;

        Pointer mmap(Pointer addr, long length, int prot, int flags, int fd, long offset) throws LastErrorException;

        int munmap(Pointer addr, long length) throws LastErrorException;

        int eventfd(int initval, int flags) throws LastErrorException;

        int poll(Pointer fds, long nfds, int timeout) throws LastErrorException;

        int memfd_create(String name, int flags) throws LastErrorException;

        int ftruncate(int fd, long length) throws LastErrorException;
    }

    public static final C C = Native.load("c", C.class);
    /** mmap's MAP_FAILED. */
    static final long MAP_FAILED = -1L;

    private Libc() {
    }

    public static IOException error(String what, LastErrorException e) {
        return new IOException(what + ": errno " + e.getErrorCode() + " (" + e.getMessage() + ")", e);
    }

    /** A sockaddr_un for {@code path}; throws if the path does not fit. */
    public static byte[] sockaddrUn(Path path) {
        byte[] p = path.toString().getBytes(StandardCharsets.UTF_8);
        if (p.length > SOCKADDR_UN_SIZE - 3) {
            throw new IllegalArgumentException("unix socket path too long (" + p.length + " bytes): " + path);
        }
        byte[] a = new byte[SOCKADDR_UN_SIZE];
        a[0] = (byte) AF_UNIX;
        System.arraycopy(p, 0, a, 2, p.length);
        return a;
    }

    /** A sockaddr_vm for (cid, port). */
    public static byte[] sockaddrVm(long cid, long port) {
        byte[] a = new byte[16];
        a[0] = (byte) AF_VSOCK;
        putInt(a, 4, (int) port);
        putInt(a, 8, (int) cid);
        return a;
    }

    private static void putInt(byte[] a, int off, int v) {
        a[off] = (byte) v;
        a[off + 1] = (byte) (v >>> 8);
        a[off + 2] = (byte) (v >>> 16);
        a[off + 3] = (byte) (v >>> 24);
    }

    /** Closes quietly: teardown paths log their own story. */
    public static void closeQuietly(int fd) {
        if (fd >= 0) {
            try {
                C.close(fd);
            } catch (LastErrorException ignored) {
                // already gone
            }
        }
    }

    /**
     * Reads one eventfd counter (8 bytes), waiting until it is non-zero; returns the counter value.
     * QEMU makes its eventfds non-blocking, so this polls first. {@code scratch} needs 16 bytes.
     */
    public static long eventfdRead(int fd, Memory scratch) throws IOException {
        while (true) {
            try {
                scratch.setInt(8, fd);
                scratch.setShort(12, (short) 1); // POLLIN
                scratch.setShort(14, (short) 0);
                C.poll(scratch.share(8), 1, -1);
                long n = C.read(fd, scratch, 8);
                if (n != 8) {
                    throw new IOException("eventfd " + fd + ": short read of " + n + " bytes");
                }
                return scratch.getLong(0);
            } catch (LastErrorException e) {
                if (e.getErrorCode() != EINTR && e.getErrorCode() != EAGAIN) {
                    throw error("eventfd read", e);
                }
            }
        }
    }

    /** Adds {@code value} to an eventfd counter. */
    public static void eventfdWrite(int fd, Memory scratch, long value) throws IOException {
        scratch.setLong(0, value);
        try {
            C.write(fd, scratch, 8);
        } catch (LastErrorException e) {
            if (e.getErrorCode() != EAGAIN) {
                throw error("eventfd write", e);
            }
        }
    }
}
