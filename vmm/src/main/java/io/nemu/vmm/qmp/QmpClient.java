package io.nemu.vmm.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufInputStream;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.handler.codec.json.JsonObjectDecoder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * QMP client over a unix socket. {@link #connect} reads the greeting and negotiates capabilities;
 * {@link #execute} matches responses to commands by {@code id}; events go to listeners. Replies and
 * events are handed out on one callback thread, in arrival order, never on the socket's event loop,
 * so callbacks may block or issue further commands.
 */
public final class QmpClient implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(QmpClient.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int MAX_MESSAGE = 16 * 1024 * 1024;

    private final Path socket;
    private final EventLoopGroup group;
    private final boolean ownGroup;
    private final ExecutorService callbacks;
    private final Map<String, Pending> pending = new ConcurrentHashMap<>();
    private final List<Consumer<QmpEvent>> listeners = new CopyOnWriteArrayList<>();
    private final AtomicLong ids = new AtomicLong();
    private final CompletableFuture<JsonNode> greeting = new CompletableFuture<>();
    private final CompletableFuture<Void> closed = new CompletableFuture<>();
    private volatile Channel channel;
    private final java.util.concurrent.atomic.AtomicBoolean closing = new java.util.concurrent.atomic.AtomicBoolean();

    private record Pending(String command, CompletableFuture<JsonNode> future) {
    }

    private QmpClient(Path socket, EventLoopGroup group, boolean ownGroup) {
        this.socket = socket;
        this.group = group;
        this.ownGroup = ownGroup;
        this.callbacks = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "qmp-callbacks");
            t.setDaemon(true);
            return t;
        });
    }

    /** Connects with its own one-thread event loop, closed with the client. */
    public static CompletableFuture<QmpClient> connect(Path socket, Duration timeout) {
        return connect(socket, new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory()), true, timeout);
    }

    /** Connects on a shared event loop group (not closed by the client). */
    public static CompletableFuture<QmpClient> connect(Path socket, EventLoopGroup group, Duration timeout) {
        return connect(socket, group, false, timeout);
    }

    private static CompletableFuture<QmpClient> connect(Path socket, EventLoopGroup group, boolean own,
            Duration timeout) {
        QmpClient c = new QmpClient(socket, group, own);
        CompletableFuture<QmpClient> result = new CompletableFuture<>();
        Bootstrap b = new Bootstrap().group(group).channel(EpollDomainSocketChannel.class)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.max(1, timeout.toMillis()))
                .handler(new ChannelInitializer<EpollDomainSocketChannel>() {
                    @Override
                    protected void initChannel(EpollDomainSocketChannel ch) {
                        ch.pipeline().addLast(new JsonObjectDecoder(MAX_MESSAGE), c.new Handler());
                    }
                });
        ChannelFuture cf = b.connect(new DomainSocketAddress(socket.toString()));
        cf.addListener(f -> {
            if (!f.isSuccess()) {
                c.shutdown();
                result.completeExceptionally(new QmpException("cannot connect to QMP socket " + socket + ": "
                        + f.cause().getMessage(), f.cause()));
                return;
            }
            c.channel = cf.channel();
            c.greeting.thenCompose(g -> c.execute("qmp_capabilities")).whenComplete((r, e) -> {
                if (e != null) {
                    c.close();
                    result.completeExceptionally(e instanceof QmpException ? e
                            : new QmpException("QMP handshake on " + socket + " failed: " + e.getMessage(), e));
                } else {
                    result.complete(c);
                }
            });
        });
        return result.orTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS).whenComplete((r, e) -> {
            if (e != null) {
                c.close();
            }
        });
    }

    /** The {@code QMP} object of the greeting (version, capabilities). */
    public JsonNode greeting() {
        return greeting.getNow(null);
    }

    public Path socket() {
        return socket;
    }

    public boolean isConnected() {
        Channel ch = channel;
        return ch != null && ch.isActive() && !closed.isDone();
    }

    /** Completes when the connection is gone (closed by either side). */
    public CompletableFuture<Void> closeFuture() {
        return closed;
    }

    public CompletableFuture<JsonNode> execute(String command) {
        return execute(command, (ObjectNode) null);
    }

    /** Runs a command; the future gets its {@code return} value or a {@link QmpException}. */
    public CompletableFuture<JsonNode> execute(String command, Map<String, ?> arguments) {
        ObjectNode args = arguments == null ? null : JSON.valueToTree(arguments);
        return execute(command, args);
    }

    public CompletableFuture<JsonNode> execute(String command, ObjectNode arguments) {
        CompletableFuture<JsonNode> f = new CompletableFuture<>();
        Channel ch = channel;
        if (ch == null || closed.isDone()) {
            f.completeExceptionally(new QmpException("QMP connection to " + socket + " is closed; cannot run "
                    + command, (String) null));
            return f;
        }
        String id = Long.toString(ids.incrementAndGet());
        ObjectNode msg = JsonNodeFactory.instance.objectNode();
        msg.put("execute", command);
        if (arguments != null) {
            msg.set("arguments", arguments);
        }
        msg.put("id", id);
        pending.put(id, new Pending(command, f));
        byte[] bytes;
        try {
            bytes = (JSON.writeValueAsString(msg) + "\n").getBytes(StandardCharsets.UTF_8);
        } catch (IOException e) {
            pending.remove(id);
            f.completeExceptionally(new QmpException("cannot encode " + command, e));
            return f;
        }
        ch.writeAndFlush(Unpooled.wrappedBuffer(bytes)).addListener(w -> {
            if (!w.isSuccess()) {
                Pending p = pending.remove(id);
                if (p != null) {
                    callbacks.execute(() -> p.future().completeExceptionally(new QmpException(
                            "cannot send " + command + " to " + socket + ": " + w.cause().getMessage(), w.cause())));
                }
            }
        });
        // A closed-while-sending race: channelInactive may already have drained the map.
        if (closed.isDone() && pending.remove(id) != null) {
            f.completeExceptionally(new QmpException("QMP connection to " + socket + " closed", (String) null));
        }
        return f;
    }

    /** {@code query-status}: the run state ("running", "prelaunch", "paused", "shutdown", ...). */
    public CompletableFuture<String> queryStatus() {
        return execute("query-status").thenApply(r -> r.path("status").asText());
    }

    /** ACPI power button. */
    public CompletableFuture<Void> systemPowerdown() {
        return execute("system_powerdown").thenApply(r -> null);
    }

    /** Ends QEMU now. */
    public CompletableFuture<Void> quit() {
        return execute("quit").thenApply(r -> null);
    }

    public void addEventListener(Consumer<QmpEvent> listener) {
        listeners.add(listener);
    }

    public void removeEventListener(Consumer<QmpEvent> listener) {
        listeners.remove(listener);
    }

    /** Completes with the next event named {@code name} (arriving after this call). */
    public CompletableFuture<QmpEvent> nextEvent(String name) {
        CompletableFuture<QmpEvent> f = new CompletableFuture<>();
        Consumer<QmpEvent> l = new Consumer<>() {
            @Override
            public void accept(QmpEvent e) {
                if (e.name().equals(name) && f.complete(e)) {
                    removeEventListener(this);
                }
            }
        };
        addEventListener(l);
        closed.whenComplete((v, e) -> {
            if (f.completeExceptionally(new QmpException("QMP connection closed before event " + name,
                    (String) null))) {
                removeEventListener(l);
            }
        });
        return f;
    }

    @Override
    public void close() {
        if (!closing.compareAndSet(false, true)) {
            return;
        }
        Channel ch = channel;
        if (ch != null && ch.isOpen()) {
            ch.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
        }
        onClosed();
        shutdown();
    }

    private void shutdown() {
        if (ownGroup) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
        callbacks.shutdown();
    }

    private void onClosed() {
        if (closed.isDone()) {
            return;
        }
        String why = closing.get() ? "QMP connection to " + socket + " was closed"
                : "QMP connection to " + socket + " lost (QEMU gone?)";
        try {
            callbacks.execute(() -> {
                failPending(why);
                greeting.completeExceptionally(new QmpException(why, (String) null));
                closed.complete(null);
            });
        } catch (java.util.concurrent.RejectedExecutionException e) {
            failPending(why);
            greeting.completeExceptionally(new QmpException(why, (String) null));
            closed.complete(null);
        }
    }

    private void failPending(String why) {
        for (Iterator<Map.Entry<String, Pending>> it = pending.entrySet().iterator(); it.hasNext(); ) {
            Pending p = it.next().getValue();
            it.remove();
            p.future().completeExceptionally(new QmpException(why + " while waiting for " + p.command(),
                    (String) null));
        }
    }

    private void dispatch(JsonNode msg) {
        if (msg.has("QMP")) {
            greeting.complete(msg.get("QMP"));
            return;
        }
        if (msg.has("event")) {
            JsonNode ts = msg.path("timestamp");
            QmpEvent e = new QmpEvent(msg.get("event").asText(),
                    msg.has("data") ? msg.get("data") : JsonNodeFactory.instance.objectNode(),
                    ts.path("seconds").asLong() * 1_000_000 + ts.path("microseconds").asLong());
            log.debug("QMP event {} {}", e.name(), e.data());
            for (Consumer<QmpEvent> l : listeners) {
                try {
                    l.accept(e);
                } catch (RuntimeException ex) {
                    log.warn("QMP event listener failed on {}", e.name(), ex);
                }
            }
            return;
        }
        JsonNode id = msg.get("id");
        Pending p = id == null ? null : pending.remove(id.asText());
        if (p == null) {
            log.warn("QMP message without a waiting command: {}", msg);
            return;
        }
        if (msg.has("error")) {
            JsonNode err = msg.get("error");
            p.future().completeExceptionally(new QmpException("QMP " + p.command() + " failed: "
                    + err.path("desc").asText(), err.path("class").asText()));
        } else {
            p.future().complete(msg.has("return") ? msg.get("return") : JsonNodeFactory.instance.objectNode());
        }
    }

    private final class Handler extends SimpleChannelInboundHandler<ByteBuf> {
        @Override
        protected void channelRead0(ChannelHandlerContext ctx, ByteBuf buf) throws IOException {
            JsonNode msg = JSON.readTree((java.io.InputStream) new ByteBufInputStream(buf));
            try {
                callbacks.execute(() -> dispatch(msg));
            } catch (java.util.concurrent.RejectedExecutionException e) {
                log.debug("QMP message after close dropped: {}", msg);
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            onClosed();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // QEMU resets the socket when it exits; that is how a QMP session normally ends.
            log.debug("QMP connection to {} failed: {}", socket, cause.toString());
            ctx.close();
        }
    }
}
