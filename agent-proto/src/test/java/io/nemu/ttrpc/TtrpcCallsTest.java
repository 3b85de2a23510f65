package io.nemu.ttrpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.common.util.concurrent.ListenableFuture;
import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import io.nemu.proto.test.EchoGrpc;
import io.nemu.proto.test.EchoRequest;
import io.nemu.proto.test.EchoResponse;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.DefaultEventLoopGroup;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.local.LocalAddress;
import io.netty.channel.local.LocalChannel;
import io.netty.channel.local.LocalServerChannel;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Calls through generated gRPC stubs over a ttrpc unix socket connection. */
class TtrpcCallsTest {
    @TempDir
    Path dir;
    Path socket;
    EchoService service;
    TtrpcServer server;
    TtrpcClient client;
    EchoGrpc.EchoBlockingStub blocking;

    @BeforeEach
    void start() throws Exception {
        socket = dir.resolve("echo.sock");
        service = new EchoService();
        server = TtrpcServer.builder().addService(service.definition()).build();
        server.bind(socket);
        client = TtrpcClient.connect(socket);
        blocking = EchoGrpc.newBlockingStub(client);
    }

    @AfterEach
    void stop() {
        client.close();
        server.close();
    }

    private static EchoRequest req(String message) {
        return EchoRequest.newBuilder().setMessage(message).build();
    }

    @Test
    void unary() {
        EchoResponse r = blocking.unary(EchoRequest.newBuilder().setMessage("hello")
                .setData(ByteString.copyFromUtf8("bytes")).build());
        assertEquals("hello", r.getMessage());
        assertEquals("bytes", r.getData().toStringUtf8());
        // An all-default message is zero bytes on the wire and must still arrive as a message.
        assertEquals(EchoResponse.getDefaultInstance(), blocking.unary(EchoRequest.getDefaultInstance()));
    }

    @Test
    void adoptsAStreamDialedWithJavaNio() throws Exception {
        SocketChannel stream = SocketChannel.open(StandardProtocolFamily.UNIX);
        stream.connect(UnixDomainSocketAddress.of(socket));
        TtrpcClient adopted = TtrpcClient.adopt(stream);
        try {
            assertEquals("over nio", EchoGrpc.newBlockingStub(adopted).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .unary(EchoRequest.newBuilder().setMessage("over nio").build()).getMessage());
        } finally {
            adopted.close();
        }
        assertTrue(adopted.isClosed());
        assertFalse(stream.isOpen());
        assertThrows(IllegalArgumentException.class, () -> TtrpcClient.adopt(SocketChannel.open(StandardProtocolFamily.UNIX)));
    }

