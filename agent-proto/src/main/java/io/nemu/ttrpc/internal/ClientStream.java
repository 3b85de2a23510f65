package io.nemu.ttrpc.internal;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Deadline;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.nemu.proto.ttrpc.Request;
import io.nemu.proto.ttrpc.Response;
import java.util.ArrayDeque;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One ttrpc stream on the client, presented as a gRPC {@link ClientCall}. Wire work runs on the
 * connection's event loop; listener callbacks run serialized on the call's executor.
 */
public final class ClientStream<ReqT, RespT> extends ClientCall<ReqT, RespT> {
    private static final Logger LOG = LoggerFactory.getLogger(ClientStream.class);

    private final ClientConnection conn;
    private final MethodDescriptor<ReqT, RespT> method;
    private final CallOptions options;
    private final SerializingExecutor callExecutor;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Context context = Context.current();
    private final Context.CancellationListener contextListener = c -> cancelled(Contexts.statusFromCancelled(c));
    private Deadline deadline;
    private Metadata headers;
    private byte[] singleRequest;
    private boolean started;
    private boolean halfClosed;
    private volatile ScheduledFuture<?> deadlineTimer;

    // Event loop only.
    private int streamId;
    private boolean assigned;

    // Call executor only.
    private Listener<RespT> listener;
    private final ArrayDeque<ByteString> pending = new ArrayDeque<>(2);
    private int demand;
    private Status closeStatus;
    /** The close came from the server: messages it sent before its status are still delivered, as in gRPC. */
    private boolean closeFromServer;
    private boolean closeDelivered;

    public ClientStream(ClientConnection conn, MethodDescriptor<ReqT, RespT> method, CallOptions options,
            Executor defaultExecutor) {
        this.conn = conn;
        this.method = method;
        this.options = options;
        Executor e = options.getExecutor();
        this.callExecutor = new SerializingExecutor(e != null ? e : defaultExecutor);
    }

    boolean isClosed() {
        return closed.get();
    }

    private boolean clientStreams() {
        return !method.getType().clientSendsOneMessage();
    }

    @Override
    public void start(Listener<RespT> responseListener, Metadata headers) {
        if (started) {
            throw new IllegalStateException("call already started");
        }
        started = true;
        this.headers = headers;
        callExecutor.execute(() -> listener = responseListener);
        deadline = earliest(options.getDeadline(), context.getDeadline());
        if (conn.isClosed()) {
            finish(Status.UNAVAILABLE.withDescription("ttrpc connection closed"));
            return;
        }
        if (deadline != null) {
            long nanos = deadline.timeRemaining(TimeUnit.NANOSECONDS);
            if (nanos <= 0) {
                finish(Status.DEADLINE_EXCEEDED.withDescription("deadline passed before the call started"));
                return;
            }
            deadlineTimer = conn.loop().schedule(() -> cancelled(Status.DEADLINE_EXCEEDED
                    .withDescription("deadline exceeded after " + nanos + "ns")), nanos, TimeUnit.NANOSECONDS);
        }
        context.addListener(contextListener, Runnable::run);
        if (clientStreams()) {
            openStream(Frame.FLAG_REMOTE_OPEN, ByteString.EMPTY);
        }
        callExecutor.execute(() -> {
            if (!closeDelivered) {
                safely(listener::onReady);
            }
        });
    }

    private static Deadline earliest(Deadline a, Deadline b) {
        if (a == null) {
            return b;
        }
        return b == null ? a : a.minimum(b);
    }

    private void openStream(byte flags, ByteString payload) {
        Request.Builder request = Request.newBuilder()
                .setService(method.getServiceName())
                .setMethod(method.getBareMethodName())
                .setPayload(payload);
        if (deadline != null) {
            request.setTimeoutNano(Math.max(1, deadline.timeRemaining(TimeUnit.NANOSECONDS)));
        }
        Wire.putMetadata(request, headers);
        byte[] bytes = request.build().toByteArray();
        Status tooBig = Frame.checkLength(bytes.length, "request");
        if (tooBig != null) {
            finish(tooBig);
            return;
        }
        conn.loop().execute(() -> conn.open(this, flags, bytes));
    }

    /** On the event loop, from {@link ClientConnection#open}. */
    void assigned(int id) {
        streamId = id;
        assigned = true;
    }

    @Override
    public void sendMessage(ReqT message) {
        if (!started || halfClosed) {
            throw new IllegalStateException(started ? "call already half-closed" : "call not started");
        }
        if (closed.get()) {
            return;
        }
        byte[] bytes = Wire.toBytes(method.getRequestMarshaller(), message);
        Status tooBig = Frame.checkLength(bytes.length, "request message");
        if (tooBig != null) {
            cancelled(tooBig);
            return;
        }
        if (clientStreams()) {
            sendData((byte) 0, bytes);
        } else if (singleRequest != null) {
            cancel("more than one request message for " + method.getFullMethodName(), null);
        } else {
            singleRequest = bytes;
        }
    }

