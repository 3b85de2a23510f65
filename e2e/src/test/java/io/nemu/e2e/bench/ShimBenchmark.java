package io.nemu.e2e.bench;

import io.nemu.e2e.support.Containerd;
import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.FileTrees;
import io.nemu.e2e.support.GuestImages;
import io.nemu.e2e.support.HostAgent;
import io.nemu.e2e.support.Rootfs;
import io.nemu.firmware.GuestImage;
import io.nemu.proto.containerd.task.v2.ConnectRequest;
import io.nemu.proto.containerd.task.v2.ShutdownRequest;
import io.nemu.proto.containerd.task.v2.TaskGrpc;
import io.nemu.shim.daemon.ShimDaemon;
import io.nemu.ttrpc.TtrpcClient;
import io.nemu.vmm.process.ProcessTools;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * Prints, in one run: {@code ctr run ... echo} wall time with runc, with our runtime (when the guest
 * image has the agent) and the bare VM floor ({@link VmFloor}: plain QEMU, the guest kernel, a busybox-only
 * initramfs), with ratios; the shim {@code start} command's latency; the shim daemon's RSS. Medians of
 * {@code --runs N}.
 * Run with scripts/bench-shim.sh.
 */
public final class ShimBenchmark {
    public static void main(String[] args) throws Exception {
        int runs = args.length >= 2 && args[0].equals("--runs") ? Integer.parseInt(args[1]) : 3;
        Distribution dist = Distribution.locate();
        Path work = Files.createTempDirectory("nemu-bench-");
        try {
            startLatencyAndRss(dist, work, runs);
            ctrRuns(dist, work, runs);
        } finally {
            FileTrees.delete(work);
        }
    }

    static void startLatencyAndRss(Distribution dist, Path work, int runs) throws Exception {
        Path bundle = Distribution.bundle(work.resolve("bundle"), Map.of());
        Path config = dist.writeConfig(work, "", "");
        List<Long> ms = new ArrayList<>();
        List<Long> rss = new ArrayList<>();
        List<Long> pss = new ArrayList<>();
        String address = work.resolve("containerd.sock").toString();
        for (int i = 0; i < runs; i++) {
            String id = "bench-" + ProcessHandle.current().pid() + "-" + i;
            long t0 = System.nanoTime();
            Distribution.Run r = dist.shim(bundle, Map.of("TTRPC_ADDRESS", work.resolve("none").toString()),
                    Distribution.runtimeOptions(config), Duration.ofSeconds(30),
                    "-namespace", "bench", "-address", address, "-id", id, "start");
            ms.add((System.nanoTime() - t0) / 1_000_000);
            if (r.exitCode() != 0) {
                throw new IllegalStateException("start failed: " + r.stderr());
            }
            Path socket = Path.of(r.out().substring("unix://".length()));
            try (TtrpcClient c = TtrpcClient.connect(socket)) {
                long pid = TaskGrpc.newBlockingStub(c).withDeadlineAfter(10, TimeUnit.SECONDS)
                        .connect(ConnectRequest.newBuilder().setId(id).build()).getShimPid();
                Thread.sleep(500);
                rss.add(ProcessTools.rssKib(pid));
                pss.add(rollupKib(pid, "Pss"));
                TaskGrpc.newBlockingStub(c).withDeadlineAfter(10, TimeUnit.SECONDS)
                        .shutdown(ShutdownRequest.newBuilder().setId(id).build());
                ProcessHandle.of(pid).ifPresent(h -> h.onExit().join());
            } finally {
                dist.shim(bundle, Map.of(), new byte[0], Duration.ofSeconds(30),
                        "-namespace", "bench", "-address", address, "-id", id, "delete");
            }
        }
        System.out.printf("shim start (to a listening daemon): median %d ms of %s%n", median(ms), ms);
        System.out.printf("shim daemon RSS, idle: median %d KiB (%.1f MiB) of %s; aim <= 48 MiB%n", median(rss),
                median(rss) / 1024.0, rss);
        System.out.printf("shim daemon PSS, idle: median %d KiB (%.1f MiB) of %s (jars and CDS archives are shared"
                + " between pods)%n", median(pss), median(pss) / 1024.0, pss);
    }

