package io.nemu.e2e.bench;

import io.nemu.e2e.stdio.StdioTransfers;
import io.nemu.e2e.support.Containerd;
import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.FileTrees;
import io.nemu.e2e.support.GuestImages;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Prints, in one run, MB/s of 100 MB through a container's stdio (the stdout of {@code ctr run}, an exec's
 * stdout, an exec's stdin; digests checked) for our runtime and for runc, against what the same container's
 * own pipe moves ({@code generator | cat > /dev/null} and {@code head -c 100000000 /dev/zero | cat > /dev/null},
 * timed in the container): the guest's pipe for nemu, the host's for runc. Run with scripts/bench-stdio.sh;
 * {@code --kernel-params WORDS} adds guest kernel words (e.g. {@code nemu.agent_jit=on}: the agent with its JIT).
 */
public final class StdioBenchmark {
    private static final Duration MAX = Duration.ofMinutes(10);
    private static final String ZEROS = "head -c " + StdioTransfers.BYTES + " /dev/zero | cat > /dev/null";

    public static void main(String[] args) throws Exception {
        String kernelParams = "";
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--kernel-params") && i + 1 < args.length) {
                kernelParams = args[++i];
            } else {
                throw new IllegalArgumentException("unknown option " + args[i] + " (use --kernel-params WORDS)");
            }
        }
        if (kernelParams.contains("\"")) {
            throw new IllegalArgumentException("--kernel-params must not contain a double quote: " + kernelParams);
        }
        Distribution dist = Distribution.locate();
        GuestImages.ofDistribution(dist).filter(GuestImages::hasAgent)
                .orElseThrow(() -> new IllegalStateException("no guest image with the agent: nemu image build"));
        Path work = Files.createTempDirectory("nemu-bench-stdio-");
        StdioTransfers t = new StdioTransfers();
        List<String> lines = new ArrayList<>();
        try (Containerd c = Containerd.builder().extraPath(dist.bin()).ctrTimeout(Duration.ofSeconds(240)).start()) {
            Path config = dist.writeConfig(work,
                    kernelParams.isEmpty() ? "" : "kernel_params = \"" + kernelParams + "\"", "dial_timeout = 180");
            lines.addAll(measure(c, t, work, "runc", List.of("run", "--runtime", "io.containerd.runc.v2")));
            lines.addAll(measure(c, t, work, "nemu", Distribution.runArgs(config)));
            if (!kernelParams.isEmpty()) {
                lines.add("nemu: guest kernel_params \"" + kernelParams + "\"");
            }
        } finally {
            FileTrees.delete(work);
        }
        lines.forEach(System.out::println);
    }

    private static List<String> measure(Containerd c, StdioTransfers t, Path work, String name, List<String> run)
            throws Exception {
        String id = "bench-stdio-" + name + "-" + ProcessHandle.current().pid();
        List<String> args = new ArrayList<>(run);
        args.addAll(List.of("--rm", "--rootfs", t.rootfs(work.resolve("rootfs-" + name)).toString(), id, "/bin/sh",
                "-c", StdioTransfers.PREPARE + " && " + CPU_TO_STDERR + " && " + StdioTransfers.GENERATE + "; "
                + CPU_TO_STDERR + "; read x"));
        StdioTransfers.Running init = StdioTransfers.start(c, args, StdioTransfers.BYTES);
        try {
            StdioTransfers.Transfer out = check(t, init.received(MAX));
            long[] a = cpu(c, id, "cpu-a");
            StdioTransfers.Transfer execOut = check(t, t.execStdout(c, id, "out", MAX));
            long[] b = cpu(c, id, "cpu-b");
            StdioTransfers.Transfer execIn = check(t, t.execStdin(c, id, "in", MAX));
            long[] d = cpu(c, id, "cpu-c");
            double pipe = pipeMbPerSecond(c, id, "pipe", "{ " + StdioTransfers.GENERATE + "; } | cat > /dev/null");
            double zeros = pipeMbPerSecond(c, id, "zeros", ZEROS);
            init.stdin().close();
            StdioTransfers.Transfer done = init.exited(MAX);
            String where = name.equals("runc") ? "host" : "guest";
            List<long[]> initCpu = done.stderr().lines().filter(l -> l.startsWith("cpu ")).map(StdioBenchmark::parseCpu)
                    .toList();
            return List.of(
                    String.format("%s: %s CPU (user/system/irq+softirq/idle %% of the transfer): ctr run stdout %s, exec"
                            + " stdout %s, exec stdin %s", name, where,
                            initCpu.size() == 2 ? split(initCpu.get(0), initCpu.get(1)) : "?", split(a, b),
                            split(b, d)),
                    String.format("%s: %s pipe in the container: %.1f MB/s (generator | cat), %.1f MB/s"
                            + " (head -c /dev/zero | cat)", name, where, pipe, zeros),
                    line(name, "ctr run stdout", out, pipe),
                    line(name, "exec stdout   ", execOut, pipe),
                    line(name, "exec stdin    ", execIn, pipe));
        } finally {
            init.kill();
            c.forceRemove(id);
        }
    }

    /** Prints the kernel's CPU totals line (/proc/stat is not per namespace: the guest's or host's). */
    private static final String CPU_TO_STDERR = "head -1 /proc/stat >&2";

    private static long[] cpu(Containerd c, String id, String execId) {
        return parseCpu(c.ctr(MAX, "task", "exec", "--exec-id", execId, id, "/bin/head", "-1", "/proc/stat")
                .requireOk().stdout().strip());
    }

    private static long[] parseCpu(String line) {
        String[] f = line.trim().split("\\s+");
        long[] v = new long[f.length - 1];
        for (int i = 1; i < f.length; i++) {
            v[i - 1] = Long.parseLong(f[i]);
        }
        return v;
    }

    /** user+nice / system / irq+softirq / idle+iowait between two /proc/stat cpu lines, % of all ticks. */
    private static String split(long[] a, long[] b) {
        long[] d = new long[Math.min(a.length, b.length)];
        long all = 0;
        for (int i = 0; i < d.length && i < 8; i++) {
            d[i] = b[i] - a[i];
            all += d[i];
        }
        if (all == 0) {
            return "?";
        }
        double f = 100.0 / all;
        return String.format("%.0f/%.0f/%.0f/%.0f", (d[0] + d[1]) * f, d[2] * f, (d[5] + d[6]) * f, (d[3] + d[4]) * f);
    }

    private static String line(String name, String what, StdioTransfers.Transfer t, double pipe) {
        return String.format("%s: %s %6.1f MB/s (%.1f s for %d bytes; %.1fx below the container's pipe)", name, what,
                t.mbPerSecond(), t.firstToLastNanos() / 1e9, t.bytes(), pipe / t.mbPerSecond());
    }

    private static StdioTransfers.Transfer check(StdioTransfers t, StdioTransfers.Transfer got) {
        if (!got.sha256().equals(t.sha256()) || got.exitCode() > 0) {
            throw new IllegalStateException("transfer damaged: " + got + "; expected sha256 " + t.sha256());
        }
        return got;
    }

    /** Times {@code script} in the container by its /proc/uptime (10 ms steps): MB/s of {@link StdioTransfers#BYTES}. */
    private static double pipeMbPerSecond(Containerd c, String id, String execId, String script) {
        Containerd.CtrResult r = c.ctr(MAX, "task", "exec", "--exec-id", execId, id, "/bin/sh", "-c",
                "a=$(cat /proc/uptime); " + script + "; b=$(cat /proc/uptime); echo ${a%% *} ${b%% *}").requireOk();
        String[] ab = r.stdout().strip().split("\\s+");
        if (ab.length != 2) {
            throw new IllegalStateException("timing of " + script + " in " + id + ": " + r.stdout());
        }
        double seconds = Double.parseDouble(ab[1]) - Double.parseDouble(ab[0]);
        return StdioTransfers.BYTES / 1e6 / seconds;
    }
}
