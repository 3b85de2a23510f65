package io.nemu.vmm.process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class VcpuWaitTest {
    @Test
    void readsTheRunQueueDelayOfASchedstatLine() {
        assertEquals(3549152L, VcpuWait.runQueueNanos("2510271 3549152 4\n"));
    }

    @Test
    void knowsQemusVcpuThreadsByName() {
        assertTrue(VcpuWait.isVcpu("CPU 0/TCG"));
        assertTrue(VcpuWait.isVcpu("CPU 12/KVM"));
        assertFalse(VcpuWait.isVcpu("qemu-system-x86"));
        assertFalse(VcpuWait.isVcpu("IO iothread1"));
    }

    @Test
    void aProcessWithoutVcpuThreadsWaitedForNothing() {
        assertEquals(Duration.ZERO, VcpuWait.of(ProcessHandle.current().pid()));
        assertEquals(Duration.ZERO, VcpuWait.of(Long.MAX_VALUE));
    }
}
