package io.nemu.shim.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.nemu.proto.containerd.task.v2.CreateTaskRequest;
import io.nemu.proto.containerd.task.v2.DeleteRequest;
import io.nemu.proto.containerd.task.v2.KillRequest;
import io.nemu.proto.containerd.task.v2.ShutdownRequest;
import io.nemu.proto.containerd.task.v2.StartRequest;
import io.nemu.proto.containerd.task.v2.StateRequest;
import io.nemu.proto.containerd.task.v2.StateResponse;
import io.nemu.proto.containerd.types.Mount;
import io.nemu.proto.kata.VolumeStatsResponse;
import io.nemu.proto.kata.VolumeUsage;
import io.nemu.proto.shim.HostVolumeStatsRequest;
import io.nemu.proto.shim.HostVolumeStatsResponse;
import static io.nemu.proto.containerd.types.task.Status.RUNNING;
import static io.nemu.proto.containerd.types.task.Status.STOPPED;
import io.nemu.shim.agent.Stdio;
import io.nemu.shim.oci.Bundle;
import io.nemu.shim.sandbox.GuestVolumes;
import io.nemu.shim.sandbox.Sandbox;
import io.nemu.shim.task.TaskService;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One daemon, several pods: calls reach the pod holding the task; one pod's death and shutdown leave the others. */
class PodRouterTest {
    @TempDir
    Path dir;

    private final Map<String, PodSandbox> sandboxes = new ConcurrentHashMap<>();
    private final AtomicInteger emptied = new AtomicInteger();
    private final List<String> released = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final PodRouter router = new PodRouter((sid, left) -> new TaskService(sid, (id, b, o, listener) -> {
        PodSandbox s = new PodSandbox(listener);
        sandboxes.put(id, s);
        return s;
    }, (topic, event) -> { }, left), released::add, emptied::incrementAndGet);

    /** A sandbox whose processes run until signalled, and that can die. */
    static final class PodSandbox implements Sandbox {
        final Sandbox.Listener listener;
        final Map<String, CompletableFuture<Integer>> running = new ConcurrentHashMap<>();
        volatile boolean closed;

        PodSandbox(Sandbox.Listener listener) {
            this.listener = listener;
        }

        @Override public long pid() { return 1; }
        @Override public void createContainer(String c, Bundle b, List<Mount> r, Stdio s) { }
        @Override public CompletableFuture<Integer> start(String c, String e) {
            return running.computeIfAbsent(c, k -> new CompletableFuture<>());
        }
        @Override public void exec(String c, String e, byte[] p, Stdio s) { }
        @Override public void signal(String c, String e, int sig, boolean all) {
            running.computeIfAbsent(c, k -> new CompletableFuture<>()).complete(128 + sig);
        }
        @Override public void resizePty(String c, String e, int w, int h) { }
        @Override public void closeStdin(String c, String e) { }
        @Override public void pause(String c) { }
        @Override public void resume(String c) { }
        @Override public Any stats(String c) { return Any.getDefaultInstance(); }
        @Override public void update(String c, Any r) { }
        @Override public List<Integer> pids(String c) { return List.of(); }
        @Override public void removeContainer(String c) { }
        @Override public void removeExec(String c, String e) { }
        /** Host path to a container's mount, as a test gives it. */
        final Map<String, GuestVolumes.Volume> volumes = new ConcurrentHashMap<>();
        @Override public Optional<GuestVolumes.Volume> volume(String h) { return Optional.ofNullable(volumes.get(h)); }
        @Override public VolumeStatsResponse volumeStats(String g) {
            return VolumeStatsResponse.newBuilder().addUsage(VolumeUsage.newBuilder().setTotal(100).setAvailable(60)
                    .setUsed(40).setUnit(VolumeUsage.Unit.BYTES)).build();
        }
        @Override public void close() { closed = true; }
    }

    /** The reply or the error of one call. */
    static final class Reply<T> implements StreamObserver<T> {
        T value;
        Status error;

        @Override public void onNext(T v) { value = v; }
        @Override public void onError(Throwable t) { error = Status.fromThrowable(t); }
        @Override public void onCompleted() { }

        T ok() {
            assertEquals(null, error, () -> "call failed: " + error);
            return value;
        }
    }

    private Path bundle(String id, String sandboxId) throws Exception {
        Path b = Files.createDirectories(dir.resolve(id));
        String annotations = sandboxId == null ? "{}" : "{\"io.kubernetes.cri.container-type\":\"container\","
                + "\"io.kubernetes.cri.sandbox-id\":\"" + sandboxId + "\"}";
        Files.writeString(b.resolve("config.json"), "{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"sh\"]},"
                + "\"annotations\":" + annotations + "}");
        return b;
    }

    private void run(String id, String sandboxId) throws Exception {
        Reply<io.nemu.proto.containerd.task.v2.CreateTaskResponse> c = new Reply<>();
        router.create(CreateTaskRequest.newBuilder().setId(id).setBundle(bundle(id, sandboxId).toString()).build(), c);
        c.ok();
        Reply<io.nemu.proto.containerd.task.v2.StartResponse> s = new Reply<>();
        router.start(StartRequest.newBuilder().setId(id).build(), s);
        s.ok();
    }

