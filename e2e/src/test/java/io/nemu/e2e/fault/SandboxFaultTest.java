package io.nemu.e2e.fault;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nemu.e2e.support.Containerd;
import io.nemu.e2e.support.ContainerdEvents;
import io.nemu.e2e.support.CriClient;
import io.nemu.e2e.support.CriEnv;
import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.Leftovers;
import io.nemu.e2e.support.Rootfs;
import io.nemu.e2e.support.Sandboxes;
import io.nemu.proto.containerd.task.v2.CreateTaskRequest;
import io.nemu.proto.containerd.task.v2.DeleteRequest;
import io.nemu.proto.containerd.task.v2.StatsRequest;
import io.nemu.proto.containerd.task.v2.TaskGrpc;
import io.nemu.proto.containerd.task.v2.WaitRequest;
import io.nemu.proto.cri.ContainerConfig;
import io.nemu.proto.cri.ContainerState;
import io.nemu.proto.cri.LinuxContainerConfig;
import io.nemu.proto.cri.LinuxContainerSecurityContext;
import io.nemu.proto.cri.NamespaceMode;
import io.nemu.proto.cri.NamespaceOption;
import io.nemu.proto.cri.PodSandboxConfig;
import io.grpc.StatusRuntimeException;
import io.nemu.shim.oci.Bundle;
import io.nemu.ttrpc.TtrpcClient;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Components of a running sandbox die (issue 14): QEMU killed, virtiofsd killed, the guest kernel panics, the
 * agent stops answering. Each test boots its own pod through CRI (the fault destroys it) and ends the same
 * way: every task gets a TaskExit with status 255, containerd's CRI sees the containers exited (its Wait
 * returned), stopping and removing the pod succeed, and nothing of the sandbox is left. Each prints how long
 * the shim took to notice (its "sandbox ID died" log line) and to publish the exits.
 */
