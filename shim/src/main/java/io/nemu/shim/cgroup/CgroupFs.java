package io.nemu.shim.cgroup;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The host's cgroup file system as the sandbox sees it: the hierarchies its processes join, each with the
 * daemon's own cgroup in it (where relative paths start and where the daemon goes back to). v1 has one
 * hierarchy per controller mount, v2 one unified hierarchy.
 */
public sealed interface CgroupFs permits CgroupV1, CgroupV2 {
    Path ROOT = Path.of("/sys/fs/cgroup");

    /** The hierarchies a sandbox's processes join. */
    List<Hierarchy> hierarchies();

    /** "cgroup v1 (cpu, memory, ...)" or "cgroup v2", for logs. */
    String describe();

    /** This host's, seen from this process. */
    static CgroupFs host() throws IOException {
        return detect(ROOT, Files.readString(Path.of("/proc/self/cgroup")));
    }

    /**
     * v2 when {@code root} is the unified hierarchy (it has {@code cgroup.controllers}), else v1's controller
     * folders under it. {@code selfCgroup}: the text of {@code /proc/self/cgroup}.
     */
    static CgroupFs detect(Path root, String selfCgroup) throws IOException {
        if (Files.exists(root.resolve("cgroup.controllers"))) {
            return CgroupV2.of(root, selfCgroup);
        }
        return CgroupV1.of(root, selfCgroup);
    }

    /**
     * One hierarchy: its mount point, and the daemon's cgroup there ({@code own}, relative to the mount,
     * "" for the root).
     */
    record Hierarchy(String name, Path mount, String own) {
        /** The folder of {@code path} in this hierarchy. */
        public Path folder(CgroupPath path) {
            return path.relative() ? ownFolder().resolve(path.path()) : mount.resolve(path.path());
        }

        public Path ownFolder() {
            return own.isEmpty() ? mount : mount.resolve(own);
        }
    }

    /** The path of a hierarchy's line in /proc/PID/cgroup ({@code id:controllers:/path}), without its leading '/'. */
    static String ownPath(String selfCgroup, java.util.function.Predicate<String> controllers) {
        for (String line : selfCgroup.split("\n")) {
            String[] f = line.split(":", 3);
            if (f.length == 3 && controllers.test(f[1])) {
                String p = f[2].strip();
                // a cgroup whose ancestors were removed shows as "/x (deleted)": take the root then
                return p.contains(" ") ? "" : p.replaceFirst("^/+", "");
            }
        }
        return "";
    }
}
