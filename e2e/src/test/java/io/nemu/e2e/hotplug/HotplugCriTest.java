package io.nemu.e2e.hotplug;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.nemu.e2e.support.Containerd;
import io.nemu.e2e.support.CriClient;
import io.nemu.e2e.support.CriEnv;
import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.Leftovers;
import io.nemu.e2e.support.NemuCommand;
import io.nemu.e2e.support.Sandboxes;
import io.nemu.proto.cri.ContainerConfig;
import io.nemu.proto.cri.LinuxContainerConfig;
import io.nemu.proto.cri.LinuxContainerResources;
import io.nemu.proto.cri.PodSandboxConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * ACPI hotplug on {@code virt-hotplug} (q35) through CRI, one pod for every check: the pod boots with 1 vCPU
 * and 256 MiB ({@code -Dnemu.hotplug.baseMemory}, MiB); a raw ext4 image file bound into a container is
 * hot-added as a virtio-blk disk, its file readable inside and its size in {@code nemu direct-volume stats} as the
 * guest sees it, and leaves QEMU (query-block, open files) with the container; a container asking beyond {@code default_maxvcpus} fails naming it while the others run on; a
 * container limited to 2 CPUs and 512 MiB joins and sees 3 vCPUs and 512 MiB more RAM; raising it to 3 CPUs
 * adds one more; removing the container gives its vCPUs back. Each vCPU step prints QEMU's CPU time over it (a
 * guest that waits for a lost wake-up uses next to none). The guest's console (kernel and agent, with the stacks
 * of tasks blocked for 20 s) goes into the shim's log, copied to {@code target/hotplug-containerd.log}.
 */
