package io.nemu.agent.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.nemu.agent.AgentException;
import io.nemu.proto.kata.Storage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Driver lookup and the checks each driver makes before it mounts anything (no root needed). */
class StorageDriversTest {

    @TempDir
    Path dir;

    private StorageDrivers drivers() {
        return new StorageDrivers(dir.resolve("shared"));
    }

    private static AgentException refused(Runnable r, Status.Code code) {
        AgentException e = assertThrows(AgentException.class, r::run);
        assertEquals(code, e.code(), e.getMessage());
        return e;
    }

    @Test
    void looksDriversUpByTheirKataNames() {
        StorageDrivers d = drivers();
        assertEquals(Set.of("virtio-fs", "virtiofs", "ephemeral", "local", "bind", "blk", "9p", "overlayfs", ""), d.names());
        assertSame(d.driver("virtio-fs", "s"), d.driver("virtiofs", "s"));
        assertTrue(d.driver("ephemeral", "s") instanceof EphemeralDriver);
        assertTrue(d.driver("local", "s") instanceof LocalDriver);
        assertTrue(d.driver("bind", "s") instanceof BindDriver);
        assertTrue(d.driver("", "s") instanceof FsTypeDriver);
    }

    @Test
    void anUnknownDriverIsRefusedByName() {
        AgentException e = refused(() -> drivers().driver("nvme", "storages[3]"), Status.Code.INVALID_ARGUMENT);
        assertEquals("storages[3].driver 'nvme' is not supported by this agent", e.getMessage());
        // in a list, the error names the storage's index
        Path local = dir.resolve("local");
        e = refused(() -> drivers().mountAll(List.of(
                Storage.newBuilder().setDriver("local").setMountPoint(local.toString()).build(),
                Storage.newBuilder().setDriver("nvdimm").setMountPoint("/x").build())), Status.Code.INVALID_ARGUMENT);
        assertEquals("storages[1].driver 'nvdimm' is not supported by this agent", e.getMessage());
    }

    @Test
    void mountPointsMustBeAbsolute() {
        for (String driver : List.of("local", "ephemeral", "bind", "9p")) {
            Storage s = Storage.newBuilder().setDriver(driver).setFstype("9p").setMountPoint("rel/dir").build();
            AgentException e = refused(() -> drivers().mountAll(List.of(s)), Status.Code.INVALID_ARGUMENT);
            assertEquals("storages[0].mount_point 'rel/dir' must be an absolute path", e.getMessage(), driver);
        }
    }

    @Test
    void aPlainMountNeedsItsFilesystemType() {
        for (String driver : List.of("9p", "overlayfs", "")) {
            Storage s = Storage.newBuilder().setDriver(driver).setMountPoint("/mnt/x").build();
            AgentException e = refused(() -> drivers().driver(driver, "storages[0]").mount(s, "storages[0]"),
                    Status.Code.INVALID_ARGUMENT);
            assertEquals("storages[0].fstype is empty", e.getMessage());
        }
    }

    @Test
    void localCreatesItsDirectoryAndLeavesNothingToUndo() {
        Path local = dir.resolve("a/b/local");
        List<Path> mounted = drivers().mountAll(List.of(
                Storage.newBuilder().setDriver("local").setMountPoint(local.toString()).build()));
        assertTrue(Files.isDirectory(local));
        assertEquals(List.of(), mounted);
        assertNull(drivers().driver("local", "s").mount(
                Storage.newBuilder().setDriver("local").setMountPoint(local.toString()).build(), "s"));
    }
}
