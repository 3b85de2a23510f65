package io.nemu.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The VM lifecycle's transition table. */
class VmStateTest {
    private static final List<Vm.State> ALL = List.of(new Vm.State.Created(), new Vm.State.Starting(),
            new Vm.State.Running(1), new Vm.State.Stopping(), new Vm.State.Stopped(0));

    private static String allowed(Vm.State from) {
        StringBuilder sb = new StringBuilder();
        for (Vm.State to : ALL) {
            if (from.mayBecome(to)) {
                sb.append(to.getClass().getSimpleName()).append(' ');
            }
        }
        return sb.toString().trim();
    }

    @Test
    void transitions() {
        assertEquals("Starting Stopped", allowed(new Vm.State.Created()));
        assertEquals("Running Stopping Stopped", allowed(new Vm.State.Starting()));
        assertEquals("Stopping Stopped", allowed(new Vm.State.Running(1)));
        assertEquals("Stopped", allowed(new Vm.State.Stopping()));
        assertEquals("", allowed(new Vm.State.Stopped(null)));
    }
}
