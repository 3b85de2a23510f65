package io.nemu.vmm.hotplug;

import io.nemu.vmm.QemuCommandLine;
import io.nemu.vmm.VmConfig;
import io.nemu.vmm.qmp.QmpClient;
import java.time.Duration;

/**
 * RAM added to and taken from a running q35 VM through its one virtio-mem device ({@code VmConfig.virtioMem()}):
 * the host sets {@code requested-size}, the guest's driver plugs or unplugs 2 MiB blocks until the device's
 * {@code size} matches, and the kernel onlines what it plugged ({@code memhp_default_state=online}). Unlike a
 * DIMM it shrinks; the guest unplugs only blocks it can empty, so a shrink may stop short (the driver keeps
 * trying on its own).
 */
public final class VirtioMemHotplug {
    private static final String PATH = "/machine/peripheral/" + QemuCommandLine.VIRTIO_MEM_DEVICE;
    /** How often the device's size is read while waiting for the guest. */
    private static final Duration POLL = Duration.ofMillis(20);
    /** A shrink that has not moved for this long has stopped at blocks the guest cannot empty now. */
    static final Duration SHRINK_STALL = Duration.ofSeconds(2);

    private final QmpCalls qmp;
    private final long regionMib;

    /** @param regionMib the device's region: the VM's maxMemoryMib minus its memoryMib */
    public VirtioMemHotplug(QmpClient qmp, long regionMib) {
        this.qmp = new QmpCalls(qmp);
        this.regionMib = regionMib;
    }

    /** {@code mib} rounded up to whole blocks. */
    public static long roundUp(long mib) {
        long b = VmConfig.VIRTIO_MEM_BLOCK_MIB;
        return (mib + b - 1) / b * b;
    }

    /** What the guest holds of the device now, MiB. */
    public long pluggedMib() throws HotplugException {
        return get("size") >> 20;
    }

    /** What the host last asked for, MiB. */
    public long requestedMib() throws HotplugException {
        return get("requested-size") >> 20;
    }

    /**
     * Asks the guest to hold {@code mib} (a multiple of the block, at most the region) and waits up to {@code wait}
     * for it to get there; returns what it holds then. A growth falls short only when the guest did not answer in
     * time; a shrink stops waiting once it has not moved for {@link #SHRINK_STALL} (the guest's driver goes on trying
     * to empty the blocks it holds on its own).
     */
    public long resize(long mib, Duration wait) throws HotplugException {
        if (mib < 0 || mib % VmConfig.VIRTIO_MEM_BLOCK_MIB != 0) {
            throw new IllegalArgumentException("virtio-mem size must be a multiple of " + VmConfig.VIRTIO_MEM_BLOCK_MIB
                    + " MiB, got " + mib);
        }
        if (mib > regionMib) {
            throw new HotplugException("virtio-mem: " + mib + " MiB asked, the device's region holds " + regionMib
                    + " MiB (default_maxmemory minus default_memory)");
        }
        qmp.call("qom-set", QmpCalls.args().put("path", PATH).put("property", "requested-size").put("value", mib << 20));
        long start = System.nanoTime();
        long deadline = start + wait.toNanos();
        long last = -1;
        long moved = start;
        while (true) {
            long now = pluggedMib();
            long t = System.nanoTime();
            if (now != last) {
                last = now;
                moved = t;
            }
            boolean stalled = now > mib && t - moved > SHRINK_STALL.toNanos();
            if (now == mib || t > deadline || stalled) {
                return now;
            }
            try {
                Thread.sleep(POLL.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new HotplugException("virtio-mem: interrupted while the guest resized to " + mib + " MiB", e);
            }
        }
    }

    private long get(String property) throws HotplugException {
        return qmp.call("qom-get", QmpCalls.args().put("path", PATH).put("property", property)).asLong();
    }
}
