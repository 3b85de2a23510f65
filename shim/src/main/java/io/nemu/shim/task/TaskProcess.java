package io.nemu.shim.task;

import java.time.Instant;
import java.util.concurrent.CompletableFuture;

/**
 * One process of a task (init when {@code execId} is empty) and its {@link ProcessState}. Every
 * transition is checked here; an illegal one is a FAILED_PRECONDITION naming the state.
 */
public final class TaskProcess {
    private final String containerId;
    private final String execId;
    private final Stdio stdio;
    private volatile long pid;
    private ProcessState state = new ProcessState.Created();
    private final CompletableFuture<ProcessState.Stopped> exited = new CompletableFuture<>();

    public TaskProcess(String containerId, String execId, Stdio stdio, long pid) {
        this.containerId = containerId;
        this.execId = execId == null ? "" : execId;
        this.stdio = stdio;
        this.pid = pid;
    }

    public String containerId() {
        return containerId;
    }

    public String execId() {
        return execId;
    }

    public boolean isInit() {
        return execId.isEmpty();
    }

    public Stdio stdio() {
        return stdio;
    }

    public long pid() {
        return pid;
    }

    public void pid(long pid) {
        this.pid = pid;
    }

    public synchronized ProcessState state() {
        return state;
    }

    /** Completes when the process has stopped. */
    public CompletableFuture<ProcessState.Stopped> exited() {
        return exited;
    }

    private String name() {
        return isInit() ? "task " + containerId : "exec " + execId + " of task " + containerId;
    }

    private TaskException illegal(String action) {
        return TaskException.precondition("cannot " + action + " " + name() + ": it is "
                + state.getClass().getSimpleName().toLowerCase());
    }

    public synchronized void checkCanStart() {
        if (!(state instanceof ProcessState.Created)) {
            throw illegal("start");
        }
    }

    public synchronized void started() {
        checkCanStart();
        state = new ProcessState.Running();
    }

    public synchronized void checkCanPause() {
        if (!(state instanceof ProcessState.Running)) {
            throw illegal("pause");
        }
    }

    public synchronized void paused() {
        checkCanPause();
        state = new ProcessState.Paused();
    }

    public synchronized void checkCanResume() {
        if (!(state instanceof ProcessState.Paused)) {
            throw illegal("resume");
        }
    }

    public synchronized void resumed() {
        checkCanResume();
        state = new ProcessState.Running();
    }

    /**
     * Records the exit and returns the new state, or null if it had already stopped (the first exit
     * wins). Waiters are released only by {@link #releaseWaiters}, so that the caller can publish
     * TaskExit first: containerd must not see a Wait answer (and send Delete) before the exit event.
     */
    public synchronized ProcessState.Stopped stopped(int exitStatus, Instant at) {
        if (state instanceof ProcessState.Stopped || state instanceof ProcessState.Deleted) {
            return null;
        }
        ProcessState.Stopped s = new ProcessState.Stopped(exitStatus, at);
        state = s;
        return s;
    }

    public void releaseWaiters(ProcessState.Stopped s) {
        exited.complete(s);
    }

    /** Kill is refused only once the process is deleted (containerd kills stopped ones harmlessly). */
    public synchronized void checkCanSignal() {
        if (state instanceof ProcessState.Deleted) {
            throw illegal("signal");
        }
    }

    public synchronized boolean isRunning() {
        return state instanceof ProcessState.Running || state instanceof ProcessState.Paused;
    }

    /** Created or stopped processes may be deleted; running ones must be killed first. */
    public synchronized ProcessState.Deleted deleted() {
        if (state instanceof ProcessState.Stopped s) {
            ProcessState.Deleted d = new ProcessState.Deleted(s.exitStatus(), s.exitedAt());
            state = d;
            return d;
        }
        if (state instanceof ProcessState.Created) {
            Instant now = Instant.now();
            ProcessState.Deleted d = new ProcessState.Deleted(0, now);
            state = d;
            exited.complete(new ProcessState.Stopped(0, now));
            return d;
        }
        throw illegal("delete");
    }
}
