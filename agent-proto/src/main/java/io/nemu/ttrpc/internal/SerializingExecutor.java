package io.nemu.ttrpc.internal;

import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs tasks one at a time, in submission order, on a delegate executor: gRPC listeners of one call
 * must never be entered concurrently. Cheap to create (one per call), no threads of its own.
 */
public final class SerializingExecutor implements Executor, Runnable {
    private static final Logger LOG = LoggerFactory.getLogger(SerializingExecutor.class);

    private final Executor delegate;
    private final Queue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean running = new AtomicBoolean();

    public SerializingExecutor(Executor delegate) {
        this.delegate = delegate;
    }

    @Override
    public void execute(Runnable task) {
        tasks.add(task);
        schedule();
    }

    private void schedule() {
        if (running.compareAndSet(false, true)) {
            try {
                delegate.execute(this);
            } catch (RuntimeException e) {
                // Delegate refused (shut down): drop the queue rather than leave it stuck half-run.
                tasks.clear();
                running.set(false);
                throw e;
            }
        }
    }

    @Override
    public void run() {
        try {
            Runnable task;
            while ((task = tasks.poll()) != null) {
                try {
                    task.run();
                } catch (RuntimeException | Error e) {
                    LOG.error("ttrpc call callback failed", e);
                }
            }
        } finally {
            running.set(false);
        }
        if (!tasks.isEmpty()) {
            schedule();
        }
    }
}
