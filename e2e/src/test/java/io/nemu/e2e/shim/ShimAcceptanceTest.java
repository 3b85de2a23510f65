package io.nemu.e2e.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.nemu.e2e.support.Containerd;
import java.io.ByteArrayOutputStream;
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
 * The acceptance: {@code ctr} with runtime io.containerd.nemu.v2 runs containers inside sandbox VMs.
 * Needs a guest image with the guest agent (skipped, saying so, until the image carries one).
 */
@Tag("system")
class ShimAcceptanceTest {
    private static final String RUNTIME = "io.containerd.nemu.v2";
    private static final Duration RUN = Duration.ofSeconds(300);

    @TempDir
    Path work;
    private final Distribution dist = Distribution.locate();
    private Containerd containerd;
    private Path config;
    private int rootfsCount;

    @BeforeEach
    void setUp() throws IOException {
        assumeTrue(dist.guestImage().isPresent(), "no guest image in " + dist.guestDir() + " (nemu image build)");
        assumeTrue(dist.guestHasAgent(), "the guest image has no guest agent yet: acceptance needs it");
        config = dist.writeConfig(work, "", "dial_timeout = 180");
        containerd = Containerd.builder().extraPath(dist.bin()).ctrTimeout(RUN).start();
    }

    @AfterEach
    void tearDown() throws IOException {
        if (containerd != null) {
            containerd.close();
        }
    }

    private Path rootfs() throws IOException {
        return Distribution.busyboxRootfs(work.resolve("rootfs" + rootfsCount++));
    }

    private List<String> run(String... tail) throws IOException {
        return Distribution.runArgs(config, tail);
    }

    private Containerd.CtrResult ctr(List<String> args) {
        return containerd.ctr(RUN, args);
    }

