package io.nemu.agent.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.BindableService;
import io.grpc.stub.StreamObserver;
import io.nemu.agent.HealthService;
import io.nemu.agent.sys.Fd;
import io.nemu.agent.sys.Libc;
import io.nemu.proto.kata.CheckRequest;
import io.nemu.proto.kata.HealthCheckResponse;
import io.nemu.proto.kata.HealthGrpc;
import io.nemu.proto.kata.VersionCheckResponse;
import io.nemu.ttrpc.TtrpcClient;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The bridge between a blocking descriptor and the ttrpc server, over a unix socketpair: the agent's end
 * is served exactly as an accepted vsock connection is, the test's end is a Netty channel with our client.
 */
class TtrpcBridgeTest {
    private EventLoopGroup group;
    private TtrpcBridge bridge;
    private final ExecutorService pool = Executors.newCachedThreadPool();

    /** Check blocks until Version has been called: both must be in flight on one connection. */
    static final class BlockingHealth extends HealthGrpc.HealthImplBase {
        final CountDownLatch versionCalled = new CountDownLatch(1);

        @Override
        public void check(CheckRequest request, StreamObserver<HealthCheckResponse> out) {
            try {
                if (!versionCalled.await(10, TimeUnit.SECONDS)) {
                    out.onError(io.grpc.Status.DEADLINE_EXCEEDED.withDescription("version never came").asException());
                    return;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            out.onNext(HealthCheckResponse.newBuilder().setStatus(HealthCheckResponse.ServingStatus.SERVING).build());
            out.onCompleted();
        }

        @Override
        public void version(CheckRequest request, StreamObserver<VersionCheckResponse> out) {
            versionCalled.countDown();
            out.onNext(VersionCheckResponse.newBuilder().setAgentVersion(request.getService()).build());
            out.onCompleted();
        }
    }

    @BeforeEach
    void setUp() {
        group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    }

    @AfterEach
    void tearDown() {
        if (bridge != null) {
            bridge.close();
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly();
        pool.shutdownNow();
    }

    private static int[] socketpair() {
        int[] fds = new int[2];
        Libc.C.socketpair(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0, fds);
        return fds;
    }

    private TtrpcClient client(int fd) throws Exception {
        EpollDomainSocketChannel ch = new EpollDomainSocketChannel(fd);
        group.register(ch).sync();
        return TtrpcClient.over(ch);
    }

    @Test
    void blockingCallsDoNotStallOtherCallsAndBigMessagesPass() throws Exception {
        BlockingHealth health = new BlockingHealth();
        bridge = new TtrpcBridge(List.<BindableService>of(health));
        int[] fds = socketpair();
        Fd agentSide = new Fd(fds[0]);
        TtrpcBridge.Connection conn = VsockListener.serveSocket(bridge, agentSide, "test");
        try (TtrpcClient c = client(fds[1])) {
            HealthGrpc.HealthBlockingStub stub = HealthGrpc.newBlockingStub(c).withDeadlineAfter(20, TimeUnit.SECONDS);
            Future<HealthCheckResponse> check = pool.submit(() -> stub.check(CheckRequest.getDefaultInstance()));
            Thread.sleep(200);
            assertFalse(check.isDone(), "Check must wait for Version");
            // 3 MiB each way: more than the socket buffers and the bridge's high-water mark.
            String big = "x".repeat(3 << 20);
            VersionCheckResponse v = stub.version(CheckRequest.newBuilder().setService(big).build());
            assertEquals(big.length(), v.getAgentVersion().length());
            assertEquals(HealthCheckResponse.ServingStatus.SERVING, check.get(10, TimeUnit.SECONDS).getStatus());
        }
        // The host hung up: the agent's side ends and its descriptor is released.
        conn.done().get(5, TimeUnit.SECONDS);
        for (int i = 0; i < 100 && !agentSide.isClosed(); i++) {
            Thread.sleep(20);
        }
        assertTrue(agentSide.isClosed(), "agent side of the socket still open");
    }

    @Test
    void aPeerHangingUpMidFrameEndsOnlyItsConnection() throws Exception {
        bridge = new TtrpcBridge(List.<BindableService>of(new HealthService()));
        int[] bad = socketpair();
        Fd agentBad = new Fd(bad[0]);
        TtrpcBridge.Connection badConn = VsockListener.serveSocket(bridge, agentBad, "bad");
        Fd peer = new Fd(bad[1]);
        byte[] half = new byte[] {0, 0, 0, 9, 0, 0};
        peer.writeFully(half, 0, half.length);
        peer.close();
        badConn.done().get(5, TimeUnit.SECONDS);
        for (int i = 0; i < 100 && !agentBad.isClosed(); i++) {
            Thread.sleep(20);
        }
        assertTrue(agentBad.isClosed(), "agent side of the socket still open");

        int[] good = socketpair();
        VsockListener.serveSocket(bridge, new Fd(good[0]), "good");
        try (TtrpcClient c = client(good[1])) {
            assertEquals(HealthCheckResponse.ServingStatus.SERVING, HealthGrpc.newBlockingStub(c)
                    .withDeadlineAfter(10, TimeUnit.SECONDS).check(CheckRequest.getDefaultInstance()).getStatus());
        }
        assertThrows(IllegalArgumentException.class, () -> VsockListener.parsePort("port"));
        assertEquals(1024, VsockListener.parsePort("1024"));
        assertEquals(16, VsockListener.sockaddrVm(1024, VsockListener.VMADDR_CID_ANY).length);
        assertEquals(ByteString.copyFrom(new byte[] {40, 0, 0, 0, 0, 4, 0, 0, -1, -1, -1, -1, 0, 0, 0, 0}),
                ByteString.copyFrom(VsockListener.sockaddrVm(1024, VsockListener.VMADDR_CID_ANY)));
    }
}
