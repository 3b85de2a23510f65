package io.nemu.e2e.bench;

import io.nemu.e2e.support.CriEnv;
import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.FileTrees;
import io.nemu.e2e.support.GuestImages;
import io.nemu.e2e.support.Sandboxes;
import io.nemu.proto.cri.ContainerConfig;
import io.nemu.proto.cri.PodSandboxConfig;
import io.nemu.vmm.process.ProcessTools;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Prints, in one run: the CRI pod cycle (RunPodSandbox, CreateContainer, StartContainer, ExecSync,
 * StopPodSandbox, RemovePodSandbox) per step and in total with handler runc and handler nemu, the bare VM
 * floor ({@link VmFloor}: plain QEMU, the guest kernel, a busybox-only initramfs), ratios; and what one nemu
 * sandbox costs on the host while its pod runs: RSS and PSS of QEMU, virtiofsd and the shim daemon, and
 * their CPU while idle, the figures behind the RuntimeClass overhead. Medians of {@code --runs N} (default 3).
 * Run with scripts/bench-cri.sh.
 */
public final class CriBenchmark {
    static final String[] STEPS = {"run", "create", "start", "exec", "stop", "remove"};

    public static void main(String[] args) throws Exception {
        int runs = args.length >= 2 && args[0].equals("--runs") ? Integer.parseInt(args[1]) : 3;
        if (runs < 1) {
            throw new IllegalArgumentException("--runs must be at least 1, was " + runs);
        }
        Path work = Files.createTempDirectory("nemu-cri-bench-");
        Map<String, List<long[]>> cycles = new LinkedHashMap<>();
        HostCost cost = null;
        try (CriEnv env = CriEnv.start(work, "nemu-cnib0", "10.217.73.0/24")) {
            boolean nemu = CriEnv.guestImageBuilt();
            for (String handler : nemu ? List.of(CriEnv.RUNC, CriEnv.NEMU) : List.of(CriEnv.RUNC)) {
                cycle(env, handler, 0); // warm-up: image unpack, JIT, page cache
                List<long[]> times = new ArrayList<>();
                for (int i = 1; i <= runs; i++) {
                    times.add(cycle(env, handler, i));
                }
                cycles.put(handler, times);
            }
            if (nemu) {
                cost = hostCost(env);
            }
        } finally {
            FileTrees.delete(work);
        }
        List<Long> floor = floor(runs);
        print(cycles, floor, cost, runs);
    }

    /** One pod cycle; returns milliseconds per step. */
    static long[] cycle(CriEnv env, String handler, int n) throws IOException {
        long[] ms = new long[STEPS.length];
        PodSandboxConfig pod = env.podConfig("bench-" + handler + "-" + n);
        ContainerConfig c = CriEnv.container("app", "exec sleep 100000").build();
        long t = System.nanoTime();
        String podId = env.cri.runPodSandbox(pod, handler);
        t = lap(ms, 0, t);
        String cid = env.cri.createContainer(podId, c, pod);
        t = lap(ms, 1, t);
        env.cri.startContainer(cid);
        t = lap(ms, 2, t);
        env.cri.execSync(cid, Duration.ofSeconds(60), "echo", "hi").requireOk("echo hi in " + handler + " pod");
        t = lap(ms, 3, t);
        env.cri.stopPodSandbox(podId);
        t = lap(ms, 4, t);
        env.cri.removePodSandbox(podId);
        lap(ms, 5, t);
        System.err.printf("%s cycle %d: %s ms%n", handler, n, java.util.Arrays.toString(ms));
        return ms;
    }

    private static long lap(long[] ms, int i, long since) {
        long now = System.nanoTime();
        ms[i] = (now - since) / 1_000_000;
        return now;
    }

    /** Memory and idle CPU of the processes of one running nemu pod (one container, after an exec). */
    record HostCost(Map<String, long[]> perProcess, long rssKib, long pssKib, double idleMillicores,
                    double idleSeconds) {
    }

    static HostCost hostCost(CriEnv env) throws Exception {
        PodSandboxConfig pod = env.podConfig("bench-cost");
        String podId = env.cri.runPodSandbox(pod, CriEnv.NEMU);
        try {
            String cid = env.cri.createContainer(podId, CriEnv.container("app", "exec sleep 100000").build(), pod);
            env.cri.startContainer(cid);
            env.cri.execSync(cid, Duration.ofSeconds(60), "echo", "hi").requireOk("echo hi");
            Thread.sleep(5_000); // let the guest settle after boot
            Map<String, Long> procs = Sandboxes.hostProcesses(podId);
            if (procs.isEmpty()) {
                throw new IllegalStateException("no process of sandbox " + podId + " found");
            }
            Map<String, long[]> per = new LinkedHashMap<>();
            long rss = 0;
            long pss = 0;
            for (Map.Entry<String, Long> p : procs.entrySet()) {
                long[] m = {ProcessTools.procKib(p.getValue(), "smaps_rollup", "Rss"),
                    ProcessTools.procKib(p.getValue(), "smaps_rollup", "Pss")};
                per.put(p.getKey(), m);
                rss += m[0];
                pss += m[1];
            }
            long cpu0 = cpuTicks(procs.values());
            long t0 = System.nanoTime();
            Thread.sleep(10_000);
            long cpu1 = cpuTicks(procs.values());
            double secs = (System.nanoTime() - t0) / 1e9;
            double millicores = (cpu1 - cpu0) * 1000.0 / clockTicks() / secs;
            return new HostCost(per, rss, pss, millicores, secs);
        } finally {
            env.cri.stopPodSandbox(podId);
            env.cri.removePodSandbox(podId);
        }
    }

