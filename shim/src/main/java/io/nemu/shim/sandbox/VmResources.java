package io.nemu.shim.sandbox;

import com.fasterxml.jackson.databind.JsonNode;
import io.grpc.Status;
import io.nemu.shim.config.RuntimeConfig;
import io.nemu.shim.errdefs.TaskException;
import io.nemu.vmm.Vm;
import io.nemu.vmm.VmConfig;
import io.nemu.vmm.hotplug.CpuHotplug;
import io.nemu.vmm.hotplug.HotplugException;
import io.nemu.vmm.hotplug.MemoryHotplug;
import io.nemu.vmm.hotplug.VirtioMemHotplug;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps a running sandbox VM as big as its containers' limits ({@link ContainerSizing}). On {@code
 * virt-hotplug} a container joining or raising its limits gets vCPUs ({@link CpuHotplug}) and RAM
 * ({@link HotRam}: DIMMs or virtio-mem) before its guest cgroup changes, and the guest onlines them; lowering or
 * leaving changes the cgroup first, then gives vCPUs back, and RAM where virtio-mem can (what stays is logged). On
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
    private final HotRam ram;
    private final Guest guest;
    private boolean staticNoted;

    /** For a booted VM of this size; hotplug where its profile has it. */
    static VmResources of(String sandboxId, PodSizing size, RuntimeConfig.Hypervisor h, Vm vm, Guest guest) {
        VmConfig c = vm.config();
        ContainerSizing sizing = new ContainerSizing(size.vcpus(), size.memoryMib(), size.maxVcpus(), size.maxMemoryMib());
        // virt cannot hotplug; virt-hotplug without default_maxvcpus/memory_slots/virtio-mem reserved no room for it.
        boolean room = size.maxVcpus() > size.vcpus() || h.memorySlots() > 0 || c.virtioMem();
        if (!h.machineType().hotplug() || !room) {
            return new VmResources(sandboxId, sizing, null, null, guest);
        }
        HotRam ram = c.virtioMem()
                ? new HotRam.VirtioMem(new VirtioMemHotplug(vm.qmp(), c.maxMemoryMib() - c.memoryMib()))
                : new HotRam.Dimms(new MemoryHotplug(vm.qmp()), h.memorySlots());
        return new VmResources(sandboxId, sizing, new CpuHotplug(vm.qmp()), ram, guest);
    }

    /** {@code cpus}/{@code ram} null: a VM that cannot hotplug ({@code virt}). */
    VmResources(String sandboxId, ContainerSizing sizing, CpuHotplug cpus, HotRam ram, Guest guest) {
        this.sandboxId = sandboxId;
        this.sizing = sizing;
        this.cpus = cpus;
        this.ram = ram;
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

    /** A container is gone: its vCPUs go back, and its RAM where virtio-mem can (what stays is logged). */
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
            long want = t.memoryMib() - sizing.baseMemoryMib();
            long change;
            try {
                change = ram.follow(want);
            } catch (ContainerSizing.OverLimit e) {
                throw new TaskException(Status.Code.FAILED_PRECONDITION, "sandbox " + sandboxId + ": container " + cid
                        + " " + e.getMessage(), e);
            }
            if (change > 0) {
                guest.online(0, false);
            }
            sizing.set(cid, share);
            log.info("sandbox {}: container {} {} ({} vCPUs, {} MiB): VM now {} vCPUs (was {}), {} MiB above its boot"
                    + " RAM{} in {} ms", sandboxId, cid, what, share.vcpus(), share.memoryMib(), vcpus, vcpusBefore,
                    ram.addedMib(), change == 0 ? "" : String.format(" (%+d)", change), (System.nanoTime() - t0) / 1_000_000);
            long kept = ram.addedMib() - Math.max(0, want);
            if (change <= 0 && kept > 0) {
                log.info("sandbox {}: {} MiB of hot-added RAM stay in the VM beyond what its containers ask for ({})",
                        sandboxId, kept, ram.whyKept());
            }
        } catch (HotplugException e) {
            throw new TaskException(Status.Code.INTERNAL, "sandbox " + sandboxId + ": container " + cid + " " + what
                    + ": hotplug failed: " + e.getMessage(), e);
        }
    }
}
