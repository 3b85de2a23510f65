package io.nemu.shim.task;

import com.google.protobuf.Empty;
import com.google.protobuf.Message;
import com.google.protobuf.Timestamp;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.nemu.proto.containerd.events.TaskCreate;
import io.nemu.proto.containerd.events.TaskDelete;
import io.nemu.proto.containerd.events.TaskExecAdded;
import io.nemu.proto.containerd.events.TaskExecStarted;
import io.nemu.proto.containerd.events.TaskExit;
import io.nemu.proto.containerd.events.TaskIO;
import io.nemu.proto.containerd.events.TaskPaused;
import io.nemu.proto.containerd.events.TaskResumed;
import io.nemu.proto.containerd.events.TaskStart;
import io.nemu.proto.containerd.task.v2.CheckpointTaskRequest;
import io.nemu.proto.containerd.task.v2.CloseIORequest;
import io.nemu.proto.containerd.task.v2.ConnectRequest;
import io.nemu.proto.containerd.task.v2.ConnectResponse;
import io.nemu.proto.containerd.task.v2.CreateTaskRequest;
import io.nemu.proto.containerd.task.v2.CreateTaskResponse;
import io.nemu.proto.containerd.task.v2.DeleteRequest;
import io.nemu.proto.containerd.task.v2.DeleteResponse;
import io.nemu.proto.containerd.task.v2.ExecProcessRequest;
import io.nemu.proto.containerd.task.v2.KillRequest;
import io.nemu.proto.containerd.task.v2.PauseRequest;
import io.nemu.proto.containerd.task.v2.PidsRequest;
import io.nemu.proto.containerd.task.v2.PidsResponse;
import io.nemu.proto.containerd.task.v2.ResizePtyRequest;
import io.nemu.proto.containerd.task.v2.ResumeRequest;
import io.nemu.proto.containerd.task.v2.ShutdownRequest;
import io.nemu.proto.containerd.task.v2.StartRequest;
import io.nemu.proto.containerd.task.v2.StartResponse;
import io.nemu.proto.containerd.task.v2.StateRequest;
import io.nemu.proto.containerd.task.v2.StateResponse;
import io.nemu.proto.containerd.task.v2.StatsRequest;
import io.nemu.proto.containerd.task.v2.StatsResponse;
import io.nemu.proto.containerd.task.v2.TaskGrpc;
import io.nemu.proto.containerd.task.v2.UpdateTaskRequest;
import io.nemu.proto.containerd.task.v2.WaitRequest;
import io.nemu.proto.containerd.task.v2.WaitResponse;
import io.nemu.proto.containerd.types.task.ProcessInfo;
import io.nemu.shim.oci.Bundle;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code containerd.task.v2.Task}: checks each call against the process state machine, hands the work to
 * the {@link Sandbox} and publishes the events containerd expects, in order (create, start, exit,
 * delete; exec-added, exec-started, exit). The first task created is the sandbox's own.
 */
public final class TaskService extends TaskGrpc.TaskImplBase {
    private static final Logger log = LoggerFactory.getLogger(TaskService.class);
    /** Version of the task API this shim speaks, as Connect reports it. */
    public static final int API_VERSION = 2;

    private final String sandboxId;
    private final Sandbox.Factory factory;
    private final EventSink events;
    private final Runnable onShutdown;
    private final Map<String, Task> tasks = new ConcurrentHashMap<>();
    private final Object lifecycle = new Object();
    private volatile Sandbox sandbox;
    private volatile boolean sandboxGone;

    /** One container: its init process and execs. */
    static final class Task {
        final String id;
        final Path bundle;
        final TaskProcess init;
        final Map<String, TaskProcess> execs = new ConcurrentHashMap<>();

        Task(String id, Path bundle, TaskProcess init) {
            this.id = id;
            this.bundle = bundle;
            this.init = init;
        }
    }

