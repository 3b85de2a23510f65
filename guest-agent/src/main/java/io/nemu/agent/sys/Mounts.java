package io.nemu.agent.sys;

import com.sun.jna.LastErrorException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.FileVisitResult;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** mount(2)/umount2(2) with options given as words, as in fstab. */
public final class Mounts {

    private static final Logger LOG = LoggerFactory.getLogger(Mounts.class);

    private Mounts() {}

    private static final Map<String, Long> FLAGS = Map.ofEntries(
            Map.entry("ro", Libc.MS_RDONLY), Map.entry("nosuid", Libc.MS_NOSUID),
            Map.entry("nodev", Libc.MS_NODEV), Map.entry("noexec", Libc.MS_NOEXEC),
            Map.entry("sync", Libc.MS_SYNCHRONOUS), Map.entry("remount", Libc.MS_REMOUNT),
            Map.entry("noatime", Libc.MS_NOATIME), Map.entry("nodiratime", Libc.MS_NODIRATIME),
            Map.entry("bind", Libc.MS_BIND), Map.entry("rbind", Libc.MS_BIND | Libc.MS_REC),
            Map.entry("relatime", Libc.MS_RELATIME), Map.entry("strictatime", Libc.MS_STRICTATIME));
    private static final List<String> NO_FLAG = List.of("rw", "suid", "dev", "exec", "async", "defaults");

    public static void mount(String source, Path target, String fstype, List<String> options) throws IOException {
        long flags = 0;
        List<String> data = new ArrayList<>();
        for (String o : options) {
            Long f = FLAGS.get(o);
            if (f != null) {
                flags |= f;
            } else if (!NO_FLAG.contains(o)) {
                data.add(o);
            }
        }
        if ("bind".equals(fstype)) {
            flags |= Libc.MS_BIND;
        }
        Files.createDirectories(target);
        try {
            Libc.C.mount(source, target.toString(), fstype == null || fstype.isEmpty() ? null : fstype, flags,
                    data.isEmpty() ? null : String.join(",", data));
        } catch (LastErrorException e) {
            throw new IOException("mount " + source + " on " + target + " (" + fstype + "): "
                    + Libc.C.strerror(e.getErrorCode()));
        }
    }

    public static void bind(Path source, Path target) throws IOException {
        mount(source.toString(), target, null, List.of("rbind"));
    }

    /** Lazily unmounts; true when something was mounted there. */
    public static boolean unmount(Path target) {
        try {
            Libc.C.umount2(target.toString(), Libc.MNT_DETACH);
            return true;
        } catch (LastErrorException e) {
            return false;
        }
    }

    /** Whether {@code path} is a mount point, from /proc/self/mountinfo. */
    public static boolean isMountPoint(Path path) {
        return mountPoints().contains(path.toAbsolutePath().normalize().toString());
    }

    /** Every mount point of this mount namespace. */
    public static Set<String> mountPoints() {
        Set<String> out = new java.util.HashSet<>();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
                String[] f = line.split(" ");
                if (f.length > 4) {
                    out.add(f[4].replace("\\040", " "));
                }
            }
        } catch (IOException ignored) {
            // treated as no mounts
        }
        return out;
    }

    /** Removes a directory tree, never descending into a mount point (a rootfs still bound there). */
    public static void deleteTree(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        Set<String> mountPoints = mountPoints();
        try {
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes a) {
                    if (mountPoints.contains(d.toAbsolutePath().normalize().toString())) {
                        LOG.warn("not removing {}: still a mount point", d);
                        return FileVisitResult.SKIP_SUBTREE;
                    }
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path f, BasicFileAttributes a) throws IOException {
                    Files.deleteIfExists(f);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path d, IOException e) {
                    d.toFile().delete();
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            LOG.warn("cannot remove {}: {}", dir, e.getMessage());
        }
    }
}
