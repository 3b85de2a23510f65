package io.nemu.e2e.bench;

import io.nemu.contract.GuestContract;
import io.nemu.e2e.support.FileTrees;
import io.nemu.e2e.support.GuestImages;
import io.nemu.firmware.GuestImage;
import io.nemu.vmm.Accelerator;
import io.nemu.vmm.AgentTransport;
import io.nemu.vmm.Vm;
import io.nemu.vmm.VmConfig;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * Agent channel throughput and round-trip latency: the hybrid vsock channel (our vhost-user-vsock
 * backend) next to the virtio-serial bring-up channel, measured in the same run against the same guest
 * echo program (one VM per channel, booted one after the other).
 *
 * <p>Run with scripts/bench-vsock.sh. Options: {@code --mib N} (stream size, 64), {@code --pings N}
 * (1000), {@code --size N} (ping payload bytes, 64), {@code --accel tcg|kvm|auto}.
 */
public final class VsockBenchmark {

    private record Result(String channel, double mibPerSec, double medianUs, double p99Us, long dialMs) {
    }

    public static void main(String[] args) throws Exception {
        int mib = 64;
        int pings = 1000;
        int size = 64;
        Accelerator accel = Accelerator.TCG;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--mib" -> mib = Integer.parseInt(args[++i]);
                case "--pings" -> pings = Integer.parseInt(args[++i]);
                case "--size" -> size = Integer.parseInt(args[++i]);
                case "--accel" -> accel = Accelerator.parse(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + " (use --mib N, --pings N, --size N, --accel tcg|kvm|auto)");
            }
        }
        if (mib < 1 || pings < 1 || size < 1 || size > 65536) {
            throw new IllegalArgumentException("--mib and --pings must be >= 1, --size 1..65536");
        }
        GuestImage image = GuestImages.vsockGuest();
        Path work = Files.createTempDirectory("nemu-vsock-bench");
        Result serial;
        Result vsock;
        try {
            serial = run(image, work, AgentTransport.SERIAL, accel, mib, pings, size);
            vsock = run(image, work, AgentTransport.HYBRID_VSOCK, accel, mib, pings, size);
        } finally {
            FileTrees.delete(work);
        }
        System.out.printf("%nagent channel echo, %s, load average %s%n", accel.name().toLowerCase(),
                Files.readString(Path.of("/proc/loadavg")).trim());
        System.out.printf("%-14s %12s %14s %12s %10s%n", "channel", "MiB/s (echo)", "rtt median us", "rtt p99 us",
                "dial ms");
        for (Result r : new Result[] {serial, vsock}) {
            System.out.printf("%-14s %12.1f %14.0f %12.0f %10d%n", r.channel, r.mibPerSec, r.medianUs, r.p99Us, r.dialMs);
        }
        System.out.printf("(stream: %d MiB sent and echoed back on one connection; rtt: %d round trips of %d bytes)%n",
                mib, pings, size);
    }

    private static Result run(GuestImage image, Path work, AgentTransport t, Accelerator accel, int mib, int pings,
            int size) throws Exception {
        Path runDir = work.resolve(t.name().toLowerCase());
        VmConfig config = VmConfig.builder().kernel(image.kernel()).initrd(image.initrd()).accelerator(accel).vcpus(2)
                .memoryMib(512).agentTransport(t)
                .agentPort(t.vsock() ? GuestContract.AGENT_VSOCK_PORT : 0).runDir(runDir).startTimeout(Duration.ofSeconds(30)).build();
        try (Vm vm = new Vm(config)) {
            vm.start();
            String marker = t == AgentTransport.SERIAL ? "SERIAL-ECHO-READY" : "VSOCK-ECHO-READY";
            vm.waitForConsoleLine(Pattern.compile(marker), Duration.ofSeconds(120));
            long d0 = System.nanoTime();
            try (SocketChannel c = vm.agentChannel().orElseThrow().dial(Duration.ofSeconds(20))) {
                long dialMs = (System.nanoTime() - d0) / 1_000_000;
                // Warm up both ends (JIT in the guest's JVM) before measuring.
                pingPong(c, 200, size);
                stream(c, 4L << 20);
                double[] rtt = pingPong(c, pings, size);
                long s0 = System.nanoTime();
                stream(c, (long) mib << 20);
                double secs = (System.nanoTime() - s0) / 1e9;
                Arrays.sort(rtt);
                Result r = new Result(t == AgentTransport.SERIAL ? "serial" : "hybrid-vsock", mib / secs,
                        rtt[rtt.length / 2], rtt[Math.min(rtt.length - 1, (int) (rtt.length * 0.99))], dialMs);
                System.out.printf("%s: %.1f MiB/s, rtt median %.0f us%n", r.channel, r.mibPerSec, r.medianUs);
                return r;
            } finally {
                vm.stop(Duration.ofSeconds(10));
            }
        }
    }

    private static double[] pingPong(SocketChannel c, int n, int size) throws Exception {
        ByteBuffer out = ByteBuffer.allocate(size);
        ByteBuffer in = ByteBuffer.allocate(size);
        double[] us = new double[n];
        for (int i = 0; i < n; i++) {
            out.clear();
            out.put(0, (byte) i);
            long t0 = System.nanoTime();
            while (out.hasRemaining()) {
                c.write(out);
            }
            in.clear();
            while (in.hasRemaining()) {
                if (c.read(in) < 0) {
                    throw new IllegalStateException("EOF during ping " + i);
                }
            }
            us[i] = (System.nanoTime() - t0) / 1e3;
            if (in.get(0) != (byte) i) {
                throw new IllegalStateException("ping " + i + " came back wrong");
            }
        }
        return us;
    }

    /** Writes {@code bytes} on one thread and reads the echo on this one, comparing as it goes. */
    private static void stream(SocketChannel c, long bytes) throws Exception {
        ExecutorService ex = Executors.newSingleThreadExecutor();
        try {
            long seed = System.nanoTime();
            Future<?> w = ex.submit(() -> {
                SplittableRandom r = new SplittableRandom(seed);
                ByteBuffer b = ByteBuffer.allocate(65536);
                for (long left = bytes; left > 0; ) {
                    b.clear();
                    while (b.hasRemaining()) {
                        b.putLong(r.nextLong());
                    }
                    b.flip().limit((int) Math.min(b.capacity(), left));
                    left -= b.remaining();
                    while (b.hasRemaining()) {
                        c.write(b);
                    }
                }
                return null;
            });
            SplittableRandom r = new SplittableRandom(seed);
            ByteBuffer expect = ByteBuffer.allocate(65536);
            ByteBuffer in = ByteBuffer.allocate(65536);
            long got = 0;
            while (got < bytes) {
                expect.clear();
                while (expect.hasRemaining()) {
                    expect.putLong(r.nextLong());
                }
                int want = (int) Math.min(65536, bytes - got);
                in.clear().limit(want);
                while (in.hasRemaining()) {
                    if (c.read(in) < 0) {
                        throw new IllegalStateException("EOF after " + got + " bytes");
                    }
                }
                if (!Arrays.equals(in.array(), 0, want, expect.array(), 0, want)) {
                    throw new IllegalStateException("echo differs near byte " + got);
                }
                got += want;
            }
            w.get(10, TimeUnit.SECONDS);
        } finally {
            ex.shutdownNow();
        }
    }
}
