package io.nemu.agent;

import com.sun.jna.LastErrorException;
import io.nemu.agent.sys.Fd;
import io.nemu.agent.sys.Libc;
import io.nemu.agent.sys.Poll;
import io.nemu.proto.kata.CgroupStats;
import io.nemu.proto.kata.CpuStats;
import io.nemu.proto.kata.CpuUsage;
import io.nemu.proto.kata.MemoryData;
import io.nemu.proto.kata.MemoryStats;
import io.nemu.proto.kata.PidsStats;
import io.nemu.proto.kata.ThrottlingData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Container cgroups as crun lays them out (cgroupfs), v1 or v2, whichever the guest mounted. */
final class Cgroups {

    private static final Logger LOG = LoggerFactory.getLogger(Cgroups.class);

    private final Path root;
    private final boolean unified;

    Cgroups(Path root) {
        this.root = root;
        this.unified = Files.exists(root.resolve("cgroup.controllers"));
    }

    boolean unified() {
        return unified;
    }

    /** Directory of a controller's cgroup ({@code controller} ignored on v2). */
    Path dir(String controller, String cgroupsPath) {
        String rel = cgroupsPath.startsWith("/") ? cgroupsPath.substring(1) : cgroupsPath;
        return unified ? root.resolve(rel) : root.resolve(controller).resolve(rel);
    }

    /** Every directory this cgroup has, over all hierarchies. */
    java.util.List<Path> dirs(String cgroupsPath) {
        if (unified) {
            return java.util.List.of(dir("", cgroupsPath));
        }
        java.util.List<Path> out = new java.util.ArrayList<>();
        try (var s = Files.list(root)) {
            s.filter(p -> !Files.isSymbolicLink(p) && Files.isDirectory(p))
                    .forEach(p -> out.add(p.resolve(cgroupsPath.startsWith("/") ? cgroupsPath.substring(1) : cgroupsPath)));
        } catch (IOException ignored) {
            // no hierarchies: nothing to list
        }
        return out;
    }

    /**
     * A container's cgroups path: the spec's, or {@code parent/cid} when the spec names none or a systemd
     * slice triple (the guest uses plain cgroupfs). Always absolute; '.' and '..' parts are refused.
     */
    static String containerPath(String fromSpec, String parent, String cid) {
        String p = fromSpec;
        if (p.isEmpty() || p.contains(":")) {
            p = parent + "/" + cid;
        }
        if (!p.startsWith("/")) {
            p = "/" + p;
        }
        for (String part : p.split("/")) {
            if (part.equals("..") || part.equals(".")) {
                throw AgentException.invalid("OCI.Linux.CgroupsPath '" + fromSpec + "' has '.' or '..' parts");
            }
        }
        return p;
    }

    /**
     * Removes the parents of these container cgroups, deepest first and only when empty: crun removes a
     * container's own cgroup, not the parents it made for it (the spec's /kubepods/... or our default).
     */
    void removeParents(java.util.Collection<String> cgroupsPaths) {
        java.util.TreeSet<String> parents = new java.util.TreeSet<>(java.util.Comparator.reverseOrder());
        for (String p : cgroupsPaths) {
            for (Path q = Path.of(p).getParent(); q != null && q.getNameCount() > 0; q = q.getParent()) {
                parents.add(q.toString());
            }
        }
        for (String p : parents) {
            for (Path d : dirs(p)) {
                try {
                    Files.deleteIfExists(d);
                } catch (IOException e) {
                    LOG.warn("cgroup {} left: {}", d, e.getMessage());
                }
            }
        }
    }

    CgroupStats stats(String cgroupsPath) {
        return unified ? statsV2(dir("", cgroupsPath)) : statsV1(cgroupsPath);
    }

