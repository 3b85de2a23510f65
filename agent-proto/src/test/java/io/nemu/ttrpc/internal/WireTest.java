package io.nemu.ttrpc.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import com.google.protobuf.ByteString;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.protobuf.ProtoUtils;
import io.nemu.proto.test.EchoResponse;
import io.nemu.proto.ttrpc.Response;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class WireTest {

    @Test
    void okResponseIsWhatProtobufWritesForTheEnvelope() {
        MethodDescriptor.Marshaller<EchoResponse> m = ProtoUtils.marshaller(EchoResponse.getDefaultInstance());
        for (int size : new int[] {0, 1, 120, 200, 20_000, 1 << 20, (1 << 20) + 3}) {
            byte[] data = new byte[size];
            new SplittableRandom(size).nextBytes(data);
            EchoResponse message = EchoResponse.newBuilder().setData(ByteString.copyFrom(data)).build();
            byte[] expected = Response.newBuilder().setStatus(Wire.toProto(Status.OK))
                    .setPayload(message.toByteString()).build().toByteArray();
            assertArrayEquals(expected, Wire.okResponse(m, message), "message with " + size + " data bytes");
        }
        assertArrayEquals(Response.newBuilder().setStatus(Wire.toProto(Status.OK)).build().toByteArray(),
                Wire.okResponse(m, EchoResponse.getDefaultInstance()), "an empty message: no payload field");
    }
}
