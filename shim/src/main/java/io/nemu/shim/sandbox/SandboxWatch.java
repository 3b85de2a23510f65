package io.nemu.shim.sandbox;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one place that watches a booted sandbox's health: the VM's faults (QEMU exited, a guest panic
 * included; virtiofsd exited under a running QEMU) and the agent's answers to a periodic health check.
 * The first fault wins: it is recorded and handed once to {@code onFault} (on a thread of its own, which
 * may block to tear down); later faults, and any after {@link #close}, are ignored.
 */
public final class SandboxWatch implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SandboxWatch.class);
    /** The shortest deadline a health check gets, so that a check is never cut before it could answer. */
    private static final Duration MIN_CHECK = Duration.ofSeconds(1);

    /** Asks the agent whether it serves; throws if it does not answer within {@code deadline}. */
    public interface Health {
        void check(Duration deadline) throws Exception;
    }

    private final String sandboxId;
    private final Health health;
    private final Duration interval;
    private final Duration timeout;
    private final Consumer<String> onFault;
    private final AtomicReference<String> cause = new AtomicReference<>();
    private volatile boolean closed;
    private final Thread checker;
    private final AtomicReference<String> asyncFault = new AtomicReference<>();
    private final Thread faultHandler;

    private SandboxWatch(String sandboxId, Health health, Duration interval, Duration timeout,
                         Consumer<String> onFault) {
        this.sandboxId = sandboxId;
        this.health = health;
        this.interval = interval;
        this.timeout = timeout;
        this.onFault = onFault;
        this.checker = new Thread(this::checkHealth, "health-" + sandboxId);
        checker.setDaemon(true);
        // Made here, not on the reaper's thread: a thread inherits its maker's pod (the shared daemon routes each
        // log line to its pod's log by the thread), and the reaper works for every pod.
        this.faultHandler = new Thread(() -> fault(asyncFault.get()), "fault-" + sandboxId);
        faultHandler.setDaemon(true);
    }

    /**
     * Starts watching.
     *
     * @param vmFault  completes with what ended a VM process unasked ({@code Vm.fault()})
     * @param interval time between two health checks
     * @param timeout  how long the agent may go without answering one before the sandbox is declared dead
     */
    public static SandboxWatch start(String sandboxId, CompletableFuture<String> vmFault, Health health,
                                     Duration interval, Duration timeout, Consumer<String> onFault) {
        SandboxWatch w = new SandboxWatch(sandboxId, health, interval, timeout, onFault);
        vmFault.thenAccept(w::faultAsync);
        w.checker.start();
        log.info("watching sandbox {}: VM processes, agent health every {} ms (dead after {} ms without an answer)",
                sandboxId, interval.toMillis(), timeout.toMillis());
        return w;
    }

    /** The fault that ended the sandbox, if one did. */
    public Optional<String> cause() {
        return Optional.ofNullable(cause.get());
    }

    private void checkHealth() {
        long lastAnswer = System.nanoTime();
        while (!closed) {
            try {
                Thread.sleep(interval.toMillis());
            } catch (InterruptedException e) {
                return;
            }
            long left = timeout.toNanos() - (System.nanoTime() - lastAnswer);
            try {
                health.check(Duration.ofNanos(Math.max(MIN_CHECK.toNanos(), left)));
                lastAnswer = System.nanoTime();
            } catch (Exception e) {
                if (closed) {
                    return;
                }
                long silentMs = (System.nanoTime() - lastAnswer) / 1_000_000;
                if (silentMs >= timeout.toMillis()) {
                    fault("the agent answered no health check for " + silentMs + " ms (agent.kata.health_check_timeout"
                            + " = " + timeout.toSeconds() + " s); last: " + e.getMessage());
                    return;
                }
                log.warn("sandbox {}: agent health check failed ({} ms without an answer): {}", sandboxId, silentMs,
                        e.getMessage());
            }
        }
    }

    /** A fault seen on another component's thread (the process reaper's): handled on a thread of our own. */
    private void faultAsync(String why) {
        if (asyncFault.compareAndSet(null, why)) {
            faultHandler.start();
        }
    }

    private void fault(String why) {
        if (closed || !cause.compareAndSet(null, why)) {
            return;
        }
        closed = true;
        if (Thread.currentThread() != checker) {
            checker.interrupt(); // the handler runs on the checker itself when the agent was the fault
        }
        onFault.accept(why);
    }

    /** Stops watching (the sandbox is being ended on purpose): faults from now on are expected. */
    @Override
    public void close() {
        closed = true;
        checker.interrupt();
    }
}
