package io.nemu.shim.sandbox;

import io.grpc.Status;
import io.nemu.contract.GuestContract;
import io.nemu.proto.kata.Mount;
import io.nemu.proto.kata.Spec;
import io.nemu.proto.kata.Storage;
import io.nemu.shim.errdefs.TaskException;
import io.nemu.vmm.hotplug.BlockHotplug;
import io.nemu.vmm.hotplug.HotplugException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A container's bind mounts whose host path is a disk (a block device, or a regular file holding an ext2/3/4
 * file system: a raw image) reach the guest as hot-added virtio-blk disks ({@link BlockHotplug}) instead of
 * through virtio-fs: the agent mounts each one (a {@code blk} storage named by its PCI path) and the
 * container's mount binds that. They go when the container goes. Only on {@code virt-hotplug} with free
 * {@code pcie_root_port}s; elsewhere such a path is shared like any file.
 */
final class BlockVolumes {
    private static final Logger log = LoggerFactory.getLogger(BlockVolumes.class);
    /** Where the agent mounts hot-added disks: one folder per container and mount. */
    static final String GUEST_DIR = GuestContract.SANDBOX_DIR + "/sandbox/blk";
    private static final Duration REMOVAL = Duration.ofSeconds(30);
    /** ext2/3/4 superblock magic, little-endian at byte 1080 of the file system. */
    private static final int EXT_MAGIC_OFFSET = 1080;
    private static final short EXT_MAGIC = (short) 0xEF53;

    private final String sandboxId;
    private final BlockHotplug disks;
    private final Map<String, List<BlockHotplug.Disk>> byContainer = new HashMap<>();

    /** For a booted VM: disks where its profile can hotplug and it has root ports. */
    static BlockVolumes of(String sandboxId, io.nemu.shim.config.RuntimeConfig.Hypervisor h, io.nemu.vmm.Vm vm) {
        boolean can = h.machineType().hotplug() && h.pcieRootPorts() > 0;
        return new BlockVolumes(sandboxId, can ? new BlockHotplug(vm.qmp(), h.pcieRootPorts()) : null);
    }

    /** @param disks null: this VM cannot take disks (no hotplug, or no root port) */
    BlockVolumes(String sandboxId, BlockHotplug disks) {
        this.sandboxId = sandboxId;
        this.disks = disks;
    }

    /** The disk mounts taken out of a spec, rewritten to the guest's mount points, and the storages behind them. */
    record Attached(List<Mount> mounts, List<Storage> storages) {
        static final Attached NONE = new Attached(List.of(), List.of());

        /** Puts the mounts back into the spec, after the host paths were shared. */
        void restoreInto(Spec.Builder spec) {
            spec.addAllMounts(mounts);
        }
    }

    /**
     * Hot-adds every disk the spec binds and takes those mounts out of the spec (so they are not shared by
     * virtio-fs); {@link Attached#restoreInto} puts them back. On failure what was added is removed.
     */
    synchronized Attached attach(String cid, Spec.Builder spec) {
        if (disks == null) {
            return Attached.NONE;
        }
        List<Mount> mounts = new ArrayList<>();
        List<Storage> storages = new ArrayList<>();
        List<BlockHotplug.Disk> added = new ArrayList<>();
        try {
            for (int i = 0; i < spec.getMountsCount(); ) {
                Mount m = spec.getMounts(i);
                boolean bind = m.getType().equals("bind") || m.getOptionsList().contains("bind")
                        || m.getOptionsList().contains("rbind");
                if (!bind || !m.getSource().startsWith("/") || m.getSource().startsWith("/dev/shm")
                        || !isDisk(Path.of(m.getSource()))) {
                    i++;
                    continue;
                }
                boolean readOnly = m.getOptionsList().contains("ro");
                BlockHotplug.Disk d = disks.add(Path.of(m.getSource()), readOnly);
                added.add(d);
                String guestDir = GUEST_DIR + "/" + cid + "-" + added.size();
                storages.add(Storage.newBuilder().setDriver("blk").setSource(d.pciPath()).setFstype("ext4")
                        .setMountPoint(guestDir).addOptions(readOnly ? "ro" : "rw").build());
                mounts.add(m.toBuilder().setSource(guestDir).build());
                spec.removeMounts(i);
                log.info("sandbox {}: {} of container {} is a disk: {} ({}) at PCI path {}", sandboxId, m.getDestination(),
                        cid, m.getSource(), readOnly ? "read-only" : "read-write", d.pciPath());
            }
        } catch (HotplugException e) {
            remove(added);
            throw new TaskException(Status.Code.INTERNAL, "sandbox " + sandboxId + ": disk for container " + cid + ": "
                    + e.getMessage(), e);
        }
        if (!added.isEmpty()) {
            byContainer.put(cid, added);
        }
        return new Attached(mounts, storages);
    }

    /** The container is gone (the agent unmounted its storages): its disks leave the VM. */
    synchronized void detach(String cid) {
        List<BlockHotplug.Disk> ds = byContainer.remove(cid);
        if (ds != null) {
            remove(ds);
        }
    }

    private void remove(List<BlockHotplug.Disk> ds) {
        for (BlockHotplug.Disk d : ds) {
            try {
                disks.remove(d, REMOVAL);
                log.info("sandbox {}: disk {} removed: query-block no longer lists it", sandboxId, d.source());
            } catch (HotplugException e) {
                log.warn("sandbox {}: disk {} not removed: {}", sandboxId, d.source(), e.getMessage());
            }
        }
    }

    /** A block device, or a regular file that starts with an ext2/3/4 file system. */
    static boolean isDisk(Path p) {
        try {
            if (Files.isRegularFile(p)) {
                try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
                    ByteBuffer b = ByteBuffer.allocate(2).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                    return ch.read(b, EXT_MAGIC_OFFSET) == 2 && b.getShort(0) == EXT_MAGIC;
                }
            }
            int mode = (Integer) Files.getAttribute(p, "unix:mode");
            return (mode & 0170000) == 0060000;
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return false;
        }
    }
}