    /** ctr with our own stdin (the harness gives /dev/null). */
    private String ctrWithInput(String input, List<String> args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("ctr", "--address", containerd.grpcAddress()));
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("PATH", containerd.searchPath());
        Process p = pb.start();
        CompletableFuture<byte[]> out = CompletableFuture.supplyAsync(() -> {
            try {
                return p.getInputStream().readAllBytes();
            } catch (IOException e) {
                return new byte[0];
            }
        });
        try (OutputStream in = p.getOutputStream()) {
            in.write(input.getBytes(StandardCharsets.UTF_8));
        }
        assertTrue(p.waitFor(RUN.toSeconds(), TimeUnit.SECONDS), "ctr did not finish");
        String text = new String(out.get(), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), text);
        return text;
    }

    @Test
    void runsInsideTheGuestKernel() throws Exception {
        String host = new String(new ProcessBuilder("uname", "-r").start().getInputStream().readAllBytes()).strip();
        long t0 = System.nanoTime();
        Containerd.CtrResult r = ctr(run("--rm", "--rootfs", rootfs().toString(), "t1", "/bin/uname", "-r")).requireOk();
        System.out.println("ctr run uname -r: " + (System.nanoTime() - t0) / 1_000_000 + " ms -> " + r.stdout().strip());
        assertEquals(dist.guestImage().orElseThrow().kernelRelease(), r.stdout().strip());
        assertNotEquals(host, r.stdout().strip());
    }

    @Test
    void exitCodesAndStdin() throws Exception {
        Containerd.CtrResult r = ctr(run("--rm", "--rootfs", rootfs().toString(), "t2", "/bin/sh", "-c", "exit 3"));
        assertEquals(3, r.exitCode(), r.stderr());
        String echoed = ctrWithInput("data\n", run("--rm", "--rootfs", rootfs().toString(), "t3", "/bin/cat"));
        assertEquals("data", echoed.strip());
    }

    @Test
    void terminalRunThroughAPty() throws Exception {
        // script(1) gives ctr a pty of 30x100; the guest's stty sees the size ctr forwarded.
        List<String> inner = new ArrayList<>(List.of("ctr", "--address", containerd.grpcAddress()));
        inner.addAll(run("--rm", "-t", "--rootfs", rootfs().toString(), "t4", "/bin/sh"));
        String cmd = "stty rows 30 cols 100; " + String.join(" ", inner);
        String out = ctrWithInputRaw(List.of("script", "-qfec", cmd, "/dev/null"), "stty size\nexit 0\n");
        assertTrue(out.contains("30 100"), out);
    }

    private String ctrWithInputRaw(List<String> cmd, String input) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("PATH", containerd.searchPath());
        Process p = pb.start();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        CompletableFuture<Void> reader = CompletableFuture.runAsync(() -> {
            try {
                p.getInputStream().transferTo(out);
            } catch (IOException ignored) {
                // ends with the process
            }
        });
        Thread.sleep(15_000); // the VM boots before the shell reads
        try (OutputStream in = p.getOutputStream()) {
            in.write(input.getBytes(StandardCharsets.UTF_8));
            in.flush();
            Thread.sleep(RUN.toMillis() / 6);
        }
        if (!p.waitFor(RUN.toSeconds(), TimeUnit.SECONDS)) {
            p.destroyForcibly();
        }
        reader.get(5, TimeUnit.SECONDS);
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void detachedTaskExecPauseMetricsKill() throws Exception {
        ctr(run("-d", "--rootfs", rootfs().toString(), "t5", "/bin/sleep", "600")).requireOk();
        assertTrue(ctr(List.of("task", "ls")).requireOk().stdout().matches("(?s).*t5\\s+\\d+\\s+RUNNING.*"));
        Containerd.CtrResult hi = ctr(List.of("task", "exec", "--exec-id", "e1", "t5", "/bin/echo", "hi")).requireOk();
        assertEquals("hi", hi.stdout().strip());
        ctr(List.of("task", "pause", "t5")).requireOk();
        assertTrue(ctr(List.of("task", "ls")).requireOk().stdout().matches("(?s).*t5\\s+\\d+\\s+PAUSED.*"));
        ctr(List.of("task", "resume", "t5")).requireOk();
        assertTrue(ctr(List.of("task", "ls")).requireOk().stdout().matches("(?s).*t5\\s+\\d+\\s+RUNNING.*"));
        String metrics = ctr(List.of("task", "metrics", "t5")).requireOk().stdout();
        assertTrue(metrics.matches("(?s).*memory\\.usage_in_bytes\\s+[1-9]\\d*.*"), metrics);
        ctr(List.of("task", "kill", "-s", "SIGKILL", "t5")).requireOk();
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!ctr(List.of("task", "ls")).stdout().matches("(?s).*t5\\s+\\d+\\s+STOPPED.*") && System.nanoTime() < deadline) {
            Thread.sleep(200);
        }
        ctr(List.of("task", "rm", "t5")).requireOk();
        ctr(List.of("c", "rm", "t5")).requireOk();
        assertEquals(List.of(), ShimContainerdTest.qemuOf("t5"));
    }

    @Test
    void killedDaemonIsCleanedUpByContainerd() throws Exception {
        io.nemu.e2e.support.ContainerdEvents events = containerd.events();
        ctr(run("-d", "--rootfs", rootfs().toString(), "t6", "/bin/sleep", "600")).requireOk();
        long pid = Long.parseLong(Files.readString(Path.of("/run/nemu/sandboxes/t6/shim.pid")).strip());
        ProcessHandle.of(pid).orElseThrow().destroyForcibly();
        // containerd 1.6 runs `delete`, publishes the exit and drops the task.
        events.await("exit of t6", e -> e.topic().equals("/tasks/exit") && e.json().contains("\"container_id\":\"t6\""),
                Duration.ofSeconds(60));
        ShimContainerdTest.waitGone(() -> ShimContainerdTest.qemuOf("t6").isEmpty(), "QEMU of t6");
        assertFalse(ctr(List.of("task", "ls")).stdout().matches("(?s).*t6\\s+\\d+\\s+RUNNING.*"));
        assertEquals(List.of(), ShimContainerdTest.qemuOf("t6"));
        assertFalse(Files.exists(Path.of("/run/nemu/sandboxes/t6")));
        assertFalse(Files.exists(Path.of("/run/nemu/shared/sandboxes/t6")));
        assertFalse(Files.readString(Path.of("/proc/self/mountinfo")).contains("/run/nemu/shared/sandboxes/t6/"));
    }

    @Test
    void fiveParallelRuns() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(5);
        try {
            List<Future<Containerd.CtrResult>> runs = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                List<String> args = run("--rm", "--rootfs", rootfs().toString(), "p" + i, "/bin/echo", "p" + i);
                runs.add(pool.submit(() -> ctr(args)));
            }
            for (int i = 0; i < 5; i++) {
                Containerd.CtrResult r = runs.get(i).get(RUN.toSeconds() * 2, TimeUnit.SECONDS);
                assertEquals(0, r.exitCode(), r.stderr());
                assertEquals("p" + i, r.stdout().strip());
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
