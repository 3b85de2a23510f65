package io.nemu.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@Tag("system")
class AcceleratorProbeTest {
    @TempDir
    Path tmp;

    /** The control: the probe guest runs under TCG and ends QEMU with the expected code and output. */
    @Test
    void probeKernelRunsUnderTcg() throws Exception {
        Path k = ProbeKernel.write(tmp.resolve("p.elf"), "marker-123\n", true);
        Path serial = tmp.resolve("serial");
        Process p = new ProcessBuilder(List.of("/usr/bin/qemu-system-x86_64", "-accel", "tcg", "-machine",
                "microvm,x-option-roms=off,pit=off,pic=off,rtc=off", "-nodefaults", "-no-user-config",
                "-display", "none", "-m", "32", "-kernel", k.toString(), "-serial", "file:" + serial, "-device",
                "isa-debug-exit,iobase=0xf4,iosize=0x04")).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        Integer rc = io.nemu.vmm.process.ProcessTools.waitFor(p, Duration.ofSeconds(10));
        if (rc == null) {
            io.nemu.vmm.process.ProcessTools.kill(p);
        }
        assertEquals(ProbeKernel.EXPECTED_QEMU_EXIT, rc);
        assertEquals("marker-123\n", Files.readString(serial));
    }

    @Test
    void kvmProbeGivesAReasonQuickly() {
        long t0 = System.nanoTime();
        AcceleratorProbe.KvmCheck k = AcceleratorProbe.probeKvm(VmConfig.DEFAULT_QEMU, Duration.ofSeconds(5));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("KVM probe: usable=" + k.usable() + " (" + k.detail() + ") in " + ms + " ms");
        assertFalse(k.detail().isBlank());
        assertTrue(ms < 10_000);
        AcceleratorProbe.Choice auto = AcceleratorProbe.choose(Accelerator.AUTO, VmConfig.DEFAULT_QEMU);
        assertEquals(k.usable() ? Accelerator.KVM : Accelerator.TCG, auto.accelerator());
        if (!k.usable()) {
            VmConfigException e = assertThrows(VmConfigException.class,
                    () -> AcceleratorProbe.choose(Accelerator.KVM, VmConfig.DEFAULT_QEMU));
            assertEquals("accelerator", e.field());
        }
    }

    /**
     * {@code -Dnemu.expectKvm=false} on hosts known to lack a usable KVM (the build machines: a nested
     * PVM /dev/kvm that aborts with -cpu host), {@code true} on real KVM hosts.
     */
    @Test
    void probeMatchesWhatTheHostIsKnownToBe() {
        String expect = System.getProperty("nemu.expectKvm");
        org.junit.jupiter.api.Assumptions.assumeTrue(expect != null, "nemu.expectKvm not set");
        assertEquals(Boolean.parseBoolean(expect), AcceleratorProbe.kvm(VmConfig.DEFAULT_QEMU).usable(),
                AcceleratorProbe.kvm(VmConfig.DEFAULT_QEMU).detail());
    }

    @Test
    void tcgRequestedSkipsTheProbe() {
        assertEquals(Accelerator.TCG, AcceleratorProbe.choose(Accelerator.TCG, tmp.resolve("no-qemu")).accelerator());
    }
}
