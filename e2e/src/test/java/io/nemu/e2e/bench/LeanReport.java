package io.nemu.e2e.bench;

import io.nemu.vmm.MachineProfile;
import java.util.List;

/** {@link LeanBenchmark}'s figures as markdown tables, with the machine and the aims of issue 12. */
final class LeanReport {
    /** Aims under TCG (issue 12): host PSS per pod at 10 pods, its goal, pod start over the floor, pods held. */
    static final double AIM_PSS_MIB = 150;
    static final double GOAL_PSS_MIB = 100;
    static final double AIM_START_RATIO = 3;
    static final int AIM_PODS = 50;

    private LeanReport() {
    }

    static void print(LeanBenchmark.Machine m, MachineProfile profile, LeanBenchmark.Options opts,
            LeanBenchmark.StartTimes starts, List<LeanBenchmark.Level> levels, LeanBenchmark.MaxPods max) {
        System.out.println();
        System.out.println("### Machine");
        System.out.println();
        System.out.printf("%d cores (%s), %.1f GiB RAM, accelerator %s, %s, host kernel %s, guest kernel %s,"
                + " machine profile %s%n", m.cores(), m.cpu(), m.memTotalKib() / 1024.0 / 1024.0, m.accelerator(),
                m.qemu(), m.hostKernel(), m.guestKernel(), profile.name());
        System.out.println();
        System.out.println("### Host PSS per pod (MiB, mean over the pods running at once; each a busybox sleep"
                + " container)");
        System.out.println();
        System.out.println("| pods | total | QEMU | guest RAM | TCG code cache | QEMU rest | virtiofsd | other"
                + " | shim daemon share | pods per daemon | host MemAvailable MiB |");
        System.out.println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (LeanBenchmark.Level l : levels) {
            double[] v = PodHostCost.meanMib(l.costs());
            System.out.printf("| %d | %.0f | %.0f | %.0f | %.0f | %.0f | %.1f | %.1f | %.1f | %s | %d |%n", l.pods(),
                    v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], PodHostCost.podsPerDaemon(l.costs()),
                    l.memAvailableKib() / 1024);
        }
        System.out.println();
        System.out.println("guest RAM: QEMU's share of the RAM backend's pages (virtiofsd maps the same memfd: its"
                + " share is in its column); QEMU rest: binary, heap, device state, anything not RAM or code cache;"
                + " shim daemon share: its PSS divided by the pods it serves.");
        System.out.println();
        if (starts != null) {
            long floor = VmFloor.median(starts.floor());
            System.out.printf("### Pod start (ms, medians of %d, interleaved with the floor)%n", opts.runs());
            System.out.println();
            System.out.println("| what | median | runs | x floor |");
            System.out.println("|---|---:|---|---:|");
            row("bare boot floor: plain QEMU, same kernel, busybox-only initramfs, to its marker", starts.floor(),
                    floor);
            row("CRI RunPodSandbox to container running", starts.cri(), floor);
            row("`ctr run --rm` busybox echo", starts.ctrEcho(), floor);
        }
        if (max != null) {
            System.out.println();
            System.out.println("### Most pods running at once (one sleep container each)");
            System.out.println();
            System.out.printf("%d pods; stopped: %s; host MemAvailable then %d MiB%n", max.running(),
                    max.stopReason(), max.memAvailableKib() / 1024);
        }
        System.out.println();
        System.out.println("### Aims (issue 12, under TCG)");
        System.out.println();
        levels.stream().filter(l -> l.pods() == 10).findFirst().ifPresentOrElse(l -> {
            double total = PodHostCost.meanMib(l.costs())[0];
            System.out.printf("- PSS per pod at 10 pods %.0f MiB: aim <= %.0f %s, goal <= %.0f %s%n", total,
                    AIM_PSS_MIB, met(total <= AIM_PSS_MIB), GOAL_PSS_MIB, met(total <= GOAL_PSS_MIB));
        }, () -> System.out.println("- PSS per pod at 10 pods: not measured (--pods without 10)"));
        if (starts != null) {
            double ratio = VmFloor.median(starts.cri()) / (double) VmFloor.median(starts.floor());
            System.out.printf("- CRI pod start %.1fx the floor: aim <= %.0fx %s%n", ratio, AIM_START_RATIO,
                    met(ratio <= AIM_START_RATIO));
        } else {
            System.out.println("- CRI pod start: not measured (--runs 0)");
        }
        if (max != null && (max.running() >= AIM_PODS || opts.maxPods() >= AIM_PODS)) {
            System.out.printf("- pods held: %d: aim %d %s%n", max.running(), AIM_PODS, met(max.running() >= AIM_PODS));
        } else if (max != null) {
            System.out.printf("- pods held: not judged (--max-pods %d < %d)%n", opts.maxPods(), AIM_PODS);
        } else {
            System.out.println("- pods held: not measured (--no-max)");
        }
    }

    private static void row(String what, List<Long> ms, long floor) {
        long median = VmFloor.median(ms);
        System.out.printf("| %s | %d | %s | %.2f |%n", what, median, ms, median / (double) floor);
    }

    private static String met(boolean ok) {
        return ok ? "met" : "NOT met";
    }
}
