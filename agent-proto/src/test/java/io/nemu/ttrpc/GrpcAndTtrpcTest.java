package io.nemu.ttrpc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.nemu.proto.test.EchoGrpc;
import io.nemu.proto.test.EchoRequest;
import io.nemu.ttrpc.internal.Pipelines;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One service object, served by gRPC-Java and by ttrpc at the same time, with one event loop group. */
class GrpcAndTtrpcTest {
    @TempDir
    Path dir;

    @Test
    void sameImplementationOverBothProtocols() throws Exception {
        EchoService service = new EchoService();
        EventLoopGroup group = Pipelines.newEpollGroup("test-loop", 2);
        Path grpcSocket = dir.resolve("grpc.sock");
        Path ttrpcSocket = dir.resolve("ttrpc.sock");
        Server grpc = NettyServerBuilder.forAddress(new DomainSocketAddress(grpcSocket.toFile()))
                .channelType(EpollServerDomainSocketChannel.class)
                .bossEventLoopGroup(group).workerEventLoopGroup(group)
                .addService(service.definition()).build().start();
        ManagedChannel grpcChannel = NettyChannelBuilder.forAddress(new DomainSocketAddress(grpcSocket.toFile()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(group).usePlaintext().build();
        try (TtrpcServer ttrpc = TtrpcServer.builder().eventLoopGroup(group).addService(service.definition()).build()) {
            ttrpc.bind(ttrpcSocket);
            try (TtrpcClient ttrpcClient = TtrpcClient.builder().eventLoopGroup(group).connect(ttrpcSocket)) {
                for (io.grpc.Channel ch : List.of(grpcChannel, ttrpcClient)) {
                    EchoGrpc.EchoBlockingStub stub = EchoGrpc.newBlockingStub(ch).withDeadlineAfter(5, TimeUnit.SECONDS);
                    assertEquals("both", stub.unary(EchoRequest.newBuilder().setMessage("both").build()).getMessage());
                    List<Integer> got = new ArrayList<>();
                    stub.serverStream(EchoRequest.newBuilder().setCount(3).build()).forEachRemaining(r -> got.add(r.getIndex()));
                    assertEquals(List.of(0, 1, 2), got, "via " + ch.authority());
                }
            }
        } finally {
            grpcChannel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            grpc.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }
}
