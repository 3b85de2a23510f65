package io.nemu.firmware;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The build's failure messages name the cause. */
class ErrorsTest {

    @Test
    void missingToolNamesItAndItsPackage() {
        FirmwareException e = assertThrows(FirmwareException.class,
                () -> Proc.run(List.of("nemu-no-such-tool-xyz", "x"), null, "some-package"));
        assertTrue(e.getMessage().startsWith("nemu-no-such-tool-xyz is not installed")
                && e.getMessage().contains("apt-get install some-package"), e.getMessage());
    }

    @Test
    void corruptDebIsNamed(@TempDir Path dir) throws IOException {
        Path deb = dir.resolve("broken_1.0_amd64.deb");
        Files.writeString(deb, "!<arch>\nthis is not a debian package\n");
        FirmwareException e = assertThrows(FirmwareException.class, () -> Apt.unpack(deb, dir.resolve("out")));
        assertTrue(e.getMessage().startsWith("corrupt .deb: dpkg-deb -x broken_1.0_amd64.deb failed"), e.getMessage());
    }

    @Test
    void tooLittleSpaceSaysWhereAndHowMuch(@TempDir Path dir) {
        FirmwareException e = assertThrows(FirmwareException.class,
                () -> DiskSpace.require(dir.resolve("not/yet/there"), Long.MAX_VALUE / 2, "the guest image"));
        assertTrue(e.getMessage().startsWith("no space: " + dir.resolve("not/yet/there") + " has ")
                && e.getMessage().contains("the guest image needs about"), e.getMessage());
        IOException enospc = DiskSpace.explain(new IOException("No space left on device"), dir);
        assertEquals("no space left on device while writing " + dir, enospc.getMessage());
    }

    @Test
    void debFileNameEncodesTheEpochAsAptGetDownloadDoes() {
        assertEquals("busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb",
                new Apt.PackageInfo("busybox-static", "1:1.35.0-4+deb12u1+b1", "amd64", "x", 1).debFileName());
    }

    @Test
    void unknownCompressionIsRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> InitramfsCompression.of("bz2"));
        assertTrue(e.getMessage().contains("'bz2'"), e.getMessage());
        assertEquals(InitramfsCompression.LZ4, InitramfsCompression.of("LZ4"));
    }
}
