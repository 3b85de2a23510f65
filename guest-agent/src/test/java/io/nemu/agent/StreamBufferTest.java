package io.nemu.agent;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import java.io.ByteArrayOutputStream;
import java.util.Arrays;
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
                for (int off = 0; off < data.length; off += 5) {
                    b.put(Arrays.copyOfRange(data, off, off + 5));
                }
                b.finish();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        Thread.sleep(200);
        assertFalse(writer.isDone(), "20 bytes cannot fit in 8: the writer must wait");
        assertEquals(10, b.size(), "a full buffer takes no chunk more: at most capacity + one chunk");
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        ByteString chunk;
        while ((chunk = b.take(3)) != null) {
            assertTrue(chunk.size() <= 3);
            got.writeBytes(chunk.toByteArray());
        }
        writer.get(5, TimeUnit.SECONDS);
        assertArrayEquals(data, got.toByteArray());
        assertNull(b.take(3));
        assertTrue(b.drained());
    }

    @Test
    void readerBlocksUntilData() throws Exception {
        StreamBuffer b = new StreamBuffer(16);
        CompletableFuture<ByteString> reader = CompletableFuture.supplyAsync(() -> {
            try {
                return b.take(100);
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        Thread.sleep(200);
        assertFalse(reader.isDone());
        b.put(new byte[] {7, 8});
        assertArrayEquals(new byte[] {7, 8}, reader.get(5, TimeUnit.SECONDS).toByteArray());
        assertEquals(false, b.drained());
    }
}
