package io.nemu.e2e.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;

import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.FileTrees;
import io.nemu.e2e.support.Leftovers;
import io.nemu.proto.containerd.task.v2.ConnectRequest;
import io.nemu.proto.containerd.task.v2.ConnectResponse;
import io.nemu.proto.containerd.task.v2.CreateTaskRequest;
import io.nemu.proto.containerd.task.v2.DeleteResponse;
import io.nemu.proto.containerd.task.v2.ShutdownRequest;
import io.nemu.proto.containerd.task.v2.TaskGrpc;
import io.nemu.shim.sandbox.SandboxPaths;
import io.nemu.ttrpc.TtrpcClient;
import io.nemu.vmm.process.ProcessTools;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The distribution's shim binary run the way containerd runs it: {@code start} prints the address of a
 * daemon that answers the task API over ttrpc, {@code delete} cleans up after a killed daemon and prints
 * a DeleteResponse. Every daemon started here is ended by pid and its state removed.
 */
@Tag("system")
class ShimCommandsTest {
    private static final AtomicInteger SEQ = new AtomicInteger();
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final Path RUN = SandboxPaths.defaultRoot().resolve("sandboxes");
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterEach();

    @TempDir
    Path work;
    private final Distribution dist = Distribution.locate();
    private final List<Long> daemons = new ArrayList<>();
    private final List<String> ids = new ArrayList<>();
    private final String address = "/run/nemu-e2e-fake/containerd.sock";

    private String newId() {
        String id = "nemu-e2e-" + ProcessHandle.current().pid() + "-" + SEQ.incrementAndGet();
        ids.add(id);
        return LEFTOVERS.sandbox(id);
    }

    private Map<String, String> env() {
        return Map.of("TTRPC_ADDRESS", work.resolve("nothing.ttrpc").toString(), "NAMESPACE", "e2e");
    }

    private String[] flags(String id, String command) {
        return new String[] {"-namespace", "e2e", "-address", address, "-publish-binary", "/usr/bin/containerd",
                "-id", id, command};
    }

    @AfterEach
    void cleanUp() throws Exception {
        for (long pid : daemons) {
            ProcessHandle.of(pid).ifPresent(h -> {
                h.destroyForcibly();
                h.onExit().join();
            });
        }
        for (String id : ids) {
            Files.deleteIfExists(socketFor(id));
            FileTrees.delete(RUN.resolve(id));
        }
    }

    /** The namespace's one daemon serves every sandbox: its socket is sha256(address/ns/), whatever the id. */
    private Path socketFor(String id) throws Exception {
        byte[] d = MessageDigest.getInstance("SHA-256").digest((address + "/e2e/").getBytes(StandardCharsets.UTF_8));
        return Path.of("/run/containerd/s", HexFormat.of().formatHex(d));
    }

    /** The daemon's pid, as containerd learns it (Connect answers for a task it does not hold yet). */
    private long daemonPid(String id) throws Exception {
        try (TtrpcClient c = TtrpcClient.connect(socketFor(id))) {
            long pid = TaskGrpc.newBlockingStub(c).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .connect(ConnectRequest.newBuilder().setId(id).build()).getShimPid();
            daemons.add(pid);
            return pid;
        }
    }

    /** {@code start} of sandbox {@code id} in the test's bundle, with a configuration given these [hypervisor.qemu] lines. */
    private Distribution.Run start(String id, String qemuExtra) throws Exception {
        Path bundle = Distribution.bundle(work.resolve("bundle"), Map.of());
        Path config = dist.writeConfig(work, qemuExtra, "");
        return dist.shim(bundle, env(), Distribution.runtimeOptions(config), TIMEOUT, flags(id, "start"));
    }

