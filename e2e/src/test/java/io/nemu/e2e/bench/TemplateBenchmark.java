package io.nemu.e2e.bench;

import io.nemu.e2e.support.CriEnv;
import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.FileTrees;
import io.nemu.e2e.support.GuestImages;
import io.nemu.firmware.GuestImage;
import io.nemu.proto.cri.PodSandboxConfig;
import io.nemu.vmm.Accelerator;
import io.nemu.vmm.MachineProfile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Booted against cloned CRI pods ({@code [factory] enable_template}, each pod with its CNI network), interleaved in
 * one run: pod start (RunPodSandbox until the container runs) for each mode and the bare boot floor
 * ({@link VmFloor}: same kernel, busybox initramfs, TCG); then host PSS per pod ({@link PodHostCost}: QEMU,
 * virtiofsd, the shim daemon's share) with 1, 5, 10 pods running at once in each mode (the pods of one count stay
 * for the next). {@code scripts/bench-template.sh [--runs N] [--pods 1,5,10]}.
 */
public final class TemplateBenchmark {
    private final CriEnv env;
    private int seq;

    private TemplateBenchmark(CriEnv env) {
        this.env = env;
    }

    public static void main(String[] args) throws Exception {
        int runs = 3;
        List<Integer> pods = List.of(1, 5, 10);
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--runs" -> runs = Integer.parseInt(args[++i]);
                case "--pods" -> pods = java.util.Arrays.stream(args[++i].split(",")).map(String::trim)
                        .map(Integer::parseInt).sorted().toList();
                default -> throw new IllegalArgumentException("unknown option " + args[i] + " (use --runs N --pods 1,5,10)");
            }
        }
        GuestImage image = GuestImages.ofDistribution(Distribution.locate())
                .orElseThrow(() -> new IllegalStateException("no guest image: run `scripts/nemu image build`"));
        Path work = Files.createTempDirectory("nemu-template-bench-");
        Path templates = Path.of("/dev/shm/nemu-template-bench-" + ProcessHandle.current().pid());
        try (CriEnv env = CriEnv.start(work, "nemu-tplb0", "10.217.81.0/24")) {
            Files.writeString(env.configPath, Files.readString(env.configPath) + "\n[factory]\nenable_template = false\n"
                    + "template_path = \"" + templates + "\"\n");
            new TemplateBenchmark(env).run(image, work, runs, pods);
        } finally {
            FileTrees.delete(templates);
            FileTrees.delete(work);
        }
    }

    private void run(GuestImage image, Path work, int runs, List<Integer> pods) throws Exception {
        long t0 = System.nanoTime();
        stop(start(true)); // builds the template
        System.out.printf("template build + first cloned pod: %d ms%n", (System.nanoTime() - t0) / 1_000_000);
        stop(start(false)); // warm-up of the booted path
        Path initrd = VmFloor.busyboxInitramfs(work.resolve("floor.cpio"));
        List<Long> floor = new ArrayList<>();
        List<Long> boot = new ArrayList<>();
        List<Long> clone = new ArrayList<>();
        for (int i = 1; i <= runs; i++) {
            floor.add(VmFloor.bootMillis(MachineProfile.virt(), image.kernel(), initrd, VmFloor.MARKER, Accelerator.TCG,
                    work.resolve("floor-" + i)));
            Pod b = start(false);
            stop(b);
            Pod c = start(true);
            stop(c);
            boot.add(b.startMs);
            clone.add(c.startMs);
            System.out.printf("run %d: floor %d ms, booted pod start %d ms, cloned pod start %d ms%n", i,
                    floor.get(i - 1), b.startMs, c.startMs);
        }
        System.out.printf("| start (median of %d) | ms |%n| --- | --- |%n| boot floor (busybox initramfs, virt, TCG) | %d |%n"
                + "| CRI pod start (RunPodSandbox to container running), booted | %d |%n"
                + "| CRI pod start (RunPodSandbox to container running), cloned | %d |%n", runs, VmFloor.median(floor),
                VmFloor.median(boot), VmFloor.median(clone));
        // The shim's own view: QEMU start to the agent's first answer, per sandbox.
        Files.readAllLines(env.containerd.logFile()).stream().filter(l -> l.contains("ready: agent answered")
                || l.contains("template") && l.contains("built:")).forEach(l -> System.out.println("shim: " + l));
        List<double[]> booted = pss(false, pods);
        List<double[]> cloned = pss(true, pods);
        System.out.println("| pods | PSS per pod, booted: total / QEMU (MiB) | PSS per pod, cloned: total / QEMU (MiB) |\n"
                + "| --- | --- | --- |");
        for (int i = 0; i < pods.size(); i++) {
            System.out.printf("| %d | %.0f / %.0f | %.0f / %.0f |%n", pods.get(i), booted.get(i)[0], booted.get(i)[1],
                    cloned.get(i)[0], cloned.get(i)[1]);
        }
    }

    private record Pod(String id, long startMs) {
    }

    /** A pod of one sleeping container, booted or cloned: its id and ms from RunPodSandbox to the container running. */
    private Pod start(boolean clone) throws Exception {
        env.setConfig("factory", "enable_template", Boolean.toString(clone));
        PodSandboxConfig pod = env.podConfig("tplb-" + (clone ? "clone-" : "boot-") + (++seq));
        long t0 = System.nanoTime();
        String id = env.cri.runPodSandbox(pod, CriEnv.NEMU);
        String cid = env.cri.createContainer(id, CriEnv.container("app", "exec sleep 100000").build(), pod);
        env.cri.startContainer(cid);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        String log = Files.readString(env.containerd.logFile());
        if (log.contains("sandbox " + id + ": cloning template") != clone) {
            throw new IllegalStateException("pod " + id + " was " + (clone ? "booted, not cloned" : "cloned, not booted")
                    + ":\n" + env.containerd.logTail(40));
        }
        return new Pod(id, ms);
    }

    private void stop(Pod p) {
        env.cri.stopPodSandbox(p.id());
        env.cri.removePodSandbox(p.id());
    }

    /** Mean PSS per pod (total, QEMU; MiB) with each count of pods running at once, the pods of a count kept for the next. */
    private List<double[]> pss(boolean clone, List<Integer> counts) throws Exception {
        List<Pod> running = new ArrayList<>();
        List<double[]> out = new ArrayList<>();
        try {
            for (int n : counts) {
                while (running.size() < n) {
                    running.add(start(clone));
                }
                Thread.sleep(5000); // let the guests settle after their start
                List<PodHostCost> costs = new ArrayList<>();
                for (Pod p : running) {
                    costs.add(PodHostCost.measure(p.id(), env.containerd.shimProcesses()));
                }
                double[] mean = PodHostCost.meanMib(costs);
                out.add(new double[] {mean[0], mean[1]});
                System.out.printf("%s, %d pods: PSS per pod %.0f MiB (QEMU %.0f, guest RAM %.0f, code cache %.0f, virtiofsd"
                        + " %.0f, shim share %.0f)%n", clone ? "cloned" : "booted", n, mean[0], mean[1], mean[2], mean[3],
                        mean[5], mean[7]);
            }
            return out;
        } finally {
            for (Pod p : running) {
                stop(p);
            }
        }
    }
}
