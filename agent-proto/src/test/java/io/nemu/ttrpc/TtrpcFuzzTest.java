package io.nemu.ttrpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.proto.test.EchoGrpc;
import io.nemu.proto.test.EchoRequest;
import io.nemu.proto.ttrpc.KeyValue;
import io.nemu.proto.ttrpc.Request;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Throws random and mutated frames at a server, on fresh and on long-lived connections, then
 * checks it still answers and that nothing was logged as a failure or thrown unseen.
 */
class TtrpcFuzzTest {
    static final String[] METHODS = {"Unary", "ServerStream", "ClientStream", "Bidi", "Nope"};

    @TempDir
    Path dir;

    @Test
    void survivesRandomAndMutatedFrames() throws Exception {
        Path socket = dir.resolve("fuzz.sock");
        Random random = new Random(0x7e5_71c);
        int frames = 0;
        int connections = 0;
        int synced = 0;
        int syncable = 0;
        long answers = 0;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        try (ErrorWatch errors = new ErrorWatch();
                TtrpcServer server = TtrpcServer.builder().addService(new EchoService().definition()).build()) {
            server.bind(socket);
            while (frames < 12_000 && System.nanoTime() < deadline) {
                // mostly short-lived connections, now and then a long one
                int perConnection = random.nextInt(10) == 0 ? 2_000 : 1 + random.nextInt(40);
                connections++;
                try (RawConnection raw = RawConnection.connect(socket); Drain drain = new Drain(raw)) {
                    Boundary boundary = new Boundary();
                    int nextId = 1;
                    for (int i = 0; i < perConnection && frames < 12_000; i++, frames++) {
                        byte[] frame = switch (random.nextInt(4)) {
                            case 0 -> randomBytes(random);
                            case 1 -> mutate(random, validFrame(random, nextId));
                            default -> validFrame(random, nextId);
                        };
                        nextId += 2;
                        // Close a frame the garbage left open (zeros), so the next one is read as a frame;
                        // a huge declared length ends the connection instead.
                        if (!boundary.align(raw, 64 << 10)) {
                            break;
                        }
                        boundary.track(frame);
                        raw.write(ByteBuffer.wrap(frame));
                        if (drain.failed()) {
                            break;
                        }
                    }
                    // Finish whatever frame the garbage left open (zeros), then a good call with the
                    // largest id: the server must answer it. Skipped when >1 MiB would be needed.
                    if (drain.failed() || !boundary.align(raw, 1 << 20)) {
                        continue;
                    }
                    syncable++;
                    raw.writeFrame(Drain.SYNC_ID, 1, 0, Request.newBuilder().setService("nemu.test.Echo").setMethod("Unary")
                            .build().toByteArray());
                    if (drain.awaitSync()) {
                        synced++;
                    }
                    answers += drain.frames();
                } catch (java.io.IOException e) {
                    // the server may have closed on us: fine, the next round opens a new connection
                }
            }
            System.out.printf("fuzz: %d frames on %d connections, %d frames answered, %d of %d connections synced%n",
                    frames, connections, answers, synced, syncable);
            assertTrue(frames >= 10_000, "only " + frames + " frames sent in time");
            assertEquals(syncable, synced, "connections that answered the final call");
            assertTrue(syncable > connections / 3, "only " + syncable + " connections could be synced");
            assertTrue(answers > frames / 4, "only " + answers + " answers to " + frames + " frames");
            try (TtrpcClient client = TtrpcClient.connect(socket)) {
                assertEquals("alive", EchoGrpc.newBlockingStub(client).withDeadlineAfter(5, TimeUnit.SECONDS)
                        .unary(EchoRequest.newBuilder().setMessage("alive").build()).getMessage());
            }
            assertEquals(List.of(), errors.problems());
        }
    }

    static byte[] validFrame(Random random, int streamId) {
        int type = 1 + random.nextInt(3);
        int flags = random.nextInt(3) == 0 ? random.nextInt(8) : 0;
        byte[] payload;
        if (type == 1) {
            EchoRequest.Builder echo = EchoRequest.newBuilder().setMessage("f" + random.nextInt(1000)).setCount(random.nextInt(4));
            if (random.nextInt(20) == 0) {
                echo.setSleepMillis(random.nextInt(50));
            }
            Request.Builder req = Request.newBuilder().setService(random.nextInt(10) == 0 ? "nemu.test.Other" : "nemu.test.Echo")
                    .setMethod(METHODS[random.nextInt(METHODS.length)]).setPayload(echo.build().toByteString());
            if (random.nextBoolean()) {
                req.addMetadata(KeyValue.newBuilder().setKey("K" + random.nextInt(3)).setValue("v\u00e9\n"));
            }
            if (random.nextInt(5) == 0) {
                req.setTimeoutNano(random.nextInt(50_000_000));
            }
            payload = req.build().toByteArray();
        } else {
            payload = new byte[random.nextInt(64)];
            random.nextBytes(payload);
        }
        int id = random.nextInt(8) == 0 ? random.nextInt(16) : streamId;
        return ByteBuffer.allocate(10 + payload.length).putInt(payload.length).putInt(id)
                .put((byte) type).put((byte) flags).put(payload).array();
    }

