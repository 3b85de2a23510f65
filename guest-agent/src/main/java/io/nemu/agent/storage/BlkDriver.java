package io.nemu.agent.storage;

import io.nemu.agent.AgentException;
import io.nemu.proto.kata.Storage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.stream.Stream;

/**
 * {@code blk} (Kata's virtio-blk storage): a disk the host hot-added on a PCIe root port, named by its PCI
 * path ({@code source} {@code 02/00}: each hop's slot in hex, root port first). The disk's node is found in
 * sysfs below {@code /sys/devices/pci0000:00}, waiting for the guest to have probed it (its hotplug event may
 * still be on its way when the request arrives), then mounted with the storage's fstype (default ext4).
 */
final class BlkDriver implements StorageDriver {
    /** How long a hot-added disk may take to appear: PCIe hotplug plus the virtio-blk probe, under TCG. */
    static final Duration APPEAR = Duration.ofSeconds(30);

    private final Path sysfs;
    private final Path dev;

    BlkDriver(Path sysfs, Path dev) {
        this.sysfs = sysfs;
        this.dev = dev;
    }

    @Override
    public Path mount(Storage s, String where) {
        Path node = waitForDisk(s.getSource(), where, APPEAR);
        String fstype = StorageMount.orDefault(s.getFstype(), "ext4");
        try {
            Files.createDirectories(StorageMount.target(s.getMountPoint(), where));
        } catch (IOException e) {
            throw AgentException.internal(where + ": " + e.getMessage(), e);
        }
        return StorageMount.mount(s, where, s.getMountPoint(), node.toString(), fstype, false);
    }

    /** The disk's device node ({@code /dev/vdb}) once sysfs shows it below the PCI path. */
    Path waitForDisk(String pciPath, String where, Duration timeout) {
        String[] hops = pciPath.split("/");
        for (String h : hops) {
            if (!h.matches("[0-9a-fA-F]{1,2}")) {
                throw AgentException.invalid(where + ".source '" + pciPath + "' is not a PCI path (hex slots, e.g. 02/00)");
            }
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            Path disk = find(hops);
            if (disk != null) {
                return dev.resolve(disk.getFileName().toString());
            }
            if (System.nanoTime() > deadline) {
                throw AgentException.internal(where + ": no virtio-blk disk at PCI path " + pciPath + " after "
                        + timeout.toSeconds() + " s", null);
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw AgentException.internal(where + ": interrupted waiting for " + pciPath, e);
            }
        }
    }

    /** {@code .../block/vdX} of the device at the end of {@code hops}, or null while it is not there. */
    private Path find(String[] hops) {
        Path dir = sysfs.resolve("devices/pci0000:00");
        for (String hop : hops) {
            int slot = Integer.parseInt(hop, 16);
            Path next = child(dir, String.format("[0-9a-f]{4}:[0-9a-f]{2}:%02x\\.0", slot));
            if (next == null) {
                return null;
            }
            dir = next;
        }
        Path virtio = child(dir, "virtio[0-9]+");
        return virtio == null ? null : child(virtio.resolve("block"), "vd[a-z]+");
    }

    private static Path child(Path dir, String regex) {
        if (!Files.isDirectory(dir)) {
            return null;
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().matches(regex)).sorted().findFirst().orElse(null);
        } catch (IOException e) {
            return null;
        }
    }
}
