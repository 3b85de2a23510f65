package io.nemu.e2e.cri;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.nemu.e2e.support.CriClient;
import io.nemu.e2e.support.CriEnv;
import io.nemu.e2e.support.Leftovers;
import io.nemu.e2e.support.Sandboxes;
import io.nemu.proto.cri.PodSandboxConfig;
import io.nemu.shim.mount.MountTable;
import io.nemu.shim.mount.SafeTree;
import io.nemu.shim.sandbox.SandboxPaths;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A pod's read-write hostPath volume survives every cleanup path, also when the shim cannot unmount it.
 * containerd (and so the shim and its {@code delete}) runs with an {@code umount} first on its PATH that, while
 * the test's fault file exists, fails for everything under the shim's shared folders as a busy mount does, and
 * runs the real umount otherwise. A cleanup that deleted the sandbox's folders anyway would walk through the
 * still-bound volume and delete the host's files.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HostDataSafetyTest {
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterAll();
    private static final String PRECIOUS = "precious.txt";
    private static final String TEXT = "host data that no cleanup may touch\n";

    Path work;
    Path fault;
    Path volume;
    CriEnv env;
    CriClient cri;

    @BeforeAll
    void start() throws IOException {
        assumeTrue(CriEnv.guestImageBuilt(), "no guest image built (scripts/nemu image build)");
        work = LEFTOVERS.dir(Files.createTempDirectory("nemu-hostdata-"));
        fault = work.resolve("umount-fails");
        Path bin = Files.createDirectories(work.resolve("fault-bin"));
        String realUmount = Files.isExecutable(Path.of("/usr/bin/umount")) ? "/usr/bin/umount" : "/bin/umount";
        Path umount = bin.resolve("umount");
        Files.writeString(umount, "#!/bin/sh\n"
                + "if [ -e '" + fault + "' ]; then\n"
                + "  for a; do case \"$a\" in " + SandboxPaths.defaultRoot().resolve("shared") + "/*)\n"
                + "    echo \"umount: $a: target is busy.\" >&2; exit 32;; esac; done\n"
                + "fi\n"
                + "exec " + realUmount + " \"$@\"\n");
        Files.setPosixFilePermissions(umount, PosixFilePermissions.fromString("rwxr-xr-x"));
        volume = Files.createDirectories(work.resolve("volume"));
        env = CriEnv.start(work, "nemu-safe0", "10.217.75.0/24", bin);
        cri = env.cri;
    }

    @AfterAll
    void stop() throws IOException {
        try {
            Files.deleteIfExists(fault);
        } finally {
            CriEnv.closeAndDelete(env, work);
        }
    }

    /** A pod whose container wrote into the volume, with the fault armed; returns its id. */
    private String podWritingToTheVolume(String name) throws IOException {
        Files.writeString(volume.resolve(PRECIOUS), TEXT);
        PodSandboxConfig pod = env.podConfig(name);
        String podId = LEFTOVERS.sandbox(cri.runPodSandbox(pod, CriEnv.NEMU));
        String cid = cri.createContainer(podId, CriEnv.container("writer",
                "echo from " + name + " > /data/" + name + ".txt; exec sleep 100000")
                .addMounts(CriEnv.hostPath(volume, "/data", false)).build(), pod);
        cri.startContainer(cid);
        Path written = volume.resolve(name + ".txt");
        String expected = "from " + name + "\n";
        long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        // The file appears before its line does: wait for the content, not the name.
        while (!(Files.exists(written) && Files.readString(written).equals(expected)) && System.nanoTime() < deadline) {
            CriEnv.sleep(200);
        }
        assertEquals(expected, Files.readString(written), "the pod writes to the host");
        Files.writeString(fault, "");
        return podId;
    }

    private void assertVolumeIntact(String name) throws IOException {
        assertEquals(TEXT, Files.readString(volume.resolve(PRECIOUS)), "the host's own file");
        assertEquals("from " + name + "\n", Files.readString(volume.resolve(name + ".txt")), "what the pod wrote");
    }

    /**
     * containerd cleans up after a dead shim asynchronously: the sandbox's processes must be gone by themselves
     * before the test removes what the failed unmounts left (with the fault removed).
     */
    private void clearLeftovers(String podId) throws IOException {
        List<Leftovers.Proc> running = processesNaming(podId, Duration.ofSeconds(60));
        try {
            assertEquals(List.of(), running, "QEMU, virtiofsd and the shim of " + podId + " outlive the pod; containerd:\n"
                    + String.join("\n", env.containerd.logTail(400).lines().filter(l -> l.contains("shim")).toList()));
        } finally {
            for (Leftovers.Proc p : running) {
                ProcessHandle.of(p.pid()).ifPresent(ProcessHandle::destroyForcibly);
            }
            Files.deleteIfExists(fault);
            SandboxPaths paths = SandboxPaths.of(podId);
            for (Path p : List.of(paths.sharedBase(), paths.state())) {
                SafeTree.host().unmountAndRemove(p);
            }
        }
    }

    @Test
    void stopAndRemoveWithAStuckUnmountKeepTheHostFiles() throws IOException {
        String podId = podWritingToTheVolume("stopped");
        try {
            cri.stopPodSandbox(podId);
            cri.removePodSandbox(podId);
            assertVolumeIntact("stopped");
            SandboxPaths paths = SandboxPaths.of(podId);
            assertTrue(Files.isDirectory(paths.sharedBase()), "the shared folder is left in place, not deleted");
            assertTrue(MountTable.self().pointsUnder(paths.sharedBase()).size() > 0, "its mounts are still there");
            assertTrue(env.containerd.logTail(400).contains("left " + paths.sharedBase()),
                    "the shim names what it left:\n" + env.containerd.logTail(60));
        } finally {
            clearLeftovers(podId);
        }
        assertVolumeIntact("stopped");
    }

    @Test
    void deleteAfterTheDaemonWasKilledKeepsTheHostFiles() throws Exception {
        String podId = podWritingToTheVolume("killed");
        try {
            ProcessHandle shim = ProcessHandle.of(Sandboxes.pid(podId, "daemon")).orElseThrow();
            shim.destroyForcibly();
            shim.onExit().join();
            // containerd runs the shim's delete once it sees the daemon gone; CRI then stops and removes the pod.
            cri.stopPodSandbox(podId);
            cri.removePodSandbox(podId);
            assertVolumeIntact("killed");
            assertTrue(Files.isDirectory(SandboxPaths.of(podId).sharedBase()), "the shared folder is left in place");
        } finally {
            clearLeftovers(podId);
        }
        assertVolumeIntact("killed");
    }

    /** The sandbox's processes still running after {@code wait}. */
    private static List<Leftovers.Proc> processesNaming(String podId, Duration wait) throws IOException {
        long deadline = System.nanoTime() + wait.toNanos();
        List<Leftovers.Proc> found = Leftovers.processesNaming(podId);
        while (!found.isEmpty() && System.nanoTime() < deadline) {
            CriEnv.sleep(250);
            found = Leftovers.processesNaming(podId);
        }
        return found;
    }
}
