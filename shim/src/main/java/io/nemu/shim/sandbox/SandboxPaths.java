package io.nemu.shim.sandbox;

import java.nio.file.Path;

/**
 * Host folders of one sandbox. {@code state} holds the pids of what the daemon started (for the
 * {@code delete} command after a crash) and the VM's sockets and logs; {@code shared} is what virtiofsd
 * exports; container rootfs are bind-mounted at {@code shared/<cid>/rootfs}.
 */
public record SandboxPaths(Path root, String sandboxId) {
    /** Root of everything the shim keeps on the host; NEMU_RUN_ROOT overrides it (tests). */
    public static Path defaultRoot() {
        String r = System.getenv("NEMU_RUN_ROOT");
        return Path.of(r == null || r.isBlank() ? "/run/nemu" : r);
    }

    public static SandboxPaths of(String sandboxId) {
        return new SandboxPaths(defaultRoot(), sandboxId);
    }

    public Path state() {
        return root.resolve("sandboxes").resolve(sandboxId);
    }

    /** The VM's run folder (sockets, console log): short enough for unix socket paths. */
    public Path vmRun() {
        return state().resolve("vm");
    }

    public Path sharedBase() {
        return root.resolve("shared").resolve("sandboxes").resolve(sandboxId);
    }

    public Path shared() {
        return sharedBase().resolve("shared");
    }

    public Path containerRootfs(String containerId) {
        return shared().resolve(containerId).resolve("rootfs");
    }

    /** The {@link #pidFile} naming the shim daemon that serves the pod (it serves others too: never killed by it). */
    public static final String DAEMON = "daemon";

    public Path pidFile(String what) {
        return state().resolve(what + ".pid");
    }
}
