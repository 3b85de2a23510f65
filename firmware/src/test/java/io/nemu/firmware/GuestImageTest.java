package io.nemu.firmware;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

class GuestImageTest {

    /** A small image directory with real files and a matching manifest. */
    static Path fakeImage(Path dir) throws Exception {
        List<Manifest.Output> outs = new ArrayList<>();
        for (String name : List.of(GuestImage.INITRD, GuestImage.VMLINUX, GuestImage.VMLINUZ)) {
            byte[] data = ("content of " + name).getBytes();
            Files.write(dir.resolve(name), data);
            outs.add(new Manifest.Output(name, data.length, Sha256.of(data)));
        }
        new Manifest(Manifest.FORMAT_VERSION, "6.1.0-9-amd64", "r", "zstd",
                List.of(new Manifest.Input("deb", "busybox-static", "1", "x")), List.of(), List.of(), outs).write(dir);
        return dir;
    }

    @Test
    void loadsAGoodImage(@TempDir Path dir) throws Exception {
        GuestImage img = GuestImage.loadVerified(fakeImage(dir));
        assertEquals(dir.resolve("vmlinux"), img.kernel());
        assertEquals(dir.resolve("vmlinuz"), img.kernelCompressed());
        assertEquals(dir.resolve("initramfs.img"), img.initrd());
        assertEquals("6.1.0-9-amd64", img.kernelRelease());
        assertEquals("NEMU-GUEST-READY 6.1.0-9-amd64", img.readyLine());
        assertEquals("zstd", img.manifest().compression());
    }

    @Test
    void missingFileIsNamed(@TempDir Path dir) throws Exception {
        Files.delete(fakeImage(dir).resolve("vmlinux"));
        FirmwareException e = assertThrows(FirmwareException.class, () -> GuestImage.load(dir));
        assertTrue(e.getMessage().contains(dir.resolve("vmlinux") + " is missing"), e.getMessage());
    }

    @Test
    void missingDirectoryOrManifestIsNamed(@TempDir Path dir) throws Exception {
        FirmwareException noDir = assertThrows(FirmwareException.class, () -> GuestImage.load(dir.resolve("nope")));
        assertTrue(noDir.getMessage().contains("nope") && noDir.getMessage().contains("does not exist"),
                noDir.getMessage());
        FirmwareException noManifest = assertThrows(FirmwareException.class, () -> GuestImage.load(dir));
        assertTrue(noManifest.getMessage().contains("manifest.json is missing"), noManifest.getMessage());
    }

    @Test
    void unreadableFileIsNamed(@TempDir Path dir) throws Exception {
        Path initrd = fakeImage(dir).resolve("initramfs.img");
        Files.setPosixFilePermissions(initrd, PosixFilePermissions.fromString("---------"));
        try {
            // root reads mode-000 files (CAP_DAC_OVERRIDE): there the case cannot be made this way
            assumeFalse(Files.isReadable(initrd), "running with CAP_DAC_OVERRIDE");
            FirmwareException e = assertThrows(FirmwareException.class, () -> GuestImage.load(dir));
            assertTrue(e.getMessage().contains(initrd + " is not readable"), e.getMessage());
        } finally {
            Files.setPosixFilePermissions(initrd, PosixFilePermissions.fromString("rw-r--r--"));
        }
    }

    @Test
    void fileThatCannotBeReadAsAFileIsNamed(@TempDir Path dir) throws Exception {
        Path kernel = fakeImage(dir).resolve("vmlinux");
        Files.delete(kernel);
        Files.createDirectory(kernel);
        FirmwareException e = assertThrows(FirmwareException.class, () -> GuestImage.load(dir));
        assertTrue(e.getMessage().contains(kernel + " is not a regular file"), e.getMessage());

        Files.delete(kernel);
        Files.createSymbolicLink(kernel, dir.resolve("dangling-target"));
        FirmwareException dangling = assertThrows(FirmwareException.class, () -> GuestImage.load(dir));
        assertTrue(dangling.getMessage().contains(kernel.toString()), dangling.getMessage());
    }

    @Test
    void truncatedOrAlteredFileIsCaught(@TempDir Path dir) throws Exception {
        Path vmlinuz = fakeImage(dir).resolve("vmlinuz");
        Files.write(vmlinuz, "short".getBytes());
        FirmwareException size = assertThrows(FirmwareException.class, () -> GuestImage.load(dir));
        assertTrue(size.getMessage().contains(vmlinuz + " has 5 bytes"), size.getMessage());

        byte[] same = "content of vmlinuz".getBytes();
        same[0] = 'C';
        Files.write(vmlinuz, same);
        GuestImage.load(dir); // size matches: the cheap check passes
        FirmwareException hash = assertThrows(FirmwareException.class, () -> GuestImage.loadVerified(dir));
        assertTrue(hash.getMessage().contains(vmlinuz + " has sha256"), hash.getMessage());
    }
}
