package io.nemu.shim.mount;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Deletes a shim-made folder tree without ever reaching into what is mounted below it. Container roots and
 * hostPath volumes are bind-mounted under the sandbox's shared folder: a recursive delete that crosses one of
 * them deletes the host's data. So a tree is deleted only after the mount table shows nothing mounted at or
 * under it; when an unmount fails or the table cannot be read, the tree stays and the caller gets the path and
 * the reason. The walk itself never follows links and never leaves the tree's own device, in case a mount
 * appears after the check.
 */
public final class SafeTree {
    /** Unmounts one mount point or throws with the reason. */
    @FunctionalInterface
    public interface Unmounter {
        void unmount(String point) throws IOException;
    }

    private static final Duration UMOUNT_TIMEOUT = Duration.ofSeconds(10);
    private static final SafeTree HOST = new SafeTree(MountTable.self(), p -> Mounts.umount(p, UMOUNT_TIMEOUT));

    private final MountTable table;
    private final Unmounter unmounter;

    public SafeTree(MountTable table, Unmounter unmounter) {
        this.table = table;
        this.unmounter = unmounter;
    }

    /** This host's mount table and {@code umount -l}. */
    public static SafeTree host() {
        return HOST;
    }

    /**
     * Unmounts everything at or under {@code top}, deepest first, and checks that nothing stays.
     *
     * @return a line per mount point unmounted, for the log
     * @throws IOException naming the mount point and the reason when one could not be unmounted
     */
    public List<String> unmountAll(Path top) throws IOException {
        List<String> done = new ArrayList<>();
        List<String> failed = new ArrayList<>();
        for (String mp : table.pointsUnder(top)) {
            try {
                unmounter.unmount(mp);
                done.add("unmounted " + mp);
            } catch (IOException e) {
                failed.add(e.getMessage());
            }
        }
        if (!failed.isEmpty()) {
            throw new IOException("could not unmount under " + top + ": " + String.join("; ", failed));
        }
        List<String> left = table.pointsUnder(top);
        if (!left.isEmpty()) {
            throw new IOException("still mounted under " + top + " after unmounting: " + String.join(", ", left));
        }
        return done;
    }

    /**
     * Deletes {@code top} and everything below it, only if nothing at or under it is a mount point.
     *
     * @throws IOException naming what is still mounted (the tree is then untouched), or what could not be deleted
     */
    public void remove(Path top) throws IOException {
        if (!Files.exists(top, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        List<String> mounted = table.pointsUnder(top);
        if (!mounted.isEmpty()) {
            throw new IOException("left " + top + " in place: still mounted below it: " + String.join(", ", mounted));
        }
        Object device = Files.getAttribute(top, "unix:dev", LinkOption.NOFOLLOW_LINKS);
        List<String> errors = new ArrayList<>();
        Files.walkFileTree(top, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
                if (!device.equals(Files.getAttribute(dir, "unix:dev", LinkOption.NOFOLLOW_LINKS))) {
                    errors.add(dir + " is on another file system (mounted after the check?); not entered");
                    return FileVisitResult.SKIP_SUBTREE;
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException e) {
                errors.add(file + ": " + e.getMessage());
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path dir, IOException e) {
                if (e != null) {
                    errors.add(dir + ": " + e.getMessage());
                }
                delete(dir);
                return FileVisitResult.CONTINUE;
            }

            private void delete(Path p) {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    errors.add(p + ": " + e.getClass().getSimpleName() + " " + e.getMessage());
                }
            }
        });
        if (!errors.isEmpty()) {
            throw new IOException("could not remove all of " + top + ": " + String.join("; ", errors));
        }
    }

    /** {@link #unmountAll} then {@link #remove}: the tree goes only when every unmount worked. */
    public List<String> unmountAndRemove(Path top) throws IOException {
        List<String> done;
        try {
            done = unmountAll(top);
        } catch (IOException e) {
            throw new IOException("left " + top + " in place: " + e.getMessage(), e);
        }
        remove(top);
        return done;
    }
}
