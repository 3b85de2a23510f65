package io.nemu.e2e.bench;

import io.nemu.e2e.support.Containerd;
import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.GuestImages;
import io.nemu.e2e.support.Rootfs;
import io.nemu.firmware.GuestImage;
import io.nemu.shim.sandbox.PidFile;
import io.nemu.shim.sandbox.SandboxPaths;
import io.nemu.vmm.Accelerator;
import io.nemu.vmm.MachineProfile;
import io.nemu.vmm.process.ProcessTools;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Booted against cloned sandboxes ({@code [factory] enable_template}), interleaved in one run: {@code ctr run --rm
 * echo} start for each, the bare boot floor ({@link VmFloor}), then host PSS per sandbox (QEMU's, summed over
 * sandboxes running at once, divided by their count) at each of {@code --pods} for both modes.
 * {@code scripts/bench-template.sh [--runs N] [--pods 1,5]}.
 */
public final class TemplateBenchmark {
    private final Containerd containerd;
    private final Path work;
    private final Path booted;
    private final Path cloned;
    private int seq;

    private TemplateBenchmark(Containerd containerd, Path work, Path booted, Path cloned) {
        this.containerd = containerd;
        this.work = work;
        this.booted = booted;
        this.cloned = cloned;
    }

    public static void main(String[] args) throws Exception {
        int runs = 3;
        List<Integer> pods = List.of(1, 5);
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--runs" -> runs = Integer.parseInt(args[++i]);
                case "--pods" -> pods = java.util.Arrays.stream(args[++i].split(",")).map(String::trim)
                        .map(Integer::parseInt).toList();
                default -> throw new IllegalArgumentException("unknown option " + args[i] + " (use --runs N --pods 1,5)");
            }
        }
        Distribution dist = Distribution.locate();
        GuestImage image = GuestImages.ofDistribution(dist)
                .orElseThrow(() -> new IllegalStateException("no guest image: run `scripts/nemu image build`"));
        Path work = Files.createTempDirectory("nemu-template-bench-");
        Path templates = Path.of("/dev/shm/nemu-template-bench-" + ProcessHandle.current().pid());
        Path booted = Files.createDirectories(work.resolve("booted"));
        Path cloned = Files.createDirectories(work.resolve("cloned"));
        dist.writeConfig(booted, "", "dial_timeout = 300");
        Path clonedConfig = dist.writeConfig(cloned, "", "dial_timeout = 300");
        Files.writeString(clonedConfig, Files.readString(clonedConfig) + "[factory]\nenable_template = true\n"
                + "template_path = \"" + templates + "\"\n");
        try (Containerd c = Containerd.builder().extraPath(dist.bin()).ctrTimeout(Duration.ofSeconds(400)).start()) {
            TemplateBenchmark b = new TemplateBenchmark(c, work, booted.resolve("configuration.toml"), clonedConfig);
            b.run(image, runs, pods);
        } finally {
            ProcessTools.deleteTree(templates);
            ProcessTools.deleteTree(work);
        }
    }

    private void run(GuestImage image, int runs, List<Integer> pods) throws Exception {
        long t0 = System.nanoTime();
        echo(cloned); // builds the template
        System.out.printf("template build + first clone: %d ms%n", (System.nanoTime() - t0) / 1_000_000);
        echo(booted); // warm-up of the booted path
        Path initrd = VmFloor.busyboxInitramfs(work.resolve("floor.cpio"));
        List<Long> floor = new ArrayList<>();
        List<Long> boot = new ArrayList<>();
        List<Long> clone = new ArrayList<>();
        for (int i = 1; i <= runs; i++) {
            floor.add(VmFloor.bootMillis(MachineProfile.virt(), image.kernel(), initrd, VmFloor.MARKER, Accelerator.TCG,
                    work.resolve("floor-" + i)));
            boot.add(echo(booted));
            clone.add(echo(cloned));
            System.out.printf("run %d: floor %d ms, booted ctr run echo %d ms, cloned ctr run echo %d ms%n", i,
                    floor.get(i - 1), boot.get(i - 1), clone.get(i - 1));
        }
        System.out.printf("| start (median of %d) | ms |%n| --- | --- |%n| boot floor (busybox initramfs, virt, TCG) | %d |%n"
                + "| ctr run echo, booted | %d |%n| ctr run echo, cloned | %d |%n", runs, VmFloor.median(floor),
                VmFloor.median(boot), VmFloor.median(clone));
        // The shim's own view: QEMU start to the agent's first answer, per sandbox.
        Files.readAllLines(containerd.logFile()).stream().filter(l -> l.contains("ready: agent answered")
                || l.contains("template") && l.contains("built:")).forEach(l -> System.out.println("shim: " + l));
        System.out.println("| pods | PSS per pod, booted (MiB) | PSS per pod, cloned (MiB) |\n| --- | --- | --- |");
        for (int n : pods) {
            System.out.printf("| %d | %d | %d |%n", n, pssPerPod(booted, n), pssPerPod(cloned, n));
        }
    }

    /** {@code ctr run --rm ... echo hi} with {@code config}: ms to its end. */
    private long echo(Path config) throws Exception {
        String id = "tplb-" + (++seq);
        Path rootfs = Rootfs.busybox(work.resolve("rootfs-" + id));
        long t0 = System.nanoTime();
        containerd.ctr(Duration.ofSeconds(400), Distribution.runArgs(config, "--rm", "--rootfs", rootfs.toString(), id,
                "/bin/echo", "hi")).requireOk();
        return (System.nanoTime() - t0) / 1_000_000;
    }

    /** {@code n} sandboxes running {@code sleep} at once: their QEMUs' PSS summed, per sandbox, in MiB. */
    private long pssPerPod(Path config, int n) throws Exception {
        List<String> ids = new ArrayList<>();
        try {
            for (int i = 0; i < n; i++) {
                String id = "tplp-" + (++seq);
                Path rootfs = Rootfs.busybox(work.resolve("rootfs-" + id));
                containerd.ctr(Duration.ofSeconds(400), Distribution.runArgs(config, "-d", "--rootfs", rootfs.toString(),
                        id, "/bin/sleep", "100000")).requireOk();
                ids.add(id);
            }
            Thread.sleep(5000);
            long kib = 0;
            for (String id : ids) {
                long pid = PidFile.read(SandboxPaths.of(id).pidFile("qemu")).orElseThrow().pid();
                kib += ProcessTools.procKib(pid, "smaps_rollup", "Pss");
            }
            return kib / 1024 / n;
        } finally {
            for (String id : ids) {
                containerd.killTask(id, Duration.ofSeconds(60));
                containerd.forceRemove(id);
            }
        }
    }
}
