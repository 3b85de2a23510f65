package io.nemu.agent.transport;

import com.sun.jna.LastErrorException;
import io.grpc.BindableService;
import io.nemu.agent.Listener;
import io.nemu.agent.sys.Fd;
import io.nemu.agent.sys.Libc;
import io.nemu.ttrpc.SessionSplitter;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code --listen serial:/dev/virtio-ports/agent.channel.0}: the bring-up channel, a virtio-serial port
 * whose host end is a unix socket of QEMU. One ttrpc connection at a time: it starts with the first
 * bytes after the host connected and ends when the host disconnects. The port stays open all along;
 * while no host is connected a read returns 0 at once (virtio_console), so the loop then sleeps briefly.
 * A host that reconnects before the loop reads that 0 is found by its first request ({@link SessionSplitter}).
 */
public final class SerialListener implements Listener {

    private static final Logger LOG = LoggerFactory.getLogger(SerialListener.class);

    static final int IDLE_POLL_MILLIS = 20;
    static final int SESSION_END_WAIT_SECONDS = 2;

    @Override
    public String name() {
        return "serial";
    }

    @Override
    public AutoCloseable start(String address, List<BindableService> services) throws Exception {
        Path dev = Path.of(address);
        if (!Files.exists(dev)) {
            throw new IOException("serial port " + dev + " does not exist");
        }
        int fd;
        try {
            fd = Libc.C.open(dev.toString(), Libc.O_RDWR | Libc.O_CLOEXEC, 0);
        } catch (LastErrorException e) {
            throw new IOException("open " + dev + ": " + Libc.C.strerror(e.getErrorCode()));
        }
        Port p = new Port(new Fd(fd), dev, Bridges.acquire(services), services);
        Thread t = new Thread(p::readLoop, "serial-read");
        t.setDaemon(true);
        t.start();
        return p;
    }

    private static final class Port implements AutoCloseable, SessionSplitter.Output {
        private final Fd fd;
        private final Path dev;
        private final TtrpcBridge bridge;
        private final List<BindableService> services;
        private volatile boolean closed;
        private volatile TtrpcBridge.Connection current;
        // Read thread only: frame boundaries, bytes not yet handed on, and sessions so far.
        private final SessionSplitter splitter = new SessionSplitter();
        private final ByteArrayOutputStream pending = new ByteArrayOutputStream();
        private int count;
        // After the server dropped a connection, the rest of that host session is not ttrpc we can follow.
        private boolean discard;

        Port(Fd fd, Path dev, TtrpcBridge bridge, List<BindableService> services) {
            this.fd = fd;
            this.dev = dev;
            this.bridge = bridge;
            this.services = services;
        }

        void readLoop() {
            byte[] buf = new byte[64 * 1024];
            while (!closed) {
                int n;
                try {
                    n = fd.read(buf, buf.length);
                } catch (IOException e) {
                    if (!closed) {
                        LOG.warn("serial {}: {}", dev, e.getMessage());
                        pause(200);
                    }
                    continue;
                }
                if (n < 0) { // host not connected (any more)
                    endSession();
                    splitter.reset();
                    discard = false;
                    pause(IDLE_POLL_MILLIS);
                    continue;
                }
                try {
                    splitter.feed(buf, 0, n, this);
                    flush();
                } catch (IOException e) {
                    LOG.warn("serial {}: {}", dev, e.getMessage());
                }
            }
            endSession();
            fd.close();
        }

        @Override
        public void bytes(byte[] b, int off, int len) {
            pending.write(b, off, len);
        }

        @Override
        public void newSession() throws IOException {
            flush();
            endSession();
            discard = false;
            LOG.info("serial {}: a new host session began without a disconnect in between", dev);
        }

        /** Hands what was read to the current session, opening one with the first bytes of a host. */
        private void flush() throws IOException {
            if (pending.size() == 0) {
                return;
            }
            byte[] b = pending.toByteArray();
            pending.reset();
            TtrpcBridge.Connection c = current;
            if (c == null && !discard) {
                try {
                    c = bridge.open("serial-" + (++count), fd::writeFully);
                    current = c;
                    LOG.info("serial {}: host connected", dev);
                } catch (IOException e) {
                    discard = true;
                    throw e;
                }
            }
            if (c != null && !c.deliver(b, b.length)) {
                LOG.warn("serial {}: connection closed by the agent; ignoring input until the host reconnects", dev);
                current = null;
                discard = true;
            }
        }

        private void endSession() {
            TtrpcBridge.Connection c = current;
            if (c != null) {
                current = null;
                c.close();
                // The next session writes to the same port: let this one's last frames out first, whole.
                try {
                    c.done().get(SESSION_END_WAIT_SECONDS, TimeUnit.SECONDS);
                } catch (TimeoutException | ExecutionException e) {
                    LOG.warn("serial {}: the ended session still writes after {} s", dev, SESSION_END_WAIT_SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                LOG.info("serial {}: host disconnected", dev);
            }
        }

        private static void pause(int millis) {
            try {
                Thread.sleep(millis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        @Override
        public void close() {
            closed = true;
            endSession();
            Bridges.release(services);
        }
    }
}
