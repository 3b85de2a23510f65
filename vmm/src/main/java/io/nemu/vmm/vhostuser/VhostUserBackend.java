package io.nemu.vmm.vhostuser;

import static io.nemu.vmm.vhostuser.VhostUserMessage.GET_CONFIG;
import static io.nemu.vmm.vhostuser.VhostUserMessage.GET_FEATURES;
import static io.nemu.vmm.vhostuser.VhostUserMessage.GET_PROTOCOL_FEATURES;
import static io.nemu.vmm.vhostuser.VhostUserMessage.GET_QUEUE_NUM;
import static io.nemu.vmm.vhostuser.VhostUserMessage.GET_VRING_BASE;
import static io.nemu.vmm.vhostuser.VhostUserMessage.PROTOCOLS;
import static io.nemu.vmm.vhostuser.VhostUserMessage.PROTOCOL_F_REPLY_ACK;
import static io.nemu.vmm.vhostuser.VhostUserMessage.RESET_OWNER;
import static io.nemu.vmm.vhostuser.VhostUserMessage.SET_CONFIG;
import static io.nemu.vmm.vhostuser.VhostUserMessage.SET_FEATURES;
import static io.nemu.vmm.vhostuser.VhostUserMessage.SET_MEM_TABLE;
import static io.nemu.vmm.vhostuser.VhostUserMessage.SET_OWNER;
import static io.nemu.vmm.vhostuser.VhostUserMessage.SET_PROTOCOL_FEATURES;
import static io.nemu.vmm.vhostuser.VhostUserMessage.SET_VRING_ADDR;
import static io.nemu.vmm.vhostuser.VhostUserMessage.SET_VRING_BASE;
import static io.nemu.vmm.vhostuser.VhostUserMessage.SET_VRING_CALL;
import static io.nemu.vmm.vhostuser.VhostUserMessage.SET_VRING_ENABLE;
import static io.nemu.vmm.vhostuser.VhostUserMessage.SET_VRING_ERR;
import static io.nemu.vmm.vhostuser.VhostUserMessage.SET_VRING_KICK;
import static io.nemu.vmm.vhostuser.VhostUserMessage.SET_VRING_NUM;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The backend half of the vhost-user protocol (QEMU docs/interop/vhost-user.rst) for one device: listens
 * on a unix socket, takes one frontend, and runs its messages on a thread of its own. Here: the message
 * loop, feature and protocol-feature negotiation, owner and config space; the memory table is
 * {@link MemoryTable}'s, the queue setup {@link Vrings}', the framing {@link VhostUserMessage}'s.
 * A message that breaks the protocol ends the device with a {@link VhostUserProtocolException}.
 */
