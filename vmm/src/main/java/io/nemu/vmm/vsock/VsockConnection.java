package io.nemu.vmm.vsock;

import io.nemu.vmm.vhostuser.DescriptorChain;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One stream connection between a host unix socket and a guest vsock port, with credit-based flow
 * control both ways: the guest may have at most our {@link #BUF_ALLOC} bytes unforwarded, and we send it
 * at most its advertised buf_alloc minus what it has not yet consumed. Runs on the device worker thread.
 */
final class VsockConnection {
    private static final Logger log = LoggerFactory.getLogger(VsockConnection.class);

    /**
     * What the host side buffers per connection for data from the guest: our buf_alloc. A whole 1 MiB stdio reply
     * fits, so the guest's writer rarely sleeps for credit (each update is an interrupt to its one vCPU).
     */
    static final int BUF_ALLOC = 1 << 20;
    /** Largest payload per packet we put into the rx queue. */
    static final int MAX_PAYLOAD = 64 * 1024;
    /** How long the guest has to answer a host-initiated REQUEST once it is in the rx queue. */
    static final long RESPONSE_TIMEOUT_NANOS = 2_000_000_000L;

    // Control packets owed to the guest.
    private static final int P_REQUEST = 1;
    private static final int P_RESPONSE = 2;
    private static final int P_CREDIT_UPDATE = 4;
    private static final int P_CREDIT_REQUEST = 8;
    private static final int P_RST = 16;

    final int localPort;
    final int peerPort;
    private final long guestCid;
    private final SocketChannel host;
    private SelectionKey key;
    private ConnState state;
    private int pending;
    private boolean hostReadable;
    private boolean hostOutputShut;
    private boolean hostEof;
    private int peerShutdown;
    // Guest -> host.
    private ByteBuffer txBuf;
    private int fwdCnt;
    private int lastFwdCntSent;
    // Host -> guest.
    private int peerBufAlloc;
    private int peerFwdCnt;
    private int rxCnt;
    private boolean creditRequested;

    private VsockConnection(long guestCid, int localPort, int peerPort, SocketChannel host, ConnState state, int pending) {
        this.guestCid = guestCid;
        this.localPort = localPort;
        this.peerPort = peerPort;
        this.host = host;
        this.state = state;
        this.pending = pending;
    }

    /** Host client asked for guest port {@code peerPort}: a REQUEST goes out first. */
    static VsockConnection hostInitiated(long guestCid, int localPort, int peerPort, SocketChannel host,
            long handshakeDeadline) {
        return new VsockConnection(guestCid, localPort, peerPort, host, new ConnState.Connecting(handshakeDeadline),
                P_REQUEST);
    }

    /** Guest asked for host port {@code localPort} and a host listener took it: RESPONSE goes out. */
    static VsockConnection guestInitiated(long guestCid, VsockHeader request, SocketChannel host) {
        VsockConnection c = new VsockConnection(guestCid, request.dstPort(), request.srcPort(), host,
                new ConnState.Established(), P_RESPONSE);
        c.updatePeerCredit(request);
        return c;
    }

    static long key(int localPort, int peerPort) {
        return (Integer.toUnsignedLong(localPort) << 32) | Integer.toUnsignedLong(peerPort);
    }

    long key() {
        return key(localPort, peerPort);
    }

    ConnState state() {
        return state;
    }

    SocketChannel host() {
        return host;
    }

    void attach(SelectionKey k) {
        this.key = k;
        updateInterest();
    }

    /** Done and nothing more owed to the guest: the muxer forgets it. */
    boolean finished() {
        return state instanceof ConnState.Closed && (pending & P_RST) == 0;
    }

    /** Deadline of a pending handshake, or Long.MAX_VALUE. */
    long deadline() {
        return state instanceof ConnState.Connecting c ? c.deadlineNanos() : Long.MAX_VALUE;
    }

    void checkTimeout(long now) {
        if (state instanceof ConnState.Connecting c && now - c.deadlineNanos() >= 0) {
            closeWithRst("guest did not answer the connection request to port " + Integer.toUnsignedString(peerPort));
        }
    }

    // ---- guest -> host ----

    /** A packet from the guest for this connection; the payload (if any) follows the header in {@code chain}. */
    void onGuestPacket(VsockHeader h, DescriptorChain chain) {
        updatePeerCredit(h);
        switch (h.op()) {
            case VsockHeader.OP_RESPONSE -> {
                if (state instanceof ConnState.Connecting) {
                    state = new ConnState.Established();
                    try {
                        // A fresh socket's buffer always takes one short line.
                        ByteBuffer ok = ByteBuffer.wrap(("OK " + Integer.toUnsignedString(localPort) + "\n")
                                .getBytes(StandardCharsets.US_ASCII));
                        host.write(ok);
                        if (ok.hasRemaining()) {
                            closeWithRst("host client does not take the OK line");
                            return;
                        }
                    } catch (IOException e) {
                        closeWithRst("host client went away before OK: " + e.getMessage());
                        return;
                    }
                } else {
                    closeWithRst("unexpected RESPONSE in state " + state);
                    return;
                }
            }
            case VsockHeader.OP_RW -> {
                if (guestMaySend()) {
                    deliver(chain, h.len());
                } else {
                    closeWithRst("data from the guest in state " + state);
                    return;
                }
            }
            case VsockHeader.OP_CREDIT_UPDATE -> {
                // credit already taken from the header
            }
            case VsockHeader.OP_CREDIT_REQUEST -> pending |= P_CREDIT_UPDATE;
            case VsockHeader.OP_SHUTDOWN -> {
                peerShutdown |= h.flags() & (VsockHeader.SHUTDOWN_RCV | VsockHeader.SHUTDOWN_SEND);
                if (!(state instanceof ConnState.Closed)) {
                    state = new ConnState.PeerShutdown(peerShutdown);
                }
                finishIfDone();
            }
            case VsockHeader.OP_RST -> {
                close("guest reset the connection");
                pending = 0;
                return;
            }
            case VsockHeader.OP_REQUEST -> {
                closeWithRst("REQUEST for a connection that exists");
                return;
            }
            default -> {
                closeWithRst("unknown op " + h.op());
                return;
            }
        }
        updateInterest();
    }

    private boolean guestMaySend() {
        return (state instanceof ConnState.Established || state instanceof ConnState.LocalShutdown
                || state instanceof ConnState.PeerShutdown) && (peerShutdown & VsockHeader.SHUTDOWN_SEND) == 0;
    }

    private void updatePeerCredit(VsockHeader h) {
        peerBufAlloc = h.bufAlloc();
        peerFwdCnt = h.fwdCnt();
        if (peerCredit() > 0) {
            creditRequested = false;
        }
    }

    /** Bytes the guest can still take from us. */
    long peerCredit() {
        long inFlight = Integer.toUnsignedLong(rxCnt - peerFwdCnt);
        return Math.max(0, Integer.toUnsignedLong(peerBufAlloc) - inFlight);
    }

    /** Forwards {@code len} payload bytes after the header to the host socket, buffering what it does not take. */
    private void deliver(DescriptorChain chain, int len) {
        if (len == 0) {
            return;
        }
        int buffered = txBuf == null ? 0 : txBuf.position();
        if (buffered + (long) len > BUF_ALLOC) {
            closeWithRst("guest sent " + len + " bytes beyond the credit it was given (" + buffered + " buffered)");
            return;
        }
        ByteBuffer[] views = chain.readableViews(VsockHeader.SIZE, len);
        try {
            if (buffered == 0) {
                long n = host.write(views);
                fwdCnt += (int) n;
            }
        } catch (IOException e) {
            closeWithRst("host socket write failed: " + e.getMessage());
            return;
        }
        for (ByteBuffer v : views) {
            if (v.hasRemaining()) {
                txBuf = room(txBuf, v.remaining());
                txBuf.put(v);
            }
        }
        creditCheck();
    }

    /** The host socket can take more: flush what the guest sent earlier. */
    void onHostWritable() {
        if (txBuf != null && txBuf.position() > 0) {
            txBuf.flip();
            try {
                fwdCnt += host.write(txBuf);
            } catch (IOException e) {
                txBuf.clear();
                closeWithRst("host socket write failed: " + e.getMessage());
                return;
            }
            txBuf.compact();
            if (txBuf.position() == 0) {
                txBuf = null; // one daemon serves every pod: only a connection backed up right now holds a buffer
            }
        }
        creditCheck();
        finishIfDone();
        updateInterest();
    }

    /** {@code buf} (null: none yet) with room for {@code more} bytes, grown by doubling up to {@link #BUF_ALLOC}. */
    static ByteBuffer room(ByteBuffer buf, int more) {
        int need = (buf == null ? 0 : buf.position()) + more;
        if (buf != null && buf.remaining() >= more) {
            return buf;
        }
        int size = Math.max(64 * 1024, buf == null ? 0 : buf.capacity());
        while (size < need) {
            size *= 2;
        }
        ByteBuffer grown = ByteBuffer.allocate(Math.min(size, Math.max(need, BUF_ALLOC)));
        if (buf != null) {
            grown.put(buf.flip());
        }
        return grown;
    }

    private void creditCheck() {
        if (Integer.toUnsignedLong(fwdCnt - lastFwdCntSent) >= BUF_ALLOC / 4) {
            pending |= P_CREDIT_UPDATE;
        }
    }

    private boolean txEmpty() {
        return txBuf == null || txBuf.position() == 0;
    }

    /** Applies the guest's shutdown once everything it sent has reached the host. */
    private void finishIfDone() {
        if (state instanceof ConnState.Closed || !txEmpty()) {
            return;
        }
        boolean guestDoneSending = (peerShutdown & VsockHeader.SHUTDOWN_SEND) != 0;
        boolean guestDoneReceiving = (peerShutdown & VsockHeader.SHUTDOWN_RCV) != 0;
        if (guestDoneSending && (guestDoneReceiving || hostEof)) {
            closeWithRst("both sides shut down");
            return;
        }
        if (guestDoneSending && !hostOutputShut) {
            hostOutputShut = true;
            try {
                host.shutdownOutput();
            } catch (IOException e) {
                closeWithRst("host socket shutdown failed: " + e.getMessage());
            }
        }
    }

    // ---- host -> guest ----

    void onHostReadable() {
        hostReadable = true;
        updateInterest();
    }

    private boolean hostMayRead() {
        return (state instanceof ConnState.Established || state instanceof ConnState.PeerShutdown)
                && (peerShutdown & VsockHeader.SHUTDOWN_RCV) == 0 && !hostEof;
    }

    /** Whether this connection has a packet for the guest's rx queue now. */
    boolean hasRxWork() {
        if (pending != 0) {
            return true;
        }
        if (hostReadable && hostMayRead()) {
            if (peerCredit() > 0) {
                return true;
            }
            if (!creditRequested) {
                pending |= P_CREDIT_REQUEST;
                creditRequested = true;
                return true;
            }
        }
        return false;
    }

    /** Writes one packet into {@code chain}; returns the bytes written, or -1 if there was nothing after all. */
    int fillRx(DescriptorChain chain) {
        int room = chain.writableLength() - VsockHeader.SIZE;
        if (room < 0) {
            throw new IllegalStateException("rx buffer of " + chain.writableLength() + " bytes cannot hold a header");
        }
        if ((pending & P_RST) != 0) {
            pending = 0;
            return control(chain, VsockHeader.OP_RST, 0);
        }
        if ((pending & P_REQUEST) != 0) {
            pending &= ~P_REQUEST;
            long deadline = System.nanoTime() + RESPONSE_TIMEOUT_NANOS;
            if (state instanceof ConnState.Connecting c && deadline - c.deadlineNanos() < 0) {
                state = new ConnState.Connecting(deadline);
            }
            return control(chain, VsockHeader.OP_REQUEST, 0);
        }
        if ((pending & P_RESPONSE) != 0) {
            pending &= ~P_RESPONSE;
            return control(chain, VsockHeader.OP_RESPONSE, 0);
        }
        if ((pending & P_CREDIT_UPDATE) != 0) {
            pending &= ~P_CREDIT_UPDATE;
            return control(chain, VsockHeader.OP_CREDIT_UPDATE, 0);
        }
        if ((pending & P_CREDIT_REQUEST) != 0) {
            pending &= ~P_CREDIT_REQUEST;
            return control(chain, VsockHeader.OP_CREDIT_REQUEST, 0);
        }
        if (!hostReadable || !hostMayRead() || peerCredit() == 0) {
            return -1;
        }
        int max = (int) Math.min(Math.min(room, MAX_PAYLOAD), peerCredit());
        long n;
        try {
            n = host.read(chain.writableViews(VsockHeader.SIZE, max));
        } catch (IOException e) {
            closeWithRst("host socket read failed: " + e.getMessage());
            pending = 0;
            return control(chain, VsockHeader.OP_RST, 0);
        }
        if (n < 0) {
            hostReadable = false;
            hostEof = true;
            if ((peerShutdown & VsockHeader.SHUTDOWN_SEND) != 0 && txEmpty()) {
                close("both sides shut down");
                pending = 0;
                return control(chain, VsockHeader.OP_RST, 0);
            }
            if (!(state instanceof ConnState.PeerShutdown)) {
                state = new ConnState.LocalShutdown();
            }
            updateInterest();
            // The host will send no more; it may still receive.
            return control(chain, VsockHeader.OP_SHUTDOWN, VsockHeader.SHUTDOWN_SEND);
        }
        if (n == 0) {
            hostReadable = false;
            updateInterest();
            return -1;
        }
        if (n < max) {
            hostReadable = false; // drained for now: wait for the selector
            updateInterest();
        }
        rxCnt += (int) n;
        chain.write(0, header(VsockHeader.OP_RW, 0, (int) n).toBuffer());
        return VsockHeader.SIZE + (int) n;
    }

    private int control(DescriptorChain chain, int op, int flags) {
        VsockHeader h = header(op, flags, 0);
        chain.write(0, h.toBuffer());
        return VsockHeader.SIZE;
    }

    private VsockHeader header(int op, int flags, int len) {
        lastFwdCntSent = fwdCnt;
        return new VsockHeader(VsockDevice.HOST_CID, guestCid, localPort, peerPort, len, VsockHeader.TYPE_STREAM, op,
                flags, BUF_ALLOC, fwdCnt);
    }

    // ---- lifecycle ----

    /** Ends the connection and owes the guest a RST. */
    void closeWithRst(String reason) {
        close(reason);
        pending = P_RST;
    }

    void close(String reason) {
        if (!(state instanceof ConnState.Closed)) {
            log.debug("vsock {}:{} closed: {}", Integer.toUnsignedString(localPort), Integer.toUnsignedString(peerPort),
                    reason);
            state = new ConnState.Closed(reason);
        }
        hostReadable = false;
        try {
            host.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }

    private void updateInterest() {
        if (key == null || !key.isValid()) {
            return;
        }
        int ops = 0;
        if (hostMayRead() && !hostReadable && !(state instanceof ConnState.Connecting)) {
            ops |= SelectionKey.OP_READ;
        }
        if (!txEmpty()) {
            ops |= SelectionKey.OP_WRITE;
        }
        key.interestOps(ops);
    }

    @Override
    public String toString() {
        return "conn " + Integer.toUnsignedString(localPort) + "<->" + Integer.toUnsignedString(peerPort) + " " + state;
    }
}
