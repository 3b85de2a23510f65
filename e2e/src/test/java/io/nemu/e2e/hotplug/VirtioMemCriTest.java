package io.nemu.e2e.hotplug;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.nemu.e2e.support.CriClient;
import io.nemu.e2e.support.CriEnv;
import io.nemu.e2e.support.Leftovers;
import io.nemu.proto.cri.LinuxContainerConfig;
import io.nemu.proto.cri.LinuxContainerResources;
import io.nemu.proto.cri.PodSandboxConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * RAM that comes and goes with a container's memory limit through CRI, with {@code enable_virtio_mem} on
 * {@code virt-hotplug}: a pod of 256 MiB; a container limited to 512 MiB joins and the guest's MemTotal grows by
 * 512 MiB; raised to 768 MiB, by 256 more; removed, MemTotal goes back to within a few MiB of the boot size (what
 * the guest could not empty is logged). DIMMs, which only grow, are HotplugCriTest's.
 */
@Tag("system")
class VirtioMemCriTest {
    static final Duration EXEC = Duration.ofSeconds(60);
    static final long MIB = 1 << 20;
    static final int BASE_MIB = 256;
    /** What the guest may keep after the container is gone: blocks holding pages it cannot move. */
    static final long KEPT_KIB = 64 * 1024;
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterAll();

    @Test
    void memoryFollowsTheContainersLimitAndGoesBackWhenItLeaves() throws Exception {
        assumeTrue(CriEnv.guestImageBuilt(), "no guest image in packaging/target/nemu/share/guest (nemu image build)");
        Path work = LEFTOVERS.gone(LEFTOVERS.dir(Files.createTempDirectory("nemu-vmem-")));
        CriEnv env = CriEnv.start(work, "nemu-vmem0", "10.217.82.0/24");
        try {
            LEFTOVERS.containerd(env.containerd);
            env.setConfig("machine_type", "\"virt-hotplug\"");
            env.setConfig("default_memory", Integer.toString(BASE_MIB));
            env.setConfig("default_maxmemory", Integer.toString(BASE_MIB + 1024));
            env.setConfig("enable_virtio_mem", "true");
            CriClient cri = env.cri;
            PodSandboxConfig pod = env.podConfig("pod-vmem");
            String podId = cri.runPodSandbox(pod, CriEnv.NEMU);
            LEFTOVERS.sandbox(podId);
            String base = cri.createContainer(podId, CriEnv.container("base", "exec sleep 100000").build(), pod);
            cri.startContainer(base);
            long boot = memTotalKib(cri, base);

            long t0 = System.nanoTime();
            String big = cri.createContainer(podId, CriEnv.container("big", "exec sleep 100000")
                    .setLinux(LinuxContainerConfig.newBuilder().setResources(memory(512))).build(), pod);
            cri.startContainer(big);
            long joined = memTotalKib(cri, big) - boot;
            String limit = sh(cri, big, HotplugCriTest.CGROUP).replace('\n', ',');
            System.out.printf("[vmem] a container limited to 512 MiB created and started in %d ms: MemTotal +%d MiB,"
                    + " cgroup %s%n", (System.nanoTime() - t0) / 1_000_000, joined >> 10, limit);
            assertTrue(joined >= 512 * 1024, "MemTotal grew by " + joined + " KiB, expected 512 MiB");
            assertTrue(limit.contains("memory.max " + 512 * MIB), limit);

            cri.updateContainerResources(big, memory(768));
            long raised = memTotalKib(cri, big) - boot;
            System.out.printf("[vmem] raised to 768 MiB: MemTotal +%d MiB%n", raised >> 10);
            assertTrue(raised >= 768 * 1024, "MemTotal grew by " + raised + " KiB, expected 768 MiB");

            t0 = System.nanoTime();
            cri.stopContainer(big, 10);
            cri.removeContainer(big);
            long left = memTotalKib(cri, base) - boot;
            System.out.printf("[vmem] container removed in %d ms: MemTotal +%d MiB over the boot size%n",
                    (System.nanoTime() - t0) / 1_000_000, left >> 10);
            assertTrue(left < KEPT_KIB, "MemTotal still " + (left >> 10) + " MiB over the boot size");
            String log = Files.readString(env.containerd.logFile());
            assertTrue(log.contains("MiB above its boot RAM (-"), "the shim logs the RAM it gave back");
            cri.stopPodSandbox(podId);
            cri.removePodSandbox(podId);
        } finally {
            CriEnv.closeAndDelete(env, work);
        }
    }

    static LinuxContainerResources memory(long mib) {
        return LinuxContainerResources.newBuilder().setCpuShares(1024).setMemoryLimitInBytes(mib * MIB).build();
    }

    static String sh(CriClient cri, String cid, String script) {
        return cri.execSync(cid, EXEC, "sh", "-c", script).requireOk(script).stdout().strip();
    }

    static long memTotalKib(CriClient cri, String cid) {
        Matcher m = Pattern.compile("MemTotal:\\s+(\\d+) kB").matcher(sh(cri, cid, "cat /proc/meminfo"));
        assertTrue(m.find());
        return Long.parseLong(m.group(1));
    }
}
