package io.nemu.ttrpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Context;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.nemu.proto.test.EchoGrpc;
import io.nemu.proto.test.EchoRequest;
import io.nemu.proto.test.EchoResponse;
import io.nemu.proto.ttrpc.Request;
import io.nemu.proto.ttrpc.Response;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A flood of calls is refused, not queued: raw clients send requests whose handler blocks; beyond the
 * server's limits they are answered RESOURCE_EXHAUSTED at once, no handler runs for them, and the server
 * keeps serving. A client that never reads makes the server stop reading it.
 */
class TtrpcLimitsTest {
    private static final int PER_CONNECTION = 8;
    private static final int TOTAL = 12;
    private static final int RESOURCE_EXHAUSTED = Status.Code.RESOURCE_EXHAUSTED.value();
    private static final Duration WAIT = Duration.ofSeconds(10);

    @TempDir
    Path dir;
    Path socket;
    BlockingEcho service;
    TtrpcServer server;
    ErrorWatch errors;

    /** Unary blocks until released (or, unless asked to ignore it, until its call is cancelled). */
    static final class BlockingEcho extends EchoGrpc.EchoImplBase {
        final AtomicInteger started = new AtomicInteger();
        final AtomicInteger running = new AtomicInteger();
        final CountDownLatch release = new CountDownLatch(1);

        @Override
        public void unary(EchoRequest req, StreamObserver<EchoResponse> out) {
            started.incrementAndGet();
            running.incrementAndGet();
            try {
                CountDownLatch cancelled = new CountDownLatch(1);
                if (!req.getMessage().equals("ignore-cancel")) {
                    Context.current().addListener(c -> cancelled.countDown(), Runnable::run);
                }
                long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (release.getCount() > 0 && cancelled.getCount() > 0 && System.nanoTime() < end) {
                    release.await(10, TimeUnit.MILLISECONDS);
                }
                out.onNext(EchoResponse.newBuilder().setMessage(req.getMessage()).build());
                out.onCompleted();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                running.decrementAndGet();
            }
        }
    }

    @BeforeEach
    void start() throws Exception {
        errors = new ErrorWatch();
        socket = dir.resolve("limits.sock");
        service = new BlockingEcho();
        server = TtrpcServer.builder().addService(service).maxCallsPerConnection(PER_CONNECTION).maxCalls(TOTAL)
                .build();
        server.bind(socket);
    }

    @AfterEach
    void stop() {
        service.release.countDown();
        server.close();
        errors.close();
        assertEquals(List.of(), errors.problems());
    }

    private static byte[] frame(int streamId, String method, String message) {
        byte[] req = Request.newBuilder().setService("nemu.test.Echo").setMethod(method)
                .setPayload(EchoRequest.newBuilder().setMessage(message).build().toByteString()).build().toByteArray();
        return ByteBuffer.allocate(10 + req.length).put(RawConnection.header(req.length, streamId, 1, 0)).put(req)
                .array();
    }

    /** Sends {@code count} blocking calls with stream ids from {@code firstId} up, all in one write. */
    private static void flood(RawConnection raw, int firstId, int count, String message) throws Exception {
        java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
        for (int i = 0; i < count; i++) {
            all.write(frame(firstId + 2 * i, "Unary", message));
        }
        raw.write(all.toByteArray());
    }

