package io.nemu.vmm.hotplug;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CpuHotplugTest {
    static CpuHotplug.Slot slot(int core, boolean plugged) {
        return new CpuHotplug.Slot("qemu64-x86_64-cpu", Map.of("socket-id", 0, "core-id", core, "thread-id", 0),
                plugged ? "/machine/unattached/device[" + core + "]" : null);
    }

    static List<Integer> cores(List<CpuHotplug.Slot> slots) {
        return slots.stream().map(s -> s.props().get("core-id")).toList();
    }

    @Test
    void freeSlotsArePluggedFromTheLowestApicIdUp() {
        // as query-hotpluggable-cpus lists them with -smp 1,maxcpus=5: highest first, the boot CPU last
        List<CpuHotplug.Slot> slots = List.of(slot(4, false), slot(3, false), slot(2, true), slot(1, false),
                slot(0, true));
        assertEquals(List.of(1, 3, 4), cores(CpuHotplug.freeInPlugOrder(slots)));
    }

    @Test
    void socketsOrderBeforeCores() {
        CpuHotplug.Slot s1c0 = new CpuHotplug.Slot("t", Map.of("socket-id", 1, "core-id", 0), null);
        CpuHotplug.Slot s0c1 = new CpuHotplug.Slot("t", Map.of("socket-id", 0, "core-id", 1), null);
        assertEquals(List.of(s0c1, s1c0), CpuHotplug.freeInPlugOrder(List.of(s1c0, s0c1)));
    }
}
