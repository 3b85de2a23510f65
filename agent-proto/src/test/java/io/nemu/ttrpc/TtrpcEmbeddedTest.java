package io.nemu.ttrpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.nemu.proto.test.EchoGrpc;
import io.nemu.proto.test.EchoRequest;
import io.nemu.proto.test.EchoResponse;
import io.nemu.proto.ttrpc.Request;
import io.nemu.proto.ttrpc.Response;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

/** ttrpc over channels nobody bound for us: a Netty EmbeddedChannel fed by hand. */
class TtrpcEmbeddedTest {
    static ByteBuf frame(int id, int type, int flags, byte[] data) {
        return Unpooled.wrappedBuffer(ByteBuffer.allocate(10 + data.length)
                .putInt(data.length).putInt(id).put((byte) type).put((byte) flags).put(data).flip());
    }

    /** Concatenates what the channel wrote and splits it into frames by hand. */
    static ByteBuffer outbound(EmbeddedChannel ch) {
        ByteBuf all = Unpooled.buffer();
        ByteBuf b;
        while ((b = ch.readOutbound()) != null) {
            all.writeBytes(b);
            b.release();
        }
        byte[] bytes = new byte[all.readableBytes()];
        all.readBytes(bytes);
        return ByteBuffer.wrap(bytes);
    }

    @Test
    void serverOnAnEmbeddedChannel() throws Exception {
        try (TtrpcServer server = TtrpcServer.builder().directExecutor().addService(new EchoService().definition()).build()) {
            EmbeddedChannel ch = new EmbeddedChannel();
            server.serve(ch);
            byte[] req = Request.newBuilder().setService("nemu.test.Echo").setMethod("Unary")
                    .setPayload(EchoRequest.newBuilder().setMessage("embedded").build().toByteString()).build().toByteArray();
            // delivered in two pieces: the decoder must put the frame back together
            ByteBuf whole = frame(1, 1, 0, req);
            ch.writeInbound(whole.readRetainedSlice(7));
            ch.writeInbound(whole);
            ch.runPendingTasks();
            ByteBuffer out = outbound(ch);
            int length = out.getInt();
            assertEquals(1, out.getInt());
            assertEquals(2, out.get());
            assertEquals(0, out.get());
            assertEquals(length, out.remaining());
            byte[] data = new byte[length];
            out.get(data);
            Response r = Response.parseFrom(data);
            assertEquals(0, r.getStatus().getCode());
            assertEquals("embedded", EchoResponse.parseFrom(r.getPayload()).getMessage());
            ch.finishAndReleaseAll();
        }
    }

    @Test
    void clientOnAnEmbeddedChannel() throws Exception {
        EmbeddedChannel ch = new EmbeddedChannel();
        try (TtrpcClient client = TtrpcClient.builder().directExecutor().over(ch)) {
            var future = EchoGrpc.newFutureStub(client).unary(EchoRequest.newBuilder().setMessage("q").build());
            ch.runPendingTasks();
            ByteBuffer out = outbound(ch);
            int length = out.getInt();
            assertEquals(1, out.getInt(), "first client stream id");
            assertEquals(1, out.get(), "request frame");
            assertEquals(0, out.get(), "unary flags");
            byte[] data = new byte[length];
            out.get(data);
            Request req = Request.parseFrom(data);
            assertEquals("nemu.test.Echo", req.getService());
            assertEquals("Unary", req.getMethod());
            assertEquals("q", EchoRequest.parseFrom(req.getPayload()).getMessage());

            byte[] resp = Response.newBuilder().setPayload(EchoResponse.newBuilder().setMessage("a").build().toByteString())
                    .build().toByteArray();
            ch.writeInbound(frame(1, 2, 0, resp));
            ch.runPendingTasks();
            assertEquals("a", future.get().getMessage());

            // a second call, then the channel dies: UNAVAILABLE
            var second = EchoGrpc.newFutureStub(client).unary(EchoRequest.getDefaultInstance());
            ch.runPendingTasks();
            ByteBuffer out2 = outbound(ch);
            out2.getInt();
            assertEquals(3, out2.getInt(), "ids go up by two");
            ch.close();
            ch.runPendingTasks();
            var e = assertThrows(java.util.concurrent.ExecutionException.class, second::get);
            assertEquals(Status.Code.UNAVAILABLE, ((StatusRuntimeException) e.getCause()).getStatus().getCode());
            assertFalse(ch.isActive());
            assertNull(ch.readOutbound());
        }
    }
}
