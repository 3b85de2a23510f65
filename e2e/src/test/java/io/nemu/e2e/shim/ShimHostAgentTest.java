package io.nemu.e2e.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.nemu.e2e.support.Containerd;
import io.nemu.e2e.support.ContainerdEvents;
import io.nemu.shim.sandbox.PidFile;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Everything of the shim for real (containerd, ctr, the daemon, QEMU, virtiofsd, mounts, fifos, events)
 * except the agent: a {@link HostAgent} on the host stands in for the guest's, reached through the config
 * key agent_socket, and runs each process chrooted into the rootfs the shim shared.
 */
@Tag("system")
class ShimHostAgentTest {
    private static final String RUNTIME = "io.containerd.nemu.v2";
    private static final Duration RUN = Duration.ofSeconds(120);

    @TempDir
    Path work;
    private final Distribution dist = Distribution.locate();
    private Containerd containerd;
    private HostAgent agent;
    private Path config;
    private int rootfsCount;

    @BeforeEach
    void setUp() throws IOException {
        assumeTrue(dist.guestImage().isPresent(), "no guest image in " + dist.guestDir() + " (nemu image build)");
        Path socket = work.resolve("agent.sock");
        agent = new HostAgent(socket);
        config = dist.writeConfig(work, "", "dial_timeout = 20\nagent_socket = \"" + socket + "\"");
        containerd = Containerd.builder().extraPath(dist.bin()).ctrTimeout(RUN).start();
    }

    @AfterEach
    void tearDown() throws IOException {
        try {
            if (containerd != null) {
                containerd.close();
            }
        } finally {
            if (agent != null) {
                agent.close();
            }
        }
    }

    private Path rootfs() throws IOException {
        return Distribution.busyboxRootfs(work.resolve("rootfs" + rootfsCount++));
    }

    private List<String> run(String... tail) {
        return Distribution.runArgs(config, tail);
    }

    private Containerd.CtrResult ctr(List<String> args) {
        return containerd.ctr(RUN, args);
    }

    private void assertNothingLeft(String id) throws Exception {
        ShimContainerdTest.waitGone(() -> ShimContainerdTest.qemuOf(id).isEmpty()
                && !Files.exists(Path.of("/run/nemu/sandboxes", id)), id);
        assertEquals(List.of(), ShimContainerdTest.qemuOf(id), "QEMU/virtiofsd of " + id);
        assertFalse(Files.exists(Path.of("/run/nemu/sandboxes", id)), "state of " + id);
        assertFalse(Files.exists(Path.of("/run/nemu/shared/sandboxes", id)), "shared folder of " + id);
        assertFalse(Files.readString(Path.of("/proc/self/mountinfo")).contains("/sandboxes/" + id + "/"), "mounts of " + id);
    }

    @Test
    void runEchoExitCodeAndEventsInOrder() throws Exception {
        ContainerdEvents events = containerd.events();
        long t0 = System.nanoTime();
        Containerd.CtrResult r = ctr(run("--rm", "--rootfs", rootfs().toString(), "h1", "/bin/echo", "hello"));
        System.out.println("ctr run --rm echo (VM + host agent): " + (System.nanoTime() - t0) / 1_000_000 + " ms");
        assertEquals(0, r.exitCode(), r.stderr());
        assertEquals("hello", r.stdout().strip());
        containerd.logTail(400).lines().filter(l -> l.contains("sandbox=h1 ")).forEach(l -> System.out.println("  " + l));
        List<String> topics = new ArrayList<>();
        for (String t : List.of("/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete")) {
            ContainerdEvents.Event e = events.awaitTopic(t, Duration.ofSeconds(20));
            assertTrue(e.json().contains("\"container_id\":\"h1\""), e.line());
            topics.add(e.topic());
        }
        List<String> seen = events.seen().stream().map(ContainerdEvents.Event::topic)
                .filter(t -> t.startsWith("/tasks/")).toList();
        assertEquals(List.of("/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"), seen);
        assertTrue(agent.calls.stream().anyMatch(c -> c.startsWith("CreateSandbox h1 virtio-fs:kataShared")), agent.calls::toString);
        assertTrue(agent.calls.contains("DestroySandbox"), agent.calls::toString);
        assertNothingLeft("h1");

        Containerd.CtrResult three = ctr(run("--rm", "--rootfs", rootfs().toString(), "h2", "/bin/sh", "-c", "echo out; echo err >&2; exit 3"));
        assertEquals(3, three.exitCode(), three.stderr());
        assertEquals("out", three.stdout().strip());
        assertTrue(three.stderr().contains("err"), three.stderr());
        assertNothingLeft("h2");
    }