@Tag("system")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class SandboxFaultTest {
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterAll();
    private static final int LOST = 255;
    private static final Duration NOTICE = Duration.ofSeconds(90);

    Path work;
    CriEnv env;
    CriClient cri;

    @BeforeAll
    void start() throws IOException {
        assumeTrue(CriEnv.guestImageBuilt(), "no guest image built (scripts/nemu image build)");
        work = LEFTOVERS.dir(Files.createTempDirectory("nemu-fault-"));
        env = CriEnv.start(work, "nemu-fault0", "10.217.76.0/24");
        cri = env.cri;
    }

    @AfterAll
    void stop() throws IOException {
        CriEnv.closeAndDelete(env, work);
    }

    /** A running pod: its id, its CRI config (null under ctr), its started containers, tasks created but not started. */
    private record Pod(String id, PodSandboxConfig config, List<String> started, List<String> created) {
        List<String> tasks() {
            List<String> all = new ArrayList<>(List.of(id));
            all.addAll(started);
            all.addAll(created);
            return all;
        }
    }

    private Pod pod(String name, UnaryOperator<PodSandboxConfig.Builder> podEdit, List<ContainerConfig> containers)
            throws IOException {
        PodSandboxConfig config = podEdit.apply(env.podConfig(name).toBuilder()).build();
        String podId = LEFTOVERS.sandbox(cri.runPodSandbox(config, CriEnv.NEMU));
        List<String> started = new ArrayList<>();
        for (ContainerConfig c : containers) {
            String cid = cri.createContainer(podId, c, config);
            cri.startContainer(cid);
            started.add(cid);
        }
        return new Pod(podId, config, started, List.of());
    }

    /** The shim daemon of the pod's namespace, over its task socket as containerd reaches it. */
    private TtrpcClient shim(String namespace, Pod pod) throws IOException {
        return TtrpcClient.connect(io.nemu.shim.cli.ShimSocket.daemonPath(env.containerd.grpcAddress(), namespace));
    }

    /**
     * A pod of two started ctr containers (the sandbox's and one joining it) and a task created in its shim but
     * never started: ctr has no create-only command and CRI starts a task as soon as it creates it, so the
     * test speaks the task API for it as containerd would (a copy of the joined container's spec on a busybox
     * rootfs of its own). ctr keeps exited tasks until they are deleted, so every delete is the test's.
     */
    private Pod ctrPod(String name) throws IOException {
        String id = LEFTOVERS.sandbox("fault-" + name + "-" + ProcessHandle.current().pid());
        String joined = id + "-c1";
        ctr(Distribution.runArgs(env.configPath, "-d", "--annotation", "io.kubernetes.cri.container-type=sandbox",
                "--rootfs", Rootfs.busybox(work.resolve(id)).toString(), id, "/bin/sleep", "100000"));
        ctr(Distribution.runArgs(env.configPath, "-d", "--annotation", "io.kubernetes.cri.container-type=container",
                "--annotation", "io.kubernetes.cri.sandbox-id=" + id, "--rootfs",
                Rootfs.busybox(work.resolve(joined)).toString(), joined, "/bin/sleep", "100000"));
        String created = id + "-created";
        Path source = env.containerd.state().resolve("io.containerd.runtime.v2.task/default").resolve(joined)
                .resolve("config.json");
        ObjectNode spec = (ObjectNode) Bundle.json().readTree(source.toFile());
        Path bundle = Files.createDirectories(work.resolve(created));
        Rootfs.busybox(bundle.resolve("rootfs"));
        ((ObjectNode) spec.get("root")).put("path", "rootfs");
        ((ObjectNode) spec.get("linux")).put("cgroupsPath", "/default/" + created);
        Bundle.json().writeValue(bundle.resolve("config.json").toFile(), spec);
        Pod pod = new Pod(id, null, List.of(joined), List.of(created));
        try (TtrpcClient shim = shim("default", pod)) {
            TaskGrpc.newBlockingStub(shim).withDeadlineAfter(120, TimeUnit.SECONDS)
                    .create(CreateTaskRequest.newBuilder().setId(created).setBundle(bundle.toString()).build());
        }
        return pod;
    }

    private void ctr(List<String> args) {
        env.containerd.ctr(Duration.ofSeconds(300), args).requireOk();
    }

    private static ContainerConfig sleeper(String name) {
        return CriEnv.container(name, "exec sleep 100000").build();
    }

    /**
     * After the fault at {@code faultNanos}: the shim's log line, a 255 TaskExit per task, the CRI view, then
     * stop and remove succeed and nothing is left. Returns the shim's log from the death line on.
     */
    private String assertTornDown(String fault, Pod pod, ContainerdEvents events, long faultNanos) throws Exception {
        return assertTornDown(fault, pod, events, faultNanos, () -> {
            for (String cid : pod.started()) {
                awaitExited(cid);
            }
            cri.stopPodSandbox(pod.id());
            cri.removePodSandbox(pod.id());
        });
    }

    /** What checks the exits through containerd and removes the pod once every TaskExit was seen. */
    private interface Removal {
        void run() throws Exception;
    }

    /** ... with {@code removal} of the pod after the exits: CRI's by default. */
    private String assertTornDown(String fault, Pod pod, ContainerdEvents events, long faultNanos, Removal removal)
            throws Exception {
        try {
            return tornDown(fault, pod, events, faultNanos, removal);
        } catch (Exception | AssertionError e) {
            throw new AssertionError(fault + ": " + e.getMessage() + "\nthe shim's log:\n" + String.join("\n",
                    env.containerd.logTail(3000).lines().filter(l -> l.contains(pod.id())).toList()), e);
        }
    }

    private String tornDown(String fault, Pod pod, ContainerdEvents events, long faultNanos, Removal removal)
            throws Exception {
        String died = "sandbox " + pod.id() + " died: ";
        long noticed = -1;
        long deadline = System.nanoTime() + NOTICE.toNanos();
        String log = "";
        while (System.nanoTime() < deadline) {
            log = env.containerd.logTail(600);
            if (log.contains(died)) {
                noticed = System.nanoTime();
                break;
            }
            CriEnv.sleep(100);
        }
        assertTrue(noticed > 0, "the shim never said '" + died + "'; containerd log:\n" + env.containerd.logTail(80));
        List<String> remaining = new ArrayList<>(pod.tasks());
        while (!remaining.isEmpty()) {
            ContainerdEvents.Event exit = events.await("TaskExit of " + remaining, e -> e.topic().equals("/tasks/exit")
                    && remaining.stream().anyMatch(id -> e.json().contains("\"container_id\":\"" + id + "\"")),
                    NOTICE);
            assertTrue(exit.json().contains("\"exit_status\":" + LOST), exit.line());
            remaining.removeIf(id -> exit.json().contains("\"container_id\":\"" + id + "\""));
        }
        long exited = System.nanoTime();
        removal.run();
        long removed = System.nanoTime();
        Leftovers.ofSandboxes(pod.id()).assertNone();
        System.out.printf("%s: noticed after %d ms (log poll), every TaskExit after %d ms, pod stopped and removed"
                + " after %d ms%n", fault, ms(noticed - faultNanos), ms(exited - faultNanos), ms(removed - faultNanos));
        // Read again: the lines after the death line (teardown) may not have been written at the first read.
        String after = env.containerd.logTail(3000);
        String shimLog = after.contains(died) ? after.substring(after.indexOf(died)) : log.substring(log.indexOf(died));
        System.out.println(fault + ": " + shimLog.lines().findFirst().orElse(""));
        return shimLog;
    }

    /** containerd's CRI saw the container exit with 255 (its Wait on the task returned). */
    private void awaitExited(String cid) {
        long deadline = System.nanoTime() + NOTICE.toNanos();
        var st = cri.containerStatus(cid);
        while (st.getState() != ContainerState.CONTAINER_EXITED && System.nanoTime() < deadline) {
            CriEnv.sleep(200);
            st = cri.containerStatus(cid);
        }
        assertEquals(ContainerState.CONTAINER_EXITED, st.getState(), cid + ": " + st);
        assertEquals(LOST, st.getExitCode(), cid + ": " + st);
    }

    private static long ms(long nanos) {
        return nanos / 1_000_000;
    }

    private static void kill9(long pid) {
        ProcessHandle.of(pid).orElseThrow(() -> new AssertionError("no process " + pid)).destroyForcibly();
    }

    @Test
    void qemuKilledStopsStartedAndCreatedContainers() throws Exception {
        Pod pod = ctrPod("qemu");
        try (ContainerdEvents events = env.containerd.events(); TtrpcClient shim = shim("default", pod)) {
            TaskGrpc.TaskBlockingStub task = TaskGrpc.newBlockingStub(shim).withDeadlineAfter(300, TimeUnit.SECONDS);
            List<CompletableFuture<Integer>> waits = pod.tasks().stream().map(id -> CompletableFuture.supplyAsync(
                    () -> task.wait(WaitRequest.newBuilder().setId(id).build()).getExitStatus())).toList();
            long t0 = System.nanoTime();
            kill9(Sandboxes.pid(pod.id(), "qemu"));
            String log = assertTornDown("QEMU killed", pod, events, t0, () -> {
                for (CompletableFuture<Integer> w : waits) {
                    assertEquals(LOST, w.get(30, TimeUnit.SECONDS), "Wait returns the exit");
                }
                String tasks = env.containerd.ctr("task", "ls").requireOk().stdout();
                assertTrue(tasks.lines().filter(l -> l.startsWith(pod.id())).allMatch(l -> l.contains("STOPPED")), tasks);
                StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> task.stats(
                        StatsRequest.newBuilder().setId(pod.id()).build()));
                assertTrue(refused.getStatus().getDescription().contains("died"), refused.toString());
                assertEquals(LOST, task.delete(DeleteRequest.newBuilder().setId(pod.created().get(0)).build())
                        .getExitStatus());
                for (String id : List.of(pod.started().get(0), pod.id())) {
                    ctr(List.of("task", "rm", id));
                    ctr(List.of("c", "rm", id));
                }
            });
            assertTrue(log.lines().findFirst().orElse("").contains("QEMU (pid"), log);
        }
    }

    @Test
    void virtiofsdKilledTearsTheSandboxDown() throws Exception {
        Pod pod = pod("virtiofsd-killed", b -> b, List.of(sleeper("running")));
        try (ContainerdEvents events = env.containerd.events()) {
            long virtiofsd = Sandboxes.pid(pod.id(), "virtiofsd");
            long t0 = System.nanoTime();
            kill9(virtiofsd);
            String log = assertTornDown("virtiofsd killed", pod, events, t0);
            assertTrue(log.lines().findFirst().orElse("").contains("virtiofsd (pid " + virtiofsd + ") exited"), log);
        }
    }

    @Test
    void guestKernelPanicIsLoggedWithTheConsoleAndTearsDown() throws Exception {
        ContainerConfig privileged = CriEnv.container("panicker", "exec sleep 100000")
                .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(
                        LinuxContainerSecurityContext.newBuilder().setPrivileged(true))).build();
        Pod pod = pod("panic", b -> {
            b.getLinuxBuilder().getSecurityContextBuilder().setPrivileged(true);
            return b;
        }, List.of(privileged));
        try (ContainerdEvents events = env.containerd.events()) {
            long t0 = System.nanoTime();
            // The exec never answers: the guest dies under it.
            CompletableFuture<?> crash = CompletableFuture.runAsync(() -> {
                try {
                    cri.execSync(pod.started().get(0), Duration.ofSeconds(60), "/bin/sh", "-c",
                            "echo c > /proc/sysrq-trigger");
                } catch (RuntimeException expected) {
                    // the exec is lost with its VM
                }
            });
            String log = assertTornDown("guest kernel panic", pod, events, t0);
            int stopping = log.indexOf("stopping VM of sandbox");
            String said = stopping < 0 ? log : log.substring(0, stopping);
            System.out.println("guest kernel panic, the shim's log:\n" + said);
            assertTrue(said.lines().findFirst().orElse("").contains("the guest kernel panicked"), said);
            assertTrue(said.contains("sysrq triggered crash"), "the console's panic lines are in the shim's log:\n" + said);
            crash.get(2, TimeUnit.MINUTES);
        }
    }

    @Test
    void anAgentThatStopsAnsweringIsNoticedByTheHealthCheck() throws Exception {
        // A container in the guest's own pid namespace (the pod's and its own NODE: the spec has no pid
        // namespace, so crun leaves it in the guest's) sees the agent's java and stops it.
        env.setConfig("health_check_interval", "1");
        env.setConfig("health_check_timeout", "10");
        Pod pod;
        try {
            NamespaceOption nodePid = NamespaceOption.newBuilder().setNetwork(NamespaceMode.POD)
                    .setPid(NamespaceMode.NODE).setIpc(NamespaceMode.POD).build();
            ContainerConfig stopper = CriEnv.container("stopper",
                    "sleep 3; for p in $(pidof java); do kill -STOP $p && echo stopped java $p; done; exec sleep 100000")
                    .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(
                            LinuxContainerSecurityContext.newBuilder().setNamespaceOptions(nodePid))).build();
            pod = pod("agent-stopped", b -> {
                b.getLinuxBuilder().getSecurityContextBuilder().setNamespaceOptions(nodePid);
                return b;
            }, List.of(stopper));
        } finally {
            env.setConfig("health_check_interval", "10");
            env.setConfig("health_check_timeout", "30");
        }
        try (ContainerdEvents events = env.containerd.events()) {
            // The fault is the container's kill, 3 s after its start returned.
            long t0 = System.nanoTime() + Duration.ofSeconds(3).toNanos();
            String log = assertTornDown("agent SIGSTOPped", pod, events, t0);
            assertTrue(log.lines().findFirst().orElse("").contains("health_check_timeout"), log);
        }
    }
}
