package io.nemu.agent.transport;

import com.sun.jna.LastErrorException;
import com.sun.jna.Pointer;
import io.grpc.BindableService;
import io.nemu.agent.Listener;
import io.nemu.agent.sys.Fd;
import io.nemu.agent.sys.Libc;
import io.nemu.agent.sys.Poll;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code --listen vsock:PORT}: an AF_VSOCK stream socket bound to any CID on PORT (the host dials
 * {@link io.nemu.contract.GuestContract#AGENT_VSOCK_PORT}); every accepted connection is one ttrpc connection. The JDK has no AF_VSOCK, so the socket
 * calls go through JNA and the bytes through {@link TtrpcBridge}.
 */
public final class VsockListener implements Listener {

    private static final Logger LOG = LoggerFactory.getLogger(VsockListener.class);

    static final int VMADDR_CID_ANY = -1;
    /** The most one read(2) takes off the socket: a large WriteStdin arrives in few pieces. */
    static final int READ_SIZE = 128 * 1024;
    /**
     * What the guest kernel buffers per connection for data from the host (its buf_alloc, the host's credit; the
     * default is 256 KiB): a large WriteStdin then waits for fewer credit updates. Accepted sockets inherit it.
     */
    static final long SOCKET_BUFFER = 1 << 20;
    private static final int SO_VM_SOCKETS_BUFFER_SIZE = 0;
    private static final int SO_VM_SOCKETS_BUFFER_MAX_SIZE = 2;

    @Override
    public String name() {
        return "vsock";
    }

    @Override
    public AutoCloseable start(String address, List<BindableService> services) throws Exception {
        int port = parsePort(address);
        int fd;
        try {
            fd = Libc.C.socket(Libc.AF_VSOCK, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        } catch (LastErrorException e) {
            throw new IOException("socket(AF_VSOCK): " + Libc.C.strerror(e.getErrorCode())
                    + " (is the vsock module loaded?)");
        }
        Fd listen = new Fd(fd);
        try {
            enlargeBuffer(fd);
            Libc.C.bind(fd, sockaddrVm(port, VMADDR_CID_ANY), 16);
            Libc.C.listen(fd, 16);
        } catch (LastErrorException e) {
            listen.close();
            throw new IOException("vsock port " + port + ": " + Libc.C.strerror(e.getErrorCode()));
        }
        TtrpcBridge bridge = Bridges.acquire(services);
        Server s = new Server(listen, port, bridge, services);
        Thread t = new Thread(s::acceptLoop, "vsock-accept-" + port);
        t.setDaemon(true);
        t.start();
        return s;
    }

    private static void enlargeBuffer(int fd) {
        try {
            // The maximum first: the kernel clamps the size to it.
            Libc.C.setsockopt(fd, Libc.AF_VSOCK, SO_VM_SOCKETS_BUFFER_MAX_SIZE, new long[] {SOCKET_BUFFER}, 8);
            Libc.C.setsockopt(fd, Libc.AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, new long[] {SOCKET_BUFFER}, 8);
        } catch (LastErrorException e) {
            LOG.warn("vsock buffer of {} bytes: {} (the default is slower, not wrong)", SOCKET_BUFFER,
                    Libc.C.strerror(e.getErrorCode()));
        }
    }

    static int parsePort(String address) {
        try {
            int port = Integer.parseInt(address.trim());
            if (port < 0) {
                throw new NumberFormatException();
            }
            return port;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("vsock address must be a port number, not '" + address + "'");
        }
    }

    /** struct sockaddr_vm: family, reserved, port, cid, flags, zero[3]. */
    static byte[] sockaddrVm(int port, int cid) {
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.nativeOrder());
        b.putShort((short) Libc.AF_VSOCK).putShort((short) 0).putInt(port).putInt(cid);
        return b.array();
    }

    /**
     * Serves one connected stream socket (vsock, or any socket: tests use a socketpair) until either side
     * closes it; the socket is closed then. Returns at once; the work runs on two threads of its own.
     */
    public static TtrpcBridge.Connection serveSocket(TtrpcBridge bridge, Fd sock, String name) throws IOException {
        TtrpcBridge.Connection c = bridge.open(name, sock::writeFully);
        // The server side ending (shutdown) wakes the reader, which then releases the descriptor.
        c.done().thenRun(() -> shutdown(sock));
        Thread r = new Thread(() -> {
            try {
                while (true) {
                    // read(2) straight into the buffer the server decodes: no copy in Java.
                    ByteBuf buf = Unpooled.directBuffer(READ_SIZE);
                    int n = sock.read(buf.nioBuffer(0, READ_SIZE));
                    if (n < 0) {
                        buf.release();
                        break;
                    }
                    if (!c.deliver(buf.writerIndex(n))) {
                        break;
                    }
                }
            } catch (IOException e) {
                LOG.warn("connection {}: {}", name, e.getMessage());
            } finally {
                c.close();
                try {
                    c.done().get(5, TimeUnit.SECONDS);
                } catch (Exception e) {
                    // the writer is stuck on a peer that does not read: close anyway
                }
                sock.close();
            }
        }, "agent-read-" + name);
        r.setDaemon(true);
        r.start();
        return c;
    }

    private static void shutdown(Fd sock) {
        if (!sock.isClosed()) {
            try {
                Libc.C.shutdown(sock.fd(), Libc.SHUT_RDWR);
            } catch (LastErrorException ignored) {
                // not connected any more: the reader sees the end anyway
            }
        }
    }

    private static final class Server implements AutoCloseable {
        private final Fd listen;
        private final int port;
        private final TtrpcBridge bridge;
        private final List<BindableService> services;
        private final Set<TtrpcBridge.Connection> open = ConcurrentHashMap.newKeySet();
        private volatile boolean closed;
        private int count;

        Server(Fd listen, int port, TtrpcBridge bridge, List<BindableService> services) {
            this.listen = listen;
            this.port = port;
            this.bridge = bridge;
            this.services = services;
        }

        void acceptLoop() {
            while (!closed) {
                try {
                    // Wake up now and then so that close() is seen without closing the fd under accept.
                    if (!Poll.readable(listen.fd(), 500)) {
                        continue;
                    }
                    int fd = Libc.C.accept4(listen.fd(), Pointer.NULL, Pointer.NULL, Libc.SOCK_CLOEXEC);
                    String name = "vsock-" + port + "-" + (++count);
                    TtrpcBridge.Connection c = serveSocket(bridge, new Fd(fd), name);
                    open.add(c);
                    c.done().thenRun(() -> open.remove(c));
                } catch (LastErrorException e) {
                    if (!closed && e.getErrorCode() != Libc.EINTR && e.getErrorCode() != Libc.EAGAIN) {
                        LOG.warn("vsock accept on port {}: {}", port, Libc.C.strerror(e.getErrorCode()));
                        sleep();
                    }
                } catch (IOException e) {
                    if (!closed) {
                        LOG.warn("vsock port {}: {}", port, e.getMessage());
                        sleep();
                    }
                }
            }
            listen.close();
        }

        private static void sleep() {
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        @Override
        public void close() {
            closed = true;
            open.forEach(TtrpcBridge.Connection::close);
            Bridges.release(services);
        }
    }
}
