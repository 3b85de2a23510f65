package io.nemu.ttrpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.nemu.proto.test.EchoRequest;
import io.nemu.proto.test.EchoResponse;
import io.nemu.proto.ttrpc.KeyValue;
import io.nemu.proto.ttrpc.Request;
import io.nemu.proto.ttrpc.Response;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The server's handling of hand-made frames, written byte by byte from a JDK socket. */
class TtrpcWireTest {
    static final int REQUEST = 1;
    static final int RESPONSE = 2;
    static final int DATA = 3;
    static final Duration WAIT = Duration.ofSeconds(5);

    @TempDir
    Path dir;
    Path socket;
    EchoService service;
    TtrpcServer server;
    ErrorWatch errors;

    @BeforeEach
    void start() throws Exception {
        errors = new ErrorWatch();
        socket = dir.resolve("wire.sock");
        service = new EchoService();
        server = TtrpcServer.builder().addService(service.definition()).build();
        server.bind(socket);
    }

    @AfterEach
    void stop() {
        server.close();
        errors.close();
        assertEquals(java.util.List.of(), errors.problems());
    }

    static byte[] request(String method, EchoRequest payload) {
        return Request.newBuilder().setService("nemu.test.Echo").setMethod(method)
                .setPayload(payload.toByteString()).build().toByteArray();
    }

    static Response response(RawConnection.RawFrame f, int streamId) throws Exception {
        assertEquals(streamId, f.streamId(), "stream id");
        assertEquals(RESPONSE, f.type(), "frame type");
        assertEquals(0, f.flags(), "response flags");
        assertEquals(f.length(), f.data().length);
        return Response.parseFrom(f.data());
    }

    static void assertEcho(RawConnection raw, int streamId, String message) throws Exception {
        raw.writeFrame(streamId, REQUEST, 0, request("Unary", EchoRequest.newBuilder().setMessage(message).build()));
        Response r = response(raw.readFrame(WAIT), streamId);
        assertEquals(0, r.getStatus().getCode(), r.getStatus().getMessage());
        assertEquals(message, EchoResponse.parseFrom(r.getPayload()).getMessage());
    }

    static int code(Response r) {
        return r.getStatus().getCode();
    }

    @Test
    void unaryByHand() throws Exception {
        try (RawConnection raw = RawConnection.connect(socket)) {
            Request req = Request.newBuilder().setService("nemu.test.Echo").setMethod("Unary")
                    .setPayload(EchoRequest.newBuilder().setMessage("hand").addEchoKeys("k").build().toByteString())
                    .addMetadata(KeyValue.newBuilder().setKey("k").setValue("v")).build();
            raw.writeFrame(1, REQUEST, 0, req.toByteArray());
            Response r = response(raw.readFrame(WAIT), 1);
            assertEquals(0, code(r));
            EchoResponse echo = EchoResponse.parseFrom(r.getPayload());
            assertEquals("hand", echo.getMessage());
            assertEquals("v", echo.getMetadataOrThrow("k"));
        }
    }

    @Test
    void streamingByHand() throws Exception {
        try (RawConnection raw = RawConnection.connect(socket)) {
            // server streaming: request carries the one input and says remote-closed
            raw.writeFrame(1, REQUEST, 0x01, request("ServerStream", EchoRequest.newBuilder().setCount(2).build()));
            for (int i = 0; i < 2; i++) {
                RawConnection.RawFrame f = raw.readFrame(WAIT);
                assertEquals(DATA, f.type());
                assertEquals(0, f.flags());
                assertEquals(i, EchoResponse.parseFrom(f.data()).getIndex());
            }
            RawConnection.RawFrame end = raw.readFrame(WAIT);
            assertEquals(DATA, end.type());
            assertEquals(0x01 | 0x04, end.flags());
            assertEquals(0, end.length());

            // client streaming: request remote-open, data frames, an empty closing data frame
            raw.writeFrame(3, REQUEST, 0x02, Request.newBuilder().setService("nemu.test.Echo").setMethod("ClientStream").build().toByteArray());
            raw.writeFrame(3, DATA, 0, EchoRequest.newBuilder().setMessage("x").build().toByteArray());
            raw.writeFrame(3, DATA, 0, new byte[0]); // an all-default message is zero bytes, still a message
            raw.writeFrame(3, DATA, 0x01, EchoRequest.newBuilder().setMessage("z").build().toByteArray());
            Response r = response(raw.readFrame(WAIT), 3);
            assertEquals(0, code(r));
            EchoResponse sum = EchoResponse.parseFrom(r.getPayload());
            assertEquals("x,,z", sum.getMessage());
            assertEquals(3, sum.getIndex());

            // data after the client closed its side: refused
            raw.writeFrame(5, REQUEST, 0x02, Request.newBuilder().setService("nemu.test.Echo").setMethod("Bidi").build().toByteArray());
            raw.writeFrame(5, DATA, 0x01 | 0x04, new byte[0]);
            RawConnection.RawFrame closed = raw.readFrame(WAIT);
            assertEquals(0x01 | 0x04, closed.flags());
            raw.writeFrame(5, DATA, 0, new byte[0]);
            assertEquals(Status.Code.INVALID_ARGUMENT.value(), code(response(raw.readFrame(WAIT), 5)));
            assertEcho(raw, 7, "still fine");
        }
    }

