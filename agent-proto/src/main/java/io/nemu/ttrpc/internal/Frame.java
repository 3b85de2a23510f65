package io.nemu.ttrpc.internal;

/**
 * One ttrpc message frame. {@code streamId} is an unsigned 32-bit value held in an int.
 * The payload array is owned by the frame once built; nobody mutates it afterwards.
 */
public record Frame(int streamId, byte type, byte flags, byte[] payload) implements Inbound {
    public static final int HEADER_LENGTH = 10;
    public static final int MAX_DATA_LENGTH = 4 << 20;

    public static final byte TYPE_REQUEST = 1;
    public static final byte TYPE_RESPONSE = 2;
    public static final byte TYPE_DATA = 3;

    public static final byte FLAG_REMOTE_CLOSED = 0x01;
    public static final byte FLAG_REMOTE_OPEN = 0x02;
    public static final byte FLAG_NO_DATA = 0x04;

    static final byte[] EMPTY = new byte[0];

    public Frame {
        if (payload == null) {
            payload = EMPTY;
        }
        if (payload.length > MAX_DATA_LENGTH) {
            throw new IllegalArgumentException(
                    "ttrpc frame data of " + payload.length + " bytes exceeds the maximum of " + MAX_DATA_LENGTH);
        }
    }

    /** Null if {@code length} bytes fit in one frame, else the status that refuses them. */
    public static io.grpc.Status checkLength(int length, String what) {
        if (length <= MAX_DATA_LENGTH) {
            return null;
        }
        return io.grpc.Status.RESOURCE_EXHAUSTED.withDescription(
                what + " of " + length + " bytes exceeds the ttrpc maximum message size of " + MAX_DATA_LENGTH);
    }

    public boolean has(byte flag) {
        return (flags & flag) == flag;
    }

    @Override
    public String toString() {
        return "Frame[stream=" + Integer.toUnsignedString(streamId) + ", type=" + type + ", flags=" + flags
                + ", length=" + payload.length + "]";
    }
}
