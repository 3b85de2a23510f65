package io.nemu.ttrpc;

import io.grpc.BindableService;
import io.grpc.ServerServiceDefinition;
import io.nemu.ttrpc.internal.MethodRegistry;
import io.nemu.ttrpc.internal.Pipelines;
import io.nemu.ttrpc.internal.ServerConnection;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A ttrpc server for gRPC service definitions: the same generated service implementation can be
 * served over gRPC and over ttrpc. It listens on unix sockets ({@link #bind}) or takes over channels
 * connected by someone else ({@link #serve}, {@link #initializer}).
 */
public final class TtrpcServer implements AutoCloseable {
    private final MethodRegistry registry;
    private final Executor executor;
    private final ExecutorService ownedExecutor;
    private final EventLoopGroup callerGroup;
    private EventLoopGroup ownedGroup;
    private final Set<Channel> channels = ConcurrentHashMap.newKeySet();
    private final List<Path> boundPaths = new ArrayList<>();
    private volatile boolean closed;

    private TtrpcServer(Builder b) {
        this.registry = new MethodRegistry(b.services);
        if (b.executor != null) {
            this.executor = b.executor;
            this.ownedExecutor = null;
        } else {
            this.ownedExecutor = Pipelines.newHandlerPool("ttrpc-handler");
            this.executor = ownedExecutor;
        }
        this.callerGroup = b.group;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Listens on a unix socket; a stale socket file at that path is replaced. Callable repeatedly. */
    public synchronized void bind(Path socket) throws IOException {
        checkOpen();
        Files.deleteIfExists(socket);
        ChannelFuture bound = new ServerBootstrap()
                .group(group())
                .channel(EpollServerDomainSocketChannel.class)
                .childHandler(initializer())
                .bind(new DomainSocketAddress(socket.toFile()))
                .awaitUninterruptibly();
        if (!bound.isSuccess()) {
            throw new IOException("cannot listen on unix socket " + socket + ": " + bound.cause().getMessage(),
                    bound.cause());
        }
        track(bound.channel());
        boundPaths.add(socket);
    }

    /** Serves ttrpc on an already connected channel (vsock, local, embedded, ...). */
    public void serve(Channel connected) {
        Objects.requireNonNull(connected, "connected");
        checkOpen();
        install(connected);
    }

    /** A pipeline initializer for channels the caller bootstraps; each channel becomes a connection. */
    public ChannelInitializer<Channel> initializer() {
        return new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                if (closed) {
                    ch.close();
                    return;
                }
                install(ch);
            }
        };
    }

    private void install(Channel ch) {
        Pipelines.install(ch, new ServerConnection(registry, executor));
        track(ch);
    }

    private void track(Channel ch) {
        channels.add(ch);
        ch.closeFuture().addListener(f -> channels.remove(ch));
        if (closed) {
            ch.close();
        }
    }

    private synchronized EventLoopGroup group() {
        if (callerGroup != null) {
            return callerGroup;
        }
        if (ownedGroup == null) {
            ownedGroup = Pipelines.newEpollGroup("ttrpc-server", 1);
        }
        return ownedGroup;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("ttrpc server is closed");
        }
    }

    public boolean isClosed() {
        return closed;
    }

    /**
     * Stops listening, closes every connection (their calls are cancelled), then stops the threads
     * this server created. A caller's event loop group or executor is left running.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        List<ChannelFuture> closing = new ArrayList<>();
        boolean onALoop = false;
        for (Channel ch : List.copyOf(channels)) {
            closing.add(ch.close());
            onALoop |= ch.eventLoop().inEventLoop();
        }
        // Waiting on an event loop for that loop's own work would dead-lock: then only start the stops.
        if (!onALoop) {
            for (ChannelFuture f : closing) {
                f.awaitUninterruptibly(5, TimeUnit.SECONDS);
            }
        }
        for (Path p : boundPaths) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) {
                // Best effort: the socket file is harmless once nobody listens on it.
            }
        }
        if (ownedExecutor != null) {
            ownedExecutor.shutdown();
            if (!onALoop) {
                try {
                    ownedExecutor.awaitTermination(5, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
        EventLoopGroup g;
        synchronized (this) {
            g = ownedGroup;
        }
        if (g != null) {
            io.netty.util.concurrent.Future<?> stopped = g.shutdownGracefully(0, 5, TimeUnit.SECONDS);
            if (!onALoop) {
                stopped.awaitUninterruptibly();
            }
        }
    }

    public static final class Builder {
        private final List<ServerServiceDefinition> services = new ArrayList<>();
        private Executor executor;
        private EventLoopGroup group;

        private Builder() {}

        public Builder addService(ServerServiceDefinition service) {
            services.add(Objects.requireNonNull(service, "service"));
            return this;
        }

        public Builder addService(BindableService service) {
            return addService(service.bindService());
        }

        /** Where handlers run; the caller keeps ownership. Default: a pool this server owns. */
        public Builder executor(Executor executor) {
            this.executor = Objects.requireNonNull(executor, "executor");
            return this;
        }

        /** Runs handlers on the event loop: fastest, but only for handlers that never block. */
        public Builder directExecutor() {
            return executor(Runnable::run);
        }

        /** Event loops for {@link #bind} (must be epoll-based); the caller keeps ownership. */
        public Builder eventLoopGroup(EventLoopGroup group) {
            this.group = Objects.requireNonNull(group, "group");
            return this;
        }

        public TtrpcServer build() {
            return new TtrpcServer(this);
        }
    }
}
