package io.nemu.e2e.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nemu.e2e.support.CniBridge;
import io.nemu.e2e.support.CriEnv;
import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.FileTrees;
import io.nemu.e2e.support.GuestImages;
import io.nemu.e2e.support.Leftovers;
import io.nemu.e2e.support.Rootfs;
import io.nemu.firmware.GuestImage;
import io.nemu.proto.cri.ContainerState;
import io.nemu.proto.cri.PodSandboxConfig;
import io.nemu.vmm.Accelerator;
import io.nemu.vmm.AcceleratorProbe;
import io.nemu.vmm.MachineProfile;
import io.nemu.vmm.VmConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The lean-sandbox figures in one run (issue 12's "Measure"): host PSS per pod at several pod counts running
 * at once (CRI, each a busybox sleep container), split into QEMU (guest RAM, TCG code cache, rest), virtiofsd
 * and the pod's share of its shim daemon; pod start (CRI RunPodSandbox to container running, and
 * {@code ctr run --rm echo}) against the bare boot floor ({@link VmFloor}) booted interleaved with them; and
 * the most pods this machine holds. It measures whatever the distribution's configuration is.
 *
 * <p>Run with scripts/bench-lean.sh. Options: {@code --pods 1,5,10}, {@code --runs N} (pod start samples, 3; 0
 * skips them),
 * {@code --max-pods N} (50; 0 or {@code --no-max} skips it), {@code --max-minutes M} (no more pods are started
 * in the most-pods part after M minutes of it; 0, the default, is no bound), {@code --settle S} (seconds before
 * measuring, 10).
 * Ctrl-C stops the run and still removes every pod, containerd, the CNI bridge and the pods' netns.
 */
public final class LeanBenchmark {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final double MEM_FLOOR = 0.20;

    record Options(List<Integer> pods, int runs, int maxPods, int settleSeconds, int maxMinutes) {
        static Options parse(String[] args) {
            List<Integer> pods = List.of(1, 5, 10);
            int runs = 3;
            int max = 50;
            int settle = 10;
            int minutes = 0;
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                switch (a) {
                    case "--pods" -> pods = java.util.Arrays.stream(value(args, ++i, a).split(","))
                            .map(s -> positive(a, s)).sorted().distinct().toList();
                    case "--runs" -> runs = Integer.parseInt(value(args, ++i, a));
                    case "--max-pods" -> max = Integer.parseInt(value(args, ++i, a));
                    case "--no-max" -> max = 0;
                    case "--settle" -> settle = Integer.parseInt(value(args, ++i, a));
                    case "--max-minutes" -> minutes = Integer.parseInt(value(args, ++i, a));
                    default -> throw new IllegalArgumentException("unknown option " + a
                            + " (use --pods 1,5,10 --runs N --max-pods N --no-max --max-minutes M --settle S)");
                }
            }
            if (runs < 0 || max < 0 || settle < 0 || minutes < 0) {
                throw new IllegalArgumentException("--runs, --max-pods, --max-minutes and --settle must be >= 0");
            }
            return new Options(pods, runs, max, settle, minutes);
        }

        private static String value(String[] args, int i, String option) {
            if (i >= args.length) {
                throw new IllegalArgumentException(option + " needs a value");
            }
            return args[i];
        }

