package io.nemu.e2e.support;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Folders the tests make and the mounts below them: the one recursive delete of the e2e tests, and the
 * mount table read the same way by the harness and the leftovers check.
 */
public final class FileTrees {
    private FileTrees() {
    }

    /**
     * Deletes {@code top} and everything below it, links as links. Refuses while anything is mounted at or
     * below it: a walk would go on into the mounted file system and delete what is not the test's.
     */
    public static void delete(Path top) throws IOException {
        if (top == null || !Files.exists(top, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        List<String> mounted = mountPointsUnder(top.toRealPath());
        if (!mounted.isEmpty()) {
            throw new IOException("not deleting " + top + ": still mounted below it: " + mounted);
        }
        List<Path> paths;
        try (Stream<Path> walk = Files.walk(top)) {
            paths = walk.sorted(Comparator.reverseOrder()).toList();
        }
        List<String> failed = new ArrayList<>();
        for (Path p : paths) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) {
                failed.add(p + " (" + e.getMessage() + ")");
            }
        }
        if (!failed.isEmpty()) {
            throw new IOException("cannot delete " + failed.size() + " path(s), first: " + failed.get(0));
        }
    }

    /** Unmounts every mount point at or below {@code top}, deepest first (lazily if busy). */
    public static void unmountUnder(Path top) throws IOException {
        List<String> failed = new ArrayList<>();
        for (String point : mountPointsUnder(top)) {
            if (run("umount", point) != 0 && run("umount", "-l", point) != 0) {
                failed.add(point);
            }
        }
        if (!failed.isEmpty()) {
            throw new IOException("cannot unmount " + failed);
        }
    }

    /** Mount points at or below {@code top}, the latest first (later mounts may sit on earlier ones). */
    public static List<String> mountPointsUnder(Path top) throws IOException {
        String prefix = top.toString();
        List<String> points = new ArrayList<>();
        for (String point : mountPoints()) {
            if (point.equals(prefix) || point.startsWith(prefix + "/")) {
                points.add(point);
            }
        }
        Collections.reverse(points);
        return points;
    }

    /** Every mount point of this mount namespace, in the order of /proc/self/mountinfo. */
    public static List<String> mountPoints() throws IOException {
        List<String> points = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String[] f = line.split(" ");
            if (f.length >= 5) {
                points.add(unescapeMountinfo(f[4]));
            }
        }
        return points;
    }

    /** mountinfo writes space, tab, newline and backslash as octal escapes. */
    static String unescapeMountinfo(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 4 <= s.length() && s.substring(i + 1, i + 4).matches("[0-7]{3}")) {
                b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    private static int run(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(1, TimeUnit.SECONDS);
                return -1;
            }
            return p.exitValue();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }
}
