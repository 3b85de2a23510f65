package io.nemu.agent.transport;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import io.nemu.agent.sys.Fd;
import io.nemu.agent.sys.Libc;
import io.nemu.agent.sys.Poll;
import io.nemu.contract.DebugConsole;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The debug console's vsock listener ({@link DebugConsole}): started only when the kernel command line names its
 * port. Each connection from the host runs a {@link ConsoleSession}; a connection from any other CID (a process
 * in this guest through vsock loopback, i.e. a container) is closed unanswered.
 */
public final class DebugConsoleServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(DebugConsoleServer.class);

    private final Fd listen;
    private final int port;
    private volatile boolean closed;

    private DebugConsoleServer(Fd listen, int port) {
        this.listen = listen;
        this.port = port;
    }

    public static DebugConsoleServer start(int port) throws IOException {
        Fd listen;
        try {
            listen = new Fd(Libc.C.socket(Libc.AF_VSOCK, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0));
        } catch (LastErrorException e) {
            throw new IOException("socket(AF_VSOCK): " + Libc.C.strerror(e.getErrorCode()));
        }
        try {
            Libc.C.bind(listen.fd(), VsockListener.sockaddrVm(port, VsockListener.VMADDR_CID_ANY), 16);
            Libc.C.listen(listen.fd(), 4);
        } catch (LastErrorException e) {
            listen.close();
            throw new IOException("debug console vsock port " + port + ": " + Libc.C.strerror(e.getErrorCode()));
        }
        DebugConsoleServer s = new DebugConsoleServer(listen, port);
        Thread t = new Thread(s::acceptLoop, "debug-console-accept");
        t.setDaemon(true);
        t.start();
        LOG.info("debug console on vsock port {} (host connections only)", port);
        return s;
    }

    private void acceptLoop() {
        int count = 0;
        while (!closed) {
            try {
                if (!Poll.readable(listen.fd(), 500)) {
                    continue;
                }
                Memory addr = new Memory(16);
                addr.clear();
                Memory len = new Memory(4);
                len.setInt(0, 16);
                Fd conn = new Fd(Libc.C.accept4(listen.fd(), addr, len, Libc.SOCK_CLOEXEC));
                int peerCid = addr.getInt(8); // struct sockaddr_vm: family, reserved, port, cid
                String name = "console-" + (++count);
                if (peerCid != DebugConsole.HOST_CID) {
                    LOG.warn("debug console: refused a connection from CID {} (only the host, CID {}, may connect)",
                            Integer.toUnsignedString(peerCid), DebugConsole.HOST_CID);
                    conn.close();
                    continue;
                }
                Thread t = new Thread(() -> new ConsoleSession(conn, name).run(), name);
                t.setDaemon(true);
                t.start();
            } catch (LastErrorException e) {
                if (!closed && e.getErrorCode() != Libc.EINTR && e.getErrorCode() != Libc.EAGAIN) {
                    LOG.warn("debug console accept on port {}: {}", port, Libc.C.strerror(e.getErrorCode()));
                }
            } catch (IOException e) {
                if (!closed) {
                    LOG.warn("debug console port {}: {}", port, e.getMessage());
                }
            }
        }
        listen.close();
    }

    @Override
    public void close() {
        closed = true;
    }
}
