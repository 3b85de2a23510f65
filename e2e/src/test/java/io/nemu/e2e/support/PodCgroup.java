package io.nemu.e2e.support;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The test plays the kubelet on the cgroupfs driver: a pod's cgroup {@code /<top>/pod<uid>} (the CRI
 * {@code cgroup_parent}) made in the hierarchies the kubelet uses and sized with the pod's limits; and the
 * host's view of a process's cgroups, read from /proc. cgroup v1 (one folder per controller) or v2.
 */
public final class PodCgroup implements AutoCloseable {
    public static final Path ROOT = Path.of("/sys/fs/cgroup");
    private static final List<String> V1 = List.of("cpu", "cpuacct", "memory", "pids");

    private final String top;
    private final String parent;
    private final List<Path> made = new ArrayList<>();

    private PodCgroup(String top, String parent) {
        this.top = top;
        this.parent = parent;
    }

    public static boolean v2() {
        return Files.exists(ROOT.resolve("cgroup.controllers"));
    }

    /** The folder of a cgroup path in one v1 controller's hierarchy, or in the unified one on v2. */
    public static Path folder(String controller, String path) {
        String rel = path.replaceFirst("^/+", "");
        return v2() ? ROOT.resolve(rel) : ROOT.resolve(controller).resolve(rel);
    }

    /** The pod's cgroup with a memory limit and a CPU quota per period, as the kubelet makes it. */
    public static PodCgroup create(String top, String podUid, long memoryBytes, long cpuQuota, long cpuPeriod)
            throws IOException {
        PodCgroup pc = new PodCgroup(top, "/" + top + "/pod" + podUid);
        try {
            if (v2()) {
                Path t = Files.createDirectory(ROOT.resolve(top));
                pc.made.add(t);
                Files.writeString(ROOT.resolve("cgroup.subtree_control"), "+cpu +memory");
                Files.writeString(t.resolve("cgroup.subtree_control"), "+cpu +memory");
                Path pod = Files.createDirectory(t.resolve("pod" + podUid));
                pc.made.add(pod);
                Files.writeString(pod.resolve("memory.max"), Long.toString(memoryBytes));
                Files.writeString(pod.resolve("cpu.max"), cpuQuota + " " + cpuPeriod);
            } else {
                for (String c : V1) {
                    Path t = Files.createDirectory(ROOT.resolve(c).resolve(top));
                    pc.made.add(t);
                    pc.made.add(Files.createDirectory(t.resolve("pod" + podUid)));
                }
                Files.writeString(folder("memory", pc.parent).resolve("memory.limit_in_bytes"), Long.toString(memoryBytes));
                Files.writeString(folder("cpu", pc.parent).resolve("cpu.cfs_period_us"), Long.toString(cpuPeriod));
                Files.writeString(folder("cpu", pc.parent).resolve("cpu.cfs_quota_us"), Long.toString(cpuQuota));
            }
        } catch (IOException | RuntimeException e) {
            pc.close();
            throw e;
        }
        return pc;
    }

    /** The CRI cgroup_parent: {@code /<top>/pod<uid>}. */
    public String cgroupParent() {
        return parent;
    }

    /** The cgroup of a process (or thread: {@code /proc/PID/task/TID}) per hierarchy, from its cgroup file. */
    public static Map<String, String> of(Path procEntry) throws IOException {
        Map<String, String> by = new LinkedHashMap<>();
        for (String line : Files.readAllLines(procEntry.resolve("cgroup"))) {
            String[] f = line.split(":", 3);
            for (String c : f[1].split(",")) {
                by.put(c.isEmpty() ? "unified" : c, f[2]);
            }
        }
        return by;
    }

    /** The cgroup a process is in for memory (v1's memory hierarchy, or the unified one). */
    public static String memoryCgroup(Path procEntry) throws IOException {
        return of(procEntry).get(v2() ? "unified" : "memory");
    }

