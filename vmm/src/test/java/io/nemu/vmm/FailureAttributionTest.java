package io.nemu.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Wording of VM failures, with a short-lived shell standing in for QEMU. */
class FailureAttributionTest {
    @TempDir
    Path tmp;

    private RunPaths paths() throws Exception {
        RunPaths p = new RunPaths(tmp, tmp.resolve("console.log"));
        Files.writeString(p.qemuLog(), "qemu: could not load kernel\n");
        Files.writeString(p.consoleLog(), "");
        return p;
    }

    private static Process exited(int code) throws Exception {
        Process p = new ProcessBuilder("sh", "-c", "exit " + code).start();
        assertTrue(p.waitFor(10, TimeUnit.SECONDS));
        return p;
    }

    @Test
    void aDeadQemuIsTheStoryOfAFailedStart() throws Exception {
        FailureAttribution f = new FailureAttribution(paths(), () -> false);
        Process qemu = exited(3);
        f.watch(qemu);
        VmException e = f.startFailure("cannot start virt VM in " + tmp, Duration.ofMillis(40),
                new TimeoutException("late"), f.diagnostics());
        String m = e.getMessage();
        assertTrue(m.startsWith("cannot start virt VM in " + tmp + ": QEMU (pid " + qemu.pid()
                + ") exited with code 3 during start (QMP not ready within 40 ms)"), m);
        assertTrue(m.contains("\nQEMU exited with code 3"), m);
        assertTrue(m.contains("--- QEMU output (" + tmp.resolve("qemu.log")), m);
        assertTrue(m.contains("could not load kernel"), m);
    }

    @Test
    void aMessageThatAlreadyNamesQemuIsKept() throws Exception {
        FailureAttribution f = new FailureAttribution(paths(), () -> false);
        f.watch(exited(1));
        VmException e = f.startFailure("cannot start", Duration.ofSeconds(1),
                new VmException("QEMU (pid 1) did not open qmp.sock"), "");
        assertEquals("cannot start: QEMU (pid 1) did not open qmp.sock", e.getMessage());
    }

    @Test
    void checkAliveAndTheConsoleWaitNameTheDeadProcess() throws Exception {
        FailureAttribution f = new FailureAttribution(paths(), () -> false);
        f.checkAlive("nothing started yet");
        assertNull(f.consoleWaitFailure(false, "/x/"));
        Process qemu = exited(7);
        f.watch(qemu);
        VmException e = assertThrows(VmException.class, () -> f.checkAlive("connecting QMP"));
        assertEquals("QEMU (pid " + qemu.pid() + ") exited with code 7 while connecting QMP", e.getMessage());
        assertTrue(f.consoleWaitFailure(true, "/ready/").getMessage()
                .startsWith("QEMU exited with code 7 before the console showed /ready/"));
    }

    @Test
    void qemuEndingUnaskedIsTheRunningVmsFaultAndAnAskedStopIsNot() throws Exception {
        FailureAttribution running = new FailureAttribution(paths(), () -> false);
        Process qemu = exited(137);
        running.onQemuExit(qemu);
        assertEquals("QEMU (pid " + qemu.pid() + ") exited with code 137. Its output ends:\nqemu: could not load kernel",
                running.fault().getNow(null).strip(), "QEMU's own words go with the fault: its log is removed with the sandbox");
        FailureAttribution stopping = new FailureAttribution(paths(), () -> true);
        stopping.onQemuExit(qemu);
        assertFalse(stopping.fault().isDone(), "a stop that was asked for is no fault");
    }
}
