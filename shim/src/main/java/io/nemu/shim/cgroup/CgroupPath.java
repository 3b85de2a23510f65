package io.nemu.shim.cgroup;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The OCI spec's {@code linux.cgroupsPath} as a path below a hierarchy's root. Three forms: absolute
 * ({@code /k8s.io/ID}, {@code /kubepods/burstable/podUID/ID}: from the hierarchy's root), relative (from the
 * daemon's own cgroup, as runc reads it), and systemd's {@code slice:prefix:name} (containerd's CRI with a
 * kubelet on the systemd driver), mapped to where systemd keeps that unit: {@code a-b.slice} is
 * {@code a.slice/a-b.slice}, the unit {@code prefix-name.scope} sits in it.
 *
 * @param path     components joined by '/', no leading '/', never empty, no "." or ".."
 * @param relative whether it is taken from the daemon's own cgroup rather than the root
 * @param spec     the value as the spec wrote it (for logs)
 */
public record CgroupPath(String path, boolean relative, String spec) {
    private static final Pattern SYSTEMD = Pattern.compile("[^/:]*:[^/:]*:[^/:]+");

    /** Empty when the spec names no cgroup; an {@link IllegalArgumentException} names what is wrong with a bad one. */
    public static Optional<CgroupPath> parse(String cgroupsPath) {
        if (cgroupsPath == null || cgroupsPath.isBlank()) {
            return Optional.empty();
        }
        if (SYSTEMD.matcher(cgroupsPath).matches()) {
            String[] parts = cgroupsPath.split(":", -1);
            return Optional.of(new CgroupPath(systemd(parts[0], parts[1], parts[2], cgroupsPath), false, cgroupsPath));
        }
        boolean relative = !cgroupsPath.startsWith("/");
        List<String> names = new ArrayList<>();
        for (String n : cgroupsPath.split("/")) {
            if (n.equals(".") || n.equals("..")) {
                throw new IllegalArgumentException("linux.cgroupsPath '" + cgroupsPath + "' contains '" + n + "'");
            }
            if (!n.isEmpty()) {
                names.add(n);
            }
        }
        if (names.isEmpty()) {
            throw new IllegalArgumentException("linux.cgroupsPath '" + cgroupsPath + "' names the root cgroup");
        }
        return Optional.of(new CgroupPath(String.join("/", names), relative, cgroupsPath));
    }

    private static String systemd(String slice, String prefix, String name, String spec) {
        String unit = name.endsWith(".slice") ? name : (prefix.isEmpty() ? name : prefix + "-" + name) + ".scope";
        String parent = expandSlice(slice.isEmpty() ? "system.slice" : slice, spec);
        return parent.isEmpty() ? unit : parent + "/" + unit;
    }

    /** {@code a-b-c.slice} is {@code a.slice/a-b.slice/a-b-c.slice}; {@code -.slice} is the root. */
    static String expandSlice(String slice, String spec) {
        if (!slice.endsWith(".slice") || slice.contains("/")) {
            throw new IllegalArgumentException("linux.cgroupsPath '" + spec + "': '" + slice + "' is not a systemd slice");
        }
        if (slice.equals("-.slice")) {
            return "";
        }
        String stem = slice.substring(0, slice.length() - ".slice".length());
        List<String> levels = new ArrayList<>();
        StringBuilder prefix = new StringBuilder();
        for (String word : stem.split("-", -1)) {
            if (word.isEmpty()) {
                throw new IllegalArgumentException("linux.cgroupsPath '" + spec + "': slice '" + slice
                        + "' has an empty part");
            }
            if (prefix.length() > 0) {
                prefix.append('-');
            }
            prefix.append(word);
            levels.add(prefix + ".slice");
        }
        return String.join("/", levels);
    }

    @Override
    public String toString() {
        return relative ? path + " (from the daemon's own cgroup)" : "/" + path;
    }
}
