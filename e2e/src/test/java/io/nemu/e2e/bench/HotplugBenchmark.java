package io.nemu.e2e.bench;

import io.nemu.e2e.support.CriEnv;
import io.nemu.e2e.support.FileTrees;
import io.nemu.proto.cri.ContainerConfig;
import io.nemu.proto.cri.LinuxContainerConfig;
import io.nemu.proto.cri.LinuxContainerResources;
import io.nemu.proto.cri.PodSandboxConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/**
 * Hotplug on {@code virt-hotplug} through CRI, from the request to the guest seeing it: one pod (1 vCPU, base
 * RAM {@code --base-memory MiB}, default 512), a container whose loop prints {@code cpu/online} and MemTotal
 * whenever they change (every 10 ms); containerd stamps each line with host time as it arrives, so "seen" is
 * the stamp of the first line showing the change. Per run: one vCPU (an update raising the CPU limit by one),
 * one 512 MiB DIMM (an update raising the memory limit by 512 MiB), and one disk (a container binding a raw
 * ext4 image, created and started until its first line) next to the same container without the disk. The
 * baseline, measured in the same run: an update that only changes the cgroup (CPU shares). Medians of
 * {@code --runs N} (default 2). Run with scripts/bench-hotplug.sh.
 */
public final class HotplugBenchmark {
    static final long PERIOD = 100_000;
    static final long MIB = 1 << 20;
    static final String WATCH = "old=; while :; do n=\"cpus $(cat /sys/devices/system/cpu/online)"
            + " $(grep MemTotal /proc/meminfo | tr -s ' ')\"; if [ \"$n\" != \"$old\" ]; then echo \"$n\"; old=$n; fi;"
            + " usleep 10000; done";

