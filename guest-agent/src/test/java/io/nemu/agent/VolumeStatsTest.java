package io.nemu.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.nemu.proto.kata.VolumeStatsResponse;
import io.nemu.proto.kata.VolumeUsage;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** GetVolumeStats on this host's file systems (statvfs through JNA; no root needed). */
class VolumeStatsTest {

    @TempDir
    Path dir;

    private static AgentException refused(Runnable r, Status.Code code) {
        AgentException e = assertThrows(AgentException.class, r::run);
        assertEquals(code, e.code(), e.getMessage());
        return e;
    }

    @Test
    void bytesAndInodesOfTheFileSystemUnderAVolume() throws Exception {
        Path volume = Files.createDirectories(dir.resolve("mounts/0-data"));
        VolumeStatsResponse r = VolumeStats.of(volume.toString(), List.of(dir.resolve("mounts")));
        assertEquals(2, r.getUsageCount());
        VolumeUsage bytes = r.getUsage(0);
        VolumeUsage inodes = r.getUsage(1);
        assertEquals(VolumeUsage.Unit.BYTES, bytes.getUnit());
        assertEquals(VolumeUsage.Unit.INODES, inodes.getUnit());
        FileStore store = Files.getFileStore(volume);
        assertEquals(store.getTotalSpace(), bytes.getTotal(), "f_blocks x block size, as the JDK reads it");
        // free blocks, as Kata counts available (the host's other writers move it between the two reads)
        assertTrue(Math.abs(store.getUnallocatedSpace() - bytes.getAvailable()) < 256L << 20,
                store.getUnallocatedSpace() + " vs " + bytes.getAvailable());
        assertEquals(bytes.getTotal() - bytes.getAvailable(), bytes.getUsed());
        assertEquals(inodes.getTotal() - inodes.getAvailable(), inodes.getUsed());
        assertFalse(r.getVolumeCondition().getAbnormal());
        assertEquals("OK", r.getVolumeCondition().getMessage());
        // a file's stats are its file system's
        Path file = Files.writeString(volume.resolve("f"), "x");
        assertEquals(bytes.getTotal(), VolumeStats.of(file.toString(), List.of(volume)).getUsage(0).getTotal());
        if (inodes.getTotal() > 0) {
            assertTrue(inodes.getUsed() > 0, inodes.toString());
        }
    }

    @Test
    void onlyPathsBelowTheAgentsMountsAreAnswered() throws Exception {
        Path root = Files.createDirectories(dir.resolve("shared"));
        Path outside = Files.createDirectories(dir.resolve("elsewhere"));
        List<Path> roots = List.of(root);
        AgentException e = refused(() -> VolumeStats.of(outside.toString(), roots), Status.Code.NOT_FOUND);
        assertEquals("volume_guest_path " + outside + " is not a volume of this sandbox: it is not at or below a mount"
                + " the agent made for it", e.getMessage());
        // a symlink inside that leads out is judged by where it leads
        Path link = Files.createSymbolicLink(root.resolve("escape"), outside);
        e = refused(() -> VolumeStats.of(link.toString(), roots), Status.Code.NOT_FOUND);
        assertTrue(e.getMessage().contains("(" + outside.toRealPath() + ") is not a volume"), e.getMessage());
        e = refused(() -> VolumeStats.of("/etc", roots), Status.Code.NOT_FOUND);
        e = refused(() -> VolumeStats.of(root + "/../elsewhere", roots), Status.Code.INVALID_ARGUMENT);
        assertEquals("volume_guest_path '" + root + "/../elsewhere' must be an absolute path without . or ..",
                e.getMessage());
        refused(() -> VolumeStats.of("relative/path", roots), Status.Code.INVALID_ARGUMENT);
        e = refused(() -> VolumeStats.of("", roots), Status.Code.INVALID_ARGUMENT);
        assertEquals("volume_guest_path is empty", e.getMessage());
        e = refused(() -> VolumeStats.of(root + "/gone", roots), Status.Code.NOT_FOUND);
        assertEquals("volume_guest_path " + root + "/gone does not exist", e.getMessage());
        // no mount made yet: nothing is a volume
        refused(() -> VolumeStats.of(root.toString(), List.of()), Status.Code.NOT_FOUND);
        // the root itself and what is below it are
        assertEquals(2, VolumeStats.of(root.toString(), roots).getUsageCount());
    }
}
