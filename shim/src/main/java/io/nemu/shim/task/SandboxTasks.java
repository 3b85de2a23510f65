package io.nemu.shim.task;

import com.google.protobuf.Any;
import io.grpc.Status;
import io.nemu.proto.containerd.types.Mount;
import io.nemu.shim.agent.Stdio;
import io.nemu.shim.errdefs.TaskException;
import io.nemu.shim.oci.Bundle;
import io.nemu.shim.sandbox.Sandbox;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon's one sandbox and the tasks it holds. The sandbox's own task (its id is the sandbox id) boots
 * it through the factory and the others join it; deleting the sandbox's task or a shutdown destroys it,
 * and nothing joins afterwards. One lock keeps the tasks and the sandbox consistent.
 */
final class SandboxTasks {
    private static final Logger log = LoggerFactory.getLogger(SandboxTasks.class);

    private final String sandboxId;
    private final Sandbox.Factory factory;
    private final Map<String, Task> tasks = new ConcurrentHashMap<>();
    private final Object lifecycle = new Object();
    private volatile Sandbox sandbox;
    private volatile boolean sandboxGone;
    /** Why the sandbox died on its own, or null: calls that need it are refused naming this. */
    private volatile String deathCause;

    SandboxTasks(String sandboxId, Sandbox.Factory factory) {
        this.sandboxId = sandboxId;
        this.factory = factory;
    }

    /** Creates the container in the sandbox (booting it for the sandbox's own task) and holds its task. */
    Task create(String id, Bundle bundle, Stdio stdio, List<Mount> rootfs, Any options, Sandbox.Listener listener) {
        synchronized (lifecycle) {
            if (tasks.containsKey(id)) {
                throw new TaskException(Status.Code.ALREADY_EXISTS, "task " + id + " already exists");
            }
            if (deathCause != null) {
                throw dead();
            }
            if (sandboxGone) {
                throw TaskException.precondition("sandbox " + sandboxId + " is shut down");
            }
            Sandbox sb = sandbox;
            if (sb == null) {
                if (!id.equals(sandboxId)) {
                    throw TaskException.precondition("sandbox " + sandboxId + " has not been created; task "
                            + id + " cannot join it");
                }
                log.info("creating sandbox {}", sandboxId);
                sb = factory.create(sandboxId, bundle, options, listener);
                sandbox = sb;
            }
            try {
                sb.createContainer(id, bundle, rootfs, stdio);
            } catch (RuntimeException e) {
                if (id.equals(sandboxId)) {
                    closeSandbox();
                }
                throw e;
            }
            Task t = new Task(id, bundle.dir(), new TaskProcess(id, "", stdio, sb.pid()));
            tasks.put(id, t);
            return t;
        }
    }

    /**
     * Deletes a task once none of its execs runs: its container leaves the sandbox, and the sandbox's own
     * task takes the sandbox with it. {@code announce} runs under the lock, so that a task created again
     * with the same id is announced after.
     */
    ProcessState.Deleted delete(Task t, Consumer<ProcessState.Deleted> announce) {
        synchronized (lifecycle) {
            t.requireNoRunningExec();
            ProcessState.Deleted d = t.init.delete(() -> {
                tasks.remove(t.id);
                quietly(sb -> sb.removeContainer(t.id));
                if (t.id.equals(sandboxId)) {
                    closeSandbox();
                }
            });
            announce.accept(d);
            return d;
        }
    }

    /** Deletes a stopped (or never started) exec. */
    ProcessState.Deleted deleteExec(Task t, TaskProcess exec) {
        return t.deleteExec(exec, () -> quietly(sb -> sb.removeExec(t.id, exec.execId())));
    }

    /** Destroys the sandbox, unless tasks are held and {@code now} is false; true if it did. */
    boolean shutdown(boolean now) {
        synchronized (lifecycle) {
            if (!tasks.isEmpty() && !now) {
                log.info("shutdown refused: {} task(s) still held", tasks.size());
                return false;
            }
            closeSandbox();
            return true;
        }
    }

    /** Destroys the sandbox if it was created; later creates are refused. */
    void closeSandbox() {
        synchronized (lifecycle) {
            sandboxGone = true;
            Sandbox sb = sandbox;
            sandbox = null;
            if (sb != null) {
                try {
                    sb.close();
                } catch (RuntimeException e) {
                    log.warn("destroying sandbox {}: {}", sandboxId, e.toString());
                }
            }
        }
    }

    /**
     * The sandbox died on its own (and is torn down): from now on the calls that need it fail naming the
     * cause, while delete and shutdown still work. Returns every task held, for their exits.
     */
    Collection<Task> died(String cause) {
        synchronized (lifecycle) {
            deathCause = cause;
            return List.copyOf(tasks.values());
        }
    }

    private TaskException dead() {
        return TaskException.precondition("sandbox " + sandboxId + " died: " + deathCause);
    }

    /** The running sandbox, for a call that needs it. */
    Sandbox sandbox() {
        if (deathCause != null) {
            throw dead();
        }
        Sandbox sb = sandbox;
        if (sb == null) {
            throw TaskException.precondition("sandbox " + sandboxId + " is not running");
        }
        return sb;
    }

    /** The running sandbox, or null. */
    Sandbox sandboxOrNull() {
        return sandbox;
    }

    /** An action on the sandbox (if it runs) whose failure is only logged. */
    private void quietly(Consumer<Sandbox> action) {
        Sandbox sb = sandbox;
        if (sb != null) {
            try {
                action.accept(sb);
            } catch (RuntimeException e) {
                log.warn("sandbox {}: {}", sandboxId, e.toString());
            }
        }
    }

    Task task(String id) {
        Task t = tasks.get(id);
        if (t == null) {
            throw TaskException.notFound("task " + id);
        }
        return t;
    }

    /** The task, or null. */
    Task find(String id) {
        return tasks.get(id);
    }

    int count() {
        return tasks.size();
    }
}