    static void ctrRuns(Distribution dist, Path work, int runs) throws Exception {
        Path config = dist.writeConfig(work, "", "dial_timeout = 90");
        List<Long> runc = new ArrayList<>();
        List<Long> nemu = new ArrayList<>();
        List<Long> hostAgent = new ArrayList<>();
        List<String> memory = List.of();
        GuestImage img = GuestImages.ofDistribution(dist).orElse(null);
        boolean agent = img != null && GuestImages.hasAgent(img);
        Path agentSocket = work.resolve("host-agent.sock");
        // The stand-in is reached through the shim's test hook in containerd's environment: a containerd of its own.
        try (HostAgent stand = new HostAgent(agentSocket);
             Containerd c = Containerd.builder().extraPath(dist.bin()).ctrTimeout(Duration.ofSeconds(180)).start();
             Containerd hc = Containerd.builder().extraPath(dist.bin()).ctrTimeout(Duration.ofSeconds(180))
                     .env(ShimDaemon.ENV_TEST_AGENT_SOCKET, agentSocket.toString()).start()) {
            for (int i = 0; i < runs; i++) {
                Path rootfs = Rootfs.busybox(work.resolve("rootfs-runc-" + i));
                long t0 = System.nanoTime();
                c.ctr("run", "--rm", "--runtime", "io.containerd.runc.v2", "--rootfs", rootfs.toString(), "br" + i,
                        "/bin/echo", "hi").requireOk();
                runc.add((System.nanoTime() - t0) / 1_000_000);
                Path r3 = Rootfs.busybox(work.resolve("rootfs-host-" + i));
                t0 = System.nanoTime();
                hc.ctr("run", "--rm", "--runtime", "io.containerd.nemu.v2", "--runtime-config-path",
                        config.toString(), "--rootfs", r3.toString(), "bh" + i, "/bin/echo", "hi").requireOk();
                hostAgent.add((System.nanoTime() - t0) / 1_000_000);
                if (agent) {
                    Path r2 = Rootfs.busybox(work.resolve("rootfs-nemu-" + i));
                    t0 = System.nanoTime();
                    c.ctr("run", "--rm", "--runtime", "io.containerd.nemu.v2", "--runtime-config-path", config.toString(),
                            "--rootfs", r2.toString(), "bn" + i, "/bin/echo", "hi").requireOk();
                    nemu.add((System.nanoTime() - t0) / 1_000_000);
                }
            }
            if (agent) {
                memory = memoryPerPod(c, config, work);
            }
        }
        List<Long> floor = img == null ? List.of() : VmFloor.readyMillis(img, runs);
        long r = median(runc);
        System.out.printf("ctr run echo, runc:          median %d ms of %s%n", r, runc);
        if (!floor.isEmpty()) {
            System.out.printf("bare VM floor (plain QEMU, virt, busybox initramfs): median %d ms of %s (%.1fx runc)%n", median(floor), floor,
                    median(floor) / (double) r);
        }
        System.out.printf("ctr run echo, nemu shim + VM, host-side agent stand-in (guest boot not awaited):"
                + " median %d ms of %s (%.1fx runc)%n", median(hostAgent), hostAgent, median(hostAgent) / (double) r);
        if (agent) {
            System.out.printf("ctr run echo, nemu:          median %d ms of %s (%.1fx runc, %.2fx VM floor)%n",
                    median(nemu), nemu, median(nemu) / (double) r,
                    floor.isEmpty() ? Double.NaN : median(nemu) / (double) median(floor));
        } else {
            System.out.println("ctr run echo, nemu:          n/a: the guest image has no agent yet");
        }
        memory.forEach(System.out::println);
    }

    /**
     * Two pods running side by side: each shim daemon's RSS, PSS and private memory (what one more pod
     * really costs: the JDK, jars and CDS archives are shared page by page), and its QEMU and virtiofsd.
     */
    static List<String> memoryPerPod(Containerd c, Path config, Path work) throws Exception {
        List<String> lines = new ArrayList<>();
        List<String> ids = List.of("bm0", "bm1");
        List<Thread> starts = new ArrayList<>();
        List<String> failures = Collections.synchronizedList(new ArrayList<>());
        for (String id : ids) {
            Path rootfs = Rootfs.busybox(work.resolve("rootfs-" + id));
            Thread t = new Thread(() -> {
                Containerd.CtrResult r = c.ctr("run", "-d", "--runtime", "io.containerd.nemu.v2",
                        "--runtime-config-path", config.toString(), "--rootfs", rootfs.toString(), id,
                        "/bin/sleep", "600");
                if (!r.ok()) {
                    failures.add(id + ": " + r.stderr().strip());
                }
            });
            t.start();
            starts.add(t);
        }
        for (Thread t : starts) {
            t.join();
        }
        try {
            if (!failures.isEmpty()) {
                throw new IllegalStateException("ctr run -d failed: " + failures);
            }
            Thread.sleep(2000);
            String ls = c.ctr("task", "ls").requireOk().stdout();
            for (String id : ids) {
                java.util.regex.Matcher m = Pattern.compile("(?m)^" + id + "\\s+(\\d+)\\s+RUNNING").matcher(ls);
                if (!m.find()) {
                    throw new IllegalStateException(id + " is not running: " + ls);
                }
                long qemu = Long.parseLong(m.group(1));
                long daemon = ProcessHandle.of(qemu).flatMap(ProcessHandle::parent).map(ProcessHandle::pid)
                        .orElseThrow(() -> new IllegalStateException("no parent of QEMU pid " + qemu));
                long virtiofsd = ProcessHandle.of(daemon).stream().flatMap(ProcessHandle::children)
                        .filter(h -> h.info().command().orElse("").endsWith("virtiofsd")).map(ProcessHandle::pid)
                        .findFirst().orElse(-1L);
                lines.add(String.format("pod %s: shim daemon RSS %.1f MiB, PSS %.1f MiB, private %.1f MiB"
                        + " (aim <= 48 MiB); QEMU RSS %.1f MiB; virtiofsd RSS %.1f MiB", id,
                        ProcessTools.rssKib(daemon) / 1024.0, rollupKib(daemon, "Pss") / 1024.0,
                        (rollupKib(daemon, "Private_Clean") + rollupKib(daemon, "Private_Dirty")) / 1024.0,
                        ProcessTools.rssKib(qemu) / 1024.0,
                        virtiofsd < 0 ? Double.NaN : ProcessTools.rssKib(virtiofsd) / 1024.0));
            }
            return lines;
        } finally {
            ids.forEach(c::forceRemove);
        }
    }

    /** A figure of /proc/PID/smaps_rollup in KiB, -1 if gone. */
    static long rollupKib(long pid, String key) {
        return ProcessTools.procKib(pid, "smaps_rollup", key);
    }

    static long median(List<Long> v) {
        return VmFloor.median(v);
    }
}
