package io.nemu.shim.task;

import java.time.Instant;

/**
 * Lifecycle of one process (a task's init process or an exec): Created -> Running -> (Paused <->
 * Running) -> Stopped -> Deleted. A process can also stop before it ran (killed while created).
 */
public sealed interface ProcessState {
    record Created() implements ProcessState {
    }

    record Running() implements ProcessState {
    }

    record Paused() implements ProcessState {
    }

    record Stopped(int exitStatus, Instant exitedAt) implements ProcessState {
    }

    record Deleted(int exitStatus, Instant exitedAt) implements ProcessState {
    }

    /** containerd's task status for this state. */
    default io.nemu.proto.containerd.types.task.Status status() {
        if (this instanceof Created) {
            return io.nemu.proto.containerd.types.task.Status.CREATED;
        } else if (this instanceof Running) {
            return io.nemu.proto.containerd.types.task.Status.RUNNING;
        } else if (this instanceof Paused) {
            return io.nemu.proto.containerd.types.task.Status.PAUSED;
        }
        return io.nemu.proto.containerd.types.task.Status.STOPPED;
    }
}
