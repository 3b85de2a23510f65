package io.nemu.shim.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.protobuf.Empty;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.nemu.proto.containerd.cgroups.v1.Metrics;
import io.nemu.proto.kata.AgentServiceGrpc;
import io.nemu.proto.kata.CgroupStats;
import io.nemu.proto.kata.CheckRequest;
import io.nemu.proto.kata.CpuStats;
import io.nemu.proto.kata.CpuUsage;
import io.nemu.proto.kata.DestroySandboxRequest;
import io.nemu.proto.kata.ExecProcessRequest;
import io.nemu.proto.kata.GetOOMEventRequest;
import io.nemu.proto.kata.HealthCheckResponse;
import io.nemu.proto.kata.HealthGrpc;
import io.nemu.proto.kata.MemoryData;
import io.nemu.proto.kata.MemoryStats;
import io.nemu.proto.kata.OOMEvent;
import io.nemu.proto.kata.PauseContainerRequest;
import io.nemu.proto.kata.PidsStats;
import io.nemu.proto.kata.SignalProcessRequest;
import io.nemu.proto.kata.StartContainerRequest;
import io.nemu.proto.kata.StatsContainerRequest;
import io.nemu.proto.kata.StatsContainerResponse;
import io.nemu.proto.kata.ThrottlingData;
import io.nemu.proto.kata.UpdateContainerRequest;
import io.nemu.proto.kata.WaitProcessRequest;
import io.nemu.proto.kata.WaitProcessResponse;
import io.nemu.shim.errdefs.TaskException;
import io.nemu.ttrpc.TtrpcClient;
import io.nemu.ttrpc.TtrpcServer;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The agent client against a fake agent served over ttrpc on a unix socket (no VM). */
class AgentClientTest {
    @TempDir
    Path dir;

    private final FakeHealth health = new FakeHealth();
    private final FakeAgent fake = new FakeAgent();
    private TtrpcServer server;
    private Path socket;
    private AgentClient client;

    /** Answers NOT_SERVING {@code notServing} times, then SERVING. */
    static final class FakeHealth extends HealthGrpc.HealthImplBase {
        final AtomicInteger checks = new AtomicInteger();
        volatile int notServing;

        @Override
        public void check(CheckRequest r, StreamObserver<HealthCheckResponse> o) {
            boolean serving = checks.incrementAndGet() > notServing;
            o.onNext(HealthCheckResponse.newBuilder().setStatus(serving ? HealthCheckResponse.ServingStatus.SERVING
                    : HealthCheckResponse.ServingStatus.NOT_SERVING).build());
            o.onCompleted();
        }
    }

    /** Records what it is asked; PauseContainer never answers, WaitProcess answers when the test says. */
    static final class FakeAgent extends AgentServiceGrpc.AgentServiceImplBase {
        final List<String> calls = Collections.synchronizedList(new ArrayList<>());
        final Map<String, StreamObserver<WaitProcessResponse>> waits = new ConcurrentHashMap<>();
        final BlockingQueue<String> oom = new LinkedBlockingQueue<>();

        private static void empty(StreamObserver<Empty> o) {
            o.onNext(Empty.getDefaultInstance());
            o.onCompleted();
        }

        @Override
        public void startContainer(StartContainerRequest r, StreamObserver<Empty> o) {
            calls.add("StartContainer " + r.getContainerId());
            empty(o);
        }

        @Override
        public void execProcess(ExecProcessRequest r, StreamObserver<Empty> o) {
            calls.add("ExecProcess " + r.getContainerId() + "/" + r.getExecId() + " " + r.getProcess().getArgsList());
            empty(o);
        }

        @Override
        public void waitProcess(WaitProcessRequest r, StreamObserver<WaitProcessResponse> o) {
            calls.add("WaitProcess " + r.getContainerId() + "/" + r.getExecId());
            waits.put(r.getContainerId() + "/" + r.getExecId(), o);
        }

        void exit(String cidSlashEid, int status) {
            StreamObserver<WaitProcessResponse> o = waits.remove(cidSlashEid);
            o.onNext(WaitProcessResponse.newBuilder().setStatus(status).build());
            o.onCompleted();
        }

