package io.nemu.vmm;

import io.nemu.vmm.process.ProcessTools;
import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** What a QEMU binary supports, asked once per binary. */
public final class QemuFeatures {
    /** seccomp filter: deny obsolete syscalls, privilege changes, spawning and resource control. */
    public static final String SANDBOX = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";
    private static final Map<Path, Boolean> SANDBOX_CACHE = new ConcurrentHashMap<>();

    private QemuFeatures() {
    }

    /**
     * True when QEMU was built with seccomp. Without it, {@code -sandbox} is an unknown option group and
     * QEMU stops at it; with it, the following {@code -version} ends QEMU with status 0.
     */
    public static boolean sandbox(Path qemu) {
        return SANDBOX_CACHE.computeIfAbsent(qemu.toAbsolutePath(), q -> {
            try {
                Process p = new ProcessBuilder(List.of(q.toString(), "-sandbox", SANDBOX, "-version"))
                        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
                Integer rc = ProcessTools.waitFor(p, Duration.ofSeconds(5));
                if (rc == null) {
                    ProcessTools.kill(p);
                    return false;
                }
                return rc == 0;
            } catch (IOException e) {
                return false;
            }
        });
    }
}
