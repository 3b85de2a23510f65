package io.nemu.shim.agent;

import java.time.Duration;

/**
 * The agent dial's clock: time since the dial began, less the time the VM's vCPUs waited for a host CPU
 * meanwhile ({@link AgentClient.Dialer#starved}), against {@code agent.kata.dial_timeout}.
 */
final class DialClock {
    static final int MAX_STRETCH = 10;
    private final AgentClient.Dialer dialer;
    private final long timeoutNanos;
    private final long start;
    private final long starvedAtStart;
    private long lastWall;
    private long lastStarved;

    DialClock(AgentClient.Dialer dialer, Duration timeout) {
        this.dialer = dialer;
        this.timeoutNanos = timeout.toNanos();
        this.start = System.nanoTime();
        this.starvedAtStart = dialer.starved().toNanos();
    }

    /** Nanoseconds of the timeout not yet used (negative once it has passed). */
    synchronized long leftNanos() {
        lastWall = System.nanoTime() - start;
        // Never more waiting than wall time: the figures come from two clocks.
        lastStarved = Math.min(lastWall, Math.max(0, dialer.starved().toNanos() - starvedAtStart));
        return timeoutNanos - (lastWall - lastStarved);
    }

    /**
     * {@code callTimeout} stretched by how much slower than wall time the VM ran during the dial (wall time over the
     * time it could run), at most {@value #MAX_STRETCH} times: the agent calls that follow (CreateSandbox, the pause
     * container, the network) run on the same loaded host, and their deadlines are wall time.
     */
    synchronized Duration scaled(Duration callTimeout) {
        long couldRun = Math.max(1, lastWall - lastStarved);
        double stretch = Math.min(MAX_STRETCH, Math.max(1.0, (double) lastWall / couldRun));
        return Duration.ofMillis((long) (callTimeout.toMillis() * stretch));
    }

    @Override
    public synchronized String toString() {
        return String.format("%d ms wall, of which the VM waited %d ms for a host CPU", lastWall / 1_000_000,
                lastStarved / 1_000_000);
    }
}
