package io.nemu.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The watch's rules with fake components: the first fault wins, once; a silent agent is a fault in time. */
class SandboxWatchTest {
    private final List<String> faults = new CopyOnWriteArrayList<>();
    private final CompletableFuture<String> reported = new CompletableFuture<>();

    private void onFault(String why) {
        faults.add(why);
        reported.complete(why);
    }

    @Test
    void aVmFaultIsHandledOnceAndLaterOnesAreIgnored() throws Exception {
        CompletableFuture<String> vm = new CompletableFuture<>();
        try (SandboxWatch w = SandboxWatch.start("sb", vm, d -> { }, Duration.ofMillis(50), Duration.ofSeconds(5),
                this::onFault)) {
            vm.complete("QEMU (pid 7) exited with code 137");
            assertEquals("QEMU (pid 7) exited with code 137", reported.get(5, TimeUnit.SECONDS));
            assertEquals("QEMU (pid 7) exited with code 137", w.cause().orElseThrow());
            Thread.sleep(200);
            assertEquals(1, faults.size(), faults::toString);
        }
    }

    @Test
    void anAgentThatStopsAnsweringIsAFaultAfterTheTimeout() throws Exception {
        AtomicInteger checks = new AtomicInteger();
        long t0 = System.nanoTime();
        SandboxWatch.Health silent = deadline -> {
            if (checks.incrementAndGet() > 2) {
                Thread.sleep(deadline.toMillis());
                throw new IllegalStateException("DEADLINE_EXCEEDED after " + deadline.toMillis() + " ms");
            }
        };
        try (SandboxWatch w = SandboxWatch.start("sb", new CompletableFuture<>(), silent, Duration.ofMillis(100),
                Duration.ofMillis(1500), this::onFault)) {
            String why = reported.get(10, TimeUnit.SECONDS);
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(why.contains("health_check_timeout") && why.contains("DEADLINE_EXCEEDED"), why);
            assertTrue(ms >= 1500, "declared dead only after the timeout: " + ms + " ms");
            assertEquals(1, faults.size());
        }
    }

    @Test
    void aHealthySandboxAndOneClosedOnPurposeHaveNoFault() throws Exception {
        AtomicInteger checks = new AtomicInteger();
        CompletableFuture<String> vm = new CompletableFuture<>();
        SandboxWatch w = SandboxWatch.start("sb", vm, d -> checks.incrementAndGet(), Duration.ofMillis(20),
                Duration.ofMillis(100), this::onFault);
        Thread.sleep(400);
        w.close();
        vm.complete("QEMU (pid 7) exited with code 0"); // the stop that close() announced
        Thread.sleep(200);
        assertTrue(checks.get() >= 5, "checked every interval: " + checks.get());
        assertTrue(faults.isEmpty(), faults::toString);
        assertTrue(w.cause().isEmpty());
    }
}
