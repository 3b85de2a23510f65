package io.nemu.shim.daemon;

import io.nemu.shim.cgroup.SandboxCgroup;
import io.nemu.shim.mount.SafeTree;
import io.nemu.shim.sandbox.PidFile;
import io.nemu.shim.sandbox.SandboxPaths;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Removes whatever a sandbox's daemon left after it died: the processes it recorded (only if the very same
 * process still runs), the pod network's taps, the cgroup folders it made, mounts under its folders, its state
 * and shared folders.
 */
public final class StateCleaner {
    private StateCleaner() {
    }

    /** Returns a line per thing done, for the log. */
    public static List<String> cleanSandbox(SandboxPaths paths) {
        List<String> done = new ArrayList<>();
        // containerd gives delete a few seconds: every SIGKILL goes out before any wait.
        List<ProcessHandle> killed = new ArrayList<>();
        for (String what : List.of("qemu", "virtiofsd")) {
            PidFile.read(paths.pidFile(what)).flatMap(StateCleaner::killIfRuns).ifPresent(h -> {
                killed.add(h);
                done.add("killed " + what + " pid " + h.pid());
            });
        }
        for (ProcessHandle h : killed) {
            try {
                h.onExit().get(5, java.util.concurrent.TimeUnit.SECONDS);
            } catch (Exception e) {
                done.add("pid " + h.pid() + " did not exit within 5 s of SIGKILL");
            }
        }
        // QEMU is gone: its taps and filters in the pod's netns can go too.
        done.addAll(io.nemu.shim.network.PodNetwork.cleanUpRecorded(paths.state()));
        // ... and the cgroup folders it made (QEMU and virtiofsd that were in them are dead).
        done.addAll(SandboxCgroup.cleanUpRecorded(paths.state()));
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

    /** SIGKILL to the recorded process if it still runs: the same pid and start time, so never a newcomer. */
    static Optional<ProcessHandle> killIfRuns(PidFile recorded) {
        Optional<ProcessHandle> h = ProcessHandle.of(recorded.pid());
        if (h.isEmpty() || recorded.pid() == ProcessHandle.current().pid() || !recorded.runs()) {
            return Optional.empty();
        }
        h.get().destroyForcibly();
        return h;
    }
}