        @Override
        public void signalProcess(SignalProcessRequest r, StreamObserver<Empty> o) {
            calls.add("SignalProcess " + r.getContainerId() + "/" + r.getExecId() + " " + r.getSignal());
            empty(o);
        }

        @Override
        public void pauseContainer(PauseContainerRequest r, StreamObserver<Empty> o) {
            calls.add("PauseContainer " + r.getContainerId());
            // never answers
        }

        @Override
        public void updateContainer(UpdateContainerRequest r, StreamObserver<Empty> o) {
            o.onError(Status.UNAVAILABLE.withDescription("cgroup is gone").asRuntimeException());
        }

        @Override
        public void statsContainer(StatsContainerRequest r, StreamObserver<StatsContainerResponse> o) {
            o.onNext(StatsContainerResponse.newBuilder().setCgroupStats(sampleStats()).build());
            o.onCompleted();
        }

        @Override
        public void getOOMEvent(GetOOMEventRequest r, StreamObserver<OOMEvent> o) {
            String cid = oom.poll();
            if (cid == null) {
                o.onError(Status.UNIMPLEMENTED.asRuntimeException());
                return;
            }
            o.onNext(OOMEvent.newBuilder().setContainerId(cid).build());
            o.onCompleted();
        }

        @Override
        public void destroySandbox(DestroySandboxRequest r, StreamObserver<Empty> o) {
            calls.add("DestroySandbox");
            empty(o);
        }
    }

    static CgroupStats sampleStats() {
        return CgroupStats.newBuilder()
                .setPidsStats(PidsStats.newBuilder().setCurrent(3).setLimit(100))
                .setCpuStats(CpuStats.newBuilder()
                        .setCpuUsage(CpuUsage.newBuilder().setTotalUsage(900).setUsageInKernelmode(200)
                                .setUsageInUsermode(700).addPercpuUsage(400).addPercpuUsage(500))
                        .setThrottlingData(ThrottlingData.newBuilder().setPeriods(10).setThrottledPeriods(2)
                                .setThrottledTime(5000)))
                .setMemoryStats(MemoryStats.newBuilder().setCache(4096).putStats("rss", 8192)
                        .putStats("total_rss", 16384).putStats("total_cache", 2048)
                        .setUsage(MemoryData.newBuilder().setUsage(12288).setMaxUsage(20480).setFailcnt(1)
                                .setLimit(1 << 20))
                        .setSwapUsage(MemoryData.newBuilder().setUsage(0).setLimit(1 << 21))
                        .setKernelUsage(MemoryData.newBuilder().setUsage(512)))
                .build();
    }

    @BeforeEach
    void serve() throws IOException {
        server = TtrpcServer.builder().addService(health).addService(fake).build();
        socket = dir.resolve("agent.sock");
        server.bind(socket);
    }

    @AfterEach
    void stop() {
        if (client != null) {
            client.close();
        }
        server.close();
    }

    private AgentClient.Dialer toSocket() {
        return left -> TtrpcClient.connect(socket);
    }

    private AgentClient connect(Duration callTimeout) throws IOException {
        client = AgentClient.connect("sb", toSocket(), Duration.ofSeconds(10), callTimeout);
        return client;
    }

    @Test
    void dialsAgainAndWaitsUntilHealthSaysServing() throws IOException {
        health.notServing = 2;
        AtomicInteger dials = new AtomicInteger();
        client = AgentClient.connect("sb", left -> {
            if (dials.incrementAndGet() == 1) {
                throw new IOException("no listener yet");
            }
            return TtrpcClient.connect(socket);
        }, Duration.ofSeconds(10), AgentClient.CALL_TIMEOUT);
        assertEquals(2, dials.get(), "a failed dial is retried; a connection that answers is kept");
        assertEquals(3, health.checks.get());
    }