    @Override
    public void halfClose() {
        if (!started || halfClosed) {
            throw new IllegalStateException(started ? "call already half-closed" : "call not started");
        }
        halfClosed = true;
        if (closed.get()) {
            return;
        }
        if (clientStreams()) {
            sendData((byte) (Frame.FLAG_REMOTE_CLOSED | Frame.FLAG_NO_DATA), null);
        } else if (singleRequest == null) {
            cancel("no request message for " + method.getFullMethodName(), null);
        } else {
            byte flags = method.getType() == MethodDescriptor.MethodType.UNARY ? 0 : Frame.FLAG_REMOTE_CLOSED;
            openStream(flags, UnsafeByteOperations.unsafeWrap(singleRequest));
            singleRequest = null;
        }
    }

    private void sendData(byte flags, byte[] bytes) {
        conn.loop().execute(() -> {
            if (assigned && !closed.get()) {
                conn.writer().writeInLoop(new Frame(streamId, Frame.TYPE_DATA, flags, bytes));
            }
        });
    }

    @Override
    public void request(int numMessages) {
        callExecutor.execute(() -> {
            demand = (int) Math.min(Integer.MAX_VALUE, (long) demand + numMessages);
            deliver();
        });
    }

    @Override
    public void cancel(String message, Throwable cause) {
        Status status = Status.CANCELLED;
        if (message != null) {
            status = status.withDescription(message);
        }
        if (cause != null) {
            status = status.withCause(cause);
        }
        cancelled(status);
    }

    private void cancelled(Status status) {
        if (finish(status)) {
            // ttrpc has no reset frame: forget the stream; later frames for it are dropped.
            conn.loop().execute(() -> {
                if (assigned) {
                    conn.forget(this, streamId);
                }
            });
        }
    }

    /** On the event loop. */
    void onWritabilityChanged() {
        callExecutor.execute(() -> {
            if (listener != null && !closeDelivered) {
                safely(listener::onReady);
            }
        });
    }

    @Override
    public boolean isReady() {
        return !closed.get() && conn.writer().channel().isWritable();
    }

    /** On the event loop: the final response. The connection has already forgotten the stream. */
    void onResponse(Response response) {
        Status status = Wire.fromProto(response.getStatus());
        if (status.isOk()) {
            ByteString payload = response.getPayload();
            if (method.getType().serverSendsOneMessage() || !payload.isEmpty()) {
                callExecutor.execute(() -> pending.add(payload));
            }
        }
        finish(status, true);
    }

    /** On the event loop; returns true when the frame ends the stream. */
    boolean onData(Frame frame) {
        if (method.getType().serverSendsOneMessage()) {
            fail(Status.INTERNAL.withDescription("server sent a data frame on " + method.getFullMethodName()
                    + ", which takes a single response"));
            return true;
        }
        if (!frame.has(Frame.FLAG_NO_DATA)) {
            ByteString payload = UnsafeByteOperations.unsafeWrap(frame.payload());
            callExecutor.execute(() -> {
                pending.add(payload);
                deliver();
            });
        }
        if (frame.has(Frame.FLAG_REMOTE_CLOSED)) {
            finish(Status.OK, true);
            return true;
        }
        return false;
    }

    /** The connection failed this stream (and has forgotten it). */
    void fail(Status status) {
        finish(status);
    }

    private boolean finish(Status status) {
        return finish(status, false);
    }

    /**
     * Ends the call once; returns false if it had already ended. A local end (cancel, deadline, lost
     * connection) drops undelivered messages; the server's own status waits behind them.
     */
    private boolean finish(Status status, boolean fromServer) {
        if (!closed.compareAndSet(false, true)) {
            return false;
        }
        ScheduledFuture<?> timer = deadlineTimer;
        if (timer != null) {
            timer.cancel(false);
        }
        context.removeListener(contextListener);
        callExecutor.execute(() -> {
            closeStatus = status;
            closeFromServer = fromServer;
            deliver();
        });
        return true;
    }

    /** On the call executor. */
    private void deliver() {
        if (listener == null || closeDelivered) {
            return;
        }
        boolean failing = closeStatus != null && !closeStatus.isOk() && !closeFromServer;
        while (!failing && demand > 0 && !pending.isEmpty()) {
            demand--;
            RespT message;
            try {
                message = Wire.parse(method.getResponseMarshaller(), pending.poll());
            } catch (RuntimeException e) {
                Status bad = Status.INTERNAL.withDescription("cannot decode response message: " + e.getMessage())
                        .withCause(e);
                cancelled(bad);
                closeStatus = bad; // overrides the server's close
                closeFromServer = false;
                failing = true;
                break;
            }
            safely(() -> listener.onMessage(message));
        }
        if (closeStatus != null && (failing || pending.isEmpty())) {
            closeDelivered = true;
            pending.clear();
            Status s = closeStatus;
            safely(() -> listener.onClose(s, new Metadata()));
        }
    }

    private void safely(Runnable callback) {
        try {
            callback.run();
        } catch (RuntimeException | Error e) {
            LOG.warn("ttrpc call listener failed; cancelling the call", e);
            cancel("listener failed", e);
        }
    }
}
