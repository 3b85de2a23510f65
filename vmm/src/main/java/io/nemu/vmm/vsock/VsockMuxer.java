package io.nemu.vmm.vsock;

import io.nemu.vmm.PrivateFiles;
import io.nemu.vmm.vhostuser.DescriptorChain;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Connections of one vsock device and their host side, in Firecracker's hybrid convention: host clients
 * connect to a unix socket and write {@code CONNECT <port>\n}, get {@code OK <host port>\n} once the guest
 * accepted; a guest connection to host port P goes to the unix socket {@code <socket>_P} if one listens.
 * Runs on the device worker thread, driven by its selector.
 */
final class VsockMuxer {
    private static final Logger log = LoggerFactory.getLogger(VsockMuxer.class);
    private static final Pattern CONNECT = Pattern.compile("CONNECT ([0-9]{1,10})");
    private static final int MAX_LINE = 64;
    /** A host client must finish its CONNECT line, and the guest must get the REQUEST, within this. */
    static final long HANDSHAKE_TIMEOUT_NANOS = 10_000_000_000L;
    /** Host-initiated connections get local ports from here up (as Firecracker does). */
    static final int FIRST_LOCAL_PORT = 1 << 30;

    /** A host client that has not finished its CONNECT line. */
    private static final class Handshake {
        final SocketChannel channel;
        final long deadline;
        final StringBuilder line = new StringBuilder();
        final ByteBuffer one = ByteBuffer.allocate(1);

        Handshake(SocketChannel channel, long deadline) {
            this.channel = channel;
            this.deadline = deadline;
        }
    }

    private final String name;
    private final long guestCid;
    private final Path hybridSocket;
    private final Selector selector;
    private final ServerSocketChannel listener;
    private final Map<Long, VsockConnection> conns = new LinkedHashMap<>();
    private final List<Handshake> handshakes = new ArrayList<>();
    /** RSTs for packets that belong to no connection. */
    private final ArrayDeque<VsockHeader> orphanRsts = new ArrayDeque<>();
    private int nextLocalPort = FIRST_LOCAL_PORT;

