package io.nemu.vmm.hotplug;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nemu.vmm.MachineProfile;
import io.nemu.vmm.qmp.QmpClient;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

/**
 * Disks added to a running q35 VM: a raw {@code blockdev-add} on the host file or block device, then a
 * {@code virtio-blk-pci} on a free PCIe root port (the profile's {@code pcie_root_port}s, one disk each).
 * The guest finds the disk by its {@link Disk#pciPath() PCI path}. Removal is {@code device_del}, waiting
 * for the guest to release it ({@code DEVICE_DELETED}), then {@code blockdev-del}.
 */
public final class BlockHotplug {
    private final QmpCalls qmp;
    private final int rootPorts;
    /** Disks plugged here, by root port index. */
    private final Map<Integer, Disk> byPort = new HashMap<>();

    /**
     * @param id      QEMU's device id ({@code /machine/peripheral/<id>})
     * @param node    the block node's name
     * @param pciPath the guest's PCI path: each hop's slot in hex, root port first ({@code 02/00})
     */
    public record Disk(String id, String node, Path source, boolean readOnly, String pciPath) {
    }

    /** @param rootPorts how many empty root ports the VM was started with (VmConfig.pciRootPorts) */
    public BlockHotplug(QmpClient qmp, int rootPorts) {
        this.qmp = new QmpCalls(qmp);
        this.rootPorts = rootPorts;
    }

    /** Adds {@code source} (a regular file or a block device) as a raw virtio-blk disk. */
    public synchronized Disk add(Path source, boolean readOnly) throws HotplugException {
        boolean file = Files.isRegularFile(source, LinkOption.NOFOLLOW_LINKS);
        if (!file && !isBlockDevice(source)) {
            throw new HotplugException(source + " is neither a regular file nor a block device");
        }
        int port = -1;
        for (int i = 0; i < rootPorts; i++) {
            if (!byPort.containsKey(i)) {
                port = i;
                break;
            }
        }
        if (port < 0) {
            throw new HotplugException("no free PCIe root port for " + source + ": all " + rootPorts
                    + " (pcie_root_port) hold a disk");
        }
        String portId = MachineProfile.ROOT_PORT_PREFIX + port;
        int portSlot = slotOf(portId);
        String id = "vblk" + port;
        String node = "nblk" + port;
        ObjectNode fileNode = QmpCalls.args().put("driver", file ? "file" : "host_device")
                .put("filename", source.toString()).put("read-only", readOnly);
        qmp.call("blockdev-add", QmpCalls.args().put("driver", "raw").put("node-name", node)
                .put("read-only", readOnly).set("file", fileNode));
        try {
            qmp.call("device_add", QmpCalls.args().put("driver", "virtio-blk-pci").put("id", id).put("drive", node)
                    .put("bus", portId).put("addr", "0").put("share-rw", false));
        } catch (HotplugException e) {
            try {
                qmp.call("blockdev-del", QmpCalls.args().put("node-name", node));
            } catch (HotplugException cleanup) {
                e.addSuppressed(cleanup);
            }
            throw e;
        }
        Disk d = new Disk(id, node, source, readOnly, String.format("%02x/00", portSlot));
        byPort.put(port, d);
        return d;
    }

    /**
     * Unplugs a disk added here: waits for the guest to release it, drops its block node, and checks that
     * {@code query-block} no longer lists it.
     */
    public synchronized void remove(Disk d, Duration timeout) throws HotplugException {
        qmp.deleteDevice(d.id(), timeout);
        qmp.call("blockdev-del", QmpCalls.args().put("node-name", d.node()));
        byPort.values().remove(d);
        if (listed(d)) {
            throw new HotplugException("disk " + d.source() + " (node " + d.node() + ") is still in query-block after"
                    + " device_del and blockdev-del");
        }
    }

    /** Whether {@code query-block} lists the disk: a device whose medium is its node or its file. */
    public synchronized boolean listed(Disk d) throws HotplugException {
        for (JsonNode b : qmp.call("query-block", null)) {
            JsonNode in = b.path("inserted");
            if (d.node().equals(in.path("node-name").asText()) || d.source().toString().equals(in.path("file").asText())) {
                return true;
            }
        }
        return false;
    }

    private int slotOf(String qdevId) throws HotplugException {
        for (JsonNode bus : qmp.call("query-pci", null)) {
            for (JsonNode dev : bus.path("devices")) {
                if (qdevId.equals(dev.path("qdev_id").asText())) {
                    return dev.path("slot").asInt();
                }
            }
        }
        throw new HotplugException("root port " + qdevId + " is not on the VM's PCIe root bus (query-pci)");
    }

    private static boolean isBlockDevice(Path p) {
        try {
            int mode = (Integer) Files.getAttribute(p, "unix:mode");
            return (mode & 0170000) == 0060000;
        } catch (Exception e) {
            return false;
        }
    }
}
