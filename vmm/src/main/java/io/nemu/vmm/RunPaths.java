package io.nemu.vmm;

import java.nio.file.Path;

/** Where one VM keeps its sockets and logs, all under {@code runDir}. */
public record RunPaths(Path runDir, Path consoleLog) {
    public Path qmpSocket() {
        return runDir.resolve("qmp.sock");
    }

    public Path virtiofsdSocket() {
        return runDir.resolve(VmConfig.LONGEST_SOCKET);
    }

    public Path agentSocket() {
        return runDir.resolve("agent.sock");
    }

    /** QEMU's stdout and stderr. */
    public Path qemuLog() {
        return runDir.resolve("qemu.log");
    }

    public Path virtiofsdLog() {
        return runDir.resolve("virtiofsd.log");
    }

    /** The QEMU command line, one argument per line, for people debugging a VM. */
    public Path commandFile() {
        return runDir.resolve("qemu.cmdline");
    }

    public static RunPaths of(VmConfig c) {
        return new RunPaths(c.runDir(), c.consoleLog());
    }
}
