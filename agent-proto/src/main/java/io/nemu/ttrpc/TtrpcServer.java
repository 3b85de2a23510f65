package io.nemu.ttrpc;

import io.grpc.BindableService;
import io.grpc.ServerServiceDefinition;
import io.nemu.ttrpc.internal.CallLimits;
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
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
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
 * connected by someone else ({@link #serve}, {@link #initializer}). Calls in flight are bounded per
 * connection and in all ({@link Builder#maxCallsPerConnection}, {@link Builder#maxCalls}); one over a
 * limit is answered RESOURCE_EXHAUSTED at once, so a flood of calls costs neither threads nor memory.
 */
public final class TtrpcServer implements AutoCloseable {
    /**
     * Default calls in flight on one connection: far above what a shim (a blocking Wait per task) or an
     * agent (WaitProcess, ReadStdout, ReadStderr, WriteStdin per process; GetOOMEvent) keeps open.
     */
    public static final int DEFAULT_MAX_CALLS_PER_CONNECTION = 1024;
    /** Default calls in flight on all connections together. */
    public static final int DEFAULT_MAX_CALLS = 4096;
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");

    private final MethodRegistry registry;
    private final CallLimits limits;
    private final Executor executor;
    private final ExecutorService ownedExecutor;
    private final EventLoopGroup callerGroup;
    private EventLoopGroup ownedGroup;
    private final Set<Channel> channels = ConcurrentHashMap.newKeySet();
    private final List<Path> boundPaths = new ArrayList<>();
    private volatile boolean closed;

    private TtrpcServer(Builder b) {
        this.registry = new MethodRegistry(b.services);
        this.limits = new CallLimits(b.maxCallsPerConnection, b.maxCalls);
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

    /**
     * Listens on a unix socket, which only its owner may use (0600); a stale socket file at that path is
     * replaced. Callable repeatedly.
     */
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
        // Made with the process umask: until this chmod others may see it but not connect (no write bit).
        Files.setPosixFilePermissions(socket, OWNER_ONLY);
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
        Pipelines.install(ch, new ServerConnection(registry, executor, limits));
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

    /** Calls whose handlers are still at work, on all connections. */
    public int callsInFlight() {
        return limits.inFlight();
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
        private int maxCallsPerConnection = DEFAULT_MAX_CALLS_PER_CONNECTION;
        private int maxCalls = DEFAULT_MAX_CALLS;

        private Builder() {}

        /** Calls one connection may have in flight; one more is refused with RESOURCE_EXHAUSTED. */
        public Builder maxCallsPerConnection(int calls) {
            this.maxCallsPerConnection = calls;
            return this;
        }

        /** Calls all connections together may have in flight; one more is refused with RESOURCE_EXHAUSTED. */
        public Builder maxCalls(int calls) {
            this.maxCalls = calls;
            return this;
        }

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
