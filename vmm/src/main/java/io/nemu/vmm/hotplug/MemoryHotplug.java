package io.nemu.vmm.hotplug;

import com.fasterxml.jackson.databind.JsonNode;
import io.nemu.vmm.qmp.QmpClient;
import java.util.HashSet;
import java.util.Set;

/**
 * RAM added to a running q35 VM ({@code -m SIZE,slots=S,maxmem=M}) as DIMMs: each one a
 * {@code memory-backend-memfd} with {@code share=on} (virtiofsd and the vsock back end map guest RAM, and
 * QEMU hands them the new region) plugged as a {@code pc-dimm}. The guest onlines its memory blocks (the
 * agent's OnlineCPUMem). Sizes are whole Linux memory blocks (128 MiB on x86-64): a partial block would never
 * come online. A DIMM cannot be taken back in practice (the guest rarely frees a whole block), so there is
 * no removal: what was added stays until the VM ends.
 *
 * <p>Chosen over {@code virtio-mem-pci} (which can shrink) because it needs nothing at boot: virtio-mem
 * reserves its whole range as one device, and every vhost-user back end maps that range up front.
 */
public final class MemoryHotplug {
    /** Linux's memory block on x86-64: hot-added RAM comes online in these units. */
    public static final long BLOCK_MIB = 128;
    static final String BACKEND_PREFIX = "hpmem";
    static final String DIMM_PREFIX = "dimm";

    private final QmpCalls qmp;

    public MemoryHotplug(QmpClient qmp) {
        this.qmp = new QmpCalls(qmp);
    }

    /** {@code mib} rounded up to whole memory blocks. */
    public static long roundUp(long mib) {
        return (mib + BLOCK_MIB - 1) / BLOCK_MIB * BLOCK_MIB;
    }

    /** RAM plugged as DIMMs so far, MiB. */
    public synchronized long pluggedMib() throws HotplugException {
        return qmp.call("query-memory-size-summary", null).path("plugged-memory").asLong() >> 20;
    }

    /** DIMMs plugged so far (each takes one of the machine's memory slots). */
    public synchronized int dimms() throws HotplugException {
        int n = 0;
        for (JsonNode d : qmp.call("query-memory-devices", null)) {
            if (d.path("type").asText().equals("dimm")) {
                n++;
            }
        }
        return n;
    }

    /** Plugs one DIMM of {@code mib} (a multiple of {@link #BLOCK_MIB}); returns its device id. */
    public synchronized String add(long mib) throws HotplugException {
        if (mib <= 0 || mib % BLOCK_MIB != 0) {
            throw new IllegalArgumentException("DIMM size must be a positive multiple of " + BLOCK_MIB + " MiB, got " + mib);
        }
        Set<String> used = new HashSet<>();
        for (JsonNode d : qmp.call("query-memory-devices", null)) {
            used.add(d.path("data").path("id").asText());
        }
        int n = 0;
        while (used.contains(DIMM_PREFIX + n)) {
            n++;
        }
        String backend = BACKEND_PREFIX + n;
        String dimm = DIMM_PREFIX + n;
        qmp.call("object-add", QmpCalls.args().put("qom-type", "memory-backend-memfd").put("id", backend)
                .put("size", mib << 20).put("share", true));
        try {
            qmp.call("device_add", QmpCalls.args().put("driver", "pc-dimm").put("id", dimm).put("memdev", backend));
        } catch (HotplugException e) {
            try {
                qmp.call("object-del", QmpCalls.args().put("id", backend));
            } catch (HotplugException cleanup) {
                e.addSuppressed(cleanup);
            }
            throw e;
        }
        return dimm;
    }
}