    private CgroupStats statsV1(String path) {
        Path mem = dir("memory", path);
        Path cpuacct = dir("cpuacct", path);
        Path cpu = dir("cpu", path);
        Path pids = dir("pids", path);
        Map<String, Long> ms = keyed(mem.resolve("memory.stat"));
        MemoryStats.Builder m = MemoryStats.newBuilder()
                .setCache(ms.getOrDefault("total_cache", ms.getOrDefault("cache", 0L)))
                .setUsage(memData(mem, "memory."))
                .setSwapUsage(memData(mem, "memory.memsw."))
                .setKernelUsage(memData(mem, "memory.kmem."))
                .setUseHierarchy(num(mem.resolve("memory.use_hierarchy")) == 1);
        ms.forEach(m::putStats);
        Map<String, Long> ticks = keyed(cpuacct.resolve("cpuacct.stat"));
        long nsPerTick = 10_000_000L; // USER_HZ is 100 on Linux
        CpuUsage.Builder u = CpuUsage.newBuilder()
                .setTotalUsage(num(cpuacct.resolve("cpuacct.usage")))
                .setUsageInUsermode(ticks.getOrDefault("user", 0L) * nsPerTick)
                .setUsageInKernelmode(ticks.getOrDefault("system", 0L) * nsPerTick);
        for (String s : read(cpuacct.resolve("cpuacct.usage_percpu")).trim().split("\\s+")) {
            if (!s.isEmpty()) {
                u.addPercpuUsage(Long.parseUnsignedLong(s));
            }
        }
        Map<String, Long> thr = keyed(cpu.resolve("cpu.stat"));
        return CgroupStats.newBuilder()
                .setMemoryStats(m)
                .setCpuStats(CpuStats.newBuilder().setCpuUsage(u).setThrottlingData(ThrottlingData.newBuilder()
                        .setPeriods(thr.getOrDefault("nr_periods", 0L))
                        .setThrottledPeriods(thr.getOrDefault("nr_throttled", 0L))
                        .setThrottledTime(thr.getOrDefault("throttled_time", 0L))))
                .setPidsStats(PidsStats.newBuilder().setCurrent(num(pids.resolve("pids.current")))
                        .setLimit(num(pids.resolve("pids.max"))))
                .build();
    }

    private static MemoryData memData(Path dir, String prefix) {
        return MemoryData.newBuilder()
                .setUsage(num(dir.resolve(prefix + "usage_in_bytes")))
                .setMaxUsage(num(dir.resolve(prefix + "max_usage_in_bytes")))
                .setFailcnt(num(dir.resolve(prefix + "failcnt")))
                .setLimit(num(dir.resolve(prefix + "limit_in_bytes")))
                .build();
    }

    private CgroupStats statsV2(Path dir) {
        Map<String, Long> ms = keyed(dir.resolve("memory.stat"));
        Map<String, Long> events = keyed(dir.resolve("memory.events"));
        MemoryStats.Builder m = MemoryStats.newBuilder()
                .setCache(ms.getOrDefault("file", 0L))
                .setUsage(MemoryData.newBuilder().setUsage(num(dir.resolve("memory.current")))
                        .setMaxUsage(num(dir.resolve("memory.peak")))
                        .setFailcnt(events.getOrDefault("max", 0L))
                        .setLimit(num(dir.resolve("memory.max"))))
                .setSwapUsage(MemoryData.newBuilder().setUsage(num(dir.resolve("memory.swap.current")))
                        .setLimit(num(dir.resolve("memory.swap.max"))))
                .setUseHierarchy(true);
        ms.forEach(m::putStats);
        Map<String, Long> cs = keyed(dir.resolve("cpu.stat"));
        return CgroupStats.newBuilder()
                .setMemoryStats(m)
                .setCpuStats(CpuStats.newBuilder()
                        .setCpuUsage(CpuUsage.newBuilder()
                                .setTotalUsage(cs.getOrDefault("usage_usec", 0L) * 1000)
                                .setUsageInUsermode(cs.getOrDefault("user_usec", 0L) * 1000)
                                .setUsageInKernelmode(cs.getOrDefault("system_usec", 0L) * 1000))
                        .setThrottlingData(ThrottlingData.newBuilder()
                                .setPeriods(cs.getOrDefault("nr_periods", 0L))
                                .setThrottledPeriods(cs.getOrDefault("nr_throttled", 0L))
                                .setThrottledTime(cs.getOrDefault("throttled_usec", 0L) * 1000)))
                .setPidsStats(PidsStats.newBuilder().setCurrent(num(dir.resolve("pids.current")))
                        .setLimit(num(dir.resolve("pids.max"))))
                .build();
    }

