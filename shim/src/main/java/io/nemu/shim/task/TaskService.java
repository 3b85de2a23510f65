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
import io.nemu.proto.containerd.events.TaskOOM;
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
import io.nemu.proto.shim.HostVolumeStatsResponse;
import io.nemu.shim.agent.Stdio;
import io.nemu.shim.errdefs.TaskException;
import io.nemu.shim.events.EventSink;
import io.nemu.shim.oci.Bundle;
import io.nemu.shim.sandbox.GuestVolumes;
import io.nemu.shim.sandbox.Sandbox;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code containerd.task.v2.Task}: translates each call into an action of the process it names
 * ({@link TaskProcess} checks, acts on the {@link Sandbox} and moves its state under one lock) and
 * publishes the events containerd expects, in order (create, start, exit, delete; exec-added,
 * exec-started, exit; oom). The first task created is the sandbox's own.
 */
public final class TaskService extends TaskGrpc.TaskImplBase {
    private static final Logger log = LoggerFactory.getLogger(TaskService.class);
    /** Version of the task API this shim speaks, as Connect reports it. */
    public static final int API_VERSION = 2;

    /** Exit status of a process lost with its sandbox (its VM died), as Kata and runc's shim report it. */
    static final int LOST = 255;

    private final String sandboxId;
    private final SandboxTasks tasks;
    private final EventSink events;
    private final Runnable onShutdown;
    /** What the sandbox reports between calls: OOM kills, its own death. */
    private final Sandbox.Listener listener = new Sandbox.Listener() {
        @Override
        public void oom(String containerId) {
            publish("/tasks/oom", TaskOOM.newBuilder().setContainerId(containerId).build());
        }

        @Override
        public void died(String cause) {
            sandboxDied(cause);
        }
    };

    public TaskService(String sandboxId, Sandbox.Factory factory, EventSink events, Runnable onShutdown) {
        this.sandboxId = sandboxId;
        this.tasks = new SandboxTasks(sandboxId, factory);
        this.events = events;
        this.onShutdown = onShutdown;
    }

    /** The tasks still held (not deleted). */
    public int taskCount() {
        return tasks.count();
    }

    /**
     * The stats of a host path one of this pod's containers mounts, from the guest agent; empty when none mounts it.
     * A pod whose sandbox died or is shut down says so (FAILED_PRECONDITION) instead of asking.
     */
    public Optional<HostVolumeStatsResponse> volumeStats(String hostPath) {
        Sandbox held = tasks.sandboxOrNull();
        Optional<GuestVolumes.Volume> v = held == null ? Optional.empty() : held.volume(hostPath);
        if (v.isEmpty()) {
            return Optional.empty();
        }
        Sandbox running;
        try {
            running = tasks.sandbox();
        } catch (TaskException e) {
            throw new TaskException(e.code(), "volume " + hostPath + " of container " + v.get().containerId() + ": "
                    + e.getMessage(), e);
        }
        return Optional.of(HostVolumeStatsResponse.newBuilder().setSandboxId(sandboxId)
                .setContainerId(v.get().containerId()).setGuestPath(v.get().guestPath())
                .setStats(running.volumeStats(v.get().guestPath())).build());
    }

