package io.nemu.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** A sandbox's death told from the console's end: a panic is named even when its dump is longer than what is logged. */
class DeathCauseTest {
    private static final String CAUSE = "QEMU (pid 4390) exited with code 0";

    @Test
    void aPanicHeadingALongDumpIsNamed() {
        String dump = IntStream.range(0, 60).mapToObj(i -> "[   11.46" + i + "]  ? frame_" + i + "+0x44/0x5c")
                .collect(Collectors.joining("\n"));
        String console = "[   11.40] sysrq: Trigger a crash\n"
                + "[   11.41] Kernel panic - not syncing: sysrq triggered crash\n" + dump
                + "\n[   11.47] Rebooting in 1 seconds..";
        assertEquals("the guest kernel panicked ([   11.41] Kernel panic - not syncing: sysrq triggered crash): " + CAUSE,
                VmSandbox.deathCause(console, CAUSE));
    }

    @Test
    void withoutAPanicTheCauseStands() {
        assertEquals(CAUSE, VmSandbox.deathCause("[    1.0] reboot: Restarting system\n", CAUSE));
        assertEquals(CAUSE, VmSandbox.deathCause("", CAUSE));
    }
}
