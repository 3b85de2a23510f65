package io.nemu.vmm.vhostuser;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The backend half of the vhost-user protocol (QEMU docs/interop/vhost-user.rst) for one device: listens
 * on a unix socket, takes one frontend, and runs its messages on a thread of its own. Feature and
 * protocol-feature negotiation, owner, memory table (passed fds mmapped here), vring setup, config space.
 * A message that breaks the protocol ends the device with a {@link VhostUserProtocolException}.
 */
public final class VhostUserBackend implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(VhostUserBackend.class);

    // Requests (frontend -> backend).
    static final int GET_FEATURES = 1;
    static final int SET_FEATURES = 2;
    static final int SET_OWNER = 3;
    static final int RESET_OWNER = 4;
    static final int SET_MEM_TABLE = 5;
    static final int SET_VRING_NUM = 8;
    static final int SET_VRING_ADDR = 9;
    static final int SET_VRING_BASE = 10;
    static final int GET_VRING_BASE = 11;
    static final int SET_VRING_KICK = 12;
    static final int SET_VRING_CALL = 13;
    static final int SET_VRING_ERR = 14;
    static final int GET_PROTOCOL_FEATURES = 15;
    static final int SET_PROTOCOL_FEATURES = 16;
    static final int GET_QUEUE_NUM = 17;
    static final int SET_VRING_ENABLE = 18;
    static final int GET_CONFIG = 24;
    static final int SET_CONFIG = 25;

    static final int HEADER_SIZE = 12;
    static final int VERSION = 0x1;
    static final int FLAG_REPLY = 0x4;
    static final int FLAG_NEED_REPLY = 0x8;
    /** Largest body we accept: the biggest message we handle is far smaller. */
    static final int MAX_BODY = 4096;

    public static final long VIRTIO_F_VERSION_1 = 1L << 32;
    public static final long F_PROTOCOL_FEATURES = 1L << 30;
    static final long PROTOCOL_F_MQ = 1L << 0;
    static final long PROTOCOL_F_REPLY_ACK = 1L << 3;
    static final long PROTOCOL_F_CONFIG = 1L << 9;
    static final long PROTOCOLS = PROTOCOL_F_MQ | PROTOCOL_F_REPLY_ACK | PROTOCOL_F_CONFIG;
    static final long VRING_FD_INVALID = 1L << 8;
    static final int MAX_REGIONS = 8;

    /** Per-queue setup state as the messages arrive. */
    private static final class Vring {
        int num;
        long descUva;
        long usedUva;
        long availUva;
        boolean addrSet;
        int base;
        int kickFd = -1;
        int callFd = -1;
        boolean enabled;
        boolean started;
    }

    private final String name;
    private final VhostUserSocket socket;
    private final VhostUserDevice device;
    private final Vring[] vrings;
    private final Thread thread;
    private final CompletableFuture<Void> terminated = new CompletableFuture<>();
    private long ackedFeatures;
    private long ackedProtocols;
    private GuestMemory memory;
    private volatile boolean closing;

    private VhostUserBackend(String name, VhostUserSocket socket, VhostUserDevice device) {
        this.name = name;
        this.socket = socket;
        this.device = device;
        this.vrings = new Vring[device.queueCount()];
        for (int i = 0; i < vrings.length; i++) {
            vrings[i] = new Vring();
        }
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
            for (Vring v : vrings) {
                if (!v.started) {
                    Libc.closeQuietly(v.kickFd);
                    Libc.closeQuietly(v.callFd);
                }
            }
            try {
                device.shutdown(failure);
            } catch (RuntimeException e) {
                log.warn("{}: device shutdown: {}", name, e.toString());
            }
            memory = null;
            if (failure != null) {
                terminated.completeExceptionally(failure);
            } else {
                terminated.complete(null);
            }
        }
    }

    /** Reads and handles one message; false at a clean end of the connection. */
    private boolean handleOne() throws IOException {
        ByteBuffer hdr = VhostUserSocket.le(HEADER_SIZE);
        VhostUserSocket.Received first = socket.receive(hdr);
        if (first.length() == 0) {
            VhostUserSocket.closeAll(first.fds());
            return false;
        }
        int[] fds = first.fds();
        try {
            while (hdr.hasRemaining()) {
                if (!socket.readFully(hdr)) {
                    throw new VhostUserProtocolException("frontend closed the connection inside a message header");
                }
            }
            hdr.flip();
            int request = hdr.getInt();
            int flags = hdr.getInt();
            int size = hdr.getInt();
            if ((flags & 0x3) != VERSION) {
                throw new VhostUserProtocolException("request " + request + ": unsupported version in flags 0x"
                        + Integer.toHexString(flags));
            }
            if (size < 0 || size > MAX_BODY) {
                throw new VhostUserProtocolException("request " + request + ": body size " + Integer.toUnsignedString(size)
                        + " exceeds " + MAX_BODY);
            }
            ByteBuffer body = VhostUserSocket.le(size);
            if (size > 0 && !socket.readFully(body)) {
                throw new VhostUserProtocolException("frontend closed the connection before the body of request " + request);
            }
            body.flip();
            // Handlers take the fds they keep by setting their slot to -1; the rest are closed below.
            ByteBuffer reply = handle(request, body, fds);
            if (reply != null) {
                sendReply(request, reply);
            } else if ((flags & FLAG_NEED_REPLY) != 0 && (ackedProtocols & PROTOCOL_F_REPLY_ACK) != 0) {
                sendReply(request, VhostUserSocket.le(8).putLong(0, 0));
            }
            return true;
        } finally {
            VhostUserSocket.closeAll(fds);
        }
    }

    private void sendReply(int request, ByteBuffer payload) throws IOException {
        payload.clear();
        ByteBuffer out = VhostUserSocket.le(HEADER_SIZE + payload.remaining());
        out.putInt(request).putInt(VERSION | FLAG_REPLY).putInt(payload.remaining()).put(payload).flip();
        socket.send(out);
    }

    /** Handles one request; returns the reply body or null. */
    private ByteBuffer handle(int request, ByteBuffer body, int[] fds) throws IOException {
        switch (request) {
            case GET_FEATURES -> {
                expect(request, body, 0, fds, 0);
                return VhostUserSocket.le(8).putLong(0, offeredFeatures());
            }
            case SET_FEATURES -> {
                expect(request, body, 8, fds, 0);
                long f = body.getLong(0);
                if ((f & ~offeredFeatures()) != 0) {
                    throw new VhostUserProtocolException(String.format(
                            "SET_FEATURES acks 0x%x, which was not offered (offered 0x%x)", f, offeredFeatures()));
                }
                ackedFeatures = f;
                return null;
            }
            case GET_PROTOCOL_FEATURES -> {
                expect(request, body, 0, fds, 0);
                return VhostUserSocket.le(8).putLong(0, PROTOCOLS);
            }
            case SET_PROTOCOL_FEATURES -> {
                expect(request, body, 8, fds, 0);
                long f = body.getLong(0);
                if ((f & ~PROTOCOLS) != 0) {
                    throw new VhostUserProtocolException(String.format(
                            "SET_PROTOCOL_FEATURES acks 0x%x, which was not offered (offered 0x%x)", f, PROTOCOLS));
                }
                ackedProtocols = f;
                return null;
            }
            case GET_QUEUE_NUM -> {
                expect(request, body, 0, fds, 0);
                return VhostUserSocket.le(8).putLong(0, vrings.length);
            }
            case SET_OWNER, RESET_OWNER -> {
                expect(request, body, 0, fds, 0);
                return null;
            }
            case SET_MEM_TABLE -> {
                setMemTable(body, fds);
                return null;
            }
            case SET_VRING_NUM -> {
                expect(request, body, 8, fds, 0);
                Vring v = vring(request, body.getInt(0));
                int num = body.getInt(4);
                if (num < 1 || num > Virtqueue.MAX_SIZE || Integer.bitCount(num) != 1) {
                    throw new VhostUserProtocolException("SET_VRING_NUM: size " + num + " is not a power of two up to "
                            + Virtqueue.MAX_SIZE);
                }
                notStarted(request, v, body.getInt(0));
                v.num = num;
                return null;
            }
            case SET_VRING_BASE -> {
                expect(request, body, 8, fds, 0);
                Vring v = vring(request, body.getInt(0));
                notStarted(request, v, body.getInt(0));
                int base = body.getInt(4);
                if (base < 0 || base > 0xffff) {
                    throw new VhostUserProtocolException("SET_VRING_BASE: index " + base + " is not a 16-bit value");
                }
                v.base = base;
                return null;
            }
            case SET_VRING_ADDR -> {
                expect(request, body, 40, fds, 0);
                int index = body.getInt(0);
                Vring v = vring(request, index);
                notStarted(request, v, index);
                if ((body.getInt(4) & 1) != 0) {
                    throw new VhostUserProtocolException("SET_VRING_ADDR: dirty logging requested but not offered");
                }
                v.descUva = body.getLong(8);
                v.usedUva = body.getLong(16);
                v.availUva = body.getLong(24);
                v.addrSet = true;
                maybeStart(index);
                return null;
            }
            case SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR -> {
                setVringFd(request, body, fds);
                return null;
            }
            case SET_VRING_ENABLE -> {
                expect(request, body, 8, fds, 0);
                int index = body.getInt(0);
                Vring v = vring(request, index);
                int on = body.getInt(4);
                if (on != 0 && on != 1) {
                    throw new VhostUserProtocolException("SET_VRING_ENABLE: state " + on + " is neither 0 nor 1");
                }
                v.enabled = on == 1;
                maybeStart(index);
                return null;
            }
            case GET_VRING_BASE -> {
                expect(request, body, 8, fds, 0);
                int index = body.getInt(0);
                Vring v = vring(request, index);
                int last = v.base;
                if (v.started) {
                    last = device.stopQueue(index);
                    v.started = false;
                    v.kickFd = -1;
                    v.callFd = -1;
                } else {
                    Libc.closeQuietly(v.kickFd);
                    v.kickFd = -1;
                }
                v.base = last;
                v.enabled = false;
                return VhostUserSocket.le(8).putInt(0, index).putInt(4, last);
            }
            case GET_CONFIG -> {
                if (body.remaining() < 12) {
                    throw new VhostUserProtocolException("GET_CONFIG: body of " + body.remaining() + " bytes, need at least 12");
                }
                expectFds(request, fds, 0);
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
            case SET_CONFIG -> throw new VhostUserProtocolException("SET_CONFIG: the vsock config space is read-only");
            default -> throw new VhostUserProtocolException("unknown or unsupported request " + request
                    + " (body " + body.remaining() + " bytes)");
        }
    }

    private long offeredFeatures() {
        return device.features() | VIRTIO_F_VERSION_1 | F_PROTOCOL_FEATURES;
    }

    private void setMemTable(ByteBuffer body, int[] fds) throws IOException {
        List<GuestMemory.Region> regions = new ArrayList<>();
        try {
            if (body.remaining() < 8) {
                throw new VhostUserProtocolException("SET_MEM_TABLE: body of " + body.remaining() + " bytes");
            }
            int n = body.getInt(0);
            if (n < 1 || n > MAX_REGIONS || body.remaining() != 8 + 32 * n) {
                throw new VhostUserProtocolException("SET_MEM_TABLE: " + n + " regions in a body of " + body.remaining()
                        + " bytes (1.." + MAX_REGIONS + " regions of 32 bytes after 8)");
            }
            expectFds(SET_MEM_TABLE, fds, n);
            for (int i = 0; i < n; i++) {
                int o = 8 + 32 * i;
                long gpa = body.getLong(o);
                long size = body.getLong(o + 8);
                long uva = body.getLong(o + 16);
                long mmapOffset = body.getLong(o + 24);
                if (size <= 0 || mmapOffset < 0 || gpa + size < gpa || mmapOffset + size < 0) {
                    throw new VhostUserProtocolException(String.format(
                            "SET_MEM_TABLE: region %d (gpa 0x%x size 0x%x offset 0x%x) is not a valid range", i, gpa, size,
                            mmapOffset));
                }
                regions.add(new GuestMemory.Region(gpa, size, uva, GuestMemory.map(fds[i], size, mmapOffset)));
            }
        } catch (IOException | RuntimeException e) {
            for (GuestMemory.Region r : regions) {
                r.backing().release();
            }
            throw e;
        }
        memory = new GuestMemory(regions);
        log.debug("{}: memory table with {} regions", name, regions.size());
        device.setMemory(memory);
        for (int i = 0; i < vrings.length; i++) {
            maybeStart(i);
        }
    }

    private void setVringFd(int request, ByteBuffer body, int[] fds) {
        expect(request, body, 8, fds, -1);
        long u = body.getLong(0);
        int index = (int) (u & 0xff);
        vring(request, index);
        boolean invalid = (u & VRING_FD_INVALID) != 0;
        if ((u & ~0x1ffL) != 0) {
            throw new VhostUserProtocolException(String.format("request %d: bad vring fd word 0x%x", request, u));
        }
        expectFds(request, fds, invalid ? 0 : 1);
        int fd = fds.length == 1 ? fds[0] : -1;
        if (fd >= 0) {
            fds[0] = -1;
        }
        Vring v = vrings[index];
        switch (request) {
            case SET_VRING_KICK -> {
                if (fd < 0) {
                    throw new VhostUserProtocolException("SET_VRING_KICK " + index + ": polling mode is not supported");
                }
                if (v.started) {
                    Libc.closeQuietly(fd);
                    throw new VhostUserProtocolException("SET_VRING_KICK " + index + " while the queue runs");
                }
                Libc.closeQuietly(v.kickFd);
                v.kickFd = fd;
                maybeStart(index);
            }
            case SET_VRING_CALL -> {
                if (v.started) {
                    device.setCallFd(index, fd);
                } else {
                    Libc.closeQuietly(v.callFd);
                    v.callFd = fd;
                }
            }
            default -> Libc.closeQuietly(fd); // error notifications: we report errors by closing
        }
    }

    /** Starts a queue once it has everything: memory, size, addresses, kick fd and (with protocol features) enabled. */
    private void maybeStart(int index) {
        Vring v = vrings[index];
        boolean enabled = v.enabled || (ackedFeatures & F_PROTOCOL_FEATURES) == 0;
        if (v.started || memory == null || !v.addrSet || v.kickFd < 0 || v.num == 0 || !enabled) {
            return;
        }
        Virtqueue q;
        try {
            long descGpa = memory.uvaToGpa(v.descUva, (long) Virtqueue.DESC_SIZE * v.num);
            long availGpa = memory.uvaToGpa(v.availUva, 6L + 2L * v.num);
            long usedGpa = memory.uvaToGpa(v.usedUva, 6L + 8L * v.num);
            q = new Virtqueue(memory, v.num, descGpa, availGpa, usedGpa, v.base);
        } catch (GuestMemory.GuestMemoryException | IllegalArgumentException e) {
            throw new VhostUserProtocolException("vring " + index + ": " + e.getMessage());
        }
        v.started = true;
        device.startQueue(index, q, v.kickFd, v.callFd);
        log.debug("{}: queue {} started (size {}, base {})", name, index, v.num, v.base);
    }

    private Vring vring(int request, int index) {
        if (index < 0 || index >= vrings.length) {
            throw new VhostUserProtocolException("request " + request + ": vring index " + index + " out of range (device has "
                    + vrings.length + " queues)");
        }
        return vrings[index];
    }

    private static void notStarted(int request, Vring v, int index) {
        if (v.started) {
            throw new VhostUserProtocolException("request " + request + " on vring " + index + " while it runs");
        }
    }

    private static void expect(int request, ByteBuffer body, int size, int[] fds, int fdCount) {
        if (body.remaining() != size) {
            throw new VhostUserProtocolException("request " + request + ": body of " + body.remaining()
                    + " bytes, expected " + size);
        }
        if (fdCount >= 0) {
            expectFds(request, fds, fdCount);
        }
    }

    private static void expectFds(int request, int[] fds, int count) {
        if (fds.length != count) {
            throw new VhostUserProtocolException("request " + request + ": " + fds.length + " fds attached, expected " + count);
        }
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

    /** The frontend broke the vhost-user protocol. */
    public static final class VhostUserProtocolException extends RuntimeException {
        public VhostUserProtocolException(String message) {
            super(message);
        }
    }
}