    /** Random bytes; when long enough for a header, its length is mostly plausible. */
    static byte[] randomBytes(Random random) {
        // shorter than a header now and then: the next frame's bytes then complete it
        byte[] b = new byte[random.nextInt(10) == 0 ? random.nextInt(10) : 10 + random.nextInt(54)];
        random.nextBytes(b);
        if (b.length >= 4) {
            int pick = random.nextInt(10);
            int rare = random.nextInt(40);
            long length = rare == 0 ? (4 << 20) - 2 + random.nextInt(4)  // at the limit
                    : rare == 1 ? random.nextInt() & 0xFFFF_FFFFL              // anything
                    : pick < 6 ? Math.max(0, b.length - 10)                    // matches the body
                    : random.nextInt(256);                                     // short or long by a little
            ByteBuffer.wrap(b).putInt((int) length);
        }
        return b;
    }

    static byte[] mutate(Random random, byte[] frame) {
        byte[] b = frame.clone();
        int flips = 1 + random.nextInt(4);
        for (int i = 0; i < flips; i++) {
            int at = random.nextInt(b.length);
            // the length bytes are hit less often: a huge length swallows the rest of the connection
            if (at < 4 && random.nextInt(16) != 0) {
                at = 4 + random.nextInt(b.length - 4);
            }
            b[at] = (byte) random.nextInt(256);
        }
        if (random.nextInt(20) == 0) {
            return java.util.Arrays.copyOf(b, random.nextInt(b.length)); // truncated
        }
        return b;
    }

    /** Follows the framing of the bytes we sent, to know how far the current frame still runs. */
    static final class Boundary {
        private final byte[] header = new byte[10];
        private int headerBytes;
        private long bodyLeft;

        void track(byte[] bytes) {
            int i = 0;
            while (i < bytes.length) {
                if (bodyLeft > 0) {
                    int skip = (int) Math.min(bodyLeft, bytes.length - i);
                    bodyLeft -= skip;
                    i += skip;
                    continue;
                }
                header[headerBytes++] = bytes[i++];
                if (headerBytes == 10) {
                    bodyLeft = ByteBuffer.wrap(header).getInt() & 0xFFFF_FFFFL;
                    headerBytes = 0;
                }
            }
        }

        /** Writes zeros until a frame boundary; false if that would take more than {@code max} bytes. */
        boolean align(RawConnection raw, int max) throws java.io.IOException {
            while (headerBytes > 0 || bodyLeft > 0) {
                long need = headerBytes > 0 ? 10 - headerBytes : bodyLeft;
                if (need > max) {
                    return false;
                }
                byte[] pad = new byte[(int) need];
                track(pad);
                raw.write(pad);
            }
            return true;
        }
    }

    /** Reads the server's frames (always well formed) so it never blocks on a full socket. */
    static final class Drain implements AutoCloseable {
        static final int SYNC_ID = 0xFFFF_FFFF;
        private final Thread thread;
        private volatile boolean eof;
        private volatile boolean synced;
        private volatile int frames;

        Drain(RawConnection raw) {
            thread = new Thread(() -> {
                try {
                    while (!Thread.currentThread().isInterrupted()) {
                        RawConnection.RawFrame f;
                        try {
                            f = raw.readFrame(java.time.Duration.ofMillis(100));
                        } catch (java.io.EOFException e) {
                            eof = true;
                            return;
                        } catch (java.io.IOException e) {
                            if (e.getMessage() != null && e.getMessage().startsWith("timed out reading 10 bytes (got 0)")) {
                                continue;
                            }
                            eof = true;
                            return;
                        }
                        frames++;
                        if (f.streamId() == SYNC_ID) {
                            synced = true;
                        }
                    }
                } catch (Exception e) {
                    eof = true;
                }
            }, "fuzz-drain");
            thread.setDaemon(true);
            thread.start();
        }

        boolean failed() {
            return eof;
        }

        /** Waits for the answer to the sync request. */
        boolean awaitSync() throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
            while (!synced && !eof && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            return synced;
        }

        int frames() {
            return frames;
        }

        @Override
        public void close() throws InterruptedException {
            thread.interrupt();
            thread.join(2000);
        }
    }
}
