package io.nemu.e2e.cri;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.nemu.e2e.support.CriEnv;
import io.nemu.e2e.support.Leftovers;
import io.nemu.e2e.support.PodCgroup;
import io.nemu.e2e.support.Sandboxes;
import io.nemu.proto.cri.LinuxContainerResources;
import io.nemu.proto.cri.PodSandboxConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/**
 * The CRI pod suite with handler nemu (RuntimeClass nemu): the pod runs in one sandbox VM. The test plays the
 * kubelet on the cgroupfs driver: the pod asks for 1 CPU and 600 MiB, its cgroup (the CRI cgroup_parent) is
 * sized to that plus the RuntimeClass's overhead, and the whole sandbox (shim daemon, QEMU, virtiofsd) must run
 * below it (sandbox_cgroup_only, the default).
 */
class NemuPodCriTest extends PodCriTest {
    static final long POD_MEMORY = 600L << 20;
    static final long PERIOD = 100_000;
    private PodCgroup podCgroup;
    private long expectedMemory;
    private long expectedQuota;

    @Override
    String handler() {
        return CriEnv.NEMU;
    }

    @Override
    boolean ownKernel() {
        return true;
    }

    @Override
    String bridge() {
        return "nemu-cni1";
    }

    @Override
    String subnet() {
        return "10.217.72.0/24";
    }

    /** Whether the sandbox shares its folder through virtiofsd (a template's clone uses QEMU's own 9p). */
    boolean virtiofsd() {
        return true;
    }

    @Override
    void precondition() {
        assumeTrue(CriEnv.guestImageBuilt(), "no guest image in packaging/target/nemu/share/guest (nemu image build)");
    }

    @Override
    PodSandboxConfig podConfig(PodSandboxConfig base) throws IOException {
        Path runtimeClass = env.dist.resolve("share/kubernetes/runtimeclass.yaml");
        long overheadMemory = PodCgroup.overhead(runtimeClass, "memory");
        long overheadQuota = PodCgroup.overhead(runtimeClass, "cpu") * PERIOD / 1000;
        expectedMemory = POD_MEMORY + overheadMemory;
        expectedQuota = PERIOD + overheadQuota;
        String uid = base.getMetadata().getUid();
        podCgroup = PodCgroup.create("nemu-e2e-" + uid.substring(0, 8), uid, expectedMemory, expectedQuota, PERIOD);
        // What the kubelet sends: the pod's cgroup, its resources (containers' limits) and the overhead.
        return base.toBuilder().setLinux(base.getLinux().toBuilder()
                .setCgroupParent(podCgroup.cgroupParent())
                .setResources(LinuxContainerResources.newBuilder().setCpuPeriod(PERIOD).setCpuQuota(PERIOD)
                        .setCpuShares(1024).setMemoryLimitInBytes(POD_MEMORY))
                .setOverhead(LinuxContainerResources.newBuilder().setCpuPeriod(PERIOD).setCpuQuota(overheadQuota)
                        .setMemoryLimitInBytes(overheadMemory)))
                .build();
    }

    @Override
    void afterPodGone() throws IOException {
        if (podCgroup != null) {
            podCgroup.close();
        }
    }

    /** The sandbox's cgroup: CRI names it {@code <cgroup_parent>/<sandbox id>}. */
    private String sandboxCgroup() {
        return podCgroup.cgroupParent() + "/" + podId;
    }

    @Override
    void registerPod(Leftovers l) {
        super.registerPod(l);
        // the shim made the sandbox's cgroup below the kubelet's: gone with the pod
        PodCgroup.folders(sandboxCgroup()).forEach(l::gone);
    }

    @Test
    @Order(12)
    void theWholeSandboxRunsInThePodsCgroupAndItsLimitsBoundIt() throws IOException {
        String spec = new ObjectMapper().readTree(cri.podSandboxStatus(podId, true).getInfoMap().get("info"))
                .path("runtimeSpec").path("linux").path("cgroupsPath").asText();
        assertEquals(sandboxCgroup(), spec, "containerd's CRI names <cgroup_parent>/<sandbox id>");
        List<String> controllers = PodCgroup.v2() ? List.of("unified") : List.of("cpu", "cpuacct", "memory", "pids");
        int threads = 0;
        // QEMU, virtiofsd if any (and its own sandboxed child); not the shim daemon, which serves every pod of the
        // namespace and stays in its own cgroup
        Map<String, Long> processes = new java.util.LinkedHashMap<>(Sandboxes.hostProcesses(podId));
        processes.remove("shim daemon");
        assertEquals(Sandboxes.pid(podId, "qemu"), processes.get("qemu-system-x86_64"));
        if (virtiofsd()) {
            assertTrue(processes.containsValue(Sandboxes.pid(podId, "virtiofsd")), processes.toString());
        } else {
            assertTrue(processes.keySet().stream().noneMatch(k -> k.startsWith("virtiofsd")), processes.toString());
        }
        for (var e : processes.entrySet()) {
            String what = e.getKey();
            long pid = e.getValue();
            List<Path> tasks;
            try (Stream<Path> s = Files.list(Path.of("/proc/" + pid + "/task"))) {
                tasks = s.toList();
            }
            List<String> wrong = new ArrayList<>();
            for (Path task : tasks) {
                Map<String, String> in = PodCgroup.of(task);
                for (String c : controllers) {
                    if (!spec.equals(in.get(c))) {
                        wrong.add(task.getFileName() + " " + c + ":" + in.get(c));
                    }
                }
            }
            assertFalse(tasks.isEmpty());
            assertEquals(List.of(), wrong, what + " (pid " + pid + "): threads outside " + spec);
            threads += tasks.size();
        }
        long limit = PodCgroup.effectiveMemoryLimit(spec);
        String quota = PodCgroup.effectiveCpuQuota(spec);
        long usage = Long.parseLong(Files.readString(PodCgroup.folder("memory", spec)
                .resolve(PodCgroup.v2() ? "memory.current" : "memory.usage_in_bytes")).strip());
        System.out.printf("[%s] %s: %d threads, all in %s; memory limit in effect %d MiB (pod 600 MiB + overhead),"
                + " using %d MiB; CPU quota %s%n", handler(), processes.keySet(), threads, spec, limit >> 20, usage >> 20, quota);
        assertEquals(expectedMemory, limit, "the pod's memory limit (containers + RuntimeClass overhead) bounds the VM");
        assertEquals(expectedQuota + " " + PERIOD, quota, "the pod's CPU quota bounds the VM");
    }
}
