package io.nemu.firmware;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ManifestTest {

    static Manifest sample() {
        return new Manifest(Manifest.FORMAT_VERSION, "6.1.0-56-amd64", "ab12", "zstd",
                List.of(new Manifest.Input("deb", "linux-image-6.1.0-56-amd64", "6.1.192-2", "aa"),
                        new Manifest.Input("deb", "busybox-static", "1:1.35.0-4+deb12u1+b1", "bb"),
                        new Manifest.Input("file", "agent.jar", null, "cc")),
                List.of("kernel/drivers/virtio/virtio.ko", "kernel/fs/fuse/fuse.ko"), List.of("virtio_blk"),
                List.of(new Manifest.Output("initramfs.img", 10, "dd"), new Manifest.Output("vmlinux", 20, "ee")));
    }

    @Test
    void roundTripsThroughJsonAndFile(@TempDir Path dir) throws Exception {
        Manifest m = sample();
        assertEquals(m, Manifest.fromJson(m.toJson()));
        assertEquals(m.toJson(), Manifest.fromJson(m.toJson()).toJson());
        m.write(dir);
        assertEquals(m, Manifest.read(dir));
        assertFalse(Files.exists(dir.resolve("manifest.json.tmp")));
        String json = Files.readString(dir.resolve("manifest.json"));
        assertTrue(json.contains("\"sha256\" : \"aa\""), json);
        assertFalse(json.contains("\"version\" : null"), "null fields are left out: " + json);
        assertEquals(20, m.output("vmlinux").orElseThrow().size());
        assertEquals("1:1.35.0-4+deb12u1+b1", m.input("busybox-static").orElseThrow().version());
    }

    @Test
    void badManifestsAreReportedClearly(@TempDir Path dir) throws Exception {
        FirmwareException missing = assertThrows(FirmwareException.class, () -> Manifest.read(dir));
        assertTrue(missing.getMessage().contains("manifest.json is missing"), missing.getMessage());

        Files.writeString(dir.resolve("manifest.json"), "{ not json");
        FirmwareException broken = assertThrows(FirmwareException.class, () -> Manifest.read(dir));
        assertTrue(broken.getMessage().contains("not valid JSON"), broken.getMessage());

        Files.writeString(dir.resolve("manifest.json"), sample().toJson().replace("\"formatVersion\" : 1",
                "\"formatVersion\" : 99"));
        FirmwareException version = assertThrows(FirmwareException.class, () -> Manifest.read(dir));
        assertTrue(version.getMessage().contains("version 99"), version.getMessage());
    }
}
