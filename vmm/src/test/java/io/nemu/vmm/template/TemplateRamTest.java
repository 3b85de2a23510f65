package io.nemu.vmm.template;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.OptionalLong;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Zero pages punched out of a RAM file on a tmpfs, its content unchanged; a missing file only logs. */
class TemplateRamTest {
    private static final int MIB = 1 << 20;

    @Test
    void zeroPagesArePunchedAndTheContentStays() throws IOException {
        Path shm = Path.of("/dev/shm");
        Assumptions.assumeTrue(Files.isDirectory(shm) && Files.isWritable(shm), "no writable /dev/shm");
        Path f = Files.createTempFile(shm, "nemu-template-ram-", ".test");
        try {
            // 8 MiB written: 2 MiB of data between 6 MiB of zeros, as a clone's faults leave the file.
            byte[] data = new byte[2 * MIB];
            for (int i = 0; i < data.length; i++) {
                data[i] = (byte) (i * 31 + 7);
            }
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
                ch.write(ByteBuffer.wrap(new byte[3 * MIB]), 0);
                ch.write(ByteBuffer.wrap(data), 3 * MIB);
                ch.write(ByteBuffer.wrap(new byte[3 * MIB]), 5 * MIB);
            }
            OptionalLong before = TemplateRam.heldBytes(f);
            assertTrue(before.isPresent() && before.getAsLong() >= 8L * MIB, "held before: " + before);
            TemplateRam.digHoles(f);
            long after = TemplateRam.heldBytes(f).orElseThrow();
            assertTrue(after <= 2L * MIB + 64 * 1024, "held after: " + after);
            assertEquals(8L * MIB, Files.size(f));
            byte[] all = Files.readAllBytes(f);
            byte[] expected = new byte[8 * MIB];
            System.arraycopy(data, 0, expected, 3 * MIB, data.length);
            assertArrayEquals(expected, all);
        } finally {
            Files.deleteIfExists(f);
        }
    }

    @Test
    void aMissingFileLeavesNothingToDo() {
        Path missing = Path.of("/dev/shm/nemu-no-such-template-ram");
        TemplateRam.digHoles(missing);
        assertTrue(TemplateRam.heldBytes(missing).isEmpty());
    }
}
