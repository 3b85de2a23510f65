package io.nemu.agent.sys;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Fd's copies through native memory: every byte arrives, in order, whatever kind of buffer it came from. */
class FdTest {

    private static byte[] random(int n) {
        byte[] b = new byte[n];
        new SplittableRandom(n).nextBytes(b);
        return b;
    }

    @Test
    void heapReadOnlyAndDirectBuffersLargerThanTheScratchArriveWhole() throws Exception {
        byte[] data = random(3 * 1024 * 1024 + 17); // larger than the scratch memory: written in pieces
        ByteBuffer direct = ByteBuffer.allocateDirect(700_001);
        direct.put(data, 0, 700_001).flip();
        Fd[] p = Fd.pipe();
        CompletableFuture<byte[]> reader = CompletableFuture.supplyAsync(() -> {
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            try (Fd in = p[0]) {
                byte[] chunk;
                while ((chunk = in.readChunk(100_000)) != null) {
                    got.writeBytes(chunk);
                }
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
            return got.toByteArray();
        });
        try (Fd out = p[1]) {
            out.writeFully(direct);
            out.writeFully(ByteBuffer.wrap(data, 700_001, 1_000_000).asReadOnlyBuffer());
            out.writeFully(data, 1_700_001, data.length - 1_700_001);
        }
        assertEquals(700_001, direct.remaining(), "the position of the written buffer does not move");
        assertArrayEquals(data, reader.get(30, TimeUnit.SECONDS));
    }

    @Test
    void readsIntoDirectAndHeapBuffersAndArrays() throws Exception {
        Fd[] p = Fd.pipe();
        try (Fd in = p[0]; Fd out = p[1]) {
            out.writeFully(new byte[] {1, 2, 3, 4, 5, 6, 7}, 0, 7);
            ByteBuffer direct = ByteBuffer.allocateDirect(3);
            assertEquals(3, in.read(direct));
            ByteBuffer heap = ByteBuffer.allocate(2);
            assertEquals(2, in.read(heap));
            byte[] rest = new byte[10];
            assertEquals(2, in.read(rest, rest.length));
            assertArrayEquals(new byte[] {1, 2, 3}, new byte[] {direct.get(0), direct.get(1), direct.get(2)});
            assertArrayEquals(new byte[] {4, 5}, heap.array());
            assertEquals(6, rest[0]);
            assertEquals(7, rest[1]);
            out.close();
            assertNull(in.readChunk(10));
            assertEquals(-1, in.read(ByteBuffer.allocateDirect(4)));
        }
    }
}