    @Test
    void aDialTimeoutNamesTheLastAnswerAndTheDiagnostics() {
        health.notServing = Integer.MAX_VALUE;
        AgentClient.Dialer dialer = new AgentClient.Dialer() {
            @Override
            public TtrpcClient dial(Duration left) throws IOException {
                return TtrpcClient.connect(socket);
            }

            @Override
            public String diagnostics() {
                return "last console line: 'kernel panic'";
            }
        };
        IOException e = assertThrows(IOException.class,
                () -> AgentClient.connect("sb", dialer, Duration.ofMillis(600), AgentClient.CALL_TIMEOUT));
        assertTrue(e.getMessage().contains("agent health NOT_SERVING"), e.getMessage());
        assertTrue(e.getMessage().endsWith("; last console line: 'kernel panic'"), e.getMessage());
    }

    /** A guest that listens after 1.5 s of wall time, on a host that gave its vCPUs a fifth of the time. */
    private AgentClient.Dialer slowGuest(boolean starvationKnown) {
        long t0 = System.nanoTime();
        return new AgentClient.Dialer() {
            @Override
            public TtrpcClient dial(Duration left) throws IOException {
                if (System.nanoTime() - t0 < TimeUnit.MILLISECONDS.toNanos(1500)) {
                    throw new IOException("guest refused port 1024");
                }
                return TtrpcClient.connect(socket);
            }

            @Override
            public Duration starved() {
                return starvationKnown ? Duration.ofNanos((System.nanoTime() - t0) * 4 / 5) : Duration.ZERO;
            }
        };
    }

    @Test
    void theDialTimeoutDoesNotCountTimeTheVmWaitedForACpu() throws IOException {
        IOException e = assertThrows(IOException.class,
                () -> AgentClient.connect("sb", slowGuest(false), Duration.ofMillis(800), AgentClient.CALL_TIMEOUT));
        assertTrue(e.getMessage().contains("of which the VM waited 0 ms for a host CPU"), e.getMessage());
        // 1.5 s of wall time at a fifth of a CPU is ~300 ms of the VM's time: within the 800 ms.
        client = AgentClient.connect("sb", slowGuest(true), Duration.ofMillis(800), AgentClient.CALL_TIMEOUT);
        assertEquals(1, health.checks.get());
    }

    @Test
    void callDeadlinesStretchAsTheVmWasSlowedDuringTheDial() throws InterruptedException {
        AgentClient.Dialer starvedFourFifths = slowGuest(true);
        DialClock clock = new DialClock(starvedFourFifths, Duration.ofSeconds(10));
        Thread.sleep(300);
        clock.leftNanos();
        // The VM ran a fifth of the wall time: five times the deadline (rounding between the two clocks aside).
        long ms = clock.scaled(Duration.ofSeconds(60)).toMillis();
        assertTrue(ms > 250_000 && ms < 320_000, ms + " ms");
        DialClock idle = new DialClock(slowGuest(false), Duration.ofSeconds(10));
        idle.leftNanos();
        assertEquals(Duration.ofSeconds(60), idle.scaled(Duration.ofSeconds(60)), "an unloaded host: as configured");
    }

