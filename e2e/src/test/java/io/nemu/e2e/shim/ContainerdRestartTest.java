package io.nemu.e2e.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.e2e.support.Containerd;
import io.nemu.e2e.support.ContainerdEvents;
import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.GuestImages;
import io.nemu.e2e.support.Leftovers;
import io.nemu.e2e.support.Rootfs;
import io.nemu.e2e.support.Sandboxes;
import io.nemu.proto.containerd.task.v2.StateRequest;
import io.nemu.proto.containerd.task.v2.StateResponse;
import io.nemu.proto.containerd.task.v2.TaskGrpc;
import io.nemu.proto.containerd.types.task.Status;
import io.nemu.ttrpc.TtrpcClient;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * containerd restarted under two running pods (a node's containerd upgraded or crashed): the pods' VMs go on
 * untouched, the new containerd reconnects to their shims, an exit that happened while containerd was down is
 * in the shim's state and its event reaches the new containerd, and an exit after the restart reaches
 * {@code ctr task ls} and {@code ctr events}. Each container exits when the test creates a file in its rootfs
 * (shared with the guest over virtio-fs), so the test decides when, without containerd's help.
 */
@Tag("system")
class ContainerdRestartTest {
    private static final Duration CTR = Duration.ofSeconds(300);
    /** The container's command: wait for the file /stop (the test creates it on the host), exit with the given status. */
    private static final String WAIT_FOR_STOP = "while [ ! -e /stop ]; do sleep 0.2; done; exit ";
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterEach();

    @TempDir
    Path work;
    private final Distribution dist = Distribution.locate();

    @Test
    void podsKeepRunningAndExitsBeforeAndAfterTheRestartReachContainerd() throws Exception {
        GuestImages.assumeOfDistribution(dist, true);
        Path config = dist.writeConfig(work, "", "dial_timeout = 180");
        long self = ProcessHandle.current().pid();
        String during = LEFTOVERS.sandbox("rst-during-" + self);
        String after = LEFTOVERS.sandbox("rst-after-" + self);
        Path duringRoot = Rootfs.busybox(work.resolve("rootfs-during"));
        Path afterRoot = Rootfs.busybox(work.resolve("rootfs-after"));
        // debug: containerd logs each event a shim forwards ("event forwarded" with its topic).
        try (Containerd c = LEFTOVERS.containerd(Containerd.builder().extraPath(dist.bin()).logLevel("debug")
                .ctrTimeout(CTR).start())) {
            // Both pods boot at once: one VM's wait, not two.
            long boot = System.nanoTime();
            CompletableFuture<Containerd.CtrResult> runDuring = CompletableFuture.supplyAsync(() -> c.ctr(CTR,
                    Distribution.runArgs(config, "-d", "--rootfs", duringRoot.toString(), during, "/bin/sh", "-c",
                            WAIT_FOR_STOP + "7")));
            Containerd.CtrResult runAfter = c.ctr(CTR, Distribution.runArgs(config, "-d", "--rootfs", afterRoot.toString(),
                    after, "/bin/sh", "-c", WAIT_FOR_STOP + "3"));
            runDuring.get(CTR.toSeconds() + 10, TimeUnit.SECONDS).requireOk();
            runAfter.requireOk();
            System.out.println("two pods booted and running in " + ms(boot) + " ms");
            long qemuDuring = Sandboxes.pid(during, "qemu");
            long qemuAfter = Sandboxes.pid(after, "qemu");
            String tasks = c.ctr("task", "ls").requireOk().stdout();
            assertRunning(tasks, during, qemuDuring);
            assertRunning(tasks, after, qemuAfter);

            long down = System.nanoTime();
            String how = c.stopAlone();
            System.out.println("containerd stopped (" + how + ") in " + ms(down) + " ms");
            assertAlive(c, qemuDuring, qemuAfter);

            // An exit while containerd is down: the shim has it, and keeps its event for the new containerd.
            long stopDuring = System.nanoTime();
            Files.createFile(duringRoot.resolve("stop"));
            StateResponse stopped = awaitShimState(c, during, Status.STOPPED);
            System.out.println("exit while containerd was down: the shim reported STOPPED " + ms(stopDuring)
                    + " ms after the stop file, exit status " + stopped.getExitStatus());
            assertEquals(7, stopped.getExitStatus());
            assertEquals(Status.RUNNING, shimState(c, after).getStatus());

            long logBefore = Files.size(c.logFile());
            c.startAgain();
            System.out.println("containerd down for " + ms(down) + " ms; started again as pid " + c.pid());
            assertAlive(c, qemuDuring, qemuAfter);
            // containerd 1.6 lists tasks through their shims: a listed status is a shim that answered.
            tasks = c.ctr("task", "ls").requireOk().stdout();
            System.out.println("ctr task ls after the restart:\n" + tasks.strip());
            assertRunning(tasks, after, qemuAfter);
            assertTrue(tasks.matches("(?s).*" + during + "\\s+" + qemuDuring + "\\s+STOPPED.*"), tasks);
            // The exit published while containerd was down reached the new one (the shim retried it).
            long forwarded = System.nanoTime();
            Leftovers.await(() -> exitForwardedSince(c, logBefore));
            assertTrue(exitForwardedSince(c, logBefore), "no /tasks/exit forwarded to the restarted containerd;"
                    + " its log:\n" + c.logTail(60));
            System.out.println("the exit held during the downtime was forwarded " + ms(forwarded)
                    + " ms after containerd's sockets were back");

            // An exit after the restart: ctr events and ctr task ls see it.
            ContainerdEvents events = c.events();
            long stopAfter = System.nanoTime();
            Files.createFile(afterRoot.resolve("stop"));
            ContainerdEvents.Event exit = events.await("exit of " + after, e -> e.topic().equals("/tasks/exit")
                    && e.json().contains("\"container_id\":\"" + after + "\""), Duration.ofSeconds(120));
            System.out.println("exit after the restart: /tasks/exit " + ms(stopAfter) + " ms after the stop file: "
                    + exit.line());
            assertTrue(exit.json().contains("\"exit_status\":3"), exit.line());
            tasks = c.ctr("task", "ls").requireOk().stdout();
            assertTrue(tasks.matches("(?s).*" + after + "\\s+\\d+\\s+STOPPED.*"), tasks);

            // containerd's Delete answers with the exit status, which ctr task rm reports.
            for (String[] task : new String[][] {{during, "7"}, {after, "3"}}) {
                String rm = c.ctr("task", "rm", task[0]).requireOk().stderr();
                assertTrue(rm.contains("exit with non-zero exit code " + task[1]), rm);
            }
            c.ctr("c", "rm", during, after).requireOk();
            Leftovers.ofSandboxes(during, after).assertNone();
            Leftovers.await(() -> c.shimProcesses().isEmpty());
            assertEquals(List.of(), c.shimProcesses(), "the daemons exit once they hold no task");
        }
    }

    private static void assertRunning(String tasks, String id, long qemu) {
        assertTrue(tasks.matches("(?s).*" + id + "\\s+" + qemu + "\\s+RUNNING.*"), id + " not RUNNING with QEMU pid "
                + qemu + ":\n" + tasks);
    }

    private static void assertAlive(Containerd c, long... pids) {
        for (long pid : pids) {
            assertTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), () -> "QEMU pid " + pid
                    + " is gone; containerd's log:\n" + c.logTail(80));
        }
    }

    /** The task's state from its shim, asked directly on the shim's socket (containerd may be down). */
    private static StateResponse shimState(Containerd c, String id) throws IOException {
        Path socket = io.nemu.shim.cli.ShimSocket.daemonPath(c.grpcAddress(), "default");
        try (TtrpcClient client = TtrpcClient.connect(socket)) {
            return TaskGrpc.newBlockingStub(client).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .state(StateRequest.newBuilder().setId(id).build());
        }
    }

    private static StateResponse awaitShimState(Containerd c, String id, Status want) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        StateResponse r = shimState(c, id);
        while (r.getStatus() != want && System.nanoTime() < deadline) {
            Thread.sleep(100);
            r = shimState(c, id);
        }
        assertEquals(want, r.getStatus(), "shim state of " + id + ": " + r);
        return r;
    }

    private static boolean exitForwardedSince(Containerd c, long offset) throws IOException {
        byte[] all = Files.readAllBytes(c.logFile());
        String since = new String(all, (int) Math.min(offset, all.length), (int) Math.max(0, all.length - offset),
                StandardCharsets.UTF_8);
        return since.lines().anyMatch(l -> l.contains("event forwarded") && l.contains("topic=/tasks/exit"));
    }

    private static long ms(long since) {
        return (System.nanoTime() - since) / 1_000_000;
    }
}
