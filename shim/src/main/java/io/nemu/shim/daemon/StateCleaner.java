package io.nemu.shim.daemon;

import io.nemu.shim.mount.SafeTree;
import io.nemu.shim.sandbox.SandboxPaths;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

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
        // The shared folder holds the container roots and the pod's host volumes: it goes only once nothing is
        // mounted there, and the state (the record of what to clean) stays with it so that a later delete retries.
        try {
            done.addAll(SafeTree.host().unmountAndRemove(paths.sharedBase()));
            SafeTree.host().remove(paths.state());
        } catch (IOException e) {
            done.add("left the sandbox's folders in place: " + e.getMessage());
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

    /** Unmounts every mount point at or under {@code dir}; a line per mount, or the reason it could not. */
    public static List<String> unmountUnder(Path dir) {
        try {
            return SafeTree.host().unmountAll(dir);
        } catch (IOException e) {
            return List.of(e.getMessage());
        }
    }

    /** Deletes a folder tree only if nothing under it is mounted ({@link SafeTree#remove}). */
    public static void removeTree(Path top) throws IOException {
        SafeTree.host().remove(top);
    }
}
