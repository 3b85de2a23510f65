package io.nemu.shim.daemon;

import io.nemu.shim.sandbox.SandboxPaths;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Removes whatever a sandbox's daemon left after it died: the processes it recorded (only if the pid
 * still runs the same program), mounts under its folders, its state and shared folders.
 */
public final class StateCleaner {
    private StateCleaner() {
    }

    /** Returns a line per thing done, for the log. */
    public static List<String> cleanSandbox(SandboxPaths paths) {
        List<String> done = new ArrayList<>();
        for (String[] what : new String[][] {{"shim", "java"}, {"qemu", "qemu"}, {"virtiofsd", "virtiofsd"}}) {
            readPid(paths.pidFile(what[0])).ifPresent(pid -> {
                if (killIfRuns(pid, what[1])) {
                    done.add("killed " + what[0] + " pid " + pid);
                }
            });
        }
        // QEMU is gone: its taps and filters in the pod's netns can go too.
        done.addAll(io.nemu.shim.network.PodNetwork.cleanUpRecorded(paths.state()));
        done.addAll(unmountUnder(paths.sharedBase()));
        try {
            removeTree(paths.sharedBase());
            removeTree(paths.state());
        } catch (IOException e) {
            done.add("could not remove state: " + e.getMessage());
        }
        return done;
    }

    static Optional<Long> readPid(Path file) {
        try {
            return Optional.of(Long.parseLong(Files.readString(file).strip()));
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
    }

    /** SIGKILL to {@code pid} if its command line still names {@code program} (pids are reused). */
    static boolean killIfRuns(long pid, String program) {
        Optional<ProcessHandle> h = ProcessHandle.of(pid);
        if (h.isEmpty() || !h.get().isAlive() || pid == ProcessHandle.current().pid()) {
            return false;
        }
        try {
            String cmd = new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")),
                    StandardCharsets.UTF_8);
            if (!cmd.contains(program)) {
                return false;
            }
        } catch (IOException e) {
            return false;
        }
        h.get().destroyForcibly();
        try {
            h.get().onExit().get(5, java.util.concurrent.TimeUnit.SECONDS);
        } catch (Exception ignored) {
            // reported by the caller's later checks
        }
        return true;
    }

    /** Unmounts (lazily, deepest first) every mount point at or under {@code dir}. */
    public static List<String> unmountUnder(Path dir) {
        List<String> done = new ArrayList<>();
        List<String> points = new ArrayList<>();
        String prefix = dir.toAbsolutePath().normalize().toString();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
                String[] f = line.split(" ");
                if (f.length > 4) {
                    String mp = unescape(f[4]);
                    if (mp.equals(prefix) || mp.startsWith(prefix + "/")) {
                        points.add(mp);
                    }
                }
            }
        } catch (IOException e) {
            done.add("cannot read mountinfo: " + e.getMessage());
            return done;
        }
        points.sort(Comparator.comparingInt(String::length).reversed());
        for (String mp : points) {
            if (Mounts.umount(mp, Duration.ofSeconds(10))) {
                done.add("unmounted " + mp);
            } else {
                done.add("could not unmount " + mp);
            }
        }
        return done;
    }

    static String unescape(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 3 < s.length() + 0 && s.substring(i + 1, Math.min(s.length(), i + 4)).matches("[0-7]{3}")) {
                b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    /** Deletes a folder tree without following links; refuses to cross into a mount. */
    public static void removeTree(Path top) throws IOException {
        if (!Files.exists(top, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        List<Path> all;
        try (Stream<Path> s = Files.walk(top)) {
            all = s.sorted(Comparator.reverseOrder()).toList();
        }
        IOException first = null;
        for (Path p : all) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
