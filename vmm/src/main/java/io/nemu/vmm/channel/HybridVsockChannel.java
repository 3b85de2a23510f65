package io.nemu.vmm.channel;

import io.nemu.vmm.MachineProfile;
import io.nemu.vmm.vsock.VhostUserVsock;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * Agent channel over vsock through our in-process vhost-user-vsock backend ({@link VhostUserVsock}):
 * QEMU gets a vhost-user-vsock device on {@code vhostSocket}; {@link #dial} connects to the guest's
 * port (the config's {@code agentPort}) through the hybrid unix socket ({@code CONNECT <port>} /
 * {@code OK <port>}).
 */
public final class HybridVsockChannel implements AgentChannel {
    static final String CHARDEV_ID = "vsock0";
    /** QOM id of the device: /machine/peripheral/vsock0dev. */
    public static final String DEVICE_ID = "vsock0dev";

    private final Path vhostSocket;
    private final Path hybridSocket;
    private final int port;
    private final VhostUserVsock backend;

    private HybridVsockChannel(Path vhostSocket, Path hybridSocket, int port, VhostUserVsock backend) {
        this.vhostSocket = vhostSocket;
        this.hybridSocket = hybridSocket;
        this.port = port;
        this.backend = backend;
    }

    /** Starts the backend (listening on both sockets); {@link #dial} reaches the agent on {@code port}. */
    public static HybridVsockChannel start(String name, Path vhostSocket, Path hybridSocket, int port)
            throws IOException {
        return new HybridVsockChannel(vhostSocket, hybridSocket, port,
                VhostUserVsock.start(name, vhostSocket, hybridSocket, VhostUserVsock.DEFAULT_GUEST_CID));
    }

    /** A channel object for the command line only (no backend), e.g. for tests of the QEMU arguments. */
    public static HybridVsockChannel describe(Path vhostSocket, Path hybridSocket, int port) {
        return new HybridVsockChannel(vhostSocket, hybridSocket, port, null);
    }

    public Path hybridSocket() {
        return hybridSocket;
    }

    public VhostUserVsock backend() {
        return backend;
    }

    @Override
    public String kind() {
        return "vsock";
    }

    @Override
    public List<String> qemuArgs(MachineProfile profile) {
        return List.of(
                "-chardev", "socket,id=" + CHARDEV_ID + ",path=" + vhostSocket,
                "-device", profile.vhostUserVsockDevice() + ",id=" + DEVICE_ID + ",chardev=" + CHARDEV_ID
                        + profile.virtioDeviceOptions());
    }

    @Override
    public SocketChannel dial(Duration timeout) throws IOException {
        return connect(hybridSocket, port, timeout);
    }

    /**
     * Connects to guest {@code port} through a hybrid vsock socket, retrying until {@code timeout} while
     * the socket is missing or the guest refuses (nothing listening yet). Returns a blocking channel
     * positioned after the {@code OK} line.
     */
    public static SocketChannel connect(Path hybridSocket, int port, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        String last = "socket missing";
        do {
            if (Files.exists(hybridSocket)) {
                SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
                try {
                    ch.connect(UnixDomainSocketAddress.of(hybridSocket));
                    ch.write(ByteBuffer.wrap(("CONNECT " + port + "\n").getBytes(StandardCharsets.US_ASCII)));
                    String line = readLine(ch, deadline);
                    if (line != null && line.startsWith("OK ")) {
                        ch.configureBlocking(true);
                        return ch;
                    }
                    last = line == null ? "guest refused port " + port : "unexpected answer '" + line + "'";
                } catch (IOException e) {
                    last = e.getMessage();
                }
                ch.close();
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while dialing vsock port " + port + " via " + hybridSocket, e);
            }
        } while (System.nanoTime() < deadline);
        throw new IOException("vsock port " + port + " via " + hybridSocket + " not reachable within "
                + timeout.toMillis() + " ms: " + last);
    }

    /** Reads one line byte by byte (no data after it is consumed); null on EOF or deadline. */
    private static String readLine(SocketChannel ch, long deadline) throws IOException {
        ch.configureBlocking(false);
        StringBuilder sb = new StringBuilder();
        ByteBuffer one = ByteBuffer.allocate(1);
        try (Selector sel = Selector.open()) {
            ch.register(sel, SelectionKey.OP_READ);
            while (true) {
                one.clear();
                int n = ch.read(one);
                if (n < 0) {
                    return null;
                }
                if (n == 0) {
                    long left = (deadline - System.nanoTime()) / 1_000_000;
                    if (left <= 0) {
                        return null;
                    }
                    sel.select(left);
                    sel.selectedKeys().clear();
                    continue;
                }
                char c = (char) (one.get(0) & 0xff);
                if (c == '\n') {
                    return sb.toString();
                }
                sb.append(c);
                if (sb.length() > 64) {
                    throw new IOException("answer line too long: " + sb);
                }
            }
        }
    }

    @Override
    public void close() {
        if (backend != null) {
            backend.close();
        }
        try {
            Files.deleteIfExists(vhostSocket);
            Files.deleteIfExists(hybridSocket);
        } catch (IOException ignored) {
            // best effort
        }
    }
}
