package io.nemu.shim.daemon;

import com.google.protobuf.Empty;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
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
import io.nemu.shim.oci.Bundle;
import io.nemu.shim.task.TaskService;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiConsumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The task API of a daemon that serves many pods: each call goes to the {@link TaskService} of the pod that
 * holds the task it names, one per sandbox, made when the sandbox's task is created. The pods share nothing but
 * this map: each has its own tasks, lock, sandbox, agent connection and watch, so one pod's fault reaches only
 * its own tasks. A pod leaves when its Shutdown finds no task left; {@code emptied} runs when none is left.
 */
public final class PodRouter extends TaskGrpc.TaskImplBase {
    private static final Logger log = LoggerFactory.getLogger(PodRouter.class);

    /** Makes the service of one pod; its {@code onShutdown} is the Runnable given. */
    public interface PodFactory {
        TaskService create(String sandboxId, Runnable onShutdown);
    }

    private final PodFactory factory;
    private final java.util.function.Consumer<String> released;
    private final Runnable emptied;
    private final Map<String, TaskService> pods = new ConcurrentHashMap<>();
    /** Task id to the sandbox id of its pod; a pod's entries go with it. */
    private final Map<String, String> podOfTask = new ConcurrentHashMap<>();

    /**
     * @param released runs for a Shutdown of an id no pod holds: containerd is done with it, so a reservation
     *                 {@code start} made for it goes
     * @param emptied  runs when no pod is left
     */
    public PodRouter(PodFactory factory, java.util.function.Consumer<String> released, Runnable emptied) {
        this.factory = factory;
        this.released = released;
        this.emptied = emptied;
    }

    /** The sandbox ids of the pods held. */
    public Set<String> pods() {
        return Set.copyOf(pods.keySet());
    }

    /** The pods held, by sandbox id. */
    Map<String, TaskService> held() {
        return Map.copyOf(pods);
    }

    /** Tears down every pod's sandbox (the daemon is going away). */
    public void closeAll() {
        pods.forEach((id, pod) -> PodLog.in(id, pod::closeSandbox));
    }

    private void left(String sandboxId) {
        pods.remove(sandboxId);
        podOfTask.values().removeIf(sandboxId::equals);
        PodLog.detach(sandboxId);
        log.info("pod {} left the daemon; {} pod(s) held", sandboxId, pods.size());
        if (pods.isEmpty()) {
            emptied.run();
        }
    }

    @Override
    public void create(CreateTaskRequest req, StreamObserver<CreateTaskResponse> out) {
        String sandboxId;
        try {
            sandboxId = Bundle.read(Path.of(req.getBundle())).sandboxIdFor(req.getId());
        } catch (IOException e) {
            out.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
            return;
        }
        TaskService pod;
        synchronized (pods) {
            pod = pods.get(sandboxId);
            if (pod == null && sandboxId.equals(req.getId())) {
                pod = factory.create(sandboxId, () -> left(sandboxId));
                pods.put(sandboxId, pod);
                PodLog.attach(sandboxId, Path.of(req.getBundle()));
                log.info("pod {} joins the daemon; {} pod(s) held", sandboxId, pods.size());
            }
            if (pod != null) {
                podOfTask.put(req.getId(), sandboxId);
            }
        }
        if (pod == null) {
            out.onError(Status.FAILED_PRECONDITION.withDescription("sandbox " + sandboxId + " of task " + req.getId()
                    + " is not held by this shim").asRuntimeException());
            return;
        }
        TaskService p = pod;
        PodLog.in(sandboxId, () -> p.create(req, out));
    }

    /** The call on the pod holding the task; NOT_FOUND when no pod does. */
    private <Q, R> void route(String taskId, Q req, StreamObserver<R> out,
                              Function<TaskService, BiConsumer<Q, StreamObserver<R>>> method) {
        String sandboxId = podOfTask.get(taskId);
        TaskService pod = sandboxId == null ? null : pods.get(sandboxId);
        if (pod == null) {
            out.onError(Status.NOT_FOUND.withDescription("task " + taskId + ": not found").asRuntimeException());
            return;
        }
        PodLog.in(sandboxId, () -> method.apply(pod).accept(req, out));
    }

    @Override
    public void start(StartRequest req, StreamObserver<StartResponse> out) {
        route(req.getId(), req, out, p -> p::start);
    }

    @Override
    public void delete(DeleteRequest req, StreamObserver<DeleteResponse> out) {
        route(req.getId(), req, out, p -> p::delete);
    }

    @Override
    public void state(StateRequest req, StreamObserver<StateResponse> out) {
        route(req.getId(), req, out, p -> p::state);
    }

    @Override
    public void pids(PidsRequest req, StreamObserver<PidsResponse> out) {
        route(req.getId(), req, out, p -> p::pids);
    }

    @Override
    public void pause(PauseRequest req, StreamObserver<Empty> out) {
        route(req.getId(), req, out, p -> p::pause);
    }

    @Override
    public void resume(ResumeRequest req, StreamObserver<Empty> out) {
        route(req.getId(), req, out, p -> p::resume);
    }

    @Override
    public void checkpoint(CheckpointTaskRequest req, StreamObserver<Empty> out) {
        route(req.getId(), req, out, p -> p::checkpoint);
    }

    @Override
    public void kill(KillRequest req, StreamObserver<Empty> out) {
        route(req.getId(), req, out, p -> p::kill);
    }

    @Override
    public void exec(ExecProcessRequest req, StreamObserver<Empty> out) {
        route(req.getId(), req, out, p -> p::exec);
    }

    @Override
    public void resizePty(ResizePtyRequest req, StreamObserver<Empty> out) {
        route(req.getId(), req, out, p -> p::resizePty);
    }

    @Override
    public void closeIO(CloseIORequest req, StreamObserver<Empty> out) {
        route(req.getId(), req, out, p -> p::closeIO);
    }

    @Override
    public void update(UpdateTaskRequest req, StreamObserver<Empty> out) {
        route(req.getId(), req, out, p -> p::update);
    }

    @Override
    public void wait(WaitRequest req, StreamObserver<WaitResponse> out) {
        route(req.getId(), req, out, p -> p::wait);
    }

    @Override
    public void stats(StatsRequest req, StreamObserver<StatsResponse> out) {
        route(req.getId(), req, out, p -> p::stats);
    }

    /** Connect of a task no pod holds (yet) answers with the daemon's pid and no task pid, as runc's shim does. */
    @Override
    public void connect(ConnectRequest req, StreamObserver<ConnectResponse> out) {
        if (podOfTask.containsKey(req.getId())) {
            route(req.getId(), req, out, p -> p::connect);
            return;
        }
        out.onNext(ConnectResponse.newBuilder().setShimPid((int) ProcessHandle.current().pid())
                .setVersion(Integer.toString(TaskService.API_VERSION)).build());
        out.onCompleted();
    }

    /**
     * A pod's Shutdown: it leaves once it holds no task. A task this daemon does not know (its pod already
     * left) is answered: there is nothing to shut down for it, and the daemon lives on for the other pods.
     */
    @Override
    public void shutdown(ShutdownRequest req, StreamObserver<Empty> out) {
        if (podOfTask.containsKey(req.getId())) {
            route(req.getId(), req, out, p -> p::shutdown);
            return;
        }
        released.accept(req.getId());
        out.onNext(Empty.getDefaultInstance());
        out.onCompleted();
        if (pods.isEmpty()) {
            emptied.run();
        }
    }
}
