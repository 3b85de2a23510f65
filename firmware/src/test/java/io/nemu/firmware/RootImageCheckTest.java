package io.nemu.firmware;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RootImageCheckTest {

    /** An image directory with a root image and its initramfs, all listed with their hashes. */
    private static Path imageWithRoot(Path dir) throws Exception {
        List<Manifest.Output> outs = new ArrayList<>();
        for (String name : List.of(GuestImage.INITRD, GuestImage.VMLINUX, GuestImage.VMLINUZ, GuestImage.ROOT_INITRD,
                GuestImage.ROOT_IMAGE)) {
            byte[] data = ("content of " + name).repeat(name.equals(GuestImage.ROOT_IMAGE) ? 5000 : 1).getBytes();
            Files.write(dir.resolve(name), data);
            outs.add(new Manifest.Output(name, data.length, Sha256.of(data)));
        }
        new Manifest(Manifest.FORMAT_VERSION, "6.1.0-9-amd64", "r", "lz4",
                List.of(new Manifest.Input("deb", "busybox-static", "1", "x")), List.of(), List.of(), outs).write(dir);
        return dir.resolve(GuestImage.ROOT_IMAGE);
    }

    @Test
    void aGoodImageIsCheckedOnceAndRemembered(@TempDir Path dir) throws Exception {
        Path image = imageWithRoot(Files.createDirectory(dir.resolve("guest")));
        Path cache = dir.resolve("verified");
        GuestImage img = RootImageCheck.verify(image, cache);
        assertEquals(dir.resolve("guest/root-initrd.img"), img.rootInitrd().orElseThrow());
        assertEquals(image, img.rootImage().orElseThrow());
        try (var s = Files.list(cache)) {
            assertEquals(2, s.count(), "one entry per checked file");
        }
        RootImageCheck.verify(image, cache);
    }

    @Test
    void aModifiedImageFailsNamingTheFileAlsoAfterASuccessfulCheck(@TempDir Path dir) throws Exception {
        Path image = imageWithRoot(dir);
        Path cache = dir.resolve("verified");
        RootImageCheck.verify(image, cache);
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.seek(100);
            f.write('X');
        }
        FirmwareException e = assertThrows(FirmwareException.class, () -> RootImageCheck.verify(image, cache));
        System.out.println("modified root image -> " + e.getMessage());
        assertTrue(e.getMessage().contains(image.toString()) && e.getMessage().contains("modified"), e.getMessage());
    }

    @Test
    void aTruncatedImageFailsNamingTheFile(@TempDir Path dir) throws Exception {
        Path image = imageWithRoot(dir);
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(f.length() / 2);
        }
        FirmwareException e = assertThrows(FirmwareException.class,
                () -> RootImageCheck.verify(image, dir.resolve("verified")));
        System.out.println("truncated root image -> " + e.getMessage());
        assertTrue(e.getMessage().contains(image.toString()) && e.getMessage().contains("truncated"), e.getMessage());
    }

    @Test
    void aModifiedRootInitramfsFails(@TempDir Path dir) throws Exception {
        Path image = imageWithRoot(dir);
        Path initrd = dir.resolve(GuestImage.ROOT_INITRD);
        byte[] b = Files.readAllBytes(initrd);
        b[0] ^= 1;
        Files.write(initrd, b);
        FirmwareException e = assertThrows(FirmwareException.class,
                () -> RootImageCheck.verify(image, dir.resolve("verified")));
        assertTrue(e.getMessage().contains(initrd.toString()), e.getMessage());
    }

    @Test
    void aFileThatIsNotTheManifestsRootImageIsRefused(@TempDir Path dir) throws Exception {
        imageWithRoot(dir);
        FirmwareException e = assertThrows(FirmwareException.class,
                () -> RootImageCheck.verify(dir.resolve(GuestImage.INITRD), dir.resolve("verified")));
        assertTrue(e.getMessage().contains("is not the root.img"), e.getMessage());
        FirmwareException missing = assertThrows(FirmwareException.class,
                () -> RootImageCheck.verify(dir.resolve("nope.img"), dir.resolve("verified")));
        assertTrue(missing.getMessage().contains("nope.img does not exist"), missing.getMessage());
    }
}
