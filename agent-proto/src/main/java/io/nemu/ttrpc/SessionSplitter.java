package io.nemu.ttrpc;

import io.nemu.ttrpc.internal.Frame;
import java.io.IOException;

/**
 * Finds where a new client begins in a ttrpc byte stream that carries no connection boundaries, such
 * as a virtio-serial port: a host may close and reconnect before the guest ever reads the port as
 * disconnected, and then the new client's bytes follow the old one's. Every ttrpc client opens with a
 * request on stream 1, so a second request on stream 1 starts a new session. The splitter follows
 * frame boundaries only (headers, then payload lengths); it never holds a payload.
 */
public final class SessionSplitter {
    /** Receives the stream in order, cut where a new session starts. */
    public interface Output {
        void bytes(byte[] buf, int off, int len) throws IOException;

        /** The bytes that follow belong to a new client; the previous one is gone. */
        void newSession() throws IOException;
    }

    private final byte[] header = new byte[Frame.HEADER_LENGTH];
    private int headerFill;
    private long payloadLeft;
    private boolean sawFirstRequest;

    /** Forgets the current session, for when the transport itself reported a disconnect. */
    public void reset() {
        headerFill = 0;
        payloadLeft = 0;
        sawFirstRequest = false;
    }

    /**
     * Passes {@code len} bytes of the stream to {@code out}. A header is passed on once whole, so a
     * session cut never falls inside one, even when the header arrived across two reads.
     */
    public void feed(byte[] buf, int off, int len, Output out) throws IOException {
        int i = off;
        int end = off + len;
        while (i < end) {
            if (payloadLeft > 0) {
                int k = (int) Math.min(payloadLeft, end - i);
                out.bytes(buf, i, k);
                i += k;
                payloadLeft -= k;
                continue;
            }
            int k = Math.min(Frame.HEADER_LENGTH - headerFill, end - i);
            System.arraycopy(buf, i, header, headerFill, k);
            headerFill += k;
            i += k;
            if (headerFill < Frame.HEADER_LENGTH) {
                return;
            }
            headerFill = 0;
            if (header[8] == Frame.TYPE_REQUEST && intAt(4) == 1) {
                if (sawFirstRequest) {
                    out.newSession();
                }
                sawFirstRequest = true;
            }
            out.bytes(header, 0, Frame.HEADER_LENGTH);
            payloadLeft = Integer.toUnsignedLong(intAt(0));
        }
    }

    private int intAt(int at) {
        return (header[at] & 0xff) << 24 | (header[at + 1] & 0xff) << 16 | (header[at + 2] & 0xff) << 8
                | (header[at + 3] & 0xff);
    }
}
