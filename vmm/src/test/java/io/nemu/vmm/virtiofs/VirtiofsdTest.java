package io.nemu.vmm.virtiofs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.vmm.CacheMode;
import io.nemu.vmm.PrivateFiles;
import io.nemu.vmm.VmConfig;
import io.nemu.vmm.VmException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@Tag("system")
class VirtiofsdTest {
    @TempDir
    Path tmp;

    @Test
    void startsServesSocketAndStops() throws Exception {
        Path share = Files.createDirectories(tmp.resolve("share"));
        Path sock = tmp.resolve("vfs.sock");
        Virtiofsd v = Virtiofsd.start(VmConfig.DEFAULT_VIRTIOFSD, sock, share, CacheMode.AUTO,
                tmp.resolve("vfs.log"), Duration.ofSeconds(5));
        long pid = v.pid();
        try {
            assertTrue(v.isAlive());
            assertTrue(Files.exists(sock));
            assertEquals("rw-------", PrivateFiles.mode(sock));
            assertEquals("rw-------", PrivateFiles.mode(v.logFile()));
            String cmdline = Files.readString(Path.of("/proc/" + pid + "/cmdline")).replace('\0', ' ');
            assertTrue(cmdline.contains("--socket-path=" + sock) && cmdline.contains("source=" + share)
                    && cmdline.contains("cache=auto"), cmdline);
        } finally {
            v.stop(Duration.ZERO);
        }
        assertFalse(v.isAlive());
        v.exitFuture().get(5, java.util.concurrent.TimeUnit.SECONDS);
        assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false));
        assertFalse(Files.exists(sock));
    }

    @Test
    void sourceMustBeADirectory() {
        VmException e = assertThrows(VmException.class, () -> Virtiofsd.start(VmConfig.DEFAULT_VIRTIOFSD,
                tmp.resolve("s.sock"), tmp.resolve("missing"), CacheMode.AUTO, tmp.resolve("l"), Duration.ofSeconds(5)));
        assertTrue(e.getMessage().contains("missing"), e.getMessage());
    }

    @Test
    void failingVirtiofsdReportsItsLog() throws Exception {
        // A socket path in a folder that does not exist: virtiofsd cannot bind and exits.
        Path share = Files.createDirectories(tmp.resolve("share"));
        VmException e = assertThrows(VmException.class, () -> Virtiofsd.start(VmConfig.DEFAULT_VIRTIOFSD,
                tmp.resolve("no/such/dir/s.sock"), share, CacheMode.NONE, tmp.resolve("vfs.log"), Duration.ofSeconds(5)));
        assertTrue(e.getMessage().contains("exited with code"), e.getMessage());
        System.out.println("virtiofsd bad socket dir -> " + e.getMessage());
    }

    @Test
    void missingBinary() {
        VmException e = assertThrows(VmException.class, () -> Virtiofsd.start(tmp.resolve("virtiofsd"),
                tmp.resolve("s.sock"), tmp, CacheMode.AUTO, tmp.resolve("l"), Duration.ofSeconds(5)));
        assertTrue(e.getMessage().contains(tmp.resolve("virtiofsd").toString()), e.getMessage());
    }
}
