package io.nemu.shim.mount;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/** The mount points this process sees ({@code /proc/self/mountinfo}), the only truth about what is mounted. */
public final class MountTable {
    private static final Path SELF = Path.of("/proc/self/mountinfo");

    private final Path mountinfo;

    public MountTable(Path mountinfo) {
        this.mountinfo = mountinfo;
    }

    public static MountTable self() {
        return new MountTable(SELF);
    }

    /**
     * Every mount point at or under {@code dir}, deepest first (the order to unmount in).
     *
     * @throws IOException when the table cannot be read: callers must then assume that anything may be mounted
     */
    public List<String> pointsUnder(Path dir) throws IOException {
        // mountinfo names real paths: resolve links in the folder's own path first.
        String prefix = (Files.exists(dir) ? dir.toRealPath() : dir.toAbsolutePath().normalize()).toString();
        List<String> points = new ArrayList<>();
        for (String mp : points()) {
            if (mp.equals(prefix) || mp.startsWith(prefix.equals("/") ? "/" : prefix + "/")) {
                points.add(mp);
            }
        }
        points.sort(Comparator.comparingInt(String::length).reversed());
        return points;
    }

    /** Every mount point, in the table's order (a later mount may sit on an earlier one). */
    public List<String> points() throws IOException {
        List<String> lines;
        try {
            lines = Files.readAllLines(mountinfo);
        } catch (IOException e) {
            throw new IOException("cannot read " + mountinfo + ": " + e.getMessage(), e);
        }
        List<String> points = new ArrayList<>(lines.size());
        for (String line : lines) {
            String[] f = line.split(" ");
            if (f.length < 5) {
                throw new IOException(mountinfo + ": malformed line '" + line + "'");
            }
            points.add(unescape(f[4]));
        }
        return points;
    }

    /** mountinfo writes space, tab, newline and backslash as {@code \ooo} octal escapes. */
    static String unescape(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 3 < s.length() + 1 && isOctal(s, i + 1) && isOctal(s, i + 2) && isOctal(s, i + 3)) {
                b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    private static boolean isOctal(String s, int i) {
        return i < s.length() && s.charAt(i) >= '0' && s.charAt(i) <= '7';
    }
}