    private StateResponse state(String id) {
        Reply<StateResponse> r = new Reply<>();
        router.state(StateRequest.newBuilder().setId(id).build(), r);
        return r.ok();
    }

    private void stopAndDelete(String id) {
        router.kill(KillRequest.newBuilder().setId(id).setSignal(9).build(), new Reply<>());
        Reply<io.nemu.proto.containerd.task.v2.DeleteResponse> d = new Reply<>();
        router.delete(DeleteRequest.newBuilder().setId(id).build(), d);
        d.ok();
    }

    private void shutdown(String id) {
        Reply<com.google.protobuf.Empty> r = new Reply<>();
        router.shutdown(ShutdownRequest.newBuilder().setId(id).build(), r);
        r.ok();
    }

    private Reply<HostVolumeStatsResponse> volumeStats(String path) {
        Reply<HostVolumeStatsResponse> r = new Reply<>();
        new VolumeService(router).stats(HostVolumeStatsRequest.newBuilder().setVolumePath(path).build(), r);
        return r;
    }

    /** direct-volume stats: the pod whose container mounts the host path answers; a dead one says so. */
    @Test
    void volumeStatsComeFromThePodThatMountsTheVolume() throws Exception {
        run("a", null);
        run("b", null);
        run("b-app", "b");
        String guest = "/run/kata-containers/shared/containers/b-app/mounts/0-vol";
        sandboxes.get("b").volumes.put("/srv/vol", new GuestVolumes.Volume("b-app", "/srv/vol", guest));
        HostVolumeStatsResponse r = volumeStats("/srv/vol").ok();
        assertEquals("b", r.getSandboxId());
        assertEquals("b-app", r.getContainerId());
        assertEquals(guest, r.getGuestPath());
        assertEquals(40, r.getStats().getUsage(0).getUsed());

        Reply<HostVolumeStatsResponse> none = volumeStats("/srv/other");
        assertEquals(Status.Code.NOT_FOUND, none.error.getCode());
        assertEquals("no sandbox of this shim daemon holds volume /srv/other", none.error.getDescription());
        assertEquals(Status.Code.INVALID_ARGUMENT, volumeStats("srv/vol").error.getCode());

        sandboxes.get("b").listener.died("QEMU exited");
        Reply<HostVolumeStatsResponse> dead = volumeStats("/srv/vol");
        assertEquals(Status.Code.FAILED_PRECONDITION, dead.error.getCode());
        assertEquals("volume /srv/vol of container b-app: sandbox b died: QEMU exited", dead.error.getDescription());
    }

    @Test
    void onePodsDeathAndShutdownLeaveTheOtherPodsTasksAlone() throws Exception {
        run("a", null);
        run("a-app", "a");
        run("b", null);
        assertEquals(java.util.Set.of("a", "b"), router.pods());

        sandboxes.get("b").listener.died("QEMU exited");
        assertEquals(STOPPED, state("b").getStatus());
        assertEquals(255, state("b").getExitStatus(), "b's task is lost with its VM");
        assertEquals(RUNNING, state("a").getStatus(), "a's pod does not see b's death");
        assertEquals(RUNNING, state("a-app").getStatus());
        assertFalse(sandboxes.get("a").closed);

        stopAndDelete("b");
        shutdown("b");
        assertEquals(java.util.Set.of("a"), router.pods());
        assertEquals(0, emptied.get(), "a is still held: the daemon stays");
        assertEquals(RUNNING, state("a-app").getStatus());

        stopAndDelete("a-app");
        shutdown("a-app");
        assertEquals(java.util.Set.of("a"), router.pods(), "the pod stays while its sandbox task is held");
        stopAndDelete("a");
        shutdown("a");
        assertTrue(router.pods().isEmpty());
        assertTrue(sandboxes.get("a").closed);
        assertEquals(1, emptied.get());
    }

    @Test
    void aTaskNoPodHoldsIsNotFoundAndAContainerOfAnUnknownSandboxIsRefused() throws Exception {
        Reply<StateResponse> r = new Reply<>();
        router.state(StateRequest.newBuilder().setId("nobody").build(), r);
        assertEquals(Status.Code.NOT_FOUND, r.error.getCode());
        Reply<io.nemu.proto.containerd.task.v2.CreateTaskResponse> c = new Reply<>();
        router.create(CreateTaskRequest.newBuilder().setId("c1").setBundle(bundle("c1", "gone").toString()).build(), c);
        assertEquals(Status.Code.FAILED_PRECONDITION, c.error.getCode());
        assertTrue(c.error.getDescription().contains("sandbox gone"), c.error.getDescription());
        shutdown("nobody"); // answered: nothing to shut down
        assertEquals(List.of("nobody"), released, "a reservation for it goes");
        assertEquals(1, emptied.get(), "no pod held: the daemon may go");
        Reply<io.nemu.proto.containerd.task.v2.ConnectResponse> connect = new Reply<>();
        router.connect(io.nemu.proto.containerd.task.v2.ConnectRequest.newBuilder().setId("nobody").build(), connect);
        assertEquals(ProcessHandle.current().pid(), connect.ok().getShimPid());
    }
}