    @Test
    void errorStatusesReachTheCaller() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> blocking.unary(req("fail")));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        assertEquals("asked to fail", e.getStatus().getDescription());
        e = assertThrows(StatusRuntimeException.class, () -> blocking.unary(req("throw")));
        assertEquals(Status.Code.UNKNOWN, e.getStatus().getCode());
        assertEquals("ok", blocking.unary(req("ok")).getMessage());
    }

    @Test
    void messagesOverTheFrameLimitAreRefusedOnBothSides() {
        int limit = 4 << 20;
        // too big to send: refused by the client before anything is written
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> blocking.unary(
                EchoRequest.newBuilder().setData(ByteString.copyFrom(new byte[limit])).build()));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
        // too big to answer: the server sends RESOURCE_EXHAUSTED instead
        e = assertThrows(StatusRuntimeException.class, () -> blocking.unary(EchoRequest.newBuilder().setReplySize(limit).build()));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
        e = assertThrows(StatusRuntimeException.class, () -> blocking.serverStream(
                EchoRequest.newBuilder().setReplySize(limit).setCount(1).build()).hasNext());
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
        // just under the limit goes through
        assertEquals(limit - 64, blocking.unary(EchoRequest.newBuilder().setReplySize(limit - 64).build()).getData().size());
        assertEquals("small", blocking.unary(req("small")).getMessage());
    }

    @Test
    void metadataRoundTrip() {
        Metadata headers = new Metadata();
        headers.put(Metadata.Key.of("containerd-namespace-ttrpc", Metadata.ASCII_STRING_MARSHALLER), "k8s.io");
        headers.put(Metadata.Key.of("X-Mixed-Case", Metadata.ASCII_STRING_MARSHALLER), "one");
        headers.put(Metadata.Key.of("x-mixed-case", Metadata.ASCII_STRING_MARSHALLER), "two");
        EchoGrpc.EchoBlockingStub stub = blocking.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
        EchoResponse r = stub.unary(EchoRequest.newBuilder().setMessage("md")
                .addEchoKeys("containerd-namespace-ttrpc").addEchoKeys("x-mixed-case").addEchoKeys("absent").build());
        assertEquals("k8s.io", r.getMetadataOrThrow("containerd-namespace-ttrpc"));
        assertEquals("one,two", r.getMetadataOrThrow("x-mixed-case"));
        assertFalse(r.containsMetadata("absent"));
    }

    @Test
    void serverStreaming() {
        Iterator<EchoResponse> it = blocking.serverStream(EchoRequest.newBuilder().setMessage("s").setCount(5).build());
        List<Integer> indexes = new ArrayList<>();
        it.forEachRemaining(r -> indexes.add(r.getIndex()));
        assertEquals(List.of(0, 1, 2, 3, 4), indexes);
        // zero replies, then a clean end
        assertFalse(blocking.serverStream(EchoRequest.newBuilder().setCount(0).build()).hasNext());
        // replies, then an error status
        Iterator<EchoResponse> failing = blocking.serverStream(EchoRequest.newBuilder().setMessage("fail").setCount(2).build());
        assertEquals(0, failing.next().getIndex());
        assertEquals(1, failing.next().getIndex());
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, failing::hasNext);
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
    }

    @Test
    void messagesSentBeforeAnErrorStatusAreDeliveredEvenWhenReadAfterIt() throws Exception {
        // The blocking iterator asks for one message at a time: by the time it asks for the second,
        // the server's error status has long arrived and must wait behind the message.
        Iterator<EchoResponse> failing = blocking.serverStream(EchoRequest.newBuilder().setMessage("fail").setCount(3).build());
        assertEquals(0, failing.next().getIndex());
        Thread.sleep(300);
        assertEquals(1, failing.next().getIndex());
        assertEquals(2, failing.next().getIndex());
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, failing::hasNext);
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
    }

    @Test
    void clientStreaming() throws Exception {
        CompletableFuture<EchoResponse> result = new CompletableFuture<>();
        StreamObserver<EchoRequest> in = EchoGrpc.newStub(client).clientStream(observer(result, null));
        for (String s : List.of("a", "b", "", "c")) {
            in.onNext(req(s));
        }
        in.onCompleted();
        EchoResponse r = result.get(5, TimeUnit.SECONDS);
        assertEquals("a,b,,c", r.getMessage());
        assertEquals(4, r.getIndex());
        // no messages at all
        CompletableFuture<EchoResponse> empty = new CompletableFuture<>();
        EchoGrpc.newStub(client).clientStream(observer(empty, null)).onCompleted();
        assertEquals(0, empty.get(5, TimeUnit.SECONDS).getIndex());
    }

    @Test
    void bidiStreaming() throws Exception {
        LinkedBlockingQueue<EchoResponse> replies = new LinkedBlockingQueue<>();
        CompletableFuture<EchoResponse> done = new CompletableFuture<>();
        StreamObserver<EchoRequest> in = EchoGrpc.newStub(client).bidi(observer(done, replies));
        // Each reply comes back before the next request is sent: truly interleaved.
        for (int i = 0; i < 10; i++) {
            in.onNext(req("m" + i));
            EchoResponse r = replies.poll(5, TimeUnit.SECONDS);
            assertEquals("m" + i, r.getMessage());
            assertEquals(i, r.getIndex());
        }
        in.onCompleted();
        done.get(5, TimeUnit.SECONDS);
    }

    /** Completes {@code done} with the last reply (or fails it); queues every reply if asked. */
    static StreamObserver<EchoResponse> observer(CompletableFuture<EchoResponse> done,
            LinkedBlockingQueue<EchoResponse> replies) {
        return new StreamObserver<>() {
            EchoResponse last;

            @Override
            public void onNext(EchoResponse r) {
                last = r;
                if (replies != null) {
                    replies.add(r);
                }
            }

            @Override
            public void onError(Throwable t) {
                done.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {
                done.complete(last);
            }
        };
    }

    @Test
    void manyConcurrentCallsOnOneConnection() throws Exception {
        EchoGrpc.EchoFutureStub future = EchoGrpc.newFutureStub(client);
        List<ListenableFuture<EchoResponse>> calls = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            // some handlers sleep so that many calls are in flight at once
            calls.add(future.unary(EchoRequest.newBuilder().setMessage("c" + i).setSleepMillis(i % 4 == 0 ? 50 : 0).build()));
        }
        for (int i = 0; i < calls.size(); i++) {
            assertEquals("c" + i, calls.get(i).get(10, TimeUnit.SECONDS).getMessage());
        }
        // and concurrent streams of every kind, mixed
        List<CompletableFuture<EchoResponse>> streams = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            CompletableFuture<EchoResponse> done = new CompletableFuture<>();
            StreamObserver<EchoRequest> in = EchoGrpc.newStub(client).bidi(observer(done, null));
            in.onNext(req("b" + i));
            in.onCompleted();
            streams.add(done);
        }
        for (int i = 0; i < streams.size(); i++) {
            assertEquals("b" + i, streams.get(i).get(10, TimeUnit.SECONDS).getMessage());
        }
    }

    @Test
    void unknownServiceAndMethodAreUnimplemented() {
        MethodDescriptor<Empty, Empty> unknownService = MethodDescriptor.<Empty, Empty>newBuilder()
                .setType(MethodDescriptor.MethodType.UNARY)
                .setFullMethodName("nemu.test.Nope/Unary")
                .setRequestMarshaller(ProtoUtils.marshaller(Empty.getDefaultInstance()))
                .setResponseMarshaller(ProtoUtils.marshaller(Empty.getDefaultInstance()))
                .build();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> ClientCalls.blockingUnaryCall(client, unknownService, io.grpc.CallOptions.DEFAULT, Empty.getDefaultInstance()));
        assertEquals(Status.Code.UNIMPLEMENTED, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("nemu.test.Nope"), e.getStatus().getDescription());

        MethodDescriptor<Empty, Empty> unknownMethod = unknownService.toBuilder().setFullMethodName("nemu.test.Echo/Shout").build();
        e = assertThrows(StatusRuntimeException.class,
                () -> ClientCalls.blockingUnaryCall(client, unknownMethod, io.grpc.CallOptions.DEFAULT, Empty.getDefaultInstance()));
        assertEquals(Status.Code.UNIMPLEMENTED, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("Shout"), e.getStatus().getDescription());
    }

    @Test
    void serverEnforcesDeadlineAndCancelsTheHandler() throws Exception {
        long start = System.nanoTime();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> blocking
                .withDeadlineAfter(600, TimeUnit.MILLISECONDS)
                .unary(EchoRequest.newBuilder().setSleepMillis(10_000).build()));
        assertEquals(Status.Code.DEADLINE_EXCEEDED, e.getStatus().getCode());
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(3));
        assertTrue(service.sleeping.await(1, TimeUnit.SECONDS), "the handler ran");
        // the handler's context was cancelled, so it stopped waiting
        assertEquals("Unary", service.cancelled.poll(3, TimeUnit.SECONDS));
    }

    @Test
    void clientEnforcesDeadlineAgainstASilentServer() throws Exception {
        Path silent = dir.resolve("silent.sock");
        try (ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            listener.bind(UnixDomainSocketAddress.of(silent));
            try (TtrpcClient c = TtrpcClient.connect(silent); SocketChannel accepted = listener.accept()) {
                long start = System.nanoTime();
                StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> EchoGrpc.newBlockingStub(c)
                        .withDeadlineAfter(150, TimeUnit.MILLISECONDS).unary(req("anyone?")));
                long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                assertEquals(Status.Code.DEADLINE_EXCEEDED, e.getStatus().getCode());
                assertTrue(ms >= 140 && ms < 2000, "took " + ms + " ms");
                // the request did go out, carrying the remaining time as timeout_nano
                try (RawConnection raw = RawConnection.wrap(accepted)) {
                    RawConnection.RawFrame f = raw.readFrame(Duration.ofSeconds(2));
                    assertEquals(1, f.streamId());
                    assertEquals(1, f.type());
                    long timeout = io.nemu.proto.ttrpc.Request.parseFrom(f.data()).getTimeoutNano();
                    assertTrue(timeout > 0 && timeout <= TimeUnit.MILLISECONDS.toNanos(150), "timeout_nano " + timeout);
                }
            }
        }
    }

    @Test
    void connectionLossFailsPendingCallsPromptly() throws Exception {
        EchoGrpc.EchoFutureStub future = EchoGrpc.newFutureStub(client);
        List<ListenableFuture<EchoResponse>> pending = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            pending.add(future.unary(EchoRequest.newBuilder().setSleepMillis(30_000).build()));
        }
        assertTrue(service.sleeping.await(5, TimeUnit.SECONDS));
        long start = System.nanoTime();
        server.close();
        for (ListenableFuture<EchoResponse> f : pending) {
            ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(2, TimeUnit.SECONDS));
            assertEquals(Status.Code.UNAVAILABLE, Status.fromThrowable(e.getCause()).getCode());
        }
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(2));
        // and new calls fail the same way at once
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> blocking.unary(req("late")));
        assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
        // handlers on the server saw their calls cancelled
        assertEquals("Unary", service.cancelled.poll(3, TimeUnit.SECONDS));
    }

    @Test
    void serverCloseCleansUp() throws Exception {
        assertEquals("x", blocking.unary(req("x")).getMessage());
        CompletableFuture<Void> clientSawClose = client.closeFuture().toCompletableFuture();
        server.close();
        clientSawClose.get(2, TimeUnit.SECONDS);
        assertTrue(client.isClosed());
        assertFalse(Files.exists(socket), "socket file removed");
        client.close();
        assertTrue(waitForNoThreads("ttrpc-"), "threads left: " + threadNames("ttrpc-"));
        assertThrows(IllegalStateException.class, () -> server.bind(dir.resolve("again.sock")));
    }

    static boolean waitForNoThreads(String prefix) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (System.nanoTime() < deadline) {
            if (threadNames(prefix).isEmpty()) {
                return true;
            }
            Thread.sleep(20);
        }
        return false;
    }

    static List<String> threadNames(String prefix) {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(Thread::isAlive).map(Thread::getName).filter(n -> n.startsWith(prefix)).toList();
    }

    @Test
    void servesAnyConnectedChannel() throws Exception {
        EventLoopGroup group = new DefaultEventLoopGroup(1);
        try (TtrpcServer local = TtrpcServer.builder().addService(service.definition()).build()) {
            LocalAddress address = new LocalAddress("ttrpc-test-" + System.nanoTime());
            Channel listener = new ServerBootstrap().group(group).channel(LocalServerChannel.class)
                    .childHandler(local.initializer()).bind(address).sync().channel();
            Channel ch = new Bootstrap().group(group).channel(LocalChannel.class)
                    .handler(new ChannelInitializer<>() {
                        @Override
                        protected void initChannel(Channel c) {}
                    }).connect(address).sync().channel();
            try (TtrpcClient c = TtrpcClient.over(ch)) {
                assertEquals("local", EchoGrpc.newBlockingStub(c).unary(req("local")).getMessage());
                Iterator<EchoResponse> it = EchoGrpc.newBlockingStub(c).serverStream(EchoRequest.newBuilder().setCount(3).build());
                int n = 0;
                while (it.hasNext()) {
                    it.next();
                    n++;
                }
                assertEquals(3, n);
            }
            listener.close().sync();
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void callerOwnedCallbacksAndContextCancellation() throws Exception {
        // A cancelled caller context cancels the call on the client at once.
        io.grpc.Context.CancellableContext ctx = io.grpc.Context.current().withCancellation();
        CountDownLatch failed = new CountDownLatch(1);
        ctx.run(() -> EchoGrpc.newStub(client).unary(EchoRequest.newBuilder().setSleepMillis(10_000).build(),
                new StreamObserver<>() {
                    @Override
                    public void onNext(EchoResponse value) {}

                    @Override
                    public void onError(Throwable t) {
                        if (Status.fromThrowable(t).getCode() == Status.Code.CANCELLED) {
                            failed.countDown();
                        }
                    }

                    @Override
                    public void onCompleted() {}
                }));
        ctx.cancel(null);
        assertTrue(failed.await(2, TimeUnit.SECONDS));
        // the connection carries on
        assertEquals("after", blocking.unary(req("after")).getMessage());
    }
}