    public TaskService(String sandboxId, Sandbox.Factory factory, EventSink events, Runnable onShutdown) {
        this.sandboxId = sandboxId;
        this.factory = factory;
        this.events = events;
        this.onShutdown = onShutdown;
    }

    public String sandboxId() {
        return sandboxId;
    }

    /** The tasks still held (not deleted). */
    public int taskCount() {
        return tasks.size();
    }

    // ---- calls

    @Override
    public void create(CreateTaskRequest req, StreamObserver<CreateTaskResponse> out) {
        call(out, () -> {
            String id = req.getId();
            requireId(id);
            if (!req.getCheckpoint().isEmpty()) {
                throw new TaskException(Status.Code.UNIMPLEMENTED, "restoring from a checkpoint is not supported");
            }
            Bundle bundle;
            try {
                bundle = Bundle.read(Path.of(req.getBundle()));
            } catch (IOException e) {
                throw new TaskException(Status.Code.INVALID_ARGUMENT, e.getMessage(), e);
            }
            Stdio stdio = new Stdio(req.getStdin(), req.getStdout(), req.getStderr(), req.getTerminal());
            Sandbox sb;
            synchronized (lifecycle) {
                if (tasks.containsKey(id)) {
                    throw new TaskException(Status.Code.ALREADY_EXISTS, "task " + id + " already exists");
                }
                if (sandboxGone) {
                    throw TaskException.precondition("sandbox " + sandboxId + " is shut down");
                }
                sb = sandbox;
                if (sb == null) {
                    if (!id.equals(sandboxId)) {
                        throw TaskException.precondition("sandbox " + sandboxId + " has not been created; task "
                                + id + " cannot join it");
                    }
                    log.info("creating sandbox {}", sandboxId);
                    sb = factory.create(sandboxId, bundle, req.hasOptions() ? req.getOptions() : null);
                    sandbox = sb;
                }
                try {
                    sb.createContainer(id, bundle, req.getRootfsList(), stdio);
                } catch (RuntimeException e) {
                    if (id.equals(sandboxId)) {
                        closeSandbox();
                    }
                    throw e;
                }
                TaskProcess init = new TaskProcess(id, "", stdio, sb.pid());
                tasks.put(id, new Task(id, bundle.dir(), init));
            }
            publish("/tasks/create", TaskCreate.newBuilder().setContainerId(id).setBundle(req.getBundle())
                    .addAllRootfs(req.getRootfsList())
                    .setIo(TaskIO.newBuilder().setStdin(stdio.stdin()).setStdout(stdio.stdout())
                            .setStderr(stdio.stderr()).setTerminal(stdio.terminal()))
                    .setPid((int) sb.pid()).build());
            return CreateTaskResponse.newBuilder().setPid((int) sb.pid()).build();
        });
    }

    @Override
    public void start(StartRequest req, StreamObserver<StartResponse> out) {
        call(out, () -> {
            TaskProcess p = process(req.getId(), req.getExecId());
            p.checkCanStart();
            CompletableFuture<Integer> exit = sandbox().start(p.containerId(), p.execId());
            p.started();
            if (p.isInit()) {
                publish("/tasks/start", TaskStart.newBuilder().setContainerId(p.containerId()).setPid((int) p.pid()).build());
            } else {
                publish("/tasks/exec-started", TaskExecStarted.newBuilder().setContainerId(p.containerId())
                        .setExecId(p.execId()).setPid((int) p.pid()).build());
            }
            // Attached after the start event is queued, so exit always follows it.
            exit.whenComplete((code, err) -> exited(p, err != null ? 255 : code, err));
            return StartResponse.newBuilder().setPid((int) p.pid()).build();
        });
    }

