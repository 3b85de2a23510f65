package io.nemu.e2e.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.e2e.support.Containerd;
import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.GuestImages;
import io.nemu.e2e.support.Leftovers;
import io.nemu.e2e.support.Rootfs;
import io.nemu.e2e.support.Sandboxes;
import io.nemu.shim.cli.ShimSocket;
import io.nemu.shim.daemon.DaemonLock;
import io.nemu.vmm.process.ProcessTools;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * One shim daemon serves every pod of a containerd namespace. Three pods boot at once through one containerd:
 * one daemon holds them (its PSS is printed, per pod); one pod's QEMU is killed and only that pod's task stops,
 * the others keep running and answering execs; then the daemon itself is killed with SIGKILL and containerd's
 * cleanup ({@code ctr task rm}, {@code ctr c rm}, which run the shim's {@code delete} for each task) leaves no QEMU,
 * virtiofsd, mount, state or cgroup of any pod it held, and none of the daemon's socket, lock and log.
 */
@Tag("system")
class SharedDaemonTest {
    private static final Duration CTR = Duration.ofSeconds(300);
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterEach();

    @TempDir
    Path work;
    private final Distribution dist = Distribution.locate();

    @Test
    void onePodsFaultAndTheDaemonsDeathAreContained() throws Exception {
        GuestImages.assumeOfDistribution(dist, true);
        Path config = dist.writeConfig(work, "", "dial_timeout = 240");
        long self = ProcessHandle.current().pid();
        List<String> pods = List.of(LEFTOVERS.sandbox("shd-a-" + self), LEFTOVERS.sandbox("shd-b-" + self),
                LEFTOVERS.sandbox("shd-c-" + self));
        String victim = pods.get(0);
        List<String> survivors = pods.subList(1, 3);
        try (Containerd c = LEFTOVERS.containerd(Containerd.builder().extraPath(dist.bin()).ctrTimeout(CTR).start())) {
            long boot = System.nanoTime();
            List<CompletableFuture<Containerd.CtrResult>> runs = pods.stream().map(id -> CompletableFuture.supplyAsync(
                    () -> c.ctr(CTR, Distribution.runArgs(config, "-d", "--rootfs", rootfs(id).toString(), id,
                            "/bin/sleep", "600")))).toList();
            for (CompletableFuture<Containerd.CtrResult> r : runs) {
                r.join().requireOk();
            }
            System.out.println("three pods running in " + (System.nanoTime() - boot) / 1_000_000 + " ms");
            long daemon = Sandboxes.pid(victim, "daemon");
            for (String id : pods) {
                assertEquals(daemon, Sandboxes.pid(id, "daemon"), id + " is served by the namespace's one daemon");
            }
            assertEquals(List.of(daemon), c.shimProcesses().stream().map(ProcessHandle::pid).toList(),
                    "one shim process for three pods");
            long pss = ProcessTools.procKib(daemon, "smaps_rollup", "Pss");
            System.out.printf("shim daemon with 3 pods: PSS %.1f MiB (%.1f MiB per pod), RSS %.1f MiB%n", pss / 1024.0,
                    pss / 3 / 1024.0, ProcessTools.rssKib(daemon) / 1024.0);

            // One pod's VM dies: its task stops, the others do not notice.
            long victimQemu = Sandboxes.pid(victim, "qemu");
            ProcessHandle.of(victimQemu).orElseThrow().destroyForcibly();
            Leftovers.await(() -> !c.ctr("task", "ls").stdout().matches("(?s).*" + victim + "\\s+\\d+\\s+RUNNING.*"));
            String tasks = c.ctr("task", "ls").requireOk().stdout();
            assertTrue(tasks.matches("(?s).*" + victim + "\\s+\\d+\\s+STOPPED.*"), "the victim's task stopped:\n" + tasks);
            for (String id : survivors) {
                assertTrue(tasks.matches("(?s).*" + id + "\\s+\\d+\\s+RUNNING.*"), id + " runs on:\n" + tasks);
                assertEquals(id, c.ctr(CTR, List.of("task", "exec", "--exec-id", "after-fault", id, "/bin/echo", id))
                        .requireOk().stdout().strip(), id + " answers an exec after the other pod's fault");
            }
            c.ctr("task", "rm", victim).requireOk();
            c.ctr("c", "rm", victim).requireOk();
            Leftovers.ofSandboxes(victim).assertNone();
            assertTrue(ProcessHandle.of(daemon).map(ProcessHandle::isAlive).orElse(false),
                    "the daemon lives on for the other pods");

            // The daemon dies: containerd's cleanup of each task runs the shim's delete, which ends its VM.
            ProcessHandle.of(daemon).orElseThrow().destroyForcibly();
            for (String id : survivors) {
                Leftovers.await(() -> !c.ctr("task", "ls").stdout().matches("(?s).*" + id + "\\s+\\d+\\s+RUNNING.*"));
                c.ctr("task", "rm", "-f", id); // may already be gone: containerd cleaned it up on the lost connection
                c.ctr("c", "rm", id).requireOk();
            }
            Leftovers.ofSandboxes(survivors.toArray(String[]::new)).assertNone();
            assertEquals(List.of(), c.shimProcesses(), "no shim left");
            Path socket = ShimSocket.daemonPath(c.grpcAddress(), "default");
            for (Path p : List.of(socket, DaemonLock.file(socket), DaemonLock.logFile(socket))) {
                assertFalse(Files.exists(p), "the killed daemon's " + p + " went with the pods' delete");
            }
        }
    }

    private Path rootfs(String id) {
        try {
            return Rootfs.busybox(work.resolve("rootfs-" + id));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
