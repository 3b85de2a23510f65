package io.nemu.ttrpc.bench;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.nemu.proto.test.EchoGrpc;
import io.nemu.proto.test.EchoRequest;
import io.nemu.proto.test.EchoResponse;
import io.nemu.ttrpc.TtrpcClient;
import io.nemu.ttrpc.TtrpcServer;
import io.nemu.ttrpc.internal.Pipelines;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;

/**
 * Unary round trips over ONE unix socket connection, ttrpc against gRPC-Java, same service, same
 * payload, same process. Not a test; run it with
 * {@code mvn -pl agent-proto exec:java -Dexec.classpathScope=test -Dexec.mainClass=io.nemu.ttrpc.bench.TtrpcBenchmark}
 * (optional args: warm-up seconds, measured seconds; or ./bench.sh).
 */
public final class TtrpcBenchmark {
    record Result(String protocol, int callers, double callsPerSecond, double p50Micros, double p99Micros) {}

    static final class Echo extends EchoGrpc.EchoImplBase {
        @Override
        public void unary(EchoRequest req, StreamObserver<EchoResponse> out) {
            out.onNext(EchoResponse.newBuilder().setMessage(req.getMessage()).setIndex(req.getCount()).build());
            out.onCompleted();
        }
    }

    public static void main(String[] args) throws Exception {
        double warmup = args.length > 0 ? Double.parseDouble(args[0]) : 3;
        double measure = args.length > 1 ? Double.parseDouble(args[1]) : 5;
        String loadBefore = loadAverage();
        Path dir = Files.createTempDirectory("ttrpc-bench");
        // Separate single-thread loops for the server and the client side, for both protocols.
        EventLoopGroup serverLoop = Pipelines.newEpollGroup("bench-server", 1);
        EventLoopGroup clientLoop = Pipelines.newEpollGroup("bench-client", 1);
        Echo echo = new Echo();
        List<Result> results = new ArrayList<>();
        try {
            Path grpcSocket = dir.resolve("grpc.sock");
            Server grpcServer = NettyServerBuilder.forAddress(new DomainSocketAddress(grpcSocket.toFile()))
                    .channelType(EpollServerDomainSocketChannel.class)
                    .bossEventLoopGroup(serverLoop).workerEventLoopGroup(serverLoop)
                    .directExecutor().addService(echo).build().start();
            ManagedChannel grpcChannel = NettyChannelBuilder.forAddress(new DomainSocketAddress(grpcSocket.toFile()))
                    .channelType(EpollDomainSocketChannel.class).eventLoopGroup(clientLoop)
                    .directExecutor().usePlaintext().build();

            Path ttrpcSocket = dir.resolve("ttrpc.sock");
            TtrpcServer ttrpcServer = TtrpcServer.builder().eventLoopGroup(serverLoop).directExecutor().addService(echo).build();
            ttrpcServer.bind(ttrpcSocket);
            TtrpcClient ttrpcClient = TtrpcClient.builder().eventLoopGroup(clientLoop).directExecutor().connect(ttrpcSocket);
            try {
                for (int callers : new int[] {1, 16}) {
                    run(grpcChannel, callers, warmup);
                    run(ttrpcClient, callers, warmup);
                    // Measure in alternating one-second slices so both see the same background load.
                    int slices = (int) Math.max(1, Math.round(measure));
                    double slice = measure / slices;
                    List<long[]> grpcRuns = new ArrayList<>();
                    List<long[]> ttrpcRuns = new ArrayList<>();
                    for (int i = 0; i < slices; i++) {
                        grpcRuns.add(run(grpcChannel, callers, slice));
                        ttrpcRuns.add(run(ttrpcClient, callers, slice));
                    }
                    results.add(result("gRPC", callers, concat(grpcRuns), slices * slice));
                    results.add(result("ttrpc", callers, concat(ttrpcRuns), slices * slice));
                }
            } finally {
                ttrpcClient.close();
                ttrpcServer.close();
                grpcChannel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                grpcServer.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        } finally {
            clientLoop.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
            serverLoop.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
            Files.deleteIfExists(dir);
        }
        print(results);
        System.out.println("cpus " + Runtime.getRuntime().availableProcessors() + ", load average before: " + loadBefore
                + ", after: " + loadAverage());
    }

    /** The machine's load matters a lot on a small box; printed with the results. */
    static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (java.io.IOException e) {
            return "unknown";
        }
    }

    /** Each caller does blocking unary calls back to back; returns every call's latency in ns. */
    static long[] run(io.grpc.Channel channel, int callers, double seconds) throws Exception {
        long[][] perThread = new long[callers][];
        int[] counts = new int[callers];
        CyclicBarrier start = new CyclicBarrier(callers);
        Thread[] threads = new Thread[callers];
        for (int t = 0; t < callers; t++) {
            int id = t;
            threads[t] = new Thread(() -> {
                EchoGrpc.EchoBlockingStub stub = EchoGrpc.newBlockingStub(channel);
                EchoRequest req = EchoRequest.newBuilder().setMessage("ping").setCount(id).build();
                long[] lat = new long[1 << 16];
                int n = 0;
                try {
                    start.await();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
                long end = System.nanoTime() + (long) (seconds * 1e9);
                long now = System.nanoTime();
                while (now < end) {
                    stub.unary(req);
                    long after = System.nanoTime();
                    if (n == lat.length) {
                        lat = Arrays.copyOf(lat, n * 2);
                    }
                    lat[n++] = after - now;
                    now = after;
                }
                perThread[id] = lat;
                counts[id] = n;
            }, "bench-caller-" + t);
            threads[t].start();
        }
        for (Thread th : threads) {
            th.join();
        }
        int total = Arrays.stream(counts).sum();
        long[] all = new long[total];
        int pos = 0;
        for (int t = 0; t < callers; t++) {
            System.arraycopy(perThread[t], 0, all, pos, counts[t]);
            pos += counts[t];
        }
        return all;
    }

    static long[] concat(List<long[]> runs) {
        long[] all = new long[runs.stream().mapToInt(r -> r.length).sum()];
        int pos = 0;
        for (long[] r : runs) {
            System.arraycopy(r, 0, all, pos, r.length);
            pos += r.length;
        }
        return all;
    }

    static Result result(String protocol, int callers, long[] latencies, double seconds) {
        Arrays.sort(latencies);
        return new Result(protocol, callers, latencies.length / seconds,
                latencies[(int) (latencies.length * 0.50)] / 1e3, latencies[(int) (latencies.length * 0.99)] / 1e3);
    }

    static void print(List<Result> results) {
        System.out.printf("%-8s %8s %14s %10s %10s%n", "protocol", "callers", "calls/s", "p50 us", "p99 us");
        for (Result r : results) {
            System.out.printf("%-8s %8d %14.0f %10.1f %10.1f%n", r.protocol(), r.callers(), r.callsPerSecond(),
                    r.p50Micros(), r.p99Micros());
        }
        for (int callers : new int[] {1, 16}) {
            Result g = results.stream().filter(r -> r.callers() == callers && r.protocol().equals("gRPC")).findFirst().orElseThrow();
            Result t = results.stream().filter(r -> r.callers() == callers && r.protocol().equals("ttrpc")).findFirst().orElseThrow();
            System.out.printf("%2d callers: ttrpc/gRPC throughput %.2fx, p99 ttrpc %.1f us vs gRPC %.1f us%n", callers,
                    t.callsPerSecond() / g.callsPerSecond(), t.p99Micros(), g.p99Micros());
        }
    }
}
