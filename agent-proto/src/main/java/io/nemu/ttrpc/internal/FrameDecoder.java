package io.nemu.ttrpc.internal;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.List;

/**
 * Splits the byte stream into {@link Frame}s. A frame longer than {@link Frame#MAX_DATA_LENGTH} is
 * skipped as its bytes arrive (never accumulated) and reported as an {@link OversizedFrame}.
 */
public final class FrameDecoder extends ByteToMessageDecoder {
    private long discardRemaining;
    private OversizedFrame discarding;

    public FrameDecoder() {
        // A large frame arrives in many reads: keep them as pieces, copied once into the payload, instead of
        // merging each into one growing buffer (a copy per piece plus one per growth).
        setCumulator(COMPOSITE_CUMULATOR);
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        while (true) {
            if (discarding != null) {
                int skip = (int) Math.min(discardRemaining, in.readableBytes());
                in.skipBytes(skip);
                discardRemaining -= skip;
                if (discardRemaining > 0) {
                    return;
                }
                out.add(discarding);
                discarding = null;
                continue;
            }
            if (in.readableBytes() < Frame.HEADER_LENGTH) {
                return;
            }
            int start = in.readerIndex();
            long length = in.getUnsignedInt(start);
            int streamId = in.getInt(start + 4);
            byte type = in.getByte(start + 8);
            byte flags = in.getByte(start + 9);
            if (length > Frame.MAX_DATA_LENGTH) {
                in.skipBytes(Frame.HEADER_LENGTH);
                discarding = new OversizedFrame(streamId, type, length);
                discardRemaining = length;
                continue;
            }
            if (in.readableBytes() < Frame.HEADER_LENGTH + length) {
                return;
            }
            in.skipBytes(Frame.HEADER_LENGTH);
            byte[] payload = Frame.EMPTY;
            if (length > 0) {
                payload = new byte[(int) length];
                in.readBytes(payload);
            }
            out.add(new Frame(streamId, type, flags, payload));
        }
    }

    @Override
    protected void decodeLast(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        // A partial frame at end of stream is dropped: the peer is gone, nobody can be answered.
        decode(ctx, in, out);
    }
}
