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
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    try (ErrorWatch errors = new ErrorWatch();
        TtrpcServer server = TtrpcServer.builder().addService(new EchoService().definition()).build()) {
      server.bind(socket);
      while (frames < 12_000 && System.nanoTime() < deadline) {
        // mostly short-lived connections, now and then a long one
        int perConnection = random.nextInt(10) == 0 ? 2_000 : 1 + random.nextInt(40);
        try (RawConnection raw = RawConnection.connect(socket); Drain drain = new Drain(raw)) {
          int nextId = 1;
          for (int i = 0; i < perConnection && frames < 12_000; i++, frames++) {
            byte[] frame = switch (random.nextInt(4)) {
              case 0 -> randomBytes(random);
              case 1 -> mutate(random, validFrame(random, nextId));
              default -> validFrame(random, nextId);
            };
            nextId += 2;
            raw.write(ByteBuffer.wrap(frame));
            if (drain.failed()) {
              break; // the server hung up on us (or a giant declared length swallowed the rest)
            }
          }
        } catch (java.io.IOException e) {
          // the server may close on us mid-write after garbage: fine, start a new connection
        }
      }
      assertTrue(frames >= 10_000, "only " + frames + " frames sent in time");
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

  static byte[] randomBytes(Random random) {
    byte[] b = new byte[random.nextInt(64)];
    random.nextBytes(b);
    if (b.length >= 4 && random.nextBoolean()) {
      b[0] = 0; // plausible lengths more often
      b[1] = 0;
    }
    return b;
  }

  static byte[] mutate(Random random, byte[] frame) {
    byte[] b = frame.clone();
    int flips = 1 + random.nextInt(4);
    for (int i = 0; i < flips; i++) {
      int at = random.nextInt(b.length);
      // the length bytes are hit less often: a huge length swallows the rest of the connection
      if (at < 4 && random.nextInt(4) != 0) {
        at = 4 + random.nextInt(b.length - 4);
      }
      b[at] = (byte) random.nextInt(256);
    }
    if (random.nextInt(10) == 0) {
      return java.util.Arrays.copyOf(b, random.nextInt(b.length)); // truncated
    }
    return b;
  }

  /** Reads and drops whatever the server sends, so it never blocks on a full socket. */
  static final class Drain implements AutoCloseable {
    private final Thread thread;
    private volatile boolean eof;

    Drain(RawConnection raw) {
      thread = new Thread(() -> {
        try {
          while (!raw.awaitEof(java.time.Duration.ofMillis(200))) {
            if (Thread.currentThread().isInterrupted()) {
              return;
            }
          }
          eof = true;
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

    @Override
    public void close() throws InterruptedException {
      thread.interrupt();
      thread.join(2000);
    }
  }

}