    private void exited(TaskProcess p, int code, Throwable err) {
        if (err != null) {
            log.warn("lost {} {} of task {}: {}", p.isInit() ? "init" : "exec", p.execId(), p.containerId(), err.toString());
        }
        Instant at = Instant.now();
        ProcessState.Stopped s = p.stopped(code, at);
        if (s != null) {
            log.info("task {}{} exited with {}", p.containerId(), p.isInit() ? "" : " exec " + p.execId(), code);
            publish("/tasks/exit", TaskExit.newBuilder().setContainerId(p.containerId())
                    .setId(p.isInit() ? p.containerId() : p.execId()).setPid((int) p.pid()).setExitStatus(code)
                    .setExitedAt(ts(at)).build());
            p.releaseWaiters(s);
        }
    }

    @Override
    public void delete(DeleteRequest req, StreamObserver<DeleteResponse> out) {
        call(out, () -> {
            Task t = task(req.getId());
            if (!req.getExecId().isEmpty()) {
                TaskProcess p = process(req.getId(), req.getExecId());
                ProcessState.Deleted d = p.deleted();
                t.execs.remove(p.execId());
                sandboxQuietly(sb -> sb.removeExec(t.id, p.execId()));
                return deleteResponse(p, d);
            }
            synchronized (lifecycle) {
                for (TaskProcess e : t.execs.values()) {
                    if (e.isRunning()) {
                        throw TaskException.precondition("cannot delete task " + t.id + ": exec " + e.execId()
                                + " is still running");
                    }
                }
                ProcessState.Deleted d = t.init.deleted();
                tasks.remove(t.id);
                sandboxQuietly(sb -> sb.removeContainer(t.id));
                if (t.id.equals(sandboxId)) {
                    closeSandbox();
                }
                publish("/tasks/delete", TaskDelete.newBuilder().setContainerId(t.id).setPid((int) t.init.pid())
                        .setExitStatus(d.exitStatus()).setExitedAt(ts(d.exitedAt())).build());
                return deleteResponse(t.init, d);
            }
        });
    }

    private static DeleteResponse deleteResponse(TaskProcess p, ProcessState.Deleted d) {
        return DeleteResponse.newBuilder().setPid((int) p.pid()).setExitStatus(d.exitStatus())
                .setExitedAt(ts(d.exitedAt())).build();
    }

    @Override
    public void state(StateRequest req, StreamObserver<StateResponse> out) {
        call(out, () -> {
            Task t = task(req.getId());
            TaskProcess p = process(req.getId(), req.getExecId());
            ProcessState s = p.state();
            StateResponse.Builder b = StateResponse.newBuilder().setId(p.isInit() ? t.id : p.execId())
                    .setBundle(t.bundle.toString()).setPid((int) p.pid()).setStatus(s.status())
                    .setStdin(p.stdio().stdin()).setStdout(p.stdio().stdout()).setStderr(p.stdio().stderr())
                    .setTerminal(p.stdio().terminal()).setExecId(p.execId());
            if (s instanceof ProcessState.Stopped st) {
                b.setExitStatus(st.exitStatus()).setExitedAt(ts(st.exitedAt()));
            } else if (s instanceof ProcessState.Deleted dl) {
                b.setExitStatus(dl.exitStatus()).setExitedAt(ts(dl.exitedAt()));
            }
            return b.build();
        });
    }

    @Override
    public void pids(PidsRequest req, StreamObserver<PidsResponse> out) {
        call(out, () -> {
            Task t = task(req.getId());
            PidsResponse.Builder b = PidsResponse.newBuilder();
            for (int pid : sandbox().pids(t.id)) {
                b.addProcesses(ProcessInfo.newBuilder().setPid(pid));
            }
            return b.build();
        });
    }

    @Override
    public void pause(PauseRequest req, StreamObserver<Empty> out) {
        call(out, () -> {
            Task t = task(req.getId());
            t.init.checkCanPause();
            sandbox().pause(t.id);
            t.init.paused();
            publish("/tasks/paused", TaskPaused.newBuilder().setContainerId(t.id).build());
            return Empty.getDefaultInstance();
        });
    }

