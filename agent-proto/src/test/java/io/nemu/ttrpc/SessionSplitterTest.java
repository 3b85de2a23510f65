package io.nemu.ttrpc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Session cuts in a ttrpc byte stream, whatever the read sizes are. */
class SessionSplitterTest {
    static final byte REQUEST = 1;
    static final byte DATA = 3;

    static byte[] frame(int stream, byte type, int payloadLength) {
        ByteBuffer b = ByteBuffer.allocate(10 + payloadLength);
        b.putInt(payloadLength).putInt(stream).put(type).put((byte) 0);
        for (int i = 0; i < payloadLength; i++) {
            b.put((byte) 1); // a payload full of ones must not look like a header
        }
        return b.array();
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    /** The sessions the splitter cuts {@code stream} into when it arrives in reads of {@code chunk} bytes. */
    static List<byte[]> sessions(SessionSplitter s, byte[] stream, int chunk) throws Exception {
        List<byte[]> sessions = new ArrayList<>();
        ByteArrayOutputStream current = new ByteArrayOutputStream();
        SessionSplitter.Output out = new SessionSplitter.Output() {
            @Override
            public void bytes(byte[] buf, int off, int len) {
                current.write(buf, off, len);
            }

            @Override
            public void newSession() {
                sessions.add(current.toByteArray());
                current.reset();
            }
        };
        for (int at = 0; at < stream.length; at += chunk) {
            byte[] read = Arrays.copyOfRange(stream, at, Math.min(stream.length, at + chunk));
            s.feed(read, 0, read.length, out);
        }
        sessions.add(current.toByteArray());
        return sessions;
    }

    @Test
    void aSecondRequestOnStreamOneStartsANewSessionForAnyReadSize() throws Exception {
        byte[] first = concat(frame(1, REQUEST, 7), frame(1, DATA, 300), frame(3, REQUEST, 0), frame(5, REQUEST, 12));
        byte[] second = concat(frame(1, REQUEST, 9), frame(3, REQUEST, 4));
        byte[] stream = concat(first, second);
        for (int chunk : new int[] {1, 3, 10, 11, 64, stream.length}) {
            List<byte[]> got = sessions(new SessionSplitter(), stream, chunk);
            assertEquals(2, got.size(), "sessions for reads of " + chunk);
            assertArrayEquals(first, got.get(0), "first session for reads of " + chunk);
            assertArrayEquals(second, got.get(1), "second session for reads of " + chunk);
        }
    }

    @Test
    void oneClientIsOneSessionAndResetForgetsTheFirstRequest() throws Exception {
        byte[] one = concat(frame(1, REQUEST, 5), frame(3, REQUEST, 5), frame(3, DATA, 0));
        SessionSplitter s = new SessionSplitter();
        assertEquals(1, sessions(s, one, 4).size());
        s.reset(); // the transport saw the disconnect itself: no cut needed for the next client
        assertEquals(1, sessions(s, one, 4).size());
        assertEquals(2, sessions(s, one, 4).size(), "without a reset, the same client again is a new session");
    }
}
