package io.nemu.e2e.vsock;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.nemu.contract.GuestContract;
import io.nemu.e2e.support.FileTrees;
import io.nemu.e2e.support.GuestImages;
import io.nemu.e2e.support.Leftovers;
import io.nemu.firmware.GuestImage;
import io.nemu.vmm.Accelerator;
import io.nemu.vmm.AgentTransport;
import io.nemu.vmm.Vm;
import io.nemu.vmm.VmConfig;
import io.nemu.vmm.channel.HybridVsockChannel;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The in-process vhost-user-vsock backend against a real guest under TCG (microvm): the guest runs
 * {@link io.nemu.e2e.vsock.guest.VsockGuestMain} (echo on vsock port 1024, a client to host port 1025).
 * One VM for the class; the last test kills its QEMU mid-transfer.
 */
@Tag("system")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class HybridVsockTest {
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterAll();
    static final long STREAM_BYTES = Long.getLong("nemu.vsock.streamMiB", 256) << 20;

    private static Path dir;
    private static Vm vm;
    private static long qemuPid;
    private static HybridVsockChannel channel;
    private static ServerSocketChannel hostListener;
    private static final CompletableFuture<String> guestLine = new CompletableFuture<>();

    @BeforeAll
    static void boot() throws Exception {
        GuestImage image = GuestImages.vsockGuest();
        dir = LEFTOVERS.gone(LEFTOVERS.dir(Files.createTempDirectory("nemu-vsock")));
        VmConfig config = VmConfig.builder().kernel(image.kernel()).initrd(image.initrd()).accelerator(Accelerator.TCG)
                .vcpus(2).memoryMib(512).agentTransport(AgentTransport.HYBRID_VSOCK).agentPort(GuestContract.AGENT_VSOCK_PORT).runDir(dir.resolve("run"))
                .startTimeout(Duration.ofSeconds(30)).build();
        // The guest dials host port 1025 at start: have <socket>_1025 listening before it boots.
        Files.createDirectories(config.runDir());
        hostListener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        hostListener.bind(UnixDomainSocketAddress.of(config.runDir().resolve("vsock_1025")));
        Thread acceptor = new Thread(() -> {
            try (SocketChannel c = hostListener.accept()) {
                String line = readLine(c);
                c.write(ByteBuffer.wrap("ACK\n".getBytes(StandardCharsets.US_ASCII)));
                guestLine.complete(line);
            } catch (IOException e) {
                guestLine.completeExceptionally(e);
            }
        }, "host-1025");
        acceptor.setDaemon(true);
        acceptor.start();

        vm = new Vm(config, new Vm.Observer() {
            @Override
            public void qemuStarted(long pid) {
                qemuPid = pid;
            }
        });
        long t0 = System.nanoTime();
        vm.start();
        vm.waitForConsoleLine(Pattern.compile("VSOCK-ECHO-READY"), Duration.ofSeconds(90));
        System.out.printf("guest echo server ready %d ms after start%n", (System.nanoTime() - t0) / 1_000_000);
        channel = (HybridVsockChannel) vm.agentChannel().orElseThrow();
    }

    @AfterAll
    static void down() throws Exception {
        if (vm != null) {
            vm.close();
        }
        if (hostListener != null) {
            hostListener.close();
        }
        FileTrees.delete(dir);
    }

    static String readLine(SocketChannel c) throws IOException {
        StringBuilder sb = new StringBuilder();
        ByteBuffer one = ByteBuffer.allocate(1);
        while (true) {
            one.clear();
            if (c.read(one) < 0) {
                throw new IOException("EOF after '" + sb + "'");
            }
            char ch = (char) one.get(0);
            if (ch == '\n') {
                return sb.toString();
            }
            sb.append(ch);
        }
    }

    @Test
    @Order(1)
    void guestConnectionReachesHostListener() throws Exception {
        String line = guestLine.get(60, TimeUnit.SECONDS);
        assertTrue(line.startsWith("HELLO-FROM-GUEST "), line);
        vm.waitForConsoleLine(Pattern.compile("VSOCK-HOST-ANSWER ACK"), Duration.ofSeconds(20));
    }

    @Test
    @Order(2)
    void echoThroughTheHybridSocket() throws Exception {
        try (SocketChannel c = vm.agentChannel().orElseThrow().dial(Duration.ofSeconds(10))) {
            c.write(ByteBuffer.wrap("ping over vsock\n".getBytes(StandardCharsets.US_ASCII)));
            assertEquals("ping over vsock", readLine(c));
        }
        // A port nothing listens on: refused (RST), not hung.
        long t0 = System.nanoTime();
        IOException e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
                () -> HybridVsockChannel.connect(channel.hybridSocket(), 4444, Duration.ofMillis(300)));
        assertTrue(e.getMessage().contains("guest refused port 4444"), e.getMessage());
        assertTrue(System.nanoTime() - t0 < 3_000_000_000L);
    }

    /** Sends {@code bytes} of seeded random data and reads the echo; returns sha-256 of sent and received. */
    static byte[][] echoStream(SocketChannel c, long bytes, long seed, AtomicLong progress) throws Exception {
        MessageDigest sent = MessageDigest.getInstance("SHA-256");
        MessageDigest got = MessageDigest.getInstance("SHA-256");
        ExecutorService ex = Executors.newSingleThreadExecutor();
        try {
            Future<?> writer = ex.submit(() -> {
                SplittableRandom r = new SplittableRandom(seed);
                ByteBuffer b = ByteBuffer.allocate(64 * 1024);
                long left = bytes;
                while (left > 0) {
                    b.clear();
                    int n = (int) Math.min(b.capacity(), left);
                    for (int i = 0; i < n; i += 8) {
                        b.putLong(r.nextLong());
                    }
                    b.flip().limit(n);
                    sent.update(b.duplicate());
                    while (b.hasRemaining()) {
                        c.write(b);
                    }
                    left -= n;
                }
                return null;
            });
            ByteBuffer in = ByteBuffer.allocate(64 * 1024);
            long total = 0;
            while (total < bytes) {
                in.clear();
                int n = c.read(in);
                if (n < 0) {
                    throw new IOException("EOF after " + total + " of " + bytes + " bytes");
                }
                in.flip();
                got.update(in);
                total += n;
                if (progress != null) {
                    progress.set(total);
                }
            }
            writer.get(10, TimeUnit.SECONDS);
        } finally {
            ex.shutdownNow();
        }
        return new byte[][] {sent.digest(), got.digest()};
    }

    @Test
    @Order(3)
    void sixteenConcurrentConnectionsStayCorrect() throws Exception {
        int n = 16;
        long each = 512 * 1024;
        ExecutorService ex = Executors.newFixedThreadPool(n);
        try {
            List<Future<byte[][]>> fs = new ArrayList<>();
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) {
                long seed = 1000 + i;
                fs.add(ex.submit(() -> {
                    try (SocketChannel c = vm.agentChannel().orElseThrow().dial(Duration.ofSeconds(20))) {
                        return echoStream(c, each + seed, seed, null);
                    }
                }));
            }
            for (Future<byte[][]> f : fs) {
                byte[][] d = f.get(120, TimeUnit.SECONDS);
                assertArrayEquals(d[0], d[1], "echo differs from what was sent");
            }
            System.out.printf("16 connections x %d KiB echoed in %d ms%n", each / 1024,
                    (System.nanoTime() - t0) / 1_000_000);
        } finally {
            ex.shutdownNow();
        }
        assertEquals(0, waitConnections(0), "connections left in the backend");
    }

    private static int waitConnections(int want) throws Exception {
        int now = -1;
        for (int i = 0; i < 100; i++) {
            now = channel.backend().connectionCount();
            if (now == want) {
                return now;
            }
            Thread.sleep(50);
        }
        return now;
    }

    @Test
    @Order(4)
    void bigStreamEchoesWithTheSameChecksum() throws Exception {
        try (SocketChannel c = vm.agentChannel().orElseThrow().dial(Duration.ofSeconds(10))) {
            long t0 = System.nanoTime();
            byte[][] d = echoStream(c, STREAM_BYTES, 42, null);
            double s = (System.nanoTime() - t0) / 1e9;
            System.out.printf("%d MiB host->guest->host in %.1f s (%.1f MiB/s each way), sha-256 %s%n",
                    STREAM_BYTES >> 20, s, (STREAM_BYTES >> 20) / s, HexFormat.of().formatHex(d[1]));
            assertArrayEquals(d[0], d[1]);
        }
    }

    @Test
    @Order(10)
    void qemuKilledMidTransferFailsClientsAndReleasesEverything() throws Exception {
        assertTrue(memfdMappings() > 0, "guest memory is not mapped into this process before the kill");
        assertTrue(backendThreads() > 0, "no backend threads before the kill");
        SocketChannel c = vm.agentChannel().orElseThrow().dial(Duration.ofSeconds(10));
        AtomicLong progress = new AtomicLong();
        CompletableFuture<Throwable> transfer = CompletableFuture.supplyAsync(() -> {
            try {
                echoStream(c, 1L << 40, 7, progress);
                return null;
            } catch (Exception e) {
                return e;
            }
        });
        for (int i = 0; i < 200 && progress.get() < (1 << 20); i++) {
            Thread.sleep(50);
        }
        assertTrue(progress.get() > 0, "transfer did not start");
        long t0 = System.nanoTime();
        ProcessHandle.of(qemuPid).orElseThrow().destroyForcibly();
        Throwable failure = transfer.get(10, TimeUnit.SECONDS);
        long failMs = (System.nanoTime() - t0) / 1_000_000;
        System.out.printf("client failed %d ms after SIGKILL (after %d bytes): %s%n", failMs, progress.get(), failure);
        assertTrue(failure != null, "transfer did not fail");
        assertTrue(failMs < 3000, "client took " + failMs + " ms to fail");
        channel.backend().terminated().get(5, TimeUnit.SECONDS);
        c.close();
        assertEquals(0, memfdMappings(), "guest memory still mapped:\n" + Files.readString(Path.of("/proc/self/maps")));
        for (int i = 0; i < 50 && backendThreads() > 0; i++) {
            Thread.sleep(50);
        }
        assertEquals(0, backendThreads(), "backend threads left");
        vm.exitFuture().get(10, TimeUnit.SECONDS);
    }

    static long memfdMappings() throws IOException {
        return Files.readAllLines(Path.of("/proc/self/maps")).stream().filter(l -> l.contains("/memfd:")).count();
    }

    static long backendThreads() {
        return Thread.getAllStackTraces().keySet().stream().map(Thread::getName)
                .filter(n -> n.startsWith("vsock-") || n.startsWith("vhost-user-")).count();
    }
}
