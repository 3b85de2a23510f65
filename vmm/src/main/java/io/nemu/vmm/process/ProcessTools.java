package io.nemu.vmm.process;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/** Small helpers for child processes and their log files. */
public final class ProcessTools {
    private ProcessTools() {
    }

    /** Exit code, or null if the process still runs after {@code timeout}. */
    public static Integer waitFor(Process p, Duration timeout) {
        try {
            if (p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                return p.exitValue();
            }
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return p.isAlive() ? null : p.exitValue();
        }
    }

    /** SIGKILL to this process (by its own pid) and reap it. */
    public static void kill(Process p) {
        if (p.isAlive()) {
            p.destroyForcibly();
        }
        waitFor(p, Duration.ofSeconds(5));
    }

    /** The last {@code lines} lines of a text file ("" if it is missing). Reads at most 64 KiB. */
    public static String tail(Path file, int lines) {
        if (file == null || !Files.isRegularFile(file)) {
            return "";
        }
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
            long len = f.length();
            int n = (int) Math.min(len, 64 * 1024);
            byte[] buf = new byte[n];
            f.seek(len - n);
            f.readFully(buf);
            String s = new String(buf, StandardCharsets.UTF_8).replace("\r", "");
            String[] all = s.split("\n");
            int from = Math.max(0, all.length - lines);
            return String.join("\n", java.util.Arrays.copyOfRange(all, from, all.length));
        } catch (IOException e) {
            return "";
        }
    }

    /** Deletes a folder tree we created; quiet about failures. */
    public static void deleteTree(Path dir) {
        if (dir == null || !Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // best effort
                }
            });
        } catch (IOException ignored) {
            // best effort
        }
    }

    /**
     * The fields of {@code /proc/PID/stat} after the command name, so that index 0 is field 3 (state) of
     * proc(5): the name is in parentheses and may itself hold spaces and parentheses.
     */
    public static String[] statFields(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"), StandardCharsets.ISO_8859_1);
        return stat.substring(stat.lastIndexOf(')') + 2).split(" ");
    }

    /** Resident set size of a process in KiB (VmRSS), or -1. */
    public static long rssKib(long pid) {
        return procKib(pid, "status", "VmRSS");
    }

    /**
     * A {@code key:  N kB} figure of {@code /proc/PID/file} ({@code status}, {@code smaps_rollup}) in KiB, or
     * -1 if the process or the line is gone.
     */
    public static long procKib(long pid, String file, String key) {
        String prefix = key + ":";
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), file))) {
                if (line.startsWith(prefix)) {
                    return Long.parseLong(line.substring(prefix.length()).trim().split("\\s+")[0]);
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }
}