    VsockMuxer(String name, long guestCid, Path hybridSocket, Selector selector) throws IOException {
        this.name = name;
        this.guestCid = guestCid;
        this.hybridSocket = hybridSocket;
        this.selector = selector;
        Files.deleteIfExists(hybridSocket);
        this.listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            listener.bind(UnixDomainSocketAddress.of(hybridSocket), 64);
            PrivateFiles.restrict(hybridSocket);
            listener.configureBlocking(false);
            listener.register(selector, SelectionKey.OP_ACCEPT, this);
        } catch (IOException e) {
            listener.close();
            throw new IOException("cannot listen on the hybrid vsock socket " + hybridSocket + ": " + e.getMessage(), e);
        }
    }

    int connectionCount() {
        return conns.size();
    }

    // ---- selector events ----

    void onReady(SelectionKey k) {
        Object a = k.attachment();
        if (!k.isValid()) {
            return;
        }
        if (a == this) {
            accept();
        } else if (a instanceof Handshake h) {
            readHandshake(h);
        } else if (a instanceof VsockConnection c) {
            if (k.isValid() && k.isWritable()) {
                c.onHostWritable();
            }
            if (k.isValid() && k.isReadable()) {
                c.onHostReadable();
            }
            reap(c);
        }
    }

    private void accept() {
        while (true) {
            SocketChannel ch;
            try {
                ch = listener.accept();
            } catch (IOException e) {
                log.warn("{}: accept on {}: {}", name, hybridSocket, e.getMessage());
                return;
            }
            if (ch == null) {
                return;
            }
            try {
                ch.configureBlocking(false);
                Handshake h = new Handshake(ch, System.nanoTime() + HANDSHAKE_TIMEOUT_NANOS);
                ch.register(selector, SelectionKey.OP_READ, h);
                handshakes.add(h);
            } catch (IOException e) {
                closeQuietly(ch);
            }
        }
    }

    /** Reads the CONNECT line a byte at a time so that no data after it is taken early. */
    private void readHandshake(Handshake h) {
        try {
            while (true) {
                h.one.clear();
                int n = h.channel.read(h.one);
                if (n == 0) {
                    return;
                }
                if (n < 0) {
                    dropHandshake(h, "host client closed before its CONNECT line ended");
                    return;
                }
                char c = (char) (h.one.get(0) & 0xff);
                if (c == '\n') {
                    break;
                }
                h.line.append(c);
                if (h.line.length() > MAX_LINE) {
                    dropHandshake(h, "CONNECT line longer than " + MAX_LINE + " bytes");
                    return;
                }
            }
        } catch (IOException e) {
            dropHandshake(h, e.getMessage());
            return;
        }
        String line = h.line.toString().strip();
        Matcher m = CONNECT.matcher(line);
        long port = m.matches() ? Long.parseLong(m.group(1)) : -1;
        if (port < 0 || port > 0xffffffffL) {
            dropHandshake(h, "expected 'CONNECT <port>', got '" + line + "'");
            return;
        }
        handshakes.remove(h);
        int local = allocateLocalPort((int) port);
        VsockConnection c = VsockConnection.hostInitiated(guestCid, local, (int) port, h.channel, h.deadline);
        conns.put(c.key(), c);
        c.attach(h.channel.keyFor(selector));
        h.channel.keyFor(selector).attach(c);
        log.debug("{}: host client connects to guest port {} as host port {}", name, port, Integer.toUnsignedString(local));
    }

    private int allocateLocalPort(int peerPort) {
        while (true) {
            int p = nextLocalPort++;
            if (nextLocalPort == 0) {
                nextLocalPort = FIRST_LOCAL_PORT;
            }
            if (!conns.containsKey(VsockConnection.key(p, peerPort))) {
                return p;
            }
        }
    }

    private void dropHandshake(Handshake h, String why) {
        log.debug("{}: host client dropped: {}", name, why);
        handshakes.remove(h);
        closeQuietly(h.channel);
    }

    /** Timeouts of handshakes and of connection requests the guest did not answer. */
    void onTimer(long now) {
        for (Iterator<Handshake> it = handshakes.iterator(); it.hasNext(); ) {
            Handshake h = it.next();
            if (now - h.deadline >= 0) {
                it.remove();
                closeQuietly(h.channel);
            }
        }
        for (VsockConnection c : new ArrayList<>(conns.values())) {
            c.checkTimeout(now);
            reap(c);
        }
    }

    /** Nanoseconds until the next timeout, or Long.MAX_VALUE. */
    long nextDeadline() {
        long d = Long.MAX_VALUE;
        for (Handshake h : handshakes) {
            d = Math.min(d, h.deadline);
        }
        for (VsockConnection c : conns.values()) {
            d = Math.min(d, c.deadline());
        }
        return d;
    }

    // ---- tx queue: packets from the guest ----

    /** One packet from the tx queue. */
    void onGuestPacket(DescriptorChain chain) {
        if (chain.readableLength() < VsockHeader.SIZE) {
            log.warn("{}: tx buffer of {} bytes is shorter than a header; dropped", name, chain.readableLength());
            return;
        }
        ByteBuffer hb = ByteBuffer.allocate(VsockHeader.SIZE);
        chain.read(0, hb);
        VsockHeader h = VsockHeader.parse(hb.flip());
        if (h.srcCid() != guestCid || h.dstCid() != VsockDevice.HOST_CID) {
            log.debug("{}: dropped packet with bad addresses: {}", name, h);
            return;
        }
        if (h.type() != VsockHeader.TYPE_STREAM) {
            rstFor(h);
            return;
        }
        if (h.op() == VsockHeader.OP_RW
                && Integer.toUnsignedLong(h.len()) > chain.readableLength() - (long) VsockHeader.SIZE) {
            log.warn("{}: packet says {} payload bytes, buffer holds {}; dropped", name,
                    Integer.toUnsignedString(h.len()), chain.readableLength() - VsockHeader.SIZE);
            return;
        }
        VsockConnection c = conns.get(VsockConnection.key(h.dstPort(), h.srcPort()));
        if (c == null) {
            if (h.op() == VsockHeader.OP_REQUEST) {
                guestConnect(h);
            } else if (h.op() != VsockHeader.OP_RST) {
                rstFor(h);
            }
            return;
        }
        c.onGuestPacket(h, chain);
        reap(c);
    }

    /** The guest connects to host port P: hand it to {@code <socket>_P} if something listens there. */
    private void guestConnect(VsockHeader h) {
        Path target = Path.of(hybridSocket + "_" + Integer.toUnsignedString(h.dstPort()));
        SocketChannel ch = null;
        try {
            if (!Files.exists(target)) {
                log.debug("{}: guest port {} connects to host port {}: nothing listens at {}", name,
                        Integer.toUnsignedString(h.srcPort()), Integer.toUnsignedString(h.dstPort()), target);
                rstFor(h);
                return;
            }
            ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            ch.configureBlocking(false);
            if (!ch.connect(UnixDomainSocketAddress.of(target)) && !ch.finishConnect()) {
                throw new IOException("connection pending (listener backlog full)");
            }
            VsockConnection c = VsockConnection.guestInitiated(guestCid, h, ch);
            conns.put(c.key(), c);
            c.attach(ch.register(selector, 0, c));
            log.debug("{}: guest port {} connected to {}", name, Integer.toUnsignedString(h.srcPort()), target);
        } catch (IOException e) {
            log.debug("{}: guest connection to {} failed: {}", name, target, e.getMessage());
            closeQuietly(ch);
            rstFor(h);
        }
    }

    private void rstFor(VsockHeader h) {
        orphanRsts.add(new VsockHeader(VsockDevice.HOST_CID, guestCid, h.dstPort(), h.srcPort(), 0,
                VsockHeader.TYPE_STREAM, VsockHeader.OP_RST, 0, 0, 0));
    }

    // ---- rx queue: packets to the guest ----

    boolean hasRxWork() {
        if (!orphanRsts.isEmpty()) {
            return true;
        }
        for (VsockConnection c : conns.values()) {
            if (c.hasRxWork()) {
                return true;
            }
        }
        return false;
    }

    /**
     * Fills one rx chain with the next packet owed to the guest (connections served round robin);
     * returns the bytes written, or -1 when nothing was there after all.
     */
    int fillRx(DescriptorChain chain) {
        VsockHeader rst = orphanRsts.poll();
        if (rst != null) {
            chain.write(0, rst.toBuffer());
            return VsockHeader.SIZE;
        }
        for (VsockConnection c : new ArrayList<>(conns.values())) {
            if (!c.hasRxWork()) {
                continue;
            }
            int n = c.fillRx(chain);
            // Round robin: the connection served goes to the back.
            conns.remove(c.key());
            if (!c.finished()) {
                conns.put(c.key(), c);
            }
            if (n >= 0) {
                return n;
            }
        }
        return -1;
    }

    private void reap(VsockConnection c) {
        if (c.finished()) {
            conns.remove(c.key());
        }
    }

    /** Closes every host socket and the listener (the device is going away). */
    void closeAll() {
        for (VsockConnection c : conns.values()) {
            c.close("device closed");
        }
        conns.clear();
        for (Handshake h : handshakes) {
            closeQuietly(h.channel);
        }
        handshakes.clear();
        closeQuietly(listener);
        try {
            Files.deleteIfExists(hybridSocket);
        } catch (IOException ignored) {
            // best effort
        }
    }

    private static void closeQuietly(java.nio.channels.Channel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }
}
