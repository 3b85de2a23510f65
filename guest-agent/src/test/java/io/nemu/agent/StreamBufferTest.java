package io.nemu.agent;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class StreamBufferTest {

    @Test
    void writerBlocksWhenFullAndReaderGetsEverythingInOrderThenEof() throws Exception {
        StreamBuffer b = new StreamBuffer(8);
        byte[] data = new byte[20];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) i;
        }
        CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
            try {
                b.put(data, data.length);
                b.finish();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        Thread.sleep(200);
        assertFalse(writer.isDone(), "20 bytes cannot fit in 8: the writer must wait");
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        byte[] chunk;
        while ((chunk = b.take(3)) != null) {
            assertTrue(chunk.length <= 3);
            got.writeBytes(chunk);
        }
        writer.get(5, TimeUnit.SECONDS);
        assertArrayEquals(data, got.toByteArray());
        assertNull(b.take(3));
        assertTrue(b.drained());
    }

    @Test
    void readerBlocksUntilData() throws Exception {
        StreamBuffer b = new StreamBuffer(16);
        CompletableFuture<byte[]> reader = CompletableFuture.supplyAsync(() -> {
            try {
                return b.take(100);
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        Thread.sleep(200);
        assertFalse(reader.isDone());
        b.put(new byte[] {7, 8}, 2);
        assertArrayEquals(new byte[] {7, 8}, reader.get(5, TimeUnit.SECONDS));
        assertEquals(false, b.drained());
    }
}
