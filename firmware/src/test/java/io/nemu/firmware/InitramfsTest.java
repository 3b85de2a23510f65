package io.nemu.firmware;

import org.apache.commons.compress.archivers.cpio.CpioArchiveEntry;
import org.apache.commons.compress.archivers.cpio.CpioArchiveInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InitramfsTest {

    private static byte[] cpio(Initramfs t) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        t.writeCpio(out);
        return out.toByteArray();
    }

    private static Initramfs tree(Path src, boolean reversed) throws IOException {
        Initramfs t = new Initramfs();
        List<Runnable> adds = new ArrayList<>();
        adds.add(() -> t.file("init", 0755, "#!/bin/sh\necho hi\n"));
        adds.add(() -> t.symlink("bin/sh", "/bin/busybox"));
        adds.add(() -> t.charDevice("dev/console", 0600, 5, 1));
        adds.add(() -> t.dir("tmp", 01777));
        adds.add(() -> {
            try {
                t.file("lib/modules/r/kernel/a.ko", 0644, src);
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        if (reversed) {
            java.util.Collections.reverse(adds);
        }
        adds.forEach(Runnable::run);
        return t;
    }

    @Test
    void sameTreeGivesSameBytesWhateverTheOrderOrFileTimes(@TempDir Path dir) throws Exception {
        Path src = dir.resolve("a.ko");
        Files.write(src, new byte[] {1, 2, 3, 4, 5});
        byte[] first = cpio(tree(src, false));
        Files.setLastModifiedTime(src, java.nio.file.attribute.FileTime.fromMillis(123_456_789L));
        byte[] second = cpio(tree(src, true));
        assertArrayEquals(first, second);

        Files.write(src, new byte[] {1, 2, 3, 4, 6});
        assertNotEquals(java.util.Arrays.toString(first), java.util.Arrays.toString(cpio(tree(src, false))));

        Path gz1 = dir.resolve("1.gz");
        Path gz2 = dir.resolve("2.gz");
        Path raw = dir.resolve("raw.cpio");
        Files.write(raw, first);
        InitramfsCompression.GZIP.compress(raw, gz1);
        Thread.sleep(1100); // gzip headers carry an mtime: ours must not
        InitramfsCompression.GZIP.compress(raw, gz2);
        assertArrayEquals(Files.readAllBytes(gz1), Files.readAllBytes(gz2));
    }

    @Test
    void archiveIsNewcWithParentsRootOwnershipAndDeviceNodes(@TempDir Path dir) throws IOException {
        Path src = dir.resolve("a.ko");
        Files.write(src, "module".getBytes(StandardCharsets.UTF_8));
        Map<String, CpioArchiveEntry> entries = new LinkedHashMap<>();
        Map<String, String> contents = new LinkedHashMap<>();
        try (CpioArchiveInputStream in = new CpioArchiveInputStream(new ByteArrayInputStream(cpio(tree(src, false))))) {
            for (CpioArchiveEntry e; (e = in.getNextCPIOEntry()) != null; ) {
                entries.put(e.getName(), e);
                contents.put(e.getName(), new String(in.readAllBytes(), StandardCharsets.UTF_8));
                assertEquals(0, e.getTime(), e.getName());
                assertEquals(0, e.getUID(), e.getName());
                assertEquals(0, e.getGID(), e.getName());
                assertEquals(org.apache.commons.compress.archivers.cpio.CpioConstants.FORMAT_NEW, e.getFormat());
            }
        }
        assertEquals(List.of("bin", "bin/sh", "dev", "dev/console", "init", "lib", "lib/modules", "lib/modules/r",
                "lib/modules/r/kernel", "lib/modules/r/kernel/a.ko", "tmp"), new ArrayList<>(entries.keySet()));
        assertTrue(entries.get("lib/modules/r").isDirectory());
        assertTrue(entries.get("bin/sh").isSymbolicLink());
        assertEquals("/bin/busybox", contents.get("bin/sh"));
        assertEquals("module", contents.get("lib/modules/r/kernel/a.ko"));
        CpioArchiveEntry console = entries.get("dev/console");
        assertTrue(console.isCharacterDevice());
        assertEquals(5, console.getRemoteDeviceMaj());
        assertEquals(1, console.getRemoteDeviceMin());
        assertEquals(0755, entries.get("init").getMode() & 07777);
        assertEquals(01777, entries.get("tmp").getMode() & 07777);
    }

    @Test
    void rejectsPathsThatEscapeOrCollide() {
        Initramfs t = new Initramfs();
        assertThrows(IllegalArgumentException.class, () -> t.file("../etc/x", 0644, "x"));
        assertThrows(IllegalArgumentException.class, () -> t.file("a/../../x", 0644, "x"));
        t.file("f", 0644, "x");
        assertThrows(IllegalArgumentException.class, () -> t.file("f/g", 0644, "x"));
    }
}
