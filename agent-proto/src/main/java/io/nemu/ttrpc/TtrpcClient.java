package io.nemu.ttrpc;

import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.MethodDescriptor;
import io.nemu.ttrpc.internal.ClientConnection;
import io.nemu.ttrpc.internal.ClientStream;
import io.nemu.ttrpc.internal.Pipelines;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioDomainSocketChannel;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A ttrpc connection usable as a gRPC {@link io.grpc.Channel}: generated blocking, future and async
 * stubs call ttrpc services through it. Many calls share the one connection.
 */
public final class TtrpcClient extends io.grpc.Channel implements AutoCloseable {
    private final Channel channel;
    private final ClientConnection connection;
    private final String authority;
    private final Executor callerExecutor;
    private final EventLoopGroup ownedGroup;
    private final CompletableFuture<Void> closeFuture = new CompletableFuture<>();
    private volatile ExecutorService ownedExecutor;

    private TtrpcClient(Channel channel, ClientConnection connection, String authority, Executor executor,
            EventLoopGroup ownedGroup) {
        this.channel = channel;
        this.connection = connection;
        this.authority = authority;
        this.callerExecutor = executor;
        this.ownedGroup = ownedGroup;
        channel.closeFuture().addListener(f -> closeFuture.complete(null));
    }

    public static TtrpcClient connect(Path socket) throws IOException {
        return builder().connect(socket);
    }

    public static TtrpcClient over(Channel connected) {
        return builder().over(connected);
    }

    /** Speaks ttrpc over a stream that is already connected (a dialed vsock or serial channel). */
    public static TtrpcClient adopt(SocketChannel stream) {
        return builder().adopt(stream);
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public <ReqT, RespT> ClientCall<ReqT, RespT> newCall(MethodDescriptor<ReqT, RespT> method, CallOptions options) {
        return new ClientStream<>(connection, method, options, executor());
    }

    private Executor executor() {
        if (callerExecutor != null) {
            return callerExecutor;
        }
        ExecutorService e = ownedExecutor;
        if (e == null) {
            synchronized (this) {
                if (ownedExecutor == null) {
                    ownedExecutor = Pipelines.newHandlerPool("ttrpc-client-callback");
                }
                e = ownedExecutor;
            }
        }
        return e;
    }

    @Override
    public String authority() {
        return authority;
    }

    /** The underlying Netty channel. */
    public Channel channel() {
        return channel;
    }

    public boolean isClosed() {
        return connection.isClosed();
    }

    /** Completes when the connection is closed, by either side. */
    public CompletionStage<Void> closeFuture() {
        return closeFuture;
    }

    /** Closes the connection (pending calls fail with UNAVAILABLE) and the threads this client made. */
    @Override
    public void close() {
        ChannelFuture closing = channel.close();
        if (channel.eventLoop().inEventLoop()) {
            // Called from a callback on our own loop: waiting here would block the loop that closes.
            shutdownOwnedLater();
            return;
        }
        closing.awaitUninterruptibly(5, TimeUnit.SECONDS);
        ExecutorService e;
        synchronized (this) {
            e = ownedExecutor;
        }
        if (e != null) {
            e.shutdown();
            try {
                e.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
            }
        }
        if (ownedGroup != null) {
            ownedGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).awaitUninterruptibly();
        }
    }

    private void shutdownOwnedLater() {
        ExecutorService e;
        synchronized (this) {
            e = ownedExecutor;
        }
        if (e != null) {
            e.shutdown();
        }
        if (ownedGroup != null) {
            ownedGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS);
        }
    }

    public static final class Builder {
        private EventLoopGroup group;
        private Executor executor;

        private Builder() {}

        /** Event loops for {@link #connect} (epoll-based) or {@link #adopt} (NIO-based); the caller keeps ownership. */
        public Builder eventLoopGroup(EventLoopGroup group) {
            this.group = Objects.requireNonNull(group, "group");
            return this;
        }

        /**
         * Where listener callbacks run when the call options name no executor (blocking stubs bring
         * their own). Default: a pool the client owns.
         */
        public Builder executor(Executor executor) {
            this.executor = Objects.requireNonNull(executor, "executor");
            return this;
        }

        /** Runs callbacks on the event loop: only for callbacks that never block. */
        public Builder directExecutor() {
            return executor(Runnable::run);
        }

        public TtrpcClient connect(Path socket) throws IOException {
            EventLoopGroup owned = group == null ? Pipelines.newEpollGroup("ttrpc-client", 1) : null;
            ClientConnection connection = new ClientConnection();
            ChannelFuture connected = new Bootstrap()
                    .group(group != null ? group : owned)
                    .channel(EpollDomainSocketChannel.class)
                    .handler(new ChannelInitializer<>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            Pipelines.install(ch, connection);
                        }
                    })
                    .connect(new DomainSocketAddress(socket.toFile()))
                    .awaitUninterruptibly();
            if (!connected.isSuccess()) {
                if (owned != null) {
                    owned.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly();
                }
                Throwable cause = connected.cause();
                throw new IOException("cannot connect to ttrpc socket " + socket + ": " + cause.getMessage(), cause);
            }
            return new TtrpcClient(connected.channel(), connection, socket.toString(), executor, owned);
        }

        /**
         * Speaks ttrpc over a connected unix stream from java.nio: Netty adopts it on a NIO event loop, the
         * given group (NIO-based) or one the client owns.
         */
        public TtrpcClient adopt(SocketChannel stream) {
            Objects.requireNonNull(stream, "stream");
            if (!stream.isConnected()) {
                throw new IllegalArgumentException("stream " + stream + " is not connected");
            }
            EventLoopGroup owned = group == null
                    ? new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory()) : null;
            NioDomainSocketChannel ch = new NioDomainSocketChannel(stream);
            ChannelFuture registered = (group != null ? group : owned).register(ch).awaitUninterruptibly();
            if (!registered.isSuccess()) {
                if (owned != null) {
                    owned.shutdownGracefully(0, 1, TimeUnit.SECONDS);
                }
                throw new IllegalStateException("cannot adopt stream " + stream + ": " + registered.cause(),
                        registered.cause());
            }
            ClientConnection connection = new ClientConnection();
            Pipelines.install(ch, connection);
            return new TtrpcClient(ch, connection, "ttrpc", executor, owned);
        }

        /** Speaks ttrpc as the client on a channel that is already connected. */
        public TtrpcClient over(Channel connected) {
            Objects.requireNonNull(connected, "connected");
            if (!connected.isActive()) {
                throw new IllegalArgumentException("channel " + connected + " is not connected");
            }
            ClientConnection connection = new ClientConnection();
            Pipelines.install(connected, connection);
            String authority = connected.remoteAddress() != null ? connected.remoteAddress().toString() : "ttrpc";
            return new TtrpcClient(connected, connection, authority, executor, null);
        }
    }
}