    @Test
    void oversizedFrameIsRefusedAndSkipped() throws Exception {
        try (RawConnection raw = RawConnection.connect(socket)) {
            int size = (4 << 20) + 1;
            raw.write(RawConnection.header(size, 1, REQUEST, 0));
            // the body follows in pieces; the server must skip it without needing it all at once
            byte[] chunk = new byte[64 * 1024];
            for (int sent = 0; sent < size; sent += chunk.length) {
                raw.write(ByteBuffer.wrap(chunk, 0, Math.min(chunk.length, size - sent)));
            }
            Response r = response(raw.readFrame(WAIT), 1);
            assertEquals(Status.Code.RESOURCE_EXHAUSTED.value(), code(r));
            assertTrue(r.getStatus().getMessage().contains(String.valueOf(size)), r.getStatus().getMessage());
            assertEcho(raw, 3, "after the big one");
            // exactly the limit is allowed (garbage body: the request will not parse, but it is read)
            byte[] max = new byte[4 << 20];
            raw.writeFrame(5, REQUEST, 0, max);
            assertEquals(Status.Code.INVALID_ARGUMENT.value(), code(response(raw.readFrame(WAIT), 5)));
            assertEcho(raw, 7, "after the limit");
        }
    }

    @Test
    void huge4GiBHeaderIsDiscardedNotBuffered() throws Exception {
        try (RawConnection raw = RawConnection.connect(socket)) {
            // declare 0xFFFFFFFF bytes, send a little, hang up: the server must not allocate for it
            raw.write(RawConnection.header(0xFFFF_FFFFL, 1, REQUEST, 0));
            raw.write(new byte[1024]);
        }
        try (RawConnection raw = RawConnection.connect(socket)) {
            assertEcho(raw, 1, "fresh connection");
        }
    }

    @Test
    void evenAndReusedStreamIdsAreRefused() throws Exception {
        try (RawConnection raw = RawConnection.connect(socket)) {
            assertRefused(raw, 2);
            assertRefused(raw, 0);

            assertEcho(raw, 5, "five");
            assertRefused(raw, 5);
            assertRefused(raw, 3);
            // ids are unsigned: the largest odd id is fine and ordered after the small ones
            assertEcho(raw, 0xFFFF_FFFF, "max");
        }
    }

    /** A request on stream {@code id} is answered INVALID_ARGUMENT on that stream. */
    private static void assertRefused(RawConnection raw, int id) throws Exception {
        raw.writeFrame(id, REQUEST, 0, request("Unary", EchoRequest.getDefaultInstance()));
        assertEquals(Status.Code.INVALID_ARGUMENT.value(), code(response(raw.readFrame(WAIT), id)));
    }

    @Test
    void truncatedHeaderThenClose() throws Exception {
        try (RawConnection raw = RawConnection.connect(socket)) {
            raw.write(new byte[] {0, 0, 0, 5, 0});
        }
        try (RawConnection raw = RawConnection.connect(socket)) {
            raw.write(RawConnection.header(100, 1, REQUEST, 0));
            raw.write(new byte[40]); // truncated body
        }
        try (RawConnection raw = RawConnection.connect(socket)) {
            assertEcho(raw, 1, "server lives");
        }
    }

