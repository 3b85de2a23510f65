package io.nemu.ttrpc;

import java.io.EOFException;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A bare ttrpc peer on the JDK's own unix socket support: it writes and reads frame bytes by hand,
 * so tests of the wire format do not lean on the codec under test.
 */
final class RawConnection implements AutoCloseable {
    record RawFrame(int length, int streamId, int type, int flags, byte[] data) {}

    private final SocketChannel channel;
    private final Selector selector;

    private RawConnection(SocketChannel channel) throws IOException {
        this.channel = channel;
        channel.configureBlocking(false);
        selector = Selector.open();
        channel.register(selector, SelectionKey.OP_READ);
    }

    static RawConnection connect(Path socket) throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(socket));
        return new RawConnection(ch);
    }

    static RawConnection wrap(SocketChannel accepted) throws IOException {
        return new RawConnection(accepted);
    }

    static byte[] header(long length, int streamId, int type, int flags) {
        return ByteBuffer.allocate(10).putInt((int) length).putInt(streamId).put((byte) type).put((byte) flags).array();
    }

    void writeFrame(int streamId, int type, int flags, byte[] data) throws IOException {
        byte[] h = header(data.length, streamId, type, flags);
        write(ByteBuffer.allocate(h.length + data.length).put(h).put(data).flip());
    }

    void write(byte[] bytes) throws IOException {
        write(ByteBuffer.wrap(bytes));
    }

    void write(ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            if (channel.write(buf) == 0) {
                Thread.onSpinWait();
            }
        }
    }

    /** Reads one frame; fails on timeout or end of stream. */
    RawFrame readFrame(Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        ByteBuffer h = readFully(10, deadline);
        int length = h.getInt();
        int streamId = h.getInt();
        int type = h.get() & 0xff;
        int flags = h.get() & 0xff;
        byte[] data = readFully(length, deadline).array();
        return new RawFrame(length, streamId, type, flags, data);
    }

    /** True if the peer closed the connection within the timeout (any bytes read are dropped). */
    boolean awaitEof(Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        ByteBuffer sink = ByteBuffer.allocate(4096);
        while (System.nanoTime() < deadline && !Thread.currentThread().isInterrupted()) {
            sink.clear();
            int n;
            try {
                n = channel.read(sink);
            } catch (IOException e) {
                return true; // reset counts as closed
            }
            if (n < 0) {
                return true;
            }
            if (n == 0) {
                selector.select(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
                selector.selectedKeys().clear();
            }
        }
        return false;
    }

    private ByteBuffer readFully(int n, long deadline) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(n);
        while (buf.hasRemaining()) {
            int r = channel.read(buf);
            if (r < 0) {
                throw new EOFException("connection closed after " + buf.position() + " of " + n + " bytes");
            }
            if (r == 0) {
                if (Thread.currentThread().isInterrupted()) {
                    throw new java.io.InterruptedIOException("interrupted");
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new IOException("timed out reading " + n + " bytes (got " + buf.position() + ")");
                }
                selector.select(Math.max(1, left / 1_000_000));
                selector.selectedKeys().clear();
            }
        }
        return buf.flip();
    }

    @Override
    public void close() throws IOException {
        selector.close();
        channel.close();
    }
}
