package io.nemu.shim.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
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
        Set<Path> before = DaemonLock.descriptorsOn(lockFile);
        try (FileChannel waited = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            Set<Path> mine = new HashSet<>(DaemonLock.descriptorsOn(lockFile));
            mine.removeAll(before);
            assertEquals(1, mine.size(), "the channel's descriptor is found");
            assertTrue(DaemonLock.stillAt(lockFile, mine));
            // The daemon retires (the file goes), a start makes the file anew: the old channel's lock is worthless.
            Files.delete(lockFile);
            assertFalse(DaemonLock.stillAt(lockFile, mine), "the file is gone");
            try (DaemonLock fresh = DaemonLock.takeFile(lockFile, Duration.ofSeconds(1)).orElseThrow()) {
                assertFalse(DaemonLock.stillAt(lockFile, mine), "another file is at the path now");
                assertTrue(waited.isOpen());
            }
        }
    }

    @Test
    void checkingTheLockKeepsIt() throws Exception {
        // POSIX record locks go with any close of the file in the process: the check must not open it. The probe
        // is another process asking for the same record lock (flock(1) would ask for another kind).
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/python3")), "no python3 to probe the lock from outside");
        Path lockFile = DaemonLock.file(root, socket);
        try (DaemonLock held = DaemonLock.takeFile(lockFile, null).orElseThrow()) {
            Process probe = new ProcessBuilder("python3", "-c", "import fcntl,sys\n"
                    + "f=open(sys.argv[1],'w')\n"
                    + "try:\n fcntl.lockf(f, fcntl.LOCK_EX|fcntl.LOCK_NB); print('free')\n"
                    + "except OSError: print('held')", lockFile.toString()).redirectErrorStream(true).start();
            String out = new String(probe.getInputStream().readAllBytes()).strip();
            probe.waitFor();
            assertEquals("held", out, "another process finds the lock held after take's check");
        }
    }
}
