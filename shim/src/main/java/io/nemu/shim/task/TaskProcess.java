package io.nemu.shim.task;

import io.nemu.shim.agent.Stdio;
import io.nemu.shim.errdefs.TaskException;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * One process of a task (init when {@code execId} is empty) and its {@link ProcessState}. Each action is
 * one method that checks the state, does the work it is given and moves to the next state under this
 * process's lock (as containerd's {@code pkg/process} state machine), so two calls cannot both pass a
 * check. An illegal action is a FAILED_PRECONDITION naming the state.
 */
public final class TaskProcess {
    private final String containerId;
    private final String execId;
    private final Stdio stdio;
    private final long pid;
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

    public synchronized ProcessState state() {
        return state;
    }

    public synchronized boolean isRunning() {
        return state instanceof ProcessState.Running || state instanceof ProcessState.Paused;
    }

    /** Completes when the process has stopped and its exit was published. */
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

    /** Created -> Running: {@code launch} starts it and returns the future of its exit status. */
    public synchronized CompletableFuture<Integer> start(Supplier<CompletableFuture<Integer>> launch) {
        if (!(state instanceof ProcessState.Created)) {
            throw illegal("start");
        }
        CompletableFuture<Integer> exit = launch.get();
        state = new ProcessState.Running();
        return exit;
    }

    /** Running -> Paused. */
    public synchronized void pause(Runnable freeze) {
        if (!(state instanceof ProcessState.Running)) {
            throw illegal("pause");
        }
        freeze.run();
        state = new ProcessState.Paused();
    }

    /** Paused -> Running. */
    public synchronized void resume(Runnable thaw) {
        if (!(state instanceof ProcessState.Paused)) {
            throw illegal("resume");
        }
        thaw.run();
        state = new ProcessState.Running();
    }

    /** Adds an exec to this (init) process's container while it runs or is paused. */
    public synchronized void exec(Runnable add) {
        if (!isRunning()) {
            throw TaskException.precondition("cannot exec in task " + containerId + ": it is not running");
        }
        add.run();
    }

    /**
     * Signals the process; refused only once it is deleted (containerd kills stopped ones harmlessly, and
     * nothing is sent then). An init process that never started has nothing to signal in the guest: it
     * just stops, and the new state is returned for its exit to be published (else null).
     */
    public synchronized ProcessState.Stopped kill(int signal, boolean all, Runnable deliver) {
        if (state instanceof ProcessState.Deleted) {
            throw illegal("signal");
        }
        if (state instanceof ProcessState.Created && isInit() && !all) {
            return stopped(128 + signal, Instant.now());
        }
        if (!(state instanceof ProcessState.Stopped)) {
            deliver.run();
        }
        return null;
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

    /**
     * Stopped (or never started) -> Deleted, after {@code remove} has forgotten it; running processes must
     * be killed first. A created one is deleted with status 0, its waiters released.
     */
    public synchronized ProcessState.Deleted delete(Runnable remove) {
        ProcessState.Deleted d;
        if (state instanceof ProcessState.Stopped s) {
            d = new ProcessState.Deleted(s.exitStatus(), s.exitedAt());
        } else if (state instanceof ProcessState.Created) {
            d = new ProcessState.Deleted(0, Instant.now());
        } else {
            throw illegal("delete");
        }
        remove.run();
        boolean neverRan = state instanceof ProcessState.Created;
        state = d;
        if (neverRan) {
            exited.complete(new ProcessState.Stopped(0, d.exitedAt()));
        }
        return d;
    }
}