    @Test
    void stdinReachesTheProcess() throws Exception {
        List<String> cmd = new ArrayList<>(List.of("ctr", "--address", containerd.grpcAddress()));
        cmd.addAll(run("--rm", "--rootfs", rootfs().toString(), "h3", "/bin/cat"));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("PATH", containerd.searchPath());
        Process p = pb.start();
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> {
            try {
                return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                return e.toString();
            }
        });
        try (OutputStream in = p.getOutputStream()) {
            in.write("data\n".getBytes(StandardCharsets.UTF_8));
        }
        assertTrue(p.waitFor(RUN.toSeconds(), TimeUnit.SECONDS), "ctr run -i did not end");
        assertEquals(0, p.exitValue(), out.get());
        assertEquals("data", out.get().strip());
        assertNothingLeft("h3");
    }

    @Test
    void detachedTaskExecPauseMetricsKillRemove() throws Exception {
        ContainerdEvents events = containerd.events();
        ctr(run("-d", "--rootfs", rootfs().toString(), "h4", "/bin/sleep", "600")).requireOk();
        agent.oom("h4");
        ContainerdEvents.Event oom = events.awaitTopic("/tasks/oom", Duration.ofSeconds(20));
        assertTrue(oom.json().contains("\"container_id\":\"h4\""), oom.line());
        assertTrue(ctr(List.of("task", "ls")).requireOk().stdout().matches("(?s).*h4\\s+\\d+\\s+RUNNING.*"));
        long qemu = PidFile.read(Path.of("/run/nemu/sandboxes/h4/qemu.pid")).orElseThrow().pid();
        assertTrue(ctr(List.of("task", "ls")).stdout().matches("(?s).*h4\\s+" + qemu + "\\s+RUNNING.*"), "task pid is QEMU's");
        Containerd.CtrResult hi = ctr(List.of("task", "exec", "--exec-id", "e1", "h4", "/bin/echo", "hi")).requireOk();
        assertEquals("hi", hi.stdout().strip());
        ctr(List.of("task", "pause", "h4")).requireOk();
        assertTrue(ctr(List.of("task", "ls")).requireOk().stdout().matches("(?s).*h4\\s+\\d+\\s+PAUSED.*"));
        ctr(List.of("task", "resume", "h4")).requireOk();
        assertTrue(ctr(List.of("task", "ls")).requireOk().stdout().matches("(?s).*h4\\s+\\d+\\s+RUNNING.*"));
        String metrics = ctr(List.of("task", "metrics", "h4")).requireOk().stdout();
        System.out.println("ctr task metrics:\n" + metrics);
        assertTrue(metrics.matches("(?s).*memory\\.usage_in_bytes\\s+[1-9]\\d*.*"), metrics);
        String ps = ctr(List.of("task", "ps", "h4")).requireOk().stdout();
        assertTrue(ps.contains(Long.toString(qemu)), ps);
        ctr(List.of("task", "kill", "-s", "SIGKILL", "h4")).requireOk();
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!ctr(List.of("task", "ls")).stdout().matches("(?s).*h4\\s+\\d+\\s+STOPPED.*") && System.nanoTime() < deadline) {
            Thread.sleep(200);
        }
        assertTrue(ctr(List.of("task", "ls")).stdout().matches("(?s).*h4\\s+\\d+\\s+STOPPED.*"));
        ctr(List.of("task", "rm", "h4")).requireOk();
        ctr(List.of("c", "rm", "h4")).requireOk();
        assertNothingLeft("h4");
        // Shutdown returns before the daemon has exited (it flushes events first).
        ShimContainerdTest.waitGone(() -> containerd.shimProcesses().isEmpty(), "daemon");
        assertEquals(List.of(), containerd.shimProcesses(), "the daemon exits once it holds no task");
    }

    @Test
    void aContainerJoinsItsPodsSandbox() throws Exception {
        ctr(run("-d", "--annotation", "io.kubernetes.cri.container-type=sandbox", "--rootfs", rootfs().toString(),
                "pod1", "/bin/sleep", "600")).requireOk();
        List<ProcessHandle> daemons = containerd.shimProcesses();
        assertEquals(1, daemons.size(), daemons::toString);
        List<Long> vmProcesses = ShimContainerdTest.qemuOf("pod1");
        Containerd.CtrResult joined = ctr(run("--rm", "--annotation", "io.kubernetes.cri.container-type=container",
                "--annotation", "io.kubernetes.cri.sandbox-id=pod1", "--rootfs", rootfs().toString(), "c1",
                "/bin/echo", "joined"));
        assertEquals(0, joined.exitCode(), joined.stderr());
        assertEquals("joined", joined.stdout().strip());
        assertEquals(daemons.stream().map(ProcessHandle::pid).toList(),
                containerd.shimProcesses().stream().map(ProcessHandle::pid).toList(), "one daemon per pod");
        assertEquals(vmProcesses, ShimContainerdTest.qemuOf("pod1"), "the container ran in the pod's VM");
        assertTrue(agent.calls.contains("CreateContainer c1 /bin/echo joined"), agent.calls::toString);
        assertTrue(agent.calls.contains("RemoveContainer c1"), agent.calls::toString);
        assertFalse(Files.exists(Path.of("/run/nemu/shared/sandboxes/pod1/shared/c1")), "c1's rootfs left in the pod");
        ctr(List.of("task", "kill", "-s", "SIGKILL", "pod1")).requireOk();
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!ctr(List.of("task", "ls")).stdout().matches("(?s).*pod1\\s+\\d+\\s+STOPPED.*") && System.nanoTime() < deadline) {
            Thread.sleep(200);
        }
        ctr(List.of("task", "rm", "pod1")).requireOk();
        ctr(List.of("c", "rm", "pod1")).requireOk();
        assertNothingLeft("pod1");
    }

    @Test
    void killedDaemonIsCleanedUpByContainerd() throws Exception {
        ContainerdEvents events = containerd.events();
        ctr(run("-d", "--rootfs", rootfs().toString(), "h5", "/bin/sleep", "600")).requireOk();
        long pid = PidFile.read(Path.of("/run/nemu/sandboxes/h5/shim.pid")).orElseThrow().pid();
        ProcessHandle.of(pid).orElseThrow().destroyForcibly();
        // containerd notices the lost connection, runs `containerd-shim-nemu-v2 delete` and publishes the exit.
        ContainerdEvents.Event exit = events.await("exit of h5", e -> e.topic().equals("/tasks/exit")
                && e.json().contains("\"container_id\":\"h5\""), Duration.ofSeconds(60));
        System.out.println("after kill -9 of the daemon: " + exit.line());
        assertTrue(exit.json().contains("\"exit_status\":137"), exit.line());
        String tasks = ctr(List.of("task", "ls")).stdout();
        assertFalse(tasks.matches("(?s).*h5\\s+\\d+\\s+RUNNING.*"), tasks);
        assertNothingLeft("h5");
        ctr(List.of("task", "rm", "h5"));
        ctr(List.of("c", "rm", "h5")).requireOk();
    }

    @Test
    void fiveParallelRuns() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(5);
        try {
            List<Future<Containerd.CtrResult>> runs = new ArrayList<>();
            long t0 = System.nanoTime();
            for (int i = 0; i < 5; i++) {
                List<String> args = run("--rm", "--rootfs", rootfs().toString(), "hp" + i, "/bin/echo", "hp" + i);
                runs.add(pool.submit(() -> ctr(args)));
            }
            for (int i = 0; i < 5; i++) {
                Containerd.CtrResult r = runs.get(i).get(RUN.toSeconds() * 2, TimeUnit.SECONDS);
                String id = "hp" + i;
                assertEquals(0, r.exitCode(), r.stderr());
                assertEquals(id, r.stdout().strip(), () -> "shim log of " + id + ":\n" + containerd.logTail(2000).lines()
                        .filter(l -> l.contains("sandbox=" + id + " ")).reduce("", (a, b) -> a + b + "\n"));
            }
            System.out.println("5 parallel ctr run: " + (System.nanoTime() - t0) / 1_000_000 + " ms");
            for (int i = 0; i < 5; i++) {
                assertNothingLeft("hp" + i);
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
