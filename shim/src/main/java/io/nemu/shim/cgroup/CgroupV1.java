package io.nemu.shim.cgroup;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * cgroup v1: one hierarchy per controller mount under {@code /sys/fs/cgroup}. The sandbox joins the ones that
 * bound or account for what the VM costs: cpu, cpuacct, memory, pids (the kubelet sizes the pod's cgroup in
 * cpu and memory). Not cpuset (a new cpuset cgroup has no CPUs until they are copied down) nor devices (the
 * pod's device list would have to allow /dev/kvm, /dev/net/tun and vhost first).
 */
public record CgroupV1(List<CgroupFs.Hierarchy> hierarchies) implements CgroupFs {
    static final List<String> CONTROLLERS = List.of("cpu", "cpuacct", "memory", "pids");

    static CgroupV1 of(Path root, String selfCgroup) throws IOException {
        List<CgroupFs.Hierarchy> found = new ArrayList<>();
        Set<Path> mounts = new HashSet<>();
        for (String c : CONTROLLERS) {
            Path dir = root.resolve(c);
            if (!Files.isDirectory(dir)) {
                continue;
            }
            // cpu and cpuacct often share one mount (cpu,cpuacct) with a symlink per name: join it once
            if (!mounts.add(dir.toRealPath())) {
                continue;
            }
            String own = CgroupFs.ownPath(selfCgroup, list -> Arrays.asList(list.split(",")).contains(c));
            found.add(new CgroupFs.Hierarchy(c, dir, own));
        }
        if (found.isEmpty()) {
            throw new IOException("no cgroup v2 and none of the v1 controllers " + CONTROLLERS + " under " + root);
        }
        return new CgroupV1(List.copyOf(found));
    }

    @Override
    public String describe() {
        return "cgroup v1 (" + String.join(", ", hierarchies.stream().map(CgroupFs.Hierarchy::name).toList()) + ")";
    }
}