    @Test
    void aGoneGuestEndsTheWaitAtOnce() {
        AgentClient.Dialer dialer = new AgentClient.Dialer() {
            @Override
            public TtrpcClient dial(Duration left) throws IOException {
                throw new IOException("not reached");
            }

            @Override
            public String gone() {
                return "the VM exited";
            }
        };
        long t0 = System.nanoTime();
        IOException e = assertThrows(IOException.class,
                () -> AgentClient.connect("sb", dialer, Duration.ofSeconds(30), AgentClient.CALL_TIMEOUT));
        assertEquals("the VM exited", e.getMessage());
        assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5));
    }

    @Test
    void aCallThatNeverAnswersEndsAtItsDeadline() throws IOException {
        connect(Duration.ofMillis(300));
        long t0 = System.nanoTime();
        TaskException e = assertThrows(TaskException.class, () -> client.pause("c1"));
        assertEquals(Status.Code.DEADLINE_EXCEEDED, e.code());
        assertTrue(e.getMessage().startsWith("agent: pause c1: "), e.getMessage());
        assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5), "bounded by the call deadline");
    }

    @Test
    void agentErrorsBecomeContainerdCodes() throws IOException {
        connect(AgentClient.CALL_TIMEOUT);
        TaskException e = assertThrows(TaskException.class,
                () -> client.update("c1", io.nemu.proto.kata.LinuxResources.getDefaultInstance()));
        assertEquals(Status.Code.INTERNAL, e.code(), "UNAVAILABLE is INTERNAL for containerd");
        assertEquals("agent: update c1: cgroup is gone", e.getMessage());
    }

    @Test
    void theInitProcessIsTheContainerIdAndExecsKeepTheirs() throws Exception {
        connect(AgentClient.CALL_TIMEOUT);
        Stdio none = new Stdio("", "", "", false);
        CompletableFuture<Integer> init = client.start("c1", "");
        client.addExec("c1", "e1", io.nemu.proto.kata.Process.newBuilder().addArgs("true").build(), none);
        CompletableFuture<Integer> exec = client.start("c1", "e1");
        client.signal("c1", "", 15, false);
        client.signal("c1", "", 9, true);
        client.signal("c1", "e1", 2, false);
        TaskException unknown = assertThrows(TaskException.class, () -> client.start("c1", "e2"));
        assertEquals(Status.Code.NOT_FOUND, unknown.code());

        for (int i = 0; i < 200 && fake.waits.size() < 2; i++) {
            Thread.sleep(10);
        }
        fake.exit("c1/e1", 3);
        fake.exit("c1/c1", 137);
        assertEquals(3, exec.get(5, TimeUnit.SECONDS));
        assertEquals(137, init.get(5, TimeUnit.SECONDS));
        List<String> calls = new ArrayList<>(fake.calls);
        assertTrue(calls.containsAll(List.of("StartContainer c1", "WaitProcess c1/c1", "ExecProcess c1/e1 [true]",
                "WaitProcess c1/e1", "SignalProcess c1/c1 15", "SignalProcess c1/ 9", "SignalProcess c1/e1 2")),
                calls.toString());
    }

    @Test
    void statsAreContainerdsCgroupMetrics() throws Exception {
        connect(AgentClient.CALL_TIMEOUT);
        Any any = client.stats("c1");
        assertEquals("io.containerd.cgroups.v1.Metrics", any.getTypeUrl());
        Metrics m = Metrics.parseFrom(any.getValue());
        assertEquals(AgentClient.toMetrics(sampleStats()), m);
        assertEquals(3, m.getPids().getCurrent());
        assertEquals(100, m.getPids().getLimit());
        assertEquals(900, m.getCpu().getUsage().getTotal());
        assertEquals(200, m.getCpu().getUsage().getKernel());
        assertEquals(700, m.getCpu().getUsage().getUser());
        assertEquals(List.of(400L, 500L), m.getCpu().getUsage().getPerCpuList());
        assertEquals(2, m.getCpu().getThrottling().getThrottledPeriods());
        assertEquals(5000, m.getCpu().getThrottling().getThrottledTime());
        assertEquals(4096, m.getMemory().getCache());
        assertEquals(8192, m.getMemory().getRss());
        assertEquals(16384, m.getMemory().getTotalRss());
        assertEquals(2048, m.getMemory().getTotalCache());
        assertEquals(12288, m.getMemory().getUsage().getUsage());
        assertEquals(20480, m.getMemory().getUsage().getMax());
        assertEquals(1, m.getMemory().getUsage().getFailcnt());
        assertEquals(1 << 21, m.getMemory().getSwap().getLimit());
        assertEquals(512, m.getMemory().getKernel().getUsage());
    }

    @Test
    void missingStatsStayUnset() {
        Metrics m = AgentClient.toMetrics(CgroupStats.getDefaultInstance());
        assertEquals(Metrics.getDefaultInstance(), m);
    }

    @Test
    void oomEventsReachTheListenerAndCloseDestroysTheSandbox() throws Exception {
        fake.oom.add("c7");
        connect(AgentClient.CALL_TIMEOUT);
        BlockingQueue<String> got = new LinkedBlockingQueue<>();
        client.watchOom(got::add);
        assertEquals("c7", got.poll(5, TimeUnit.SECONDS));
        client.close();
        assertTrue(fake.calls.contains("DestroySandbox"));
        TaskException e = assertThrows(TaskException.class, () -> client.pause("c1"));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.code());
    }
}
