package io.nemu.agent.transport;

import io.grpc.BindableService;
import io.nemu.ttrpc.TtrpcServer;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.local.LocalAddress;
import io.netty.channel.local.LocalChannel;
import io.netty.channel.local.LocalIoHandler;
import io.netty.channel.local.LocalServerChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves ttrpc on byte streams that Netty cannot drive itself (an AF_VSOCK socket made through JNA, a
 * virtio-serial character device): each stream is tied to one end of an in-JVM Netty channel pair whose
 * other end is a {@link TtrpcServer} connection. The caller reads the stream on its own thread and hands
 * the bytes to {@link Connection#deliver}; a writer thread per connection writes the server's frames to
 * the stream, so a slow peer never blocks the event loop. Service calls run on the server's pool,
 * never on the event loop, because WaitProcess, ReadStdout and GetOOMEvent block.
 */
public final class TtrpcBridge implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(TtrpcBridge.class);

    /** Frames waiting for a slow peer beyond this stop reading from the server side until drained. */
    static final int WRITE_HIGH_WATER = 1 << 20;

    /** Where a connection's outgoing bytes go: all of the buffer's remaining bytes. */
    public interface Sink {
        void write(ByteBuffer buf) throws IOException;
    }

    private static final AtomicLong INSTANCES = new AtomicLong();
    private final TtrpcServer server;
    private final ThreadPoolExecutor calls;
    private final EventLoopGroup group;
    private final Channel listening;
    private final LocalAddress address;

    public TtrpcBridge(List<BindableService> services) {
        // Calls block (WaitProcess, ReadStdout, GetOOMEvent): a thread per call in flight, and idle ones go
        // soon, since every thread costs the small guest its stack and malloc arena.
        this.calls = new ThreadPoolExecutor(0, Integer.MAX_VALUE, 5, TimeUnit.SECONDS, new SynchronousQueue<>(),
                new DefaultThreadFactory("agent-call", true));
        TtrpcServer.Builder b = TtrpcServer.builder().executor(calls);
        services.forEach(b::addService);
        this.server = b.build();
        this.group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("agent-io", true),
                LocalIoHandler.newFactory());
        // A counter, not a UUID: SecureRandom's start-up is slow under TCG and costs classes.
        this.address = new LocalAddress("nemu-agent-" + INSTANCES.incrementAndGet());
        ChannelFuture bound = new ServerBootstrap().group(group).channel(LocalServerChannel.class)
                .childHandler(server.initializer()).bind(address).awaitUninterruptibly();
        if (!bound.isSuccess()) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            throw new IllegalStateException("cannot start the in-JVM ttrpc endpoint", bound.cause());
        }
        this.listening = bound.channel();
    }

    /** Starts a ttrpc connection whose responses go to {@code sink}; {@code name} is for logs. */
    public Connection open(String name, Sink sink) throws IOException {
        Connection c = new Connection(name, sink);
        ChannelFuture f = new Bootstrap().group(group).channel(LocalChannel.class).handler(c.handler())
                .connect(address).awaitUninterruptibly();
        if (!f.isSuccess()) {
            c.queue.offer(Connection.END);
            throw new IOException("cannot open a ttrpc connection for " + name + ": " + f.cause());
        }
        c.attach(f.channel());
        return c;
    }

    /** A channel connected to the server inside this JVM, for a {@code TtrpcClient.over} (warm-up, tests). */
    public Channel connectLocal() throws IOException {
        ChannelFuture f = new Bootstrap().group(group).channel(LocalChannel.class)
                .handler(new ChannelInboundHandlerAdapter()).connect(address).awaitUninterruptibly();
        if (!f.isSuccess()) {
            throw new IOException("cannot connect inside the JVM: " + f.cause());
        }
        return f.channel();
    }

    @Override
    public void close() {
        listening.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
        server.close();
        calls.shutdownNow();
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(3, TimeUnit.SECONDS);
    }

    /** One ttrpc connection carried over a stream. */
    public static final class Connection {
        static final ByteBuf END = Unpooled.buffer(1);

        private final String name;
        private final Sink sink;
        /** The server's frames as it encoded them (direct memory): the writer hands them to the sink uncopied. */
        final LinkedBlockingQueue<ByteBuf> queue = new LinkedBlockingQueue<>();
        private final AtomicLong queued = new AtomicLong();
        private final CompletableFuture<Void> done = new CompletableFuture<>();
        private volatile Channel channel;

        private Connection(String name, Sink sink) {
            this.name = name;
            this.sink = sink;
            Thread w = new Thread(this::writeLoop, "agent-write-" + name);
            w.setDaemon(true);
            w.start();
        }

        private void attach(Channel ch) {
            this.channel = ch;
        }

        private ChannelInboundHandlerAdapter handler() {
            return new ChannelInboundHandlerAdapter() {
                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                    ByteBuf buf = (ByteBuf) msg; // the writer releases it
                    if (queued.addAndGet(buf.readableBytes()) > WRITE_HIGH_WATER) {
                        ctx.channel().config().setAutoRead(false);
                    }
                    queue.offer(buf);
                }

                @Override
                public void channelInactive(ChannelHandlerContext ctx) {
                    queue.offer(END);
                }

                @Override
                public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                    LOG.warn("connection {}: {}", name, String.valueOf(cause));
                    ctx.close();
                }
            };
        }

        private void writeLoop() {
            boolean failed = false;
            try {
                while (true) {
                    ByteBuf b = queue.take();
                    if (b == END) {
                        break;
                    }
                    try {
                        long left = queued.addAndGet(-b.readableBytes());
                        Channel ch = channel;
                        if (left <= WRITE_HIGH_WATER / 2 && ch != null && !ch.config().isAutoRead()) {
                            ch.config().setAutoRead(true);
                        }
                        if (failed) {
                            continue; // drain until the channel is gone
                        }
                        sink.write(b.nioBuffer());
                    } catch (IOException e) {
                        LOG.warn("connection {}: {}; closing it", name, e.getMessage());
                        failed = true;
                        close();
                    } finally {
                        b.release();
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                ByteBuf left;
                while ((left = queue.poll()) != null) {
                    if (left != END) {
                        left.release();
                    }
                }
                done.complete(null);
            }
        }

        /**
         * Hands bytes read from the stream to the ttrpc server, waiting until the channel took them.
         * Returns false once the connection is closed (the bytes are dropped then).
         */
        public boolean deliver(byte[] buf, int len) {
            return deliver(Unpooled.wrappedBuffer(java.util.Arrays.copyOf(buf, len)));
        }

        /** As {@link #deliver(byte[], int)}, handing over {@code buf} itself (released by the channel). */
        public boolean deliver(ByteBuf buf) {
            Channel ch = channel;
            if (ch == null || !ch.isActive()) {
                buf.release();
                return false;
            }
            return ch.writeAndFlush(buf).awaitUninterruptibly().isSuccess();
        }

        public boolean isOpen() {
            Channel ch = channel;
            return ch != null && ch.isActive();
        }

        /** Ends the connection: the server cancels its calls; {@link #done} completes once the writer stopped. */
        public void close() {
            Channel ch = channel;
            if (ch != null) {
                ch.close();
            } else {
                queue.offer(END);
            }
        }

        /** Completes when the connection is closed and nothing more will be written to the sink. */
        public CompletableFuture<Void> done() {
            return done;
        }

        public String name() {
            return name;
        }
    }
}
