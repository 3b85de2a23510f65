package io.nemu.shim.task;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.nemu.proto.containerd.events.TaskExit;
import io.nemu.proto.containerd.events.TaskOOM;
import io.nemu.proto.containerd.task.v2.CheckpointTaskRequest;
import io.nemu.proto.containerd.task.v2.ConnectRequest;
import io.nemu.proto.containerd.task.v2.ConnectResponse;
import io.nemu.proto.containerd.task.v2.CreateTaskRequest;
import io.nemu.proto.containerd.task.v2.DeleteRequest;
import io.nemu.proto.containerd.task.v2.DeleteResponse;
import io.nemu.proto.containerd.task.v2.ExecProcessRequest;
import io.nemu.proto.containerd.task.v2.KillRequest;
import io.nemu.proto.containerd.task.v2.PauseRequest;
import io.nemu.proto.containerd.task.v2.ResumeRequest;
import io.nemu.proto.containerd.task.v2.ShutdownRequest;
import io.nemu.proto.containerd.task.v2.StartRequest;
import io.nemu.proto.containerd.task.v2.StateRequest;
import io.nemu.proto.containerd.task.v2.StatsRequest;
import io.nemu.proto.containerd.task.v2.TaskGrpc;
import io.nemu.proto.containerd.task.v2.WaitRequest;
import io.nemu.proto.containerd.task.v2.WaitResponse;
import io.nemu.proto.containerd.types.Mount;
import io.nemu.proto.kata.VolumeStatsResponse;
import static io.nemu.proto.containerd.types.task.Status.CREATED;
import static io.nemu.proto.containerd.types.task.Status.PAUSED;
import static io.nemu.proto.containerd.types.task.Status.RUNNING;
import static io.nemu.proto.containerd.types.task.Status.STOPPED;
import io.nemu.shim.agent.Stdio;
import io.nemu.shim.errdefs.TaskException;
import io.nemu.shim.oci.Bundle;
import io.nemu.shim.sandbox.GuestVolumes;
import io.nemu.shim.sandbox.Sandbox;
import io.nemu.ttrpc.TtrpcClient;
import io.nemu.ttrpc.TtrpcServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Task service over real ttrpc, against a fake sandbox: state rules and event order. */
class TaskServiceTest {
    @TempDir
    Path dir;

    private final List<String> events = Collections.synchronizedList(new ArrayList<>());
    private final List<Message> eventBodies = Collections.synchronizedList(new ArrayList<>());
    private final FakeSandbox fake = new FakeSandbox();
    private final CountDownLatch shutdown = new CountDownLatch(1);
    private TaskService service;
    private TtrpcServer server;
    private TtrpcClient client;
    private TaskGrpc.TaskBlockingStub task;
    private Path bundle;
    private volatile Sandbox.Listener oomListener;

    static final class FakeSandbox implements Sandbox {
        final List<String> calls = Collections.synchronizedList(new ArrayList<>());
        final Map<String, CompletableFuture<Integer>> running = new ConcurrentHashMap<>();
        volatile boolean closed;

        @Override
        public long pid() {
            return 4242;
        }

        @Override
        public void createContainer(String cid, Bundle bundle, List<Mount> rootfs, Stdio stdio) {
            calls.add("create " + cid + " rootfs=" + rootfs.size());
        }

        @Override
        public CompletableFuture<Integer> start(String cid, String execId) {
            calls.add("start " + cid + "/" + execId);
            CompletableFuture<Integer> f = new CompletableFuture<>();
            running.put(cid + "/" + execId, f);
            return f;
        }

        void exit(String cid, String execId, int code) {
            running.get(cid + "/" + execId).complete(code);
        }

        @Override
        public void exec(String cid, String execId, byte[] processJson, Stdio stdio) {
            calls.add("exec " + cid + "/" + execId + " " + new String(processJson));
        }

        @Override
        public void signal(String cid, String execId, int signal, boolean all) {
            calls.add("signal " + cid + "/" + execId + " " + signal + (all ? " all" : ""));
            CompletableFuture<Integer> f = running.get(cid + "/" + execId);
            if (f != null) {
                f.complete(128 + signal);
            }
        }

        @Override
        public void resizePty(String cid, String execId, int width, int height) {
            calls.add("resize " + cid + " " + width + "x" + height);
        }

        @Override
        public void closeStdin(String cid, String execId) {
            calls.add("closeStdin " + cid + "/" + execId);
        }

