package io.nemu.shim.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.nemu.proto.kata.AgentServiceGrpc;
import io.nemu.proto.kata.CloseStdinRequest;
import io.nemu.proto.kata.ReadStreamRequest;
import io.nemu.proto.kata.ReadStreamResponse;
import io.nemu.proto.kata.WriteStreamRequest;
import io.nemu.proto.kata.WriteStreamResponse;
import io.nemu.ttrpc.TtrpcClient;
import io.nemu.ttrpc.TtrpcServer;
import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Stdio copying between real fifos and a fake agent's stream calls over ttrpc. */
class ProcessIoTest {
    @TempDir
    Path dir;

    /** An agent whose process echoes stdin to stdout (upper-cased) and writes "err" to stderr, then ends. */
    static final class EchoAgent extends AgentServiceGrpc.AgentServiceImplBase {
        final BlockingQueue<byte[]> out = new LinkedBlockingQueue<>();
        final CountDownLatch stdinClosed = new CountDownLatch(1);
        volatile boolean errSent;
        /** How long the first WriteStdin blocks, as on a guest pipe its process does not read yet. */
        volatile long firstWriteBlocksMs;
        final java.util.List<Integer> writeSizes = java.util.Collections.synchronizedList(new java.util.ArrayList<>());

        @Override
        public void writeStdin(WriteStreamRequest r, StreamObserver<WriteStreamResponse> o) {
            if (writeSizes.isEmpty() && firstWriteBlocksMs > 0) {
                try {
                    Thread.sleep(firstWriteBlocksMs);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            writeSizes.add(r.getData().size());
            out.add(r.getData().toStringUtf8().toUpperCase().getBytes(StandardCharsets.UTF_8));
            o.onNext(WriteStreamResponse.newBuilder().setLen(r.getData().size()).build());
            o.onCompleted();
        }

        @Override
        public void closeStdin(CloseStdinRequest r, StreamObserver<Empty> o) {
            stdinClosed.countDown();
            out.add(new byte[0]); // EOF marker: the process exits
            o.onNext(Empty.getDefaultInstance());
            o.onCompleted();
        }

        @Override
        public void readStdout(ReadStreamRequest r, StreamObserver<ReadStreamResponse> o) {
            try {
                byte[] b = out.take();
                if (b.length == 0) {
                    o.onError(Status.NOT_FOUND.withDescription("process exited").asRuntimeException());
                    return;
                }
                o.onNext(ReadStreamResponse.newBuilder().setData(ByteString.copyFrom(b)).build());
                o.onCompleted();
            } catch (InterruptedException e) {
                o.onError(Status.CANCELLED.asRuntimeException());
            }
        }

        @Override
        public void readStderr(ReadStreamRequest r, StreamObserver<ReadStreamResponse> o) {
            if (!errSent) {
                errSent = true;
                o.onNext(ReadStreamResponse.newBuilder().setData(ByteString.copyFromUtf8("err\n")).build());
                o.onCompleted();
                return;
            }
            try {
                stdinClosed.await();
            } catch (InterruptedException ignored) {
                // fall through to EOF
            }
            o.onError(Status.NOT_FOUND.withDescription("process exited").asRuntimeException());
        }
    }

    private final EchoAgent agent = new EchoAgent();
    private TtrpcServer server;
    private TtrpcClient client;

    @BeforeEach
    void serve() throws Exception {
        Path sock = dir.resolve("agent.sock");
        server = TtrpcServer.builder().addService(agent).build();
        server.bind(sock);
        client = TtrpcClient.connect(sock);
    }

    @AfterEach
    void stop() {
        client.close();
        server.close();
    }

    private ProcessIo io(Stdio stdio) {
        return new ProcessIo(AgentServiceGrpc.newBlockingStub(client), "c1", "c1", stdio);
    }

    private static Path mkfifo(Path p) throws Exception {
        Process mk = new ProcessBuilder("mkfifo", p.toString()).start();
        assertEquals(0, mk.waitFor());
        return p;
    }

    @Test
    void copiesStdinToTheAgentAndAllOutputBackBeforeDrained() throws Exception {
        Path in = mkfifo(dir.resolve("stdin"));
        Path out = mkfifo(dir.resolve("stdout"));
        Path err = mkfifo(dir.resolve("stderr"));
        // containerd's side: reads stdout/stderr, writes stdin then closes it.
        CompletableFuture<String> stdout = CompletableFuture.supplyAsync(() -> readAll(out));
        CompletableFuture<String> stderr = CompletableFuture.supplyAsync(() -> readAll(err));
        ProcessIo io = io(new Stdio(in.toString(), out.toString(), err.toString(), false));
        io.start();
        try (OutputStream w = new FileOutputStream(in.toFile())) {
            w.write("hello\n".getBytes(StandardCharsets.UTF_8));
            w.flush();
            Thread.sleep(100);
            w.write("world\n".getBytes(StandardCharsets.UTF_8));
        }
        assertTrue(agent.stdinClosed.await(10, TimeUnit.SECONDS), "EOF on the fifo closes stdin in the guest");
        io.drained().get(10, TimeUnit.SECONDS);
        assertEquals("HELLO\nWORLD\n", stdout.get(10, TimeUnit.SECONDS));
        assertEquals("err\n", stderr.get(10, TimeUnit.SECONDS));
    }

    @Test
    void closeIoKeepsWhatIsStillInTheFifo() throws Exception {
        Path in = mkfifo(dir.resolve("stdin"));
        Path out = mkfifo(dir.resolve("stdout"));
        CompletableFuture<String> stdout = CompletableFuture.supplyAsync(() -> readAll(out));
        ProcessIo io = io(new Stdio(in.toString(), out.toString(), "", false));
        // containerd writes and closes its end, then calls CloseIO right away (ctr does).
        CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
            try (OutputStream w = new FileOutputStream(in.toFile())) {
                w.write("data\n".getBytes(StandardCharsets.UTF_8));
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        io.start();
        writer.get(10, TimeUnit.SECONDS);
        io.closeIo();
        io.drained().get(10, TimeUnit.SECONDS);
        assertEquals("DATA\n", stdout.get(10, TimeUnit.SECONDS));
    }

    @Test
    void aLargeStdinReachesTheGuestWholeBeforeItsEofAlsoWhenTheGuestIsSlowerThanTheIdleLimit() throws Exception {
        // 3 MiB written and closed at once, CloseIO right after; the guest does not take the first write for 7 s
        // (longer than the 5 s idle limit): CloseIO returns at once, and CloseStdin still comes after the last byte.
        agent.firstWriteBlocksMs = 7000;
        Path in = mkfifo(dir.resolve("stdin"));
        Path out = mkfifo(dir.resolve("stdout"));
        CompletableFuture<String> stdout = CompletableFuture.supplyAsync(() -> readAll(out));
        ProcessIo io = io(new Stdio(in.toString(), out.toString(), "", false));
        byte[] data = new byte[3 << 20];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) ('a' + i % 26);
        }
        CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
            try (OutputStream w = new FileOutputStream(in.toFile())) {
                w.write(data);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        io.start();
        writer.get(20, TimeUnit.SECONDS);
        long t0 = System.nanoTime();
        io.closeIo();
        assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(1), "CloseIO must not wait for the copy");
        io.drained().get(30, TimeUnit.SECONDS);
        String got = stdout.get(10, TimeUnit.SECONDS);
        assertEquals(data.length, got.length());
        assertEquals(new String(data, StandardCharsets.US_ASCII).toUpperCase(), got);
        assertTrue(agent.writeSizes.stream().allMatch(n -> n <= ProcessIo.CHUNK), agent.writeSizes.toString());
        assertTrue(agent.writeSizes.size() < 3 * 16, "writes batch what the fifo holds: " + agent.writeSizes);
    }

