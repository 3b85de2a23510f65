package io.nemu.firmware;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** ldd-based resolution, against the host's own Debian root (which is where ldd finds libc here). */
class SharedLibrariesTest {

    @Test
    void resolvesLibcAndTheLoaderWithTheirSymlinks() throws Exception {
        Path sh = Path.of("/bin/sh").toRealPath();
        TreeSet<String> libs = SharedLibraries.resolve(Path.of("/"), List.of(sh), List.of());
        assertTrue(libs.stream().anyMatch(l -> l.matches("(usr/)?lib/x86_64-linux-gnu/libc\\.so\\.6")), libs.toString());
        assertTrue(libs.contains("lib64/ld-linux-x86-64.so.2"), libs.toString());
        for (String l : libs) {
            assertTrue(Files.exists(Path.of("/", l)), l);
        }
    }

    @Test
    void aLibraryFromOutsideThePackagesIsAnError(@TempDir Path emptyRoot) throws Exception {
        Path sh = Path.of("/bin/sh").toRealPath();
        FirmwareException e = assertThrows(FirmwareException.class,
                () -> SharedLibraries.resolve(emptyRoot, List.of(sh), List.of()));
        assertTrue(e.getMessage().contains("libc.so.6") || e.getMessage().contains("ld-linux"), e.getMessage());
    }
}