        @Override
        public void pause(String cid) {
            calls.add("pause " + cid);
        }

        @Override
        public void resume(String cid) {
            calls.add("resume " + cid);
        }

        @Override
        public Any stats(String cid) {
            return Any.newBuilder().setTypeUrl("io.containerd.cgroups.v1.Metrics").setValue(ByteString.copyFromUtf8("x")).build();
        }

        @Override
        public void update(String cid, Any resources) {
            calls.add("update " + cid);
        }

        @Override
        public List<Integer> pids(String cid) {
            return List.of(4242);
        }

        @Override
        public void removeContainer(String cid) {
            calls.add("remove " + cid);
        }

        @Override
        public void removeExec(String cid, String execId) {
            calls.add("removeExec " + cid + "/" + execId);
        }

        @Override
        public Optional<GuestVolumes.Volume> volume(String hostPath) {
            return Optional.empty(); // PodRouterTest asks for volumes
        }

        @Override
        public VolumeStatsResponse volumeStats(String guestPath) {
            throw new AssertionError("no volume here");
        }

        @Override
        public void close() {
            calls.add("close");
            closed = true;
        }
    }

    @BeforeEach
    void setUp() throws Exception {
        bundle = dir.resolve("bundle");
        Files.createDirectories(bundle);
        Files.writeString(bundle.resolve("config.json"), "{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"sh\"]}}");
        service = new TaskService("sb", (id, b, opts, listener) -> {
            oomListener = listener;
            return fake;
        }, (topic, e) -> {
            events.add(topic);
            eventBodies.add(e);
        }, shutdown::countDown);
        server = TtrpcServer.builder().addService(service).build();
        Path sock = dir.resolve("t.sock");
        server.bind(sock);
        client = TtrpcClient.connect(sock);
        task = TaskGrpc.newBlockingStub(client).withDeadlineAfter(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void tearDown() {
        client.close();
        server.close();
    }

    private CreateTaskRequest create(String id) {
        return CreateTaskRequest.newBuilder().setId(id).setBundle(bundle.toString()).setStdout("/dev/null")
                .addRootfs(Mount.newBuilder().setType("overlay").setSource("overlay")).build();
    }

    private Status.Code code(Runnable r) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, r::run);
        return e.getStatus().getCode();
    }

    private void awaitEvents(int n) throws InterruptedException {
        for (int i = 0; i < 200 && events.size() < n; i++) {
            Thread.sleep(10);
        }
    }

