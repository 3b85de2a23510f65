package io.nemu.ttrpc.internal;

import com.google.protobuf.InvalidProtocolBufferException;
import io.grpc.ServerMethodDefinition;
import io.grpc.Status;
import io.nemu.proto.ttrpc.Request;
import io.nemu.proto.ttrpc.Response;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Server side of one ttrpc connection: validates stream ids, routes requests to gRPC method
 * handlers and data frames to their streams, refuses calls over the {@link CallLimits}. All state here
 * but the count of calls in flight is touched only on the event loop. While the peer does not read what
 * the connection writes (the channel is not writable), it reads no more requests either: the answers
 * to a flood queue in the peer's socket, not in this process.
 */
public final class ServerConnection extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(ServerConnection.class);

    private final MethodRegistry registry;
    private final Executor executor;
    private final CallLimits limits;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final Map<Integer, ServerStream<?, ?>> streams = new HashMap<>();
    private FrameWriter writer;
    private long lastStreamId;
    private boolean inactive;

    public ServerConnection(MethodRegistry registry, Executor executor, CallLimits limits) {
        this.registry = registry;
        this.executor = executor;
        this.limits = limits;
    }

    FrameWriter writer() {
        return writer;
    }

    Executor executor() {
        return executor;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        writer = new FrameWriter(ctx.channel());
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof OversizedFrame o) {
            Status status = Status.RESOURCE_EXHAUSTED.withDescription("message length " + o.length()
                    + " exceeds maximum message size of " + Frame.MAX_DATA_LENGTH);
            ServerStream<?, ?> stream = streams.get(o.streamId());
            if (stream != null) {
                stream.fail(status);
            } else {
                sendStatus(o.streamId(), status);
            }
            return;
        }
        if (!(msg instanceof Frame frame)) {
            ctx.fireChannelRead(msg);
            return;
        }
        int id = frame.streamId();
        if ((id & 1) == 0) {
            sendStatus(id, Status.INVALID_ARGUMENT.withDescription(
                    "stream id " + Integer.toUnsignedString(id) + " is even; client streams must use odd ids"));
            return;
        }
        switch (frame.type()) {
            case Frame.TYPE_REQUEST -> onRequest(frame);
            case Frame.TYPE_DATA -> onData(frame);
            default -> LOG.debug("ttrpc: ignoring {} from client", frame);
        }
    }

    private void onRequest(Frame frame) {
        int id = frame.streamId();
        long unsignedId = Integer.toUnsignedLong(id);
        if (unsignedId <= lastStreamId) {
            sendStatus(id, Status.INVALID_ARGUMENT.withDescription("stream id " + unsignedId
                    + " is not greater than the previous stream id " + lastStreamId));
            return;
        }
        lastStreamId = unsignedId;
        Request request;
        try {
            request = Request.parser().parseFrom(Wire.aliasing(frame.payload()));
        } catch (InvalidProtocolBufferException e) {
            sendStatus(id, Status.INVALID_ARGUMENT.withDescription("cannot decode ttrpc request: " + e.getMessage()));
            return;
        }
        ServerMethodDefinition<?, ?> def = registry.lookup(request.getService(), request.getMethod());
        if (def == null) {
            String what = registry.hasService(request.getService())
                    ? "method " + request.getService() + "/" + request.getMethod()
                    : "service " + request.getService();
            sendStatus(id, Status.UNIMPLEMENTED.withDescription(what + " is not implemented"));
            return;
        }
        String refused = limits.tryAcquire(inFlight);
        if (refused != null) {
            LOG.debug("ttrpc: refusing {}/{}: {}", request.getService(), request.getMethod(), refused);
            sendStatus(id, Status.RESOURCE_EXHAUSTED.withDescription(refused));
            return;
        }
        ServerStream<?, ?> stream = new ServerStream<>(this, id, def);
        streams.put(id, stream);
        stream.start(request, frame.flags());
    }

    private void onData(Frame frame) {
        ServerStream<?, ?> stream = streams.get(frame.streamId());
        if (stream == null) {
            sendStatus(frame.streamId(), Status.INVALID_ARGUMENT.withDescription(
                    "stream " + Integer.toUnsignedString(frame.streamId()) + " is not active"));
            return;
        }
        stream.onData(frame);
    }

    private void sendStatus(int id, Status status) {
        writer.writeInLoop(new Frame(id, Frame.TYPE_RESPONSE, (byte) 0,
                Response.newBuilder().setStatus(Wire.toProto(status)).build().toByteArray()));
    }

    /** A call's handler is done with it: its place counts no more. Once per call, from any thread. */
    void callDone() {
        limits.release(inFlight);
    }

    /**
     * The stream's last frame (a {@link Frame}, or a unary answer encoded whole as a ByteBuf): forget the stream and
     * send the frame, in that order, on the loop.
     */
    void finish(ServerStream<?, ?> stream, Object last) {
        if (writer.loop().inEventLoop()) {
            finishInLoop(stream, last);
        } else {
            writer.loop().execute(() -> finishInLoop(stream, last));
        }
    }

    private void finishInLoop(ServerStream<?, ?> stream, Object last) {
        streams.remove(stream.id(), stream);
        if (!inactive && last != null) {
            writer.writeInLoop(last);
        } else {
            ReferenceCountUtil.release(last);
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        // Back-pressure: stop reading while the peer is not reading our frames.
        ctx.channel().config().setAutoRead(ctx.channel().isWritable());
        if (ctx.channel().isWritable()) {
            for (ServerStream<?, ?> stream : streams.values()) {
                stream.onWritabilityChanged();
            }
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        inactive = true;
        for (ServerStream<?, ?> stream : new ArrayList<>(streams.values())) {
            stream.connectionClosed();
        }
        streams.clear();
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.debug("ttrpc server connection failed, closing it", cause);
        ctx.close();
    }
}
