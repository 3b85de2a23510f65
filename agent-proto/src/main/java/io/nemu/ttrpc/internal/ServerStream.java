package io.nemu.ttrpc.internal;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import io.grpc.Attributes;
import io.grpc.Context;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerMethodDefinition;
import io.grpc.Status;
import io.netty.buffer.ByteBuf;
import io.netty.util.ReferenceCountUtil;
import io.nemu.proto.ttrpc.Request;
import io.nemu.proto.ttrpc.Response;
import java.net.SocketAddress;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One ttrpc stream on the server, presented to gRPC's generated handlers as a {@link ServerCall}.
 * Inbound events are queued and handed to the listener on a per-call serializing executor, as far
 * as the handler asked for them ({@link #request}). Outbound calls may come from any thread.
 */
final class ServerStream<ReqT, RespT> extends ServerCall<ReqT, RespT> {
    private static final Logger LOG = LoggerFactory.getLogger(ServerStream.class);

    /** Messages a handler may leave unrequested before the stream is failed (upstream allows 64). */
    static final int MAX_QUEUED_MESSAGES = 1024;

    private final ServerConnection conn;
    private final int id;
    private final ServerMethodDefinition<ReqT, RespT> def;
    private final MethodDescriptor<ReqT, RespT> method;
    private final SerializingExecutor callExecutor;
    private final AtomicBoolean closed = new AtomicBoolean();
    /** The handler is done with the call (its last callback ran): its place in the limits is free. */
    private final AtomicBoolean handlerDone = new AtomicBoolean();
    private final java.util.concurrent.atomic.AtomicInteger queued = new java.util.concurrent.atomic.AtomicInteger();
    private volatile boolean closeCalled;
    private volatile boolean cancelled;
    /** A unary call's answer, the whole frame, until close() sends it (or releases it if the call ends badly). */
    private volatile ByteBuf singleResponse;
    private Context.CancellableContext context;

    // Event loop only.
    private boolean inboundClosed;

    // Call executor only.
    private Listener<ReqT> listener;
    private final ArrayDeque<ByteString> pending = new ArrayDeque<>(2);
    private int demand;
    private boolean halfClosePending;
    private boolean halfCloseDelivered;

    @SuppressWarnings("unchecked")
    ServerStream(ServerConnection conn, int id, ServerMethodDefinition<?, ?> def) {
        this.conn = conn;
        this.id = id;
        this.def = (ServerMethodDefinition<ReqT, RespT>) def;
        this.method = this.def.getMethodDescriptor();
        this.callExecutor = new SerializingExecutor(conn.executor());
    }

    int id() {
        return id;
    }

    /** On the event loop, right after the request frame. */
    void start(Request request, byte flags) {
        Metadata headers = Wire.toMetadata(request);
        long timeout = request.getTimeoutNano();
        context = timeout > 0
                ? Context.ROOT.withDeadlineAfter(timeout, TimeUnit.NANOSECONDS, conn.writer().loop())
                : Context.ROOT.withCancellation();
        context.addListener(c -> onContextCancelled(), Runnable::run);
        callExecutor.execute(() -> {
            if (closed.get()) {
                return;
            }
            Context previous = context.attach();
            try {
                listener = def.getServerCallHandler().startCall(this, headers);
                listener.onReady();
            } catch (RuntimeException | Error e) {
                fail(Status.fromThrowable(e));
                return;
            } finally {
                context.detach(previous);
            }
            deliver();
        });
        if (method.getType().clientSendsOneMessage()) {
            inboundClosed = true;
            enqueueMessage(request.getPayload());
            enqueueHalfClose();
        } else {
            if (!request.getPayload().isEmpty()) {
                enqueueMessage(request.getPayload());
            }
            if ((flags & Frame.FLAG_REMOTE_OPEN) == 0) {
                inboundClosed = true;
                enqueueHalfClose();
            }
        }
    }

    /** On the event loop. */
    void onData(Frame frame) {
        if (inboundClosed) {
            fail(Status.INVALID_ARGUMENT.withDescription(
                    "stream " + Integer.toUnsignedString(id) + " takes no more data from the client"));
            return;
        }
        if (!frame.has(Frame.FLAG_NO_DATA)) {
            if (queued.get() >= MAX_QUEUED_MESSAGES) {
                fail(Status.RESOURCE_EXHAUSTED.withDescription("stream " + Integer.toUnsignedString(id)
                        + " has " + MAX_QUEUED_MESSAGES + " messages its handler has not asked for"));
                return;
            }
            enqueueMessage(UnsafeByteOperations.unsafeWrap(frame.payload()));
        }
        if (frame.has(Frame.FLAG_REMOTE_CLOSED)) {
            inboundClosed = true;
            enqueueHalfClose();
        }
    }

    private void enqueueMessage(ByteString bytes) {
        queued.incrementAndGet();
        callExecutor.execute(() -> {
            pending.add(bytes);
            deliver();
        });
    }

    private void enqueueHalfClose() {
        callExecutor.execute(() -> {
            halfClosePending = true;
            deliver();
        });
    }

    @Override
    public void request(int numMessages) {
        callExecutor.execute(() -> {
            demand = (int) Math.min(Integer.MAX_VALUE, (long) demand + numMessages);
            deliver();
        });
    }

    /** On the call executor: hands queued messages to the listener while it has demand. */
    private void deliver() {
        if (listener == null) {
            return;
        }
        while (demand > 0 && !pending.isEmpty() && !closed.get()) {
            demand--;
            queued.decrementAndGet();
            ReqT message;
            try {
                message = Wire.parse(method.getRequestMarshaller(), pending.poll());
            } catch (RuntimeException e) {
                fail(Status.INTERNAL.withDescription("cannot decode request message: " + e.getMessage()).withCause(e));
                return;
            }
            if (!invoke(() -> listener.onMessage(message))) {
                return;
            }
        }
        if (pending.isEmpty() && halfClosePending && !halfCloseDelivered && !closed.get()) {
            halfCloseDelivered = true;
            invoke(listener::onHalfClose);
        }
    }

    private boolean invoke(Runnable callback) {
        Context previous = context.attach();
        try {
            callback.run();
            return true;
        } catch (RuntimeException | Error e) {
            fail(Status.fromThrowable(e));
            return false;
        } finally {
            context.detach(previous);
        }
    }

    @Override
    public void sendHeaders(Metadata headers) {
        // ttrpc has no response headers.
    }

    @Override
    public void sendMessage(RespT message) {
        if (closeCalled) {
            throw new IllegalStateException("call is closed");
        }
        if (closed.get()) {
            return; // cancelled: the client no longer listens
        }
        boolean unary = method.getType().serverSendsOneMessage();
        if (unary && singleResponse != null) {
            fail(Status.INTERNAL.withDescription("handler sent more than one response to "
                    + method.getFullMethodName()));
            return;
        }
        if (unary) {
            // The message goes straight into the frame that close() sends if the call ends well.
            ByteBuf frame = Wire.okResponseFrame(conn.writer().channel().alloc(), id, method.getResponseMarshaller(),
                    message);
            Status tooBig = Frame.checkLength(frame.readableBytes() - Frame.HEADER_LENGTH, "response");
            if (tooBig != null) {
                frame.release();
                fail(tooBig);
                return;
            }
            singleResponse = frame;
            return;
        }
        byte[] bytes = Wire.toBytes(method.getResponseMarshaller(), message);
        Status tooBig = Frame.checkLength(bytes.length, "response message");
        if (tooBig != null) {
            fail(tooBig);
            return;
        }
        conn.writer().send(new Frame(id, Frame.TYPE_DATA, (byte) 0, bytes));
    }

    @Override
    public void close(Status status, Metadata trailers) {
        if (closeCalled) {
            throw new IllegalStateException("call already closed");
        }
        closeCalled = true;
        ByteBuf okResponse = singleResponse; // the Response{OK, payload} frame, sized within a frame by sendMessage
        singleResponse = null;
        if (!closed.compareAndSet(false, true)) {
            ReferenceCountUtil.release(okResponse);
            return;
        }
        Object last;
        if (status.isOk() && !method.getType().serverSendsOneMessage()) {
            // As upstream: a streaming server ends a good stream with an empty closing data frame.
            last = new Frame(id, Frame.TYPE_DATA, (byte) (Frame.FLAG_REMOTE_CLOSED | Frame.FLAG_NO_DATA), null);
        } else if (status.isOk() && okResponse != null) {
            last = okResponse;
        } else {
            ReferenceCountUtil.release(okResponse);
            if (status.isOk()) {
                status = Status.INTERNAL.withDescription("handler completed " + method.getFullMethodName()
                        + " without a response");
            }
            last = new Frame(id, Frame.TYPE_RESPONSE, (byte) 0,
                    Response.newBuilder().setStatus(Wire.toProto(status)).build().toByteArray());
        }
        conn.finish(this, last);
        afterHandler(() -> {
            if (listener != null) {
                invokeQuietly(listener::onComplete);
            }
        });
        context.cancel(null);
    }

    /** Ends the call with an error status sent to the client; the handler sees a cancellation. */
    void fail(Status status) {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        cancelled = true;
        conn.finish(this, new Frame(id, Frame.TYPE_RESPONSE, (byte) 0,
                Response.newBuilder().setStatus(Wire.toProto(status)).build().toByteArray()));
        notifyCancelled(status);
    }

    /** The connection is gone: nobody to answer, just cancel. On the event loop. */
    void connectionClosed() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        cancelled = true;
        conn.finish(this, null);
        notifyCancelled(Status.UNAVAILABLE.withDescription("ttrpc connection closed"));
    }

    private void onContextCancelled() {
        if (closed.get()) {
            return;
        }
        Status status = context.cancellationCause() instanceof TimeoutException
                ? Status.DEADLINE_EXCEEDED.withDescription("deadline exceeded on the server")
                : Status.CANCELLED.withDescription("call cancelled");
        fail(status);
    }

    private void notifyCancelled(Status status) {
        afterHandler(() -> {
            if (listener != null) {
                invokeQuietly(listener::onCancel);
            }
        });
        context.cancel(status.asRuntimeException());
    }

    /**
     * The call's last callback, queued behind whatever the handler still runs (a blocked unary handler
     * included): once it has run, the call no longer counts against the server's limits.
     */
    private void afterHandler(Runnable last) {
        try {
            callExecutor.execute(() -> {
                try {
                    last.run();
                } finally {
                    releaseOnce();
                }
            });
        } catch (RuntimeException refused) {
            // The executor is shut down (server closing): nothing will run for this call any more.
            releaseOnce();
        }
    }

    private void releaseOnce() {
        if (handlerDone.compareAndSet(false, true)) {
            conn.callDone();
        }
    }

    private void invokeQuietly(Runnable callback) {
        Context previous = context.attach();
        try {
            callback.run();
        } catch (RuntimeException | Error e) {
            LOG.warn("ttrpc handler callback failed", e);
        } finally {
            context.detach(previous);
        }
    }

    /** On the event loop, when the socket's writability changes. */
    void onWritabilityChanged() {
        callExecutor.execute(() -> {
            if (listener != null && !closed.get() && isReady()) {
                invoke(listener::onReady);
            }
        });
    }

    @Override
    public boolean isReady() {
        return conn.writer().channel().isWritable();
    }

    @Override
    public boolean isCancelled() {
        return cancelled;
    }

    @Override
    public MethodDescriptor<ReqT, RespT> getMethodDescriptor() {
        return method;
    }

    @Override
    public Attributes getAttributes() {
        SocketAddress remote = conn.writer().channel().remoteAddress();
        SocketAddress local = conn.writer().channel().localAddress();
        Attributes.Builder b = Attributes.newBuilder();
        if (remote != null) {
            b.set(Grpc.TRANSPORT_ATTR_REMOTE_ADDR, remote);
        }
        if (local != null) {
            b.set(Grpc.TRANSPORT_ATTR_LOCAL_ADDR, local);
        }
        return b.build();
    }

    @Override
    public String getAuthority() {
        return null;
    }
}
