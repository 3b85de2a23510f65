package io.nemu.vmm.vhostuser;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * One available descriptor chain: the device-readable buffers followed by the device-writable ones,
 * each a view into guest memory. Reads and writes address the readable (resp. writable) part as one
 * contiguous byte sequence, so callers do not care how the driver split it.
 */
public final class DescriptorChain {
    private final int head;
    private final List<ByteBuffer> readable;
    private final List<ByteBuffer> writable;
    private final int readableLength;
    private final int writableLength;

    DescriptorChain(int head, List<ByteBuffer> readable, List<ByteBuffer> writable) {
        this.head = head;
        this.readable = readable;
        this.writable = writable;
        this.readableLength = total(readable);
        this.writableLength = total(writable);
    }

    private static int total(List<ByteBuffer> l) {
        long n = 0;
        for (ByteBuffer b : l) {
            n += b.remaining();
        }
        return (int) Math.min(n, Integer.MAX_VALUE);
    }

    public int head() {
        return head;
    }

    public int readableLength() {
        return readableLength;
    }

    public int writableLength() {
        return writableLength;
    }

    /** Copies readable bytes from {@code offset} into {@code dst} (as many as fit); returns the count. */
    public int read(int offset, ByteBuffer dst) {
        int copied = 0;
        for (ByteBuffer v : views(readable, offset, dst.remaining())) {
            copied += v.remaining();
            dst.put(v);
        }
        return copied;
    }

    /** Copies {@code src} into the writable part at {@code offset}; returns how many bytes fit. */
    public int write(int offset, ByteBuffer src) {
        int copied = 0;
        for (ByteBuffer v : views(writable, offset, src.remaining())) {
            int n = v.remaining();
            ByteBuffer part = src.slice(src.position(), n);
            v.put(part);
            src.position(src.position() + n);
            copied += n;
        }
        return copied;
    }

    /** Views of at most {@code max} readable bytes from {@code offset} (for gathering writes). */
    public ByteBuffer[] readableViews(int offset, int max) {
        return views(readable, offset, max).toArray(ByteBuffer[]::new);
    }

    /** Views of at most {@code max} writable bytes from {@code offset} (for scattering reads). */
    public ByteBuffer[] writableViews(int offset, int max) {
        return views(writable, offset, max).toArray(ByteBuffer[]::new);
    }

    private static List<ByteBuffer> views(List<ByteBuffer> parts, int offset, int max) {
        List<ByteBuffer> out = new ArrayList<>(parts.size());
        int skip = offset;
        int left = max;
        for (ByteBuffer b : parts) {
            if (left <= 0) {
                break;
            }
            int len = b.remaining();
            if (skip >= len) {
                skip -= len;
                continue;
            }
            int n = Math.min(len - skip, left);
            out.add(b.slice(b.position() + skip, n));
            left -= n;
            skip = 0;
        }
        return out;
    }

    @Override
    public String toString() {
        return "chain@" + head + "[r=" + readableLength + ", w=" + writableLength + "]";
    }
}
