package io.nemu.vmm;

import io.nemu.vmm.process.ProcessTools;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** What a QEMU binary supports, asked once per binary (and sandbox options). */
public final class QemuFeatures {
    private static final Logger log = LoggerFactory.getLogger(QemuFeatures.class);
    /** seccomp filter: deny obsolete syscalls, privilege changes, spawning and resource control. */
    public static final String SANDBOX = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";
    /** {@code -sandbox on} and QEMU's {@code name=value} options after it; QEMU itself checks the names. */
    private static final Pattern SANDBOX_OPTIONS = Pattern.compile("on(,[a-z]+=[a-z]+)*");
    private static final Map<String, SandboxProbe> SANDBOX_CACHE = new ConcurrentHashMap<>();

    /** Whether QEMU accepts {@code -sandbox <options>}; {@code detail} is QEMU's own words when it does not. */
    public record SandboxProbe(boolean supported, String detail) {
    }

    private QemuFeatures() {
    }

    /**
     * Null when {@code options} is a -sandbox value this project passes on ({@code on} and its options), else
     * what is wrong with it. No sandbox at all is not written here: it is the absence of options (null).
     */
    public static String sandboxOptionsProblem(String options) {
        if (options != null && SANDBOX_OPTIONS.matcher(options).matches()) {
            return null;
        }
        return "must be QEMU's -sandbox options starting with 'on' (e.g. '" + SANDBOX + "'), or empty for no"
                + " sandbox at all; got '" + options + "'";
    }

    /**
     * QEMU runs under its seccomp sandbox unless the config turned it off: a QEMU that cannot apply it fails
     * the start (before anything runs) instead of running unconfined.
     */
    static void requireSandbox(VmConfig config) {
        String options = config.seccompSandbox();
        if (options == null) {
            log.warn("QEMU {} runs without its seccomp sandbox: the configuration turned it off", config.qemuBinary());
            return;
        }
        SandboxProbe probe = sandbox(config.qemuBinary(), options);
        if (!probe.supported()) {
            throw new VmConfigException("seccompSandbox", config.qemuBinary() + " cannot run with -sandbox " + options
                    + " (" + probe.detail() + "); use a QEMU built with seccomp, or run it without the sandbox on"
                    + " purpose: seccompSandbox empty (configuration.toml: [hypervisor.qemu] seccompsandbox = \"\")");
        }
    }

    /**
     * Asks QEMU to start with {@code -sandbox <options> -version}: a QEMU without seccomp (or one that does
     * not know an option) stops at the {@code -sandbox} group with an error; one with it prints its version
     * and ends with status 0.
     */
    public static SandboxProbe sandbox(Path qemu, String options) {
        return SANDBOX_CACHE.computeIfAbsent(qemu.toAbsolutePath() + " " + options, k -> {
            try {
                Process p = new ProcessBuilder(List.of(qemu.toString(), "-sandbox", options, "-version"))
                        .redirectErrorStream(true)
                        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
                Integer rc = ProcessTools.waitFor(p, Duration.ofSeconds(5));
                if (rc == null) {
                    ProcessTools.kill(p);
                    return new SandboxProbe(false, qemu + " -sandbox " + options + " -version did not end within 5 s");
                }
                // A few lines at most: the pipe never fills before QEMU ends.
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
                if (rc == 0) {
                    return new SandboxProbe(true, out.lines().findFirst().orElse(""));
                }
                return new SandboxProbe(false, "exit " + rc + ": " + (out.isEmpty() ? "(no output)"
                        : out.lines().reduce((a, b) -> b).orElse("")));
            } catch (IOException e) {
                return new SandboxProbe(false, "cannot run " + qemu + ": " + e.getMessage());
            }
        });
    }
}