@Tag("system")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class HotplugCriTest {
    static final Duration EXEC = Duration.ofSeconds(60);
    static final long PERIOD = 100_000;
    static final long MIB = 1 << 20;
    static final int MAX_VCPUS = 5;
    static final String DISK_FILE = "known.txt";
    static final String DISK_TEXT = "written on the host into a raw ext4 image\n";
    /** The container's cgroup files as the guest's cgroup v2 shows them, seen from inside the container. */
    static final String CGROUP = "p=$(sed -n 's/^0:://p' /proc/self/cgroup); for d in /sys/fs/cgroup$p /sys/fs/cgroup; do"
            + " if [ -f $d/cpu.max ]; then echo cpu.max $(cat $d/cpu.max); echo memory.max $(cat $d/memory.max); break; fi; done";
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterAll();

    Path work;
    CriEnv env;
    CriClient cri;
    PodSandboxConfig podConfig;
    String podId;
    String baseId;
    String bigId;
    long memTotalAtBoot;
    long qemuPid;

    @BeforeAll
    void startPod() throws Exception {
        assumeTrue(CriEnv.guestImageBuilt(), "no guest image in packaging/target/nemu/share/guest (nemu image build)");
        int baseMemory = Integer.getInteger("nemu.hotplug.baseMemory", 256);
        work = LEFTOVERS.gone(LEFTOVERS.dir(Files.createTempDirectory("nemu-hotplug-")));
        env = CriEnv.start(work, "nemu-hp0", "10.217.79.0/24");
        LEFTOVERS.containerd(env.containerd);
        cri = env.cri;
        env.setConfig("machine_type", "\"virt-hotplug\"");
        env.setConfig("default_vcpus", "1");
        env.setConfig("default_maxvcpus", Integer.toString(MAX_VCPUS));
        env.setConfig("default_memory", Integer.toString(baseMemory));
        env.setConfig("default_maxmemory", Integer.toString(baseMemory + 1536));
        env.setConfig("memory_slots", "4");
        env.setConfig("pcie_root_port", "2");
        // the guest's CPU and memory hotplug messages reach the console (printed at the end)
        env.setConfig("kernel_params", "\"loglevel=7 sysctl.kernel.hung_task_timeout_secs=20\"");
        // the guest's console (agent, kernel) in the shim's log, kept in target/ for a failed run
        env.setConfig("agent.kata", "enable_debug", "true");
        podConfig = env.podConfig("pod-hotplug");
        long t0 = System.nanoTime();
        podId = cri.runPodSandbox(podConfig, CriEnv.NEMU);
        LEFTOVERS.sandbox(podId);
        baseId = cri.createContainer(podId, CriEnv.container("base", "exec sleep 100000").build(), podConfig);
        cri.startContainer(baseId);
        System.out.printf("[hotplug] pod %s up (1 vCPU, %d MiB) with a container without limits: %d ms%n", podId,
                baseMemory, (System.nanoTime() - t0) / 1_000_000);
        assertEquals("0", online(baseId), "the pod boots with one vCPU");
        memTotalAtBoot = memTotalKib(baseId);
        qemuPid = Sandboxes.pid(podId, "qemu");
    }

    @AfterAll
    void tearDown() throws IOException {
        if (env != null && Files.exists(env.containerd.logFile())) {
            Files.copy(env.containerd.logFile(), Path.of("target/hotplug-containerd.log"),
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        CriEnv.closeAndDelete(env, work);
    }

    /** What the guest said (its kernel's hotplug messages, the agent's onlining), for a failed check. */
    void printConsole() throws IOException {
        Path console = Path.of("/run/nemu/sandboxes", podId, "vm", "console.log");
        if (Files.exists(console)) {
            List<String> lines = Files.readAllLines(console);
            System.out.println("[hotplug] guest console, last lines:\n  "
                    + String.join("\n  ", lines.subList(Math.max(0, lines.size() - 60), lines.size())));
        }
    }

    @Test
    @Order(3)
    void aContainerWithLimitsGetsItsVcpusAndMemory() throws IOException {
        long cpu0 = qemuCpuMs();
        long t0 = System.nanoTime();
        bigId = cri.createContainer(podId, limited("big", 2 * PERIOD, 512 * MIB), podConfig);
        cri.startContainer(bigId);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        String online = online(bigId);
        long grown = memTotalKib(bigId) - memTotalAtBoot;
        String cgroup = sh(bigId, CGROUP);
        System.out.printf("[hotplug] container with 2 CPUs / 512 MiB created and started in %d ms: cpu/online %s,"
                + " MemTotal +%d MiB, cgroup %s; QEMU's CPU time over this step %d ms%n", ms, online, grown >> 10,
                cgroup.replace('\n', ','), qemuCpuMs() - cpu0);
        assertEquals("0-2", online, "1 boot vCPU + 2 for the container");
        assertTrue(grown >= 512 * 1024, "MemTotal grew by " + grown + " KiB, expected at least 512 MiB");
        assertTrue(cgroup.contains("cpu.max 200000 100000"), cgroup);
        assertTrue(cgroup.contains("memory.max " + 512 * MIB), cgroup);
        assertEquals("0-2", online(baseId), "the other container sees the same VM");
    }

    @Test
    @Order(4)
    void raisingTheLimitAddsAVcpu() throws IOException {
        long cpu0 = qemuCpuMs();
        long t0 = System.nanoTime();
        cri.updateContainerResources(bigId, resources(3 * PERIOD, 512 * MIB));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        String online = online(bigId);
        String cgroup = sh(bigId, CGROUP);
        System.out.printf("[hotplug] update to 3 CPUs: %d ms, cpu/online %s, cgroup %s; QEMU's CPU time over this"
                + " step %d ms%n", ms, online, cgroup.replace('\n', ','), qemuCpuMs() - cpu0);
        assertEquals("0-3", online);
        assertTrue(cgroup.contains("cpu.max 300000 100000"), cgroup);
    }

    @Test
    @Order(2)
    void aRequestBeyondTheMaximaFailsNamingItAndThePodRunsOn() {
        // containerd's CRI creates the task (the shim's Create) at StartContainer
        String huge = cri.createContainer(podId, limited("huge", 8 * PERIOD, 64 * MIB), podConfig);
        CriClient.CriException e = assertThrows(CriClient.CriException.class, () -> cri.startContainer(huge));
        cri.removeContainer(huge);
        System.out.printf("[hotplug] 8 CPUs refused: %s%n", e.getMessage());
        assertTrue(e.getMessage().contains("default_maxvcpus " + MAX_VCPUS), e.getMessage());
        assertEquals("ok", sh(baseId, "echo ok"));
        assertEquals("0", online(baseId), "nothing was added for the refused container");
    }

    @Test
    @Order(5)
    void removingTheContainerGivesItsVcpusBack() {
        long t0 = System.nanoTime();
        cri.stopContainer(bigId, 10);
        cri.removeContainer(bigId);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        String online = online(baseId);
        System.out.printf("[hotplug] container removed in %d ms: cpu/online %s%n", ms, online);
        assertEquals("0", online);
    }

    @Test
    @Order(1)
    void aRawImageFileIsHotAddedAsADiskAndRemovedWithItsContainer() throws Exception {
        Path content = Files.createDirectories(work.resolve("disk-content"));
        Files.writeString(content.resolve(DISK_FILE), DISK_TEXT);
        Path image = work.resolve("disk.img");
        run("mkfs.ext4", "-q", "-F", "-d", content.toString(), image.toString(), "16M");
        long qemu = Sandboxes.pid(podId, "qemu");
        String disksBefore = sh(baseId, "ls /sys/block");
        long t0 = System.nanoTime();
        String diskId = cri.createContainer(podId, CriEnv.container("disk", "exec sleep 100000")
                .addMounts(CriEnv.hostPath(image, "/disk", true)).build(), podConfig);
        cri.startContainer(diskId);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        String seen = sh(diskId, "cat /disk/" + DISK_FILE + "; grep ' /disk ' /proc/mounts");
        System.out.printf("[hotplug] container with a raw image file created and started in %d ms; it sees: %s;"
                + " QEMU has the image open: %s%n", ms, seen.replace('\n', ','), opens(qemu, image));
        assertTrue(seen.startsWith(DISK_TEXT.strip()), seen);
        assertTrue(seen.contains("/dev/vd"), "mounted from a virtio-blk disk: " + seen);
        assertTrue(opens(qemu, image), "QEMU holds the image as a disk");
        // Kata's direct-volume stats for the disk: the guest's statfs of its mount, through the shim and the agent.
        String stats = NemuCommand.run(Distribution.locate(), EXEC, "direct-volume", "stats", image.toString())
                .requireOk().stdout();
        String guestBytes = sh(diskId, "echo $(( $(stat -f -c '%b * %S' /disk) ))");
        System.out.printf("[hotplug] nemu direct-volume stats %s: %s (guest: %s bytes)%n", image, stats.strip(), guestBytes);
        assertTrue(stats.contains("\"total\":" + guestBytes + ","), "the disk's size as the guest sees it: " + stats);
        cri.stopContainer(diskId, 10);
        cri.removeContainer(diskId);
        // The shim checked query-block after blockdev-del (it says so), and QEMU no longer has the file open.
        String removed = "disk " + image + " removed: query-block no longer lists it";
        assertTrue(Files.readString(env.containerd.logFile()).contains(removed), "no '" + removed + "' in the shim's log");
        assertTrue(!opens(qemu, image), "the image is still open in QEMU after the container was removed");
        assertEquals(disksBefore, sh(baseId, "ls /sys/block"), "the guest's disks are those it had before");
    }

    @Test
    @Order(100)
    void podRemovalLeavesNothing() throws Exception {
        printConsole();
        cri.stopPodSandbox(podId);
        cri.removePodSandbox(podId);
        Leftovers pod = Leftovers.ofSandboxes();
        pod.sandbox(podId);
        pod.gone(Containerd.SHIM_SOCKET_DIR.resolve(Containerd.shimSocketName(env.containerd.grpcAddress(), "k8s.io",
                podId)));
        pod.assertNone();
    }

    /** CPU time QEMU used so far (user and system, all threads): tells a busy guest from one that waits. */
    long qemuCpuMs() throws IOException {
        String stat = Files.readString(Path.of("/proc/" + qemuPid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 10; // utime, stime in 100 Hz ticks
    }

    /** Whether process {@code pid} has {@code file} open. */
    static boolean opens(long pid, Path file) throws IOException {
        try (var fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            return fds.anyMatch(fd -> {
                try {
                    return Files.readSymbolicLink(fd).equals(file);
                } catch (IOException e) {
                    return false;
                }
            });
        }
    }

    static void run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), String.join(" ", cmd) + ": " + out);
    }

    static LinuxContainerResources resources(long quota, long memory) {
        return LinuxContainerResources.newBuilder().setCpuPeriod(PERIOD).setCpuQuota(quota).setCpuShares(1024)
                .setMemoryLimitInBytes(memory).build();
    }

    static ContainerConfig limited(String name, long quota, long memory) {
        return CriEnv.container(name, "exec sleep 100000")
                .setLinux(LinuxContainerConfig.newBuilder().setResources(resources(quota, memory))).build();
    }

    String sh(String cid, String script) {
        return cri.execSync(cid, EXEC, "sh", "-c", script).requireOk(script).stdout().strip();
    }

    String online(String cid) {
        return sh(cid, "cat /sys/devices/system/cpu/online");
    }

    long memTotalKib(String cid) {
        Matcher m = Pattern.compile("MemTotal:\\s+(\\d+) kB").matcher(sh(cid, "cat /proc/meminfo"));
        assertTrue(m.find());
        return Long.parseLong(m.group(1));
    }
}
