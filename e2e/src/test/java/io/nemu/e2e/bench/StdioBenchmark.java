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
                "-c", StdioTransfers.PREPARE + " && " + StdioTransfers.GENERATE + "; read x"));
        StdioTransfers.Running init = StdioTransfers.start(c, args, StdioTransfers.BYTES);
        try {
            StdioTransfers.Transfer out = check(t, init.received(MAX));
            StdioTransfers.Transfer execOut = check(t, t.execStdout(c, id, "out", MAX));
            StdioTransfers.Transfer execIn = check(t, t.execStdin(c, id, "in", MAX));
            double pipe = pipeMbPerSecond(c, id, "pipe", "{ " + StdioTransfers.GENERATE + "; } | cat > /dev/null");
            double zeros = pipeMbPerSecond(c, id, "zeros", ZEROS);
            init.stdin().close();
            init.exited(MAX);
            String where = name.equals("runc") ? "host" : "guest";
            return List.of(
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
