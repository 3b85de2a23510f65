package io.nemu.shim.task;

import io.grpc.Status;
import io.nemu.shim.agent.Stdio;
import io.nemu.shim.errdefs.TaskException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** One container of the sandbox: its bundle, its init process and its execs. */
final class Task {
    final String id;
    final Path bundle;
    final TaskProcess init;
    private final Map<String, TaskProcess> execs = new ConcurrentHashMap<>();

    Task(String id, Path bundle, TaskProcess init) {
        this.id = id;
        this.bundle = bundle;
        this.init = init;
    }

    /** The init process for an empty exec id, else that exec. */
    TaskProcess process(String execId) {
        if (execId == null || execId.isEmpty()) {
            return init;
        }
        TaskProcess p = execs.get(execId);
        if (p == null) {
            throw TaskException.notFound("exec " + execId + " in task " + id);
        }
        return p;
    }

    /** The init process, then every exec. */
    List<TaskProcess> processes() {
        List<TaskProcess> all = new ArrayList<>();
        all.add(init);
        all.addAll(execs.values());
        return all;
    }

    /** Adds an exec while the init process runs (under its lock, so ids cannot race); {@code add} tells the sandbox. */
    void addExec(String execId, Stdio stdio, Runnable add) {
        init.exec(() -> {
            if (execs.containsKey(execId)) {
                throw new TaskException(Status.Code.ALREADY_EXISTS, "exec " + execId + " already exists in task " + id);
            }
            add.run();
            execs.put(execId, new TaskProcess(id, execId, stdio, init.pid()));
        });
    }

    /** Deletes a stopped (or never started) exec; {@code forget} tells the sandbox. */
    ProcessState.Deleted deleteExec(TaskProcess exec, Runnable forget) {
        return exec.delete(() -> {
            execs.remove(exec.execId());
            forget.run();
        });
    }

    /** The task can only go once none of its execs runs. */
    void requireNoRunningExec() {
        for (TaskProcess e : execs.values()) {
            if (e.isRunning()) {
                throw TaskException.precondition("cannot delete task " + id + ": exec " + e.execId()
                        + " is still running");
            }
        }
    }
}