    @Test
    void closeIoWithoutAnyWriterStillClosesStdin() throws Exception {
        Path in = mkfifo(dir.resolve("stdin"));
        ProcessIo io = io(new Stdio(in.toString(), "", "", false));
        io.start();
        long t0 = System.nanoTime();
        io.closeIo();
        assertTrue(agent.stdinClosed.await(1, TimeUnit.SECONDS));
        assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(11));
    }

    @Test
    void aTerminalHasNoSeparateStderr() throws Exception {
        Path out = mkfifo(dir.resolve("stdout"));
        CompletableFuture<String> stdout = CompletableFuture.supplyAsync(() -> readAll(out));
        ProcessIo io = io(new Stdio("", out.toString(), dir.resolve("unused").toString(), true));
        io.start();
        agent.out.add("tty\n".getBytes(StandardCharsets.UTF_8));
        io.closeStdin();
        io.drained().get(10, TimeUnit.SECONDS);
        assertEquals("tty\n", stdout.get(10, TimeUnit.SECONDS));
        assertTrue(!agent.errSent, "stderr must not be read for a terminal");
    }

    private static String readAll(Path fifo) {
        try (InputStream r = new FileInputStream(fifo.toFile())) {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            r.transferTo(b);
            return b.toString(StandardCharsets.UTF_8);
        } catch (Exception e) {
            return "ERROR " + e;
        }
    }
}
