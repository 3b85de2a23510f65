package io.nemu.e2e.bench;

import io.nemu.e2e.support.CriEnv;
import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.FileTrees;
import io.nemu.e2e.support.GuestImages;
import io.nemu.firmware.GuestImage;
import io.nemu.proto.cri.PodSandboxConfig;
import io.nemu.vmm.Accelerator;
import io.nemu.vmm.MachineProfile;
import io.nemu.vmm.template.TemplateRam;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Booted against cloned CRI pods ({@code [factory] enable_template}, each pod with its CNI network), interleaved in
 * one run: pod start (RunPodSandbox until the container runs) for each mode, the same pod under runc (the host's own
 * path) and the bare boot floor ({@link VmFloor}: same kernel, busybox initramfs, TCG), first with each pod starting
 * its shim daemon, then with a resident pod keeping it up; where the last clone's start went ({@link PodTimeline});
 * then host PSS per pod ({@link PodHostCost}: QEMU, virtiofsd, the shim daemon's share) with 1, 5, 10 pods running at
 * once in each mode (the pods of one count stay for the next). {@code --clone-tb 48,16}: one cloned mode per
 * {@code clone_tcg_tb_size}, all from one template. {@code --set TABLE.KEY=VALUE}: a configuration key for every pod.
 * {@code scripts/bench-template.sh [--runs N] [--pods 1,5,10] [--clone-tb A,B] [--set TABLE.KEY=VALUE]}.
 */
public final class TemplateBenchmark {
    private final CriEnv env;
    /** The template store: its RAM files' pages no process's PSS shows are part of what clones cost. */
    private final Path templates;
    /** The shipped configuration's clone_tcg_tb_size, for the cloned mode without --clone-tb. */
    private final String shippedCloneTb;
    private int seq;

    private TemplateBenchmark(CriEnv env, Path templates) throws IOException {
        this.env = env;
        this.templates = templates;
        Matcher m = Pattern.compile("(?m)^clone_tcg_tb_size\\s*=\\s*(\\d+)")
                .matcher(Files.readString(env.configPath));
        this.shippedCloneTb = m.find() ? m.group(1) : "0";
    }

    public static void main(String[] args) throws Exception {
        int runs = 3;
        List<Integer> pods = List.of(1, 5, 10);
        List<Integer> cloneTb = List.of();
        List<String[]> sets = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--runs" -> runs = Integer.parseInt(args[++i]);
                case "--pods" -> pods = ints(args[++i]).stream().sorted().toList();
                case "--clone-tb" -> cloneTb = ints(args[++i]);
                case "--set" -> { // --set runtime.enable_debug=true: a key of the shipped configuration, for every pod
                    String[] kv = args[++i].split("=", 2);
                    int dot = kv[0].lastIndexOf('.');
                    sets.add(new String[] {kv[0].substring(0, dot), kv[0].substring(dot + 1), kv[1]});
                }
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + " (use --runs N --pods 1,5,10 --clone-tb 48,16 --set TABLE.KEY=VALUE)");
            }
        }
        GuestImage image = GuestImages.ofDistribution(Distribution.locate())
                .orElseThrow(() -> new IllegalStateException("no guest image: run `scripts/nemu image build`"));
        Path work = Files.createTempDirectory("nemu-template-bench-");
        Path templates = Path.of("/dev/shm/nemu-template-bench-" + ProcessHandle.current().pid());
        try (CriEnv env = CriEnv.start(work, "nemu-tplb0", "10.217.81.0/24")) {
            Files.writeString(env.configPath, CriEnv.withTemplates(Files.readString(env.configPath), templates));
            for (String[] set : sets) {
                env.setConfig(set[0], set[1], set[2]);
            }
            new TemplateBenchmark(env, templates).run(image, work, runs, pods, cloneTb);
        } finally {
            FileTrees.delete(templates);
            FileTrees.delete(work);
        }
    }

    private static List<Integer> ints(String csv) {
        return java.util.Arrays.stream(csv.split(",")).map(String::trim).map(Integer::parseInt).toList();
    }

    /** How a pod starts: booted, or cloned with its code cache bounded at {@code tbMib} ({@code clone_tcg_tb_size}; 0: the shipped one). */
    private record Mode(boolean cloned, int tbMib) {
        String name() {
            return cloned ? (tbMib > 0 ? "cloned, clone_tcg_tb_size " + tbMib : "cloned") : "booted";
        }
    }

    private void run(GuestImage image, Path work, int runs, List<Integer> pods, List<Integer> cloneTb) throws Exception {
        List<Mode> modes = new ArrayList<>(List.of(new Mode(false, 0)));
        if (cloneTb.isEmpty()) {
            modes.add(new Mode(true, 0));
        }
        cloneTb.forEach(tb -> modes.add(new Mode(true, tb)));
        for (Mode m : modes) { // builds each template; warms up the booted path
            long t0 = System.nanoTime();
            stop(start(m));
            System.out.printf("first %s pod%s: %d ms%n", m.name(), m.cloned() ? " (template build included)" : "",
                    (System.nanoTime() - t0) / 1_000_000);
        }
        stop(startRunc());
        Path initrd = VmFloor.busyboxInitramfs(work.resolve("floor.cpio"));
        startRuns(modes, runs, image, initrd, work, "cold: each pod starts its shim daemon (no other pod on the node)");
        // A node's usual state: another pod keeps the shim daemon running, so a new pod only connects to it.
        Pod resident = start(new Mode(false, 0));
        try {
            startRuns(modes, runs, image, initrd, work, "warm: a resident pod keeps the shim daemon up");
        } finally {
            stop(resident);
        }
        // The shim's own view: QEMU start to the agent's first answer, per sandbox.
        Files.readAllLines(env.containerd.logFile()).stream().filter(l -> l.contains("ready: agent answered")
                || l.contains("template") && l.contains("built:")).forEach(l -> System.out.println("shim: " + l));
        Map<Mode, List<double[]>> pss = new LinkedHashMap<>();
        for (Mode m : modes) {
            pss.put(m, pss(m, pods));
        }
        System.out.println("| pods | " + String.join(" | ", modes.stream()
                .map(m -> "PSS per pod, " + m.name() + ": total / QEMU / code cache (MiB)"
                        + (m.cloned() ? " (+ template file / pods)" : "")).toList()) + " |");
        System.out.println("| --- |" + " --- |".repeat(modes.size()));
        for (int i = 0; i < pods.size(); i++) {
            StringBuilder row = new StringBuilder("| " + pods.get(i) + " |");
            for (Mode m : modes) {
                double[] v = pss.get(m).get(i);
                row.append(String.format(" %.0f / %.0f / %.0f", v[0], v[1], v[3]))
                        .append(m.cloned() ? String.format(" (+ %.0f)", v[8]) : "").append(" |");
            }
            System.out.println(row);
        }
    }

    /** Pod start of each mode against the floor and runc, interleaved, {@code runs} times; medians and the last clone's steps. */
    private void startRuns(List<Mode> modes, int runs, GuestImage image, Path initrd, Path work, String what)
            throws Exception {
        System.out.println("pod start, " + what);
        List<Long> floor = new ArrayList<>();
        List<Long> runc = new ArrayList<>();
        Map<Mode, List<Long>> starts = new LinkedHashMap<>();
        Map<Mode, Pod> last = new LinkedHashMap<>();
        for (int i = 1; i <= runs; i++) {
            floor.add(VmFloor.bootMillis(MachineProfile.virt(), image.kernel(), initrd, VmFloor.MARKER, Accelerator.TCG,
                    work.resolve("floor-" + (++seq))));
            Pod r = startRunc();
            stop(r);
            runc.add(r.startMs);
            StringBuilder line = new StringBuilder(String.format("run %d: floor %d ms, runc pod start %d ms", i,
                    floor.get(i - 1), r.startMs));
            for (Mode m : modes) {
                Pod p = start(m);
                stop(p);
                starts.computeIfAbsent(m, k -> new ArrayList<>()).add(p.startMs);
                if (m.cloned()) {
                    last.put(m, p);
                }
                line.append(String.format(", %s pod start %d ms", m.name(), p.startMs));
            }
            System.out.println(line);
        }
        System.out.printf("| start, %s (median of %d) | ms |%n| --- | --- |%n| boot floor (busybox initramfs, virt, TCG) | %d |%n"
                + "| CRI pod start (RunPodSandbox to container running), runc | %d |%n", what, runs, VmFloor.median(floor),
                VmFloor.median(runc));
        starts.forEach((m, ms) -> System.out.printf("| CRI pod start (RunPodSandbox to container running), %s | %d |%n",
                m.name(), VmFloor.median(ms)));
        for (Map.Entry<Mode, Pod> e : last.entrySet()) {
            Pod p = e.getValue();
            System.out.println("where the last " + e.getKey().name() + " pod's start went (ms from RunPodSandbox, from"
                    + " containerd's and the shim's log):");
            PodTimeline.of(p.id(), p.cid(), p.name(), Files.readAllLines(env.containerd.logFile())).print();
        }
    }

    private record Pod(String name, String id, String cid, long startMs) {
    }

    /** A pod of one sleeping container, booted or cloned: its id and ms from RunPodSandbox to the container running. */
    private Pod start(Mode m) throws Exception {
        env.setConfig("factory", "enable_template", Boolean.toString(m.cloned()));
        env.setConfig("factory", "clone_tcg_tb_size", m.tbMib() > 0 ? Integer.toString(m.tbMib()) : shippedCloneTb);
        return start(m.cloned() ? "tplb-clone-" : "tplb-boot-", CriEnv.NEMU, m.cloned());
    }

    /** The same pod under runc: the host's own path (containerd, CNI, pause, one container), no VM. */
    private Pod startRunc() throws Exception {
        return start("tplb-runc-", CriEnv.RUNC, false);
    }

    private Pod start(String prefix, String handler, boolean clone) throws Exception {
        PodSandboxConfig pod = env.podConfig(prefix + (++seq));
        long t0 = System.nanoTime();
        String id = env.cri.runPodSandbox(pod, handler);
        String cid = env.cri.createContainer(id, CriEnv.container("app", "exec sleep 100000").build(), pod);
        env.cri.startContainer(cid);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        if (handler.equals(CriEnv.NEMU)) {
            String log = Files.readString(env.containerd.logFile());
            if (log.contains("sandbox " + id + ": cloning template") != clone) {
                throw new IllegalStateException("pod " + id + " was " + (clone ? "booted, not cloned" : "cloned, not booted")
                        + ":\n" + env.containerd.logTail(40));
            }
        }
        return new Pod(pod.getMetadata().getName(), id, cid, ms);
    }

    private void stop(Pod p) {
        env.cri.stopPodSandbox(p.id());
        env.cri.removePodSandbox(p.id());
    }

    /** What the stored templates' RAM files hold (on their tmpfs: memory), in MiB. */
    private long templateFilesMib() throws IOException {
        try (java.util.stream.Stream<Path> s = Files.list(templates)) {
            return s.map(d -> d.resolve("memory")).filter(Files::isRegularFile)
                    .mapToLong(f -> TemplateRam.heldBytes(f).orElse(0)).sum() >> 20;
        }
    }

    /** Mean PSS per pod (total, QEMU; MiB) with each count of pods running at once, the pods of a count kept for the next. */
    private List<double[]> pss(Mode m, List<Integer> counts) throws Exception {
        List<Pod> running = new ArrayList<>();
        List<double[]> out = new ArrayList<>();
        try {
            for (int n : counts) {
                while (running.size() < n) {
                    running.add(start(m));
                }
                Thread.sleep(5000); // let the guests settle after their start
                List<PodHostCost> costs = new ArrayList<>();
                for (Pod p : running) {
                    costs.add(PodHostCost.measure(p.id(), env.containerd.shimProcesses()));
                }
                double[] mean = PodHostCost.meanMib(costs);
                // The template files' pages: those a clone maps are in its PSS, the rest in none; at most this more.
                long fileMib = m.cloned() ? templateFilesMib() : 0;
                double[] row = java.util.Arrays.copyOf(mean, 9);
                row[8] = (double) fileMib / n;
                out.add(row);
                System.out.printf("%s, %d pods: PSS per pod %.0f MiB (QEMU %.0f, guest RAM %.0f, code cache %.0f, virtiofsd"
                        + " %.0f, shim share %.0f)%s%n", m.name(), n, mean[0], mean[1], mean[2], mean[3],
                        mean[5], mean[7], m.cloned() ? String.format("; template RAM files hold %d MiB", fileMib) : "");
            }
            return out;
        } finally {
            for (Pod p : running) {
                stop(p);
            }
        }
    }
}
