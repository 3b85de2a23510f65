package io.nemu.agent.sys;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.BooleanSupplier;

/**
 * A unix socket for crun's {@code --console-socket}: crun connects once and passes the pty
 * master of the new process with SCM_RIGHTS.
 */
public final class ConsoleSocket implements AutoCloseable {

    private final Path path;
    private final Fd listener;

    public ConsoleSocket(Path path) throws IOException {
        byte[] name = path.toString().getBytes(StandardCharsets.UTF_8);
        if (name.length > 107) {
            throw new IOException("console socket path too long: " + path);
        }
        Files.deleteIfExists(path);
        this.path = path;
        int fd;
        try {
            fd = Libc.C.socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        } catch (LastErrorException e) {
            throw new IOException("socket: " + Libc.C.strerror(e.getErrorCode()));
        }
        listener = new Fd(fd);
        byte[] addr = new byte[110];
        addr[0] = (byte) Libc.AF_UNIX;
        System.arraycopy(name, 0, addr, 2, name.length);
        try {
            Libc.C.bind(fd, addr, addr.length);
            Libc.C.listen(fd, 1);
        } catch (LastErrorException e) {
            listener.close();
            throw new IOException("console socket " + path + ": " + Libc.C.strerror(e.getErrorCode()));
        }
    }

    public Path path() {
        return path;
    }

    /**
     * Waits for crun's connection and returns the pty master it sends; gives up (IOException)
     * when {@code gaveUp} turns true (crun exited) with nothing pending.
     */
    public Fd receive(BooleanSupplier gaveUp, long timeoutMillis) throws IOException {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        while (!Poll.readable(listener.fd(), 100)) {
            if (gaveUp.getAsBoolean() && !Poll.readable(listener.fd(), 0)) {
                throw new IOException("crun exited without sending a terminal");
            }
            if (System.currentTimeMillis() > deadline) {
                throw new IOException("no terminal from crun within " + timeoutMillis + " ms");
            }
        }
        Fd conn;
        try {
            conn = new Fd(Libc.C.accept4(listener.fd(), Pointer.NULL, Pointer.NULL, Libc.SOCK_CLOEXEC));
        } catch (LastErrorException e) {
            throw new IOException("accept: " + Libc.C.strerror(e.getErrorCode()));
        }
        try (conn) {
            Memory data = new Memory(4096);
            Memory iov = new Memory(16);
            iov.setPointer(0, data);
            iov.setLong(8, data.size());
            Memory control = new Memory(64);
            control.clear();
            Memory msg = new Memory(56);
            msg.clear();
            msg.setPointer(16, iov);
            msg.setLong(24, 1);
            msg.setPointer(32, control);
            msg.setLong(40, control.size());
            long n;
            try {
                n = Libc.C.recvmsg(conn.fd(), msg, 0x40000000 /* MSG_CMSG_CLOEXEC */);
            } catch (LastErrorException e) {
                throw new IOException("recvmsg: " + Libc.C.strerror(e.getErrorCode()));
            }
            long controlLen = msg.getLong(40);
            if (n < 0 || controlLen < 20) {
                throw new IOException("crun sent no file descriptor on the console socket");
            }
            int level = control.getInt(8);
            int type = control.getInt(12);
            if (level != 1 || type != 1) {
                throw new IOException("unexpected control message " + level + "/" + type + " on console socket");
            }
            return new Fd(control.getInt(16));
        }
    }

    @Override
    public void close() {
        listener.close();
        try {
            Files.deleteIfExists(path);
        } catch (IOException ignored) {
            // a stale socket file is harmless and replaced next time
        }
    }
}
