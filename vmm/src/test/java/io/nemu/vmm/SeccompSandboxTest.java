package io.nemu.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * QEMU's seccomp sandbox fails closed: a QEMU that cannot apply it stops the start, unless the config turned
 * the sandbox off. The QEMUs here are shell scripts that log their arguments and answer the probe the way a
 * QEMU built with or without seccomp does.
 */
class SeccompSandboxTest {
    @TempDir
    Path tmp;
    private final ChildProcesses children = new ChildProcesses();
    private Path calls;
    private Path kernel;

    @BeforeEach
    void setUp() throws Exception {
        calls = tmp.resolve("calls");
        kernel = Files.writeString(tmp.resolve("vmlinux"), "not a kernel: the fake QEMU never reads it");
    }

    @AfterEach
    void noneLeft() throws Exception {
        children.assertNoneLeft();
    }

    /** A QEMU that logs its arguments; with seccomp it passes the probe, without it says what QEMU says. */
    private Path fakeQemu(String name, boolean seccomp) throws Exception {
        String sandbox = seccomp
                ? "echo 'QEMU emulator version 7.2.0 (fake)'; exit 0"
                : "echo \"$0: -sandbox $2: There is no option group 'sandbox'\" >&2; exit 1";
        Path qemu = tmp.resolve(name);
        Files.writeString(qemu, "#!/bin/sh\n"
                + "echo \"$*\" >> " + calls + "\n"
                + "if [ \"$1\" = -sandbox ]; then " + sandbox + "; fi\n"
                // As a VM: dies at once, the way a QEMU rejecting its kernel does.
                + "echo 'fake qemu: no VM here' >&2; exit 1\n");
        Files.setPosixFilePermissions(qemu, PosixFilePermissions.fromString("rwx------"));
        return qemu;
    }

    private VmConfig.Builder config(Path qemu) {
        return VmConfig.builder().kernel(kernel).qemuBinary(qemu).accelerator(Accelerator.TCG)
                .runDir(tmp.resolve("run")).startTimeout(Duration.ofSeconds(10));
    }

    private List<String> calls() throws Exception {
        return Files.exists(calls) ? Files.readAllLines(calls) : List.of();
    }

    @Test
    void qemuWithoutSeccompDoesNotStartAndSaysWhichKeyAllowsIt() throws Exception {
        Path qemu = fakeQemu("qemu-noseccomp", false);
        Vm vm = new Vm(config(qemu).build(), children);
        VmConfigException e = assertThrows(VmConfigException.class, vm::start);
        assertEquals("seccompSandbox", e.field());
        String m = e.getMessage();
        assertTrue(m.contains(qemu.toString()), m);
        assertTrue(m.contains("There is no option group 'sandbox'"), "QEMU's own words: " + m);
        assertTrue(m.contains("seccompsandbox = \"\""), "names the key that allows it: " + m);
        assertInstanceOf(Vm.State.Stopped.class, vm.state());
        // Only the probe ran: no VM, no virtiofsd, no run folder.
        assertEquals(List.of("-sandbox " + QemuFeatures.SANDBOX + " -version"), calls());
        assertTrue(children.pids().isEmpty(), "nothing was started: " + children.pids());
        assertFalse(Files.exists(tmp.resolve("run")));
    }

    @Test
    void sandboxTurnedOffOnPurposeRunsQemuWithoutIt() throws Exception {
        Vm vm = new Vm(config(fakeQemu("qemu-noseccomp-allowed", false)).seccompSandbox("").build(), children);
        VmException e = assertThrows(VmException.class, vm::start);
        // It got as far as QEMU itself, which (fake) died: no probe, and no -sandbox on its command line.
        assertFalse(e instanceof VmConfigException, e.getMessage());
        assertTrue(e.getMessage().contains("fake qemu: no VM here"), e.getMessage());
        List<String> calls = calls();
        assertEquals(1, calls.size(), calls.toString());
        assertFalse(calls.get(0).contains("-sandbox"), calls.get(0));
        assertFalse(Files.readString(vm.paths().commandFile()).contains("-sandbox"));
        assertEquals(1, children.pids().size(), "QEMU was started");
    }

    @Test
    void qemuWithSeccompGetsTheConfiguredOptions() throws Exception {
        String options = "on,obsolete=deny,spawn=deny";
        Vm vm = new Vm(config(fakeQemu("qemu-seccomp", true)).seccompSandbox(options).build(), children);
        VmException e = assertThrows(VmException.class, vm::start);
        assertFalse(e instanceof VmConfigException, e.getMessage());
        List<String> calls = calls();
        assertEquals("-sandbox " + options + " -version", calls.get(0));
        assertTrue(calls.get(1).endsWith("-sandbox " + options), calls.get(1));
    }

    @Test
    void probeReportsAMissingBinary() {
        QemuFeatures.SandboxProbe p = QemuFeatures.sandbox(tmp.resolve("no-qemu"), QemuFeatures.SANDBOX);
        assertFalse(p.supported());
        assertTrue(p.detail().contains("no-qemu"), p.detail());
    }

    @Test
    @Tag("system")
    void debianQemuHasSeccomp() {
        QemuFeatures.SandboxProbe p = QemuFeatures.sandbox(VmConfig.DEFAULT_QEMU, QemuFeatures.SANDBOX);
        assertTrue(p.supported(), p.detail());
        assertFalse(QemuFeatures.sandbox(VmConfig.DEFAULT_QEMU, "on,nosuchoption=deny").supported());
    }
}
