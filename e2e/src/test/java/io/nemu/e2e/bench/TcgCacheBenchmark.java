package io.nemu.e2e.bench;

import io.nemu.e2e.support.Containerd;
import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.FileTrees;
import io.nemu.e2e.support.Rootfs;
import io.nemu.vmm.process.ProcessTools;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code tcg_tb_size} against QEMU's own default, interleaved in one run: for each bound, {@code ctr run -d}
 * of a busybox pod (the shim's create waits for the agent, so this is boot to agent ready plus the container's
 * start), QEMU's RSS then, the wall time of a CPU-heavy exec (sha256sum of 50 MiB) and QEMU's RSS after it.
 * Medians of {@code --runs N} (2). Arguments: {@code --runs N}, {@code --sizes 0,64,48,32} (0: no bound).
 */
public final class TcgCacheBenchmark {
    private static final String WORKLOAD = "dd if=/dev/zero bs=1M count=50 2>/dev/null | sha256sum";

    private record Sample(long startMs, long readyRssKib, long busyMs, long busyRssKib) {
    }

    public static void main(String[] args) throws Exception {
        int runs = 2;
        List<Integer> sizes = List.of(0, 64, 48, 32);
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--runs" -> runs = Integer.parseInt(args[++i]);
                case "--sizes" -> sizes = java.util.Arrays.stream(args[++i].split(",")).map(Integer::parseInt).toList();
                default -> throw new IllegalArgumentException("unknown option " + args[i] + " (--runs N, --sizes a,b)");
            }
        }
        Distribution dist = Distribution.locate();
        Path work = Files.createTempDirectory("nemu-tcg-bench-");
        List<List<Sample>> samples = new ArrayList<>();
        sizes.forEach(s -> samples.add(new ArrayList<>()));
        try (Containerd c = Containerd.builder().extraPath(dist.bin()).ctrTimeout(Duration.ofSeconds(240)).start()) {
            for (int r = 0; r < runs; r++) {
                for (int k = 0; k < sizes.size(); k++) { // interleaved: a load change hits every size alike
                    Path dir = Files.createDirectories(work.resolve("tb" + sizes.get(k) + "-" + r));
                    Path config = dist.writeConfig(dir, "tcg_tb_size = " + sizes.get(k), "dial_timeout = 120");
                    samples.get(k).add(one(c, config, Rootfs.busybox(dir.resolve("rootfs"), "sha256sum", "dd"),
                            "tb" + sizes.get(k) + "-" + r));
                }
            }
        } finally {
            FileTrees.delete(work);
        }
        System.out.println("tcg_tb_size  start(ms)  QEMU RSS ready(MiB)  sha256 50MiB(ms)  QEMU RSS busy(MiB)");
        for (int k = 0; k < sizes.size(); k++) {
            List<Sample> s = samples.get(k);
            System.out.printf("%-11s  %9d  %19.1f  %16d  %18.1f   of %s%n",
                    sizes.get(k) == 0 ? "default" : sizes.get(k) + "", median(s, Sample::startMs),
                    median(s, Sample::readyRssKib) / 1024.0, median(s, Sample::busyMs),
                    median(s, Sample::busyRssKib) / 1024.0, s);
        }
    }

    private static Sample one(Containerd c, Path config, Path rootfs, String id) {
        try {
            long t0 = System.nanoTime();
            c.ctr("run", "-d", "--runtime", "io.containerd.nemu.v2", "--runtime-config-path", config.toString(),
                    "--rootfs", rootfs.toString(), id, "/bin/sleep", "600").requireOk();
            long start = (System.nanoTime() - t0) / 1_000_000;
            long qemu = qemuPid(c, id);
            long readyRss = ProcessTools.rssKib(qemu);
            ProcessHandle.of(qemu).flatMap(ProcessHandle::parent).ifPresent(d -> System.out.printf(
                    "%s: shim daemon (serving this one pod) PSS %.1f MiB%n", id,
                    ProcessTools.procKib(d.pid(), "smaps_rollup", "Pss") / 1024.0));
            t0 = System.nanoTime();
            String out = c.ctr("task", "exec", "--exec-id", "busy", id, "/bin/sh", "-c", WORKLOAD).requireOk().stdout();
            long busy = (System.nanoTime() - t0) / 1_000_000;
            if (!out.contains("-")) {
                throw new IllegalStateException("no sha256sum output: " + out);
            }
            return new Sample(start, readyRss, busy, ProcessTools.rssKib(qemu));
        } finally {
            c.forceRemove(id);
        }
    }

    private static long qemuPid(Containerd c, String id) {
        String ls = c.ctr("task", "ls").requireOk().stdout();
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(id) + "\\s+(\\d+)\\s+RUNNING").matcher(ls);
        if (!m.find()) {
            throw new IllegalStateException(id + " is not running: " + ls);
        }
        return Long.parseLong(m.group(1));
    }

    private static long median(List<Sample> s, java.util.function.ToLongFunction<Sample> f) {
        return VmFloor.median(s.stream().map(f::applyAsLong).toList());
    }
}
