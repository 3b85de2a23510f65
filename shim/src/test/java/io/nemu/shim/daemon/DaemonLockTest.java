package io.nemu.shim.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The daemon's lock: bounded waits, and a retiring daemon that removes its files leaves no second holder. */
class DaemonLockTest {
    @TempDir
    Path root;

    private final Path socket = Path.of("/run/containerd/s/0123abcd");

    @Test
    void retireRemovesTheSocketLogAndLockFile() throws Exception {
        Path lockFile = DaemonLock.file(root, socket);
        Path sock = Files.createDirectories(root.resolve("s")).resolve(socket.getFileName());
        Files.writeString(sock, "");
        try (DaemonLock l = DaemonLock.takeFile(lockFile, null).orElseThrow()) {
            Files.writeString(lockFile.resolveSibling(socket.getFileName() + ".log"), "a daemon line\n");
            l.retire(sock);
        }
        assertFalse(Files.exists(sock));
        assertEquals(List.of(), Files.list(lockFile.getParent()).toList(), "the daemon's folder holds nothing of it");
    }

    @Test
    void aLockOnTheFileOfARetiredDaemonIsNotTakenForTheLock() throws Exception {
        Path lockFile = DaemonLock.file(root, socket);
        Files.createDirectories(lockFile.getParent());
        try (FileChannel waited = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            assertTrue(DaemonLock.stillAt(lockFile, waited));
            // The daemon retires (the file goes), a start makes the file anew: the old channel's lock is worthless.
            Files.delete(lockFile);
            assertFalse(DaemonLock.stillAt(lockFile, waited), "the file is gone");
            try (DaemonLock fresh = DaemonLock.takeFile(lockFile, Duration.ofSeconds(1)).orElseThrow()) {
                assertFalse(DaemonLock.stillAt(lockFile, waited), "another file is at the path now");
            }
        }
    }
}
