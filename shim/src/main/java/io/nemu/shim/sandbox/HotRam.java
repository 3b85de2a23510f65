package io.nemu.shim.sandbox;

import io.nemu.vmm.hotplug.HotplugException;
import io.nemu.vmm.hotplug.MemoryHotplug;
import io.nemu.vmm.hotplug.VirtioMemHotplug;
import java.time.Duration;

/**
 * The RAM a {@code virt-hotplug} VM holds above its boot size, following what its containers' limits add up to:
 * DIMMs ({@code memory_slots}, 128 MiB blocks, never taken back) or one virtio-mem device
 * ({@code enable_virtio_mem}, 2 MiB blocks, grows and shrinks).
 */
sealed interface HotRam permits HotRam.Dimms, HotRam.VirtioMem {
    /** RAM above the boot size now, MiB. */
    long addedMib();

    /**
     * Brings the RAM above the boot size to {@code wantMib}: DIMMs only grow, virtio-mem also shrinks. Returns the
     * change in MiB (negative: given back).
     *
     * @throws ContainerSizing.OverLimit when no room is left for it (all slots used), naming the key
     */
    long follow(long wantMib) throws HotplugException, ContainerSizing.OverLimit;

    /** Why RAM above what the containers ask for stays in the VM. */
    String whyKept();

    /** DIMMs, one per growth, each a whole number of memory blocks. */
    final class Dimms implements HotRam {
        private final MemoryHotplug memory;
        private final int slots;
        private long added;

        Dimms(MemoryHotplug memory, int slots) {
            this.memory = memory;
            this.slots = slots;
        }

        @Override
        public long addedMib() {
            return added;
        }

        @Override
        public long follow(long wantMib) throws HotplugException, ContainerSizing.OverLimit {
            long toAdd = wantMib - added;
            if (toAdd <= 0) {
                return 0;
            }
            long dimm = MemoryHotplug.roundUp(toAdd);
            if (memory.dimms() >= slots) {
                throw new ContainerSizing.OverLimit("needs " + dimm + " MiB more RAM but all memory_slots (" + slots
                        + ") hold a DIMM");
            }
            memory.add(dimm);
            added += dimm;
            return dimm;
        }

        @Override
        public String whyKept() {
            return "DIMMs cannot be removed";
        }
    }

    /** One virtio-mem device, resized to what the containers ask for. */
    final class VirtioMem implements HotRam {
        /** How long the guest may take to plug what was asked for (under TCG on a busy host). */
        static final Duration GROW = Duration.ofSeconds(30);
        /** The most a shrink waits before logging what stays (it stops sooner once the guest stops giving back). */
        static final Duration SHRINK = Duration.ofSeconds(10);

        private final VirtioMemHotplug device;
        private long plugged;

        VirtioMem(VirtioMemHotplug device) {
            this.device = device;
        }

        @Override
        public long addedMib() {
            return plugged;
        }

        @Override
        public long follow(long wantMib) throws HotplugException {
            long target = VirtioMemHotplug.roundUp(Math.max(0, wantMib));
            long before = device.pluggedMib();
            if (target == before && device.requestedMib() == target) {
                plugged = before;
                return 0;
            }
            plugged = device.resize(target, target > before ? GROW : SHRINK);
            if (target > before && plugged < target) {
                throw new HotplugException("virtio-mem: the guest plugged " + plugged + " of " + target + " MiB within "
                        + GROW.toSeconds() + " s");
            }
            return plugged - before;
        }

        @Override
        public String whyKept() {
            return "the guest has not emptied enough virtio-mem blocks yet; its driver keeps trying";
        }
    }
}
