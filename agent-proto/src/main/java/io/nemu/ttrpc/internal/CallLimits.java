package io.nemu.ttrpc.internal;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * How many calls a server runs at once, per connection and in all. A call is in flight from its request until
 * its handler is done with it (the last callback returned, or the call was closed or cancelled), so the calls
 * in flight bound the handler threads in use and the requests held. A request over either limit is refused
 * on the event loop with RESOURCE_EXHAUSTED, before it costs a thread or a queue entry.
 */
public final class CallLimits {
    private final int perConnection;
    private final int total;
    private final AtomicInteger inFlight = new AtomicInteger();

    public CallLimits(int perConnection, int total) {
        if (perConnection < 1 || total < 1) {
            throw new IllegalArgumentException("maxCallsPerConnection and maxCalls must be at least 1, got "
                    + perConnection + " and " + total);
        }
        this.perConnection = perConnection;
        this.total = total;
    }

    /** Calls in flight on all connections of the server. */
    public int inFlight() {
        return inFlight.get();
    }

    /**
     * Counts a new call on a connection that has {@code connection} calls in flight; null when it may run,
     * else why it may not (nothing is counted then).
     */
    String tryAcquire(AtomicInteger connection) {
        if (connection.get() >= perConnection) {
            return "this connection already has " + perConnection + " calls in flight, the most it may have";
        }
        while (true) {
            int n = inFlight.get();
            if (n >= total) {
                return "the server already has " + total + " calls in flight, the most it takes";
            }
            if (inFlight.compareAndSet(n, n + 1)) {
                connection.incrementAndGet();
                return null;
            }
        }
    }

    void release(AtomicInteger connection) {
        connection.decrementAndGet();
        inFlight.decrementAndGet();
    }
}
