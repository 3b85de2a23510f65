package io.nemu.ttrpc.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import com.google.protobuf.ByteString;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.protobuf.ProtoUtils;
import io.nemu.proto.test.EchoResponse;
import io.nemu.proto.ttrpc.Response;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class WireTest {

    @Test
    void okResponseFrameIsTheHeaderAndWhatProtobufWritesForTheEnvelope() {
        MethodDescriptor.Marshaller<EchoResponse> m = ProtoUtils.marshaller(EchoResponse.getDefaultInstance());
        for (int size : new int[] {0, 1, 120, 200, 20_000, 1 << 20, (1 << 20) + 3}) {
            byte[] data = new byte[size];
            new SplittableRandom(size).nextBytes(data);
            EchoResponse message = EchoResponse.newBuilder().setData(ByteString.copyFrom(data)).build();
            byte[] expected = Response.newBuilder().setStatus(Wire.toProto(Status.OK))
                    .setPayload(message.toByteString()).build().toByteArray();
            assertArrayEquals(frame(size, expected), okResponseFrame(m, message), "message with " + size + " data bytes");
        }
        byte[] empty = Response.newBuilder().setStatus(Wire.toProto(Status.OK)).build().toByteArray();
        assertArrayEquals(frame(0, empty), okResponseFrame(m, EchoResponse.getDefaultInstance()),
                "an empty message: no payload field");
    }

    /** What FrameEncoder writes for a response frame of stream {@code id} carrying {@code data}. */
    private static byte[] frame(int id, byte[] data) {
        ByteBuf out = Unpooled.buffer();
        FrameEncoder.INSTANCE.encode(null, new Frame(id, Frame.TYPE_RESPONSE, (byte) 0, data), out);
        return ByteBufUtil.getBytes(out);
    }

    private static byte[] okResponseFrame(MethodDescriptor.Marshaller<EchoResponse> m, EchoResponse message) {
        int id = message.getData().size(); // any stream id: one per message here
        ByteBuf buf = Wire.okResponseFrame(UnpooledByteBufAllocator.DEFAULT, id, m, message);
        try {
            return ByteBufUtil.getBytes(buf);
        } finally {
            buf.release();
        }
    }
}
