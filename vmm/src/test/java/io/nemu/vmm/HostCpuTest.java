package io.nemu.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

class HostCpuTest {
    @Test
    void readsTscFromCpuinfo() {
        assertEquals(OptionalLong.of(2445404), HostCpu.tscKhz(List.of("processor\t: 0", "cpu MHz\t\t: 2445.404",
                "flags\t\t: fpu tsc constant_tsc nonstop_tsc", "processor\t: 1", "cpu MHz\t\t: 1200.000")));
    }

    @Test
    void noConstantTscNoRate() {
        assertTrue(HostCpu.tscKhz(List.of("cpu MHz\t\t: 2445.404", "flags\t\t: fpu tsc")).isEmpty());
        assertTrue(HostCpu.tscKhz(List.of("flags\t\t: constant_tsc")).isEmpty());
        assertTrue(HostCpu.tscKhz(List.of("cpu MHz\t\t: abc", "flags : constant_tsc")).isEmpty());
    }

    @Test
    void thisHostHasARate() {
        // Every x86-64 build host we run on has constant_tsc.
        assertTrue(HostCpu.tscKhz().orElse(0) > 100_000, "tsc " + HostCpu.tscKhz());
    }
}
