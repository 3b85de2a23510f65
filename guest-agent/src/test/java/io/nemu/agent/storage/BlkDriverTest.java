package io.nemu.agent.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.agent.AgentException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Finding a hot-added disk by its PCI path in a sysfs tree laid out as the guest kernel lays it out. */
class BlkDriverTest {
    @TempDir
    Path dir;

    @Test
    void findsTheDiskBelowItsRootPortAndWaitsForIt() throws Exception {
        BlkDriver d = new BlkDriver(dir, Path.of("/dev"));
        Path port = dir.resolve("devices/pci0000:00/0000:00:02.0");
        Files.createDirectories(port.resolve("0000:01:00.0/virtio3/block/vdb/queue"));
        Files.createDirectories(dir.resolve("devices/pci0000:00/0000:00:03.0/0000:02:00.0/virtio4/block/vdc"));
        assertEquals(Path.of("/dev/vdb"), d.waitForDisk("02/00", "storages[0]", Duration.ZERO));
        assertEquals(Path.of("/dev/vdc"), d.waitForDisk("03/00", "storages[0]", Duration.ZERO));
        // not there (yet): a clear error once the wait is over
        AgentException e = assertThrows(AgentException.class,
                () -> d.waitForDisk("04/00", "storages[1]", Duration.ofMillis(100)));
        assertEquals("storages[1]: no virtio-blk disk at PCI path 04/00 after 0 s", e.getMessage());
        e = assertThrows(AgentException.class, () -> d.waitForDisk("0x2/zz", "storages[1]", Duration.ZERO));
        assertTrue(e.getMessage().contains("is not a PCI path"), e.getMessage());
    }
}