    /** Destroys the sandbox if it was created; later creates are refused. */
    public void closeSandbox() {
        tasks.closeSandbox();
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
            Task t = tasks.create(id, bundle, stdio, req.getRootfsList(), req.hasOptions() ? req.getOptions() : null,
                    listener);
            publish("/tasks/create", TaskCreate.newBuilder().setContainerId(id).setBundle(req.getBundle())
                    .addAllRootfs(req.getRootfsList())
                    .setIo(TaskIO.newBuilder().setStdin(stdio.stdin()).setStdout(stdio.stdout())
                            .setStderr(stdio.stderr()).setTerminal(stdio.terminal()))
                    .setPid((int) t.init.pid()).build());
            return CreateTaskResponse.newBuilder().setPid((int) t.init.pid()).build();
        });
    }

    @Override
    public void start(StartRequest req, StreamObserver<StartResponse> out) {
        call(out, () -> {
            TaskProcess p = process(req.getId(), req.getExecId());
            CompletableFuture<Integer> exit = p.start(() -> tasks.sandbox().start(p.containerId(), p.execId()));
            if (p.isInit()) {
                publish("/tasks/start", TaskStart.newBuilder().setContainerId(p.containerId()).setPid((int) p.pid()).build());
            } else {
                publish("/tasks/exec-started", TaskExecStarted.newBuilder().setContainerId(p.containerId())
                        .setExecId(p.execId()).setPid((int) p.pid()).build());
            }
            // Attached after the start event is queued, so exit always follows it.
            exit.whenComplete((code, err) -> exited(p, err != null ? LOST : code, err));
            return StartResponse.newBuilder().setPid((int) p.pid()).build();
        });
    }

    private void exited(TaskProcess p, int code, Throwable err) {
        if (err != null) {
            log.warn("lost {} {} of task {}: {}", p.isInit() ? "init" : "exec", p.execId(), p.containerId(), err.toString());
        }
        publishExit(p, p.stopped(code, Instant.now()));
    }

    /** TaskExit, then the waiters: containerd must not get a Wait answer before the event. */
    private void publishExit(TaskProcess p, ProcessState.Stopped s) {
        if (s == null) {
            return;
        }
        log.info("task {}{} exited with {}", p.containerId(), p.isInit() ? "" : " exec " + p.execId(), s.exitStatus());
        publish("/tasks/exit", TaskExit.newBuilder().setContainerId(p.containerId())
                .setId(p.isInit() ? p.containerId() : p.execId()).setPid((int) p.pid()).setExitStatus(s.exitStatus())
                .setExitedAt(ts(s.exitedAt())).build());
        p.releaseWaiters(s);
    }

    /**
     * The sandbox died: every process not yet stopped (started or only created, init or exec) stops with
     * {@link #LOST} through its own transition, its exit published and its waiters released.
     */
    private void sandboxDied(String cause) {
        Instant at = Instant.now();
        int lost = 0;
        for (Task t : tasks.died(cause)) {
            for (TaskProcess p : t.processes()) {
                ProcessState.Stopped s = p.stopped(LOST, at);
                if (s != null) {
                    lost++;
                }
                publishExit(p, s);
            }
        }
        log.info("sandbox died: {} process(es) stopped with {}; delete and shutdown still work", lost, LOST);
    }

    @Override
    public void delete(DeleteRequest req, StreamObserver<DeleteResponse> out) {
        call(out, () -> {
            Task t = tasks.task(req.getId());
            if (!req.getExecId().isEmpty()) {
                TaskProcess p = t.process(req.getExecId());
                return deleteResponse(p, tasks.deleteExec(t, p));
            }
            ProcessState.Deleted d = tasks.delete(t, deleted -> publish("/tasks/delete", TaskDelete.newBuilder()
                    .setContainerId(t.id).setPid((int) t.init.pid()).setExitStatus(deleted.exitStatus())
                    .setExitedAt(ts(deleted.exitedAt())).build()));
            return deleteResponse(t.init, d);
        });
    }

    private static DeleteResponse deleteResponse(TaskProcess p, ProcessState.Deleted d) {
        return DeleteResponse.newBuilder().setPid((int) p.pid()).setExitStatus(d.exitStatus())
                .setExitedAt(ts(d.exitedAt())).build();
    }

    @Override
    public void state(StateRequest req, StreamObserver<StateResponse> out) {
        call(out, () -> {
            Task t = tasks.task(req.getId());
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
            Task t = tasks.task(req.getId());
            PidsResponse.Builder b = PidsResponse.newBuilder();
            for (int pid : tasks.sandbox().pids(t.id)) {
                b.addProcesses(ProcessInfo.newBuilder().setPid(pid));
            }
            return b.build();
        });
    }

    @Override
    public void pause(PauseRequest req, StreamObserver<Empty> out) {
        call(out, () -> {
            Task t = tasks.task(req.getId());
            t.init.pause(() -> tasks.sandbox().pause(t.id));
            publish("/tasks/paused", TaskPaused.newBuilder().setContainerId(t.id).build());
            return Empty.getDefaultInstance();
        });
    }

    @Override
    public void resume(ResumeRequest req, StreamObserver<Empty> out) {
        call(out, () -> {
            Task t = tasks.task(req.getId());
            t.init.resume(() -> tasks.sandbox().resume(t.id));
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
            publishExit(p, p.kill((int) req.getSignal(), req.getAll(),
                    () -> tasks.sandbox().signal(p.containerId(), p.execId(), req.getSignal(), req.getAll())));
            return Empty.getDefaultInstance();
        });
    }

    @Override
    public void exec(ExecProcessRequest req, StreamObserver<Empty> out) {
        call(out, () -> {
            Task t = tasks.task(req.getId());
            String execId = req.getExecId();
            if (execId.isEmpty()) {
                throw new TaskException(Status.Code.INVALID_ARGUMENT, "exec id is empty");
            }
            Stdio stdio = new Stdio(req.getStdin(), req.getStdout(), req.getStderr(), req.getTerminal());
            t.addExec(execId, stdio, () -> tasks.sandbox().exec(t.id, execId, req.getSpec().getValue().toByteArray(), stdio));
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
            tasks.sandbox().resizePty(p.containerId(), p.execId(), req.getWidth(), req.getHeight());
            return Empty.getDefaultInstance();
        });
    }

    @Override
    public void closeIO(CloseIORequest req, StreamObserver<Empty> out) {
        call(out, () -> {
            TaskProcess p = process(req.getId(), req.getExecId());
            if (req.getStdin()) {
                tasks.sandbox().closeStdin(p.containerId(), p.execId());
            }
            return Empty.getDefaultInstance();
        });
    }

    @Override
    public void update(UpdateTaskRequest req, StreamObserver<Empty> out) {
        call(out, () -> {
            Task t = tasks.task(req.getId());
            tasks.sandbox().update(t.id, req.getResources());
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
            Task t = tasks.task(req.getId());
            return StatsResponse.newBuilder().setStats(tasks.sandbox().stats(t.id)).build();
        });
    }

    @Override
    public void connect(ConnectRequest req, StreamObserver<ConnectResponse> out) {
        call(out, () -> {
            Sandbox sb = tasks.sandboxOrNull();
            ConnectResponse.Builder b = ConnectResponse.newBuilder().setShimPid((int) ProcessHandle.current().pid())
                    .setVersion(Integer.toString(API_VERSION));
            Task t = tasks.find(req.getId());
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
            if (!tasks.shutdown(req.getNow())) {
                return Empty.getDefaultInstance();
            }
            log.info("shutting down");
            onShutdown.run();
            return Empty.getDefaultInstance();
        });
    }

    // ---- helpers

    private TaskProcess process(String id, String execId) {
        return tasks.task(id).process(execId);
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
}
