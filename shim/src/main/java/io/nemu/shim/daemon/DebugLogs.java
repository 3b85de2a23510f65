package io.nemu.shim.daemon;

import ch.qos.logback.classic.Level;
import io.nemu.shim.config.RuntimeConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The configuration's debug switches as the daemon's log levels (logback.xml's default is INFO; the shim's
 * {@code -debug} flag, containerd's own debug, turns on everything before the configuration is read).
 * Levels are only raised: one sandbox per daemon, so nothing is ever turned back down.
 */
final class DebugLogs {
    /** {@code [runtime] enable_debug}: all the runtime logs (shim, VM, ttrpc). */
    static final String RUNTIME = "io.nemu";
    /** {@code [hypervisor.qemu] enable_debug}: the VM's side (QEMU and virtiofsd processes, QMP, vsock). */
    static final String HYPERVISOR = "io.nemu.vmm";
    private static final Logger log = LoggerFactory.getLogger(DebugLogs.class);

    private DebugLogs() {
    }

    static void apply(RuntimeConfig cfg) {
        if (cfg.runtime().enableDebug()) {
            debug(RUNTIME, "[runtime] enable_debug");
        }
        if (cfg.hypervisor().enableDebug()) {
            debug(HYPERVISOR, "[hypervisor.qemu] enable_debug");
        }
    }

    private static void debug(String name, String why) {
        if (LoggerFactory.getLogger(name) instanceof ch.qos.logback.classic.Logger l && !l.isDebugEnabled()) {
            l.setLevel(Level.DEBUG);
            log.info("{}: debug logs of {} on", why, name);
        }
    }
}