    /** utime + stime of the processes and their threads, in clock ticks. */
    static long cpuTicks(Iterable<Long> pids) throws IOException {
        long sum = 0;
        for (long pid : pids) {
            String[] f = ProcessTools.statFields(pid);
            sum += Long.parseLong(f[11]) + Long.parseLong(f[12]); // fields 14 and 15: utime, stime
        }
        return sum;
    }

    static long clockTicks() {
        return 100; // USER_HZ on Linux x86-64
    }

    static List<Long> floor(int runs) throws Exception {
        return VmFloor.readyMillis(GuestImages.ofDistribution(Distribution.locate()).orElseThrow(), runs);
    }

    static void print(Map<String, List<long[]>> cycles, List<Long> floor, HostCost cost, int runs) {
        System.out.printf("CRI pod cycle, medians of %d (ms):%n", runs);
        StringBuilder head = new StringBuilder(String.format("  %-8s", "handler"));
        for (String s : STEPS) {
            head.append(String.format(" %8s", s));
        }
        head.append(String.format(" %9s", "total"));
        System.out.println(head);
        Map<String, Long> totals = new LinkedHashMap<>();
        for (Map.Entry<String, List<long[]>> e : cycles.entrySet()) {
            StringBuilder row = new StringBuilder(String.format("  %-8s", e.getKey()));
            for (int s = 0; s < STEPS.length; s++) {
                int step = s;
                row.append(String.format(" %8d", median(e.getValue().stream().map(a -> a[step]).toList())));
            }
            long total = median(e.getValue().stream().map(a -> java.util.Arrays.stream(a).sum()).toList());
            totals.put(e.getKey(), total);
            row.append(String.format(" %9d", total));
            System.out.println(row);
        }
        long floorMs = median(floor);
        System.out.printf("bare VM floor (plain QEMU, virt, busybox initramfs): median %d ms of %s%n", floorMs, floor);
        Long runc = totals.get(CriEnv.RUNC);
        Long nemu = totals.get(CriEnv.NEMU);
        if (nemu != null) {
            System.out.printf("nemu pod cycle: %.1fx runc, %.2fx the bare VM floor; nemu minus floor: %d ms%n",
                    nemu / (double) runc, nemu / (double) floorMs, nemu - floorMs);
        } else {
            System.out.println("nemu pod cycle: n/a (no guest image: nemu image build)");
        }
        if (cost != null) {
            System.out.println("host cost of one running nemu sandbox (one container, idle):");
            cost.perProcess().forEach((name, m) -> System.out.printf("  %-12s RSS %7d KiB  PSS %7d KiB%n", name, m[0], m[1]));
            System.out.printf("  total        RSS %7d KiB (%.0f MiB; guest RAM pages counted in QEMU and virtiofsd)"
                    + "  PSS %7d KiB (%.0f MiB)%n", cost.rssKib(), cost.rssKib() / 1024.0, cost.pssKib(),
                    cost.pssKib() / 1024.0);
            System.out.printf("  idle CPU over %.0f s: %.0f millicores%n", cost.idleSeconds(), cost.idleMillicores());
            runtimeClassCheck(cost);
        }
    }

    /** Whether the shipped RuntimeClass overhead covers what was measured. */
    static void runtimeClassCheck(HostCost cost) {
        Path file = CriEnv.distribution().resolve("share/kubernetes/runtimeclass.yaml");
        try {
            var fixed = new com.fasterxml.jackson.dataformat.yaml.YAMLMapper().readTree(file.toFile())
                    .path("overhead").path("podFixed");
            String memory = fixed.path("memory").asText();
            String cpu = fixed.path("cpu").asText();
            long memMib = Long.parseLong(memory.replace("Mi", ""));
            long cpuMilli = Long.parseLong(cpu.replace("m", ""));
            boolean memOk = memMib * 1024 >= cost.pssKib();
            boolean cpuOk = cpuMilli >= cost.idleMillicores();
            System.out.printf("  shipped RuntimeClass overhead.podFixed %s / %s: %s%n", memory, cpu,
                    memOk && cpuOk ? "covers this measurement"
                            : "does NOT cover this measurement (" + (memOk ? "" : "memory ") + (cpuOk ? "" : "cpu")
                            + "): update " + file);
        } catch (IOException | RuntimeException e) {
            System.out.println("  shipped RuntimeClass: cannot read " + file + ": " + e.getMessage());
        }
    }

    static long median(List<Long> v) {
        return VmFloor.median(v);
    }
}
