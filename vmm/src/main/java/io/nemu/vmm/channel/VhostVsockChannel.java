package io.nemu.vmm.channel;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import io.nemu.vmm.MachineProfile;
import io.nemu.vmm.PrivateFiles;
import io.nemu.vmm.vhostuser.Libc;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Agent channel over the host kernel's vhost-vsock ({@value #DEVICE}): QEMU gets a
 * {@code vhost-vsock-device|pci} with a guest CID probed free the way Kata does (the
 * VHOST_VSOCK_SET_GUEST_CID ioctl fails with EADDRINUSE for a CID in use), and {@link #dial} connects
 * with AF_VSOCK. Java has no AF_VSOCK channel, so each dial relays the vsock fd through a private unix
 * socket pair to hand back a {@link SocketChannel}.
 *
 * <p>Not exercised on the build machines (no /dev/vhost-vsock there). The probed CID is released again
 * before QEMU claims it (QEMU cannot inherit our fd from ProcessBuilder), so two VMs started at the
 * same instant could race for it; QEMU then fails to start with a clear error.
 */
public final class VhostVsockChannel implements AgentChannel {
    public static final String DEVICE = "/dev/vhost-vsock";
    /** _IOW(VHOST_VIRTIO 0xAF, 0x60, __u64). */
    static final long VHOST_VSOCK_SET_GUEST_CID = 0x4008AF60L;
    static final long FIRST_CID = 3;
    static final long MAX_CID = 0xffffffffL - 1;
    public static final String DEVICE_ID = "vsock0dev";

    private final long guestCid;
    private final int port;
    private final Path relayDir;
    private final AtomicInteger dials = new AtomicInteger();

    public VhostVsockChannel(long guestCid, int port, Path relayBase) {
        if (guestCid < FIRST_CID || guestCid > MAX_CID) {
            throw new IllegalArgumentException("guest CID must be " + FIRST_CID + ".." + MAX_CID + ", got " + guestCid);
        }
        this.guestCid = guestCid;
        this.port = port;
        this.relayDir = relayBase;
    }

    public static boolean available() {
        return Files.exists(Path.of(DEVICE));
    }

    /**
     * Probes a free guest CID and returns a channel to the agent's {@code port} on it; {@code relayBase}
     * prefixes the relay sockets.
     */
    public static VhostVsockChannel reserve(Path relayBase, int port) throws IOException {
        return new VhostVsockChannel(probeFreeCid(), port, relayBase);
    }

    /** Tries CIDs from a random start until the kernel accepts one (as Kata does). */
    static long probeFreeCid() throws IOException {
        int fd;
        try {
            fd = Libc.C.open(DEVICE, Libc.O_RDWR | Libc.O_CLOEXEC);
        } catch (LastErrorException e) {
            throw Libc.error("open " + DEVICE, e);
        }
        try (Memory cid = new Memory(8)) {
            long start = FIRST_CID + ThreadLocalRandom.current().nextLong(1 << 20);
            for (long i = 0; i < 4096; i++) {
                long c = start + i;
                cid.setLong(0, c);
                try {
                    Libc.C.ioctl(fd, VHOST_VSOCK_SET_GUEST_CID, cid);
                    return c;
                } catch (LastErrorException e) {
                    if (e.getErrorCode() != Libc.EADDRINUSE) {
                        throw Libc.error("VHOST_VSOCK_SET_GUEST_CID " + c + " on " + DEVICE, e);
                    }
                }
            }
            throw new IOException("no free guest CID found from " + start + " (4096 tried)");
        } finally {
            Libc.closeQuietly(fd);
        }
    }

    public long guestCid() {
        return guestCid;
    }

    @Override
    public String kind() {
        return "vhost-vsock";
    }

    @Override
    public List<String> qemuArgs(MachineProfile profile) {
        return List.of("-device", profile.vhostVsockDevice() + ",id=" + DEVICE_ID + ",guest-cid=" + guestCid
                + profile.virtioDeviceOptions());
    }

    @Override
    public SocketChannel dial(Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        String last = "";
        do {
            int fd = -1;
            try {
                fd = Libc.C.socket(Libc.AF_VSOCK, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
                byte[] addr = Libc.sockaddrVm(guestCid, port);
                Libc.C.connect(fd, addr, addr.length);
                return relay(fd);
            } catch (LastErrorException e) {
                Libc.closeQuietly(fd);
                last = "errno " + e.getErrorCode();
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while dialing vsock " + guestCid + ":" + port, e);
            }
        } while (System.nanoTime() < deadline);
        throw new IOException("vsock " + guestCid + ":" + port + " not reachable within " + timeout.toMillis() + " ms: "
                + last);
    }

    /** Pairs the vsock fd with a unix socket pair and pumps bytes both ways on two threads. */
    private SocketChannel relay(int vsockFd) throws IOException {
        Path path = Path.of(relayDir + "." + dials.incrementAndGet());
        Files.deleteIfExists(path);
        SocketChannel client;
        SocketChannel inner;
        try (ServerSocketChannel ss = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            ss.bind(UnixDomainSocketAddress.of(path), 1);
            PrivateFiles.restrict(path);
            client = SocketChannel.open(UnixDomainSocketAddress.of(path));
            inner = ss.accept();
        } catch (IOException e) {
            Libc.closeQuietly(vsockFd);
            throw e;
        } finally {
            Files.deleteIfExists(path);
        }
        String name = "vhost-vsock-relay-" + guestCid + "-" + dials.get();
        AtomicInteger live = new AtomicInteger(2);
        Thread toGuest = new Thread(() -> pump(inner, vsockFd, true, live), name + "-out");
        Thread fromGuest = new Thread(() -> pump(inner, vsockFd, false, live), name + "-in");
        toGuest.setDaemon(true);
        fromGuest.setDaemon(true);
        toGuest.start();
        fromGuest.start();
        return client;
    }

    private static void pump(SocketChannel inner, int fd, boolean toGuest, AtomicInteger live) {
        try (Memory m = new Memory(65536)) {
            ByteBuffer buf = m.getByteBuffer(0, 65536);
            while (true) {
                buf.clear();
                if (toGuest) {
                    int n = inner.read(buf);
                    if (n < 0) {
                        Libc.C.shutdown(fd, 1);
                        return;
                    }
                    long off = 0;
                    while (off < n) {
                        off += Libc.C.write(fd, m.share(off), n - off);
                    }
                } else {
                    long n = Libc.C.read(fd, m, 65536);
                    if (n <= 0) {
                        inner.shutdownOutput();
                        return;
                    }
                    buf.limit((int) n);
                    while (buf.hasRemaining()) {
                        inner.write(buf);
                    }
                }
            }
        } catch (IOException | LastErrorException e) {
            try {
                inner.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        } finally {
            // The second pump to end closes both ends.
            if (live.decrementAndGet() == 0) {
                Libc.closeQuietly(fd);
                try {
                    inner.close();
                } catch (IOException ignored) {
                    // closing anyway
                }
            }
        }
    }

    @Override
    public void close() {
        // Nothing host-side: relays end with their connections.
    }
}