    public static void main(String[] args) throws Exception {
        int runs = 2;
        int baseMemory = 512;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--runs" -> runs = Integer.parseInt(args[++i]);
                case "--base-memory" -> baseMemory = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + " (use --runs N, --base-memory MiB)");
            }
        }
        if (!CriEnv.guestImageBuilt()) {
            throw new IllegalStateException("no guest image in packaging/target/nemu/share/guest (nemu image build)");
        }
        Path work = Files.createTempDirectory("nemu-hotplug-bench-");
        List<Long> baseline = new ArrayList<>();
        List<Long> cpu = new ArrayList<>();
        List<Long> memory = new ArrayList<>();
        List<Long> plain = new ArrayList<>();
        List<Long> disk = new ArrayList<>();
        try (CriEnv env = CriEnv.start(work, "nemu-hpb0", "10.217.80.0/24")) {
            env.setConfig("machine_type", "\"virt-hotplug\"");
            env.setConfig("default_vcpus", "1");
            env.setConfig("default_maxvcpus", Integer.toString(2 + runs));
            env.setConfig("default_memory", Integer.toString(baseMemory));
            env.setConfig("default_maxmemory", Integer.toString(baseMemory + 128 + 512 * runs));
            env.setConfig("memory_slots", Integer.toString(1 + runs));
            env.setConfig("pcie_root_port", "2");
            PodSandboxConfig pod = env.podConfig("pod-hotplug-bench");
            String podId = env.cri.runPodSandbox(pod, CriEnv.NEMU);
            long quota = PERIOD;
            long limit = 128 * MIB;
            String watcher = env.cri.createContainer(podId, CriEnv.container("watch", WATCH)
                    .setLinux(LinuxContainerConfig.newBuilder().setResources(res(quota, limit, 1024))).build(), pod);
            env.cri.startContainer(watcher);
            Path log = work.resolve("logs/pod-hotplug-bench/watch.log");
            Path image = work.resolve("disk.img");
            Path content = Files.createDirectories(work.resolve("disk-content"));
            Files.writeString(content.resolve("known.txt"), "known\n");
            run("mkfs.ext4", "-q", "-F", "-d", content.toString(), image.toString(), "16M");
            String last = waitLine(log, 0, l -> l.contains("cpus 0-1"), "the watcher's first line");
            System.out.printf("pod %s: 1 vCPU + 1 for the watcher, base %d MiB; watcher sees: %s%n", podId, baseMemory, last);
            for (int r = 1; r <= runs; r++) {
                int lines = lines(log);
                long t0 = System.nanoTime();
                env.cri.updateContainerResources(watcher, res(quota, limit, 512 + r));
                baseline.add((System.nanoTime() - t0) / 1_000_000);

                quota += PERIOD;
                String cpus = "cpus 0-" + (1 + r);
                lines = lines(log);
                Instant sent = Instant.now();
                env.cri.updateContainerResources(watcher, res(quota, limit, 1024));
                cpu.add(Duration.between(sent, stamp(waitLine(log, lines, l -> l.contains(cpus), cpus))).toMillis());

                limit += 512 * MIB;
                String before = lastLine(log);
                lines = lines(log);
                sent = Instant.now();
                env.cri.updateContainerResources(watcher, res(quota, limit, 1024));
                String memLine = waitLine(log, lines, l -> !text(l).equals(text(before)), "MemTotal change");
                memory.add(Duration.between(sent, stamp(memLine)).toMillis());

                plain.add(containerToFirstLine(env, pod, podId, work, "plain" + r, null));
                disk.add(containerToFirstLine(env, pod, podId, work, "disk" + r, image));
                System.out.printf("  run %d: cgroup-only update %d ms | +1 vCPU %d ms | +512 MiB DIMM %d ms (%s) |"
                        + " container %d ms, with a disk %d ms%n", r, baseline.get(r - 1), cpu.get(r - 1),
                        memory.get(r - 1), text(memLine), plain.get(r - 1), disk.get(r - 1));
            }
            env.removeAllPods();
        } finally {
            FileTrees.delete(work);
        }
        System.out.printf("%nhotplug on virt-hotplug (q35, TCG), request to guest seeing it, medians of %d:%n", runs);
        System.out.printf("  baseline: UpdateContainerResources changing only the cgroup   %6d ms%n", median(baseline));
        System.out.printf("  one vCPU (device_add + OnlineCPUMem), seen in cpu/online       %6d ms%n", median(cpu));
        System.out.printf("  one 512 MiB pc-dimm (memfd share=on), seen in MemTotal          %6d ms%n", median(memory));
        System.out.printf("  container create+start to its first line: plain %d ms, with a hot-added disk %d ms (+%d)%n",
                median(plain), median(disk), median(disk) - median(plain));
    }

    static long containerToFirstLine(CriEnv env, PodSandboxConfig pod, String podId, Path work, String name, Path image)
            throws IOException {
        ContainerConfig.Builder c = CriEnv.container(name, image == null ? "echo up; exec sleep 100000"
                : "cat /disk/known.txt; exec sleep 100000");
        if (image != null) {
            c.addMounts(CriEnv.hostPath(image, "/disk", true));
        }
        long t0 = System.nanoTime();
        String id = env.cri.createContainer(podId, c.build(), pod);
        env.cri.startContainer(id);
        Path log = work.resolve("logs/pod-hotplug-bench/" + name + ".log");
        waitLine(log, 0, l -> true, name + "'s first line");
        long ms = (System.nanoTime() - t0) / 1_000_000;
        env.cri.stopContainer(id, 5);
        env.cri.removeContainer(id);
        return ms;
    }

    static LinuxContainerResources res(long quota, long memory, long shares) {
        return LinuxContainerResources.newBuilder().setCpuPeriod(PERIOD).setCpuQuota(quota).setCpuShares(shares)
                .setMemoryLimitInBytes(memory).build();
    }

    /** The CRI log line's text, without containerd's stamp and stream. */
    static String text(String line) {
        String[] p = line.split(" ", 4);
        return p.length == 4 ? p[3] : line;
    }

    static Instant stamp(String line) {
        return Instant.parse(line.substring(0, line.indexOf(' ')));
    }

    static int lines(Path log) throws IOException {
        return Files.exists(log) ? Files.readAllLines(log).size() : 0;
    }

    static String lastLine(Path log) throws IOException {
        List<String> l = Files.readAllLines(log);
        return l.get(l.size() - 1);
    }

    /** The first line after the first {@code skip} that matches; polls every 10 ms for up to 120 s. */
    static String waitLine(Path log, int skip, Predicate<String> match, String what) throws IOException {
        long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        while (System.nanoTime() < deadline) {
            if (Files.exists(log)) {
                List<String> l = Files.readAllLines(log);
                for (int i = skip; i < l.size(); i++) {
                    if (match.test(l.get(i))) {
                        return l.get(i);
                    }
                }
            }
            CriEnv.sleep(10);
        }
        throw new IllegalStateException("no " + what + " in " + log + " within 120 s");
    }

    static void run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) {
            throw new IOException(String.join(" ", cmd) + ": " + out);
        }
    }

    static long median(List<Long> xs) {
        List<Long> s = new ArrayList<>(xs);
        s.sort(null);
        return s.isEmpty() ? -1 : s.get(s.size() / 2);
    }
}