    /** The memory limit in effect for a cgroup: the smallest on the way up to the root ("max" is unlimited). */
    public static long effectiveMemoryLimit(String path) throws IOException {
        long limit = Long.MAX_VALUE;
        for (Path f = folder("memory", path); f.startsWith(ROOT) && !f.equals(ROOT); f = f.getParent()) {
            Path file = f.resolve(v2() ? "memory.max" : "memory.limit_in_bytes");
            if (Files.exists(file)) {
                String v = Files.readString(file).strip();
                if (!v.equals("max")) {
                    limit = Math.min(limit, Long.parseLong(v));
                }
            }
        }
        return limit;
    }

    /** The tightest CPU quota on the way up to the root, as "quota period" (v2's cpu.max format), or "max". */
    public static String effectiveCpuQuota(String path) throws IOException {
        String best = "max";
        double cpus = Double.MAX_VALUE;
        for (Path f = folder("cpu", path); f.startsWith(ROOT) && !f.equals(ROOT); f = f.getParent()) {
            String qp;
            if (v2()) {
                Path file = f.resolve("cpu.max");
                qp = Files.exists(file) ? Files.readString(file).strip() : "max";
            } else {
                Path quota = f.resolve("cpu.cfs_quota_us");
                qp = Files.exists(quota) ? Files.readString(quota).strip() + " "
                        + Files.readString(f.resolve("cpu.cfs_period_us")).strip() : "-1";
            }
            String[] w = qp.split(" ");
            if (!w[0].equals("max") && !w[0].equals("-1") && Double.parseDouble(w[0]) / Double.parseDouble(w[1]) < cpus) {
                cpus = Double.parseDouble(w[0]) / Double.parseDouble(w[1]);
                best = w[0] + " " + w[1];
            }
        }
        return best;
    }

    /** The folders of a cgroup path in every hierarchy the shim joins (v1: cpu, cpuacct, memory, pids). */
    public static List<Path> folders(String path) {
        return v2() ? List.of(folder("", path)) : V1.stream().map(c -> folder(c, path)).toList();
    }

    /**
     * Cgroup folders named after a sandbox ({@code <id>}, or systemd's {@code *-<id>.scope}) in the hierarchies the
     * shim joins, down to the depth of a kubelet's pod cgroup.
     */
    public static List<Path> foldersNamed(String id) throws IOException {
        List<Path> found = new ArrayList<>();
        for (Path h : folders("")) {
            if (!Files.isDirectory(h)) {
                continue;
            }
            try (Stream<Path> s = Files.walk(h, 5)) {
                s.filter(p -> {
                    String n = p.getFileName().toString();
                    return (n.equals(id) || n.endsWith("-" + id + ".scope")) && Files.isDirectory(p);
                }).forEach(found::add);
            } catch (java.io.UncheckedIOException | IOException e) {
                // a cgroup removed while walking: the next look sees the rest
            }
        }
        return found;
    }

    /** A quantity of a RuntimeClass overhead ({@code memory: "640Mi"}, {@code cpu: "150m"}) in bytes or millicores. */
    public static long overhead(Path runtimeClassYaml, String resource) throws IOException {
        Matcher m = Pattern.compile("(?m)^\\s*" + resource + ":\\s*\"?(\\d+)(Mi|Gi|m)?\"?\\s*$")
                .matcher(Files.readString(runtimeClassYaml));
        if (!m.find()) {
            throw new IOException(runtimeClassYaml + " has no overhead for " + resource);
        }
        long n = Long.parseLong(m.group(1));
        String unit = m.group(2) == null ? "" : m.group(2);
        return switch (unit) {
            case "Mi" -> n << 20;
            case "Gi" -> n << 30;
            case "m" -> n;
            default -> resource.equals("cpu") ? n * 1000 : n;
        };
    }

    /** Removes the pod's cgroup (the pod's processes must be gone). */
    @Override
    public void close() throws IOException {
        IOException failure = null;
        for (int i = made.size() - 1; i >= 0; i--) {
            try {
                Files.deleteIfExists(made.get(i));
            } catch (NoSuchFileException gone) {
                // fine
            } catch (IOException e) {
                if (failure == null) {
                    failure = new IOException("cannot remove the test's pod cgroup under " + top + ": " + e.getMessage(), e);
                }
            }
        }
        made.clear();
        if (failure != null) {
            throw failure;
        }
    }
}