    @Override
    public void resume(ResumeRequest req, StreamObserver<Empty> out) {
        call(out, () -> {
            Task t = task(req.getId());
            t.init.checkCanResume();
            sandbox().resume(t.id);
            t.init.resumed();
            publish("/tasks/resumed", TaskResumed.newBuilder().setContainerId(t.id).build());
            return Empty.getDefaultInstance();
        });
    }

    @Override
    public void checkpoint(CheckpointTaskRequest req, StreamObserver<Empty> out) {
        call(out, () -> {
            throw new TaskException(Status.Code.UNIMPLEMENTED, "checkpoint is not supported by the nemu runtime");
        });
    }

    @Override
    public void kill(KillRequest req, StreamObserver<Empty> out) {
        call(out, () -> {
            TaskProcess p = process(req.getId(), req.getExecId());
            p.checkCanSignal();
            if (p.state() instanceof ProcessState.Created && p.isInit() && !req.getAll()) {
                // Never started: there is nothing to signal in the guest; it just stops.
                exited(p, 128 + (int) req.getSignal(), null);
                return Empty.getDefaultInstance();
            }
            if (p.state() instanceof ProcessState.Stopped) {
                return Empty.getDefaultInstance();
            }
            sandbox().signal(p.containerId(), p.execId(), req.getSignal(), req.getAll());
            return Empty.getDefaultInstance();
        });
    }

    @Override
    public void exec(ExecProcessRequest req, StreamObserver<Empty> out) {
        call(out, () -> {
            Task t = task(req.getId());
            String execId = req.getExecId();
            if (execId.isEmpty()) {
                throw new TaskException(Status.Code.INVALID_ARGUMENT, "exec id is empty");
            }
            if (!t.init.isRunning()) {
                throw TaskException.precondition("cannot exec in task " + t.id + ": it is not running");
            }
            Stdio stdio = new Stdio(req.getStdin(), req.getStdout(), req.getStderr(), req.getTerminal());
            synchronized (t) {
                if (t.execs.containsKey(execId)) {
                    throw new TaskException(Status.Code.ALREADY_EXISTS, "exec " + execId + " already exists in task " + t.id);
                }
                sandbox().exec(t.id, execId, req.getSpec().getValue().toByteArray(), stdio);
                t.execs.put(execId, new TaskProcess(t.id, execId, stdio, t.init.pid()));
            }
            publish("/tasks/exec-added", TaskExecAdded.newBuilder().setContainerId(t.id).setExecId(execId).build());
            return Empty.getDefaultInstance();
        });
    }

    @Override
    public void resizePty(ResizePtyRequest req, StreamObserver<Empty> out) {
        call(out, () -> {
            TaskProcess p = process(req.getId(), req.getExecId());
            if (!p.stdio().terminal()) {
                throw TaskException.precondition("process has no terminal to resize");
            }
            sandbox().resizePty(p.containerId(), p.execId(), req.getWidth(), req.getHeight());
            return Empty.getDefaultInstance();
        });
    }

    @Override
    public void closeIO(CloseIORequest req, StreamObserver<Empty> out) {
        call(out, () -> {
            TaskProcess p = process(req.getId(), req.getExecId());
            if (req.getStdin()) {
                sandbox().closeStdin(p.containerId(), p.execId());
            }
            return Empty.getDefaultInstance();
        });
    }

    @Override
    public void update(UpdateTaskRequest req, StreamObserver<Empty> out) {
        call(out, () -> {
            Task t = task(req.getId());
            sandbox().update(t.id, req.getResources());
            return Empty.getDefaultInstance();
        });
    }

    @Override
    public void wait(WaitRequest req, StreamObserver<WaitResponse> out) {
        call(out, () -> {
            TaskProcess p = process(req.getId(), req.getExecId());
            ProcessState.Stopped s;
            try {
                s = p.exited().get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new TaskException(Status.Code.CANCELLED, "interrupted");
            } catch (ExecutionException e) {
                throw new TaskException(Status.Code.INTERNAL, String.valueOf(e.getCause()));
            }
            return WaitResponse.newBuilder().setExitStatus(s.exitStatus()).setExitedAt(ts(s.exitedAt())).build();
        });
    }