        private static int positive(String option, String s) {
            int n = Integer.parseInt(s.trim());
            if (n < 1) {
                throw new IllegalArgumentException(option + ": " + s + " is not a positive count");
            }
            return n;
        }
    }

    record Level(int pods, List<PodHostCost> costs, long memAvailableKib) {
    }

    record MaxPods(int running, String stopReason, long memAvailableKib) {
    }

    private final Options opts;
    private final CriEnv env;
    private final Path work;
    /** Pods running now, in start order; every pod started; their netns (deleted at the end if CRI left one). */
    private final Set<String> running = new LinkedHashSet<>();
    private final List<String> started = new ArrayList<>();
    private final List<String> netns = new ArrayList<>();
    private int podSeq;

    private LeanBenchmark(Options opts, CriEnv env, Path work) {
        this.opts = opts;
        this.env = env;
        this.work = work;
    }

    public static void main(String[] args) throws Exception {
        Options opts = Options.parse(args);
        Thread main = Thread.currentThread();
        // Ctrl-C interrupts the run so that its own cleanup removes pods while containerd still runs.
        for (String sig : List.of("INT", "TERM")) {
            sun.misc.Signal.handle(new sun.misc.Signal(sig), s -> {
                System.err.println("bench: SIG" + sig + ": stopping, cleaning up");
                main.interrupt();
            });
        }
        Path work = Files.createTempDirectory("nemu-lean-bench-");
        CriEnv env = null;
        LeanBenchmark bench = null;
        Throwable failure = null;
        try {
            env = CriEnv.start(work, "nemu-leanb", "10.218.9.0/24");
            bench = new LeanBenchmark(opts, env, work);
            bench.run();
        } catch (Exception | Error e) {
            failure = e;
            throw e;
        } finally {
            Thread.interrupted(); // cleanup runs to its end even after Ctrl-C
            try {
                if (bench != null) {
                    bench.removeAll();
                }
                CriEnv.closeAndDelete(env, work);
                if (bench != null) {
                    bench.checkLeftovers(env.network.bridge());
                }
            } catch (Exception | Error e) {
                if (failure == null) {
                    throw e;
                }
                failure.addSuppressed(e); // the run's own failure is the one to report
            }
        }
    }

    private void run() throws Exception {
        GuestImage image = GuestImages.ofDistribution(Distribution.locate())
                .orElseThrow(() -> new IllegalStateException("no guest image: run `scripts/nemu image build`"));
        String config = Files.readString(env.configPath);
        Accelerator accel = AcceleratorProbe.choose(Accelerator.parse(configValue(config, "accelerator", "auto")),
                VmConfig.DEFAULT_QEMU).accelerator();
        MachineProfile profile = MachineProfile.byName(configValue(config, "machine_type", "virt"));
        Machine machine = Machine.describe(accel, image);

        StartTimes starts = opts.runs() > 0 ? startTimes(image, profile, accel) : null;
        List<Level> levels = new ArrayList<>();
        for (int n : opts.pods()) {
            levels.add(level(n));
        }
        MaxPods max = opts.maxPods() > 0 ? maxPods() : null;
        LeanReport.print(machine, profile, opts, starts, levels, max);
    }

    record StartTimes(List<Long> floor, List<Long> cri, List<Long> ctrEcho) {
    }

    /** Floor boot, CRI pod start and ctr run echo, interleaved; one untimed warm-up of each runtime path first. */
    private StartTimes startTimes(GuestImage image, MachineProfile profile, Accelerator accel) throws Exception {
        Path initrd = VmFloor.busyboxInitramfs(work.resolve("floor.cpio"));
        criStart(true);
        ctrEcho(0);
        List<Long> floor = new ArrayList<>();
        List<Long> cri = new ArrayList<>();
        List<Long> ctr = new ArrayList<>();
        for (int i = 1; i <= opts.runs(); i++) {
            floor.add(VmFloor.bootMillis(profile, image.kernel(), initrd, VmFloor.MARKER, accel,
                    work.resolve("floor-" + i)));
            cri.add(criStart(true));
            ctr.add(ctrEcho(i));
            System.err.printf("bench: start run %d: floor %d ms, CRI pod %d ms, ctr run echo %d ms%n", i,
                    floor.get(i - 1), cri.get(i - 1), ctr.get(i - 1));
        }
        return new StartTimes(floor, cri, ctr);
    }

    /** One pod: RunPodSandbox to its sleep container RUNNING (ms); removed again if {@code remove}. */
    private long criStart(boolean remove) throws Exception {
        String name = "lean-" + (++podSeq);
        PodSandboxConfig pod = env.podConfig(name);
        long t0 = System.nanoTime();
        String podId = env.cri.runPodSandbox(pod, CriEnv.NEMU);
        running.add(podId);
        started.add(podId);
        long ms;
        try {
            String cid = env.cri.createContainer(podId, CriEnv.container("sleep", "exec sleep 100000").build(), pod);
            env.cri.startContainer(cid);
            for (ContainerState s; (s = env.cri.containerStatus(cid).getState()) != ContainerState.CONTAINER_RUNNING;) {
                if (s == ContainerState.CONTAINER_EXITED) {
                    throw new IllegalStateException("the sleep container of pod " + name + " exited");
                }
                Thread.sleep(20);
            }
            ms = (System.nanoTime() - t0) / 1_000_000;
        } catch (Exception | Error e) {
            // A pod that did not get its container running is not counted: remove it now.
            try {
                removePod(podId);
            } catch (RuntimeException second) {
                e.addSuppressed(second);
            }
            throw e;
        }
        recordNetns(podId);
        if (remove) {
            removePod(podId);
        }
        return ms;
    }

    private long ctrEcho(int i) throws Exception {
        Path rootfs = Rootfs.busybox(work.resolve("rootfs-echo-" + i));
        long t0 = System.nanoTime();
        env.containerd.ctr(Duration.ofSeconds(240), Distribution.runArgs(env.configPath, "--rm", "--rootfs",
                rootfs.toString(), "lean-echo-" + i, "/bin/echo", "hi")).requireOk();
        return (System.nanoTime() - t0) / 1_000_000;
    }

    /** Starts pods one by one until {@code n} run (keeping those of the level before), settles, measures. */
    private Level level(int n) throws Exception {
        while (running.size() < n) {
            long ms = criStart(false);
            System.err.printf("bench: pod %d of %d running (%d ms)%n", running.size(), n, ms);
        }
        Thread.sleep(opts.settleSeconds() * 1000L);
        List<ProcessHandle> shims = env.containerd.shimProcesses();
        List<PodHostCost> costs = new ArrayList<>();
        for (String podId : running) {
            costs.add(PodHostCost.measure(podId, shims));
        }
        return new Level(n, costs, memInfoKib("MemAvailable"));
    }

    /**
     * Adds pods to those running until --max-pods, MemAvailable below 20% of MemTotal, a pod fails, or
     * --max-minutes have passed.
     */
    private MaxPods maxPods() {
        long total = memInfoKib("MemTotal");
        long until = opts.maxMinutes() == 0 ? Long.MAX_VALUE : System.nanoTime() + opts.maxMinutes() * 60_000_000_000L;
        while (true) {
            long available = memInfoKib("MemAvailable");
            if (running.size() >= opts.maxPods()) {
                return new MaxPods(running.size(), "reached --max-pods " + opts.maxPods(), available);
            }
            if (System.nanoTime() > until) {
                return new MaxPods(running.size(), "reached --max-minutes " + opts.maxMinutes()
                        + " (time, not a limit of the host)", available);
            }
            if (available < total * MEM_FLOOR) {
                return new MaxPods(running.size(), String.format("host MemAvailable %d MiB < 20%% of MemTotal %d MiB",
                        available / 1024, total / 1024), available);
            }
            try {
                long ms = criStart(false);
                System.err.printf("bench: max: pod %d running (%d ms), MemAvailable %d MiB%n", running.size(), ms,
                        memInfoKib("MemAvailable") / 1024);
            } catch (Exception | Error e) {
                if (Thread.currentThread().isInterrupted()) {
                    throw new IllegalStateException("interrupted", e);
                }
                return new MaxPods(running.size(), "pod " + (running.size() + 1) + " failed: "
                        + String.valueOf(e.getMessage()).lines().findFirst().orElse(""), memInfoKib("MemAvailable"));
            }
        }
    }

    private void recordNetns(String podId) {
        try {
            String info = env.cri.podSandboxStatus(podId, true).getInfoMap().get("info");
            if (info != null) {
                for (JsonNode ns : JSON.readTree(info).path("runtimeSpec").path("linux").path("namespaces")) {
                    String path = ns.path("path").asText("");
                    if (ns.path("type").asText().equals("network") && path.startsWith("/var/run/netns/")) {
                        netns.add(path.substring("/var/run/netns/".length()));
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            System.err.println("bench: no netns path for pod " + podId + ": " + e.getMessage());
        }
    }

    private void removePod(String podId) {
        env.cri.stopPodSandbox(podId);
        env.cri.removePodSandbox(podId);
        running.remove(podId);
    }

    /** Every pod still running (CRI), then any pod netns CRI left (containerd gone mid-way). */
    private void removeAll() {
        for (String podId : List.copyOf(running)) {
            try {
                removePod(podId);
            } catch (RuntimeException e) {
                System.err.println("bench: removing pod " + podId + ": " + e.getMessage());
            }
        }
        if (env.containerd.isAlive()) {
            try {
                env.removeAllPods();
            } catch (RuntimeException e) {
                System.err.println("bench: removing pods: " + e.getMessage());
            }
        }
    }

    /** After containerd is gone: the pods' netns, processes and folders, and the bridge must be gone too. */
    private void checkLeftovers(String bridge) throws IOException {
        for (String ns : netns) {
            if (CniBridge.netnsNames().contains(ns)) {
                System.err.println("bench: deleting netns " + ns + " left by a pod");
                CniBridge.output(Duration.ofSeconds(10), "ip", "netns", "del", ns);
            }
        }
        Leftovers check = Leftovers.ofSandboxes(started.toArray(new String[0]));
        netns.forEach(check::netns);
        check.link(bridge);
        check.assertNone();
    }

    static long memInfoKib(String key) {
        try {
            Matcher m = Pattern.compile("(?m)^" + key + ":\\s+(\\d+) kB").matcher(Files.readString(Path.of("/proc/meminfo")));
            if (m.find()) {
                return Long.parseLong(m.group(1));
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot read /proc/meminfo", e);
        }
        throw new IllegalStateException("no " + key + " in /proc/meminfo");
    }

    /** A top-level {@code key = "value"} of configuration.toml, or {@code fallback}. */
    static String configValue(String toml, String key, String fallback) {
        Matcher m = Pattern.compile("(?m)^\\s*" + Pattern.quote(key) + "\\s*=\\s*\"([^\"]*)\"").matcher(toml);
        return m.find() ? m.group(1) : fallback;
    }

    /** The host as the README describes it next to the figures. */
    record Machine(int cores, String cpu, long memTotalKib, String accelerator, String qemu, String hostKernel,
            String guestKernel) {
        static Machine describe(Accelerator accel, GuestImage image) throws IOException {
            String cpuinfo = Files.readString(Path.of("/proc/cpuinfo"));
            Matcher model = Pattern.compile("(?m)^model name\\s*:\\s*(.+)$").matcher(cpuinfo);
            String qemu = CniBridge.output(Duration.ofSeconds(10), VmConfig.DEFAULT_QEMU.toString(), "--version")
                    .lines().findFirst().orElse("?");
            String kernel = Files.readString(Path.of("/proc/sys/kernel/osrelease")).strip();
            return new Machine(Runtime.getRuntime().availableProcessors(), model.find() ? model.group(1).strip() : "?",
                    memInfoKib("MemTotal"), accel.name().toLowerCase(java.util.Locale.ROOT), qemu, kernel,
                    image.kernelRelease());
        }
    }
}