    private static Response read(RawConnection raw, int streamId) throws Exception {
        RawConnection.RawFrame f = raw.readFrame(WAIT);
        assertEquals(streamId, f.streamId(), "stream id");
        assertEquals(2, f.type(), "a response");
        return Response.parseFrom(f.data());
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < end, "timed out waiting for " + what);
            Thread.sleep(5);
        }
    }

    /** The calls with the first {@code count} stream ids answer OK, in whatever order their handlers end. */
    private static void assertAllAnswered(RawConnection raw, int count) throws Exception {
        java.util.Set<Integer> expected = new java.util.TreeSet<>();
        java.util.Set<Integer> answered = new java.util.TreeSet<>();
        for (int i = 0; i < count; i++) {
            expected.add(1 + 2 * i);
            RawConnection.RawFrame f = raw.readFrame(WAIT);
            Response r = Response.parseFrom(f.data());
            assertEquals(0, r.getStatus().getCode(), r.getStatus().getMessage());
            answered.add(f.streamId());
        }
        assertEquals(expected, answered);
    }

    @Test
    void floodBeyondTheLimitsIsRefusedAndTheServerStaysResponsive() throws Exception {
        try (RawConnection a = RawConnection.connect(socket); RawConnection b = RawConnection.connect(socket)) {
            // 100 calls on one connection: 8 run (and block), 92 are refused at once, in order.
            flood(a, 1, 100, "a");
            for (int i = PER_CONNECTION; i < 100; i++) {
                Response r = read(a, 1 + 2 * i);
                assertEquals(RESOURCE_EXHAUSTED, r.getStatus().getCode(), r.getStatus().getMessage());
                assertTrue(r.getStatus().getMessage().contains("this connection already has 8 calls in flight"),
                        r.getStatus().getMessage());
            }
            await("8 handlers", () -> service.running.get() == PER_CONNECTION);
            assertEquals(PER_CONNECTION, server.callsInFlight());

            // Another connection still gets calls, up to the server's total; then it is refused too.
            flood(b, 1, TOTAL - PER_CONNECTION + 3, "b");
            for (int i = TOTAL - PER_CONNECTION; i < TOTAL - PER_CONNECTION + 3; i++) {
                Response r = read(b, 1 + 2 * i);
                assertEquals(RESOURCE_EXHAUSTED, r.getStatus().getCode());
                assertTrue(r.getStatus().getMessage().contains("the server already has 12 calls in flight"),
                        r.getStatus().getMessage());
            }
            await("12 handlers", () -> service.running.get() == TOTAL);
            Thread.sleep(100);
            assertEquals(TOTAL, service.started.get(), "no handler ran for a refused call");
            assertEquals(TOTAL, server.callsInFlight());

            // Released, every admitted call answers, the places come free, and new calls run again.
            service.release.countDown();
            assertAllAnswered(a, PER_CONNECTION);
            assertAllAnswered(b, TOTAL - PER_CONNECTION);
            await("no call in flight", () -> server.callsInFlight() == 0);
            a.write(frame(1001, "Unary", "again"));
            Response again = read(a, 1001);
            assertEquals(0, again.getStatus().getCode(), again.getStatus().getMessage());
            assertEquals("again", EchoResponse.parseFrom(again.getPayload()).getMessage());
        }
    }

    @Test
    void aCallKeepsItsPlaceUntilItsHandlerReturns() throws Exception {
        try (RawConnection a = RawConnection.connect(socket)) {
            flood(a, 1, 4, "ignore-cancel");
            flood(a, 9, 4, "honour-cancel");
            await("8 handlers", () -> service.running.get() == PER_CONNECTION);
        }
        // The connection is gone: handlers that stop on cancellation give their places back; the four
        // still blocked keep theirs, so the threads a flood can hold stay bounded.
        await("the cancelled handlers to return", () -> service.running.get() == 4);
        await("their places to come free", () -> server.callsInFlight() == 4);
        try (RawConnection c = RawConnection.connect(socket); RawConnection d = RawConnection.connect(socket)) {
            flood(c, 1, TOTAL - 4, "c");
            await("12 handlers", () -> service.running.get() == TOTAL);
            flood(d, 1, 1, "d");
            Response r = read(d, 1);
            assertEquals(RESOURCE_EXHAUSTED, r.getStatus().getCode(), r.getStatus().getMessage());
            assertTrue(r.getStatus().getMessage().contains("the server already has 12"), r.getStatus().getMessage());
            service.release.countDown();
            await("every handler to return", () -> service.running.get() == 0);
            await("every place to come free", () -> server.callsInFlight() == 0);
        }
    }

    @Test
    void aClientThatNeverReadsStopsBeingRead() throws Exception {
        service.release.countDown();
        // Calls to a method that does not exist: each is answered at once, on the event loop.
        int one = frame(1, "NoSuchMethod", "x").length;
        int cap = 200_000;
        long written = 0;
        int frames = 0;
        try (SocketChannel flood = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            flood.connect(UnixDomainSocketAddress.of(socket));
            flood.configureBlocking(false);
            ByteBuffer buf = ByteBuffer.allocate(0);
            long lastProgress = System.nanoTime();
            while (frames < cap && System.nanoTime() - lastProgress < TimeUnit.SECONDS.toNanos(1)) {
                if (!buf.hasRemaining()) {
                    ByteBuffer next = ByteBuffer.allocate(one * 256 + 256);
                    for (int i = 0; i < 256; i++) {
                        next.put(frame(1 + 2 * (frames + i), "NoSuchMethod", "x"));
                    }
                    buf = next.flip();
                    frames += 256;
                }
                int n = flood.write(buf);
                if (n > 0) {
                    written += n;
                    lastProgress = System.nanoTime();
                } else {
                    Thread.sleep(1);
                }
            }
            assertTrue(frames < cap, "the server went on reading a client that reads nothing: " + written + " bytes");
            // Meanwhile another client is served at once.
            try (RawConnection other = RawConnection.connect(socket)) {
                other.write(frame(1, "Unary", "served"));
                Response r = read(other, 1);
                assertEquals(0, r.getStatus().getCode(), r.getStatus().getMessage());
            }
            System.out.println("a client that never reads was read for " + written / one + " requests ("
                    + written + " bytes) before the server stopped reading it");
        }
    }

    @Test
    void theSocketIsOwnerOnly() throws Exception {
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket)));
    }

    @Test
    void limitsBelowOneAreRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TtrpcServer.builder().maxCallsPerConnection(0).build());
        assertTrue(e.getMessage().contains("maxCallsPerConnection"), e.getMessage());
    }
}
