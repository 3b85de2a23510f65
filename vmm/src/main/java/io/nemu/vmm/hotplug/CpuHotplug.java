package io.nemu.vmm.hotplug;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nemu.vmm.qmp.QmpClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * vCPUs of a running q35 VM ({@code -smp N,maxcpus=M}). QEMU lists every CPU slot in
 * {@code query-hotpluggable-cpus}; a free one is plugged by {@code device_add} with exactly the slot's
 * props (QEMU picks the topology: with maxcpus=4 it is 1 socket of 4 cores, and it refuses props of its own
 * invention). Only CPUs added here (ids under {@code /machine/peripheral/}) can be removed; the boot CPUs stay.
 * The guest still has to online an added CPU (the agent's OnlineCPUMem).
 */
public final class CpuHotplug {
    static final String ID_PREFIX = "cpu-";
    private static final String PERIPHERAL = "/machine/peripheral/";

    private final QmpCalls qmp;

    public CpuHotplug(QmpClient qmp) {
        this.qmp = new QmpCalls(qmp);
    }

    /** One slot of {@code query-hotpluggable-cpus}. {@code qomPath} is null while the slot is free. */
    public record Slot(String type, Map<String, Integer> props, String qomPath) {
        boolean plugged() {
            return qomPath != null;
        }

        /** Topology order: socket, core, thread. */
        long order() {
            return ((long) props.getOrDefault("socket-id", 0) << 32) | ((long) props.getOrDefault("core-id", 0) << 16)
                    | props.getOrDefault("thread-id", 0);
        }

        /** The id a CPU added here carries, or null (a boot CPU, or a free slot). */
        String ourId() {
            return qomPath != null && qomPath.startsWith(PERIPHERAL + ID_PREFIX)
                    ? qomPath.substring(PERIPHERAL.length()) : null;
        }
    }

    public synchronized List<Slot> slots() throws HotplugException {
        List<Slot> slots = new ArrayList<>();
        for (JsonNode s : qmp.call("query-hotpluggable-cpus", null)) {
            Map<String, Integer> props = new java.util.TreeMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = s.path("props").fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                props.put(e.getKey(), e.getValue().asInt());
            }
            slots.add(new Slot(s.path("type").asText(), props, s.hasNonNull("qom-path") ? s.get("qom-path").asText() : null));
        }
        return slots;
    }

    /** vCPUs plugged now (boot and added). */
    public synchronized int count() throws HotplugException {
        return (int) slots().stream().filter(Slot::plugged).count();
    }

    /**
     * Plugs or unplugs vCPUs until {@code target} are plugged; returns how many there are then. Unplugging
     * waits (up to {@code removeTimeout} per CPU) for the guest to offline and eject each one; it stops at
     * the boot CPUs.
     */
    public synchronized int resize(int target, Duration removeTimeout) throws HotplugException {
        List<Slot> slots = slots();
        int count = (int) slots.stream().filter(Slot::plugged).count();
        if (target > slots.size()) {
            throw new HotplugException(target + " vCPUs asked for, the VM has room for " + slots.size() + " (maxcpus)");
        }
        for (Slot s : freeInPlugOrder(slots)) {
            if (count >= target) {
                break;
            }
            plug(s);
            count++;
        }
        // Last added first: the guest's highest CPUs go.
        List<Slot> ours = slots.stream().filter(s -> s.ourId() != null)
                .sorted(Comparator.comparingLong(Slot::order).reversed()).toList();
        for (Slot s : ours) {
            if (count <= target) {
                break;
            }
            unplug(s.ourId(), removeTimeout);
            count--;
        }
        return count;
    }

    /**
     * {@code device_del}, then waits until the slot is free: the guest has offlined and ejected the CPU and QEMU has
     * ended its thread. Not {@code DEVICE_DELETED}: QEMU sends it only once the CPU object is finalized, and under
     * TCG that did not happen within 30 s although the slot was free and the thread gone within a second.
     */
    private void unplug(String id, Duration timeout) throws HotplugException {
        qmp.call("device_del", QmpCalls.args().put("id", id));
        long deadline = System.nanoTime() + timeout.toNanos();
        while (slots().stream().anyMatch(s -> id.equals(s.ourId()))) {
            if (System.nanoTime() > deadline) {
                throw new HotplugException("vCPU " + id + " still plugged " + timeout.toSeconds()
                        + " s after device_del (the guest did not eject it)");
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new HotplugException("waiting for the unplug of vCPU " + id + ": interrupted", e);
            }
        }
    }

    /**
     * The free slots, lowest APIC ID first (QEMU lists them highest first). QEMU 7.2's APIC model stops looking for
     * the targets of a logical-destination interrupt at the first APIC ID without a CPU, and Linux sends its IPIs
     * (wake-ups, function calls) that way with up to 8 CPUs: a CPU plugged above a gap boots but hears no IPI and
     * wakes only on its own timer, so its bring-up (the agent's write to cpuN/online) stalls. Plugging from the
     * bottom, and unplugging from the top, leaves no gap.
     */
    static List<Slot> freeInPlugOrder(List<Slot> slots) {
        return slots.stream().filter(s -> !s.plugged()).sorted(Comparator.comparingLong(Slot::order)).toList();
    }

    private void plug(Slot s) throws HotplugException {
        ObjectNode a = QmpCalls.args().put("driver", s.type());
        // One id per slot: the slot's props make it unique and stable across unplug and plug again.
        StringBuilder id = new StringBuilder(ID_PREFIX);
        for (Map.Entry<String, Integer> p : s.props().entrySet()) {
            a.put(p.getKey(), p.getValue());
            id.append(p.getValue()).append('-');
        }
        id.setLength(id.length() - 1);
        a.put("id", id.toString());
        qmp.call("device_add", a);
    }
}