    @Test
    void startPrintsTheAddressOfADaemonThatAnswersConnect() throws Exception {
        String id = newId();
        long t0 = System.nanoTime();
        Distribution.Run start = start(id, "");
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertEquals(0, start.exitCode(), start.stderr());
        assertEquals("", start.stderr(), "containerd 1.6 reads stdout and stderr together: stderr must stay empty");
        assertEquals("unix://" + socketFor(id), start.out());
        System.out.println("shim start: " + ms + " ms to a listening daemon");

        try (TtrpcClient c = TtrpcClient.connect(socketFor(id))) {
            ConnectResponse r = TaskGrpc.newBlockingStub(c).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .connect(ConnectRequest.newBuilder().setId(id).build());
            daemons.add((long) r.getShimPid());
            ProcessHandle daemon = ProcessHandle.of(r.getShimPid()).orElseThrow();
            assertTrue(daemon.isAlive());
            assertEquals("2", r.getVersion());
            assertEquals(socketFor(id).toString(), Files.readString(RUN.resolve(id).resolve("address")),
                    "start reserved the sandbox with the daemon");
            // Same service under the v3 name (containerd 2.x).
            var v3 = io.nemu.proto.containerd.task.v3.TaskGrpc.newBlockingStub(c).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .connect(io.nemu.proto.containerd.task.v3.ConnectRequest.newBuilder().setId(id).build());
            assertEquals(r.getShimPid(), v3.getShimPid());
            System.out.println("daemon pid " + r.getShimPid() + " RSS " + ProcessTools.rssKib(r.getShimPid()) + " KiB");

            // A second start for the same id finds the running daemon.
            Distribution.Run again = start(id, "");
            assertEquals(0, again.exitCode(), again.stderr());
            assertEquals(start.out(), again.out());

            // A container of this sandbox (CRI annotations) gets the same address and starts nothing.
            Path member = Distribution.bundle(work.resolve("member"), Map.of(
                    "io.kubernetes.cri.container-type", "container", "io.kubernetes.cri.sandbox-id", id));
            String memberId = newId();
            Distribution.Run join = dist.shim(member, env(), new byte[0], TIMEOUT, flags(memberId, "start"));
            assertEquals(0, join.exitCode(), join.stderr());
            assertEquals(start.out(), join.out());
            assertFalse(Files.exists(RUN.resolve(memberId)), "a member container must not get a daemon");

            // No task held: Shutdown drops the reservation and ends the daemon, which removes its socket.
            TaskGrpc.newBlockingStub(c).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .shutdown(ShutdownRequest.newBuilder().setId(id).build());
            daemon.onExit().get(10, TimeUnit.SECONDS);
        }
        assertFalse(Files.exists(socketFor(id)), "socket left");
        assertFalse(Files.exists(RUN.resolve(id)), "state left");
    }

    @Test
    void deleteAfterTheDaemonWasKilledCleansUpAndPrintsADeleteResponse() throws Exception {
        String id = newId();
        Distribution.Run start = start(id, "");
        assertEquals(0, start.exitCode(), start.stderr());
        long pid = daemonPid(id);
        ProcessHandle.of(pid).orElseThrow().destroyForcibly();
        ProcessHandle.of(pid).ifPresent(h -> h.onExit().join());
        assertTrue(Files.exists(socketFor(id)), "a killed daemon leaves its socket");

        long before = System.currentTimeMillis() / 1000;
        Distribution.Run delete = dist.shim(work.resolve("bundle"), env(), new byte[0], TIMEOUT, flags(id, "delete"));
        assertEquals(0, delete.exitCode(), delete.stderr());
        DeleteResponse r = DeleteResponse.parseFrom(delete.stdout());
        assertEquals(137, r.getExitStatus());
        assertTrue(r.getExitedAt().getSeconds() >= before, r.toString());
        assertFalse(Files.exists(socketFor(id)), "socket left");
        assertFalse(Files.exists(RUN.resolve(id)), "state left");
    }

