package io.nemu.shim.sandbox;

import com.fasterxml.jackson.databind.JsonNode;
import io.grpc.Status;
import io.nemu.shim.config.RuntimeConfig;
import io.nemu.shim.errdefs.TaskException;
import io.nemu.vmm.Vm;
import io.nemu.vmm.hotplug.CpuHotplug;
import io.nemu.vmm.hotplug.HotplugException;
import io.nemu.vmm.hotplug.MemoryHotplug;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps a running sandbox VM as big as its containers' limits ({@link ContainerSizing}). On {@code
 * virt-hotplug} a container joining or raising its limits gets vCPUs ({@link CpuHotplug}) and RAM
 * ({@link MemoryHotplug}, DIMMs) before its guest cgroup changes, and the guest onlines them; lowering or
 * leaving changes the cgroup first, then gives vCPUs back. RAM stays (a DIMM cannot shrink): logged. On
 * {@code virt} nothing can be added: the VM was sized at boot, and limits only change the guest cgroups
 * (said once in the log).
 */
final class VmResources {
    private static final Logger log = LoggerFactory.getLogger(VmResources.class);
    /** How long the guest may take to release one vCPU (offline it and run the ACPI eject) under TCG. */
    private static final Duration CPU_REMOVAL = Duration.ofSeconds(30);

    /** The guest side: OnlineCPUMem. */
    interface Guest {
        void online(int vcpus, boolean cpuOnly);
    }

    private final String sandboxId;
    private final ContainerSizing sizing;
    private final CpuHotplug cpus;
    private final MemoryHotplug memory;
    private final int memorySlots;
    private final Guest guest;
    /** RAM added as DIMMs so far, MiB; only grows. */
    private long addedMib;
    private boolean staticNoted;

    /** For a booted VM of this size; hotplug where its profile has it. */
    static VmResources of(String sandboxId, PodSizing size, RuntimeConfig.Hypervisor h, Vm vm, Guest guest) {
        ContainerSizing sizing = new ContainerSizing(size.vcpus(), size.memoryMib(), size.maxVcpus(), size.maxMemoryMib());
        // virt cannot hotplug; virt-hotplug without default_maxvcpus/memory_slots reserved no room for it.
        boolean room = size.maxVcpus() > size.vcpus() || h.memorySlots() > 0;
        if (!h.machineType().hotplug() || !room) {
            return new VmResources(sandboxId, sizing, null, null, 0, guest);
        }
        return new VmResources(sandboxId, sizing, new CpuHotplug(vm.qmp()), new MemoryHotplug(vm.qmp()),
                h.memorySlots(), guest);
    }

    /** {@code cpus}/{@code memory} null: a VM that cannot hotplug ({@code virt}). */
    VmResources(String sandboxId, ContainerSizing sizing, CpuHotplug cpus, MemoryHotplug memory, int memorySlots,
                Guest guest) {
        this.sandboxId = sandboxId;
        this.sizing = sizing;
        this.cpus = cpus;
        this.memory = memory;
        this.memorySlots = memorySlots;
        this.guest = guest;
    }

    /**
     * A container with these OCI {@code linux.resources} joins: the VM grows first, so the container's cgroup
     * can use what it is given. Over the maxima: FAILED_PRECONDITION naming the limit, nothing changed.
     */
    synchronized void join(String cid, JsonNode resources) {
        resize(cid, ContainerSizing.Share.of(resources), "joins");
    }

    /**
     * A running container's limits change: growing hot-adds before {@code applyCgroup}, shrinking applies the
     * cgroup first and then unplugs.
     */
    synchronized void update(String cid, JsonNode resources, Runnable applyCgroup) {
        ContainerSizing.Share before = sizing.of(cid);
        ContainerSizing.Share after = ContainerSizing.Share.of(resources);
        boolean grows = after.vcpus() > before.vcpus() || after.memoryMib() > before.memoryMib();
        if (grows) {
            resize(cid, after, "raises its limits");
            applyCgroup.run();
        } else {
            applyCgroup.run();
            resize(cid, after, "lowers its limits");
        }
    }

    /** A container is gone: its vCPUs go back (its RAM stays, logged). */
    synchronized void leave(String cid) {
        if (sizing.of(cid).equals(ContainerSizing.Share.NONE)) {
            return;
        }
        try {
            resize(cid, ContainerSizing.Share.NONE, "left");
        } catch (TaskException e) {
            log.warn("sandbox {}: container {} left but its resources were not all given back: {}", sandboxId, cid,
                    e.getMessage());
        }
    }

    private void resize(String cid, ContainerSizing.Share share, String what) {
        if (cpus == null) {
            sizing.set(cid, share);
            if (!staticNoted && !share.equals(ContainerSizing.Share.NONE)) {
                staticNoted = true;
                log.info("sandbox {}: no hotplug (machine_type virt, or virt-hotplug without default_maxvcpus and"
                        + " memory_slots): the VM keeps its boot size and container limits (first: {} {}: {} vCPUs,"
                        + " {} MiB) only change guest cgroups", sandboxId, cid, what, share.vcpus(), share.memoryMib());
            }
            return;
        }
        ContainerSizing.Total t;
        try {
            t = sizing.totalWith(cid, share);
        } catch (ContainerSizing.OverLimit e) {
            throw new TaskException(Status.Code.FAILED_PRECONDITION, "sandbox " + sandboxId + ": " + e.getMessage(), e);
        }
        try {
            long t0 = System.nanoTime();
            int vcpusBefore = cpus.count();
            // CPUs first, onlined on their own; then RAM (Kata's order).
            int vcpus = cpus.resize(t.vcpus(), CPU_REMOVAL);
            if (vcpus > vcpusBefore) {
                guest.online(vcpus, true);
            }
            long memoryToAdd = t.memoryMib() - sizing.baseMemoryMib() - addedMib;
            long dimm = memoryToAdd > 0 ? MemoryHotplug.roundUp(memoryToAdd) : 0;
            if (dimm > 0) {
                if (memory.dimms() >= memorySlots) {
                    throw new TaskException(Status.Code.FAILED_PRECONDITION, "sandbox " + sandboxId + ": container "
                            + cid + " needs " + dimm + " MiB more RAM but all memory_slots (" + memorySlots
                            + ") hold a DIMM");
                }
                memory.add(dimm);
                addedMib += dimm;
                guest.online(0, false);
            }
            sizing.set(cid, share);
            log.info("sandbox {}: container {} {} ({} vCPUs, {} MiB): VM now {} vCPUs (was {}), {} MiB of DIMMs{} in {} ms",
                    sandboxId, cid, what, share.vcpus(), share.memoryMib(), vcpus, vcpusBefore, addedMib,
                    dimm > 0 ? " (+" + dimm + ")" : "", (System.nanoTime() - t0) / 1_000_000);
            long kept = sizing.baseMemoryMib() + addedMib - t.memoryMib();
            if (memoryToAdd < 0 && kept > 0) {
                log.info("sandbox {}: {} MiB of hot-added RAM stay in the VM beyond what its containers ask for"
                        + " (DIMMs cannot be removed)", sandboxId, kept);
            }
        } catch (HotplugException e) {
            throw new TaskException(Status.Code.INTERNAL, "sandbox " + sandboxId + ": container " + cid + " " + what
                    + ": hotplug failed: " + e.getMessage(), e);
        }
    }
}
