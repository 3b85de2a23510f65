package io.nemu.vmm;

import io.nemu.vmm.process.ProcessTools;
import io.nemu.vmm.virtiofs.Virtiofsd;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;

/**
 * Tells which of a VM's processes ended first, QEMU or virtiofsd, and words the error: the first to die is
 * the real story, a QMP or socket error follows from it. Also gathers the diagnostics an error carries
 * (exit codes and the last lines of QEMU's output, the console and virtiofsd's log).
 */
final class FailureAttribution {
    /** virtiofsd leaves right after QEMU does: how long QEMU's exit may lag before virtiofsd is blamed. */
    private static final Duration QEMU_EXIT_LAG = Duration.ofMillis(500);
    private static final int TAIL_LINES = 15;

    private final RunPaths paths;
    /** True once the VM is being ended on purpose: a virtiofsd exit then is no failure to report. */
    private final BooleanSupplier ending;
    private volatile Process qemu;
    private volatile Virtiofsd virtiofsd;
    /** Completes once virtiofsd ended: true if QEMU was not (yet) known to be dead then. */
    private final CompletableFuture<Boolean> virtiofsdFirst = new CompletableFuture<>();
    /** The first process to end while the VM was not being ended on purpose, worded; see {@link Vm#fault()}. */
    private final CompletableFuture<String> fault = new CompletableFuture<>();

    FailureAttribution(RunPaths paths, BooleanSupplier ending) {
        this.paths = paths;
        this.ending = ending;
    }

    void watch(Virtiofsd v) {
        virtiofsd = v;
        v.exitFuture().thenAccept(this::onVirtiofsdExit);
    }

    void watch(Process p) {
        qemu = p;
    }

    private void onVirtiofsdExit(int code) {
        Process p = qemu;
        boolean qemuAlive = p != null && ProcessTools.waitFor(p, QEMU_EXIT_LAG) == null;
        virtiofsdFirst.complete(p == null || qemuAlive);
        if (qemuAlive && !ending.getAsBoolean()) {
            // The VM's owner logs it (naming its sandbox) and ends the VM: the guest must not run on a dead share.
            fault.complete(virtiofsdExit(virtiofsd, code) + " while QEMU (pid " + p.pid() + ") runs; the guest's"
                    + " shared folder is gone. Its log ends:\n" + ProcessTools.tail(paths.virtiofsdLog(), 10));
        }
    }

    /** QEMU ended: a fault unless the VM was being ended on purpose (or virtiofsd's death came first). */
    void onQemuExit(Process p) {
        if (!ending.getAsBoolean()) {
            // QEMU's own words (an abort, an assertion) live in the run folder, which goes with the sandbox.
            String out = ProcessTools.tail(paths.qemuLog(), TAIL_LINES);
            fault.complete("QEMU (pid " + p.pid() + ") exited with code " + p.exitValue()
                    + (out.isBlank() ? "" : ". Its output ends:\n" + out));
        }
    }

    CompletableFuture<String> fault() {
        return fault;
    }

    /** Whether virtiofsd has ended, and before QEMU did. */
    boolean virtiofsdDiedFirst() {
        Virtiofsd v = virtiofsd;
        if (v == null || v.isAlive()) {
            return false;
        }
        try {
            return virtiofsdFirst.get(1, TimeUnit.SECONDS);
        } catch (Exception e) {
            return false;
        }
    }

    /** Throws naming the process that has exited, if one has. */
    void checkAlive(String during) {
        Process p = qemu;
        if (p != null && !p.isAlive()) {
            throw new VmException("QEMU (pid " + p.pid() + ") exited with code " + p.exitValue() + " while " + during);
        }
        Virtiofsd v = virtiofsd;
        if (v != null && !v.isAlive()) {
            throw new VmException(virtiofsdExit(v, v.exitFuture().join()) + " while " + during);
        }
    }

    /**
     * The error of a failed start: {@code cause} worded after the process that died first.
     *
     * @param what         e.g. "cannot start virt VM in /run/x"
     * @param startTimeout the bound the start had, named when QMP was not ready in time
     * @param diagnostics  {@link #diagnostics()} taken before the processes were ended
     */
    VmException startFailure(String what, Duration startTimeout, Throwable cause, String diagnostics) {
        String why = cause instanceof VmException || cause instanceof TimeoutException
                ? String.valueOf(cause.getMessage()) : cause.toString();
        if (cause instanceof TimeoutException) {
            why = "QMP not ready within " + startTimeout.toMillis() + " ms";
        }
        Virtiofsd v = virtiofsd;
        Process p = qemu;
        if (virtiofsdDiedFirst()) {
            if (!why.startsWith("virtiofsd")) {
                why = virtiofsdExit(v, v.exitFuture().getNow(-1)) + " during start (" + why + ")";
            }
        } else if (p != null && !p.isAlive() && !why.startsWith("QEMU")) {
            why = "QEMU (pid " + p.pid() + ") exited with code " + p.exitValue() + " during start (" + why + ")";
        }
        return new VmException(what + ": " + why + diagnostics, cause);
    }

    /**
     * The error of a console wait that cannot succeed any more, or null while it still can.
     *
     * @param qemuGone whether QEMU had exited before the console's last read
     */
    VmException consoleWaitFailure(boolean qemuGone, String awaited) {
        Process p = qemu;
        if (qemuGone) {
            String code = p == null ? "never started" : "exited with code " + p.exitValue();
            return new VmException("QEMU " + code + " before the console showed " + awaited + diagnostics());
        }
        if (virtiofsdDiedFirst()) {
            Virtiofsd v = virtiofsd;
            return new VmException(virtiofsdExit(v, v.exitFuture().getNow(-1)) + " before the console showed " + awaited + diagnostics());
        }
        return null;
    }

    private static String virtiofsdExit(Virtiofsd v, int code) {
        return "virtiofsd (pid " + v.pid() + ") exited with code " + code;
    }

    /** Exit codes and the last lines of every log, appended to error messages. */
    String diagnostics() {
        StringBuilder sb = new StringBuilder();
        Process p = qemu;
        if (p != null && !p.isAlive()) {
            sb.append("\nQEMU exited with code ").append(p.exitValue());
        }
        Virtiofsd v = virtiofsd;
        if (v != null && !v.isAlive()) {
            sb.append("\n").append(virtiofsdExit(v, v.exitFuture().getNow(-1)));
        }
        appendTail(sb, "QEMU output", paths.qemuLog());
        appendTail(sb, "console", paths.consoleLog());
        if (v != null) {
            appendTail(sb, "virtiofsd log", paths.virtiofsdLog());
        }
        return sb.toString();
    }

    private static void appendTail(StringBuilder sb, String what, Path file) {
        String t = ProcessTools.tail(file, TAIL_LINES);
        if (!t.isBlank()) {
            sb.append("\n--- ").append(what).append(" (").append(file).append(") ends:\n").append(t);
        }
    }
}