public final class VhostUserBackend implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(VhostUserBackend.class);

    public static final long VIRTIO_F_VERSION_1 = 1L << 32;
    public static final long F_PROTOCOL_FEATURES = 1L << 30;

    private final String name;
    private final VhostUserSocket socket;
    private final VhostUserDevice device;
    private final Vrings vrings;
    private final Thread thread;
    private final CompletableFuture<Void> terminated = new CompletableFuture<>();
    private long ackedProtocols;
    private volatile boolean closing;

    private VhostUserBackend(String name, VhostUserSocket socket, VhostUserDevice device) {
        this.name = name;
        this.socket = socket;
        this.device = device;
        this.vrings = new Vrings(name, device);
        this.thread = new Thread(this::run, "vhost-user-" + name);
        this.thread.setDaemon(true);
    }

    /** Listens on {@code path} now (the frontend may connect right away) and serves it on a new thread. */
    public static VhostUserBackend start(String name, Path path, VhostUserDevice device) throws IOException {
        VhostUserBackend b = new VhostUserBackend(name, VhostUserSocket.listen(path), device);
        b.thread.start();
        return b;
    }

    public Path path() {
        return socket.path();
    }

    /**
     * Completes when the device has ended and released everything: normally when the frontend
     * disconnected or {@link #close()} was called, exceptionally with the protocol error otherwise.
     */
    public CompletableFuture<Void> terminated() {
        return terminated;
    }

    private void run() {
        Throwable failure = null;
        try {
            socket.accept();
            log.debug("{}: frontend connected", name);
            while (handleOne()) {
                // next message
            }
            log.info("{}: frontend disconnected", name);
        } catch (VhostUserProtocolException e) {
            failure = e;
            log.error("{}: malformed vhost-user message, closing the device: {}", name, e.getMessage());
        } catch (IOException | RuntimeException e) {
            if (!closing) {
                failure = e;
                log.error("{}: vhost-user connection failed, closing the device: {}", name, e.toString());
            }
        } finally {
            socket.close();
            vrings.release();
            try {
                device.shutdown(failure);
            } catch (RuntimeException e) {
                log.warn("{}: device shutdown: {}", name, e.toString());
            }
            if (failure != null) {
                terminated.completeExceptionally(failure);
            } else {
                terminated.complete(null);
            }
        }
    }

    /** Reads and handles one message; false at a clean end of the connection. */
    private boolean handleOne() throws IOException {
        VhostUserMessage m = VhostUserMessage.read(socket);
        if (m == null) {
            return false;
        }
        try {
            ByteBuffer reply = handle(m);
            if (reply != null) {
                m.reply(socket, reply);
            } else if (m.needsReply() && (ackedProtocols & PROTOCOL_F_REPLY_ACK) != 0) {
                m.reply(socket, VhostUserSocket.le(8).putLong(0, 0));
            }
            return true;
        } finally {
            // Handlers took the fds they keep; the rest are closed here.
            VhostUserSocket.closeAll(m.fds());
        }
    }

    /** Handles one request; returns the reply body or null. */
    private ByteBuffer handle(VhostUserMessage m) throws IOException {
        ByteBuffer body = m.body();
        switch (m.request()) {
            case GET_FEATURES -> {
                m.expect(0, 0);
                return VhostUserSocket.le(8).putLong(0, offeredFeatures());
            }
            case SET_FEATURES -> {
                m.expect(8, 0);
                long f = body.getLong(0);
                if ((f & ~offeredFeatures()) != 0) {
                    throw new VhostUserProtocolException(String.format(
                            "SET_FEATURES acks 0x%x, which was not offered (offered 0x%x)", f, offeredFeatures()));
                }
                vrings.featuresAcked(f);
                return null;
            }
            case GET_PROTOCOL_FEATURES -> {
                m.expect(0, 0);
                return VhostUserSocket.le(8).putLong(0, PROTOCOLS);
            }
            case SET_PROTOCOL_FEATURES -> {
                m.expect(8, 0);
                long f = body.getLong(0);
                if ((f & ~PROTOCOLS) != 0) {
                    throw new VhostUserProtocolException(String.format(
                            "SET_PROTOCOL_FEATURES acks 0x%x, which was not offered (offered 0x%x)", f, PROTOCOLS));
                }
                ackedProtocols = f;
                return null;
            }
            case GET_QUEUE_NUM -> {
                m.expect(0, 0);
                return VhostUserSocket.le(8).putLong(0, vrings.count());
            }
            case SET_OWNER, RESET_OWNER -> {
                m.expect(0, 0);
                return null;
            }
            case SET_MEM_TABLE -> {
                GuestMemory memory = MemoryTable.map(m);
                log.debug("{}: memory table with {} regions", name, memory.regions().size());
                device.setMemory(memory);
                vrings.setMemory(memory);
                return null;
            }
            case SET_VRING_NUM -> vrings.setNum(m);
            case SET_VRING_BASE -> vrings.setBase(m);
            case SET_VRING_ADDR -> vrings.setAddr(m);
            case SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR -> vrings.setFd(m);
            case SET_VRING_ENABLE -> vrings.setEnable(m);
            case GET_VRING_BASE -> {
                return vrings.getBase(m);
            }
            case GET_CONFIG -> {
                return config(m);
            }
            case SET_CONFIG -> throw new VhostUserProtocolException("SET_CONFIG: the vsock config space is read-only");
            default -> throw new VhostUserProtocolException("unknown or unsupported request " + m.request()
                    + " (body " + body.remaining() + " bytes)");
        }
        return null;
    }

    private long offeredFeatures() {
        return device.features() | VIRTIO_F_VERSION_1 | F_PROTOCOL_FEATURES;
    }

    /** GET_CONFIG: a slice of the device's config space. */
    private ByteBuffer config(VhostUserMessage m) {
        ByteBuffer body = m.body();
        if (body.remaining() < 12) {
            throw new VhostUserProtocolException("GET_CONFIG: body of " + body.remaining() + " bytes, need at least 12");
        }
        m.expectFds(0);
        int offset = body.getInt(0);
        int size = body.getInt(4);
        byte[] config = device.config();
        if (size < 0 || offset < 0 || body.remaining() != 12 + size || (long) offset + size > config.length) {
            throw new VhostUserProtocolException("GET_CONFIG: offset " + offset + " size " + size + " (body "
                    + body.remaining() + " bytes) outside the " + config.length + "-byte config space");
        }
        ByteBuffer r = VhostUserSocket.le(12 + size);
        r.putInt(offset).putInt(size).putInt(body.getInt(8)).put(config, offset, size);
        return r;
    }

    /** Ends the connection from another thread without waiting (the device found the guest broken). */
    public void abort() {
        closing = true;
        socket.shutdown();
    }

    /** Ends the device: the frontend connection is closed and the device shut down. */
    @Override
    public void close() {
        closing = true;
        socket.shutdown();
        if (Thread.currentThread() != thread) {
            try {
                thread.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
