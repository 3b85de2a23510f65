package io.nemu.firmware;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tukaani.xz.FilterOptions;
import org.tukaani.xz.LZMA2Options;
import org.tukaani.xz.X86Options;
import org.tukaani.xz.XZ;
import org.tukaani.xz.XZOutputStream;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** vmlinux extraction against synthetic bzImages laid out as the boot protocol says (the real kernel: system test). */
class BzImageTest {

    static byte[] fakeElf(int size) {
        byte[] elf = new byte[size];
        new Random(7).nextBytes(elf);
        elf[0] = 0x7f;
        elf[1] = 'E';
        elf[2] = 'L';
        elf[3] = 'F';
        return elf;
    }

    /** setup sectors, then protected-mode code with the payload at payload_offset, size appended as the build does. */
    static byte[] fakeBzImage(byte[] compressed, int uncompressedSize) {
        int setupSects = 3;
        int pmStart = (setupSects + 1) * 512;
        int payloadOffset = 100;
        int payloadLength = compressed.length + 4;
        ByteBuffer b = ByteBuffer.allocate(pmStart + payloadOffset + payloadLength + 64).order(ByteOrder.LITTLE_ENDIAN);
        b.put(0x1F1, (byte) setupSects);
        b.putInt(0x202, 0x53726448);
        b.putShort(0x206, (short) 0x20f);
        b.putInt(0x248, payloadOffset);
        b.putInt(0x24C, payloadLength);
        b.put(pmStart + payloadOffset, compressed);
        b.putInt(pmStart + payloadOffset + compressed.length, uncompressedSize);
        return b.array();
    }

    @Test
    void extractsAnXzPayloadWithTheX86Filter(@TempDir Path dir) throws Exception {
        byte[] elf = fakeElf(300_000);
        ByteArrayOutputStream xz = new ByteArrayOutputStream();
        try (XZOutputStream out = new XZOutputStream(xz,
                new FilterOptions[] {new X86Options(), new LZMA2Options()}, XZ.CHECK_CRC32)) {
            out.write(elf);
        }
        Path bz = dir.resolve("vmlinuz");
        Files.write(bz, fakeBzImage(xz.toByteArray(), elf.length));
        assertEquals(BzImage.Compression.XZ, BzImage.payload(Files.readAllBytes(bz), "x").compression());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertEquals(elf.length, BzImage.extractVmlinux(bz, out));
        assertArrayEquals(elf, out.toByteArray());
    }

    @Test
    void extractsAGzipPayload(@TempDir Path dir) throws Exception {
        byte[] elf = fakeElf(50_000);
        ByteArrayOutputStream gz = new ByteArrayOutputStream();
        try (GZIPOutputStream out = new GZIPOutputStream(gz)) {
            out.write(elf);
        }
        Path bz = dir.resolve("vmlinuz");
        Files.write(bz, fakeBzImage(gz.toByteArray(), elf.length));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        BzImage.extractVmlinux(bz, out);
        assertArrayEquals(elf, out.toByteArray());
    }

    @Test
    void rejectsWhatIsNoKernelOrIsDamaged(@TempDir Path dir) throws Exception {
        Path notKernel = dir.resolve("random");
        Files.write(notKernel, new byte[4096]);
        FirmwareException e = assertThrows(FirmwareException.class,
                () -> BzImage.extractVmlinux(notKernel, new ByteArrayOutputStream()));
        assertTrue(e.getMessage().contains("not an x86 bzImage"), e.getMessage());

        byte[] elf = fakeElf(100_000);
        ByteArrayOutputStream xz = new ByteArrayOutputStream();
        try (XZOutputStream out = new XZOutputStream(xz, new LZMA2Options())) {
            out.write(elf);
        }
        byte[] image = fakeBzImage(xz.toByteArray(), elf.length);
        image[4 * 512 + 100 + 2000] ^= 0x55; // flip bits inside the compressed stream
        Path corrupt = dir.resolve("corrupt");
        Files.write(corrupt, image);
        FirmwareException c = assertThrows(FirmwareException.class,
                () -> BzImage.extractVmlinux(corrupt, new ByteArrayOutputStream()));
        assertTrue(c.getMessage().contains("corrupt"), c.getMessage());

        Path truncated = dir.resolve("truncated");
        Files.write(truncated, java.util.Arrays.copyOf(fakeBzImage(xz.toByteArray(), elf.length), 4 * 512 + 500));
        FirmwareException t = assertThrows(FirmwareException.class,
                () -> BzImage.extractVmlinux(truncated, new ByteArrayOutputStream()));
        assertTrue(t.getMessage().contains("truncated"), t.getMessage());
    }
}