    @Test
    void garbageGetsErrorResponses() throws Exception {
        try (RawConnection raw = RawConnection.connect(socket)) {
            // not a ttrpc Request at all
            raw.writeFrame(1, REQUEST, 0, new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, 0x0f, 0x01});
            assertEquals(Status.Code.INVALID_ARGUMENT.value(), code(response(raw.readFrame(WAIT), 1)));
            // a good Request whose payload is not an EchoRequest
            byte[] bad = Request.newBuilder().setService("nemu.test.Echo").setMethod("Unary")
                    .setPayload(com.google.protobuf.ByteString.copyFrom(new byte[] {0x0a, 0x7f, 0x01})).build().toByteArray();
            raw.writeFrame(3, REQUEST, 0, bad);
            assertEquals(Status.Code.INTERNAL.value(), code(response(raw.readFrame(WAIT), 3)));
            // unknown service / method
            raw.writeFrame(5, REQUEST, 0, Request.newBuilder().setService("x.Y").setMethod("Z").build().toByteArray());
            assertEquals(Status.Code.UNIMPLEMENTED.value(), code(response(raw.readFrame(WAIT), 5)));
            // data for a stream that does not exist
            raw.writeFrame(9, DATA, 0, new byte[] {1, 2, 3});
            assertEquals(Status.Code.INVALID_ARGUMENT.value(), code(response(raw.readFrame(WAIT), 9)));
            // a response frame or an unknown type from a client is ignored, as upstream does
            raw.writeFrame(11, RESPONSE, 0, new byte[] {1});
            raw.writeFrame(11, 0x7f, 0xff, new byte[] {1, 2});
            assertEcho(raw, 11, "unknown types ignored");
        }
    }

    @Test
    void serverDeadlineFromTimeoutNano() throws Exception {
        try (RawConnection raw = RawConnection.connect(socket)) {
            byte[] req = Request.newBuilder().setService("nemu.test.Echo").setMethod("Unary")
                    .setPayload(EchoRequest.newBuilder().setSleepMillis(10_000).build().toByteString())
                    .setTimeoutNano(TimeUnit.MILLISECONDS.toNanos(600)).build().toByteArray();
            long start = System.nanoTime();
            raw.writeFrame(1, REQUEST, 0, req);
            Response r = response(raw.readFrame(WAIT), 1);
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertEquals(Status.Code.DEADLINE_EXCEEDED.value(), code(r));
            assertTrue(ms >= 590 && ms < 3000, "answered after " + ms + " ms");
            assertTrue(service.sleeping.await(1, TimeUnit.SECONDS), "the handler ran");
            assertEquals("Unary", service.cancelled.poll(2, TimeUnit.SECONDS));
            // nothing else arrives for that stream once the handler gives up
            assertEcho(raw, 3, "next");
        }
    }

    @Test
    void handlerThatNeverReadsCannotMakeTheServerBufferForever() throws Exception {
        Path other = dir.resolve("lazy.sock");
        // a client-streaming handler that never asks for a message
        io.grpc.ServerServiceDefinition lazy = io.grpc.ServerServiceDefinition.builder("nemu.test.Echo")
                .addMethod(io.nemu.proto.test.EchoGrpc.getClientStreamMethod(),
                        (call, headers) -> new io.grpc.ServerCall.Listener<>() {})
                .build();
        try (TtrpcServer lazyServer = TtrpcServer.builder().addService(lazy).build();
                RawConnection raw = connectAfterBind(lazyServer, other)) {
            raw.writeFrame(1, REQUEST, 0x02, Request.newBuilder().setService("nemu.test.Echo").setMethod("ClientStream")
                    .build().toByteArray());
            byte[] msg = EchoRequest.newBuilder().setMessage("unread").build().toByteArray();
            for (int i = 0; i < 1100; i++) {
                raw.writeFrame(1, DATA, 0, msg);
            }
            Response r = response(raw.readFrame(WAIT), 1);
            assertEquals(Status.Code.RESOURCE_EXHAUSTED.value(), code(r), r.getStatus().getMessage());
        }
    }

    static RawConnection connectAfterBind(TtrpcServer s, Path path) throws java.io.IOException {
        s.bind(path);
        return RawConnection.connect(path);
    }

    @Test
    void serverCloseClosesRawConnections() throws Exception {
        try (RawConnection raw = RawConnection.connect(socket)) {
            assertEcho(raw, 1, "one");
            server.close();
            assertTrue(raw.awaitEof(WAIT));
            assertFalse(server.isClosed() && java.nio.file.Files.exists(socket));
        }
    }
}