    @Override
    public void stats(StatsRequest req, StreamObserver<StatsResponse> out) {
        call(out, () -> {
            Task t = task(req.getId());
            return StatsResponse.newBuilder().setStats(sandbox().stats(t.id)).build();
        });
    }

    @Override
    public void connect(ConnectRequest req, StreamObserver<ConnectResponse> out) {
        call(out, () -> {
            Sandbox sb = sandbox;
            ConnectResponse.Builder b = ConnectResponse.newBuilder().setShimPid((int) ProcessHandle.current().pid())
                    .setVersion(Integer.toString(API_VERSION));
            Task t = tasks.get(req.getId());
            if (t != null) {
                b.setTaskPid((int) t.init.pid());
            } else if (sb != null) {
                b.setTaskPid((int) sb.pid());
            }
            return b.build();
        });
    }

    @Override
    public void shutdown(ShutdownRequest req, StreamObserver<Empty> out) {
        call(out, () -> {
            synchronized (lifecycle) {
                if (!tasks.isEmpty() && !req.getNow()) {
                    log.info("shutdown refused: {} task(s) still held", tasks.size());
                    return Empty.getDefaultInstance();
                }
                closeSandbox();
            }
            log.info("shutting down");
            onShutdown.run();
            return Empty.getDefaultInstance();
        });
    }

    // ---- helpers

    /** Destroys the sandbox if it was created; later creates are refused. */
    public void closeSandbox() {
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

    private Sandbox sandbox() {
        Sandbox sb = sandbox;
        if (sb == null) {
            throw TaskException.precondition("sandbox " + sandboxId + " is not running");
        }
        return sb;
    }

    private void sandboxQuietly(java.util.function.Consumer<Sandbox> action) {
        Sandbox sb = sandbox;
        if (sb != null) {
            try {
                action.accept(sb);
            } catch (RuntimeException e) {
                log.warn("sandbox {}: {}", sandboxId, e.toString());
            }
        }
    }

    private Task task(String id) {
        Task t = tasks.get(id);
        if (t == null) {
            throw TaskException.notFound("task " + id);
        }
        return t;
    }

    private TaskProcess process(String id, String execId) {
        Task t = task(id);
        if (execId == null || execId.isEmpty()) {
            return t.init;
        }
        TaskProcess p = t.execs.get(execId);
        if (p == null) {
            throw TaskException.notFound("exec " + execId + " in task " + id);
        }
        return p;
    }

    private static void requireId(String id) {
        if (id == null || id.isEmpty() || id.contains("/")) {
            throw new TaskException(Status.Code.INVALID_ARGUMENT, "invalid task id '" + id + "'");
        }
    }

    private void publish(String topic, Message event) {
        try {
            events.publish(topic, event);
        } catch (RuntimeException e) {
            log.warn("event {} not published: {}", topic, e.toString());
        }
    }

    static Timestamp ts(Instant i) {
        return Timestamp.newBuilder().setSeconds(i.getEpochSecond()).setNanos(i.getNano()).build();
    }

    interface Call<T> {
        T run();
    }

    private static <T> void call(StreamObserver<T> out, Call<T> body) {
        T result;
        try {
            result = body.run();
        } catch (TaskException e) {
            out.onError(e.toStatus());
            return;
        } catch (io.grpc.StatusRuntimeException e) {
            out.onError(e);
            return;
        } catch (RuntimeException e) {
            log.error("task call failed", e);
            out.onError(Status.INTERNAL.withDescription(String.valueOf(e.getMessage())).withCause(e).asRuntimeException());
            return;
        }
        out.onNext(result);
        out.onCompleted();
    }

    /** For tests: ids of the tasks held. */
    List<String> taskIds() {
        return new ArrayList<>(tasks.keySet());
    }
}
