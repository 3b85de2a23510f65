package io.nemu.ttrpc.internal;

import com.google.protobuf.InvalidProtocolBufferException;
import io.grpc.Status;
import io.nemu.proto.ttrpc.Response;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Client side of one ttrpc connection: hands out odd, increasing stream ids and routes the
 * server's frames to their calls. Stream state is touched only on the event loop.
 */
public final class ClientConnection extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(ClientConnection.class);
    private static final long MAX_STREAM_ID = 0xFFFF_FFFFL;

    private final Map<Integer, ClientStream<?, ?>> streams = new HashMap<>();
    private volatile FrameWriter writer;
    private long nextStreamId = 1;
    private volatile boolean closed;

    public boolean isClosed() {
        return closed || !writer.channel().isActive();
    }

    FrameWriter writer() {
        return writer;
    }

    EventLoop loop() {
        return writer.loop();
    }

    /** Binds to the channel before the handler joins its pipeline (which may happen later, on the loop). */
    public void attach(io.netty.channel.Channel channel) {
        writer = new FrameWriter(channel);
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        if (writer == null) {
            writer = new FrameWriter(ctx.channel());
        }
        // Safety net for channels that were closed before or while the handler was installed.
        // (close-future listeners run on the channel's loop, where stream state lives)
        ctx.channel().closeFuture().addListener(f -> failAll());
    }

    /** On the event loop: allocates the next id and sends the request frame. */
    void open(ClientStream<?, ?> stream, byte flags, byte[] request) {
        if (stream.isClosed()) {
            return;
        }
        if (closed || !writer.channel().isActive()) {
            stream.fail(Status.UNAVAILABLE.withDescription("ttrpc connection closed"));
            return;
        }
        if (nextStreamId > MAX_STREAM_ID) {
            stream.fail(Status.UNAVAILABLE.withDescription("ttrpc stream ids exhausted on this connection"));
            return;
        }
        int id = (int) nextStreamId;
        nextStreamId += 2;
        streams.put(id, stream);
        stream.assigned(id);
        writer.writeInLoop(new Frame(id, Frame.TYPE_REQUEST, flags, request));
    }

    /** On the event loop. */
    void forget(ClientStream<?, ?> stream, int id) {
        streams.remove(id, stream);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof OversizedFrame o) {
            ClientStream<?, ?> stream = streams.remove(o.streamId());
            if (stream != null) {
                stream.fail(Status.RESOURCE_EXHAUSTED.withDescription("message length " + o.length()
                        + " exceeds maximum message size of " + Frame.MAX_DATA_LENGTH));
            }
            return;
        }
        if (!(msg instanceof Frame frame)) {
            ctx.fireChannelRead(msg);
            return;
        }
        ClientStream<?, ?> stream = streams.get(frame.streamId());
        if (stream == null) {
            LOG.debug("ttrpc: dropping {} for an inactive stream", frame);
            return;
        }
        switch (frame.type()) {
            case Frame.TYPE_RESPONSE -> {
                streams.remove(frame.streamId());
                try {
                    stream.onResponse(Response.parser().parseFrom(Wire.aliasing(frame.payload())));
                } catch (InvalidProtocolBufferException e) {
                    stream.fail(Status.INTERNAL.withDescription("cannot decode ttrpc response: " + e.getMessage()));
                }
            }
            case Frame.TYPE_DATA -> {
                if (stream.onData(frame)) {
                    streams.remove(frame.streamId());
                }
            }
            default -> LOG.debug("ttrpc: ignoring {} from server", frame);
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable()) {
            for (ClientStream<?, ?> stream : streams.values()) {
                stream.onWritabilityChanged();
            }
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        failAll();
        ctx.fireChannelInactive();
    }

    private void failAll() {
        closed = true;
        if (streams.isEmpty()) {
            return;
        }
        Status status = Status.UNAVAILABLE.withDescription("ttrpc connection closed");
        for (ClientStream<?, ?> stream : new ArrayList<>(streams.values())) {
            stream.fail(status);
        }
        streams.clear();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.debug("ttrpc client connection failed, closing it", cause);
        ctx.close();
    }
}
