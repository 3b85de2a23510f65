package io.nemu.e2e.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.e2e.support.Containerd;
import io.nemu.e2e.support.ContainerdEvents;
import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.GuestImages;
import io.nemu.e2e.support.Leftovers;
import io.nemu.e2e.support.Rootfs;
import io.nemu.e2e.support.Sandboxes;
import io.nemu.e2e.support.StateModes;
import io.nemu.firmware.GuestImage;
import io.nemu.shim.sandbox.SandboxPaths;
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
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shim's scenarios through real containerd, {@code ctr}, the daemon, QEMU, virtiofsd, mounts, fifos and
 * events, written once for both places the agent can run: in the guest ({@link ShimAcceptanceTest}, the
 * issue's acceptance) or on the host ({@link ShimHostAgentTest}, a stand-in reached through the shim's test
 * hook NEMU_TEST_AGENT_SOCKET in containerd's environment). A subclass says where the agent is and adds what
 * only its side can check or provoke.
 */
@Tag("system")
abstract class ShimScenarios {
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterEach();

    @TempDir
    Path work;
    final Distribution dist = Distribution.locate();
    GuestImage image;
    Containerd containerd;
    private Path config;
    private int rootfsCount;

    /** Whether the scenarios need the guest agent in the distribution's image. */
    abstract boolean agentInGuest();

    /** How long one ctr call may take (a guest boot under TCG, or only the VM's start). */
    abstract Duration ctrTimeout();

    /** Starts the agent if it runs on the host; returns the lines of [agent.kata] for this side. */
    abstract String startAgent() throws IOException;

    /** What containerd needs for the shims to reach this side's agent (its environment, say). */
    void configure(Containerd.Builder containerd) {
    }

    /** Stops what {@link #startAgent()} started (after containerd, so that its shims could still reach it). */
    void stopAgent() {
    }

    /** This side's sandbox id for a scenario's name (the sides differ, so that leftovers name their side). */
    abstract String id(String name);

    /** The kernel release a container's {@code uname -r} printed must be this side's. */
    abstract void assertKernel(String release) throws IOException;

    /** What this side sees of the agent after {@code id} ran an echo and was removed. */
    void afterEchoRun(String id) {
    }

    /** What this side provokes while the detached task {@code id} runs. */
    void whileDetachedRuns(String id, ContainerdEvents events) {
    }

    @BeforeEach
    void setUp() throws IOException {
        image = GuestImages.assumeOfDistribution(dist, agentInGuest());
        config = dist.writeConfig(work, "", startAgent());
        Containerd.Builder b = Containerd.builder().extraPath(dist.bin()).ctrTimeout(ctrTimeout());
        configure(b);
        containerd = LEFTOVERS.containerd(b.start());
    }

    @AfterEach
    void tearDown() throws IOException {
        try {
            if (containerd != null) {
                containerd.close();
            }
        } finally {
            stopAgent();
        }
    }

    Path rootfs() throws IOException {
        return Rootfs.busybox(work.resolve("rootfs" + rootfsCount++));
    }

    List<String> run(String... tail) {
        return Distribution.runArgs(config, tail);
    }

    Containerd.CtrResult ctr(List<String> args) {
        return containerd.ctr(ctrTimeout(), args);
    }

    /** This side's id for {@code name}, registered with the leftovers check. */
    String sandbox(String name) {
        return LEFTOVERS.sandbox(id(name));
    }

    /** Nothing of the sandbox is left while containerd still runs (its close would clean up for the shim). */
    static void assertNothingLeft(String id) throws IOException {
        Leftovers.ofSandboxes(id).assertNone();
    }

    /**
     * What the shim made on the host for the running sandbox {@code id} is root's alone: folders owner-only,
     * sockets (the shim's, QMP, virtiofsd's, the vsock ones) and the console log 0600.
     */
    static void assertOwnerOnly(String id) throws IOException {
        StateModes.Report r = StateModes.of(id);
        System.out.println("modes of sandbox " + id + ": " + r.checked() + " paths, sockets " + r.sockets());
        assertEquals(List.of(), r.problems());
        List<String> names = r.sockets().stream().map(p -> p.getFileName().toString()).toList();
        assertTrue(names.containsAll(List.of("qmp.sock", "virtiofsd.sock")), names.toString());
        Path shimSocket = Path.of(Files.readString(SandboxPaths.of(id).state().resolve("address")).strip());
        assertTrue(r.sockets().contains(shimSocket), "the shim's " + shimSocket + " in " + r.sockets());
    }

    /** The host's kernel release. */
    static String hostKernel() throws IOException {
        return new String(new ProcessBuilder("uname", "-r").start().getInputStream().readAllBytes()).strip();
    }

    /** A ctr command line of this test's containerd, with containerd's PATH. */
    ProcessBuilder ctrProcess(List<String> cmd) {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("PATH", containerd.searchPath());
        return pb;
    }

    List<String> ctrCommand(List<String> args) {
        List<String> cmd = new ArrayList<>(List.of("ctr", "--address", containerd.grpcAddress()));
        cmd.addAll(args);
        return cmd;
    }

    @Test
    void runEchoExitCodeAndEventsInOrder() throws Exception {
        ContainerdEvents events = containerd.events();
        String id = sandbox("echo");
        long t0 = System.nanoTime();
        Containerd.CtrResult r = ctr(run("--rm", "--rootfs", rootfs().toString(), id, "/bin/sh", "-c",
                "echo hello; uname -r"));
        System.out.println("ctr run --rm echo, uname -r (" + getClass().getSimpleName() + "): "
                + (System.nanoTime() - t0) / 1_000_000 + " ms -> " + r.stdout().strip());
        assertEquals(0, r.exitCode(), r.stderr());
        List<String> out = r.stdout().strip().lines().toList();
        assertEquals("hello", out.get(0), r.stdout());
        assertKernel(out.get(out.size() - 1).strip());
        containerd.logTail(400).lines().filter(l -> l.contains("sandbox=" + id + " ")).forEach(l -> System.out.println("  " + l));
        List<String> order = List.of("/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete");
        for (String t : order) {
            ContainerdEvents.Event e = events.awaitTopic(t, Duration.ofSeconds(20));
            assertTrue(e.json().contains("\"container_id\":\"" + id + "\""), e.line());
        }
        List<String> seen = events.seen().stream().map(ContainerdEvents.Event::topic)
                .filter(t -> t.startsWith("/tasks/")).toList();
        assertEquals(order, seen);
        afterEchoRun(id);
        assertNothingLeft(id);

        String three = sandbox("exit3");
        Containerd.CtrResult r3 = ctr(run("--rm", "--rootfs", rootfs().toString(), three, "/bin/sh", "-c",
                "echo out; echo err >&2; exit 3"));
        assertEquals(3, r3.exitCode(), r3.stderr());
        assertEquals("out", r3.stdout().strip());
        assertTrue(r3.stderr().contains("err"), r3.stderr());
        assertNothingLeft(three);
    }

    @Test
    void stdinReachesTheProcess() throws Exception {
        String id = sandbox("stdin");
        Process p = ctrProcess(ctrCommand(run("--rm", "--rootfs", rootfs().toString(), id, "/bin/cat"))).start();
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
        assertTrue(p.waitFor(ctrTimeout().toSeconds(), TimeUnit.SECONDS), "ctr run -i did not end");
        assertEquals(0, p.exitValue(), out.get());
        assertEquals("data", out.get().strip());
        assertNothingLeft(id);
    }

    @Test
    void detachedTaskExecPauseMetricsKillRemove() throws Exception {
        ContainerdEvents events = containerd.events();
        String id = sandbox("detached");
        ctr(run("-d", "--rootfs", rootfs().toString(), id, "/bin/sleep", "600")).requireOk();
        whileDetachedRuns(id, events);
        assertOwnerOnly(id);
        assertTrue(ctr(List.of("task", "ls")).requireOk().stdout().matches("(?s).*" + id + "\\s+\\d+\\s+RUNNING.*"));
        long qemu = Sandboxes.pid(id, "qemu");
        assertTrue(ctr(List.of("task", "ls")).stdout().matches("(?s).*" + id + "\\s+" + qemu + "\\s+RUNNING.*"),
                "task pid is QEMU's");
        Containerd.CtrResult hi = ctr(List.of("task", "exec", "--exec-id", "e1", id, "/bin/echo", "hi")).requireOk();
        assertEquals("hi", hi.stdout().strip());
        ctr(List.of("task", "pause", id)).requireOk();
        assertTrue(ctr(List.of("task", "ls")).requireOk().stdout().matches("(?s).*" + id + "\\s+\\d+\\s+PAUSED.*"));
        ctr(List.of("task", "resume", id)).requireOk();
        assertTrue(ctr(List.of("task", "ls")).requireOk().stdout().matches("(?s).*" + id + "\\s+\\d+\\s+RUNNING.*"));
        String metrics = ctr(List.of("task", "metrics", id)).requireOk().stdout();
        System.out.println("ctr task metrics:\n" + metrics);
        assertTrue(metrics.matches("(?s).*memory\\.usage_in_bytes\\s+[1-9]\\d*.*"), metrics);
        String ps = ctr(List.of("task", "ps", id)).requireOk().stdout();
        assertTrue(ps.contains(Long.toString(qemu)), ps);
        assertTrue(containerd.killTask(id, ctrTimeout()), "task " + id + " did not stop");
        ctr(List.of("task", "rm", id)).requireOk();
        ctr(List.of("c", "rm", id)).requireOk();
        assertNothingLeft(id);
        // Shutdown returns before the daemon has exited (it flushes events first).
        Leftovers.await(() -> containerd.shimProcesses().isEmpty());
        assertEquals(List.of(), containerd.shimProcesses(), "the daemon exits once it holds no task");
    }

    @Test
    void killedDaemonIsCleanedUpByContainerd() throws Exception {
        ContainerdEvents events = containerd.events();
        String id = sandbox("killed");
        ctr(run("-d", "--rootfs", rootfs().toString(), id, "/bin/sleep", "600")).requireOk();
        ProcessHandle.of(Sandboxes.pid(id, "daemon")).orElseThrow().destroyForcibly();
        // containerd notices the lost connection, runs `containerd-shim-nemu-v2 delete` and publishes the exit.
        ContainerdEvents.Event exit = events.await("exit of " + id, e -> e.topic().equals("/tasks/exit")
                && e.json().contains("\"container_id\":\"" + id + "\""), Duration.ofSeconds(60));
        System.out.println("after kill -9 of the daemon: " + exit.line());
        assertTrue(exit.json().contains("\"exit_status\":137"), exit.line());
        String tasks = ctr(List.of("task", "ls")).stdout();
        assertFalse(tasks.matches("(?s).*" + id + "\\s+\\d+\\s+RUNNING.*"), tasks);
        assertNothingLeft(id);
        ctr(List.of("task", "rm", id));
        ctr(List.of("c", "rm", id)).requireOk();
    }

    @Test
    @Timeout(value = 20, unit = TimeUnit.MINUTES) // five guests boot at once on a shared machine
    void fiveParallelRuns() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(5);
        try {
            List<String> ids = new ArrayList<>();
            List<Future<Containerd.CtrResult>> runs = new ArrayList<>();
            long t0 = System.nanoTime();
            for (int i = 0; i < 5; i++) {
                String id = sandbox("par" + i);
                ids.add(id);
                List<String> args = run("--rm", "--rootfs", rootfs().toString(), id, "/bin/echo", id);
                runs.add(pool.submit(() -> ctr(args)));
            }
            for (int i = 0; i < 5; i++) {
                Containerd.CtrResult r = runs.get(i).get(ctrTimeout().toSeconds() * 2, TimeUnit.SECONDS);
                String id = ids.get(i);
                assertEquals(0, r.exitCode(), r.stderr());
                assertEquals(id, r.stdout().strip(), () -> "shim log of " + id + ":\n" + containerd.logTail(2000).lines()
                        .filter(l -> l.contains("sandbox=" + id + " ")).reduce("", (a, b) -> a + b + "\n"));
            }
            System.out.println("5 parallel ctr run: " + (System.nanoTime() - t0) / 1_000_000 + " ms");
            for (String id : ids) {
                assertNothingLeft(id);
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
