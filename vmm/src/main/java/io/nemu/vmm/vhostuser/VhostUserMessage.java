package io.nemu.vmm.vhostuser;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * One vhost-user message (QEMU docs/interop/vhost-user.rst): the request numbers and feature bits this
 * backend knows (the feature bits it offers are {@link VhostUserBackend}'s), reading a message off the socket, sending a reply, and the checks of a body's size and
 * attached fds.
 *
 * @param fds the fds that came with the message; a handler takes one it keeps by setting its slot to -1
 */
record VhostUserMessage(int request, int flags, ByteBuffer body, int[] fds) {
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

    static final long PROTOCOL_F_MQ = 1L << 0;
    static final long PROTOCOL_F_REPLY_ACK = 1L << 3;
    static final long PROTOCOL_F_CONFIG = 1L << 9;
    static final long PROTOCOLS = PROTOCOL_F_MQ | PROTOCOL_F_REPLY_ACK | PROTOCOL_F_CONFIG;

    /**
     * Reads the next message; null at a clean end of the connection. The caller closes the message's
     * fds once handled (also when this throws after the header came, the fds are closed here).
     */
    static VhostUserMessage read(VhostUserSocket socket) throws IOException {
        ByteBuffer hdr = VhostUserSocket.le(HEADER_SIZE);
        VhostUserSocket.Received first = socket.receive(hdr);
        if (first.length() == 0) {
            VhostUserSocket.closeAll(first.fds());
            return null;
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
            return new VhostUserMessage(request, flags, body, fds);
        } catch (IOException | RuntimeException e) {
            VhostUserSocket.closeAll(fds);
            throw e;
        }
    }

    boolean needsReply() {
        return (flags & FLAG_NEED_REPLY) != 0;
    }

    /** Sends {@code payload} (from position 0) as the reply to this message. */
    void reply(VhostUserSocket socket, ByteBuffer payload) throws IOException {
        payload.clear();
        ByteBuffer out = VhostUserSocket.le(HEADER_SIZE + payload.remaining());
        out.putInt(request).putInt(VERSION | FLAG_REPLY).putInt(payload.remaining()).put(payload).flip();
        socket.send(out);
    }

    /** Checks the body is {@code size} bytes and {@code fdCount} fds came (a negative count: not checked). */
    void expect(int size, int fdCount) {
        if (body.remaining() != size) {
            throw new VhostUserProtocolException("request " + request + ": body of " + body.remaining()
                    + " bytes, expected " + size);
        }
        if (fdCount >= 0) {
            expectFds(fdCount);
        }
    }

    void expectFds(int count) {
        if (fds.length != count) {
            throw new VhostUserProtocolException("request " + request + ": " + fds.length + " fds attached, expected "
                    + count);
        }
    }

    /** Takes the message's only fd (the caller now owns it), or -1 if none came. */
    int takeFd() {
        int fd = fds.length == 1 ? fds[0] : -1;
        if (fd >= 0) {
            fds[0] = -1;
        }
        return fd;
    }
}
