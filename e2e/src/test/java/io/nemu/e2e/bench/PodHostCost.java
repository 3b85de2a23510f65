package io.nemu.e2e.bench;

import io.nemu.e2e.support.QemuPss;
import io.nemu.vmm.process.ProcessTools;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * What one running nemu pod costs on the host, as PSS (KiB): its QEMU (split by {@link QemuPss}), its
 * virtiofsd processes, anything else whose command line names the pod, and its share of the shim daemon
 * that serves it (the daemon's PSS divided by the QEMUs it runs, so a daemon serving many pods is counted
 * once). Found without knowing how the runtime is laid out: the shim daemons are containerd's shim
 * processes (given), the pod's processes are those whose command line names its sandbox id.
 */
record PodHostCost(String podId, QemuPss qemu, long virtiofsdKib, long otherKib, long shimShareKib,
        int podsPerDaemon) {

    long totalKib() {
        return qemu.totalKib() + virtiofsdKib + otherKib + shimShareKib;
    }

    /** @param shims containerd's shim processes (the daemons among them run the pods' QEMUs) */
    static PodHostCost measure(String podId, List<ProcessHandle> shims) throws IOException {
        Set<Long> shimPids = shims.stream().map(ProcessHandle::pid).collect(Collectors.toSet());
        List<ProcessHandle> named = ProcessHandle.allProcesses()
                .filter(h -> !shimPids.contains(h.pid()) && cmdline(h.pid()).contains(podId)).toList();
        List<ProcessHandle> qemus = named.stream().filter(PodHostCost::isQemu).toList();
        if (qemus.size() != 1) {
            throw new IOException("expected one QEMU naming pod " + podId + ", found " + qemus.size());
        }
        ProcessHandle qemu = qemus.get(0);
        ProcessHandle daemon = ancestorIn(qemu, shimPids)
                .orElseThrow(() -> new IOException("QEMU " + qemu.pid() + " of pod " + podId
                        + " has no containerd shim process among its ancestors"));
        int pods = (int) daemon.descendants().filter(PodHostCost::isQemu).count();
        long virtiofsd = 0;
        long other = 0;
        for (ProcessHandle h : named) {
            if (h.pid() == qemu.pid()) {
                continue;
            }
            long pss = Math.max(0, ProcessTools.procKib(h.pid(), "smaps_rollup", "Pss"));
            if (h.info().command().orElse("").endsWith("virtiofsd")) {
                virtiofsd += pss;
            } else {
                other += pss;
            }
        }
        long shim = ProcessTools.procKib(daemon.pid(), "smaps_rollup", "Pss");
        return new PodHostCost(podId, QemuPss.of(qemu.pid(), ramKib(cmdline(qemu.pid()))), virtiofsd, other,
                shim / Math.max(1, pods), pods);
    }

    private static boolean isQemu(ProcessHandle h) {
        return h.info().command().map(c -> c.substring(c.lastIndexOf('/') + 1).startsWith("qemu-system")).orElse(false);
    }

    private static Optional<ProcessHandle> ancestorIn(ProcessHandle h, Set<Long> pids) {
        for (Optional<ProcessHandle> p = h.parent(); p.isPresent(); p = p.get().parent()) {
            if (pids.contains(p.get().pid())) {
                return p;
            }
        }
        return Optional.empty();
    }

    /** QEMU's {@code -m} size in KiB (the boot RAM; 0 if not given in MiB or GiB). */
    static long ramKib(String cmdline) {
        Matcher m = Pattern.compile("(?:^|\0)-m\0(?:size=)?(\\d+)([MG])").matcher(cmdline);
        if (!m.find()) {
            return 0;
        }
        return Long.parseLong(m.group(1)) * (m.group(2).equals("G") ? 1024 * 1024 : 1024);
    }

    /** The NUL-separated command line, empty if the process is gone. */
    static String cmdline(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")),
                    StandardCharsets.UTF_8);
        } catch (IOException gone) {
            return "";
        }
    }

    /** The mean of each part over the pods, in MiB: total, QEMU, guest RAM, code cache, QEMU rest, virtiofsd, other, shim. */
    static double[] meanMib(List<PodHostCost> pods) {
        double[] sum = new double[8];
        for (PodHostCost p : pods) {
            long[] v = {p.totalKib(), p.qemu.totalKib(), p.qemu.guestRamKib(), p.qemu.codeCacheKib(),
                p.qemu.restKib(), p.virtiofsdKib, p.otherKib, p.shimShareKib};
            for (int i = 0; i < v.length; i++) {
                sum[i] += v[i] / 1024.0 / pods.size();
            }
        }
        return sum;
    }

    /** Pods per daemon as seen over the pods (e.g. "1" or "1-5"). */
    static String podsPerDaemon(List<PodHostCost> pods) {
        List<Integer> n = new ArrayList<>(pods.stream().map(PodHostCost::podsPerDaemon).distinct().sorted().toList());
        return n.size() == 1 ? n.get(0).toString() : n.get(0) + "-" + n.get(n.size() - 1);
    }
}