    @Test
    void lifecycleOfTheSandboxTaskAndItsEvents() throws Exception {
        assertEquals(4242, task.create(create("sb")).getPid());
        assertEquals(CREATED, task.state(StateRequest.newBuilder().setId("sb").build()).getStatus());
        assertEquals(4242, task.start(StartRequest.newBuilder().setId("sb").build()).getPid());
        assertEquals(RUNNING, task.state(StateRequest.newBuilder().setId("sb").build()).getStatus());
        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> task.start(StartRequest.newBuilder().setId("sb").build())));
        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> task.delete(DeleteRequest.newBuilder().setId("sb").build())));

        CompletableFuture<WaitResponse> waited = CompletableFuture.supplyAsync(
                () -> TaskGrpc.newBlockingStub(client).wait(WaitRequest.newBuilder().setId("sb").build()));
        Thread.sleep(100);
        assertFalse(waited.isDone());
        fake.exit("sb", "", 3);
        assertEquals(3, waited.get(5, TimeUnit.SECONDS).getExitStatus());
        assertTrue(events.contains("/tasks/exit"), "TaskExit must be out before Wait answers: " + events);
        var st = task.state(StateRequest.newBuilder().setId("sb").build());
        assertEquals(STOPPED, st.getStatus());
        assertEquals(3, st.getExitStatus());
        assertTrue(st.getExitedAt().getSeconds() > 0);

        DeleteResponse d = task.delete(DeleteRequest.newBuilder().setId("sb").build());
        assertEquals(3, d.getExitStatus());
        assertEquals(4242, d.getPid());
        assertTrue(fake.closed, "deleting the sandbox's task destroys the sandbox");
        assertEquals(Status.Code.NOT_FOUND, code(() -> task.state(StateRequest.newBuilder().setId("sb").build())));
        assertEquals(List.of("/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"), events);
        TaskExit exit = (TaskExit) eventBodies.get(2);
        assertEquals("sb", exit.getContainerId());
        assertEquals("sb", exit.getId());
        assertEquals(3, exit.getExitStatus());

        task.shutdown(ShutdownRequest.newBuilder().setId("sb").build());
        assertTrue(shutdown.await(5, TimeUnit.SECONDS));
    }

    @Test
    void containersJoinOnlyAnExistingSandbox() throws Exception {
        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> task.create(create("c1"))));
        task.create(create("sb"));
        task.create(create("c1"));
        assertEquals(Status.Code.ALREADY_EXISTS, code(() -> task.create(create("c1"))));
        assertEquals(List.of("create sb rootfs=1", "create c1 rootfs=1"), fake.calls);
        // Shutdown while tasks are held keeps the daemon.
        task.shutdown(ShutdownRequest.newBuilder().setId("sb").build());
        assertFalse(shutdown.await(200, TimeUnit.MILLISECONDS));
        // A created container can be deleted without running.
        task.delete(DeleteRequest.newBuilder().setId("c1").build());
        assertTrue(fake.calls.contains("remove c1"));
        assertFalse(fake.closed);
    }

    @Test
    void execsFollowTheirOwnLifecycle() throws Exception {
        task.create(create("sb"));
        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> task.exec(ExecProcessRequest.newBuilder().setId("sb")
                .setExecId("e1").build())), "no exec in a task that is not running");
        task.start(StartRequest.newBuilder().setId("sb").build());
        ExecProcessRequest exec = ExecProcessRequest.newBuilder().setId("sb").setExecId("e1")
                .setSpec(Any.newBuilder().setTypeUrl("types.containerd.io/opencontainers/runtime-spec/1/Process")
                        .setValue(ByteString.copyFromUtf8("{\"args\":[\"echo\",\"hi\"]}"))).build();
        task.exec(exec);
        assertEquals(Status.Code.ALREADY_EXISTS, code(() -> task.exec(exec)));
        assertEquals(CREATED, task.state(StateRequest.newBuilder().setId("sb").setExecId("e1").build()).getStatus());
        task.start(StartRequest.newBuilder().setId("sb").setExecId("e1").build());
        fake.exit("sb", "e1", 0);
        assertEquals(0, task.wait(WaitRequest.newBuilder().setId("sb").setExecId("e1").build()).getExitStatus());
        task.delete(DeleteRequest.newBuilder().setId("sb").setExecId("e1").build());
        assertEquals(Status.Code.NOT_FOUND, code(() -> task.state(StateRequest.newBuilder().setId("sb").setExecId("e1").build())));
        awaitEvents(5);
        assertEquals(List.of("/tasks/create", "/tasks/start", "/tasks/exec-added", "/tasks/exec-started", "/tasks/exit"),
                events);
        assertTrue(fake.calls.contains("exec sb/e1 {\"args\":[\"echo\",\"hi\"]}"), fake.calls::toString);
    }

    @Test
    void pauseResumeKillAndTheRest() throws Exception {
        task.create(create("sb"));
        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> task.pause(PauseRequest.newBuilder().setId("sb").build())));
        task.start(StartRequest.newBuilder().setId("sb").build());
        task.pause(PauseRequest.newBuilder().setId("sb").build());
        assertEquals(PAUSED, task.state(StateRequest.newBuilder().setId("sb").build()).getStatus());
        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> task.pause(PauseRequest.newBuilder().setId("sb").build())));
        task.resume(ResumeRequest.newBuilder().setId("sb").build());
        assertEquals(RUNNING, task.state(StateRequest.newBuilder().setId("sb").build()).getStatus());
        assertEquals("io.containerd.cgroups.v1.Metrics",
                task.stats(StatsRequest.newBuilder().setId("sb").build()).getStats().getTypeUrl());
        assertEquals(Status.Code.UNIMPLEMENTED, code(() -> task.checkpoint(CheckpointTaskRequest.newBuilder().setId("sb").build())));
        ConnectResponse c = task.connect(ConnectRequest.newBuilder().setId("sb").build());
        assertEquals(ProcessHandle.current().pid(), c.getShimPid());
        assertEquals(4242, c.getTaskPid());
        task.kill(KillRequest.newBuilder().setId("sb").setSignal(9).build());
        assertEquals(137, task.wait(WaitRequest.newBuilder().setId("sb").build()).getExitStatus());
        // Killing a stopped task is harmless; an unknown one is not found.
        task.kill(KillRequest.newBuilder().setId("sb").setSignal(9).build());
        assertEquals(Status.Code.NOT_FOUND, code(() -> task.kill(KillRequest.newBuilder().setId("nope").setSignal(9).build())));
        awaitEvents(5);
        assertEquals(List.of("/tasks/create", "/tasks/start", "/tasks/paused", "/tasks/resumed", "/tasks/exit"), events);
        assertEquals(1, fake.calls.stream().filter(s -> s.startsWith("signal")).count(), fake.calls::toString);
    }

    @Test
    void theSandboxsOomReportsBecomeTaskOomEvents() throws Exception {
        task.create(create("sb"));
        oomListener.oom("sb");
        awaitEvents(2);
        assertEquals(List.of("/tasks/create", "/tasks/oom"), events);
        assertEquals("sb", ((TaskOOM) eventBodies.get(1)).getContainerId());
    }

    @Test
    void aSandboxThatDiesStopsEveryProcessWith255AndStillDeletes() throws Exception {
        task.create(create("sb"));
        task.start(StartRequest.newBuilder().setId("sb").build());
        task.create(create("c1")); // created, never started
        task.exec(ExecProcessRequest.newBuilder().setId("sb").setExecId("e1").setSpec(Any.newBuilder()
                .setValue(ByteString.copyFromUtf8("{\"args\":[\"sh\"]}"))).build());
        CompletableFuture<WaitResponse> waited = CompletableFuture.supplyAsync(
                () -> TaskGrpc.newBlockingStub(client).wait(WaitRequest.newBuilder().setId("sb").build()));
        oomListener.died("QEMU (pid 4242) exited with code 137");
        assertEquals(TaskService.LOST, waited.get(5, TimeUnit.SECONDS).getExitStatus());
        assertEquals(TaskService.LOST, task.wait(WaitRequest.newBuilder().setId("c1").build()).getExitStatus());
        assertEquals(TaskService.LOST, task.wait(WaitRequest.newBuilder().setId("sb").setExecId("e1").build())
                .getExitStatus());
        List<String> exited = eventBodies.stream().filter(TaskExit.class::isInstance).map(TaskExit.class::cast)
                .map(e -> e.getId() + "=" + e.getExitStatus()).sorted().toList();
        assertEquals(List.of("c1=255", "e1=255", "sb=255"), exited);
        // The sandbox's own exit, later, is not published twice.
        fake.exit("sb", "", 0);
        Thread.sleep(100);
        assertEquals(3, eventBodies.stream().filter(TaskExit.class::isInstance).count());
        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class,
                () -> task.exec(ExecProcessRequest.newBuilder().setId("c1").setExecId("e2").build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode());
        StatusRuntimeException noStats = assertThrows(StatusRuntimeException.class,
                () -> task.stats(StatsRequest.newBuilder().setId("sb").build()));
        assertTrue(noStats.getStatus().getDescription().contains("sandbox sb died: QEMU (pid 4242) exited"),
                noStats.getStatus().getDescription());
        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> task.create(create("c2"))));
        task.kill(KillRequest.newBuilder().setId("sb").setSignal(9).build()); // harmless: it is stopped
        task.delete(DeleteRequest.newBuilder().setId("sb").setExecId("e1").build());
        task.delete(DeleteRequest.newBuilder().setId("c1").build());
        assertEquals(TaskService.LOST, task.delete(DeleteRequest.newBuilder().setId("sb").build()).getExitStatus());
        assertTrue(fake.closed);
        task.shutdown(ShutdownRequest.newBuilder().setId("sb").build());
        assertTrue(shutdown.await(5, TimeUnit.SECONDS));
    }

    @Test
    void aFailingSandboxBootIsReportedAndLeavesNoTask() {
        TaskService failing = new TaskService("sb", (id, b, o, l) -> {
            throw new TaskException(Status.Code.INVALID_ARGUMENT, "/etc/x.toml: hypervisor.qemu.default_vcpus must be 1..255, got 0");
        }, (t, e) -> events.add(t), () -> { });
        TtrpcServer s2 = TtrpcServer.builder().addService(failing).build();
        try {
            s2.bind(dir.resolve("f.sock"));
            try (TtrpcClient c2 = TtrpcClient.connect(dir.resolve("f.sock"))) {
                StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                        () -> TaskGrpc.newBlockingStub(c2).create(create("sb")));
                assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
                assertTrue(e.getStatus().getDescription().contains("hypervisor.qemu.default_vcpus"));
            }
            assertEquals(0, failing.taskCount());
            assertTrue(events.isEmpty());
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        } finally {
            s2.close();
        }
    }
}