    private static String read(Path p) {
        try {
            return Files.readString(p, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            return "";
        }
    }

    /** A one-number file; "max" and missing files read as 0. */
    static long num(Path p) {
        String s = read(p).trim();
        if (s.isEmpty() || s.equals("max")) {
            return 0;
        }
        try {
            return Long.parseUnsignedLong(s);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /** "key value" lines. */
    static Map<String, Long> keyed(Path p) {
        Map<String, Long> out = new LinkedHashMap<>();
        for (String line : read(p).split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length == 2) {
                try {
                    out.put(f[0], Long.parseUnsignedLong(f[1]));
                } catch (NumberFormatException ignored) {
                    // not a counter
                }
            }
        }
        return out;
    }

    /**
     * Watches a container's memory cgroup and calls {@code onKill} once per OOM kill, until the
     * cgroup goes away or the watch is closed. v1: eventfd registered on memory.oom_control;
     * v2: inotify on memory.events. Both re-read the oom_kill counter, so one kill is one event.
     */
    AutoCloseable watchOom(String cgroupsPath, Runnable onKill) throws IOException {
        Path dir = dir("memory", cgroupsPath);
        Path counterFile = dir.resolve(unified ? "memory.events" : "memory.oom_control");
        if (!Files.exists(counterFile)) {
            throw new IOException("no memory cgroup at " + dir);
        }
        Fd wake;
        Fd control = null;
        try {
            if (unified) {
                wake = new Fd(Libc.C.inotify_init1(Libc.IN_CLOEXEC | Libc.O_NONBLOCK));
                Libc.C.inotify_add_watch(wake.fd(), counterFile.toString(), Libc.IN_MODIFY);
            } else {
                control = new Fd(Libc.C.open(counterFile.toString(), Libc.O_RDONLY | Libc.O_CLOEXEC, 0));
                wake = new Fd(Libc.C.eventfd(0, Libc.EFD_CLOEXEC | Libc.O_NONBLOCK));
                Files.writeString(dir.resolve("cgroup.event_control"), wake.fd() + " " + control.fd());
            }
        } catch (LastErrorException e) {
            Fd.closeAll(control);
            throw new IOException("OOM watch on " + dir + ": " + Libc.C.strerror(e.getErrorCode()));
        }
        Fd controlFd = control;
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        Consumer<Void> loop = v -> {
            long seen = keyed(counterFile).getOrDefault("oom_kill", 0L);
            byte[] buf = new byte[4096];
            try {
                while (!stop.get() && Files.exists(counterFile)) {
                    if (Poll.readable(wake.fd(), 500)) {
                        try {
                            wake.read(buf, buf.length);
                        } catch (IOException ignored) {
                            // EAGAIN: drained already
                        }
                    }
                    long now = keyed(counterFile).getOrDefault("oom_kill", seen);
                    for (; seen < now; seen++) {
                        onKill.run();
                    }
                }
            } catch (IOException e) {
                LOG.warn("OOM watch on {} stopped: {}", dir, e.getMessage());
            } finally {
                Fd.closeAll(wake, controlFd);
            }
        };
        Thread t = new Thread(null, () -> loop.accept(null), "oom-" + dir.getFileName(), 128 * 1024);
        t.setDaemon(true);
        t.start();
        return () -> stop.set(true);
    }
}