    @Test
    void startFailsWithOneLineNamingTheBadKey() throws Exception {
        String id = newId();
        Distribution.Run start = start(id, "default_vcpus = \"lots\"");
        assertEquals(1, start.exitCode());
        assertEquals("", start.out());
        assertEquals(1, start.stderr().strip().lines().count(), start.stderr());
        assertTrue(start.stderr().contains("hypervisor.qemu.default_vcpus must be an integer"), start.stderr());
        assertFalse(Files.exists(socketFor(id)));

        Distribution.Run orphan = dist.shim(Distribution.bundle(work.resolve("orphan"), Map.of(
                "io.kubernetes.cri.container-type", "container", "io.kubernetes.cri.sandbox-id", "no-such-sandbox")),
                env(), new byte[0], TIMEOUT, flags(newId(), "start"));
        assertEquals(1, orphan.exitCode());
        assertTrue(orphan.stderr().contains("sandbox no-such-sandbox"), orphan.stderr());
    }

    @Test
    void startRefusesRuntimeOptionsOfAnotherTypeNamingIt() throws Exception {
        String id = newId();
        Path bundle = Distribution.bundle(work.resolve("bundle"), Map.of());
        byte[] runc = Any.newBuilder().setTypeUrl("containerd.runc.v1.Options").build().toByteArray();
        Distribution.Run start = dist.shim(bundle, env(), runc, TIMEOUT, flags(id, "start"));
        assertEquals(1, start.exitCode(), start.stderr());
        assertEquals("", start.out());
        assertEquals(1, start.stderr().strip().lines().count(), start.stderr());
        assertTrue(start.stderr().contains("runtime options of type containerd.runc.v1.Options are not supported"),
                start.stderr());
        assertFalse(Files.exists(socketFor(id)));
    }

    @Test
    void aWrongTypedSpecFailsCreateNamingTheFieldAndLeavesNothing() throws Exception {
        String id = newId();
        Distribution.Run start = start(id, "");
        assertEquals(0, start.exitCode(), start.stderr());
        Path bad = Files.createDirectories(work.resolve("bad").resolve("rootfs")).getParent();
        Files.writeString(bad.resolve("config.json"), "{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"id\"],"
                + "\"cwd\":\"/\",\"user\":{\"uid\":\"1000\",\"gid\":0}},\"root\":{\"path\":\"rootfs\"}}");
        try (TtrpcClient c = TtrpcClient.connect(socketFor(id))) {
            TaskGrpc.TaskBlockingStub task = TaskGrpc.newBlockingStub(c).withDeadlineAfter(20, TimeUnit.SECONDS);
            ProcessHandle daemon = ProcessHandle.of(task.connect(ConnectRequest.newBuilder().setId(id).build())
                    .getShimPid()).orElseThrow();
            daemons.add(daemon.pid());
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> task.create(
                    CreateTaskRequest.newBuilder().setId(id).setBundle(bad.toString()).build()));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.toString());
            assertEquals("config.json of " + id + ": process.user.uid: expected a number, got string \"1000\"",
                    e.getStatus().getDescription());
            assertFalse(Files.exists(SandboxPaths.of(id).sharedBase()), "nothing was shared");
            assertFalse(Files.exists(SandboxPaths.of(id).vmRun()), "no VM was started");
            task.shutdown(ShutdownRequest.newBuilder().setId(id).build());
            daemon.onExit().get(10, TimeUnit.SECONDS);
        }
        assertFalse(Files.exists(socketFor(id)), "socket left");
        assertFalse(Files.exists(RUN.resolve(id)), "state left");
    }

    @Test
    void versionAndInfo() throws Exception {
        Distribution.Run v = dist.shim(work, Map.of(), new byte[0], TIMEOUT, "-v");
        assertEquals(0, v.exitCode());
        assertTrue(v.out().startsWith("containerd-shim-nemu-v2:\n  Version: "), v.out());
        Distribution.Run info = dist.shim(work, Map.of(), new byte[0], TIMEOUT, "-info");
        assertEquals(0, info.exitCode());
        assertNotEquals(0, info.stdout().length);
        assertTrue(info.out().contains("io.containerd.nemu.v2"));
    }
}
