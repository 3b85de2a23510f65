package io.nemu.e2e.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** QEMU's boot RAM size as the pod cost reads it from the command line (/proc/PID/cmdline, NUL-separated). */
class PodHostCostTest {
    private static String cmdline(String... argv) {
        return String.join("\u0000", argv) + "\u0000";
    }

    @Test
    void ramFromDashM() {
        assertEquals(512 * 1024, PodHostCost.ramKib(cmdline("qemu-system-x86_64", "-smp", "1", "-m", "512M", "-kernel", "k")));
        assertEquals(2 * 1024 * 1024, PodHostCost.ramKib(cmdline("qemu", "-m", "2G,slots=1,maxmem=4G")));
        assertEquals(512 * 1024, PodHostCost.ramKib(cmdline("qemu", "-m", "size=512M,slots=1")));
        assertEquals(0, PodHostCost.ramKib(cmdline("qemu", "-machine", "q35", "-mem-path", "x")));
    }
}
